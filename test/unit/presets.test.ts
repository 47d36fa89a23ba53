// Presets (src/presets/): every preset against the columns and label ids its dataset card publishes (written out
// below, independently of the table), the user's fields over the preset's, the errors for an unknown preset and for
// data that is not the preset's, and training through --preset on Parquet files shaped like the real datasets —
// local, and served by the stand-in Hub (test/hubServer.ts) under the preset's own hf:// paths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parquetWriteFile, type ColumnSource } from 'hyparquet-writer';
import { CONFIG_SCHEMA, ConfigError, configProblems, resolveConfig } from '../../src/config';
import { readRecords } from '../../src/data/readers';
import { templateFields } from '../../src/data/template';
import { PRESETS, findPreset, presetNames, presetsText } from '../../src/presets';
import { StandInHub } from '../hubServer';
import { loadConfigFile, taskConfig } from '../../extension/commands/configFile';
import { configFileText } from '../../extension/commands/wizardText';
import { ROOT, TINY, tempDir } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const built = fs.existsSync(CLI) ? false : 'dist/cli.js not built (node esbuild.mjs)';

// The columns of each dataset config and its label ids, as the dataset cards publish them (features and ClassLabel
// names): what a template may read and what a label word may be keyed by.
const PUBLISHED: Record<string, { columns: string[]; labels?: string[] }> = {
  'nyu-mll/glue/mnli': { columns: ['premise', 'hypothesis', 'label', 'idx'], labels: ['0', '1', '2'] },
  'nyu-mll/glue/qqp': { columns: ['question1', 'question2', 'label', 'idx'], labels: ['0', '1'] },
  'nyu-mll/glue/qnli': { columns: ['question', 'sentence', 'label', 'idx'], labels: ['0', '1'] },
  'nyu-mll/glue/sst2': { columns: ['sentence', 'label', 'idx'], labels: ['0', '1'] },
  'nyu-mll/glue/stsb': { columns: ['sentence1', 'sentence2', 'label', 'idx'] },
  'nyu-mll/glue/mrpc': { columns: ['sentence1', 'sentence2', 'label', 'idx'], labels: ['0', '1'] },
  'nyu-mll/glue/rte': { columns: ['sentence1', 'sentence2', 'label', 'idx'], labels: ['0', '1'] },
  'nyu-mll/glue/cola': { columns: ['sentence', 'label', 'idx'], labels: ['0', '1'] },
  'aps/super_glue/multirc': { columns: ['paragraph', 'question', 'answer', 'idx', 'label'], labels: ['0', '1'] },
  'aps/super_glue/boolq': { columns: ['question', 'passage', 'idx', 'label'], labels: ['0', '1'] },
  'aps/super_glue/wic': { columns: ['word', 'sentence1', 'sentence2', 'start1', 'start2', 'end1', 'end2', 'idx', 'label'], labels: ['0', '1'] },
  'aps/super_glue/wsc.fixed': { columns: ['text', 'span1_index', 'span2_index', 'span1_text', 'span2_text', 'idx', 'label'], labels: ['0', '1'] },
  'aps/super_glue/cb': { columns: ['premise', 'hypothesis', 'idx', 'label'], labels: ['0', '1', '2'] },
  'mrqa-workshop/mrqa/plain_text': { columns: ['subset', 'context', 'context_tokens', 'qid', 'question', 'question_tokens', 'detected_answers', 'answers'] },
  'allenai/winogrande/winogrande_xl': { columns: ['sentence', 'option1', 'option2', 'answer'], labels: ['1', '2'] },
  'fancyzhx/yelp_polarity/plain_text': { columns: ['label', 'text'], labels: ['0', '1'] },
  'allenai/scitail/tsv_format': { columns: ['premise', 'hypothesis', 'label'], labels: ['entails', 'neutral'] },
  'google-research-datasets/paws/labeled_final': { columns: ['id', 'sentence1', 'sentence2', 'label'], labels: ['0', '1'] },
  'openai/gsm8k/main': { columns: ['question', 'answer'] },
};

/** The paper's 21 tasks and GSM8K, by the names the issue gives them. */
const PAPER_TASKS = ['glue/mnli', 'glue/qqp', 'glue/qnli', 'glue/sst2', 'glue/stsb', 'glue/mrpc', 'glue/rte', 'glue/cola', 'super_glue/multirc', 'super_glue/boolq',
  'super_glue/wic', 'super_glue/wsc', 'super_glue/cb', 'mrqa/natural_questions', 'mrqa/hotpotqa', 'mrqa/searchqa', 'mrqa/newsqa', 'winogrande', 'yelp_polarity',
  'scitail', 'paws', 'gsm8k'];

// ---- Files shaped like the real splits: the published column names and types, label ids as published.

const RTE_SENTENCES = ['The cat sat on the mat.', 'A dog ran in the park.', 'It rained all day.', 'She reads a book.', 'The sun is hot.', 'He plays the piano.'];

function writeParquet(file: string, columns: ColumnSource[]): string {
  parquetWriteFile({ filename: file, columnData: columns });
  return file;
}

/** GLUE RTE: sentence1, sentence2 (strings), label (ClassLabel int64: 0 entailment, 1 not_entailment), idx (int32). */
function rteParquet(file: string, rows: number): string {
  const s1 = Array.from({ length: rows }, (_, i) => RTE_SENTENCES[i % RTE_SENTENCES.length]);
  const s2 = Array.from({ length: rows }, (_, i) => (i % 2 === 0 ? RTE_SENTENCES[i % RTE_SENTENCES.length] : RTE_SENTENCES[(i + 1) % RTE_SENTENCES.length]));
  return writeParquet(file, [
    { name: 'sentence1', data: s1, type: 'STRING' },
    { name: 'sentence2', data: s2, type: 'STRING' },
    { name: 'label', data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i % 2)), type: 'INT64' },
    { name: 'idx', data: Int32Array.from({ length: rows }, (_, i) => i), type: 'INT32' },
  ]);
}

/** MRQA: every subset in one file; `answers` a list of strings (written as a JSON column, read back as a list). */
function mrqaParquet(file: string, subsets: string[]): string {
  const n = subsets.length;
  return writeParquet(file, [
    { name: 'subset', data: subsets, type: 'STRING' },
    { name: 'context', data: subsets.map((s, i) => `${s} passage ${i}: the answer is blue ${i}.`), type: 'STRING' },
    { name: 'qid', data: subsets.map((_, i) => `q${i}`), type: 'STRING' },
    { name: 'question', data: subsets.map((_, i) => `what is the answer ${i}?`), type: 'STRING' },
    { name: 'answers', data: Array.from({ length: n }, (_, i) => [`blue ${i}`, `Blue ${i}`]), type: 'JSON' },
  ]);
}

function run(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const SMALL = ['--steps', '2', '--prompt-length', '4', '--max-length', '48', '--batch-size', '4', '--backend', 'cpu', '--threads', '1', '--eval-every', '0'];

// ---- The table

test('every paper task has a preset; the schema offers exactly these names', () => {
  assert.deepEqual([...presetNames()].sort(), [...PAPER_TASKS].sort());
  assert.deepEqual((CONFIG_SCHEMA.properties as Record<string, { enum?: string[] }>).preset.enum, presetNames(), 'config.schema.json lists the presets in the table order');
  const text = presetsText().split('\n');
  assert.equal(text.length, PRESETS.length + 1);
  assert.match(text.find((l) => l.startsWith('glue/cola '))!, /^glue\/cola\s+nyu-mll\/glue\s+classification\s+matthews_correlation\s+8551\s+1043 \(validation\)$/);
});

test('every preset resolves to a valid config over its dataset\'s published columns and label ids', () => {
  const dir = tempDir();
  for (const p of PRESETS) {
    const published = PUBLISHED[`${p.dataset}/${p.config}`];
    assert.ok(published, `${p.name}: ${p.dataset}/${p.config} is a published config`);
    const config = resolveConfig({ model: TINY, preset: p.name }, dir);
    assert.equal(config.preset, p.name);
    assert.equal(config.train, p.train);
    assert.equal(config.validation, p.validation);
    // The split files as the Hub lays out Parquet: CONFIG/SPLIT-NNNNN-of-NNNNN.parquet (MRQA's train: all its shards).
    const prefix = `hf://datasets/${p.dataset}/${p.config}/`;
    assert.match(config.train, new RegExp(`^${prefix.replace(/[.*/]/g, '\\$&')}train-(\\*|00000-of-00001)\\.parquet$`), p.name);
    assert.equal(config.validation, `${prefix}${p.validationSplit}-00000-of-00001.parquet`, p.name);
    assert.equal(config.task.type, p.task.type);
    assert.equal(config.task.template, p.task.template);
    assert.equal(config.task.targetField, p.task.targetField);
    assert.equal(config.task.metric, p.task.metric);
    assert.deepEqual(config.task.labels, p.task.labels);
    for (const field of [...templateFields(config.task.template), config.task.targetField, ...Object.keys(config.filter ?? {})]) {
      assert.ok(published.columns.includes(field), `${p.name}: "${field}" is a column of ${p.dataset}/${p.config} (${published.columns.join(', ')})`);
    }
    if (config.task.type === 'classification') assert.deepEqual(Object.keys(config.task.labels!), published.labels, `${p.name}: one word per published label id`);
    assert.equal(path.basename(config.out), `${p.name.replace('/', '-')}.ulpt`);
    assert.deepEqual(configProblems(JSON.parse(JSON.stringify(config))), [], `${p.name}: the resolved config passes the schema (as the PyTorch engine checks it)`);
  }
  assert.deepEqual(resolveConfig({ model: TINY, preset: 'mrqa/hotpotqa' }, dir).filter, { subset: 'HotpotQA' });
  assert.deepEqual(resolveConfig({ model: TINY, preset: 'super_glue/multirc' }, dir).task.groupField, ['idx.paragraph', 'idx.question']);
});

test('the user\'s fields override the preset\'s, inside task too; own data does not get the preset\'s validation file', () => {
  const dir = tempDir();
  const rte = findPreset('glue/rte')!;
  const c = resolveConfig({ model: TINY, preset: 'glue/rte', steps: 7, validation: 'val.parquet', task: { template: 'Premise: {sentence1} Hypothesis: {sentence2}', labels: { 0: ' yes', 1: ' no' } } }, dir);
  assert.equal(c.steps, 7);
  assert.equal(c.train, rte.train);
  assert.equal(c.validation, path.join(dir, 'val.parquet'));
  assert.equal(c.task.template, 'Premise: {sentence1} Hypothesis: {sentence2}');
  assert.deepEqual(c.task.labels, { 0: ' yes', 1: ' no' });
  assert.equal(c.task.targetField, 'label', 'what the user did not give inside task still comes from the preset');
  assert.equal(c.task.metric, 'accuracy');

  const own = resolveConfig({ model: TINY, preset: 'glue/rte', train: 'rte.parquet' }, dir);
  assert.equal(own.train, path.join(dir, 'rte.parquet'));
  assert.equal(own.validation, undefined, 'a local train file is not paired with the Hub validation file');
  assert.equal(path.basename(own.out), 'rte.ulpt', 'the adapter is named after the user\'s data');
  const split = resolveConfig({ model: TINY, preset: 'glue/rte', validationSplit: 0.2 }, dir);
  assert.equal(split.validation, undefined);
  assert.equal(split.validationSplit, 0.2);
  assert.deepEqual(resolveConfig({ model: TINY, preset: 'mrqa/newsqa', filter: { subset: 'SQuAD' } }, dir).filter, { subset: 'SQuAD' });
  // A resolved config (a run's config.json) resolves to itself: the preset fills nothing it already has.
  const again = resolveConfig(JSON.parse(JSON.stringify(c)), dir);
  assert.deepEqual(again, c);
});

test('an unknown preset lists the known ones; without a preset, train is required', () => {
  const dir = tempDir();
  assert.throws(() => resolveConfig({ model: TINY, preset: 'glue/rtee' }, dir, 'my.ulpt.json'), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /^my\.ulpt\.json has a problem:\n {2}preset: there is no preset "glue\/rtee"; did you mean glue\/rte\? The presets: glue\/mnli, glue\/qqp, .*, gsm8k /);
    assert.deepEqual(e.problems.map((p) => p.field), ['preset']);
    return true;
  });
  assert.throws(() => resolveConfig({ model: TINY, preset: 'rte' }, dir), /did you mean glue\/rte\?/);
  assert.throws(() => resolveConfig({ model: TINY } as never, dir, 'x.json'), (e: Error) => {
    assert.equal(e.message, 'x.json has a problem:\n  train is required');
    return true;
  });
});

test('a config file with only model and preset (as the wizard saves it) and a tasks.json task load with the preset\'s data', () => {
  const dir = tempDir();
  const file = path.join(dir, 'glue-rte.ulpt.json');
  fs.writeFileSync(file, configFileText({ model: TINY, preset: 'glue/rte', method: 'ulpt', rank: 2, steps: 30, out: path.join(dir, 'adapters', 'glue-rte.ulpt') }, dir));
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).preset, 'glue/rte');
  const loaded = loadConfigFile(file, { defaultBackend: 'cpu' });
  assert.equal(loaded.config.train, findPreset('glue/rte')!.train);
  assert.equal(loaded.config.task.template, findPreset('glue/rte')!.task.template);
  assert.equal(loaded.runName, 'glue-rte');
  const fromTask = taskConfig({ type: 'ulpt', model: TINY, preset: 'super_glue/boolq', steps: 5 }, dir, 'cpu');
  assert.equal(fromTask.config.validation, findPreset('super_glue/boolq')!.validation);
  assert.throws(() => taskConfig({ type: 'ulpt', model: TINY }, dir, 'cpu'), /at least "model" and "train" \(or "preset"\)/);
});

test('ulpt train --preset on local Parquet files shaped like RTE: trains, and the run records the preset and its task', { skip: built }, async () => {
  const dir = tempDir();
  const train = rteParquet(path.join(dir, 'rte-train.parquet'), 24);
  const validation = rteParquet(path.join(dir, 'rte-validation.parquet'), 8);
  assert.deepEqual((await readRecords(train))[1].fields, { sentence1: RTE_SENTENCES[1], sentence2: RTE_SENTENCES[2], label: 1, idx: 1 }, 'the file reads as the real split does');
  const r = await run(['train', '--preset', 'glue/rte', '--model', TINY, '--train', train, '--validation', validation, ...SMALL, '--eval-every', '2', '--out', path.join(dir, 'rte.ulpt'), '--run-dir', path.join(dir, 'run'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const messages = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; examples?: { train: number; validation: number }; metrics?: Record<string, number> });
  assert.deepEqual(messages.find((m) => m.type === 'started')!.examples, { train: 24, validation: 8 });
  const stored = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'config.json'), 'utf8'));
  assert.equal(stored.preset, 'glue/rte');
  assert.equal(stored.task.template, 'rte sentence1: {sentence1} sentence2: {sentence2}');
  assert.deepEqual(stored.task.labels, { 0: ' entailment', 1: ' not_entailment' });
  const evals = fs.readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'eval');
  assert.ok(evals.length >= 1 && typeof evals.at(-1).metrics.accuracy === 'number', 'evaluated by the preset\'s metric');
  if (!fs.existsSync(PYTHON)) return;
  // The PyTorch engine gets the same resolved config (the preset is resolved before the engine is chosen).
  const torch = await run(['train', '--preset', 'glue/rte', '--engine', 'torch', '--model', TINY, '--train', train, '--validation', validation, ...SMALL, '--out', path.join(dir, 'rte-torch.ulpt'), '--run-dir', path.join(dir, 'run-torch'), '--json']);
  assert.equal(torch.code, 0, torch.stderr);
  const torchStored = JSON.parse(fs.readFileSync(path.join(dir, 'run-torch', 'config.json'), 'utf8'));
  for (const key of ['preset', 'train', 'validation', 'task']) assert.deepEqual(torchStored[key], stored[key], key);
  assert.equal(torchStored.engine, 'torch');
});

test('data whose columns are not the preset\'s: the file, the preset and the missing columns are named', { skip: built }, async () => {
  const dir = tempDir();
  // MNLI's columns under the RTE preset.
  const mnli = writeParquet(path.join(dir, 'mnli.parquet'), [
    { name: 'premise', data: ['a', 'b'], type: 'STRING' }, { name: 'hypothesis', data: ['c', 'd'], type: 'STRING' },
    { name: 'label', data: BigInt64Array.from([0n, 2n]), type: 'INT64' }, { name: 'idx', data: Int32Array.from([0, 1]), type: 'INT32' },
  ]);
  const r = await run(['train', '--preset', 'glue/rte', '--model', TINY, '--train', mnli, ...SMALL, '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(dir, 'run')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${mnli.replace(/[.*/]/g, '\\$&')}: the preset glue/rte \\(nyu-mll/glue, rte\\) reads the columns sentence1, sentence2, which this file does not have \\(its columns: premise, hypothesis, label, idx\\)`));
});

test('mrqa presets keep their subset (the PyTorch engine\'s preparation, export-job, included); a subset absent names those present', { skip: built }, async () => {
  const dir = tempDir();
  const file = mrqaParquet(path.join(dir, 'mrqa.parquet'), ['SearchQA', 'HotpotQA', 'SearchQA', 'HotpotQA', 'HotpotQA', 'SearchQA', 'HotpotQA']);
  const job = await run(['export-job', '--preset', 'mrqa/hotpotqa', '--model', TINY, '--train', file, '--validation', file, '--max-length', '48', '--prompt-length', '4', '--out', path.join(dir, 'job'), '--json']);
  assert.equal(job.code, 0, job.stderr);
  assert.deepEqual(JSON.parse(job.stdout).examples, { train: 4, validation: 4 }, 'the four HotpotQA records of seven');
  const shippedFile = path.join(dir, 'job', 'job', 'config.json');
  const shipped = JSON.parse(fs.readFileSync(shippedFile, 'utf8'));
  assert.equal(shipped.preset, 'mrqa/hotpotqa');
  assert.deepEqual(shipped.filter, { subset: 'HotpotQA' });
  assert.equal(shipped.task.metric, 'squad');
  if (fs.existsSync(PYTHON)) {
    // The PyTorch engine validates the job's config against the schema shipped with it: preset and filter pass.
    const check = spawnSync(PYTHON, ['-c', 'import json,sys; from ulpt_torch.config import check_config; check_config(json.load(open(sys.argv[1])), sys.argv[1]); print("ok")', shippedFile],
      { env: { ...process.env, PYTHONPATH: path.join(dir, 'job', 'python'), ULPT_CONFIG_SCHEMA: path.join(dir, 'job', 'python', 'ulpt_torch', 'config.schema.json') }, encoding: 'utf8' });
    assert.equal(check.stdout.trim(), 'ok', check.stderr);
  }
  const none = await run(['export-job', '--preset', 'mrqa/newsqa', '--model', TINY, '--train', file, '--max-length', '48', '--prompt-length', '4', '--out', path.join(dir, 'job2')]);
  assert.equal(none.code, 1, none.stderr);
  assert.match(none.stderr, /no record is left by filter \{"subset":"NewsQA"\}: none has subset = "NewsQA" \(its values there: SearchQA, HotpotQA\)/);
});

// ---- Through the stand-in Hub, by the preset's own hf:// paths

let hub: StandInHub;
let hubFiles: string;
before(async () => {
  hubFiles = tempDir('ulpt-preset-hub-');
  const read = (f: string) => new Uint8Array(fs.readFileSync(f));
  hub = await new StandInHub([
    { type: 'dataset', id: 'nyu-mll/glue', revisions: { main: {
      'README.md': Buffer.from('# GLUE\n'),
      'rte/train-00000-of-00001.parquet': read(rteParquet(path.join(hubFiles, 'rte-train.parquet'), 16)),
      'rte/validation-00000-of-00001.parquet': read(rteParquet(path.join(hubFiles, 'rte-validation.parquet'), 6)),
    } } },
    // MRQA's layout: one split in shards, every subset mixed (the preset's train is plain_text/train-*.parquet).
    { type: 'dataset', id: 'mrqa-workshop/mrqa', revisions: { main: {
      'plain_text/train-00000-of-00002.parquet': read(mrqaParquet(path.join(hubFiles, 'mrqa-0.parquet'), ['HotpotQA', 'SQuAD', 'HotpotQA'])),
      'plain_text/train-00001-of-00002.parquet': read(mrqaParquet(path.join(hubFiles, 'mrqa-1.parquet'), ['NewsQA', 'HotpotQA'])),
      'plain_text/validation-00000-of-00001.parquet': read(mrqaParquet(path.join(hubFiles, 'mrqa-v.parquet'), ['HotpotQA', 'SearchQA'])),
    } } },
  ]).start(600_000);
});
after(() => hub.stop());

test('ulpt train --preset glue/rte fetches the preset\'s files from the (stand-in) Hub and records where they came from', { skip: built }, async () => {
  const dir = tempDir();
  const home = tempDir('ulpt-preset-home-');
  const env = { PATH: process.env.PATH, HOME: home, HF_HOME: home, HF_HUB_CACHE: path.join(home, 'hub'), HF_ENDPOINT: hub.endpoint };
  const r = await run(['train', '--preset', 'glue/rte', '--model', TINY, ...SMALL, '--out', path.join(dir, 'rte.ulpt'), '--run-dir', path.join(dir, 'run'), '--json'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  const started = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((m) => m.type === 'started');
  assert.deepEqual(started.examples, { train: 16, validation: 6 });
  const stored = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'config.json'), 'utf8'));
  const commit = hub.commitOf('dataset', 'nyu-mll/glue');
  assert.equal(stored.train, path.join(home, 'hub', 'datasets--nyu-mll--glue', 'snapshots', commit, 'rte', 'train-00000-of-00001.parquet'));
  assert.deepEqual(stored.hub.train, { ref: 'hf://datasets/nyu-mll/glue/rte/train-00000-of-00001.parquet', type: 'dataset', repo: 'nyu-mll/glue', revision: 'main', commit, path: 'rte/train-00000-of-00001.parquet' });
  assert.equal(stored.hub.validation.path, 'rte/validation-00000-of-00001.parquet');
  assert.equal(stored.preset, 'glue/rte');
  // eval --preset: the preset's evaluation split, now from the cache.
  const evaluated = await run(['eval', '--model', TINY, '--adapter', path.join(dir, 'rte.ulpt'), '--preset', 'glue/rte', '--backend', 'cpu', '--json'], { ...env, HF_HUB_OFFLINE: '1' }, dir);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const scores = JSON.parse(evaluated.stdout);
  assert.equal(scores.examples, 6);
  assert.equal(typeof scores.accuracy, 'number');
});

test('mrqa/hotpotqa from the (stand-in) Hub: every shard of the train split, one subset kept', { skip: built }, async () => {
  const dir = tempDir();
  const home = tempDir('ulpt-preset-home-');
  const env = { PATH: process.env.PATH, HOME: home, HF_HOME: home, HF_HUB_CACHE: path.join(home, 'hub'), HF_ENDPOINT: hub.endpoint };
  const job = await run(['export-job', '--preset', 'mrqa/hotpotqa', '--model', TINY, '--max-length', '48', '--prompt-length', '4', '--out', path.join(dir, 'job'), '--json'], env, dir);
  assert.equal(job.code, 0, job.stderr);
  assert.deepEqual(JSON.parse(job.stdout).examples, { train: 3, validation: 1 }, 'two HotpotQA records in the first shard, one in the second; one in validation');
});
