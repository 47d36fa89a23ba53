// The Llama family as Hugging Face's LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM compute it (inference,
// eager attention): Llama 2/3/3.x, SmolLM/SmolLM2, Mistral, Qwen2/2.5. Per layer
//   h += o_proj(attention(input_layernorm(h)))        RMSNorm; rotary q/k; grouped-query attention
//   h += down_proj(silu(gate_proj(x)) ⊙ up_proj(x))    x = post_attention_layernorm(h)
// then norm and lm_head (tied to embed_tokens when tie_word_embeddings). Weights keep their checkpoint keys and
// layout (model.layers.0.self_attn.q_proj.weight …, nn.Linear [out, in]).
import { tf, type Tensor } from '../backend';
import {
  appendKV, applyRope, attention, causalBias, checkpointed, embedding, gatedActivation, isCheckpointed, linearT, longestSequence, mergeHeads, plainLayerFloats, positionsFromMask,
  rmsNorm, RopeTable, ropeInverseFrequencies, splitHeads, type RopeScaling,
} from './layers';
import type { Architecture, BuildContext, CausalLM, HostTensor, KVCache, LayerCheckpointing, ModelInfo } from './types';
import type { TextTokenizer } from './tokenizer';

export type LlamaModelType = 'llama' | 'mistral' | 'qwen2';

export interface LlamaConfig {
  model_type: LlamaModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  /** Biases on q/k/v (Qwen2 always; Llama's attention_bias also puts one on o_proj). */
  qkv_bias: boolean;
  o_bias: boolean;
  mlp_bias: boolean;
  /** The sliding window of each layer (null: full attention). */
  window: (number | null)[];
}

function int(json: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${file}: field "${key}" must be a positive integer, got ${JSON.stringify(json[key])}.`);
  }
  return v;
}

function num(json: Record<string, unknown>, key: string, file: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${file}: field "${key}" must be a positive number, got ${JSON.stringify(json[key])}.`);
  return v;
}

function bool(json: Record<string, unknown>, key: string, file: string, fallback: boolean): boolean {
  const v = json[key] ?? fallback;
  if (typeof v !== 'boolean') throw new Error(`${file}: field "${key}" must be true or false, got ${JSON.stringify(json[key])}.`);
  return v;
}

/** rope_scaling: null, {"rope_type"|"type": "default" | "linear" | "llama3", …}; anything else is refused by name. */
function parseRopeScaling(raw: unknown, file: string): RopeScaling {
  if (raw === undefined || raw === null) return { type: 'default' };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: field "rope_scaling" must be an object or null.`);
  const s = raw as Record<string, unknown>;
  const type = s.rope_type ?? s.type ?? 'default';
  const factor = () => num(s, 'factor', `${file} (rope_scaling)`, NaN);
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: factor() };
    case 'llama3':
      return {
        type: 'llama3', factor: factor(), lowFreqFactor: num(s, 'low_freq_factor', `${file} (rope_scaling)`, NaN),
        highFreqFactor: num(s, 'high_freq_factor', `${file} (rope_scaling)`, NaN),
        originalMaxPositions: num(s, 'original_max_position_embeddings', `${file} (rope_scaling)`, NaN),
      };
    default:
      throw new Error(`${file}: rope_scaling type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3).`);
  }
}

/** Which layers slide: Mistral all of them when sliding_window is set; Qwen2 those ≥ max_window_layers, only with use_sliding_window. */
function windows(json: Record<string, unknown>, type: LlamaModelType, layers: number, file: string): (number | null)[] {
  const raw = json.sliding_window;
  const size = raw === undefined || raw === null ? null : int(json, 'sliding_window', file);
  if (type === 'mistral') return Array(layers).fill(size);
  if (type === 'qwen2') {
    if (!bool(json, 'use_sliding_window', file, false) || size === null) return Array(layers).fill(null);
    const from = typeof json.max_window_layers === 'number' ? json.max_window_layers : 0;
    return Array.from({ length: layers }, (_, i) => (i >= from ? size : null));
  }
  return Array(layers).fill(null);
}

function parseConfig(json: Record<string, unknown>, file: string): LlamaConfig {
  const type = json.model_type as LlamaModelType;
  const hidden = int(json, 'hidden_size', file);
  const heads = int(json, 'num_attention_heads', file);
  const kvHeads = int(json, 'num_key_value_heads', file, heads);
  if (heads % kvHeads !== 0) throw new Error(`${file}: num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads}).`);
  if (json.head_dim == null && hidden % heads !== 0) throw new Error(`${file}: hidden_size (${hidden}) must be divisible by num_attention_heads (${heads}) when head_dim is not given.`);
  const headDim = json.head_dim == null ? hidden / heads : int(json, 'head_dim', file);
  if (headDim % 2 !== 0) throw new Error(`${file}: the head dimension (${headDim}) must be even for rotary embeddings.`);
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') throw new Error(`${file}: hidden_act ${JSON.stringify(act)} is not supported (silu).`);
  const layers = int(json, 'num_hidden_layers', file);
  const attentionBias = bool(json, 'attention_bias', file, false);
  return {
    model_type: type,
    vocab_size: int(json, 'vocab_size', file),
    hidden_size: hidden,
    intermediate_size: int(json, 'intermediate_size', file),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    rms_norm_eps: num(json, 'rms_norm_eps', file, 1e-6),
    rope_theta: num(json, 'rope_theta', file, 10000),
    rope_scaling: parseRopeScaling(json.rope_scaling, file),
    max_position_embeddings: int(json, 'max_position_embeddings', file, 2048),
    tie_word_embeddings: bool(json, 'tie_word_embeddings', file, false),
    qkv_bias: type === 'qwen2' || attentionBias,
    o_bias: type !== 'qwen2' && attentionBias,
    mlp_bias: type === 'llama' && bool(json, 'mlp_bias', file, false),
    window: windows(json, type, layers, file),
  };
}

/**
 * Checkpoint quirks: a tied head is embed_tokens (a stored lm_head copy is dropped, as transformers ties it); a
 * checkpoint saved from the bare LlamaModel has no `model.` prefix.
 */
function sanitize(weights: Map<string, HostTensor>, c: LlamaConfig): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [key, t] of weights) out.set(/^(layers\.|embed_tokens\.|norm\.)/.test(key) ? `model.${key}` : key, t);
  if (c.tie_word_embeddings) {
    out.delete('lm_head.weight');
    const emb = out.get('model.embed_tokens.weight');
    if (emb) out.set('lm_head.weight', emb);
  }
  return out;
}

function expectedShapes(c: LlamaConfig): Map<string, number[]> {
  const d = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const f = c.intermediate_size;
  const s = new Map<string, number[]>([
    ['model.embed_tokens.weight', [c.vocab_size, d]],
    ['model.norm.weight', [d]],
    ['lm_head.weight', [c.vocab_size, d]],
  ]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    s.set(p + 'input_layernorm.weight', [d]).set(p + 'post_attention_layernorm.weight', [d]);
    s.set(p + 'self_attn.q_proj.weight', [q, d]).set(p + 'self_attn.k_proj.weight', [kv, d]);
    s.set(p + 'self_attn.v_proj.weight', [kv, d]).set(p + 'self_attn.o_proj.weight', [d, q]);
    if (c.qkv_bias) s.set(p + 'self_attn.q_proj.bias', [q]).set(p + 'self_attn.k_proj.bias', [kv]).set(p + 'self_attn.v_proj.bias', [kv]);
    if (c.o_bias) s.set(p + 'self_attn.o_proj.bias', [d]);
    s.set(p + 'mlp.gate_proj.weight', [f, d]).set(p + 'mlp.up_proj.weight', [f, d]).set(p + 'mlp.down_proj.weight', [d, f]);
    if (c.mlp_bias) s.set(p + 'mlp.gate_proj.bias', [f]).set(p + 'mlp.up_proj.bias', [f]).set(p + 'mlp.down_proj.bias', [d]);
  }
  return s;
}

/** Old conversions store each layer's rotary frequencies; the model computes its own from config.json. */
const ignoredKey = (key: string) => /\.self_attn\.rotary_emb\.inv_freq$/.test(key);

type KV = { k: Tensor; v: Tensor };

class Llama implements CausalLM {
  readonly kind = 'decoder' as const;
  readonly info: ModelInfo;
  readonly tokenizer: TextTokenizer;
  readonly warnings: readonly string[];
  private readonly rope: RopeTable;
  readonly checkpointing: LayerCheckpointing;

  constructor(readonly weights: Map<string, Tensor>, readonly config: LlamaConfig, context: BuildContext) {
    ({ info: this.info, tokenizer: this.tokenizer, warnings: this.warnings } = context);
    const c = config;
    this.rope = new RopeTable(ropeInverseFrequencies(c.head_dim, c.rope_theta, c.rope_scaling), c.max_position_embeddings);
    this.checkpointing = {
      layers: c.num_hidden_layers,
      plainFloatsPerToken: (T) => plainLayerFloats(c.hidden_size, c.intermediate_size, c.num_attention_heads, T),
      plainLayers: 0,
    };
  }

  private w(key: string): Tensor {
    const t = this.weights.get(key);
    if (!t) throw new Error(`${this.config.model_type} weight "${key}" is missing.`);
    return t;
  }

  get tokenEmbeddings(): Tensor {
    return this.w('model.embed_tokens.weight');
  }

  embed(ids: Tensor): Tensor {
    return embedding(this.w('model.embed_tokens.weight'), ids); // [B, S, d]
  }

  logits(hidden: Tensor): Tensor {
    return linearT(hidden, this.w('lm_head.weight')); // [N, V]; a tied head is embed_tokens itself
  }

  hidden(inputs: Tensor, mask: Tensor): Tensor {
    return tf.tidy(() => this.run(inputs, mask, null, false).hidden);
  }

  /** One decoder layer: h [B, T, d] → h [B, T, d] and its new keys/values. */
  private layer(i: number, h: Tensor, window: Tensor, cos: Tensor, sin: Tensor, past: KV | null): { h: Tensor; kv: KV } {
    const p = `model.layers.${i}.`;
    const { y, kv } = this.attention(this.norm(h, p + 'input_layernorm'), p, window, cos, sin, past);
    const mid = tf.add(h, y);
    return { h: tf.add(mid, this.mlp(this.norm(mid, p + 'post_attention_layernorm'), p)), kv };
  }

  forward(inputs: Tensor, mask: Tensor, cache: KVCache | null): { hidden: Tensor; cache: KVCache } {
    return tf.tidy(() => {
      const { hidden, layers } = this.run(inputs, mask, cache, true);
      return { hidden, cache: { self: layers, length: (cache?.length ?? 0) + (inputs.shape[1] as number) } };
    });
  }

  private run(inputs: Tensor, mask: Tensor, cache: KVCache | null, keep: boolean): { hidden: Tensor; layers: KV[] } {
    const c = this.config;
    const [B, T] = inputs.shape as [number, number, number];
    const total = (cache?.length ?? 0) + T;
    const longest = cache ? longestSequence(mask, total, c.max_position_embeddings) : total; // a cached batch may hold padding columns
    if (longest > c.max_position_embeddings) {
      throw new Error(`The sequence has ${longest} positions (virtual tokens included) but this ${c.model_type} model supports ${c.max_position_embeddings} (max_position_embeddings).`);
    }
    const positions = tf.slice(positionsFromMask(mask), [0, total - T], [B, T]); // [B, T]
    const { cos, sin } = this.rope.lookup(positions, longest); // [B, 1, T, hd]
    const biasFor = new Map<number | null, Tensor>();
    const bias = (window: number | null) => {
      let b = biasFor.get(window);
      if (!b) biasFor.set(window, (b = causalBias(mask, T, window))); // [B, 1, T, L+T]
      return b;
    };
    let h = inputs; // [B, T, d]
    const layers: KV[] = [];
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const window = bias(c.window[i]);
      if (!keep) {
        // Without a cache to fill (training, scoring), layers are checkpointed: a gradient tape keeps their input only;
        // the last plainLayers run plain, as memory allows (see LayerCheckpointing).
        h = isCheckpointed(this.checkpointing, i)
          ? checkpointed((x, w, cs, sn) => tf.tidy(() => this.layer(i, x, w, cs, sn, null).h), [h], [window, cos, sin])
          : tf.tidy(() => this.layer(i, h, window, cos, sin, null).h);
        continue;
      }
      // One tidy per layer: its intermediates are freed as soon as the layer is done.
      const out = tf.tidy(() => {
        const { h: next, kv } = this.layer(i, h, window, cos, sin, cache?.self[i] ?? null);
        return { h: next, kv: [kv.k, kv.v] };
      });
      h = out.h;
      layers.push({ k: out.kv[0], v: out.kv[1] });
    }
    return { hidden: this.norm(h, 'model.norm'), layers };
  }

  private attention(x: Tensor, p: string, bias: Tensor, cos: Tensor, sin: Tensor, past: KV | null): { y: Tensor; kv: KV } {
    const c = this.config;
    const [B, T, d] = x.shape as [number, number, number];
    const H = c.num_attention_heads;
    const K = c.num_key_value_heads;
    const hd = c.head_dim;
    const flat = tf.reshape(x, [B * T, d]);
    const q = applyRope(splitHeads(this.proj(flat, p + 'self_attn.q_proj'), B, T, H, hd), cos, sin); // [B, H, T, hd]
    const kNew = applyRope(splitHeads(this.proj(flat, p + 'self_attn.k_proj'), B, T, K, hd), cos, sin); // [B, K, T, hd]
    const vNew = splitHeads(this.proj(flat, p + 'self_attn.v_proj'), B, T, K, hd);
    const k = appendKV(past?.k ?? null, kNew); // [B, K, L+T, hd]
    const v = appendKV(past?.v ?? null, vNew);
    const y = attention(q, k, v, bias, 1 / Math.sqrt(hd)); // [B, H, T, hd]: groups of query heads share a kv head
    return { y: tf.reshape(this.proj(mergeHeads(y), p + 'self_attn.o_proj'), [B, T, d]), kv: { k, v } };
  }

  private mlp(x: Tensor, p: string): Tensor {
    const [B, T, d] = x.shape as [number, number, number];
    const flat = tf.reshape(x, [B * T, d]);
    const inner = gatedActivation(this.proj(flat, p + 'mlp.gate_proj'), this.proj(flat, p + 'mlp.up_proj'), 'silu'); // [B·T, f]
    return tf.reshape(this.proj(inner, p + 'mlp.down_proj'), [B, T, d]);
  }

  /** nn.Linear: x @ Wᵀ (+ b when the checkpoint has one). */
  private proj(x: Tensor, name: string): Tensor {
    return linearT(x, this.w(name + '.weight'), this.weights.get(name + '.bias'));
  }

  private norm(x: Tensor, name: string): Tensor {
    return rmsNorm(x, this.w(name + '.weight'), this.config.rms_norm_eps);
  }

  dispose(): void {
    for (const t of new Set(this.weights.values())) t.dispose();
    this.rope.dispose();
  }
}

function family(modelType: LlamaModelType): Architecture<LlamaConfig> {
  return {
    modelType,
    kind: 'decoder',
    weightCopies: 1.25,
    embeddingKey: 'model.embed_tokens.weight',
    parseConfig,
    sanitize,
    expectedShapes,
    ignoredKey,
    dims: (c) => ({ hiddenSize: c.hidden_size, vocabSize: c.vocab_size, maxPositions: c.max_position_embeddings, positionsField: 'max_position_embeddings', numLayers: c.num_hidden_layers, numHeads: c.num_attention_heads }),
    build: (weights, config, context) => new Llama(weights, config, context),
  };
}

export const llama = family('llama');
export const mistral = family('mistral');
export const qwen2 = family('qwen2');
