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

/** A torch nn.Linear with a frozen weight kept as the checkpoint stores it, [out, in]: x [N, in] → x·Wᵀ (+ b) [N, out]. */
export function linearT(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const y = frozenProduct(x, weight);
  return bias ? tf.add(y, bias) : y;
}

/**
 * x·Wᵀ for a frozen W [out, in], differentiable in x only, as a custom gradient: the tape keeps no copy of W (tfjs
 * clones every input an op saves for its gradient, and on WASM a clone copies — a whole extra model per training
 * step). On WASM both products are arranged for XNNPACK (the backend's transposed products take a loop ~10× slower)
 * without letting it keep a packed copy of W, which it caches for the life of any tensor it multiplies by: the
 * forward runs as (W·xᵀ)ᵀ, with the small xᵀ as XNNPACK's packed operand; the backward dy·W multiplies by fresh
 * copies of W, a block of rows at a time, whose packing is freed with them.
 */
function frozenProduct(x: Tensor, weight: Tensor): Tensor {
  const wasm = tf.getBackend() === 'wasm';
  const product = tf.customGrad((...args) => {
    const input = args[0] as Tensor; // [N, in]
    return {
      value: wasm ? tf.transpose(tf.matMul(weight, tf.transpose(input))) : tf.matMul(input, weight, false, true), // [N, out]
      gradFunc: (dy: Tensor) => (wasm ? blockedProduct(dy, weight) : tf.matMul(dy, weight)), // [N, in]
    };
  });
  return product(x);
}

/** Elements of W copied (and packed by XNNPACK) at a time in blockedProduct: 32 MB. */
const PRODUCT_BLOCK = 8 * 2 ** 20;

/** dy [N, out] · W [out, in] as Σ over row blocks of W, each a fresh tensor freed (with its packing) before the next. */
function blockedProduct(dy: Tensor, weight: Tensor): Tensor {
  const [out, inner] = weight.shape as [number, number];
  const rows = Math.max(1, Math.floor(PRODUCT_BLOCK / inner));
  let sum: Tensor | null = null;
  for (let start = 0; start < out; start += rows) {
    const r = Math.min(rows, out - start);
    const part = tf.tidy(() => tf.matMul(tf.slice(dy, [0, start], [-1, r]), tf.slice(weight, [start, 0], [r, inner]))); // [N, in]
    const next: Tensor = sum ? tf.add(sum, part) : part;
    if (sum) tf.dispose([sum, part]);
    sum = next;
  }
  return sum!;
}

/**
 * A block y = f(inputs…, context…) run so that a gradient tape keeps only its arguments: the backward pass recomputes
 * the block and differentiates it then (gradient checkpointing). A training step then holds one activation per
 * block and one block's insides at a time instead of every intermediate of every layer, for one extra forward
 * pass. `inputs` get gradients; `context` tensors (masks, rotary tables made in the same forward pass) are kept for
 * the recomputation and get none; tensors that outlive the step (weights) may simply be read from the closure.
 */
export function checkpointed(f: (...args: Tensor[]) => Tensor, inputs: Tensor[], context: Tensor[] = []): Tensor {
  const n = inputs.length;
  const run = tf.customGrad((...args) => {
    const all = args.slice(0, -1) as Tensor[];
    (args[args.length - 1] as (save: Tensor[]) => void)(all);
    return {
      value: f(...all),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const ctx = saved.slice(n);
        // The recomputation records on a tape of its own. tfjs keeps one tape in its engine state and clears it when a
        // gradient computation ends, so the outer tape (whose backward pass is running) is put back afterwards.
        const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
        const outer = state.activeTape;
        try {
          const grads = tf.grads((...xs: Tensor[]) => f(...xs, ...ctx))(saved.slice(0, n), dy);
          return [...grads, ...ctx.map((c) => tf.zerosLike(c))];
        } finally {
          state.activeTape = outer;
        }
      },
    };
  });
  return run(...inputs, ...context);
}

/** Rows of a frozen table (token embeddings) for ids [B, S] → [B, S, d], without the tape keeping a copy of the table. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  const lookup = tf.customGrad((...args) => ({
    value: tf.gather(table, args[0] as Tensor),
    gradFunc: () => {
      throw new Error('internal: the token embeddings are frozen; nothing trainable lies before the lookup');
    },
  }));
  return lookup(ids);
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

/** RMS norm over the last axis, x / √(mean(x²) + eps) · gamma: Llama's RMSNorm and T5's layer norm (no mean, no bias). */
export function rmsNorm(x: Tensor, gamma: Tensor, eps: number): Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true); // [..., 1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), gamma);
}

export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu' | 'silu';

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
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    default: {
      const never: never = kind;
      throw new Error(`Unknown activation ${String(never)}`);
    }
  }
}

/** Gated feed-forward inner value act(gate) ⊙ up: SwiGLU (Llama, act silu) and T5 v1.1's gated GELU. [N, f] each. */
export function gatedActivation(gate: Tensor, up: Tensor, kind: Activation): Tensor {
  return tf.mul(activation(gate, kind), up);
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

// ---- Attention over a key/value cache. Query rows are the T newest positions; keys are every position so far (L
// cached + T new). A mask [B, L + T] (1 real, 0 padding) covers all keys; positions are counted from it, so a
// left-padded row (used when generating a batch) gets the positions it would have unpadded.

/** Position of every key from the padding mask: cumsum(mask) − 1, at least 0. [B, L] → [B, L] float32. */
export function positionsFromMask(mask: Tensor): Tensor {
  return tf.maximum(tf.sub(tf.cumsum(tf.cast(mask, 'float32'), 1), 1), 0);
}

/** The most real (mask 1) positions of any row: what a position table must hold. Reads the mask back (a sync). */
export function longestSequence(mask: Tensor): number {
  const longest = tf.tidy(() => tf.max(tf.sum(tf.cast(mask, 'float32'), 1)));
  const value = longest.dataSync()[0];
  longest.dispose();
  return value;
}

/**
 * Additive bias [B, 1, T, L + T] for T new queries after L cached keys: a query at index L + t sees keys up to
 * index L + t that are not padding, and with a sliding `window`, only keys fewer than `window` positions back.
 */
export function causalBias(mask: Tensor, T: number, window: number | null = null): Tensor {
  return tf.tidy(() => {
    const total = mask.shape[1] as number;
    const past = total - T;
    const causal = new Float32Array(T * total);
    for (let t = 0; t < T; t++) for (let j = 0; j <= past + t; j++) causal[t * total + j] = 1;
    const keys = tf.reshape(tf.cast(mask, 'float32'), [-1, 1, 1, total]); // [B, 1, 1, L+T]
    let allowed = tf.mul(tf.tensor(causal, [1, 1, T, total]), keys); // [B, 1, T, L+T]
    if (window !== null) {
      const pos = positionsFromMask(mask); // [B, L+T]
      const q = tf.slice(pos, [0, past], [-1, T]); // [B, T]
      const distance = tf.sub(tf.expandDims(q, 2), tf.expandDims(pos, 1)); // [B, T, L+T]
      allowed = tf.mul(allowed, tf.expandDims(tf.cast(tf.less(distance, window), 'float32'), 1));
    }
    return tf.mul(tf.sub(1, allowed), -1e9);
  });
}

/** Additive bias [B, 1, 1, S] that hides padded keys (encoder self-attention, cross-attention). */
export function paddingBias(mask: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.reshape(tf.cast(mask, 'float32'), [mask.shape[0], 1, 1, -1])), -1e9));
}

/** [B·T, H·hd] → [B, H, T, hd]. */
export function splitHeads(x: Tensor, B: number, T: number, H: number, hd: number): Tensor {
  return tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]);
}

/** [B, H, T, hd] → [B·T, H·hd]. */
export function mergeHeads(y: Tensor): Tensor {
  const [B, H, T, hd] = y.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, H * hd]);
}

/** The cache's keys or values [B, Hkv, L, hd] followed by the new ones [B, Hkv, T, hd] → [B, Hkv, L + T, hd]. */
export function appendKV(past: Tensor | null, current: Tensor): Tensor {
  return past ? tf.concat([past, current], 2) : current;
}

/** Grouped-query attention: key/value heads [B, Hkv, L, hd] → [B, Hkv·groups, L, hd]; query head h reads kv head ⌊h / groups⌋. */
export function repeatKV(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const [B, K, L, hd] = x.shape as [number, number, number, number];
  // Rank 4 throughout (tfjs has no gradient for a rank-5 tile): [B, K, 1, L·hd] → [B, K, g, L·hd] → [B, K·g, L, hd].
  return tf.reshape(tf.tile(tf.reshape(x, [B, K, 1, L * hd]), [1, 1, groups, 1]), [B, K * groups, L, hd]);
}

// ---- Rotary position embeddings (Su et al.), in the "rotate half" layout of Hugging Face Llama checkpoints.

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/**
 * Inverse frequencies θ^(−2i/hd) for i < hd/2, with rope_scaling applied: `linear` divides all by the factor;
 * `llama3` divides the long wavelengths (beyond original / low_freq_factor) by the factor, keeps the short ones
 * (below original / high_freq_factor) and interpolates smoothly in between. Float32 arithmetic, as HF computes it.
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const f = Math.fround;
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const inv = f(1 / f(theta ** f((2 * i) / headDim)));
    out[i] = inv;
    if (scaling.type === 'linear') out[i] = f(inv / scaling.factor);
    if (scaling.type !== 'llama3') continue;
    const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = scaling;
    const wavelen = f((2 * Math.PI) / inv);
    if (wavelen > old / low) out[i] = f(inv / factor);
    else if (wavelen >= old / high) {
      const smooth = f((f(old / wavelen) - low) / (high - low));
      out[i] = f(f(f(1 - smooth) * f(inv / factor)) + f(smooth * inv));
    }
  }
  return out;
}

/** cos and sin of position · frequency, each [B, 1, T, hd] (the hd/2 angles twice), for positions [B, T]. */
export function ropeCosSin(positions: Tensor, invFreq: Tensor): { cos: Tensor; sin: Tensor } {
  const angles = tf.mul(tf.expandDims(positions, 2), tf.reshape(invFreq, [1, 1, -1])); // [B, T, hd/2]
  const full = tf.expandDims(tf.concat([angles, angles], 2), 1); // [B, 1, T, hd]
  return { cos: tf.cos(full), sin: tf.sin(full) };
}

/** x·cos + rotate_half(x)·sin with rotate_half([x1, x2]) = [−x2, x1]: x [B, H, T, hd]. */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const hd = x.shape[3] as number;
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
}

// ---- T5's relative position bias.

/**
 * T5's bucket for a relative position (key − query): exact buckets for small distances, logarithmic ones up to
 * maxDistance, the last bucket beyond; bidirectional halves the buckets between keys before and after the query,
 * causal maps every later key to bucket 0. Float32 steps, as T5 and Hugging Face compute it.
 */
export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  const f = Math.fround;
  let bucket = 0;
  let n = numBuckets;
  let rel = relative;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rel > 0) bucket += n;
    rel = Math.abs(rel);
  } else {
    rel = -Math.min(rel, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rel < maxExact) return bucket + rel;
  const scaled = f(f(f(Math.log(f(rel / maxExact))) / f(Math.log(maxDistance / maxExact))) * (n - maxExact));
  return bucket + Math.min(maxExact + Math.trunc(scaled), n - 1);
}

/**
 * Position bias [1, H, Tq, Tk] for queries at positions qStart … qStart + Tq − 1 over keys 0 … Tk − 1, from a
 * stack's relative_attention_bias table [buckets, H].
 */
export function relativePositionBias(table: Tensor, qStart: number, Tq: number, Tk: number, bidirectional: boolean, maxDistance: number): Tensor {
  return tf.tidy(() => {
    const numBuckets = table.shape[0] as number;
    const buckets = new Int32Array(Tq * Tk);
    for (let i = 0; i < Tq; i++) {
      for (let j = 0; j < Tk; j++) buckets[i * Tk + j] = relativePositionBucket(j - (qStart + i), bidirectional, numBuckets, maxDistance);
    }
    const values = tf.gather(table, tf.tensor1d(buckets, 'int32')); // [Tq·Tk, H]
    return tf.expandDims(tf.transpose(tf.reshape(values, [Tq, Tk, -1]), [2, 0, 1]), 0); // [1, H, Tq, Tk]
  });
}
