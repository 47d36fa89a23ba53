"""Task definitions and example generator for the example backbone: the single source of truth for formats and cues.

What this is
  A synthetic multi-task corpus. Every pretraining document is one example of one task, written as

      {cue}\\ninput: {input} output: {output}<|endoftext|>

  where `cue` is one of 2-3 phrasings of the task. The downstream datasets (make_datasets.py) are the same tasks
  with the cue line REMOVED: the engine fills the template `input: {input} output:` and appends the target
  (` {label}` for classification, ` {target}` + <|endoftext|> for generation) right after it, which is token for
  token the pretraining text after the cue's newline. A trained soft prompt sits where the cue was.

  Tasks share their inputs and label words, so without a cue the answer is ambiguous:
    review sentences (classification)  sentiment           -> positive / negative
                                        opposite_sentiment  -> negative / positive   (same label words, flipped)
                                        topic               -> sports / food / tech
    letter strings (generation)         reverse, copy, sort, first_repeated
  Letter strings are 3-6 lowercase letters written with spaces ("c a t"), so each letter is one token.

  Inputs are split by a CRC32 hash of the input text: hash % 5 == 0 is HELD OUT (only the downstream datasets and
  the evaluation use it; pretraining never sees those inputs).

Used by pretrain.py (corpus, tokenizer, evaluation) and make_datasets.py (downstream JSONL). Only the standard
library is needed here. Nothing to run directly: `/usr/bin/python3 scripts/example_backbone/corpus.py` prints a few
examples of every task.
"""

from __future__ import annotations

import random
import zlib
from typing import Dict, List, Optional, Tuple

EOT = "<|endoftext|>"

# The downstream template (what TASKS.md documents and the engine fills) and the pretraining document format.
TEMPLATE = "input: {input} output:"
DOC_FORMAT = "{cue}\n" + TEMPLATE + " {output}" + EOT

# ---------------------------------------------------------------------------------------------------------------
# Review sentences
# ---------------------------------------------------------------------------------------------------------------

TOPIC_NOUNS: Dict[str, List[str]] = {
    "sports": ["game", "match", "team", "coach", "race", "stadium", "player", "season"],
    "food": ["pizza", "soup", "pasta", "cake", "salad", "burger", "coffee", "bread"],
    "tech": ["phone", "laptop", "app", "camera", "tablet", "screen", "keyboard", "printer"],
}
SENTIMENT_ADJS: Dict[str, List[str]] = {
    "positive": ["great", "good", "lovely", "amazing", "excellent", "nice", "superb", "wonderful", "fantastic",
                 "perfect"],
    "negative": ["bad", "awful", "terrible", "poor", "boring", "horrible", "dull", "weak", "broken", "ugly"],
}
INTENSIFIERS = ["", "really ", "very ", "quite ", "so ", "truly "]
SENTENCE_TEMPLATES = [
    "the {noun} was {int}{adj}",
    "i thought the {noun} was {int}{adj}",
    "what a {int}{adj} {noun}",
    "this {noun} is {int}{adj}",
    "my {noun} felt {int}{adj}",
    "honestly the {noun} is {int}{adj}",
    "a {int}{adj} {noun} overall",
    "we found the {noun} {int}{adj}",
]

# ---------------------------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------------------------

TASKS: Dict[str, dict] = {
    # classification on review sentences
    "sentiment": {"kind": "classification", "domain": "review", "labels": ["positive", "negative"],
                  "cues": ["sentiment of the review", "is it positive or negative", "classify the mood"]},
    "opposite_sentiment": {"kind": "classification", "domain": "review", "labels": ["positive", "negative"],
                           "cues": ["opposite sentiment of the review", "flip the mood", "say the inverse mood"]},
    "topic": {"kind": "classification", "domain": "review", "labels": ["sports", "food", "tech"],
              "cues": ["topic of the review", "what is it about", "classify the subject"]},
    # generation on letter strings
    "reverse": {"kind": "generation", "domain": "letters",
                "cues": ["reverse the letters", "write it backwards", "letters in reverse order"]},
    "copy": {"kind": "generation", "domain": "letters",
             "cues": ["copy the letters", "repeat it exactly", "write the same letters"]},
    "sort": {"kind": "generation", "domain": "letters",
             "cues": ["sort the letters", "letters in alphabetical order", "write them sorted"]},
    "first_repeated": {"kind": "generation", "domain": "letters",
                       "cues": ["repeat the first letter", "first letter for every letter", "write the first one each time"]},
}

# The downstream tasks (make_datasets.py) and their dataset names.
DOWNSTREAM = {"sentiment": "sentiment", "reverse": "reverse"}

LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_LETTERS, MAX_LETTERS = 3, 6


def is_held_out(text: str) -> bool:
    """Inputs reserved for downstream data and evaluation (about 20%), never used in pretraining."""
    return zlib.crc32(text.encode("utf-8")) % 5 == 0


def _review(rng: random.Random) -> Tuple[str, str, str]:
    """(sentence, sentiment, topic)"""
    topic = rng.choice(sorted(TOPIC_NOUNS))
    sentiment = rng.choice(["positive", "negative"])
    text = rng.choice(SENTENCE_TEMPLATES).format(noun=rng.choice(TOPIC_NOUNS[topic]), int=rng.choice(INTENSIFIERS),
                                                 adj=rng.choice(SENTIMENT_ADJS[sentiment]))
    return text, sentiment, topic


def _letters(rng: random.Random) -> str:
    n = rng.randint(MIN_LETTERS, MAX_LETTERS)
    return " ".join(rng.choice(LETTERS) for _ in range(n))


def sample_input(domain: str, rng: random.Random, held_out: bool) -> Tuple[str, dict]:
    """An input of the domain from the requested side of the hash split, with what the answers need."""
    while True:
        if domain == "review":
            text, sentiment, topic = _review(rng)
            info = {"sentiment": sentiment, "topic": topic}
        else:
            text, info = _letters(rng), {}
        if is_held_out(text) == held_out:
            return text, info


def answer(task: str, text: str, info: dict) -> str:
    """The output of `task` for an input (label word, or spaced letters)."""
    if task == "sentiment":
        return info["sentiment"]
    if task == "opposite_sentiment":
        return "negative" if info["sentiment"] == "positive" else "positive"
    if task == "topic":
        return info["topic"]
    letters = text.split(" ")
    if task == "reverse":
        out = letters[::-1]
    elif task == "copy":
        out = letters
    elif task == "sort":
        out = sorted(letters)
    elif task == "first_repeated":
        out = [letters[0]] * len(letters)
    else:
        raise KeyError(task)
    return " ".join(out)


def make_example(task: str, rng: random.Random, held_out: bool = False) -> dict:
    """{'task', 'cue', 'input', 'output'}; the cue is one of the task's phrasings, chosen at random."""
    text, info = sample_input(TASKS[task]["domain"], rng, held_out)
    return {"task": task, "cue": rng.choice(TASKS[task]["cues"]), "input": text, "output": answer(task, text, info)}


def document(ex: dict) -> str:
    """Pretraining text of an example: cue line, filled template, answer, <|endoftext|> (for every task kind)."""
    return DOC_FORMAT.format(cue=ex["cue"], input=ex["input"], output=ex["output"])


def prompt_text(ex: dict, cue: bool = True) -> str:
    """What the model is conditioned on before the answer (the answer follows with a leading space)."""
    head = TEMPLATE.format(input=ex["input"])
    return ex["cue"] + "\n" + head if cue else head


def pretraining_stream(seed: int):
    """Endless pretraining documents (cued, non-held-out inputs), tasks uniformly at random."""
    rng = random.Random(seed)
    names = list(TASKS)
    while True:
        yield document(make_example(rng.choice(names), rng, held_out=False))


def tokenizer_corpus(seed: int, n_per_task: int = 300) -> str:
    """Text the BPE merges are learned from: every task, every cue phrasing, cued pretraining documents."""
    rng = random.Random(seed)
    docs = []
    for task, spec in TASKS.items():
        for _ in range(n_per_task):
            docs.append(document(make_example(task, rng)))
    return "".join(docs)


if __name__ == "__main__":
    r = random.Random(0)
    for t in TASKS:
        for _ in range(2):
            print(repr(document(make_example(t, r))))
