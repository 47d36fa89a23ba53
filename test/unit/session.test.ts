// Training sessions as the extension host runs them (extension/runs/session.ts): the real trainer (dist/trainer.js),
// started detached, on the tiny fixture model. It finishes; it outlives the window that started it (a new window
// attaches and stops it); a second stop ends it at once; a failure leaves failure.json; a `ulpt train` in a
// terminal is attached and stopped the same way; a trainer that dies is seen as interrupted, with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, type TrainConfig } from '../../src/config';
import type { RunFailure } from '../../src/protocol';
import { RunFolderError } from '../../src/train/runFolder';
import { readRunOwner } from '../../src/train/runLock';
import { trainerLaunch } from '../../extension/runs/launch';
import { FILES, listRuns, parseMetrics, readMetricsFile, readRunFiles, runHeader } from '../../extension/runs/runStore';
import { RunManager, type SessionEvent, type TrainingSession } from '../../extension/runs/session';
import { ROOT, TINY, tempDir as makeTempDir } from './helpers';

const tempDirs: string[] = [];
const tempDir = () => {
  const d = makeTempDir();
  tempDirs.push(d);
  return d;
};

const launch = () => trainerLaunch({ nodePath: '', tfjsNodePath: '', backend: 'cpu' }, { execPath: process.execPath, versions: process.versions, env: process.env });
const managers: RunManager[] = [];
const manager = () => {
  const m = new RunManager(path.join(ROOT, 'dist', 'trainer.js'), launch);
  managers.push(m);
  return m;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, check: () => T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function config(dir: string, extra: Record<string, unknown> = {}): TrainConfig {
  const data = path.join(dir, 'swap.jsonl');
  fs.writeFileSync(data, Array.from({ length: 16 }, (_, i) => JSON.stringify({ input: `word ${i} =`, target: ` ${i % 4}` })).join('\n') + '\n');
  return resolveConfig({ model: TINY, train: data, validationSplit: 0.25, steps: 4, promptLength: 4, maxLength: 16, batchSize: 4, evalEvery: 2, checkpointEvery: 1, backend: 'cpu', out: path.join(dir, 'a.ulpt'), ...extra }, dir);
}

function record(session: TrainingSession): SessionEvent[] {
  const events: SessionEvent[] = [];
  session.on((e) => events.push(e));
  return events;
}

const types = (events: SessionEvent[]) => events.flatMap((e) => (e.kind === 'message' ? [e.message.type] : []));
const lastStep = (runDir: string) => readMetricsFile(runDir).lastStep;
const header = (runDir: string) => runHeader(runDir, readRunFiles(runDir), lastStep(runDir), null);

test('a session runs the detached trainer to the end; the run folder reads as completed', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, '.ulpt', 'runs', 'r1');
  const m = manager();
  const s = m.start(config(dir), runDir, false);
  assert.equal(s.launched, true);
  assert.equal(m.liveStatuses().get(runDir), 'running');
  const events = record(s);
  const end = await s.ended;
  assert.equal(end.failure, null, end.failure?.message);
  assert.equal(end.summary?.reason, 'completed');
  assert.equal(end.code, 0);
  assert.equal(types(events)[0], 'started');
  assert.ok(types(events).includes('eval') && types(events).at(-1) === 'finished');
  assert.equal(events.at(-1)!.kind, 'ended');
  assert.equal(m.get(runDir), undefined, 'the manager forgets ended sessions');
  const h = header(runDir);
  assert.equal(h.status, 'completed');
  assert.deepEqual(h.adapters, { best: true, final: true });
  assert.equal(h.resumable, false);
  // What a reloaded panel needs is in the folder: what it ran on, and no owner any more.
  assert.ok(h.started && h.started.backend === 'cpu' && h.started.trainableParameters === 4 * 2 + 2 * 32 && /CPU/.test(h.started.device));
  assert.equal(h.owner, null);
  assert.equal(fs.existsSync(path.join(runDir, FILES.lock)), false);
  assert.equal(fs.existsSync(path.join(runDir, FILES.failure)), false);
  const log = fs.readFileSync(path.join(runDir, FILES.log), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  assert.equal(log[0].type, 'started');
  assert.equal(log.at(-1)!.type, 'finished');
});

test('the trainer outlives the window: a new window attaches, sees its progress, and Stop works; resume finishes it', async () => {
  const dir = tempDir();
  const runs = path.join(dir, '.ulpt', 'runs');
  const runDir = path.join(runs, 'long');
  const cfg = config(dir, { steps: 100_000, evalEvery: 0, checkpointEvery: 5 });
  const first = manager();
  const s = first.start(cfg, runDir, false);
  await waitFor('a few steps', () => lastStep(runDir) >= 3);
  const pid = s.pid!;
  first.dispose(); // the window reloads: the extension host stops following
  const before = lastStep(runDir);
  await waitFor('the trainer to go on alone', () => lastStep(runDir) > before + 3);
  const owner = readRunOwner(runDir);
  assert.ok(owner.state === 'alive' && owner.lock.pid === pid && owner.lock.owner === 'ULPT Studio');
  assert.equal(header(runDir).status, 'running');

  const second = manager();
  const [attached] = second.scan([runs]);
  assert.ok(attached, 'the new window attached to the run');
  assert.equal(attached.launched, false);
  assert.ok(attached.started && attached.started.totalSteps === 100_000, 'what it started on comes from started.json');
  const events = record(attached);
  await waitFor('steps to reach the attached session', () => types(events).includes('step'));
  assert.equal(attached.stop(), 'stopping');
  const end = await attached.ended;
  assert.equal(end.summary?.reason, 'stopped');
  assert.equal(end.failure, null);
  const stoppedAt = end.summary!.steps;
  assert.deepEqual(listRuns(runs).map((r) => [r.status, r.resumable]), [['stopped', true]]);
  assert.equal(fs.existsSync(path.join(runDir, FILES.stopRequest)), false, 'the answered stop request is gone');

  // Resume reads the run's own config.json; a shorter run keeps this test short. A failure.json left by an earlier
  // attempt no longer describes the run once it trains again.
  fs.writeFileSync(path.join(runDir, FILES.config), JSON.stringify({ ...cfg, steps: stoppedAt + 3 }));
  fs.writeFileSync(path.join(runDir, FILES.failure), JSON.stringify({ message: 'old', tail: [], step: 1, time: '' }));
  const again = second.start(cfg, runDir, true);
  const ev2 = record(again);
  const end2 = await again.ended;
  assert.equal(end2.summary?.reason, 'completed', end2.failure?.message);
  const started = ev2.find((e) => e.kind === 'message' && e.message.type === 'started');
  assert.ok(started?.kind === 'message' && started.message.type === 'started' && started.message.startStep >= stoppedAt - 5);
  assert.equal(fs.existsSync(path.join(runDir, FILES.failure)), false, 'the old failure.json was cleared');
  const steps = parseMetrics(fs.readFileSync(path.join(runDir, FILES.metrics), 'utf8')).train.map((p) => p.step);
  assert.deepEqual(steps, Array.from({ length: steps.length }, (_, i) => i + 1), 'no step repeated or missing');
});

test('a second stop ends an attached trainer at once: interrupted (not failed), resumable from the last checkpoint', async () => {
  const dir = tempDir();
  const runs = path.join(dir, '.ulpt', 'runs');
  const runDir = path.join(runs, 'r');
  const first = manager();
  first.start(config(dir, { steps: 100_000, evalEvery: 0, checkpointEvery: 2 }), runDir, false);
  await waitFor('a checkpoint', () => fs.existsSync(path.join(runDir, FILES.checkpoint)));
  first.dispose();
  const s = manager().attach(runDir)!;
  assert.equal(s.stop(), 'stopping');
  assert.equal(s.stop(), 'killed');
  const end = await s.ended;
  assert.equal(end.killed, true);
  assert.equal(end.failure, null);
  assert.match(end.interruption ?? '', /ended at once/);
  const [run] = listRuns(runs);
  assert.equal(run.status, 'interrupted');
  assert.equal(run.resumable, true);
  assert.match(run.interruption ?? '', /is gone/, 'the stale lock says why');
});

test('a trainer killed from outside is seen as interrupted, with the reason', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const first = manager();
  first.start(config(dir, { steps: 100_000, evalEvery: 0 }), runDir, false);
  await waitFor('a few steps', () => lastStep(runDir) >= 2);
  first.dispose();
  const s = manager().attach(runDir)!;
  const owner = readRunOwner(runDir);
  assert.equal(owner.state, 'alive');
  process.kill(owner.state === 'alive' ? owner.lock.pid : 0, 'SIGKILL');
  const end = await s.ended;
  assert.equal(end.summary, null);
  assert.equal(end.killed, false);
  assert.match(end.interruption ?? '', /trainer process \(pid \d+, ULPT Studio\) is gone/);
  assert.equal(header(runDir).status, 'interrupted');
  assert.match(header(runDir).interruption ?? '', /is gone/);
});

test('a failing run leaves failure.json with the one-line message (no stack for a data error); its folder is not reused', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"input": "x"}\n');
  const m = manager();
  const end = await m.start({ ...config(dir), train: bad, validationSplit: 0 }, runDir, false).ended;
  assert.ok(end.failure, 'failed');
  assert.match(end.failure.message, /bad\.jsonl line 1: field "target" is missing/);
  assert.equal(end.failure.internal, false);
  assert.equal(end.failure.stack, undefined);
  const saved = JSON.parse(fs.readFileSync(path.join(runDir, FILES.failure), 'utf8')) as RunFailure;
  assert.equal(saved.message, end.failure.message);
  assert.deepEqual(listRuns(dir).map((r) => r.status), ['failed']);
  assert.throws(() => m.start(config(dir), runDir, false), RunFolderError, 'a fresh run never reuses a run folder');
  assert.ok(fs.existsSync(path.join(runDir, FILES.failure)));
});

test('a trainer that cannot start (bad ulpt.nodePath) is a failure that says so', async () => {
  const dir = tempDir();
  const m = new RunManager(path.join(ROOT, 'dist', 'trainer.js'), () => trainerLaunch({ nodePath: path.join(dir, 'no-node'), tfjsNodePath: '', backend: 'cpu' }, { execPath: process.execPath, versions: process.versions, env: process.env }));
  const end = await m.start(config(dir), path.join(dir, 'run'), false).ended;
  assert.ok(end.failure);
  assert.match(end.failure.message, /could not start|ENOENT|exited/);
});

test('a run of `ulpt train` in a terminal is attached the same way, and Stop reaches it', async () => {
  const dir = tempDir();
  const runs = path.join(dir, '.ulpt', 'runs');
  const runDir = path.join(runs, 'cli');
  const cfg = config(dir);
  const cli = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'train', '--model', TINY, '--train', cfg.train, '--steps', '100000', '--prompt-length', '4',
    '--max-length', '16', '--batch-size', '4', '--backend', 'cpu', '--eval-every', '0', '--out', path.join(dir, 'c.ulpt'), '--run-dir', runDir], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => cli.on('exit', (code) => r(code)));
  try {
    await waitFor('the CLI to take the run', () => readRunOwner(runDir).state === 'alive' && lastStep(runDir) >= 1);
    const [s] = manager().scan([runs]);
    assert.ok(s, 'attached');
    const owner = readRunOwner(runDir);
    assert.ok(owner.state === 'alive' && owner.lock.owner === 'ulpt train' && owner.lock.pid === cli.pid);
    assert.equal(header(runDir).owner?.owner, 'ulpt train');
    s.stop();
    const end = await s.ended;
    assert.equal(end.summary?.reason, 'stopped');
    assert.equal(await exited, 130, 'the CLI exits as after Ctrl+C');
  } finally {
    cli.kill('SIGKILL');
  }
});

test.after(() => {
  for (const m of managers) m.dispose();
  // A failed test must not leave a trainer of 100,000 steps behind.
  for (const dir of tempDirs) {
    for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
      if (path.basename(f) !== FILES.lock) continue;
      const owner = readRunOwner(path.dirname(path.join(dir, f)));
      if (owner.state === 'alive') process.kill(owner.lock.pid, 'SIGKILL');
    }
  }
});
