// GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel computes it, in inference mode (no dropout).
// Weight names are the checkpoint's keys without the `transformer.` prefix; Conv1D weights are stored [in, out],
// so a projection is x @ W + b with no transpose.
import { tf, type Tensor } from '../backend';
import { activation, appendKV, attention, attentionBias, causalBias, layerNorm, linear, longestSequence, mergeHeads, positionsFromMask, prepareLinear, prepareProduct, queryRows, releaseFrozen, selfAttention, splitHeads, takeRows, type Activation, type QueryRows } from './layers';
import type { Architecture, BuildContext, CausalLM, HostTensor, KVCache, ModelInfo } from './types';
import type { TextTokenizer } from './tokenizer';

export interface GPT2Config {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner: number;
  layer_norm_epsilon: number;
  activation_function: Activation;
  eos_token_id: number | null;
}

function int(json: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${file}: field "${key}" must be a positive integer, got ${JSON.stringify(json[key])}.`);
  }
  return v;
}

function parseConfig(json: Record<string, unknown>, file: string): GPT2Config {
  const n_embd = int(json, 'n_embd', file);
  const n_head = int(json, 'n_head', file);
  if (n_embd % n_head !== 0) throw new Error(`${file}: n_embd (${n_embd}) must be divisible by n_head (${n_head}).`);
  const act = (json.activation_function ?? 'gelu_new') as string;
  if (!['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu'].includes(act)) {
    throw new Error(`${file}: activation_function "${act}" is not supported (gelu_new, gelu, gelu_pytorch_tanh, relu).`);
  }
  const inner = json.n_inner;
  return {
    vocab_size: int(json, 'vocab_size', file),
    n_positions: int(json, 'n_positions', file, json.n_ctx as number | undefined),
    n_embd,
    n_layer: int(json, 'n_layer', file),
    n_head,
    n_inner: inner == null ? 4 * n_embd : int(json, 'n_inner', file),
    layer_norm_epsilon: typeof json.layer_norm_epsilon === 'number' ? json.layer_norm_epsilon : 1e-5,
    activation_function: act as Activation,
    eos_token_id: typeof json.eos_token_id === 'number' ? json.eos_token_id : null,
  };
}

/** Hub checkpoints come as `transformer.h.0…` (GPT2LMHeadModel) or `h.0…` (GPT2Model); lm_head is tied to wte. */
function sanitize(weights: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [key, t] of weights) out.set(key.startsWith('transformer.') ? key.slice('transformer.'.length) : key, t);
  const head = out.get('lm_head.weight');
  const wte = out.get('wte.weight');
  // A separate head equal in shape is used as is; GPT-2 ties it, so a missing head means "use wte".
  if (!head && wte) out.set('lm_head.weight', wte);
  return out;
}

function expectedShapes(c: GPT2Config): Map<string, number[]> {
  const d = c.n_embd;
  const s = new Map<string, number[]>([
    ['wte.weight', [c.vocab_size, d]],
    ['wpe.weight', [c.n_positions, d]],
    ['ln_f.weight', [d]],
    ['ln_f.bias', [d]],
    ['lm_head.weight', [c.vocab_size, d]],
  ]);
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}.`;
    s.set(p + 'ln_1.weight', [d]).set(p + 'ln_1.bias', [d]);
    s.set(p + 'attn.c_attn.weight', [d, 3 * d]).set(p + 'attn.c_attn.bias', [3 * d]);
    s.set(p + 'attn.c_proj.weight', [d, d]).set(p + 'attn.c_proj.bias', [d]);
    s.set(p + 'ln_2.weight', [d]).set(p + 'ln_2.bias', [d]);
    s.set(p + 'mlp.c_fc.weight', [d, c.n_inner]).set(p + 'mlp.c_fc.bias', [c.n_inner]);
    s.set(p + 'mlp.c_proj.weight', [c.n_inner, d]).set(p + 'mlp.c_proj.bias', [d]);
  }
  return s;
}

/** Old checkpoints store the causal mask as buffers; the model builds its own. */
const ignoredKey = (key: string) => /(^|\.)attn\.(masked_)?bias$/.test(key);

class GPT2 implements CausalLM {
  readonly kind = 'decoder' as const;
  readonly info: ModelInfo;
  readonly tokenizer: TextTokenizer;
  readonly warnings: readonly string[];
  private readonly w: (key: string) => Tensor;
  private readonly headT: Tensor; // [d, V], lm_head transposed once

  constructor(readonly weights: Map<string, Tensor>, readonly config: GPT2Config, context: BuildContext) {
    ({ info: this.info, tokenizer: this.tokenizer, warnings: this.warnings } = context);
    this.w = (key) => {
      const t = this.weights.get(key);
      if (!t) throw new Error(`GPT-2 weight "${key}" is missing.`);
      return t;
    };
    this.headT = tf.keep(tf.transpose(this.w('lm_head.weight')));
    for (let i = 0; i < config.n_layer; i++) {
      for (const name of ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']) prepareLinear(this.w(`h.${i}.${name}.weight`), this.w(`h.${i}.${name}.bias`));
    }
    prepareProduct(this.headT); // logits = h·headT
    prepareProduct(this.w('lm_head.weight')); // and their gradient, dlogits·lm_head
  }

  get tokenEmbeddings(): Tensor {
    return this.w('wte.weight');
  }

  embed(ids: Tensor): Tensor {
    return tf.gather(this.w('wte.weight'), ids); // [B, S, d]
  }

  /**
   * The training and scoring path (no cache): hidden states [B, T, d], or with `rows` (flat b·T + t) only those rows,
   * [N, d], the last block then working at those rows alone. The residual stream is kept as rows [B·T, d]: every
   * projection is a plain 2-D product, and no reshape on the tape pins a copy of its input for the backward pass.
   */
  hidden(inputs: Tensor, mask: Tensor, rows?: ArrayLike<number>): Tensor {
    return tf.tidy(() => {
      const [B, T, d] = inputs.shape as [number, number, number];
      if (T > this.config.n_positions) {
        throw new Error(`The sequence has ${T} positions (virtual tokens included) but this GPT-2 supports ${this.config.n_positions}.`);
      }
      const positions = tf.cast(positionsFromMask(mask), 'int32'); // [B, T]: 0.. for a right-padded batch
      let h = tf.reshape(tf.add(inputs, tf.gather(this.w('wpe.weight'), positions)), [B * T, d]); // [B·T, d]
      const bias = attentionBias(mask, T); // [B, 1, T, T]
      const full = rows ? this.config.n_layer - 1 : this.config.n_layer;
      for (let i = 0; i < full; i++) h = this.rowsBlock(h, bias, i, B, T);
      if (!rows) return tf.reshape(this.layerNorm(h, 'ln_f'), [B, T, d]);
      // The last block only at the rows asked for: its keys and values still come from every position.
      const plan = queryRows(rows, B, T);
      const last = this.rowsBlock(h, attentionBias(mask, T, plan.positions), full, B, T, plan); // [B·Tq, d]
      return this.layerNorm(takeRows(last, plan.pick), 'ln_f'); // [N, d]
    });
  }

  /** Generation: T new positions after `cache` (keys and values kept), any padding. */
  forward(inputs: Tensor, mask: Tensor, cache: KVCache | null): { hidden: Tensor; cache: KVCache } {
    return tf.tidy(() => {
      const { hidden, layers } = this.run(inputs, mask, cache, true);
      return { hidden, cache: { self: layers, length: (cache?.length ?? 0) + (inputs.shape[1] as number) } };
    });
  }

  /** The blocks over T new positions after `cache`; the new keys/values per layer when `keep`. */
  private run(inputs: Tensor, mask: Tensor, cache: KVCache | null, keep: boolean): { hidden: Tensor; layers: { k: Tensor; v: Tensor }[] } {
    const [B, T, d] = inputs.shape as [number, number, number];
    const total = (cache?.length ?? 0) + T;
    const longest = cache ? longestSequence(mask, total, this.config.n_positions) : total; // a cached batch may hold padding columns
    if (longest > this.config.n_positions) {
      throw new Error(`The sequence has ${longest} positions (virtual tokens included) but this GPT-2 supports ${this.config.n_positions}.`);
    }
    const positions = tf.slice(positionsFromMask(mask), [0, total - T], [B, T]); // [B, T]: 0.. for a right-padded batch
    let h = tf.add(inputs, tf.gather(this.w('wpe.weight'), tf.cast(positions, 'int32'))); // [B, T, d]
    const bias = causalBias(mask, T); // [B, 1, T, L+T]
    const layers: { k: Tensor; v: Tensor }[] = [];
    for (let i = 0; i < this.config.n_layer; i++) {
      const out = this.block(h, bias, i, B, T, cache?.self[i] ?? null);
      h = out.h;
      if (keep) layers.push(out.kv);
    }
    return { hidden: this.layerNorm(h, 'ln_f'), layers };
  }

  logits(hidden: Tensor): Tensor {
    // The gradient dh = dlogits·headTᵀ is dlogits·lm_head: no transpose, and XNNPACK packs lm_head once.
    const head = this.w('lm_head.weight');
    const f = tf.customGrad((h, save) => {
      (save as (t: Tensor[]) => void)([head]);
      return { value: tf.matMul(h as Tensor, this.headT), gradFunc: (dy: Tensor, [w]: Tensor[]) => tf.tidy(() => tf.matMul(dy, w)) }; // [N, V]
    });
    return f(hidden);
  }

  /** Block i on rows h [B·T, d] → [B·T, d]; with `plan`, only at plan.gather's rows → [B·Tq, d] (bias [B, 1, Tq, T]). */
  private rowsBlock(h: Tensor, bias: Tensor, i: number, B: number, T: number, plan?: QueryRows): Tensor {
    const p = `h.${i}.`;
    const qkv = this.linear(this.layerNorm(h, p + 'ln_1'), p + 'attn.c_attn'); // [B·T, 3d]
    const attn = this.linear(selfAttention(qkv, bias, B, T, this.config.n_head, plan), p + 'attn.c_proj'); // [B·Tq, d]
    const x = tf.add(plan ? takeRows(h, plan.gather) : h, attn);
    return tf.add(x, this.rowsMlp(this.layerNorm(x, p + 'ln_2'), p));
  }

  /** The MLP on rows [N, d] → [N, d]. */
  private rowsMlp(x: Tensor, p: string): Tensor {
    const up = this.linear(x, p + 'mlp.c_fc'); // [N, inner]
    return this.linear(activation(up, this.config.activation_function), p + 'mlp.c_proj'); // [N, d]
  }

  private block(h: Tensor, bias: Tensor, i: number, B: number, T: number, past: { k: Tensor; v: Tensor } | null): { h: Tensor; kv: { k: Tensor; v: Tensor } } {
    const p = `h.${i}.`;
    const { y, kv } = this.attention(this.layerNorm(h, p + 'ln_1'), bias, p, B, T, past);
    h = tf.add(h, y);
    return { h: tf.add(h, this.mlp(this.layerNorm(h, p + 'ln_2'), p, B, T)), kv };
  }

  private attention(x: Tensor, bias: Tensor, p: string, B: number, T: number, past: { k: Tensor; v: Tensor } | null): { y: Tensor; kv: { k: Tensor; v: Tensor } } {
    const d = this.config.n_embd;
    const H = this.config.n_head;
    const hd = d / H;
    const qkv = this.linear(tf.reshape(x, [B * T, d]), p + 'attn.c_attn'); // [B·T, 3d]
    const heads = (k: number) => splitHeads(tf.slice(qkv, [0, k * d], [B * T, d]), B, T, H, hd); // [B, H, T, hd]
    const q = heads(0);
    const k = appendKV(past?.k ?? null, heads(1)); // [B, H, L+T, hd]
    const v = appendKV(past?.v ?? null, heads(2));
    const y = attention(q, k, v, bias, 1 / Math.sqrt(hd)); // [B, H, T, hd]
    return { y: tf.reshape(this.linear(mergeHeads(y), p + 'attn.c_proj'), [B, T, d]), kv: { k, v } };
  }

  private mlp(x: Tensor, p: string, B: number, T: number): Tensor {
    const d = this.config.n_embd;
    const up = this.linear(tf.reshape(x, [B * T, d]), p + 'mlp.c_fc'); // [B·T, inner]
    const down = this.linear(activation(up, this.config.activation_function), p + 'mlp.c_proj'); // [B·T, d]
    return tf.reshape(down, [B, T, d]);
  }

  /** Conv1D: y = x @ W + b with W stored [in, out]. */
  private linear(x: Tensor, name: string): Tensor {
    return linear(x, this.w(name + '.weight'), this.w(name + '.bias'));
  }

  private layerNorm(x: Tensor, name: string): Tensor {
    return layerNorm(x, this.w(name + '.weight'), this.w(name + '.bias'), this.config.layer_norm_epsilon);
  }

  dispose(): void {
    releaseFrozen(this.weights.values());
    for (const t of new Set(this.weights.values())) t.dispose();
    this.headT.dispose();
  }
}

export const gpt2: Architecture<GPT2Config> = {
  modelType: 'gpt2',
  kind: 'decoder',
  weightCopies: 4,
  embeddingKey: 'wte.weight',
  parseConfig,
  sanitize,
  expectedShapes,
  ignoredKey,
  dims: (c) => ({ hiddenSize: c.n_embd, vocabSize: c.vocab_size, maxPositions: c.n_positions, positionsField: 'n_positions', numLayers: c.n_layer, numHeads: c.n_head }),
  build: (weights, config, context) => new GPT2(weights, config, context),
};
