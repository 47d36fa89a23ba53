// Chooses and starts the TensorFlow.js backend. Everything else imports `tf` from here: when the native
// @tensorflow/tfjs-node(-gpu) package is found at run time it brings its own tfjs-core instance, so the binding
// below is replaced by that package's namespace (same 4.x API) and every caller sees the switch.
import * as tfCore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// Importing the WebGPU backend registers its kernels; it registers the backend itself only where navigator.gpu
// already exists, so startWebGPU below registers it with the adapter it chose.
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { countTransfers } from './kernels/webgpu/counters';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { registerWasmKernels } from './kernels/wasm';
import { spawnSync } from 'node:child_process';

export type TF = typeof tfCore;
export type Tensor = tfCore.Tensor;
export type Variable = tfCore.Variable;
export type Scalar = tfCore.Scalar;

/** The live TensorFlow.js namespace (bundled tfjs-core, or the native package's once it is chosen). */
export let tf: TF = tfCore;

export const BACKENDS = ['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendReport {
  requested: BackendName;
  name: ConcreteBackend;
  /** What the computation runs on, in words: "GPU (CUDA, libtensorflow)", "CPU (WASM SIMD)" (one instance: the trainer adds its thread count). */
  device: string;
  /** The WebGPU adapter (webgpu only). */
  adapter?: GpuAdapter;
  /** Better backends that were tried and why each was not used, best first. */
  skipped: { name: ConcreteBackend; reason: string }[];
}

/** What Dawn says about the adapter it gave us (GPUAdapterInfo). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation of WebGPU (SwiftShader, lavapipe): correct, but slower than the CPU backends. */
  software: boolean;
}

const ORDER: ConcreteBackend[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

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

// ---- WebGPU through Dawn's Node binding (the `webgpu` package). ------------------------------------------------

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Dawn's folder name for this machine: the `webgpu` package ships dist/<platform>-<arch>/dawn.node (macOS: universal). */
function dawnPlatformDir(): string {
  return `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
}

/** dawn.node beside the bundle (esbuild.mjs copies it to dist/dawn/<dir>/), else from the installed `webgpu` package. */
function dawnBinary(): string {
  const dir = dawnPlatformDir();
  const beside = path.join(__dirname, 'dawn', dir, 'dawn.node');
  if (fs.existsSync(beside)) return beside;
  let pkg: string;
  try {
    pkg = path.dirname(createRequire(__filename).resolve('webgpu/package.json'));
  } catch {
    throw new Error(`Dawn's WebGPU binding is missing: looked for ${beside} and for the webgpu package`);
  }
  const file = path.join(pkg, 'dist', dir, 'dawn.node');
  if (!fs.existsSync(file)) throw new Error(`the webgpu package has no Dawn binding for ${dir} (looked for ${file})`);
  return file;
}

/** Asks Dawn for an adapter in a short-lived child process: Dawn prints its driver diagnostics to stderr, which the
 * child captures (they become the reason when there is no adapter), and the trainer's stderr stays clean. */
function probeAdapter(binary: string): { adapter: GpuAdapter | null; diagnostics: string } {
  const script = `
    const { create } = require(${JSON.stringify(binary)});
    create([]).requestAdapter({ powerPreference: 'high-performance' }).then((a) => {
      const i = a && (a.info || {});
      const out = a && { vendor: i.vendor || '', architecture: i.architecture || '', description: i.description || i.device || '',
        fallback: !!(i.isFallbackAdapter || a.isFallbackAdapter) };
      process.stdout.write(JSON.stringify(out));
      process.exit(0);
    }, (e) => { process.stderr.write(String(e && e.message || e)); process.exit(3); });`;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  const diagnostics = [res.error?.message ?? '', res.stderr ?? ''].join('\n').trim();
  if (res.status !== 0) throw new Error(`Dawn failed while looking for an adapter${diagnostics ? `: ${firstLine(diagnostics)}` : ''}`);
  const found = JSON.parse(res.stdout || 'null') as { vendor: string; architecture: string; description: string; fallback: boolean } | null;
  if (!found) return { adapter: null, diagnostics };
  const text = `${found.vendor} ${found.architecture} ${found.description}`;
  const software = found.fallback || /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i.test(text);
  return { adapter: { vendor: found.vendor, architecture: found.architecture, description: found.description, software }, diagnostics };
}

/** Why Dawn found no adapter, from its diagnostics and what this machine has. */
function noAdapterReason(diagnostics: string): string {
  const drivers = process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES;
  const lines = diagnostics.split('\n').map((l) => l.replace(/^Warning:\s*/, '').trim()).filter((l) => l && !l.startsWith('at '));
  if (process.platform === 'linux') {
    if (lines.some((l) => /libvulkan\.so/.test(l))) {
      return 'no WebGPU adapter: the Vulkan loader libvulkan.so.1 is not installed (Debian/Ubuntu: apt-get install libvulkan1, with your GPU driver\'s Vulkan support)';
    }
    return `no WebGPU adapter: Vulkan found no usable GPU driver${drivers ? ` (VK_DRIVER_FILES=${drivers})` : ''}${lines.length ? `; Dawn said: ${lines.slice(0, 2).join(' / ')}` : ''}`;
  }
  return `no WebGPU adapter${lines.length ? `; Dawn said: ${lines.slice(0, 2).join(' / ')}` : ''}`;
}

/** "GPU: NVIDIA H200 (WebGPU; vendor nvidia, architecture hopper)"; a software adapter says it is the CPU. */
function describeAdapter(a: GpuAdapter): string {
  const name = a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const ids = `vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}`;
  return a.software ? `CPU: ${name} (software WebGPU adapter, not a GPU; ${ids})` : `GPU: ${name} (WebGPU; ${ids})`;
}

/** Makes navigator.gpu what tfjs-backend-webgpu expects. Node 20 has no navigator; Node 21+ has its own object
 * (defined lazily on globalThis), to which `gpu` is added rather than replacing it. */
function exposeGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: object };
  if (g.navigator && typeof g.navigator === 'object') {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true, enumerable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true, enumerable: false });
  }
}

let webgpu: { adapter: GpuAdapter; device: GPUDevice } | null = null;
/** Errors the GPU device reported on its own (shader compilation, validation); the kernel tests check it stays empty. */
export const gpuErrors: string[] = [];

async function tryWebGPU(auto: boolean): Promise<{ device: string; adapter: GpuAdapter }> {
  if (webgpu && tfCore.findBackend('webgpu')) {
    tf = tfCore;
    await tfCore.setBackend('webgpu');
    return { device: describeAdapter(webgpu.adapter), adapter: webgpu.adapter };
  }
  const binary = dawnBinary();
  const probe = probeAdapter(binary);
  if (!probe.adapter) throw new Error(noAdapterReason(probe.diagnostics));
  if (auto && probe.adapter.software) {
    throw new Error(`only a software adapter (${probe.adapter.description || probe.adapter.architecture}) — slower than the CPU backends; --backend webgpu uses it anyway`);
  }
  const dawn = createRequire(__filename)(binary) as DawnModule;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(noAdapterReason(''));
  // As tfjs-backend-webgpu asks: its largest buffers need the adapter's limits, not WebGPU's defaults (128 MB).
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  device.addEventListener('uncapturederror', (e) => {
    const message = (e as GPUUncapturedErrorEvent).error.message;
    if (gpuErrors.length < 20) gpuErrors.push(message);
    if (gpuErrors.length === 1) console.error(`ulpt: WebGPU error: ${message}`);
  });
  exposeGpu(gpu);
  if (tfCore.findBackendFactory('webgpu')) tfCore.removeBackend('webgpu');
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  tfCore.registerBackend('webgpu', () => new WebGPUBackend(device, info as GPUAdapterInfo), 3);
  tf = tfCore;
  if (!(await tfCore.setBackend('webgpu'))) throw new Error('the WebGPU backend failed to initialise');
  await tfCore.ready();
  countTransfers(tfCore.backend() as WebGPUBackend);
  webgpu = { adapter: probe.adapter, device };
  return { device: describeAdapter(probe.adapter), adapter: probe.adapter };
}

/**
 * Starts the requested backend. `auto` walks CUDA → WebGPU (a hardware adapter) → native CPU → WASM → JS CPU and
 * records why each better one was skipped; a named backend that fails is an error (the user asked for it), not a
 * silent fallback.
 */
export async function initBackend(requested: BackendName = 'auto', opts: { nativeSearchPath?: string } = {}): Promise<BackendReport> {
  const candidates = requested === 'auto' ? ORDER : [requested];
  const skipped: BackendReport['skipped'] = [];
  for (const name of candidates) {
    try {
      if (name === 'webgpu') return { requested, name, ...(await tryWebGPU(requested === 'auto')), skipped };
      const device =
        name === 'tensorflow-gpu' ? await tryNative('@tensorflow/tfjs-node-gpu', true, opts.nativeSearchPath)
        : name === 'tensorflow' ? await tryNative('@tensorflow/tfjs-node', false, opts.nativeSearchPath)
        : name === 'wasm' ? await tryWasm()
        : await tryCpu();
      return { requested, name, device, skipped };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const reason = code === 'MODULE_NOT_FOUND' && name.startsWith('tensorflow') ? `${name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node'} is not installed` : firstLine(e);
      const hint = code === 'MODULE_NOT_FOUND' && name.startsWith('tensorflow')
        ? ` Install it where Node can find it, or point the setting ulpt.tfjsNodePath (ULPT_TFJS_NODE_PATH for the CLI) at the folder whose node_modules has it${name === 'tensorflow-gpu' ? '; it needs CUDA 11.2 and cuDNN 8.1' : ''}.`
        : '';
      if (requested !== 'auto') throw new Error(`The ${name} backend could not start: ${reason}.${hint}`);
      skipped.push({ name, reason });
    }
  }
  throw new Error(`No TensorFlow.js backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
