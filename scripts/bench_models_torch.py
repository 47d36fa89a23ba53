"""The PyTorch peer of scripts/bench_models.ts: the same ULPT step (prompt P = scale * (Z A) + shift in front of the
input, loss on the target tokens, AdamW on Z, scale, shift) on the same random-weight folder, with the independent
reference models test/golden/torch_llama.py (Llama family) and torch_t5.py (T5: the prompt in front of the encoder
input, the decoder teacher-forced on the target) in float32. Tensors are read from the safetensors file through
numpy memory maps one at a time (so the loader holds no second copy). Prints one JSON line:
{"loadMs", "peakRssMB", "medianStepMs", "stepMs"}.

    OMP_NUM_THREADS=<cores> /usr/bin/python3 scripts/bench_models_torch.py MODEL_DIR [--batch 4] [--seq 64]
        [--prompt-length 10] [--rank 2] [--steps 3]
"""

import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "golden"))
import torch_llama as tl  # noqa: E402
import torch_t5 as tt  # noqa: E402


def load(folder: str):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    ref, cls, cfg = (tt, tt.T5ForConditionalGeneration, tt.T5Config) if c["model_type"] == "t5" else (tl, tl.LlamaForCausalLM, tl.LlamaConfig)
    known = set(cfg.__dataclass_fields__) - {"extra"}
    model = cls(cfg(**{k: v for k, v in c.items() if k in known and v is not None}))
    path = os.path.join(folder, "model.safetensors")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, info in header.items():
            b, e = info["data_offsets"]
            raw = np.memmap(path, dtype=np.uint16, mode="r", offset=8 + n + b, shape=((e - b) // 2,))
            bits = torch.from_numpy(raw.astype(np.int32) << 16)          # bf16 -> f32 bit pattern
            params[key].copy_(bits.view(torch.float32).view(info["shape"]))
            del raw, bits
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    for k, d in [("batch", 4), ("seq", 64), ("prompt-length", 10), ("rank", 2), ("steps", 3)]:
        ap.add_argument(f"--{k}", type=int, default=d)
    a = ap.parse_args()
    t0 = time.perf_counter()
    model = load(a.folder)
    load_ms = (time.perf_counter() - t0) * 1000
    for p in model.parameters():
        p.requires_grad_(False)
    t5 = isinstance(model, tt.T5ForConditionalGeneration)
    d, n, r = (model.cfg.d_model if t5 else model.cfg.hidden_size), a.prompt_length, a.rank
    g = torch.Generator().manual_seed(42)
    A = (torch.rand(r, d, generator=g) * 2 - 1) * (6 / (r + d)) ** 0.5
    Z = torch.randn(n, r, generator=g).requires_grad_()
    scale = torch.ones(d, requires_grad=True)
    shift = torch.zeros(d, requires_grad=True)
    opt = torch.optim.AdamW([Z, scale, shift], lr=1e-3)
    ids = torch.randint(0, 300, (a.batch, a.seq), generator=g)
    B, S = ids.shape
    T = n + S
    times = []
    for _ in range(a.steps):
        s0 = time.perf_counter()
        P = scale * (Z @ A) + shift
        if t5:
            # As the engine collates it: the input (all but the last 4 ids) behind the prompt into the encoder; the
            # decoder reads the 4 target ids shifted right behind decoder_start_token_id and predicts them.
            x = torch.cat([P.expand(B, -1, -1), model.embed(ids[:, :S - 4])], dim=1)
            start = torch.full((B, 1), model.cfg.decoder_start_token_id, dtype=torch.long)
            logits = model(torch.cat([start, ids[:, S - 4:S - 1]], dim=1), inputs_embeds=x)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, S - 4:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append((time.perf_counter() - s0) * 1000)
            continue
        h = torch.cat([P.expand(B, -1, -1), model.embed(ids)], dim=1)          # [B, T, d]
        freqs = torch.arange(T).float()[:, None] * tl.inv_frequencies(model.cfg)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        mask = torch.ones(B, T, dtype=torch.long)
        for layer in model.model.layers:
            h = layer(h, emb.cos(), emb.sin(), mask)
        h = model.model.norm(h)[:, T - 5:T - 1]                               # rows predicting the last 4 tokens
        logits = h @ model.head_weight().t()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, S - 4:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - s0) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"loadMs": load_ms, "peakRssMB": peak, "medianStepMs": sorted(times)[len(times) // 2], "stepMs": times}))


if __name__ == "__main__":
    main()
