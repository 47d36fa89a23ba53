// The monitor's view of the run folders: watching roots that appear later, runs that grow, end, are rewritten on
// resume and deleted — driven by file-system events, with nothing read while nothing changes — and the rows,
// sparklines, ETAs, live status and "what differs" legends built from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig } from '../../src/config';
import type { MetricsLine, RunSummary, StepPoint } from '../../src/protocol';
import { OWNER_RECHECK_MS, runActivity } from '../../extension/runs/liveStatus';
import { bestEval, compareRun, configDifferences, monitorRun, sparkline, SPARKLINE_POINTS } from '../../extension/runs/monitorRows';
import { FILES, readRunFiles } from '../../extension/runs/runStore';
import { RunsWatcher, type RunsChange, type WatchedRun } from '../../extension/runs/runsWatcher';
import { tempDir } from './helpers';

const step = (s: number, loss = 2 / s, elapsedMs = s * 100): StepPoint => ({ step: s, loss, lr: 0.01, gradNorm: 1, tokens: 10, tokensPerSecond: 100, elapsedMs });
const line = (m: MetricsLine) => JSON.stringify(m) + '\n';
const trainLine = (s: number) => line({ type: 'train', ...step(s) });

function summary(steps: number): RunSummary {
  return { runDir: '/x', steps, reason: 'completed', adapter: null, bestStep: null, best: null, baseline: null, final: { loss: 1 }, trainableParameters: 10, seconds: 1, backend: 'cpu', device: 'cpu' };
}

function config(dir: string, over: Record<string, unknown> = {}) {
  fs.writeFileSync(path.join(dir, 'train.jsonl'), '{"input":"a","label":"x"}\n');
  return resolveConfig({ model: path.join(dir, 'model'), train: path.join(dir, 'train.jsonl'), steps: 10, ...over }, dir);
}

/** Collects the watcher's reports; `next` waits for one that satisfies `pred`. */
function recorder() {
  const seen: RunsChange[] = [];
  let wake: (() => void) | null = null;
  const onChange = (c: RunsChange) => {
    seen.push(c);
    wake?.();
  };
  async function next(what: string, pred: (c: RunsChange) => boolean, timeoutMs = 5_000): Promise<RunsChange> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = seen.find(pred);
      if (hit) {
        seen.splice(0, seen.indexOf(hit) + 1);
        return hit;
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(seen)}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  }
  return { onChange, next, seen };
}

test('RunsWatcher follows runs from a root that does not exist yet: appear, grow, end, rewrite, vanish', async () => {
  const ws = tempDir('ulpt-watch-');
  const root = path.join(ws, '.ulpt', 'runs');
  const rec = recorder();
  const w = new RunsWatcher([root], rec.onChange, { debounceMs: 30 });
  try {
    assert.deepEqual(w.runs(), []);
    const dir = path.join(root, '2025-01-01_00-00-00_a-0001');
    fs.mkdirSync(dir, { recursive: true }); // the root appears together with an empty run folder: not a run yet
    fs.writeFileSync(path.join(dir, FILES.config), JSON.stringify(config(ws)));
    await rec.next('the run to be added', (c) => c.added.includes(dir));
    assert.equal(w.get(dir)?.files.config?.steps, 10);

    fs.appendFileSync(path.join(dir, FILES.metrics), trainLine(1) + trainLine(2));
    await rec.next('two steps', (c) => c.changed.includes(dir) && w.get(dir)!.lastStep === 2);
    fs.appendFileSync(path.join(dir, FILES.metrics), '{"type":"train","step":3,"lo'); // torn: held back
    fs.appendFileSync(path.join(dir, FILES.metrics), 'ss":0.5,"elapsedMs":300}\n');
    await rec.next('step 3 once its line is whole', (c) => c.changed.includes(dir) && w.get(dir)!.lastStep === 3);
    assert.deepEqual(w.get(dir)!.points.train.map((p) => p.step), [1, 2, 3]);

    fs.writeFileSync(path.join(dir, FILES.summary), JSON.stringify(summary(3)));
    await rec.next('the summary', (c) => c.changed.includes(dir) && w.get(dir)!.files.summary !== null);

    // A resume rewrites metrics.jsonl atomically (a new file): the points start over from it.
    const tmp = path.join(dir, 'metrics.tmp');
    fs.writeFileSync(tmp, trainLine(1));
    fs.renameSync(tmp, path.join(dir, FILES.metrics));
    await rec.next('the rewritten metrics', (c) => c.changed.includes(dir) && w.get(dir)!.lastStep === 1);

    // Quiet: nothing is read while nothing changes (no polling loop).
    const reads = w.reads;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(w.reads, reads, 'no reads without changes');
    assert.equal(w.polling, false, 'fs.watch works here: nothing polls');

    fs.rmSync(dir, { recursive: true });
    await rec.next('the run to be removed', (c) => c.removed.includes(dir));
    assert.deepEqual(w.runs(), []);
  } finally {
    w.dispose();
  }
});

test('RunsWatcher lists existing runs at once, ignores non-run folders until they become runs, and drops a removed root', async () => {
  const ws = tempDir('ulpt-watch-');
  const root = path.join(ws, '.ulpt', 'runs');
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  fs.mkdirSync(a, { recursive: true });
  fs.mkdirSync(b);
  fs.writeFileSync(path.join(a, FILES.metrics), trainLine(1));
  fs.writeFileSync(path.join(root, 'stray.txt'), 'not a run');
  const rec = recorder();
  const w = new RunsWatcher([root], rec.onChange, { debounceMs: 30 });
  try {
    assert.deepEqual(w.runs().map((r) => r.id), ['a'], 'the empty folder b is not a run (yet)');
    fs.writeFileSync(path.join(b, FILES.config), JSON.stringify(config(ws)));
    await rec.next('b to become a run', (c) => c.added.includes(b));
    w.setRoots([]);
    const last = rec.seen.at(-1)!;
    assert.deepEqual(last.removed.sort(), [a, b]);
    assert.deepEqual(w.runs(), []);
  } finally {
    w.dispose();
  }
});

test('runActivity: a session of this window decides (launched or attached); else the run folder’s lock; else how it ended', () => {
  const none = { summary: null, failure: null, summaryTime: 0, failureTime: 0 };
  const done = { summary: summary(3), failure: null, summaryTime: 10, failureTime: 0 };
  const now = 1_000_000;
  assert.deepEqual(runActivity(none, 3, { state: 'running', launched: true }, now), { status: 'running', owner: 'window', recheckAt: null });
  assert.deepEqual(runActivity(none, 3, { state: 'stopping', launched: false }, now), { status: 'stopping', owner: 'process', recheckAt: null });
  assert.equal(runActivity(done, 3, { state: 'ended', launched: true }, now).status, 'completed', 'an ended session leaves it to the files');
  // A live lock before any session attached: running (looked at again soon), or stopping once a stop was asked for.
  assert.deepEqual(runActivity({ ...none, owner: { state: 'alive', stopRequested: false } }, 3, null, now), { status: 'running', owner: 'process', recheckAt: now + OWNER_RECHECK_MS });
  assert.equal(runActivity({ ...none, owner: { state: 'alive', stopRequested: true } }, 3, null, now).status, 'stopping');
  assert.deepEqual(runActivity({ ...none, owner: { state: 'stale' } }, 3, null, now), { status: 'interrupted', owner: null, recheckAt: null });
  assert.equal(runActivity({ ...done, owner: { state: 'none' } }, 3, null, now).status, 'completed');
  assert.equal(runActivity({ ...done, owner: { state: 'none' } }, 5, null, now).status, 'interrupted', 'a resumed run cut off past its old summary');
});

test('sparkline: the smoothed loss, at most SPARKLINE_POINTS bucket means', () => {
  assert.deepEqual(sparkline([step(1, 1), step(2, 1)]), [1, 1]);
  const long = Array.from({ length: 500 }, (_, i) => step(i + 1, 5));
  const s = sparkline(long);
  assert.equal(s.length, SPARKLINE_POINTS);
  assert.ok(s.every((v) => Math.abs(v - 5) < 1e-9));
  const falling = sparkline(Array.from({ length: 200 }, (_, i) => step(i + 1, 10 - i * 0.04)));
  assert.ok(falling[0] > falling.at(-1)!, 'a falling loss falls');
});

test('bestEval takes the last point marked best', () => {
  const ev = (s: number, v: number, best: boolean) => ({ step: s, loss: 1, metrics: { accuracy: v }, metric: 'accuracy', value: v, best });
  assert.deepEqual(bestEval([ev(0, 0.5, true), ev(10, 0.7, true), ev(20, 0.6, false)]), { metric: 'accuracy', value: 0.7, step: 10 });
  assert.equal(bestEval([]), null);
});

test('monitorRun: a row from a run folder read from disk', () => {
  const ws = tempDir('ulpt-row-');
  const dir = path.join(ws, '2025-02-03_04-05-06_sentiment-ab12');
  fs.mkdirSync(dir);
  const c = config(ws, { rank: 4, promptLength: 7, steps: 100, model: path.join(ws, 'hub', 'models--org--tiny', 'snapshots', 'abc') });
  fs.writeFileSync(path.join(dir, FILES.config), JSON.stringify(c));
  fs.writeFileSync(path.join(dir, FILES.failure), JSON.stringify({ message: 'out of memory\nmore', tail: [], step: 3, time: '' }));
  const train = Array.from({ length: 10 }, (_, i) => step(i + 1, 1, (i + 1) * 1000));
  const run: WatchedRun = { dir, id: path.basename(dir), files: readRunFiles(dir), points: { train, eval: [], baseline: null }, lastStep: 10 };
  const failed = monitorRun(run, { status: 'failed', owner: null, recheckAt: null });
  assert.match(failed.name, /^sentiment · ULPT r=4 · [0-9a-f]{4}$/, 'the display name used in tabs and pickers');
  assert.deepEqual([failed.promptLength, failed.task], [7, 'generation']);
  assert.equal(failed.model, 'org/tiny');
  assert.equal(failed.method, 'ULPT r=4 · n=7');
  assert.deepEqual([failed.step, failed.totalSteps, failed.elapsedMs, failed.etaMs], [10, 100, 10_000, null]);
  assert.equal(failed.error, 'out of memory');
  assert.equal(failed.trainPoints, 10);
  const live = monitorRun(run, { status: 'running', owner: 'process', recheckAt: 1 });
  assert.equal(live.etaMs, 90 * 1000, 'estimated from the trainer clock in the files when no session reports one');
  assert.equal(monitorRun(run, { status: 'running', owner: 'window', recheckAt: null }, 1234).etaMs, 1234, 'the trainer’s own ETA when this window runs it');
  assert.deepEqual(compareRun(run, { status: 'running', owner: null, recheckAt: null }).train.slice(0, 2), [[1, 1], [2, 1]]);
});

test('configDifferences: only what differs goes in the legend, with a value per run; the rest is shared', () => {
  const ws = tempDir('ulpt-diff-');
  const a = config(ws, { rank: 2, lr: 0.01 });
  const b = config(ws, { rank: 8, lr: 0.03 });
  const pt = config(ws, { method: 'prompt-tuning', lr: 0.01 });
  const d = configDifferences([a, b]);
  assert.deepEqual(d.differences.map((x) => [x.label, x.values]), [['rank r', ['2', '8']], ['lr', ['0.01', '0.03']]]);
  assert.ok(d.shared.some((s) => s.label === 'method' && s.value === 'ULPT'));
  const mixed = configDifferences([a, pt]);
  assert.deepEqual(mixed.differences.map((x) => x.field), ['method', 'rank', 'alignment', 'scaleInit']);
  assert.deepEqual(mixed.differences[1].values, ['2', '—']);
  const unknown = configDifferences([a, null]);
  assert.ok(unknown.differences.every((x) => x.values[1] === '?') && unknown.shared.length === 0);
});
