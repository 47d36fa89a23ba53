// The frozen random up-projection A (r × d). It is never stored: the adapter keeps only its seed, and any
// implementation regenerates A from SplitMix64 exactly as below (the format section of the README has a test vector).

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by the golden-ratio increment. */
export class SplitMix64 {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = BigInt.asUintN(64, seed);
  }
  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
  /** A uniform double in [0, 1) from the top 53 bits. */
  nextUnit(): number {
    return Number(this.next() >> 11n) * 2 ** -53;
  }
}

/** Parses a seed given as a decimal string or number; refuses anything that is not an unsigned 64-bit integer. */
export function parseSeed(seed: string | number | bigint): bigint {
  const s = String(seed).trim();
  if (!/^\d+$/.test(s)) throw new Error(`A seed must be a non-negative integer, got "${s}".`);
  const v = BigInt(s);
  if (v > MASK64) throw new Error(`A seed must fit in 64 bits, got ${s}.`);
  return v;
}

/**
 * A[i·d + j] = (2u − 1)·sqrt(6 / (r + d)): uniform Xavier/Glorot initialisation, so ‖Z·A‖ stays in the scale of
 * the model's embeddings whatever r is. Row-major, r rows of d.
 */
export function projectionMatrix(seed: bigint, rank: number, hidden: number): Float32Array {
  const rng = new SplitMix64(seed);
  const bound = Math.sqrt(6 / (rank + hidden));
  const a = new Float32Array(rank * hidden);
  for (let k = 0; k < a.length; k++) a[k] = (2 * rng.nextUnit() - 1) * bound;
  return a;
}

/** P = scale ⊙ (Z·A) + shift, in plain arrays: for export and for checking the tensor version. */
export function materializeUlpt(z: Float32Array, a: Float32Array, scale: Float32Array, shift: Float32Array, n: number, r: number, d: number): Float32Array {
  const p = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += z[i * r + k] * a[k * d + j];
      p[i * d + j] = scale[j] * s + shift[j];
    }
  }
  return p;
}
