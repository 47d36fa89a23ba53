// Dataset reading, templates, example building, splitting and metrics: what a user sees when their data is
// right (same records from every format) and when it is wrong (messages that name file, line, field, expectation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import type { TaskConfig } from '../../src/config';
import type { TextTokenizer } from '../../src/models/tokenizer';
import {
  accuracy, buildExamples, DatasetError, exactMatch, fillTemplate, macroF1, readRecords, resolveLabels,
  splitValidation, templateFields, type DataRecord,
} from '../../src/data';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-data-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

/** One id per character (its code point); EOS is 0. Enough to test data logic without a real vocabulary. */
const charTok: TextTokenizer = {
  encode: (text) => [...text].map((c) => c.codePointAt(0)!),
  decode: (ids) => String.fromCodePoint(...ids),
  eosId: 0,
  padId: 0,
  vocabSize: 0x110000,
};

function task(over: Partial<TaskConfig> = {}): TaskConfig {
  return { type: 'classification', template: '{input}', inputField: 'text', targetField: 'label', ...over };
}

function rec(fields: Record<string, unknown>, line = 1): DataRecord {
  return { where: { file: 'train.jsonl', line, label: `line ${line}` }, fields };
}

async function rejects(p: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<DatasetError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return e as DatasetError;
  }
  assert.fail(`expected an error matching ${pattern}`);
}

// ---- Every format reads the same three records.

const THREE = [
  { text: 'good, very good', label: 'pos' },
  { text: 'bad\nreally bad', label: 'neg' },
  { text: 'say "hi"', label: 'pos' },
];

test('jsonl, json, csv, tsv and parquet give the same records', async () => {
  const files = {
    jsonl: write('three.jsonl', THREE.map((r) => JSON.stringify(r)).join('\n') + '\n\n'),
    json: write('three.json', JSON.stringify(THREE, null, 2)),
    csv: write('three.csv', 'text,label\n"good, very good",pos\n"bad\nreally bad",neg\n"say ""hi""",pos\n'),
    // TSV: quotes inside text stay literal; a value with a line break is quoted.
    tsv: write('three.tsv', 'text\tlabel\ngood, very good\tpos\n"bad\nreally bad"\tneg\nsay "hi"\tpos\n'),
    parquet: path.join(dir, 'three.parquet'),
  };
  parquetWriteFile({ filename: files.parquet, columnData: [
    { name: 'text', data: THREE.map((r) => r.text), type: 'STRING' },
    { name: 'label', data: THREE.map((r) => r.label), type: 'STRING' },
  ] });
  for (const [format, file] of Object.entries(files)) {
    const records = await readRecords(file);
    assert.deepEqual(records.map((r) => r.fields), THREE, format);
  }
  const where = async (file: string) => (await readRecords(file)).map((r) => r.where.label);
  assert.deepEqual(await where(files.jsonl), ['line 1', 'line 2', 'line 3']);
  assert.deepEqual(await where(files.csv), ['line 2', 'line 3', 'line 5'], 'CSV counts the line a record starts on');
  assert.deepEqual(await where(files.json), ['record 1', 'record 2', 'record 3']);
  assert.deepEqual(await where(files.parquet), ['row 1', 'row 2', 'row 3']);
});

test('the format can be given when the extension says nothing', async () => {
  const file = write('three.txt', THREE.map((r) => JSON.stringify(r)).join('\n'));
  await rejects(readRecords(file), /three\.txt: cannot tell the format from the extension "\.txt"/);
  assert.equal((await readRecords(file, { format: 'jsonl' })).length, 3);
});

test('CSV line numbers survive CRLF line ends, a BOM and blank lines', async () => {
  const file = write('crlf.csv', '\uFEFFtext,label\r\n"two\r\nlines",pos\r\n\r\nplain,neg\r\n');
  const records = await readRecords(file);
  assert.deepEqual(records.map((r) => r.fields), [{ text: 'two\r\nlines', label: 'pos' }, { text: 'plain', label: 'neg' }]);
  assert.deepEqual(records.map((r) => r.where.line), [2, 5]);
});

test('JSON: records under a single array key, and JSON Lines saved as .json, are read and noted', async () => {
  const notes: string[] = [];
  const wrapped = write('wrapped.json', JSON.stringify({ version: 1, data: THREE }));
  assert.deepEqual((await readRecords(wrapped, { onNote: (m) => notes.push(m) })).map((r) => r.fields), THREE);
  assert.match(notes[0], /read the 3 records of its "data" array/);
  const lines = write('lines.json', THREE.map((r) => JSON.stringify(r)).join('\n'));
  assert.deepEqual((await readRecords(lines, { onNote: (m) => notes.push(m) })).map((r) => r.fields), THREE);
  assert.match(notes[1], /read as JSON Lines/);
  const two = write('two.json', JSON.stringify({ a: [], b: [] }));
  await rejects(readRecords(two), /expected a JSON array of objects .* several arrays \("a", "b"\)/);
});

test('Parquet 64-bit integers become numbers when exact, else strings', async () => {
  const file = path.join(dir, 'ints.parquet');
  parquetWriteFile({ filename: file, columnData: [
    { name: 'id', data: [7n, 2n ** 60n], type: 'INT64' },
    { name: 'text', data: ['a', 'b'], type: 'STRING' },
  ] });
  const records = await readRecords(file);
  assert.deepEqual(records.map((r) => r.fields), [{ id: 7, text: 'a' }, { id: '1152921504606846976', text: 'b' }]);
});

test('Parquet 32-bit floats read as the shortest decimal of the same float32 (STS-B\'s 3.8 is "3.8", not 3.799999952316284); doubles as they are', async () => {
  const file = path.join(dir, 'floats.parquet');
  parquetWriteFile({ filename: file, columnData: [
    { name: 'label', data: [3.8, 0.2, 5, 1 / 3], type: 'FLOAT' },
    { name: 'score', data: [3.8, 0.1, 2, 1 / 3], type: 'DOUBLE' },
  ] });
  const fields = (await readRecords(file)).map((r) => r.fields);
  assert.deepEqual(fields.map((f) => f.label), [3.8, 0.2, 5, 0.33333334]);
  [3.8, 0.2, 5, 1 / 3].forEach((x, i) => assert.equal(Math.fround(fields[i].label as number), Math.fround(x), 'the same float32 as written'));
  assert.deepEqual(fields.map((f) => String(f.label)), ['3.8', '0.2', '5', '0.33333334']);
  assert.deepEqual(fields.map((f) => f.score), [3.8, 0.1, 2, 1 / 3], 'a DOUBLE column is left exact');
});

test('Parquet: only the columns a task reads are read when the file has them all; a file lacking one is read whole', async () => {
  const file = path.join(dir, 'wide.parquet');
  parquetWriteFile({ filename: file, columnData: [
    { name: 'question', data: ['q1', 'q2'], type: 'STRING' },
    { name: 'context_tokens', data: ['t t t', 'u u u'], type: 'STRING' },
    { name: 'label', data: [0, 1], type: 'INT32' },
  ] });
  const narrow = await readRecords(file, { columns: ['question', 'label'] });
  assert.deepEqual(narrow.map((r) => r.fields), [{ question: 'q1', label: 0 }, { question: 'q2', label: 1 }]);
  const whole = await readRecords(file, { columns: ['question', 'answers'] });
  assert.deepEqual(Object.keys(whole[0].fields).sort(), ['context_tokens', 'label', 'question'], 'every column, for the error that names them');
});

// ---- Bad files say file, place, field and what was expected.

test('bad JSON on line 3 of a JSONL names the file and line', async () => {
  const file = write('bad.jsonl', '{"text": "a", "label": "pos"}\n{"text": "b", "label": "neg"}\n{"text": "c", label: pos}\n');
  const err = await rejects(readRecords(file), /bad\.jsonl line 3: not valid JSON \(.+\)/);
  assert.ok(err instanceof DatasetError);
  assert.equal(err.line, 3);
  assert.equal(err.file, file, 'the path is the one the user gave');
});

test('a JSONL line that is not an object is refused, with a hint for a whole-file array', async () => {
  await rejects(readRecords(write('arr.jsonl', '[{"text": "a"}]\n')), /arr\.jsonl line 1: expected an object .* found an array\. If the whole file is one JSON array, name it \.json\./);
  await rejects(readRecords(write('num.jsonl', '{"a": 1}\n\n42\n')), /num\.jsonl line 3: expected an object .* found a number/);
  await rejects(readRecords(write('num.json', '[{"a": 1}, "x"]')), /num\.json record 2: expected an object .* found a string/);
});

test('a missing target field names line, field and the expected labels', () => {
  const records = [rec({ text: 'fine', label: 'pos' }, 1), rec({ text: 'oops' }, 7)];
  const t = task({ labels: { pos: ' positive', neg: ' negative' } });
  assert.throws(() => buildExamples(records, t, charTok, 64), {
    name: 'DatasetError',
    message: 'train.jsonl line 7: field "label" is missing; expected a string (one of: pos, neg).',
  });
  const gen = task({ type: 'generation', targetField: 'summary' });
  assert.throws(() => buildExamples([rec({ text: 'x', summary: null }, 4)], gen, charTok, 64), {
    message: 'train.jsonl line 4: field "summary" is null; expected the target text (a string).',
  });
});

test('a CSV row with the wrong number of columns names the line it starts on', async () => {
  const file = write('cols.csv', 'text,label\n"multi\nline",pos\nfine,neg\n\n"also\r\nmulti",neg,extra\n');
  const err = await rejects(readRecords(file), /cols\.csv line 6: expected 2 columns as in the header \(text, label\), found 3\./);
  assert.equal(err.line, 6);
  await rejects(readRecords(write('short.tsv', 'text\tlabel\na\tpos\nb\n')), /short\.tsv line 3: expected 2 columns .* found 1\. .*tab/);
  await rejects(readRecords(write('quote.csv', 'text,label\na,pos\n"never closed,neg\n')), /quote\.csv line 3: a quoted value .* never closed/);
  await rejects(readRecords(write('dup.csv', 'text,text\na,b\n')), /dup\.csv line 1: the header names column "text" twice/);
});

test('a classification label outside the label set lists the allowed labels', () => {
  const t = task({ labels: { pos: ' positive', neg: ' negative' } });
  const records = [rec({ text: 'a', label: 'pos' }, 1), rec({ text: 'b', label: 'neutral' }, 2)];
  assert.throws(() => buildExamples(records, t, charTok, 64), {
    message: 'train.jsonl line 2: label "neutral" in field "label" is not one of the task\'s labels (pos, neg).',
  });
});

test('an empty dataset "contains no records"', async () => {
  await rejects(readRecords(write('empty.jsonl', '\n  \n')), /empty\.jsonl: the file contains no records\./);
  await rejects(readRecords(write('header.csv', 'text,label\n')), /header\.csv: the file contains no records\./);
  await rejects(readRecords(write('empty.json', '[]')), /empty\.json: the file contains no records\./);
});

test('a missing file names the path that was looked for', async () => {
  const missing = path.join(dir, 'nope', 'train.jsonl');
  const err = await rejects(readRecords(missing), /train\.jsonl: the dataset file does not exist \(looked for .*nope[/\\]train\.jsonl\)/);
  assert.equal(err.file, missing);
  await rejects(readRecords(dir + '/', { format: 'csv' }), /is a folder; expected a dataset file/);
});

test('a file that is not Parquet says so', async () => {
  await rejects(readRecords(write('fake.parquet', 'text,label\n')), /fake\.parquet: could not be read as Parquet/);
});

// ---- Fields, templates, labels.

test('inputField and targetField remap the default template', () => {
  const records = [rec({ text: 'hi', label: 'pos', other: 'x' }), rec({ text: 'yo', label: 'neg' }, 2)];
  const [a, b] = buildExamples(records, task(), charTok, 64);
  assert.deepEqual(a.inputIds, charTok.encode('hi'));
  assert.deepEqual(a.targetIds, charTok.encode(' pos'), 'verbalizer: " " + value, no EOS for classification');
  assert.equal(a.label, 1, 'derived labels are sorted: neg, pos');
  assert.equal(b.label, 0);
  assert.equal(a.targetText, ' pos');
  assert.deepEqual(a.where, records[0].where);
});

test('templates fill several fields, numbers, and escaped braces', () => {
  const where = { file: 'qa.jsonl', line: 2, label: 'line 2' };
  const template = 'Q: {question} {{ctx}} {context} n={n} {{{ n }}}\nA:';
  assert.deepEqual(templateFields(template), ['question', 'context', 'n']);
  assert.equal(fillTemplate(template, { question: 'why?', context: 'because', n: 3 }, where),
    'Q: why? {ctx} because n=3 {3}\nA:');
  assert.throws(() => fillTemplate(template, { question: 'q', n: 1 }, where),
    { message: 'qa.jsonl line 2: field "context" is missing; the template uses {context} (the record has: question, n).' });
  assert.throws(() => fillTemplate('{q}', { q: { a: 1 } }, where),
    { message: 'qa.jsonl line 2: field "q" is an object; expected text, a number or a boolean (the template uses {q}).' });
  assert.throws(() => templateFields('a { b'), /has a "\{" that does not start a \{field\} placeholder at character 3; write \{\{/);
  assert.throws(() => templateFields('a } b'), /has a "\}" that closes no placeholder at character 3; write \}\}/);
});

test('a custom template with {input} and another inputField explains the mix-up', () => {
  const t = task({ template: 'Review: {input}\nSentiment:' });
  assert.throws(() => buildExamples([rec({ text: 'a', label: 'pos' })], t, charTok, 64),
    /field "input" is missing; your template uses \{input\}, but inputField "text" applies only to the default template "\{input\}": write \{text\} instead/);
  const ok = buildExamples([rec({ text: 'great', label: 'pos' })], task({ template: 'Review: {text}\nSentiment:' }), charTok, 64);
  assert.deepEqual(ok[0].inputIds, charTok.encode('Review: great\nSentiment:'));
});

test('labels come from the config in its order, else sorted from the data (numbers numerically)', () => {
  const configured = resolveLabels(task({ labels: { pos: ' great', neg: ' awful' } }), []);
  assert.deepEqual(configured, { names: ['pos', 'neg'], words: [' great', ' awful'] });
  const numeric = resolveLabels(task(), [10, 2, 1, 2].map((label) => rec({ text: 't', label })));
  assert.deepEqual(numeric, { names: ['1', '2', '10'], words: [' 1', ' 2', ' 10'] });
  const ex = buildExamples([rec({ text: 't', label: 10 })], task(), charTok, 64, numeric);
  assert.equal(ex[0].label, 2, 'a numeric label matches its string name');
});

test('generation targets are the separator and the target, then EOS', () => {
  const gen = task({ type: 'generation', inputField: 'doc', targetField: 'summary' });
  const [ex] = buildExamples([rec({ doc: 'long text', summary: 'short' })], gen, charTok, 64);
  assert.deepEqual(ex.targetIds, [...charTok.encode(' short'), 0], 'the default separator is a space');
  assert.equal(ex.label, undefined);
  assert.equal(ex.targetText, 'short');
  const noEos = { ...charTok, eosId: null };
  assert.deepEqual(buildExamples([rec({ doc: 'd', summary: 's' })], gen, noEos, 64)[0].targetIds, charTok.encode(' s'));
  const newline = task({ type: 'generation', template: 'Q: {doc}\nA:\n', targetField: 'summary' });
  assert.deepEqual(buildExamples([rec({ doc: 'd', summary: 's' })], newline, noEos, 64)[0].targetIds, charTok.encode('s'), 'none after a newline');
  const spaced = task({ type: 'generation', template: '{doc} =>  ', targetField: 'summary' });
  const [sp] = buildExamples([rec({ doc: 'd', summary: 's' })], spaced, noEos, 64);
  assert.equal(charTok.decode(sp.inputIds), 'd =>', 'the template\'s trailing spaces go to the answer');
  assert.equal(charTok.decode(sp.targetIds), '  s');
  const explicit = task({ type: 'generation', inputField: 'doc', targetField: 'summary', separator: ' -> ' });
  assert.deepEqual(buildExamples([rec({ doc: 'd', summary: 's' })], explicit, noEos, 64)[0].targetIds, charTok.encode(' -> s'));
});

// ---- Truncation.

test('truncation keeps the target whole and cuts the prompt from the left', () => {
  const t = task({ template: '{text} Sentiment:', labels: { pos: ' positive', neg: ' negative' } });
  const [ex] = buildExamples([rec({ text: 'a very long review text', label: 'pos' })], t, charTok, 22);
  assert.deepEqual(ex.targetIds, charTok.encode(' positive'), 'the 9-token target, whole');
  assert.equal(ex.inputIds.length + ex.targetIds.length, 22);
  assert.equal(charTok.decode(ex.inputIds), 'xt Sentiment:', 'the end of the prompt, with its cue, survives');
  const [short] = buildExamples([rec({ text: 'ok', label: 'neg' })], t, charTok, 22);
  assert.equal(charTok.decode(short.inputIds), 'ok Sentiment:', 'a prompt that fits is untouched');
});

test('a target longer than maxLength is refused; one that fills it needs an empty prompt', () => {
  const gen = task({ type: 'generation', targetField: 'answer' });
  // The target is " abcde" (the separator is part of what the model writes) + EOS: 7 tokens.
  assert.throws(() => buildExamples([rec({ text: 'q', answer: 'abcde' }, 9)], gen, charTok, 5), {
    message: 'train.jsonl line 9: the target in field "answer" is 7 tokens, longer than maxLength (5); raise maxLength or shorten the target.',
  });
  assert.throws(() => buildExamples([rec({ text: 'q', answer: 'abc' })], gen, charTok, 5), /takes all 5 tokens of maxLength, leaving no room for the prompt/);
  const [ex] = buildExamples([rec({ text: '', answer: 'abcd' })], gen, charTok, 5);
  assert.deepEqual(ex.inputIds, []);
});

// ---- Metrics.

test('accuracy', () => {
  assert.equal(accuracy([0, 1, 1, 2], [0, 1, 2, 2]), 0.75);
  assert.throws(() => accuracy([0], [0, 1]), /1 predictions for 2 gold answers/);
  assert.throws(() => accuracy([], []), /nothing to score/);
});

test('macro-F1 follows scikit-learn (classes present in gold or pred)', () => {
  // gold = [0,0,0,1,1,2], pred = [0,0,1,1,2,2]
  //   class 0: TP 2, FP 0, FN 1 → F1 = 4/5 = 0.8
  //   class 1: TP 1, FP 1, FN 1 → F1 = 2/4 = 0.5
  //   class 2: TP 1, FP 1, FN 0 → F1 = 2/3
  //   macro = (0.8 + 0.5 + 2/3) / 3 = 0.6555…  (sklearn f1_score(gold, pred, average='macro') gives the same)
  const gold = [0, 0, 0, 1, 1, 2];
  const pred = [0, 0, 1, 1, 2, 2];
  const expected = (0.8 + 0.5 + 2 / 3) / 3;
  assert.ok(Math.abs(macroF1(pred, gold, 3) - expected) < 1e-12);
  assert.ok(Math.abs(macroF1(pred, gold, 4) - expected) < 1e-12, 'class 3, in neither, is not averaged in');
  // Only in pred: gold [0,0], pred [0,1] → class 0: F1 2/3, class 1: TP 0 → 0; macro 1/3 (as sklearn).
  assert.ok(Math.abs(macroF1([0, 1], [0, 0], 2) - 1 / 3) < 1e-12);
  assert.equal(macroF1([1, 1], [1, 1], 2), 1);
  assert.throws(() => macroF1([3], [0], 3), /class 3 is not an index below numClasses \(3\)/);
});

test('exact match compares trimmed texts', () => {
  assert.equal(exactMatch([' Paris\n', 'paris', 'New  York'], ['Paris', 'Paris', 'New York']), 1 / 3);
});

// ---- Validation split.

test('splitValidation is deterministic, seed-dependent and sized by the fraction', () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const a = splitValidation(items, 0.2, 42);
  assert.equal(a.validation.length, 20);
  assert.equal(a.train.length, 80);
  assert.deepEqual([...a.train, ...a.validation].sort((x, y) => x - y), items, 'a partition of the items');
  assert.deepEqual(splitValidation(items, 0.2, 42), a, 'same seed, same split');
  assert.deepEqual(splitValidation(items, 0.2, '42'), a, 'a decimal-string seed equals the number');
  assert.notDeepEqual(splitValidation(items, 0.2, 43).validation, a.validation, 'another seed, another split');
  assert.deepEqual(splitValidation(items, 0, 42), { train: items, validation: [] });
  assert.deepEqual(splitValidation([3, 1, 2], 0, 1).train, [3, 1, 2]);
});

test('splitValidation refuses a split that leaves a side empty', () => {
  assert.throws(() => splitValidation([1, 2, 3], 0.1, 1), /validationSplit 0\.1 of 3 examples leaves no validation examples/);
  assert.throws(() => splitValidation([1], 0.6, 1), /leaves no training examples/);
  assert.throws(() => splitValidation([1, 2], 1, 1), /must be at least 0 and below 1/);
});
