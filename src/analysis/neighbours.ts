// Reading a soft prompt the usual way: for each virtual token (a row of the materialised prompt P), the vocabulary
// tokens whose embeddings point the same way, by cosine similarity. Plain TypeScript on Float32Arrays, so it runs
// wherever the embedding matrix is (the playground process; never the extension host, which must not hold weights).

export interface Neighbour {
  /** Vocabulary id. */
  id: number;
  /** Cosine similarity in [−1, 1]. */
  cosine: number;
}

/** Euclidean norm of each row of a rows × d matrix (row-major). */
export function rowNorms(m: ArrayLike<number>, rows: number, d: number): Float64Array {
  if (m.length !== rows * d) throw new Error(`rowNorms: ${m.length} values for ${rows} × ${d}.`);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = r * d, end = j + d; j < end; j++) s += m[j] * m[j];
    out[r] = Math.sqrt(s);
  }
  return out;
}

/**
 * The `k` rows of `table` (V × d) with the highest cosine similarity to each of the n rows of `queries` (n × d),
 * best first; ties keep the lower id first. Rows of norm 0 (a never-trained vocabulary slot, a zero prompt row) have
 * no direction: they are never a neighbour, and a zero query has none.
 *
 * One pass over the table: each vocabulary row is compared with every query while it is in cache (the queries, n·d
 * floats, stay in cache throughout). O(V·n·d) multiply-adds; the top-k lists cost O(k) per accepted candidate.
 */
export function nearestByCosine(queries: Float32Array, n: number, table: Float32Array, V: number, d: number, k: number): Neighbour[][] {
  if (queries.length !== n * d) throw new Error(`nearestByCosine: queries hold ${queries.length} values, not ${n} × ${d}.`);
  if (table.length !== V * d) throw new Error(`nearestByCosine: the table holds ${table.length} values, not ${V} × ${d}.`);
  const kk = Math.max(0, Math.min(k, V));
  const qNorm = rowNorms(queries, n, d);
  const ids = Array.from({ length: n }, () => new Int32Array(kk).fill(-1));
  const sims = Array.from({ length: n }, () => new Float64Array(kk).fill(-Infinity));
  for (let v = 0; v < V; v++) {
    const base = v * d;
    let tn = 0;
    for (let j = 0; j < d; j++) tn += table[base + j] * table[base + j];
    if (tn === 0) continue;
    const inv = 1 / Math.sqrt(tn);
    for (let q = 0; q < n; q++) {
      if (qNorm[q] === 0 || kk === 0) continue;
      const qb = q * d;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += queries[qb + j] * table[base + j];
      const cos = (dot * inv) / qNorm[q];
      const s = sims[q];
      if (cos <= s[kk - 1]) continue; // not better than the worst kept (equal: the earlier id stays)
      let i = kk - 1;
      while (i > 0 && s[i - 1] < cos) {
        s[i] = s[i - 1];
        ids[q][i] = ids[q][i - 1];
        i--;
      }
      s[i] = cos;
      ids[q][i] = v;
    }
  }
  return ids.map((row, q) => {
    const out: Neighbour[] = [];
    for (let i = 0; i < kk; i++) if (row[i] >= 0) out.push({ id: row[i], cosine: sims[q][i] });
    return out;
  });
}

export interface NormSummary {
  mean: number;
  median: number;
  /** 10th and 90th percentiles: the band "typical" embeddings fall in. */
  p10: number;
  p90: number;
  min: number;
  max: number;
}

/** Mean, median and spread of a set of norms (linear interpolation between order statistics). */
export function summarizeNorms(norms: ArrayLike<number>): NormSummary {
  const sorted = Float64Array.from(norms).sort();
  const n = sorted.length;
  if (!n) return { mean: NaN, median: NaN, p10: NaN, p90: NaN, min: NaN, max: NaN };
  const at = (p: number) => {
    const pos = p * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  };
  let sum = 0;
  for (const v of sorted) sum += v;
  return { mean: sum / n, median: at(0.5), p10: at(0.1), p90: at(0.9), min: sorted[0], max: sorted[n - 1] };
}
