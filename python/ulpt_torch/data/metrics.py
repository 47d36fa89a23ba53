"""Mirrors src/data/metrics.ts: accuracy, macro-F1 (scikit-learn's), exact match after trimming."""
from typing import List, Sequence


def _check_pairs(pred: Sequence, gold: Sequence, metric: str) -> None:
    if len(pred) != len(gold):
        raise ValueError(f"{metric}: {len(pred)} predictions for {len(gold)} gold answers; they must pair up.")
    if not gold:
        raise ValueError(f"{metric}: nothing to score (no predictions).")


def accuracy(pred: List[int], gold: List[int]) -> float:
    _check_pairs(pred, gold, "accuracy")
    return sum(1 for p, g in zip(pred, gold) if p == g) / len(gold)


def macro_f1(pred: List[int], gold: List[int], classes: int) -> float:
    """Averaged over the classes found in gold or pred; per class 2TP / (2TP + FP + FN)."""
    _check_pairs(pred, gold, "macroF1")
    tp, fp, fn = [0] * classes, [0] * classes, [0] * classes
    for p, g in zip(pred, gold):
        for c in (p, g):
            if not isinstance(c, int) or c < 0 or c >= classes:
                raise ValueError(f"macroF1: class {c} is not an index below numClasses ({classes}).")
        if p == g:
            tp[p] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    scores = [2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]) for c in range(classes) if tp[c] + fp[c] + fn[c]]
    return sum(scores) / len(scores)


def exact_match(pred_texts: List[str], gold_texts: List[str]) -> float:
    """Equal after trimming whitespace at both ends (JavaScript's trim: Unicode whitespace)."""
    _check_pairs(pred_texts, gold_texts, "exactMatch")
    return sum(1 for p, g in zip(pred_texts, gold_texts) if p.strip() == g.strip()) / len(gold_texts)
