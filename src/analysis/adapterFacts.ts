// What the adapter inspector says about an adapter, computed from its metadata and tensors alone (no model, no
// TensorFlow.js): the parameter count against vanilla prompt tuning, the 2-D picture of Z, the virtual tokens'
// norms, and long per-dimension vectors reduced to what a chart can show.
import { trainableParameters, type AdapterMeta } from '../io/adapter';
import { MAX_PCA_DIM, pca } from './pca';
import { rowNorms } from './neighbours';

export interface ParameterComparison {
  trainable: number;
  /** n·d: what vanilla prompt tuning trains for the same n and d. */
  vanilla: number;
  /** trainable / vanilla. */
  ratio: number;
  /** "1,736 vs 76,800 (2.3 %)". */
  text: string;
}

/** 2.26 → "2.3 %", 0.362 → "0.36 %", 100 → "100 %": two significant digits below 10 %, one decimal up to 100 %. */
export function formatPercent(ratio: number): string {
  const p = ratio * 100;
  if (!Number.isFinite(p)) return '—';
  if (p >= 100 || p === 0) return `${Number(p.toFixed(0))} %`;
  if (p >= 10) return `${p.toFixed(1)} %`;
  return `${Number(p.toPrecision(2))} %`;
}

export function parameterComparison(meta: Pick<AdapterMeta, 'method' | 'num_virtual_tokens' | 'rank' | 'hidden_size' | 'alignment'>): ParameterComparison {
  const n = meta.num_virtual_tokens;
  const d = meta.hidden_size;
  const trainable = trainableParameters(meta.method, n, meta.rank, d, meta.alignment);
  const vanilla = n * d;
  const ratio = trainable / vanilla;
  const fmt = (v: number) => v.toLocaleString('en-US');
  return { trainable, vanilla, ratio, text: `${fmt(trainable)} vs ${fmt(vanilla)} (${formatPercent(ratio)})` };
}

export interface Scatter {
  /** One [x, y] per virtual token. */
  points: [number, number][];
  /** How the coordinates were obtained. */
  source: 'z' | 'z-pca' | 'prompt-pca';
  /** Share of the variance on each axis (PCA only). */
  explained: [number, number] | null;
  axes: [string, string];
}

/** Multiply-adds a PCA of a rows × cols matrix costs here (products for the covariance or Gram matrix, Jacobi sweeps). */
export function pcaWork(rows: number, cols: number): number {
  const m = Math.min(rows, cols);
  return rows * cols * m + 10 * m * m * m;
}

/** Beyond this a PCA is not attempted in the extension host (about a second; real adapters need well under 1 %). */
export const MAX_PCA_WORK = 2e8;

/**
 * The virtual tokens as points in the plane: the rows of Z themselves when r ≤ 2 (r = 1: on a line), Z's first two
 * principal components when r > 2, and for vanilla prompt tuning the principal components of the prompt P. Null
 * when the matrix is too large to decompose here (beyond MAX_PCA_DIM or MAX_PCA_WORK).
 */
export function adapterScatter(meta: Pick<AdapterMeta, 'method' | 'num_virtual_tokens' | 'rank' | 'hidden_size'>, tensors: { z?: Float32Array; prompt?: Float32Array }): Scatter | null {
  const n = meta.num_virtual_tokens;
  if (meta.method === 'ulpt' && tensors.z) {
    const r = meta.rank;
    const z = tensors.z;
    if (r === 1) return { points: [...z].map((v) => [v, 0]), source: 'z', explained: null, axes: ['z₁', ''] };
    if (r === 2) return { points: Array.from({ length: n }, (_, i) => [z[2 * i], z[2 * i + 1]]), source: 'z', explained: null, axes: ['z₁', 'z₂'] };
    if (Math.min(n, r) > MAX_PCA_DIM || pcaWork(n, r) > MAX_PCA_WORK) return null;
    const p = pca(z, n, r, 2);
    return { points: p.scores.map((s) => [s[0], s[1]]), source: 'z-pca', explained: [p.explained[0], p.explained[1]], axes: ['PC1', 'PC2'] };
  }
  if (meta.method === 'prompt-tuning' && tensors.prompt) {
    const d = meta.hidden_size;
    if (Math.min(n, d) > MAX_PCA_DIM || pcaWork(n, d) > MAX_PCA_WORK) return null;
    const p = pca(tensors.prompt, n, d, 2);
    return { points: p.scores.map((s) => [s[0], s[1]]), source: 'prompt-pca', explained: [p.explained[0], p.explained[1]], axes: ['PC1', 'PC2'] };
  }
  return null;
}

/** Norm of each virtual token (row of the materialised n × d prompt). */
export function virtualTokenNorms(prompt: Float32Array, n: number, d: number): number[] {
  return [...rowNorms(prompt, n, d)];
}

/**
 * A long vector reduced to at most `buckets` columns, each with the smallest and largest value it covers (an exact
 * copy when it is short enough): a chart of 65,536 dimensions stays a few KB and still shows every outlier.
 */
export interface Envelope {
  /** The first index each column covers. */
  index: number[];
  min: number[];
  max: number[];
  /** The vector's length. */
  length: number;
}

export function envelope(values: ArrayLike<number>, buckets = 1024): Envelope {
  const len = values.length;
  const cols = Math.max(1, Math.min(buckets, len));
  const out: Envelope = { index: [], min: [], max: [], length: len };
  if (!len) return out;
  for (let c = 0; c < cols; c++) {
    const from = Math.floor((c * len) / cols);
    const to = Math.floor(((c + 1) * len) / cols);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < to; i++) {
      lo = Math.min(lo, values[i]);
      hi = Math.max(hi, values[i]);
    }
    out.index.push(from);
    out.min.push(lo);
    out.max.push(hi);
  }
  return out;
}
