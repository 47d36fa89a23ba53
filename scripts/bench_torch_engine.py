"""The PyTorch engine's training step for scripts/bench.ts (`--engines torch`), beside plain PyTorch doing the same step.

  --engine  the step as python/ulpt_torch trains it: load_model (transformers, inputs_embeds, frozen), the ULPT prompt
            module, collate, batch_loss (the head on the target rows), backward, global-norm clipping and the engine's
            AdamW — the functions the engine's loop calls, on the bench's numbers.
  --plain   what someone would write by hand with the same transformers model: P = scale*(Z@A)+shift prepended to
            the token embeddings, the model's logits at the target rows, cross-entropy, backward,
            torch.optim.AdamW. The engine's overhead is its time over this one's, thread for thread.

Both read the spec bench.ts writes (model folder, token ids, Z, A; the last `targets` tokens of each row are the
targets) and serve the bench's protocol: a `ready` line, then one JSON line per `step` on stdin, `quit` ends.
Run with the repository's .venv (PYTHONPATH=python for the engine).
"""
import argparse
import json
import os
import sys


# bench_torch sizes the thread pools from --threads before torch is imported, and serves the bench's protocol.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import serve  # noqa: E402

import torch  # noqa: E402


def pairs(spec):
    B, S, k = spec["batch"], spec["seq"], spec["targets"]
    rows = [spec["ids"][b * S:(b + 1) * S] for b in range(B)]
    return [(r[: S - k], r[S - k:]) for r in rows]


def engine_step(spec, device):
    """The engine's own pieces, as its loop (train/trainer.py gradients + _loop) calls them."""
    from ulpt_torch.models.loader import load_model
    from ulpt_torch.train.batch import collate
    from ulpt_torch.train.objective import batch_loss
    from ulpt_torch.train.optimizer import AdamW, clip_by_global_norm
    from ulpt_torch.ulpt.prompt import create_prompt

    lm = load_model(spec["modelDir"], False, device)
    d = lm.embedding_matrix.shape[1]
    prompt = create_prompt("ulpt", spec["promptLength"], spec["rank"], d, 42, True, "one", lm.embedding_matrix).to(device)
    with torch.no_grad():
        prompt.z.copy_(torch.tensor(spec["z"], dtype=torch.float32).reshape(spec["promptLength"], spec["rank"]))
        assert torch.allclose(prompt.a.cpu(), torch.tensor(spec["A"], dtype=torch.float32).reshape(spec["rank"], d)), "A from seed 42 differs from the spec's"
    optimizer = AdamW(prompt.variables(), 1e-5)
    examples = pairs(spec)
    pad = 0

    def step() -> float:
        for p in prompt.variables().values():
            p.grad = None
        batch = collate(examples, pad, spec["promptLength"]).to(device)
        normalizer = sum(len(t) for _, t in examples)
        loss = batch_loss(lm, prompt(), batch, normalizer)
        loss.backward()
        grads = {k: v.grad for k, v in prompt.variables().items()}
        clip_by_global_norm(grads, 1.0)
        optimizer.step(grads, spec["lr"])
        return float(loss)

    return step


def plain_step(spec, device):
    """By hand, with transformers: the same model through inputs_embeds, nothing of the engine."""
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(spec["modelDir"], use_safetensors=True, dtype=torch.float32, attn_implementation="sdpa").to(device).eval()
    for w in model.parameters():
        w.requires_grad_(False)
    emb = model.get_input_embeddings()
    d = emb.weight.shape[1]
    n, r, B, S, k = spec["promptLength"], spec["rank"], spec["batch"], spec["seq"], spec["targets"]
    ids = torch.tensor(spec["ids"], dtype=torch.long, device=device).reshape(B, S)
    z = torch.tensor(spec["z"], dtype=torch.float32, device=device).reshape(n, r).requires_grad_(True)
    A = torch.tensor(spec["A"], dtype=torch.float32, device=device).reshape(r, d)
    scale = torch.ones(d, device=device, requires_grad=True)
    shift = torch.zeros(d, device=device, requires_grad=True)
    opt = torch.optim.AdamW([z, scale, shift], lr=spec["lr"], weight_decay=1e-5)
    T = n + S
    rows = torch.tensor([b * T + n + j - 1 for b in range(B) for j in range(S - k, S)], device=device)
    targets = ids[:, S - k:].reshape(-1)
    mask = torch.ones(B, T, dtype=torch.long, device=device)

    def step() -> float:
        prompt = scale * (z @ A) + shift  # [n, d]
        x = torch.cat([prompt.expand(B, n, d), emb(ids)], 1)  # [B, n+S, d]
        hidden = model.base_model(inputs_embeds=x, attention_mask=mask, use_cache=False).last_hidden_state
        logits = model.get_output_embeddings()(hidden.reshape(-1, d)[rows])  # [N, V]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([z, scale, shift], 1.0)
        opt.step()
        return loss.item()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--engine", action="store_true")
    which.add_argument("--plain", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    with open(a.spec) as f:
        spec = json.load(f)
    step = engine_step(spec, device) if a.engine else plain_step(spec, device)
    serve(step, device, spec["batch"] * (spec["promptLength"] + spec["seq"]))


if __name__ == "__main__":
    main()
