"""The paper's task metrics against independent implementations on fixed inputs: scikit-learn (accuracy, F1, Matthews
correlation), SciPy (Pearson, Spearman) and torchmetrics' SQuAD (the official script's normalisation and F1). Both
engines' metrics are checked: ulpt_torch.data.metrics here, and src/data/metrics.ts — bundled with esbuild and run
by node in this test — so the two engines give the same values on the same predictions."""
import json
import math
import os
import shutil
import subprocess
from collections import defaultdict

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from torchmetrics.text import SQuAD

from ulpt_torch.data import metrics as py
from ulpt_torch.io.prepared import Facts, Split
from ulpt_torch.train.evaluate import classification_metrics, generation_metrics, primary_metric

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOL = 1e-12

_rng = np.random.default_rng(19)
_big_gold = _rng.integers(0, 3, 300).tolist()
_big_pred = [g if r < 0.6 else int(r * 10) % 3 for g, r in zip(_big_gold, _rng.random(300).tolist())]

# (predictions, gold, positive label) — label indices.
CLASSIFICATION = [
    ([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], 1),
    ([1, 1, 1, 1], [0, 1, 0, 1], 1),  # one class predicted
    ([0, 1, 0, 1], [1, 1, 1, 1], 1),  # one class gold
    ([0, 0, 0], [0, 0, 0], 1),  # the positive class absent from both
    ([1, 1], [0, 0], 1),  # only false positives
    ([1, 0, 1, 0], [0, 1, 0, 1], 0),
    ([0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 2, 0], 2),
    ([2, 2, 0, 0], [0, 0, 0, 0], 0),  # a class predicted that gold never has
    (_big_pred, _big_gold, 1),
]

_x = _rng.normal(size=200)
_y = 0.6 * _x + _rng.normal(size=200)
# (x, y) number pairs for the correlations; ties on purpose.
CORRELATION = [
    ([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]),
    ([1.0, 10.0, 100.0], [3.0, 4.0, 50.0]),
    ([5.0, 5.0, 1.0, 1.0, 3.0], [2.0, 2.0, 2.0, 1.0, 3.0]),
    ([-1.5, 0.0, 2.25, -3.0, 4.0, 4.0], [0.2, 0.1, 0.3, 0.0, 0.5, 0.4]),
    (np.round(_x, 1).tolist(), np.round(_y, 1).tolist()),
]

# (generated texts, gold scores, the numbers the texts count as): unreadable texts count as the end of the gold
# range farthest from their gold (written out by hand here, so the rule itself is checked).
REGRESSION = [
    (["3.8", " 1\n", "4.0", "0.5"], [4.0, 1.2, 3.6, 0.0], [3.8, 1.0, 4.0, 0.5]),
    (["0", "x", "2", "?"], [0.0, 5.0, 2.0, 1.0], [0.0, 0.0, 2.0, 5.0]),
    (["3.8 points", "-1", "1,000", "four", ".5"], [3.0, 0.0, 1.0, 2.5, 5.0], [0.0, -1.0, 5.0, 5.0, 0.5]),  # 2.5 is the middle: not above it
    (["a", "b", "c"], [1.0, 2.0, 3.0], [3.0, 3.0, 1.0]),
    (["1e999", "2", "3", "NaN"], [1.0, 2.0, 3.0, 4.0], [4.0, 2.0, 3.0, 1.0]),
]

# (prediction, gold answers): SQuAD normalisation, several gold answers, empties, Unicode words.
SQUAD = [
    ("the cat sat", ["a cat sat on", "cat"]),
    (" Dog.", ["Dog!", "wolf"]),
    ("The  Cat's, a HAT!", ["cats hat"]),
    ("the", ["a"]),  # both normalise to nothing
    ("", ["cat"]),
    ("théâtre the end", ["théâtre end"]),
    ("éthe x", ["éthe", "x"]),
    ("an apple an apple", ["apple apple apple"]),
    ("New York City", ["new york", "York City, NY", "NYC"]),
    ("1,000 - 2,000", ["1000 2000"]),
]

# (predictions, gold, question of each option, positive label).
MULTIRC = [
    ([1, 0, 1, 1, 0, 0], [1, 0, 1, 0, 0, 1], ["q1", "q1", "q1", "q2", "q2", "q3"], 1),
    ([0, 0, 0, 0], [0, 0, 0, 0], ["a", "b", "a", "b"], 1),  # no positive anywhere: F1a 0, every question right
    ([1, 1, 1], [1, 1, 1], ["x", "y", "z"], 1),
    ([0, 1, 1, 0, 1], [1, 1, 0, 0, 1], ["0-0", "0-0", "0-1", "1-0", "1-0"], 1),
]

# (generated solution, gold solution, right?) — the final number, commas removed, negative numbers.
GSM8K = [
    ("… so 1,000 in all. #### 1000", "48/2 = 24\n#### 1,000", True),
    ("it is -3.0", "b #### -3", True),
    ("seven", "c #### 7", False),
    ("12 then 13", "d #### 12", False),
    ("pages 3-4", "#### 4", True),
    ("she pays $1,250.", "#### 1250", True),
    ("-5 degrees, then -6", "#### -6", True),
    ("72.5", "#### 72", False),
]


def _num(x):
    return [float(v) for v in x]


def _squad_reference(pairs):
    """torchmetrics' SQuAD, as fractions (it reports percentages)."""
    preds = [{"prediction_text": p, "id": str(i)} for i, (p, _) in enumerate(pairs)]
    target = [{"answers": {"answer_start": [0] * len(g), "text": g}, "id": str(i)} for i, (_, g) in enumerate(pairs)]
    scores = SQuAD()(preds, target)
    return {"exact_match": float(scores["exact_match"]) / 100, "f1": float(scores["f1"]) / 100}


def _multirc_em_reference(pred, gold, groups):
    """evaluate's super_glue "multirc" exact match: per question, every option right; averaged over questions."""
    questions = defaultdict(list)
    for p, g, q in zip(pred, gold, groups):
        questions[q].append(p == g)
    return float(np.mean([all(v) for v in questions.values()]))


def _f1_reference(pred, gold, positive):
    return float(f1_score(gold, pred, labels=[positive], average="macro", zero_division=0.0))


# ---- The calls both implementations make, with the reference value each must equal.

def _cases():
    """(TypeScript function, arguments, Python function, reference value, tolerance)."""
    out = []
    for pred, gold, positive in CLASSIFICATION:
        out.append(("accuracy", [pred, gold], lambda a: py.accuracy(*a), accuracy_score(gold, pred), TOL))
        out.append(("binaryF1", [pred, gold, positive], lambda a: py.binary_f1(*a), _f1_reference(pred, gold, positive), TOL))
        out.append(("matthewsCorrelation", [pred, gold], lambda a: py.matthews_correlation(*a), float(matthews_corrcoef(gold, pred)), 1e-12))
        classes = max(pred + gold) + 1
        out.append(("macroF1", [pred, gold, classes], lambda a: py.macro_f1(*a), float(f1_score(gold, pred, average="macro", zero_division=0.0)), TOL))
    for x, y in CORRELATION:
        out.append(("pearson", [x, y], lambda a: py.pearson(*a), float(pearsonr(x, y).statistic), 1e-12))
        out.append(("spearman", [x, y], lambda a: py.spearman(*a), float(spearmanr(x, y).statistic), 1e-12))
    for texts, gold, read in REGRESSION:
        ref = {"pearson": float(pearsonr(read, gold).statistic), "spearmanr": float(spearmanr(read, gold).statistic)}
        out.append(("regressionScores", [texts, gold], lambda a: py.regression_scores(*a), ref, 1e-12))
    out.append(("squadScores", [[p for p, _ in SQUAD], [g for _, g in SQUAD]], lambda a: py.squad_scores(*a), _squad_reference(SQUAD), 1e-6))
    for pred, gold, groups, positive in MULTIRC:
        ref = {"f1_a": _f1_reference(pred, gold, positive), "exact_match": _multirc_em_reference(pred, gold, groups)}
        out.append(("multircScores", [pred, gold, groups, positive], lambda a: py.multirc_scores(*a), ref, TOL))
    preds, golds = [p for p, _, _ in GSM8K], [g for _, g, _ in GSM8K]
    out.append(("gsm8kExactMatch", [preds, golds], lambda a: py.gsm8k_exact_match(*a), sum(r for _, _, r in GSM8K) / len(GSM8K), TOL))
    return out


CASES = _cases()


def _assert_close(got, want, tol, what):
    if isinstance(want, dict):
        assert set(got) == set(want), f"{what}: keys {sorted(got)} vs {sorted(want)}"
        for k in want:
            _assert_close(got[k], want[k], tol, f"{what}.{k}")
        return
    assert math.isfinite(got) and abs(got - want) <= tol, f"{what}: {got} vs reference {want}"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_python_metrics_equal_the_references(index):
    name, args, fn, ref, tol = CASES[index]
    _assert_close(fn(args), ref, tol, name)


def test_references_leave_undefined_what_the_metrics_define():
    """Where SciPy returns NaN (a constant side) the metrics return 0, as sklearn's MCC does for its 0/0."""
    with pytest.warns(Warning):
        assert math.isnan(pearsonr([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]).statistic)
    assert py.pearson([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0
    assert py.spearman([1.0, 2.0, 3.0], [7.0, 7.0, 7.0]) == 0.0
    assert matthews_corrcoef([0, 1, 0, 1], [1, 1, 1, 1]) == py.matthews_correlation([1, 1, 1, 1], [0, 1, 0, 1]) == 0.0


def test_number_reading_and_last_numbers():
    assert py.parse_number(" 3.8\n") == 3.8 and py.parse_number("-1") == -1.0 and py.parse_number(".5") == 0.5
    for bad in ["3.8 points", "four", "", "1,000", "1e999", "NaN", "nan", "inf", "Infinity", "1_000", "0x10", "٣"]:
        assert py.parse_number(bad) is None, bad
    assert py.last_number("so she pays $1,250.") == "1250"
    assert py.last_number("pages 3-4") == "4"
    assert py.last_number("no digits") is None
    assert py.gsm8k_answer("a\n#### 1,000") == "1000"


# ---- The TypeScript metrics, computed by src/data/metrics.ts in this run.

_RUNNER = """
const m = require(process.argv[1]);
const calls = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(calls.map(([fn, args]) => m[fn](...args))));
"""


@pytest.fixture(scope="module")
def typescript(tmp_path_factory):
    """Calls into src/data/metrics.ts: bundled by the repo's esbuild, run by node."""
    esbuild = os.path.join(ROOT, "node_modules", "esbuild", "bin", "esbuild")
    node = shutil.which("node")
    if not node or not os.path.exists(esbuild):
        pytest.skip("node and the repo's node_modules (npm ci) are needed to run the TypeScript metrics")
    bundle = str(tmp_path_factory.mktemp("ts") / "metrics.js")
    subprocess.run([esbuild, os.path.join(ROOT, "src", "data", "metrics.ts"), "--bundle", "--platform=node", "--format=cjs", f"--outfile={bundle}", "--log-level=warning"], check=True)

    def call(calls):
        done = subprocess.run([node, "-e", _RUNNER, bundle], input=json.dumps(calls), capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    return call


def test_typescript_metrics_equal_the_references_and_python(typescript):
    results = typescript([[name, args] for name, args, _, _, _ in CASES])
    for (name, args, fn, ref, tol), got in zip(CASES, results):
        _assert_close(got, ref, tol, f"TypeScript {name}")
        _assert_close(got, fn(args), 1e-15, f"TypeScript {name} vs Python")


def test_typescript_text_rules_equal_python(typescript):
    texts = [p for p, _ in SQUAD] + [g for _, gs in SQUAD for g in gs] + ["A\u2003b\x1fc\ufeffd", "İstanbul THE", "x_the the_x"]
    numbers = [" 3.8\n", "-1", ".5", "+2", "1.", "3.8 points", "1,000", "1e999", "NaN", "Infinity", "0x10", "٣", "\ufeff4\ufeff"]
    solutions = [p for p, _, _ in GSM8K] + [g for _, g, _ in GSM8K] + ["3-4-5", "-7", "a-8", "1,2,3", "9."]
    calls = [["normalizeAnswer", [t]] for t in texts] + [["parseNumber", [t]] for t in numbers] + [["lastNumber", [t]] for t in solutions]
    got = typescript(calls)
    want = [py.normalize_answer(t) for t in texts] + [py.parse_number(t) for t in numbers] + [py.last_number(t) for t in solutions]
    assert got == want


# ---- The PyTorch engine's evaluation: the same keys and main metric as the built-in engine.

def _split(labels, texts, groups=None, answers=None):
    n = len(texts)
    return Split([[1]] * n, [[1]] * n, labels, texts, groups if groups is not None else [-1] * n, answers)


def test_engine_reports_each_metric_under_evaluate_names():
    facts = Facts(model={}, seq2seq=False, pad_id=0, eos_id=None, stop_ids=[], decoder_start_id=None, max_positions=8,
                  label_tokens=[[5], [6]], positive_label=1)
    pred, gold, groups, _ = MULTIRC[0]
    split = _split(gold, [""] * len(gold), [int(g[1]) for g in groups])
    f1 = classification_metrics({"type": "classification", "metric": "f1"}, pred, split, facts)
    assert f1 == {"f1": _f1_reference(pred, gold, 1), "accuracy": accuracy_score(gold, pred)}
    mcc = classification_metrics({"type": "classification", "metric": "matthews_correlation"}, pred, split, facts)
    assert mcc["matthews_correlation"] == pytest.approx(matthews_corrcoef(gold, pred), abs=TOL)
    assert classification_metrics({"type": "classification", "metric": "multirc"}, pred, split, facts) == {
        "f1_a": _f1_reference(pred, gold, 1), "exact_match": _multirc_em_reference(pred, gold, groups)}
    assert set(classification_metrics({"type": "classification"}, pred, split, facts)) == {"accuracy", "macro_f1"}
    squad = generation_metrics({"type": "generation", "metric": "squad"}, [p for p, _ in SQUAD], _split([-1] * len(SQUAD), [g[0] for _, g in SQUAD], answers=[g for _, g in SQUAD]))
    _assert_close(squad, _squad_reference(SQUAD), 1e-6, "squad")
    texts, gold_scores, read = REGRESSION[1]
    sts = generation_metrics({"type": "generation", "metric": "pearson"}, texts, _split([-1] * 4, [str(g) for g in gold_scores]))
    assert sts["pearson"] == pytest.approx(pearsonr(read, gold_scores).statistic, abs=1e-12)
    # A decoder-only model writes the task's separator before each answer: a non-whitespace one is not scored.
    sep = {"type": "generation", "separator": " => "}
    assert generation_metrics(sep, [" => 42", "=> 7 ", " 42", " => 5"], _split([-1] * 4, ["42", "7", "42", "6"])) == {"exact_match": 0.75}
    assert generation_metrics({"type": "generation"}, [" => 42"], _split([-1], ["42"])) == {"exact_match": 0.0}
    keys = {("classification", None): "accuracy", ("classification", "f1"): "f1", ("classification", "matthews_correlation"): "matthews_correlation",
            ("classification", "multirc"): "f1_a", ("generation", None): "exact_match", ("generation", "squad"): "f1", ("generation", "gsm8k"): "exact_match",
            ("generation", "pearson"): "pearson", ("generation", "spearmanr"): "spearmanr", ("generation", "exact_match"): "exact_match"}
    for (kind, metric), key in keys.items():
        assert primary_metric({"type": kind, **({"metric": metric} if metric else {})}) == key
