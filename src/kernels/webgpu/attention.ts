// Fused attention for the WebGPU backend: softmax(q·kᵀ·scale + bias)·v in one pass per query row, never
// materialising the [B, H, Tq, Tk] score or probability matrices, and its backward in four kernels.
//
// Reference: `attentionReference` in src/models/layers.ts (matMul, mul, add, softmax, matMul — five kernels and two
// [B, H, Tq, Tk] tensors forward, about twelve kernels backward). This is FlashAttention's arithmetic (Dao et al.
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

const UNIFORMS = 'scale : f32, heads : i32, tq : i32, tk : i32, bs0 : i32, bs1 : i32, bs2 : i32, bs3 : i32,';

/** Shape facts every attention kernel needs, and its uniforms (in UNIFORMS' order, after `rows`). */
function geometry(q: TensorInfo, k: TensorInfo, bias: TensorInfo, scale: number, rows: 'queries' | 'keys') {
  const [B, H, Tq, hd] = q.shape;
  const Tk = k.shape[2];
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
    { type: 'int32', data: [Tk] }, ...strides.map((s) => ({ type: 'int32' as const, data: [s] })),
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
    }`;
}
const SPLIT = (len: string) => `
  let bh = row / ${len};
  let pos = row - bh * ${len};
  let b = bh / uniforms.heads;
  let h = bh - b * uniforms.heads;`;

function forwardProgram(hd: number, n: number, shape: number[]) {
  return rowProgram(`ulpt_attention_${hd}`, ['Q', 'K', 'V', 'Bias'], shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tq')}
    let tk = uniforms.tk;
    let qBase = row * HD;
    let kvBase = bh * tk * HD;
    for (var d = tid; d < HD; d += WG) { qs[d] = Q[qBase + d]; }
    workgroupBarrier();
    var m = ${NEG_BIG};
    var l = 0.0;
    var acc : array<f32, HDC>;
    for (var j0 = 0; j0 < tk; j0 += WG) {
      let j = j0 + tid;
      var s = ${NEG_BIG};
      if (j < tk) {
        var dotv = 0.0;
        for (var d = 0; d < HD; d++) { dotv += qs[d] * K[kvBase + j * HD + d]; }
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
          for (var t = 0; t < count; t++) { a += pv[t] * V[kvBase + (j0 + t) * HD + d]; }
          acc[c] = a;
        }
      }
      m = mNew;
      workgroupBarrier();
    }
    if (valid) {
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) { result[qBase + d] = acc[c] / l; }
      }
    }`, prelude(hd) + 'var<workgroup> qs : array<f32, HD>; var<workgroup> sc : array<f32, WG>; var<workgroup> pv : array<f32, WG>;');
}

/** Per query row: L = logsumexp of the scores, D = dO·O. Output [B, H, Tq, 2]. */
function statsProgram(hd: number, n: number, shape: number[]) {
  return rowProgram(`ulpt_attention_stats_${hd}`, ['Q', 'K', 'Bias', 'O', 'DY'], shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tq')}
    let tk = uniforms.tk;
    let qBase = row * HD;
    let kBase = bh * tk * HD;
    var part = 0.0;
    for (var d = tid; d < HD; d += WG) { qs[d] = Q[qBase + d]; part += DY[qBase + d] * O[qBase + d]; }
    let D = blockSum(part);
    var m = ${NEG_BIG};
    var l = 0.0;
    for (var j = tid; j < tk; j += WG) {
      var dotv = 0.0;
      for (var d = 0; d < HD; d++) { dotv += qs[d] * K[kBase + j * HD + d]; }
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

/** dQ per query row: scale Σ_j P_ij (dO_i·v_j − D_i) k_j. */
function gradQProgram(hd: number, n: number, shape: number[]) {
  return rowProgram(`ulpt_attention_dq_${hd}`, ['Q', 'K', 'V', 'Bias', 'DY', 'Stats'], shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tq')}
    let tk = uniforms.tk;
    let qBase = row * HD;
    let kvBase = bh * tk * HD;
    let L = Stats[row * 2];
    let D = Stats[row * 2 + 1];
    for (var d = tid; d < HD; d += WG) { qs[d] = Q[qBase + d]; gs[d] = DY[qBase + d]; }
    workgroupBarrier();
    var acc : array<f32, HDC>;
    for (var j0 = 0; j0 < tk; j0 += WG) {
      let j = j0 + tid;
      var ds = 0.0;
      if (j < tk) {
        var dotq = 0.0;
        var dotg = 0.0;
        for (var d = 0; d < HD; d++) {
          dotq += qs[d] * K[kvBase + j * HD + d];
          dotg += gs[d] * V[kvBase + j * HD + d];
        }
        let p = exp(dotq * uniforms.scale + biasAt(b, h, pos, j) - L);
        ds = p * (dotg - D);
      }
      sv[tid] = ds;
      workgroupBarrier();
      let count = min(WG, tk - j0);
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) {
          var a = acc[c];
          for (var t = 0; t < count; t++) { a += sv[t] * K[kvBase + (j0 + t) * HD + d]; }
          acc[c] = a;
        }
      }
      workgroupBarrier();
    }
    if (valid) {
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) { result[qBase + d] = acc[c] * uniforms.scale; }
      }
    }`, prelude(hd) + 'var<workgroup> qs : array<f32, HD>; var<workgroup> gs : array<f32, HD>; var<workgroup> sv : array<f32, WG>;');
}

/**
 * dK or dV per key row, over tiles of query rows: dK = scale Σ_i dS_ij q_i, dV = Σ_i P_ij dO_i. One program each
 * (each recomputes P from L), so neither keeps the other's output alive.
 */
function gradKVProgram(which: 'k' | 'v', hd: number, n: number, shape: number[]) {
  const names = which === 'k' ? ['Q', 'K', 'V', 'Bias', 'DY', 'Stats'] : ['Q', 'K', 'Bias', 'DY', 'Stats'];
  const weight = which === 'k' ? `
        var dotg = 0.0;
        for (var d = 0; d < HD; d++) { dotg += DY[qRow + d] * vs[d]; }
        w = p * (dotg - Stats[qi * 2 + 1]);` : `
        w = p;`;
  const summed = which === 'k' ? 'Q' : 'DY';
  return rowProgram(`ulpt_attention_d${which}_${hd}`, names, shape, n, UNIFORMS, `
    ${SPLIT('uniforms.tk')}
    let tq = uniforms.tq;
    let kBase = row * HD;
    let qBase = bh * tq * HD;
    for (var d = tid; d < HD; d += WG) { ks[d] = K[kBase + d]; ${which === 'k' ? 'vs[d] = V[kBase + d];' : ''} }
    workgroupBarrier();
    var acc : array<f32, HDC>;
    for (var i0 = 0; i0 < tq; i0 += WG) {
      let i = i0 + tid;
      var w = 0.0;
      if (i < tq) {
        let qRow = qBase + i * HD;
        let qi = bh * tq + i;
        var dotq = 0.0;
        for (var d = 0; d < HD; d++) { dotq += Q[qRow + d] * ks[d]; }
        let p = exp(dotq * uniforms.scale + biasAt(b, h, i, pos) - Stats[qi * 2]);
        ${weight}
      }
      sv[tid] = w;
      workgroupBarrier();
      let count = min(WG, tq - i0);
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) {
          var a = acc[c];
          for (var t = 0; t < count; t++) { a += sv[t] * ${summed}[qBase + (i0 + t) * HD + d]; }
          acc[c] = a;
        }
      }
      workgroupBarrier();
    }
    if (valid) {
      for (var c = 0; c < HDC; c++) {
        let d = tid + c * WG;
        if (d < HD) { result[kBase + d] = acc[c]${which === 'k' ? ' * uniforms.scale' : ''}; }
      }
    }`, prelude(hd) + `var<workgroup> ks : array<f32, HD>; ${which === 'k' ? 'var<workgroup> vs : array<f32, HD>;' : ''} var<workgroup> sv : array<f32, WG>;`);
}

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernel('UlptAttention', ({ q, k, v, bias }, backend, attrs) => {
    const g = geometry(q, k, bias, attrs.scale as number, 'queries');
    return run(backend, forwardProgram(g.hd, g.n, q.shape), [q, k, v, bias], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionStats', ({ q, k, bias, o, dy }, backend, attrs) => {
    const g = geometry(q, k, bias, attrs.scale as number, 'queries');
    return run(backend, statsProgram(g.hd, g.n, [g.B, g.H, g.Tq, 2]), [q, k, bias, o, dy], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionGradQ', ({ q, k, v, bias, dy, stats }, backend, attrs) => {
    const g = geometry(q, k, bias, attrs.scale as number, 'queries');
    return run(backend, gradQProgram(g.hd, g.n, q.shape), [q, k, v, bias, dy, stats], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionGradK', ({ q, k, v, bias, dy, stats }, backend, attrs) => {
    const g = geometry(q, k, bias, attrs.scale as number, 'keys');
    return run(backend, gradKVProgram('k', g.hd, g.n, k.shape), [q, k, v, bias, dy, stats], g.uniforms);
  });
  registerWebGPUKernel('UlptAttentionGradV', ({ q, k, bias, dy, stats }, backend, attrs) => {
    const g = geometry(q, k, bias, attrs.scale as number, 'keys');
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
        bias: () => biasGrad(q, k, v, bias, o, dO, (attrs as { scale: number }).scale),
      };
    },
  });
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
  const b4 = bias.rank < 4 ? tf.reshape(bias, [...new Array(4 - bias.rank).fill(1), ...bias.shape]) : bias;
  return runKernel('UlptAttention', { q, k, v, bias: b4 }, { scale });
}
