"""Mirrors src/ulpt/prompt.ts: the trainable prompt, n virtual-token embeddings prepended to the frozen model's input.

  ULPT:           P = scale * (Z @ A) + shift    Z [n, r] trainable, A [r, d] frozen (from the seed),
                                                  scale, shift [d] trainable (the "alignment" embeddings)
  prompt tuning:  P [n, d] trainable             (the baseline ULPT is compared with)
"""
import math
from typing import Dict, Optional

import torch
from torch import nn

from .projection import projection_matrix, seeded_normal

# Checkpoint and adapter tensor names by variable, as src/train/checkpoint.ts and src/io/adapter.ts name them.
ADAPTER_NAMES = {"z": "ulpt.z", "scale": "ulpt.scale", "shift": "ulpt.shift", "prompt": "prompt_embeddings"}


class UlptPrompt(nn.Module):
    method = "ulpt"

    def __init__(self, length: int, rank: int, hidden: int, seed: int, alignment: bool = True, scale0: float = 1.0):
        super().__init__()
        self.length, self.rank, self.hidden, self.alignment = length, rank, hidden, alignment
        self.register_buffer("a", projection_matrix(seed, rank, hidden), persistent=False)  # [r, d], frozen
        self.z = nn.Parameter(seeded_normal(seed, length * rank).reshape(length, rank))
        if alignment:
            # scale0 is a double on the TypeScript side too, rounded to float32 when the variable is made.
            self.scale = nn.Parameter(torch.full((hidden,), scale0, dtype=torch.float32))
            self.shift = nn.Parameter(torch.zeros(hidden, dtype=torch.float32))

    @property
    def trainable_parameters(self) -> int:
        return self.length * self.rank + (2 * self.hidden if self.alignment else 0)

    def variables(self) -> Dict[str, nn.Parameter]:
        """The optimiser's variables by name, in the order the TypeScript side creates them (z, scale, shift)."""
        out = {"z": self.z}
        if self.alignment:
            out.update(scale=self.scale, shift=self.shift)
        return out

    def forward(self) -> torch.Tensor:
        za = self.z @ self.a  # [n, d]
        return za * self.scale + self.shift if self.alignment else za


class VanillaPrompt(nn.Module):
    method = "prompt-tuning"
    rank = 0
    alignment = False

    def __init__(self, length: int, hidden: int, init: torch.Tensor):
        super().__init__()
        self.length, self.hidden = length, hidden
        self.prompt = nn.Parameter(init.reshape(length, hidden).clone())

    @property
    def trainable_parameters(self) -> int:
        return self.length * self.hidden

    def variables(self) -> Dict[str, nn.Parameter]:
        return {"prompt": self.prompt}

    def forward(self) -> torch.Tensor:
        return self.prompt


def embedding_std(embeddings: torch.Tensor) -> float:
    """Standard deviation (population, as tf.moments) of every entry of the token-embedding matrix."""
    return float(embeddings.detach().to(torch.float64).std(unbiased=False))


def create_prompt(method: str, length: int, rank: int, hidden: int, seed: int, alignment: bool,
                  scale_init: str, embeddings: Optional[torch.Tensor]) -> nn.Module:
    """The prompt a run starts from, drawn exactly as src/ulpt/prompt.ts createPrompt draws it."""
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"The prompt length must be a positive integer, got {length}.")
    if method == "prompt-tuning":
        # N(0, sigma^2) with sigma the embeddings' standard deviation: the scale of real tokens, none of them.
        return VanillaPrompt(length, hidden, seeded_normal(seed, length * hidden, embedding_std(embeddings)))
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"The ULPT rank must be a positive integer, got {rank}.")
    # Z ~ N(0, 1) and A ~ U(+-sqrt(6/(r+d))) give Z@A entries of variance 2r/(r+d): the embedding option divides it out.
    scale0 = embedding_std(embeddings) / math.sqrt((2 * rank) / (rank + hidden)) if scale_init == "embedding" else 1.0
    return UlptPrompt(length, rank, hidden, seed, alignment, scale0)


def prepend_prompt(prompt: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor):
    """[P; embeds] along the sequence and the mask extended with ones for the virtual tokens (PEFT's layout)."""
    batch = embeds.shape[0]
    tiled = prompt.to(embeds.dtype).unsqueeze(0).expand(batch, -1, -1)  # [B, n, d]
    ones = torch.ones(batch, prompt.shape[0], dtype=mask.dtype, device=mask.device)
    return torch.cat([tiled, embeds], dim=1), torch.cat([ones, mask], dim=1)  # [B, n + S, d], [B, n + S]
