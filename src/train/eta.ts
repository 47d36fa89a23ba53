// Time left in a run, computed once from the points every reader has (metrics.jsonl's train lines, the trainer's
// step messages): the trainer's progress line, the panel, the monitor and the status bar all show this number.
import type { StepPoint } from '../protocol';

/**
 * Time left, from the run's own pace: the mean time per step over the last `window` steps (elapsedMs is cumulative
 * and continues across a resume) times the steps still to go. Null before two steps or once done.
 */
export function etaFromPoints(train: readonly StepPoint[], totalSteps: number | null | undefined, window = 20): number | null {
  if (!totalSteps || train.length < 2) return null;
  const last = train[train.length - 1];
  const first = train[Math.max(0, train.length - 1 - window)];
  const steps = last.step - first.step;
  const ms = last.elapsedMs - first.elapsedMs;
  if (steps <= 0 || !(ms > 0) || last.step >= totalSteps) return null;
  return (ms / steps) * (totalSteps - last.step);
}
