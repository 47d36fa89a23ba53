"""Mirrors src/models/loader.ts: a Hugging Face model folder loaded frozen, read through `inputs_embeds`.

Any model `transformers` loads: AutoModelForCausalLM, or AutoModelForSeq2SeqLM with the prompt on the encoder.
Safetensors only (use_safetensors=True: no pickle is ever unpickled).
"""
import os
import warnings
from dataclasses import dataclass
from typing import Optional

import torch


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    """The frozen model and how to read it."""

    model: torch.nn.Module
    seq2seq: bool
    embeddings: torch.nn.Module  # ids -> [B, S, d]
    # Decoder-only: apply the output head to the target rows only (checked equal to the full head at load).
    head_on_rows: bool
    dtype: torch.dtype

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.embeddings.weight


def load_model(model_dir: str, seq2seq: bool, device: torch.device, dtype: torch.dtype = torch.float32,
               attention: str = "sdpa", checkpointing: bool = False, shard_over: int = 1) -> LoadedModel:
    """`shard_over` > 1: the model's blocks sharded with FSDP over that many processes (a process group must exist)."""
    if not os.path.isdir(model_dir):
        raise ModelLoadError(f"The model folder {model_dir} does not exist.")
    has_weights = any(os.path.exists(os.path.join(model_dir, f)) for f in ("model.safetensors", "model.safetensors.index.json"))
    if not has_weights:
        raise ModelLoadError(f"No safetensors weights in {model_dir}: looked for model.safetensors and model.safetensors.index.json "
                             "(the PyTorch engine never loads pickled weights).")
    import transformers

    transformers.utils.logging.disable_progress_bar()  # the engine's stdout/stderr are a protocol and a log, not a terminal
    cls = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
    config = _without_dropout(transformers.AutoConfig.from_pretrained(model_dir, local_files_only=True))
    try:
        model = cls.from_pretrained(model_dir, config=config, use_safetensors=True, dtype=dtype, attn_implementation=attention, local_files_only=True)
    except ValueError as e:
        if attention == "eager":
            raise ModelLoadError(f"{model_dir}: {e}") from e
        # Some architectures have no SDPA path: the eager one computes the same.
        model = cls.from_pretrained(model_dir, config=config, use_safetensors=True, dtype=dtype, attn_implementation="eager", local_files_only=True)
    if shard_over > 1:
        shard_blocks(model, device, shard_over)  # before the move: each process moves only its shards
    model.to(device)
    # transformers checkpoints layers only in training mode; with every dropout rate 0 that mode computes what eval does.
    model.train(checkpointing)
    for p in model.parameters():
        p.requires_grad_(False)
    if checkpointing:
        # Non-reentrant checkpointing: gradients reach the prompt through inputs_embeds although every weight is frozen.
        with warnings.catch_warnings():  # transformers 5 renames it; the old name works across the supported releases
            warnings.simplefilter("ignore", FutureWarning)
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    embeddings = model.get_input_embeddings()
    loaded = LoadedModel(model, seq2seq, embeddings, False, dtype)
    if shard_over > 1:
        _first_forward(model, seq2seq, device, dtype)  # through the root, so that FSDP takes the model as its root
    elif not seq2seq:
        # (Sharded, every forward goes through the whole model: FSDP's root runs the passes it begins.)
        loaded.head_on_rows = _head_is_plain(model, device, dtype)
    return loaded


@torch.no_grad()
def _first_forward(model, seq2seq: bool, device, dtype) -> None:
    d = model.get_input_embeddings().weight.shape[1]
    x = torch.zeros(1, 2, d, device=device, dtype=dtype)
    mask = torch.ones(1, 2, device=device, dtype=torch.long)
    extra = {"decoder_input_ids": torch.zeros(1, 1, device=device, dtype=torch.long)} if seq2seq else {}
    model(inputs_embeds=x, attention_mask=mask, use_cache=False, **extra)


def shard_blocks(model: torch.nn.Module, device: torch.device, world_size: int) -> int:
    """FSDP (fully_shard) on each of the model's transformer blocks — the classes transformers names in
    `_no_split_modules`, the same blocks accelerate's FSDP wraps. A block's weights are split over the processes and
    gathered for its forward (and again for the backward that reaches the prompt), then freed. The embeddings, the
    final norm and the output head stay whole on every process: the prompt is built from the embedding matrix, and
    the prompt's gradient is summed by the trainer's own all-reduce, never by FSDP (every weight is frozen)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    names = set(getattr(model, "_no_split_modules", None) or [])
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise ModelLoadError(f"{type(model).__name__} names no transformer blocks (_no_split_modules) for FSDP to shard; "
                             "train it without --fsdp (data parallel: every process holds the whole model).")
    mesh = init_device_mesh(device.type, (world_size,))
    in_blocks = {id(p) for b in blocks for p in b.parameters()}
    for block in blocks:
        fully_shard(block, mesh=mesh)
    # The model itself as FSDP's root, holding none of its own weights: FSDP keeps a root's weights gathered after
    # its forward, so without this root every block would be its own root and stay whole after its first use.
    fully_shard(model, mesh=mesh, ignored_params={p for p in model.parameters() if id(p) not in in_blocks})
    return len(blocks)


def weight_bytes(model: torch.nn.Module, local: bool = False) -> int:
    """Bytes of the model's weights (tied weights once); `local`: of what this process holds, a sharded weight
    counting its own shard only."""
    total = 0
    for p in {id(p): p for p in model.parameters()}.values():
        held = p.to_local() if local and hasattr(p, "to_local") else p
        total += held.numel() * held.element_size()
    return total


def _without_dropout(config):
    """Every dropout rate of the config (and its sub-configs) set to 0: the built-in engine has none, and training
    mode (needed for gradient checkpointing) must not add any."""
    for name, value in list(vars(config).items()):
        if isinstance(value, float) and ("dropout" in name or "pdrop" in name):
            setattr(config, name, 0.0)
        elif hasattr(value, "to_dict") and hasattr(value, "model_type"):
            _without_dropout(value)
    return config


@torch.no_grad()
def _head_is_plain(model, device, dtype) -> bool:
    """Whether logits = output embeddings applied to the base model's last hidden state (no softcapping, no scaling)."""
    head = model.get_output_embeddings()
    base = getattr(model, "base_model", None)
    if head is None or base is None or base is model:
        return False
    d = model.get_input_embeddings().weight.shape[1]
    x = torch.randn(1, 4, d, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)
    mask = torch.ones(1, 4, device=device, dtype=torch.long)
    try:
        full = model(inputs_embeds=x, attention_mask=mask, use_cache=False).logits
        hidden = base(inputs_embeds=x, attention_mask=mask, use_cache=False).last_hidden_state
        tolerance = 1e-4 if dtype == torch.float32 else 2e-2  # half precision: agreement to its own resolution
        return bool(torch.allclose(head(hidden).float(), full.float(), rtol=tolerance, atol=tolerance))
    except Exception:  # an unusual base model: the full head is always right
        return False


def embedding_fingerprint(embeddings: torch.Tensor) -> str:
    """src/io/adapter.ts embeddingFingerprint: sha256 of the [vocab, hidden] float32 little-endian bytes, first 16 hex."""
    import hashlib

    vocab, hidden = embeddings.shape
    data = embeddings.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4")
    return f"sha256:{hashlib.sha256(data.tobytes()).hexdigest()[:16]}:{vocab}x{hidden}"


def parameter_count(model: torch.nn.Module) -> int:
    """Distinct parameters (tied weights once), as the built-in loader counts them."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def device_words(device: torch.device, threads: Optional[int] = None) -> str:
    """What the run computes on, in words, for started/summary."""
    version = torch.__version__.split("+")[0]
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)} (PyTorch {version}, CUDA {torch.version.cuda})"
    if device.type == "mps":
        return f"GPU (Apple MPS, PyTorch {version})"
    threads = threads or torch.get_num_threads()
    return f"CPU (PyTorch {version}, {threads} thread{'s' if threads > 1 else ''})"
