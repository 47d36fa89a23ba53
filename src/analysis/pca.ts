// Principal component analysis for small matrices, in float64 and plain TypeScript (no TensorFlow.js): the adapter
// inspector draws the n rows of Z (n × r) as a 2-D scatter, directly for r = 2 and after PCA for r > 2.
//
// The eigenvectors come from the cyclic Jacobi method on a symmetric matrix: the r × r covariance when r ≤ n, else
// the n × n Gram matrix of the centred rows (the same non-zero spectrum, cheaper when the rows are long). Both are
// at most MAX_PCA_DIM wide, so the work is bounded whatever a file claims.

/** Largest covariance or Gram matrix we decompose (O(m³) per Jacobi sweep). */
export const MAX_PCA_DIM = 512;

export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Column j (vectors[i·m + j]) is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric m × m matrix (row-major) by cyclic Jacobi rotations. Each rotation zeroes one
 * off-diagonal pair; sweeps repeat until the off-diagonal mass is negligible against the diagonal.
 */
export function symmetricEigen(matrix: ArrayLike<number>, m: number, maxSweeps = 60): SymmetricEigen {
  if (matrix.length !== m * m) throw new Error(`symmetricEigen: ${matrix.length} values for a ${m} × ${m} matrix.`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  let scale = 0;
  for (let i = 0; i < m * m; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += a[p * m + q] * a[p * m + q];
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = a[p * m + q];
        if (apq === 0) continue;
        // The rotation angle that zeroes a[p][q]: t = tan θ, the smaller root of t² + 2·theta·t − 1 = 0.
        const theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < m; k++) {
          const akp = a[k * m + p];
          const akq = a[k * m + q];
          a[k * m + p] = c * akp - s * akq;
          a[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = a[p * m + k];
          const aqk = a[q * m + k];
          a[p * m + k] = c * apk - s * aqk;
          a[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = v[k * m + p];
          const vkq = v[k * m + q];
          v[k * m + p] = c * vkp - s * vkq;
          v[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(m).keys()].sort((i, j) => a[j * m + j] - a[i * m + i]);
  const values = new Float64Array(m);
  const vectors = new Float64Array(m * m);
  order.forEach((src, dst) => {
    values[dst] = a[src * m + src];
    for (let k = 0; k < m; k++) vectors[k * m + dst] = v[k * m + src];
  });
  return { values, vectors };
}

export interface PcaResult {
  /** rows × k scores: each row's coordinates on the first k principal axes. */
  scores: number[][];
  /** Share of the total variance each of the k axes carries, in [0, 1] (0 when the rows do not vary at all). */
  explained: number[];
  /** Sum of the column variances (the trace of the covariance). */
  totalVariance: number;
}

/**
 * The first `k` principal components of a rows × cols matrix (row-major). Signs are fixed so that the score of
 * largest magnitude on each axis is positive: the same data always gives the same picture.
 */
export function pca(data: ArrayLike<number>, rows: number, cols: number, k = 2): PcaResult {
  if (data.length !== rows * cols) throw new Error(`pca: ${data.length} values for a ${rows} × ${cols} matrix.`);
  const m = Math.min(rows, cols);
  if (m > MAX_PCA_DIM) throw new Error(`pca: a ${rows} × ${cols} matrix is beyond the ${MAX_PCA_DIM}-wide limit.`);
  const x = centredRows(data, rows, cols);
  const denom = Math.max(1, rows - 1);
  let scores: Float64Array; // rows × m
  let values: Float64Array;
  if (cols <= rows) {
    // Covariance C = XᵀX / (rows − 1); scores = X·V.
    const cov = new Float64Array(cols * cols);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < cols; i++) {
        const xi = x[r * cols + i];
        if (xi === 0) continue;
        for (let j = i; j < cols; j++) cov[i * cols + j] += xi * x[r * cols + j];
      }
    }
    for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) cov[j * cols + i] = cov[i * cols + j] /= denom;
    const eig = symmetricEigen(cov, cols);
    values = eig.values;
    scores = new Float64Array(rows * m);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < m; c++) {
        let s = 0;
        for (let i = 0; i < cols; i++) s += x[r * cols + i] * eig.vectors[i * cols + c];
        scores[r * m + c] = s;
      }
    }
  } else {
    // Gram G = XXᵀ (rows × rows): G = U·S²·Uᵀ when X = U·S·Vᵀ, so the scores X·V = U·S.
    const gram = new Float64Array(rows * rows);
    for (let i = 0; i < rows; i++) {
      for (let j = i; j < rows; j++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += x[i * cols + c] * x[j * cols + c];
        gram[i * rows + j] = gram[j * rows + i] = s;
      }
    }
    const eig = symmetricEigen(gram, rows);
    values = eig.values.map((g) => Math.max(0, g) / denom);
    scores = new Float64Array(rows * m);
    for (let c = 0; c < m; c++) {
      const sigma = Math.sqrt(Math.max(0, eig.values[c]));
      for (let r = 0; r < rows; r++) scores[r * m + c] = eig.vectors[r * rows + c] * sigma;
    }
  }
  let total = 0;
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * cols + c] * x[r * cols + c];
    total += s / denom;
  }
  const kk = Math.min(k, m);
  const explained: number[] = [];
  const out: number[][] = Array.from({ length: rows }, () => new Array<number>(k).fill(0));
  for (let c = 0; c < kk; c++) {
    explained.push(total > 0 ? Math.max(0, values[c]) / total : 0);
    let big = 0;
    for (let r = 0; r < rows; r++) if (Math.abs(scores[r * m + c]) > Math.abs(big)) big = scores[r * m + c];
    const sign = big < 0 ? -1 : 1;
    for (let r = 0; r < rows; r++) out[r][c] = sign * scores[r * m + c];
  }
  while (explained.length < k) explained.push(0);
  return { scores: out, explained, totalVariance: total };
}

function centredRows(data: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const x = Float64Array.from(data);
  for (let c = 0; c < cols; c++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += x[r * cols + c];
    mean /= Math.max(1, rows);
    for (let r = 0; r < rows; r++) x[r * cols + c] -= mean;
  }
  return x;
}
