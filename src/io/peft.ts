// Export to Hugging Face PEFT: a ULPT adapter becomes an ordinary prompt-tuning adapter (PeftType.PROMPT_TUNING)
// by materialising P = scale ⊙ (Z·A) + shift once. The result loads with
//   PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out_dir)
// and needs nothing from ULPT Studio. The size advantage is given up (n × d floats instead of n·r + 2d).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic';
import { materializePrompt, readAdapter } from './adapter';
import { writeSafetensors } from './safetensors';

export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_2_SEQ_LM';

export interface PeftExportOptions {
  /** Written as base_model_name_or_path; default: the adapter's base_model.name. A local model folder also
   *  supplies num_attention_heads and num_layers from its config.json. */
  baseModelNameOrPath?: string;
  /** Default: SEQ_2_SEQ_LM for encoder-decoder model types (t5, mt5, bart, …), else CAUSAL_LM. */
  taskType?: PeftTaskType;
}

export interface PeftExport {
  configFile: string;
  weightsFile: string;
}

export const PEFT_CONFIG_NAME = 'adapter_config.json';
export const PEFT_WEIGHTS_NAME = 'adapter_model.safetensors';

/** Encoder-decoder model types; PEFT wraps them in PeftModelForSeq2SeqLM. */
const SEQ2SEQ_MODEL_TYPES = new Set(['t5', 'mt5', 'umt5', 'longt5', 'bart', 'mbart']);

export function exportPeft(adapterFile: string, outDir: string, opts: PeftExportOptions = {}): PeftExport {
  const adapter = readAdapter(adapterFile);
  const { meta } = adapter;
  const prompt = materializePrompt(adapter, adapterFile);
  const base = opts.baseModelNameOrPath ?? meta.base_model.name;
  const dims = localModelDims(base, meta.hidden_size);
  const taskType = opts.taskType ?? (SEQ2SEQ_MODEL_TYPES.has(meta.base_model.model_type) ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM');
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new Error(`${outDir} is a file; the PEFT export needs a folder.`);

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
