// From records to token ids for a causal LM: prompt = filled template, target = the verbalized label
// (classification) or separator + target text + EOS, tokenized together with the prompt (generation). The loss is
// taken on the target tokens only.
import { taskMetric, type TaskConfig } from '../config';
import { inputSpecials, wrapInput, type TextTokenizer } from '../models/tokenizer';
import { DatasetError, describeValue } from './errors';
import { gsm8kAnswer, parseNumber } from './metrics';
import type { DataRecord } from './readers';
import { fieldText, fillTemplate, templateFields } from './template';
import type { DataWarnings } from './warnings';

export interface Example {
  inputIds: number[];
  targetIds: number[];
  /** Classification: index into TaskLabels.names. */
  label?: number;
  /** The text `targetIds` encode (the verbalizer word for classification), without the EOS token. */
  targetText: string;
  /** Metric squad: every gold answer (the target text among them). */
  answers?: string[];
  /** Metric multirc: which question the example (an answer option) belongs to; equal keys, same question. */
  group?: string;
  where: DataRecord['where'];
}

/** Classification labels: names[i] is the value found in the data, words[i] the text the model learns to write. */
export interface TaskLabels {
  names: string[];
  words: string[];
}

const DEFAULT_TEMPLATE = '{input}';

/**
 * The task's label set: `task.labels` in the order written, else the distinct values of the target field, sorted
 * (numerically when every value is a number, so 2 comes before 10), each verbalized as " " + value.
 */
export function resolveLabels(task: TaskConfig, records: DataRecord[]): TaskLabels {
  if (task.labels && Object.keys(task.labels).length > 0) {
    return { names: Object.keys(task.labels), words: Object.values(task.labels) };
  }
  const values = new Set(records.map((r) => labelValue(r, task.targetField)));
  const names = sortLabels([...values]);
  if (names.length === 0) throw new Error('No labels: the dataset has no records to take label values from.');
  return { names, words: names.map((n) => ` ${n}`) };
}

/** Numeric order when every label is a number (so 2 precedes 10), else code-unit order: the same on every machine. */
function sortLabels(names: string[]): string[] {
  const numeric = names.every((s) => s.trim() !== '' && Number.isFinite(Number(s)));
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return names.sort(numeric ? (a, b) => Number(a) - Number(b) || byText(a, b) : byText);
}

/**
 * Tokenized examples in record order, each input with the special tokens its tokenizer adds (Llama's BOS, T5's
 * </s>). Throws DatasetError naming the record for anything unusable; what is usable but changes what is learned
 * (an input cut to maxLength, an empty target) goes to `warnings`. `seq2seq`: input and target are separate
 * sequences (encoder and decoder), each held to maxLength; otherwise they share it.
 */
export function buildExamples(
  records: DataRecord[], task: TaskConfig, tok: TextTokenizer, maxLength: number, labels?: TaskLabels, warnings?: DataWarnings,
  opts: { seq2seq?: boolean } = {},
): Example[] {
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`maxLength must be a positive integer, got ${maxLength}.`);
  const labelSet = task.type === 'classification' ? labels ?? resolveLabels(task, records) : undefined;
  if (labelSet) positiveLabelIndex(task, labelSet.names); // refuses a positiveLabel that is not a label, before any work
  const index = new Map(labelSet?.names.map((n, i) => [n, i]));
  return records.map((record) => {
    const target = labelSet ? classificationTarget(record, task, labelSet, index) : generationTarget(record, task);
    const eos = !labelSet && tok.eosId !== null ? [tok.eosId] : [];
    const context = tok.encode(promptText(record, task));
    const answer = labelSet || opts.seq2seq ? tok.encode(target.text) : answerIds(context, record, task, target.text, tok, warnings);
    const targetIds = [...answer, ...eos];
    if (targetIds.length === 0) {
      const problem = `the target "${target.text}" encodes to no tokens; there is nothing to learn.`;
      throw new DatasetError(record.where, problem, task.targetField);
    }
    if (!labelSet && target.text === '') warnings?.add('empty-target', record.where.file, record.where.label);
    const reserved = inputSpecials(tok) + (opts.seq2seq ? 0 : targetIds.length);
    if (opts.seq2seq && targetIds.length > maxLength) fitInput([], targetIds.length, maxLength, record, task); // refuses it
    const inputIds = wrapInput(tok, fitInput(context, reserved, maxLength, record, task));
    if (inputIds.length - inputSpecials(tok) < context.length) {
      warnings?.add('input-cut', record.where.file, record.where.label, `${context.length} → ${inputIds.length - inputSpecials(tok)} tokens`);
    }
    const example: Example = { inputIds, targetIds, targetText: target.text, where: record.where, ...metricFacts(record, task, target.text) };
    if (target.label !== undefined) example.label = target.label;
    return example;
  });
}

/**
 * The text between the prompt and a generation target: task.separator; else the spaces the filled template ends
 * with (promptText leaves them to the answer); else a space, unless the template ends (e.g. with a newline) or the
 * target starts with whitespace.
 */
export function separatorFor(task: TaskConfig, filled: string, target: string): string {
  const separator = templateSeparator(task, filled);
  // The default space is left out before a target that is empty or already starts with whitespace.
  const defaultSpace = task.separator === undefined && !/[ \t]+$/.test(filled);
  return defaultSpace && (target === '' || /^\s/.test(target)) ? '' : separator;
}

/** separatorFor before the target is known: task.separator, else the template's trailing spaces, else the default space. */
function templateSeparator(task: TaskConfig, filled: string): string {
  return task.separator ?? /[ \t]+$/.exec(filled)?.[0] ?? (filled === '' || /\s$/.test(filled) ? '' : ' ');
}

/**
 * A generated continuation as the answer a user reads: without the separator the model was taught to write first
 * (the target it learned is separator + target). Encoder-decoder answers have none.
 */
export function generatedAnswer(record: DataRecord, task: TaskConfig, text: string, seq2seq = false): string {
  if (seq2seq) return text;
  const sep = templateSeparator(task, filledTemplate(record, task));
  return sep && text.startsWith(sep) ? text.slice(sep.length) : text;
}

/**
 * A decoder-only generation target's ids, as the model must write them after the prompt: prompt + separator +
 * target is tokenized as one text (so "output:" + " x y" gives the " x" token the model knows, not "x"), and the
 * answer is what follows the prompt's own tokens. When the tokenizer joins the first target characters to the end
 * of the prompt (no token boundary there), the prompt's tokens are kept as generation will read them and the answer
 * is tokenized alone, with a warning.
 */
function answerIds(context: number[], record: DataRecord, task: TaskConfig, target: string, tok: TextTokenizer, warnings?: DataWarnings): number[] {
  const prompt = promptText(record, task);
  const answer = separatorFor(task, filledTemplate(record, task), target) + target;
  const whole = tok.encode(prompt + answer);
  if (startsWith(whole, context)) return whole.slice(context.length);
  warnings?.add('target-boundary', record.where.file, record.where.label);
  return tok.encode(answer);
}

function startsWith(ids: number[], prefix: number[]): boolean {
  if (prefix.length > ids.length) return false;
  for (let i = 0; i < prefix.length; i++) if (ids[i] !== prefix[i]) return false;
  return true;
}

/**
 * The text the model reads before its answer. For generation, spaces at the end of the template are left to the
 * answer (separatorFor): BPE and SentencePiece tokenizers attach a space to the word after it, so "output: " would
 * end in a lone space token the model rarely saw, at training and at inference alike.
 */
export function promptText(record: DataRecord, task: TaskConfig): string {
  const filled = filledTemplate(record, task);
  return task.type === 'generation' ? filled.replace(/[ \t]+$/, '') : filled;
}

/** The filled template. The default "{input}" reads task.inputField, so users can point it at "text" etc. */
function filledTemplate(record: DataRecord, task: TaskConfig): string {
  const template = task.template || DEFAULT_TEMPLATE;
  if (template === DEFAULT_TEMPLATE) {
    return fieldText(record.fields, task.inputField, record.where, 'it is the task\'s inputField');
  }
  const misread = task.inputField !== 'input' && !('input' in record.fields) && templateFields(template).includes('input');
  if (misread) {
    throw new DatasetError(record.where, `field "input" is missing; your template uses {input}, but inputField ` +
      `"${task.inputField}" applies only to the default template "{input}": write {${task.inputField}} instead.`, 'input');
  }
  return fillTemplate(template, record.fields, record.where);
}

function classificationTarget(
  record: DataRecord, task: TaskConfig, labels: TaskLabels, index: Map<string, number>,
): { text: string; label: number } {
  const value = labelValue(record, task.targetField, labels);
  const label = index.get(value);
  if (label === undefined) {
    throw new DatasetError(record.where, `label "${value}" in field "${task.targetField}" is not one of the task's labels ` +
      `(${labels.names.join(', ')}).`, task.targetField);
  }
  return { text: labels.words[label], label };
}

/** The label as a string (numbers and booleans stringified); anything else is refused, naming what was expected. */
function labelValue(record: DataRecord, field: string, labels?: TaskLabels): string {
  const value = record.fields[field];
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  const expected = labels ? `a string (one of: ${labels.names.join(', ')})` : 'a string or number label';
  const found = value === undefined ? 'is missing' : `is ${describeValue(value)}`;
  throw new DatasetError(record.where, `field "${field}" ${found}; expected ${expected}.`, field);
}

function generationTarget(record: DataRecord, task: TaskConfig): { text: string; label?: undefined } {
  const value = record.fields[task.targetField];
  if (typeof value === 'string') return { text: value };
  // squad: a list of answers (MRQA's "answers") trains on the first; every one of them is gold (metricFacts).
  if (taskMetric(task) === 'squad' && Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return { text: value[0] };
  if (typeof value === 'number' || typeof value === 'boolean') return { text: String(value) };
  const found = value === undefined ? 'is missing' : `is ${describeValue(value)}`;
  // The most common cause: a classification dataset trained as the default generation task.
  const hint = value === undefined && task.targetField === 'target' && 'label' in record.fields ? ' The record has a "label" field: for classification set task.type to "classification" (--task classification).' : '';
  throw new DatasetError(record.where, `field "${task.targetField}" ${found}; expected the target text (a string).${hint}`, task.targetField);
}

/**
 * Cuts the prompt from the left so prompt + target fit maxLength. The end of the prompt is kept: it holds the
 * template's cue ("Sentiment:") right before the answer. The target is never cut: a cut label teaches nothing.
 */
function fitInput(inputIds: number[], targetLength: number, maxLength: number, record: DataRecord, task: TaskConfig): number[] {
  const room = maxLength - targetLength;
  if (room < 0) {
    throw new DatasetError(record.where, `the target in field "${task.targetField}" is ${targetLength} tokens, longer than ` +
      `maxLength (${maxLength}); raise maxLength or shorten the target.`, task.targetField);
  }
  if (inputIds.length <= room) return inputIds;
  if (room === 0) {
    throw new DatasetError(record.where, `the target in field "${task.targetField}" takes all ${maxLength} tokens of ` +
      'maxLength, leaving no room for the prompt; raise maxLength.', task.targetField);
  }
  return inputIds.slice(inputIds.length - room);
}

/**
 * A seeded split into train and validation (the same seed gives the same split). Both parts keep the items'
 * original order; `fraction` of them (rounded) go to validation. `seed` may be a 64-bit decimal string.
 */
export function splitValidation<T>(items: T[], fraction: number, seed: number | bigint | string): { train: T[]; validation: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`validationSplit must be at least 0 and below 1, got ${fraction}.`);
  if (fraction === 0) return { train: items.slice(), validation: [] };
  const count = Math.round(items.length * fraction);
  if (count === 0 || count === items.length) {
    throw new Error(`validationSplit ${fraction} of ${items.length} examples leaves ${count === 0 ? 'no validation' : 'no training'} ` +
      'examples; change the fraction or give a validation file.');
  }
  const order = shuffledIndices(items.length, mulberry32(seed32(seed)));
  const held = new Set(order.slice(0, count));
  return { train: items.filter((_, i) => !held.has(i)), validation: items.filter((_, i) => held.has(i)) };
}

function shuffledIndices(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) { // Fisher–Yates
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Folds a seed of up to 64 bits into 32 (high word XOR low word), so "42" and 42 agree. */
function seed32(seed: number | bigint | string): number {
  let big: bigint;
  try {
    big = BigInt(typeof seed === 'number' ? Math.trunc(seed) : seed);
  } catch {
    throw new Error(`The seed must be an integer, got "${seed}".`);
  }
  big = BigInt.asUintN(64, big);
  return Number((big >> 32n) ^ (big & 0xffffffffn)) >>> 0;
}

/** mulberry32: a tiny, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Prompt token ids for prediction (no target known): the filled template, cut from the left to `maxLength` (specials included). */
export function buildInputs(records: DataRecord[], task: TaskConfig, tok: TextTokenizer, maxLength: number): number[][] {
  const room = Math.max(0, maxLength - inputSpecials(tok));
  return records.map((record) => {
    const ids = tok.encode(promptText(record, task));
    return wrapInput(tok, ids.length <= room ? ids : ids.slice(ids.length - room));
  });
}

/**
 * The label index that is the positive class for f1 and multirc: task.positiveLabel, else the label "1" if there is
 * one, else the second label (GLUE's and SuperGLUE's binary tasks list the negative class first).
 */
export function positiveLabelIndex(task: Pick<TaskConfig, 'positiveLabel'>, names: string[]): number {
  if (task.positiveLabel === undefined) return names.includes('1') ? names.indexOf('1') : 1;
  const i = names.indexOf(task.positiveLabel);
  if (i < 0) throw new Error(`task.positiveLabel "${task.positiveLabel}" is not one of the task's labels (${names.join(', ')}).`);
  return i;
}

/** A field by name, or by a dotted path into objects ("idx.question") when no field has the whole name. */
export function fieldAtPath(fields: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(fields, name)) return fields[name];
  let value: unknown = fields;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** What the task's metric reads besides the target text, checked here so a bad record fails before training. */
function metricFacts(record: DataRecord, task: TaskConfig, target: string): Pick<Example, 'answers' | 'group'> {
  const metric = taskMetric(task);
  if ((metric === 'pearson' || metric === 'spearmanr') && parseNumber(target) === null) {
    throw new DatasetError(record.where, `the target "${target}" in field "${task.targetField}" is not a number; the metric ${metric} compares generated numbers with it.`, task.targetField);
  }
  if (metric === 'gsm8k' && gsm8kAnswer(target) === null) {
    throw new DatasetError(record.where, `the target in field "${task.targetField}" has no number (after "####"); the metric gsm8k compares the final number with it.`, task.targetField);
  }
  if (metric === 'squad') return { answers: goldAnswers(record, task, target) };
  if (metric === 'multirc') return { group: groupKey(record, task) };
  return {};
}

function goldAnswers(record: DataRecord, task: TaskConfig, target: string): string[] {
  const field = task.answersField ?? task.targetField;
  const value = fieldAtPath(record.fields, field);
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
  if (task.answersField === undefined) return [target];
  const found = value === undefined ? 'is missing' : `is ${describeValue(value)}`;
  throw new DatasetError(record.where, `field "${field}" ${found}; expected the gold answers (a string or a non-empty list of strings) for the metric squad.`, field);
}

function groupKey(record: DataRecord, task: TaskConfig): string {
  const fields = typeof task.groupField === 'string' ? [task.groupField] : task.groupField ?? [];
  return JSON.stringify(fields.map((field) => {
    const value = fieldAtPath(record.fields, field);
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
    const found = value === undefined ? 'is missing' : `is ${describeValue(value)}`;
    throw new DatasetError(record.where, `field "${field}" ${found}; expected a string or number naming the question (task.groupField, for the metric multirc).`, field);
  }));
}
