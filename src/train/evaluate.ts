// Evaluation: teacher-forced loss on the target tokens, plus the task's metrics (src/data/metrics.ts) — of the
// labels chosen by ranking the label words (classification), or of greedy continuations (generation).
import { tf, type Tensor } from '../backend';
import { taskMetric, type TaskConfig } from '../config';
import { releaseCache, disposeCache, type CausalLM, type KVCache, type LanguageModel, type Seq2SeqLM } from '../models/types';
import { stopIds, type TextTokenizer } from '../models/tokenizer';
import type { TaskLabels } from '../data';
import type { PromptModule } from '../ulpt/prompt';
import { accuracy, binaryF1, exactMatch, gsm8kExactMatch, macroF1, matthewsCorrelation, multircScores, parseNumber, regressionScores, squadScores } from '../data/metrics';
import { positiveLabelIndex } from '../data/examples';
import { collateFor, type TokenPair } from './batch';
import { logProbsAtTargets, promptedInputs, targetLogProbs } from './objective';

export interface EvalExample extends TokenPair {
  label?: number;
  targetText: string;
  /** Metric squad: every gold answer. */
  answers?: string[];
  /** Metric multirc: the question the example belongs to. */
  group?: string;
}

/** What evaluation needs of the task: its type and the metric with its settings. */
export type EvalTask = Pick<TaskConfig, 'type' | 'metric' | 'positiveLabel' | 'separator'>;

export interface LabelSet {
  names: string[];
  /** Token ids of each label's verbalizer. */
  tokens: number[][];
}

/** The verbalizers tokenized once, for scoring; null for generation tasks. */
export function labelSetFor(labels: TaskLabels | null | undefined, tok: TextTokenizer): LabelSet | null {
  return labels ? { names: labels.names, tokens: labels.words.map((w) => tok.encode(w)) } : null;
}

export interface EvalResult {
  loss: number;
  metrics: Record<string, number>;
  predictions: (number | string)[];
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Mean NLL per target token over the set. */
async function teacherForcedLoss(model: LanguageModel, prompt: PromptModule | null, examples: TokenPair[], batchSize: number): Promise<number> {
  let total = 0;
  let count = 0;
  for (const part of chunks(examples, batchSize)) {
    const batch = collateFor(model, part, prompt?.length ?? 0);
    const sum = tf.tidy(() => tf.neg(tf.sum(targetLogProbs(model, prompt, batch))));
    total += (await sum.data())[0];
    sum.dispose();
    count += batch.targets.length;
  }
  return total / Math.max(1, count);
}

/**
 * Scores every label for every example and returns the argmax. When each label word is one distinct token, one
 * forward pass per batch suffices (compare that token's log-probability); otherwise each (example, label) pair
 * is scored by the summed log-probability of the label's tokens.
 */
export async function classify(model: LanguageModel, prompt: PromptModule | null, inputs: number[][], labels: LabelSet, batchSize: number): Promise<number[]> {
  const singleToken = labels.tokens.every((t) => t.length === 1) && new Set(labels.tokens.map((t) => t[0])).size === labels.tokens.length;
  const preds: number[] = [];
  if (singleToken) {
    const cols = tf.tensor1d(labels.tokens.map((t) => t[0]), 'int32');
    for (const part of chunks(inputs, batchSize)) {
      const batch = collateFor(model, part.map((inputIds) => ({ inputIds, targetIds: [labels.tokens[0][0]] })), prompt?.length ?? 0);
      const best = tf.tidy(() => tf.argMax(tf.gather(logProbsAtTargets(model, prompt, batch), cols, 1), 1));
      preds.push(...(await best.data()));
      best.dispose();
    }
    cols.dispose();
    return preds;
  }
  for (const score of await labelLogProbs(model, prompt, inputs, labels, batchSize)) {
    let arg = 0;
    for (let l = 1; l < score.length; l++) if (score[l] > score[arg]) arg = l;
    preds.push(arg);
  }
  return preds;
}

/**
 * Summed log-probability of each label's verbalizer tokens after each input: [inputs][labels]. Every
 * (input, label) pair is one row of a batch (about `batchSize` rows at a time), so it is exact for labels of any
 * length; classification's multi-token path and the playground's label probabilities both read it.
 */
export async function labelLogProbs(model: LanguageModel, prompt: PromptModule | null, inputs: number[][], labels: LabelSet, batchSize = 16): Promise<number[][]> {
  const L = labels.tokens.length;
  const out: number[][] = [];
  for (const part of chunks(inputs, Math.max(1, Math.floor(batchSize / L)))) {
    const pairs = part.flatMap((inputIds) => labels.tokens.map((targetIds) => ({ inputIds, targetIds })));
    const batch = collateFor(model, pairs, prompt?.length ?? 0);
    const logp = tf.tidy(() => targetLogProbs(model, prompt, batch));
    const values = await logp.data();
    logp.dispose();
    const score = new Float64Array(pairs.length);
    batch.owner.forEach((o, i) => (score[o] += values[i]));
    for (let e = 0; e < part.length; e++) out.push(Array.from(score.subarray(e * L, (e + 1) * L)));
  }
  return out;
}

/**
 * Greedy continuation of each input until a stop token (EOS, and generation_config's) or `maxNewTokens`, batched,
 * with a key/value cache: the prompt and input run once, then each step feeds only the newest token. A decoder-only
 * batch is left-padded (every row's newest token in the last column; positions are counted from the mask, so each
 * row computes what it would alone), and stops where the longest sequence would no longer fit the context.
 */
export async function generate(model: LanguageModel, prompt: PromptModule | null, inputs: number[][], maxNewTokens: number, batchSize: number): Promise<number[][]> {
  const outputs: number[][] = [];
  for (const part of chunks(inputs, batchSize)) {
    outputs.push(...(await (model.kind === 'decoder' ? generateDecoder(model, prompt, part, maxNewTokens) : generateSeq2Seq(model, prompt, part, maxNewTokens))));
  }
  return outputs;
}

/** Tokens produced per row, fed one step at a time by `next(ids)` until every row stopped or `more()` says no. */
async function greedyLoop(
  rows: number, stops: number[], maxNewTokens: number, more: (produced: number[][]) => boolean,
  first: () => Tensor, next: (ids: Int32Array, done: boolean[]) => Tensor,
): Promise<number[][]> {
  const produced: number[][] = Array.from({ length: rows }, () => []);
  const done = new Array<boolean>(rows).fill(false);
  const last = new Int32Array(rows);
  for (let step = 0; step < maxNewTokens && done.some((d) => !d) && more(produced); step++) {
    // A stopped row still takes part in the batch (its stop token is fed again); its output is not read.
    const logits = step === 0 ? first() : next(Int32Array.from(produced.map((p, i) => (done[i] ? last[i] : p[p.length - 1]))), done);
    const best = tf.tidy(() => tf.argMax(logits, 1));
    const ids = (await best.data()) as Int32Array;
    tf.dispose([logits, best]);
    last.set(ids);
    ids.forEach((id, i) => {
      if (done[i]) return;
      if (stops.includes(id)) done[i] = true;
      else produced[i].push(id);
    });
  }
  return produced;
}

async function generateDecoder(model: CausalLM, prompt: PromptModule | null, part: number[][], maxNewTokens: number): Promise<number[][]> {
  const n = prompt?.length ?? 0;
  const maxTotal = model.info.maxPositions - n;
  const B = part.length;
  const S = Math.max(1, ...part.map((s) => s.length));
  let cache: KVCache | null = null;
  let mask: Tensor | null = null;
  try {
    // The longest sequence (done rows keep their length) plus the next token must fit, as when rerunning the batch.
    const fits = (produced: number[][]) => Math.max(...part.map((s, i) => s.length + produced[i].length)) + 1 <= maxTotal;
    const run = (embeds: Tensor, stepMask: Tensor) => {
      const out = model.forward(embeds, stepMask, cache);
      releaseCache(cache, out.cache);
      cache = out.cache;
      const [, T, d] = out.hidden.shape as [number, number, number];
      const logits = tf.tidy(() => model.logits(tf.reshape(tf.slice(out.hidden, [0, T - 1, 0], [B, 1, d]), [B, d]))); // [B, V]
      out.hidden.dispose();
      return logits;
    };
    const first = () => {
      const ids = new Int32Array(B * S).fill(model.tokenizer.padId);
      const m = new Float32Array(B * S);
      part.forEach((s, b) => s.forEach((id, j) => {
        ids[b * S + S - s.length + j] = id; // left padding
        m[b * S + S - s.length + j] = 1;
      }));
      const joined = tf.tidy(() => {
        const j = promptedInputs(model, prompt, tf.tensor2d(ids, [B, S], 'int32'), tf.tensor2d(m, [B, S]));
        return { inputs: j.inputs, mask: j.mask };
      });
      mask = joined.mask;
      try {
        return run(joined.inputs, joined.mask);
      } finally {
        joined.inputs.dispose();
      }
    };
    const next = (ids: Int32Array, done: boolean[]) => {
      // A stopped row's new column is padding: its positions stop growing, as its length did when the batch was rerun.
      const column = Float32Array.from(done, (d) => (d ? 0 : 1));
      const grown: Tensor = tf.tidy(() => tf.concat([mask!, tf.tensor2d(column, [B, 1])], 1)); // [B, L + 1]
      mask!.dispose();
      mask = grown;
      const embeds = tf.tidy(() => model.embed(tf.tensor2d(ids, [B, 1], 'int32'))); // [B, 1, d]
      try {
        return run(embeds, grown);
      } finally {
        embeds.dispose();
      }
    };
    return await greedyLoop(B, stopIds(model.tokenizer), maxNewTokens, fits, first, next);
  } finally {
    disposeCache(cache);
    (mask as Tensor | null)?.dispose();
  }
}

async function generateSeq2Seq(model: Seq2SeqLM, prompt: PromptModule | null, part: number[][], maxNewTokens: number): Promise<number[][]> {
  const B = part.length;
  const S = Math.max(1, ...part.map((s) => s.length));
  const ids = new Int32Array(B * S).fill(model.tokenizer.padId);
  const m = new Float32Array(B * S);
  part.forEach((s, b) => s.forEach((id, j) => {
    ids[b * S + j] = id;
    m[b * S + j] = 1;
  }));
  const { encoded, encoderMask } = tf.tidy(() => {
    const j = promptedInputs(model, prompt, tf.tensor2d(ids, [B, S], 'int32'), tf.tensor2d(m, [B, S]));
    return { encoded: model.encode(j.inputs, j.mask), encoderMask: j.mask };
  });
  let cache: KVCache | null = null;
  let decMask: Tensor = tf.zeros([B, 0]);
  const step = (tokens: Int32Array) => {
    const grown: Tensor = tf.tidy(() => tf.concat([decMask, tf.ones([B, 1])], 1)); // [B, L + 1]
    decMask.dispose();
    decMask = grown;
    const embeds = tf.tidy(() => model.embed(tf.tensor2d(tokens, [B, 1], 'int32'))); // [B, 1, d]
    const out = model.decode(embeds, grown, encoded, encoderMask, cache);
    embeds.dispose();
    releaseCache(cache, out.cache);
    cache = out.cache;
    const logits = tf.tidy(() => model.logits(tf.reshape(out.hidden, [B, -1]))); // [B, V]
    out.hidden.dispose();
    return logits;
  };
  try {
    return await greedyLoop(B, stopIds(model.tokenizer), maxNewTokens, () => true, () => step(new Int32Array(B).fill(model.decoderStartId)), step);
  } finally {
    disposeCache(cache);
    tf.dispose([encoded, encoderMask, decMask]);
  }
}

/**
 * The reference for `generate`: every step reruns the whole (right-padded) batch without a cache and reads each
 * row's prediction after its own last token. Slow; kept to check that the cached decoding gives the same tokens.
 */
export async function generateUncached(model: LanguageModel, prompt: PromptModule | null, inputs: number[][], maxNewTokens: number, batchSize: number): Promise<number[][]> {
  const stops = stopIds(model.tokenizer);
  const maxTotal = model.kind === 'decoder' ? model.info.maxPositions - (prompt?.length ?? 0) : Infinity;
  const outputs: number[][] = [];
  for (const part of chunks(inputs, batchSize)) {
    const seqs = part.map((ids) => [...ids]);
    const produced: number[][] = part.map(() => []);
    const done = part.map(() => false);
    for (let step = 0; step < maxNewTokens && done.some((d) => !d); step++) {
      if (Math.max(...seqs.map((s) => s.length)) + 1 > maxTotal) break;
      // A dummy target after what was produced makes collate point at the row that predicts the next token.
      const pairs = seqs.map((s, i) => (model.kind === 'decoder' ? { inputIds: s, targetIds: [model.tokenizer.padId] } : { inputIds: part[i], targetIds: [...produced[i], model.tokenizer.padId] }));
      const batch = collateFor(model, pairs, prompt?.length ?? 0);
      const rows = batch.owner.map((_, k) => k).filter((k) => k === batch.owner.length - 1 || batch.owner[k + 1] !== batch.owner[k]);
      const next = tf.tidy(() => tf.argMax(tf.gather(logProbsAtTargets(model, prompt, batch), tf.tensor1d(Int32Array.from(rows), 'int32')), 1));
      const ids = await next.data();
      next.dispose();
      seqs.forEach((s, i) => {
        if (done[i]) return;
        if (stops.includes(ids[i])) done[i] = true;
        else {
          s.push(ids[i]);
          produced[i].push(ids[i]);
        }
      });
    }
    outputs.push(...produced);
  }
  return outputs;
}

export async function evaluate(
  model: LanguageModel, prompt: PromptModule | null, examples: EvalExample[], task: EvalTask, labels: LabelSet | null, batchSize: number,
): Promise<EvalResult> {
  const loss = await teacherForcedLoss(model, prompt, examples, batchSize);
  const inputs = examples.map((e) => e.inputIds);
  if (task.type === 'classification') {
    if (!labels) throw new Error('internal: classification without labels');
    const preds = await classify(model, prompt, inputs, labels, batchSize);
    return { loss, metrics: classificationMetrics(task, labels.names, preds, examples), predictions: preds.map((p) => labels.names[p]) };
  }
  const maxNew = Math.max(1, ...examples.map((e) => e.targetIds.length)) + 2;
  const texts = (await generate(model, prompt, inputs, maxNew, batchSize)).map((ids) => model.tokenizer.decode(ids));
  return { loss, metrics: generationMetrics(task, texts, examples), predictions: texts };
}

/** The metrics of chosen label indices (`names` are the task's labels), as the task's metric reports them. */
export function classificationMetrics(task: EvalTask, names: string[], preds: number[], examples: EvalExample[]): Record<string, number> {
  const gold = examples.map((e) => e.label ?? -1);
  switch (taskMetric(task)) {
    case 'f1':
      return { f1: binaryF1(preds, gold, positiveLabelIndex(task, names)), accuracy: accuracy(preds, gold) };
    case 'matthews_correlation':
      return { matthews_correlation: matthewsCorrelation(preds, gold), accuracy: accuracy(preds, gold) };
    case 'multirc':
      return multircScores(preds, gold, examples.map((e, i) => e.group ?? missing('group', i)), positiveLabelIndex(task, names));
    default:
      return { accuracy: accuracy(preds, gold), macro_f1: macroF1(preds, gold, names.length) };
  }
}

/**
 * A generated text as it is scored: without the task's own separator. A decoder-only model writes the separator
 * before every answer (it learned separator + target); whitespace the metrics trim anyway, but a separator such as
 * " => " would otherwise fail every exact match and every number.
 */
export function scoredText(task: Pick<TaskConfig, 'separator'>, text: string): string {
  const separator = task.separator?.trim();
  const trimmed = text.trim();
  return separator && trimmed.startsWith(separator) ? trimmed.slice(separator.length).trim() : text;
}

/** The metrics of generated texts, as the task's metric reports them. */
export function generationMetrics(task: EvalTask, generated: string[], examples: EvalExample[]): Record<string, number> {
  const metric = taskMetric(task);
  const texts = generated.map((t) => scoredText(task, t));
  switch (metric) {
    case 'pearson':
    case 'spearmanr':
      return regressionScores(texts, examples.map((e, i) => parseNumber(e.targetText) ?? missing('numeric target', i)));
    case 'squad':
      return squadScores(texts, examples.map((e, i) => e.answers ?? missing('answers', i)));
    case 'gsm8k':
      return { exact_match: gsm8kExactMatch(texts, examples.map((e) => e.targetText)) };
    default:
      return { exact_match: exactMatch(texts, examples.map((e) => e.targetText)) };
  }
}

function missing(what: string, i: number): never {
  throw new Error(`internal: evaluation example ${i + 1} has no ${what} (the examples were built for another metric).`);
}

/** The metric that picks the best adapter and drives early stopping: the task metric's main key. Higher is better. */
export function primaryMetric(task: Pick<TaskConfig, 'type' | 'metric'>): string {
  const metric = taskMetric(task);
  return metric === 'squad' ? 'f1' : metric === 'multirc' ? 'f1_a' : metric === 'gsm8k' ? 'exact_match' : metric;
}
