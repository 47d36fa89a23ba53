"""The package's own units against independent references: hand-computed values, torch's own AdamW and schedules."""
import json
import math
import os

import pytest
import torch

from ulpt_torch.config import ConfigError, check_config
from ulpt_torch.data.metrics import accuracy, exact_match, macro_f1
from ulpt_torch.io.adapter import adapter_meta, write_adapter
from ulpt_torch.io.safetensors_file import js_json, read_all, serialize_f32
from ulpt_torch.train.batch import collate, collate_seq2seq, shares
from ulpt_torch.train.optimizer import AdamW, clip_by_global_norm
from ulpt_torch.train.schedule import learning_rate
from ulpt_torch.ulpt.prompt import UlptPrompt, create_prompt


def test_adamw_equals_torch_adamw():
    """Decay then the Adam update, every parameter decayed: torch.optim.AdamW's order exactly."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5, 3))
    ref = torch.nn.Parameter(p.detach().clone())
    ours = AdamW({"p": p}, weight_decay=0.1)
    theirs = torch.optim.AdamW([ref], lr=0.05, weight_decay=0.1, eps=1e-8)
    for step in range(6):
        g = torch.randn(5, 3)
        ours.step({"p": g}, 0.05)
        ref.grad = g.clone()
        theirs.step()
    assert torch.allclose(p, ref, atol=1e-6)


def test_clipping_matches_torch():
    grads = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([12.0])}
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    params[0].grad, params[1].grad = grads["a"].clone(), grads["b"].clone()
    norm = clip_by_global_norm(grads, 1.0)
    ref = torch.nn.utils.clip_grad_norm_(params, 1.0)
    assert float(norm) == pytest.approx(13.0) and float(ref) == pytest.approx(13.0)
    assert torch.allclose(grads["a"], params[0].grad) and torch.allclose(grads["b"], params[1].grad)


def test_schedule_is_linear_warmup_then_decay():
    assert learning_rate(1.0, 0, 10, 110) == 0
    assert learning_rate(1.0, 5, 10, 110) == 0.5
    assert learning_rate(1.0, 10, 10, 110) == 1.0
    assert learning_rate(1.0, 60, 10, 110) == 0.5
    assert learning_rate(1.0, 110, 10, 110) == 0
    assert learning_rate(0.3, 3, 0, 10) == pytest.approx(0.21)


def test_metrics():
    assert accuracy([0, 1, 1], [0, 1, 0]) == pytest.approx(2 / 3)
    # scikit-learn f1_score([0, 1, 0], [0, 1, 1], average='macro') = (2/3 + 2/3) / 2; class 2 in neither is left out.
    assert macro_f1([0, 1, 1], [0, 1, 0], 3) == pytest.approx(2 / 3)
    assert exact_match([" yes\n", "no"], ["yes", " No"]) == 0.5
    with pytest.raises(ValueError, match="pair up"):
        accuracy([1], [1, 0])


def test_collate_rows_point_at_the_predicting_position():
    batch = collate([([5, 6], [7]), ([8], [9, 10])], pad_id=0, virtual_tokens=3)
    assert batch.ids.tolist() == [[5, 6, 7], [8, 9, 10]]
    # T = 3 + 3: token j is predicted at n + j - 1.
    assert batch.rows.tolist() == [0 * 6 + 3 + 2 - 1, 1 * 6 + 3 + 1 - 1, 1 * 6 + 3 + 2 - 1]
    assert batch.targets.tolist() == [7, 9, 10] and batch.owner.tolist() == [0, 1, 1]
    s2s = collate_seq2seq([([5, 6], [7, 8])], pad_id=0, decoder_start_id=1)
    assert s2s.decoder_ids.tolist() == [[1, 7]] and s2s.rows.tolist() == [0, 1]


def test_shares_cut_like_split_batch():
    assert shares(5, 2) == [(0, 3), (3, 5)]
    assert shares(1, 2) == [(0, 1)]


def test_ulpt_prompt_formula():
    p = UlptPrompt(3, 2, 4, 42)
    with torch.no_grad():
        p.scale.fill_(2.0)
        p.shift.fill_(0.5)
    assert torch.allclose(p(), 2.0 * (p.z @ p.a) + 0.5)
    assert p.trainable_parameters == 3 * 2 + 2 * 4


def test_embedding_scale_init():
    emb = torch.randn(50, 8, generator=torch.Generator().manual_seed(1)) * 0.3
    p = create_prompt("ulpt", 4, 2, 8, 42, True, "embedding", emb)
    sigma = float(emb.double().std(unbiased=False))
    assert float(p.scale[0].detach()) == pytest.approx(sigma / math.sqrt(2 * 2 / (2 + 8)), rel=1e-6)


def test_js_json_writes_numbers_as_javascript():
    assert js_json({"a": 1e-5, "b": 1.0, "c": [0.1, 1e21, 2.5e-7]}) == '{"a":0.00001,"b":1,"c":[0.1,1e+21,2.5e-7]}'


def test_safetensors_layout_reads_back(tmp_path):
    raw = serialize_f32({"b": torch.ones(2), "a": torch.arange(3.0)}, {"k": "v"})
    header_len = int.from_bytes(raw[:8], "little")
    assert header_len % 8 == 0
    header = json.loads(raw[8 : 8 + header_len])
    assert list(header) == ["__metadata__", "a", "b"]
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    tensors, meta = read_all(str(path))
    assert meta == {"k": "v"} and tensors["a"].tolist() == [0, 1, 2]


def test_adapter_refuses_non_finite_values(tmp_path):
    p = UlptPrompt(2, 2, 4, 1)
    config = {"model": "/m", "train": "/t.jsonl", "out": "/o.ulpt", "task": {"type": "generation", "template": "{input}", "inputField": "input", "targetField": "target"}}
    meta = adapter_meta(p, config, {"modelType": "gpt2", "name": "m", "fingerprint": "f", "vocabSize": 10}, None, 1, 3, {}, "torch")
    values = {k: v.detach().clone() for k, v in p.variables().items()}
    values["z"][0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        write_adapter(str(tmp_path / "a.ulpt"), meta, values)
    assert not os.path.exists(tmp_path / "a.ulpt")


def test_config_is_checked_against_the_shared_schema():
    with pytest.raises(ConfigError, match="steps"):
        check_config({"model": "m", "train": "t", "steps": 0}, "test")
    assert check_config({"model": "m", "train": "t", "engine": "torch"}, "test")["engine"] == "torch"


def test_rank_share_covers_every_item_once():
    from ulpt_torch.train.batch import rank_share

    for count in (0, 1, 5, 16):
        got = [i for r in range(3) for i in range(count)[rank_share(count, 3, r)]]
        assert got == list(range(count))


def test_eta_is_the_typescript_formula():
    """The same ETA as src/train/eta.ts (panelData.test.ts has the same numbers): the last 20 steps' pace."""
    from ulpt_torch.train.eta import eta_from_points

    points = [{"step": s, "elapsedMs": s * 500} for s in range(1, 5)]
    assert eta_from_points(points, 10) == 6 * 500
    assert eta_from_points(points[:1], 10) is None
    assert eta_from_points(points, 4) is None
    window = [{"step": s, "elapsedMs": s * 100 + (10_000 if s > 10 else 0)} for s in range(1, 40)]
    assert eta_from_points(window, 100) == 100.0 * (100 - 39)  # only the last 20 steps count: the jump at 11 is older
