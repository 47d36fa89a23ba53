// GPT-2 numerics against an independent PyTorch implementation (test/golden/make_fixtures.py wrote the values),
// for every checkpoint layout we load, plus the loader's refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../../src/backend';
import { loadModel, folderModelName } from '../../src/models/loader';
import type { CausalLM } from '../../src/models/types';
import { prependPrompt } from '../../src/ulpt/prompt';
import { backend, editedModel, FIXTURES, TINY, tempDir, maxAbsDiff } from './helpers';

interface Golden {
  pad_token_id: number;
  tokenizer_samples: { text: string; ids: number[] }[];
  variants: Record<string, {
    folder: string;
    ids: { input_ids: number[][]; attention_mask: number[][]; logits: number[][][] };
    prompt: { prompt: number[][]; input_ids: number[][]; attention_mask: number[][]; logits: number[][][] };
  }>;
}
const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny-gpt2-golden.json'), 'utf8')) as Golden;
const TOLERANCE = 1e-4;

/** Logits at the positions whose mask is 1, flattened, from a [B, T, V] nested array. */
function validRows(logits: number[][][], mask: number[][]): number[] {
  return logits.flatMap((seq, b) => seq.filter((_, t) => mask[b][t] === 1).flat());
}

for (const [variant, g] of Object.entries(golden.variants)) {
  test(`${variant}: logits match PyTorch within ${TOLERANCE} (padded batch)`, async () => {
    await backend();
    const model = (await loadModel(path.join(FIXTURES, variant))) as CausalLM;
    const { input_ids, attention_mask, logits } = g.ids;
    const [B, S] = [input_ids.length, input_ids[0].length];
    const ours = tf.tidy(() => {
      const embeds = model.embed(tf.tensor2d(input_ids, [B, S], 'int32'));
      const hidden = model.hidden(embeds, tf.tensor2d(attention_mask, [B, S]));
      return tf.reshape(model.logits(tf.reshape(hidden, [B * S, -1])), [B, S, -1]);
    });
    const got = (await ours.array()) as number[][][];
    ours.dispose();
    const diff = maxAbsDiff(validRows(got, attention_mask), validRows(logits, attention_mask));
    assert.ok(diff < TOLERANCE, `max |Δlogit| = ${diff}`);
    model.dispose();
  });

  test(`${variant}: virtual tokens prepended as PEFT does match PyTorch`, async () => {
    await backend();
    const model = (await loadModel(path.join(FIXTURES, variant))) as CausalLM;
    const { prompt, input_ids, attention_mask, logits } = g.prompt;
    const [B, S] = [input_ids.length, input_ids[0].length];
    const n = prompt.length;
    const ours = tf.tidy(() => {
      const embeds = model.embed(tf.tensor2d(input_ids, [B, S], 'int32'));
      const joined = prependPrompt(tf.tensor2d(prompt), embeds, tf.tensor2d(attention_mask, [B, S]));
      const hidden = model.hidden(joined.inputs, joined.mask);
      return tf.reshape(model.logits(tf.reshape(hidden, [B * (n + S), -1])), [B, n + S, -1]);
    });
    const got = (await ours.array()) as number[][][];
    ours.dispose();
    const fullMask = attention_mask.map((m) => [...new Array(n).fill(1), ...m]);
    const diff = maxAbsDiff(validRows(got, fullMask), validRows(logits, fullMask));
    assert.ok(diff < TOLERANCE, `max |Δlogit| = ${diff}`);
    model.dispose();
  });
}

test('the tokenizer (tokenizers.js on tokenizer.json) gives the ids the Python side produced', async () => {
  const model = await loadModel(TINY);
  for (const s of golden.tokenizer_samples) {
    assert.deepEqual(model.tokenizer.encode(s.text), s.ids, s.text);
    // Decoding drops special tokens such as <|endoftext|>, as a user reading predictions expects.
    assert.equal(model.tokenizer.decode(s.ids), s.text.replaceAll('<|endoftext|>', ''));
  }
  assert.equal(model.tokenizer.eosId, golden.pad_token_id);
  model.dispose();
});

test('model info: dimensions from config.json, a stable embedding fingerprint shared by all variants', async () => {
  const a = await loadModel(TINY);
  const b = await loadModel(path.join(FIXTURES, 'tiny-gpt2-f16-sharded'));
  assert.equal(a.info.modelType, 'gpt2');
  assert.equal(a.info.hiddenSize, 32);
  assert.equal(a.info.vocabSize, 300);
  assert.match(a.info.fingerprint, /^sha256:[0-9a-f]{16}:300x32$/);
  assert.notEqual(a.info.fingerprint, b.info.fingerprint, 'F16 rounding changes the embedding bytes, so the fingerprint');
  a.dispose();
  b.dispose();
});


test('loading refuses a checkpoint with a missing weight, naming the key', async () => {
  const dir = editedModel(TINY, (w) => delete w['h.1.mlp.c_fc.bias']);
  await assert.rejects(loadModel(dir), /weight "h\.1\.mlp\.c_fc\.bias" is missing \(expected shape \[128\]\)/);
});

test('loading refuses a weight of the wrong shape, naming key and both shapes', async () => {
  const dir = editedModel(TINY, (w) => (w['h.0.attn.c_proj.weight'] = { shape: [32, 16], data: new Float32Array(512) }));
  await assert.rejects(loadModel(dir), /"h\.0\.attn\.c_proj\.weight" has shape \[32, 16\] but config\.json implies \[32, 32\]/);
});

test('loading refuses an unexpected weight and an unknown model_type', async () => {
  const extra = editedModel(TINY, (w) => (w['score.weight'] = { shape: [2, 32], data: new Float32Array(64) }));
  await assert.rejects(loadModel(extra), /unexpected weight "score\.weight"/);
  const llama = editedModel(TINY, () => {}, (c) => (c.model_type = 'llama-9000'));
  await assert.rejects(loadModel(llama), /model_type "llama-9000" is not supported; supported: gpt2, llama, mistral, qwen2, t5/);
});

test('loading a folder without weights says where it looked', async () => {
  const dir = tempDir('ulpt-empty-');
  fs.copyFileSync(path.join(TINY, 'config.json'), path.join(dir, 'config.json'));
  await assert.rejects(loadModel(dir), /No weights in .*: looked for model\.safetensors and model\.safetensors\.index\.json/);
  await assert.rejects(loadModel(path.join(dir, 'nope')), /does not exist/);
});

test('a Hugging Face cache snapshot is named by its repository, other folders by their name', () => {
  assert.equal(folderModelName('/home/u/.cache/huggingface/hub/models--openai-community--gpt2/snapshots/607a30d783dfa663caf39e06633721c8d4cfcd7e'), 'openai-community/gpt2');
  assert.equal(folderModelName('/work/models/my-gpt2'), 'my-gpt2');
});

test('decoding an empty generation is empty text, not an error', async () => {
  const model = await loadModel(TINY);
  assert.equal(model.tokenizer.decode([]), '');
  model.dispose();
});
