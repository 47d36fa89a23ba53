// `ulpt train / eval / predict / forward / export-peft` on a Llama-family decoder and on T5, with ULPT and vanilla
// prompt tuning, run as users run them (the built dist/cli.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors';
import { FIXTURES, ROOT, tempDir, maxAbsDiff } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');

function ulpt(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const WORDS = ['model', 'prompt', 'frozen', 'tokens', 'small', 'learned'];
function dataset(dir: string, kind: 'generation' | 'classification'): string {
  const lines = Array.from({ length: 12 }, (_, i) => {
    const [a, b] = [WORDS[i % 6], WORDS[(i * 5 + 1) % 6]];
    return JSON.stringify(kind === 'generation' ? { input: `${a} ${b} =`, target: ` ${b} ${a}` } : { input: `the ${a} is ${b}`, label: i % 2 ? 'yes' : 'no' });
  });
  const file = path.join(dir, `${kind}.jsonl`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

interface Case {
  model: string;
  method: 'ulpt' | 'prompt-tuning';
  task: 'generation' | 'classification';
  d: number;
  taskType: 'CAUSAL_LM' | 'SEQ_2_SEQ_LM';
}

const CASES: Case[] = [
  { model: 'tiny-llama3', method: 'ulpt', task: 'generation', d: 32, taskType: 'CAUSAL_LM' },
  { model: 'tiny-qwen2', method: 'prompt-tuning', task: 'classification', d: 32, taskType: 'CAUSAL_LM' },
  { model: 'tiny-t5', method: 'prompt-tuning', task: 'classification', d: 32, taskType: 'SEQ_2_SEQ_LM' },
  { model: 'tiny-flan-t5', method: 'ulpt', task: 'generation', d: 32, taskType: 'SEQ_2_SEQ_LM' },
];

for (const c of CASES) {
  test(`${c.model}: train (${c.method}, ${c.task}) → eval → predict → export-peft (${c.taskType})`, () => {
    const dir = tempDir();
    const model = path.join(FIXTURES, c.model);
    const data = dataset(dir, c.task);
    const adapter = path.join(dir, 'a.ulpt');
    const tr = ulpt(['train', '--model', model, '--train', data, '--validation', data, '--method', c.method, '--task', c.task, '--steps', '3',
      '--prompt-length', '4', '--max-length', '16', '--batch-size', '4', '--backend', 'cpu', '--out', adapter, '--run-dir', path.join(dir, 'run'), '--json'], dir);
    assert.equal(tr.code, 0, tr.stderr);
    const messages = tr.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const started = messages.find((m) => m.type === 'started');
    assert.equal(started.model.modelType, JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')).model_type);
    assert.equal(started.trainableParameters, c.method === 'ulpt' ? 4 * 2 + 2 * c.d : 4 * c.d);
    const evals = messages.filter((m) => m.type === 'eval');
    assert.ok(evals.length >= 1 && evals.every((e) => Number.isFinite(e.loss)));
    const finished = messages.at(-1);
    assert.equal(finished.type, 'finished');
    assert.ok(finished.summary.final.loss > 0);

    const ev = ulpt(['eval', '--model', model, '--adapter', adapter, '--data', data, '--backend', 'cpu', '--json'], dir);
    assert.equal(ev.code, 0, ev.stderr);
    const scores = JSON.parse(ev.stdout);
    assert.equal(scores.examples, 12);
    assert.ok(scores.loss > 0);
    assert.ok(c.task === 'classification' ? scores.accuracy >= 0 && scores.accuracy <= 1 : scores.exact_match >= 0 && scores.exact_match <= 1);

    const pr = ulpt(['predict', '--model', model, '--adapter', adapter, '--input', 'the model is small', '--backend', 'cpu', '--json'], dir);
    assert.equal(pr.code, 0, pr.stderr);
    const prediction = JSON.parse(pr.stdout).prediction;
    if (c.task === 'classification') assert.ok(['no', 'yes'].includes(prediction), prediction);
    else assert.equal(typeof prediction, 'string');

    const ex = ulpt(['export-peft', adapter, '--out', path.join(dir, 'peft'), '--base-model', model], dir);
    assert.equal(ex.code, 0, ex.stderr);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'peft', 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.task_type, c.taskType);
    assert.equal(cfg.token_dim, c.d);
    assert.equal(cfg.num_transformer_submodules, 1);
    const st = SafetensorsFile.open(path.join(dir, 'peft', 'adapter_model.safetensors'));
    assert.deepEqual(st.info('prompt_embeddings').shape, [4, c.d]);
    st.close();
  });
}

/** Golden logits [B, T, V] row b, as nested rows of V values. */
function goldenRows(name: string, b: number): { rows: number[][]; g: Record<string, number[][]> } {
  const g = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}-golden.json`), 'utf8'));
  const st = SafetensorsFile.open(path.join(FIXTURES, `${name}-golden.safetensors`));
  const [, T, V] = st.info('ids').shape;
  const data = st.float32('ids');
  st.close();
  return { rows: Array.from({ length: T }, (_, t) => Array.from(data.subarray((b * T + t) * V, (b * T + t + 1) * V))), g };
}

test('ulpt forward on a decoder prints the logits PyTorch computed; --decoder-ids is refused for it', () => {
  const { rows, g } = goldenRows('tiny-llama3', 0);
  const ids = g.input_ids[0]; // the longer sequence: unpadded
  assert.ok(g.attention_mask[0].every((m) => m === 1));
  const r = ulpt(['forward', '--model', path.join(FIXTURES, 'tiny-llama3'), '--ids', ids.join(','), '--backend', 'cpu', '--json'], tempDir());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.shape, [ids.length, 384]);
  assert.ok(maxAbsDiff(out.logits.flat(), rows.flat()) < 1e-4);
  const bad = ulpt(['forward', '--model', path.join(FIXTURES, 'tiny-llama3'), '--ids', '1,2', '--decoder-ids', '0', '--backend', 'cpu'], tempDir());
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--decoder-ids is for encoder-decoder models/);
});

test('ulpt forward on T5 takes the encoder input and --decoder-ids, and prints the decoder\'s logits PyTorch computed', () => {
  const { rows, g } = goldenRows('tiny-t5', 0);
  assert.ok(g.attention_mask[0].every((m) => m === 1) && g.decoder_attention_mask[0].every((m) => m === 1));
  const dec = g.decoder_input_ids[0];
  const r = ulpt(['forward', '--model', path.join(FIXTURES, 'tiny-t5'), '--ids', g.input_ids[0].join(','), '--decoder-ids', dec.join(','), '--backend', 'cpu', '--json'], tempDir());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.decoder_ids, dec);
  assert.deepEqual(out.shape, [dec.length, 232]);
  assert.ok(maxAbsDiff(out.logits.flat(), rows.flat()) < 1e-4);
  // Without --decoder-ids: the logits of the first decoder step (after the start token).
  const first = JSON.parse(ulpt(['forward', '--model', path.join(FIXTURES, 'tiny-t5'), '--ids', g.input_ids[0].join(','), '--backend', 'cpu', '--json'], tempDir()).stdout);
  assert.deepEqual(first.decoder_ids, [0]);
  assert.ok(maxAbsDiff(first.logits[0], rows[0]) < 1e-4);
});

test('an unsupported architecture is refused by name, listing the supported model types', () => {
  const dir = tempDir();
  for (const f of fs.readdirSync(path.join(FIXTURES, 'tiny-llama3'))) fs.copyFileSync(path.join(FIXTURES, 'tiny-llama3', f), path.join(dir, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gemma2' }));
  const r = ulpt(['forward', '--model', dir, '--ids', '1,2', '--backend', 'cpu'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.json: model_type "gemma2" is not supported; supported: gpt2, llama, mistral, qwen2, t5\./);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a special id out of the vocabulary is reported, naming file and field, and the run goes on (CLI and trainer)', () => {
  const dir = tempDir();
  const model = path.join(dir, 'model');
  fs.mkdirSync(model);
  for (const f of fs.readdirSync(path.join(FIXTURES, 'tiny-llama2'))) fs.copyFileSync(path.join(FIXTURES, 'tiny-llama2', f), path.join(model, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({ ...cfg, eos_token_id: 32000 }));
  const fw = ulpt(['forward', '--model', model, '--ids', '1,5,6', '--backend', 'cpu', '--json'], dir);
  assert.equal(fw.code, 0, fw.stderr);
  assert.match(fw.stderr, /ulpt: warning: config\.json: eos_token_id 32000 is not a token id below vocab_size 384 \(.*config\.json\); it is ignored\./);
  const tr = ulpt(['train', '--model', model, '--train', dataset(dir, 'generation'), '--steps', '2', '--prompt-length', '2', '--max-length', '16',
    '--batch-size', '4', '--backend', 'cpu', '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(dir, 'run'), '--json'], dir);
  assert.equal(tr.code, 0, tr.stderr);
  const logs = tr.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'log');
  assert.ok(logs.some((m) => m.level === 'warn' && /eos_token_id 32000/.test(m.message)));
});
