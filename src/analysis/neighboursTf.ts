// Nearest vocabulary tokens on the model's own backend: the same ranking as nearestByCosine (neighbours.ts, its
// plain-TypeScript reference), as matrix products over blocks of the embedding matrix, so GPT-2's 50,257 × 768
// table takes a fraction of a second instead of many seconds in scalar JavaScript, and is never copied out whole.
import { tf, type Tensor } from '../backend';
import type { Neighbour } from './neighbours';

/** Vocabulary rows per block: bounds the [n, block] similarity matrix and the block's copy. */
const BLOCK = 8192;

/**
 * The `k` rows of `table` ([V, d], a tensor on the backend) most similar by cosine to each row of `queries` (n × d),
 * best first. Rows of norm 0 are never neighbours; a zero query has none.
 */
export async function nearestTokens(queries: Float32Array, n: number, table: Tensor, k: number): Promise<Neighbour[][]> {
  const [V, d] = table.shape as [number, number];
  if (queries.length !== n * d) throw new Error(`nearestTokens: queries hold ${queries.length} values, not ${n} × ${d}.`);
  const kk = Math.max(0, Math.min(k, V));
  const best: Neighbour[][] = Array.from({ length: n }, () => []);
  const q = tf.tensor2d(queries, [n, d]);
  const qNorm = tf.norm(q, 'euclidean', 1); // [n]
  const qZero = (await qNorm.data()).map((v) => (v === 0 ? 1 : 0));
  try {
    for (let start = 0; start < V && kk > 0; start += BLOCK) {
      const size = Math.min(BLOCK, V - start);
      const kb = Math.min(kk, size);
      const [values, indices] = tf.tidy(() => {
        const w = tf.slice(table, [start, 0], [size, d]); // [m, d]
        const wNorm = tf.norm(w, 'euclidean', 1); // [m]
        const dots = tf.matMul(q, w, false, true); // [n, m]
        const cos = tf.div(dots, tf.mul(tf.reshape(qNorm, [n, 1]), tf.reshape(tf.maximum(wNorm, 1e-30), [1, size])));
        // A vocabulary row without a direction can never be chosen: below any cosine.
        const masked = tf.where(tf.reshape(tf.greater(wNorm, 0), [1, size]), cos, tf.fill([n, size], -2));
        const top = tf.topk(masked, kb, true);
        return [top.values, top.indices];
      });
      const v = await values.data();
      const ix = await indices.data();
      values.dispose();
      indices.dispose();
      for (let i = 0; i < n; i++) {
        if (qZero[i]) continue;
        for (let j = 0; j < kb; j++) {
          const c = v[i * kb + j];
          if (c >= -1.5) best[i].push({ id: start + ix[i * kb + j], cosine: c });
        }
        best[i].sort((a, b) => b.cosine - a.cosine || a.id - b.id);
        best[i].length = Math.min(best[i].length, kk);
      }
    }
  } finally {
    q.dispose();
    qNorm.dispose();
  }
  return best;
}

/** The norm of every row of the table, read back as numbers (V values, not V × d). */
export async function tableRowNorms(table: Tensor): Promise<Float32Array> {
  const norms = tf.norm(table, 'euclidean', 1);
  try {
    return (await norms.data()) as Float32Array;
  } finally {
    norms.dispose();
  }
}
