// The playground process (dist/playground.js) as the inspector and the playground use it: real process, tiny
// fixture model. Its answers are checked against the engine run in this process (classify, generate, evaluate), its
// nearest tokens against a prompt built from known vocabulary embeddings, and its failures for their messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildExamples } from '../../src/data';
import { nearestByCosine } from '../../src/analysis/neighbours';
import { nearestTokens, tableRowNorms } from '../../src/analysis/neighboursTf';
import { tf } from '../../src/backend';
import { writeAdapter, type Adapter, type AdapterMeta } from '../../src/io/adapter';
import { embeddingFingerprintOf, loadModel } from '../../src/models/loader';
import type { LanguageModel } from '../../src/models/types';
import { PlaygroundProcess } from '../../src/process/playgroundClient';
import { classify, evaluate, generate, labelSetFor } from '../../src/train/evaluate';
import { adapterTask } from '../../src/train/predict';
import { promptFromAdapter } from '../../src/ulpt/prompt';
import { backend, FIXTURES, ROOT, TINY, tempDir } from './helpers';

const SCRIPT = path.join(ROOT, 'dist', 'playground.js');

function meta(model: LanguageModel, over: Partial<AdapterMeta>): AdapterMeta {
  return {
    format: 'ulpt-adapter', version: 1, method: 'ulpt', num_virtual_tokens: 4, rank: 2, hidden_size: model.info.hiddenSize, alignment: true, seed: '7',
    base_model: { model_type: model.info.modelType, name: model.info.name, fingerprint: model.info.fingerprint, vocab_size: model.info.vocabSize },
    task: { type: 'classification', template: 'q: {input} a:', input_field: 'input', target_field: 'label', labels: { names: ['yes', 'no'], words: [' yes', ' no'] } },
    training: { steps_done: 3, backend: 'cpu', maxLength: 24 }, metrics: {}, trainable_parameters: 4 * 2 + 2 * model.info.hiddenSize, created: new Date().toISOString(),
    ...over,
  };
}

function ulpt(model: LanguageModel, over: Partial<AdapterMeta> = {}): Adapter {
  const d = model.info.hiddenSize;
  const z = Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + 1) * 2);
  const scale = Float32Array.from({ length: d }, (_, j) => 1 + 0.1 * Math.cos(j));
  const shift = Float32Array.from({ length: d }, (_, j) => 0.05 * Math.sin(j));
  return { meta: meta(model, over), tensors: { z, scale, shift } };
}

let shared: { model: LanguageModel; dir: string; proc: PlaygroundProcess } | null = null;
async function setup() {
  if (shared) return shared;
  await backend();
  const model = await loadModel(TINY);
  const dir = tempDir('ulpt-playground-');
  const proc = new PlaygroundProcess({ script: SCRIPT, backend: 'cpu' });
  shared = { model, dir, proc };
  return shared;
}

test.after(() => shared?.proc.dispose());

test('embeddingFingerprintOf reads only the embedding tensor and agrees with loadModel, for every fixture layout', async () => {
  await backend();
  for (const name of ['tiny-gpt2', 'tiny-gpt2-bf16-lmhead', 'tiny-gpt2-f16-sharded']) {
    const dir = path.join(FIXTURES, name);
    const m = await loadModel(dir);
    assert.equal(embeddingFingerprintOf(dir), m.info.fingerprint, name);
    m.dispose();
  }
});

test('the process starts its backend and fingerprints model folders like the loader', async () => {
  const { model, dir, proc } = await setup();
  assert.equal((await proc.ready).backend, 'cpu');
  const r = await proc.ask({ type: 'fingerprint', dirs: [TINY, path.join(dir, 'no-model')] });
  assert.equal(r.results[0].fingerprint, model.info.fingerprint);
  assert.equal(r.results[1].fingerprint, null);
  assert.match(r.results[1].error ?? '', /does not exist/);
});

test('classification answers: the label classify() picks, with every label’s probability, with and without the adapter', async () => {
  const { model, dir, proc } = await setup();
  const adapter = ulpt(model);
  const file = path.join(dir, 'cls.ulpt');
  writeAdapter(file, adapter);
  const inputs = ['hello there', 'the cat sat'];
  const r = await proc.ask({ type: 'predict', model: TINY, adapter: file, inputs });
  assert.equal(r.results.length, 2);
  const labels = labelSetFor(adapter.meta.task.labels, model.tokenizer)!;
  const prompt = await promptFromAdapter(adapter, model.tokenEmbeddings);
  const ids = inputs.map((t) => model.tokenizer.encode(`q: ${t} a:`));
  const withAdapter = await classify(model, prompt, ids, labels, 8);
  const without = await classify(model, null, ids, labels, 8);
  prompt.dispose();
  r.results.forEach((res, i) => {
    for (const [answer, pick] of [[res.with, withAdapter[i]], [res.without, without[i]]] as const) {
      assert.equal(answer.text, labels.names[pick], `input ${i}: the same label as classify()`);
      const total = answer.scores!.reduce((s, x) => s + x.probability, 0);
      assert.ok(Math.abs(total - 1) < 1e-9, 'probabilities sum to 1');
      assert.equal(answer.scores![0].label, answer.text, 'best first');
      assert.ok(answer.scores!.every((s) => s.logProb < 0));
    }
    assert.notDeepEqual(res.with.scores, res.without.scores, 'the adapter changes the scores');
  });
});

test('generation answers equal generate() in this process', async () => {
  const { model, dir, proc } = await setup();
  const adapter = ulpt(model, { task: { type: 'generation', template: '{input} =', input_field: 'input', target_field: 'target' } });
  const file = path.join(dir, 'gen.ulpt');
  writeAdapter(file, adapter);
  const r = await proc.ask({ type: 'predict', model: TINY, adapter: file, inputs: ['one two'] });
  const prompt = await promptFromAdapter(adapter, model.tokenEmbeddings);
  const ids = [model.tokenizer.encode('one two =')];
  const room = model.info.maxPositions - 4;
  const reserve = Math.min(64, Math.max(1, Math.floor(room / 4)));
  const expected = model.tokenizer.decode((await generate(model, prompt, ids, reserve, 8))[0]);
  const expectedWithout = model.tokenizer.decode((await generate(model, null, ids, reserve, 8))[0]);
  prompt.dispose();
  // The answer is shown without the separator (a space after "=") the adapter was taught to write before it.
  const shown = (text: string) => (text.startsWith(' ') ? text.slice(1) : text);
  assert.equal(r.results[0].with.text, shown(expected));
  assert.equal(r.results[0].without.text, shown(expectedWithout));
  assert.equal(r.results[0].with.scores, null);
});

test('nearest tokens: a prompt made of vocabulary embeddings finds those tokens at cosine 1, and the embedding norms', async () => {
  const { model, dir, proc } = await setup();
  const d = model.info.hiddenSize;
  const wte = (await model.tokenEmbeddings.data()) as Float32Array;
  const ids = [5, 77, 123];
  const prompt = new Float32Array(ids.length * d);
  ids.forEach((id, i) => {
    for (let j = 0; j < d; j++) prompt[i * d + j] = (i + 2) * wte[id * d + j]; // scaled: cosine ignores length
  });
  const file = path.join(dir, 'pt.ulpt');
  writeAdapter(file, { meta: meta(model, { method: 'prompt-tuning', rank: 0, num_virtual_tokens: 3, trainable_parameters: 3 * d }), tensors: { prompt } });
  const r = await proc.ask({ type: 'neighbours', model: TINY, adapter: file, k: 5 });
  assert.equal(r.tokens.length, 3);
  r.tokens.forEach((row, i) => {
    assert.equal(row.length, 5);
    assert.equal(row[0].id, ids[i]);
    assert.ok(Math.abs(row[0].cosine - 1) < 1e-5);
    assert.equal(row[0].text, model.tokenizer.decode([ids[i]]));
    assert.ok(row.every((x, j) => j === 0 || x.cosine <= row[j - 1].cosine));
  });
  const norms = Array.from({ length: model.info.vocabSize }, (_, v) => Math.hypot(...wte.subarray(v * d, (v + 1) * d))).sort((a, b) => a - b);
  assert.ok(Math.abs(r.embeddingNorms.median - (norms[149] + norms[150]) / 2) < 1e-4, `median ${r.embeddingNorms.median}`);
});

test('nearestTokens on the backend ranks like the plain reference, across blocks, skipping rows without direction', async () => {
  await backend();
  const V = 9000; // more than one block of 8192 rows
  const d = 8;
  const n = 4;
  let x = 1;
  const next = () => ((x = (x * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const table = Float32Array.from({ length: V * d }, next);
  table.fill(0, 8200 * d, 8201 * d);
  const queries = Float32Array.from({ length: n * d }, next);
  for (let j = 0; j < d; j++) queries[d + j] = table[8195 * d + j]; // query 1 is token 8195 (second block)
  queries.fill(0, 3 * d, 4 * d);
  const t = tf.tensor2d(table, [V, d]);
  const got = await nearestTokens(queries, n, t, 7);
  const want = nearestByCosine(queries, n, table, V, d, 7);
  const norms = await tableRowNorms(t);
  t.dispose();
  assert.deepEqual(got.map((row) => row.map((x) => x.id)), want.map((row) => row.map((x) => x.id)));
  got.forEach((row, q) => row.forEach((x, i) => assert.ok(Math.abs(x.cosine - want[q][i].cosine) < 1e-5)));
  assert.equal(got[1][0].id, 8195);
  assert.deepEqual(got[3], []);
  assert.equal(norms.length, V);
  assert.equal(norms[8200], 0);
});

test('evaluation in chunks equals one evaluate() call, with the un-prompted model beside it; progress is reported', async () => {
  const { model, dir, proc } = await setup();
  const adapter = ulpt(model);
  const file = path.join(dir, 'eval.ulpt');
  writeAdapter(file, adapter);
  const data = path.join(dir, 'data.jsonl');
  const recs = Array.from({ length: 70 }, (_, i) => ({ input: `item ${i} ${i % 3 ? 'good' : 'bad'}`, label: i % 3 ? 'yes' : 'no' }));
  fs.writeFileSync(data, recs.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const progress: number[] = [];
  const r = await proc.ask({ type: 'evaluate', model: TINY, adapter: file, data }, (done) => progress.push(done));
  assert.equal(r.report.examples, 70);
  assert.deepEqual(progress, [32, 64, 70, 102, 134, 140]);
  const examples = buildExamples(recs.map((fields, i) => ({ where: { file: data, line: i + 1, label: `line ${i + 1}` }, fields })), adapterTask(adapter.meta), model.tokenizer, 24, adapter.meta.task.labels);
  const labels = labelSetFor(adapter.meta.task.labels, model.tokenizer);
  const prompt = await promptFromAdapter(adapter, model.tokenEmbeddings);
  const withRef = await evaluate(model, prompt, examples, { type: 'classification' }, labels, 16);
  const withoutRef = await evaluate(model, null, examples, { type: 'classification' }, labels, 16);
  prompt.dispose();
  assert.ok(Math.abs(r.report.with.loss - withRef.loss) < 1e-5, `${r.report.with.loss} vs ${withRef.loss}`);
  assert.ok(Math.abs(r.report.without.loss - withoutRef.loss) < 1e-5);
  assert.deepEqual(r.report.with.metrics, withRef.metrics);
  assert.deepEqual(r.report.without.metrics, withoutRef.metrics);
});

test('records of a dataset; an adapter for another model and a missing file fail with messages for people', async () => {
  const { model, dir, proc } = await setup();
  const data = path.join(dir, 'recs.jsonl');
  fs.writeFileSync(data, ['{"input":"a","label":"yes"}', '{"input":"b"}', '{"input":"c","label":"no"}'].join('\n') + '\n');
  const r = await proc.ask({ type: 'records', file: data, inputField: 'input', targetField: 'label', limit: 2 });
  assert.equal(r.total, 3);
  assert.deepEqual(r.records.map((x) => [x.input, x.expected]), [['a', 'yes'], ['b', null]]);
  const other = path.join(dir, 'other.ulpt');
  writeAdapter(other, ulpt(model, { base_model: { model_type: 'gpt2', name: 'elsewhere', fingerprint: 'sha256:0000000000000000:300x32', vocab_size: 300 } }));
  await assert.rejects(proc.ask({ type: 'predict', model: TINY, adapter: other, inputs: ['x'] }), /trained for gpt2 model "elsewhere".*fingerprint/);
  await assert.rejects(proc.ask({ type: 'neighbours', model: TINY, adapter: path.join(dir, 'none.ulpt'), k: 3 }), /does not exist/);
  // The process keeps serving after a failure.
  assert.equal((await proc.ask({ type: 'fingerprint', dirs: [TINY] })).results[0].fingerprint, model.info.fingerprint);
});

test('a killed process fails its open requests instead of leaving them hanging', async () => {
  const proc = new PlaygroundProcess({ script: SCRIPT, backend: 'cpu' });
  await proc.ready;
  const pending = proc.ask({ type: 'fingerprint', dirs: [TINY] });
  proc.dispose();
  await assert.rejects(pending, /playground process was stopped/);
  await assert.rejects(proc.ask({ type: 'fingerprint', dirs: [TINY] }), /stopped/);
});
