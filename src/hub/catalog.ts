// Models the wizard offers to download: small ones the built-in engine trains (its five architectures) and the
// paper's backbone. Parameter counts and architectures are those of the models' cards on the Hugging Face Hub; what a
// download weighs is read from the Hub when it starts (resolve.ts), not kept here. No imports of the engine: the
// extension host reads this list.
import { wasmHoldsWeights } from '../train/limits';
import { SUPPORTED_MODEL_TYPES } from '../models/modelTypes';

export interface CatalogModel {
  /** The Hub id. */
  id: string;
  /** Parameters, as the model card gives them. */
  parameters: number;
  /** config.json's model_type. */
  modelType: string;
  /** One line: what it is, for whom. */
  note: string;
  /** The licence must be accepted on the model's page (and HF_TOKEN set) before it downloads. */
  gated?: boolean;
}

export const CATALOG: readonly CatalogModel[] = [
  { id: 'openai-community/gpt2', parameters: 124e6, modelType: 'gpt2', note: 'GPT-2 small: the classic base model' },
  { id: 'distilbert/distilgpt2', parameters: 82e6, modelType: 'gpt2', note: 'DistilGPT-2: GPT-2 distilled, the fastest to try' },
  { id: 'HuggingFaceTB/SmolLM2-135M', parameters: 135e6, modelType: 'llama', note: 'SmolLM2 135M: a small modern Llama-architecture model' },
  { id: 'HuggingFaceTB/SmolLM2-360M', parameters: 362e6, modelType: 'llama', note: 'SmolLM2 360M' },
  { id: 'Qwen/Qwen2.5-0.5B', parameters: 494e6, modelType: 'qwen2', note: 'Qwen2.5 0.5B base' },
  { id: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', parameters: 1.1e9, modelType: 'llama', note: 'TinyLlama 1.1B chat' },
  { id: 'meta-llama/Llama-3.2-1B', parameters: 1.24e9, modelType: 'llama', note: 'Llama 3.2 1B base (licence to accept on its page)', gated: true },
  { id: 'google-t5/t5-base', parameters: 223e6, modelType: 't5', note: 'T5-base: the ULPT paper\'s backbone (prompt on the encoder)' },
  { id: 'google/flan-t5-small', parameters: 77e6, modelType: 't5', note: 'Flan-T5 small' },
  { id: 'google/flan-t5-base', parameters: 248e6, modelType: 't5', note: 'Flan-T5 base' },
];

export interface CatalogFit {
  builtin: { ok: boolean; note: string };
  torch: { ok: boolean; note: string };
}

/**
 * Whether each engine can train the model here: the built-in engine needs its architecture, and on WASM the
 * loader's limit on the float32 weights (wasmHoldsWeights, what `ulpt train` refuses above); the PyTorch engine
 * trains any of them where it is installed (`torchFound`).
 */
export function catalogFit(m: Pick<CatalogModel, 'modelType' | 'parameters'>, torchFound: boolean | null): CatalogFit {
  const builtin = !SUPPORTED_MODEL_TYPES.includes(m.modelType)
    ? { ok: false, note: `built-in engine: ${m.modelType} is not one of its architectures` }
    : !wasmHoldsWeights(m.parameters)
      ? { ok: true, note: 'built-in engine: WebGPU only (too large for the WASM heap)' }
      : { ok: true, note: 'built-in engine ✓' };
  const torch = torchFound === null ? { ok: false, note: 'PyTorch engine: not checked' }
    : torchFound ? { ok: true, note: 'PyTorch engine ✓' } : { ok: false, note: 'PyTorch engine: not installed here' };
  return { builtin, torch };
}

/** "124 M", "1.24 B": a parameter count for people. */
export function parameterText(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2).replace(/\.?0+$/, '')} B` : `${Math.round(n / 1e6)} M`;
}
