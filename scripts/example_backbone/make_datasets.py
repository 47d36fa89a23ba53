"""Write the downstream datasets of the example workspace: the pretraining tasks with the cue ABSENT.

Run:      /usr/bin/python3 scripts/example_backbone/make_datasets.py      (standard library only, a second)
Produces: examples/workspace/data/{sentiment,reverse}-{train,validation}.jsonl
            classification lines: {"input": "the pizza was really good", "label": "positive"}
            generation lines:     {"input": "c a t", "target": "t a c"}
The outputs are committed, so neither users nor CI need to run this (or have torch). pretrain.py imports
`build` to measure the un-prompted baseline on exactly these validation sets.

Inputs come only from the held-out side of corpus.py's hash split (never seen in pretraining), are sampled with
their own seeds, are unique within a file, and validation shares no input with train. Classification files are
label-balanced (and shuffled). Templates, label words and baselines: examples/workspace/TASKS.md.
"""

from __future__ import annotations

import json
import os
import random
import sys
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "examples", "workspace", "data")
SIZES = {"train": 256, "validation": 128}
SEEDS = {"train": 1001, "validation": 1002}


def build(task: str) -> Dict[str, List[dict]]:
    """{'train': [...], 'validation': [...]} rows for a downstream task (deterministic)."""
    spec = corpus.TASKS[task]
    seen = set()
    out: Dict[str, List[dict]] = {}
    for split in ("train", "validation"):
        rng = random.Random(SEEDS[split] + 7919 * list(corpus.TASKS).index(task))
        n = SIZES[split]
        labels = spec.get("labels")
        quota = {lab: n // len(labels) for lab in labels} if labels else None
        rows: List[dict] = []
        while len(rows) < n:
            ex = corpus.make_example(task, rng, held_out=True)
            if ex["input"] in seen:
                continue
            if quota is not None:
                if quota[ex["output"]] == 0:
                    continue
                quota[ex["output"]] -= 1
                rows.append({"input": ex["input"], "label": ex["output"]})
            else:
                rows.append({"input": ex["input"], "target": ex["output"]})
            seen.add(ex["input"])
        rng.shuffle(rows)  # the label quota fills one label first; do not leave the file sorted by label
        out[split] = rows
    return out


def main() -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    for task, name in corpus.DOWNSTREAM.items():
        for split, rows in build(task).items():
            path = os.path.join(OUT_DIR, f"{name}-{split}.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r) + "\n")
            print(f"{os.path.relpath(path, ROOT)}: {len(rows)} rows")


if __name__ == "__main__":
    main()
