// `ulpt export-job` and `ulpt doctor`, through the real CLI. The exported job is copied to another folder and run there
// by its launch.sh with two processes (torchrun, gloo on the CPU), no Node and no data files involved: it must end
// completed, write a run folder the built-in side reads, and train the curve `ulpt train` trains on the built-in
// engine. A secret in the environment never reaches the job. Needs the repo's .venv (scripts/setup-python.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAdapter } from '../../src/io/adapter';
import type { MetricsLine, RunSummary } from '../../src/protocol';
import { diagnoseRun } from '../../src/train/runFolder';
import { ROOT, tempDir } from './helpers';

const CLI = process.env.ULPT_CLI ?? path.join(ROOT, 'dist', 'cli.js');
const WORKSPACE = path.join(ROOT, 'examples', 'workspace');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const SECRET = 'hf_thisTokenMustNeverBeWritten0123456789';
const RUN = ['--config', path.join(WORKSPACE, 'ulpt.config.json'), '--steps', '6', '--warmup-steps', '1', '--eval-every', '3', '--checkpoint-every', '3', '--threads', '1'];

function ulpt(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: WORKSPACE, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

const trainLosses = (runDir: string) => fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as MetricsLine).filter((m) => m.type === 'train').map((m) => m.loss);

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

test('export-job: a job copied elsewhere trains with NPROC_PER_NODE=2 SHARD=fsdp through launch.sh, on the built-in engine\'s curve, with no secret in it', { timeout: 300_000 }, () => {
  const dir = tempDir('ulpt-job-');
  const job = path.join(dir, 'job');
  const made = ulpt(['export-job', ...RUN, '--out', job, '--json'], { HF_TOKEN: SECRET });
  assert.equal(made.code, 0, made.all);
  const report = JSON.parse(made.stdout) as { files: string[]; examples: { train: number; validation: number } };
  assert.deepEqual(report.examples, { train: 256, validation: 128 });
  for (const f of ['launch.sh', 'slurm.sbatch', 'README.md', 'requirements.txt', 'job/config.json', 'job/prepared.safetensors', 'python/ulpt_torch/__main__.py', 'python/ulpt_torch/config.schema.json']) {
    assert.ok(fs.existsSync(path.join(job, f)), `${f} is in the job`);
  }
  assert.ok(fs.statSync(path.join(job, 'launch.sh')).mode & 0o100, 'launch.sh is executable');
  assert.ok(!filesUnder(job).some((f) => f.includes('__pycache__')), 'no Python caches copied');
  for (const f of filesUnder(job)) assert.ok(!fs.readFileSync(f).includes(SECRET), `${path.relative(job, f)} holds no HF_TOKEN`);

  // On "the cluster": another folder, the job's own Python package, two processes.
  const cluster = path.join(dir, 'cluster');
  fs.cpSync(job, cluster, { recursive: true });
  const launched = spawnSync('bash', [path.join(cluster, 'launch.sh')], {
    cwd: dir, encoding: 'utf8', timeout: 240_000,
    env: { ...process.env, PYTHON, MODEL: path.join(WORKSPACE, 'model'), NPROC_PER_NODE: '2', SHARD: 'fsdp', OMP_NUM_THREADS: '1', PYTHONPATH: '' },
  });
  assert.equal(launched.status, 0, `${launched.stdout}\n${launched.stderr}`);
  const runDir = path.join(cluster, 'run');
  const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  assert.equal(summary.reason, 'completed');
  assert.equal(summary.worldSize, 2);
  assert.equal(summary.sharding, 'fsdp', 'SHARD=fsdp: the blocks sharded over the two processes');
  assert.equal(summary.adapter, path.join(cluster, 'adapter.ulpt'), 'the adapter goes to OUT (default: beside launch.sh)');
  assert.equal(readAdapter(path.join(cluster, 'adapter.ulpt')).meta.trainable_parameters, 276);
  const diagnosis = diagnoseRun(runDir);
  assert.ok(diagnosis.files.every((f) => f.state === 'ok'), JSON.stringify(diagnosis.files));

  // The same job on the built-in engine, here: the same curve (float reassociation only).
  const builtin = path.join(dir, 'builtin');
  const here = ulpt(['train', ...RUN, '--backend', 'cpu', '--run-dir', builtin, '--out', path.join(dir, 'builtin.ulpt')]);
  assert.equal(here.code, 0, here.all);
  const [want, got] = [trainLosses(builtin), trainLosses(runDir)];
  assert.equal(got.length, 6);
  got.forEach((loss, i) => assert.ok(Math.abs(loss - want[i]) / want[i] < 1e-3, `step ${i + 1}: ${loss} on the cluster, ${want[i]} built in`));

  // An exported job never lands in a folder holding something else.
  const notes = path.join(dir, 'notes');
  fs.mkdirSync(notes);
  fs.writeFileSync(path.join(notes, 'todo.md'), 'mine\n');
  const refused = ulpt(['export-job', ...RUN, '--out', notes]);
  assert.equal(refused.code, 2, refused.all);
  assert.match(refused.stderr, /is not empty and does not hold an exported job \(todo\.md\), so nothing is written there/);
  assert.deepEqual(fs.readdirSync(notes), ['todo.md']);
});

test('doctor: says which engines can train here, with the .venv\'s torch, and never prints a token', () => {
  const r = ulpt(['doctor', '--python', PYTHON, '--json'], { HF_TOKEN: SECRET });
  assert.equal(r.code, 0, r.all);
  assert.ok(!r.all.includes(SECRET));
  const report = JSON.parse(r.stdout);
  assert.equal(report.builtin.ok, true);
  assert.equal(report.torch.ok, true, JSON.stringify(report.torch));
  assert.match(report.torch.report.versions.torch, /^2\./);
  assert.equal(report.hub.token, true);
  assert.match(report.verdict.join('\n'), /PyTorch engine: trains here on the CPU/);
  const missing = ulpt(['doctor', '--python', path.join(ROOT, 'no-such-python'), '--json']);
  assert.equal(missing.code, 0, 'doctor reports, it does not fail');
  assert.match(JSON.parse(missing.stdout).torch.error, /needs Python, but .*no-such-python \(from --python\) could not be run/);
});

test('a torch run is resumed under the built-in engine\'s checks: a finished run is "already completed", nothing changed', { timeout: 180_000 }, () => {
  const dir = tempDir('ulpt-torch-resume-');
  const runDir = path.join(dir, 'run');
  const first = ulpt(['train', ...RUN, '--steps', '2', '--engine', 'torch', '--python', PYTHON, '--run-dir', runDir, '--out', path.join(dir, 'a.ulpt')], { OMP_NUM_THREADS: '1' });
  assert.equal(first.code, 0, first.all);
  const before = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8');
  const again = ulpt(['train', '--resume', runDir, '--engine', 'torch', '--python', PYTHON]);
  assert.equal(again.code, 2, again.all);
  assert.match(again.stderr, /already completed \(completed after 2 of 2 steps\); nothing was changed/);
  assert.equal(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8'), before);
});
