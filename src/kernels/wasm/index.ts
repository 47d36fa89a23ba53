// Kernels that replace tfjs-backend-wasm's own where the stock one leaves speed on the table (each file says why
// and what it replaces). Registered once, before the wasm backend is first initialised, so their setup runs with it.
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { makeBatchMatMulKernel } from './matmul';
import { makeSliceKernel } from './slice';
import { makeCastKernel, makeIdentityKernel } from './identity';

let done = false;

function replace(name: string, make: (stock: KernelConfig) => KernelConfig): void {
  const stock = getKernel(name, 'wasm');
  if (!stock) throw new Error(`internal: tfjs-backend-wasm has no ${name} kernel to replace`);
  unregisterKernel(name, 'wasm');
  registerKernel(make(stock));
}

export function registerWasmKernels(): void {
  if (done) return;
  done = true;
  replace('BatchMatMul', makeBatchMatMulKernel);
  replace('Slice', makeSliceKernel);
  replace('Identity', makeIdentityKernel);
  replace('Cast', makeCastKernel);
}
