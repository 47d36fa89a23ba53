"""Mirrors src/data/metrics.ts: accuracy, macro-F1 (scikit-learn's), exact match after trimming, and the paper's
task metrics (F1, Matthews correlation, Pearson/Spearman, SQuAD, MultiRC, GSM8K)."""
import math
import re
import string
from collections import Counter
from typing import Dict, List, Optional, Sequence


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


# ---- The paper's task metrics, named as Hugging Face `evaluate` names them; each mirrors its namesake in
# src/data/metrics.ts (see there for whose definition it follows) and gives the same value on the same inputs.

def binary_f1(pred: List[int], gold: List[int], positive: int) -> float:
    """scikit-learn's f1_score of the `positive` class: 2TP / (2TP + FP + FN); 0 without a true positive."""
    _check_pairs(pred, gold, "f1")
    tp = sum(1 for p, g in zip(pred, gold) if p == positive and g == positive)
    fp = sum(1 for p, g in zip(pred, gold) if p == positive and g != positive)
    fn = sum(1 for p, g in zip(pred, gold) if p != positive and g == positive)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def matthews_correlation(pred: List[int], gold: List[int]) -> float:
    """scikit-learn's matthews_corrcoef (multiclass R_K); 0 when either side holds one class."""
    _check_pairs(pred, gold, "matthews_correlation")
    s = len(gold)
    pred_count, gold_count = Counter(pred), Counter(gold)
    right = sum(1 for p, g in zip(pred, gold) if p == g)
    crossed = sum(n * gold_count.get(k, 0) for k, n in pred_count.items())
    denominator = float(s * s - sum(v * v for v in pred_count.values())) * float(s * s - sum(v * v for v in gold_count.values()))
    return 0.0 if denominator == 0 else (right * s - crossed) / math.sqrt(denominator)


def pearson(x: List[float], y: List[float]) -> float:
    """SciPy's pearsonr statistic from deviations about the means; 0 when either side is constant."""
    _check_pairs(x, y, "pearson")
    mx, my = _mean(x), _mean(y)
    sxy = sxx = syy = 0.0
    for a, b in zip(x, y):
        dx, dy = a - mx, b - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if sxx == 0 or syy == 0:
        return 0.0
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _mean(values: List[float]) -> float:
    """Summed left to right as JavaScript's reduce does (Python 3.12's sum() compensates, and would differ in the last bits)."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def average_ranks(values: List[float]) -> List[float]:
    """Ranks from 1, ties sharing the mean of the ranks they span (SciPy's rankdata 'average')."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: List[float], y: List[float]) -> float:
    """SciPy's spearmanr statistic: Pearson's r of the average ranks (0 when either side is constant)."""
    _check_pairs(x, y, "spearmanr")
    return pearson(average_ranks(x), average_ranks(y))


_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
# JavaScript's trim() (ECMAScript WhiteSpace and LineTerminator), which is what the built-in engine strips.
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def parse_number(text: str) -> Optional[float]:
    """The whole text, trimmed, as one finite decimal number; None for anything else."""
    t = text.strip(_JS_SPACE)
    value = float(t) if _DECIMAL.fullmatch(t) else None
    return value if value is not None and math.isfinite(value) else None


def regression_scores(pred_texts: List[str], gold: List[float]) -> Dict[str, float]:
    """Pearson and Spearman of generated numbers against gold scores; an unreadable prediction counts as the end of
    the gold range farthest from its own gold."""
    _check_pairs(pred_texts, gold, "pearson")
    low, high = min(gold), max(gold)
    middle = (low + high) / 2
    pred = []
    for text, g in zip(pred_texts, gold):
        value = parse_number(text)
        pred.append(value if value is not None else (low if g > middle else high))
    return {"pearson": pearson(pred, gold), "spearmanr": spearman(pred, gold)}


_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's normalize_answer: lower case, no ASCII punctuation, articles to spaces, whitespace collapsed."""
    no_punctuation = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", no_punctuation).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1; when either side normalises to nothing, 1 if both do, else 0 (the SQuAD 2.0 rule)."""
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(pred_texts: List[str], gold_answers: List[List[str]]) -> Dict[str, float]:
    """SQuAD exact match and F1 as fractions: each prediction's best over its gold answers, averaged."""
    _check_pairs(pred_texts, gold_answers, "squad")
    em = f1 = 0.0
    for i, (p, golds) in enumerate(zip(pred_texts, gold_answers)):
        if not golds:
            raise ValueError(f"squad: example {i + 1} has no gold answer.")
        norm = normalize_answer(p)
        em += 1.0 if any(normalize_answer(g) == norm for g in golds) else 0.0
        f1 += max(token_f1(p, g) for g in golds)
    return {"exact_match": em / len(pred_texts), "f1": f1 / len(pred_texts)}


def multirc_scores(pred: List[int], gold: List[int], groups: Sequence, positive: int) -> Dict[str, float]:
    """MultiRC's f1_a (binary F1 over every answer option) and exact_match (questions with every option right)."""
    _check_pairs(pred, gold, "multirc")
    _check_pairs(groups, gold, "multirc groups")
    all_right: Dict = {}
    for p, g, q in zip(pred, gold, groups):
        all_right[q] = all_right.get(q, True) and p == g
    return {"f1_a": binary_f1(pred, gold, positive), "exact_match": sum(all_right.values()) / len(all_right)}


_NUMBER_IN_TEXT = re.compile(r"(?:(?<!\d)-)?\d(?:[\d,]*\d)?(?:\.\d+)?", re.ASCII)


def last_number(text: str) -> Optional[str]:
    """The last number in a text, commas removed; None when it has none."""
    found = _NUMBER_IN_TEXT.findall(text)
    return found[-1].replace(",", "") if found else None


def gsm8k_answer(solution: str) -> Optional[str]:
    """A GSM8K solution's answer: the last number after its last "####" (the whole text when it has none)."""
    at = solution.rfind("####")
    return last_number(solution if at < 0 else solution[at + 4 :])


def gsm8k_exact_match(pred_texts: List[str], gold_texts: List[str]) -> float:
    """Final-number exact match: the prediction's last number equals the gold answer as a number."""
    _check_pairs(pred_texts, gold_texts, "gsm8k")
    right = 0
    for i, (p, g) in enumerate(zip(pred_texts, gold_texts)):
        answer, gold = last_number(p), gsm8k_answer(g)
        if gold is None:
            raise ValueError(f"gsm8k: gold answer {i + 1} has no number: {g!r}.")
        right += 1 if answer is not None and float(answer) == float(gold) else 0
    return right / len(pred_texts)
