"""An independent plain-PyTorch Llama / Mistral / Qwen2 decoder with Hugging Face's numerics and checkpoint layout.

Used only by test/golden/make_model_fixtures.py to produce the golden logits and greedy generations the TypeScript
engine must reproduce. It follows what `transformers`' LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM
compute in eval mode with eager attention:

  h = embed_tokens[ids] (or given inputs_embeds)
  per layer:  h = h + o_proj(attn(input_layernorm(h)))          RMSNorm: w * x / sqrt(mean(x^2) + eps)
              h = h + down_proj(silu(gate_proj(x)) * up_proj(x)) with x = post_attention_layernorm(h)
  logits = lm_head(norm(h))  (lm_head = embed_tokens when tie_word_embeddings)

Attention: q/k/v projections (biases: Qwen2 always on q/k/v; Llama when attention_bias), rotary embeddings in the
"rotate half" layout on the first head_dim dims, grouped-query attention (each key/value head serves
num_attention_heads / num_key_value_heads query heads), softmax(q k^T / sqrt(head_dim) + mask) v. The mask is causal
plus padding, and for a sliding window keeps key j for query i only when i - j < sliding_window (Mistral: every layer;
Qwen2: layers >= max_window_layers, and only when use_sliding_window). Positions are 0..S-1 (as HF without
position_ids). rope_scaling: None, {"rope_type": "linear", "factor"} or {"rope_type": "llama3", ...}.

Nothing here is shared with the TypeScript code; it is written from the published architecture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LlamaConfig:
    """config.json fields that change the numerics (names as in config.json)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: Optional[int] = None
    head_dim: Optional[int] = None
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    sliding_window: Optional[int] = None
    use_sliding_window: bool = False
    max_window_layers: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def qkv_bias(self) -> bool:
        return self.model_type == "qwen2" or self.attention_bias

    def window(self, layer: int) -> Optional[int]:
        if self.model_type == "mistral":
            return self.sliding_window
        if self.model_type == "qwen2":
            return self.sliding_window if self.use_sliding_window and layer >= self.max_window_layers else None
        return None

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "extra" and v is not None}
        d.update(self.extra)
        return d


def inv_frequencies(cfg: LlamaConfig) -> torch.Tensor:
    """Rotary inverse frequencies [head_dim / 2] (float32), with rope_scaling applied as HF's rope_utils does."""
    dim = cfg.hd
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    s = cfg.rope_scaling
    kind = (s or {}).get("rope_type", (s or {}).get("type", "default"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / s["factor"]
    if kind == "llama3":
        factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old = s["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)          # long waves: divided by factor
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled             # in between: interpolated
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled)                            # short waves: unchanged
    raise ValueError(f"rope_scaling type {kind!r} not supported by this reference")


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)  # HF upcasts half precision to float32 here; fixtures use f32/f64
        return self.weight * (x * torch.rsqrt(var + self.eps))


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int):
        super().__init__()
        self.cfg, self.layer = cfg, layer
        H, K, hd, d = cfg.num_attention_heads, cfg.kv_heads, cfg.hd, cfg.hidden_size
        self.q_proj = nn.Linear(d, H * hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(d, K * hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(d, K * hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(H * hd, d, bias=cfg.attention_bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, S, d]; cos/sin [S, hd]; mask [B, S] (1 real, 0 padding)."""
        B, S, _ = x.shape
        H, K, hd = self.cfg.num_attention_heads, self.cfg.kv_heads, self.cfg.hd
        q = self.q_proj(x).view(B, S, H, hd).transpose(1, 2)                    # [B, H, S, hd]
        k = self.k_proj(x).view(B, S, K, hd).transpose(1, 2)                    # [B, K, S, hd]
        v = self.v_proj(x).view(B, S, K, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // K, dim=1)                                  # [B, H, S, hd]: head h uses kv h // (H/K)
        v = v.repeat_interleave(H // K, dim=1)
        i = torch.arange(S)[:, None]
        j = torch.arange(S)[None, :]
        allowed = (j <= i)[None, None] & mask.bool()[:, None, None, :]          # [B, 1, S, S]
        w = self.cfg.window(self.layer)
        if w is not None:
            allowed = allowed & (i - j < w)[None, None]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        y = torch.softmax(scores, dim=-1) @ v                                   # [B, H, S, hd]
        return self.o_proj(y.transpose(1, 2).reshape(B, S, H * hd))


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        d, f = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = nn.Linear(d, f, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(d, f, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(f, d, bias=cfg.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: LlamaConfig, i: int):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, i)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, h, cos, sin, mask):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class Body(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    """Parameter names are the checkpoint keys (`model.…`, `lm_head.weight`)."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Body(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def head_weight(self) -> torch.Tensor:
        return self.model.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_tokens(ids)

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None) -> torch.Tensor:
        """Logits [B, S, V] for ids [B, S] or embeddings [B, S, d]; positions 0..S-1."""
        h = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        B, S, _ = h.shape
        mask = torch.ones(B, S, dtype=torch.long) if attention_mask is None else attention_mask
        freqs = torch.arange(S).float()[:, None] * inv_frequencies(self.cfg)[None, :]   # [S, hd/2], float32 as HF
        emb = torch.cat((freqs, freqs), dim=-1)                                          # [S, hd]
        cos, sin = emb.cos(), emb.sin()
        for layer in self.model.layers:
            h = layer(h, cos, sin, mask)
        return self.model.norm(h) @ self.head_weight().t()

    def init_for_tests(self, seed: int, std: float = 0.2, embed_std: float = 1.0) -> None:
        """Weights N(0, std) (scaled so activations stay O(1)); norm gains 1 + 0.2 N; biases 0.05 N. Big enough that
        a wrong rotary layout, a missing bias or a wrong head grouping moves the logits far beyond the tolerance."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "norm" in name:
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                elif name.endswith(".bias"):
                    p.copy_(0.05 * torch.randn(p.shape, generator=g))
                elif "embed_tokens" in name:
                    p.copy_(embed_std * torch.randn(p.shape, generator=g))
                else:
                    fan_in = p.shape[1]
                    p.copy_(std * math.sqrt(32 / fan_in) * torch.randn(p.shape, generator=g))


def checkpoint_tensors(model: LlamaForCausalLM, separate_tied_head: bool = False,
                       legacy_inv_freq: bool = False) -> Dict[str, torch.Tensor]:
    """The state dict as an HF checkpoint names it (tied heads are not stored unless separate_tied_head)."""
    out = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if separate_tied_head and model.cfg.tie_word_embeddings:
        out["lm_head.weight"] = model.model.embed_tokens.weight.detach().clone()
    if legacy_inv_freq:  # old Llama conversions stored the rotary buffer per layer
        for i in range(model.cfg.num_hidden_layers):
            out[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = inv_frequencies(model.cfg)
    return out


def load_state(model: LlamaForCausalLM, tensors: Dict[str, torch.Tensor]) -> None:
    """Loads checkpoint tensors (any float dtype, upcast), dropping the quirks checkpoint_tensors can add."""
    state = {k: t.float() for k, t in tensors.items() if not k.endswith("rotary_emb.inv_freq")}
    if model.cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    model.load_state_dict(state, strict=True)


@torch.no_grad()
def greedy(model: LlamaForCausalLM, prefix: torch.Tensor, steps: int, stop: List[int]) -> List[int]:
    """Greedy continuation of one unpadded sequence of embeddings [1, T, d], recomputing everything each step."""
    out: List[int] = []
    h = prefix
    for _ in range(steps):
        nxt = int(model(inputs_embeds=h)[0, -1].argmax())
        if nxt in stop:
            break
        out.append(nxt)
        h = torch.cat([h, model.embed(torch.tensor([[nxt]]))], dim=1)
    return out
