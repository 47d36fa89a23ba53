// What the trainer needs of any backbone, whatever its architecture: decoder-only (GPT-2, Llama, Mistral, Qwen2)
// or encoder-decoder (T5).
import type { Tensor } from '../backend';
import type { TextTokenizer } from './tokenizer';

/** A checkpoint tensor before it becomes a tf tensor: its shape, and its values read from the file on demand. */
export interface HostTensor {
  shape: number[];
  /** The values as float32 (F16/BF16 upcast). Each call reads the file again: the loader reads every tensor once. */
  read(): Float32Array;
}

export type ModelKind = 'decoder' | 'encoder-decoder';

export interface ModelInfo {
  /** `model_type` from config.json. */
  modelType: string;
  kind: ModelKind;
  /** `_name_or_path` from config.json, else the folder name. */
  name: string;
  dir: string;
  hiddenSize: number;
  vocabSize: number;
  /** The longest input (virtual tokens included) the model takes: its position table, or for T5 n_positions. */
  maxPositions: number;
  /** The config.json field that sets maxPositions ("n_positions"), for messages that say what limits a run. */
  positionsField?: string;
  numLayers: number;
  numHeads: number;
  /** Float32 copies of the weights a training step keeps on the backend (see Architecture.weightCopies). */
  weightCopies: number;
  /** Fingerprint of the token-embedding matrix (adapters record it to refuse the wrong model). */
  fingerprint: string;
  parameters: number;
}

/**
 * Keys and values of every attention layer for the positions seen so far, so that generating one more token costs
 * one position's computation. Tensors are owned by the cache; `disposeCache` frees them.
 */
export interface KVCache {
  /** Per decoder layer: self-attention keys and values [B, Hkv, L, hd] for the L positions so far. */
  self: { k: Tensor; v: Tensor }[];
  /** Encoder-decoder models: per decoder layer, cross-attention keys and values of the encoder output (fixed). */
  cross?: { k: Tensor; v: Tensor }[];
  /** L: positions cached. */
  length: number;
}

function cacheTensors(cache: KVCache | null): Tensor[] {
  return cache ? [...cache.self, ...(cache.cross ?? [])].flatMap(({ k, v }) => [k, v]) : [];
}

export function disposeCache(cache: KVCache | null): void {
  for (const t of new Set(cacheTensors(cache))) t.dispose();
}

/** Frees what `old` holds and `next` no longer uses (a step's cache may keep tensors of the one before: T5's cross-attention). */
export function releaseCache(old: KVCache | null, next: KVCache): void {
  const kept = new Set(cacheTensors(next));
  for (const t of new Set(cacheTensors(old))) if (!kept.has(t)) t.dispose();
}

/**
 * A model whose training pass checkpoints its layers (layers.ts `checkpointed`: the tape keeps a layer's input and
 * the backward pass recomputes the layer) may run its last `plainLayers` layers without: their insides stay on the
 * tape, which saves recomputing them (about a third of their cost) and gives the same numbers bit for bit, for
 * `plainFloatsPerToken(T)` float32 numbers of memory per position and layer of a pass of T positions. The step
 * runner sets `plainLayers` before each pass from the memory that pass may fill (step.ts passPlan); 0: every
 * layer checkpointed.
 */
export interface LayerCheckpointing {
  readonly layers: number;
  plainFloatsPerToken(T: number): number;
  plainLayers: number;
}

/** What every model offers. Tensor arguments are borrowed, results are owned by the caller. */
interface ModelBase {
  readonly info: ModelInfo;
  readonly tokenizer: TextTokenizer;
  /** Things found in the folder the user should know about (e.g. a special-token id that was ignored). */
  readonly warnings: readonly string[];
  /** Token embeddings of ids [B, S] int32 → [B, S, d] (for T5 the shared embeddings of encoder and decoder). */
  embed(ids: Tensor): Tensor;
  /** The token-embedding matrix [V, d] (initialisation scales are taken from it). */
  readonly tokenEmbeddings: Tensor;
  /** Vocabulary logits [N, V] for final hidden states [N, d] (T5's tied head rescaling included). */
  logits(hidden: Tensor): Tensor;
  /** The frozen weights by checkpoint key (for tests that check they never change). */
  readonly weights: ReadonlyMap<string, Tensor>;
  /** Present when training checkpoints the layers and may leave some plain (see LayerCheckpointing). */
  readonly checkpointing?: LayerCheckpointing;
  dispose(): void;
}

/**
 * A frozen decoder-only language model whose input is embeddings, so virtual tokens can be prepended (PEFT's way).
 */
export interface CausalLM extends ModelBase {
  readonly kind: 'decoder';
  /**
   * Final hidden states [B, T, d] (after the last norm) for inputs [B, T, d] and mask [B, T] (1 attend, 0 pad).
   * With `rows` (flat indices b·T + t), only those rows' states, [N, d] in that order — a model may then skip the
   * work no other position needs (GPT-2 runs its last block at those rows only); one that ignores `rows` returns
   * [B, T, d] and the caller picks the rows itself.
   */
  hidden(inputs: Tensor, mask: Tensor, rows?: ArrayLike<number>): Tensor;
  /**
   * The same for T new positions after `cache` (null: the start), returning the cache extended by them. `mask`
   * [B, L + T] covers every position so far; positions are counted from it, so left padding is allowed.
   */
  forward(inputs: Tensor, mask: Tensor, cache: KVCache | null): { hidden: Tensor; cache: KVCache };
}

/**
 * A frozen encoder-decoder model (T5). Virtual tokens go in front of the encoder input; the decoder reads the
 * target, shifted right behind `decoderStartId`.
 */
export interface Seq2SeqLM extends ModelBase {
  readonly kind: 'encoder-decoder';
  /** The token the decoder starts from (config.json decoder_start_token_id; T5: the pad token). */
  readonly decoderStartId: number;
  /** Encoder output [B, S, d] for input embeddings [B, S, d] and mask [B, S]. */
  encode(inputs: Tensor, mask: Tensor): Tensor;
  /**
   * Teacher forcing: decoder hidden states [B, T, d] (after the final norm) for decoder input embeddings [B, T, d]
   * with their mask [B, T], attending to the encoder output [B, S, d] with its mask [B, S]. No cache is built.
   */
  decoderHidden(inputs: Tensor, mask: Tensor, encoded: Tensor, encoderMask: Tensor): Tensor;
  /**
   * Decoder hidden states [B, T, d] (after the final norm) for decoder input embeddings [B, T, d] following `cache`
   * (null: from the start), attending causally to themselves (`mask` [B, L + T]) and to the encoder output
   * [B, S, d] with its mask [B, S]. Returns the cache extended by these T positions.
   */
  decode(inputs: Tensor, mask: Tensor, encoded: Tensor, encoderMask: Tensor, cache: KVCache | null): { hidden: Tensor; cache: KVCache };
}

export type LanguageModel = CausalLM | Seq2SeqLM;

/** What the loader found besides the weights. */
export interface BuildContext {
  info: ModelInfo;
  tokenizer: TextTokenizer;
  warnings: string[];
  /** Encoder-decoder models: the decoder's start token, reconciled from the folder's files. */
  decoderStartId: number | null;
}

/** One file per architecture implements this; the registry keys it by `model_type`. */
export interface Architecture<C> {
  modelType: string;
  kind: ModelKind;
  /** Reads and checks config.json fields, naming the file and field when one is wrong. */
  parseConfig(json: Record<string, unknown>, file: string): C;
  /** Rewrites checkpoint keys to canonical names (prefixes, tied heads) — every checkpoint quirk lives here. */
  sanitize(weights: Map<string, HostTensor>, config: C): Map<string, HostTensor>;
  /** Every key the model needs, with its shape. */
  expectedShapes(config: C): Map<string, number[]>;
  /** Keys a checkpoint may carry that the model does not use (buffers such as GPT-2's attn.bias). */
  ignoredKey(key: string): boolean;
  /** The model over its uploaded weights (tied keys share one tensor). */
  build(weights: Map<string, Tensor>, config: C, context: BuildContext): LanguageModel;
  dims(config: C): Pick<ModelInfo, 'hiddenSize' | 'vocabSize' | 'maxPositions' | 'positionsField' | 'numLayers' | 'numHeads'>;
  /** Key of the token-embedding matrix [V, d]. */
  embeddingKey: string;
  /**
   * Float32 copies of the weights a training step keeps on the backend, the weights included: GPT-2 4 (its
   * weights, their transposes, and XNNPACK's packed copies of both); Llama and T5 1.25 (their products never let
   * XNNPACK cache a packed weight; the backward pass's transient blocks of W are the quarter; measured on a
   * Qwen2.5-0.5B-sized model: 1.14× its float32 size at the peak of a step).
   */
  weightCopies: number;
}
