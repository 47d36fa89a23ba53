// The gradient half of a training step: loss and gradients of the prompt's variables for one or more
// micro-batches. The trainer and the benchmark both go through a StepRunner, so what the benchmark times is what
// training runs.
import { tf, type Scalar, type Tensor } from '../backend';
import type { CausalLM } from '../models/types';
import type { PromptModule } from '../ulpt/prompt';
import type { Batch } from './batch';
import { batchLoss } from './objective';

export interface Gradients {
  /** Summed loss of the micro-batches (each already divided by the step's normalizer). */
  loss: number;
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

/** Forward and backward on this thread, one micro-batch after another. */
export function inProcessRunner(model: CausalLM, prompt: PromptModule): StepRunner {
  return {
    threads: 1,
    async gradients(batches, normalizer) {
      const grads = new Map<string, Tensor>();
      let loss = 0;
      const vars = [...prompt.variables.values()];
      for (const batch of batches) {
        const { value, grads: g } = tf.variableGrads(() => batchLoss(model, prompt, batch, normalizer) as Scalar, vars);
        loss += (await value.data())[0];
        value.dispose();
        accumulate(grads, new Map([...prompt.variables].map(([name, v]) => [name, g[v.name]])));
        tf.dispose(g);
      }
      return { loss, grads };
    },
    async dispose() {},
  };
}
