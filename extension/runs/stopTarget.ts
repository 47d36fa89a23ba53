// Which run a Stop without a run means. A second Stop is a common gesture ("end it at once"); when the first one's
// run has just ended, or another run is stopping, a bare Stop must not silently land on a different run.

/** How long after a stop request a bare Stop still asks which run, instead of taking the only one left. */
export const RECENT_STOP_MS = 30_000;

export interface StoppableSession {
  runDir: string;
  state: 'running' | 'stopping' | 'ended';
}

/**
 * The session a bare Stop stops without asking, or 'ask' (show the picker), or null (nothing to stop). Only one
 * running session, with no stop requested in the last RECENT_STOP_MS of another run, is taken without asking.
 */
export function stopTarget<S extends StoppableSession>(live: S[], lastStop: { runDir: string; at: number } | null, now: number): S | 'ask' | null {
  const alive = live.filter((s) => s.state !== 'ended');
  if (!alive.length) return null;
  if (alive.length > 1) return 'ask';
  const [only] = alive;
  if (only.state === 'stopping') return only; // the second Stop of the same run: end it at once
  const recentOther = lastStop !== null && lastStop.runDir !== only.runDir && now - lastStop.at < RECENT_STOP_MS;
  return recentOther ? 'ask' : only;
}
