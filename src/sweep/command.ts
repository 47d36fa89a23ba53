// `ulpt sweep`: the command around plan → run → (held-out scores) → table. The CLI parses the flags and hands over
// here; Ctrl+C stops the current run with a checkpoint and the same command resumes the sweep.
import * as path from 'node:path';
import { ConfigError, type Engine } from '../config';
import type { ResolveOptions } from '../hub/resolve';
import type { TrainerMessage } from '../protocol';
import { parseGrid, parseSeeds } from './grid';
import { scoreHeldOut } from './heldOut';
import { planSweep, readSweepFile, SWEEP_FILE, type SweepPlan } from './plan';
import { chosenCells, sweepResults, writeResults, type SweepResults } from './results';
import { runSweep, type SweepEvent } from './run';
import { exportSweepJob, SWEEP_SBATCH } from './slurm';

export interface SweepCommand {
  config: string | undefined;
  grid: string[];
  seeds: string | undefined;
  pick?: string;
  devSplit?: string;
  steps?: number;
  engine?: string;
  backend?: string;
  out?: string;
  python?: string;
  json: boolean;
  /** How a run's trainer messages are shown (the CLI's printer). */
  printer: (m: TrainerMessage) => void;
  hub?: ResolveOptions;
}

/** The sweep's plan from the command line; every mistake is a ConfigError naming the flag (exit 2, nothing done). */
export function sweepPlanOf(c: Pick<SweepCommand, 'config' | 'grid' | 'seeds' | 'pick' | 'devSplit' | 'steps' | 'engine' | 'backend' | 'out'>): SweepPlan {
  if (!c.config) throw new ConfigError('ulpt sweep needs --config FILE: the config every run starts from.');
  if (!c.grid.length) throw new ConfigError('ulpt sweep needs at least one --grid KEY=V1,V2 (e.g. --grid rank=2,16,64).');
  if (c.engine !== undefined && c.engine !== 'builtin' && c.engine !== 'torch') throw new ConfigError(`--engine must be builtin or torch (got ${JSON.stringify(c.engine)}).`);
  const devSplit = c.devSplit === undefined ? 0.2 : Number(c.devSplit);
  if (c.devSplit !== undefined && !c.pick) throw new ConfigError('--dev-split is the dev split of --pick; add --pick KEY.');
  if (!Number.isFinite(devSplit)) throw new ConfigError(`--dev-split must be a number (got ${JSON.stringify(c.devSplit)}).`);
  const overrides: Record<string, unknown> = {};
  if (c.steps !== undefined) overrides.steps = c.steps;
  if (c.engine !== undefined) overrides.engine = c.engine as Engine;
  if (c.backend !== undefined) overrides.backend = c.backend;
  return planSweep({
    configFile: c.config, grid: parseGrid(c.grid), seeds: parseSeeds(c.seeds ?? '3'), overrides,
    pick: c.pick ? { key: c.pick, devSplit } : null, ...(c.out ? { out: c.out } : {}),
  });
}

function describeEvent(e: SweepEvent): string {
  switch (e.type) {
    case 'sweep-cell': {
      const what = { kept: 'finished before, kept', resume: 'resuming', restart: 'starting again', start: 'starting' }[e.action];
      return `ulpt sweep [${e.index}/${e.total}] ${e.arm} seed ${e.seed}: ${what}${e.note ? ` (${e.note})` : ''} — ${path.basename(e.runDir)}`;
    }
    case 'sweep-cell-done': {
      const best = e.best ? Object.entries(e.best).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ') : 'no evaluation';
      return `  ${e.reason} in ${e.seconds.toFixed(1)} s; best: ${best}`;
    }
    case 'sweep-stopped':
      return `ulpt sweep: stopped at ${path.basename(e.runDir)} (a run cut by the stop keeps its checkpoint); ${e.done} of ${e.total} runs finished. Run the same command again to resume.`;
  }
}

/** Runs the sweep and writes its table. Returns the exit status: 0 done, 130 stopped (resumable). */
export async function sweepCommand(c: SweepCommand): Promise<number> {
  const plan = sweepPlanOf(c);
  const say = (e: SweepEvent) => (c.json ? process.stdout.write(JSON.stringify(e) + '\n') : console.error(describeEvent(e)));
  if (!c.json) console.error(`ulpt sweep: ${plan.file.cells.length} runs in ${plan.dir}`);
  let stop = false;
  let torch: { stop(): void; kill(): void } | null = null;
  const onSignal = () => {
    if (stop) {
      torch?.kill();
      process.exit(130);
    }
    stop = true;
    torch?.stop();
    console.error('\nulpt sweep: stopping after this step (Ctrl+C again to abort)…');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // The printer's per-run start and end lines are replaced by the sweep's own.
    const onMessage = c.json ? c.printer : (m: TrainerMessage) => (m.type === 'started' || m.type === 'finished' ? undefined : c.printer(m));
    const finished = await runSweep(plan, { shouldStop: () => stop, onEvent: say, onMessage, hub: c.hub, python: c.python, onTorchRun: (r) => (torch = r) });
    const results = await tableOf(plan, !c.json);
    const written = writeResults(plan.dir, plan.file, results);
    if (c.json) process.stdout.write(JSON.stringify({ type: 'sweep-results', dir: plan.dir, finished, ...results, markdown: written.markdown, csv: written.csv }) + '\n');
    else console.log(`\n${written.text}\nwrote ${written.markdown}\nwrote ${written.csv}`);
    return finished ? 0 : 130;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The results of a sweep's finished runs; with --pick, the chosen runs scored on the held-out file first. */
export async function tableOf(plan: SweepPlan, notes: boolean): Promise<SweepResults> {
  const first = sweepResults(plan.dir, plan.file);
  if (!plan.file.pick) return first;
  const held = await scoreHeldOut(plan.dir, plan.file, chosenCells(plan.dir, plan.file), first.metric, notes ? (t) => console.error(`ulpt sweep: ${t}`) : undefined);
  return sweepResults(plan.dir, plan.file, held);
}

/** `ulpt sweep --results DIR`: the table of a sweep folder's runs as they are (an exported sweep's, copied back). */
export async function sweepResultsCommand(dir: string, json: boolean): Promise<number> {
  const file = readSweepFile(path.resolve(dir));
  if (!file) throw new ConfigError(`--results ${dir}: no ${SWEEP_FILE} there; give a sweep folder (.ulpt/sweeps/<name>, or an exported sweep).`);
  const plan: SweepPlan = { dir: path.resolve(dir), file, configs: new Map() };
  const results = await tableOf(plan, !json);
  const written = writeResults(plan.dir, plan.file, results);
  if (json) process.stdout.write(JSON.stringify({ type: 'sweep-results', dir: plan.dir, finished: results.done === results.total, ...results, markdown: written.markdown, csv: written.csv }) + '\n');
  else console.log(`${written.text}\nwrote ${written.markdown}\nwrote ${written.csv}`);
  return 0;
}

/** `ulpt export-job --config FILE --grid … --out DIR`: the sweep as a SLURM job array (src/sweep/slurm.ts). */
export async function exportSweepCommand(c: Pick<SweepCommand, 'config' | 'grid' | 'seeds' | 'pick' | 'devSplit' | 'steps' | 'json'> & { out: string; force: boolean }): Promise<void> {
  const plan = sweepPlanOf({ ...c, out: undefined });
  const job = await exportSweepJob(plan, path.resolve(c.out), { force: c.force });
  if (c.json) return void console.log(JSON.stringify(job));
  for (const w of job.warnings) console.error(`ulpt: warning: ${w}`);
  console.log(`wrote ${job.cells} jobs of the sweep ${plan.file.name} to ${job.dir}`);
  console.log(`  on the cluster: sbatch ${path.join(job.dir, SWEEP_SBATCH)}; then, with the folder back here: ulpt sweep --results ${job.dir}`);
}
