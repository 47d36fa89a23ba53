// Backend selection, and the same training on WASM as on the JS CPU backend (the reference).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { initBackend, tf } from '../../src/backend';
import { resolveConfig } from '../../src/config';
import { readAdapter } from '../../src/io/adapter';
import { train } from '../../src/train/trainer';
import { TINY, tempDir, maxAbsDiff } from './helpers';

test('auto falls back past the native backends it cannot load and says why', async () => {
  const report = await initBackend('auto');
  assert.notEqual(report.name, 'cpu', 'WASM ships with the package, so auto must not fall back to plain JS');
  for (const s of report.skipped) assert.ok(s.reason.length > 0);
  if (report.name === 'wasm') {
    assert.deepEqual(report.skipped.map((s) => s.name), ['tensorflow-gpu', 'webgpu', 'tensorflow']);
    // No GPU here: Dawn finds no adapter, or only a software one (SwiftShader), which auto never picks.
    assert.match(report.skipped[1].reason, /no WebGPU adapter|only a software adapter/);
    assert.match(report.device, /WASM/);
  }
});

test('asking for a backend that cannot start is an error, not a silent fallback', async () => {
  let nativeInstalled = true;
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
  } catch {
    nativeInstalled = false;
  }
  if (!nativeInstalled) await assert.rejects(initBackend('tensorflow-gpu'), /tensorflow-gpu backend could not start: @tensorflow\/tfjs-node-gpu is not installed\. .*ulpt\.tfjsNodePath \(ULPT_TFJS_NODE_PATH for the CLI\).*CUDA 11\.2/);
});

test('WASM, on one thread and on two (data-parallel workers), trains to the JS CPU backend\'s adapter (within float32 reordering)', async () => {
  const dir = tempDir();
  const data = path.join(dir, 'd.jsonl');
  fs.writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ input: `n ${i} =`, target: ` ${i % 3}` })).join('\n'));
  const cfg = (name: string) => resolveConfig({ model: TINY, train: data, steps: 4, promptLength: 3, maxLength: 12, batchSize: 4, evalEvery: 0, checkpointEvery: 0, out: path.join(dir, `${name}.ulpt`) }, dir);
  const results: Record<string, Float32Array> = {};
  for (const [name, threads] of [['cpu', 1], ['wasm', 1], ['wasm', 2]] as const) {
    const backend = await initBackend(name);
    assert.equal(tf.getBackend(), name);
    const s = await train({ ...cfg(`${name}${threads}`), threads }, { runDir: path.join(dir, `${name}${threads}`), backend });
    assert.equal(s.threads, threads);
    results[`${name}${threads}`] = readAdapter(s.adapter!).tensors.z!;
  }
  for (const other of ['wasm1', 'wasm2']) {
    const diff = maxAbsDiff(results.cpu1, results[other]);
    assert.ok(diff < 1e-4, `${other}: z differs by ${diff}`);
  }
});
