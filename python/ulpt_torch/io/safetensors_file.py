"""Mirrors src/io/safetensors.ts: the F32 files the engine writes (checkpoints, adapters), laid out byte for byte as
the TypeScript writer lays them out (tensors sorted by name, header padded with spaces to 8 bytes); reading goes
through the `safetensors` package."""
import decimal
import json
import struct
from typing import Dict, Tuple

import numpy as np
import torch
from safetensors import safe_open

from .atomic import write_file_atomic


def js_number(x: float) -> str:
    """A number as JavaScript's Number#toString writes it: the shortest round-trip digits, exponent only below 1e-6 or from 1e21."""
    if x != x or x in (float("inf"), float("-inf")):
        return "null"  # JSON.stringify's answer for NaN and the infinities
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, as JavaScript does; only the layout differs.
    d = decimal.Decimal(repr(abs(float(x)))).normalize()
    _, ds, e = d.as_tuple()
    digits = "".join(map(str, ds))
    k, n = len(digits), e + len(digits)  # value = 0.digits * 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def js_json(value, indent: int = 0, _level: int = 0) -> str:
    """JSON as JavaScript's JSON.stringify(value, null, indent) writes it, numbers included."""
    pad = "\n" + " " * (indent * (_level + 1)) if indent else ""
    end = "\n" + " " * (indent * _level) if indent else ""
    sep = ": " if indent else ":"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = [json.dumps(str(k), ensure_ascii=False) + sep + js_json(v, indent, _level + 1) for k, v in value.items()]
        return "{" + ",".join(pad + i for i in items) + end + "}" if items else "{}"
    if isinstance(value, (list, tuple)):
        items = [js_json(v, indent, _level + 1) for v in value]
        return "[" + ",".join(pad + i for i in items) + end + "]" if items else "[]"
    raise TypeError(f"internal: {type(value).__name__} is not JSON")


def serialize_f32(tensors: Dict[str, torch.Tensor], metadata: Dict[str, str]) -> bytes:
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset, blobs = 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu", torch.float32).contiguous()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = js_json(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_f32(path: str, tensors: Dict[str, torch.Tensor], metadata: Dict[str, str]) -> None:
    write_file_atomic(path, serialize_f32(tensors, metadata))


def read_all(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Every tensor (as stored) and the metadata of a safetensors file."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        return {k: f.get_tensor(k) for k in f.keys()}, meta


def read_document(path: str, key: str, what: str, error=ValueError) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Every tensor of a file the engine or Node wrote, and the JSON document its metadata holds under `key`
    (a prepared job's, a checkpoint's); `error` names `what` the file is not when that key is absent."""
    tensors, meta = read_all(path)
    raw = meta.get(key)
    if raw is None:
        raise error(f'{path} is not {what} (no "{key}" metadata).')
    return tensors, json.loads(raw)
