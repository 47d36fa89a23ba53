// The PyTorch engine (python/ulpt_torch) trains the same job as the built-in engine: the shared vectors hold on the
// TypeScript side, the example config gives the same curve and the same held-out accuracy on both engines, the torch
// run folder reads as a built-in one, and a run stopped on either engine resumes on the other and ends on the
// uninterrupted curve. Needs the repo's .venv (scripts/setup-python.sh): torch 2.13 CPU, transformers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, type BackendReport } from '../../src/backend';
import { resolveConfig, type TrainConfig } from '../../src/config';
import { startTorchRun, type TorchTrainOptions } from '../../src/engine/torchEngine';
import { readAdapter } from '../../src/io/adapter';
import { SafetensorsFile, serializeSafetensors } from '../../src/io/safetensors';
import type { MetricsLine, RunSummary } from '../../src/protocol';
import { ExampleStream } from '../../src/train/batch';
import { diagnoseRun, readStarted } from '../../src/train/runFolder';
import { readRunOwner } from '../../src/train/runLock';
import { train } from '../../src/train/trainer';
import { projectionMatrix, SplitMix64 } from '../../src/ulpt/projection';
import { seededNormal } from '../../src/ulpt/prompt';
import { ROOT, tempDir } from './helpers';

const VECTORS = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'vectors', 'engine.json'), 'utf8'));
// One thread per engine: the machine's cores are shared, and the curves do not depend on it.
const ENV = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

test('shared vectors: SplitMix64, Z draws, projection A and example order are what the TypeScript engine computes', () => {
  for (const c of VECTORS.splitmix64) {
    const rng = new SplitMix64(BigInt(c.seed));
    assert.deepEqual(c.outputs.map(() => '0x' + rng.next().toString(16).padStart(16, '0')), c.outputs);
  }
  for (const c of VECTORS.seededNormal) assert.deepEqual(Array.from(seededNormal(BigInt(c.seed), c.count, c.std)), c.values);
  for (const c of VECTORS.projection) assert.deepEqual(Array.from(projectionMatrix(BigInt(c.seed), c.rank, c.hidden)), c.values);
  for (const c of VECTORS.exampleOrder) {
    const stream = new ExampleStream(c.count, BigInt(c.seed));
    assert.deepEqual(Array.from({ length: c.positions }, (_, i) => stream.at(i)), c.order);
  }
  // The published values (DESIGN.md, README): seed 0's first output and seed 42's A for r = 2, d = 4.
  assert.equal(VECTORS.splitmix64[0].outputs[0], '0xe220a8397b1dcdaf');
  assert.ok(Math.abs(VECTORS.projection[0].values[0] - 0.483129758) < 3e-8); // float32's spacing near 0.48 is 3e-8
});

function exampleConfig(dir: string, steps: number): TrainConfig {
  const file = path.join(ROOT, 'examples', 'workspace', 'ulpt.config.json');
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { ...resolveConfig(raw, path.dirname(file), file), steps, evalEvery: steps, checkpointEvery: 0, threads: 1, out: path.join(dir, 'sentiment.ulpt') };
}

function metrics(runDir: string): MetricsLine[] {
  return fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine);
}

const trainLosses = (lines: MetricsLine[]) => lines.filter((m) => m.type === 'train').map((m) => m.loss);
const evals = (lines: MetricsLine[]) => lines.filter((m) => m.type === 'eval') as Extract<MetricsLine, { type: 'eval' }>[];

function assertSameCurve(got: number[], want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} steps vs ${want.length}`);
  got.forEach((loss, i) => {
    const rel = Math.abs(loss - want[i]) / Math.abs(want[i]);
    assert.ok(rel < 1e-3, `${what}: step ${i + 1} loss ${loss} vs ${want[i]} (relative ${rel.toExponential(2)})`);
  });
}

async function runTorch(config: TrainConfig, opts: TorchTrainOptions): Promise<{ code: number; summary: RunSummary | null }> {
  const run = await startTorchRun(config, { env: ENV, ...opts });
  return run.result;
}

let wasm: Promise<BackendReport> | null = null;
async function runBuiltin(config: TrainConfig, runDir: string, extra: { resume?: boolean; stopAtStep?: number } = {}): Promise<RunSummary> {
  wasm ??= initBackend('wasm');
  return train(config, { runDir, backend: await wasm, ...extra });
}

test('the example config: 20 steps give the same curve and held-out accuracy on both engines; the torch run folder reads as a built-in one', async () => {
  const dir = tempDir();
  const config = exampleConfig(dir, 20);
  await runBuiltin({ ...config, out: path.join(dir, 'builtin.ulpt') }, path.join(dir, 'builtin'));
  const torchDir = path.join(dir, 'torch');
  const { code, summary } = await runTorch(config, { runDir: torchDir });
  assert.equal(code, 0, 'the torch engine exits 0');
  const [b, t] = [metrics(path.join(dir, 'builtin')), metrics(torchDir)];
  assertSameCurve(trainLosses(t), trainLosses(b), 'torch vs builtin');
  assert.deepEqual(evals(t).map((e) => [e.step, e.metrics.accuracy]), evals(b).map((e) => [e.step, e.metrics.accuracy]));
  const [bb, tb] = [b.find((m) => m.type === 'baseline')!, t.find((m) => m.type === 'baseline')!];
  assert.ok(Math.abs(tb.loss - bb.loss) / bb.loss < 1e-4 && tb.metrics.accuracy === bb.metrics.accuracy, 'the same un-prompted baseline');

  // The folder as the built-in side and the extension read it.
  const diagnosis = diagnoseRun(torchDir);
  assert.ok(diagnosis.files.every((f) => f.state === 'ok'), JSON.stringify(diagnosis.files));
  assert.equal(diagnosis.checkpointStep, 20);
  const best = readAdapter(path.join(torchDir, 'best.ulpt'));
  const reference = readAdapter(path.join(dir, 'builtin', 'best.ulpt'));
  assert.equal(best.meta.base_model.fingerprint, reference.meta.base_model.fingerprint, 'the same model fingerprint');
  assert.equal(best.meta.training.backend, 'torch');
  assert.deepEqual(best.meta.metrics.accuracy, reference.meta.metrics.accuracy);
  for (const k of ['z', 'scale', 'shift'] as const) {
    const [x, y] = [best.tensors[k]!, reference.tensors[k]!];
    const diff = Math.max(...Array.from(x, (v, i) => Math.abs(v - y[i])));
    assert.ok(diff < 1e-3, `best.ulpt ${k} within 1e-3 of the built-in engine's (max diff ${diff})`);
  }
  assert.deepEqual(fs.readFileSync(config.out).subarray(0, 8), fs.readFileSync(path.join(torchDir, 'best.ulpt')).subarray(0, 8), 'out is the best adapter');
  // The checkpoint and adapter files are laid out byte for byte as the TypeScript writer lays out their contents,
  // and the checkpoint holds the same tensors and counters as the built-in engine's.
  for (const name of ['checkpoint.safetensors', 'best.ulpt']) {
    const file = path.join(torchDir, name);
    const st = SafetensorsFile.open(file);
    const tensors = Object.fromEntries(st.keys().map((k) => [k, { shape: st.info(k).shape, data: st.float32(k) }]));
    const metadata = st.header.metadata;
    st.close();
    assert.deepEqual(Buffer.from(serializeSafetensors(tensors, metadata)), fs.readFileSync(file), `${name}: byte layout`);
  }
  const checkpointOf = (dir: string) => {
    const st = SafetensorsFile.open(path.join(dir, 'checkpoint.safetensors'));
    const meta = JSON.parse(st.header.metadata['ulpt-checkpoint']) as Record<string, unknown>;
    const keys = st.keys().sort();
    st.close();
    return { keys, counters: Object.keys(meta).filter((k) => k !== 'threads').sort() };
  };
  assert.deepEqual(checkpointOf(torchDir), checkpointOf(path.join(dir, 'builtin')));
  const started = readStarted(torchDir)!;
  assert.equal(started.engine, 'torch');
  assert.equal(started.worldSize, 1);
  assert.equal(started.backend.name, 'torch');
  assert.ok(started.model.parameters > 0);
  assert.equal(summary?.reason, 'completed');
  assert.equal(summary?.engine, 'torch');
  assert.ok(!fs.existsSync(path.join(torchDir, 'lock.json')), 'the lock is released');
  const log = fs.readFileSync(path.join(torchDir, 'trainer.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  assert.deepEqual([log[0].type, log.at(-1)!.type], ['started', 'finished']);
});

test('a run stopped on either engine resumes on the other and ends on the uninterrupted curve', async () => {
  const dir = tempDir();
  const config = exampleConfig(dir, 16);
  await runBuiltin({ ...config, out: path.join(dir, 'whole.ulpt') }, path.join(dir, 'whole'));
  const whole = metrics(path.join(dir, 'whole'));

  // Built-in for 8 steps, then the torch engine from its checkpoint.
  const first = path.join(dir, 'builtin-then-torch');
  const stopped = await runBuiltin(config, first, { stopAtStep: 8 });
  assert.equal(stopped.reason, 'stopped');
  const resumed = await runTorch(config, { runDir: first, resume: true });
  assert.equal(resumed.code, 0);
  assertSameCurve(trainLosses(metrics(first)), trainLosses(whole), 'builtin 1-8 + torch 9-16');
  assert.deepEqual(evals(metrics(first)).map((e) => e.metrics.accuracy), evals(whole).map((e) => e.metrics.accuracy));

  // The torch engine for 8 steps, then the built-in engine from its checkpoint.
  const second = path.join(dir, 'torch-then-builtin');
  const partial = await runTorch(config, { runDir: second, stopAtStep: 8 });
  assert.equal(partial.code, 130, 'a stopped torch run exits 130, as `ulpt train` does');
  assert.equal(diagnoseRun(second).checkpointStep, 8);
  const stored = JSON.parse(fs.readFileSync(path.join(second, 'config.json'), 'utf8')) as TrainConfig;
  assert.equal(stored.engine, 'torch');
  const done = await runBuiltin({ ...stored, engine: 'builtin' }, second, { resume: true });
  assert.equal(done.reason, 'completed');
  assertSameCurve(trainLosses(metrics(second)), trainLosses(whole), 'torch 1-8 + builtin 9-16');
});

test('Stop (stop-request.json) ends a torch run after its step with a checkpoint, exit 130 and the folder released', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  let owner: ReturnType<typeof readRunOwner> | null = null;
  const run = await startTorchRun({ ...exampleConfig(dir, 500), evalEvery: 0 }, {
    runDir, env: ENV, onMessage: (m) => {
      if (m.type !== 'step' || m.step !== 2) return;
      owner = readRunOwner(runDir); // what the monitor sees of a live torch run
      run.stop();
    },
  });
  const { code, summary } = await run.result;
  assert.equal(code, 130);
  const seen = owner as ReturnType<typeof readRunOwner> | null;
  assert.equal(seen?.state, 'alive', 'the Python process holds lock.json with an identity the TypeScript side checks');
  if (seen?.state === 'alive') {
    assert.notEqual(seen.lock.pid, process.pid);
    assert.match(seen.lock.processId ?? '', /^linux:/);
  }
  assert.equal(summary?.reason, 'stopped');
  assert.equal(summary?.adapter, null, 'a stopped run publishes no adapter at out');
  const step = diagnoseRun(runDir).checkpointStep!;
  assert.ok(step >= 2 && step < 500, `checkpoint at step ${step}`);
  assert.equal(summary?.steps, step);
  assert.ok(!fs.existsSync(path.join(runDir, 'lock.json')) && !fs.existsSync(path.join(runDir, 'stop-request.json')));
});

test('a Python without the engine\'s libraries, or none at all, refuses the run before its folder is claimed', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  await assert.rejects(startTorchRun(exampleConfig(dir, 5), { runDir, python: path.join(dir, 'no-such-python') }), /could not be run.*no-such-python/s);
  // The system's python3 stands for an interpreter without torch (Debian's has none); the message names the pip command.
  const bare = '/usr/bin/python3';
  if (fs.existsSync(bare)) {
    await assert.rejects(startTorchRun(exampleConfig(dir, 5), { runDir, python: bare }), (e: Error) => {
      assert.match(e.message, /torch .*not installed/);
      assert.match(e.message, /\/usr\/bin\/python3 -m pip install .*"torch>=2\.1"/);
      return true;
    });
  }
  assert.ok(!fs.existsSync(runDir), 'nothing is left behind');
});
