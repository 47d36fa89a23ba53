// AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights directly, not through the gradient,
// exactly as torch.optim.AdamW orders it (decay, then the Adam update). State lives in tf variables so a
// checkpoint can store and restore it bit for bit.
import { tf, type Tensor, type Variable } from '../backend';

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
  state(): { t: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> } {
    const read = (src: Map<string, Variable>) => new Map([...src].map(([k, x]) => [k, x.dataSync() as Float32Array]));
    return { t: this.t, m: read(this.m), v: read(this.v) };
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

/** Scales gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
export function clipByGlobalNorm(grads: Map<string, Tensor>, maxNorm: number): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  if (maxNorm > 0 && norm > maxNorm) {
    const factor = maxNorm / (norm + 1e-6);
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, factor));
      g.dispose();
    }
  }
  return norm;
}
