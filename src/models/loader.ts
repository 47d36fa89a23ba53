// Loads a Hugging Face model folder: config.json, model.safetensors or a sharded index, tokenizer.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../io/safetensors';
import { embeddingFingerprint } from '../io/adapter';
import { architectureFor } from './registry';
import { loadTokenizer } from './tokenizer';
import type { CausalLM, HostTensor } from './types';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

function readJson(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) throw new ModelLoadError(`Missing model file: looked for ${file}.`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The safetensors files of a folder: the shards named by model.safetensors.index.json, or model.safetensors. */
export function weightFiles(dir: string): string[] {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) {
    const map = readJson(index).weight_map;
    if (typeof map !== 'object' || map === null) throw new ModelLoadError(`${index} has no "weight_map" object.`);
    const files = [...new Set(Object.values(map as Record<string, string>))].sort();
    return files.map((f) => path.join(dir, f));
  }
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return [single];
  const bin = path.join(dir, 'pytorch_model.bin');
  const hint = fs.existsSync(bin) ? ' It has pytorch_model.bin: convert it to safetensors first (e.g. with the `safetensors` Python package).' : '';
  throw new ModelLoadError(`No weights in ${dir}: looked for model.safetensors and model.safetensors.index.json.${hint}`);
}

function readWeights(files: string[]): { weights: Map<string, HostTensor>; source: Map<string, string> } {
  const weights = new Map<string, HostTensor>();
  const source = new Map<string, string>();
  for (const file of files) {
    if (!fs.existsSync(file)) throw new ModelLoadError(`Missing weight shard: looked for ${file}.`);
    const st = SafetensorsFile.open(file);
    try {
      for (const key of st.keys()) {
        if (weights.has(key)) throw new ModelLoadError(`Weight "${key}" appears in both ${source.get(key)} and ${file}.`);
        weights.set(key, { shape: st.info(key).shape, data: st.float32(key) });
        source.set(key, file);
      }
    } finally {
      st.close();
    }
  }
  return { weights, source };
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
  const m = /models--([^/\\]+)[/\\]snapshots[/\\][^/\\]+[/\\]?$/.exec(dir);
  return m ? m[1].split('--').join('/') : path.basename(dir);
}

export async function loadModel(dir: string): Promise<CausalLM> {
  const absDir = path.resolve(dir);
  if (!fs.existsSync(absDir) || !fs.statSync(absDir).isDirectory()) throw new ModelLoadError(`The model folder ${absDir} does not exist.`);
  const configFile = path.join(absDir, 'config.json');
  const json = readJson(configFile);
  const arch = architectureFor(json.model_type, configFile);
  const config = arch.parseConfig(json, configFile);
  const { weights: raw } = readWeights(weightFiles(absDir));
  const weights = checkWeights(arch.sanitize(raw, config), arch.expectedShapes(config), arch.ignoredKey, absDir);
  const dims = arch.dims(config);
  const tokenizer = loadTokenizer(absDir, typeof json.eos_token_id === 'number' ? json.eos_token_id : null);
  if (tokenizer.vocabSize > dims.vocabSize) {
    throw new ModelLoadError(`${absDir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json says vocab_size ${dims.vocabSize}.`);
  }
  const wte = weights.get(arch.embeddingKey)!;
  const parameters = [...new Set(weights.values())].reduce((n, t) => n + t.data.length, 0);
  const name = typeof json._name_or_path === 'string' && json._name_or_path ? json._name_or_path : folderModelName(absDir);
  const info = { modelType: arch.modelType, name, dir: absDir, ...dims, fingerprint: embeddingFingerprint(wte.data, dims.vocabSize, dims.hiddenSize), parameters };
  return arch.build(weights, config, info, tokenizer);
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
  const json = readJson(configFile);
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
