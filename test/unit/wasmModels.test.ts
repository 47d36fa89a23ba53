// The WASM arrangement of frozen products (layers.linearT: (W·xᵀ)ᵀ forward, packed or lean backward) against the JS
// CPU backend, and a Llama and a T5 training on WASM reaching the CPU's adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, tf, type Scalar } from '../../src/backend';
import { resolveConfig } from '../../src/config';
import { readAdapter } from '../../src/io/adapter';
import { linearT } from '../../src/models/layers';
import { train } from '../../src/train/trainer';
import { FIXTURES, tempDir, maxAbsDiff } from './helpers';

/** Values and x-gradient of sum(linearT(x, W, b) ⊙ c) on the current backend (W [out, in]). */
function linearCase(out: number, inner: number): { y: Float32Array; dx: Float32Array } {
  const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  const x = tf.tensor2d(rand(5 * inner, 1), [5, inner]);
  const w = tf.tensor2d(rand(out * inner, 2), [out, inner]);
  const b = tf.tensor1d(rand(out, 3));
  const c = tf.tensor2d(rand(5 * out, 4), [5, out]);
  const y = linearT(x, w, b);
  const dx = tf.grad((input) => tf.sum(tf.mul(linearT(input, w, b), c)) as Scalar)(x);
  const result = { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  tf.dispose([x, w, b, c, y, dx]);
  return result;
}

test('linearT on WASM ((W·xᵀ)ᵀ forward, blocked backward) gives the JS CPU backend\'s values and gradients', async () => {
  // 3 × 7, and a weight taller than one block of the backward product (8 Mi elements: 9000 rows of 1000).
  for (const [out, inner] of [[3, 7], [9000, 1000]]) {
    await initBackend('cpu');
    const ref = linearCase(out, inner);
    await initBackend('wasm');
    const got = linearCase(out, inner);
    assert.ok(maxAbsDiff(got.y, ref.y) < 1e-3, `forward ${out}×${inner}: ${maxAbsDiff(got.y, ref.y)}`);
    assert.ok(maxAbsDiff(got.dx, ref.dx) < 1e-3, `gradient ${out}×${inner}: ${maxAbsDiff(got.dx, ref.dx)}`);
  }
});

test('a Llama and a T5 train on WASM to the adapter the JS CPU backend reaches (within float32 reordering)', async () => {
  const dir = tempDir();
  const data = path.join(dir, 'd.jsonl');
  fs.writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ input: `the model ${i}`, target: ` ${['small', 'frozen'][i % 2]}` })).join('\n'));
  for (const model of ['tiny-llama3', 'tiny-t5']) {
    const results: Record<string, Float32Array> = {};
    for (const name of ['cpu', 'wasm'] as const) {
      const backend = await initBackend(name);
      const cfg = resolveConfig({ model: path.join(FIXTURES, model), train: data, steps: 3, promptLength: 3, maxLength: 16, batchSize: 4, lr: 0.01, evalEvery: 0, checkpointEvery: 0, out: path.join(dir, `${model}-${name}.ulpt`) }, dir);
      const s = await train(cfg, { runDir: path.join(dir, `${model}-${name}`), backend });
      results[name] = readAdapter(s.adapter!).tensors.z!;
    }
    const diff = maxAbsDiff(results.cpu, results.wasm);
    assert.ok(diff < 1e-4, `${model}: z differs by ${diff}`);
  }
});
