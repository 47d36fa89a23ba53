"""A small, independent PyTorch GPT-2 with Hugging Face numerics and checkpoint layout.

What it is for
  * The golden fixtures under test/fixtures/ (see test/golden/make_fixtures.py): the TypeScript engine's GPT-2
    must reproduce the logits this module computes from the same checkpoint folder.
  * Pretraining small example backbones: `GPT2` is an ordinary trainable nn.Module; with a fixed
    `torch.manual_seed` its initialisation and (CPU) training are deterministic.

It matches `transformers.GPT2LMHeadModel` numerically (eager attention): learned token + position embeddings,
pre-LN blocks (ln_1 -> attention with the fused c_attn, causal + padding mask, c_proj; ln_2 -> c_fc -> gelu_new ->
c_proj), ln_f, and an lm_head tied to wte. Parameter names and shapes are exactly the safetensors keys of an HF
GPT-2 checkpoint, including the Conv1D orientation (`y = x @ W + b`, W stored as [in, out]).

Checkpoint folders are written/read like HF does: config.json, model.safetensors or
model-0000i-of-0000N.safetensors + model.safetensors.index.json. There is no dependency on `transformers` or
`safetensors`: the safetensors format is written and parsed here (u64 LE header length, JSON header, raw LE data).

Usage (only torch + numpy are needed; Debian: `apt-get install python3-torch`, run with /usr/bin/python3):
    from torch_gpt2 import GPT2, GPT2Config, save_hf_folder, load_hf_folder
    model = GPT2(GPT2Config.from_dict({...}))
    save_hf_folder(model, cfg, "out/dir", dtype="F16", prefix="transformer.", shards=2)
    model2, cfg2 = load_hf_folder("out/dir")          # weights upcast to float32
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, asdict
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class GPT2Config:
    """The config.json fields of HF GPT-2 that change the numerics (names as in config.json)."""

    vocab_size: int
    n_positions: int
    n_embd: int
    n_layer: int
    n_head: int
    n_inner: Optional[int] = None  # None means 4 * n_embd, as in HF
    layer_norm_epsilon: float = 1e-5
    activation_function: str = "gelu_new"
    initializer_range: float = 0.02
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @staticmethod
    def from_dict(d: dict) -> "GPT2Config":
        if d.get("model_type", "gpt2") != "gpt2":
            raise ValueError(f"config.json: model_type is {d.get('model_type')!r}, expected 'gpt2'")
        # HF options this implementation does not model; refuse rather than compute something else silently.
        unsupported = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
                       "reorder_and_upcast_attn": False, "tie_word_embeddings": True, "add_cross_attention": False}
        for key, default in unsupported.items():
            if d.get(key, default) != default:
                raise ValueError(f"config.json: {key}={d[key]!r} is not supported (only {default!r})")
        if d.get("activation_function", "gelu_new") != "gelu_new":
            raise ValueError(f"config.json: activation_function={d['activation_function']!r}; only 'gelu_new'")
        fields = GPT2Config.__dataclass_fields__
        cfg = GPT2Config(**{k: d[k] for k in fields if k in d})
        if cfg.n_embd % cfg.n_head != 0:
            raise ValueError(f"config.json: n_embd={cfg.n_embd} is not divisible by n_head={cfg.n_head}")
        return cfg

    def to_hf_dict(self, torch_dtype: str = "float32") -> dict:
        """A config.json as HF writes it for GPT2LMHeadModel (extra fields are the HF defaults)."""
        d = asdict(self)
        d.update({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "n_ctx": self.n_positions,  # legacy duplicate of n_positions found in real GPT-2 configs
            "scale_attn_weights": True,
            "tie_word_embeddings": True,
            "use_cache": True,
            "torch_dtype": torch_dtype,
        })
        return dict(sorted(d.items()))


# ----------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------

def gelu_new(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU, the tanh approximation (HF `gelu_new`), not the exact erf GELU."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Conv1D(nn.Module):
    """HF's Conv1D: a linear layer whose weight is stored [in, out], so y = x @ W + b."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


class Attention(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = Conv1D(cfg.n_embd, 3 * cfg.n_embd)  # fused q | k | v
        self.c_proj = Conv1D(cfg.n_embd, cfg.n_embd)
        self.attn_dropout = nn.Dropout(cfg.attn_pdrop)
        self.resid_dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x: [B, S, d]; bias: additive attention bias broadcastable to [B, H, S, S] (0 or very negative)."""
        B, S, d = x.shape
        hd = d // self.n_head
        q, k, v = self.c_attn(x).split(d, dim=2)                          # 3 x [B, S, d]
        q, k, v = (t.view(B, S, self.n_head, hd).transpose(1, 2) for t in (q, k, v))  # [B, H, S, hd]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + bias          # [B, H, S, S]
        weights = self.attn_dropout(torch.softmax(scores, dim=-1))
        y = (weights @ v).transpose(1, 2).reshape(B, S, d)                 # [B, S, d]
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.c_fc = Conv1D(cfg.n_embd, cfg.inner_dim)
        self.c_proj = Conv1D(cfg.inner_dim, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(gelu_new(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), bias)
        return x + self.mlp(self.ln_2(x))


def attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive bias [B, 1, S, S]: 0 where query i may see key j (j <= i and mask[j] = 1), else dtype's minimum.

    HF uses torch.finfo(dtype).min too; any value this negative gives exactly zero softmax weight. Rows whose
    keys are all masked cannot occur with right padding (key 0 is always a real token or a prompt vector).
    """
    S = attention_mask.shape[1]
    causal = torch.tril(torch.ones(S, S, dtype=torch.bool))                # [S, S]
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]  # [B, 1, S, S]
    neg = torch.tensor(torch.finfo(dtype).min, dtype=dtype)
    return torch.where(allowed, torch.zeros((), dtype=dtype), neg)


class GPT2(nn.Module):
    """GPT2LMHeadModel. Parameter names are the HF checkpoint keys without the `transformer.` prefix."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.drop = nn.Dropout(cfg.embd_pdrop)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.init_weights()

    def init_weights(self) -> None:
        """HF GPT-2 initialisation: N(0, 0.02) weights, zero biases, LayerNorm (1, 0), and the residual
        projections (c_proj) scaled by 1/sqrt(2 * n_layer) as in the GPT-2 paper."""
        std = self.cfg.initializer_range
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.cfg.n_layer))
            elif name.endswith(".weight") and ("ln_" in name):
                nn.init.ones_(p)
            elif name.endswith(".weight"):
                nn.init.normal_(p, 0.0, std)
            else:
                nn.init.zeros_(p)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings only (what PEFT prompt tuning concatenates the prompt to). [B, S] -> [B, S, d]"""
        return self.wte(input_ids)

    def forward(self, input_ids: Optional[torch.Tensor] = None, inputs_embeds: Optional[torch.Tensor] = None,
                attention_mask: Optional[torch.Tensor] = None, return_hidden: bool = False):
        """Logits [B, S, V]. Give exactly one of input_ids [B, S] or inputs_embeds [B, S, d].

        attention_mask [B, S]: 1 = real token, 0 = padding (masked as a key). Positions are 0..S-1 whatever the
        mask, as HF does when no position_ids are passed. With return_hidden, also returns a dict of the
        embedding sum, each block's output and the ln_f output (for debugging a port layer by layer).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids or inputs_embeds")
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        B, S, _ = x.shape
        if S > self.cfg.n_positions:
            raise ValueError(f"sequence length {S} exceeds n_positions={self.cfg.n_positions}")
        if attention_mask is None:
            attention_mask = torch.ones(B, S, dtype=torch.long)
        bias = attention_bias(attention_mask, x.dtype)
        x = self.drop(x + self.wpe(torch.arange(S))[None])                 # [B, S, d]
        hidden = {"embeddings": x, "blocks": []}
        for block in self.h:
            x = block(x, bias)
            hidden["blocks"].append(x)
        x = self.ln_f(x)
        hidden["ln_f"] = x
        logits = x @ self.wte.weight.t()                                    # tied lm_head: [B, S, V]
        return (logits, hidden) if return_hidden else logits


def lm_loss(logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over real (mask = 1) target positions; handy for pretraining."""
    targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


# ----------------------------------------------------------------------------------------------------------------
# safetensors (format: u64 LE header length N, N bytes of JSON header padded with spaces to 8 bytes, raw data)
# ----------------------------------------------------------------------------------------------------------------

TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
HF_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
# bfloat16 has no numpy type: its bytes travel as int16 and are reinterpreted with Tensor.view.
_BITS_VIEW = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.int16}
_NP_VIEW = {"F32": np.float32, "F16": np.float16, "BF16": np.int16}


def tensor_bytes(t: torch.Tensor, dtype: str) -> bytes:
    """Little-endian bytes of t rounded (to nearest even) to dtype."""
    t = t.detach().to(TORCH_DTYPES[dtype]).contiguous()
    return t.view(_BITS_VIEW[dtype]).numpy().astype(np.dtype(_NP_VIEW[dtype]).newbyteorder("<")).tobytes()


def write_safetensors(path: str, tensors: Dict[str, Tuple[str, torch.Tensor]],
                      metadata: Optional[Dict[str, str]] = None) -> None:
    """tensors: key -> (dtype name, tensor). Keys are written sorted, data in the same order."""
    header: Dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    chunks: List[bytes] = []
    offset = 0
    for key in sorted(tensors):
        dtype, t = tensors[key]
        data = tensor_bytes(t, dtype)
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # HF pads so that the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """All tensors of a file (in their stored dtype) and its __metadata__."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for key, info in header.items():
        dtype = info["dtype"]
        if dtype not in TORCH_DTYPES:
            raise ValueError(f"{path}: tensor {key} has dtype {dtype}; only F32, F16, BF16 are supported")
        b, e = info["data_offsets"]
        arr = np.frombuffer(blob[base + b: base + e], dtype=np.dtype(_NP_VIEW[dtype]).newbyteorder("<"))
        t = torch.from_numpy(arr.astype(_NP_VIEW[dtype]).copy()).view(TORCH_DTYPES[dtype])
        out[key] = t.reshape(info["shape"])
    return out, metadata


# ----------------------------------------------------------------------------------------------------------------
# Hugging Face checkpoint folders
# ----------------------------------------------------------------------------------------------------------------

def checkpoint_tensors(model: GPT2, prefix: str = "", separate_lm_head: bool = False,
                       legacy_attn_buffers: bool = False) -> Dict[str, torch.Tensor]:
    """The state dict as an HF checkpoint names it.

    prefix: '' (GPT2Model-style keys, like the hub's gpt2) or 'transformer.' (GPT2LMHeadModel.save_pretrained).
    separate_lm_head: also store `lm_head.weight` (a copy of wte), as some conversions do.
    legacy_attn_buffers: also store `h.{i}.attn.bias` (causal mask [1,1,P,P]) and `h.{i}.attn.masked_bias`
      (scalar -1e4), which old checkpoints such as the hub's gpt2 contain and loaders must ignore.
    """
    out = {prefix + k: v.detach().clone() for k, v in model.state_dict().items()}
    if separate_lm_head:
        out["lm_head.weight"] = model.wte.weight.detach().clone()
    if legacy_attn_buffers:
        P = model.cfg.n_positions
        for i in range(model.cfg.n_layer):
            out[f"{prefix}h.{i}.attn.bias"] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
            out[f"{prefix}h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return out


def _split_into_shards(keys: List[str], sizes: Dict[str, int], shards: int) -> List[List[str]]:
    """Consecutive keys, cut where the running size passes each 1/shards of the total (HF cuts consecutive
    state-dict entries at max_shard_size the same way)."""
    total = sum(sizes.values())
    groups: List[List[str]] = [[] for _ in range(shards)]
    running = 0
    for key in keys:
        groups[running * shards // total].append(key)
        running += sizes[key]
    if not all(groups):
        raise ValueError(f"cannot cut {len(keys)} tensors into {shards} non-empty shards of similar size")
    return groups


def save_hf_folder(model: GPT2, config: GPT2Config, directory: str, dtype: str = "F32", prefix: str = "",
                   shards: int = 1, separate_lm_head: bool = False, legacy_attn_buffers: bool = False,
                   extra_config: Optional[dict] = None) -> None:
    """Write config.json and model.safetensors, or N shards + model.safetensors.index.json, as HF does."""
    if dtype not in TORCH_DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {sorted(TORCH_DTYPES)}")
    os.makedirs(directory, exist_ok=True)
    cfg = config.to_hf_dict(HF_DTYPE_NAMES[dtype])
    cfg.update(extra_config or {})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    tensors = checkpoint_tensors(model, prefix, separate_lm_head, legacy_attn_buffers)
    if shards == 1:
        write_safetensors(os.path.join(directory, "model.safetensors"), {k: (dtype, t) for k, t in tensors.items()})
        return
    itemsize = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    sizes = {k: t.numel() * itemsize for k, t in tensors.items()}
    weight_map = {}
    for i, keys in enumerate(_split_into_shards(list(tensors), sizes, shards)):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(directory, name), {k: (dtype, tensors[k]) for k in keys})
        weight_map.update({k: name for k in keys})
    index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def read_hf_tensors(directory: str) -> Dict[str, torch.Tensor]:
    """Every tensor of a folder's model.safetensors, or of the shards its index names."""
    single = os.path.join(directory, "model.safetensors")
    index_path = single + ".index.json"
    if os.path.exists(single):
        return read_safetensors(single)[0]
    if not os.path.exists(index_path):
        raise FileNotFoundError(f"{directory}: neither model.safetensors nor model.safetensors.index.json")
    with open(index_path) as f:
        weight_map = json.load(f)["weight_map"]
    tensors: Dict[str, torch.Tensor] = {}
    for name in sorted(set(weight_map.values())):
        part, _ = read_safetensors(os.path.join(directory, name))
        tensors.update(part)
    missing = set(weight_map) - set(tensors)
    if missing:
        raise ValueError(f"{index_path}: keys listed but not found in their shard: {sorted(missing)[:5]}")
    return tensors


def sanitize(tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Checkpoint quirks -> our parameter names: drop the `transformer.` prefix, the legacy attention buffers,
    and lm_head.weight (tied to wte: HF ties it too, so a stored copy is ignored)."""
    out = {}
    for key, t in tensors.items():
        name = key[len("transformer."):] if key.startswith("transformer.") else key
        if name == "lm_head.weight" or name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue
        out[name] = t
    return out


def load_hf_folder(directory: str) -> Tuple[GPT2, GPT2Config]:
    """Model (float32, eval mode) from an HF GPT-2 folder; every key and shape is checked."""
    with open(os.path.join(directory, "config.json")) as f:
        cfg = GPT2Config.from_dict(json.load(f))
    model = GPT2(cfg).eval()
    tensors = sanitize(read_hf_tensors(directory))
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(tensors), set(tensors) - set(expected)
    if missing or unexpected:
        raise ValueError(f"{directory}: missing keys {sorted(missing)}, unexpected keys {sorted(unexpected)}")
    for key, t in tensors.items():
        if tuple(t.shape) != tuple(expected[key].shape):
            raise ValueError(f"{directory}: {key} has shape {list(t.shape)}, expected {list(expected[key].shape)}")
    model.load_state_dict({k: t.float() for k, t in tensors.items()})
    return model, cfg


def perturb_for_tests(model: GPT2, seed: int, ln_std: float = 0.2, bias_std: float = 0.05) -> None:
    """Randomise LayerNorm gains/biases and all linear biases (init leaves them at 1/0), so that a port which
    ignores or mis-wires any of them fails a golden test instead of passing by luck."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_ln = ".ln_" in "." + name
            if is_ln and name.endswith(".weight"):
                p.copy_(1.0 + ln_std * torch.randn(p.shape, generator=g))
            elif is_ln:
                p.copy_(ln_std * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(bias_std * torch.randn(p.shape, generator=g))

