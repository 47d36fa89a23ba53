"""Mirrors src/train/eta.ts: the time left in a run, from the last steps' points — the number every reader shows."""
from typing import List, Optional


def eta_from_points(train: List[dict], total_steps: int, window: int = 20) -> Optional[float]:
    """The mean time per step over the last `window` steps times the steps still to go; None before two steps or once done."""
    if not total_steps or len(train) < 2:
        return None
    last, first = train[-1], train[max(0, len(train) - 1 - window)]
    steps, ms = last["step"] - first["step"], last["elapsedMs"] - first["elapsedMs"]
    if steps <= 0 or not ms > 0 or last["step"] >= total_steps:
        return None
    return (ms / steps) * (total_steps - last["step"])
