"""The shared vectors (test/vectors/engine.json, written by the TypeScript engine): the draws the two engines must agree on."""
import json
import os

import pytest
import torch

from ulpt_torch.train.batch import ExampleStream
from ulpt_torch.ulpt.projection import SplitMix64, projection_matrix, seeded_normal

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "test", "vectors", "engine.json")


@pytest.fixture(scope="module")
def vectors():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


def test_splitmix64_outputs(vectors):
    for case in vectors["splitmix64"]:
        rng = SplitMix64(int(case["seed"]))
        assert [f"0x{rng.next():016x}" for _ in case["outputs"]] == case["outputs"]


def test_design_note_vector():
    """The test vector of DESIGN.md and the README: seed 42, r = 2, d = 4."""
    expected = [[0.483129758, -0.680179214, -0.442797739, -0.311618567], [-0.923939663, 0.736456153, -0.563189613, 0.601263753]]
    assert torch.allclose(projection_matrix(42, 2, 4), torch.tensor(expected), atol=5e-9)


def test_projection_bit_for_bit(vectors):
    for case in vectors["projection"]:
        a = projection_matrix(int(case["seed"]), case["rank"], case["hidden"])
        assert a.shape == (case["rank"], case["hidden"])
        assert torch.equal(a.reshape(-1), torch.tensor(case["values"], dtype=torch.float32))


def test_gaussian_draws_for_z(vectors):
    for case in vectors["seededNormal"]:
        z = seeded_normal(int(case["seed"]), case["count"], case["std"])
        # float32 values from the same doubles; libm's log/cos may differ in the last bit of a double, never of a float.
        assert torch.equal(z, torch.tensor(case["values"], dtype=torch.float32)), (case["seed"], z.tolist(), case["values"])


def test_example_order_for_a_seed(vectors):
    for case in vectors["exampleOrder"]:
        stream = ExampleStream(case["count"], int(case["seed"]))
        assert [stream.at(i) for i in range(case["positions"])] == case["order"]
