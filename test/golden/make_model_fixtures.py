"""Golden fixtures for the Llama family (llama, mistral, qwen2) and T5 (original and v1.1 / Flan), computed by the
independent PyTorch references in this folder (torch_llama.py, torch_t5.py) with real tokenizers
(make_tokenizers.py).

What it makes, under test/fixtures/ (each folder a Hugging Face model folder, tens of KB):
  tiny-llama3/      llama, BF16, one file: GQA (4 query / 2 key-value heads), head_dim 16 given explicitly (heads x
                    head_dim != hidden_size), rope_scaling llama3, tied lm_head (not stored); Llama 3 byte-level BPE
                    with <|begin_of_text|> added to inputs, eos <|eot_id|>, generation_config eos [end_of_text,
                    eom, eot] (Llama 3.x Instruct's layout).
  tiny-llama2/      llama, F16, two shards + index: plain multi-head attention, rope_scaling linear (factor 2),
                    separate lm_head, the legacy per-layer rotary_emb.inv_freq buffers old conversions carry;
                    SentencePiece BPE with byte fallback in the legacy Llama 2 tokenizer.json layout (BOS <s>).
  tiny-mistral/     mistral, F32: sliding_window 6 (shorter than the test sequences), 4 query heads over ONE
                    key-value head, head_dim 12; SentencePiece BPE behind a Metaspace pre-tokenizer.
  tiny-qwen2/       qwen2, F32: q/k/v biases, tied lm_head, vocab_size 400 > the tokenizer's 384 (Qwen pads its
                    embedding matrix), sliding_window set but use_sliding_window false (must be ignored); Qwen2
                    byte-level BPE that adds no BOS.
  tiny-t5/          t5 (original): ReLU feed-forward, tied head rescaled by d_model^-0.5, the encoder./decoder.
                    embed_tokens copies of shared and the unused decoder EncDecAttention relative_attention_bias that
                    checkpoints carry; SentencePiece Unigram with </s> appended to inputs, pad = decoder start.
  tiny-flan-t5/     t5 v1.1 / Flan: gated-GELU, untied lm_head, num_heads x d_kv (48) != d_model (32),
                    num_decoder_layers 3 != num_layers 2, BF16 in two shards.
  <name>-golden.json          inputs (ids, masks, the prompt), tokenizer samples, rotary frequencies or T5 bucket
                              tables, greedy generations (recomputed without any cache, one sequence at a time)
  <name>-golden.safetensors   the logits, float32: "ids" (a right-padded batch) and "prompt" (the same batch behind
                              3 virtual tokens, prepended as PEFT does: to the encoder input only for T5)
The golden values come from the model re-loaded FROM ITS FOLDER, so BF16/F16 rounding is in them, and are computed
in float64 (rotary angles and T5 buckets in float32, as Hugging Face defines them): they are the exact values, so
the tests measure the engine's own float32 error (torch's float32 result is up to ~2e-5 from them here).

Run from the repository root (Debian: python3-torch python3-regex python3-sentencepiece python3-protobuf; node and
node_modules for the tokenizers.js cross-check):
    /usr/bin/python3 test/golden/make_model_fixtures.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Dict, List

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import make_tokenizers as mt  # noqa: E402
import torch_llama as tl  # noqa: E402
import torch_t5 as t5  # noqa: E402
from torch_gpt2 import HF_DTYPE_NAMES, TORCH_DTYPES, _split_into_shards, read_hf_tensors, write_safetensors  # noqa: E402

FIXTURES = os.path.join(ROOT, "test", "fixtures")
SEED = 4321
PROMPT_LEN = 3
GEN_STEPS = 8
BATCH_TEXTS = ["The model is frozen and the prompt is learned.", "Only a few tokens."]
T5_TARGETS = ["Das Haus ist klein.", "positive"]

LLAMA_VARIANTS = [
    # Tied heads see the input token's own embedding through the residual stream: larger layer weights and smaller
    # embeddings keep a random model's greedy output from repeating one token, so generation tests mean something.
    {"name": "tiny-llama3", "tok": "llama3", "dtype": "BF16", "shards": 1, "init": {"std": 0.45, "embed_std": 0.4},
     "config": {"model_type": "llama", "vocab_size": 384, "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 128,
                "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64, "rope_type": "llama3"},
                "tie_word_embeddings": True},
     "ids": {"bos_token_id": "<|begin_of_text|>", "eos_token_id": ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"]},
     "generation": {"bos_token_id": "<|begin_of_text|>", "eos_token_id": ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
                    "do_sample": True, "temperature": 0.6, "top_p": 0.9}},
    {"name": "tiny-llama2", "tok": "llama2", "dtype": "F16", "shards": 2, "legacy_inv_freq": True,
     "config": {"model_type": "llama", "vocab_size": 384, "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-5,
                "rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 2.0},
                "max_position_embeddings": 64, "tie_word_embeddings": False, "pretraining_tp": 1},
     "ids": {"bos_token_id": "<s>", "eos_token_id": "</s>"},
     "generation": {"bos_token_id": "<s>", "eos_token_id": "</s>", "pad_token_id": 0}},
    {"name": "tiny-mistral", "tok": "mistral", "dtype": "F32", "shards": 1,
     "config": {"model_type": "mistral", "vocab_size": 384, "hidden_size": 32, "intermediate_size": 48,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 12,
                "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "sliding_window": 6, "max_position_embeddings": 128,
                "tie_word_embeddings": False},
     "ids": {"bos_token_id": "<s>", "eos_token_id": "</s>"},
     "generation": {"bos_token_id": "<s>", "eos_token_id": "</s>"}},
    {"name": "tiny-qwen2", "tok": "qwen2", "dtype": "F32", "shards": 1, "init": {"std": 0.45, "embed_std": 0.4},
     "config": {"model_type": "qwen2", "vocab_size": 400, "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0, "max_position_embeddings": 128, "tie_word_embeddings": True,
                "sliding_window": 4, "use_sliding_window": False, "max_window_layers": 1},
     "ids": {"bos_token_id": "<|endoftext|>", "eos_token_id": "<|endoftext|>"},
     "generation": {"bos_token_id": "<|endoftext|>", "eos_token_id": "<|endoftext|>", "max_new_tokens": 2048}},
]

T5_VARIANTS = [
    {"name": "tiny-t5", "dtype": "F32", "shards": 1, "embed_copies": True, "legacy_cross_bias": True,
     "init": {"std": 0.5, "embed_std": 0.5},
     "config": {"vocab_size": 232, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4,
                "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
                "feed_forward_proj": "relu", "tie_word_embeddings": True, "layer_norm_epsilon": 1e-6},
     "extra": {"n_positions": 512, "architectures": ["T5ForConditionalGeneration"]}},
    {"name": "tiny-flan-t5", "dtype": "BF16", "shards": 2, "embed_copies": False, "legacy_cross_bias": False,
     "config": {"vocab_size": 232, "d_model": 32, "d_kv": 12, "d_ff": 48, "num_layers": 2, "num_decoder_layers": 3,
                "num_heads": 4, "relative_attention_num_buckets": 8, "relative_attention_max_distance": 20,
                "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "layer_norm_epsilon": 1e-6},
     "extra": {"n_positions": 512, "architectures": ["T5ForConditionalGeneration"], "is_gated_act": True,
               "dense_act_fn": "gelu_new"}},
]


def build_tokenizers() -> Dict[str, mt.Tok]:
    return {"llama3": mt.byte_bpe("llama3", 374), "qwen2": mt.byte_bpe("qwen2", 381),
            "llama2": mt.spm_bpe("llama2", 384), "mistral": mt.spm_bpe("mistral", 384), "t5": mt.spm_unigram(4)}


# ----------------------------------------------------------------------------------------------------------------
# Folders
# ----------------------------------------------------------------------------------------------------------------

def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def save_weights(folder: str, tensors: Dict[str, torch.Tensor], dtype: str, shards: int) -> None:
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), {k: (dtype, t) for k, t in tensors.items()})
        return
    size = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    sizes = {k: t.numel() * size for k, t in tensors.items()}
    weight_map = {}
    for i, keys in enumerate(_split_into_shards(sorted(tensors), sizes, shards)):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(folder, name), {k: (dtype, tensors[k]) for k in keys})
        weight_map.update({k: name for k in keys})
    write_json(os.path.join(folder, "model.safetensors.index.json"),
               {"metadata": {"total_size": sum(sizes.values())}, "weight_map": dict(sorted(weight_map.items()))})


def resolve_ids(spec: dict, tok: mt.Tok) -> dict:
    """Token strings in a variant's id fields -> ids, as the real files store them."""
    out = {}
    for k, v in spec.items():
        if isinstance(v, list):
            out[k] = [tok.specials[s] if isinstance(s, str) else s for s in v]
        else:
            out[k] = tok.specials[v] if isinstance(v, str) else v
    return out


# ----------------------------------------------------------------------------------------------------------------
# Golden values
# ----------------------------------------------------------------------------------------------------------------

def floats(t: torch.Tensor):
    return [float(f"{x:.9g}") for x in t.flatten().tolist()]


def pad_batch(seqs: List[List[int]], pad: int):
    S = max(len(s) for s in seqs)
    ids = torch.tensor([s + [pad] * (S - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (S - len(s)) for s in seqs])
    return ids, mask


def tokenizer_golden(tok: mt.Tok) -> dict:
    texts = mt.SAMPLES
    return {"samples": [{"text": t, "ids": tok.encode(t), "input_ids": tok.encode(t, add_special_tokens=True),
                         "decoded": tok.decode(tok.encode(t))} for t in texts],
            "prefix": tok.prefix, "suffix": tok.suffix, "specials": tok.specials}


@torch.no_grad()
def llama_golden(v: dict, model: tl.LlamaForCausalLM, tok: mt.Tok, prompt: torch.Tensor, stop: List[int]):
    seqs = [tok.encode(t, add_special_tokens=True) for t in BATCH_TEXTS]
    ids, mask = pad_batch(seqs, 0)
    logits_ids = model(ids, attention_mask=mask)
    B = ids.shape[0]
    prompt = prompt.double()
    embeds = torch.cat([prompt.expand(B, -1, -1), model.embed(ids)], dim=1)
    pmask = torch.cat([torch.ones(B, PROMPT_LEN, dtype=torch.long), mask], dim=1)
    logits_prompt = model(inputs_embeds=embeds, attention_mask=pmask)
    gens = []
    for s in seqs:
        x = torch.tensor([s])
        gens.append({"input_ids": s, "plain": tl.greedy(model, model.embed(x), GEN_STEPS, stop),
                     "prompted": tl.greedy(model, torch.cat([prompt[None], model.embed(x)], dim=1), GEN_STEPS, stop)})
    data = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "generations": gens,
            "inv_freq": floats(tl.inv_frequencies(model.cfg))}
    return data, {"ids": logits_ids, "prompt": logits_prompt}


@torch.no_grad()
def t5_golden(model: t5.T5ForConditionalGeneration, tok: mt.Tok, prompt: torch.Tensor, stop: List[int]):
    cfg = model.cfg
    seqs = [tok.encode(t, add_special_tokens=True) for t in BATCH_TEXTS]
    ids, mask = pad_batch(seqs, cfg.pad_token_id)
    targets = [tok.encode(t) + [cfg.eos_token_id] for t in T5_TARGETS]
    dec, dmask = pad_batch([[cfg.decoder_start_token_id] + t[:-1] for t in targets], cfg.pad_token_id)
    logits_ids = model(dec, input_ids=ids, attention_mask=mask, decoder_attention_mask=dmask)
    B = ids.shape[0]
    prompt = prompt.double()
    embeds = torch.cat([prompt.expand(B, -1, -1), model.embed(ids)], dim=1)
    pmask = torch.cat([torch.ones(B, PROMPT_LEN, dtype=torch.long), mask], dim=1)
    logits_prompt = model(dec, inputs_embeds=embeds, attention_mask=pmask, decoder_attention_mask=dmask)
    gens = []
    for s in seqs:
        x = model.embed(torch.tensor([s]))
        gens.append({"input_ids": s, "plain": t5.greedy(model, x, GEN_STEPS, stop),
                     "prompted": t5.greedy(model, torch.cat([prompt[None], x], dim=1), GEN_STEPS, stop)})
    rel = torch.arange(-300, 301)
    buckets = {}
    for nb, md in [(32, 128), (cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance)]:
        for bi in (True, False):
            key = f"{nb}/{md}/{'bidirectional' if bi else 'causal'}"
            buckets[key] = t5.relative_position_bucket(rel, bi, nb, md).tolist()
    data = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "targets": targets,
            "decoder_input_ids": dec.tolist(), "decoder_attention_mask": dmask.tolist(), "generations": gens,
            "buckets": {"relative_positions": [-300, 300], "tables": buckets}}
    return data, {"ids": logits_ids, "prompt": logits_prompt}


def write_golden(name: str, data: dict, logits: Dict[str, torch.Tensor]) -> None:
    write_json(os.path.join(FIXTURES, f"{name}-golden.json"), data)
    write_safetensors(os.path.join(FIXTURES, f"{name}-golden.safetensors"),
                      {k: ("F32", t.float().contiguous()) for k, t in logits.items()},
                      {"generator": "test/golden/make_model_fixtures.py"})


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------

def make_llama(v: dict, tok: mt.Tok, prompt_seed: int) -> None:
    name, folder = v["name"], os.path.join(FIXTURES, v["name"])
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    ids = resolve_ids(v["ids"], tok)
    cfg_json = {**v["config"], **ids, "architectures": [{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                                                        "qwen2": "Qwen2ForCausalLM"}[v["config"]["model_type"]]],
                "hidden_act": "silu", "torch_dtype": HF_DTYPE_NAMES[v["dtype"]], "initializer_range": 0.02}
    write_json(os.path.join(folder, "config.json"), dict(sorted(cfg_json.items())))
    write_json(os.path.join(folder, "generation_config.json"), resolve_ids(v["generation"], tok))
    tok.write(folder)

    known = set(tl.LlamaConfig.__dataclass_fields__) - {"extra"}
    cfg = tl.LlamaConfig(**{k: x for k, x in v["config"].items() if k in known})
    torch.manual_seed(SEED)
    model = tl.LlamaForCausalLM(cfg).eval()
    model.init_for_tests(SEED + 1, **v.get("init", {}))
    save_weights(folder, tl.checkpoint_tensors(model, legacy_inv_freq=v.get("legacy_inv_freq", False)), v["dtype"], v["shards"])

    loaded = tl.LlamaForCausalLM(cfg).eval()                 # the golden values come from the folder
    tl.load_state(loaded, read_hf_tensors(folder))
    loaded.double()                                          # ... computed in float64: the exact values
    prompt = 0.5 * torch.randn(PROMPT_LEN, cfg.hidden_size, generator=torch.Generator().manual_seed(prompt_seed))
    as_list = lambda x: x if isinstance(x, list) else [x]  # noqa: E731
    stop = sorted(set(as_list(ids["eos_token_id"])) | set(as_list(resolve_ids(v["generation"], tok)["eos_token_id"])))
    data, logits = llama_golden(v, loaded, tok, prompt, stop)
    data = {"generator": "test/golden/make_model_fixtures.py (PyTorch: test/golden/torch_llama.py)",
            "model_type": cfg.model_type, "dtype": v["dtype"], "prompt": floats(prompt), "prompt_length": PROMPT_LEN,
            "stop_ids": stop, "tokenizer": tokenizer_golden(tok), **data}
    write_golden(name, data, logits)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, logits max |x| "
          f"{logits['ids'].abs().max():.3g}, generations {[g['prompted'] for g in data['generations']]}")
    mt.check_with_tokenizers_js(folder, tok, mt.SAMPLES + BATCH_TEXTS + [mt.CORPUS])


def make_t5(v: dict, tok: mt.Tok, prompt_seed: int) -> None:
    name, folder = v["name"], os.path.join(FIXTURES, v["name"])
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    cfg = t5.T5Config(**v["config"])
    cfg_json = {**v["config"], **v["extra"], "model_type": "t5", "pad_token_id": 0, "eos_token_id": 1,
                "decoder_start_token_id": 0, "torch_dtype": HF_DTYPE_NAMES[v["dtype"]], "dropout_rate": 0.1,
                "initializer_factor": 1.0, "is_encoder_decoder": True, "use_cache": True}
    write_json(os.path.join(folder, "config.json"), dict(sorted(cfg_json.items())))
    write_json(os.path.join(folder, "generation_config.json"),
               {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0})
    tok.write(folder)
    torch.manual_seed(SEED)
    model = t5.T5ForConditionalGeneration(cfg).eval()
    model.init_for_tests(SEED + 2, **v.get("init", {}))
    save_weights(folder, t5.checkpoint_tensors(model, v["embed_copies"], v["legacy_cross_bias"]), v["dtype"], v["shards"])
    loaded = t5.T5ForConditionalGeneration(cfg).eval()
    t5.load_state(loaded, read_hf_tensors(folder))
    loaded.double()
    prompt = 0.5 * torch.randn(PROMPT_LEN, cfg.d_model, generator=torch.Generator().manual_seed(prompt_seed))
    data, logits = t5_golden(loaded, tok, prompt, [cfg.eos_token_id])
    data = {"generator": "test/golden/make_model_fixtures.py (PyTorch: test/golden/torch_t5.py)", "model_type": "t5",
            "dtype": v["dtype"], "prompt": floats(prompt), "prompt_length": PROMPT_LEN, "stop_ids": [cfg.eos_token_id],
            "tokenizer": tokenizer_golden(tok), **data}
    write_golden(name, data, logits)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, logits max |x| "
          f"{logits['ids'].abs().max():.3g}, generations {[g['prompted'] for g in data['generations']]}")
    mt.check_with_tokenizers_js(folder, tok, mt.SAMPLES + BATCH_TEXTS + T5_TARGETS + [mt.CORPUS])


def main() -> None:
    toks = build_tokenizers()
    for i, v in enumerate(LLAMA_VARIANTS):
        make_llama(v, toks[v["tok"]], SEED + 10 + i)
    for i, v in enumerate(T5_VARIANTS):
        make_t5(v, toks["t5"], SEED + 20 + i)


if __name__ == "__main__":
    main()
