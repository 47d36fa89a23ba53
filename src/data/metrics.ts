// Evaluation metrics. Each takes predictions and gold answers of equal, non-zero length: an empty or mismatched
// evaluation is a bug upstream, and a silent NaN in metrics.jsonl would hide it. python/ulpt_torch/data/metrics.py
// mirrors every function (the PyTorch engine's evaluation); python/tests/test_metrics.py runs both against
// scikit-learn, SciPy and torchmetrics on the same inputs.

/** Fraction of positions where the predicted class equals the gold class. */
export function accuracy(pred: number[], gold: number[]): number {
  checkPairs(pred, gold, 'accuracy');
  let right = 0;
  for (let i = 0; i < gold.length; i++) if (pred[i] === gold[i]) right++;
  return right / gold.length;
}

/**
 * Macro-averaged F1, as scikit-learn's `f1_score(gold, pred, average='macro')`: the classes averaged over are
 * those that occur in gold or in pred (a class absent from both is left out, not counted as 0), and a class
 * with no true positives contributes 0. Per class F1 = 2·TP / (2·TP + FP + FN).
 */
export function macroF1(pred: number[], gold: number[], numClasses: number): number {
  checkPairs(pred, gold, 'macroF1');
  const tp = new Array<number>(numClasses).fill(0);
  const fp = new Array<number>(numClasses).fill(0);
  const fn = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < gold.length; i++) {
    const [p, g] = [checkClass(pred[i], numClasses), checkClass(gold[i], numClasses)];
    if (p === g) tp[p]++;
    else { fp[p]++; fn[g]++; }
  }
  let sum = 0;
  let classes = 0;
  for (let c = 0; c < numClasses; c++) {
    if (tp[c] + fp[c] + fn[c] === 0) continue; // in neither gold nor pred
    sum += (2 * tp[c]) / (2 * tp[c] + fp[c] + fn[c]);
    classes++;
  }
  return sum / classes;
}

/**
 * Fraction of predictions equal to the gold text after trimming leading and trailing whitespace on both sides
 * (a generated answer usually starts with a space and may end with a newline). Case and inner spacing count.
 */
export function exactMatch(predTexts: string[], goldTexts: string[]): number {
  checkPairs(predTexts, goldTexts, 'exactMatch');
  let right = 0;
  for (let i = 0; i < goldTexts.length; i++) if (predTexts[i].trim() === goldTexts[i].trim()) right++;
  return right / goldTexts.length;
}

function checkPairs(pred: unknown[], gold: unknown[], metric: string): void {
  if (pred.length !== gold.length) {
    throw new Error(`${metric}: ${pred.length} predictions for ${gold.length} gold answers; they must pair up.`);
  }
  if (gold.length === 0) throw new Error(`${metric}: nothing to score (no predictions).`);
}

function checkClass(c: number, numClasses: number): number {
  if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
    throw new Error(`macroF1: class ${c} is not an index below numClasses (${numClasses}).`);
  }
  return c;
}

// ---- The paper's task metrics (GLUE, SuperGLUE, MRQA, GSM8K), named as Hugging Face `evaluate` names them.

/**
 * F1 of one class against the rest, as scikit-learn's `f1_score(gold, pred, pos_label=positive)` for binary labels
 * (`average='binary'`; for more labels, `labels=[positive], average=None`): 2·TP / (2·TP + FP + FN), where TP counts
 * predictions of `positive` that are right. 0 when `positive` is neither predicted nor gold (sklearn's
 * zero_division default). MRPC's and QQP's F1 (positive = "equivalent" / "duplicate").
 */
export function binaryF1(pred: number[], gold: number[], positive: number): number {
  checkPairs(pred, gold, 'f1');
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < gold.length; i++) {
    if (pred[i] === positive && gold[i] === positive) tp++;
    else if (pred[i] === positive) fp++;
    else if (gold[i] === positive) fn++;
  }
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/**
 * Matthews correlation coefficient, as scikit-learn's `matthews_corrcoef` (Gorodkin's multiclass R_K, which is the
 * binary MCC for two labels): (c·s − Σ p_k·t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)) with s examples, c right, and
 * p_k, t_k the times class k is predicted and gold. 0 when either side holds a single class (sklearn's choice for
 * the undefined 0/0). CoLA's metric.
 */
export function matthewsCorrelation(pred: number[], gold: number[]): number {
  checkPairs(pred, gold, 'matthews_correlation');
  const predCount = new Map<number, number>();
  const goldCount = new Map<number, number>();
  let right = 0;
  for (let i = 0; i < gold.length; i++) {
    predCount.set(pred[i], (predCount.get(pred[i]) ?? 0) + 1);
    goldCount.set(gold[i], (goldCount.get(gold[i]) ?? 0) + 1);
    if (pred[i] === gold[i]) right++;
  }
  const s = gold.length;
  let crossed = 0;
  for (const [k, p] of predCount) crossed += p * (goldCount.get(k) ?? 0);
  const squares = (m: Map<number, number>) => [...m.values()].reduce((sum, v) => sum + v * v, 0);
  const denominator = (s * s - squares(predCount)) * (s * s - squares(goldCount));
  return denominator === 0 ? 0 : (right * s - crossed) / Math.sqrt(denominator);
}

/**
 * Pearson's r, as SciPy's `pearsonr(x, y).statistic`: the covariance over the product of the standard deviations,
 * from deviations about the means. 0 when either side is constant (SciPy returns NaN there; a NaN would be written
 * to metrics.jsonl as null and never be a best value, and a constant prediction predicts nothing).
 */
export function pearson(x: number[], y: number[]): number {
  checkPairs(x, y, 'pearson');
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const [mx, my] = [mean(x), mean(y)];
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    const [dx, dy] = [x[i] - mx, y[i] - my];
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return 0;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Ranks from 1, ties sharing the mean of the ranks they span (SciPy's `rankdata(method='average')`). */
export function averageRanks(values: number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]] === values[order[start]]) end++;
    for (let k = start; k <= end; k++) ranks[order[k]] = (start + end) / 2 + 1;
    start = end + 1;
  }
  return ranks;
}

/** Spearman's ρ, as SciPy's `spearmanr(x, y).statistic`: Pearson's r of the average ranks (0 when either side is constant). */
export function spearman(x: number[], y: number[]): number {
  checkPairs(x, y, 'spearmanr');
  return pearson(averageRanks(x), averageRanks(y));
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A generated number as STS-B's scores are read: the whole text, trimmed, must be one decimal number ("3.8", "-1",
 * ".5", "4e-1"); anything else ("3.8 points", "four", "") is null. Strict on purpose: picking a number out of
 * prose would credit answers the model did not give.
 */
export function parseNumber(text: string): number | null {
  const t = text.trim();
  const value = DECIMAL.test(t) ? Number(t) : NaN;
  return Number.isFinite(value) ? value : null; // "1e999" is no score either
}

/**
 * Pearson's and Spearman's correlation of generated numbers with the gold scores (STS-B). A prediction that is not a
 * number (parseNumber) counts as the end of the gold scores' range farthest from its own gold (the minimum for a
 * gold above the range's middle, else the maximum): never near right, so unreadable answers pull both correlations
 * down instead of being dropped (which would score only the easy cases) or helping.
 */
export function regressionScores(predTexts: string[], gold: number[]): { pearson: number; spearmanr: number } {
  checkPairs(predTexts, gold, 'pearson');
  const [low, high] = [Math.min(...gold), Math.max(...gold)];
  const middle = (low + high) / 2;
  const pred = predTexts.map((t, i) => parseNumber(t) ?? (gold[i] > middle ? low : high));
  return { pearson: pearson(pred, gold), spearmanr: spearman(pred, gold) };
}

const ASCII_PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
// What Python's str.split() splits on (JavaScript's \s lacks U+001C–U+001F and U+0085, and adds U+FEFF).
const PYTHON_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
// Python's \b around a/an/the: a word character is a letter, digit or underscore in any script.
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * SQuAD's answer normalisation (the official evaluation script's `normalize_answer`): lower case, drop ASCII
 * punctuation, replace the articles a/an/the by a space, collapse whitespace.
 */
export function normalizeAnswer(text: string): string {
  const noPunctuation = [...text.toLowerCase()].filter((c) => !ASCII_PUNCTUATION.has(c)).join('');
  return noPunctuation.replace(ARTICLES, ' ').split(PYTHON_WHITESPACE).filter(Boolean).join(' ');
}

/**
 * SQuAD's token F1 of one prediction against one gold answer: over the normalised whitespace tokens, common tokens
 * counted with multiplicity, F1 of precision and recall. When either side normalises to nothing it is 1 if both do,
 * else 0 (the SQuAD 2.0 script's rule, which torchmetrics' SQuAD follows; the 1.1 script gives 0 even for two
 * empties, below its own exact match).
 */
export function tokenF1(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const left = new Map<string, number>();
  for (const t of g) left.set(t, (left.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const n = left.get(t) ?? 0;
    if (n > 0) {
      same++;
      left.set(t, n - 1);
    }
  }
  if (same === 0) return 0;
  const [precision, recall] = [same / p.length, same / g.length];
  return (2 * precision * recall) / (precision + recall);
}

/**
 * SQuAD's exact match and F1 (MRQA's metrics), as the official script and torchmetrics' `SQuAD` compute them, but
 * as fractions (0–1) like every other metric here, where they report percentages: each prediction scores the best
 * over its gold answers, and the scores are averaged over the examples.
 */
export function squadScores(predTexts: string[], goldAnswers: string[][]): { exact_match: number; f1: number } {
  checkPairs(predTexts, goldAnswers, 'squad');
  let em = 0;
  let f1 = 0;
  predTexts.forEach((p, i) => {
    const golds = goldAnswers[i];
    if (golds.length === 0) throw new Error(`squad: example ${i + 1} has no gold answer.`);
    const norm = normalizeAnswer(p);
    em += golds.some((g) => normalizeAnswer(g) === norm) ? 1 : 0;
    f1 += Math.max(...golds.map((g) => tokenF1(p, g)));
  });
  return { exact_match: em / predTexts.length, f1: f1 / predTexts.length };
}

/**
 * MultiRC's F1a and exact match, as `evaluate`'s super_glue metric ("multirc") computes them: f1_a is the binary F1
 * of `positive` over every answer option; exact_match is the fraction of questions (options sharing a group) whose
 * every option is predicted right.
 */
export function multircScores(pred: number[], gold: number[], groups: string[], positive: number): { f1_a: number; exact_match: number } {
  checkPairs(pred, gold, 'multirc');
  checkPairs(groups, gold, 'multirc groups');
  const allRight = new Map<string, boolean>();
  groups.forEach((g, i) => allRight.set(g, (allRight.get(g) ?? true) && pred[i] === gold[i]));
  const right = [...allRight.values()].filter(Boolean).length;
  return { f1_a: binaryF1(pred, gold, positive), exact_match: right / allRight.size };
}

// A number as written in a GSM8K answer: an optional minus (not a hyphen between two digits), digits with optional
// thousands commas, an optional decimal part.
const NUMBER_IN_TEXT = /(?:(?<!\d)-)?\d(?:[\d,]*\d)?(?:\.\d+)?/g;

/** The last number in a text, commas removed ("… so she pays $1,250." → "1250"), or null when it has none. */
export function lastNumber(text: string): string | null {
  const found = text.match(NUMBER_IN_TEXT);
  return found ? found[found.length - 1].replace(/,/g, '') : null;
}

/** A GSM8K solution's answer: the last number after its last "####" (the whole text when it has none). */
export function gsm8kAnswer(solution: string): string | null {
  const at = solution.lastIndexOf('####');
  return lastNumber(at < 0 ? solution : solution.slice(at + 4));
}

/**
 * GSM8K's final-number exact match: the last number of each generated solution equals the gold solution's answer
 * (after "####") as a number, commas removed ("1,000" = "1000", "72.0" = "72"). A prediction with no number is wrong.
 */
export function gsm8kExactMatch(predTexts: string[], goldTexts: string[]): number {
  checkPairs(predTexts, goldTexts, 'gsm8k');
  let right = 0;
  predTexts.forEach((p, i) => {
    const [answer, gold] = [lastNumber(p), gsm8kAnswer(goldTexts[i])];
    if (gold === null) throw new Error(`gsm8k: gold answer ${i + 1} has no number: ${JSON.stringify(goldTexts[i])}.`);
    if (answer !== null && Number(answer) === Number(gold)) right++;
  });
  return right / predTexts.length;
}
