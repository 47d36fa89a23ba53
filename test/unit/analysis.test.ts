// The inspector's computations: eigen-decomposition and PCA against constructions whose answer is known exactly,
// nearest tokens by cosine against a brute-force float64 ranking, parameter counts and their ratio to vanilla
// prompt tuning, and the reduction of long vectors for charts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterScatter, envelope, formatPercent, parameterComparison, virtualTokenNorms } from '../../src/analysis/adapterFacts';
import { nearestByCosine, rowNorms, summarizeNorms } from '../../src/analysis/neighbours';
import { pca, symmetricEigen } from '../../src/analysis/pca';

/** A reproducible stream of numbers in [−1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s ^= s + Math.imul(s ^ (s >>> 7), 61);
    return (((s ^ (s >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/** An m × m orthonormal matrix (columns), by Gram–Schmidt on random vectors. */
function orthonormal(m: number, seed: number): number[][] {
  const r = rng(seed);
  const cols: number[][] = [];
  while (cols.length < m) {
    const v = Array.from({ length: m }, r);
    for (const c of cols) {
      const dot = v.reduce((s, x, i) => s + x * c[i], 0);
      for (let i = 0; i < m; i++) v[i] -= dot * c[i];
    }
    const norm = Math.hypot(...v);
    cols.push(v.map((x) => x / norm));
  }
  return cols; // cols[j] is column j
}

test('symmetricEigen: eigenvalues of a known matrix, and A = V·Λ·Vᵀ with orthonormal V for a random one', () => {
  const two = symmetricEigen([2, 1, 1, 2], 2);
  assert.ok(Math.abs(two.values[0] - 3) < 1e-12 && Math.abs(two.values[1] - 1) < 1e-12, `${two.values}`);
  const m = 7;
  const r = rng(1);
  const a = new Array<number>(m * m).fill(0);
  for (let i = 0; i < m; i++) for (let j = i; j < m; j++) a[i * m + j] = a[j * m + i] = r() * 3;
  const { values, vectors } = symmetricEigen(a, m);
  for (let i = 1; i < m; i++) assert.ok(values[i - 1] >= values[i], 'sorted, largest first');
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let rec = 0;
      let dot = 0;
      for (let k = 0; k < m; k++) {
        rec += vectors[i * m + k] * values[k] * vectors[j * m + k];
        dot += vectors[k * m + i] * vectors[k * m + j];
      }
      assert.ok(Math.abs(rec - a[i * m + j]) < 1e-10, `A[${i}][${j}] reconstructed: ${rec} vs ${a[i * m + j]}`);
      assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-10, `V orthonormal at ${i},${j}`);
    }
  }
});

/**
 * n = 8 rows with exactly two directions of variance, std 3 and 1 along orthogonal zero-mean patterns, rotated into
 * `dims` dimensions and shifted: PCA must find 90 % / 10 % of the variance and recover the patterns (up to sign).
 */
function knownCloud(dims: number, seed: number): { data: number[]; t: number[]; u: number[] } {
  const t = [1, -1, 1, -1, 1, -1, 1, -1].map((x) => 3 * x);
  const u = [1, 1, -1, -1, 1, 1, -1, -1];
  const basis = orthonormal(dims, seed);
  const offset = Array.from({ length: dims }, rng(seed + 1)).map((x) => 5 * x);
  const data: number[] = [];
  for (let i = 0; i < 8; i++) for (let j = 0; j < dims; j++) data.push(offset[j] + t[i] * basis[0][j] + u[i] * basis[1][j]);
  return { data, t, u };
}

test('pca finds the known explained variance and axes, through the covariance (r ≤ n) and the Gram matrix (r > n)', () => {
  for (const dims of [5, 20]) {
    const { data, t, u } = knownCloud(dims, dims);
    const p = pca(data, 8, dims, 2);
    assert.ok(Math.abs(p.explained[0] - 0.9) < 1e-9 && Math.abs(p.explained[1] - 0.1) < 1e-9, `dims ${dims}: explained ${p.explained}`);
    assert.ok(Math.abs(p.totalVariance - (9 * 8 + 8) / 7) < 1e-9, `total variance ${p.totalVariance}`);
    const s1 = Math.sign(p.scores[0][0] / t[0]);
    const s2 = Math.sign(p.scores[0][1] / u[0]);
    p.scores.forEach((s, i) => {
      assert.ok(Math.abs(s[0] - s1 * t[i]) < 1e-9, `dims ${dims}: PC1 of row ${i} = ${s[0]}, expected ±${t[i]}`);
      assert.ok(Math.abs(s[1] - s2 * u[i]) < 1e-9, `dims ${dims}: PC2 of row ${i} = ${s[1]}, expected ±${u[i]}`);
    });
    // The sign rule: the largest-magnitude score of each axis is positive.
    for (const c of [0, 1]) {
      const big = p.scores.reduce((b, s) => (Math.abs(s[c]) > Math.abs(b) ? s[c] : b), 0);
      assert.ok(big > 0, `axis ${c}: largest score positive`);
    }
  }
});

test('pca of rows that do not vary: zero variance, points at the origin, no NaN', () => {
  const p = pca([1, 2, 3, 1, 2, 3, 1, 2, 3], 3, 3, 2);
  assert.deepEqual(p.explained, [0, 0]);
  assert.ok(p.scores.every((s) => s.every((v) => v === 0)));
  const one = pca([4, 5, 6], 1, 3, 2);
  assert.deepEqual(one.scores, [[0, 0]]);
});

test('parameterComparison: the issue’s example line, vanilla prompt tuning, and ULPT without alignment', () => {
  const ulpt = parameterComparison({ method: 'ulpt', num_virtual_tokens: 100, rank: 2, hidden_size: 768, alignment: true });
  assert.equal(ulpt.text, '1,736 vs 76,800 (2.3 %)');
  assert.equal(ulpt.trainable, 100 * 2 + 2 * 768);
  const example = parameterComparison({ method: 'ulpt', num_virtual_tokens: 10, rank: 2, hidden_size: 128, alignment: true });
  assert.equal(example.text, '276 vs 1,280 (21.6 %)');
  const vanilla = parameterComparison({ method: 'prompt-tuning', num_virtual_tokens: 20, rank: 0, hidden_size: 768, alignment: true });
  assert.equal(vanilla.text, '15,360 vs 15,360 (100 %)');
  const bare = parameterComparison({ method: 'ulpt', num_virtual_tokens: 100, rank: 2, hidden_size: 4096, alignment: false });
  assert.equal(bare.text, '200 vs 409,600 (0.049 %)');
  assert.deepEqual([formatPercent(0.1234), formatPercent(0.5), formatPercent(0)], ['12.3 %', '50.0 %', '0 %']);
});

test('adapterScatter: Z itself for r = 2 and r = 1, PCA for r > 2 and for a vanilla prompt', () => {
  const z2 = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const s2 = adapterScatter({ method: 'ulpt', num_virtual_tokens: 3, rank: 2, hidden_size: 8 }, { z: z2 })!;
  assert.deepEqual(s2.points, [[1, 2], [3, 4], [5, 6]]);
  assert.equal(s2.source, 'z');
  assert.equal(s2.explained, null);
  const s1 = adapterScatter({ method: 'ulpt', num_virtual_tokens: 2, rank: 1, hidden_size: 8 }, { z: Float32Array.from([0.5, -1]) })!;
  assert.deepEqual(s1.points, [[0.5, 0], [-1, 0]]);
  const { data } = knownCloud(5, 3);
  const s5 = adapterScatter({ method: 'ulpt', num_virtual_tokens: 8, rank: 5, hidden_size: 8 }, { z: Float32Array.from(data) })!;
  assert.equal(s5.source, 'z-pca');
  assert.ok(Math.abs(s5.explained![0] - 0.9) < 1e-5, `float32 Z: ${s5.explained}`);
  const { data: wide } = knownCloud(20, 4);
  const pt = adapterScatter({ method: 'prompt-tuning', num_virtual_tokens: 8, rank: 0, hidden_size: 20 }, { prompt: Float32Array.from(wide) })!;
  assert.equal(pt.source, 'prompt-pca');
  assert.ok(Math.abs(pt.explained![1] - 0.1) < 1e-5);
  assert.equal(pt.points.length, 8);
});

test('nearestByCosine matches a brute-force float64 ranking; zero rows are skipped; k larger than the vocabulary', () => {
  const r = rng(7);
  const V = 300;
  const d = 16;
  const n = 5;
  const table = Float32Array.from({ length: V * d }, r);
  table.fill(0, 10 * d, 11 * d); // vocabulary row 10 has no direction
  const queries = Float32Array.from({ length: n * d }, r);
  for (let j = 0; j < d; j++) queries[2 * d + j] = 4 * table[42 * d + j]; // query 2 points exactly at token 42
  queries.fill(0, 4 * d, 5 * d); // query 4 is zero
  const got = nearestByCosine(queries, n, table, V, d, 6);
  for (let q = 0; q < n; q++) {
    const all: { id: number; cosine: number }[] = [];
    for (let v = 0; v < V; v++) {
      let dot = 0;
      let qq = 0;
      let tt = 0;
      for (let j = 0; j < d; j++) {
        dot += queries[q * d + j] * table[v * d + j];
        qq += queries[q * d + j] ** 2;
        tt += table[v * d + j] ** 2;
      }
      if (qq > 0 && tt > 0) all.push({ id: v, cosine: dot / Math.sqrt(qq * tt) });
    }
    all.sort((a, b) => b.cosine - a.cosine || a.id - b.id);
    const want = all.slice(0, 6);
    assert.deepEqual(got[q].map((x) => x.id), want.map((x) => x.id), `query ${q}`);
    got[q].forEach((x, i) => assert.ok(Math.abs(x.cosine - want[i].cosine) < 1e-6));
    assert.ok(!got[q].some((x) => x.id === 10), 'the zero vocabulary row is never a neighbour');
  }
  assert.equal(got[2][0].id, 42);
  assert.ok(Math.abs(got[2][0].cosine - 1) < 1e-6);
  assert.deepEqual(got[4], [], 'a zero query has no neighbours');
  const all = nearestByCosine(queries.subarray(0, d), 1, table.subarray(0, 3 * d), 3, d, 10);
  assert.equal(all[0].length, 3, 'k is capped at the vocabulary size');
});

test('row norms, virtual token norms and their summary', () => {
  assert.deepEqual([...rowNorms([3, 4, 0, 0, 1, 0], 3, 2)], [5, 0, 1]);
  assert.deepEqual(virtualTokenNorms(Float32Array.from([3, 4, 6, 8]), 2, 2), [5, 10]);
  const s = summarizeNorms([5, 1, 4, 2, 3]);
  assert.deepEqual([s.min, s.median, s.max, s.mean], [1, 3, 5, 3]);
  assert.ok(Math.abs(s.p10 - 1.4) < 1e-12 && Math.abs(s.p90 - 4.6) < 1e-12);
});

test('envelope keeps a short vector exactly and every extreme of a long one', () => {
  const short = envelope([1, -2, 3], 8);
  assert.deepEqual([short.min, short.max, short.index], [[1, -2, 3], [1, -2, 3], [0, 1, 2]]);
  const long = Array.from({ length: 10_000 }, (_, i) => Math.sin(i));
  long[4321] = 99;
  long[777] = -99;
  const e = envelope(long, 100);
  assert.equal(e.min.length, 100);
  assert.equal(Math.max(...e.max), 99);
  assert.equal(Math.min(...e.min), -99);
  assert.equal(e.length, 10_000);
});
