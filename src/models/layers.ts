// The building blocks every architecture file composes: projections, norms, activations and attention, as plain
// TensorFlow.js compositions. They are the one seam where a backend-specific fused kernel (src/kernels/<backend>/)
// or a faster arrangement for one backend can replace the reference without touching the model files.
import { tf, type Tensor } from '../backend';

/** y = x @ W (+ b), W stored [in, out]: x [N, in] → [N, out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const y = tf.matMul(x, weight);
  return bias ? tf.add(y, bias) : y;
}

/** Layer norm over the last axis (biased variance, as torch.nn.LayerNorm). */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gamma), beta);
}

export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu';

export function activation(x: Tensor, kind: Activation): Tensor {
  switch (kind) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    }
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
