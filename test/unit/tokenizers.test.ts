// Tokenizers and special tokens as each family's files declare them: byte-level BPE (Llama 3, Qwen2), SentencePiece
// BPE with byte fallback (Llama 2, Mistral), SentencePiece Unigram (T5) through tokenizers.js, checked against ids
// from the sentencepiece library and an independent Python BPE (test/golden/make_tokenizers.py); BOS/EOS/pad/decoder
// start reconciled from config.json, generation_config.json and tokenizer_config.json; the quirks of real folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/models/loader';
import { wrapInput } from '../../src/models/tokenizer';
import type { LanguageModel } from '../../src/models/types';
import { buildExamples, exactMatch, generatedAnswer, type DataRecord } from '../../src/data';
import { DataWarnings } from '../../src/data/warnings';
import type { TaskConfig } from '../../src/config';
import { generate } from '../../src/train/evaluate';
import { backend, FIXTURES, ROOT, tempDir } from './helpers';

const EXAMPLE_MODEL = path.join(ROOT, 'examples', 'workspace', 'model');

interface TokGolden {
  samples: { text: string; ids: number[]; input_ids: number[]; decoded: string }[];
  prefix: number[];
  suffix: number[];
  specials: Record<string, number>;
}
const tokGolden = (name: string) => (JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}-golden.json`), 'utf8')) as { tokenizer: TokGolden }).tokenizer;

for (const name of ['tiny-llama3', 'tiny-llama2', 'tiny-mistral', 'tiny-qwen2', 'tiny-t5', 'tiny-flan-t5']) {
  test(`${name}: encode, the input's special tokens and decode agree with the reference tokenizer`, async () => {
    await backend();
    const model = await loadModel(path.join(FIXTURES, name));
    const g = tokGolden(name);
    for (const s of g.samples) {
      assert.deepEqual(model.tokenizer.encode(s.text), s.ids, s.text);
      assert.deepEqual(wrapInput(model.tokenizer, s.ids), s.input_ids, `${s.text} with special tokens`);
      assert.equal(model.tokenizer.decode(s.ids), s.decoded);
    }
    model.dispose();
  });
}

async function tokens(name: string) {
  await backend();
  const model = await loadModel(path.join(FIXTURES, name));
  const t = model.tokenizer;
  const out = { bos: t.bosId, eos: t.eosId, pad: t.padId, prefix: t.inputPrefix, suffix: t.inputSuffix, stop: t.stopIds, start: model.kind === 'encoder-decoder' ? model.decoderStartId : null, warnings: model.warnings };
  model.dispose();
  return out;
}

test('Llama 3 (Instruct layout): <|begin_of_text|> starts every input; targets end with <|eot_id|>; every EOS of the configs stops', async () => {
  const s = tokGolden('tiny-llama3').specials;
  assert.deepEqual(await tokens('tiny-llama3'), {
    bos: s['<|begin_of_text|>'], eos: s['<|eot_id|>'], pad: s['<|eot_id|>'], prefix: [s['<|begin_of_text|>']], suffix: [],
    stop: [s['<|eot_id|>'], s['<|end_of_text|>'], s['<|eom_id|>']], start: null, warnings: [],
  });
});

test('Qwen2: no BOS although config.json names one; <|endoftext|> ends targets and pads', async () => {
  const s = tokGolden('tiny-qwen2').specials;
  assert.deepEqual(await tokens('tiny-qwen2'), { bos: null, eos: s['<|endoftext|>'], pad: s['<|endoftext|>'], prefix: [], suffix: [], stop: [s['<|endoftext|>']], start: null, warnings: [] });
});

test('Llama 2 / Mistral (SentencePiece BPE): <s> first; </s> ends targets; no pad token, so generation_config\'s pad', async () => {
  for (const name of ['tiny-llama2', 'tiny-mistral']) {
    const t = await tokens(name);
    assert.deepEqual([t.bos, t.eos, t.prefix, t.suffix, t.stop], [1, 2, [1], [], [2]], name);
  }
  assert.equal((await tokens('tiny-llama2')).pad, 0);
  assert.equal((await tokens('tiny-mistral')).pad, 2, 'no pad anywhere: EOS pads');
});

test('T5: </s> ends every input and target, <pad> pads and starts the decoder', async () => {
  for (const name of ['tiny-t5', 'tiny-flan-t5']) {
    assert.deepEqual(await tokens(name), { bos: null, eos: 1, pad: 0, prefix: [], suffix: [1], stop: [1], start: 0, warnings: [] }, name);
  }
});

/** A copy of a fixture folder with some of its JSON files edited (a field set to undefined is removed). */
function edited(name: string, edits: Record<string, Record<string, unknown> | null>): string {
  const dir = tempDir(`ulpt-${name}-`);
  for (const f of fs.readdirSync(path.join(FIXTURES, name))) {
    const src = path.join(FIXTURES, name, f);
    if (!(f in edits)) {
      fs.copyFileSync(src, path.join(dir, f));
      continue;
    }
    const change = edits[f];
    if (change === null) continue; // the file is left out
    const json = JSON.parse(fs.readFileSync(src, 'utf8'));
    for (const [k, v] of Object.entries(change)) {
      if (v === undefined) delete json[k];
      else json[k] = v;
    }
    fs.writeFileSync(path.join(dir, f), JSON.stringify(json));
  }
  return dir;
}

async function load(dir: string): Promise<LanguageModel> {
  await backend();
  return loadModel(dir);
}

test('an eos_token_id not below vocab_size (as real checkpoints have) is replaced by the tokenizer\'s EOS, with a warning naming file and field', async () => {
  const dir = edited('tiny-llama2', { 'config.json': { eos_token_id: 384 }, 'generation_config.json': { eos_token_id: [2, 100000] } });
  const model = await load(dir);
  assert.equal(model.tokenizer.eosId, 2);
  assert.deepEqual(model.tokenizer.stopIds, [2]);
  assert.equal(model.warnings.length, 2);
  assert.match(model.warnings.join('\n'), /generation_config\.json: eos_token_id 100000 is not a token id below vocab_size 384 .*ignored/);
  assert.match(model.warnings.join('\n'), /config\.json: eos_token_id 384 is not a token id below vocab_size 384/);
  // Nothing reaches a GatherV2 kernel: a generation and a training target use the valid EOS.
  const out = await generate(model, null, [[1, 5, 6]], 3, 4);
  assert.ok(out[0].every((id) => id >= 0 && id < 384));
  model.dispose();
});

test('with no tokenizer EOS, an out-of-range config EOS is ignored: targets get no EOS and generation stops at the length limit', async () => {
  const dir = edited('tiny-llama2', {
    'config.json': { eos_token_id: 999 }, 'generation_config.json': null, 'tokenizer_config.json': { eos_token: undefined },
  });
  const model = await load(dir);
  assert.equal(model.tokenizer.eosId, null);
  assert.deepEqual(model.tokenizer.stopIds, []);
  assert.match(model.warnings[0], /config\.json: eos_token_id 999 .*ignored/);
  const [ex] = buildExamples([{ where: { file: 'x', line: 1, label: 'line 1' }, fields: { input: 'a', target: 'b' } }], { type: 'generation', template: '{input}', inputField: 'input', targetField: 'target' }, model.tokenizer, 32);
  assert.deepEqual(ex.targetIds, model.tokenizer.encode('b'));
  assert.equal((await generate(model, null, [[1, 5]], 4, 4))[0].length, 4);
  model.dispose();
});

test('pad_token_id −1 (early Llama configs) is ignored with a warning; padding falls back to EOS', async () => {
  const dir = edited('tiny-mistral', { 'config.json': { pad_token_id: -1 } });
  const model = await load(dir);
  assert.equal(model.tokenizer.padId, 2);
  assert.match(model.warnings[0], /config\.json: pad_token_id -1 is not a token id/);
  model.dispose();
});

test('a tokenizer without BOS, EOS or pad still works: no special tokens, pad 0, generation bounded by length', async () => {
  const dir = edited('tiny-llama2', {
    'config.json': { bos_token_id: undefined, eos_token_id: undefined }, 'generation_config.json': null,
    'tokenizer_config.json': { bos_token: undefined, eos_token: undefined, unk_token: undefined, add_bos_token: undefined, add_eos_token: undefined, tokenizer_class: 'PreTrainedTokenizerFast' },
  });
  const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  tj.post_processor = null;
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tj));
  const model = await load(dir);
  const t = model.tokenizer;
  assert.deepEqual([t.bosId, t.eosId, t.padId, t.inputPrefix, t.inputSuffix, t.stopIds], [null, null, 0, [], [], []]);
  assert.deepEqual(model.warnings, []);
  assert.equal((await generate(model, null, [t.encode('the model'), t.encode('a')], 3, 4)).every((o) => o.length === 3), true);
  model.dispose();
});

test('tokenizer_config.json add_bos_token / add_eos_token rebuild a Llama tokenizer\'s template, as transformers does', async () => {
  const model = await load(edited('tiny-llama2', { 'tokenizer_config.json': { add_bos_token: false, add_eos_token: true } }));
  assert.deepEqual([model.tokenizer.inputPrefix, model.tokenizer.inputSuffix], [[], [2]]);
  model.dispose();
});

test('T5: decoder_start_token_id out of range falls back to the pad token; with no pad token at all the load is refused, naming the field', async () => {
  const model = await load(edited('tiny-t5', { 'config.json': { decoder_start_token_id: 5000 }, 'generation_config.json': null }));
  assert.equal(model.kind === 'encoder-decoder' && model.decoderStartId, 0);
  assert.match(model.warnings.join('\n'), /decoder_start_token_id 5000 .*\n.*starts from the pad token \(0\)/);
  model.dispose();
  const noPad = edited('tiny-t5', { 'config.json': { decoder_start_token_id: undefined }, 'generation_config.json': null, 'tokenizer_config.json': { pad_token: undefined } });
  await assert.rejects(load(noPad), /config\.json: the decoder needs a start token: decoder_start_token_id is missing, and the tokenizer names no pad_token/);
});

test('Qwen2: ids of the padded embedding rows (beyond the tokenizer) decode to nothing instead of failing', async () => {
  const model = await load(path.join(FIXTURES, 'tiny-qwen2'));
  assert.equal(model.info.vocabSize, 400);
  assert.equal(model.tokenizer.vocabSize, 384);
  assert.equal(model.tokenizer.decode([394, ...model.tokenizer.encode('the model'), 399]), 'the model');
  model.dispose();
});

// ---- Generation targets tokenized with their prompt (issue 15.1): the answer the model learns is the one it must write.

const GEN_TASK: TaskConfig = { type: 'generation', template: 'input: {input} output:', inputField: 'input', targetField: 'target' };
const genRecord = (fields: Record<string, string>): DataRecord => ({ where: { file: 'reverse.jsonl', label: 'line 1' }, fields });

for (const [family, dir] of [
  ['GPT-2 byte-level BPE (the example backbone)', EXAMPLE_MODEL],
  ['Llama 3 byte-level BPE', path.join(FIXTURES, 'tiny-llama3')],
  ['Qwen2 byte-level BPE', path.join(FIXTURES, 'tiny-qwen2')],
  ['Llama 2 SentencePiece BPE', path.join(FIXTURES, 'tiny-llama2')],
  ['T5 SentencePiece Unigram', path.join(FIXTURES, 'tiny-t5')],
] as const) {
  test(`${family}: a generation target is tokenized with its prompt, and greedy decoding of exactly those ids reads back as the target`, async () => {
    await backend();
    const model = await loadModel(dir);
    const tok = model.tokenizer;
    const seq2seq = model.kind === 'encoder-decoder';
    const record = genRecord({ input: 'c a t', target: 't a c' });
    const warnings = new DataWarnings();
    const [ex] = buildExamples([record], GEN_TASK, tok, 64, undefined, warnings, { seq2seq });
    assert.deepEqual(warnings.list(), [], 'the boundary after "output:" is stable');
    assert.equal(ex.targetIds.at(-1), tok.eosId, 'EOS ends the target');
    const answer = ex.targetIds.slice(0, -1);
    // What predict and the playground feed the model is the training example's prompt, token for token.
    assert.deepEqual(ex.inputIds, wrapInput(tok, tok.encode('input: c a t output:')));
    if (seq2seq) {
      assert.deepEqual(answer, tok.encode('t a c'), 'T5 answers in its decoder: the target alone');
    } else {
      // The training sequence is the text the model reads, tokenized as one: "… output: t a c".
      assert.deepEqual([...ex.inputIds, ...answer], wrapInput(tok, tok.encode('input: c a t output: t a c')));
    }
    assert.equal(generatedAnswer(record, GEN_TASK, tok.decode(answer), seq2seq), 't a c');
    assert.equal(exactMatch([tok.decode(answer)], [ex.targetText]), 1);
    model.dispose();
  });
}

test('GPT-2: the target alone tokenizes differently from the target after its prompt (why it is tokenized with it)', async () => {
  await backend();
  const model = await loadModel(EXAMPLE_MODEL);
  const [ex] = buildExamples([genRecord({ input: 'c a t', target: 't a c' })], GEN_TASK, model.tokenizer, 64);
  assert.notDeepEqual(ex.targetIds.slice(0, -1), model.tokenizer.encode('t a c'), '"t" (no space) is not the " t" the model writes after "output:"');
  const spaced = { ...GEN_TASK, template: 'input: {input} output: ' };
  const [same] = buildExamples([genRecord({ input: 'c a t', target: 't a c' })], spaced, model.tokenizer, 64);
  assert.deepEqual([same.inputIds, same.targetIds], [ex.inputIds, ex.targetIds], 'a template ending in a space teaches the same text');
  model.dispose();
});

test('a target the tokenizer joins to the end of the prompt is trained as generation reads it, with a warning naming the line', async () => {
  await backend();
  const model = await loadModel(EXAMPLE_MODEL);
  const tok = model.tokenizer;
  const joined = { ...GEN_TASK, template: '{input} in', separator: '' };
  const record = genRecord({ input: 'x', target: 'put' });
  assert.notDeepEqual(tok.encode('x input').slice(0, tok.encode('x in').length), tok.encode('x in'), 'the fixture premise: "in"+"put" merge');
  const warnings = new DataWarnings();
  const [ex] = buildExamples([record], joined, tok, 64, undefined, warnings);
  assert.deepEqual(ex.inputIds, tok.encode('x in'));
  assert.equal(tok.decode(ex.targetIds.slice(0, -1)), 'put');
  assert.match(warnings.list()[0].message, /reverse\.jsonl: a target begins with text that the tokenizer joins to the end of the prompt \(line 1\)/);
  model.dispose();
});
