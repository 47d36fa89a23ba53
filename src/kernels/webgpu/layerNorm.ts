// Fused layer norm for the WebGPU backend: one workgroup per row computes mean, variance and the normalised,
// scaled and shifted output in one kernel (the reference, `layerNormReference` in src/models/layers.ts, runs
// moments, sub, add, rsqrt, mul, mul, add: seven kernels and four intermediate [N, d] tensors), and dx in one
// kernel per row: dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)) with g = dy ⊙ γ, x̂ = (x − mean) · rstd.
// Statistics are recomputed in the backward pass rather than saved. The gradients of γ and β (never needed while
// the model is frozen) fall back to the plain composition.
import { tf, type Tensor } from '../../backend';
import { registerWebGPUKernel, rowProgram, run, runKernel } from './program';

/** Mean and reciprocal standard deviation of this row, as torch.nn.LayerNorm: biased variance, two passes. */
const STATS = `
  let dim = uniforms.dim;
  let base = row * dim;
  var s = 0.0;
  for (var c = tid; c < dim; c += WG) { s += X[base + c]; }
  let mean = blockSum(s) / f32(dim);
  var v = 0.0;
  for (var c = tid; c < dim; c += WG) { let t = X[base + c] - mean; v += t * t; }
  let rstd = inverseSqrt(blockSum(v) / f32(dim) + uniforms.eps);`;

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernel('UlptLayerNorm', ({ x, gamma, beta }, backend, attrs) => {
    const [N, d] = x.shape;
    const program = rowProgram('ulpt_layer_norm', ['X', 'Gamma', 'Beta'], x.shape, N, 'dim : i32, eps : f32,', `
      ${STATS}
      if (valid) {
        for (var c = tid; c < dim; c += WG) { result[base + c] = (X[base + c] - mean) * rstd * Gamma[c] + Beta[c]; }
      }`);
    return run(backend, program, [x, gamma, beta], [{ type: 'int32', data: [N] }, { type: 'int32', data: [d] }, { type: 'float32', data: [attrs.eps as number] }]);
  });
  registerWebGPUKernel('UlptLayerNormGrad', ({ dy, x, gamma }, backend, attrs) => {
    const [N, d] = x.shape;
    const program = rowProgram('ulpt_layer_norm_grad', ['DY', 'X', 'Gamma'], x.shape, N, 'dim : i32, eps : f32,', `
      ${STATS}
      var sg = 0.0;
      var sgx = 0.0;
      for (var c = tid; c < dim; c += WG) {
        let g = DY[base + c] * Gamma[c];
        sg += g;
        sgx += g * (X[base + c] - mean) * rstd;
      }
      let mg = blockSum(sg) / f32(dim);
      let mgx = blockSum(sgx) / f32(dim);
      if (valid) {
        for (var c = tid; c < dim; c += WG) {
          let g = DY[base + c] * Gamma[c];
          result[base + c] = rstd * (g - mg - (X[base + c] - mean) * rstd * mgx);
        }
      }`);
    return run(backend, program, [dy, x, gamma], [{ type: 'int32', data: [N] }, { type: 'int32', data: [d] }, { type: 'float32', data: [attrs.eps as number] }]);
  });
  tf.registerGradient({
    kernelName: 'UlptLayerNorm',
    inputsToSave: ['x', 'gamma', 'beta'],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma] = saved;
      const eps = (attrs as { eps: number }).eps;
      const normed = () => {
        const { mean, variance } = tf.moments(x, -1, true);
        return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
      };
      return {
        x: () => runKernel('UlptLayerNormGrad', { dy: dy as Tensor, x, gamma }, { eps }),
        gamma: () => tf.sum(tf.mul(dy as Tensor, normed()), 0),
        beta: () => tf.sum(dy as Tensor, 0),
      };
    },
  });
}

/** Layer norm over the last axis (biased variance, as torch.nn.LayerNorm), x [..., d]. */
export function fusedLayerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  register();
  const d = x.shape[x.rank - 1];
  const y = runKernel('UlptLayerNorm', { x: tf.reshape(x, [-1, d]), gamma, beta }, { eps }); // [N, d]
  return tf.reshape(y, x.shape);
}
