// The lean training step: the WASM kernel replacements and the arrangements in models/layers.ts compute what the
// plain tfjs reference computes (forward values and gradients), on the JS CPU backend (the reference) and WASM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { initBackend, tf, type Tensor } from '../../src/backend';
import { activation, attention, attentionBias, layerNorm, linear, queryRows, repeatKV, selfAttention, takeRows } from '../../src/models/layers';
import { loadModel } from '../../src/models/loader';
import { wrapInput } from '../../src/models/tokenizer';
import { collateFor } from '../../src/train/batch';
import { inProcessRunner } from '../../src/train/step';
import { createPrompt } from '../../src/ulpt/prompt';
import { FIXTURES, TINY, maxAbsDiff } from './helpers';

/** Seeded values in [-1, 1) (no Math.random: failures must reproduce). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function rand(shape: number[], seed: number): Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape, 'float32');
}

/** Runs f on the named backend and returns its outputs as plain arrays. */
async function on(backend: 'cpu' | 'wasm', f: () => Tensor[]): Promise<Float32Array[]> {
  await initBackend(backend);
  const outs = tf.tidy(f);
  const data = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return data;
}

function relDiff(a: Float32Array, b: Float32Array): number {
  const scale = Math.max(1e-6, ...Array.from(b, Math.abs));
  return maxAbsDiff(a, b) / scale;
}

test('WASM BatchMatMul: batched, broadcast and transposed products equal the JS CPU backend', async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[8, 4, 40, 16], [8, 4, 40, 16], false, true], // q·kᵀ
    [[8, 4, 40, 40], [8, 4, 40, 16], false, false], // p·v
    [[8, 4, 40, 40], [8, 4, 40, 16], true, false], // pᵀ·dy
    [[96, 64], [48, 64], false, true], // dy·Wᵀ (every linear layer's gradient)
    [[64, 96], [64, 48], true, false], // xᵀ·dy
    [[64, 96], [48, 64], true, true],
    [[3, 50, 40], [40, 30], false, false], // batch broadcast (b shared)
    [[50, 40], [3, 40, 30], false, false], // batch broadcast (a shared)
    [[3, 4, 5], [3, 5, 6], false, false], // below the size where XNNPACK pays: the stock kernel
  ];
  for (const [sa, sb, ta, tb] of cases) {
    const f = () => [tf.matMul(rand(sa, 1), rand(sb, 2), ta, tb)];
    const [ref] = await on('cpu', f);
    const [got] = await on('wasm', f);
    assert.ok(relDiff(got, ref) < 1e-5, `${JSON.stringify([sa, sb, ta, tb])}: relative difference ${relDiff(got, ref)}`);
  }
});

test('WASM Slice (heap view) and Identity (shared data) give the same values as the JS CPU backend', async () => {
  const f = () => {
    const x = rand([4, 6, 10, 12], 3);
    const y = tf.clone(x);
    x.dispose(); // the clone shares x's memory on WASM: it must survive x
    return [tf.slice(y, [1, 2, 3, 4], [2, 3, 5, 6]), tf.slice(tf.reshape(y, [24, 120]), [0, 40], [24, 40]), tf.slice(y, [2, 0, 0, 0], [1, 6, 10, 12]), y];
  };
  const ref = await on('cpu', f);
  const got = await on('wasm', f);
  ref.forEach((r, i) => assert.deepEqual(got[i], r, `output ${i}`));
});

/** The formulas layers.ts replaces, differentiated by tfjs op by op. */
const reference = {
  gelu: (x: Tensor) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
  layerNorm: (x: Tensor, g: Tensor, b: Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  },
  linear: (x: Tensor, w: Tensor, b: Tensor) => tf.add(tf.matMul(x, w), b),
};

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: GELU, layer norm and linear give the reference's values and input gradients`, async () => {
    const pairs: [string, (x: Tensor) => Tensor, (x: Tensor) => Tensor][] = [
      ['gelu', (x) => activation(x, 'gelu_new'), reference.gelu],
      ['layerNorm', (x) => layerNorm(x, rand([32], 5), rand([32], 6), 1e-5), (x) => reference.layerNorm(x, rand([32], 5), rand([32], 6))],
      ['linear', (x) => linear(x, rand([32, 24], 7), rand([24], 8)), (x) => reference.linear(x, rand([32, 24], 7), rand([24], 8))],
    ];
    for (const [name, ours, ref] of pairs) {
      const [y1, g1, y2, g2] = await on(backend, () => {
        const x = tf.mul(rand([40, 32], 4), 3);
        const dy = rand(ours(x).shape, 9); // a random upstream gradient, so every output element matters
        const grad = (f: (x: Tensor) => Tensor) => tf.grad((t: Tensor) => tf.sum(tf.mul(f(t), dy)))(x);
        return [ours(x), grad(ours), ref(x), grad(ref)];
      });
      assert.ok(relDiff(y1, y2) < 1e-5, `${name} values differ by ${relDiff(y1, y2)}`);
      assert.ok(relDiff(g1, g2) < 1e-5, `${name} gradients differ by ${relDiff(g1, g2)}`);
    }
  });

  test(`${backend}: attention and fused-projection self-attention give the reference's values and gradients`, async () => {
    const [B, H, T, hd] = [2, 3, 7, 4];
    const d = H * hd;
    const referenceAttention = (q: Tensor, k: Tensor, v: Tensor, bias: Tensor) =>
      tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), bias)), v);
    const heads = (t: Tensor) => tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]);
    const merge = (t: Tensor, rows: number) => tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [B * rows, d]);
    const rows = Int32Array.from([3, 5, T + 6]);
    const outs = await on(backend, () => {
      const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]]);
      const bias = attentionBias(mask, T);
      const plan = queryRows(rows, B, T);
      const qbias = attentionBias(mask, T, plan.positions);
      const [q, k, v] = [rand([B, H, T, hd], 21), rand([B, H, T, hd], 22), rand([B, H, T, hd], 23)];
      const dy = rand([B, H, T, hd], 24);
      const g4 = (f: (a: Tensor, b: Tensor, c: Tensor) => Tensor) => tf.grads((a: Tensor, b: Tensor, c: Tensor) => tf.sum(tf.mul(f(a, b, c), dy)))([q, k, v]);
      const qkv = rand([B * T, 3 * d], 25);
      const dm = rand([B * T, d], 26);
      const dmRows = rand([rows.length, d], 27);
      const refFused = (x: Tensor) => merge(referenceAttention(heads(tf.slice(x, [0, 0], [B * T, d])), heads(tf.slice(x, [0, d], [B * T, d])), heads(tf.slice(x, [0, 2 * d], [B * T, d])), bias), T);
      const fusedRows = (x: Tensor) => takeRows(selfAttention(x, qbias, B, T, H, plan), plan.pick);
      const g1 = (f: (x: Tensor) => Tensor, dyx: Tensor) => tf.grad((x: Tensor) => tf.sum(tf.mul(f(x), dyx)))(qkv);
      return [
        attention(q, k, v, bias, 1 / Math.sqrt(hd)), ...g4((a, b, c) => attention(a, b, c, bias, 1 / Math.sqrt(hd))),
        referenceAttention(q, k, v, bias), ...g4((a, b, c) => referenceAttention(a, b, c, bias)),
        selfAttention(qkv, bias, B, T, H), g1((x) => selfAttention(x, bias, B, T, H), dm), refFused(qkv), g1(refFused, dm),
        fusedRows(qkv), g1(fusedRows, dmRows), takeRows(refFused(qkv), rows), g1((x) => takeRows(refFused(x), rows), dmRows),
      ];
    });
    const names = ['attention', 'dq', 'dk', 'dv'];
    for (let i = 0; i < 4; i++) assert.ok(relDiff(outs[i], outs[i + 4]) < 1e-5, `${names[i]} differs by ${relDiff(outs[i], outs[i + 4])}`);
    for (const [i, name] of [[8, 'selfAttention'], [9, 'its dqkv'], [12, 'selfAttention at rows'], [13, 'its dqkv']] as const) {
      assert.ok(relDiff(outs[i], outs[i + 2]) < 1e-5, `${name} differs by ${relDiff(outs[i], outs[i + 2])}`);
    }
  });

  test(`${backend}: grouped-query attention (kv heads shared, no copies) equals attention over repeated kv heads, gradients too`, async () => {
    const [B, H, K, T, L, hd] = [2, 6, 2, 5, 7, 4]; // 3 query heads per kv head; keys longer than queries (a cache)
    const outs = await on(backend, () => {
      const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]]);
      const bias = tf.slice(attentionBias(mask, L), [0, 0, L - T, 0], [B, 1, T, L]); // the last T queries
      const [q, k, v, dy] = [rand([B, H, T, hd], 31), rand([B, K, L, hd], 32), rand([B, K, L, hd], 33), rand([B, H, T, hd], 34)];
      const g4 = (f: (a: Tensor, b: Tensor, c: Tensor) => Tensor) => tf.grads((a: Tensor, b: Tensor, c: Tensor) => tf.sum(tf.mul(f(a, b, c), dy)))([q, k, v]);
      const grouped = (a: Tensor, b: Tensor, c: Tensor) => attention(a, b, c, bias, 0.5);
      const repeated = (a: Tensor, b: Tensor, c: Tensor) => attention(a, repeatKV(b, H / K), repeatKV(c, H / K), bias, 0.5);
      return [grouped(q, k, v), ...g4(grouped), repeated(q, k, v), ...g4(repeated)];
    });
    const names = ['attention', 'dq', 'dk', 'dv'];
    for (let i = 0; i < 4; i++) assert.ok(relDiff(outs[i], outs[i + 4]) < 1e-5, `${names[i]} differs by ${relDiff(outs[i], outs[i + 4])}`);
  });

  test(`${backend}: GPT-2 asked for the target rows only equals the full forward at those rows, gradients too`, async () => {
    await initBackend(backend);
    const model = await loadModel(TINY);
    assert.ok(model.kind === 'decoder');
    const [B, T, d] = [3, 9, model.info.hiddenSize];
    const mask = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i % T < T - (i < T ? 0 : 2) ? 1 : 0)), [B, T]); // two padded sequences
    const rows = Int32Array.from([2, 3, 4, T + 5, T + 6, 2 * T + 1]); // uneven counts per sequence
    const dy = rand([rows.length, d], 11);
    const run = (f: (x: Tensor) => Tensor) => tf.tidy(() => {
      const x = rand([B, T, d], 10);
      return [f(x), tf.grad((t: Tensor) => tf.sum(tf.mul(f(t), dy)))(x)].map((t) => t.dataSync() as Float32Array);
    });
    const [lean, leanGrad] = run((x) => model.hidden(x, mask, rows));
    const [full, fullGrad] = run((x) => takeRows(tf.reshape(model.hidden(x, mask), [B * T, d]), rows));
    assert.ok(maxAbsDiff(lean, full) < 1e-5, `hidden states differ by ${maxAbsDiff(lean, full)}`);
    assert.ok(maxAbsDiff(leanGrad, fullGrad) < 1e-5, `input gradients differ by ${maxAbsDiff(leanGrad, fullGrad)}`);
    model.dispose();
  });

  test(`${backend}: Llama and T5 layers left plain (not checkpointed) give the same loss and gradients bit for bit, in the step runner too`, async () => {
    await initBackend(backend);
    for (const name of ['tiny-llama3', 'tiny-qwen2', 'tiny-t5', 'tiny-flan-t5']) {
      const model = await loadModel(path.join(FIXTURES, name));
      const ck = model.checkpointing!;
      assert.ok(ck && ck.layers >= 2, `${name} checkpoints its layers`);
      const prompt = await createPrompt({ method: 'ulpt', length: 4, rank: 2, hidden: model.info.hiddenSize, seed: 7n, alignment: true }, model.tokenEmbeddings);
      const t = model.tokenizer;
      const examples = ['the model is small', 'only a few tokens', 'the prompt is learned'].map((text, i) => ({ inputIds: wrapInput(t, t.encode(text)), targetIds: t.encode([' yes', ' no', ' yes'][i]) }));
      const batch = collateFor(model, examples, prompt.length);
      const run = async (plain: number) => {
        const runner = inProcessRunner(model, prompt, { limit: () => Infinity, plainLayers: () => plain });
        const { loss, grads } = await runner.gradients([batch], batch.targets.length);
        const out = [Array.from(await loss.data()), ...[...grads.keys()].sort().map((k) => Array.from(grads.get(k)!.dataSync()))];
        tf.dispose([loss, ...grads.values()]);
        return out;
      };
      const tensors = tf.memory().numTensors;
      const checkpointed = await run(0);
      for (const plain of [1, Math.ceil(ck.layers / 2) + 1, ck.layers]) assert.deepEqual(await run(plain), checkpointed, `${name} with ${plain} plain layer(s)`);
      assert.equal(ck.plainLayers, 0, 'the runner puts the model back to checkpointing every layer');
      assert.equal(tf.memory().numTensors, tensors, 'no tensor is left behind');
      prompt.dispose();
      model.dispose();
    }
  });
}

test('queryRows groups rows by sequence, pads with unasked positions, and maps every row back', () => {
  const plan = queryRows([7, 1, 2, 9], 2, 5); // sequence 0: t 1, 2; sequence 1: t 2, 4
  assert.equal(plan.perSequence, 2);
  assert.deepEqual([...plan.gather], [1, 2, 7, 9]);
  assert.deepEqual([...plan.positions], [1, 2, 2, 4]);
  assert.deepEqual([...plan.pick], [2, 0, 1, 3]);
  const padded = queryRows([3, 4, 5], 2, 4); // sequence 0: t 3; sequence 1: t 0, 1 → sequence 0 filled with t 0
  assert.deepEqual([...padded.gather], [3, 0, 4, 5]);
  assert.deepEqual([...padded.pick], [0, 2, 3]);
});
