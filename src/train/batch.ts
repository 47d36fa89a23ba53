// Turns tokenized examples into padded tensors, and decides which examples form each batch.
import { tf, type Tensor } from '../backend';
import type { LanguageModel } from '../models/types';
import { SplitMix64 } from '../ulpt/projection';

/** What a batch needs of an example: the prompt's tokens and the answer's tokens. */
export interface TokenPair {
  inputIds: number[];
  targetIds: number[];
}

/** Host-side batch: padded ids and where each target token is predicted. */
export interface Batch {
  size: number;
  /** Padded sequence length S (without virtual tokens). */
  length: number;
  ids: Int32Array; // [B, S]
  mask: Float32Array; // [B, S]
  /** Flat row b·(n+S) + position whose hidden state predicts each target token. */
  rows: Int32Array; // [N]
  targets: Int32Array; // [N]
  /** Example index (within the batch) of each target token. */
  owner: Int32Array; // [N]
  /**
   * Encoder-decoder batches: `ids`/`mask` are the encoder input, and the decoder reads the targets shifted right
   * behind the start token; `rows` then index the decoder's positions b·M + k.
   */
  decoder?: { ids: Int32Array; mask: Float32Array; length: number }; // [B, M]
}

/**
 * Right-pads [input; target] sequences. With n virtual tokens in front, the token at sequence index j is
 * predicted by the hidden state at n + j − 1 (for j = 0 that is the last virtual token).
 */
export function collate(examples: TokenPair[], padId: number, virtualTokens: number): Batch {
  const B = examples.length;
  const S = Math.max(1, ...examples.map((e) => e.inputIds.length + e.targetIds.length));
  const T = virtualTokens + S;
  const ids = new Int32Array(B * S).fill(padId);
  const mask = new Float32Array(B * S);
  const rows: number[] = [];
  const targets: number[] = [];
  const owner: number[] = [];
  examples.forEach((e, b) => {
    const seq = [...e.inputIds, ...e.targetIds];
    seq.forEach((id, j) => {
      ids[b * S + j] = id;
      mask[b * S + j] = 1;
    });
    e.targetIds.forEach((id, k) => {
      const j = e.inputIds.length + k;
      rows.push(b * T + virtualTokens + j - 1);
      targets.push(id);
      owner.push(b);
    });
  });
  return { size: B, length: S, ids, mask, rows: Int32Array.from(rows), targets: Int32Array.from(targets), owner: Int32Array.from(owner) };
}

/**
 * Encoder-decoder batches: inputs right-padded for the encoder; the decoder input of each example is
 * [start, t0 … t(m−2)] (teacher forcing), right-padded; target k is predicted at decoder position k.
 */
export function collateSeq2Seq(examples: TokenPair[], padId: number, decoderStartId: number): Batch {
  const B = examples.length;
  const S = Math.max(1, ...examples.map((e) => e.inputIds.length));
  const M = Math.max(1, ...examples.map((e) => e.targetIds.length));
  const ids = new Int32Array(B * S).fill(padId);
  const mask = new Float32Array(B * S);
  const decIds = new Int32Array(B * M).fill(padId);
  const decMask = new Float32Array(B * M);
  const rows: number[] = [];
  const targets: number[] = [];
  const owner: number[] = [];
  examples.forEach((e, b) => {
    e.inputIds.forEach((id, j) => {
      ids[b * S + j] = id;
      mask[b * S + j] = 1;
    });
    e.targetIds.forEach((id, k) => {
      decIds[b * M + k] = k === 0 ? decoderStartId : e.targetIds[k - 1];
      decMask[b * M + k] = 1;
      rows.push(b * M + k);
      targets.push(id);
      owner.push(b);
    });
  });
  return {
    size: B, length: S, ids, mask, rows: Int32Array.from(rows), targets: Int32Array.from(targets), owner: Int32Array.from(owner),
    decoder: { ids: decIds, mask: decMask, length: M },
  };
}

/** The batch layout the model reads: [virtual tokens; input; target] for decoders, encoder/decoder for T5. */
export function collateFor(model: LanguageModel, examples: TokenPair[], virtualTokens: number): Batch {
  return model.kind === 'encoder-decoder'
    ? collateSeq2Seq(examples, model.tokenizer.padId, model.decoderStartId)
    : collate(examples, model.tokenizer.padId, virtualTokens);
}

/** The batch as tensors (caller disposes). */
export function batchTensors(batch: Batch): { ids: Tensor; mask: Tensor; decoderIds?: Tensor; decoderMask?: Tensor } {
  const out: { ids: Tensor; mask: Tensor; decoderIds?: Tensor; decoderMask?: Tensor } = {
    ids: tf.tensor(batch.ids, [batch.size, batch.length], 'int32'),
    mask: tf.tensor(batch.mask, [batch.size, batch.length], 'float32'),
  };
  if (batch.decoder) {
    out.decoderIds = tf.tensor(batch.decoder.ids, [batch.size, batch.decoder.length], 'int32');
    out.decoderMask = tf.tensor(batch.decoder.mask, [batch.size, batch.decoder.length], 'float32');
  }
  return out;
}

/**
 * The order examples are visited in: epoch e is a seeded shuffle of 0..N−1, epochs follow each other. Position i
 * of the stream depends only on (seed, i), so a resumed run sees exactly the batches the uninterrupted one would.
 */
export class ExampleStream {
  private readonly perms = new Map<number, Int32Array>();
  constructor(private readonly count: number, private readonly seed: bigint) {
    if (count < 1) throw new Error('There are no training examples.');
  }
  at(i: number): number {
    const epoch = Math.floor(i / this.count);
    return this.perm(epoch)[i % this.count];
  }
  /** Indices of micro-batch `k` of size `size`. */
  microBatch(k: number, size: number): number[] {
    return Array.from({ length: size }, (_, j) => this.at(k * size + j));
  }
  private perm(epoch: number): Int32Array {
    let p = this.perms.get(epoch);
    if (!p) {
      p = Int32Array.from({ length: this.count }, (_, i) => i);
      const rng = new SplitMix64(this.seed ^ BigInt(0x9e37 * (epoch + 1)));
      for (let i = p.length - 1; i > 0; i--) {
        const j = Math.floor(rng.nextUnit() * (i + 1));
        [p[i], p[j]] = [p[j], p[i]];
      }
      if (this.perms.size > 4) this.perms.clear();
      this.perms.set(epoch, p);
    }
    return p;
  }
}
