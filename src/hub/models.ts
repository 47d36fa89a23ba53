// `ulpt models`: the model folders under the working folder (a shallow look) and the models in the Hugging Face
// cache, with what a user needs to pick one: architecture, parameters, size on disk, and whether each engine can
// train it here.
import * as fs from 'node:fs';
import * as path from 'node:path';
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
  /** The PyTorch engine loads what transformers loads; whether it is installed is not checked here. */
  torch: string;
}

const SKIP = new Set(['node_modules', '.git', '.ulpt', '.venv', 'dist', 'out', '__pycache__']);
const DEPTH = 3;

export async function listModels(root: string, env: NodeJS.ProcessEnv = process.env): Promise<ModelEntry[]> {
  const found: ModelEntry[] = [];
  for (const dir of modelFolders(root, DEPTH)) found.push(describe(dir, path.relative(root, dir) || '.', 'workspace'));
  found.push(...cachedModels(hubCacheDir(env)));
  return found;
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
  return { name, source, dir, modelType, architecture, parameters, bytes: diskBytes(dir), builtin: builtinFit(modelType, parameters), torch: 'if installed (it loads any model transformers loads)' };
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

export function printModels(models: ModelEntry[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(models, null, 2));
    return;
  }
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
      console.log(`    built-in engine: ${m.builtin.ok ? '' : 'no — '}${m.builtin.note}; PyTorch engine: ${m.torch}`);
    }
  }
}
