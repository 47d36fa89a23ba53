// The PyTorch engine on several processes (torchrun, gloo on CPU): each rank computes its share of every batch and
// the prompt's gradient is summed over ranks, so two processes equal one; rank 0 alone writes the run folder; a rank
// that dies leaves the run interrupted (not failed) with a checkpoint that resumes. Needs the repo's .venv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, type TrainConfig } from '../../src/config';
import { startTorchRun } from '../../src/engine/torchEngine';
import type { MetricsLine } from '../../src/protocol';
import { diagnoseRun, readStarted } from '../../src/train/runFolder';
import { readRunOwner } from '../../src/train/runLock';
import { FIXTURES, ROOT, tempDir } from './helpers';

const ENV = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

function exampleConfig(dir: string, extra: Partial<TrainConfig>): TrainConfig {
  const file = path.join(ROOT, 'examples', 'workspace', 'ulpt.config.json');
  return { ...resolveConfig(JSON.parse(fs.readFileSync(file, 'utf8')), path.dirname(file)), out: path.join(dir, 'a.ulpt'), ...extra };
}

const evalLines = (runDir: string) => fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as MetricsLine).filter((m) => m.type !== 'train') as Exclude<MetricsLine, { type: 'train' }>[];

const losses = (runDir: string) => fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as MetricsLine).filter((m) => m.type === 'train').map((m) => m.loss);

test('--nproc 2 equals one process within 1e-4 per step (micro-batches of 8, accumulation 2); rank 0 alone writes the folder', async () => {
  const dir = tempDir();
  const c = exampleConfig(dir, { steps: 10, evalEvery: 10, checkpointEvery: 5, gradAccumulation: 2, batchSize: 8 });
  const one = await startTorchRun(c, { runDir: path.join(dir, 'one'), env: ENV });
  assert.equal((await one.result).code, 0);
  const two = await startTorchRun({ ...c, out: path.join(dir, 'b.ulpt') }, { runDir: path.join(dir, 'two'), nproc: 2, env: ENV });
  const { code, summary } = await two.result;
  assert.equal(code, 0);
  const [a, b] = [losses(path.join(dir, 'two')), losses(path.join(dir, 'one'))];
  assert.equal(a.length, 10, 'every step once in metrics.jsonl');
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) / b[i] < 1e-4, `step ${i + 1}: ${x} vs ${b[i]}`));
  assert.equal(summary?.worldSize, 2);
  assert.equal(readStarted(path.join(dir, 'two'))?.devices?.length, 2);
  // Evaluation is shared out too (each rank its consecutive part of the validation set): the same loss and metrics.
  const [e2, e1] = [evalLines(path.join(dir, 'two')), evalLines(path.join(dir, 'one'))];
  assert.deepEqual(e2.map((e) => [e.type, e.step, e.metrics]), e1.map((e) => [e.type, e.step, e.metrics]));
  e2.forEach((e, i) => assert.ok(Math.abs(e.loss - e1[i].loss) / e1[i].loss < 1e-5, `${e.type} @ ${e.step}: ${e.loss} vs ${e1[i].loss}`));
  const logged = fs.readFileSync(path.join(dir, 'two', 'trainer.log'), 'utf8').split('\n').filter((l) => l.startsWith('{"type":"step"')).length;
  assert.equal(logged, 10, 'every step once in trainer.log');
});

/** The pid of the rank-`rank` worker training `runDir` (a process this test started, found through /proc). */
function rankPid(runDir: string, rank: number): number | null {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmd.includes('ulpt_torch') || !cmd.includes(runDir) || cmd.includes('torch.distributed.run')) continue;
      if (fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`RANK=${rank}`)) return Number(entry);
    } catch {
      /* a process that ended meanwhile */
    }
  }
  return null;
}

test('a rank that dies leaves the run interrupted, not failed, and its checkpoint resumes on one process', { skip: process.platform !== 'linux' && 'finds the rank through /proc' }, async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const c = exampleConfig(dir, { steps: 400, evalEvery: 0, checkpointEvery: 2 });
  let killed = 0;
  const run = await startTorchRun(c, {
    runDir, nproc: 2, env: ENV, onMessage: (m) => {
      if (m.type !== 'step' || m.step !== 5 || killed) return;
      killed = rankPid(runDir, 1) ?? -1;
      if (killed > 0) process.kill(killed, 'SIGKILL');
    },
  });
  const { code, summary } = await run.result;
  assert.ok(killed > 0, 'rank 1 was found');
  assert.notEqual(code, 0);
  assert.equal(summary, null);
  assert.ok(!fs.existsSync(path.join(runDir, 'summary.json')) && !fs.existsSync(path.join(runDir, 'failure.json')), 'interrupted: neither finished nor failed');
  assert.notEqual(readRunOwner(runDir).state, 'alive');
  const diagnosis = diagnoseRun(runDir);
  assert.ok(diagnosis.resumable && diagnosis.checkpointStep! >= 4, `resumable from step ${diagnosis.checkpointStep}`);
  const resumed = await startTorchRun({ ...c, steps: 400 }, { runDir, resume: true, env: ENV, stopAtStep: diagnosis.checkpointStep! + 2 });
  assert.equal((await resumed.result).code, 130, 'the resumed session ran to its stop step');
  assert.equal(diagnoseRun(runDir).checkpointStep, diagnosis.checkpointStep! + 2);
});

test('generation on 2 processes: each rank decodes its share, rank 0 scores every answer; the same eval as one process', async () => {
  const dir = tempDir();
  const file = path.join(ROOT, 'examples', 'workspace', 'reverse.ulpt.json');
  const c = { ...resolveConfig(JSON.parse(fs.readFileSync(file, 'utf8')), path.dirname(file)), steps: 2, evalEvery: 2, checkpointEvery: 0, out: path.join(dir, 'a.ulpt') };
  const one = await startTorchRun(c, { runDir: path.join(dir, 'one'), env: ENV });
  assert.equal((await one.result).code, 0);
  const two = await startTorchRun({ ...c, out: path.join(dir, 'b.ulpt') }, { runDir: path.join(dir, 'two'), nproc: 2, env: ENV });
  assert.equal((await two.result).code, 0);
  const [e2, e1] = [evalLines(path.join(dir, 'two')), evalLines(path.join(dir, 'one'))];
  assert.equal(e2.length, 3, 'baseline, step 0, step 2');
  assert.deepEqual(e2.map((e) => e.metrics), e1.map((e) => e.metrics));
  e2.forEach((e, i) => assert.ok(Math.abs(e.loss - e1[i].loss) / e1[i].loss < 1e-5, `${e.type} @ ${e.step}: ${e.loss} vs ${e1[i].loss}`));
});

/** The first `n` lines of one of the example's data files, as a file of its own (an odd-sized validation set). */
function firstLines(dir: string, name: string, n: number): string {
  const file = path.join(dir, `${n}-${name}`);
  const lines = fs.readFileSync(path.join(ROOT, 'examples', 'workspace', 'data', name), 'utf8').trim().split('\n');
  fs.writeFileSync(file, lines.slice(0, n).join('\n') + '\n');
  return file;
}

/** Two runs of `c`: one process, and --nproc 2 --fsdp; per-step loss within 1e-4, the same eval metrics. */
async function fsdpEqualsOneProcess(dir: string, c: TrainConfig): Promise<string> {
  const one = await startTorchRun(c, { runDir: path.join(dir, 'one'), env: ENV });
  assert.equal((await one.result).code, 0);
  const lines: string[] = [];
  const two = await startTorchRun({ ...c, out: path.join(dir, 'b.ulpt') }, {
    runDir: path.join(dir, 'fsdp'), nproc: 2, shard: 'fsdp', env: ENV, onMessage: (m) => { if (m.type === 'log') lines.push(m.message); },
  });
  const { code, summary } = await two.result;
  assert.equal(code, 0);
  assert.equal(summary?.sharding, 'fsdp');
  const [a, b] = [losses(path.join(dir, 'fsdp')), losses(path.join(dir, 'one'))];
  assert.equal(a.length, c.steps);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) / b[i] < 1e-4, `step ${i + 1}: ${x} vs ${b[i]}`));
  const [e2, e1] = [evalLines(path.join(dir, 'fsdp')), evalLines(path.join(dir, 'one'))];
  assert.deepEqual(e2.map((e) => [e.type, e.step, e.metrics]), e1.map((e) => [e.type, e.step, e.metrics]));
  e2.forEach((e, i) => assert.ok(Math.abs(e.loss - e1[i].loss) / e1[i].loss < 1e-4, `${e.type} @ ${e.step}: ${e.loss} vs ${e1[i].loss}`));
  return lines.find((l) => l.startsWith('FSDP:')) ?? '';
}

test('--fsdp: the model\'s blocks sharded over 2 processes train the curve of one process; each holds part of the weights', async () => {
  const dir = tempDir();
  // A batch of 1 leaves rank 1 without examples every micro-batch, and 7 validation examples split 4 + 3: the
  // processes still run the same forwards (FSDP gathers each block's weights from all of them).
  const c = exampleConfig(dir, { steps: 6, evalEvery: 3, checkpointEvery: 0, batchSize: 1, gradAccumulation: 3, validation: firstLines(dir, 'sentiment-validation.jsonl', 7) });
  const said = await fsdpEqualsOneProcess(dir, c);
  const [held, whole] = [...said.matchAll(/([\d.]+) MiB/g)].map((m) => Number(m[1]));
  assert.ok(held < 0.6 * whole, `each process holds ${held} MiB of ${whole} MiB: ${said}`);
});

test('--fsdp with generation on an encoder-decoder (T5): greedy decoding in step across processes, the same exact match and loss', async () => {
  const dir = tempDir();
  const c: TrainConfig = {
    ...resolveConfig({ model: path.join(FIXTURES, 'tiny-t5'), train: path.join(ROOT, 'examples', 'workspace', 'data', 'reverse-train.jsonl'),
      validation: firstLines(dir, 'reverse-validation.jsonl', 5), task: { type: 'generation', template: 'reverse: {input}' },
      promptLength: 6, rank: 2, lr: 0.03, batchSize: 2, maxLength: 40, steps: 3, evalEvery: 3, checkpointEvery: 0, seed: '7' }, dir),
    out: path.join(dir, 'a.ulpt'),
  };
  await fsdpEqualsOneProcess(dir, c);
});

test('--fsdp needs several processes', async () => {
  const dir = tempDir();
  await assert.rejects(startTorchRun(exampleConfig(dir, { steps: 2 }), { runDir: path.join(dir, 'r'), shard: 'fsdp', env: ENV }), /--fsdp shards the model over several processes/);
});
