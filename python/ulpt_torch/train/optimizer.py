"""Mirrors src/train/optimizer.ts: AdamW (decay applied to the weights, then the Adam update) and global-norm clipping.

Every variable of the prompt decays (z, scale, shift or the vanilla prompt), as on the TypeScript side. State is
float32 whatever precision the model computes in.
"""
from typing import Dict

import torch

ADAMW_DEFAULTS = dict(beta1=0.9, beta2=0.999, eps=1e-8)


class AdamW:
    def __init__(self, params: Dict[str, torch.nn.Parameter], weight_decay: float, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = params
        self.beta1, self.beta2, self.eps, self.weight_decay = beta1, beta2, eps, weight_decay
        self.t = 0
        self.m = {k: torch.zeros_like(p, dtype=torch.float32) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p, dtype=torch.float32) for k, p in params.items()}

    @torch.no_grad()
    def step(self, grads: Dict[str, torch.Tensor], lr: float) -> None:
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for name, p in self.params.items():
            g = grads.get(name)
            if g is None:
                raise RuntimeError(f"internal: no gradient for {name}")
            m, v = self.m[name], self.v[name]
            m.copy_(m * self.beta1 + g * (1 - self.beta1))
            v.copy_(v * self.beta2 + g.square() * (1 - self.beta2))
            update = (m / c1) / ((v / c2).sqrt() + self.eps)
            p.copy_(p * (1 - lr * self.weight_decay) - update * lr)

    def restore(self, t: int, m: Dict[str, torch.Tensor], v: Dict[str, torch.Tensor]) -> None:
        self.t = t
        for src, into, kind in ((m, self.m, "m"), (v, self.v, "v")):
            for name, state in into.items():
                data = src.get(name)
                if data is None or data.numel() != state.numel():
                    raise ValueError(f'The checkpoint\'s optimiser state for "{name}" ({kind}) is missing or has the wrong size.')
                state.copy_(data.reshape(state.shape))


@torch.no_grad()
def clip_by_global_norm(grads: Dict[str, torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scales the gradients so their global L2 norm is at most max_norm (factor min(1, max/(norm + 1e-6))); returns the norm before."""
    norm = torch.stack([g.square().sum() for g in grads.values()]).sum().sqrt()
    if max_norm > 0:
        factor = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        for name in grads:
            grads[name] = grads[name] * factor
    return norm
