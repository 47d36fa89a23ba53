// The gradient half of a training step: loss and gradients of the prompt's variables for one or more
// micro-batches. The trainer and the benchmark both go through a StepRunner, so what the benchmark times is what
// training runs.
import * as os from 'node:os';
import { tf, type Scalar, type Tensor } from '../backend';
import type { LanguageModel, ModelInfo } from '../models/types';
import type { PromptModule } from '../ulpt/prompt';
import { splitBatch, type Batch } from './batch';
import { batchLoss } from './objective';
import { WASM_HEAP_BUDGET } from './limits';

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

/**
 * How a batch is run: how many of its examples one forward/backward pass may hold at once, and how many layers a
 * pass of a checkpointing model may leave plain (LayerCheckpointing).
 */
export interface PassPlan {
  limit(batch: Batch): number;
  plainLayers(pass: Batch): number;
}

/** Whole batches, every layer checkpointed: for tests and callers that manage memory themselves. */
export const WHOLE_PASSES: PassPlan = { limit: () => Infinity, plainLayers: () => 0 };

/**
 * WASM's heap is a 32-bit address space (4 GiB) that also holds the weights, as many copies as the architecture
 * keeps (ModelInfo.weightCopies; GPT-2: its weights, XNNPACK's packed copy, and the transposes the backward pass uses
 * with theirs — 4× their size, GPT-2 small: 1.99 GB measured).
 * tfjs keeps what the forward pass saved plus the gradient of every op's output until the backward pass ends:
 * measured on GPT-2 small, ~30,000 numbers per token and layer at the peak, ≈ 24·d + 3·H·T. Larger batches are
 * split into passes whose gradients are summed (equal to the whole batch up to float reassociation). Other
 * backends have no such ceiling.
 *
 * A model that checkpoints its layers (Llama family and T5, see LayerCheckpointing) leaves as many of them plain as fit in
 * what is left: of the heap on WASM once the pass's own estimate is counted, and everywhere of 30 % of the memory
 * free when the plan is made (after the model is loaded), shared by `threads` — chooseThreads already gave the
 * threads' models and passes up to two thirds of it. Plain layers make a pass faster and change no number; on the GPU
 * backends, whose memory this process cannot see, every layer stays checkpointed.
 */
export function passPlan(backend: string, model: LanguageModel, virtualTokens: number, threads = 1): PassPlan {
  const info = model.info;
  const positions = (batch: Batch) => virtualTokens + batch.length + (batch.decoder?.length ?? 0);
  const heap = backend === 'wasm' ? WASM_HEAP_BUDGET - info.weightCopies * 4 * info.parameters : Infinity;
  const machine = (0.3 * os.freemem()) / Math.max(1, threads);
  const checkpointing = backend === 'webgpu' || backend === 'tensorflow-gpu' ? undefined : model.checkpointing;
  return {
    limit: (batch) => (heap === Infinity ? Infinity : Math.max(1, Math.floor(heap / passBytesPerExample(info, positions(batch))))),
    plainLayers: (pass) => {
      if (!checkpointing) return 0;
      const T = positions(pass);
      const left = Math.min(heap - pass.size * passBytesPerExample(info, T), machine);
      const perLayer = 4 * pass.size * T * checkpointing.plainFloatsPerToken(T);
      return Math.max(0, Math.min(checkpointing.layers, Math.floor(left / perLayer)));
    },
  };
}

/** What a WASM instance may fill (src/train/limits.ts, where readers without TensorFlow.js find it). */
export { WASM_HEAP_BUDGET };

/** Bytes one example of T positions (virtual tokens included) holds at the peak of a pass (see passPlan). */
export function passBytesPerExample(info: ModelInfo, T: number): number {
  return 4 * info.numLayers * T * (24 * info.hiddenSize + 3 * info.numHeads * T);
}

/** The passes a batch is run in: itself, or pieces of at most plan.limit examples. */
export function passesOf(batch: Batch, plan: PassPlan, virtualTokens: number): Batch[] {
  const limit = plan.limit(batch);
  return batch.size > limit ? splitBatch(batch, Math.ceil(batch.size / limit), virtualTokens) : [batch];
}

/** Forward and backward on this thread, one micro-batch (or piece of one, see passPlan) after another. */
export function inProcessRunner(model: LanguageModel, prompt: PromptModule, plan: PassPlan = WHOLE_PASSES): StepRunner {
  return {
    threads: 1,
    async gradients(micro, normalizer) {
      const grads = new Map<string, Tensor>();
      let loss: Scalar | null = null;
      const vars = [...prompt.variables.values()];
      const batches = micro.flatMap((b) => passesOf(b, plan, prompt.length));
      for (const batch of batches) {
        if (model.checkpointing) model.checkpointing.plainLayers = plan.plainLayers(batch);
        let pass: ReturnType<typeof tf.variableGrads>;
        try {
          pass = tf.variableGrads(() => batchLoss(model, prompt, batch, normalizer) as Scalar, vars);
        } finally {
          if (model.checkpointing) model.checkpointing.plainLayers = 0;
        }
        const { value, grads: g } = pass;
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
