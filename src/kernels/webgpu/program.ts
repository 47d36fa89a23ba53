// What every fused kernel shares: the shape of a program tfjs-backend-webgpu can run, and the WGSL building blocks.
//
// tfjs-backend-webgpu compiles `getUserCode()` together with a header it writes itself: the output buffer `result`,
// one read-only storage buffer per name in `variableNames` (with that name), and a `uniforms` struct holding every
// input's and the output's shape followed by the fields the program declares in `uniforms` (their values are
// passed to runWebGPUProgram in that order). Compiled pipelines are cached by `shaderKey` plus the inputs' ranks
// and dtypes, so a program that bakes a size into its code puts that size in its key — and nothing else, or shapes
// that change from batch to batch would compile new pipelines.
import { tf, type Tensor } from '../../backend';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/** tfjs-backend-webgpu's WebGPUProgram, as far as these kernels use it (the package does not export the type). */
export interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** WGSL struct fields appended to `uniforms`, e.g. "scale : f32, heads : i32,". */
  uniforms?: string;
  /** Adds `uniforms.size` (the output's element count). */
  size?: boolean;
  getUserCode(): string;
}

export type Uniform = { type: 'float32' | 'int32'; data: number[] };
export type TensorInfo = Parameters<WebGPUBackend['runWebGPUProgram']>[1][number];

/** Threads per workgroup in the row kernels: one workgroup works on one row (a query, a token, a target). */
export const WG = 64;

/**
 * A program whose workgroups each own one row. The grid is 2-D (at most 65,535 workgroups a side), so `row` is
 * computed from the workgroup id; workgroups past the last row still run every barrier (WGSL requires barriers
 * in uniform control flow) but read row 0 and write nothing (`valid`).
 */
export function rowProgram(name: string, variableNames: string[], outputShape: number[], rows: number, uniforms: string, body: string, decls = ''): Program {
  const x = Math.min(rows, 65535);
  return {
    variableNames,
    outputShape,
    shaderKey: name,
    dispatchLayout: { x: [0], y: [1] },
    dispatch: [x, Math.ceil(rows / x), 1],
    workgroupSize: [WG, 1, 1],
    uniforms: `rows : i32, ${uniforms}`,
    getUserCode: () => `
      const WG : i32 = ${WG};
      var<workgroup> red : array<f32, ${WG}>;
      ${REDUCTIONS}
      ${decls}
      fn main() {
        let tid = i32(localId.x);
        let wrow = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let valid = wrow < uniforms.rows;
        let row = select(0, wrow, valid);
        ${body}
      }`,
  };
}

/** Sum and max over the workgroup; every thread gets the result. Call from uniform control flow only. */
const REDUCTIONS = `
  fn blockSum(v : f32) -> f32 {
    let t = i32(localId.x);
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2; s > 0; s = s / 2) {
      if (t < s) { red[t] = red[t] + red[t + s]; }
      workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
  }
  fn blockMax(v : f32) -> f32 {
    let t = i32(localId.x);
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2; s > 0; s = s / 2) {
      if (t < s) { red[t] = max(red[t], red[t + s]); }
      workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    return m;
  }`;

/** One thread per element (`index`), for elementwise kernels. */
export function elementwiseProgram(name: string, variableNames: string[], outputShape: number[], body: string): Program {
  const size = outputShape.reduce((a, b) => a * b, 1);
  const wg = 256;
  return {
    variableNames,
    outputShape,
    shaderKey: name,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / wg), 1, 1],
    workgroupSize: [wg, 1, 1],
    size: true,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

/** The largest float32, standing in for -infinity where WGSL has none. */
export const NEG_BIG = '-3.402823e38';

/** Runs a program on the webgpu backend inside a registered kernel (into `output` when given: programs that
 * write disjoint parts of one tensor). */
export function run(backend: WebGPUBackend, program: Program, inputs: TensorInfo[], uniforms: Uniform[], output?: TensorInfo): TensorInfo {
  return backend.runWebGPUProgram(program as never, inputs, 'float32', uniforms, output);
}

/** Registers a kernel for the webgpu backend (forward or backward of a fused op). */
export function registerWebGPUKernel(kernelName: string, fn: (inputs: Record<string, TensorInfo>, backend: WebGPUBackend, attrs: Record<string, unknown>) => TensorInfo): void {
  if (tf.getKernel(kernelName, 'webgpu')) return;
  tf.registerKernel({
    kernelName,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => fn(inputs as Record<string, TensorInfo>, backend as WebGPUBackend, (attrs ?? {}) as Record<string, unknown>),
  });
}

/** Runs a registered kernel through the engine, so it is recorded on the gradient tape. */
export function runKernel(kernelName: string, inputs: Record<string, Tensor>, attrs: Record<string, unknown> = {}): Tensor {
  return tf.engine().runKernel(kernelName, inputs as never, attrs as never) as Tensor;
}
