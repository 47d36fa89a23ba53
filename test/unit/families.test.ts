// Llama, Mistral, Qwen2, T5 and Flan-T5 numerics against independent PyTorch references
// (test/golden/make_model_fixtures.py wrote the values), for every fixture layout: padded batches, virtual tokens
// prepended as PEFT does (T5: to the encoder input), greedy generation with the key/value cache against PyTorch's
// cache-free greedy decoding and against our own cache-free reference, and the shared building blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, type Scalar, type Tensor } from '../../src/backend';
import { backendMemoryProblem, loadModel } from '../../src/models/loader';
import { relativePositionBucket, ropeInverseFrequencies, type RopeScaling } from '../../src/models/layers';
import type { CausalLM, LanguageModel, Seq2SeqLM } from '../../src/models/types';
import { SafetensorsFile } from '../../src/io/safetensors';
import { createPrompt, prependPrompt, type PromptModule } from '../../src/ulpt/prompt';
import { classify, generate, generateUncached } from '../../src/train/evaluate';
import { answer } from '../../src/train/predict';
import { collateFor, type TokenPair } from '../../src/train/batch';
import { batchLoss, sequenceLogits } from '../../src/train/objective';
import { wrapInput } from '../../src/models/tokenizer';
import { backend, editedModel, FIXTURES, maxAbsDiff, tempDir } from './helpers';

const TOLERANCE = 1e-4;
const DECODERS = ['tiny-llama3', 'tiny-llama2', 'tiny-mistral', 'tiny-qwen2'];
const SEQ2SEQ = ['tiny-t5', 'tiny-flan-t5'];

interface Generation {
  input_ids: number[];
  plain: number[];
  prompted: number[];
}
interface Golden {
  model_type: string;
  prompt: number[];
  prompt_length: number;
  stop_ids: number[];
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids?: number[][];
  decoder_attention_mask?: number[][];
  generations: Generation[];
  inv_freq?: number[];
  buckets?: { relative_positions: [number, number]; tables: Record<string, number[]> };
}

function golden(name: string): { g: Golden; logits: (key: 'ids' | 'prompt') => { shape: number[]; data: Float32Array } } {
  const g = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}-golden.json`), 'utf8')) as Golden;
  const st = SafetensorsFile.open(path.join(FIXTURES, `${name}-golden.safetensors`));
  const read = { ids: { shape: st.info('ids').shape, data: st.float32('ids') }, prompt: { shape: st.info('prompt').shape, data: st.float32('prompt') } };
  st.close();
  return { g, logits: (key) => read[key] };
}

/** Values of [B, T, V] logits at the positions whose mask is 1. */
function validRows(data: ArrayLike<number>, shape: number[], mask: number[][]): number[] {
  const [B, T, V] = shape;
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if (mask[b][t] === 1) for (let v = 0; v < V; v++) out.push(data[(b * T + t) * V + v]);
  return out;
}

/** A fixed prompt (the golden one) in the shape the evaluation code takes. */
function fixedPrompt(values: number[], n: number, d: number): PromptModule & { tensor: Tensor } {
  const tensor = tf.tensor2d(values, [n, d]);
  return {
    tensor, method: 'prompt-tuning', length: n, rank: 0, hidden: d, alignment: false, variables: new Map(), trainableParameters: n * d,
    prompt: () => tensor, read: async () => ({}), assign: () => {}, dispose: () => tensor.dispose(),
  };
}

/** Decoder logits [B, T, V] for the golden batch, optionally behind the prompt. */
function decoderLogits(model: CausalLM, g: Golden, prompt: boolean): Tensor {
  return tf.tidy(() => {
    const [B, S] = [g.input_ids.length, g.input_ids[0].length];
    const embeds = model.embed(tf.tensor2d(g.input_ids, [B, S], 'int32'));
    const mask = tf.tensor2d(g.attention_mask, [B, S]);
    const joined = prompt ? prependPrompt(tf.tensor2d(g.prompt, [g.prompt_length, g.prompt.length / g.prompt_length]), embeds, mask) : { inputs: embeds, mask };
    const hidden = model.hidden(joined.inputs, joined.mask);
    const T = hidden.shape[1] as number;
    return tf.reshape(model.logits(tf.reshape(hidden, [B * T, -1])), [B, T, -1]);
  });
}

function seq2seqLogits(model: Seq2SeqLM, g: Golden, prompt: boolean): Tensor {
  return tf.tidy(() => {
    const [B, S] = [g.input_ids.length, g.input_ids[0].length];
    const M = g.decoder_input_ids![0].length;
    const embeds = model.embed(tf.tensor2d(g.input_ids, [B, S], 'int32'));
    const mask = tf.tensor2d(g.attention_mask, [B, S]);
    const joined = prompt ? prependPrompt(tf.tensor2d(g.prompt, [g.prompt_length, g.prompt.length / g.prompt_length]), embeds, mask) : { inputs: embeds, mask };
    const encoded = model.encode(joined.inputs, joined.mask);
    const dec = model.embed(tf.tensor2d(g.decoder_input_ids!, [B, M], 'int32'));
    const { hidden } = model.decode(dec, tf.tensor2d(g.decoder_attention_mask!, [B, M]), encoded, joined.mask, null);
    return tf.reshape(model.logits(tf.reshape(hidden, [B * M, -1])), [B, M, -1]);
  });
}

async function compare(ours: Tensor, expected: { shape: number[]; data: Float32Array }, mask: number[][]): Promise<number> {
  assert.deepEqual(ours.shape, expected.shape);
  const got = await ours.data();
  ours.dispose();
  return maxAbsDiff(validRows(got, expected.shape, mask), validRows(expected.data, expected.shape, mask));
}

for (const name of [...DECODERS, ...SEQ2SEQ]) {
  const { g, logits } = golden(name);
  const seq2seq = SEQ2SEQ.includes(name);
  const logitsOf = (model: LanguageModel, prompt: boolean) =>
    model.kind === 'decoder' ? decoderLogits(model, g, prompt) : seq2seqLogits(model, g, prompt);
  const rowsMask = (prompt: boolean) =>
    seq2seq ? g.decoder_attention_mask! : prompt ? g.attention_mask.map((m) => [...new Array(g.prompt_length).fill(1), ...m]) : g.attention_mask;

  test(`${name}: logits match PyTorch within ${TOLERANCE} (padded batch)`, async () => {
    await backend();
    const model = await loadModel(path.join(FIXTURES, name));
    assert.equal(model.info.modelType, g.model_type);
    assert.equal(model.kind, seq2seq ? 'encoder-decoder' : 'decoder');
    const diff = await compare(logitsOf(model, false), logits('ids'), rowsMask(false));
    assert.ok(diff < TOLERANCE, `max |Δlogit| = ${diff}`);
    model.dispose();
  });

  test(`${name}: virtual tokens prepended as PEFT does (${seq2seq ? 'encoder input' : 'input embeddings'}) match PyTorch`, async () => {
    await backend();
    const model = await loadModel(path.join(FIXTURES, name));
    const diff = await compare(logitsOf(model, true), logits('prompt'), rowsMask(true));
    assert.ok(diff < TOLERANCE, `max |Δlogit| = ${diff}`);
    model.dispose();
  });

  test(`${name}: greedy generation with the key/value cache gives PyTorch's cache-free tokens, batched, with and without a prompt`, async () => {
    await backend();
    const model = await loadModel(path.join(FIXTURES, name));
    assert.deepEqual([...(model.tokenizer.stopIds ?? [])].sort((a, b) => a - b), g.stop_ids);
    const inputs = g.generations.map((x) => x.input_ids);
    const steps = Math.max(...g.generations.map((x) => Math.max(x.plain.length, x.prompted.length)));
    const d = model.info.hiddenSize;
    const prompt = fixedPrompt(g.prompt, g.prompt_length, d);
    // One batch of differently long inputs (padding exercised), and each input alone.
    assert.deepEqual(await generate(model, null, inputs, steps, 8), g.generations.map((x) => x.plain));
    assert.deepEqual(await generate(model, prompt, inputs, steps, 8), g.generations.map((x) => x.prompted));
    assert.deepEqual(await generate(model, prompt, inputs, steps, 1), g.generations.map((x) => x.prompted));
    prompt.dispose();
    model.dispose();
  });

  test(`${name}: the cached decoding equals the cache-free reference, also across stop tokens and tensors are freed`, async () => {
    await backend();
    const model = await loadModel(path.join(FIXTURES, name));
    const prompt = fixedPrompt(g.prompt, g.prompt_length, model.info.hiddenSize);
    const inputs = [...g.generations.map((x) => x.input_ids), g.generations[0].input_ids.slice(0, 3)];
    // Make the first generated token of the first input a stop token, so one row ends while others go on.
    const firstToken = g.generations[0].prompted[0];
    model.tokenizer.stopIds = [...(model.tokenizer.stopIds ?? []), firstToken];
    const before = tf.memory().numTensors;
    const cached = await generate(model, prompt, inputs, 10, 8);
    assert.equal(tf.memory().numTensors, before, 'generate leaks tensors');
    assert.deepEqual(cached[0], []);
    assert.deepEqual(cached, await generateUncached(model, prompt, inputs, 10, 8));
    prompt.dispose();
    model.dispose();
  });
}

test('rotary frequencies (default, linear, llama3 scaling) match PyTorch', () => {
  for (const name of DECODERS) {
    const { g } = golden(name);
    const cfg = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'config.json'), 'utf8'));
    const hd = cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
    const s = cfg.rope_scaling;
    const scaling: RopeScaling = !s ? { type: 'default' } : (s.rope_type ?? s.type) === 'linear' ? { type: 'linear', factor: s.factor }
      : { type: 'llama3', factor: s.factor, lowFreqFactor: s.low_freq_factor, highFreqFactor: s.high_freq_factor, originalMaxPositions: s.original_max_position_embeddings };
    const ours = ropeInverseFrequencies(hd, cfg.rope_theta, scaling);
    const rel = Math.max(...g.inv_freq!.map((x, i) => Math.abs(ours[i] - x) / x));
    assert.ok(rel < 1e-6, `${name}: relative error ${rel}`);
  }
});

test('T5 relative position buckets match PyTorch for every distance in ±300 (T5-base settings and the fixtures\')', () => {
  for (const name of SEQ2SEQ) {
    const { g } = golden(name);
    const [lo] = g.buckets!.relative_positions;
    for (const [key, table] of Object.entries(g.buckets!.tables)) {
      const [nb, md, kind] = key.split('/');
      const ours = table.map((_, i) => relativePositionBucket(lo + i, kind === 'bidirectional', Number(nb), Number(md)));
      assert.deepEqual(ours, table, key);
    }
  }
});

/** −Σ log softmax(golden logits)[target] over the given (row, position, target) triples. */
function goldenNll(expected: { shape: number[]; data: Float32Array }, picks: [number, number, number][]): number {
  const [, T, V] = expected.shape;
  let nll = 0;
  for (const [b, t, target] of picks) {
    const row = expected.data.subarray((b * T + t) * V, (b * T + t + 1) * V);
    const max = Math.max(...row);
    const logSum = Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0)) + max;
    nll += logSum - row[target];
  }
  return nll;
}

for (const name of ['tiny-llama3', 'tiny-mistral', 'tiny-t5', 'tiny-flan-t5']) {
  test(`${name}: the teacher-forced loss is the NLL of the targets under PyTorch's logits${SEQ2SEQ.includes(name) ? ' (decoder started from decoder_start_token_id)' : ''}`, async () => {
    await backend();
    const { g, logits } = golden(name);
    const model = await loadModel(path.join(FIXTURES, name));
    const len = (m: number[]) => m.reduce((a, b) => a + b, 0);
    let examples: TokenPair[];
    let picks: [number, number, number][];
    if (model.kind === 'encoder-decoder') {
      const targets = (g as unknown as { targets: number[][] }).targets;
      examples = g.input_ids.map((ids, b) => ({ inputIds: ids.slice(0, len(g.attention_mask[b])), targetIds: targets[b] }));
      picks = targets.flatMap((t, b) => t.map((id, k) => [b, k, id] as [number, number, number]));
      assert.equal(model.decoderStartId, g.decoder_input_ids![0][0]);
    } else {
      // Each real sequence split after 3 tokens: the rest is the target, predicted from the position before it.
      examples = g.input_ids.map((ids, b) => ({ inputIds: ids.slice(0, 3), targetIds: ids.slice(3, len(g.attention_mask[b])) }));
      picks = examples.flatMap((e, b) => e.targetIds.map((id, k) => [b, 2 + k, id] as [number, number, number]));
    }
    const loss = tf.tidy(() => batchLoss(model, null, collateFor(model, examples, 0), 1));
    const ours = (await loss.data())[0];
    loss.dispose();
    const expected = goldenNll(logits('ids'), picks);
    assert.ok(Math.abs(ours - expected) < 1e-3 * Math.max(1, expected), `loss ${ours} vs ${expected}`);
    model.dispose();
  });
}

for (const name of ['tiny-llama3', 'tiny-qwen2', 'tiny-t5', 'tiny-flan-t5']) {
  test(`${name}: ULPT's gradients reach Z, scale and shift, agree with finite differences, and a step lowers the loss`, async () => {
    await backend();
    const model = await loadModel(path.join(FIXTURES, name));
    const prompt = await createPrompt({ method: 'ulpt', length: 4, rank: 2, hidden: model.info.hiddenSize, seed: 7n, alignment: true }, model.tokenEmbeddings);
    const t = model.tokenizer;
    const examples = ['the model is small', 'only a few tokens', 'the prompt is learned'].map((s, i) => ({
      inputIds: wrapInput(t, t.encode(s)), targetIds: [...t.encode([' yes', ' no', ' yes'][i]), ...(t.eosId === null ? [] : [t.eosId])],
    }));
    const batch = collateFor(model, examples, prompt.length);
    const loss = () => tf.tidy(() => (batchLoss(model, prompt, batch, batch.targets.length) as Scalar).dataSync()[0]);
    // A step leaves no tensor behind (the checkpointed layers' recomputation included).
    const tensors = tf.memory().numTensors;
    const probe = tf.variableGrads(() => batchLoss(model, prompt, batch, batch.targets.length) as Scalar, [...prompt.variables.values()]);
    tf.dispose([probe.value, ...Object.values(probe.grads)]);
    assert.equal(tf.memory().numTensors, tensors, 'a training step leaks tensors');
    const { value, grads } = tf.variableGrads(() => batchLoss(model, prompt, batch, batch.targets.length) as Scalar, [...prompt.variables.values()]);
    const before = (await value.data())[0];
    const g = new Map([...prompt.variables].map(([k, v]) => [k, grads[v.name].dataSync() as Float32Array]));
    assert.deepEqual([...g.keys()].sort(), ['scale', 'shift', 'z']);
    for (const [k, values] of g) assert.ok(values.some((x) => x !== 0) && values.every(Number.isFinite), `gradient of ${k}`);
    // Central differences on a few coordinates of each variable (h = 1e-4: small enough for T5's ReLU kinks).
    for (const [k, v] of prompt.variables) {
      const base = v.dataSync().slice() as Float32Array;
      for (const i of [0, Math.floor(base.length / 2)]) {
        const at = (delta: number) => {
          const moved = base.slice();
          moved[i] += delta;
          v.assign(tf.tensor(moved, v.shape));
          return loss();
        };
        const fd = (at(1e-4) - at(-1e-4)) / 2e-4;
        v.assign(tf.tensor(base, v.shape));
        const ad = g.get(k)![i];
        assert.ok(Math.abs(fd - ad) < 0.02 + 0.05 * Math.abs(ad), `${k}[${i}]: autodiff ${ad}, finite difference ${fd}`);
      }
    }
    // A plain gradient step sized to lower the loss by about 1e-4 to first order does lower it (T5's ReLU surface is
    // rough: a step much longer than this can land past a kink).
    const squared = [...g.values()].reduce((a, x) => a + x.reduce((b, y) => b + y * y, 0), 0);
    for (const [k, v] of prompt.variables) v.assign(tf.tidy(() => tf.sub(v, tf.mul(tf.tensor(g.get(k)!, v.shape), 1e-4 / squared))));
    assert.ok(loss() < before, `loss ${before} → ${loss()}`);
    tf.dispose([value, ...Object.values(grads)]);
    prompt.dispose();
    model.dispose();
  });
}

test('GPT-2: cached decoding equals the cache-free reference up to the context limit, rows stopping at different steps', async () => {
  await backend();
  const model = await loadModel(path.join(FIXTURES, 'tiny-gpt2'));
  const prompt = fixedPrompt(Array.from({ length: 3 * 32 }, (_, i) => Math.sin(i)), 3, 32);
  const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 11) % 299);
  // 64 positions: the longest input (55 + 3 virtual tokens) leaves room for 5 new tokens, and it may stop first.
  const inputs = [ids(55, 1), ids(20, 2), ids(40, 3), ids(5, 4)];
  const free = await generateUncached(model, prompt, inputs, 12, 8);
  assert.ok(free.some((o) => o.length > 0));
  model.tokenizer.stopIds = [free[0][1] ?? 0, free[2][0] ?? 0]; // end some rows early
  const before = tf.memory().numTensors;
  const cached = await generate(model, prompt, inputs, 12, 8);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(cached, await generateUncached(model, prompt, inputs, 12, 8));
  assert.deepEqual(await generate(model, prompt, inputs, 12, 2), cached, 'batch size does not change the tokens');
  prompt.dispose();
  model.dispose();
});


async function firstLogits(dir: string): Promise<Float32Array> {
  const model = await loadModel(dir);
  const t = tf.tidy(() => sequenceLogits(model, null, [1, 5, 9]));
  const data = (await t.data()) as Float32Array;
  t.dispose();
  model.dispose();
  return data;
}

test('loading checks every key and shape, naming the key: Llama and T5', async () => {
  await backend();
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-mistral'), (w) => delete w['model.layers.1.mlp.up_proj.weight'])),
    /weight "model\.layers\.1\.mlp\.up_proj\.weight" is missing \(expected shape \[48, 32\]\)/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-qwen2'), (w) => delete w['model.layers.0.self_attn.k_proj.bias'])),
    /weight "model\.layers\.0\.self_attn\.k_proj\.bias" is missing/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-llama2'), (w) => delete w['lm_head.weight'])), /weight "lm_head\.weight" is missing/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-mistral'), (w) => (w['model.layers.0.self_attn.k_proj.weight'] = { shape: [48, 32], data: new Float32Array(48 * 32) }))),
    /"model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[48, 32\] but config\.json implies \[12, 32\]/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-flan-t5'), (w) => delete w['decoder.block.2.layer.1.EncDecAttention.v.weight'])),
    /weight "decoder\.block\.2\.layer\.1\.EncDecAttention\.v\.weight" is missing \(expected shape \[48, 32\]\)/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-t5'), (w) => (w['encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight'] = { shape: [8, 4], data: new Float32Array(32) }))),
    /unexpected weight "encoder\.block\.1\.layer\.0\.SelfAttention\.relative_attention_bias\.weight"/);
});

test('checkpoint quirks load to the same model: a stored copy of a tied head, keys without the model. prefix, T5 without shared.weight', async () => {
  await backend();
  const llama = await firstLogits(path.join(FIXTURES, 'tiny-llama3'));
  const withHead = editedModel(path.join(FIXTURES, 'tiny-llama3'), (w) => (w['lm_head.weight'] = w['model.embed_tokens.weight']));
  assert.ok(maxAbsDiff(await firstLogits(withHead), llama) < 1e-6);
  const bare = editedModel(path.join(FIXTURES, 'tiny-llama3'), (w) => {
    for (const k of Object.keys(w)) {
      w[k.replace(/^model\./, '')] = w[k];
      delete w[k];
    }
  });
  assert.ok(maxAbsDiff(await firstLogits(bare), llama) < 1e-6);
  const t5 = await firstLogits(path.join(FIXTURES, 'tiny-t5'));
  const noShared = editedModel(path.join(FIXTURES, 'tiny-t5'), (w) => delete w['shared.weight']);
  assert.ok(maxAbsDiff(await firstLogits(noShared), t5) < 1e-6);
});

test('config.json values the engine cannot honour are refused by file and field', async () => {
  await backend();
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-llama3'), () => {}, (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 }))),
    /config\.json: rope_scaling type "yarn" is not supported \(supported: default, linear, llama3\)/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-mistral'), () => {}, (c) => (c.num_key_value_heads = 3))),
    /config\.json: num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-t5'), () => {}, (c) => (c.feed_forward_proj = 'gated-swish'))),
    /config\.json: feed_forward_proj "gated-swish" is not supported/);
  await assert.rejects(loadModel(editedModel(path.join(FIXTURES, 'tiny-llama2'), () => {}, (c) => (c.hidden_act = 'gelu'))), /config\.json: hidden_act "gelu" is not supported/);
});

test('the playground\'s answers (label probabilities, generations) agree with evaluation for a Llama and a T5', async () => {
  await backend();
  for (const name of ['tiny-llama3', 'tiny-t5']) {
    const model = await loadModel(path.join(FIXTURES, name));
    const t = model.tokenizer;
    const labels = { names: ['yes', 'no'], tokens: [t.encode(' yes'), t.encode(' no')] };
    const inputs = ['the model is small', 'only a few tokens'].map((s) => wrapInput(t, t.encode(s)));
    const scored = await answer(model, null, inputs, labels, 1);
    assert.deepEqual(scored.map((a) => a.text), (await classify(model, null, inputs, labels, 4)).map((i) => labels.names[i]), name);
    const generated = await answer(model, null, inputs, null, 5);
    assert.deepEqual(generated.map((a) => a.text), (await generate(model, null, inputs, 5, 4)).map((ids) => t.decode(ids)), name);
    model.dispose();
  }
});

test('a model too big for the WASM heap (Llama 3.2 1B: 1.24B parameters, 4.6 GiB as float32) is refused with the numbers and what to use instead', () => {
  assert.equal(backendMemoryProblem('wasm', 494e6), null); // Qwen2.5-0.5B fits (see scripts/bench_models.ts)
  assert.equal(backendMemoryProblem('tensorflow', 1.24e9), null);
  assert.match(backendMemoryProblem('wasm', 1.24e9) ?? '', /1240M parameters, 4\.6 GiB as float32, but the WASM backend's memory holds at most 4 GiB .*Use the tensorflow or tensorflow-gpu backend/);
});
