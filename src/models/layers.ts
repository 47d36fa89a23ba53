// The building blocks every architecture file composes: projections, norms, activations and attention, as plain
// TensorFlow.js compositions. They are the one seam where a backend-specific fused kernel (src/kernels/<backend>/)
// or a faster arrangement for one backend can replace the reference without touching the model files.
import { tf, type Tensor } from '../backend';

/**
 * y = x @ W (+ b), W stored [in, out]: x [N, in] → [N, out]. The weights are frozen, so the gradient is written for
 * x alone (dx = dy·Wᵀ): differentiating the fused product would also compute dW and db, the largest products of the
 * backward pass, only to throw them away. The bias rides in the product (one fused kernel, no broadcast add).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const f = tf.customGrad((input, save) => {
    (save as (t: Tensor[]) => void)([weight]); // kept by reference (no copy), in case the caller's weight is short-lived
    return {
      value: bias ? tf.fused.matMul({ a: input as Tensor, b: weight, bias }) : tf.matMul(input as Tensor, weight),
      gradFunc: (dy: Tensor, [w]: Tensor[]) => tf.matMul(dy, w, false, true),
    };
  });
  return f(x);
}

/**
 * Layer norm over the last axis (biased variance, as torch.nn.LayerNorm). Its gradient is written out for the
 * input only (γ and β are frozen): dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ — 8 kernels instead of the
 * ~20 that differentiating the forward's kernels one by one takes, and only x̂ and rstd kept for the backward pass.
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const f = tf.customGrad((input, save) => {
    const xin = input as Tensor;
    const centred = tf.sub(xin, tf.mean(xin, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps)); // [..., 1]
    const xhat = tf.mul(centred, rstd);
    (save as (t: Tensor[]) => void)([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xh, r, gm] = saved;
        const g = tf.mul(dy, gm);
        const dotted = tf.mean(tf.mul(g, xh), -1, true);
        return tf.mul(tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xh, dotted)), r);
      },
    };
  });
  return f(x);
}

export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu';

export function activation(x: Tensor, kind: Activation): Tensor {
  switch (kind) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh(x);
    case 'gelu':
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'relu':
      return tf.relu(x);
    default: {
      const never: never = kind;
      throw new Error(`Unknown activation ${String(never)}`);
    }
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GPT-2's GELU, 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), computed as x·σ(2u) — the same function
 * (0.5·(1 + tanh(u)) = σ(2u)) — because a logistic is one fast vectorised kernel where tanh and pow are slow scalar
 * loops on WASM (≈13× here). The gradient is written out: d/dx = s + x·s·(1 − s)·2·√(2/π)·(1 + 3·0.044715·x²).
 */
function geluTanh(x: Tensor): Tensor {
  const f = tf.customGrad((input, save) => {
    const xin = input as Tensor;
    const cube = tf.mul(tf.mul(xin, xin), xin);
    const s = tf.sigmoid(tf.mul(tf.add(xin, tf.mul(cube, GELU_A)), 2 * GELU_C));
    (save as (t: Tensor[]) => void)([xin, s]);
    return {
      value: tf.mul(xin, s),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, sg] = saved;
        const slope = tf.add(tf.mul(tf.square(xs), 3 * GELU_A * 2 * GELU_C), 2 * GELU_C); // du/dx · 2
        const ds = tf.mul(tf.mul(sg, tf.sub(1, sg)), tf.mul(xs, slope)); // x·σ'(2u)·2u'
        return tf.mul(dy, tf.add(sg, ds));
      },
    };
  });
  return f(x);
}

/** Additive attention bias: 0 where a query may see a key (causal and not padding), a large negative elsewhere. */
export function attentionBias(mask: Tensor, T: number): Tensor {
  return tf.tidy(() => {
    const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // [T, T] lower triangle
    const keys = tf.expandDims(tf.expandDims(tf.cast(mask, 'float32'), 1), 1); // [B, 1, 1, T]
    const allowed = tf.mul(causal, keys); // [B, 1, T, T]
    return tf.mul(tf.sub(1, allowed), -1e9);
  });
}

/**
 * softmax(q·kᵀ·scale + bias)·v for q [B, H, Tq, hd], k and v [B, H, Tk, hd], bias broadcastable to
 * [B, H, Tq, Tk] → [B, H, Tq, hd].
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number): Tensor {
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias); // [B, H, Tq, Tk]
  return tf.matMul(tf.softmax(scores), v);
}
