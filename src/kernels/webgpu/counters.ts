// What a training step costs beyond its kernels on the webgpu backend, counted rather than timed: transfers back
// to the CPU (each one waits for the GPU to finish everything queued), uploads from the CPU, and compiled
// pipelines. The tests use them to show a step reads back only its loss, re-uploads no weights and compiles
// nothing after the first step; the benchmark prints them per step.
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export interface GpuCounters {
  /** GPU → CPU buffer reads (tensor.data() of a tensor that lives on the GPU). */
  readbacks: number;
  /** CPU → GPU tensor uploads and their bytes. */
  uploads: number;
  uploadBytes: number;
  /** Compute programs dispatched (each one a kernel launch). */
  dispatches: number;
  /** Compiled compute pipelines (one per distinct shader key), and their keys. */
  pipelines: number;
  pipelineKeys: string[];
}

interface Internals {
  runWebGPUProgram(...args: unknown[]): unknown;
  getBufferData(buffer: GPUBuffer): Promise<ArrayBuffer>;
  uploadToGPU(dataId: object): void;
  tensorMap: { get(dataId: object): { values: ArrayLike<number> | null; resource: unknown; shape: number[] } };
  pipelineCache: Record<string, unknown>;
}

let counted: { backend: Internals; readbacks: number; uploads: number; uploadBytes: number; dispatches: number; uploadLog: object[] } | null = null;

/** Wraps the backend's read and upload paths with counters (once per backend instance). */
export function countTransfers(backend: WebGPUBackend): void {
  const b = backend as unknown as Internals;
  if (counted?.backend === b) return;
  const c = { backend: b, readbacks: 0, uploads: 0, uploadBytes: 0, dispatches: 0, uploadLog: [] as object[] };
  counted = c;
  const getBufferData = b.getBufferData.bind(b);
  b.getBufferData = (buffer) => {
    c.readbacks += 1;
    return getBufferData(buffer);
  };
  const runWebGPUProgram = b.runWebGPUProgram.bind(b);
  b.runWebGPUProgram = (...args) => {
    c.dispatches += 1;
    return runWebGPUProgram(...args);
  };
  const uploadToGPU = b.uploadToGPU.bind(b);
  b.uploadToGPU = (dataId) => {
    const data = b.tensorMap.get(dataId);
    if (data && data.resource == null && data.values != null) {
      c.uploads += 1;
      c.uploadBytes += data.values.length * 4;
      if (c.uploadLog.length < 10_000) c.uploadLog.push(dataId);
    }
    uploadToGPU(dataId);
  };
}

/** The counters of the running webgpu backend, or null when it is not the one in use. */
export function gpuCounters(): GpuCounters | null {
  if (!counted) return null;
  const keys = Object.keys(counted.backend.pipelineCache);
  return { readbacks: counted.readbacks, uploads: counted.uploads, uploadBytes: counted.uploadBytes, dispatches: counted.dispatches, pipelines: keys.length, pipelineKeys: keys };
}

/** The data ids uploaded since the last call (at most 10,000), e.g. to check that no weight is among them. */
export function takeUploadLog(): object[] {
  if (!counted) return [];
  const log = counted.uploadLog;
  counted.uploadLog = [];
  return log;
}
