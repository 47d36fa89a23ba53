"""Mirrors src/ulpt/projection.ts: SplitMix64 and the frozen projection A, regenerated from the adapter's seed."""
import math

import torch

MASK64 = (1 << 64) - 1


class SplitMix64:
    """SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by the golden-ratio increment."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next_unit(self) -> float:
        """A uniform double in [0, 1) from the top 53 bits."""
        return (self.next() >> 11) * 2.0**-53


def parse_seed(seed) -> int:
    """A seed given as a decimal string or number; anything but an unsigned 64-bit integer is refused."""
    text = str(seed).strip()
    if not text.isdigit() or not text.isascii():
        raise ValueError(f'A seed must be a non-negative integer, got "{text}".')
    value = int(text)
    if value > MASK64:
        raise ValueError(f"A seed must fit in 64 bits, got {text}.")
    return value


def projection_matrix(seed: int, rank: int, hidden: int) -> torch.Tensor:
    """A[i*d + j] = (2u - 1) * sqrt(6 / (r + d)), row-major [r, d], float32 (Xavier-uniform scale)."""
    rng = SplitMix64(seed)
    bound = math.sqrt(6 / (rank + hidden))
    values = [(2 * rng.next_unit() - 1) * bound for _ in range(rank * hidden)]
    return torch.tensor(values, dtype=torch.float64).to(torch.float32).reshape(rank, hidden)


def seeded_normal(seed: int, count: int, std: float = 1.0) -> torch.Tensor:
    """Standard normal values (Box-Muller) from Z's stream, the seed XOR a fixed offset, as src/ulpt/prompt.ts draws them."""
    rng = SplitMix64(seed ^ 0x5EED5EED5EED5EED)
    out = [0.0] * count
    for i in range(0, count, 2):
        u1 = 1 - rng.next_unit()  # (0, 1]: the log stays finite
        u2 = rng.next_unit()
        radius = math.sqrt(-2 * math.log(u1))
        out[i] = radius * math.cos(2 * math.pi * u2) * std
        if i + 1 < count:
            out[i + 1] = radius * math.sin(2 * math.pi * u2) * std
    return torch.tensor(out, dtype=torch.float64).to(torch.float32)
