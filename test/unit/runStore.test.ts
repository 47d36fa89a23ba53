// The run store (extension/runs/runStore.ts) and the CSV export: parsing metrics.jsonl as the trainer writes it, status
// from the run folder, listing runs, and following a folder while lines are appended, torn and rewritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { metricsCsv } from '../../extension/commands/csv';
import {
  FILES, MetricsAccumulator, RunFollower, deriveStatus, listRuns, newRunId, parseMetrics, readRunFiles, runDisplayName, runHeader, runName, safeName, type FollowEvent,
} from '../../extension/runs/runStore';
import type { MetricsLine, RunSummary } from '../../src/protocol';
import { tempDir } from './helpers';

const train = (step: number, loss = 1 / step): MetricsLine => ({ type: 'train', step, loss, lr: 0.01, gradNorm: 0.5, tokens: 100, tokensPerSecond: 1000, elapsedMs: step * 10 });
const evalLine = (step: number, accuracy: number, best = false): MetricsLine => ({ type: 'eval', step, loss: 2 - accuracy, metrics: { accuracy, macro_f1: accuracy / 2 }, metric: 'accuracy', value: accuracy, best });
const jsonl = (lines: MetricsLine[]) => lines.map((l) => JSON.stringify(l) + '\n').join('');

function summary(steps: number, reason: RunSummary['reason'] = 'completed'): RunSummary {
  return { runDir: '/x', steps, reason, adapter: null, bestStep: null, best: null, baseline: null, final: { loss: 1 }, trainableParameters: 10, seconds: 1, backend: 'cpu', device: 'CPU (plain JavaScript, 1 thread)' };
}

test('parseMetrics reads train, eval and baseline lines in step order', () => {
  const text = JSON.stringify({ type: 'baseline', step: 0, loss: 3, metrics: { accuracy: 0.5 } }) + '\n' + jsonl([evalLine(0, 0.5, true), train(1), train(2), evalLine(2, 0.75, true)]);
  const p = parseMetrics(text);
  assert.deepEqual(p.train.map((t) => t.step), [1, 2]);
  assert.deepEqual(p.eval.map((e) => [e.step, e.value, e.best]), [[0, 0.5, true], [2, 0.75, true]]);
  assert.deepEqual(p.baseline, { loss: 3, metrics: { accuracy: 0.5 } });
  assert.equal(p.lastStep, 2);
  assert.equal(p.skipped, 0);
});

test('parseMetrics drops a torn last line and keeps a complete one that lacks only its newline', () => {
  const good = jsonl([train(1), train(2)]);
  const torn = parseMetrics(good + '{"type":"train","step":3,"lo');
  assert.deepEqual(torn.train.map((t) => t.step), [1, 2]);
  assert.equal(torn.skipped, 0, 'a torn tail is expected while the trainer writes; not counted as a bad line');
  const whole = parseMetrics(good + JSON.stringify(train(3)));
  assert.deepEqual(whole.train.map((t) => t.step), [1, 2, 3]);
});

test('parseMetrics keeps the last point of a repeated step (a resumed run repeats the steps after its checkpoint)', () => {
  const p = parseMetrics(jsonl([train(1, 5), train(2, 4), train(3, 3), train(2, 2.5), train(3, 2), evalLine(2, 0.1), evalLine(2, 0.9)]));
  assert.deepEqual(p.train.map((t) => [t.step, t.loss]), [[1, 5], [2, 2.5], [3, 2]]);
  assert.deepEqual(p.eval.map((e) => e.value), [0.9]);
});

test('parseMetrics counts broken and foreign lines, ignores unknown types, and survives garbage', () => {
  const p = parseMetrics(['not json', '[]', JSON.stringify({ type: 'train', step: 'x' }), JSON.stringify({ type: 'future', step: 1 }), JSON.stringify(train(1)), ''].join('\n') + '\n');
  assert.deepEqual(p.train.map((t) => t.step), [1]);
  assert.equal(p.skipped, 3);
  assert.deepEqual(parseMetrics(''), { train: [], eval: [], baseline: null, skipped: 0, lastStep: 0 });
});

test('MetricsAccumulator returns only what each batch of lines added', () => {
  const acc = new MetricsAccumulator();
  assert.equal(acc.add([JSON.stringify(train(1))]).train.length, 1);
  const added = acc.add([JSON.stringify(train(2)), JSON.stringify(evalLine(2, 0.5))]);
  assert.deepEqual([added.train.length, added.eval.length], [1, 1]);
  assert.equal(acc.points().train.length, 2);
});

test('deriveStatus: live beats files; the newer of summary and failure decides; metrics past the summary mean interrupted', () => {
  const none = { summary: null, failure: null, summaryTime: 0, failureTime: 0 };
  assert.equal(deriveStatus(none, 5, null), 'interrupted');
  assert.equal(deriveStatus(none, 5, 'running'), 'running');
  assert.equal(deriveStatus({ ...none, summary: summary(10), summaryTime: 1 }, 10, null), 'completed');
  assert.equal(deriveStatus({ ...none, summary: summary(4, 'early-stopped'), summaryTime: 1 }, 4, null), 'early-stopped');
  assert.equal(deriveStatus({ ...none, summary: summary(4, 'stopped'), summaryTime: 1 }, 4, 'stopping'), 'stopping');
  assert.equal(deriveStatus({ ...none, summary: summary(4, 'stopped'), summaryTime: 1 }, 9, null), 'interrupted');
  const failure = { message: 'boom', tail: [], step: 3, time: '' };
  assert.equal(deriveStatus({ summary: summary(4, 'stopped'), failure, summaryTime: 1, failureTime: 2 }, 6, null), 'failed');
  assert.equal(deriveStatus({ summary: summary(8), failure, summaryTime: 3, failureTime: 2 }, 8, null), 'completed');
});

test('display names tell runs of one config apart: name, method and a stable suffix; the best metric is listed', () => {
  const root = tempDir();
  const a = makeRun(root, '2025-01-31_12-00-00_sentiment', { metrics: [train(1), evalLine(1, 0.7, true), train(2), evalLine(2, 0.6)] });
  const b = makeRun(root, '2025-01-31_12-00-01_sentiment', { metrics: [train(1)] });
  const [ra, rb] = [a, b].map((d) => listRuns(root).find((r) => r.dir === d)!);
  assert.match(ra.name, /^sentiment · ULPT r=2 · [0-9a-f]{4}$/);
  assert.notEqual(ra.name, rb.name);
  assert.equal(runDisplayName('2025-01-31_12-00-00_sentiment', { method: 'ulpt', rank: 2 }), ra.name, 'stable: derived from the folder name');
  assert.match(runDisplayName('x', { method: 'prompt-tuning', rank: 0 }), /^x · prompt tuning · [0-9a-f]{4}$/);
  assert.equal(runDisplayName(newRunId('sentiment').replace(/-[0-9a-f]{4}$/, '-7f3a'), { method: 'ulpt', rank: 64 }), 'sentiment · ULPT r=64 · 7f3a', 'an engine run id\'s own suffix is the one shown');
  assert.deepEqual(ra.best, { metric: 'accuracy', value: 0.7, step: 1 });
  assert.equal(rb.best, null);
  assert.equal(runHeader(a, readRunFiles(a), 2, null).name, ra.name);
});

test('run names and ids: timestamp prefix, safe characters', () => {
  const id = newRunId('my run/1', new Date('2025-01-31T12:00:00.123Z'));
  assert.match(id, /^2025-01-31_12-00-00_my-run-1-[0-9a-f]{4}$/);
  assert.notEqual(newRunId('my run/1', new Date('2025-01-31T12:00:00.123Z')), id, 'two runs started in the same second get different ids');
  assert.match(runName(id), /^my-run-1-[0-9a-f]{4}$/);
  assert.equal(runName('plain'), 'plain');
  assert.equal(safeName('  ../..  '), 'run');
});

function makeRun(root: string, id: string, opts: { metrics?: MetricsLine[]; summary?: RunSummary; checkpoint?: boolean; best?: boolean }): string {
  const dir = path.join(root, id);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, FILES.config), JSON.stringify({ model: '/m', train: '/t.jsonl', steps: 10, method: 'ulpt', rank: 2 }));
  if (opts.metrics) fs.writeFileSync(path.join(dir, FILES.metrics), jsonl(opts.metrics));
  if (opts.summary) fs.writeFileSync(path.join(dir, FILES.summary), JSON.stringify(opts.summary));
  if (opts.checkpoint) fs.writeFileSync(path.join(dir, FILES.checkpoint), 'x');
  if (opts.best) fs.writeFileSync(path.join(dir, FILES.best), 'x');
  return dir;
}

test('listRuns lists run folders newest first with status, resumability and adapters; skips other folders', () => {
  const root = tempDir();
  const done = makeRun(root, '2025-01-01_00-00-00_done', { metrics: [train(1), train(2)], summary: summary(2), checkpoint: true, best: true });
  const cut = makeRun(root, '2025-01-02_00-00-00_cut', { metrics: [train(1)], checkpoint: true });
  fs.utimesSync(path.join(done, FILES.metrics), new Date(1000), new Date(1000));
  fs.utimesSync(path.join(done, FILES.summary), new Date(1000), new Date(1000));
  fs.utimesSync(path.join(done, FILES.config), new Date(1000), new Date(1000));
  fs.utimesSync(done, new Date(1000), new Date(1000));
  fs.mkdirSync(path.join(root, 'empty-folder'));
  fs.writeFileSync(path.join(root, 'stray.txt'), '');
  const runs = listRuns(root);
  assert.deepEqual(runs.map((r) => [runName(r.id), r.status, r.resumable, r.lastStep, r.adapters.best]), [['cut', 'interrupted', true, 1, false], ['done', 'completed', false, 2, true]]);
  assert.equal(runs[1].created, Date.UTC(2025, 0, 1), 'created: from the folder name');
  assert.equal(listRuns(root, new Map([[cut, 'running']]))[0].status, 'running');
  assert.deepEqual(listRuns(path.join(root, 'missing')), []);
});

test('listRuns keeps each run\'s last step and best evaluation from the lines appended since the last listing, and starts over when metrics.jsonl is replaced', () => {
  const root = tempDir();
  const dir = makeRun(root, '2025-01-03_00-00-00_long', { metrics: [train(1), evalLine(1, 0.5, true), train(2)] });
  const file = path.join(dir, FILES.metrics);
  const seen = () => listRuns(root).map((r) => [r.lastStep, r.best])[0];
  assert.deepEqual(seen(), [2, { metric: 'accuracy', value: 0.5, step: 1 }]);
  fs.appendFileSync(file, jsonl([train(3), evalLine(3, 0.4)]) + JSON.stringify(train(4)).slice(0, 20)); // a line still being written
  assert.deepEqual(seen(), [3, { metric: 'accuracy', value: 0.5, step: 1 }], 'a worse evaluation is not the best; a torn line waits');
  fs.appendFileSync(file, JSON.stringify(train(4)).slice(20) + '\n' + jsonl([{ ...train(5), loss: Number.NaN }, evalLine(5, 0.7, true)]));
  assert.deepEqual(seen(), [4, { metric: 'accuracy', value: 0.7, step: 5 }], 'the line completed; a train line without a numeric loss is not a step');
  // A resume rewinds metrics.jsonl to its checkpoint by replacing the file: what was read of the old one is forgotten.
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, jsonl([train(1), evalLine(1, 0.6, true), train(2)]));
  fs.renameSync(tmp, file);
  assert.deepEqual(seen(), [2, { metric: 'accuracy', value: 0.6, step: 1 }]);
});

test('runHeader hides a stale summary while a resumed run is live, and shows the failure of a failed run', () => {
  const root = tempDir();
  const dir = makeRun(root, 'r', { metrics: [train(1)], summary: summary(1, 'stopped'), checkpoint: true });
  const live = runHeader(dir, readRunFiles(dir), 1, 'running');
  assert.equal(live.summary, null);
  assert.equal(live.resumable, false);
  const stopped = runHeader(dir, readRunFiles(dir), 1, null);
  assert.equal(stopped.status, 'stopped');
  assert.equal(stopped.resumable, true);
  fs.writeFileSync(path.join(dir, FILES.failure), JSON.stringify({ message: 'out of memory', tail: ['a'], step: 1, time: '' }));
  fs.utimesSync(path.join(dir, FILES.summary), new Date(1000), new Date(1000));
  const failed = runHeader(dir, readRunFiles(dir), 1, null);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.failure?.message, 'out of memory');
});

test('RunFollower reads appended lines once, waits for torn lines, and starts over when the file is replaced', async () => {
  const dir = tempDir();
  const file = path.join(dir, FILES.metrics);
  const events: FollowEvent[] = [];
  const f = new RunFollower(dir, (e) => events.push(e), 60_000);
  try {
    f.poll();
    assert.equal(events.length, 0, 'no file, no event');
    fs.writeFileSync(file, jsonl([train(1), train(2)]));
    f.poll();
    assert.deepEqual(events.at(-1)!.points.train.map((t) => t.step), [1, 2]);
    const half = JSON.stringify(train(3));
    fs.appendFileSync(file, half.slice(0, 10));
    const before = events.length;
    f.poll();
    assert.equal(events.length, before, 'a torn line is not consumed');
    fs.appendFileSync(file, half.slice(10) + '\n' + JSON.stringify(evalLine(3, 0.5)) + '\n');
    f.poll();
    assert.deepEqual(events.at(-1)!.points.train.map((t) => t.step), [3]);
    assert.deepEqual(events.at(-1)!.points.eval.map((t) => t.step), [3]);
    assert.equal(f.points().train.length, 3);
    // Resume rewrites the file atomically (a new inode) with the lines up to the checkpoint.
    fs.writeFileSync(file + '.tmp', jsonl([train(1)]));
    fs.renameSync(file + '.tmp', file);
    f.poll();
    const reset = events.at(-1)!;
    assert.equal(reset.reset, true);
    assert.deepEqual(reset.points.train.map((t) => t.step), [1]);
    fs.writeFileSync(path.join(dir, FILES.summary), JSON.stringify(summary(1)));
    f.poll();
    assert.equal(events.at(-1)!.filesChanged, true);
  } finally {
    f.dispose();
  }
});

test('RunFollower is woken by file-system events without polling', async () => {
  const dir = tempDir();
  let resolve!: (e: FollowEvent) => void;
  const got = new Promise<FollowEvent>((r) => (resolve = r));
  const f = new RunFollower(dir, (e) => resolve(e), 60_000);
  try {
    fs.writeFileSync(path.join(dir, FILES.metrics), jsonl([train(1)]));
    let timer: NodeJS.Timeout | undefined;
    const e = await Promise.race([got, new Promise<null>((r) => (timer = setTimeout(() => r(null), 5000)))]);
    clearTimeout(timer);
    assert.ok(e, 'fs.watch delivered the change');
    assert.equal(e.points.train[0].step, 1);
  } finally {
    f.dispose();
  }
});

test('metricsCsv: one row per step, eval columns per metric, baseline first, quoting', () => {
  const csv = metricsCsv({ train: [train(1, 2), train(2, 1.5)].map((l) => l as never), eval: [evalLine(0, 0.5), evalLine(2, 0.75, true)].map((l) => l as never), baseline: { loss: 3, metrics: { accuracy: 0.25 } } });
  const rows = csv.trim().split('\n');
  assert.equal(rows[0], 'step,loss,lr,grad_norm,tokens,tokens_per_second,elapsed_ms,eval_loss,eval_accuracy,eval_macro_f1,eval_best');
  assert.equal(rows[1], 'baseline,,,,,,,3,0.25,,');
  assert.equal(rows[2], '0,,,,,,,1.5,0.5,0.25,false');
  assert.equal(rows[3], '1,2,0.01,0.5,100,1000,10,,,,');
  assert.equal(rows[4], '2,1.5,0.01,0.5,100,1000,20,1.25,0.75,0.375,true');
  assert.equal(rows.length, 5);
});
