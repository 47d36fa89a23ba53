"""An independent plain-PyTorch T5 (original T5 and v1.1 / Flan-T5) with Hugging Face's numerics and checkpoint layout.

Used only by test/golden/make_model_fixtures.py. It computes what `transformers`' T5ForConditionalGeneration computes
in eval mode:

  encoder: h = shared[ids] (or inputs_embeds); per block: h += SelfAttention(LN(h)); h += FF(LN(h)); final LN
  decoder: h = shared[decoder ids]; per block: h += causal SelfAttention(LN(h)); h += EncDecAttention(LN(h), enc);
           h += FF(LN(h)); final LN
  logits = lm_head(h * d_model^-0.5) when tie_word_embeddings (lm_head = shared), else lm_head(h)

T5's layer norm has no mean subtraction and no bias (w * x / sqrt(mean(x^2) + eps)). Attention has no 1/sqrt(d)
scaling; its inner width is num_heads * d_kv (may differ from d_model). Positions enter only as a learned bias per
head and relative-position bucket, stored in block 0 of each stack (relative_attention_bias [buckets, heads]) and
shared by all blocks of that stack; the encoder's buckets are bidirectional, the decoder's causal. Cross-attention
has no position bias. FF: wo(act(wi(x))) or, gated ("gated-gelu"), wo(gelu_new(wi_0(x)) * wi_1(x)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class T5Config:
    vocab_size: int
    d_model: int
    d_kv: int
    d_ff: int
    num_layers: int
    num_heads: int
    num_decoder_layers: Optional[int] = None
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_epsilon: float = 1e-6
    feed_forward_proj: str = "relu"
    tie_word_embeddings: bool = True
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers if self.num_decoder_layers is not None else self.num_layers

    @property
    def gated(self) -> bool:
        return self.feed_forward_proj.startswith("gated-")

    def act(self, x: torch.Tensor) -> torch.Tensor:
        name = self.feed_forward_proj.split("-")[-1]
        if self.feed_forward_proj == "gated-gelu" or name == "gelu_new":
            return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
        if name == "gelu":
            return F.gelu(x)
        if name == "relu":
            return F.relu(x)
        if name == "silu":
            return F.silu(x)
        raise ValueError(f"feed_forward_proj {self.feed_forward_proj!r}")

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "extra" and v is not None}
        d.update(self.extra)
        return d


def relative_position_bucket(rel: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Bucket of each relative position (key - query), computed as Mesh TensorFlow T5 does (float32 log)."""
    buckets = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, rel, large)


class LayerNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)  # HF upcasts half precision to float32 here; fixtures use f32/f64
        return self.weight * (x * torch.rsqrt(var + self.eps))


class Attention(nn.Module):
    def __init__(self, cfg: T5Config, has_bias: bool, causal: bool):
        super().__init__()
        inner = cfg.num_heads * cfg.d_kv
        self.cfg, self.causal = cfg, causal
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.k = nn.Linear(cfg.d_model, inner, bias=False)
        self.v = nn.Linear(cfg.d_model, inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_heads)

    def position_bias(self, Tq: int, Tk: int) -> torch.Tensor:
        """[1, H, Tq, Tk] from this block's relative_attention_bias."""
        rel = torch.arange(Tk)[None, :] - torch.arange(Tq)[:, None]                   # key - query
        b = relative_position_bucket(rel, not self.causal, self.cfg.relative_attention_num_buckets,
                                     self.cfg.relative_attention_max_distance)
        return self.relative_attention_bias(b).permute(2, 0, 1)[None]

    def forward(self, x, kv, bias):
        """x [B, Tq, d], kv [B, Tk, d], bias broadcastable to [B, H, Tq, Tk] (position bias + mask)."""
        B, Tq, _ = x.shape
        Tk = kv.shape[1]
        H, dk = self.cfg.num_heads, self.cfg.d_kv
        q = self.q(x).view(B, Tq, H, dk).transpose(1, 2)
        k = self.k(kv).view(B, Tk, H, dk).transpose(1, 2)
        v = self.v(kv).view(B, Tk, H, dk).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) + bias                                       # no 1/sqrt(d_kv)
        y = torch.softmax(scores, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(B, Tq, H * dk))


class FF(nn.Module):
    def __init__(self, cfg: T5Config):
        super().__init__()
        self.cfg = cfg
        if cfg.gated:
            self.wi_0 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
            self.wi_1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        else:
            self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
        h = self.cfg.act(self.wi_0(x)) * self.wi_1(x) if self.cfg.gated else self.cfg.act(self.wi(x))
        return self.wo(h)


class SelfAttentionLayer(nn.Module):
    def __init__(self, cfg, has_bias, causal):
        super().__init__()
        self.SelfAttention = Attention(cfg, has_bias, causal)
        self.layer_norm = LayerNorm(cfg.d_model, cfg.layer_norm_epsilon)


class CrossAttentionLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.EncDecAttention = Attention(cfg, False, False)
        self.layer_norm = LayerNorm(cfg.d_model, cfg.layer_norm_epsilon)


class FFLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.DenseReluDense = FF(cfg)
        self.layer_norm = LayerNorm(cfg.d_model, cfg.layer_norm_epsilon)


class Block(nn.Module):
    def __init__(self, cfg: T5Config, first: bool, decoder: bool):
        super().__init__()
        parts = [SelfAttentionLayer(cfg, first, decoder)]
        if decoder:
            parts.append(CrossAttentionLayer(cfg))
        parts.append(FFLayer(cfg))
        self.layer = nn.ModuleList(parts)


class Stack(nn.Module):
    def __init__(self, cfg: T5Config, n: int, decoder: bool):
        super().__init__()
        self.decoder = decoder
        self.block = nn.ModuleList([Block(cfg, i == 0, decoder) for i in range(n)])
        self.final_layer_norm = LayerNorm(cfg.d_model, cfg.layer_norm_epsilon)

    def forward(self, h, mask, enc=None, enc_mask=None):
        B, T, _ = h.shape
        neg = torch.finfo(torch.float32).min
        keep = mask.bool()[:, None, None, :]                                          # [B, 1, 1, T]
        if self.decoder:
            keep = keep & torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None]
        bias = self.block[0].layer[0].SelfAttention.position_bias(T, T) + torch.where(keep, 0.0, neg)
        cross_bias = None if enc is None else torch.where(enc_mask.bool()[:, None, None, :], 0.0, neg)
        for blk in self.block:
            sa = blk.layer[0]
            h = h + sa.SelfAttention(sa.layer_norm(h), sa.layer_norm(h), bias)
            if self.decoder:
                ca = blk.layer[1]
                h = h + ca.EncDecAttention(ca.layer_norm(h), enc, cross_bias)
            ff = blk.layer[-1]
            h = h + ff.DenseReluDense(ff.layer_norm(h))
        return self.final_layer_norm(h)


class T5ForConditionalGeneration(nn.Module):
    """Parameter names are the checkpoint keys (shared.weight, encoder.block.0.layer.0.SelfAttention.q.weight, …)."""

    def __init__(self, cfg: T5Config):
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = Stack(cfg, cfg.num_layers, False)
        self.decoder = Stack(cfg, cfg.decoder_layers, True)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def embed(self, ids):
        return self.shared(ids)

    def forward(self, decoder_input_ids, input_ids=None, inputs_embeds=None, attention_mask=None,
                decoder_attention_mask=None):
        """Decoder logits [B, M, V]."""
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        B, S, _ = x.shape
        mask = torch.ones(B, S, dtype=torch.long) if attention_mask is None else attention_mask
        enc = self.encoder(x, mask)
        dmask = torch.ones_like(decoder_input_ids) if decoder_attention_mask is None else decoder_attention_mask
        h = self.decoder(self.embed(decoder_input_ids), dmask, enc, mask)
        if self.cfg.tie_word_embeddings:
            return (h * self.cfg.d_model ** -0.5) @ self.shared.weight.t()
        return self.lm_head(h)

    def init_for_tests(self, seed: int, std: float = 0.2, embed_std: float = 1.0) -> None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "layer_norm" in name:
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                elif name == "shared.weight":
                    p.copy_(embed_std * torch.randn(p.shape, generator=g))
                elif "relative_attention_bias" in name:
                    p.copy_(torch.randn(p.shape, generator=g))
                else:
                    p.copy_(std * math.sqrt(32 / p.shape[1]) * torch.randn(p.shape, generator=g))


def checkpoint_tensors(model: T5ForConditionalGeneration, embed_copies: bool = False,
                       legacy_cross_bias: bool = False) -> Dict[str, torch.Tensor]:
    """State dict as a checkpoint names it. embed_copies: also store encoder./decoder.embed_tokens.weight (copies of
    shared, as HF's save does for T5); legacy_cross_bias: the unused decoder.block.0.layer.1.EncDecAttention
    relative_attention_bias some old checkpoints carry."""
    out = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if embed_copies:
        out["encoder.embed_tokens.weight"] = model.shared.weight.detach().clone()
        out["decoder.embed_tokens.weight"] = model.shared.weight.detach().clone()
    if legacy_cross_bias:
        c = model.cfg
        out["decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"] = torch.zeros(
            c.relative_attention_num_buckets, c.num_heads)
    return out


def load_state(model: T5ForConditionalGeneration, tensors: Dict[str, torch.Tensor]) -> None:
    drop = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
            "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"}
    state = {k: t.float() for k, t in tensors.items() if k not in drop}
    model.load_state_dict(state, strict=True)


@torch.no_grad()
def greedy(model: T5ForConditionalGeneration, inputs_embeds: torch.Tensor, steps: int, stop: List[int]) -> List[int]:
    """Greedy decoding of one unpadded input [1, S, d] from decoder_start_token_id, recomputing every step."""
    ids = [model.cfg.decoder_start_token_id]
    out: List[int] = []
    for _ in range(steps):
        nxt = int(model(torch.tensor([ids]), inputs_embeds=inputs_embeds)[0, -1].argmax())
        if nxt in stop:
            break
        out.append(nxt)
        ids.append(nxt)
    return out
