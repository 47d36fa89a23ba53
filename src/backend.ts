// Chooses and starts the TensorFlow.js backend. Everything else imports `tf` from here: when the native
// @tensorflow/tfjs-node(-gpu) package is found at run time it brings its own tfjs-core instance, so the binding
// below is replaced by that package's namespace (same 4.x API) and every caller sees the switch.
import * as tfCore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { registerWasmKernels } from './kernels/wasm';

export type TF = typeof tfCore;
export type Tensor = tfCore.Tensor;
export type Variable = tfCore.Variable;
export type Scalar = tfCore.Scalar;

/** The live TensorFlow.js namespace (bundled tfjs-core, or the native package's once it is chosen). */
export let tf: TF = tfCore;

export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendReport {
  requested: BackendName;
  name: ConcreteBackend;
  /** What the computation runs on, in words: "GPU (CUDA, libtensorflow)", "CPU (WASM SIMD)" (one instance: the trainer adds its thread count). */
  device: string;
  /** Better backends that were tried and why each was not used, best first. */
  skipped: { name: ConcreteBackend; reason: string }[];
}

const ORDER: ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}

/** A require that esbuild leaves alone, resolving from the user's configured folder, then from ours. */
function nativeRequire(id: string, searchFrom?: string): unknown {
  const bases = [searchFrom, process.cwd(), __dirname].filter((b): b is string => !!b);
  let lastError: unknown;
  for (const base of bases) {
    try {
      return createRequire(path.join(path.resolve(base), 'noop.js'))(id);
    } catch (e) {
      lastError = e;
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') break;
    }
  }
  throw lastError;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n').find((l) => l.trim()) ?? m;
}

async function tryNative(pkg: string, gpu: boolean, searchFrom?: string): Promise<string> {
  const mod = nativeRequire(pkg, searchFrom) as TF;
  await mod.setBackend('tensorflow');
  await mod.ready();
  const backend = mod.backend() as unknown as { isUsingGpuDevice?: boolean; isGPUPackage?: boolean };
  if (gpu && backend.isUsingGpuDevice === false) {
    throw new Error('tfjs-node-gpu loaded but TensorFlow found no CUDA device (it needs CUDA 11.2 and cuDNN 8.1)');
  }
  tf = mod;
  return gpu ? 'GPU (CUDA, libtensorflow)' : `CPU, ${os.cpus().length} cores (libtensorflow)`;
}

function wasmDir(): string {
  // The bundles sit beside copies of the .wasm files (esbuild.mjs); unbundled runs find them in node_modules.
  if (fs.existsSync(path.join(__dirname, 'tfjs-backend-wasm-simd.wasm'))) return __dirname + path.sep;
  const pkg = path.dirname(createRequire(__filename).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  return path.join(pkg, 'dist') + path.sep;
}

/**
 * One backend instance computes on one thread (tfjs-backend-wasm's threaded build is not used under Node: see
 * train/parallel.ts); training uses more cores through data-parallel workers, each with its own instance.
 */
async function tryWasm(): Promise<string> {
  tf = tfCore;
  setWasmPaths(wasmDir());
  registerWasmKernels();
  const ok = await tfCore.setBackend('wasm');
  if (!ok) throw new Error('the WASM backend failed to initialise');
  await tfCore.ready();
  const simd = await tfCore.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `CPU (WASM${simd ? ' SIMD' : ''})`;
}

async function tryCpu(): Promise<string> {
  tf = tfCore;
  await tfCore.setBackend('cpu');
  await tfCore.ready();
  // Skip the CPU backend's one-time banner recommending tfjs-node: the run report already says why it was not used.
  (tfCore.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return 'CPU (plain JavaScript)';
}

/**
 * Starts the requested backend. `auto` walks GPU → native CPU → WASM → JS CPU and records why each better one
 * was skipped; a named backend that fails is an error (the user asked for it), not a silent fallback.
 */
export async function initBackend(requested: BackendName = 'auto', opts: { nativeSearchPath?: string } = {}): Promise<BackendReport> {
  const candidates = requested === 'auto' ? ORDER : [requested];
  const skipped: BackendReport['skipped'] = [];
  for (const name of candidates) {
    try {
      const device =
        name === 'tensorflow-gpu' ? await tryNative('@tensorflow/tfjs-node-gpu', true, opts.nativeSearchPath)
        : name === 'tensorflow' ? await tryNative('@tensorflow/tfjs-node', false, opts.nativeSearchPath)
        : name === 'wasm' ? await tryWasm()
        : await tryCpu();
      return { requested, name, device, skipped };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const reason = code === 'MODULE_NOT_FOUND' ? `${name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node'} is not installed` : firstLine(e);
      if (requested !== 'auto') throw new Error(`The ${name} backend could not start: ${reason}.`);
      skipped.push({ name, reason });
    }
  }
  throw new Error(`No TensorFlow.js backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
