// BatchMatMul for tfjs-backend-wasm that always reaches XNNPACK's fast matrix product.
//
// The stock kernel (tfjs-backend-wasm 4.22, batch_mat_mul_impl.cc) sends a product to XNNPACK only when it is a
// single 2-D product without transposes; everything else — every batched product (attention), and every product
// with transposeA/transposeB, which is what the gradient of *every* matMul asks for (dx = dy·Wᵀ) — goes to a
// blocked scalar loop measured at ~2.5 GFLOP/s against XNNPACK's ~30 here. This kernel brings each operand into
// [batch, rows, cols] layout (one wasm Transpose where a transpose is asked for), then runs one XNNPACK product per
// batch entry on *aliases*: extra tensor ids registered in the wasm backend that point into the middle of the
// operands' and the output's memory, so nothing is sliced or copied. Same arithmetic as the reference (each output
// element is one dot product in XNNPACK's order), so results agree with the stock kernel to float rounding.
//
// The reference it replaces is the stock kernel itself (used below for the cases it already does well, and by the
// tests as the oracle).
import { getKernel, util, type KernelConfig, type KernelFunc, type TensorInfo, type NamedAttrMap } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The parts of the wasm backend this kernel uses (public on the class, not all in its typings). */
interface WasmInternals {
  wasm: {
    cwrap: (name: string, ret: null, args: string[]) => (...args: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(id: object): { id: number; memoryOffset: number } };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: string): TensorInfo;
  disposeData(id: object): boolean;
}

/** Products smaller than this (m·k·n per batch entry) stay on the stock loop: per-call overhead would dominate. */
export const MIN_XNN_WORK = 16 * 1024;

let wasmBatchMatMul: ((...args: unknown[]) => void) | null = null;

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

export function makeBatchMatMulKernel(stock: KernelConfig): KernelConfig {
  const transpose = getKernel('Transpose', 'wasm');
  if (!transpose) throw new Error('internal: the wasm Transpose kernel is not registered');
  const stockFunc = stock.kernelFunc as KernelFunc;

  /** x [..., r, c] → a [batch, c, r] tensor (caller disposes). */
  const transposeLast2 = (x: TensorInfo, backend: unknown, batch: number, r: number, c: number): TensorInfo => {
    const x3 = { ...x, shape: [batch, r, c] };
    return transpose.kernelFunc({ inputs: { x: x3 }, backend: backend as never, attrs: { perm: [0, 2, 1] } }) as TensorInfo;
  };

  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend: b, attrs } = args;
    const { a, b: bb } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as NamedAttrMap & { transposeA: boolean; transposeB: boolean };
    const backend = b as unknown as WasmInternals;
    const ra = a.shape.length;
    const rb = bb.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const n = transposeB ? bb.shape[rb - 2] : bb.shape[rb - 1];
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(bb.shape.slice(0, -2));
    const batch = Math.max(batchA, batchB);
    const plain = !transposeA && !transposeB && batch === 1;
    const sameOuter = a.shape.length === bb.shape.length && a.shape.slice(0, -2).every((s, i) => s === bb.shape[i]);
    const broadcastable = sameOuter || batchA === 1 || batchB === 1;
    if (plain || !broadcastable || a.dtype !== 'float32' || bb.dtype !== 'float32' || m * k * n < MIN_XNN_WORK || m === 0 || n === 0 || k === 0) {
      return stockFunc(args);
    }
    const outer = batchA >= batchB ? a.shape.slice(0, -2) : bb.shape.slice(0, -2);
    const temps: TensorInfo[] = [];
    const left = transposeA ? transposeLast2(a, b, batchA, k, m) : a; // [batchA, m, k]
    const right = transposeB ? transposeLast2(bb, b, batchB, n, k) : bb; // [batchB, k, n]
    if (transposeA) temps.push(left);
    if (transposeB) temps.push(right);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    // Offsets are read after every allocation above (an allocation may grow and move nothing, but be safe).
    const offA = backend.dataIdMap.get(left.dataId).memoryOffset;
    const offB = backend.dataIdMap.get(right.dataId).memoryOffset;
    const offOut = backend.dataIdMap.get(out.dataId).memoryOffset;
    const shapeA = shapeBytes([1, m, k]);
    const shapeB = shapeBytes([1, k, n]);
    const tfjs = backend.wasm.tfjs;
    const alias = (offset: number, size: number) => {
      const id = backend.dataIdNextNumber++;
      tfjs.registerTensor(id, size, offset);
      return id;
    };
    // One B alias per distinct B slice: XNNPACK packs B into its operator once per alias.
    let idB = 0;
    for (let i = 0; i < batch; i++) {
      const idA = alias(offA + 4 * (batchA === 1 ? 0 : i) * m * k, m * k);
      if (i === 0 || batchB !== 1) {
        if (idB) tfjs.disposeData(idB);
        idB = alias(offB + 4 * (batchB === 1 ? 0 : i) * k * n, k * n);
      }
      const idOut = alias(offOut + 4 * i * m * n, m * n);
      wasmBatchMatMul!(idA, shapeA, 3, idB, shapeB, 3, false, false, idOut);
      tfjs.disposeData(idA);
      tfjs.disposeData(idOut);
    }
    if (idB) tfjs.disposeData(idB);
    for (const t of temps) backend.disposeData(t.dataId);
    return out;
  };

  return {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: (backend) => {
      stock.setupFunc?.(backend);
      wasmBatchMatMul = (backend as unknown as WasmInternals).wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
    },
    kernelFunc,
  };
}

export type { BackendWasm };
