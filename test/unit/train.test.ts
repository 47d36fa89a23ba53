// The trainer's promises to users: only the prompt learns, runs are reproducible, resume continues exactly,
// memory stays flat, accumulation equals a big batch, and the loss goes down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf } from '../../src/backend';
import { resolveConfig, type TrainConfig } from '../../src/config';
import { readAdapter, materializePrompt } from '../../src/io/adapter';
import { loadModel } from '../../src/models/loader';
import type { LanguageModel } from '../../src/models/types';
import type { MetricsLine, TrainerMessage } from '../../src/protocol';
import { train } from '../../src/train/trainer';
import { learningRate } from '../../src/train/schedule';
import { etaFromPoints } from '../../src/train/eta';
import { takeThreadLease, threadsLeasedByOthers } from '../../src/train/threadBudget';
import { createPrompt } from '../../src/ulpt/prompt';
import { availableCores, chooseThreads, deviceWithThreads } from '../../src/train/parallel';
import { passPlan } from '../../src/train/step';
import type { Batch } from '../../src/train/batch';
import { backend, TINY, tempDir, maxAbsDiff } from './helpers';

const WORDS = ['apple', 'stone', 'river', 'cloud', 'light', 'green', 'happy', 'quiet', 'sharp', 'blue'];

/** A small generation task for the tiny model: swap two words. */
function swapDataset(dir: string, count = 32): string {
  const lines = Array.from({ length: count }, (_, i) => {
    const [a, b] = [WORDS[i % 10], WORDS[(i * 3 + 1) % 10]];
    return JSON.stringify({ input: `${a} ${b} =`, target: ` ${b} ${a}` });
  });
  const file = path.join(dir, 'swap.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** One thread unless a test asks for more: the other tests' numbers must not depend on the machine's cores. */
function config(dir: string, over: Partial<TrainConfig> = {}): TrainConfig {
  return { ...resolveConfig({ model: TINY, train: swapDataset(dir), steps: 6, lr: 0.05, batchSize: 4, maxLength: 24, promptLength: 4, evalEvery: 0, checkpointEvery: 0, backend: 'cpu', threads: 1, out: path.join(dir, 'out.ulpt') }, dir), ...over };
}

async function run(cfg: TrainConfig, runDir: string, extra: { model?: LanguageModel; stopAtStep?: number; resume?: boolean; onMessage?: (m: TrainerMessage) => void } = {}) {
  return train(cfg, { runDir, backend: await backend(), ...extra });
}

function tensorsOf(file: string): Float32Array[] {
  const t = readAdapter(file).tensors;
  return [t.z, t.scale, t.shift, t.prompt].filter((x): x is Float32Array => !!x);
}

test('ULPT and prompt tuning report n·r + 2d and n·d trainable parameters', async () => {
  await backend();
  const model = await loadModel(TINY);
  const wte = model.weights.get('wte.weight')!;
  const spec = { length: 10, rank: 2, hidden: 32, seed: 42n };
  const ulpt = await createPrompt({ ...spec, method: 'ulpt', alignment: true }, wte);
  const bare = await createPrompt({ ...spec, method: 'ulpt', alignment: false }, wte);
  const vanilla = await createPrompt({ ...spec, method: 'prompt-tuning', alignment: false }, wte);
  assert.equal(ulpt.trainableParameters, 10 * 2 + 2 * 32);
  assert.equal(bare.trainableParameters, 10 * 2);
  assert.equal(vanilla.trainableParameters, 10 * 32);
  // The tensor prompt equals the adapter format's definition of P (regenerating A from the seed).
  const p = ulpt.prompt();
  const meta = { method: 'ulpt', num_virtual_tokens: 10, rank: 2, hidden_size: 32, alignment: true, seed: '42' };
  const fromFormat = materializePrompt({ meta, tensors: await ulpt.read() } as never);
  assert.ok(maxAbsDiff(p.dataSync(), fromFormat) < 1e-6);
  p.dispose();
  for (const m of [ulpt, bare, vanilla]) m.dispose();
  model.dispose();
});

test('the learning rate warms up linearly then decays linearly to 0 (HF linear schedule)', () => {
  assert.equal(learningRate(1, 0, 4, 10), 0);
  assert.equal(learningRate(1, 2, 4, 10), 0.5);
  assert.equal(learningRate(1, 4, 4, 10), 1);
  assert.equal(learningRate(1, 7, 4, 10), 0.5);
  assert.equal(learningRate(1, 10, 4, 10), 0);
  assert.equal(learningRate(0.3, 0, 0, 10), 0.3);
});

test('training changes only the prompt: every backbone weight is bit-identical afterwards', async () => {
  await backend();
  const dir = tempDir();
  const model = await loadModel(TINY);
  const before = new Map([...model.weights].map(([k, t]) => [k, Buffer.from((t.dataSync() as Float32Array).buffer).toString('base64')]));
  const summary = await run(config(dir), path.join(dir, 'run'), { model });
  assert.equal(summary.steps, 6);
  for (const [k, t] of model.weights) {
    assert.equal(Buffer.from((t.dataSync() as Float32Array).buffer).toString('base64'), before.get(k), `${k} changed`);
  }
  // …while the prompt did move away from its initialisation.
  const trained = readAdapter(summary.adapter!).tensors;
  assert.ok(trained.scale!.some((s) => s !== 1), 'scale stayed at its initial value');
  model.dispose();
});

test('the same seed gives the same adapter; another seed gives another', async () => {
  const dir = tempDir();
  const a = await run(config(dir, { out: path.join(dir, 'a.ulpt') }), path.join(dir, 'a'));
  const b = await run(config(dir, { out: path.join(dir, 'b.ulpt') }), path.join(dir, 'b'));
  const c = await run(config(dir, { out: path.join(dir, 'c.ulpt'), seed: '7' }), path.join(dir, 'c'));
  tensorsOf(a.adapter!).forEach((t, i) => assert.deepEqual(t, tensorsOf(b.adapter!)[i]));
  assert.notDeepEqual(tensorsOf(a.adapter!)[0], tensorsOf(c.adapter!)[0]);
});

test('resume continues exactly: 2k steps straight equal k steps, stop, resume, k steps', async () => {
  const dir = tempDir();
  const cfg = (name: string) => config(dir, { steps: 8, warmupSteps: 2, out: path.join(dir, `${name}.ulpt`) });
  const straight = await run(cfg('straight'), path.join(dir, 'straight'));
  const resumedDir = path.join(dir, 'resumed');
  const first = await run(cfg('resumed'), resumedDir, { stopAtStep: 4 });
  assert.equal(first.reason, 'stopped');
  assert.equal(first.adapter, null);
  assert.ok(fs.existsSync(path.join(resumedDir, 'checkpoint.safetensors')));
  // A crash after the checkpoint leaves a torn line; resume must cope and rewrite the tail.
  fs.appendFileSync(path.join(resumedDir, 'metrics.jsonl'), '{"type":"train","step":5,"lo');
  const second = await run(cfg('resumed'), resumedDir, { resume: true });
  assert.equal(second.steps, 8);
  const [x, y] = [tensorsOf(straight.adapter!), tensorsOf(second.adapter!)];
  x.forEach((t, i) => assert.ok(maxAbsDiff(t, y[i]) <= 1e-6, `tensor ${i} differs by ${maxAbsDiff(t, y[i])}`));
  const losses = (d: string) => fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine).map((m) => [m.step, m.loss]);
  assert.deepEqual(losses(resumedDir), losses(path.join(dir, 'straight')));
});

const lossesOf = (d: string) => fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine).map((m) => [m.step, m.loss]);

test('data-parallel threads: 3 threads train the same adapter as 1 (within float reassociation) and say so', async () => {
  const dir = tempDir();
  const messages: TrainerMessage[] = [];
  const one = await run(config(dir, { steps: 4, batchSize: 5, out: path.join(dir, 'one.ulpt') }), path.join(dir, 'one'));
  const three = await run(config(dir, { steps: 4, batchSize: 5, threads: 3, out: path.join(dir, 'three.ulpt') }), path.join(dir, 'three'), { onMessage: (m) => messages.push(m) });
  const [x, y] = [tensorsOf(one.adapter!), tensorsOf(three.adapter!)];
  x.forEach((t, i) => assert.ok(maxAbsDiff(t, y[i]) < 1e-5, `tensor ${i} differs by ${maxAbsDiff(t, y[i])}`));
  lossesOf(path.join(dir, 'one')).forEach(([, l], i) => assert.ok(Math.abs(l - lossesOf(path.join(dir, 'three'))[i][1]) < 1e-5));
  const started = messages.find((m) => m.type === 'started');
  assert.ok(started && started.type === 'started');
  assert.equal(started.threads, 3);
  assert.match(started.backend.device, /3 threads/);
  assert.equal(three.threads, 3);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'three', 'summary.json'), 'utf8')).threads, 3);
});

test('data-parallel threads: resume is exact, and a resumed "auto" run keeps its checkpoint\'s thread count', async () => {
  const dir = tempDir();
  const cfg = (name: string, threads: number | 'auto') => config(dir, { steps: 6, warmupSteps: 2, threads, out: path.join(dir, `${name}.ulpt`) });
  const straight = await run(cfg('straight', 2), path.join(dir, 'straight'));
  const resumedDir = path.join(dir, 'resumed');
  await run(cfg('resumed', 2), resumedDir, { stopAtStep: 3 });
  const messages: TrainerMessage[] = [];
  const second = await run(cfg('resumed', 'auto'), resumedDir, { resume: true, onMessage: (m) => messages.push(m) });
  const started = messages.find((m): m is Extract<TrainerMessage, { type: 'started' }> => m.type === 'started');
  assert.equal(started?.threads, 2);
  tensorsOf(straight.adapter!).forEach((t, i) => assert.deepEqual(t, tensorsOf(second.adapter!)[i], `tensor ${i} is not bit-identical`));
  assert.deepEqual(lossesOf(resumedDir), lossesOf(path.join(dir, 'straight')));
});

test('the thread count: auto is one per core within the batch and free memory; native backends keep one', () => {
  const small = () => 1e6;
  const cores = availableCores();
  assert.equal(chooseThreads('auto', 'wasm', 64, small).threads, cores);
  const capped = chooseThreads(8, 'cpu', 3, small);
  assert.equal(capped.threads, 3);
  assert.match(capped.note!, /micro-batch of 3 examples/);
  const huge = chooseThreads('auto', 'wasm', 64, () => os.totalmem());
  assert.equal(huge.threads, 1);
  if (cores > 1) assert.match(huge.note!, /own copy of the model/);
  assert.equal(chooseThreads(4, 'tensorflow', 64, small).threads, 1);
  assert.equal(chooseThreads('auto', 'webgpu', 64, small).threads, 1, 'the GPU computes a step in one process');
  assert.equal(deviceWithThreads('CPU (WASM SIMD)', 2), 'CPU (WASM SIMD, 2 threads)');
});

test('the pass plan leaves a checkpointing model\'s layers plain as far as memory allows, and none on the GPU or when memory is short', () => {
  // A SmolLM-135M-sized Llama (30 layers, d 576) as the planner sees it: its numbers, not its weights.
  const smollm = {
    info: { parameters: 134.5e6, numLayers: 30, hiddenSize: 576, numHeads: 9, weightCopies: 1.25 },
    checkpointing: { layers: 30, plainFloatsPerToken: (T: number) => 64 * 576 + 10 * 1536 + 9 * T, plainLayers: 0 },
  } as unknown as LanguageModel;
  const pass = (size: number, length: number) => ({ size, length }) as Batch;
  const wasm = passPlan('wasm', smollm, 10, 1);
  const plain = wasm.plainLayers(pass(8, 64));
  // The 4 GiB heap less the weights and the pass's own estimate leaves room for some layers, not all.
  assert.ok(plain > 0 && plain < 30, `${plain} of 30 layers plain for 8 × 74 positions on WASM`);
  assert.ok(wasm.plainLayers(pass(1, 64)) > plain, 'a smaller pass leaves more layers plain');
  assert.equal(wasm.plainLayers(pass(64, 64)), 0, 'a pass that fills the heap keeps every layer checkpointed');
  assert.equal(passPlan('cpu', smollm, 10, 1).plainLayers(pass(1, 8)), 30, 'no heap ceiling: a small pass runs every layer plain');
  assert.equal(passPlan('webgpu', smollm, 10, 1).plainLayers(pass(1, 8)), 0, 'GPU memory is not visible to the planner');
  const gpt2 = { info: smollm.info } as unknown as LanguageModel;
  assert.equal(passPlan('wasm', gpt2, 10, 1).plainLayers(pass(1, 8)), 0, 'a model that does not checkpoint has nothing to leave plain');
});

test('no tensor leaks: the live tensor count is the same after every step', async () => {
  const dir = tempDir();
  const counts: number[] = [];
  await run(config(dir, { steps: 6, evalEvery: 2, validationSplit: 0.25, checkpointEvery: 3 }), path.join(dir, 'run'), {
    onMessage: (m) => {
      if (m.type === 'step') counts.push(tf.memory().numTensors);
    },
  });
  assert.equal(counts.length, 6);
  assert.ok(counts.every((c) => c === counts[1]), `tensor counts per step: ${counts.join(', ')}`);
});

test('gradient accumulation: batch 4 × 2 micro-batches equals batch 8', async () => {
  const dir = tempDir();
  const big = await run(config(dir, { steps: 3, batchSize: 8, out: path.join(dir, 'big.ulpt') }), path.join(dir, 'big'));
  const acc = await run(config(dir, { steps: 3, batchSize: 4, gradAccumulation: 2, out: path.join(dir, 'acc.ulpt') }), path.join(dir, 'acc'));
  const [x, y] = [tensorsOf(big.adapter!), tensorsOf(acc.adapter!)];
  x.forEach((t, i) => assert.ok(maxAbsDiff(t, y[i]) < 1e-5, `tensor ${i} differs by ${maxAbsDiff(t, y[i])}`));
});

test('training lowers the held-out loss and keeps the best adapter with its metrics', async () => {
  const dir = tempDir();
  const evals: number[] = [];
  const summary = await run(config(dir, { steps: 30, batchSize: 8, validationSplit: 0.25, evalEvery: 10 }), path.join(dir, 'run'), {
    onMessage: (m) => {
      if (m.type === 'eval') evals.push(m.loss);
    },
  });
  assert.equal(evals.length, 4); // step 0, 10, 20, 30
  assert.ok(evals[3] < evals[0] - 0.3, `eval loss ${evals.join(' → ')}`);
  const adapter = readAdapter(summary.adapter!);
  assert.equal(adapter.meta.metrics.loss, Math.min(...evals));
  assert.equal(adapter.meta.training.steps_done, summary.bestStep);
  // The summary on disk says what ran where, so a reopened panel can show it without the live process.
  const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'summary.json'), 'utf8'));
  assert.equal(onDisk.backend, 'cpu');
  assert.match(onDisk.device, /CPU/);
  assert.deepEqual(onDisk.best, summary.best);
});

test('early stopping ends the run after `patience` evaluations without improvement', async () => {
  const dir = tempDir();
  const messages: TrainerMessage[] = [];
  // With lr 0 nothing can improve, so the first evaluation after step 0 already fails to beat it.
  const summary = await run(config(dir, { steps: 20, lr: 0, validationSplit: 0.25, evalEvery: 2, earlyStoppingPatience: 2 }), path.join(dir, 'run'), {
    onMessage: (m) => messages.push(m),
  });
  assert.equal(summary.reason, 'early-stopped');
  assert.equal(summary.steps, 4);
  assert.equal(summary.bestStep, 0);
  assert.ok(summary.adapter && fs.existsSync(summary.adapter), 'an early-stopped run still delivers its best adapter');
  assert.ok(messages.some((m) => m.type === 'log' && /stopping early at step 4/.test(m.message)));
});

test('scaleInit "embedding" starts the prompt at the spread of the token embeddings for every rank', async () => {
  await backend();
  const model = await loadModel(TINY);
  const wte = model.weights.get('wte.weight')!;
  const std = (t: ReturnType<typeof wte.clone>) => tf.tidy(() => tf.sqrt(tf.moments(t).variance).dataSync()[0]);
  const target = std(wte);
  for (const rank of [2, 16, 64]) {
    const one = await createPrompt({ method: 'ulpt', length: 64, rank, hidden: 32, seed: 5n, alignment: true }, wte);
    const emb = await createPrompt({ method: 'ulpt', length: 64, rank, hidden: 32, seed: 5n, alignment: true, scaleInit: 'embedding' }, wte);
    assert.ok((await one.read()).scale!.every((s) => s === 1), 'the paper\'s init: scale 1');
    const [p1, p2] = [one.prompt(), emb.prompt()];
    // Z·A alone has std √(2r/(r+d)); the embedding option rescales it to the embeddings' std.
    assert.ok(Math.abs(std(p1) / Math.sqrt((2 * rank) / (rank + 32)) - 1) < 0.15, `r=${rank}: std(Z·A) ${std(p1)}`);
    assert.ok(Math.abs(std(p2) / target - 1) < 0.15, `r=${rank}: std(P) ${std(p2)} vs embeddings ${target}`);
    tf.dispose([p1, p2]);
    one.dispose();
    emb.dispose();
  }
  model.dispose();
});

test('one ETA: every step message carries the time left that the panel, monitor and status bar compute from metrics.jsonl', async () => {
  const dir = tempDir();
  const etas: { step: number; etaMs: number }[] = [];
  await run(config(dir, { steps: 30 }), path.join(dir, 'run'), { onMessage: (m) => m.type === 'step' && etas.push({ step: m.step, etaMs: m.etaMs }) });
  const train = fs.readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine).filter((l) => l.type === 'train');
  assert.equal(etas.length, 30);
  for (const { step, etaMs } of etas.slice(1)) {
    const seen = train.filter((p) => p.step <= step);
    assert.equal(etaMs, etaFromPoints(seen, 30) ?? 0, `step ${step}`);
  }
});

test('a machine-wide thread budget: "auto" leaves the cores other live runs lease; leases of dead processes are dropped', async () => {
  const dir = tempDir('ulpt-leases-');
  const cores = availableCores();
  const small = () => 1e6;
  const shared = chooseThreads('auto', 'wasm', 64, small, { threads: cores, runs: ['/w/.ulpt/runs/other-1a2b'] });
  assert.equal(shared.threads, 1, 'every core taken: one thread, never zero');
  if (cores > 1) assert.match(shared.note!, new RegExp(`${cores} of the ${cores} cores train another run \\(other-1a2b\\)`));
  assert.equal(chooseThreads(2, 'wasm', 64, small, { threads: cores, runs: ['x'] }).threads, 2, 'a number asked for is kept');
  // A live process (a child that waits) and a dead one (its lease is removed when read).
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => gone.on('exit', r));
  fs.writeFileSync(path.join(dir, `${child.pid}.json`), JSON.stringify({ pid: child.pid, threads: 2, runDir: '/w/run-a' }));
  fs.writeFileSync(path.join(dir, `${gone.pid}.json`), JSON.stringify({ pid: gone.pid, threads: 3, runDir: '/w/run-b' }));
  try {
    assert.deepEqual(threadsLeasedByOthers(dir), { threads: 2, runs: ['/w/run-a'] });
    assert.ok(!fs.existsSync(path.join(dir, `${gone.pid}.json`)), 'the dead process\'s lease is gone');
    const release = takeThreadLease(4, '/w/run-c', dir);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, `${process.pid}.json`), 'utf8')), { pid: process.pid, threads: 4, runDir: '/w/run-c' });
    assert.equal(threadsLeasedByOthers(dir).threads, 2, 'a process does not count its own lease');
    release();
    assert.ok(!fs.existsSync(path.join(dir, `${process.pid}.json`)));
  } finally {
    child.kill();
  }
});
