// Export to Hugging Face PEFT: a ULPT adapter becomes an ordinary prompt-tuning adapter (PeftType.PROMPT_TUNING)
// by materialising P = scale ⊙ (Z·A) + shift once. The result loads with
//   PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), out_dir)
// and needs nothing from ULPT Studio. The size advantage is given up (n × d floats instead of n·r + 2d).
// (transformers 5 loads a checkpoint in its stored dtype by default, and PEFT casts the prompt to the embeddings'
// dtype: a float16 checkpoint then runs the prompt in float16, not in the float32 it was trained in.)
// Import is the reverse for vanilla prompt tuning: a PEFT PROMPT_TUNING folder becomes a `.ulpt` of method
// "prompt-tuning" (python/tests/test_peft_interop.py checks both ways against the real peft package).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { leftoverTempFiles, writeFileAtomic } from './atomic';
import { materializePrompt, readAdapter, trainableParameters, type Adapter, type AdapterMeta } from './adapter';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from './safetensors';
import { hubRepoOfSnapshot } from '../hub/refs';

export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_2_SEQ_LM';

/** The output folder cannot be used as it is: a setting the user changes (another folder, or --force). */
export class PeftOutError extends Error {
  override name = 'PeftOutError';
}

/**
 * What is at the PEFT export's folder: nothing (new), an empty folder, an earlier PEFT export (its two files and
 * nothing else but our own temp files: replaced as a whole), other content, a symlink, or a file.
 */
export type PeftOutState =
  | { kind: 'new' | 'empty' | 'export' }
  | { kind: 'foreign'; entries: string[] }
  | { kind: 'symlink'; target: string }
  | { kind: 'file' };

export function peftOutState(outDir: string): PeftOutState {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(outDir);
  } catch {
    return { kind: 'new' };
  }
  if (stat.isSymbolicLink()) {
    let target = '?';
    try {
      target = fs.realpathSync(outDir);
    } catch {
      /* a dangling link */
    }
    return { kind: 'symlink', target };
  }
  if (!stat.isDirectory()) return { kind: 'file' };
  const entries = fs.readdirSync(outDir).filter((e) => !leftoverTempFiles(outDir).includes(e));
  if (!entries.length) return { kind: 'empty' };
  const ours = entries.every((e) => e === PEFT_CONFIG_NAME || e === PEFT_WEIGHTS_NAME);
  return ours && isPeftConfig(path.join(outDir, PEFT_CONFIG_NAME)) ? { kind: 'export' } : { kind: 'foreign', entries };
}

function isPeftConfig(file: string): boolean {
  try {
    return typeof (JSON.parse(fs.readFileSync(file, 'utf8')) as { peft_type?: unknown }).peft_type === 'string';
  } catch {
    return false;
  }
}

/** Why the export may not write to `outDir`, in words, or null. `--force` allows any folder, through a symlink too. */
export function peftOutProblem(outDir: string, force = false): string | null {
  const state = peftOutState(outDir);
  switch (state.kind) {
    case 'new': case 'empty': case 'export': return null;
    case 'file': return `${outDir} is a file; the PEFT export needs a folder (new, empty, or an earlier PEFT export).`;
    case 'symlink':
      return force ? null : `${outDir} is a symbolic link (to ${state.target}); the export does not write through it. Name the folder itself, or pass --force.`;
    case 'foreign': {
      if (force) return null;
      const shown = state.entries.slice(0, 4).join(', ') + (state.entries.length > 4 ? `, … (${state.entries.length} entries)` : '');
      return `${outDir} is not empty and does not hold a PEFT export (${shown}), so nothing is written there. ` +
        'Choose a new or empty folder, or pass --force to write adapter_config.json and adapter_model.safetensors into it.';
    }
  }
}

export interface PeftExportOptions {
  /** Written as base_model_name_or_path; default: the adapter's base_model.name. A local model folder also
   *  supplies num_attention_heads and num_layers from its config.json. */
  baseModelNameOrPath?: string;
  /** Default: SEQ_2_SEQ_LM for encoder-decoder model types (t5, mt5, bart, …), else CAUSAL_LM. */
  taskType?: PeftTaskType;
  /** Write into a folder that is not new, empty or an earlier export (peftOutProblem), or through a symlink. */
  force?: boolean;
  /** The local model folder to read num_attention_heads and num_layers from, when the name is a Hub id. */
  modelDir?: string;
}

export interface PeftExport {
  configFile: string;
  weightsFile: string;
}

export const PEFT_CONFIG_NAME = 'adapter_config.json';
export const PEFT_WEIGHTS_NAME = 'adapter_model.safetensors';
/** PEFT's pickle format (safe_serialization=False, or PEFT before 0.4): never read, since unpickling runs code. */
export const PEFT_PICKLE_NAME = 'adapter_model.bin';

/** Encoder-decoder model types; PEFT wraps them in PeftModelForSeq2SeqLM. */
export const SEQ2SEQ_MODEL_TYPES = new Set(['t5', 'mt5', 'umt5', 'longt5', 'bart', 'mbart']);

export function exportPeft(adapterFile: string, outDir: string, opts: PeftExportOptions = {}): PeftExport {
  const problem = peftOutProblem(outDir, opts.force);
  if (problem) throw new PeftOutError(problem);
  const adapter = readAdapter(adapterFile);
  const { meta } = adapter;
  const prompt = materializePrompt(adapter, adapterFile);
  const base = opts.baseModelNameOrPath ?? meta.base_model.name;
  const dims = localModelDims(opts.modelDir ?? base, meta.hidden_size);
  const taskType = opts.taskType ?? (SEQ2SEQ_MODEL_TYPES.has(meta.base_model.model_type) ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM');

  // Field names and values as PEFT's PromptTuningConfig.save_pretrained writes them (json.dumps, indent 2, sorted keys).
  // num_transformer_submodules 1: one prompt, prepended to the (encoder) input only, as ULPT trains it.
  const config: Record<string, unknown> = {
    auto_mapping: null,
    base_model_name_or_path: base,
    inference_mode: true,
    ...(dims.numAttentionHeads !== undefined ? { num_attention_heads: dims.numAttentionHeads } : {}),
    ...(dims.numLayers !== undefined ? { num_layers: dims.numLayers } : {}),
    num_transformer_submodules: 1,
    num_virtual_tokens: meta.num_virtual_tokens,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null,
    revision: null,
    task_type: taskType,
    token_dim: meta.hidden_size,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: null,
  };
  const configFile = path.join(outDir, PEFT_CONFIG_NAME);
  const weightsFile = path.join(outDir, PEFT_WEIGHTS_NAME);
  // Weights first: a folder that has a config always has the weights it describes.
  writeSafetensors(weightsFile, { prompt_embeddings: { shape: [meta.num_virtual_tokens, meta.hidden_size], data: prompt } }, { format: 'pt' });
  writeFileAtomic(configFile, JSON.stringify(config, null, 2));
  // What a killed earlier export left: the folder now holds the export and nothing else.
  for (const tmp of leftoverTempFiles(outDir)) fs.rmSync(path.join(outDir, tmp), { force: true });
  return { configFile, weightsFile };
}

interface LocalDims {
  numAttentionHeads?: number;
  numLayers?: number;
}

function firstInt(json: Record<string, unknown>, keys: string[]): number | undefined {
  for (const k of keys) if (Number.isSafeInteger(json[k])) return json[k] as number;
  return undefined;
}

/**
 * When the base model is a local folder with config.json, reads the head and layer counts PEFT records (PEFT fills
 * them itself from the model when they are absent) and checks the hidden size against the adapter's.
 */
function localModelDims(base: string, hiddenSize: number): LocalDims {
  const file = path.join(base, 'config.json');
  if (!fs.existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} could not be read as JSON (${(e as Error).message}); it is needed to describe the PEFT export's base model.`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file} is not a JSON object.`);
  const c = json as Record<string, unknown>;
  const hidden = firstInt(c, ['hidden_size', 'n_embd', 'd_model']);
  if (hidden !== undefined && hidden !== hiddenSize) {
    throw new Error(`${file} describes a model with hidden size ${hidden}, but the adapter was trained for hidden size ${hiddenSize}.`);
  }
  return {
    numAttentionHeads: firstInt(c, ['num_attention_heads', 'n_head', 'num_heads']),
    numLayers: firstInt(c, ['num_hidden_layers', 'num_layers', 'n_layer']),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Import

/** A PEFT folder that cannot become a ULPT adapter; the message names the file and what was expected. */
export class PeftImportError extends Error {
  override name = 'PeftImportError';
}

/** What a PEFT prompt-tuning folder holds, checked: its config and the n × d prompt prepended to the input. */
export interface PeftPrompt {
  dir: string;
  config: Record<string, unknown>;
  numVirtualTokens: number;
  tokenDim: number;
  /** [numVirtualTokens, tokenDim], row-major, float32. */
  prompt: Float32Array;
}

/** The base model the imported prompt is for, as the loader describes it (ModelInfo's fields). */
export interface PeftImportModel {
  modelType: string;
  name: string;
  fingerprint: string;
  vocabSize: number;
  hiddenSize: number;
}

export interface PeftImportOptions {
  model: PeftImportModel;
  /** The model folder's name, recorded as training.model (the extension looks for a folder of that name). */
  modelDir?: string;
  /** How the prompt is used; PEFT records none, so the default is generation from "{input}". */
  task?: Partial<Pick<AdapterMeta['task'], 'template' | 'input_field' | 'target_field'>>;
}

function readPeftConfig(dir: string): Record<string, unknown> {
  const file = path.join(dir, PEFT_CONFIG_NAME);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new PeftImportError(`${dir} is not a folder; a PEFT adapter is a folder with ${PEFT_CONFIG_NAME} and ${PEFT_WEIGHTS_NAME}.`);
  if (!fs.existsSync(file)) throw new PeftImportError(`${dir} has no ${PEFT_CONFIG_NAME}: it is not a PEFT adapter folder (looked for ${file}).`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PeftImportError(`${file} is not valid JSON (${(e as Error).message}).`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PeftImportError(`${file} must hold one JSON object (a PEFT adapter config).`);
  return json as Record<string, unknown>;
}

/** Refuses every PEFT method but prompt tuning, by name: their weights are not a prompt of input embeddings. */
function checkPromptTuning(config: Record<string, unknown>, file: string): { n: number; d: number } {
  const type = config.peft_type;
  if (type !== 'PROMPT_TUNING') {
    const named = typeof type === 'string' ? `a ${type} adapter` : `no peft_type (${JSON.stringify(type)})`;
    throw new PeftImportError(`${file} describes ${named}; import-peft reads prompt-tuning adapters only (peft_type "PROMPT_TUNING"), whose weights are the virtual tokens' input embeddings.`);
  }
  const int = (key: string): number => {
    const v = config[key];
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new PeftImportError(`${file}: ${key} must be a positive integer, got ${JSON.stringify(v)}.`);
    return v as number;
  };
  return { n: int('num_virtual_tokens'), d: int('token_dim') };
}

/**
 * The prompt rows PEFT prepends. PEFT stores num_virtual_tokens × num_transformer_submodules rows (2 by default
 * for SEQ_2_SEQ_LM), but its prompt-tuning forward and generate use only the first num_virtual_tokens for the
 * encoder input, so those are the prompt.
 */
function readPromptRows(dir: string, file: string, n: number, d: number): Float32Array {
  const weights = path.join(dir, PEFT_WEIGHTS_NAME);
  if (!fs.existsSync(weights)) {
    if (fs.existsSync(path.join(dir, PEFT_PICKLE_NAME))) {
      throw new PeftImportError(`${dir} holds its weights as ${PEFT_PICKLE_NAME}, a pickle file, which ULPT Studio never loads (unpickling can run code). Save the adapter again with save_pretrained(dir) (safe_serialization is on by default) to get ${PEFT_WEIGHTS_NAME}.`);
    }
    throw new PeftImportError(`${dir} has no ${PEFT_WEIGHTS_NAME} (looked for ${weights}).`);
  }
  let st: SafetensorsFile;
  try {
    st = SafetensorsFile.open(weights);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new PeftImportError(e.message);
    throw e;
  }
  try {
    const info = st.header.tensors.get('prompt_embeddings');
    if (!info) throw new PeftImportError(`${weights} has no tensor "prompt_embeddings" (it holds ${st.keys().map((k) => `"${k}"`).join(', ') || 'no tensors'}); a PEFT prompt-tuning adapter saves its prompt under that name.`);
    const [rows, cols] = info.shape;
    if (info.shape.length !== 2 || cols !== d || rows < n) {
      throw new PeftImportError(`${weights}: "prompt_embeddings" has shape [${info.shape.join(', ')}], but ${file} (num_virtual_tokens ${n}, token_dim ${d}) needs at least [${n}, ${d}].`);
    }
    if (!['F32', 'F16', 'BF16'].includes(info.dtype)) throw new PeftImportError(`${weights}: "prompt_embeddings" is ${info.dtype}; a float tensor (F32, F16 or BF16) was expected.`);
    return st.float32('prompt_embeddings').slice(0, n * d);
  } finally {
    st.close();
  }
}

/** Reads and checks a PEFT prompt-tuning adapter folder. */
export function readPeftPrompt(dir: string): PeftPrompt {
  const config = readPeftConfig(dir);
  const file = path.join(dir, PEFT_CONFIG_NAME);
  const { n, d } = checkPromptTuning(config, file);
  return { dir, config, numVirtualTokens: n, tokenDim: d, prompt: readPromptRows(dir, file, n, d) };
}

/**
 * The local model folder a PEFT config names (base_model_name_or_path, as given to from_pretrained: absolute or
 * relative to the working folder), or null when it names a Hub id or a folder that is not here.
 */
export function peftBaseModelFolder(config: Record<string, unknown>): string | null {
  const base = config.base_model_name_or_path;
  if (typeof base !== 'string' || !base) return null;
  const dir = path.resolve(base);
  return fs.existsSync(path.join(dir, 'config.json')) ? dir : null;
}

/** A vanilla prompt-tuning adapter holding the PEFT prompt, for `model`. */
export function adapterFromPeft(peft: PeftPrompt, opts: PeftImportOptions): Adapter {
  const { model } = opts;
  const n = peft.numVirtualTokens;
  const d = peft.tokenDim;
  if (d !== model.hiddenSize) {
    throw new PeftImportError(`${path.join(peft.dir, PEFT_CONFIG_NAME)} has token_dim ${d}, but the ${model.modelType} model "${model.name}" has hidden size ${model.hiddenSize}: the adapter belongs to another model.`);
  }
  const pick = (k: string) => (typeof peft.config[k] === 'string' ? { [k]: peft.config[k] } : {});
  return {
    meta: {
      format: 'ulpt-adapter',
      version: 1,
      method: 'prompt-tuning',
      num_virtual_tokens: n,
      rank: 0,
      hidden_size: d,
      alignment: false,
      seed: '0', // nothing is drawn from it: a prompt-tuning adapter stores its prompt
      base_model: { model_type: model.modelType, name: model.name, fingerprint: model.fingerprint, vocab_size: model.vocabSize },
      task: {
        type: 'generation',
        template: opts.task?.template ?? '{input}',
        input_field: opts.task?.input_field ?? 'input',
        target_field: opts.task?.target_field ?? 'target',
      },
      training: {
        imported_from: 'peft',
        peft_adapter: path.basename(peft.dir),
        ...pick('peft_type'), ...pick('task_type'), ...pick('base_model_name_or_path'), ...pick('prompt_tuning_init'),
        ...(opts.modelDir ? { model: path.basename(opts.modelDir) } : {}),
        backend: 'peft',
      },
      metrics: {},
      trainable_parameters: trainableParameters('prompt-tuning', n, 0, d, false),
      created: new Date().toISOString(),
    },
    tensors: { prompt: peft.prompt },
  };
}

/**
 * What PEFT's adapter_config.json should name as the base model of an adapter trained on `modelDir`: the repo id
 * of a Hugging Face cache snapshot (…/models--org--name/snapshots/<commit> → "org/name", what from_pretrained
 * takes anywhere), else the folder's absolute path. The adapter's own record of a Hub model wins.
 */
export function peftBaseModelName(meta: Pick<AdapterMeta, 'training'>, modelDir: string | null): string | null {
  const hub = (meta.training.hub as { model?: { repo?: unknown } } | undefined)?.model?.repo;
  if (typeof hub === 'string' && hub) return hub;
  if (!modelDir) return null;
  return hubRepoOfSnapshot(path.resolve(modelDir)) ?? path.resolve(modelDir);
}
