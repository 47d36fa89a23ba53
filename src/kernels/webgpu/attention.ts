// Fused attention for the WebGPU backend: softmax(q·kᵀ·scale + bias)·v in one pass per query row, never
// materialising the [B, H, Tq, Tk] score or probability matrices, and its backward in four kernels.
//
// Reference: `attentionReference` / `selfAttentionQKVReference` in src/models/layers.ts (matMul, mul, add, softmax,
// matMul — five kernels and two [B, H, Tq, Tk] tensors forward, about twelve backward; GPT-2 adds slices and
// transposes to split and merge heads). This is FlashAttention's arithmetic (Dao et al.
// 2022) without its tiling of K/V through shared memory:
//   forward   one workgroup per query row; keys in tiles of WG: each thread scores one key, the tile's maximum
//             rescales the running sum and output (online softmax), then the tile's probabilities weight V.
//   backward  stats: per query row L = logsumexp of the scores and D = dO·O (from the saved output);
//             dQ: per query row, dS_j = P_j (dO·v_j − D) recomputed from L, dQ = scale Σ_j dS_j k_j;
//             dK, dV: per key row, over query tiles, dK = scale Σ_i dS_ij q_i and dV = Σ_i P_ij dO_i.
// The additive bias (causal mask, padding, or a relative-position bias) is read as given, broadcast over any of
// its four axes, so every architecture can use the kernel. Its own gradient (never needed when the model is
// frozen) falls back to the plain composition.
import { tf, type Tensor } from '../../backend';
import { NEG_BIG, WG, registerWebGPUKernel, rowProgram, run, runKernel, type TensorInfo, type Uniform } from './program';

const UNIFORMS = 'scale : f32, heads : i32, tq : i32, tk : i32, bs0 : i32, bs1 : i32, bs2 : i32, bs3 : i32, '
  + 'qOff : i32, qB : i32, qH : i32, qT : i32, kOff : i32, kB : i32, kH : i32, kT : i32, vOff : i32, vB : i32, vH : i32, vT : i32, '
  + 'oB : i32, oH : i32, oT : i32,';

/**
 * Where row (b, h, position) of q, k, v and of the output (and dO) starts: offset + b·B + h·H + position·T, the
 * head's hd values contiguous from there. Heads split ([B, H, T, hd]) or GPT-2's fused projection ([B, T, 3d]
 * with q, k, v side by side) are just different strides, so the kernels never need a transpose.
 */
interface Layouts {
  q: [number, number, number, number];
  k: [number, number, number, number];
  v: [number, number, number, number];
  o: [number, number, number];
}

/** Layouts of separate q [B, H, Tq, hd], k and v [B, H, Tk, hd], output [B, H, Tq, hd]. */
function splitLayouts(H: number, Tq: number, Tk: number, hd: number): Layouts {
  return { q: [0, H * Tq * hd, Tq * hd, hd], k: [0, H * Tk * hd, Tk * hd, hd], v: [0, H * Tk * hd, Tk * hd, hd], o: [H * Tq * hd, Tq * hd, hd] };
}

/** Layouts of qkv [B, T, 3d] (GPT-2's c_attn output) and an output [B, T, d] with heads merged. */
function qkvLayouts(T: number, d: number, hd: number): Layouts {
  const row = (off: number): [number, number, number, number] => [off, T * 3 * d, hd, 3 * d];
  return { q: row(0), k: row(d), v: row(2 * d), o: [T * d, hd, d] };
}

/** Shape facts every attention kernel needs, and its uniforms (in UNIFORMS' order, after `rows`). */
function geometry(dims: { B: number; H: number; Tq: number; Tk: number; hd: number }, layouts: Layouts, bias: TensorInfo, scale: number, rows: 'queries' | 'keys') {
  const { B, H, Tq, Tk, hd } = dims;
  // A broadcast axis of the bias has stride 0.
  const full = [B, H, Tq, Tk];
  const strides = [0, 0, 0, 0];
  let stride = 1;
  for (let a = 3; a >= 0; a--) {
    strides[a] = bias.shape[a] === 1 && full[a] !== 1 ? 0 : stride;
    stride *= bias.shape[a];
  }
  const n = rows === 'queries' ? B * H * Tq : B * H * Tk;
  const uniforms: Uniform[] = [
    { type: 'int32', data: [n] }, { type: 'float32', data: [scale] }, { type: 'int32', data: [H] }, { type: 'int32', data: [Tq] },
    { type: 'int32', data: [Tk] }, ...[...strides, ...layouts.q, ...layouts.k, ...layouts.v, ...layouts.o].map((s) => ({ type: 'int32' as const, data: [s] })),
  ];
  return { B, H, Tq, Tk, hd, n, uniforms };
}

/** WGSL shared by the kernels: head size as a constant, and how a row number splits into batch, head, position. */
function prelude(hd: number): string {
  return `
    const HD : i32 = ${hd};
    const HDC : i32 = ${Math.ceil(hd / WG)};
    fn biasAt(b : i32, h : i32, i : i32, j : i32) -> f32 {
      return Bias[b * uniforms.bs0 + h * uniforms.bs1 + i * uniforms.bs2 + j * uniforms.bs3];
    }
    fn qAt(b : i32, h : i32, i : i32) -> i32 { return uniforms.qOff + b * uniforms.qB + h * uniforms.qH + i * uniforms.qT; }
    fn kAt(b : i32, h : i32, j : i32) -> i32 { return uniforms.kOff + b * uniforms.kB + h * uniforms.kH + j * uniforms.kT; }
    fn vAt(b : i32, h : i32, j : i32) -> i32 { return uniforms.vOff + b * uniforms.vB + h * uniforms.vH + j * uniforms.vT; }
    fn oAt(b : i32, h : i32, i : i32) -> i32 { return b * uniforms.oB + h * uniforms.oH + i * uniforms.oT; }`;
}
const SPLIT = (len: string) => `
  let bh = row / ${len};
  let pos = row - bh * ${len};
  let b = bh / uniforms.heads;
  let h = bh - b * uniforms.heads;`;

/**
 * The end of one tile of a gradient program's loop: each thread puts its row's weight `w` in sv, then adds
 * Σ_t sv[t]·X[row(t) + d] over the tile's rows (`summed`, an expression in t and d) into its acc[c] for its d's.
 */
const ACCUMULATE_TILE = (w: string, start: string, len: string, summed: string) => `
      sv[tid] = ${w};
      workgroupBarrier();
      let count = min(WG, ${len} - ${start});
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) {
          var a = acc[c];
          for (var t = 0; t < count; t++) { a += sv[t] * ${summed}; }
          acc[c] = a;
        }
      }
      workgroupBarrier();`;

/** Writes acc (times `factor`, e.g. " * uniforms.scale") to the output row starting at `row`. */
const WRITE_ACC = (row: string, factor = '') => `
    if (valid) {
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) { result[${row} + d] = acc[c]${factor}; }
      }
    }`;

function forwardProgram(hd: number, n: number, shape: number[]) {
  return rowProgram(`ulpt_attention_${hd}`, ['Q', 'K', 'V', 'Bias'], shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tq')}
    let tk = uniforms.tk;
    let qRow = qAt(b, h, pos);
    for (var d = tid; d < HD; d += WG) { qs[d] = Q[qRow + d]; }
    workgroupBarrier();
    var m = ${NEG_BIG};
    var l = 0.0;
    var acc : array<f32, HDC>;
    for (var j0 = 0; j0 < tk; j0 += WG) {
      let j = j0 + tid;
      var s = ${NEG_BIG};
      if (j < tk) {
        let kRow = kAt(b, h, j);
        var dotv = 0.0;
        for (var d = 0; d < HD; d++) { dotv += qs[d] * K[kRow + d]; }
        s = dotv * uniforms.scale + biasAt(b, h, pos, j);
      }
      sc[tid] = s;
      workgroupBarrier();
      let count = min(WG, tk - j0);
      var mNew = m;
      for (var t = 0; t < count; t++) { mNew = max(mNew, sc[t]); }
      let corr = exp(m - mNew);
      pv[tid] = select(0.0, exp(s - mNew), j < tk);
      workgroupBarrier();
      var tileSum = 0.0;
      for (var t = 0; t < count; t++) { tileSum += pv[t]; }
      l = l * corr + tileSum;
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) {
          var a = acc[c] * corr;
          for (var t = 0; t < count; t++) { a += pv[t] * V[vAt(b, h, j0 + t) + d]; }
          acc[c] = a;
        }
      }
      m = mNew;
      workgroupBarrier();
    }
    if (valid) {
      let oRow = oAt(b, h, pos);
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) { result[oRow + d] = acc[c] / l; }
      }
    }`, prelude(hd) + 'var<workgroup> qs : array<f32, HD>; var<workgroup> sc : array<f32, WG>; var<workgroup> pv : array<f32, WG>;');
}

/** Per query row: L = logsumexp of the scores, D = dO·O. Output [B, H, Tq, 2]. */
function statsProgram(hd: number, n: number, shape: number[]) {
  return rowProgram(`ulpt_attention_stats_${hd}`, ['Q', 'K', 'Bias', 'O', 'DY'], shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tq')}
    let tk = uniforms.tk;
    let qRow = qAt(b, h, pos);
    let oRow = oAt(b, h, pos);
    var part = 0.0;
    for (var d = tid; d < HD; d += WG) { qs[d] = Q[qRow + d]; part += DY[oRow + d] * O[oRow + d]; }
    let D = blockSum(part);
    var m = ${NEG_BIG};
    var l = 0.0;
    for (var j = tid; j < tk; j += WG) {
      let kRow = kAt(b, h, j);
      var dotv = 0.0;
      for (var d = 0; d < HD; d++) { dotv += qs[d] * K[kRow + d]; }
      let s = dotv * uniforms.scale + biasAt(b, h, pos, j);
      let mNew = max(m, s);
      l = l * exp(m - mNew) + exp(s - mNew);
      m = mNew;
    }
    let M = blockMax(m);
    let total = blockSum(l * exp(m - M));
    if (valid && tid == 0) {
      result[row * 2] = M + log(total);
      result[row * 2 + 1] = D;
    }`, prelude(hd) + 'var<workgroup> qs : array<f32, HD>;');
}

/** dQ per query row: scale Σ_j P_ij (dO_i·v_j − D_i) k_j, written where q's row is. */
function gradQProgram(hd: number, n: number, shape: number[]) {
  return rowProgram(`ulpt_attention_dq_${hd}`, ['Q', 'K', 'V', 'Bias', 'DY', 'Stats'], shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tq')}
    let tk = uniforms.tk;
    let qRow = qAt(b, h, pos);
    let oRow = oAt(b, h, pos);
    let L = Stats[row * 2];
    let D = Stats[row * 2 + 1];
    for (var d = tid; d < HD; d += WG) { qs[d] = Q[qRow + d]; gs[d] = DY[oRow + d]; }
    workgroupBarrier();
    var acc : array<f32, HDC>;
    for (var j0 = 0; j0 < tk; j0 += WG) {
      let j = j0 + tid;
      var ds = 0.0;
      if (j < tk) {
        let kRow = kAt(b, h, j);
        let vRow = vAt(b, h, j);
        var dotq = 0.0;
        var dotg = 0.0;
        for (var d = 0; d < HD; d++) {
          dotq += qs[d] * K[kRow + d];
          dotg += gs[d] * V[vRow + d];
        }
        let p = exp(dotq * uniforms.scale + biasAt(b, h, pos, j) - L);
        ds = p * (dotg - D);
      }
${ACCUMULATE_TILE('ds', 'j0', 'tk', 'K[kAt(b, h, j0 + t) + d]')}
    }${WRITE_ACC('qRow', ' * uniforms.scale')}`, prelude(hd) + 'var<workgroup> qs : array<f32, HD>; var<workgroup> gs : array<f32, HD>; var<workgroup> sv : array<f32, WG>;');
}

/**
 * dK or dV per key row, over tiles of query rows: dK = scale Σ_i dS_ij q_i, dV = Σ_i P_ij dO_i, written where k's
 * (v's) row is. One program each (each recomputes P from L), so neither keeps the other's output alive.
 */
function gradKVProgram(which: 'k' | 'v', hd: number, n: number, shape: number[]) {
  const names = which === 'k' ? ['Q', 'K', 'V', 'Bias', 'DY', 'Stats'] : ['Q', 'K', 'Bias', 'DY', 'Stats'];
  const weight = which === 'k' ? `
        var dotg = 0.0;
        for (var d = 0; d < HD; d++) { dotg += DY[gRow + d] * vs[d]; }
        w = p * (dotg - Stats[qi * 2 + 1]);` : `
        w = p;`;
  const summed = which === 'k' ? 'Q[qAt(b, h, i0 + t) + d]' : 'DY[oAt(b, h, i0 + t) + d]';
  return rowProgram(`ulpt_attention_d${which}_${hd}`, names, shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tk')}
    let tq = uniforms.tq;
    let kRow = kAt(b, h, pos);
    let outRow = ${which === 'k' ? 'kRow' : 'vAt(b, h, pos)'};
    for (var d = tid; d < HD; d += WG) { ks[d] = K[kRow + d]; ${which === 'k' ? 'vs[d] = V[vAt(b, h, pos) + d];' : ''} }
    workgroupBarrier();
    var acc : array<f32, HDC>;
    for (var i0 = 0; i0 < tq; i0 += WG) {
      let i = i0 + tid;
      var w = 0.0;
      if (i < tq) {
        let qRow = qAt(b, h, i);
        let gRow = oAt(b, h, i);
        let qi = bh * tq + i;
        var dotq = 0.0;
        for (var d = 0; d < HD; d++) { dotq += Q[qRow + d] * ks[d]; }
        let p = exp(dotq * uniforms.scale + biasAt(b, h, i, pos) - Stats[qi * 2]);
        ${weight}
      }
${ACCUMULATE_TILE('w', 'i0', 'tq', summed)}
    }${WRITE_ACC('outRow', which === 'k' ? ' * uniforms.scale' : '')}`, prelude(hd) + `var<workgroup> ks : array<f32, HD>; ${which === 'k' ? 'var<workgroup> vs : array<f32, HD>;' : ''} var<workgroup> sv : array<f32, WG>;`);
}

type Dims = { B: number; H: number; Tq: number; Tk: number; hd: number };

/** q, k, v given separately, heads split: [B, H, T, hd]. */
function splitMode(q: TensorInfo, k: TensorInfo): { dims: Dims; layouts: Layouts } {
  const [B, H, Tq, hd] = q.shape;
  const Tk = k.shape[2];
  return { dims: { B, H, Tq, Tk, hd }, layouts: splitLayouts(H, Tq, Tk, hd) };
}

/** One qkv [B, T, 3d] tensor, output [B, T, d]. */
function qkvMode(qkv: TensorInfo, heads: number): { dims: Dims; layouts: Layouts } {
  const [B, T, d3] = qkv.shape;
  const d = d3 / 3;
  const hd = d / heads;
  return { dims: { B, H: heads, Tq: T, Tk: T, hd }, layouts: qkvLayouts(T, d, hd) };
}

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  const scaleOf = (attrs: Record<string, unknown>) => attrs.scale as number;
  registerWebGPUKernel('UlptAttention', ({ q, k, v, bias }, backend, attrs) => {
    const { dims, layouts } = splitMode(q, k);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'queries');
    return run(backend, forwardProgram(g.hd, g.n, q.shape), [q, k, v, bias], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionStats', ({ q, k, bias, o, dy }, backend, attrs) => {
    const { dims, layouts } = splitMode(q, k);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'queries');
    return run(backend, statsProgram(g.hd, g.n, [g.B, g.H, g.Tq, 2]), [q, k, bias, o, dy], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionGradQ', ({ q, k, v, bias, dy, stats }, backend, attrs) => {
    const { dims, layouts } = splitMode(q, k);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'queries');
    return run(backend, gradQProgram(g.hd, g.n, q.shape), [q, k, v, bias, dy, stats], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionGradK', ({ q, k, v, bias, dy, stats }, backend, attrs) => {
    const { dims, layouts } = splitMode(q, k);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'keys');
    return run(backend, gradKVProgram('k', g.hd, g.n, k.shape), [q, k, v, bias, dy, stats], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionGradV', ({ q, k, bias, dy, stats }, backend, attrs) => {
    const { dims, layouts } = splitMode(q, k);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'keys');
    return run(backend, gradKVProgram('v', g.hd, g.n, k.shape), [q, k, bias, dy, stats], g.uniforms);
  });
  tf.registerGradient({
    kernelName: 'UlptAttention',
    inputsToSave: ['q', 'k', 'v', 'bias'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [q, k, v, bias, o] = saved;
      const dO = dy as Tensor;
      // L and D serve all three gradients; they are small ([B, H, Tq, 2]) and freed with the gradient pass.
      const stats = runKernel('UlptAttentionStats', { q, k, bias, o, dy: dO }, attrs);
      return {
        q: () => runKernel('UlptAttentionGradQ', { q, k, v, bias, dy: dO, stats }, attrs),
        k: () => runKernel('UlptAttentionGradK', { q, k, v, bias, dy: dO, stats }, attrs),
        v: () => runKernel('UlptAttentionGradV', { q, k, bias, dy: dO, stats }, attrs),
        bias: () => biasGrad(q, k, v, bias, o, dO, scaleOf(attrs as Record<string, unknown>)),
      };
    },
  });

  // The same kernels reading q, k, v out of one [B, T, 3d] projection and writing heads merged: no slices or
  // transposes either way. The gradient's three kernels write their thirds of one [B, T, 3d] tensor.
  registerWebGPUKernel('UlptAttentionQKV', ({ qkv, bias }, backend, attrs) => {
    const { dims, layouts } = qkvMode(qkv, attrs.heads as number);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'queries');
    return run(backend, forwardProgram(g.hd, g.n, [g.B, g.Tq, g.H * g.hd]), [qkv, qkv, qkv, bias], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionQKVStats', ({ qkv, bias, o, dy }, backend, attrs) => {
    const { dims, layouts } = qkvMode(qkv, attrs.heads as number);
    const g = geometry(dims, layouts, bias, scaleOf(attrs), 'queries');
    return run(backend, statsProgram(g.hd, g.n, [g.B, g.H, g.Tq, 2]), [qkv, qkv, bias, o, dy], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionQKVGrad', ({ qkv, bias, dy, stats }, backend, attrs) => {
    const { dims, layouts } = qkvMode(qkv, attrs.heads as number);
    const rows = geometry(dims, layouts, bias, scaleOf(attrs), 'queries');
    const cols = geometry(dims, layouts, bias, scaleOf(attrs), 'keys');
    const out = backend.makeTensorInfo(qkv.shape, 'float32') as TensorInfo;
    run(backend, gradQProgram(rows.hd, rows.n, qkv.shape), [qkv, qkv, qkv, bias, dy, stats], rows.uniforms, out);
    run(backend, gradKVProgram('k', cols.hd, cols.n, qkv.shape), [qkv, qkv, qkv, bias, dy, stats], cols.uniforms, out);
    return run(backend, gradKVProgram('v', cols.hd, cols.n, qkv.shape), [qkv, qkv, bias, dy, stats], cols.uniforms, out);
  });
  tf.registerGradient({
    kernelName: 'UlptAttentionQKV',
    inputsToSave: ['qkv', 'bias'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [qkv, bias, o] = saved;
      const dO = dy as Tensor;
      const stats = runKernel('UlptAttentionQKVStats', { qkv, bias, o, dy: dO }, attrs);
      return {
        qkv: () => runKernel('UlptAttentionQKVGrad', { qkv, bias, dy: dO, stats }, attrs),
        bias: () => {
          const heads = (attrs as { heads: number }).heads;
          const [q, k, v] = splitQKV(qkv, heads);
          return biasGrad(q, k, v, bias, splitHeads(o, heads), splitHeads(dO, heads), scaleOf(attrs as Record<string, unknown>));
        },
      };
    },
  });
}

/** [B, T, H·hd] → [B, H, T, hd]. */
function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, T, d] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [B, T, heads, d / heads]), [0, 2, 1, 3]);
}

/** q, k, v [B, H, T, hd] out of qkv [B, T, 3d]. */
function splitQKV(qkv: Tensor, heads: number): [Tensor, Tensor, Tensor] {
  const [q, k, v] = tf.split(qkv, 3, 2);
  return [splitHeads(q, heads), splitHeads(k, heads), splitHeads(v, heads)];
}

/** dBias = P ⊙ (dO·vᵀ − D), summed over the axes the bias broadcasts: the plain composition (rarely needed). */
function biasGrad(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, o: Tensor, dO: Tensor, scale: number): Tensor {
  const p = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias));
  const dS = tf.mul(p, tf.sub(tf.matMul(dO, v, false, true), tf.sum(tf.mul(dO, o), -1, true)));
  const axes = bias.shape.map((n, a) => (n === 1 && dS.shape[a] !== 1 ? a : -1)).filter((a) => a >= 0);
  return axes.length ? tf.sum(dS, axes, true) : dS;
}

/** Largest head size the kernels take (two rows of it sit in workgroup memory, beside 2·WG floats). */
export const MAX_HEAD_SIZE = 1024;

/**
 * softmax(q·kᵀ·scale + bias)·v for q [B, H, Tq, hd], k and v [B, H, Tk, hd], bias broadcastable to
 * [B, H, Tq, Tk] → [B, H, Tq, hd], with gradients for q, k, v (and bias).
 */
export function fusedAttention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number): Tensor {
  register();
  return runKernel('UlptAttention', { q, k, v, bias: bias4(bias) }, { scale });
}

/** The same for self-attention straight from a fused projection: qkv [B, T, 3d] → [B, T, d] (heads merged). */
export function fusedAttentionQKV(qkv: Tensor, bias: Tensor, heads: number, scale: number): Tensor {
  register();
  return runKernel('UlptAttentionQKV', { qkv, bias: bias4(bias) }, { scale, heads });
}

function bias4(bias: Tensor): Tensor {
  return bias.rank < 4 ? tf.reshape(bias, [...new Array(4 - bias.rank).fill(1), ...bias.shape]) : bias;
}
