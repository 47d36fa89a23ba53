// The extension's path to the PyTorch engine: a run folder claimed with `"engine": "torch"` (as the extension claims
// it), the trainer process started as the extension starts it (dist/trainer.js, detached, its output appended to
// trainer.log), the engine's Python in the trainer's process group. It must finish with the run folder a built-in
// run has (each message once in trainer.log), stop on a stop request, and end entirely — Python included — when the
// trainer is killed (a second Stop). Needs the repo's .venv (scripts/setup-python.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, type TrainConfig } from '../../src/config';
import { trainerLaunch } from '../../extension/runs/launch';
import { launchTrainer } from '../../src/process/client';
import type { RunSummary } from '../../src/protocol';
import { claimRunFolder } from '../../src/train/runFolder';
import { readRunOwner, requestStop } from '../../src/train/runLock';
import { ROOT, tempDir } from './helpers';

const TRAINER = path.join(ROOT, 'dist', 'trainer.js');
const ENV = { ...process.env, ULPT_PYTHON: path.join(ROOT, '.venv', 'bin', 'python'), OMP_NUM_THREADS: '1' };

function torchConfig(dir: string, steps: number): TrainConfig {
  const file = path.join(ROOT, 'examples', 'workspace', 'ulpt.config.json');
  const raw = { ...JSON.parse(fs.readFileSync(file, 'utf8')), engine: 'torch', steps, warmupSteps: 1, evalEvery: 2, checkpointEvery: 2 };
  return { ...resolveConfig(raw, path.dirname(file), file), out: path.join(dir, 'torch.ulpt') };
}

// The trainer is detached and unref'd (it outlives its starter); this keeps the test's process waiting for it.
const keepAlive = setInterval(() => undefined, 1000);
test.after(() => clearInterval(keepAlive));

const lines = (runDir: string) => fs.readFileSync(path.join(runDir, 'trainer.log'), 'utf8').split('\n').filter(Boolean);

async function until<T>(what: string, check: () => T | null | undefined | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the trainer process runs an engine "torch" run to the end on 2 sharded processes (ulpt.torchProcesses, ulpt.torchFsdp): summary, adapter, each message once in trainer.log', { timeout: 180_000 }, async () => {
  const dir = tempDir('ulpt-torch-trainer-');
  const runDir = path.join(dir, 'run');
  claimRunFolder(runDir, torchConfig(dir, 4));
  const env = trainerLaunch({ nodePath: '', tfjsNodePath: '', backend: 'auto', torchProcesses: 2, torchFsdp: true }, { execPath: process.execPath, versions: {}, env: ENV }).env;
  const trainer = launchTrainer({ script: TRAINER, env, runDir, resume: false });
  const exit = await trainer.exited;
  assert.equal(exit.code, 0, `${exit.error}\n${exit.tail.join('\n')}`);
  const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  assert.equal(summary.reason, 'completed');
  assert.equal(summary.engine, 'torch');
  assert.equal(summary.worldSize, 2);
  assert.equal(summary.sharding, 'fsdp');
  assert.ok(fs.existsSync(path.join(dir, 'torch.ulpt')));
  const finished = lines(runDir).filter((l) => l.startsWith('{"type":"finished"'));
  assert.equal(finished.length, 1, 'the engine writes its messages; the trainer does not echo them again');
});

test('a second Stop (the trainer killed) ends the PyTorch engine too: no orphan keeps training', { timeout: 180_000 }, async () => {
  const dir = tempDir('ulpt-torch-kill-');
  const runDir = path.join(dir, 'run');
  claimRunFolder(runDir, torchConfig(dir, 100_000));
  const trainer = launchTrainer({ script: TRAINER, env: ENV, runDir, resume: false });
  try {
    const owner = await until('the engine to hold the run', () => {
      const o = readRunOwner(runDir);
      return o.state === 'alive' && o.lock.pid !== trainer.pid ? o : null;
    }, 120_000);
    await until('two steps', () => fs.existsSync(path.join(runDir, 'metrics.jsonl')) && fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').includes('"step":2'), 120_000);
    trainer.kill();
    await until('the engine\'s process to end', () => {
      try {
        process.kill(owner.lock.pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 15_000);
    assert.notEqual(readRunOwner(runDir).state, 'alive');
  } finally {
    const o = readRunOwner(runDir);
    if (o.state === 'alive') process.kill(o.lock.pid, 'SIGKILL');
  }
});

test('a stop request ends an engine "torch" run after a step, with a checkpoint', { timeout: 180_000 }, async () => {
  const dir = tempDir('ulpt-torch-stop-');
  const runDir = path.join(dir, 'run');
  claimRunFolder(runDir, torchConfig(dir, 100_000));
  const trainer = launchTrainer({ script: TRAINER, env: ENV, runDir, resume: false });
  await until('a checkpoint', () => fs.existsSync(path.join(runDir, 'checkpoint.safetensors')), 120_000);
  requestStop(runDir, 'the test');
  const exit = await trainer.exited;
  assert.equal(exit.code, 0, `${exit.error}\n${exit.tail.join('\n')}`);
  assert.equal((JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary).reason, 'stopped');
});
