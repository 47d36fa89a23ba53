// A run folder as one row of the monitor, and a set of runs as the comparison panel shows them: pure functions of
// what the run folder holds (and who trains it), so they are tested without VS Code.
import * as path from 'node:path';
import type { TrainConfig } from '../../src/config';
import type { CompareRun, ConfigDifference, EvalPoint, MonitorRun, StepPoint } from '../../src/protocol';
import { debiasedEma, etaFromPoints, modelLabel } from '../../webview/shared/series';
import type { Activity } from './liveStatus';
import { isResumable, runDisplayName } from './runStore';
import type { WatchedRun } from './runsWatcher';

/** Points in a sparkline: enough for its shape at ~200 px, small enough to resend with every step. */
export const SPARKLINE_POINTS = 48;

/**
 * The training loss for a sparkline: smoothed like the panel's default (debiased EMA, 0.6) and reduced to at most
 * `points` bucket means, so its shape is the curve's, not one noisy step's.
 */
export function sparkline(train: readonly StepPoint[], points = SPARKLINE_POINTS): number[] {
  const smooth = debiasedEma(train.map((p) => p.loss), 0.6).filter((v) => Number.isFinite(v));
  if (smooth.length <= points) return smooth;
  const out: number[] = [];
  for (let b = 0; b < points; b++) {
    const from = Math.floor((b * smooth.length) / points);
    const to = Math.floor(((b + 1) * smooth.length) / points);
    let s = 0;
    for (let i = from; i < to; i++) s += smooth[i];
    out.push(s / (to - from));
  }
  return out;
}

/** The best evaluation so far (the one the trainer marked best last), or null before any. */
export function bestEval(evals: readonly EvalPoint[]): { metric: string; value: number; step: number } | null {
  for (let i = evals.length - 1; i >= 0; i--) if (evals[i].best) return { metric: evals[i].metric, value: evals[i].value, step: evals[i].step };
  return null;
}

export function methodText(config: Pick<TrainConfig, 'method' | 'rank' | 'promptLength'> | null): string {
  if (!config) return '';
  return `${config.method === 'ulpt' ? `ULPT r=${config.rank}` : 'prompt tuning'} · n=${config.promptLength}`;
}

/** One monitor row. `liveEtaMs` is what this window's trainer said last (better than an estimate from the files). */
export function monitorRun(run: WatchedRun, activity: Activity, liveEtaMs: number | null = null): MonitorRun {
  const { files, points } = run;
  const config = files.config;
  const last = points.train.at(-1);
  const running = activity.status === 'running' || activity.status === 'stopping';
  const totalSteps = config?.steps ?? null;
  return {
    id: run.id,
    name: runDisplayName(run.id, config),
    dir: run.dir,
    status: activity.status,
    owner: activity.owner,
    model: config ? modelLabel(config.model) : '',
    method: methodText(config),
    promptLength: config?.promptLength ?? null,
    task: config?.task?.type ?? null,
    step: run.lastStep,
    totalSteps,
    best: bestEval(points.eval),
    elapsedMs: last ? last.elapsedMs : null,
    etaMs: running ? liveEtaMs ?? etaFromPoints(points.train, totalSteps) : null,
    lastLoss: last ? last.loss : null,
    sparkline: sparkline(points.train),
    trainPoints: points.train.length,
    resumable: isResumable(activity.status, files.hasCheckpoint, config),
    adapters: files.adapters,
    error: activity.status === 'failed' && files.failure ? files.failure.message.split('\n')[0] : null,
    modified: files.modified,
  };
}

/** A run's curves for the comparison panel. */
export function compareRun(run: WatchedRun, activity: Activity): CompareRun {
  return {
    dir: run.dir,
    name: runDisplayName(run.id, run.files.config),
    status: activity.status,
    train: run.points.train.map((p) => [p.step, p.loss]),
    eval: run.points.eval,
    best: bestEval(run.points.eval),
  };
}

// ---- What differs between runs

const base = (p: string | undefined) => (p ? path.basename(p) : '—');
const num = (v: number | undefined) => (v === undefined ? '—' : String(v));

/** The settings a comparison can show, in the order people read them, each as text. */
const SETTINGS: { field: string; label: string; text: (c: TrainConfig) => string }[] = [
  { field: 'method', label: 'method', text: (c) => (c.method === 'ulpt' ? 'ULPT' : 'prompt tuning') },
  { field: 'rank', label: 'rank r', text: (c) => (c.method === 'ulpt' ? String(c.rank) : '—') },
  { field: 'promptLength', label: 'tokens n', text: (c) => num(c.promptLength) },
  { field: 'lr', label: 'lr', text: (c) => num(c.lr) },
  { field: 'batchSize', label: 'batch', text: (c) => num(c.batchSize) },
  { field: 'gradAccumulation', label: 'grad. accumulation', text: (c) => num(c.gradAccumulation) },
  { field: 'steps', label: 'steps', text: (c) => num(c.steps) },
  { field: 'warmupSteps', label: 'warm-up', text: (c) => num(c.warmupSteps) },
  { field: 'weightDecay', label: 'weight decay', text: (c) => num(c.weightDecay) },
  { field: 'maxGradNorm', label: 'max grad norm', text: (c) => num(c.maxGradNorm) },
  { field: 'alignment', label: 'scale/shift', text: (c) => (c.method === 'ulpt' ? (c.alignment === false ? 'off' : 'on') : '—') },
  { field: 'scaleInit', label: 'scale init', text: (c) => (c.method === 'ulpt' ? c.scaleInit ?? 'one' : '—') },
  { field: 'maxLength', label: 'max length', text: (c) => num(c.maxLength) },
  { field: 'seed', label: 'seed', text: (c) => String(c.seed) },
  { field: 'model', label: 'model', text: (c) => modelLabel(c.model) },
  { field: 'train', label: 'train data', text: (c) => base(c.train) },
  { field: 'validation', label: 'validation', text: (c) => (c.validation ? base(c.validation) : c.validationSplit ? `${c.validationSplit * 100} % split` : 'none') },
  { field: 'task', label: 'task', text: (c) => `${c.task.type}: ${c.task.template}` },
  { field: 'backend', label: 'backend', text: (c) => c.backend },
  { field: 'evalEvery', label: 'eval every', text: (c) => num(c.evalEvery) },
  { field: 'earlyStoppingPatience', label: 'early stopping', text: (c) => (c.earlyStoppingPatience ? String(c.earlyStoppingPatience) : 'off') },
];

/**
 * The legend of a comparison: the settings whose value differs between the runs (one value per run, in order) and
 * those they share. A run without a readable config shows "?" and makes every setting differ.
 */
export function configDifferences(configs: readonly (TrainConfig | null)[]): { differences: ConfigDifference[]; shared: { label: string; value: string }[] } {
  const differences: ConfigDifference[] = [];
  const shared: { label: string; value: string }[] = [];
  for (const s of SETTINGS) {
    const values = configs.map((c) => {
      if (!c) return '?';
      try {
        return s.text(c);
      } catch {
        return '?'; // a field of an unexpected shape in an old or hand-edited config.json
      }
    });
    if (new Set(values).size > 1) differences.push({ field: s.field, label: s.label, values });
    else if (values.length) shared.push({ label: s.label, value: values[0] });
  }
  return { differences, shared };
}
