// Who trains a run right now — the one place the monitor asks. A trainer process of this window says so itself
// (its session). For a run trained elsewhere (`ulpt train` in a terminal, another window) the run folder is all
// there is: until runs carry an owner lock with a heartbeat (the detached-trainer work), a run that has not ended
// (no summary.json / failure.json newer than its metrics) and whose metrics or config were written within
// ACTIVE_MS counts as running in another process, and is looked at again when that window closes.
// SEAM: once lock.json lands, `runActivity` reads the owner from it (alive / stale) instead of the write time.
import type { RunStatus } from '../../src/protocol';
import { deriveStatus, type RunFiles } from './runStore';

/** How long after its last write an unfinished run still counts as being trained by another process. */
export const ACTIVE_MS = 45_000;

export interface Activity {
  status: RunStatus;
  /** 'window': a session of this window; 'process': another process is writing the run; null: nobody. */
  owner: 'window' | 'process' | null;
  /** When this answer may change without any file changing (ms since epoch), or null. */
  recheckAt: number | null;
}

export function runActivity(
  files: Pick<RunFiles, 'summary' | 'failure' | 'summaryTime' | 'failureTime'>,
  lastStep: number,
  lastWrite: number,
  session: 'running' | 'stopping' | null,
  now = Date.now(),
): Activity {
  if (session) return { status: session, owner: 'window', recheckAt: null };
  const status = deriveStatus(files, lastStep, null);
  if (status === 'interrupted' && lastWrite > 0 && now - lastWrite < ACTIVE_MS) {
    return { status: 'running', owner: 'process', recheckAt: lastWrite + ACTIVE_MS };
  }
  return { status, owner: null, recheckAt: null };
}
