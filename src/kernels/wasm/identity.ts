// Identity (and Cast to the same dtype) for tfjs-backend-wasm without a copy.
//
// tfjs clones every tensor a gradient needs (engine.saveTensorsForBackwardMode → clone → Identity), and the stock
// wasm Identity copies the data: on W1 that is ~440 copies per training step, plus the memory of a second copy of
// every saved activation. Tensors are immutable and the wasm backend counts references per data id (its Reshape
// already shares data this way), so the clone can share the input's memory, as tfjs-backend-cpu's Identity does.
import type { KernelConfig, KernelFunc, TensorInfo, NamedAttrMap } from '@tensorflow/tfjs-core';

interface WasmInternals {
  incRef(dataId: object): void;
}

function share(x: TensorInfo, backend: WasmInternals): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function makeIdentityKernel(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as KernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    return x.dtype === 'string' ? stockFunc(args) : share(x, args.backend as unknown as WasmInternals);
  };
  return { kernelName: 'Identity', backendName: 'wasm', setupFunc: stock.setupFunc, kernelFunc };
}

export function makeCastKernel(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as KernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const { dtype } = args.attrs as NamedAttrMap & { dtype: string };
    return dtype === x.dtype && dtype !== 'string' ? share(x, args.backend as unknown as WasmInternals) : stockFunc(args);
  };
  return { kernelName: 'Cast', backendName: 'wasm', setupFunc: stock.setupFunc, kernelFunc };
}
