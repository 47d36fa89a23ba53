// Kernels written for TensorFlow.js's WebGPU backend. src/models/layers.ts calls them in place of its plain
// compositions (the references each kernel is tested against) when the webgpu backend is active.
import { tf } from '../../backend';

export { fusedAttention, fusedAttentionQKV, MAX_HEAD_SIZE } from './attention';
export { fusedLayerNorm } from './layerNorm';
export { fusedGeluTanh } from './gelu';
export { fusedTargetLogProb } from './targetLogProb';

/** True on the webgpu backend unless ULPT_WEBGPU_KERNELS=off (which measures or checks tfjs's own kernels). */
export function fusedKernelsActive(): boolean {
  return tf.getBackend() === 'webgpu' && process.env.ULPT_WEBGPU_KERNELS !== 'off';
}
