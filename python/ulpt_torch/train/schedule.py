"""Mirrors src/train/schedule.ts: linear warm-up from 0, then linear decay to 0 at `total` (HF's linear schedule)."""


def learning_rate(base: float, step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return base * step / max(1, warmup)
    return base * max(0, (total - step) / max(1, total - warmup))
