"""Pretrain the example backbone: a tiny GPT-2 that performs a task when its cue is given (see corpus.py).

Run:      /usr/bin/python3 scripts/example_backbone/pretrain.py        (Debian python3-torch + numpy; ~11 min on an idle
          2 CPU threads, 18 min when shared; `--steps N` for a quick try, `--threads` to change torch's thread count)
Produces: examples/workspace/model/  config.json, model.safetensors (F16), tokenizer.json, tokenizer_config.json
          scripts/example_backbone/scores.json  every number below, the seeds, the settings and the wall time
The outputs are committed, so neither users nor CI need torch; the model card (examples/workspace/model/README.md)
and examples/workspace/TASKS.md quote scores.json and are edited by hand.

Steps
  1. Byte-level BPE (scripts/make_bpe_tokenizer.py) learned from cued documents of every task, vocab 512.
  2. Pretraining on an endless seeded stream of cued documents (corpus.pretraining_stream), whole documents packed
     into 128-token windows (unused tail padded and masked), so the model sees examples at every position — a soft
     prompt of n vectors shifts the downstream text by n positions. Loss on all real tokens, AdamW, linear warm-up
     then cosine decay, gradient clipping. CPU + fixed seeds + fixed step count => deterministic.
  3. Save F16, reload the saved folder, and evaluate THAT model on held-out inputs (never seen in pretraining):
     cued accuracy per task (classification: argmax of the task's label-word log-probs; generation: greedy exact
     match) and, for the downstream datasets (make_datasets.py), the accuracy WITHOUT the cue (the un-prompted
     baseline; label-word ranking restricted to the task's label words).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from typing import Dict, List

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import corpus  # noqa: E402
import make_datasets  # noqa: E402
from make_bpe_tokenizer import EOT, BPETokenizer, train_bpe, write_tokenizer  # noqa: E402
from torch_gpt2 import GPT2, GPT2Config, lm_loss, load_hf_folder, save_hf_folder  # noqa: E402

MODEL_DIR = os.path.join(ROOT, "examples", "workspace", "model")
SCORES = os.path.join(HERE, "scores.json")

SEEDS = {"tokenizer_corpus": 0, "init": 1234, "stream": 42, "eval": 777}
VOCAB_SIZE = 512
CONFIG = {"n_positions": 128, "n_embd": 128, "n_layer": 4, "n_head": 4, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
          "resid_pdrop": 0.0}
TRAIN = {"steps": 1600, "batch_windows": 16, "window": 128, "lr": 2e-3, "warmup": 100, "weight_decay": 0.01,
         "betas": [0.9, 0.98], "clip": 1.0, "dropout": 0.0}
EVAL_PER_TASK = 200


class CachedTokenizer(BPETokenizer):
    """Same ids as BPETokenizer (and tokenizers.js); memoizes the BPE of each pre-tokenized word."""

    def __init__(self, vocab, merges):
        super().__init__(vocab, merges)
        self._cache: Dict[str, List[str]] = {}

    def bpe(self, symbols: str) -> List[str]:
        out = self._cache.get(symbols)
        if out is None:
            out = self._cache[symbols] = super().bpe(symbols)
        return out


# ----------------------------------------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------------------------------------

def window_batches(tok: BPETokenizer, seed: int, batch: int, window: int):
    """Endless (input_ids, attention_mask) batches of whole documents packed into windows."""
    stream = corpus.pretraining_stream(seed)
    pending = None
    while True:
        ids = torch.zeros(batch, window, dtype=torch.long)
        mask = torch.zeros(batch, window, dtype=torch.long)
        for b in range(batch):
            pos = 0
            while True:
                doc = pending if pending is not None else tok.encode(next(stream))
                pending = None
                if pos + len(doc) > window:
                    pending = doc  # starts the next window
                    break
                ids[b, pos:pos + len(doc)] = torch.tensor(doc)
                mask[b, pos:pos + len(doc)] = 1
                pos += len(doc)
        yield ids, mask


def lr_at(step: int, t: dict) -> float:
    if step < t["warmup"]:
        return t["lr"] * (step + 1) / t["warmup"]
    progress = (step - t["warmup"]) / max(1, t["steps"] - t["warmup"])
    return t["lr"] * 0.5 * (1.0 + math.cos(math.pi * progress))


def pretrain(model: GPT2, tok: BPETokenizer, t: dict, log_every: int = 100) -> List[dict]:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=t["lr"], betas=tuple(t["betas"]))
    model.train()
    batches = window_batches(tok, SEEDS["stream"], t["batch_windows"], t["window"])
    log, running, start = [], 0.0, time.time()
    for step in range(t["steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, t)
        ids, mask = next(batches)
        loss = lm_loss(model(ids, attention_mask=mask), ids, mask)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["clip"])
        opt.step()
        running += loss.item()
        if (step + 1) % log_every == 0:
            entry = {"step": step + 1, "loss": round(running / log_every, 4), "seconds": round(time.time() - start, 1)}
            log.append(entry)
            print(f"  step {entry['step']:5d}  loss {entry['loss']:.4f}  {entry['seconds']:.0f}s", flush=True)
            running = 0.0
    model.eval()
    return log


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def next_logprobs(model: GPT2, seqs: List[List[int]]) -> List[torch.Tensor]:
    """Log-probs of the next token after each sequence (sequences of equal length are batched together)."""
    out: List[torch.Tensor] = [None] * len(seqs)  # type: ignore
    by_len = defaultdict(list)
    for i, s in enumerate(seqs):
        by_len[len(s)].append(i)
    for _, idx in sorted(by_len.items()):
        for k in range(0, len(idx), 256):
            chunk = idx[k:k + 256]
            logits = model(torch.tensor([seqs[i] for i in chunk]))[:, -1]
            lp = torch.log_softmax(logits.float(), dim=-1)
            for j, i in enumerate(chunk):
                out[i] = lp[j]
    return out


def label_ids(tok: BPETokenizer, labels: List[str]) -> List[int]:
    ids = []
    for lab in labels:
        enc = tok.encode(" " + lab)
        if len(enc) != 1:
            raise SystemExit(f"label word ' {lab}' is {len(enc)} tokens; the evaluation expects one")
        ids.append(enc[0])
    return ids


def classify(model, tok, prompts: List[str], labels: List[str]) -> List[str]:
    ids = label_ids(tok, labels)
    lps = next_logprobs(model, [tok.encode(p) for p in prompts])
    return [labels[int(torch.argmax(lp[ids]))] for lp in lps]


@torch.no_grad()
def generate(model, tok, prompts: List[str], max_new: int = corpus.MAX_LETTERS + 1) -> List[str]:
    """Greedy continuation up to <|endoftext|> (exclusive), decoded; the leading space is stripped."""
    eot = tok.vocab[EOT]
    seqs = [tok.encode(p) for p in prompts]
    done = [False] * len(seqs)
    gen: List[List[int]] = [[] for _ in seqs]
    for _ in range(max_new):
        todo = [i for i in range(len(seqs)) if not done[i]]
        if not todo:
            break
        lps = next_logprobs(model, [seqs[i] + gen[i] for i in todo])
        for i, lp in zip(todo, lps):
            nxt = int(torch.argmax(lp))
            if nxt == eot:
                done[i] = True
            else:
                gen[i].append(nxt)
    return [tok.decode(g).strip() for g in gen]


def run_task(model, tok, task: str, examples: List[dict], cued: bool) -> List[str]:
    prompts = [corpus.prompt_text(ex, cue=cued) for ex in examples]
    if corpus.TASKS[task]["kind"] == "classification":
        return classify(model, tok, prompts, corpus.TASKS[task]["labels"])
    return generate(model, tok, prompts)


def accuracy(preds: List[str], golds: List[str]) -> float:
    return round(sum(p == g for p, g in zip(preds, golds)) / len(golds), 4)


def evaluate(model: GPT2, tok: BPETokenizer) -> dict:
    rng = random.Random(SEEDS["eval"])
    res: dict = {"cued": {}, "cued_by_phrasing": {}, "downstream": {}}
    for task, spec in corpus.TASKS.items():
        exs = [corpus.make_example(task, rng, held_out=True) for _ in range(EVAL_PER_TASK)]
        res["cued_by_phrasing"][task] = {}
        for cue in spec["cues"]:
            exs_c = [dict(e, cue=cue) for e in exs]
            res["cued_by_phrasing"][task][cue] = accuracy(run_task(model, tok, task, exs_c, True),
                                                          [e["output"] for e in exs_c])
        res["cued"][task] = round(sum(res["cued_by_phrasing"][task].values()) / len(spec["cues"]), 4)
    for task, name in corpus.DOWNSTREAM.items():
        spec = corpus.TASKS[task]
        key = "label" if spec["kind"] == "classification" else "target"
        rows = make_datasets.build(task)["validation"]
        exs = [{"task": task, "cue": None, "input": r["input"], "output": r[key]} for r in rows]
        golds = [e["output"] for e in exs]
        uncued = run_task(model, tok, task, exs, cued=False)
        entry = {"dataset": f"{name}-validation.jsonl", "n": len(rows), "uncued": accuracy(uncued, golds),
                 "cued_by_phrasing": {}}
        for cue in spec["cues"]:
            exs_c = [dict(e, cue=cue) for e in exs]
            entry["cued_by_phrasing"][cue] = accuracy(run_task(model, tok, task, exs_c, True), golds)
        entry["cued_mean"] = round(sum(entry["cued_by_phrasing"].values()) / len(spec["cues"]), 4)
        if spec["kind"] == "classification":
            entry["chance"] = round(1 / len(spec["labels"]), 4)
            entry["uncued_prediction_counts"] = dict(Counter(uncued))
        else:
            # Which pretraining task the un-cued continuation carries out (an output may match several).
            match = Counter()
            for ex, p in zip(exs, uncued):
                hits = [t for t, s in corpus.TASKS.items() if s["domain"] == spec["domain"]
                        and corpus.answer(t, ex["input"], {}) == p]
                match["+".join(hits) if hits else "none"] += 1
            entry["uncued_output_matches_task"] = dict(match.most_common())
            entry["uncued_examples"] = [{"input": e["input"], "output": p} for e, p in zip(exs[:5], uncued[:5])]
        res["downstream"][name] = entry
    return res


# ----------------------------------------------------------------------------------------------------------------
# tokenizers.js cross-check (skipped without node / node_modules)
# ----------------------------------------------------------------------------------------------------------------

JS_ENCODE = """
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
const { folder, texts } = JSON.parse(readFileSync(0, 'utf8'));
const read = (f) => JSON.parse(readFileSync(folder + '/' + f, 'utf8'));
const tok = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
process.stdout.write(JSON.stringify(texts.map((t) => tok.encode(t, { add_special_tokens: false }).ids)));
"""


def check_tokenizer_js(tok: BPETokenizer, folder: str, texts: List[str]) -> str:
    if not shutil.which("node") or not os.path.isdir(os.path.join(ROOT, "node_modules", "@huggingface")):
        return "skipped (no node or node_modules)"
    res = subprocess.run(["node", "--input-type=module", "-e", JS_ENCODE], cwd=ROOT, text=True,
                         input=json.dumps({"folder": os.path.abspath(folder), "texts": texts}), capture_output=True)
    if res.returncode != 0:
        return "failed to run: " + res.stderr[-300:]
    js = json.loads(res.stdout)
    bad = [t for t, ids in zip(texts, js) if ids != tok.encode(t)]
    if bad:
        raise SystemExit(f"tokenizers.js disagrees with python on {len(bad)} texts, e.g. {bad[0]!r}")
    return f"agrees on {len(texts)} texts"


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=TRAIN["steps"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=MODEL_DIR)
    ap.add_argument("--scores", default=SCORES)
    args = ap.parse_args()
    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    train = dict(TRAIN, steps=args.steps)

    vocab, merges = train_bpe(corpus.tokenizer_corpus(SEEDS["tokenizer_corpus"]), VOCAB_SIZE)
    tok = CachedTokenizer(vocab, merges)
    write_tokenizer(args.out, vocab, merges, CONFIG["n_positions"])
    print(f"tokenizer: vocab {len(vocab)}, {len(merges)} merges")

    cfg = GPT2Config.from_dict({"model_type": "gpt2", "vocab_size": len(vocab), "bos_token_id": vocab[EOT],
                                "eos_token_id": vocab[EOT], **CONFIG})
    torch.manual_seed(SEEDS["init"])
    model = GPT2(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters; pretraining {train['steps']} steps x {train['batch_windows']} windows "
          f"of {train['window']} tokens")
    t1 = time.time()
    log = pretrain(model, tok, train)
    train_seconds = time.time() - t1

    save_hf_folder(model, cfg, args.out, dtype="F16")
    shipped, _ = load_hf_folder(args.out)  # evaluate what is shipped: F16 weights, upcast
    shipped.eval()
    tok = CachedTokenizer(*_reload_tokenizer(args.out))
    t2 = time.time()
    scores = evaluate(shipped, tok)
    eval_seconds = time.time() - t2

    rng = random.Random(5)
    samples = [corpus.document(corpus.make_example(t, rng)) for t in corpus.TASKS for _ in range(5)]
    samples += [corpus.TEMPLATE.format(input=r["input"]) + " " + r.get("label", r.get("target", ""))
                for task in corpus.DOWNSTREAM for r in make_datasets.build(task)["validation"][:10]]
    js = check_tokenizer_js(tok, args.out, samples)

    files = {f: os.path.getsize(os.path.join(args.out, f)) for f in sorted(os.listdir(args.out))}
    report = {
        "model": {"config": CONFIG, "vocab_size": len(vocab), "parameters": n_params, "dtype": "F16",
                  "files_bytes": files},
        "seeds": SEEDS, "train": train, "eval_examples_per_task": EVAL_PER_TASK,
        "loss_log": log, "final_loss": log[-1]["loss"] if log else None,
        "tokenizers_js_check": js,
        "torch": torch.__version__, "threads": args.threads,
        "wall_seconds": {"pretraining": round(train_seconds, 1), "evaluation": round(eval_seconds, 1),
                         "total": round(time.time() - t0, 1)},
        **scores,
    }
    with open(args.scores, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(json.dumps({k: report[k] for k in ("cued", "downstream", "wall_seconds")}, indent=2))


def _reload_tokenizer(folder: str):
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        t = BPETokenizer.from_json(json.load(f))
    merges = sorted(t.ranks, key=t.ranks.get)
    return t.vocab, merges


if __name__ == "__main__":
    main()
