"""The model path on real fixtures (test/fixtures): the output head on target rows equals the full head, and gradient
checkpointing changes no gradient of the prompt."""
import os

import pytest
import torch

from ulpt_torch.models.loader import load_model
from ulpt_torch.train.batch import collate, collate_seq2seq
from ulpt_torch.train.objective import batch_loss, logits_at_targets
from ulpt_torch.ulpt.prompt import create_prompt

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures")
PAIRS = [([5, 6, 7, 8], [9, 10]), ([11, 12], [13])]


def prompt_grads(name, seq2seq, checkpointing):
    lm = load_model(os.path.join(FIXTURES, name), seq2seq, torch.device("cpu"), checkpointing=checkpointing)
    d = lm.embedding_matrix.shape[1]
    prompt = create_prompt("ulpt", 3, 2, d, 42, True, "one", lm.embedding_matrix)
    batch = collate_seq2seq(PAIRS, 0, 0) if seq2seq else collate(PAIRS, 0, 3)
    loss = batch_loss(lm, prompt(), batch, 3.0)
    loss.backward()
    return float(loss), {k: v.grad.clone() for k, v in prompt.variables().items()}, lm


@pytest.mark.parametrize("name,seq2seq", [("tiny-gpt2", False), ("tiny-llama3", False), ("tiny-t5", True)])
def test_checkpointing_keeps_the_gradient(name, seq2seq):
    loss, grads, _ = prompt_grads(name, seq2seq, False)
    loss_ck, grads_ck, lm = prompt_grads(name, seq2seq, True)
    assert lm.model.is_gradient_checkpointing
    assert loss_ck == pytest.approx(loss, rel=1e-6)
    for k in grads:
        # Relative to the gradient's scale. GPT-2 and Llama recompute bit for bit; transformers' checkpointed T5 path
        # moves the prompt's gradient by ~2e-5 of its largest entry (measured; training mode alone moves nothing).
        assert float((grads_ck[k] - grads[k]).abs().max()) <= 1e-4 * float(grads[k].abs().max()), k


def test_head_on_rows_equals_the_full_head():
    lm = load_model(os.path.join(FIXTURES, "tiny-llama3"), False, torch.device("cpu"))
    assert lm.head_on_rows
    batch = collate(PAIRS, 0, 0)
    rows = logits_at_targets(lm, None, batch)
    lm.head_on_rows = False
    full = logits_at_targets(lm, None, batch)
    assert torch.allclose(rows, full, atol=1e-5)


def test_pickle_only_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    from ulpt_torch.models.loader import ModelLoadError

    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(str(tmp_path), False, torch.device("cpu"))


def test_fingerprint_is_the_typescript_engines():
    """The example model's fingerprint as `ulpt inspect` (src/io/adapter.ts) prints it for adapters trained on it."""
    from ulpt_torch.models.loader import embedding_fingerprint

    lm = load_model(os.path.join(FIXTURES, "..", "..", "examples", "workspace", "model"), False, torch.device("cpu"))
    assert embedding_fingerprint(lm.embedding_matrix) == "sha256:40d0670d11cd2c47:512x128"
