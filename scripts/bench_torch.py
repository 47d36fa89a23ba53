"""PyTorch peer for scripts/bench.ts: the same ULPT training step on the same checkpoint and batch shapes.

Run by `npm run bench` when Debian's python3-torch is installed (/usr/bin/python3); prints one JSON line.
The batch is seeded random ids like the TypeScript side (the values differ, the shapes and work do not).
"""
import argparse, json, os, platform, statistics, sys, time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from torch_gpt2 import load_hf_folder  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    for k, d in [("--batch", 16), ("--seq", 24), ("--prompt-length", 10), ("--rank", 2), ("--runs", 10)]:
        p.add_argument(k, type=int, default=d)
    p.add_argument("--model", default="examples/workspace/model")
    a = p.parse_args()
    torch.manual_seed(0)
    model, cfg = load_hf_folder(a.model)
    model.eval()
    for w in model.parameters():
        w.requires_grad_(False)
    d, n, r, B, S = cfg.n_embd, a.prompt_length, a.rank, a.batch, a.seq
    z = torch.randn(n, r, requires_grad=True)
    A = (torch.rand(r, d) * 2 - 1) * (6 / (r + d)) ** 0.5
    scale = torch.ones(d, requires_grad=True)
    shift = torch.zeros(d, requires_grad=True)
    opt = torch.optim.AdamW([z, scale, shift], lr=1e-3, weight_decay=1e-5)
    ids = torch.randint(0, cfg.vocab_size - 1, (B, S))
    rows = torch.tensor([b * (n + S) + n + j - 1 for b in range(B) for j in (S - 2, S - 1)])
    targets = ids[:, S - 2:].reshape(-1)

    def step() -> float:
        t0 = time.perf_counter()
        prompt = scale * (z @ A) + shift                                       # [n, d]
        x = torch.cat([prompt.expand(B, n, d), model.embed(ids)], 1)           # [B, n+S, d]
        mask = torch.ones(B, n + S, dtype=torch.long)
        _, hidden = model(inputs_embeds=x, attention_mask=mask, return_hidden=True)
        h = hidden["ln_f"].reshape(B * (n + S), d)[rows]                       # [N, d]
        loss = torch.nn.functional.cross_entropy(h @ model.wte.weight.t(), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return (time.perf_counter() - t0) * 1000

    for _ in range(2):
        step()
    times = [step() for _ in range(a.runs)]
    med = statistics.median(times)
    print(json.dumps({"backend": "pytorch", "device": f"CPU, torch {torch.__version__}, {torch.get_num_threads()} threads",
                      "medianMs": med, "minMs": min(times), "tokensPerSecond": B * (n + S) / (med / 1000)}))


if __name__ == "__main__":
    main()
