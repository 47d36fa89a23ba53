// The building blocks every architecture file composes: projections, norms, activations and attention, as plain
// TensorFlow.js compositions. They are the one seam where a backend-specific fused kernel (src/kernels/<backend>/)
// or a faster arrangement for one backend can replace the reference without touching the model files: on the
// webgpu backend, layer norm, the tanh GELU, attention and the target log-probability run fused WGSL kernels
// (src/kernels/webgpu/); the `…Reference` functions are the compositions those kernels are tested against.
import { tf, type Tensor } from '../backend';
import type { LayerCheckpointing } from './types';
import { fusedAttention, fusedAttentionQKV, fusedGeluTanh, fusedKernelsActive, fusedLayerNorm, fusedTargetLogProb, MAX_HEAD_SIZE } from '../kernels/webgpu';

// Every custom gradient below runs in its own tf.tidy: tfjs calls a customGrad's gradFunc outside any scope, so
// its intermediates would otherwise stay alive until the whole backward pass ends (1.3 GB for one GPT-2 small
// example).

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
      gradFunc: (dy: Tensor, [w]: Tensor[]) => tf.tidy(() => (tf.getBackend() === 'wasm' ? tf.matMul(dy, frozenTranspose(w)) : tf.matMul(dy, w, false, true))),
    };
  });
  return f(x);
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
 * Numbers a transformer layer run plain (not checkpointed) keeps on the tape per position of a pass of T positions,
 * for model width d, feed-forward width ff and H heads: fitted to tfjs's own count of tensor bytes at the peak of a
 * pass (which counts views as copies, so it errs high) on a SmolLM-135M-sized and a Qwen2.5-0.5B-sized Llama, 52k
 * and 105k numbers: ≈ 64·d + 10·ff + H·T. Used for Llama layers and T5 blocks (see LayerCheckpointing).
 */
export function plainLayerFloats(d: number, ff: number, heads: number, T: number): number {
  return 64 * d + 10 * ff + heads * T;
}

/** Whether layer `i` (of c.layers) runs checkpointed in a training pass: all but the last c.plainLayers. */
export function isCheckpointed(c: LayerCheckpointing, i: number): boolean {
  return i < c.layers - Math.max(0, Math.min(c.layers, Math.floor(c.plainLayers)));
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


/** By the weight's data (not its Tensor object: the copy a gradient function receives is another object). */
const transposes = new WeakMap<object, Tensor>();

/**
 * Wᵀ of a frozen weight, made once and kept. On WASM, XNNPACK packs a product's right operand into an operator it
 * caches per tensor; dy·Wᵀ with a transpose made on every backward pass meant packing W afresh each time, which
 * measured up to 2× the product itself. The copy costs the weight's size (plus XNNPACK's packed copy of it);
 * the model's dispose() hands it back with releaseFrozen.
 */
export function frozenTranspose(w: Tensor): Tensor {
  let t = transposes.get(w.dataId);
  if (!t || t.isDisposed) {
    t = tf.keep(tf.transpose(w));
    transposes.set(w.dataId, t);
  }
  return t;
}

/**
 * Makes up front what the first training step would otherwise create, on WASM only: a frozen projection's
 * transpose and XNNPACK's packed copies of W (with its bias, as the forward product uses it) and of Wᵀ. Made right
 * after the weights are loaded, these long-lived blocks sit together at the bottom of the 4 GiB heap; made during
 * the first backward pass they land between activations that are freed afterwards, and the holes left behind cost
 * GPT-2 small about 1 GB of its heap. Same calls as the step makes, on one zero row.
 */
export function prepareLinear(weight: Tensor, bias?: Tensor): void {
  if (tf.getBackend() !== 'wasm') return;
  tf.tidy(() => {
    const [inDim, outDim] = weight.shape as [number, number];
    const row = tf.zeros([1, inDim]);
    if (bias) tf.fused.matMul({ a: row, b: weight, bias });
    else tf.matMul(row, weight);
    tf.matMul(tf.zeros([1, outDim]), frozenTranspose(weight));
  });
}

/** The same for a product's frozen right operand b [k, n] used as x·b. */
export function prepareProduct(b: Tensor): void {
  if (tf.getBackend() !== 'wasm') return;
  tf.tidy(() => tf.matMul(tf.zeros([1, b.shape[0]]), b));
}

/** Disposes what frozenTranspose made for these weights. */
export function releaseFrozen(weights: Iterable<Tensor>): void {
  for (const w of weights) {
    transposes.get(w.dataId)?.dispose();
    transposes.delete(w.dataId);
  }
}

/**
 * Layer norm over the last axis (biased variance, as torch.nn.LayerNorm). Its gradient is written out for the
 * input only (γ and β are frozen): dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ — 8 kernels instead of the
 * ~20 that differentiating the forward's kernels one by one takes, and only x̂ and rstd kept for the backward pass.
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  if (fusedKernelsActive()) return fusedLayerNorm(x, gamma, beta, eps);
  const f = tf.customGrad((input, save) => {
    const xin = input as Tensor;
    const centred = tf.sub(xin, tf.mean(xin, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps)); // [..., 1]
    const xhat = tf.mul(centred, rstd);
    (save as (t: Tensor[]) => void)([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: Tensor, [xh, r, gm]: Tensor[]) => tf.tidy(() => {
        const g = tf.mul(dy, gm);
        const dotted = tf.mean(tf.mul(g, xh), -1, true);
        return tf.mul(tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xh, dotted)), r);
      }),
    };
  });
  return f(x);
}

/** The plain composition: the reference the fused WebGPU kernel and the written-out gradient are tested against. */
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
    case 'gelu_pytorch_tanh':
      return geluTanh(x);
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

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GPT-2's GELU, 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), computed as x·σ(2u) — the same function
 * (0.5·(1 + tanh(u)) = σ(2u)) — because a logistic is one fast vectorised kernel where tanh and pow are slow scalar
 * loops on WASM (≈13× here). The gradient is written out: d/dx = s + x·s·(1 − s)·2·√(2/π)·(1 + 3·0.044715·x²).
 */
function geluTanh(x: Tensor): Tensor {
  const gate = (t: Tensor) => tf.sigmoid(tf.mul(tf.add(t, tf.mul(tf.mul(tf.mul(t, t), t), GELU_A)), 2 * GELU_C)); // σ(2u)
  const f = tf.customGrad((input, save) => {
    const xin = input as Tensor;
    (save as (t: Tensor[]) => void)([xin]); // the gate is recomputed in the backward pass: 4d numbers per token less to keep
    return {
      value: tf.mul(xin, gate(xin)),
      gradFunc: (dy: Tensor, [xs]: Tensor[]) => tf.tidy(() => {
        const sg = gate(xs);
        const slope = tf.add(tf.mul(tf.square(xs), 3 * GELU_A * 2 * GELU_C), 2 * GELU_C); // du/dx · 2
        const ds = tf.mul(tf.mul(sg, tf.sub(1, sg)), tf.mul(xs, slope)); // x·σ'(2u)·2u'
        return tf.mul(dy, tf.add(sg, ds));
      }),
    };
  });
  return f(x);
}

/** Gated feed-forward inner value act(gate) ⊙ up: SwiGLU (Llama, act silu) and T5 v1.1's gated GELU. [N, f] each. */
export function gatedActivation(gate: Tensor, up: Tensor, kind: Activation): Tensor {
  return tf.mul(activation(gate, kind), up);
}

/**
 * Additive attention bias: 0 where a query may see a key (causal and not padding), a large negative elsewhere.
 * [B, 1, T, T]; with `queryPositions` (Tq positions per sequence, [B·Tq] row-major, see queryRows) only those
 * queries' rows: [B, 1, Tq, T].
 */
export function attentionBias(mask: Tensor, T: number, queryPositions?: Int32Array): Tensor {
  return tf.tidy(() => {
    const keys = tf.expandDims(tf.expandDims(tf.cast(mask, 'float32'), 1), 1); // [B, 1, 1, T]
    let causal: Tensor;
    if (queryPositions) {
      const B = mask.shape[0];
      const q = tf.tensor4d(queryPositions, [B, 1, queryPositions.length / B, 1], 'int32'); // [B, 1, Tq, 1]
      causal = tf.cast(tf.lessEqual(tf.reshape(tf.range(0, T, 1, 'int32'), [1, 1, 1, T]), q), 'float32'); // [B, 1, Tq, T]
    } else {
      causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // [T, T] lower triangle
    }
    const allowed = tf.mul(causal, keys); // [B, 1, Tq, T]
    return tf.mul(tf.sub(1, allowed), -1e9);
  });
}

/** Where the rows a loss reads sit in a [B, T] layout, arranged so the last layer can work on those rows only. */
export interface QueryRows {
  /** Tq: rows per sequence (the most any sequence needs; others are filled up with rows nobody reads). */
  perSequence: number;
  /** [B·Tq] flat indices b·T + t of the rows to compute, sequence by sequence, all distinct. */
  gather: Int32Array;
  /** [B·Tq] the position t of each of those rows. */
  positions: Int32Array;
  /** [N] where each requested row sits among `gather`, in the order requested. */
  pick: Int32Array;
}

/**
 * Groups flat rows b·T + t by sequence. Each sequence gets Tq slots: its own rows first, then fillers (its
 * lowest positions not asked for) so every sequence has the same count and attention stays one batched product.
 */
export function queryRows(rows: ArrayLike<number>, B: number, T: number): QueryRows {
  const bySeq = Array.from({ length: B }, () => [] as number[]);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!Number.isInteger(r) || r < 0 || r >= B * T) throw new Error(`internal: row ${r} is outside [0, ${B * T})`);
    bySeq[Math.floor(r / T)].push(r % T);
  }
  const Tq = Math.max(1, ...bySeq.map((s) => new Set(s).size));
  const gather = new Int32Array(B * Tq);
  const positions = new Int32Array(B * Tq);
  const slot = new Map<number, number>();
  bySeq.forEach((asked, b) => {
    const mine = [...new Set(asked)];
    for (let t = 0; mine.length < Tq; t++) if (!mine.includes(t)) mine.push(t);
    mine.forEach((t, j) => {
      gather[b * Tq + j] = b * T + t;
      positions[b * Tq + j] = t;
      slot.set(b * T + t, b * Tq + j);
    });
  });
  const pick = Int32Array.from(Array.from(rows, (r) => slot.get(r)!));
  return { perSequence: Tq, gather, positions, pick };
}

/**
 * Rows `indices` of x [R, d] → [len, d]. The gradient scatters back (tf.gather's own gradient needs
 * UnsortedSegmentSum, which the WASM backend lacks); indices must be distinct, as queryRows makes them.
 */
export function takeRows(x: Tensor, indices: Int32Array): Tensor {
  const f = tf.customGrad((input) => {
    const xin = input as Tensor;
    const idx = tf.tensor1d(indices, 'int32');
    return {
      value: tf.gather(xin, idx),
      gradFunc: (dy: Tensor) => tf.tidy(() => tf.scatterND(tf.tensor2d(indices, [indices.length, 1], 'int32'), dy, xin.shape)),
    };
  });
  return f(x);
}

/**
 * Grouped-query attention without copies: with H query heads over K key/value heads (query head h reads kv head
 * ⌊h / g⌋, g = H / K), a per-head tensor [B, H, Tq, x] is the same memory as [B, K, g·Tq, x], so the g query heads
 * of a group multiply their shared keys and values in one product, and the keys' and values' gradients come out
 * summed over the group by that product. `grouped` and `perHead` are the two views (free reshapes; identity when
 * H = K).
 */
function headViews(qs: Tensor, k: Tensor) {
  const [B, H, Tq] = qs.shape as [number, number, number, number];
  const K = k.shape[1] as number;
  if (H % K !== 0) throw new Error(`internal: ${H} query heads cannot share ${K} key/value heads`);
  const g = H / K;
  return {
    grouped: (t: Tensor) => (g === 1 ? t : tf.reshape(t, [B, K, g * Tq, t.shape[3] as number])),
    perHead: (t: Tensor) => (g === 1 ? t : tf.reshape(t, [B, H, Tq, t.shape[3] as number])),
  };
}

/** p = softmax(qs·kᵀ + bias) and y = p·v, for q already multiplied by the scale (k and v may have fewer heads). */
function attend(qs: Tensor, k: Tensor, v: Tensor, bias: Tensor): { p: Tensor; y: Tensor } {
  const { grouped, perHead } = headViews(qs, k);
  const p = tf.softmax(tf.add(perHead(tf.matMul(grouped(qs), k, false, true)), bias)); // [B, H, Tq, Tk]
  return { p, y: perHead(tf.matMul(grouped(p), v)) }; // [B, H, Tq, hd]
}

/**
 * The gradient of y = softmax(qs·kᵀ + bias)·v written out: 5 products and 4 elementwise kernels, from the scaled
 * queries, keys, values and the attention weights p (all the forward pass needs to keep).
 */
function attendGrads(dy: Tensor, qs: Tensor, k: Tensor, v: Tensor, p: Tensor, scale: number): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const { grouped, perHead } = headViews(qs, k);
  const dp = perHead(tf.matMul(grouped(dy), v, false, true)); // [B, H, Tq, Tk]
  const ds = grouped(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)))); // softmax's Jacobian
  return {
    dq: tf.mul(perHead(tf.matMul(ds, k)), scale),
    dk: tf.matMul(ds, grouped(qs), true, false), // [B, K, Tk, hd]: summed over each group's query heads
    dv: tf.matMul(grouped(p), grouped(dy), true, false),
  };
}

/**
 * softmax(q·kᵀ·scale + bias)·v for q [B, H, Tq, hd], k and v [B, K, Tk, hd] (K = H, or K dividing H for
 * grouped-query attention: query head h reads kv head ⌊h·K / H⌋), bias broadcastable to [B, H, Tq, Tk] →
 * [B, H, Tq, hd]. The scale is applied to q (Tq·hd numbers instead of Tq·Tk scores), and the
 * gradient is written out, so the tape keeps q·scale, k, v and the weights instead of every intermediate.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number): Tensor {
  if (fusedKernelsActive() && q.rank === 4 && (q.shape[3] as number) <= MAX_HEAD_SIZE) {
    const g = (q.shape[1] as number) / (k.shape[1] as number); // the fused kernel reads one kv head per query head
    return fusedAttention(q, repeatKV(k, g), repeatKV(v, g), bias, scale);
  }
  const f = tf.customGrad((qi, ki, vi, save) => {
    const qs = tf.mul(qi as Tensor, scale);
    const { p, y } = attend(qs, ki as Tensor, vi as Tensor, bias);
    (save as (t: Tensor[]) => void)([qs, ki as Tensor, vi as Tensor, p]);
    return {
      value: y,
      gradFunc: (dy: Tensor, [sq, sk, sv, sp]: Tensor[]) => tf.tidy(() => {
        const { dq, dk, dv } = attendGrads(dy, sq, sk, sv, sp, scale);
        return [dq, dk, dv];
      }),
    };
  });
  return f(q, k, v);
}

/**
 * Multi-head self-attention from one fused projection (GPT-2's c_attn): qkv [B·T, 3d] holding q | k | v → the
 * heads' outputs merged back, [B·T, d]; with `queries` (see queryRows) only those rows, [B·Tq, d]. Splitting and
 * merging the heads happen inside one custom-gradient block, so the tape keeps just q·scale, k, v and the attention
 * weights (3d + H·T numbers per token) and no reshape or slice pins another copy of its input.
 */
export function selfAttention(qkv: Tensor, bias: Tensor, B: number, T: number, heads: number, queries?: QueryRows): Tensor {
  const d = (qkv.shape[1] as number) / 3;
  const hd = d / heads;
  const scale = 1 / Math.sqrt(hd);
  if (fusedKernelsActive() && hd <= MAX_HEAD_SIZE) return selfAttentionFused(qkv, bias, B, T, heads, scale, queries);
  const Tq = queries ? queries.perSequence : T;
  const split = (t: Tensor, rows: number) => tf.transpose(tf.reshape(t, [B, rows, heads, hd]), [0, 2, 1, 3]); // [B, H, rows, hd]
  const merge = (t: Tensor, rows: number) => tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [B * rows, d]); // [B·rows, d]
  const f = tf.customGrad((input, save) => {
    const x = input as Tensor;
    let q = tf.slice(x, [0, 0], [B * T, d]);
    if (queries) q = tf.gather(q, tf.tensor1d(queries.gather, 'int32'));
    const qs = tf.mul(split(q, Tq), scale);
    const k = split(tf.slice(x, [0, d], [B * T, d]), T);
    const v = split(tf.slice(x, [0, 2 * d], [B * T, d]), T);
    const { p, y } = attend(qs, k, v, bias);
    (save as (t: Tensor[]) => void)([qs, k, v, p]);
    return {
      value: merge(y, Tq),
      gradFunc: (dy: Tensor, [sq, sk, sv, sp]: Tensor[]) => tf.tidy(() => {
        const { dq, dk, dv } = attendGrads(split(dy, Tq), sq, sk, sv, sp, scale);
        let dqRows = merge(dq, Tq);
        if (queries) dqRows = tf.scatterND(tf.tensor2d(queries.gather, [queries.gather.length, 1], 'int32'), dqRows, [B * T, d]);
        return tf.concat([dqRows, merge(dk, T), merge(dv, T)], 1); // [B·T, 3d]
      }),
    };
  });
  return f(qkv);
}

/**
 * selfAttention on webgpu: the fused kernel reads q, k and v in place from the [B, T, 3d] projection; with `queries`
 * (the last block at the loss rows only) the query rows are gathered first and the fused attention runs on them.
 */
function selfAttentionFused(qkv: Tensor, bias: Tensor, B: number, T: number, heads: number, scale: number, queries?: QueryRows): Tensor {
  const d = (qkv.shape[1] as number) / 3;
  if (!queries) return tf.reshape(fusedAttentionQKV(tf.reshape(qkv, [B, T, 3 * d]), bias, heads, scale), [B * T, d]);
  const hd = d / heads;
  const split = (t: Tensor, rows: number) => tf.transpose(tf.reshape(t, [B, rows, heads, hd]), [0, 2, 1, 3]); // [B, H, rows, hd]
  const q = tf.gather(tf.slice(qkv, [0, 0], [B * T, d]), tf.tensor1d(queries.gather, 'int32')); // [B·Tq, d]
  const k = split(tf.slice(qkv, [0, d], [B * T, d]), T);
  const v = split(tf.slice(qkv, [0, 2 * d], [B * T, d]), T);
  const y = fusedAttention(split(q, queries.perSequence), k, v, bias, scale); // [B, H, Tq, hd]
  return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * queries.perSequence, d]);
}

/** The plain composition: the reference the fused WebGPU kernel and the written-out gradient are tested against. */
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

/**
 * The most real (mask 1) positions of any row: what a position table must hold. `columns` (the mask's width,
 * padding included) bounds it, so the mask is read back (a sync) only when that bound is over `limit`; webgpu cannot
 * read synchronously in Node, so there the caller's own check (the generator counts every row's tokens on the host)
 * is what keeps sequences in range.
 */
export function longestSequence(mask: Tensor, columns: number, limit: number): number {
  if (columns <= limit) return columns;
  if (tf.getBackend() === 'webgpu') return limit;
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

/**
 * cos and sin of position·invFreq in the "rotate half" layout, read from tables made on the host: the angle is the
 * float32 product (as PyTorch forms it) and its cos and sin are computed in double precision and rounded once. The
 * device's own sin and cos are approximations that lose accuracy as the angle grows — on WebGPU (SwiftShader) they
 * put the Llama fixtures' logits 1e-3 to 8e-3 off PyTorch's — so no backend computes them. The tables hold the
 * first 2,048 positions, more when a longer sequence comes (grown by doubling, up to the model's limit), and are
 * kept until dispose().
 */
export class RopeTable {
  private cos: Tensor | null = null;
  private sin: Tensor | null = null;
  private size = 0;

  /** Made for the first 2,048 positions (1–2 MB) at once, so that ordinary passes never change the tensor count. */
  constructor(private readonly invFreq: Float32Array, private readonly maxPositions: number) {
    this.grow(Math.min(maxPositions, 2048));
  }

  /** cos and sin [B, 1, T, hd] for positions [B, T] (whole numbers below `count`, which must not exceed maxPositions). */
  lookup(positions: Tensor, count: number): { cos: Tensor; sin: Tensor } {
    this.grow(count);
    const ids = tf.cast(positions, 'int32');
    return { cos: tf.expandDims(tf.gather(this.cos!, ids), 1), sin: tf.expandDims(tf.gather(this.sin!, ids), 1) };
  }

  private grow(count: number): void {
    if (count <= this.size) return;
    const size = Math.min(Math.max(count, 2 * this.size, 64), Math.max(count, this.maxPositions));
    const half = this.invFreq.length;
    const cos = new Float32Array(size * 2 * half);
    const sin = new Float32Array(size * 2 * half);
    for (let p = 0; p < size; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * this.invFreq[i]);
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        cos[p * 2 * half + i] = cos[p * 2 * half + half + i] = c;
        sin[p * 2 * half + i] = sin[p * 2 * half + half + i] = s;
      }
    }
    this.dispose();
    this.cos = tf.keep(tf.tensor2d(cos, [size, 2 * half]));
    this.sin = tf.keep(tf.tensor2d(sin, [size, 2 * half]));
    this.size = size;
  }

  dispose(): void {
    this.cos?.dispose();
    this.sin?.dispose();
    [this.cos, this.sin, this.size] = [null, null, 0];
  }
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
