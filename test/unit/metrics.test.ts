// The paper's task metrics (issue 19): each function on edge cases worked out by hand, the config rules that pair
// metrics with task types, the per-example facts the metrics read (gold answers, question groups, numeric
// targets), and a run whose best adapter is picked by F1. python/tests/test_metrics.py checks the same functions
// against scikit-learn, SciPy and torchmetrics, and the Python engine's copies against them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configFromFlags } from '../../src/cli';
import { ConfigError, resolveConfig, type TaskConfig } from '../../src/config';
import { buildExamples, DatasetError, type DataRecord } from '../../src/data';
import {
  averageRanks, binaryF1, gsm8kAnswer, gsm8kExactMatch, lastNumber, matthewsCorrelation, multircScores, normalizeAnswer,
  parseNumber, pearson, regressionScores, spearman, squadScores, tokenF1,
} from '../../src/data/metrics';
import type { TextTokenizer } from '../../src/models/tokenizer';
import type { MetricsLine } from '../../src/protocol';
import { readAdapter } from '../../src/io/adapter';
import { spawnSync } from 'node:child_process';
import { prepareJob, writePreparedJob } from '../../src/engine/prepare';
import { startTorchRun } from '../../src/engine/torchEngine';
import { classificationMetrics, generationMetrics, primaryMetric } from '../../src/train/evaluate';
import { train } from '../../src/train/trainer';
import { inputChanges } from '../../src/train/inputs';
import { backend, ROOT, tempDir, TINY } from './helpers';

const close = (a: number, b: number, what = '') => assert.ok(Math.abs(a - b) < 1e-12, `${what} ${a} ≠ ${b}`);

test('binary F1 of the positive label: hand-counted TP/FP/FN, 0 when the positive class is never predicted nor gold', () => {
  // positive 1: TP 2 (i 1, 4), FP 1 (i 2), FN 1 (i 3) → 4 / (4 + 1 + 1)
  close(binaryF1([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], 1), 4 / 6);
  close(binaryF1([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], 0), 2 / 4); // TP 1, FP 1, FN 1
  assert.equal(binaryF1([0, 0, 0], [0, 0, 0], 1), 0); // the class is absent from both
  assert.equal(binaryF1([1, 1], [0, 0], 1), 0); // only false positives
  close(binaryF1([2, 1, 0], [2, 2, 0], 2), 2 / 3); // one class of three against the rest
});

test('Matthews correlation: the binary formula, 0 for a single predicted class, and the multiclass R_K', () => {
  // TP 2, TN 2, FP 1, FN 0 → (2·2 − 1·0) / sqrt(3·2·3·2)
  close(matthewsCorrelation([0, 1, 1, 0, 1], [0, 1, 0, 0, 1]), 4 / 6);
  assert.equal(matthewsCorrelation([1, 1, 1, 1], [0, 1, 0, 1]), 0); // all one class predicted: 0/0 → 0
  assert.equal(matthewsCorrelation([0, 1, 0, 1], [1, 1, 1, 1]), 0); // all one class gold
  close(matthewsCorrelation([1, 0, 1, 0], [0, 1, 0, 1]), -1);
  // 3 classes, s 6, p = t = (2,2,2), Σ p·t = 12: c 3 → (18 − 12) / (36 − 12) = 0.25; c 4 → (24 − 12) / 24 = 0.5
  close(matthewsCorrelation([0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 2, 0]), 0.25);
  close(matthewsCorrelation([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 1]), 0.5);
});

test('Pearson and Spearman: hand values with ties, 0 for a constant side, ranks averaged over ties', () => {
  close(pearson([1, 2, 3], [2, 4, 6]), 1);
  close(pearson([1, 2, 3], [3, 2, 1]), -1);
  assert.equal(pearson([2, 2, 2], [1, 2, 3]), 0);
  assert.deepEqual(averageRanks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
  // ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): Σdxdy 4.5, Σdx² 4.5, Σdy² 5
  close(spearman([1, 2, 2, 3], [1, 2, 3, 4]), 4.5 / Math.sqrt(4.5 * 5));
  close(spearman([1, 10, 100], [3, 4, 50]), 1);
});

test('a generated number is the whole trimmed text; an unreadable one counts as the far end of the gold range', () => {
  assert.equal(parseNumber(' 3.8\n'), 3.8);
  assert.equal(parseNumber('-1'), -1);
  assert.equal(parseNumber('.5'), 0.5);
  for (const bad of ['3.8 points', 'four', '', '1,000', '1e999', 'NaN', 'Infinity', '0x10']) assert.equal(parseNumber(bad), null, bad);
  // "x" has gold 5 (above the middle 2.5 of 0…5): it counts as 0; "?" has gold 1: it counts as 5.
  const scores = regressionScores(['0', 'x', '2', '?'], [0, 5, 2, 1]);
  close(scores.pearson, pearson([0, 0, 2, 5], [0, 5, 2, 1]));
  close(scores.spearmanr, spearman([0, 0, 2, 5], [0, 5, 2, 1]));
  const right = regressionScores(['0', '5', '2', '1'], [0, 5, 2, 1]);
  assert.ok(scores.pearson < right.pearson && scores.spearmanr < right.spearmanr);
  // All unreadable: golds 1, 2 (not above the middle 2) count as 3, gold 3 as 1 — strongly negative, never a help.
  close(regressionScores(['a', 'b', 'c'], [1, 2, 3]).pearson, pearson([3, 3, 1], [1, 2, 3]));
  assert.ok(regressionScores(['a', 'b', 'c'], [1, 2, 3]).spearmanr < -0.8);
});

test('SQuAD: normalisation, token F1, the best over several gold answers, fractions', () => {
  assert.equal(normalizeAnswer('The  Cat\'s, a HAT!'), 'cats hat');
  assert.equal(normalizeAnswer('théâtre the end'), 'théâtre end');
  assert.equal(normalizeAnswer('éthe an\u00a0x'), 'éthe x'); // "the" inside a word stays (Unicode word boundaries)
  close(tokenF1('the cat sat', 'a cat sat on'), 0.8); // P 2/2, R 2/3
  assert.equal(tokenF1('the', 'a'), 1); // both normalise to nothing
  assert.equal(tokenF1('', 'cat'), 0);
  const s = squadScores(['the cat sat', ' Dog.'], [['a cat sat on', 'cat'], ['Dog!', 'wolf']]);
  close(s.exact_match, 0.5);
  close(s.f1, 0.9); // (0.8 + 1) / 2
});

test('MultiRC: F1a over every option, exact match per question', () => {
  const groups = ['q1', 'q1', 'q1', 'q2', 'q2', 'q3'];
  const gold = [1, 0, 1, 0, 0, 1];
  const pred = [1, 0, 1, 1, 0, 0]; // q1 all right; q2 one wrong; q3 wrong
  const s = multircScores(pred, gold, groups, 1);
  close(s.exact_match, 1 / 3);
  close(s.f1_a, binaryF1(pred, gold, 1)); // TP 2, FP 1, FN 1
  close(s.f1_a, 4 / 6);
});

test('GSM8K: the gold number after "####", the prediction\'s last number, commas and signs', () => {
  assert.equal(lastNumber('so she pays $1,250.'), '1250');
  assert.equal(lastNumber('it drops to -5 degrees'), '-5');
  assert.equal(lastNumber('pages 3-4'), '4'); // a hyphen between digits is no minus sign
  assert.equal(lastNumber('no digits'), null);
  assert.equal(gsm8kAnswer('48/2 = 24 apples\n#### 1,000'), '1000');
  assert.equal(gsm8kAnswer('#### -3'), '-3');
  const gold = ['a\n#### 1,000', 'b #### -3', 'c #### 7', 'd #### 12'];
  close(gsm8kExactMatch(['… #### 1000', 'it is -3.0', 'seven', '12 then 13'], gold), 0.5);
});

test('each metric goes with its task type, and primaryMetric names the key that picks the best adapter', () => {
  const dir = tempDir();
  const base = { model: TINY, train: path.join(dir, 't.jsonl') };
  const cls = (task: Partial<TaskConfig>) => resolveConfig({ ...base, task: { type: 'classification', ...task } }, dir);
  const gen = (task: Partial<TaskConfig>) => resolveConfig({ ...base, task: { type: 'generation', ...task } }, dir);
  assert.equal(cls({}).task.metric, 'accuracy');
  assert.equal(gen({}).task.metric, 'exact_match');
  assert.throws(() => gen({ metric: 'matthews_correlation' }), (e: ConfigError) => e.problems[0].field === 'task.metric' && /is for classification tasks/.test(e.message) && /got "matthews_correlation"/.test(e.message));
  assert.throws(() => cls({ metric: 'squad' }), /task.metric is for generation tasks/);
  assert.throws(() => cls({ metric: 'multirc' }), /task.groupField is required by the metric "multirc"/);
  assert.throws(() => cls({ positiveLabel: '1' }), /task.positiveLabel is read only by the metrics f1 and multirc/);
  assert.throws(() => gen({ answersField: 'answers' }), /task.answersField is read only by the metric squad/);
  assert.throws(() => resolveConfig({ ...base, task: { type: 'generation', metric: 'bleu' as never } }, dir), /task.metric must be one of: accuracy, f1/);
  // On the command line: --metric, named as the user wrote it.
  assert.equal(configFromFlags({ model: TINY, train: base.train, task: 'classification', metric: 'matthews_correlation' } as never).config.task.metric, 'matthews_correlation');
  assert.throws(() => configFromFlags({ model: TINY, train: base.train, metric: 'f1' } as never), /--metric is for classification tasks .*got "f1"/);
  const keys: [Partial<TaskConfig>, string][] = [
    [{ type: 'classification' }, 'accuracy'], [{ type: 'classification', metric: 'f1' }, 'f1'], [{ type: 'classification', metric: 'matthews_correlation' }, 'matthews_correlation'],
    [{ type: 'classification', metric: 'multirc' }, 'f1_a'], [{ type: 'generation' }, 'exact_match'], [{ type: 'generation', metric: 'squad' }, 'f1'],
    [{ type: 'generation', metric: 'gsm8k' }, 'exact_match'], [{ type: 'generation', metric: 'pearson' }, 'pearson'], [{ type: 'generation', metric: 'spearmanr' }, 'spearmanr'],
  ];
  for (const [task, key] of keys) assert.equal(primaryMetric(task as TaskConfig), key, JSON.stringify(task));
});

/** One id per character; EOS 0. */
const charTok: TextTokenizer = { encode: (t) => [...t].map((c) => c.codePointAt(0)!), decode: (ids) => String.fromCodePoint(...ids), eosId: 0, padId: 0, vocabSize: 0x110000 };
const rec = (fields: Record<string, unknown>, line: number): DataRecord => ({ where: { file: 'data.jsonl', line, label: `line ${line}` }, fields });
const genTask = (over: Partial<TaskConfig>): TaskConfig => ({ type: 'generation', template: '{q}', inputField: 'q', targetField: 'answers', ...over });

test('the examples carry what the metric reads: gold answer lists, question groups; bad records are named', () => {
  // squad: MRQA's list of answers trains on the first; SQuAD's answers.text through answersField.
  const mrqa = buildExamples([rec({ q: 'who?', answers: ['Ann', 'Ann Lee'] }, 1)], genTask({ metric: 'squad' }), charTok, 64);
  assert.equal(mrqa[0].targetText, 'Ann');
  assert.deepEqual(mrqa[0].answers, ['Ann', 'Ann Lee']);
  const squad = buildExamples([rec({ q: 'who?', a: 'Bo', answers: { text: ['Bo', 'Bob'], answer_start: [0, 0] } }, 1)], genTask({ metric: 'squad', targetField: 'a', answersField: 'answers.text' }), charTok, 64);
  assert.deepEqual(squad[0].answers, ['Bo', 'Bob']);
  assert.throws(() => buildExamples([rec({ q: 'x', answers: ['a', 'b'] }, 3)], genTask({}), charTok, 64), /line 3.*field "answers" is an array/s);
  // multirc: questions keyed by the dotted fields together.
  const multirc: TaskConfig = { type: 'classification', template: '{q}', inputField: 'q', targetField: 'label', metric: 'multirc', groupField: ['idx.paragraph', 'idx.question'] };
  const records = [rec({ q: 'a', label: 1, idx: { paragraph: 0, question: 0 } }, 1), rec({ q: 'b', label: 0, idx: { paragraph: 0, question: 0 } }, 2), rec({ q: 'c', label: 0, idx: { paragraph: 1, question: 0 } }, 3)];
  const groups = buildExamples(records, multirc, charTok, 64).map((e) => e.group);
  assert.equal(groups[0], groups[1]);
  assert.notEqual(groups[0], groups[2]);
  assert.throws(() => buildExamples([rec({ q: 'a', label: 1, idx: {} }, 4)], multirc, charTok, 64), (e: DatasetError) => /line 4/.test(e.message) && /field "idx.paragraph" is missing/.test(e.message));
  assert.throws(() => buildExamples(records, { ...multirc, positiveLabel: 'yes' }, charTok, 64), /task.positiveLabel "yes" is not one of the task's labels \(0, 1\)/);
  // Numeric and GSM8K targets are checked before training.
  assert.throws(() => buildExamples([rec({ q: 'x', answers: 'high' }, 5)], genTask({ metric: 'pearson' }), charTok, 64), /line 5.*"high".*not a number.*pearson/s);
  assert.throws(() => buildExamples([rec({ q: 'x', answers: 'no answer' }, 6)], genTask({ metric: 'gsm8k' }), charTok, 64), /line 6.*has no number.*gsm8k/s);
});

test('evaluation reports each metric\'s keys, with the positive label by name or the default ("1", else the second)', () => {
  const ex = (label: number, group?: string) => ({ inputIds: [1], targetIds: [1], label, targetText: '', ...(group ? { group } : {}) });
  const examples = [ex(0, 'a'), ex(1, 'a'), ex(1, 'b'), ex(0, 'b')];
  const preds = [0, 1, 0, 0];
  assert.deepEqual(classificationMetrics({ type: 'classification', metric: 'f1' }, ['0', '1'], preds, examples), { f1: binaryF1(preds, [0, 1, 1, 0], 1), accuracy: 0.75 });
  // Names without "1": the second is positive; positiveLabel picks another.
  assert.equal(classificationMetrics({ type: 'classification', metric: 'f1' }, ['no', 'yes'], preds, examples).f1, binaryF1(preds, [0, 1, 1, 0], 1));
  assert.equal(classificationMetrics({ type: 'classification', metric: 'f1', positiveLabel: 'no' }, ['no', 'yes'], preds, examples).f1, binaryF1(preds, [0, 1, 1, 0], 0));
  assert.deepEqual(Object.keys(classificationMetrics({ type: 'classification', metric: 'matthews_correlation' }, ['0', '1'], preds, examples)), ['matthews_correlation', 'accuracy']);
  assert.deepEqual(classificationMetrics({ type: 'classification', metric: 'multirc' }, ['0', '1'], preds, examples), { f1_a: 2 / 3, exact_match: 0.5 });
  assert.deepEqual(Object.keys(classificationMetrics({ type: 'classification' }, ['0', '1'], preds, examples)), ['accuracy', 'macro_f1']);
  const gen = (targetText: string, answers?: string[]) => ({ inputIds: [1], targetIds: [1], targetText, ...(answers ? { answers } : {}) });
  assert.deepEqual(generationMetrics({ type: 'generation', metric: 'squad' }, [' Ann.'], [gen('Ann', ['Ann', 'Ann Lee'])]), { exact_match: 1, f1: 1 });
  assert.deepEqual(generationMetrics({ type: 'generation', metric: 'gsm8k' }, [' so 4,000'], [gen('x #### 4000')]), { exact_match: 1 });
  assert.deepEqual(Object.keys(generationMetrics({ type: 'generation', metric: 'spearmanr' }, [' 1', '2'], [gen('1'), gen('3')])), ['pearson', 'spearmanr']);
  // A decoder-only model writes the task's separator before each answer: a non-whitespace one is not scored.
  const sep = { type: 'generation', separator: ' => ' } as const;
  assert.deepEqual(generationMetrics(sep, [' => 42', '=> 7 ', ' 42', ' => 5'], [gen('42'), gen('7'), gen('42'), gen('6')]), { exact_match: 0.75 });
  assert.deepEqual(generationMetrics({ ...sep, metric: 'gsm8k' }, [' => 3'], [gen('x #### 3')]), { exact_match: 1 });
  assert.deepEqual(generationMetrics({ type: 'generation' }, [' => 42'], [gen('42')]), { exact_match: 0 }, 'without the separator setting nothing is taken off');
});

const WORDS = ['apple', 'stone', 'river', 'cloud', 'light', 'green', 'happy', 'quiet', 'sharp', 'blue'];

/** `records` as a JSON Lines file in `dir`; its path. */
function writeJsonl(dir: string, name: string, records: Record<string, unknown>[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

/** A two-label task for the tiny model: is the first word before the second in WORDS? */
function orderDataset(dir: string): string {
  return writeJsonl(dir, 'order.jsonl', Array.from({ length: 40 }, (_, i) => {
    const [a, b] = [i % 10, (i * 7 + 3) % 10];
    return { input: `${WORDS[a]} ${WORDS[b]} =`, label: a < b ? 1 : 0 };
  }));
}

test('a run with task.metric "f1" reports f1 in metrics.jsonl and summary.json and keeps the adapter with the best F1', async () => {
  const dir = tempDir();
  const config = resolveConfig({
    model: TINY, train: orderDataset(dir), validationSplit: 0.3, steps: 24, evalEvery: 4, checkpointEvery: 0, lr: 0.3, batchSize: 4, maxLength: 24,
    promptLength: 4, backend: 'cpu', threads: 1, out: path.join(dir, 'out.ulpt'), task: { type: 'classification', metric: 'f1' },
  }, dir);
  const runDir = path.join(dir, 'run');
  const summary = await train(config, { runDir, backend: await backend() });
  const evals = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine).filter((m) => m.type === 'eval');
  assert.equal(evals.length, 7); // steps 0, 4, …, 24
  for (const e of evals) {
    assert.equal(e.metric, 'f1');
    assert.deepEqual(Object.keys(e.metrics).sort(), ['accuracy', 'f1']);
    assert.equal(e.value, e.metrics.f1);
  }
  // The best: the highest F1, ties to the lower loss (the trainer's rule), recomputed from the file.
  const best = evals.reduce((b, e) => (e.metrics.f1 > b.metrics.f1 || (e.metrics.f1 === b.metrics.f1 && e.loss < b.loss) ? e : b));
  assert.equal(summary.bestStep, best.step);
  const onDisk = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
  assert.equal(onDisk.metric, 'f1');
  assert.equal(onDisk.best.f1, best.metrics.f1);
  assert.equal(onDisk.bestStep, best.step);
  const adapter = readAdapter(path.join(runDir, 'best.ulpt'));
  assert.equal(adapter.meta.metrics.f1, best.metrics.f1);
  assert.equal(adapter.meta.training.steps_done, best.step);
  assert.equal((adapter.meta.training.task as TaskConfig).metric, 'f1');
  assert.ok(new Set(evals.map((e) => e.metrics.f1)).size > 1, `F1 never changed: ${evals.map((e) => e.metrics.f1).join(', ')}`);
});

/** MultiRC-shaped records (SuperGLUE's fields: idx.paragraph / idx.question / idx.answer, label 0/1) for the tiny model. */
function multircDataset(dir: string): string {
  return writeJsonl(dir, 'multirc.jsonl', Array.from({ length: 48 }, (_, i) => {
    const [q, a] = [Math.floor(i / 3), i % 3];
    const answer = WORDS[(q * 3 + a * 7) % 10];
    return { question: WORDS[q % 10], answer, idx: { paragraph: Math.floor(q / 4), question: q % 4, answer: a }, label: answer < WORDS[q % 10] ? 1 : 0 };
  }));
}

test('the PyTorch engine scores MultiRC as the built-in engine does: question groups and the positive label travel in the prepared job', async () => {
  const dir = tempDir();
  const config = resolveConfig({
    model: TINY, train: multircDataset(dir), validationSplit: 0.5, steps: 8, evalEvery: 4, checkpointEvery: 0, lr: 0.3, batchSize: 4, maxLength: 24,
    promptLength: 4, backend: 'cpu', threads: 1, out: path.join(dir, 'out.ulpt'),
    task: { type: 'classification', template: '{question} {answer} =', metric: 'multirc', groupField: ['idx.paragraph', 'idx.question'] },
  }, dir);
  const builtin = await train(config, { runDir: path.join(dir, 'builtin'), backend: await backend() });
  const torch = await (await startTorchRun(config, { runDir: path.join(dir, 'torch'), env: { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' } })).result;
  assert.equal(torch.code, 0);
  const evalsOf = (run: string) => fs.readFileSync(path.join(dir, run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsLine)
    .filter((m): m is Extract<MetricsLine, { type: 'eval' }> => m.type === 'eval');
  const [a, b] = [evalsOf('builtin'), evalsOf('torch')];
  assert.deepEqual(b.map((e) => e.step), a.map((e) => e.step));
  a.forEach((e, i) => {
    assert.equal(e.metric, 'f1_a');
    assert.equal(b[i].metric, 'f1_a');
    assert.deepEqual(Object.keys(b[i].metrics).sort(), ['exact_match', 'f1_a']);
    for (const k of ['f1_a', 'exact_match']) assert.ok(Math.abs(b[i].metrics[k] - e.metrics[k]) < 1e-12, `step ${e.step} ${k}: torch ${b[i].metrics[k]} vs built-in ${e.metrics[k]}`);
  });
  assert.equal(torch.summary!.metric, 'f1_a');
  assert.equal(torch.summary!.bestStep, builtin.bestStep);
});

test('a prepared SQuAD job carries every gold answer and the metric to the PyTorch engine, which scores it as the built-in one', async () => {
  const dir = tempDir();
  const rows = [{ q: 'apple stone', answers: ['stone', 'a stone'] }, { q: 'river cloud', answers: ['cloud'] }, { q: 'green blue', answers: ['blue', 'the blue', 'sky'] }, { q: 'happy quiet', answers: ['quiet'] }];
  const file = path.join(dir, 'qa.jsonl');
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const config = resolveConfig({ model: TINY, train: file, validation: file, maxLength: 24, promptLength: 4, task: { type: 'generation', template: '{q} =', targetField: 'answers', metric: 'squad' } }, dir);
  const job = await prepareJob(config);
  writePreparedJob(dir, job, false);
  // The Python engine's reading of the job, and its metrics on fixed predictions.
  const predictions = [' stone', ' The Cloud!', ' sky blue', ''];
  const script = `import json, sys
from ulpt_torch.io.prepared import read_prepared
from ulpt_torch.train.evaluate import generation_metrics, primary_metric
job = read_prepared(sys.argv[1], with_decoder=False)
print(json.dumps({"answers": job.validation.answers, "metric": primary_metric(job.config["task"]), "scores": generation_metrics(job.config["task"], json.loads(sys.argv[2]), job.validation)}))`;
  const python = path.join(ROOT, '.venv', 'bin', 'python');
  const done = spawnSync(python, ['-c', script, path.join(dir, 'prepared.safetensors'), JSON.stringify(predictions)], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') } });
  assert.equal(done.status, 0, done.stderr);
  const got = JSON.parse(done.stdout);
  assert.deepEqual(got.answers, rows.map((r) => r.answers));
  assert.equal(got.metric, 'f1');
  assert.deepEqual(got.scores, generationMetrics(config.task, predictions, job.data.validation));
  assert.deepEqual(got.scores, squadScores(predictions, rows.map((r) => r.answers)));
});

test('a checkpoint from before task.metric existed resumes as the same run: its task scored by the default metric', () => {
  const task = { type: 'classification', template: '{input}', inputField: 'input', targetField: 'label' };
  const inputs = (t: object) => ({ settings: { task: t, lr: 0.01 }, data: {}, model: {} });
  assert.deepEqual(inputChanges(inputs(task), inputs({ ...task, metric: 'accuracy' })), { changed: [], noted: [] });
  const changed = inputChanges(inputs(task), inputs({ ...task, metric: 'f1' })).changed;
  assert.equal(changed.length, 1);
  assert.match(changed[0], /^setting task: /);
});
