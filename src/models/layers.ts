// The building blocks every architecture file composes: projections, norms, activations and attention, as plain
// TensorFlow.js compositions. They are the one seam where a backend-specific fused kernel (src/kernels/<backend>/)
// or a faster arrangement for one backend can replace the reference without touching the model files: on the
// webgpu backend, layer norm, the tanh GELU, attention and the target log-probability run fused WGSL kernels
// (src/kernels/webgpu/); the `…Reference` functions are the compositions those kernels are tested against.
import { tf, type Tensor } from '../backend';
import { fusedAttention, fusedAttentionQKV, fusedGeluTanh, fusedKernelsActive, fusedLayerNorm, fusedTargetLogProb, MAX_HEAD_SIZE } from '../kernels/webgpu';

/** y = x @ W (+ b), W stored [in, out]: x [N, in] → [N, out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const y = tf.matMul(x, weight);
  return bias ? tf.add(y, bias) : y;
}

/** Layer norm over the last axis (biased variance, as torch.nn.LayerNorm). */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  return fusedKernelsActive() ? fusedLayerNorm(x, gamma, beta, eps) : layerNormReference(x, gamma, beta, eps);
}

export function layerNormReference(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gamma), beta);
}

export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu';

export function activation(x: Tensor, kind: Activation): Tensor {
  if ((kind === 'gelu_new' || kind === 'gelu_pytorch_tanh') && fusedKernelsActive()) return fusedGeluTanh(x);
  return activationReference(x, kind);
}

export function activationReference(x: Tensor, kind: Activation): Tensor {
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
  if (fusedKernelsActive() && q.rank === 4 && (q.shape[3] as number) <= MAX_HEAD_SIZE) return fusedAttention(q, k, v, bias, scale);
  return attentionReference(q, k, v, bias, scale);
}

export function attentionReference(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number): Tensor {
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias); // [B, H, Tq, Tk]
  return tf.matMul(tf.softmax(scores), v);
}

/** log softmax(logits)[n, targets[n]] for logits [N, V] and int32 targets [N] → [N]: the log-likelihood of each target token. */
export function targetLogProb(logits: Tensor, targets: Tensor): Tensor {
  return fusedKernelsActive() ? fusedTargetLogProb(logits, targets) : targetLogProbReference(logits, targets);
}

export function targetLogProbReference(logits: Tensor, targets: Tensor): Tensor {
  const onehot = tf.oneHot(targets, logits.shape[1] as number); // [N, V]
  return tf.sum(tf.mul(tf.logSoftmax(logits), onehot), 1);
}

/**
 * Self-attention straight from a fused q/k/v projection (GPT-2's c_attn): qkv [B, T, 3d] holding q, k, v side by
 * side, each d = H·hd with the heads contiguous → [B, T, d] with the heads merged back. On webgpu one kernel reads
 * and writes these layouts directly; elsewhere the heads are split and merged with reshapes and transposes.
 */
export function selfAttentionQKV(qkv: Tensor, bias: Tensor, heads: number, scale: number): Tensor {
  const d = (qkv.shape[2] as number) / 3;
  if (fusedKernelsActive() && d / heads <= MAX_HEAD_SIZE) return fusedAttentionQKV(qkv, bias, heads, scale);
  return selfAttentionQKVReference(qkv, bias, heads, scale);
}

export function selfAttentionQKVReference(qkv: Tensor, bias: Tensor, heads: number, scale: number): Tensor {
  const [B, T] = qkv.shape as [number, number, number];
  const d = (qkv.shape[2] as number) / 3;
  const split = (x: Tensor) => tf.transpose(tf.reshape(x, [B, T, heads, d / heads]), [0, 2, 1, 3]); // [B, H, T, hd]
  const [q, k, v] = tf.split(qkv, 3, 2).map(split);
  const y = attentionReference(q, k, v, bias, scale); // [B, H, T, hd]
  return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, d]);
}
