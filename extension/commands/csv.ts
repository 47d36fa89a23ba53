// A run's metrics as one CSV table: a row per step that has a training point, an evaluation or both (the
// evaluation before the first step sits at step 0). Plain RFC 4180: comma-separated, quoted only when needed.
import type { RunPoints } from '../../src/protocol';

const TRAIN_COLUMNS = ['loss', 'lr', 'grad_norm', 'tokens', 'tokens_per_second', 'elapsed_ms'] as const;

function cell(v: string | number | boolean | undefined | null): string {
  if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function metricsCsv(points: RunPoints): string {
  const metricNames = [...new Set(points.eval.flatMap((e) => Object.keys(e.metrics)))].sort();
  const header = ['step', ...TRAIN_COLUMNS, 'eval_loss', ...metricNames.map((m) => `eval_${m}`), 'eval_best'];
  const train = new Map(points.train.map((p) => [p.step, p]));
  const evals = new Map(points.eval.map((p) => [p.step, p]));
  const steps = [...new Set([...train.keys(), ...evals.keys()])].sort((a, b) => a - b);
  const rows = [header.join(',')];
  if (points.baseline) {
    // The un-prompted model: a reference row before everything, marked by an empty step.
    rows.push(['baseline', ...TRAIN_COLUMNS.map(() => ''), cell(points.baseline.loss), ...metricNames.map((m) => cell(points.baseline!.metrics[m])), ''].join(','));
  }
  for (const step of steps) {
    const t = train.get(step);
    const e = evals.get(step);
    rows.push([
      cell(step),
      ...(t ? [t.loss, t.lr, t.gradNorm, t.tokens, t.tokensPerSecond, t.elapsedMs].map(cell) : TRAIN_COLUMNS.map(() => '')),
      cell(e?.loss),
      ...metricNames.map((m) => cell(e?.metrics[m])),
      e ? cell(e.best) : '',
    ].join(','));
  }
  return rows.join('\n') + '\n';
}
