// The training panel's numbers (webview/shared/series.ts): debiased EMA smoothing, the aligned chart columns, merging
// deltas, and the stat texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EvalPoint, StepPoint } from '../../src/protocol';
import { markerColor, markerDash, markerWidth } from '../../webview/shared/charts';
import { debiasedEma, etaFromPoints, evaluationProgress, fitRange, formatDuration, formatNumber, lossColumns, mergeByStep, metricColumns, modelLabel, recentThroughput, type Columns } from '../../webview/shared/series';

const step = (s: number, loss: number, tps = 100): StepPoint => ({ step: s, loss, lr: 0.01, gradNorm: 1, tokens: 10, tokensPerSecond: tps, elapsedMs: s });
const ev = (s: number, loss: number, accuracy: number): EvalPoint => ({ step: s, loss, metrics: { accuracy, macro_f1: accuracy / 2 }, metric: 'accuracy', value: accuracy, best: false });

const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-9) && a.length === b.length;

test('debiasedEma follows ema_t = w·ema_{t−1} + (1−w)·x_t, divided by 1 − w^t', () => {
  // w = 0.5: ema = 0.5, 1.25, 2.125; debiased by 1 − 0.5, 1 − 0.25, 1 − 0.125.
  assert.ok(close(debiasedEma([1, 2, 3], 0.5), [1, 1.25 / 0.75, 2.125 / 0.875]));
  // Debiasing makes a constant series stay constant from the first point on (no ramp up from 0).
  assert.ok(close(debiasedEma([4, 4, 4, 4], 0.9), [4, 4, 4, 4]));
  assert.ok(close(debiasedEma([3, 1, 2], 0), [3, 1, 2]), 'weight 0 is the raw series');
  assert.deepEqual(debiasedEma([], 0.6), []);
});

test('debiasedEma carries the last value over non-finite points and clamps the weight', () => {
  const s = debiasedEma([1, NaN, 3], 0.5);
  assert.equal(s[1], s[0]);
  assert.ok(Number.isFinite(debiasedEma([1, 2], 1)[1]), 'weight 1 would divide by zero; it is clamped');
  assert.ok(Number.isNaN(debiasedEma([NaN, 1], 0.5)[0]));
});

test('lossColumns aligns training and evaluation points on one step axis, with nulls for gaps', () => {
  const [xs, raw, smooth, evalLoss, base] = lossColumns([step(1, 3), step(2, 2), step(3, 1)], [ev(0, 4, 0.1), ev(2, 2.5, 0.5)], 0, { loss: 5, metrics: {} });
  assert.deepEqual(xs, [0, 1, 2, 3]);
  assert.deepEqual(raw, [null, 3, 2, 1]);
  assert.deepEqual(smooth, [null, 3, 2, 1]);
  assert.deepEqual(evalLoss, [4, null, 2.5, null]);
  assert.deepEqual(base, [5, 5, 5, 5]);
});

test('lossColumns on a log scale leaves out values a log axis cannot draw', () => {
  const [, raw] = lossColumns([step(1, 0), step(2, 1)], [], 0, null, true);
  assert.deepEqual(raw, [null, 1]);
});

test('metricColumns gives one series per metric and a flat baseline for each', () => {
  const { names, columns } = metricColumns([ev(2, 1, 0.5), ev(0, 1, 0.25)], { loss: 1, metrics: { accuracy: 0.2 } });
  assert.deepEqual(names, ['accuracy', 'macro_f1']);
  assert.deepEqual(columns, [[0, 2], [0.25, 0.5], [0.125, 0.25], [0.2, 0.2], [null, null]]);
  assert.deepEqual(metricColumns([], null), { names: [], columns: [[]] });
});

test('mergeByStep appends in order, replaces a repeated step and inserts an out-of-order one', () => {
  const a = [step(1, 1), step(3, 3)];
  mergeByStep(a, [step(4, 4), step(3, 30), step(2, 2)]);
  assert.deepEqual(a.map((p) => [p.step, p.loss]), [[1, 1], [2, 2], [3, 30], [4, 4]]);
});

test('stat texts: durations, numbers, recent throughput', () => {
  assert.equal(formatDuration(42_000), '42s');
  assert.equal(formatDuration(125_000), '2m 05s');
  assert.equal(formatDuration(3_720_000), '1h 02m');
  assert.equal(formatDuration(null), '—');
  assert.equal(formatNumber(0.123456), '0.1235');
  assert.equal(formatNumber(2e-5), '2.00e-5');
  assert.equal(formatNumber(NaN), '—');
  assert.equal(recentThroughput([step(1, 1, 100), step(2, 1, 300)]), 200);
  assert.equal(recentThroughput([]), null);
});

test('modelLabel names a Hugging Face cache snapshot by its repo id', () => {
  assert.equal(modelLabel('/home/u/.cache/huggingface/hub/models--openai-community--gpt2/snapshots/607a30d783dfa663caf39e06633721c8d4cfcd7e'), 'openai-community/gpt2');
  assert.equal(modelLabel('/w/examples/workspace/model/'), 'model');
  assert.equal(modelLabel('C:\\models\\tiny'), 'tiny');
});

test('the loss axis fits the curves, not a far-away reference line (the un-prompted loss)', () => {
  // x, train, smoothed, eval, un-prompted
  const cols: Columns = [[0, 1, 2], [null, 3, 1], [null, 3, 2], [2.9, null, 0.5], [5.2, 5.2, 5.2]];
  assert.deepEqual(fitRange(cols, (i) => i !== 4), [0.5 - 0.125, 3 + 0.125], 'the curves with 5 % headroom; the reference at 5.2 is left out');
  assert.deepEqual(fitRange(cols, () => true)?.[1], 5.2 + (5.2 - 0.5) * 0.05);
  assert.equal(fitRange([[0], [null]], () => true), null);
  const neg = fitRange([[0, 1], [-1, 1]], () => true)!;
  assert.ok(neg[0] < -1 && neg[1] > 1);
});

test('ETA from the run\'s own pace, across a resume (elapsedMs continues)', () => {
  const pts = [1, 2, 3, 4].map((step) => ({ step, loss: 1, lr: 0, gradNorm: 0, tokens: 0, tokensPerSecond: 0, elapsedMs: step * 500 }));
  assert.equal(etaFromPoints(pts, 10), 6 * 500);
  assert.equal(etaFromPoints(pts.slice(0, 1), 10), null, 'one step says nothing about the pace');
  assert.equal(etaFromPoints(pts, 4), null, 'done');
  assert.equal(etaFromPoints(pts, null), null);
});

test('evaluation progress counts examples per pass, not both passes together', () => {
  assert.equal(evaluationProgress(64, 256), 'with the adapter: 64 / 128 examples');
  assert.equal(evaluationProgress(160, 256), 'without the adapter: 32 / 128 examples');
  assert.equal(evaluationProgress(256, 256), 'without the adapter: 128 / 128 examples');
  assert.equal(evaluationProgress(0, 0), '');
});

test('legend swatches are drawn as their lines: raw vs smoothed loss and a metric vs its un-prompted reference differ', () => {
  const raw = { width: 1, alpha: 0.3 };
  const smoothed = { width: 2, alpha: 1 };
  assert.notEqual(`${markerWidth(raw)} ${markerColor(raw, '#3794ff')}`, `${markerWidth(smoothed)} ${markerColor(smoothed, '#3794ff')}`);
  assert.equal(markerColor(raw, '#3794ff'), 'color-mix(in srgb, #3794ff 30%, transparent)');
  assert.equal(markerDash({ dash: [2, 4] }), 'dotted', 'the un-prompted reference');
  assert.equal(markerDash({ dash: [6, 3] }), 'dashed');
  assert.equal(markerDash({}), 'solid');
});
