"""Mirrors src/train/batch.ts: padded batches of tokenized examples, and which examples form each batch for a seed."""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch

from ..ulpt.projection import SplitMix64

TokenPair = Tuple[Sequence[int], Sequence[int]]  # (input ids, target ids)


@dataclass
class Batch:
    """Host-side batch: right-padded ids and where each target token is predicted."""

    ids: torch.Tensor  # [B, S] int64
    mask: torch.Tensor  # [B, S] float32
    rows: torch.Tensor  # [N]: flat row b*(n+S) + position (decoder-only) or b*M + k (the decoder of a seq2seq model)
    targets: torch.Tensor  # [N]
    owner: torch.Tensor  # [N]: example index (within the batch) of each target token
    decoder_ids: Optional[torch.Tensor] = None  # [B, M]
    decoder_mask: Optional[torch.Tensor] = None  # [B, M]

    @property
    def size(self) -> int:
        return self.ids.shape[0]

    def to(self, device) -> "Batch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(*(move(getattr(self, f)) for f in ("ids", "mask", "rows", "targets", "owner", "decoder_ids", "decoder_mask")))


def collate(examples: List[TokenPair], pad_id: int, virtual_tokens: int) -> Batch:
    """[input; target] right-padded; token j of the sequence is predicted by the hidden state at n + j - 1."""
    size = len(examples)
    length = max([1] + [len(i) + len(t) for i, t in examples])
    ids = torch.full((size, length), pad_id, dtype=torch.long)
    mask = torch.zeros(size, length, dtype=torch.float32)
    rows, targets, owner = [], [], []
    for b, (inp, tgt) in enumerate(examples):
        seq = list(inp) + list(tgt)
        ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[b, : len(seq)] = 1
        for k, token in enumerate(tgt):
            rows.append(b * (virtual_tokens + length) + virtual_tokens + len(inp) + k - 1)
            targets.append(token)
            owner.append(b)
    return Batch(ids, mask, torch.tensor(rows, dtype=torch.long), torch.tensor(targets, dtype=torch.long), torch.tensor(owner, dtype=torch.long))


def collate_seq2seq(examples: List[TokenPair], pad_id: int, decoder_start_id: int) -> Batch:
    """Encoder input right-padded; the decoder reads [start, t0 .. t(m-2)] (teacher forcing); target k at position k."""
    size = len(examples)
    length = max([1] + [len(i) for i, _ in examples])
    dec_length = max([1] + [len(t) for _, t in examples])
    ids = torch.full((size, length), pad_id, dtype=torch.long)
    mask = torch.zeros(size, length, dtype=torch.float32)
    dec_ids = torch.full((size, dec_length), pad_id, dtype=torch.long)
    dec_mask = torch.zeros(size, dec_length, dtype=torch.float32)
    rows, targets, owner = [], [], []
    for b, (inp, tgt) in enumerate(examples):
        if len(inp):
            ids[b, : len(inp)] = torch.tensor(list(inp), dtype=torch.long)
            mask[b, : len(inp)] = 1
        for k, token in enumerate(tgt):
            dec_ids[b, k] = decoder_start_id if k == 0 else tgt[k - 1]
            dec_mask[b, k] = 1
            rows.append(b * dec_length + k)
            targets.append(token)
            owner.append(b)
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)  # noqa: E731
    return Batch(ids, mask, as_long(rows), as_long(targets), as_long(owner), dec_ids, dec_mask)


def collate_for(facts, examples: List[TokenPair], virtual_tokens: int) -> Batch:
    """The layout the model reads: [virtual tokens; input; target] for decoders, encoder/decoder for T5."""
    if facts.seq2seq:
        return collate_seq2seq(examples, facts.pad_id, facts.decoder_start_id)
    return collate(examples, facts.pad_id, virtual_tokens)


def shares(count: int, parts: int) -> List[Tuple[int, int]]:
    """[start, end) of `parts` runs of consecutive items, sizes differing by at most one (splitBatch's cut)."""
    parts = min(max(1, parts), count) if count else 1
    out, start = [], 0
    for p in range(parts):
        size = count // parts + (1 if p < count % parts else 0)
        out.append((start, start + size))
        start += size
    return out


def rank_share(count: int, world_size: int, rank: int) -> slice:
    """This rank's consecutive run of `count` items (empty for a rank beyond the count)."""
    cuts = shares(count, world_size)
    return slice(*cuts[rank]) if rank < len(cuts) else slice(0, 0)


class ExampleStream:
    """Epoch e is a seeded shuffle of 0..N-1 and epochs follow each other: position i depends on (seed, i) only."""

    def __init__(self, count: int, seed: int):
        if count < 1:
            raise ValueError("There are no training examples.")
        self.count, self.seed = count, seed
        self.perms = {}

    def at(self, i: int) -> int:
        return self.perm(i // self.count)[i % self.count]

    def micro_batch(self, k: int, size: int) -> List[int]:
        """Indices of micro-batch k of `size` examples."""
        return [self.at(k * size + j) for j in range(size)]

    def perm(self, epoch: int) -> List[int]:
        p = self.perms.get(epoch)
        if p is None:
            p = list(range(self.count))
            # BigInt(0x9e37 * (epoch + 1)) on the TypeScript side: a double product, exact far beyond any epoch count.
            rng = SplitMix64(self.seed ^ (0x9E37 * (epoch + 1)))
            for i in range(len(p) - 1, 0, -1):
                j = math.floor(rng.next_unit() * (i + 1))
                p[i], p[j] = p[j], p[i]
            if len(self.perms) > 4:
                self.perms.clear()
            self.perms[epoch] = p
        return p
