// T5 as Hugging Face's T5ForConditionalGeneration computes it (inference): the original T5 (ReLU feed-forward, head
// tied to the shared embeddings and fed d_model^-0.5 · h) and T5 v1.1 / Flan-T5 (gated GELU, separate lm_head).
//   encoder block:  h += SelfAttention(LN(h)) ;                                 h += FF(LN(h))
//   decoder block:  h += causal SelfAttention(LN(h)) ; h += EncDecAttention(LN(h), encoder output) ; h += FF(LN(h))
// LN is an RMS norm without bias; attention has no 1/√d scaling; positions enter only as a learned bias per head and
// relative-position bucket, stored in block 0 of each stack and shared by its other blocks. Weights keep their
// checkpoint keys and layout (encoder.block.0.layer.0.SelfAttention.q.weight …, nn.Linear [out, in]).
import { tf, type Tensor } from '../backend';
import {
  activation, appendKV, attention, causalBias, checkpointed, embedding, gatedActivation, isCheckpointed, linearT, mergeHeads, paddingBias, plainLayerFloats, relativePositionBias, rmsNorm,
  splitHeads, type Activation,
} from './layers';
import type { Architecture, BuildContext, HostTensor, KVCache, LayerCheckpointing, ModelInfo, Seq2SeqLM } from './types';
import type { TextTokenizer } from './tokenizer';

export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_decoder_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
  /** From feed_forward_proj: "relu" → relu, "gated-gelu" → gated gelu_new (T5 v1.1), "gated-silu", … */
  gated: boolean;
  act: Activation;
  tie_word_embeddings: boolean;
  /** n_positions: T5 has no position table; this is the input length it was trained for (512). */
  n_positions: number;
}

function int(json: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${file}: field "${key}" must be a positive integer, got ${JSON.stringify(json[key])}.`);
  }
  return v;
}

/** feed_forward_proj as transformers reads it: "[gated-]act", with "gated-gelu" meaning the tanh GELU. */
function parseFeedForward(raw: unknown, file: string): { gated: boolean; act: Activation } {
  const spec = raw ?? 'relu';
  const parts = typeof spec === 'string' ? spec.split('-') : [];
  const gated = parts.length === 2 && parts[0] === 'gated';
  const name = parts[parts.length - 1];
  const acts: Record<string, Activation> = { relu: 'relu', gelu: 'gelu', gelu_new: 'gelu_new', silu: 'silu' };
  if (!(parts.length === 1 || gated) || !(name in acts)) {
    throw new Error(`${file}: feed_forward_proj ${JSON.stringify(spec)} is not supported (relu, gelu, gelu_new, silu, optionally "gated-").`);
  }
  return { gated, act: spec === 'gated-gelu' ? 'gelu_new' : acts[name] };
}

function parseConfig(json: Record<string, unknown>, file: string): T5Config {
  const tie = json.tie_word_embeddings ?? true;
  if (typeof tie !== 'boolean') throw new Error(`${file}: field "tie_word_embeddings" must be true or false.`);
  const eps = json.layer_norm_epsilon ?? 1e-6;
  if (typeof eps !== 'number' || !(eps > 0)) throw new Error(`${file}: field "layer_norm_epsilon" must be a positive number.`);
  if (json.is_encoder_decoder === false) throw new Error(`${file}: is_encoder_decoder is false (an encoder-only T5); ULPT needs the decoder to score targets.`);
  const layers = int(json, 'num_layers', file);
  return {
    vocab_size: int(json, 'vocab_size', file),
    d_model: int(json, 'd_model', file),
    d_kv: int(json, 'd_kv', file),
    d_ff: int(json, 'd_ff', file),
    num_layers: layers,
    num_decoder_layers: json.num_decoder_layers == null ? layers : int(json, 'num_decoder_layers', file),
    num_heads: int(json, 'num_heads', file),
    relative_attention_num_buckets: int(json, 'relative_attention_num_buckets', file, 32),
    relative_attention_max_distance: int(json, 'relative_attention_max_distance', file, 128),
    layer_norm_epsilon: eps,
    ...parseFeedForward(json.feed_forward_proj, file),
    tie_word_embeddings: tie,
    n_positions: int(json, 'n_positions', file, 512),
  };
}

const EMBED_COPIES = ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'];

/**
 * Checkpoint quirks: encoder./decoder.embed_tokens are the shared embeddings again (used as `shared` when that key
 * is absent, dropped otherwise); a tied head is `shared` (a stored lm_head copy is dropped, as transformers ties it).
 */
function sanitize(weights: Map<string, HostTensor>, c: T5Config): Map<string, HostTensor> {
  const out = new Map(weights);
  if (!out.has('shared.weight')) {
    const copy = EMBED_COPIES.map((k) => out.get(k)).find((t) => t);
    if (copy) out.set('shared.weight', copy);
  }
  for (const k of EMBED_COPIES) out.delete(k);
  if (c.tie_word_embeddings) {
    out.delete('lm_head.weight');
    const shared = out.get('shared.weight');
    if (shared) out.set('lm_head.weight', shared);
  }
  return out;
}

function expectedShapes(c: T5Config): Map<string, number[]> {
  const d = c.d_model;
  const inner = c.num_heads * c.d_kv;
  const s = new Map<string, number[]>([['shared.weight', [c.vocab_size, d]], ['lm_head.weight', [c.vocab_size, d]]]);
  const attn = (p: string) => s.set(p + 'q.weight', [inner, d]).set(p + 'k.weight', [inner, d]).set(p + 'v.weight', [inner, d]).set(p + 'o.weight', [d, inner]);
  const ff = (p: string) => {
    if (c.gated) s.set(p + 'wi_0.weight', [c.d_ff, d]).set(p + 'wi_1.weight', [c.d_ff, d]);
    else s.set(p + 'wi.weight', [c.d_ff, d]);
    s.set(p + 'wo.weight', [d, c.d_ff]);
  };
  for (const [stack, n] of [['encoder', c.num_layers], ['decoder', c.num_decoder_layers]] as const) {
    s.set(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`, [c.relative_attention_num_buckets, c.num_heads]);
    s.set(`${stack}.final_layer_norm.weight`, [d]);
    for (let i = 0; i < n; i++) {
      const p = `${stack}.block.${i}.layer.`;
      attn(p + '0.SelfAttention.');
      s.set(p + '0.layer_norm.weight', [d]);
      const f = stack === 'decoder' ? 2 : 1;
      if (stack === 'decoder') {
        attn(p + '1.EncDecAttention.');
        s.set(p + '1.layer_norm.weight', [d]);
      }
      ff(`${p}${f}.DenseReluDense.`);
      s.set(`${p}${f}.layer_norm.weight`, [d]);
    }
  }
  return s;
}

/** Some checkpoints carry a relative bias for the first cross-attention, which T5 never uses. */
const ignoredKey = (key: string) => key === 'decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight';

type KV = { k: Tensor; v: Tensor };

class T5 implements Seq2SeqLM {
  readonly kind = 'encoder-decoder' as const;
  readonly info: ModelInfo;
  readonly tokenizer: TextTokenizer;
  readonly warnings: readonly string[];
  readonly decoderStartId: number;
  readonly checkpointing: LayerCheckpointing;

  constructor(readonly weights: Map<string, Tensor>, readonly config: T5Config, context: BuildContext) {
    ({ info: this.info, tokenizer: this.tokenizer, warnings: this.warnings } = context);
    if (context.decoderStartId === null) throw new Error(`${this.info.dir}: the T5 decoder has no start token.`);
    this.decoderStartId = context.decoderStartId;
    const c = config;
    // Blocks counted encoder first, decoder last, so the plain ones are the decoder's (few positions) before the
    // encoder's. Per position the Llama layer's estimate, with the pass's encoder and decoder positions together:
    // a decoder block also holds cross-attention, but over far fewer positions than that.
    this.checkpointing = {
      layers: c.num_layers + c.num_decoder_layers,
      plainFloatsPerToken: (T) => plainLayerFloats(c.d_model, c.d_ff, c.num_heads, T),
      plainLayers: 0,
    };
  }


  private w(key: string): Tensor {
    const t = this.weights.get(key);
    if (!t) throw new Error(`T5 weight "${key}" is missing.`);
    return t;
  }

  get tokenEmbeddings(): Tensor {
    return this.w('shared.weight');
  }

  embed(ids: Tensor): Tensor {
    return embedding(this.w('shared.weight'), ids); // [B, S, d]
  }

  logits(hidden: Tensor): Tensor {
    // The tied head of the original T5 reads h · d_model^-0.5 (Mesh TensorFlow's rescaling).
    const h = this.config.tie_word_embeddings ? tf.mul(hidden, this.config.d_model ** -0.5) : hidden;
    return linearT(h, this.w('lm_head.weight')); // [N, V]
  }

  encode(inputs: Tensor, mask: Tensor): Tensor {
    return tf.tidy(() => {
      const c = this.config;
      const S = inputs.shape[1] as number;
      const table = this.w('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
      const bias = tf.add(relativePositionBias(table, 0, S, S, true, c.relative_attention_max_distance), paddingBias(mask)); // [B, H, S, S]
      let h = inputs; // [B, S, d]
      for (let i = 0; i < c.num_layers; i++) {
        // Checkpointed (a gradient tape keeps the block's input only), but for the plain blocks memory allows.
        h = isCheckpointed(this.checkpointing, i) ? checkpointed((x, b) => tf.tidy(() => this.encoderBlock(i, x, b)), [h], [bias]) : tf.tidy(() => this.encoderBlock(i, h, bias));
      }
      return this.norm(h, 'encoder.final_layer_norm');
    });
  }

  decoderHidden(inputs: Tensor, mask: Tensor, encoded: Tensor, encoderMask: Tensor): Tensor {
    return tf.tidy(() => {
      const { selfBias, crossBias } = this.decoderBiases(inputs.shape[1] as number, 0, mask, encoderMask);
      let h = inputs; // [B, T, d]
      for (let i = 0; i < this.config.num_decoder_layers; i++) {
        // Checkpointed or plain as for the encoder; the encoder output gets its gradient through every block's cross-attention.
        h = isCheckpointed(this.checkpointing, this.config.num_layers + i)
          ? checkpointed((x, enc, sb, cb) => tf.tidy(() => this.decoderBlock(i, x, enc, sb, cb, null, null).h), [h, encoded], [selfBias, crossBias])
          : tf.tidy(() => this.decoderBlock(i, h, encoded, selfBias, crossBias, null, null).h);
      }
      return this.norm(h, 'decoder.final_layer_norm');
    });
  }

  decode(inputs: Tensor, mask: Tensor, encoded: Tensor, encoderMask: Tensor, cache: KVCache | null): { hidden: Tensor; cache: KVCache } {
    return tf.tidy(() => {
      const T = inputs.shape[1] as number;
      const L = cache?.length ?? 0;
      const { selfBias, crossBias } = this.decoderBiases(T, L, mask, encoderMask);
      let h = inputs; // [B, T, d]
      const self: KV[] = [];
      const cross: KV[] = [];
      for (let i = 0; i < this.config.num_decoder_layers; i++) {
        const out = tf.tidy(() => { // one tidy per block frees its intermediates when it is done
          const r = this.decoderBlock(i, h, encoded, selfBias, crossBias, cache?.self[i] ?? null, cache?.cross?.[i] ?? null);
          return { h: r.h, self: r.self, cross: r.cross };
        });
        h = out.h;
        self.push(out.self);
        cross.push(out.cross);
      }
      return { hidden: this.norm(h, 'decoder.final_layer_norm'), cache: { self, cross, length: L + T } };
    });
  }

  /** Self-attention bias [B, H, T, L+T] (relative positions L… and causal mask) and cross-attention bias [B, 1, 1, S]. */
  private decoderBiases(T: number, L: number, mask: Tensor, encoderMask: Tensor): { selfBias: Tensor; crossBias: Tensor } {
    const c = this.config;
    const table = this.w('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
    return {
      selfBias: tf.add(relativePositionBias(table, L, T, L + T, false, c.relative_attention_max_distance), causalBias(mask, T)),
      crossBias: paddingBias(encoderMask),
    };
  }

  private encoderBlock(i: number, h: Tensor, bias: Tensor): Tensor {
    const p = `encoder.block.${i}.layer.`;
    const mid = tf.add(h, this.attention(this.norm(h, p + '0.layer_norm'), null, p + '0.SelfAttention.', bias).y);
    return tf.add(mid, this.feedForward(this.norm(mid, p + '1.layer_norm'), p + '1.DenseReluDense.'));
  }

  private decoderBlock(i: number, h: Tensor, encoded: Tensor, selfBias: Tensor, crossBias: Tensor, past: KV | null, fixed: KV | null): { h: Tensor; self: KV; cross: KV } {
    const p = `decoder.block.${i}.layer.`;
    const sa = this.attention(this.norm(h, p + '0.layer_norm'), null, p + '0.SelfAttention.', selfBias, past);
    const afterSelf = tf.add(h, sa.y);
    const ca = this.attention(this.norm(afterSelf, p + '1.layer_norm'), encoded, p + '1.EncDecAttention.', crossBias, null, fixed);
    const afterCross = tf.add(afterSelf, ca.y);
    return { h: tf.add(afterCross, this.feedForward(this.norm(afterCross, p + '2.layer_norm'), p + '2.DenseReluDense.')), self: sa.kv, cross: ca.kv };
  }

  /**
   * Attention of x [B, T, d] over itself (source null; new keys appended to `past`) or over a fixed source
   * [B, S, d] (cross-attention; its keys/values given as `fixed` once computed). No 1/√d_kv scaling.
   */
  private attention(x: Tensor, source: Tensor | null, p: string, bias: Tensor, past: KV | null = null, fixed: KV | null = null): { y: Tensor; kv: KV } {
    const c = this.config;
    const [B, T, d] = x.shape as [number, number, number];
    const H = c.num_heads;
    const q = splitHeads(this.proj(tf.reshape(x, [B * T, d]), p + 'q'), B, T, H, c.d_kv); // [B, H, T, d_kv]
    let kv = fixed;
    if (!kv) {
      const src = source ?? x;
      const S = src.shape[1] as number;
      const flat = tf.reshape(src, [B * S, d]);
      const k = splitHeads(this.proj(flat, p + 'k'), B, S, H, c.d_kv); // [B, H, S, d_kv]
      const v = splitHeads(this.proj(flat, p + 'v'), B, S, H, c.d_kv);
      kv = source ? { k, v } : { k: appendKV(past?.k ?? null, k), v: appendKV(past?.v ?? null, v) };
    }
    const y = attention(q, kv.k, kv.v, bias, 1); // [B, H, T, d_kv]
    return { y: tf.reshape(this.proj(mergeHeads(y), p + 'o'), [B, T, d]), kv };
  }

  /** wo(act(wi(x))), or gated: wo(act(wi_0(x)) ⊙ wi_1(x)). x [B, T, d]. */
  private feedForward(x: Tensor, p: string): Tensor {
    const [B, T, d] = x.shape as [number, number, number];
    const flat = tf.reshape(x, [B * T, d]);
    const inner = this.config.gated
      ? gatedActivation(this.proj(flat, p + 'wi_0'), this.proj(flat, p + 'wi_1'), this.config.act)
      : activation(this.proj(flat, p + 'wi'), this.config.act); // [B·T, d_ff]
    return tf.reshape(this.proj(inner, p + 'wo'), [B, T, d]);
  }

  /** nn.Linear without bias: x @ Wᵀ. */
  private proj(x: Tensor, name: string): Tensor {
    return linearT(x, this.w(name + '.weight'));
  }

  private norm(x: Tensor, name: string): Tensor {
    return rmsNorm(x, this.w(name + '.weight'), this.config.layer_norm_epsilon);
  }

  dispose(): void {
    for (const t of new Set(this.weights.values())) t.dispose();
  }
}

export const t5: Architecture<T5Config> = {
  modelType: 't5',
  kind: 'encoder-decoder',
  weightCopies: 1.25,
  embeddingKey: 'shared.weight',
  parseConfig,
  sanitize,
  expectedShapes,
  ignoredKey,
  dims: (c) => ({ hiddenSize: c.d_model, vocabSize: c.vocab_size, maxPositions: c.n_positions, positionsField: 'n_positions', numLayers: c.num_layers, numHeads: c.num_heads }),
  build: (weights, config, context) => new T5(weights, config, context),
};
