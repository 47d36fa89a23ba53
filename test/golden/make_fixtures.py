"""Golden fixtures for the GPT-2 backbone, computed by an independent PyTorch implementation.

What it makes (under test/fixtures/, about 1.4 MB in all; the golden JSON is 1 MB of it):
  tiny-gpt2/               tiny random GPT-2 (vocab 300, 64 positions, d 32, 2 layers, 4 heads), F32, one
                           model.safetensors, keys without prefix, lm_head tied (no lm_head key); tokenizer.json
                           (merges as "a b" strings) + tokenizer_config.json from a byte-level BPE trained on CORPUS.
  tiny-gpt2-f16-sharded/   the same weights in F16, two shards + model.safetensors.index.json, keys prefixed
                           `transformer.`, plus the legacy `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` buffers that
                           old checkpoints (the hub's gpt2) carry and a loader must skip.
  tiny-gpt2-bf16-lmhead/   the same weights in BF16, one file, no prefix, a separate `lm_head.weight` (= wte);
                           its tokenizer.json writes merges as ["a", "b"] pairs (the newer format).
  tiny-gpt2-golden.json    for every folder, logits of the model loaded FROM THAT FOLDER (so F16/BF16 rounding is
                           in them; arithmetic in float32): a right-padded batch of token ids, and the same batch
                           behind a 3-vector prompt prepended the way HF PEFT prompt tuning does it; also sample
                           texts with their token ids (checked against tokenizers.js when node is available).

Run from the repository root (needs only torch + numpy: Debian `python3-torch`; node for the tokenizer check):
    /usr/bin/python3 test/golden/make_fixtures.py
It is deterministic (seeded), and the fixtures are committed, so CI and the TypeScript tests need no torch.
The model is scripts/torch_gpt2.py; the tokenizer trainer is scripts/make_bpe_tokenizer.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from make_bpe_tokenizer import EOT, BPETokenizer, train_bpe, write_tokenizer  # noqa: E402
from torch_gpt2 import GPT2, GPT2Config, load_hf_folder, perturb_for_tests, save_hf_folder  # noqa: E402

FIXTURES = os.path.join(ROOT, "test", "fixtures")
SEED = 1234
PROMPT_LEN = 3
VOCAB_SIZE = 300

CONFIG = {
    "vocab_size": VOCAB_SIZE, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 4,
    "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
    # 10x GPT-2's 0.02: with d = 32, std 0.02 leaves attention almost uniform and logits ~0.1, so a port with the
    # wrong softmax scale (error ~1e-4) or erf GELU (~4e-7) would still pass. At 0.2 those bugs move logits by
    # ~2 and ~1e-3.
    "initializer_range": 0.2,
    "bos_token_id": VOCAB_SIZE - 1, "eos_token_id": VOCAB_SIZE - 1,
}

VARIANTS = [
    {"name": "tiny-gpt2", "dtype": "F32", "prefix": "", "shards": 1, "separate_lm_head": False,
     "legacy_attn_buffers": False, "merges_format": "strings"},
    {"name": "tiny-gpt2-f16-sharded", "dtype": "F16", "prefix": "transformer.", "shards": 2,
     "separate_lm_head": False, "legacy_attn_buffers": True, "merges_format": "strings"},
    {"name": "tiny-gpt2-bf16-lmhead", "dtype": "BF16", "prefix": "", "shards": 1, "separate_lm_head": True,
     "legacy_attn_buffers": False, "merges_format": "pairs"},
]

CORPUS = """\
A language model reads a sequence of tokens and predicts the next one. The model is large, and training all of
its weights for every new task is slow and expensive. Prompt tuning keeps the model frozen. Only a few virtual
tokens are learned, and they are prepended to the input embeddings of every example.

Ultra-low-dimensional prompt tuning goes further. It learns the prompt in a tiny space of two or three dimensions
and projects it up with a fixed random matrix. A learned scale and shift then align the projected prompt with the
embeddings of the model. The number of trained parameters is small enough to fit in a few kilobytes.

The trainer reads a dataset of inputs and targets, builds batches, and runs the frozen model forward. The loss is
computed only on the target tokens. The optimizer updates the prompt, the scale and the shift, and nothing else.
After each epoch the trainer evaluates the adapter on held-out examples and writes the metrics to a file.

It's a simple idea, but it works: the prompt steers the model toward the task, and the model's own knowledge does
the rest. Isn't that neat? We think so, and we'd like you to try it on your own data, in your own editor.
"""

# Texts whose ids the TypeScript side re-encodes with tokenizers.js (contractions, runs of spaces, newlines,
# digits, non-ASCII letters, an emoji, and the special token).
TOKENIZER_SAMPLES = [
    "The quick brown fox jumps over the lazy dog.",
    "It's frozen;  only the prompt is trained!\n\nIsn't it 42 times smaller?",
    "naïve café 🙂 done<|endoftext|>next",
]

# The two sequences of the batch: different lengths, so the shorter one is right-padded.
BATCH_TEXTS = ["The model is frozen and the prompt is learned.", "Only a few tokens."]


# ----------------------------------------------------------------------------------------------------------------
# Building the model and the tokenizer
# ----------------------------------------------------------------------------------------------------------------

def build_model(cfg: GPT2Config) -> GPT2:
    torch.manual_seed(SEED)
    model = GPT2(cfg).eval()
    perturb_for_tests(model, seed=SEED + 1)
    return model


def make_prompt(d: int) -> torch.Tensor:
    return 0.5 * torch.randn(PROMPT_LEN, d, generator=torch.Generator().manual_seed(SEED + 2))


def make_batch(tok: BPETokenizer) -> Dict[str, torch.Tensor]:
    seqs = [tok.encode(t) for t in BATCH_TEXTS]
    S = max(len(s) for s in seqs)
    pad = tok.vocab[EOT]  # GPT-2 has no pad token; EOT is the usual stand-in (its logits are still recorded)
    ids = torch.tensor([s + [pad] * (S - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (S - len(s)) for s in seqs])
    return {"input_ids": ids, "attention_mask": mask}


# ----------------------------------------------------------------------------------------------------------------
# Golden values
# ----------------------------------------------------------------------------------------------------------------

def to_lists(t: torch.Tensor):
    """Nested lists of float32 values at 9 significant digits, which identify a float32 exactly."""
    if t.dtype.is_floating_point:
        return [to_lists(x) for x in t] if t.dim() > 0 else float(f"{t.float().item():.9g}")
    return t.tolist()


@torch.no_grad()
def ids_case(model: GPT2, batch: Dict[str, torch.Tensor],
             with_hidden: bool) -> Tuple[dict, torch.Tensor]:
    logits, hidden = model(batch["input_ids"], attention_mask=batch["attention_mask"], return_hidden=True)
    out = {"input_ids": to_lists(batch["input_ids"]), "attention_mask": to_lists(batch["attention_mask"]),
           "logits": to_lists(logits)}
    if with_hidden:
        out["hidden"] = {"embeddings": to_lists(hidden["embeddings"]),
                         "blocks": [to_lists(h) for h in hidden["blocks"]], "ln_f": to_lists(hidden["ln_f"])}
    return out, logits


@torch.no_grad()
def prompt_case(model: GPT2, batch: Dict[str, torch.Tensor],
                prompt: torch.Tensor) -> Tuple[dict, torch.Tensor]:
    """PEFT prompt tuning for causal LMs: [prompt; token embeddings] as inputs_embeds, mask [1]*n + mask,
    positions 0..n+S-1 (the model's default)."""
    B = batch["input_ids"].shape[0]
    embeds = torch.cat([prompt.expand(B, -1, -1), model.embed(batch["input_ids"])], dim=1)   # [B, n+S, d]
    mask = torch.cat([torch.ones(B, PROMPT_LEN, dtype=torch.long), batch["attention_mask"]], dim=1)
    logits = model(inputs_embeds=embeds, attention_mask=mask)                                 # [B, n+S, V]
    out = {"prompt": to_lists(prompt), "input_ids": to_lists(batch["input_ids"]),
           "attention_mask": to_lists(batch["attention_mask"]), "logits": to_lists(logits)}
    return out, logits


# ----------------------------------------------------------------------------------------------------------------
# tokenizers.js cross-check
# ----------------------------------------------------------------------------------------------------------------

JS_ENCODE = """
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
const { folder, texts } = JSON.parse(readFileSync(0, 'utf8'));
const read = (f) => JSON.parse(readFileSync(folder + '/' + f, 'utf8'));
const tok = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
const out = texts.map((t) => {
  const ids = tok.encode(t, { add_special_tokens: false }).ids;
  return { ids, decoded: tok.decode(ids) };
});
process.stdout.write(JSON.stringify(out));
"""


def js_encode(folder: str, texts: List[str]) -> Optional[List[dict]]:
    """Ids and decoded text from tokenizers.js, or None when node / node_modules are not there."""
    if not shutil.which("node") or not os.path.isdir(os.path.join(ROOT, "node_modules", "@huggingface")):
        return None
    res = subprocess.run(["node", "--input-type=module", "-e", JS_ENCODE], cwd=ROOT, check=True,
                         input=json.dumps({"folder": folder, "texts": texts}), capture_output=True, text=True)
    return json.loads(res.stdout)


def check_tokenizer(folder: str, tok: BPETokenizer) -> None:
    texts = TOKENIZER_SAMPLES + BATCH_TEXTS + [CORPUS]
    js = js_encode(folder, texts)
    if js is None:
        print("  tokenizers.js check SKIPPED (no node or node_modules; run `npm ci` first)")
        return
    for text, r in zip(texts, js):
        ours = tok.encode(text)
        if r["ids"] != ours:
            raise SystemExit(f"{folder}: python and tokenizers.js disagree on {text[:40]!r}:\n{ours}\n{r['ids']}")
        if r["decoded"] != text or tok.decode(ours) != text:
            raise SystemExit(f"{folder}: decode does not round-trip {text[:40]!r}: {r['decoded'][:40]!r}")
    print(f"  tokenizers.js agrees on {len(texts)} texts ({sum(len(r['ids']) for r in js)} ids) and round-trips")


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------

def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def main() -> None:
    cfg = GPT2Config.from_dict({"model_type": "gpt2", **CONFIG})
    vocab, merges = train_bpe(CORPUS, VOCAB_SIZE)
    assert len(vocab) == VOCAB_SIZE, f"corpus too small for {VOCAB_SIZE} tokens: got {len(vocab)}"
    tok = BPETokenizer(vocab, merges)
    model = build_model(cfg)
    batch = make_batch(tok)
    prompt = make_prompt(cfg.n_embd)
    with torch.no_grad():
        ref_ids = model(batch["input_ids"], attention_mask=batch["attention_mask"])

    golden = {
        "generator": "test/golden/make_fixtures.py (PyTorch, scripts/torch_gpt2.py); values are float32 at 9 digits",
        "config": CONFIG,
        "pad_token_id": vocab[EOT],
        "prompt_length": PROMPT_LEN,
        "tokenizer_samples": [{"text": t, "ids": tok.encode(t)} for t in TOKENIZER_SAMPLES],
        "variants": {},
    }
    for v in VARIANTS:
        folder = os.path.join(FIXTURES, v["name"])
        shutil.rmtree(folder, ignore_errors=True)
        save_hf_folder(model, cfg, folder, dtype=v["dtype"], prefix=v["prefix"], shards=v["shards"],
                       separate_lm_head=v["separate_lm_head"], legacy_attn_buffers=v["legacy_attn_buffers"])
        write_tokenizer(folder, vocab, merges, cfg.n_positions, v["merges_format"])
        print(f"{v['name']}:")
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
            check_tokenizer(folder, BPETokenizer.from_json(json.load(f)))  # the file as written, not `tok`

        loaded, _ = load_hf_folder(folder)  # the golden values come from the folder, rounding included
        ids_out, ids_logits = ids_case(loaded, batch, with_hidden=v["dtype"] == "F32")
        prompt_out, _ = prompt_case(loaded, batch, prompt)
        print(f"  logits vs in-memory f32 model: max |diff| {max_diff(ids_logits, ref_ids):.3g}"
              f" (max |logit| {ref_ids.abs().max().item():.3g})")
        if v["dtype"] == "F32":
            assert max_diff(ids_logits, ref_ids) <= 1e-6, "F32 folder does not reproduce the in-memory model"
        golden["variants"][v["name"]] = {
            "folder": v["name"], "dtype": v["dtype"], "key_prefix": v["prefix"], "shards": v["shards"],
            "separate_lm_head": v["separate_lm_head"], "legacy_attn_buffers": v["legacy_attn_buffers"],
            "merges_format": v["merges_format"], "ids": ids_out, "prompt": prompt_out,
        }

    path = os.path.join(FIXTURES, "tiny-gpt2-golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    check_json_round_trip(path, ref_ids)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


def check_json_round_trip(path: str, ref_ids: torch.Tensor) -> None:
    """The printed values must give back the float32 logits exactly."""
    with open(path, encoding="utf-8") as f:
        g = json.load(f)
    back = torch.tensor(g["variants"]["tiny-gpt2"]["ids"]["logits"], dtype=torch.float32)
    assert max_diff(back, ref_ids) == 0.0, "9-digit JSON values do not round-trip to float32"


if __name__ == "__main__":
    main()
