"""Reads the prepared job (prepared.safetensors) that src/engine/prepare.ts writes into the run folder: the token
ids of every example, the label words, the resolved config and the model facts. Data reading, templates, special
tokens and tokenizing happen once, on the TypeScript side; this engine trains from their result."""
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..io.safetensors_file import read_document

PREPARED_FILE = "prepared.safetensors"
PREPARED_VERSION = 2  # 2: the metric's facts (group ids, gold answer lists, the positive label)


class PreparedError(Exception):
    pass


@dataclass
class Split:
    inputs: List[List[int]]
    targets: List[List[int]]
    labels: List[int]  # -1: none (generation)
    target_texts: List[str]
    groups: List[int] = field(default_factory=list)  # metric multirc: each example's question (-1: none)
    answers: Optional[List[List[str]]] = None  # metric squad: every gold answer of each example

    def __len__(self) -> int:
        return len(self.inputs)

    def pairs(self) -> List[Tuple[List[int], List[int]]]:
        return list(zip(self.inputs, self.targets))


@dataclass
class Facts:
    """What the loop needs of the model besides its weights (src/models/types.ts ModelInfo and the tokenizer's ids)."""

    model: dict
    seq2seq: bool
    pad_id: int
    eos_id: Optional[int]
    stop_ids: List[int]
    decoder_start_id: Optional[int]
    max_positions: int
    label_tokens: Optional[List[List[int]]]
    decoder: Optional[object] = field(default=None, repr=False)
    positive_label: Optional[int] = None  # metrics f1 and multirc: the positive class's index

    def decode(self, ids: List[int]) -> str:
        return self.decoder(ids) if self.decoder else ""


@dataclass
class Prepared:
    config: dict
    facts: Facts
    labels: Optional[dict]
    warnings: List[str]
    model_warnings: List[str]
    train: Split
    validation: Split
    force: bool = False  # the CLI's --force: `out` may replace a file that is not an adapter
    inputs: Optional[dict] = None  # what the run trains with (src/train/inputs.ts), recorded in checkpoints


def _ragged(tensors, prefix: str, what: str, source: str) -> List[List[int]]:
    ids, offsets = tensors.get(f"{prefix}.ids"), tensors.get(f"{prefix}.offsets")
    if ids is None or offsets is None:
        raise PreparedError(f"{source} has no {prefix}.ids/{prefix}.offsets ({what}); prepare the job again.")
    o = offsets.tolist()
    flat = ids.tolist()
    if not o or o[0] != 0 or o[-1] != len(flat) or any(b < a for a, b in zip(o, o[1:])):
        raise PreparedError(f"{source}: {prefix}.offsets do not cut {prefix}.ids ({len(flat)} ids) into {what}.")
    return [flat[a:b] for a, b in zip(o, o[1:])]


def _split(tensors, name: str, texts: List[str], source: str, answers: Optional[List[List[str]]] = None) -> Split:
    inputs = _ragged(tensors, f"{name}.inputs", f"the {name} inputs", source)
    targets = _ragged(tensors, f"{name}.targets", f"the {name} targets", source)
    labels = tensors[f"{name}.labels"].tolist() if f"{name}.labels" in tensors else []
    groups = tensors[f"{name}.groups"].tolist() if f"{name}.groups" in tensors else [-1] * len(inputs)
    if not (len(inputs) == len(targets) == len(labels) == len(texts) == len(groups)):
        raise PreparedError(f"{source}: the {name} split has {len(inputs)} inputs, {len(targets)} targets, {len(labels)} labels, {len(groups)} groups and {len(texts)} texts; they must pair up.")
    if answers is not None and len(answers) != len(inputs):
        raise PreparedError(f"{source}: the {name} split has {len(inputs)} examples but {len(answers)} gold answer lists.")
    return Split(inputs, targets, labels, texts, groups, answers)


def _decoder(model_dir: str):
    """Text of generated ids as the built-in engine decodes it: special tokens and ids the tokenizer lacks left out."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    size = tok.get_vocab_size(with_added_tokens=True)

    def decode(ids: List[int]) -> str:
        kept = [i for i in ids if 0 <= i < size and tok.id_to_token(i) is not None]
        return tok.decode(kept, skip_special_tokens=True) if kept else ""

    return decode


def read_prepared(path: str, with_decoder: bool = True, model_dir: Optional[str] = None) -> Prepared:
    """The prepared job; `model_dir` replaces the folder it was prepared with (the same model, elsewhere: a cluster)."""
    if not os.path.exists(path):
        raise PreparedError(f"There is no prepared job at {path}: `ulpt train --engine torch` writes it before starting this engine.")
    tensors, doc = read_document(path, "ulpt-prepared", "a prepared ULPT job", PreparedError)
    if doc.get("version") != PREPARED_VERSION:
        raise PreparedError(f"{path} is prepared-job version {doc.get('version')!r}; this engine reads version {PREPARED_VERSION}. Prepare it again with the same ULPT Studio.")
    model, tokens = doc["model"], doc["tokens"]
    if model_dir:
        model["dir"] = os.path.abspath(model_dir)
    label_tokens = _ragged(tensors, "labelWords", "the label words", path) if doc.get("labels") else None
    facts = Facts(model=model, seq2seq=model["kind"] == "encoder-decoder", pad_id=tokens["pad"], eos_id=tokens.get("eos"),
                  stop_ids=tokens["stop"], decoder_start_id=tokens.get("decoderStart"), max_positions=model["maxPositions"],
                  label_tokens=label_tokens, positive_label=doc.get("positiveLabel"))
    if with_decoder and doc["config"]["task"]["type"] == "generation":
        facts.decoder = _decoder(model["dir"])
    texts = doc["targetTexts"]
    return Prepared(doc["config"], facts, doc.get("labels"), doc.get("warnings", []), doc.get("modelWarnings", []),
                    _split(tensors, "train", texts["train"], path), _split(tensors, "validation", texts["validation"], path, doc.get("validationAnswers")),
                    bool(doc.get("force")), doc.get("inputs"))
