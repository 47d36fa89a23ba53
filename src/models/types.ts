// What the trainer needs of any backbone, whatever its architecture.
import type { Tensor } from '../backend';
import type { TextTokenizer } from './tokenizer';

/** A float32 tensor read from a checkpoint, before it becomes a tf tensor. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export interface ModelInfo {
  /** `model_type` from config.json. */
  modelType: string;
  /** `_name_or_path` from config.json, else the folder name. */
  name: string;
  dir: string;
  hiddenSize: number;
  vocabSize: number;
  maxPositions: number;
  /** The config.json field that sets maxPositions ("n_positions"), for messages that say what limits a run. */
  positionsField?: string;
  numLayers: number;
  numHeads: number;
  /** Fingerprint of the token-embedding matrix (adapters record it to refuse the wrong model). */
  fingerprint: string;
  parameters: number;
}

/**
 * A frozen causal language model whose input is embeddings, so virtual tokens can be prepended (PEFT's way).
 * Tensor arguments are borrowed, results are owned by the caller.
 */
export interface CausalLM {
  readonly info: ModelInfo;
  readonly tokenizer: TextTokenizer;
  /** Token embeddings of ids [B, S] int32 → [B, S, d]. */
  embed(ids: Tensor): Tensor;
  /** Final hidden states [B, T, d] (after the last layer norm) for inputs [B, T, d] and mask [B, T] (1 attend, 0 pad). */
  hidden(inputs: Tensor, mask: Tensor): Tensor;
  /** The token-embedding matrix [V, d] (initialisation scales are taken from it). */
  readonly tokenEmbeddings: Tensor;
  /** Vocabulary logits [N, V] for hidden states [N, d]. */
  logits(hidden: Tensor): Tensor;
  /** The frozen weights by checkpoint key (for tests that check they never change). */
  readonly weights: ReadonlyMap<string, Tensor>;
  dispose(): void;
}

/** One file per architecture implements this; the registry keys it by `model_type`. */
export interface Architecture<C> {
  modelType: string;
  /** Reads and checks config.json fields, naming the file and field when one is wrong. */
  parseConfig(json: Record<string, unknown>, file: string): C;
  /** Rewrites checkpoint keys to canonical names (prefixes, tied heads) — every checkpoint quirk lives here. */
  sanitize(weights: Map<string, HostTensor>, config: C): Map<string, HostTensor>;
  /** Every key the model needs, with its shape. */
  expectedShapes(config: C): Map<string, number[]>;
  /** Keys a checkpoint may carry that the model does not use (buffers such as GPT-2's attn.bias). */
  ignoredKey(key: string): boolean;
  build(weights: Map<string, HostTensor>, config: C, info: Omit<ModelInfo, 'fingerprint' | 'parameters'> & { fingerprint: string; parameters: number }, tokenizer: TextTokenizer): CausalLM;
  dims(config: C): Pick<ModelInfo, 'hiddenSize' | 'vocabSize' | 'maxPositions' | 'positionsField' | 'numLayers' | 'numHeads'>;
  /** Key of the token-embedding matrix [V, d]. */
  embeddingKey: string;
}
