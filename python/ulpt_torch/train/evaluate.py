"""Mirrors src/train/evaluate.ts: teacher-forced loss, plus the task's metrics (data/metrics.py) of the labels
chosen by ranking the label words (classification) or of greedy continuations (generation)."""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

from ..data.metrics import (accuracy, binary_f1, exact_match, gsm8k_exact_match, macro_f1, matthews_correlation, multirc_scores,
                            parse_number, regression_scores, squad_scores)
from ..models.loader import LoadedModel
from .batch import collate_for
from .objective import logits_at_targets, prompted_inputs, target_log_probs


@dataclass
class EvalResult:
    loss: float
    metrics: Dict[str, float]


def _chunks(items, size):
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class Lockstep:
    """A sharded model's processes must run the same forwards in the same order (each gathers every block's
    weights from all of them): a process with fewer batches of its share runs `filler` batches whose results are
    dropped, and greedy decoding goes on while any process has a row still generating."""

    world: object
    device: object
    pair: tuple  # an example (input ids, target ids) of the set, for filler batches

    def batches(self, items, size, filler):
        """(batch, real) pairs, as many on every process."""
        from .parallel import most

        own = _chunks(items, size)
        return [(b, True) for b in own] + [([filler], False)] * (most(self.world, [len(own)], self.device)[0] - len(own))

    def go_on(self, mine: bool, fits: bool) -> bool:
        """Another step while any process has a row generating and every process's rows still fit its context."""
        from .parallel import most

        generating, overflowing = most(self.world, [int(mine), int(not fits)], self.device)
        return bool(generating) and not overflowing


def _batches(items, size, lockstep: Optional[Lockstep], pairs: bool = False):
    """Batches of pairs (pairs=True) or of inputs, each marked real or filler."""
    if not lockstep:
        return [(b, True) for b in _chunks(items, size)]
    return lockstep.batches(items, size, lockstep.pair if pairs else lockstep.pair[0])


def primary_metric(task: dict) -> str:
    """The metric that picks the best adapter and drives early stopping: the task metric's main key (src/train/evaluate.ts)."""
    metric = task_metric(task)
    return {"squad": "f1", "multirc": "f1_a", "gsm8k": "exact_match"}.get(metric, metric)


@dataclass
class EvalShare:
    """What one process computed of an evaluation: its examples' summed NLL and target tokens, and its predictions
    (label indices, or generated token ids) in example order."""

    nll: float
    tokens: int
    predictions: List


@torch.no_grad()
def teacher_forced_nll(lm, facts, prompt, examples, batch_size, device, lockstep: Optional[Lockstep] = None):
    """Summed NLL of the target tokens over the set, and how many there are."""
    total, count = 0.0, 0
    for part, real in _batches(examples, batch_size, lockstep, pairs=True):
        batch = collate_for(facts, part, 0 if prompt is None else prompt.shape[0]).to(device)
        value = float(-target_log_probs(lm, prompt, batch).sum())
        if real:
            total += value
            count += batch.targets.numel()
    return total, count


@torch.no_grad()
def classify(lm, facts, prompt, inputs: List[List[int]], label_tokens: List[List[int]], batch_size, device,
             lockstep: Optional[Lockstep] = None) -> List[int]:
    """Argmax over the labels; one pass per batch when every label word is one distinct token."""
    n = 0 if prompt is None else prompt.shape[0]
    single = all(len(t) == 1 for t in label_tokens) and len({t[0] for t in label_tokens}) == len(label_tokens)
    if single:
        cols = torch.tensor([t[0] for t in label_tokens], device=device)
        preds = []
        for part, real in _batches(inputs, batch_size, lockstep):
            batch = collate_for(facts, [(i, [label_tokens[0][0]]) for i in part], n).to(device)
            logp = torch.log_softmax(logits_at_targets(lm, prompt, batch), dim=-1)
            if real:
                preds.extend(int(x) for x in logp[:, cols].argmax(dim=1))
        return preds
    preds = []
    for score in label_log_probs(lm, facts, prompt, inputs, label_tokens, batch_size, device, lockstep):
        best = 0
        for label in range(1, len(score)):
            if score[label] > score[best]:
                best = label
        preds.append(best)
    return preds


@torch.no_grad()
def label_log_probs(lm, facts, prompt, inputs, label_tokens, batch_size, device, lockstep: Optional[Lockstep] = None) -> List[List[float]]:
    """Summed log-probability of each label's tokens after each input: [inputs][labels]."""
    n = 0 if prompt is None else prompt.shape[0]
    labels = len(label_tokens)
    out = []
    for part, real in _batches(inputs, max(1, batch_size // labels), lockstep):
        pairs = [(i, t) for i in part for t in label_tokens]
        batch = collate_for(facts, pairs, n).to(device)
        values = target_log_probs(lm, prompt, batch).double().cpu()
        score = torch.zeros(len(pairs), dtype=torch.float64).index_add_(0, batch.owner.cpu(), values)
        if real:
            out.extend(score[e * labels : (e + 1) * labels].tolist() for e in range(len(part)))
    return out


def _greedy(rows: int, stops: List[int], max_new: int, more: Callable, first: Callable, step: Callable,
            lockstep: Optional[Lockstep] = None) -> List[List[int]]:
    """Tokens per row until every row stopped or `more` says no; a stopped row keeps being fed its stop token."""
    produced = [[] for _ in range(rows)]
    done = [False] * rows
    last = [0] * rows
    for k in range(max_new):
        go_on = lockstep.go_on(not all(done), more(produced)) if lockstep else not all(done) and more(produced)
        if not go_on:
            break
        fed = [last[i] if done[i] else produced[i][-1] if produced[i] else last[i] for i in range(rows)]
        logits = first() if k == 0 else step(fed, done)
        ids = logits.argmax(dim=1).tolist()
        last = ids
        for i, token in enumerate(ids):
            if done[i]:
                continue
            if token in stops:
                done[i] = True
            else:
                produced[i].append(token)
    return produced


@torch.no_grad()
def generate_decoder(lm: LoadedModel, facts, prompt, part: List[List[int]], max_new: int, device, lockstep: Optional[Lockstep] = None) -> List[List[int]]:
    """Greedy, left-padded, with a key/value cache; positions are counted from the mask so each row computes what it would alone."""
    n = 0 if prompt is None else prompt.shape[0]
    max_total = facts.max_positions - n
    rows, width = len(part), max(1, max(len(s) for s in part))
    state = {}

    def fits(produced):
        return max(len(s) + len(p) for s, p in zip(part, produced)) + 1 <= max_total

    def run(embeds, mask):
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, -embeds.shape[1] :]
        out = lm.model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, past_key_values=state.get("cache"), use_cache=True)
        state["cache"] = out.past_key_values
        return out.logits[:, -1].float()  # [B, V]

    def first():
        ids = torch.full((rows, width), facts.pad_id, dtype=torch.long)
        mask = torch.zeros(rows, width, dtype=torch.long)
        for b, s in enumerate(part):
            if s:
                ids[b, width - len(s) :] = torch.tensor(s)  # left padding
                mask[b, width - len(s) :] = 1
        embeds, state["mask"] = prompted_inputs(lm, prompt, ids.to(device), mask.to(device))
        return run(embeds, state["mask"])

    def step(fed, done):
        # A stopped row's new column is padding: its positions stop growing.
        column = torch.tensor([[0 if d else 1] for d in done], dtype=torch.long, device=device)
        state["mask"] = torch.cat([state["mask"], column], dim=1)
        embeds = lm.embeddings(torch.tensor(fed, dtype=torch.long, device=device).unsqueeze(1))  # [B, 1, d]
        return run(embeds, state["mask"])

    return _greedy(rows, facts.stop_ids, max_new, fits, first, step, lockstep)


@torch.no_grad()
def generate_seq2seq(lm: LoadedModel, facts, prompt, part: List[List[int]], max_new: int, device, lockstep: Optional[Lockstep] = None) -> List[List[int]]:
    """Greedy decoding: the encoder runs once, the decoder reruns its (short) sequence each step."""
    rows, width = len(part), max(1, max(len(s) for s in part))
    ids = torch.full((rows, width), facts.pad_id, dtype=torch.long)
    mask = torch.zeros(rows, width, dtype=torch.long)
    for b, s in enumerate(part):
        if s:
            ids[b, : len(s)] = torch.tensor(s)
            mask[b, : len(s)] = 1
    inputs, enc_mask = prompted_inputs(lm, prompt, ids.to(device), mask.to(device))
    encoded = lm.model.get_encoder()(inputs_embeds=inputs, attention_mask=enc_mask)
    decoded = torch.full((rows, 1), facts.decoder_start_id, dtype=torch.long, device=device)

    def decode():
        out = lm.model(encoder_outputs=encoded, attention_mask=enc_mask, decoder_input_ids=decoded, use_cache=False)
        return out.logits[:, -1].float()

    def step(fed, done):
        nonlocal decoded
        decoded = torch.cat([decoded, torch.tensor(fed, dtype=torch.long, device=device).unsqueeze(1)], dim=1)
        return decode()

    return _greedy(rows, facts.stop_ids, max_new, lambda _: True, decode, step, lockstep)


def generate(lm, facts, prompt, inputs, max_new, batch_size, device, lockstep: Optional[Lockstep] = None) -> List[List[int]]:
    run = generate_seq2seq if facts.seq2seq else generate_decoder
    out = []
    for part, real in _batches(inputs, batch_size, lockstep):
        produced = run(lm, facts, prompt, part, max_new, device, lockstep)
        if real:
            out.extend(produced)
    return out


def max_new_tokens(split) -> int:
    """Greedy decoding's budget for a set: its longest target and two more (src/train/evaluate.ts)."""
    return max([1] + [len(t) for t in split.targets]) + 2


def evaluate_share(lm, facts, prompt: Optional[torch.Tensor], examples, task_type: str, batch_size: int, device, max_new: int,
                   lockstep: Optional[Lockstep] = None) -> EvalShare:
    """Loss terms and predictions for some of the examples (all of them, or one rank's consecutive share)."""
    nll, tokens = teacher_forced_nll(lm, facts, prompt, examples, batch_size, device, lockstep)
    inputs = [i for i, _ in examples]
    if not inputs and not lockstep:
        return EvalShare(nll, tokens, [])
    if task_type == "classification":
        return EvalShare(nll, tokens, classify(lm, facts, prompt, inputs, facts.label_tokens, batch_size, device, lockstep))
    return EvalShare(nll, tokens, generate(lm, facts, prompt, inputs, max_new, batch_size, device, lockstep))


def task_metric(task: dict) -> str:
    """The task's metric: the one it names, else accuracy (classification) or exact_match (src/config.ts taskMetric)."""
    return task.get("metric") or ("accuracy" if task["type"] == "classification" else "exact_match")


def classification_metrics(task: dict, preds: List[int], split, facts) -> Dict[str, float]:
    """The metrics of chosen label indices, as the task's metric reports them (src/train/evaluate.ts)."""
    gold, metric = split.labels, task_metric(task)
    if metric == "f1":
        return {"f1": binary_f1(preds, gold, facts.positive_label), "accuracy": accuracy(preds, gold)}
    if metric == "matthews_correlation":
        return {"matthews_correlation": matthews_correlation(preds, gold), "accuracy": accuracy(preds, gold)}
    if metric == "multirc":
        return multirc_scores(preds, gold, split.groups, facts.positive_label)
    return {"accuracy": accuracy(preds, gold), "macro_f1": macro_f1(preds, gold, len(facts.label_tokens))}


def scored_text(task: dict, text: str) -> str:
    """A generated text without the task's own separator (src/train/evaluate.ts scoredText)."""
    separator = (task.get("separator") or "").strip()
    trimmed = text.strip()
    return trimmed[len(separator) :].strip() if separator and trimmed.startswith(separator) else text


def generation_metrics(task: dict, generated: List[str], split) -> Dict[str, float]:
    """The metrics of generated texts, as the task's metric reports them (src/train/evaluate.ts)."""
    metric = task_metric(task)
    texts = [scored_text(task, t) for t in generated]
    if metric in ("pearson", "spearmanr"):
        return regression_scores(texts, [parse_number(t) for t in split.target_texts])
    if metric == "squad":
        return squad_scores(texts, split.answers)
    if metric == "gsm8k":
        return {"exact_match": gsm8k_exact_match(texts, split.target_texts)}
    return {"exact_match": exact_match(texts, split.target_texts)}


def finish(shares: List[EvalShare], split, task: dict, facts) -> EvalResult:
    """The set's mean NLL per target token and its metrics, from every share in example order."""
    loss = sum(x.nll for x in shares) / max(1, sum(x.tokens for x in shares))
    preds = [p for x in shares for p in x.predictions]
    if task["type"] == "classification":
        return EvalResult(loss, classification_metrics(task, preds, split, facts))
    return EvalResult(loss, generation_metrics(task, [facts.decode(ids) for ids in preds], split))


def evaluate(lm, facts, prompt: Optional[torch.Tensor], split, task: dict, batch_size: int, device) -> EvalResult:
    """The validation set's loss and the task's metrics, as src/train/evaluate.ts computes them, in one process."""
    share = evaluate_share(lm, facts, prompt, split.pairs(), task["type"], batch_size, device, max_new_tokens(split))
    return finish([share], split, task, facts)
