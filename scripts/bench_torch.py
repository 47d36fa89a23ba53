"""PyTorch peer for scripts/bench.ts: the same ULPT training step (forward, backward to the prompt, AdamW).

Two ways to run it (Debian: `apt-get install -y python3-torch libopenblas0-pthread`, then /usr/bin/python3):

  * driven by `node out/bench.js --compare-torch` (the normal way): `--spec FILE` names the JSON file bench.ts
    wrote — the model folder (random weights for w1/w2, the shipped example backbone), the token ids, Z and A — so
    both engines compute exactly the same step from the same numbers, and the first losses can be compared.
    With `--serve` it loads once, then runs one step per `step` line on stdin and answers one JSON line, so the
    benchmark can interleave engines step by step on a busy machine.
  * alone: `--workload w1|w2|example [--threads N] [--device cpu|cuda] [--runs K]` builds the workload itself
    (seeded random weights and batch; same shapes, other numbers) and prints one JSON line.

Workloads (shapes as in bench.ts):
  w1       GPT-2 architecture, d 256, 4 layers, 4 heads, vocab 8192; batch 8 x 128 tokens, 16 targets; n 16, r 2
  w2       GPT-2 small (d 768, 12 layers, 12 heads, vocab 50257, 1024 positions); batch 16 x 256, 16 targets; n 100, r 2
  example  examples/workspace/model; batch 16 x 24 tokens, 2 targets; n 10, r 2
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time


def _threads_from_argv() -> int:
    """--threads N, read before torch is imported: OpenMP and OpenBLAS size their pools from the environment."""
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 0


if _threads_from_argv() > 0:
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(_threads_from_argv())

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt2 import GPT2, GPT2Config, load_hf_folder  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = {
    "w1": dict(model=dict(vocab_size=8192, n_positions=1024, n_embd=256, n_layer=4, n_head=4),
               batch=8, seq=128, targets=16, prompt_length=16, rank=2),
    "w2": dict(model=dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
               batch=16, seq=256, targets=16, prompt_length=100, rank=2),
    "example": dict(model=os.path.join(ROOT, "examples", "workspace", "model"),
                    batch=16, seq=24, targets=2, prompt_length=10, rank=2),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Step:
    """One ULPT step: P = scale * (Z @ A) + shift prepended to the token embeddings, the mean NLL of the target
    tokens from the logits at the rows that predict them, backward to Z/scale/shift only, AdamW."""

    def __init__(self, model: GPT2, ids: torch.Tensor, targets: int, z: torch.Tensor, A: torch.Tensor,
                 device: torch.device, lr: float = 1e-3, weight_decay: float = 1e-5):
        self.model = model.to(device).eval()
        for w in self.model.parameters():
            w.requires_grad_(False)
        self.device = device
        d = model.cfg.n_embd
        B, S = ids.shape
        n = z.shape[0]
        self.B, self.S, self.n, self.d = B, S, n, d
        self.ids = ids.to(device)
        self.z = z.clone().to(device).requires_grad_(True)
        self.A = A.to(device)
        self.scale = torch.ones(d, device=device, requires_grad=True)
        self.shift = torch.zeros(d, device=device, requires_grad=True)
        self.opt = torch.optim.AdamW([self.z, self.scale, self.shift], lr=lr, weight_decay=weight_decay)
        T = n + S
        # Token j of a sequence is predicted by the hidden state at n + j - 1; the last `targets` tokens are targets.
        self.rows = torch.tensor([b * T + n + j - 1 for b in range(B) for j in range(S - targets, S)], device=device)
        self.targets = self.ids[:, S - targets:].reshape(-1)
        self.mask = torch.ones(B, T, dtype=torch.long, device=device)

    def __call__(self) -> float:
        B, n, d = self.B, self.n, self.d
        prompt = self.scale * (self.z @ self.A) + self.shift                          # [n, d]
        x = torch.cat([prompt.expand(B, n, d), self.model.embed(self.ids)], 1)       # [B, n+S, d]
        _, hidden = self.model(inputs_embeds=x, attention_mask=self.mask, return_hidden=True)
        h = hidden["ln_f"].reshape(-1, d)[self.rows]                                  # [N, d]
        loss = torch.nn.functional.cross_entropy(h @ self.model.wte.weight.t(), self.targets)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()  # waits for the device


def from_spec(spec: dict, device: torch.device) -> Step:
    model, _ = load_hf_folder(spec["modelDir"])
    B, S = spec["batch"], spec["seq"]
    ids = torch.tensor(spec["ids"], dtype=torch.long).reshape(B, S)
    n, r = spec["promptLength"], spec["rank"]
    z = torch.tensor(spec["z"], dtype=torch.float32).reshape(n, r)
    A = torch.tensor(spec["A"], dtype=torch.float32).reshape(r, model.cfg.n_embd)
    return Step(model, ids, spec["targets"], z, A, device, lr=spec["lr"])


def from_workload(name: str, device: torch.device) -> Step:
    w = WORKLOADS[name]
    torch.manual_seed(0)
    if isinstance(w["model"], str):
        model, cfg = load_hf_folder(w["model"])
    else:
        cfg = GPT2Config(**w["model"], embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
        model = GPT2(cfg)
    d, n, r = cfg.n_embd, w["prompt_length"], w["rank"]
    ids = torch.randint(0, cfg.vocab_size - 1, (w["batch"], w["seq"]))
    A = (torch.rand(r, d) * 2 - 1) * (6 / (r + d)) ** 0.5
    return Step(model, ids, w["targets"], torch.randn(n, r), A, device)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)}), torch {torch.__version__}"
    return f"CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, {torch.get_num_threads()} threads"


def serve(step: Step, device: torch.device, tokens: int) -> None:
    """One JSON line per command on stdin: `step` times one step, `quit` ends."""
    print(json.dumps({"ready": True, "device": describe(device), "threads": torch.get_num_threads(), "tokens": tokens,
                      "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd != "step":
            print(json.dumps({"error": f"unknown command {cmd!r}"}), flush=True)
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000  # CPU: all threads
        extra = {"gpu_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20} if device.type == "cuda" else {}
        print(json.dumps({"ms": ms, "cpu_ms": cpu_ms, "loss": loss, "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), **extra}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="example")
    p.add_argument("--spec", help="JSON written by bench.ts (model folder, ids, Z, A)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (and OMP_NUM_THREADS); 0: torch's default")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--serve", action="store_true", help="load, then one step per `step` line on stdin")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch.py: --device cuda but torch sees no CUDA device")
    device = torch.device(a.device)
    if a.spec:
        with open(a.spec) as f:
            spec = json.load(f)
        step, tokens = from_spec(spec, device), spec["batch"] * (spec["promptLength"] + spec["seq"])
    else:
        w = WORKLOADS[a.workload]
        step, tokens = from_workload(a.workload, device), w["batch"] * (w["prompt_length"] + w["seq"])
    if a.serve:
        return serve(step, device, tokens)
    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    print(json.dumps({"workload": a.workload, "backend": "pytorch", "device": describe(device), "threads": torch.get_num_threads(),
                      "ms_per_step": med, "min_ms": min(times), "tokens_per_s": tokens / (med / 1000),
                      "peak_rss_mb": peak_rss_mb(), "runs": a.runs}))


if __name__ == "__main__":
    main()
