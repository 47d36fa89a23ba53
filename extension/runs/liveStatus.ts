// Who trains a run right now — the one place the monitor asks. A session of this window follows every run a live
// process trains: the ones it launched and the ones it attached to through their lock.json (started before a window
// reload, by another window, by `ulpt train` in a terminal). Between a lock appearing and the session attaching,
// the lock itself says it. Without either, the run folder says how the run ended.
import type { RunStatus } from '../../src/protocol';
import type { RunOwner } from '../../src/train/runLock';
import { deriveStatus, type RunFiles } from './runStore';

/** While only a lock says a run is alive, how soon to look again (its heartbeat is every few seconds). */
export const OWNER_RECHECK_MS = 10_000;

export interface Activity {
  status: RunStatus;
  /** 'window': this window started the trainer; 'process': another process trains it (attached or not); null: nobody. */
  owner: 'window' | 'process' | null;
  /** When this answer may change without any file changing (ms since epoch), or null. */
  recheckAt: number | null;
}

/** What the monitor needs of a session of this window (extension/runs/session.ts). */
export interface SessionView {
  state: 'running' | 'stopping' | 'ended';
  /** True when this window started the trainer, false when it attached to a running one. */
  launched: boolean;
}

type StatusFiles = Pick<RunFiles, 'summary' | 'failure' | 'summaryTime' | 'failureTime'> & { owner?: Pick<RunOwner, 'state'> & { stopRequested?: boolean } };

export function runActivity(files: StatusFiles, lastStep: number, session: SessionView | null, now = Date.now()): Activity {
  if (session && session.state !== 'ended') return { status: session.state, owner: session.launched ? 'window' : 'process', recheckAt: null };
  const ended = { summary: files.summary, failure: files.failure, summaryTime: files.summaryTime, failureTime: files.failureTime };
  if (files.owner?.state === 'alive') return { status: files.owner.stopRequested ? 'stopping' : 'running', owner: 'process', recheckAt: now + OWNER_RECHECK_MS };
  return { status: deriveStatus(ended, lastStep, null), owner: null, recheckAt: null };
}
