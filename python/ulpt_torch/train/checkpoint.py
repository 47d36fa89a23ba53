"""Mirrors src/train/checkpoint.ts: the prompt's variables, AdamW's moments and the loop's counters in one safetensors
file (tensor names and metadata as the TypeScript engine writes them), so either engine resumes the other's run."""
import os
from typing import Dict

import torch

from ..io.safetensors_file import js_json, read_document, write_f32

CHECKPOINT_FILE = "checkpoint.safetensors"
PROMPT_KEYS = ("z", "scale", "shift", "prompt")


def prompt_shape(prompt) -> dict:
    return {"method": prompt.method, "length": prompt.length, "rank": prompt.rank, "hidden": prompt.hidden, "alignment": prompt.alignment}


def save_checkpoint(path: str, prompt, optimizer, loop: dict) -> None:
    tensors: Dict[str, torch.Tensor] = {}
    for name, p in prompt.variables().items():
        tensors[f"prompt.{name}"] = p.detach().reshape(-1)  # flat, as the TypeScript side stores them
        tensors[f"adam.m.{name}"] = optimizer.m[name].reshape(-1)
        tensors[f"adam.v.{name}"] = optimizer.v[name].reshape(-1)
    write_f32(path, tensors, {"ulpt-checkpoint": js_json({**loop, "optimizerSteps": optimizer.t})})


def load_checkpoint(path: str, prompt, optimizer) -> dict:
    """Restores prompt and optimiser; returns the loop state. Refuses a checkpoint of another prompt shape."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"There is no checkpoint to resume from: looked for {path}.")
    tensors, loop = read_document(path, "ulpt-checkpoint", "a ULPT checkpoint")
    want = prompt_shape(prompt)
    if loop.get("shape") != want:
        raise ValueError(f"{path} holds a {js_json(loop.get('shape'))} prompt but the configuration asks for {js_json(want)}.")
    with torch.no_grad():
        for name, p in prompt.variables().items():
            data = tensors.get(f"prompt.{name}")
            if data is None or data.numel() != p.numel():
                raise ValueError(f'{path}: "prompt.{name}" is missing or has the wrong size (this prompt needs {p.numel()} values).')
            p.copy_(data.to(p.device, torch.float32).reshape(p.shape))
    read = lambda kind: {n: tensors[f"adam.{kind}.{n}"].to(optimizer.m[n].device, torch.float32) for n in prompt.variables() if f"adam.{kind}.{n}" in tensors}  # noqa: E731
    optimizer.restore(loop.pop("optimizerSteps"), read("m"), read("v"))
    return loop
