// Slice for tfjs-backend-wasm without the whole-input copy.
//
// The stock kernel (tfjs-backend-wasm 4.22, kernels/Slice.js) starts with backend.readSync(x), which copies the
// *entire* input out of the wasm heap before picking the slice: taking 3 column blocks of a [B·T, 3d] projection,
// or one head of 192, costs as much as copying the whole tensor each time. This kernel reads the input through a
// view of the heap instead and copies only the slice's rows. Same values (a copy is a copy); strings and ranks
// above 4 go to the stock kernel.
import { slice_util, util, type KernelConfig, type KernelFunc, type TensorInfo, type NamedAttrMap } from '@tensorflow/tfjs-core';

interface WasmInternals {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export function makeSliceKernel(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as KernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend: b, attrs } = args;
    const x = (inputs as { x: TensorInfo }).x;
    const { begin, size } = attrs as NamedAttrMap & { begin: number | number[]; size: number | number[] };
    if (x.dtype === 'string' || x.shape.length > 4) return stockFunc(args);
    const backend = b as unknown as WasmInternals;
    const [begin_, size_] = slice_util.parseSliceParams(x as never, begin, size);
    const out = backend.makeOutput(size_, x.dtype);
    if (util.sizeFromShape(size_) === 0) return out;
    // Views are taken after the allocation above, which may have grown (and so detached) the heap's buffer.
    const xv = backend.typedArrayFromHeap(x);
    const ov = backend.typedArrayFromHeap(out);
    const strides = util.computeStrides(x.shape);
    if (slice_util.isSliceContinous(x.shape, begin_, size_)) {
      const start = slice_util.computeFlatOffset(begin_, strides);
      ov.set(xv.subarray(start, start + ov.length));
      return out;
    }
    // Copy runs of the last dimension; the outer dimensions (up to 3) are walked explicitly.
    const rank = x.shape.length;
    const s = [...new Array(4 - rank).fill(1), ...size_];
    const o = [...new Array(4 - rank).fill(0), ...begin_];
    const st = [...new Array(4 - rank).fill(0), ...strides, 1].slice(-4);
    const run = s[3];
    let pos = 0;
    for (let i = 0; i < s[0]; i++) {
      for (let j = 0; j < s[1]; j++) {
        for (let k = 0; k < s[2]; k++) {
          const from = (o[0] + i) * st[0] + (o[1] + j) * st[1] + (o[2] + k) * st[2] + o[3];
          ov.set(xv.subarray(from, from + run), pos);
          pos += run;
        }
      }
    }
    return out;
  };
  return { kernelName: 'Slice', backendName: 'wasm', setupFunc: stock.setupFunc, kernelFunc };
}
