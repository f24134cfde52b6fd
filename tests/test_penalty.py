"""L1 / L2 penalties: the term, per-layer coefficients, the sparsity metric, and training with them."""
import pytest
import torch

from trickbench import io, stacked, train
from trickbench.models import MODELS
from trickbench.tasks import TASKS
from trickbench.tricks import penalty as pen


def test_penalty_term_matches_its_formula_per_layer():
    w1, w2 = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0], [-4.0]])
    # l1 per layer [0.1, 0.01]: 0.1 * 3 + 0.01 * 7; l2 0.5 everywhere: 0.5 / 2 * (5 + 25)
    got = pen.penalty([w1, w2], {"l1": [0.1, 0.01], "l2": 0.5})
    assert float(got) == pytest.approx(0.1 * 3 + 0.01 * 7 + 0.25 * 30)
    assert pen.penalty([w1, w2], None) == 0.0
    s = torch.stack([w1, 2 * w1])                                  # two seeds of one layer
    assert pen.penalty([s], {"l1": 1.0}, stacked=True).tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match="lists 3 coefficients but the model has 2 weight matrices"):
        pen.coefficients({"l2": [1e-3, 1e-4, 1e-4]}, "l2", 2)


def test_weight_matrices_leave_out_biases_and_sparsity_counts_near_zeros():
    net = MODELS.build("mlp", (1, 8, 8), 10, depth=2, width=16)
    assert [tuple(w.shape) for w in pen.weight_matrices(net)] == [(16, 64), (16, 16), (10, 16)]
    assert pen.sparsity([torch.tensor([0.0, 5e-4, -2e-3, 1.0])]) == 0.5


BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 2, "width": 32},
            optimizer="sgd", momentum=0.9, lr=0.05, epochs=4, batch_size=64, val_fraction=0.2)


def test_l1_training_makes_weights_sparser_and_stacked_runs_agree(tmp_path, ctx):
    plain = train.run(BASE, 0, tmp_path / "plain", ctx, {})["metrics"]
    l1 = dict(BASE, penalty={"l1": 3e-3})
    alone = train.run(l1, 0, tmp_path / "l1", ctx, {})["metrics"]
    assert alone["weight_sparsity"] > plain["weight_sparsity"] + 0.05
    stacked.run_stacked(l1, [0, 1], [tmp_path / "s0", tmp_path / "s1"], ctx, {"config_hash": "t"})
    together = io.read_json(tmp_path / "s0" / "summary.json")["metrics"]
    for k, v in train.learned(alone).items():
        assert together[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k


def test_per_layer_coefficients_that_do_not_fit_the_model_stop_the_run_before_training(tmp_path, ctx):
    with pytest.raises(ValueError, match="weight matrices"):
        train.run(dict(BASE, penalty={"l2": [1e-3, 1e-4]}), 0, tmp_path / "r", ctx, {})
    assert not (tmp_path / "r" / "metrics.jsonl").exists()
