// Evaluation metrics. Each takes predictions and gold answers of equal, non-zero length: an empty or mismatched
// evaluation is a bug upstream, and a silent NaN in metrics.jsonl would hide it.

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
