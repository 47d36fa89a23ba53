// Answers for people (the playground): one input at a time, with and without an adapter, and for classification
// the probability of every label rather than the argmax alone. Built on the same scoring as evaluation
// (labelLogProbs / generate in evaluate.ts), so what the playground shows is what `ulpt eval` measures.
import { METRIC_TASK_TYPE, taskMetricProblems, type MetricName, type TaskConfig } from '../config';
import type { AdapterMeta } from '../io/adapter';
import type { LanguageModel } from '../models/types';
import type { PlaygroundAnswer } from '../protocol';
import type { PromptModule } from '../ulpt/prompt';
import { generate, labelLogProbs, type LabelSet } from './evaluate';

/** The task an adapter was trained for, as a training config states it (labels name → verbalizer word). */
export function adapterTask(meta: AdapterMeta): TaskConfig {
  const t = meta.task;
  return {
    type: t.type, template: t.template, inputField: t.input_field, targetField: t.target_field,
    ...(t.labels ? { labels: Object.fromEntries(t.labels.names.map((n, i) => [n, t.labels!.words[i]])) } : {}),
    ...(t.separator !== undefined ? { separator: t.separator } : {}),
    ...trainedMetric(meta),
  };
}

/**
 * The metric settings of the config the adapter was trained with (meta.training.task), so `ulpt eval` and the
 * playground score it as its run did; none when that config has none or they do not fit the task (older adapters).
 */
function trainedMetric(meta: AdapterMeta): Pick<TaskConfig, 'metric' | 'positiveLabel' | 'groupField' | 'answersField'> {
  const t = meta.training.task as Record<string, unknown> | undefined;
  if (typeof t !== 'object' || t === null || typeof t.metric !== 'string' || !(t.metric in METRIC_TASK_TYPE)) return {};
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const group = Array.isArray(t.groupField) && t.groupField.every((f) => typeof f === 'string') ? (t.groupField as string[]) : text(t.groupField);
  const picked = { metric: t.metric as MetricName, positiveLabel: text(t.positiveLabel), groupField: group, answersField: text(t.answersField) };
  const settings = Object.fromEntries(Object.entries(picked).filter(([, v]) => v !== undefined)) as Pick<TaskConfig, 'metric' | 'positiveLabel' | 'groupField' | 'answersField'>;
  return taskMetricProblems({ type: meta.task.type, ...settings }).length ? {} : settings;
}

/** Softmax over the labels' log-likelihoods (the model's choice among them), best first. */
export function labelScores(names: string[], logProbs: number[]): NonNullable<PlaygroundAnswer['scores']> {
  const max = Math.max(...logProbs);
  const exp = logProbs.map((l) => Math.exp(l - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return names
    .map((label, i) => ({ label, probability: exp[i] / sum, logProb: logProbs[i] }))
    .sort((a, b) => b.probability - a.probability);
}

/**
 * The model's answers to tokenized inputs: the most likely label with every label's probability (classification),
 * or the greedy continuation of up to `maxNewTokens` tokens (generation).
 */
export async function answer(model: LanguageModel, prompt: PromptModule | null, inputs: number[][], labels: LabelSet | null, maxNewTokens: number): Promise<PlaygroundAnswer[]> {
  if (labels) {
    const logps = await labelLogProbs(model, prompt, inputs, labels);
    return logps.map((lp) => {
      const scores = labelScores(labels.names, lp);
      return { text: scores[0].label, scores };
    });
  }
  const ids = await generate(model, prompt, inputs, maxNewTokens, 8);
  return ids.map((t) => ({ text: model.tokenizer.decode(t), scores: null }));
}

/**
 * How many input tokens (the tokenizer's special tokens included) fit beside the virtual tokens and the answer, and
 * how long an answer may be: the longest label word, or up to 64 generated tokens (a quarter of the context at
 * most), as `ulpt predict` does. An encoder-decoder model answers in its decoder: its encoder input has the room.
 */
export function answerRoom(model: LanguageModel, virtualTokens: number, labels: LabelSet | null): { room: number; maxNewTokens: number; why: string } {
  const P = model.info.maxPositions;
  const context = P - virtualTokens;
  const reserve = labels ? Math.max(...labels.tokens.map((t) => t.length)) : Math.min(64, Math.max(1, Math.floor(context / 4)));
  if (model.kind === 'encoder-decoder') {
    return { room: context, maxNewTokens: reserve, why: `${model.info.name} takes ${P} input positions and the adapter's ${virtualTokens} virtual tokens` };
  }
  const why = `${model.info.name} holds ${P} positions, and the adapter's ${virtualTokens} virtual tokens and the ${reserve} token${reserve > 1 ? 's' : ''} kept for the answer`;
  return { room: context - reserve, maxNewTokens: reserve, why };
}
