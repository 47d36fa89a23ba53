// Evaluation: teacher-forced loss on the target tokens, plus the task's metric — accuracy and macro-F1 by
// ranking the label words (classification), or exact match of greedy continuations (generation).
import { tf } from '../backend';
import type { TaskType } from '../config';
import type { CausalLM } from '../models/types';
import type { TextTokenizer } from '../models/tokenizer';
import type { TaskLabels } from '../data';
import type { PromptModule } from '../ulpt/prompt';
import { accuracy, macroF1, exactMatch } from '../data/metrics';
import { collate, type TokenPair } from './batch';
import { logProbsAtTargets, targetLogProbs } from './objective';

export interface EvalExample extends TokenPair {
  label?: number;
  targetText: string;
}

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
async function teacherForcedLoss(model: CausalLM, prompt: PromptModule | null, examples: TokenPair[], batchSize: number): Promise<number> {
  let total = 0;
  let count = 0;
  for (const part of chunks(examples, batchSize)) {
    const batch = collate(part, model.tokenizer.padId, prompt?.length ?? 0);
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
export async function classify(model: CausalLM, prompt: PromptModule | null, inputs: number[][], labels: LabelSet, batchSize: number): Promise<number[]> {
  const singleToken = labels.tokens.every((t) => t.length === 1) && new Set(labels.tokens.map((t) => t[0])).size === labels.tokens.length;
  const preds: number[] = [];
  if (singleToken) {
    const cols = tf.tensor1d(labels.tokens.map((t) => t[0]), 'int32');
    for (const part of chunks(inputs, batchSize)) {
      const batch = collate(part.map((inputIds) => ({ inputIds, targetIds: [labels.tokens[0][0]] })), model.tokenizer.padId, prompt?.length ?? 0);
      const best = tf.tidy(() => tf.argMax(tf.gather(logProbsAtTargets(model, prompt, batch), cols, 1), 1));
      preds.push(...(await best.data()));
      best.dispose();
    }
    cols.dispose();
    return preds;
  }
  const L = labels.tokens.length;
  for (const part of chunks(inputs, Math.max(1, Math.floor(batchSize / L)))) {
    const pairs = part.flatMap((inputIds) => labels.tokens.map((targetIds) => ({ inputIds, targetIds })));
    const batch = collate(pairs, model.tokenizer.padId, prompt?.length ?? 0);
    const logp = tf.tidy(() => targetLogProbs(model, prompt, batch));
    const values = await logp.data();
    logp.dispose();
    const score = new Float64Array(pairs.length);
    batch.owner.forEach((o, i) => (score[o] += values[i]));
    for (let e = 0; e < part.length; e++) {
      let arg = 0;
      for (let l = 1; l < L; l++) if (score[e * L + l] > score[e * L + arg]) arg = l;
      preds.push(arg);
    }
  }
  return preds;
}

/**
 * Greedy continuation of each input, batched with right padding: every step runs the whole padded sequence and
 * reads the logits at each sequence's own last position (the causal mask keeps padding from leaking backwards).
 */
export async function generate(model: CausalLM, prompt: PromptModule | null, inputs: number[][], maxNewTokens: number, batchSize: number): Promise<number[][]> {
  const eos = model.tokenizer.eosId;
  const maxTotal = model.info.maxPositions - (prompt?.length ?? 0);
  const outputs: number[][] = [];
  for (const part of chunks(inputs, batchSize)) {
    const seqs = part.map((ids) => [...ids]);
    const produced: number[][] = part.map(() => []);
    const done = part.map(() => false);
    for (let step = 0; step < maxNewTokens && done.some((d) => !d); step++) {
      if (Math.max(...seqs.map((s) => s.length)) + 1 > maxTotal) break;
      // A dummy target after each sequence makes collate point at the row that predicts the next token.
      const batch = collate(seqs.map((inputIds) => ({ inputIds, targetIds: [model.tokenizer.padId] })), model.tokenizer.padId, prompt?.length ?? 0);
      const next = tf.tidy(() => tf.argMax(logProbsAtTargets(model, prompt, batch), 1));
      const ids = await next.data();
      next.dispose();
      seqs.forEach((s, i) => {
        if (done[i]) return;
        if (ids[i] === eos) done[i] = true;
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
  model: CausalLM, prompt: PromptModule | null, examples: EvalExample[], task: TaskType, labels: LabelSet | null, batchSize: number,
): Promise<EvalResult> {
  const loss = await teacherForcedLoss(model, prompt, examples, batchSize);
  const inputs = examples.map((e) => e.inputIds);
  if (task === 'classification') {
    if (!labels) throw new Error('internal: classification without labels');
    const preds = await classify(model, prompt, inputs, labels, batchSize);
    const gold = examples.map((e) => e.label ?? -1);
    return { loss, metrics: { accuracy: accuracy(preds, gold), macro_f1: macroF1(preds, gold, labels.names.length) }, predictions: preds.map((p) => labels.names[p]) };
  }
  const maxNew = Math.max(1, ...examples.map((e) => e.targetIds.length)) + 2;
  const texts = (await generate(model, prompt, inputs, maxNew, batchSize)).map((ids) => model.tokenizer.decode(ids));
  return { loss, metrics: { exact_match: exactMatch(texts, examples.map((e) => e.targetText)) }, predictions: texts };
}

/** The metric that picks the best adapter. */
export function primaryMetric(task: TaskType): string {
  return task === 'classification' ? 'accuracy' : 'exact_match';
}
