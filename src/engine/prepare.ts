// The one preparation both engines train from. Reading data files, filling templates, reconciling special tokens
// and tokenizing stay here (src/data, src/models/tokenizer.ts, prepareData); the result goes into the run folder as
// prepared.safetensors — int32 token ids with offsets, labels, label words, and in its metadata the resolved config
// and the model facts — which the PyTorch engine (python/ulpt_torch) reads. Two data pipelines would drift, and a
// cluster job then needs no Node. The model's weights are never loaded here: the tokenizer, config.json and the
// embedding matrix (for its fingerprint) are enough.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { taskMetric, type FieldNames, type TrainConfig } from '../config';
import { positiveLabelIndex, type Example } from '../data/examples';
import { DatasetError } from '../data/errors';
import { embeddingFingerprint } from '../io/adapter';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors';
import { embeddingFingerprintOf, ModelLoadError, readModelJson, weightFiles } from '../models/loader';
import { registeredModelTypes, architectureFor } from '../models/registry';
import { loadTokenizer, stopIds, type TextTokenizer } from '../models/tokenizer';
import type { ModelInfo, ModelKind } from '../models/types';
import { runInputs, type RunInputs } from '../train/inputs';
import { fitToModel, prepareData, type PreparedData } from '../train/trainer';

export const PREPARED_FILE = 'prepared.safetensors';
/** The safetensors metadata key of the prepared job's JSON document. */
export const PREPARED_METADATA_KEY = 'ulpt-prepared';
// 2: the metric's facts — group ids (<split>.groups), gold answer lists and the positive label index.
export const PREPARED_VERSION = 2;

/** What preparation needs of a model: its facts and its tokenizer, without its weights. */
export interface ModelFacts {
  info: ModelInfo;
  kind: ModelKind;
  tokenizer: TextTokenizer;
  decoderStartId: number | null;
  warnings: string[];
}

type Dims = Pick<ModelInfo, 'hiddenSize' | 'vocabSize' | 'maxPositions' | 'positionsField' | 'numLayers' | 'numHeads'>;

/** The first of `fields` that config.json sets to a positive integer (transformers' names differ by family). */
function intField(json: Record<string, unknown>, fields: string[], file: string, what: string): { value: number; field: string } {
  for (const field of fields) {
    const v = json[field];
    if (Number.isSafeInteger(v) && (v as number) > 0) return { value: v as number, field };
  }
  throw new ModelLoadError(`${file}: no ${what} (looked for ${fields.join(', ')} as a positive integer).`);
}

/** A model_type the built-in engine does not implement: its sizes from transformers' usual config.json fields. */
function genericDims(json: Record<string, unknown>, file: string): Dims & { kind: ModelKind } {
  const hidden = intField(json, ['hidden_size', 'n_embd', 'd_model', 'dim'], file, 'hidden size');
  const positions = intField(json, ['max_position_embeddings', 'n_positions', 'n_ctx', 'max_sequence_length', 'seq_length'], file, 'context length');
  return {
    kind: json.is_encoder_decoder === true ? 'encoder-decoder' : 'decoder',
    hiddenSize: hidden.value,
    vocabSize: intField(json, ['vocab_size'], file, 'vocab_size').value,
    maxPositions: positions.value,
    positionsField: positions.field,
    numLayers: intField(json, ['num_hidden_layers', 'n_layer', 'num_layers', 'n_layers'], file, 'layer count').value,
    numHeads: intField(json, ['num_attention_heads', 'n_head', 'num_heads', 'n_heads'], file, 'attention head count').value,
  };
}

/** The token-embedding fingerprint of a model type the registry lacks: the one [vocab, hidden] tensor named like an embedding. */
function genericFingerprint(dir: string, vocab: number, hidden: number): string {
  const found: { file: string; key: string }[] = [];
  for (const file of weightFiles(dir)) {
    const st = SafetensorsFile.open(file);
    try {
      for (const key of st.keys()) {
        const shape = st.info(key).shape;
        if (/(embed_tokens|wte|word_embeddings|shared|embeddings?)\.weight$/.test(key) && shape.length === 2 && shape[0] === vocab && shape[1] === hidden) found.push({ file, key });
      }
    } finally {
      st.close();
    }
  }
  if (found.length === 0) throw new ModelLoadError(`${dir}: no token-embedding tensor of shape [${vocab}, ${hidden}] found (looked for …embed_tokens.weight, …wte.weight, …word_embeddings.weight, shared.weight).`);
  // Tied or shared copies (T5's shared and encoder.embed_tokens) hold the same values: the first names them all.
  const st = SafetensorsFile.open(found[0].file);
  try {
    return embeddingFingerprint(st.float32(found[0].key), vocab, hidden);
  } finally {
    st.close();
  }
}

/**
 * A model folder's facts and tokenizer, read as loadModel reads them but without the weights (only the embedding
 * matrix, once, for the fingerprint adapters carry). Model types the built-in engine lacks are read generically.
 */
export function readModelFacts(dir: string): ModelFacts {
  const absDir = path.resolve(dir);
  if (!fs.existsSync(absDir) || !fs.statSync(absDir).isDirectory()) throw new ModelLoadError(`The model folder ${absDir} does not exist.`);
  const configFile = path.join(absDir, 'config.json');
  const json = readModelJson(configFile);
  const known = typeof json.model_type === 'string' && registeredModelTypes().includes(json.model_type);
  let dims: Dims;
  let kind: ModelKind;
  if (known) {
    const arch = architectureFor(json.model_type, configFile);
    dims = arch.dims(arch.parseConfig(json, configFile));
    kind = arch.kind;
  } else {
    if (typeof json.model_type !== 'string') throw new ModelLoadError(`${configFile} has no model_type.`);
    ({ kind, ...dims } = genericDims(json, configFile));
  }
  weightFiles(absDir); // refuses a folder without safetensors weights, naming what it looked for
  const warnings: string[] = [];
  const { decoderStartId, ...tokenizer } = loadTokenizer(absDir, json, dims.vocabSize, kind === 'encoder-decoder', warnings);
  if (tokenizer.vocabSize > dims.vocabSize) {
    throw new ModelLoadError(`${absDir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json says vocab_size ${dims.vocabSize}.`);
  }
  const fingerprint = (known ? embeddingFingerprintOf(absDir) : null) ?? genericFingerprint(absDir, dims.vocabSize, dims.hiddenSize);
  const name = typeof json._name_or_path === 'string' && json._name_or_path ? json._name_or_path : path.basename(absDir);
  // parameters: the PyTorch engine counts them once it has loaded the weights (started.json says it).
  const info: ModelInfo = { modelType: json.model_type as string, kind, name, dir: absDir, ...dims, weightCopies: 1, fingerprint, parameters: 0 };
  if (kind === 'encoder-decoder' && decoderStartId === null) throw new ModelLoadError(`${absDir}: no decoder start token (decoder_start_token_id in config.json).`);
  return { info, kind, tokenizer, decoderStartId, warnings };
}

/** Every data warning as a log line; with `strict`, all of them together as one error (before any work is done). */
export function warningLines(data: PreparedData, strict: boolean): string[] {
  const lines = data.warnings.list().map((w) => w.message);
  if (strict && lines.length) {
    throw new DatasetError(lines.length === 1 ? data.warnings.list()[0].file : 'the data', `strict mode refuses ${lines.length} data warning${lines.length > 1 ? 's' : ''}:\n  ${lines.join('\n  ')}`);
  }
  return lines;
}

/** Ragged int lists as flat ids + offsets (offsets[i]..offsets[i+1] is list i). */
function ragged(lists: number[][]): { ids: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(lists.length + 1);
  lists.forEach((l, i) => (offsets[i + 1] = offsets[i] + l.length));
  const ids = new Int32Array(offsets[lists.length]);
  lists.forEach((l, i) => ids.set(l, offsets[i]));
  return { ids, offsets };
}

/** Each example's question as an index (first seen, first numbered; -1 without one): what multirc groups by. */
function groupIds(examples: Example[]): Int32Array {
  const ids = new Map<string, number>();
  return Int32Array.from(examples, (e) => {
    if (e.group === undefined) return -1;
    if (!ids.has(e.group)) ids.set(e.group, ids.size);
    return ids.get(e.group)!;
  });
}

function splitTensors(name: string, examples: Example[]): Record<string, TensorToWrite> {
  const inputs = ragged(examples.map((e) => e.inputIds));
  const targets = ragged(examples.map((e) => e.targetIds));
  const t = (data: Int32Array): TensorToWrite => ({ shape: [data.length], data });
  return {
    [`${name}.inputs.ids`]: t(inputs.ids), [`${name}.inputs.offsets`]: t(inputs.offsets),
    [`${name}.targets.ids`]: t(targets.ids), [`${name}.targets.offsets`]: t(targets.offsets),
    [`${name}.labels`]: t(Int32Array.from(examples, (e) => e.label ?? -1)),
    [`${name}.groups`]: t(groupIds(examples)),
  };
}

/** The prepared job's JSON document (safetensors metadata): what python/ulpt_torch/io/prepared.py reads. */
export interface PreparedDoc {
  version: typeof PREPARED_VERSION;
  config: TrainConfig & { maxLength: number };
  model: Pick<ModelInfo, 'modelType' | 'kind' | 'name' | 'dir' | 'hiddenSize' | 'vocabSize' | 'maxPositions' | 'numLayers' | 'fingerprint'>;
  tokens: { pad: number; eos: number | null; stop: number[]; decoderStart: number | null };
  labels: { names: string[]; words: string[] } | null;
  /** The data warnings, one line each; the engine reports them as `log` messages once it holds the run folder. */
  warnings: string[];
  /** What the model folder's files disagree on (an ignored special id…): `log` warnings after `started`, as loadModel's. */
  modelWarnings: string[];
  targetTexts: { train: string[]; validation: string[] };
  /** Metric squad: every gold answer of each validation example; null for other metrics. */
  validationAnswers: string[][] | null;
  /** Metrics f1 and multirc: the index in labels.names of the positive class; null for other tasks. */
  positiveLabel: number | null;
  /** `out` may replace a file that is not an adapter (the CLI's --force). */
  force: boolean;
  /** What the run trains with (src/train/inputs.ts): recorded in every checkpoint, as the built-in trainer records it. */
  inputs: RunInputs;
}

/** A job ready to write: the config with maxLength resolved, the model's facts, the tokenized data, its data warnings. */
export interface PreparedJob {
  config: TrainConfig & { maxLength: number };
  facts: ModelFacts;
  data: PreparedData;
  warnings: string[];
}

/**
 * Everything a torch run (or an exported cluster job) trains from, checked as the built-in trainer checks it
 * (context length, data, strict warnings) — without loading the model's weights.
 */
export async function prepareJob(requested: TrainConfig, names: FieldNames = (f) => f): Promise<PreparedJob> {
  const facts = readModelFacts(requested.model);
  const config = { ...fitToModel(requested, facts, names), engine: 'torch' as const };
  const data = await prepareData(config, facts);
  const warnings = warningLines(data, config.strict);
  if (!data.train.length) throw new DatasetError(config.train, 'it holds no training examples.');
  return { config, facts, data, warnings };
}

/** Writes prepared.safetensors into `dir` (atomically; a resume writes it again from the same inputs). Returns its path. */
export function writePreparedJob(dir: string, job: PreparedJob, force: boolean): string {
  const { config, facts, data, warnings } = job;
  const { info, tokenizer } = facts;
  const doc: PreparedDoc = {
    version: PREPARED_VERSION,
    config,
    model: { modelType: info.modelType, kind: info.kind, name: info.name, dir: info.dir, hiddenSize: info.hiddenSize, vocabSize: info.vocabSize, maxPositions: info.maxPositions, numLayers: info.numLayers, fingerprint: info.fingerprint },
    tokens: { pad: tokenizer.padId, eos: tokenizer.eosId, stop: stopIds(tokenizer), decoderStart: facts.decoderStartId },
    labels: data.labels ? { names: data.labels.names, words: data.labels.words } : null,
    warnings,
    modelWarnings: facts.warnings,
    targetTexts: { train: data.train.map((e) => e.targetText), validation: data.validation.map((e) => e.targetText) },
    validationAnswers: taskMetric(config.task) === 'squad' ? data.validation.map((e) => e.answers ?? [e.targetText]) : null,
    positiveLabel: data.labels ? positiveLabelIndex(config.task, data.labels.names) : null,
    force,
    inputs: runInputs(config),
  };
  const tensors: Record<string, TensorToWrite> = { ...splitTensors('train', data.train), ...splitTensors('validation', data.validation) };
  if (data.labelSet) {
    const words = ragged(data.labelSet.tokens);
    tensors['labelWords.ids'] = { shape: [words.ids.length], data: words.ids };
    tensors['labelWords.offsets'] = { shape: [words.offsets.length], data: words.offsets };
  }
  const file = path.join(dir, PREPARED_FILE);
  writeSafetensors(file, tensors, { [PREPARED_METADATA_KEY]: JSON.stringify(doc) });
  return file;
}
