// The trainable prompt: n virtual-token embeddings prepended to the frozen model's input embeddings.
//
//   ULPT:            P = scale ⊙ (Z·A) + shift     Z [n, r] trainable, A [r, d] frozen (from the seed),
//                                                  scale, shift [d] trainable (the "alignment" embeddings)
//   prompt tuning:   P [n, d] trainable            (the baseline ULPT is compared with)
//
// Z·A alone would put every virtual token in the same r-dimensional subspace with a fixed per-dimension scale;
// scale and shift (2d numbers) let that subspace line up with the model's embedding distribution.
import { tf, type Tensor, type Variable } from '../backend';
import type { Method } from '../config';
import type { Adapter } from '../io/adapter';
import { parseSeed, projectionMatrix, SplitMix64 } from './projection';

export interface PromptTensors {
  z?: Float32Array;
  scale?: Float32Array;
  shift?: Float32Array;
  prompt?: Float32Array;
}

export interface PromptModule {
  readonly method: Method;
  readonly length: number; // n
  readonly rank: number; // r (0 for prompt tuning)
  readonly hidden: number; // d
  readonly alignment: boolean;
  /** The variables the optimiser updates, by adapter tensor name. */
  readonly variables: ReadonlyMap<string, Variable>;
  /** P [n, d]; called inside the gradient tape so gradients flow to the variables. */
  prompt(): Tensor;
  /** Current values, for the adapter file and checkpoints (read asynchronously: a GPU backend cannot read synchronously). */
  read(): Promise<PromptTensors>;
  /** Overwrites the variables (resume, or loading an adapter for eval/predict). */
  assign(values: PromptTensors): void;
  readonly trainableParameters: number;
  dispose(): void;
}

/** Standard normal values from a seeded stream (Box–Muller), identical on every backend. */
export function seededNormal(seed: bigint, count: number, std = 1): Float32Array {
  // Z's stream is separate from A's: A uses the seed itself, Z a fixed offset of it.
  const rng = new SplitMix64(seed ^ 0x5eed5eed5eed5eedn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - rng.nextUnit(); // (0, 1]: log stays finite
    const u2 = rng.nextUnit();
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2) * std;
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * u2) * std;
  }
  return out;
}

function variable(data: Float32Array, shape: number[]): Variable {
  const initial = tf.tensor(data, shape, 'float32');
  const v = tf.variable(initial, true);
  initial.dispose();
  return v;
}

function assignChecked(v: Variable, data: Float32Array | undefined, name: string): void {
  if (!data) throw new Error(`The adapter has no "${name}" tensor.`);
  if (data.length !== v.size) throw new Error(`"${name}" has ${data.length} values; this prompt needs ${v.size} [${v.shape.join(', ')}].`);
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

export class UlptPrompt implements PromptModule {
  readonly method = 'ulpt' as const;
  readonly variables = new Map<string, Variable>();
  private readonly a: Tensor; // [r, d], frozen
  private readonly z: Variable; // [n, r]
  private readonly scale?: Variable; // [d]
  private readonly shift?: Variable; // [d]

  constructor(readonly length: number, readonly rank: number, readonly hidden: number, seed: bigint, readonly alignment = true, scale0 = 1) {
    this.a = tf.keep(tf.tensor(projectionMatrix(seed, rank, hidden), [rank, hidden], 'float32'));
    this.z = variable(seededNormal(seed, length * rank), [length, rank]);
    this.variables.set('z', this.z);
    if (alignment) {
      this.scale = variable(new Float32Array(hidden).fill(scale0), [hidden]);
      this.shift = variable(new Float32Array(hidden), [hidden]);
      this.variables.set('scale', this.scale).set('shift', this.shift);
    }
  }

  get trainableParameters(): number {
    return this.length * this.rank + (this.alignment ? 2 * this.hidden : 0);
  }

  prompt(): Tensor {
    const za = tf.matMul(this.z, this.a); // [n, d]
    return this.scale && this.shift ? tf.add(tf.mul(za, this.scale), this.shift) : za;
  }

  async read(): Promise<PromptTensors> {
    const out: PromptTensors = { z: (await this.z.data()) as Float32Array };
    if (this.scale && this.shift) {
      out.scale = (await this.scale.data()) as Float32Array;
      out.shift = (await this.shift.data()) as Float32Array;
    }
    return out;
  }

  assign(values: PromptTensors): void {
    assignChecked(this.z, values.z, 'ulpt.z');
    if (this.scale && this.shift) {
      assignChecked(this.scale, values.scale, 'ulpt.scale');
      assignChecked(this.shift, values.shift, 'ulpt.shift');
    }
  }

  dispose(): void {
    this.a.dispose();
    for (const v of this.variables.values()) v.dispose();
  }
}

export class VanillaPrompt implements PromptModule {
  readonly method = 'prompt-tuning' as const;
  readonly rank = 0;
  readonly alignment = false;
  readonly variables = new Map<string, Variable>();
  private readonly p: Variable; // [n, d]

  /** `init` [n, d]: see embeddingScaleInit. */
  constructor(readonly length: number, readonly hidden: number, init: Float32Array) {
    this.p = variable(init, [length, hidden]);
    this.variables.set('prompt', this.p);
  }

  get trainableParameters(): number {
    return this.length * this.hidden;
  }

  prompt(): Tensor {
    return this.p;
  }

  async read(): Promise<PromptTensors> {
    return { prompt: (await this.p.data()) as Float32Array };
  }

  assign(values: PromptTensors): void {
    assignChecked(this.p, values.prompt, 'prompt_embeddings');
  }

  dispose(): void {
    this.p.dispose();
  }
}

/**
 * Vanilla prompt init: N(0, σ²) with σ the standard deviation of the model's token embeddings, so the prompt
 * starts at the scale of real tokens without being any of them. (PEFT's RANDOM init draws N(0, 1), far off that
 * scale; Lester et al.'s sampled-vocabulary init stalled at chance on one seed in three on the example task, where
 * sampled tokens can read as a cue for the wrong task.)
 */
export async function embeddingScaleInit(wte: Tensor, n: number, d: number, seed: bigint): Promise<Float32Array> {
  return seededNormal(seed, n * d, await embeddingStd(wte));
}

/** Standard deviation of all entries of the token-embedding matrix. */
async function embeddingStd(wte: Tensor): Promise<number> {
  const std = tf.tidy(() => tf.sqrt(tf.moments(wte).variance));
  const sigma = (await std.data())[0];
  std.dispose();
  return sigma;
}

export interface PromptSpec {
  method: Method;
  length: number;
  rank: number;
  hidden: number;
  seed: bigint;
  alignment: boolean;
  /** ULPT's initial scale (default 'one', the paper's). */
  scaleInit?: 'one' | 'embedding';
}

export async function createPrompt(spec: PromptSpec, wte: Tensor): Promise<PromptModule> {
  if (!Number.isInteger(spec.length) || spec.length < 1) throw new Error(`The prompt length must be a positive integer, got ${spec.length}.`);
  if (spec.method === 'prompt-tuning') return new VanillaPrompt(spec.length, spec.hidden, await embeddingScaleInit(wte, spec.length, spec.hidden, spec.seed));
  if (!Number.isInteger(spec.rank) || spec.rank < 1) throw new Error(`The ULPT rank must be a positive integer, got ${spec.rank}.`);
  // Z ~ N(0, 1) and A ~ U(±√(6/(r+d))) give Z·A entries of variance r·2/(r+d): the embedding option divides it out.
  const scale0 = spec.scaleInit === 'embedding' ? (await embeddingStd(wte)) / Math.sqrt((2 * spec.rank) / (spec.rank + spec.hidden)) : 1;
  return new UlptPrompt(spec.length, spec.rank, spec.hidden, spec.seed, spec.alignment, scale0);
}

/** The prompt an adapter file describes, ready to evaluate or predict with (A regenerated from its seed). */
export async function promptFromAdapter(adapter: Adapter, wte: Tensor): Promise<PromptModule> {
  const m = adapter.meta;
  const prompt = await createPrompt({ method: m.method, length: m.num_virtual_tokens, rank: m.rank, hidden: m.hidden_size, seed: parseSeed(m.seed), alignment: m.alignment }, wte);
  prompt.assign(adapter.tensors);
  return prompt;
}

/** [P; embeds] along the sequence, and the mask extended with ones for the virtual tokens (PEFT's layout). */
export function prependPrompt(prompt: Tensor, embeds: Tensor, mask: Tensor): { inputs: Tensor; mask: Tensor } {
  const [B] = embeds.shape;
  const [n] = prompt.shape;
  const tiled = tf.tile(tf.expandDims(prompt, 0), [B, 1, 1]); // [B, n, d]
  return {
    inputs: tf.concat([tiled, embeds], 1), // [B, n + S, d]
    mask: tf.concat([tf.ones([B, n], 'float32'), tf.cast(mask, 'float32')], 1), // [B, n + S]
  };
}
