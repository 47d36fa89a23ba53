// The .ulpt adapter file, the projection generator it depends on, and the PEFT export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AdapterError,
  adapterProblem,
  AdapterMismatchError,
  checkAdapterMatchesModel,
  embeddingFingerprint,
  materializePrompt,
  readAdapter,
  trainableParameters,
  writeAdapter,
  type Adapter,
  type AdapterMeta,
} from '../../src/io/adapter';
import { exportPeft } from '../../src/io/peft';
import { SafetensorsFile, serializeSafetensors, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors';
import { parseSeed, projectionMatrix, SplitMix64 } from '../../src/ulpt/projection';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-adapter-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpPath = (name = 'a.ulpt') => path.join(tmp, `${counter++}-${name}`);

// --- fixtures ----------------------------------------------------------------------------------------------------

/** A small deterministic generator for test data (not the one under test). */
function values(count: number, salt: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => Math.fround(Math.sin(i * 12.9898 + salt) * 1.7));
}

function meta(over: Partial<AdapterMeta> = {}): AdapterMeta {
  const base: AdapterMeta = {
    format: 'ulpt-adapter',
    version: 1,
    method: 'ulpt',
    num_virtual_tokens: 5,
    rank: 2,
    hidden_size: 8,
    alignment: true,
    seed: '42',
    base_model: { model_type: 'gpt2', name: 'tiny-gpt2', fingerprint: 'sha256:0123456789abcdef:100x8', vocab_size: 100 },
    task: { type: 'classification', template: 'Review: {text}\nSentiment:', input_field: 'text', target_field: 'label', labels: { names: ['neg', 'pos'], words: [' negative', ' positive'] } },
    training: { lr: 0.01, steps: 20, backend: 'cpu' },
    metrics: { loss: 0.25, accuracy: 0.9 },
    trainable_parameters: 0,
    created: '2025-01-02T03:04:05.000Z',
  };
  const m = { ...base, ...over };
  m.trainable_parameters = over.trainable_parameters ?? trainableParameters(m.method, m.num_virtual_tokens, m.rank, m.hidden_size, m.alignment);
  return m;
}

function ulptAdapter(over: Partial<AdapterMeta> = {}): Adapter {
  const m = meta(over);
  const n = m.num_virtual_tokens;
  const d = m.hidden_size;
  const tensors = m.alignment
    ? { z: values(n * m.rank, 1), scale: values(d, 2).map((v) => 1 + v / 4), shift: values(d, 3).map((v) => v / 10) }
    : { z: values(n * m.rank, 1) };
  return { meta: m, tensors };
}

function promptAdapter(): Adapter {
  const m = meta({ method: 'prompt-tuning', rank: 0, alignment: false, num_virtual_tokens: 4, hidden_size: 6 });
  return { meta: m, tensors: { prompt: values(4 * 6, 4) } };
}

function sameBits(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
  if (!a || !b) return a === b;
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function refused(file: string, reason: RegExp): void {
  assert.throws(
    () => readAdapter(file),
    (e: unknown) => {
      assert.ok(e instanceof AdapterError, `expected AdapterError, got ${e}`);
      assert.equal(e.name, 'AdapterError');
      assert.ok(e.message.startsWith(file), `message should start with the path: ${e.message}`);
      assert.match(e.message, reason);
      return true;
    },
  );
}

/** Writes a safetensors file with the given tensors and raw `ulpt` metadata, bypassing writeAdapter's checks. */
function rawAdapter(tensors: Record<string, TensorToWrite>, ulpt: string | undefined): string {
  const file = tmpPath();
  writeSafetensors(file, tensors, ulpt === undefined ? {} : { ulpt });
  return file;
}

function tensorsOf(a: Adapter): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  const m = a.meta;
  if (a.tensors.z) out['ulpt.z'] = { shape: [m.num_virtual_tokens, m.rank], data: a.tensors.z };
  if (a.tensors.scale) out['ulpt.scale'] = { shape: [m.hidden_size], data: a.tensors.scale };
  if (a.tensors.shift) out['ulpt.shift'] = { shape: [m.hidden_size], data: a.tensors.shift };
  if (a.tensors.prompt) out.prompt_embeddings = { shape: [m.num_virtual_tokens, m.hidden_size], data: a.tensors.prompt };
  return out;
}

// --- the projection generator (part of the format) -----------------------------------------------------------

test('SplitMix64 and the projection match the DESIGN.md test vector', () => {
  const rng = new SplitMix64(42n);
  assert.deepEqual([rng.next(), rng.next(), rng.next()], [0xbdd732262feb6e95n, 0x28efe333b266f103n, 0x47526757130f9f52n]);
  assert.equal(new SplitMix64(0n).next(), 0xe220a8397b1dcdafn);
  const expected = [0.483129758, -0.680179214, -0.442797739, -0.311618567, -0.923939663, 0.736456153, -0.563189613, 0.601263753];
  const a = projectionMatrix(parseSeed('42'), 2, 4);
  assert.equal(a.length, 8);
  expected.forEach((e, i) => assert.ok(Math.abs(a[i] - e) < 1e-6, `A[${i}] = ${a[i]}, expected ${e}`));
  assert.equal(parseSeed('18446744073709551615'), 2n ** 64n - 1n);
  assert.throws(() => parseSeed('18446744073709551616'), /64 bits/);
  assert.throws(() => parseSeed('-1'), /non-negative integer/);
});

// --- round trips ---------------------------------------------------------------------------------------------

for (const [label, make] of [
  ['ulpt', () => ulptAdapter()],
  ['ulpt without alignment', () => ulptAdapter({ alignment: false })],
  ['prompt-tuning', () => promptAdapter()],
] as const) {
  test(`${label} adapter round-trips bit-exactly`, () => {
    const adapter = make();
    const file = tmpPath();
    writeAdapter(file, adapter);
    const back = readAdapter(file);
    assert.deepEqual(back.meta, adapter.meta);
    for (const k of ['z', 'scale', 'shift', 'prompt'] as const) assert.ok(sameBits(back.tensors[k], adapter.tensors[k]), `tensor ${k} differs`);
    const st = SafetensorsFile.open(file);
    try {
      for (const k of st.keys()) assert.equal(st.info(k).dtype, 'F32');
      const names = st.keys().sort();
      if (label === 'ulpt') assert.deepEqual(names, ['ulpt.scale', 'ulpt.shift', 'ulpt.z']);
      if (label === 'ulpt without alignment') assert.deepEqual(names, ['ulpt.z']);
      if (label === 'prompt-tuning') assert.deepEqual(names, ['prompt_embeddings']);
    } finally {
      st.close();
    }
  });
}

test('a ULPT adapter for T5-base sizes is a few KB', () => {
  const adapter = ulptAdapter({ num_virtual_tokens: 100, rank: 2, hidden_size: 768 });
  const file = tmpPath();
  writeAdapter(file, adapter);
  assert.ok(fs.statSync(file).size < 12_000, `${fs.statSync(file).size} bytes`);
});

// --- writes --------------------------------------------------------------------------------------------------

test('writes are atomic: no temp file is left and an existing file is replaced whole', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
  const file = path.join(dir, 'x.ulpt');
  fs.writeFileSync(file, Buffer.alloc(100_000, 0xab)); // bigger than the adapter: leftovers would show
  const adapter = ulptAdapter();
  writeAdapter(file, adapter);
  assert.deepEqual(fs.readdirSync(dir), ['x.ulpt']);
  const expected = serializeSafetensors(
    tensorsOf(adapter),
    { ulpt: JSON.stringify(adapter.meta) },
  );
  assert.equal(Buffer.compare(fs.readFileSync(file), Buffer.from(expected)), 0);
  assert.ok(sameBits(readAdapter(file).tensors.z, adapter.tensors.z));
});

test('a refused write leaves the existing file untouched and no temp file', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'refused-'));
  const file = path.join(dir, 'x.ulpt');
  writeAdapter(file, ulptAdapter());
  const before = fs.readFileSync(file);
  const bad = ulptAdapter();
  bad.tensors.z![3] = NaN;
  assert.throws(() => writeAdapter(file, bad), (e: unknown) => e instanceof AdapterError && e.message.startsWith(`${file} was not written`) && /"ulpt.z" holds NaN at \[1, 1\]/.test(e.message));
  assert.deepEqual(fs.readdirSync(dir), ['x.ulpt']);
  assert.equal(Buffer.compare(fs.readFileSync(file), before), 0);
});

test('writeAdapter checks shapes and metadata before writing', () => {
  const file = tmpPath();
  const short = ulptAdapter();
  short.tensors.z = short.tensors.z!.subarray(1);
  assert.throws(() => writeAdapter(file, short), /"ulpt.z" has 9 values but the metadata needs shape \[5, 2\] = 10/);
  const extra = ulptAdapter({ alignment: false });
  extra.tensors.scale = new Float32Array(8).fill(1);
  assert.throws(() => writeAdapter(file, extra), /"ulpt.scale" is unexpected \(metadata says alignment: false\)/);
  const missing = ulptAdapter();
  delete missing.tensors.shift;
  assert.throws(() => writeAdapter(file, missing), /"ulpt.shift" is missing \(metadata says alignment: true\)/);
  assert.throws(() => writeAdapter(file, ulptAdapter({ trainable_parameters: 7 })), /trainable_parameters is 7, but a ulpt adapter with n=5, r=2, d=8, alignment=true has 26/);
  assert.throws(() => writeAdapter(file, ulptAdapter({ metrics: { loss: NaN } })), /metrics\.loss must be a finite number/);
  assert.throws(() => writeAdapter(file, ulptAdapter({ seed: 'abc' })), /seed/);
  assert.ok(!fs.existsSync(file));
});

// --- refusals on read ----------------------------------------------------------------------------------------

test('refused: a truncated adapter', () => {
  const file = tmpPath();
  writeAdapter(file, ulptAdapter());
  fs.truncateSync(file, fs.statSync(file).size - 5);
  refused(file, /is not a valid safetensors file: .*truncated/);
  fs.truncateSync(file, 3);
  refused(file, /is not a valid safetensors file: it is 3 bytes long/);
});

test('refused: not safetensors, missing file, no ulpt metadata, bad JSON', () => {
  const text = tmpPath('notes.txt');
  fs.writeFileSync(text, 'this is a text file, not an adapter at all');
  refused(text, /not a valid safetensors file/);
  refused(path.join(tmp, 'nope.ulpt'), /does not exist/);
  const a = ulptAdapter();
  refused(rawAdapter(tensorsOf(a), undefined), /no "ulpt" entry/);
  refused(rawAdapter(tensorsOf(a), '{"format": "ulpt-adapter",'), /"ulpt" metadata is not valid JSON/);
  refused(rawAdapter(tensorsOf(a), '[1, 2]'), /not a JSON object/);
});

test('refused: wrong format or version, saying which version this build reads', () => {
  const a = ulptAdapter();
  refused(rawAdapter(tensorsOf(a), JSON.stringify({ ...a.meta, version: 2 })), /version 2, but this build reads version 1 only \(it was written by a newer ULPT Studio/);
  refused(rawAdapter(tensorsOf(a), JSON.stringify({ ...a.meta, version: '1' })), /version "1", but this build reads version 1 only/);
  refused(rawAdapter(tensorsOf(a), JSON.stringify({ ...a.meta, format: 'lora' })), /format is "lora", not "ulpt-adapter"/);
});

test('refused: missing or extra tensors', () => {
  const a = ulptAdapter();
  const t = tensorsOf(a);
  const { 'ulpt.shift': _shift, ...noShift } = t;
  refused(rawAdapter(noShift, JSON.stringify(a.meta)), /tensor "ulpt.shift" is missing \(metadata says alignment: true\)/);
  refused(rawAdapter({ ...t, 'lm_head.weight': { shape: [1], data: new Float32Array(1) } }, JSON.stringify(a.meta)), /tensor "lm_head.weight" is unexpected/);
  const p = promptAdapter();
  refused(rawAdapter({ ...tensorsOf(p), 'ulpt.z': t['ulpt.z'] }, JSON.stringify(p.meta)), /"ulpt.z" is unexpected \(metadata says method "prompt-tuning"\)/);
});

test('refused: tensor shapes that disagree with the metadata', () => {
  const a = ulptAdapter();
  const t = tensorsOf(a);
  refused(rawAdapter({ ...t, 'ulpt.z': { shape: [2, 5], data: a.tensors.z! } }, JSON.stringify(a.meta)), /"ulpt.z" has shape \[2, 5\] but the metadata \(n=5, r=2, d=8\) needs \[5, 2\]/);
  refused(rawAdapter({ ...t, 'ulpt.scale': { shape: [4], data: a.tensors.scale!.subarray(0, 4) } }, JSON.stringify(a.meta)), /"ulpt.scale" has shape \[4\] but .* needs \[8\]/);
  const bigger = { ...a.meta, hidden_size: 16, trainable_parameters: 42 };
  refused(rawAdapter(t, JSON.stringify(bigger)), /has shape \[8\] but .*needs \[16\]/);
});

test('refused: non-F32 tensors', () => {
  const a = ulptAdapter({ alignment: false });
  // A hand-made file with ulpt.z stored as F16.
  const header = Buffer.from(JSON.stringify({ __metadata__: { ulpt: JSON.stringify(a.meta) }, 'ulpt.z': { dtype: 'F16', shape: [5, 2], data_offsets: [0, 20] } }));
  const bytes = Buffer.concat([Buffer.alloc(8), header, Buffer.alloc(20)]);
  bytes.writeBigUInt64LE(BigInt(header.length), 0);
  const file = tmpPath();
  fs.writeFileSync(file, bytes);
  refused(file, /"ulpt.z" is F16; adapters hold F32 only/);
});

test('refused: NaN or Inf values', () => {
  const a = ulptAdapter();
  const t = tensorsOf(a);
  const z = Float32Array.from(a.tensors.z!);
  z[7] = NaN;
  refused(rawAdapter({ ...t, 'ulpt.z': { shape: [5, 2], data: z } }, JSON.stringify(a.meta)), /"ulpt.z" holds NaN at \[3, 1\].*finite/);
  const shift = Float32Array.from(a.tensors.shift!);
  shift[2] = -Infinity;
  refused(rawAdapter({ ...t, 'ulpt.shift': { shape: [8], data: shift } }, JSON.stringify(a.meta)), /"ulpt.shift" holds -Infinity at \[2\]/);
});

test('refused: inconsistent metadata fields', () => {
  const a = ulptAdapter();
  const t = tensorsOf(a);
  const bad = (over: Record<string, unknown>) => rawAdapter(t, JSON.stringify({ ...a.meta, ...over }));
  refused(bad({ method: 'lora' }), /method must be "ulpt" or "prompt-tuning"/);
  refused(bad({ num_virtual_tokens: 0 }), /num_virtual_tokens must be a positive integer/);
  refused(bad({ hidden_size: 1e9 }), /hidden_size is 1000000000, above the limit/);
  refused(bad({ rank: 2.5 }), /rank must be a positive integer/);
  refused(bad({ alignment: 'yes' }), /alignment must be true or false/);
  refused(bad({ seed: 42 }), /seed must be a string/);
  refused(bad({ base_model: { model_type: 'gpt2', name: 'x', fingerprint: 'f' } }), /base_model.vocab_size/);
  refused(bad({ task: { ...a.meta.task, labels: { names: ['a'], words: [] } } }), /task.labels has 1 names but 0 words/);
  refused(bad({ trainable_parameters: 1 }), /trainable_parameters is 1/);
});

// --- model identity ------------------------------------------------------------------------------------------

test('embeddingFingerprint hashes the float32 little-endian bytes', () => {
  const wte = values(100 * 8, 9);
  const fp = embeddingFingerprint(wte, 100, 8);
  const bytes = Buffer.alloc(wte.length * 4);
  wte.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  const hex = createHash('sha256').update(bytes).digest('hex');
  assert.equal(fp, `sha256:${hex.slice(0, 16)}:100x8`);
  assert.match(fp, /^sha256:[0-9a-f]{16}:100x8$/);
  assert.equal(embeddingFingerprint(Float32Array.from(wte), 100, 8), fp, 'stable across copies');
  const padded = new Float32Array(wte.length + 3);
  padded.set(wte, 3);
  assert.equal(embeddingFingerprint(padded.subarray(3), 100, 8), fp, 'a view into a larger buffer hashes only its own bytes');
  const changed = Float32Array.from(wte);
  changed[500] = Math.fround(changed[500] + 1e-3);
  assert.notEqual(embeddingFingerprint(changed, 100, 8), fp);
  assert.notEqual(embeddingFingerprint(wte, 50, 16), fp, 'the shape is part of it');
  assert.throws(() => embeddingFingerprint(wte, 100, 9), /800 values, but vocab 100 × hidden 9 = 900/);
});

test('an adapter is refused for another model, naming the model it was trained for', () => {
  const m = meta();
  const model = { modelType: 'gpt2', name: 'tiny-gpt2', fingerprint: m.base_model.fingerprint, hiddenSize: 8 };
  checkAdapterMatchesModel(m, model, 'adapters/x.ulpt');
  assert.throws(
    () => checkAdapterMatchesModel(m, { ...model, name: 'other', fingerprint: 'sha256:fedcba9876543210:100x8' }, 'adapters/x.ulpt'),
    (e: unknown) => {
      assert.ok(e instanceof AdapterMismatchError && e instanceof AdapterError);
      assert.equal(e.name, 'AdapterMismatchError');
      assert.equal(
        e.message,
        'adapters/x.ulpt was trained for gpt2 model "tiny-gpt2" (fingerprint sha256:0123456789abcdef:100x8); the loaded gpt2 model "other" has fingerprint sha256:fedcba9876543210:100x8.',
      );
      return true;
    },
  );
  assert.throws(() => checkAdapterMatchesModel(m, { ...model, hiddenSize: 768 }, 'adapters/x.ulpt'), /^AdapterMismatchError: adapters\/x.ulpt was trained for gpt2 model "tiny-gpt2".* hidden size 8; the loaded gpt2 model "tiny-gpt2" has hidden size 768\./);
  assert.throws(() => checkAdapterMatchesModel(m, { ...model, modelType: 't5' }), /^AdapterMismatchError: The adapter was trained for gpt2 model/);
});

// --- the prompt ----------------------------------------------------------------------------------------------

/** P = scale ⊙ (Z·A) + shift by a plain triple loop, with A from an independent SplitMix64. */
function referencePrompt(adapter: Adapter): number[] {
  const { num_virtual_tokens: n, rank: r, hidden_size: d, seed } = adapter.meta;
  const M = (1n << 64n) - 1n;
  let state = BigInt(seed);
  const a: number[] = [];
  for (let k = 0; k < r * d; k++) {
    state = (state + 0x9e3779b97f4a7c15n) & M;
    let x = state;
    x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M;
    x ^= x >> 31n;
    a.push((2 * (Number(x >> 11n) / 2 ** 53) - 1) * Math.sqrt(6 / (r + d)));
  }
  const { z, scale, shift } = adapter.tensors;
  const p: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += z![i * r + k] * a[k * d + j];
      p.push((scale ? scale[j] : 1) * s + (shift ? shift[j] : 0));
    }
  }
  return p;
}

test('materializePrompt equals an independent computation', () => {
  for (const adapter of [ulptAdapter(), ulptAdapter({ alignment: false }), ulptAdapter({ seed: '18446744073709551615', rank: 3, hidden_size: 16 })]) {
    const p = materializePrompt(adapter);
    const ref = referencePrompt(adapter);
    assert.equal(p.length, adapter.meta.num_virtual_tokens * adapter.meta.hidden_size);
    ref.forEach((v, i) => assert.ok(Math.abs(p[i] - v) < 1e-6, `P[${i}] = ${p[i]}, expected ${v}`));
  }
  const pt = promptAdapter();
  const p = materializePrompt(pt);
  assert.ok(sameBits(p, pt.tensors.prompt));
  assert.notEqual(p, pt.tensors.prompt, 'a copy, not the stored array');
  const broken = ulptAdapter();
  delete broken.tensors.z;
  assert.throws(() => materializePrompt(broken, 'adapters/b.ulpt'), /^AdapterError: adapters\/b.ulpt is inconsistent: tensor "ulpt.z" is missing/);
});

test('trainableParameters counts n·r + 2d, n·r, n·d', () => {
  assert.equal(trainableParameters('ulpt', 100, 2, 768, true), 1736);
  assert.equal(trainableParameters('ulpt', 100, 2, 768, false), 200);
  assert.equal(trainableParameters('prompt-tuning', 100, 2, 768, true), 76800);
  assert.equal(trainableParameters('prompt-tuning', 100, 0, 768, false), 76800);
});

// --- PEFT export ---------------------------------------------------------------------------------------------

test('PEFT export writes a PromptTuningConfig and prompt_embeddings equal to the materialized prompt', () => {
  const adapter = ulptAdapter();
  const file = tmpPath();
  writeAdapter(file, adapter);
  const out = path.join(tmp, 'peft-gpt2');
  const { configFile, weightsFile } = exportPeft(file, out);
  assert.equal(configFile, path.join(out, 'adapter_config.json'));
  assert.equal(weightsFile, path.join(out, 'adapter_model.safetensors'));
  assert.deepEqual(fs.readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  assert.deepEqual(config, {
    auto_mapping: null,
    base_model_name_or_path: 'tiny-gpt2',
    inference_mode: true,
    num_transformer_submodules: 1,
    num_virtual_tokens: 5,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null,
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: 8,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: null,
  });
  assert.deepEqual(Object.keys(config), Object.keys(config).sort(), 'sorted keys, as PEFT writes them');
  const st = SafetensorsFile.open(weightsFile);
  try {
    assert.deepEqual(st.keys(), ['prompt_embeddings']);
    assert.equal(st.info('prompt_embeddings').dtype, 'F32');
    assert.deepEqual(st.info('prompt_embeddings').shape, [5, 8]);
    assert.deepEqual(st.header.metadata, { format: 'pt' });
    assert.ok(sameBits(st.float32('prompt_embeddings'), materializePrompt(adapter)));
  } finally {
    st.close();
  }
});

test('PEFT export: seq2seq task type for T5, dimensions from a local model folder, overrides', () => {
  const modelDir = path.join(tmp, 'tiny-t5');
  fs.mkdirSync(modelDir);
  fs.writeFileSync(path.join(modelDir, 'config.json'), JSON.stringify({ model_type: 't5', d_model: 8, num_heads: 2, num_layers: 3 }));
  const adapter = ulptAdapter({ base_model: { model_type: 't5', name: 'tiny-t5', fingerprint: 'sha256:1111111111111111:100x8', vocab_size: 100 } });
  const file = tmpPath();
  writeAdapter(file, adapter);
  const { configFile } = exportPeft(file, path.join(tmp, 'peft-t5'), { baseModelNameOrPath: modelDir });
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  assert.equal(config.task_type, 'SEQ_2_SEQ_LM');
  assert.equal(config.base_model_name_or_path, modelDir);
  assert.equal(config.num_attention_heads, 2);
  assert.equal(config.num_layers, 3);
  assert.equal(config.num_transformer_submodules, 1);
  const forced = exportPeft(file, path.join(tmp, 'peft-t5-causal'), { taskType: 'CAUSAL_LM', baseModelNameOrPath: 'google-t5/t5-base' });
  const c2 = JSON.parse(fs.readFileSync(forced.configFile, 'utf8'));
  assert.equal(c2.task_type, 'CAUSAL_LM');
  assert.equal(c2.base_model_name_or_path, 'google-t5/t5-base');
  assert.ok(!('num_layers' in c2) && !('num_attention_heads' in c2));
  // A local model of another width is refused.
  fs.writeFileSync(path.join(modelDir, 'config.json'), JSON.stringify({ model_type: 't5', d_model: 16 }));
  assert.throws(() => exportPeft(file, path.join(tmp, 'peft-bad'), { baseModelNameOrPath: modelDir }), /hidden size 16, but the adapter was trained for hidden size 8/);
  assert.ok(!fs.existsSync(path.join(tmp, 'peft-bad')));
});

test('PEFT export of a prompt-tuning adapter copies its prompt; a broken adapter is refused', () => {
  const adapter = promptAdapter();
  const file = tmpPath();
  writeAdapter(file, adapter);
  const { weightsFile } = exportPeft(file, path.join(tmp, 'peft-pt'));
  const st = SafetensorsFile.open(weightsFile);
  try {
    assert.ok(sameBits(st.float32('prompt_embeddings'), adapter.tensors.prompt));
  } finally {
    st.close();
  }
  fs.truncateSync(file, 10);
  assert.throws(() => exportPeft(file, path.join(tmp, 'peft-broken')), AdapterError);
});

test('adapterProblem: an adapter is usable; an empty, truncated or foreign .ulpt says why (the Try and Export pickers mark them)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-problem-'));
  const good = path.join(dir, 'good.ulpt');
  writeAdapter(good, ulptAdapter());
  assert.equal(adapterProblem(good), null);
  const bytes = fs.readFileSync(good);
  const cases: [string, Uint8Array][] = [['empty.ulpt', new Uint8Array()], ['half.ulpt', bytes.subarray(0, bytes.length >> 1)], ['notes.ulpt', Buffer.from('my notes, not an adapter\n')]];
  for (const [name, data] of cases) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, data);
    const problem = adapterProblem(f);
    assert.ok(problem && problem.includes(name), `${name}: ${problem}`);
    assert.ok(!problem.includes('\n'));
  }
});
