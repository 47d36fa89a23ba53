// The quantity ULPT optimises: log-likelihood of the target tokens given [virtual tokens; input] — for a decoder-only
// model one sequence, for T5 the prompt goes in front of the encoder input and the decoder is teacher-forced on the
// target (as the paper's code does).
import { tf, type Tensor } from '../backend';
import type { LanguageModel } from '../models/types';
import type { PromptModule } from '../ulpt/prompt';
import { prependPrompt } from '../ulpt/prompt';
import { batchTensors, type Batch } from './batch';
import { targetLogProb } from '../models/layers';

/** The encoder (or decoder-only) input with the prompt in front: inputs [B, n + S, d], mask [B, n + S]. */
export function promptedInputs(model: LanguageModel, prompt: PromptModule | null, ids: Tensor, mask: Tensor): { inputs: Tensor; mask: Tensor } {
  const embeds = model.embed(ids); // [B, S, d]
  return prompt ? prependPrompt(prompt.prompt(), embeds, mask) : { inputs: embeds, mask };
}

/**
 * The hidden states whose rows `batch.rows` index: [B, T, d] (decoder: the whole sequence; T5: the decoder) — or,
 * from a decoder-only model that computes only the rows asked for (GPT-2), those rows, [N, d].
 */
function batchHidden(model: LanguageModel, prompt: PromptModule | null, batch: Batch): Tensor {
  const { ids, mask, decoderIds, decoderMask } = batchTensors(batch);
  try {
    const joined = promptedInputs(model, prompt, ids, mask);
    if (model.kind === 'decoder') return model.hidden(joined.inputs, joined.mask, batch.rows); // [N, d] or [B, n + S, d]
    if (!decoderIds || !decoderMask) throw new Error('internal: an encoder-decoder batch without decoder inputs');
    const encoded = model.encode(joined.inputs, joined.mask); // [B, n + S, d]
    return model.decoderHidden(model.embed(decoderIds), decoderMask, encoded, joined.mask); // [B, M, d]
  } finally {
    tf.dispose([ids, mask, ...(decoderIds ? [decoderIds] : []), ...(decoderMask ? [decoderMask] : [])]);
  }
}

/**
 * Logits over the vocabulary at the rows that predict each target token: [N, V]. A model that returned all
 * rows has them picked with a one-hot matrix product rather than a gather because the gather's gradient needs a
 * kernel (UnsortedSegmentSum) the WASM backend lacks; the product costs N·B·T·d, small beside the model.
 */
function logitsAtTargets(model: LanguageModel, prompt: PromptModule | null, batch: Batch): Tensor {
  const hidden = batchHidden(model, prompt, batch);
  if (hidden.rank === 2) return model.logits(hidden); // already the target rows
  const [B, T, d] = hidden.shape as [number, number, number];
  const select = tf.oneHot(tf.tensor1d(batch.rows, 'int32'), B * T); // [N, B·T]
  const picked = tf.matMul(tf.cast(select, 'float32'), tf.reshape(hidden, [B * T, d])); // [N, d]
  return model.logits(picked); // [N, V]
}

/** Log-softmax over the vocabulary at the rows that predict each target token: [N, V]. */
export function logProbsAtTargets(model: LanguageModel, prompt: PromptModule | null, batch: Batch): Tensor {
  return tf.logSoftmax(logitsAtTargets(model, prompt, batch));
}

/** log p of each target token: [N]. */
export function targetLogProbs(model: LanguageModel, prompt: PromptModule | null, batch: Batch): Tensor {
  return targetLogProb(logitsAtTargets(model, prompt, batch), tf.tensor1d(batch.targets, 'int32'));
}

/** Summed negative log-likelihood of the batch's target tokens divided by `normalizer` (a scalar). */
export function batchLoss(model: LanguageModel, prompt: PromptModule | null, batch: Batch, normalizer: number): Tensor {
  return tf.div(tf.neg(tf.sum(targetLogProbs(model, prompt, batch))), normalizer);
}

/**
 * Logits at every position [T, V] of one unpadded sequence, virtual tokens included (for `ulpt forward`). For an
 * encoder-decoder model `ids` is the encoder input and the logits are the decoder's at each of `decoderIds`.
 */
export function sequenceLogits(model: LanguageModel, prompt: PromptModule | null, ids: number[], decoderIds?: number[]): Tensor {
  return tf.tidy(() => {
    const joined = promptedInputs(model, prompt, tf.tensor2d([ids], [1, ids.length], 'int32'), tf.ones([1, ids.length]));
    let hidden: Tensor;
    if (model.kind === 'decoder') {
      hidden = model.hidden(joined.inputs, joined.mask); // [1, T, d]
    } else {
      const dec = decoderIds ?? [model.decoderStartId];
      const encoded = model.encode(joined.inputs, joined.mask);
      hidden = model.decoderHidden(model.embed(tf.tensor2d([dec], [1, dec.length], 'int32')), tf.ones([1, dec.length]), encoded, joined.mask);
    }
    const [, T, d] = hidden.shape as [number, number, number];
    return model.logits(tf.reshape(hidden, [T, d]));
  });
}
