// Loads a Hugging Face model folder: config.json, model.safetensors or a sharded index, tokenizer.json (+ the
// optional generation_config.json, tokenizer_config.json, special_tokens_map.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../io/safetensors';
import { embeddingFingerprint } from '../io/adapter';
import { tf, type Tensor } from '../backend';
import { architectureFor } from './registry';
import { loadTokenizer } from './tokenizer';
import type { HostTensor, LanguageModel, ModelInfo } from './types';
import { WASM_WEIGHT_LIMIT_BYTES, wasmHoldsWeights } from '../train/limits';
import { hubRepoOfSnapshot } from '../hub/refs';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** A JSON object file of a model folder (config.json, the shard index), refused by name when missing or not an object. */
export function readModelJson(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) throw new ModelLoadError(`Missing model file: looked for ${file}.`);
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as Record<string, unknown>;
  } catch (e) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A shard named by the index, which must be a file inside the model folder (never `../…` or an absolute path). */
function shardPath(dir: string, index: string, name: unknown): string {
  if (typeof name !== 'string' || !name) throw new ModelLoadError(`${index}: the weight_map names a shard ${JSON.stringify(name)}; expected a file name.`);
  const inside = path.relative(path.resolve(dir), path.resolve(dir, name));
  if (path.isAbsolute(name) || !inside || inside.startsWith('..') || path.isAbsolute(inside)) {
    throw new ModelLoadError(`${index} names the shard "${name}", which is outside the model folder ${dir}; shards must be files in the model folder.`);
  }
  return path.join(dir, name);
}

/** The safetensors files of a folder: the shards named by model.safetensors.index.json, or model.safetensors. */
export function weightFiles(dir: string): string[] {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) {
    const map = readModelJson(index).weight_map;
    if (typeof map !== 'object' || map === null) throw new ModelLoadError(`${index} has no "weight_map" object.`);
    const files = [...new Set(Object.values(map as Record<string, unknown>))].sort();
    return files.map((f) => shardPath(dir, index, f));
  }
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return [single];
  const bin = path.join(dir, 'pytorch_model.bin');
  const hint = fs.existsSync(bin) ? ' It has pytorch_model.bin: convert it to safetensors first (e.g. with the `safetensors` Python package).' : '';
  throw new ModelLoadError(`No weights in ${dir}: looked for model.safetensors and model.safetensors.index.json.${hint}`);
}

/**
 * Every tensor of the shards, by key, as a handle that reads it on demand: nothing is read yet, so the keys and
 * shapes can be checked before any memory is spent. `close` closes the files.
 */
function openWeights(files: string[]): { weights: Map<string, HostTensor>; close: () => void } {
  const weights = new Map<string, HostTensor>();
  const source = new Map<string, string>();
  const open: SafetensorsFile[] = [];
  const close = () => open.forEach((f) => f.close());
  try {
    for (const file of files) {
      if (!fs.existsSync(file)) throw new ModelLoadError(`Missing weight shard: looked for ${file}.`);
      const st = SafetensorsFile.open(file);
      open.push(st);
      for (const key of st.keys()) {
        if (weights.has(key)) throw new ModelLoadError(`Weight "${key}" appears in both ${source.get(key)} and ${file}.`);
        weights.set(key, { shape: st.info(key).shape, read: () => st.float32(key) });
        source.set(key, file);
      }
    }
  } catch (e) {
    close();
    throw e;
  }
  return { weights, close };
}

/** Every expected key present with its shape; nothing unknown left over. Names the offending key and file. */
function checkWeights(weights: Map<string, HostTensor>, expected: Map<string, number[]>, ignored: (k: string) => boolean, where: string): Map<string, HostTensor> {
  const kept = new Map<string, HostTensor>();
  for (const [key, shape] of expected) {
    const t = weights.get(key);
    if (!t) throw new ModelLoadError(`${where}: weight "${key}" is missing (expected shape [${shape.join(', ')}]).`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new ModelLoadError(`${where}: weight "${key}" has shape [${t.shape.join(', ')}] but config.json implies [${shape.join(', ')}].`);
    }
    kept.set(key, t);
  }
  for (const key of weights.keys()) {
    if (!expected.has(key) && !ignored(key)) throw new ModelLoadError(`${where}: unexpected weight "${key}" (not part of this architecture).`);
  }
  return kept;
}

/** A Hugging Face cache snapshot (…/models--org--name/snapshots/<revision>) is named org/name, else the folder. */
export function folderModelName(dir: string): string {
  return hubRepoOfSnapshot(dir) ?? path.basename(dir);
}

/**
 * Uploads the weights one tensor at a time, so at most one tensor's float32 values live in host memory next to the
 * backend's copy (never two copies of the model). Keys that share a handle (tied weights) share one tensor.
 * `onRead` sees each tensor's values once, while they are at hand (the embedding fingerprint is taken there).
 */
function upload(weights: Map<string, HostTensor>, onRead: (key: string, data: Float32Array) => void): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const shared = new Map<HostTensor, Tensor>();
  try {
    for (const [key, host] of weights) {
      let t = shared.get(host);
      if (!t) {
        const data = host.read();
        onRead(key, data);
        t = tf.tensor(data, host.shape, 'float32');
        shared.set(host, t);
      }
      out.set(key, t);
    }
  } catch (e) {
    for (const t of shared.values()) t.dispose();
    throw e;
  }
  return out;
}

export { WASM_WEIGHT_LIMIT_BYTES };

/**
 * Why a model of this many parameters cannot be loaded on this backend, or null. Only WASM has a hard limit (a
 * 32-bit heap); weights are float32 in memory whatever their type on disk.
 */
export function backendMemoryProblem(backend: string, parameters: number): string | null {
  const bytes = 4 * parameters;
  if (backend !== 'wasm' || wasmHoldsWeights(parameters)) return null;
  const gb = (x: number) => (x / 2 ** 30).toFixed(1);
  return `the model has ${(parameters / 1e6).toFixed(0)}M parameters, ${gb(bytes)} GiB as float32, but the WASM backend's memory holds at most 4 GiB ` +
    `(${gb(WASM_WEIGHT_LIMIT_BYTES)} GiB of weights, to leave room for training). Use the tensorflow or tensorflow-gpu backend ` +
    '(npm install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu), or a smaller model.';
}

export async function loadModel(dir: string): Promise<LanguageModel> {
  const absDir = path.resolve(dir);
  if (!fs.existsSync(absDir) || !fs.statSync(absDir).isDirectory()) throw new ModelLoadError(`The model folder ${absDir} does not exist.`);
  const configFile = path.join(absDir, 'config.json');
  const json = readModelJson(configFile);
  const arch = architectureFor(json.model_type, configFile);
  const config = arch.parseConfig(json, configFile);
  const dims = arch.dims(config);
  const files = weightFiles(absDir);
  const warnings: string[] = [];
  let tokenizer: ReturnType<typeof loadTokenizer>;
  try {
    tokenizer = loadTokenizer(absDir, json, dims.vocabSize, arch.kind === 'encoder-decoder', warnings);
  } catch (e) {
    throw e instanceof ModelLoadError ? e : new ModelLoadError((e as Error).message);
  }
  if (tokenizer.vocabSize > dims.vocabSize) {
    throw new ModelLoadError(`${absDir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json says vocab_size ${dims.vocabSize}.`);
  }
  const { weights: raw, close } = openWeights(files);
  let tensors: Map<string, Tensor>;
  let fingerprint = '';
  let parameters = 0;
  try {
    const weights = checkWeights(arch.sanitize(raw, config), arch.expectedShapes(config), arch.ignoredKey, absDir);
    for (const t of new Set(weights.values())) parameters += t.shape.reduce((a, b) => a * b, 1);
    const tooBig = backendMemoryProblem(tf.getBackend(), parameters);
    if (tooBig) throw new ModelLoadError(`${absDir}: ${tooBig}`);
    const embedding = weights.get(arch.embeddingKey)!;
    tensors = upload(weights, (key, data) => {
      if (weights.get(key) === embedding && !fingerprint) fingerprint = embeddingFingerprint(data, dims.vocabSize, dims.hiddenSize);
    });
  } finally {
    close();
  }
  const name = typeof json._name_or_path === 'string' && json._name_or_path ? json._name_or_path : folderModelName(absDir);
  const info: ModelInfo = { modelType: arch.modelType, kind: arch.kind, name, dir: absDir, ...dims, weightCopies: arch.weightCopies, fingerprint, parameters };
  try {
    const { decoderStartId, ...text } = tokenizer;
    return arch.build(tensors, config, { info, tokenizer: text, warnings, decoderStartId });
  } catch (e) {
    for (const t of new Set(tensors.values())) t.dispose();
    throw e;
  }
}

/**
 * The fingerprint loadModel would give the folder, from its token-embedding tensor alone: the checkpoint key that is
 * the architecture's embedding key (or ends with it after a prefix such as "transformer.") with shape [vocab, hidden].
 * Cheap however large the model, so candidate folders can be checked without loading them. Null when the key is not
 * found exactly once (the caller then loads the model to be sure).
 */
export function embeddingFingerprintOf(dir: string): string | null {
  const absDir = path.resolve(dir);
  if (!fs.existsSync(absDir) || !fs.statSync(absDir).isDirectory()) throw new ModelLoadError(`The model folder ${absDir} does not exist.`);
  const configFile = path.join(absDir, 'config.json');
  const json = readModelJson(configFile);
  const arch = architectureFor(json.model_type, configFile);
  const { vocabSize, hiddenSize } = arch.dims(arch.parseConfig(json, configFile));
  const found: { file: string; key: string }[] = [];
  for (const file of weightFiles(absDir)) {
    if (!fs.existsSync(file)) throw new ModelLoadError(`Missing weight shard: looked for ${file}.`);
    const st = SafetensorsFile.open(file);
    try {
      for (const key of st.keys()) {
        if (key !== arch.embeddingKey && !key.endsWith(`.${arch.embeddingKey}`)) continue;
        const shape = st.info(key).shape;
        if (shape.length === 2 && shape[0] === vocabSize && shape[1] === hiddenSize) found.push({ file, key });
      }
    } finally {
      st.close();
    }
  }
  if (found.length !== 1) return null;
  const st = SafetensorsFile.open(found[0].file);
  try {
    return embeddingFingerprint(st.float32(found[0].key), vocabSize, hiddenSize);
  } finally {
    st.close();
  }
}
