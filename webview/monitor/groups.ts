// The monitor's list as groups: the runs of one sweep together under the sweep's name (with how many are done), every
// other run on its own. Pure (no DOM), so the host's tests check it.
import type { MonitorRun, MonitorSweep, RunStatus } from '../../src/protocol';

export interface RunGroup {
  /** null: a run that belongs to no sweep (the group holds it alone). */
  sweep: MonitorSweep | null;
  runs: MonitorRun[];
  /** Runs of the sweep that finished (completed or stopped early); 0 for a lone run. */
  done: number;
  /** Every run the sweep will train, started or not; 1 for a lone run. */
  total: number;
}

const DONE: ReadonlySet<RunStatus> = new Set(['completed', 'early-stopped']);

/**
 * Groups in the order of the list (newest first): a sweep's group stands where its first run of the list stands,
 * and holds its runs in the sweep's own order (its grid, then seeds). A run that two sweeps claim goes to the first.
 */
export function groupRuns(runs: readonly MonitorRun[], sweeps: readonly MonitorSweep[]): RunGroup[] {
  const owner = new Map<string, MonitorSweep>();
  for (const s of sweeps) for (const dir of s.runs) if (!owner.has(dir)) owner.set(dir, s);
  const byDir = new Map(runs.map((r) => [r.dir, r]));
  const groups: RunGroup[] = [];
  const placed = new Set<MonitorSweep>();
  for (const run of runs) {
    const sweep = owner.get(run.dir);
    if (!sweep) {
      groups.push({ sweep: null, runs: [run], done: 0, total: 1 });
      continue;
    }
    if (placed.has(sweep)) continue;
    placed.add(sweep);
    const mine = sweep.runs.filter((d) => owner.get(d) === sweep).map((d) => byDir.get(d)).filter((r): r is MonitorRun => !!r);
    groups.push({ sweep, runs: mine, done: mine.filter((r) => DONE.has(r.status)).length, total: sweep.runs.length });
  }
  return groups;
}
