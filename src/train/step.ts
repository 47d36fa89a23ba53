// The gradient half of a training step: loss and gradients of the prompt's variables for one or more
// micro-batches. The trainer and the benchmark both go through a StepRunner, so what the benchmark times is what
// training runs.
import { tf, type Scalar, type Tensor } from '../backend';
import type { LanguageModel, ModelInfo } from '../models/types';
import type { PromptModule } from '../ulpt/prompt';
import { splitBatch, type Batch } from './batch';
import { batchLoss } from './objective';

export interface Gradients {
  /**
   * Summed loss of the micro-batches (each already divided by the step's normalizer), a scalar owned by the
   * caller: it stays on the device, so a step can read it back together with the gradient norm, once.
   */
  loss: Scalar;
  /** By variable name (the prompt's `variables` keys); owned by the caller. */
  grads: Map<string, Tensor>;
}

export interface StepRunner {
  /** How many threads compute a step (1: this thread only). */
  readonly threads: number;
  /** Loss and gradients of Σ batchLoss(batch, normalizer) over the batches, at the prompt's current values. */
  gradients(batches: Batch[], normalizer: number): Promise<Gradients>;
  dispose(): Promise<void>;
}

/** Adds b into the running sum a (both maps by variable name), disposing what it replaces. */
export function accumulate(sum: Map<string, Tensor>, add: Map<string, Tensor>): void {
  for (const [name, g] of add) {
    const prev = sum.get(name);
    sum.set(name, prev ? tf.add(prev, g) : tf.clone(g));
    prev?.dispose();
  }
}

/** How many examples of a batch one forward/backward pass may hold at once. */
export type PassLimit = (batch: Batch) => number;

/**
 * WASM's heap is a 32-bit address space (4 GiB) that also holds the weights: the backend's copy, XNNPACK's packed
 * copy, and the transposes the backward pass uses with theirs — 4× their size (GPT-2 small: 1.99 GB measured).
 * tfjs keeps what the forward pass saved plus the gradient of every op's output until the backward pass ends:
 * measured on GPT-2 small, ~30,000 numbers per token and layer at the peak, ≈ 24·d + 3·H·T. Larger batches are
 * split into passes whose gradients are summed (equal to the whole batch up to float reassociation). Other
 * backends have no such ceiling.
 */
export function passLimit(backend: string, info: ModelInfo, virtualTokens: number): PassLimit {
  if (backend !== 'wasm') return () => Infinity;
  const budget = WASM_HEAP_BUDGET - 4 * 4 * info.parameters;
  return (batch) => Math.max(1, Math.floor(budget / passBytesPerExample(info, virtualTokens + batch.length + (batch.decoder?.length ?? 0))));
}

/** What a WASM instance may fill: its 4 GiB address space less a margin for the allocator. */
export const WASM_HEAP_BUDGET = 3.6 * 2 ** 30;

/** Bytes one example of T positions (virtual tokens included) holds at the peak of a pass (see passLimit). */
export function passBytesPerExample(info: ModelInfo, T: number): number {
  return 4 * info.numLayers * T * (24 * info.hiddenSize + 3 * info.numHeads * T);
}

/** Forward and backward on this thread, one micro-batch (or piece of one, see passLimit) after another. */
export function inProcessRunner(model: LanguageModel, prompt: PromptModule, limit: PassLimit = () => Infinity): StepRunner {
  return {
    threads: 1,
    async gradients(micro, normalizer) {
      const grads = new Map<string, Tensor>();
      let loss: Scalar | null = null;
      const vars = [...prompt.variables.values()];
      const batches = micro.flatMap((b) => (b.size > limit(b) ? splitBatch(b, Math.ceil(b.size / limit(b)), prompt.length) : [b]));
      for (const batch of batches) {
        const { value, grads: g } = tf.variableGrads(() => batchLoss(model, prompt, batch, normalizer) as Scalar, vars);
        const prev: Scalar | null = loss;
        loss = prev ? (tf.add(prev, value) as Scalar) : value;
        if (prev) tf.dispose([prev, value]);
        accumulate(grads, new Map([...prompt.variables].map(([name, v]) => [name, g[v.name]])));
        tf.dispose(g);
      }
      return { loss: loss ?? tf.scalar(0), grads };
    },
    async dispose() {},
  };
}
