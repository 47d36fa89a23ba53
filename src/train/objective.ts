// The quantity ULPT optimises: log-likelihood of the target tokens given [virtual tokens; input].
import { tf, type Tensor } from '../backend';
import type { CausalLM } from '../models/types';
import type { PromptModule } from '../ulpt/prompt';
import { prependPrompt } from '../ulpt/prompt';
import { batchTensors, type Batch } from './batch';
import { targetLogProb } from '../models/layers';

/**
 * Logits over the vocabulary at the rows that predict each target token: [N, V].
 * Rows are picked with a one-hot matrix product rather than a gather because the gather's gradient needs a
 * kernel (UnsortedSegmentSum) the WASM backend lacks; the product costs N·B·T·d, small beside the model.
 */
function logitsAtTargets(model: CausalLM, prompt: PromptModule | null, batch: Batch): Tensor {
  const { ids, mask } = batchTensors(batch);
  try {
    const embeds = model.embed(ids); // [B, S, d]
    const joined = prompt ? prependPrompt(prompt.prompt(), embeds, mask) : { inputs: embeds, mask };
    const hidden = model.hidden(joined.inputs, joined.mask); // [B, T, d]
    const [B, T, d] = hidden.shape as [number, number, number];
    const select = tf.oneHot(tf.tensor1d(batch.rows, 'int32'), B * T); // [N, B·T]
    const picked = tf.matMul(tf.cast(select, 'float32'), tf.reshape(hidden, [B * T, d])); // [N, d]
    return model.logits(picked); // [N, V]
  } finally {
    ids.dispose();
    mask.dispose();
  }
}

/** Log-softmax over the vocabulary at the rows that predict each target token: [N, V]. */
export function logProbsAtTargets(model: CausalLM, prompt: PromptModule | null, batch: Batch): Tensor {
  return tf.logSoftmax(logitsAtTargets(model, prompt, batch));
}

/** log p of each target token: [N]. */
export function targetLogProbs(model: CausalLM, prompt: PromptModule | null, batch: Batch): Tensor {
  return targetLogProb(logitsAtTargets(model, prompt, batch), tf.tensor1d(batch.targets, 'int32'));
}

/** Summed negative log-likelihood of the batch's target tokens divided by `normalizer` (a scalar). */
export function batchLoss(model: CausalLM, prompt: PromptModule | null, batch: Batch, normalizer: number): Tensor {
  return tf.div(tf.neg(tf.sum(targetLogProbs(model, prompt, batch))), normalizer);
}

/** Logits at every position [T, V] of one unpadded sequence, virtual tokens included (for `ulpt forward`). */
export function sequenceLogits(model: CausalLM, prompt: PromptModule | null, ids: number[]): Tensor {
  return tf.tidy(() => {
    const embeds = model.embed(tf.tensor2d([ids], [1, ids.length], 'int32')); // [1, S, d]
    const mask = tf.ones([1, ids.length]);
    const joined = prompt ? prependPrompt(prompt.prompt(), embeds, mask) : { inputs: embeds, mask };
    const hidden = model.hidden(joined.inputs, joined.mask); // [1, T, d]
    const [, T, d] = hidden.shape as [number, number, number];
    return model.logits(tf.reshape(hidden, [T, d]));
  });
}
