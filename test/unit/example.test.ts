// The shipped example does what the README promises: a short ULPT r=2 run on the example backbone lowers the
// loss and lifts held-out accuracy well above the un-prompted model (a behaviour check, not the experiment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/backend';
import { resolveConfig } from '../../src/config';
import type { TrainerMessage } from '../../src/protocol';
import { train } from '../../src/train/trainer';
import { ROOT, tempDir } from './helpers';

test('example: 40 ULPT steps on the cue-less sentiment task beat the un-prompted backbone', async () => {
  const backend = await initBackend('wasm');
  const dir = tempDir();
  const file = path.join(ROOT, 'examples', 'workspace', 'ulpt.config.json');
  const config = { ...resolveConfig(JSON.parse(fs.readFileSync(file, 'utf8')), path.dirname(file), file), steps: 40, evalEvery: 40, checkpointEvery: 0, out: path.join(dir, 'sentiment.ulpt') };
  const losses: number[] = [];
  const summary = await train(config, { runDir: path.join(dir, 'run'), backend, onMessage: (m: TrainerMessage) => m.type === 'step' && losses.push(m.loss) });
  const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(avg(losses.slice(-10)) < avg(losses.slice(0, 5)) / 2, `training loss ${avg(losses.slice(0, 5)).toFixed(3)} → ${avg(losses.slice(-10)).toFixed(3)}`);
  const before = summary.baseline!.metrics.accuracy;
  const after = summary.best!.accuracy;
  assert.ok(before < 0.6, `the un-prompted model should be near chance, got ${before}`);
  assert.ok(after > before + 0.2, `accuracy ${before} → ${after}`);
});
