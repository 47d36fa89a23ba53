"""ULPT Studio and Hugging Face PEFT, checked against the real `peft` and `transformers` packages.

Export: an adapter trained by the built-in engine (`ulpt train`), exported with `ulpt export-peft`, loads with
`PeftModel.from_pretrained` and gives the logits of `ulpt forward` at every position (GPT-2, Llama 3, T5 with the
prompt on the encoder). Import: `ulpt import-peft` turns a folder that PEFT itself saved into a `.ulpt` that gives
PEFT's logits through `ulpt forward`, an export imports back to the same prompt bit for bit, and anything that is
not a prompt-tuning adapter in safetensors is refused with its name.

Both sides compute in float32 (the built-in engine on its plain-JavaScript `cpu` backend, PyTorch on the CPU); the
models are loaded with dtype=torch.float32 because transformers 5 otherwise keeps a checkpoint's stored dtype
(the example GPT-2 is float16) and PEFT casts the prompt to it. They differ only in the order of float32 sums:
measured max |Δlogit| 6e-6 to 1e-5 (GPT-2, logits up to 14), 2e-5 (Llama 3, up to 10), 3e-5 (T5, up to 2; the
same 3e-5 as the bare T5 fixture without any prompt). The tolerance, 1e-4 absolute plus 1e-5 relative, leaves a
margin of 3 or more over that noise and stays far below a real error: each test first checks that its prompt moves
the logits by more than 1e-2, so a prompt PEFT ignored, misplaced or scaled would fail.

Needs the CLI bundle dist/cli.js (`npm run test:python` builds it first) and `node` on PATH.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftConfig, PeftModel, PromptTuningConfig, TaskType, get_peft_model
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "dist" / "cli.js"
EXAMPLE = REPO / "examples" / "workspace"
FIXTURES = REPO / "test" / "fixtures"

ATOL = 1e-4
RTOL = 1e-5

# name → (model folder, encoder-decoder?)
MODELS = {
    "gpt2": (EXAMPLE / "model", False),
    "llama3": (FIXTURES / "tiny-llama3", False),
    "t5": (FIXTURES / "tiny-t5", True),
}

TEXTS = ["we found the race nice", "a very lovely bread overall, said nobody", "no"]

# Notices from inside transformers and peft about their own internals, not about what is tested here.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore:fan_in_fan_out is set to False:UserWarning"),
]


# ---------------------------------------------------------------------------------------------------------------
# The CLI


def ulpt(*args: object, expect: int = 0, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `node dist/cli.js ARGS`; a different exit status fails the test with the CLI's own words."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the PEFT interop tests run the ulpt CLI (dist/cli.js) with it.")
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: run `npm run build` (or `npm run test:python`, which builds it first).")
    res = subprocess.run([node, str(CLI), *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, **(env or {})})
    if res.returncode != expect:
        pytest.fail(f"ulpt {' '.join(map(str, args))} exited {res.returncode}, expected {expect}.\nstdout: {res.stdout[-2000:]}\nstderr: {res.stderr[-4000:]}")
    return res


def builtin_logits(model_dir: Path, ids: list[int], adapter: Path | None = None, decoder_ids: list[int] | None = None) -> np.ndarray:
    """`ulpt forward --json` on the exact float32 backend: [positions, vocab]."""
    args: list[object] = ["forward", "--model", model_dir, "--ids", ",".join(map(str, ids)), "--backend", "cpu", "--json"]
    if adapter is not None:
        args += ["--adapter", adapter]
    if decoder_ids is not None:
        args += ["--decoder-ids", ",".join(map(str, decoder_ids))]
    out = json.loads(ulpt(*args).stdout)
    logits = np.asarray(out["logits"], dtype=np.float32)
    assert list(logits.shape) == out["shape"]
    return logits


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A ULPT adapter per model, trained by the built-in engine for a few steps (once per session, on demand)."""
    root = tmp_path_factory.mktemp("trained")
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            model_dir, _ = MODELS[name]
            out = root / f"{name}.ulpt"
            ulpt("train", "--config", EXAMPLE / "ulpt.config.json", "--model", model_dir, "--steps", 4, "--eval-every", 0,
                 "--prompt-length", 6, "--batch-size", 4, "--max-length", 32, "--backend", "wasm",
                 "--run-dir", root / f"run-{name}", "--out", out)
            done[name] = out
        return done[name]

    return get


# ---------------------------------------------------------------------------------------------------------------
# Models and inputs


def load_base(name: str):
    model_dir, seq2seq = MODELS[name]
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    return cls.from_pretrained(str(model_dir), dtype=torch.float32).eval()


def inputs(name: str) -> list[tuple[list[int], list[int] | None]]:
    """Real token ids from the model's own tokenizer (its special tokens included); T5 also gets decoder ids."""
    model_dir, seq2seq = MODELS[name]
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    cases = []
    for text in TEXTS:
        ids = tok.encode(text).ids
        assert ids, f"{text!r} tokenized to nothing with {model_dir}"
        decoder = [0, *tok.encode("positive", add_special_tokens=False).ids[:4]] if seq2seq else None
        cases.append((ids, decoder))
    return cases


def peft_logits(model: PeftModel, ids: list[int], decoder_ids: list[int] | None) -> np.ndarray:
    """PEFT's forward as a user calls it (with an attention mask, which PEFT extends over the virtual tokens)."""
    input_ids = torch.tensor([ids])
    kwargs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    if decoder_ids is not None:
        kwargs["decoder_input_ids"] = torch.tensor([decoder_ids])
    with torch.no_grad():
        return model(**kwargs).logits[0].float().numpy()


def assert_same_logits(ours: np.ndarray, theirs: np.ndarray, what: str) -> np.ndarray:
    """Checks within the tolerance; returns [max |Δ|, max |logit|, the largest share of the tolerance used]."""
    assert ours.shape == theirs.shape, f"{what}: shapes {ours.shape} (ulpt forward) vs {theirs.shape} (PEFT)"
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL, err_msg=what)
    diff = np.abs(ours - theirs)
    return np.array([diff.max(), np.abs(ours).max(), (diff / (ATOL + RTOL * np.abs(ours))).max()])


def assert_prompt_matters(name: str, ids: list[int], decoder: list[int] | None, prompted: np.ndarray, n: int) -> None:
    """The comparison means something only if the prompt moves the logits well beyond the tolerance."""
    model_dir, seq2seq = MODELS[name]
    plain = builtin_logits(model_dir, ids, None, decoder)
    after = prompted if seq2seq else prompted[n:]  # a decoder's rows for the input follow the n virtual tokens
    assert np.abs(after - plain).max() > 100 * ATOL, f"{name}: the prompt barely changes the logits"


def report(what: str, worst: np.ndarray) -> None:
    print(f"{what}: max |logit(PEFT) - logit(ulpt forward)| {worst[0]:.2g} (logits up to {worst[1]:.3g}; {worst[2]:.0%} of the tolerance)")


def load_peft(name: str, peft_dir: Path) -> PeftModel:
    return PeftModel.from_pretrained(load_base(name), str(peft_dir)).eval()


# ---------------------------------------------------------------------------------------------------------------
# Export


def assert_peft_logits(name: str, adapter: Path, model, virtual_tokens: int, what: str) -> None:
    """On every input: the prompt moves the built-in logits, and PEFT's logits with `model` equal them; reports the worst gaps."""
    model_dir, _ = MODELS[name]
    worst = np.zeros(3)
    for ids, decoder in inputs(name):
        ours = builtin_logits(model_dir, ids, adapter, decoder)
        assert_prompt_matters(name, ids, decoder, ours, virtual_tokens)
        worst = np.maximum(worst, assert_same_logits(ours, peft_logits(model, ids, decoder), f"{name} ids {ids}"))
    report(f"{what} {name}", worst)


@pytest.mark.parametrize("name", list(MODELS))
def test_export_loads_in_peft_and_gives_the_builtin_logits(name, trained, tmp_path):
    model_dir, seq2seq = MODELS[name]
    adapter = trained(name)
    out = tmp_path / "peft"
    ulpt("export-peft", adapter, "--out", out, "--base-model", model_dir)
    config = PeftConfig.from_pretrained(str(out))
    assert config.peft_type == "PROMPT_TUNING"
    assert config.task_type == ("SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM")
    assert config.num_virtual_tokens == 6
    assert_peft_logits(name, adapter, load_peft(name, out), 6, "export")


# ---------------------------------------------------------------------------------------------------------------
# Import


def prompt_of_ulpt(file: Path) -> np.ndarray:
    tensors = load_file(str(file))
    assert set(tensors) == {"prompt_embeddings"}, f"{file} holds {sorted(tensors)}"
    return tensors["prompt_embeddings"]


def inspect(file: Path) -> dict:
    return json.loads(ulpt("inspect", file, "--json").stdout)


@pytest.mark.parametrize("name", ["gpt2", "t5"])
def test_export_then_import_gives_the_same_prompt_bit_for_bit(name, trained, tmp_path):
    model_dir, _ = MODELS[name]
    adapter = trained(name)
    ulpt("export-peft", adapter, "--out", tmp_path / "peft", "--base-model", model_dir)
    back = tmp_path / "back.ulpt"
    ulpt("import-peft", tmp_path / "peft", "--out", back)  # the model folder from base_model_name_or_path
    exported = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))["prompt_embeddings"]
    imported = prompt_of_ulpt(back)
    assert imported.dtype == np.float32 and exported.dtype == np.float32
    assert imported.tobytes() == exported.tobytes()
    meta, original = inspect(back), inspect(adapter)
    assert meta["method"] == "prompt-tuning" and meta["rank"] == 0
    assert meta["num_virtual_tokens"] == 6
    assert meta["base_model"] == original["base_model"], "the imported adapter must name the same model (fingerprint)"
    # The same prompt through the built-in engine. Not bit for bit: the ULPT adapter computes scale ⊙ (Z·A) + shift
    # with the backend's ops, the export with a plain loop (both float32).
    ids, decoder = inputs(name)[0]
    assert_same_logits(builtin_logits(model_dir, ids, back, decoder), builtin_logits(model_dir, ids, adapter, decoder), f"{name} imported vs original")


def save_peft_prompt(name: str, where: Path, **config) -> Path:
    """A prompt-tuning adapter saved by PEFT itself, with a random prompt (PEFT's own RANDOM init)."""
    _, seq2seq = MODELS[name]
    torch.manual_seed(7)
    task = TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM
    model = get_peft_model(load_base(name), PromptTuningConfig(task_type=task, num_virtual_tokens=5, **config))
    model.save_pretrained(str(where))
    return where


@pytest.mark.parametrize("name", ["gpt2", "llama3", "t5"])
def test_a_peft_saved_prompt_imports_and_gives_peft_logits(name, tmp_path):
    model_dir, seq2seq = MODELS[name]
    peft_dir = save_peft_prompt(name, tmp_path / "peft")
    saved = load_file(str(peft_dir / "adapter_model.safetensors"))["prompt_embeddings"]
    # PEFT keeps a second block of rows for seq2seq (num_transformer_submodules 2) that prompt tuning never uses.
    assert saved.shape[0] == (10 if seq2seq else 5)
    out = tmp_path / "imported.ulpt"
    ulpt("import-peft", peft_dir, "--out", out, "--model", model_dir)
    assert prompt_of_ulpt(out).tobytes() == saved[:5].tobytes()
    assert_peft_logits(name, out, load_peft(name, peft_dir), 5, "import")


def test_an_imported_adapter_works_with_predict_and_eval(tmp_path):
    model_dir, _ = MODELS["gpt2"]
    peft_dir = save_peft_prompt("gpt2", tmp_path / "peft")
    out = tmp_path / "reverse.ulpt"
    # base_model_name_or_path is the absolute model folder PEFT recorded, so --model can be left out.
    ulpt("import-peft", peft_dir, "--out", out, "--template", "input: {input} output:", "--target-field", "target")
    meta = inspect(out)
    assert meta["task"] == {"type": "generation", "template": "input: {input} output:", "input_field": "input", "target_field": "target"}
    assert meta["training"]["imported_from"] == "peft"
    pred = ulpt("predict", "--model", model_dir, "--adapter", out, "--input", "a b c", "--backend", "wasm", "--json").stdout.strip().splitlines()
    assert len(pred) == 1 and isinstance(json.loads(pred[0])["prediction"], str)
    data = EXAMPLE / "data" / "reverse-validation.jsonl"
    res = json.loads(ulpt("eval", "--model", model_dir, "--adapter", out, "--data", data, "--backend", "wasm", "--json").stdout)
    lines = sum(1 for line in data.read_text().splitlines() if line.strip())
    assert res["examples"] == lines and np.isfinite(res["loss"])


# ---------------------------------------------------------------------------------------------------------------
# Refusals


def test_a_lora_adapter_is_refused_by_name(tmp_path):
    model = get_peft_model(load_base("gpt2"), LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, target_modules=["c_attn"]))
    model.save_pretrained(str(tmp_path / "lora"))
    out = tmp_path / "x.ulpt"
    res = ulpt("import-peft", tmp_path / "lora", "--out", out, "--model", MODELS["gpt2"][0], expect=1)
    assert "a LORA adapter" in res.stderr and "PROMPT_TUNING" in res.stderr
    assert not out.exists()


def test_pickled_weights_are_never_loaded(tmp_path):
    model = get_peft_model(load_base("gpt2"), PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3))
    model.save_pretrained(str(tmp_path / "old"), safe_serialization=False)
    assert (tmp_path / "old" / "adapter_model.bin").exists()
    res = ulpt("import-peft", tmp_path / "old", "--out", tmp_path / "x.ulpt", "--model", MODELS["gpt2"][0], expect=1)
    assert "adapter_model.bin, a pickle file" in res.stderr
    assert not (tmp_path / "x.ulpt").exists()


def test_a_prompt_for_another_width_is_refused_with_the_numbers(tmp_path):
    peft_dir = save_peft_prompt("gpt2", tmp_path / "peft")
    res = ulpt("import-peft", peft_dir, "--out", tmp_path / "x.ulpt", "--model", MODELS["t5"][0], expect=1)
    assert "token_dim 128" in res.stderr and "hidden size 32" in res.stderr


def test_a_hub_model_name_is_looked_up_in_the_hub_cache(tmp_path):
    """A Hub id as base model is resolved like --model ORG/NAME: here offline, with an empty cache, so it is refused
    (exit 1: a model that cannot be found), naming the id and the way out; the network is never asked."""
    peft_dir = save_peft_prompt("gpt2", tmp_path / "peft")
    config = json.loads((peft_dir / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "openai-community/gpt2"
    (peft_dir / "adapter_config.json").write_text(json.dumps(config))
    res = ulpt("import-peft", peft_dir, "--out", tmp_path / "x.ulpt", expect=1,
               env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")})
    assert "openai-community/gpt2 is not a folder here, so it was taken as a Hugging Face Hub id" in res.stderr
    assert "ulpt download openai-community/gpt2" in res.stderr


def test_out_replaces_an_adapter_another_file_only_with_force_a_folder_never(tmp_path):
    peft_dir = save_peft_prompt("gpt2", tmp_path / "peft")
    model_dir = MODELS["gpt2"][0]
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    res = ulpt("import-peft", peft_dir, "--out", notes, "--model", model_dir, expect=2)
    assert "is not a ULPT adapter" in res.stderr and "--force" in res.stderr
    assert notes.read_text() == "keep me"
    ulpt("import-peft", peft_dir, "--out", notes, "--model", model_dir, "--force")
    assert inspect(notes)["method"] == "prompt-tuning"
    ulpt("import-peft", peft_dir, "--out", notes, "--model", model_dir)  # now an adapter: replaced without --force
    res = ulpt("import-peft", peft_dir, "--out", tmp_path, "--model", model_dir, expect=2)
    assert "is a folder" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "peft"], "no temp file is left behind"
