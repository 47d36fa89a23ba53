// The log-probability of each row's target token, log softmax(logits)[target], for the WebGPU backend: one
// workgroup per row finds the row's maximum and log-sum-exp and picks the target's logit, so the [N, V]
// log-softmax, the [N, V] one-hot and their product are never written (the reference, `targetLogProbReference` in
// src/models/layers.ts, materialises all three; at GPT-2's V = 50,257 they dominate the memory traffic of the
// loss). Backward, one kernel writes d logits = dy · (onehot(target) − softmax(logits)) row by row.
import { tf, type Tensor } from '../../backend';
import { NEG_BIG, registerWebGPUKernel, rowProgram, run, runKernel } from './program';

/** Row maximum M and log Σ exp(x − M). */
const LSE = `
  let vocab = uniforms.vocab;
  let base = row * vocab;
  var m = ${NEG_BIG};
  for (var c = tid; c < vocab; c += WG) { m = max(m, Logits[base + c]); }
  let M = blockMax(m);
  var s = 0.0;
  for (var c = tid; c < vocab; c += WG) { s += exp(Logits[base + c] - M); }
  let logSum = log(blockSum(s));
  let tgt = Targets[row];`;

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  registerWebGPUKernel('UlptTargetLogProb', ({ logits, targets }, backend) => {
    const [N, V] = logits.shape;
    const program = rowProgram('ulpt_target_logprob', ['Logits', 'Targets'], [N], N, 'vocab : i32,', `
      ${LSE}
      if (valid && tid == 0) { result[row] = (Logits[base + tgt] - M) - logSum; }`);
    return run(backend, program, [logits, targets], [{ type: 'int32', data: [N] }, { type: 'int32', data: [V] }]);
  });
  registerWebGPUKernel('UlptTargetLogProbGrad', ({ dy, logits, targets }, backend) => {
    const [N, V] = logits.shape;
    const program = rowProgram('ulpt_target_logprob_grad', ['DY', 'Logits', 'Targets'], [N, V], N, 'vocab : i32,', `
      ${LSE}
      let g = DY[row];
      if (valid) {
        for (var c = tid; c < vocab; c += WG) {
          let p = exp((Logits[base + c] - M) - logSum);
          result[base + c] = g * (select(0.0, 1.0, c == tgt) - p);
        }
      }`);
    return run(backend, program, [dy, logits, targets], [{ type: 'int32', data: [N] }, { type: 'int32', data: [V] }]);
  });
  tf.registerGradient({
    kernelName: 'UlptTargetLogProb',
    inputsToSave: ['logits', 'targets'],
    gradFunc: (dy, saved) => ({
      logits: () => runKernel('UlptTargetLogProbGrad', { dy: dy as Tensor, logits: saved[0], targets: saved[1] }),
      targets: () => tf.zerosLike(saved[1]),
    }),
  });
}

/** log softmax(logits)[n, targets[n]] for logits [N, V] and int32 targets [N] → [N]. */
export function fusedTargetLogProb(logits: Tensor, targets: Tensor): Tensor {
  register();
  return runKernel('UlptTargetLogProb', { logits, targets });
}
