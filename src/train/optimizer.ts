// AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights directly, not through the gradient,
// exactly as torch.optim.AdamW orders it (decay, then the Adam update). State lives in tf variables so a
// checkpoint can store and restore it bit for bit.
import { tf, type Scalar, type Tensor, type Variable } from '../backend';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-5 };

export class AdamW {
  /** Steps taken (bias correction uses it). */
  t = 0;
  private readonly m = new Map<string, Variable>();
  private readonly v = new Map<string, Variable>();

  constructor(private readonly params: ReadonlyMap<string, Variable>, private readonly opts: AdamWOptions = ADAMW_DEFAULTS) {
    for (const [name, p] of params) {
      this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  step(grads: ReadonlyMap<string, Tensor>, lr: number): void {
    this.t += 1;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) throw new Error(`internal: no gradient for ${name}`);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        p.assign(tf.sub(tf.mul(p, 1 - lr * weightDecay), tf.mul(update, lr)));
      }
    });
  }

  /** Moments by parameter name, for checkpoints. */
  async state(): Promise<{ t: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }> {
    const read = async (src: Map<string, Variable>) => new Map(await Promise.all([...src].map(async ([k, x]) => [k, (await x.data()) as Float32Array] as const)));
    return { t: this.t, m: await read(this.m), v: await read(this.v) };
  }

  restore(state: { t: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }): void {
    this.t = state.t;
    for (const [src, into] of [[state.m, this.m], [state.v, this.v]] as const) {
      for (const [name, variable] of into) {
        const data = src.get(name);
        if (!data || data.length !== variable.size) throw new Error(`The checkpoint's optimiser state for "${name}" is missing or has the wrong size.`);
        const t = tf.tensor(data, variable.shape, 'float32');
        variable.assign(t);
        t.dispose();
      }
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}

/**
 * Scales gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_: factor
 * min(1, maxNorm / (norm + 1e-6))). It stays on the device — a GPU step reads nothing back for it — and returns the
 * norm before clipping as a scalar tensor (the caller reads it with the loss, in one transfer).
 */
export function clipByGlobalNorm(grads: Map<string, Tensor>, maxNorm: number): Scalar {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))))) as Scalar;
  if (maxNorm > 0) {
    const factor = tf.tidy(() => tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))));
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, factor));
      g.dispose();
    }
    factor.dispose();
  }
  return norm;
}
