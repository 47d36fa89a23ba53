// `ulpt models`: the model folders under the working folder (a shallow look) and the models in the Hugging Face
// cache, with what a user needs to pick one: architecture, parameters, size on disk, and whether each engine can
// train it here (the PyTorch engine asked once, for all of them, through its Python: src/engine/modelProbe.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { probeTorchModels, type TorchProbe } from '../engine/modelProbe';
import { SafetensorsFile } from '../io/safetensors';
import { SUPPORTED_MODEL_TYPES } from '../models/modelTypes';
import { WASM_WEIGHT_LIMIT_BYTES, wasmHoldsWeights } from '../train/limits';
import { hubCacheDir } from './cache';
import { gb } from './download';

export interface ModelEntry {
  /** A folder's path relative to the working folder, or the Hub id (with @revision when not main). */
  name: string;
  source: 'workspace' | 'cache';
  dir: string;
  /** Cache entries: the snapshot's commit and the branches/tags that point to it. */
  commit?: string;
  refs?: string[];
  modelType: string | null;
  architecture: string | null;
  /** From the safetensors headers (no weights are read); null when a header cannot be read. */
  parameters: number | null;
  /** Bytes of its files on disk (each blob once). */
  bytes: number;
  /** The built-in engine: model_type implemented, and one float32 copy of the weights inside WASM's heap. */
  builtin: { ok: boolean; note: string };
  /**
   * The PyTorch engine: ok when transformers has its Auto class for the model_type, the weights are safetensors and
   * fit the memory it trains in; null when the engine itself is not available here (`torchProblem` says why).
   */
  torch: { ok: boolean | null; note: string };
}

export interface ModelList {
  models: ModelEntry[];
  /** Why the PyTorch engine cannot run here (no Python, no torch …); null when it can. */
  torchProblem: string | null;
}

const SKIP = new Set(['node_modules', '.git', '.ulpt', '.venv', 'dist', 'out', '__pycache__']);
const DEPTH = 3;

/** `python`: the --python flag (else found as `ulpt doctor` finds it); false: do not ask the PyTorch engine. */
export async function listModels(root: string, env: NodeJS.ProcessEnv = process.env, python?: string | false): Promise<ModelList> {
  const found: ModelEntry[] = [];
  for (const dir of modelFolders(root, DEPTH)) found.push(describe(dir, path.relative(root, dir) || '.', 'workspace'));
  found.push(...cachedModels(hubCacheDir(env)));
  const probe: TorchProbe = python === false ? { available: false, error: 'not asked' } : found.length ? probeTorchModels(found.map((m) => m.dir), python) : { available: false, error: 'no models to ask about' };
  for (const m of found) m.torch = torchFit(probe, m);
  return { models: found, torchProblem: probe.available ? null : probe.error };
}

/** Float32 weights within this share of the memory leave room for activations, the data and the run. */
export const TORCH_MEMORY_SHARE = 0.8;

/** The PyTorch engine's verdict on one model, from the probe of its Python. */
export function torchFit(probe: TorchProbe, m: Pick<ModelEntry, 'dir' | 'parameters'>, systemMemory = os.totalmem()): ModelEntry['torch'] {
  if (!probe.available) return { ok: null, note: `the PyTorch engine is not available here: ${probe.error}` };
  const v = probe.models[m.dir];
  if (!v) return { ok: false, note: 'its Python gave no answer about it' };
  if (!v.ok) return { ok: false, note: v.note ?? 'transformers cannot load it' };
  if (!hasSafetensors(m.dir)) return { ok: false, note: 'it has no *.safetensors weights (the engine loads only those)' };
  const memory = probe.cudaMemory ?? systemMemory;
  const where = probe.cudaMemory !== null ? 'the first CUDA device' : 'this machine';
  const room = TORCH_MEMORY_SHARE * memory;
  const how = `${v.autoClass} → ${v.modelClass}`;
  if (m.parameters === null || m.parameters * 4 <= room) return { ok: true, note: `yes, on ${probe.where} (${how}${m.parameters === null ? '' : `; float32 weights ${gb(m.parameters * 4)} of ${gb(memory)}`})` };
  if (probe.cudaMemory !== null && m.parameters * 2 <= room) return { ok: true, note: `with --precision bf16 on ${probe.where}: float32 weights (${gb(m.parameters * 4)}) exceed ${TORCH_MEMORY_SHARE * 100} % of ${where}'s ${gb(memory)} (${how})` };
  return { ok: false, note: `its float32 weights (${gb(m.parameters * 4)}) exceed ${TORCH_MEMORY_SHARE * 100} % of ${where}'s memory (${gb(memory)}) (${how})` };
}

function hasSafetensors(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((f) => f.endsWith('.safetensors'));
  } catch {
    return false;
  }
}

/** Folders with a config.json and safetensors weights, at most `depth` levels below `dir`. */
function modelFolders(dir: string, depth: number): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const names = entries.map((e) => e.name);
  const here = names.includes('config.json') && names.some((n) => n.endsWith('.safetensors')) ? [dir] : [];
  if (depth === 0) return here;
  const below = entries.filter((e) => e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.')).flatMap((e) => modelFolders(path.join(dir, e.name), depth - 1));
  return [...here, ...below];
}

/** Every snapshot of every models--org--name in the cache, named by the refs that point to it. */
function cachedModels(cache: string): ModelEntry[] {
  let repos: string[];
  try {
    repos = fs.readdirSync(cache).filter((n) => n.startsWith('models--')).sort();
  } catch {
    return [];
  }
  const out: ModelEntry[] = [];
  for (const folder of repos) {
    const id = folder.slice('models--'.length).split('--').join('/');
    const refs = readRefs(path.join(cache, folder, 'refs'));
    let commits: string[];
    try {
      commits = fs.readdirSync(path.join(cache, folder, 'snapshots'));
    } catch {
      continue;
    }
    for (const commit of commits) {
      const dir = path.join(cache, folder, 'snapshots', commit);
      if (!fs.existsSync(path.join(dir, 'config.json'))) continue;
      const names = Object.entries(refs).filter(([, c]) => c === commit).map(([r]) => r);
      const name = names.includes('main') ? id : names.length ? `${id}@${names[0]}` : `${id}@${commit.slice(0, 12)}`;
      out.push({ ...describe(dir, name, 'cache'), commit, refs: names });
    }
  }
  return out;
}

function readRefs(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(dir, prefix), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, readRefs(dir, rel));
    else if (!e.name.endsWith('.tmp')) out[rel] = fs.readFileSync(path.join(dir, rel), 'utf8').trim();
  }
  return out;
}

function describe(dir: string, name: string, source: ModelEntry['source']): ModelEntry {
  let config: { model_type?: unknown; architectures?: unknown } = {};
  try {
    config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as typeof config;
  } catch {
    /* unreadable: reported as unknown */
  }
  const modelType = typeof config.model_type === 'string' ? config.model_type : null;
  const architecture = Array.isArray(config.architectures) && typeof config.architectures[0] === 'string' ? config.architectures[0] : null;
  const parameters = countParameters(dir);
  return { name, source, dir, modelType, architecture, parameters, bytes: diskBytes(dir), builtin: builtinFit(modelType, parameters), torch: { ok: null, note: 'not asked' } };
}

function countParameters(dir: string): number | null {
  let total = 0;
  let any = false;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.safetensors')) continue;
    try {
      const st = SafetensorsFile.open(path.join(dir, f));
      for (const k of st.keys()) total += st.info(k).shape.reduce((a, b) => a * b, 1);
      st.close();
      any = true;
    } catch {
      return null;
    }
  }
  return any ? total : null;
}

/** Each file's bytes once (a snapshot's links point at blobs; two links to one blob count once). */
function diskBytes(dir: string): number {
  const seen = new Set<string>();
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        walk(p);
        continue;
      }
      try {
        const real = fs.realpathSync(p);
        if (seen.has(real)) continue;
        seen.add(real);
        const s = fs.statSync(real);
        if (s.isFile()) bytes += s.size;
      } catch {
        /* a link whose blob is gone */
      }
    }
  };
  walk(dir);
  return bytes;
}

export function builtinFit(modelType: string | null, parameters: number | null): ModelEntry['builtin'] {
  if (!modelType || !SUPPORTED_MODEL_TYPES.includes(modelType)) {
    return { ok: false, note: `model_type ${JSON.stringify(modelType)} is not implemented (built-in: ${SUPPORTED_MODEL_TYPES.join(', ')}); use --engine torch` };
  }
  // The loader's own rule (backendMemoryProblem): what `ulpt train` on WASM will refuse.
  if (parameters !== null && !wasmHoldsWeights(parameters)) {
    return { ok: true, note: `its float32 weights (${gb(parameters * 4)}) exceed what the WASM backend holds (${gb(WASM_WEIGHT_LIMIT_BYTES)}): webgpu or tensorflow backends, or --engine torch` };
  }
  return { ok: true, note: 'yes (every backend)' };
}

function shortCount(n: number | null): string {
  if (n === null) return '?';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function printModels({ models, torchProblem }: ModelList, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(models, null, 2));
    return;
  }
  if (models.length && torchProblem) console.log(`PyTorch engine: not available here — ${torchProblem}\n`);
  if (!models.length) {
    console.log(`No models here or in the Hugging Face cache (${hubCacheDir()}). Download one: ulpt download ORG/NAME`);
    return;
  }
  for (const source of ['workspace', 'cache'] as const) {
    const list = models.filter((m) => m.source === source);
    if (!list.length) continue;
    console.log(source === 'workspace' ? 'In the working folder:' : `In the Hugging Face cache (${hubCacheDir()}):`);
    for (const m of list) {
      console.log(`  ${m.name}  ${m.modelType ?? '?'}${m.architecture ? ` (${m.architecture})` : ''}, ${shortCount(m.parameters)} parameters, ${gb(m.bytes)} on disk${m.commit ? `, commit ${m.commit.slice(0, 12)}` : ''}`);
      console.log(`    built-in engine: ${m.builtin.ok ? '' : 'no — '}${m.builtin.note}`);
      console.log(`    PyTorch engine: ${m.torch.ok === null ? '—' : `${m.torch.ok ? '' : 'no — '}${m.torch.note}`}`);
    }
  }
}
