// Who trains a run right now — the one place the monitor asks. A trainer process of this window says so itself
// (its session). For a run trained elsewhere (`ulpt train` in a terminal, another window, a detached trainer) the
// run folder decides:
//   - where the run folder carries an owner lock (lock.json with a heartbeat, read into RunFiles.owner by the run
//     store), the lock: alive → running (stopping once a stop was requested), stale or none → how the files end;
//   - without lock support (RunFiles has no `owner`), a run that has not ended (no summary.json / failure.json
//     newer than its metrics) and whose metrics or config were written within ACTIVE_MS counts as running in
//     another process.
// Either way the answer can change without any file changing (a process dies; time passes), so it says when to
// look again.
import type { RunStatus } from '../../src/protocol';
import { deriveStatus, type RunFiles } from './runStore';

/** Without an owner lock: how long after its last write an unfinished run still counts as being trained. */
export const ACTIVE_MS = 45_000;
/** With an owner lock: how often a live owner is checked again (its heartbeat is every few seconds). */
export const OWNER_RECHECK_MS = 10_000;

/** What a run folder's owner lock says (structurally what the run store reads from lock.json). */
export type LockOwner = { state: 'none' } | { state: 'alive'; stopRequested: boolean } | { state: 'stale' };

export interface Activity {
  status: RunStatus;
  /** 'window': a session of this window; 'process': another process trains it; null: nobody. */
  owner: 'window' | 'process' | null;
  /** When this answer may change without any file changing (ms since epoch), or null. */
  recheckAt: number | null;
}

type StatusFiles = Pick<RunFiles, 'summary' | 'failure' | 'summaryTime' | 'failureTime'> & { owner?: LockOwner };

export function runActivity(files: StatusFiles, lastStep: number, lastWrite: number, session: 'running' | 'stopping' | null, now = Date.now()): Activity {
  if (session) return { status: session, owner: 'window', recheckAt: null };
  const ended = { summary: files.summary, failure: files.failure, summaryTime: files.summaryTime, failureTime: files.failureTime };
  if (files.owner) {
    if (files.owner.state === 'alive') return { status: files.owner.stopRequested ? 'stopping' : 'running', owner: 'process', recheckAt: now + OWNER_RECHECK_MS };
    return { status: deriveStatus(ended, lastStep, null), owner: null, recheckAt: null };
  }
  const status = deriveStatus(ended, lastStep, null);
  if (status === 'interrupted' && lastWrite > 0 && now - lastWrite < ACTIVE_MS) {
    return { status: 'running', owner: 'process', recheckAt: lastWrite + ACTIVE_MS };
  }
  return { status, owner: null, recheckAt: null };
}
