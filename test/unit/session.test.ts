// Training sessions as the extension host runs them (extension/runs/session.ts): the real trainer child process
// (dist/trainer.js) on the tiny fixture model. Finish, stop + resume, a second stop that kills, and a failure that
// leaves failure.json; the run folder tells the same story afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, type TrainConfig } from '../../src/config';
import { trainerLaunch } from '../../extension/runs/launch';
import { FILES, listRuns, parseMetrics, readMetricsFile, readRunFiles, runHeader } from '../../extension/runs/runStore';
import { RunManager, type SessionEvent, type TrainingSession } from '../../extension/runs/session';
import { ROOT, TINY, tempDir } from './helpers';

const launch = () => trainerLaunch({ nodePath: '', tfjsNodePath: '', backend: 'cpu' }, { execPath: process.execPath, versions: process.versions, env: process.env });
const manager = () => new RunManager(path.join(ROOT, 'dist', 'trainer.js'), launch);

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

test('a session runs the trainer to the end; the run folder reads as completed', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, '.ulpt', 'runs', 'r1');
  const m = manager();
  const s = m.start(config(dir), runDir, false);
  assert.equal(m.liveStatuses().get(runDir), 'running');
  const events = record(s);
  const end = await s.ended;
  assert.equal(end.failure, null);
  assert.equal(end.summary?.reason, 'completed');
  assert.equal(types(events)[0], 'started');
  assert.ok(types(events).includes('eval') && types(events).at(-1) === 'finished');
  assert.equal(events.at(-1)!.kind, 'ended');
  assert.equal(m.get(runDir), undefined, 'the manager forgets ended sessions');
  const files = readRunFiles(runDir);
  const h = runHeader(runDir, files, readMetricsFile(runDir).lastStep, null, null);
  assert.equal(h.status, 'completed');
  assert.deepEqual(h.adapters, { best: true, final: true });
  assert.equal(h.resumable, false);
  assert.equal(fs.existsSync(path.join(runDir, FILES.failure)), false);
});

test('stop keeps a checkpoint; resume continues to the end without repeating steps', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const m = manager();
  const cfg = config(dir, { steps: 40, evalEvery: 0 });
  const s = m.start(cfg, runDir, false);
  s.on((e) => {
    if (e.kind === 'message' && e.message.type === 'step' && e.message.step === 2) assert.equal(s.stop(), 'stopping');
  });
  const end = await s.ended;
  assert.equal(end.summary?.reason, 'stopped');
  const stoppedAt = end.summary!.steps;
  assert.ok(stoppedAt >= 2 && stoppedAt < 40, `stopped at ${stoppedAt}`);
  assert.deepEqual(listRuns(dir).map((r) => [r.status, r.resumable]), [['stopped', true]]);

  const again = m.start(cfg, runDir, true);
  const events = record(again);
  const end2 = await again.ended;
  assert.equal(end2.summary?.reason, 'completed');
  const started = events.find((e) => e.kind === 'message' && e.message.type === 'started');
  assert.ok(started && started.kind === 'message' && started.message.type === 'started' && started.message.startStep === stoppedAt);
  const metrics = parseMetrics(fs.readFileSync(path.join(runDir, FILES.metrics), 'utf8'));
  assert.deepEqual(metrics.train.map((p) => p.step), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.equal(listRuns(dir)[0].status, 'completed');
});

test('a second stop ends the process at once: interrupted (not failed), resumable from the last checkpoint', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const s = manager().start(config(dir, { steps: 500, evalEvery: 0 }), runDir, false);
  s.on((e) => {
    if (e.kind === 'message' && e.message.type === 'checkpoint' && s.state === 'running') {
      s.stop();
      assert.equal(s.stop(), 'killed');
    }
  });
  const end = await s.ended;
  assert.equal(end.killed, true);
  assert.equal(end.failure, null);
  assert.equal(fs.existsSync(path.join(runDir, FILES.failure)), false);
  const [run] = listRuns(dir);
  assert.equal(run.status, 'interrupted');
  assert.equal(run.resumable, true);
});

test('a failing run leaves failure.json with the message; the next attempt clears it', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"input": "x"}\n');
  const m = manager();
  const end = await m.start({ ...config(dir), train: bad, validationSplit: 0 }, runDir, false).ended;
  assert.ok(end.failure, 'failed');
  assert.match(end.failure.message, /bad\.jsonl/);
  const saved = JSON.parse(fs.readFileSync(path.join(runDir, FILES.failure), 'utf8'));
  assert.equal(saved.message, end.failure.message);
  assert.deepEqual(listRuns(dir).map((r) => r.status), ['failed'], 'listed even when it failed before writing config.json');
  const ok = await m.start(config(dir), runDir, false).ended;
  assert.equal(ok.failure, null);
  assert.equal(fs.existsSync(path.join(runDir, FILES.failure)), false);
});

test('a trainer that cannot start (bad ulpt.nodePath) is a failure that says so', async () => {
  const dir = tempDir();
  const m = new RunManager(path.join(ROOT, 'dist', 'trainer.js'), () => trainerLaunch({ nodePath: path.join(dir, 'no-node'), tfjsNodePath: '', backend: 'cpu' }, { execPath: process.execPath, versions: process.versions, env: process.env }));
  const end = await m.start(config(dir), path.join(dir, 'run'), false).ended;
  assert.ok(end.failure);
  assert.match(end.failure.message, /could not start|ENOENT|exited/);
});
