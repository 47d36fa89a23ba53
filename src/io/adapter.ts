// The `.ulpt` adapter file: a safetensors file holding only what was trained, plus a JSON document under the
// metadata key `ulpt` that says how to use it.
//   method "ulpt":          ulpt.z [n, r], ulpt.scale [d], ulpt.shift [d]   (scale/shift absent when alignment is off)
//   method "prompt-tuning": prompt_embeddings [n, d]
// All F32. The projection A is not stored: it is regenerated from `seed` (src/ulpt/projection.ts), so a ULPT adapter
// with n = 100, r = 2, d = 768 is 1 736 floats, about 7 KB.
// Everything is checked on read (header, metadata, tensor names, shapes, dtypes, finiteness) so that a file that
// loads can be used without further checks, and checked again before write so that we never write one that won't load.
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { SafetensorsError, SafetensorsFile, writeSafetensors, type TensorToWrite } from './safetensors';
import { materializeUlpt, parseSeed, projectionMatrix } from '../ulpt/projection';

export const ADAPTER_FORMAT = 'ulpt-adapter';
/** The adapter format version this build writes and reads. */
export const ADAPTER_VERSION = 1;
/** The safetensors metadata key holding the AdapterMeta JSON. */
export const ADAPTER_METADATA_KEY = 'ulpt';
export const TENSOR_NAMES = { z: 'ulpt.z', scale: 'ulpt.scale', shift: 'ulpt.shift', prompt: 'prompt_embeddings' } as const;

/** Sanity bounds: far above any real model, low enough that a hostile header cannot make us allocate gigabytes. */
const MAX_HIDDEN = 1 << 16;
const MAX_TOKENS = 1 << 16;

export type AdapterMethod = 'ulpt' | 'prompt-tuning';

export interface AdapterMeta {
  format: 'ulpt-adapter';
  version: 1;
  method: AdapterMethod;
  num_virtual_tokens: number;
  /** r; 0 for prompt-tuning. */
  rank: number;
  hidden_size: number;
  /** Whether ULPT's scale/shift vectors were trained (false only for the ablation; ignored by prompt-tuning). */
  alignment: boolean;
  /** Decimal u64; A is regenerated from it. */
  seed: string;
  base_model: { model_type: string; name: string; fingerprint: string; vocab_size: number };
  task: {
    type: 'classification' | 'generation';
    template: string;
    input_field: string;
    target_field: string;
    labels?: { names: string[]; words: string[] };
    /** Generation: the text between prompt and target in training (absent: the default rule, see separatorFor). */
    separator?: string;
  };
  /** The resolved training config, steps done, backend. */
  training: Record<string, unknown>;
  metrics: Record<string, number>;
  trainable_parameters: number;
  /** ISO date. */
  created: string;
}

export interface AdapterTensors {
  z?: Float32Array;
  scale?: Float32Array;
  shift?: Float32Array;
  prompt?: Float32Array;
}

export interface Adapter {
  meta: AdapterMeta;
  tensors: AdapterTensors;
}

/** An adapter file (or in-memory adapter) that cannot be used; the message starts with the file path. */
export class AdapterError extends Error {
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdapterError';
  }
}

/** A valid adapter that belongs to another model than the one loaded. */
export class AdapterMismatchError extends AdapterError {
  constructor(file: string, message: string) {
    super(file, message);
    this.name = 'AdapterMismatchError';
  }
}

/** n·r + 2d for ULPT (n·r without alignment); n·d for vanilla prompt tuning. */
export function trainableParameters(method: AdapterMethod, n: number, r: number, d: number, alignment: boolean): number {
  if (method === 'prompt-tuning') return n * d;
  return n * r + (alignment ? 2 * d : 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Metadata validation

type Fail = (reason: string) => never;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown, field: string, max: number, fail: Fail): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail(`metadata field ${field} must be a positive integer, got ${JSON.stringify(v)}`);
  if ((v as number) > max) fail(`metadata field ${field} is ${v}, above the limit of ${max}`);
  return v as number;
}

function str(v: unknown, field: string, fail: Fail): string {
  if (typeof v !== 'string') fail(`metadata field ${field} must be a string, got ${JSON.stringify(v) ?? typeof v}`);
  return v as string;
}

function stringArray(v: unknown, field: string, fail: Fail): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(`metadata field ${field} must be an array of strings`);
  return v as string[];
}

/** Checks a parsed `ulpt` metadata document; `fail` receives a reason without the file name. */
export function validateAdapterMeta(doc: unknown, fail: Fail): AdapterMeta {
  if (!isRecord(doc)) fail('the "ulpt" metadata is not a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.format !== ADAPTER_FORMAT) fail(`its metadata format is ${JSON.stringify(m.format)}, not "${ADAPTER_FORMAT}"`);
  if (m.version !== ADAPTER_VERSION) {
    const newer = typeof m.version === 'number' && m.version > ADAPTER_VERSION ? ' (it was written by a newer ULPT Studio; update to read it)' : '';
    fail(`it is adapter format version ${JSON.stringify(m.version)}, but this build reads version ${ADAPTER_VERSION} only${newer}`);
  }
  if (m.method !== 'ulpt' && m.method !== 'prompt-tuning') fail(`metadata field method must be "ulpt" or "prompt-tuning", got ${JSON.stringify(m.method)}`);
  const method = m.method as AdapterMethod;
  const n = positiveInt(m.num_virtual_tokens, 'num_virtual_tokens', MAX_TOKENS, fail);
  const d = positiveInt(m.hidden_size, 'hidden_size', MAX_HIDDEN, fail);
  let r = 0;
  if (method === 'ulpt') r = positiveInt(m.rank, 'rank', d, fail);
  else if (m.rank !== 0) fail(`metadata field rank must be 0 for prompt-tuning, got ${JSON.stringify(m.rank)}`);
  if (typeof m.alignment !== 'boolean') fail(`metadata field alignment must be true or false, got ${JSON.stringify(m.alignment)}`);
  const seed = str(m.seed, 'seed', fail);
  try {
    parseSeed(seed);
  } catch (e) {
    fail(`metadata field seed: ${(e as Error).message.replace(/\.$/, '')}`);
  }
  checkBaseModel(m.base_model, fail);
  checkTask(m.task, fail);
  if (!isRecord(m.training)) fail('metadata field training must be an object');
  if (!isRecord(m.metrics)) fail('metadata field metrics must be an object');
  for (const [k, v] of Object.entries(m.metrics as Record<string, unknown>)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`metadata field metrics.${k} must be a finite number, got ${String(v)}`);
  }
  const expected = trainableParameters(method, n, r, d, m.alignment as boolean);
  if (m.trainable_parameters !== expected) {
    fail(`metadata field trainable_parameters is ${JSON.stringify(m.trainable_parameters)}, but a ${method} adapter with n=${n}, r=${r}, d=${d}, alignment=${m.alignment} has ${expected}`);
  }
  str(m.created, 'created', fail);
  return doc as unknown as AdapterMeta;
}

function checkBaseModel(v: unknown, fail: Fail): void {
  if (!isRecord(v)) fail('metadata field base_model must be an object');
  const b = v as Record<string, unknown>;
  str(b.model_type, 'base_model.model_type', fail);
  str(b.name, 'base_model.name', fail);
  str(b.fingerprint, 'base_model.fingerprint', fail);
  positiveInt(b.vocab_size, 'base_model.vocab_size', Number.MAX_SAFE_INTEGER, fail);
}

function checkTask(v: unknown, fail: Fail): void {
  if (!isRecord(v)) fail('metadata field task must be an object');
  const t = v as Record<string, unknown>;
  if (t.type !== 'classification' && t.type !== 'generation') fail(`metadata field task.type must be "classification" or "generation", got ${JSON.stringify(t.type)}`);
  str(t.template, 'task.template', fail);
  str(t.input_field, 'task.input_field', fail);
  str(t.target_field, 'task.target_field', fail);
  if (t.separator !== undefined) str(t.separator, 'task.separator', fail);
  if (t.labels === undefined) return;
  if (!isRecord(t.labels)) fail('metadata field task.labels must be an object with names and words');
  const l = t.labels as Record<string, unknown>;
  const names = stringArray(l.names, 'task.labels.names', fail);
  const words = stringArray(l.words, 'task.labels.words', fail);
  if (names.length !== words.length) fail(`metadata field task.labels has ${names.length} names but ${words.length} words`);
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors

type TensorKey = keyof AdapterTensors;

/** The tensors an adapter with this metadata must hold, with their shapes. */
export function expectedTensors(meta: Pick<AdapterMeta, 'method' | 'num_virtual_tokens' | 'rank' | 'hidden_size' | 'alignment'>): Map<TensorKey, number[]> {
  const n = meta.num_virtual_tokens;
  const d = meta.hidden_size;
  const out = new Map<TensorKey, number[]>();
  if (meta.method === 'prompt-tuning') {
    out.set('prompt', [n, d]);
    return out;
  }
  out.set('z', [n, meta.rank]);
  if (meta.alignment) {
    out.set('scale', [d]);
    out.set('shift', [d]);
  }
  return out;
}

/** The metadata field that decides whether a tensor belongs in the file, for error messages. */
function why(meta: AdapterMeta, key: TensorKey): string {
  return key === 'scale' || key === 'shift' ? ` (metadata says alignment: ${meta.alignment})` : ` (metadata says method "${meta.method}")`;
}

function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

function checkValues(name: string, shape: number[], data: Float32Array, fail: Fail): void {
  const bad = firstNonFinite(data);
  if (bad < 0) return;
  const idx = shape.length === 2 ? `[${Math.floor(bad / shape[1])}, ${bad % shape[1]}]` : `[${bad}]`;
  fail(`tensor "${name}" holds ${data[bad]} at ${idx}; an adapter must hold finite values (did training diverge?)`);
}

/** Checks in-memory tensors against the metadata: the right set, the right lengths, finite values. */
function checkTensorsInMemory(adapter: Adapter, fail: Fail): void {
  const expected = expectedTensors(adapter.meta);
  for (const key of ['z', 'scale', 'shift', 'prompt'] as const) {
    const data = adapter.tensors[key];
    const shape = expected.get(key);
    const name = TENSOR_NAMES[key];
    if (shape && !data) fail(`tensor "${name}" is missing${why(adapter.meta, key)}`);
    if (!shape && data) fail(`tensor "${name}" is unexpected${why(adapter.meta, key)}`);
    if (!shape || !data) continue;
    if (!(data instanceof Float32Array)) fail(`tensor "${name}" must be a Float32Array`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) fail(`tensor "${name}" has ${data.length} values but the metadata needs shape [${shape.join(', ')}] = ${count}`);
    checkValues(name, shape, data, fail);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Write and read

/** Writes an adapter atomically (temp file + rename) after checking it would read back. */
export function writeAdapter(file: string, adapter: Adapter): void {
  const fail: Fail = (reason) => {
    throw new AdapterError(file, `${file} was not written: ${reason}.`);
  };
  const meta = validateAdapterMeta(adapter.meta, fail);
  checkTensorsInMemory(adapter, fail);
  let json: string;
  try {
    json = JSON.stringify(meta);
  } catch (e) {
    fail(`its metadata cannot be written as JSON (${(e as Error).message})`);
  }
  const tensors: Record<string, TensorToWrite> = {};
  for (const [key, shape] of expectedTensors(meta)) tensors[TENSOR_NAMES[key]] = { shape, data: adapter.tensors[key] as Float32Array };
  writeSafetensors(file, tensors, { [ADAPTER_METADATA_KEY]: json });
}

/** Reads and fully checks an adapter; every refusal says what is wrong with which file. */
export function readAdapter(file: string): Adapter {
  const fail: Fail = (reason) => {
    throw new AdapterError(file, `${file} is not a usable ULPT adapter: ${reason}.`);
  };
  let st: SafetensorsFile;
  try {
    st = SafetensorsFile.open(file);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new AdapterError(file, e.message, { cause: e });
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new AdapterError(file, `${file} does not exist.`, { cause: e });
    throw new AdapterError(file, `${file} could not be opened: ${err.message}.`, { cause: e });
  }
  try {
    const raw = st.header.metadata[ADAPTER_METADATA_KEY];
    if (raw === undefined) fail(`its safetensors metadata has no "${ADAPTER_METADATA_KEY}" entry (is it a PEFT or model weights file rather than a .ulpt adapter?)`);
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch (e) {
      fail(`its "${ADAPTER_METADATA_KEY}" metadata is not valid JSON (${(e as Error).message})`);
    }
    const meta = validateAdapterMeta(doc, fail);
    return { meta, tensors: readTensors(st, meta, fail) };
  } finally {
    st.close();
  }
}

function readTensors(st: SafetensorsFile, meta: AdapterMeta, fail: Fail): AdapterTensors {
  const expected = expectedTensors(meta);
  const wanted = new Set<string>([...expected.keys()].map((k) => TENSOR_NAMES[k]));
  for (const name of st.keys()) {
    if (!wanted.has(name)) {
      const key = (Object.keys(TENSOR_NAMES) as TensorKey[]).find((k) => TENSOR_NAMES[k] === name);
      fail(`tensor "${name}" is unexpected${key ? why(meta, key) : ''}`);
    }
  }
  const tensors: AdapterTensors = {};
  for (const [key, shape] of expected) {
    const name = TENSOR_NAMES[key];
    const info = st.header.tensors.get(name);
    if (!info) fail(`tensor "${name}" is missing${why(meta, key)}`);
    if (info.dtype !== 'F32') fail(`tensor "${name}" is ${info.dtype}; adapters hold F32 only`);
    if (info.shape.length !== shape.length || info.shape.some((s, i) => s !== shape[i])) {
      fail(`tensor "${name}" has shape [${info.shape.join(', ')}] but the metadata (n=${meta.num_virtual_tokens}, r=${meta.rank}, d=${meta.hidden_size}) needs [${shape.join(', ')}]`);
    }
    const data = st.float32(name);
    checkValues(name, shape, data, fail);
    tensors[key] = data;
  }
  return tensors;
}

// ---------------------------------------------------------------------------------------------------------------
// Model identity

/**
 * "sha256:<first 16 hex>:<vocab>x<hidden>" over the token-embedding matrix as float32 little-endian bytes.
 * The embedding matrix identifies a checkpoint well (fine-tunes and other sizes differ in it) and is read anyway.
 */
export function embeddingFingerprint(wte: Float32Array, vocab: number, hidden: number): string {
  if (wte.length !== vocab * hidden) {
    throw new Error(`Cannot fingerprint the embeddings: ${wte.length} values, but vocab ${vocab} × hidden ${hidden} = ${vocab * hidden}.`);
  }
  const hash = createHash('sha256');
  const CHUNK = 1 << 22; // values per update; keeps the big-endian copy small
  for (let start = 0; start < wte.length; start += CHUNK) {
    const part = wte.subarray(start, Math.min(wte.length, start + CHUNK));
    hash.update(littleEndianBytes(part));
  }
  return `sha256:${hash.digest('hex').slice(0, 16)}:${vocab}x${hidden}`;
}

function littleEndianBytes(a: Float32Array): Uint8Array {
  if (os.endianness() === 'LE') return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i], true);
  return out;
}

/** Refuses to apply an adapter to another model than the one it was trained for (hidden size, type, embeddings). */
export function checkAdapterMatchesModel(
  meta: AdapterMeta,
  model: { modelType: string; name: string; fingerprint: string; hiddenSize: number },
  file = 'The adapter',
): void {
  const b = meta.base_model;
  const trainedFor = `${file} was trained for ${b.model_type} model "${b.name}" (fingerprint ${b.fingerprint})`;
  if (meta.hidden_size !== model.hiddenSize) {
    throw new AdapterMismatchError(file, `${trainedFor} with hidden size ${meta.hidden_size}; the loaded ${model.modelType} model "${model.name}" has hidden size ${model.hiddenSize}.`);
  }
  if (b.model_type !== model.modelType || b.fingerprint !== model.fingerprint) {
    throw new AdapterMismatchError(file, `${trainedFor}; the loaded ${model.modelType} model "${model.name}" has fingerprint ${model.fingerprint}.`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The prompt itself

/** The n × d prompt the adapter prepends: P = scale ⊙ (Z·A) + shift for ULPT, the stored matrix for prompt tuning. */
export function materializePrompt(adapter: Adapter, source = 'The adapter'): Float32Array {
  const fail: Fail = (reason) => {
    throw new AdapterError(source, `${source} is inconsistent: ${reason}.`);
  };
  const { meta, tensors } = adapter;
  const n = positiveInt(meta.num_virtual_tokens, 'num_virtual_tokens', MAX_TOKENS, fail);
  const d = positiveInt(meta.hidden_size, 'hidden_size', MAX_HIDDEN, fail);
  if (meta.method === 'ulpt') positiveInt(meta.rank, 'rank', d, fail);
  checkTensorsInMemory(adapter, fail);
  if (meta.method === 'prompt-tuning') return Float32Array.from(tensors.prompt!);
  const r = meta.rank;
  let seed = 0n;
  try {
    seed = parseSeed(meta.seed);
  } catch (e) {
    fail(`its seed is unusable: ${(e as Error).message.replace(/\.$/, '')}`);
  }
  const a = projectionMatrix(seed, r, d);
  // Without alignment the prompt is Z·A itself: scale 1, shift 0.
  const scale = tensors.scale ?? new Float32Array(d).fill(1);
  const shift = tensors.shift ?? new Float32Array(d);
  return materializeUlpt(tensors.z!, a, scale, shift, n, r, d);
}

/**
 * One line for people about the adapter in `file` ("ULPT r=2, accuracy 0.9219, made 2026-12-06 08:12"), or null
 * when there is no file there or it is not an adapter: what a run is about to replace.
 */
export function describeAdapterFile(file: string): string | null {
  let meta: AdapterMeta;
  try {
    meta = readAdapter(file).meta;
  } catch {
    return null;
  }
  const method = meta.method === 'ulpt' ? `ULPT r=${meta.rank}` : 'prompt tuning';
  // The task's metric (accuracy, exact_match) says more to a person than the loss.
  const metric = Object.entries(meta.metrics).find(([k]) => k !== 'loss') ?? Object.entries(meta.metrics)[0];
  const made = meta.created.slice(0, 16).replace('T', ' ');
  return [method, metric ? `${metric[0]} ${metric[1].toFixed(4)}` : null, `made ${made}`].filter(Boolean).join(', ');
}

/** Why `file` is not a usable adapter (the reader's first line: empty, truncated, foreign), or null when it is one. */
export function adapterProblem(file: string): string | null {
  try {
    readAdapter(file);
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}
