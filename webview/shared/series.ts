// The training panel's numbers, without the DOM: smoothing, the aligned columns the charts draw, and the short
// texts of the stat line. Pure functions, shared by the webview and the unit tests.
import type { BaselinePoint, EvalPoint, RunStatus, StepPoint } from '../../src/protocol';

/**
 * TensorBoard's smoothing: an exponential moving average, debiased so the first points are not dragged toward 0.
 *   ema_t = w·ema_{t−1} + (1−w)·x_t,  ema_0 = 0,  shown: ema_t / (1 − w^t)
 * Non-finite values are skipped (they keep the previous smoothed value) so one NaN does not blank the curve.
 */
export function debiasedEma(values: readonly number[], weight: number): number[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  const out: number[] = new Array(values.length);
  let ema = 0;
  let n = 0;
  let last = NaN;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isFinite(x)) {
      ema = w * ema + (1 - w) * x;
      n++;
      last = w === 0 ? x : ema / (1 - Math.pow(w, n));
    }
    out[i] = last;
  }
  return out;
}

/** uPlot columns: x, then one array per series; null where a series has no point at that x. */
export type Columns = [number[], ...(number | null)[][]];

/**
 * The loss chart: training loss (raw and smoothed) per step, evaluation loss at the steps it was measured, and the
 * un-prompted model's loss as a flat reference. x is the union of steps, sorted.
 */
export function lossColumns(train: readonly StepPoint[], evals: readonly EvalPoint[], smoothing: number, baseline: BaselinePoint | null, logScale = false): Columns {
  const ok = (v: number) => Number.isFinite(v) && (!logScale || v > 0); // a log axis cannot show 0 or less
  const smooth = debiasedEma(train.map((p) => p.loss), smoothing);
  const rawAt = new Map<number, number>();
  const smoothAt = new Map<number, number>();
  train.forEach((p, i) => {
    rawAt.set(p.step, p.loss);
    smoothAt.set(p.step, smooth[i]);
  });
  const evalAt = new Map(evals.map((e) => [e.step, e.loss]));
  const xs = [...new Set([...rawAt.keys(), ...evalAt.keys()])].sort((a, b) => a - b);
  const pick = (m: Map<number, number>) => xs.map((x) => (m.has(x) && ok(m.get(x)!) ? m.get(x)! : null));
  const base = baseline && ok(baseline.loss) ? baseline.loss : null;
  return [xs, pick(rawAt), pick(smoothAt), pick(evalAt), xs.map(() => base)];
}

/** The metric chart: each evaluation metric (accuracy, macro_f1, exact_match…) over the evaluated steps. */
export function metricColumns(evals: readonly EvalPoint[], baseline: BaselinePoint | null): { names: string[]; columns: Columns } {
  const names = [...new Set(evals.flatMap((e) => Object.keys(e.metrics)))].sort();
  const sorted = [...evals].sort((a, b) => a.step - b.step);
  const xs = sorted.map((e) => e.step);
  const series = names.map((n) => sorted.map((e) => (Number.isFinite(e.metrics[n]) ? e.metrics[n] : null)));
  const base = names.map((n) => xs.map(() => (baseline && Number.isFinite(baseline.metrics[n]) ? baseline.metrics[n] : null)));
  return { names, columns: [xs, ...series, ...base] };
}

/**
 * Merges new points into sorted, step-unique lists: a step seen again replaces the old point (a resumed run
 * repeats the steps after its checkpoint). Appending in order is the common case and stays O(new).
 */
export function mergeByStep<T extends { step: number }>(into: T[], added: readonly T[]): T[] {
  for (const p of added) {
    const last = into[into.length - 1];
    if (!last || p.step > last.step) {
      into.push(p);
      continue;
    }
    const i = into.findIndex((q) => q.step >= p.step);
    if (into[i].step === p.step) into[i] = p;
    else into.splice(i, 0, p);
  }
  return into;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}

/** The mean tokens/s over the last `window` steps: one step's figure jumps around too much to read. */
export function recentThroughput(train: readonly StepPoint[], window = 10): number | null {
  const recent = train.slice(-window).filter((p) => Number.isFinite(p.tokensPerSecond));
  if (!recent.length) return null;
  return recent.reduce((s, p) => s + p.tokensPerSecond, 0) / recent.length;
}

/** A model folder for people: the repo id for a Hugging Face cache snapshot (…/models--org--name/snapshots/<rev>), else the folder name. */
export function modelLabel(dir: string): string {
  const parts = dir.split(/[\\/]/).filter(Boolean);
  const snap = parts.lastIndexOf('snapshots');
  if (snap > 0 && snap === parts.length - 2 && parts[snap - 1].startsWith('models--')) return parts[snap - 1].slice('models--'.length).split('--').join('/');
  return parts.at(-1) ?? dir;
}

/** Time left (one definition for the trainer, the panel, the monitor and the status bar): see src/train/eta.ts. */
export { etaFromPoints } from '../../src/train/eta';

/**
 * A linear y range that fits the columns of the series `fit` accepts (1-based, as uPlot counts them), with 5 %
 * headroom: a reference line far above the curves (the un-prompted model's loss) must not flatten them. Null when
 * those series have no finite value.
 */
export function fitRange(data: Columns, fit: (seriesIndex: number) => boolean): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 1; i < data.length; i++) {
    if (!fit(i)) continue;
    for (const v of data[i] as (number | null)[]) {
      if (v === null || !Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (lo > hi) return null;
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 0.1;
  return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
}

/** A run's status in words, as the pickers, the monitor, the comparison and the panel show it. */
export const STATUS_TEXT: Record<RunStatus, string> = {
  running: 'running',
  stopping: 'stopping',
  completed: 'completed',
  'early-stopped': 'stopped early',
  stopped: 'stopped',
  interrupted: 'interrupted',
  failed: 'failed',
};

/**
 * An evaluation's progress for people. The playground process counts both passes (with the adapter, then without
 * it) in `done` / `total`; a 128-example file reads "without the adapter: 32 / 128 examples", not "160 / 256".
 */
export function evaluationProgress(done: number, total: number): string {
  if (!total) return '';
  const examples = total / 2;
  return done < examples ? `with the adapter: ${done} / ${examples} examples` : `without the adapter: ${done - examples} / ${examples} examples`;
}
