"""Mirrors src/io/adapter.ts (writing): the .ulpt adapter, a safetensors file of what was trained plus a JSON
document under the metadata key `ulpt`. The TypeScript reader checks every field, so this writer fills each one."""
import math
import os
from datetime import datetime, timezone
from typing import Dict

import torch

from .safetensors_file import js_json, write_f32

TENSOR_NAMES = {"z": "ulpt.z", "scale": "ulpt.scale", "shift": "ulpt.shift", "prompt": "prompt_embeddings"}


def iso_now() -> str:
    """new Date().toISOString(): UTC with milliseconds and a Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def adapter_meta(prompt, config: dict, model: dict, labels, seed: int, step: int, metrics: Dict[str, float], backend: str) -> dict:
    base = lambda p: os.path.basename(p) if p else None  # noqa: E731 — paths reduced to file names, as adapterFor does
    task = config["task"]
    training = dict(config)
    for key in ("model", "train", "validation", "out"):
        if training.get(key):
            training[key] = base(training[key])
    training.update(steps_done=step, backend=backend)
    task_meta = {"type": task["type"], "template": task["template"], "input_field": task["inputField"], "target_field": task["targetField"]}
    if labels:
        task_meta["labels"] = {"names": labels["names"], "words": labels["words"]}
    return {
        "format": "ulpt-adapter", "version": 1, "method": prompt.method, "num_virtual_tokens": prompt.length, "rank": prompt.rank,
        "hidden_size": prompt.hidden, "alignment": prompt.alignment, "seed": str(seed),
        "base_model": {"model_type": model["modelType"], "name": model["name"], "fingerprint": model["fingerprint"], "vocab_size": model["vocabSize"]},
        "task": task_meta, "training": training, "metrics": metrics, "trainable_parameters": prompt.trainable_parameters, "created": iso_now(),
    }


def write_adapter(path: str, meta: dict, variables: Dict[str, torch.Tensor]) -> None:
    """Writes atomically after the checks the reader makes: the right tensors, the right shapes, finite values."""
    n, d, r = meta["num_virtual_tokens"], meta["hidden_size"], meta["rank"]
    shapes = {"prompt": [n, d]} if meta["method"] == "prompt-tuning" else {"z": [n, r], **({"scale": [d], "shift": [d]} if meta["alignment"] else {})}
    if set(shapes) != set(variables):
        raise ValueError(f"{path} was not written: tensors {sorted(variables)} do not match the metadata's {sorted(shapes)}.")
    tensors = {}
    for key, shape in shapes.items():
        t = variables[key].detach().to("cpu", torch.float32).reshape(shape)
        if not torch.isfinite(t).all():
            raise ValueError(f'{path} was not written: tensor "{TENSOR_NAMES[key]}" holds a non-finite value; an adapter must hold finite values (did training diverge?).')
        tensors[TENSOR_NAMES[key]] = t
    for k, v in meta["metrics"].items():
        if not math.isfinite(v):
            raise ValueError(f"{path} was not written: metrics.{k} is {v}, not a finite number.")
    write_f32(path, tensors, {"ulpt": js_json(meta)})
