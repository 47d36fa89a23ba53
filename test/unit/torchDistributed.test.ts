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
import { ROOT, tempDir } from './helpers';

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
