// Fused GELU (tanh approximation: GPT-2's gelu_new, PyTorch's gelu(approximate="tanh")) for the WebGPU backend:
// one elementwise kernel forward and one backward. The reference (`activation` in src/models/layers.ts) runs
// pow, mul, add, mul, tanh, add, mul, mul forward and roughly twice as many kernels backward, each reading and
// writing the whole [B·T, 4d] tensor.
//   y  = ½x(1 + tanh u),  u = √(2/π)(x + 0.044715x³)
//   y' = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
// u is clamped to ±10 (tanh is ±1 to float32 there) so no driver's tanh overflows.
import { tf, type Tensor } from '../../backend';
import { elementwiseProgram, registerWebGPUKernel, run, runKernel } from './program';

const U = `
  let x = X[index];
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -10.0, 10.0);
  let th = tanh(u);`;

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernel('UlptGelu', ({ x }, backend) =>
    run(backend, elementwiseProgram('ulpt_gelu', ['X'], x.shape, `${U}
      result[index] = 0.5 * x * (1.0 + th);`), [x], []));
  registerWebGPUKernel('UlptGeluGrad', ({ dy, x }, backend) =>
    run(backend, elementwiseProgram('ulpt_gelu_grad', ['DY', 'X'], x.shape, `${U}
      let du = 0.7978845608028654 * (1.0 + 0.134145 * x * x);
      result[index] = DY[index] * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du);`), [dy, x], []));
  tf.registerGradient({
    kernelName: 'UlptGelu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => runKernel('UlptGeluGrad', { dy: dy as Tensor, x: saved[0] }) }),
  });
}

export function fusedGeluTanh(x: Tensor): Tensor {
  register();
  return runKernel('UlptGelu', { x });
}
