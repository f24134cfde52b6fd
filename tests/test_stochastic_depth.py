"""Stochastic depth: survival rules, branches really skipped per mini-batch, test-time scaling,
the per-sample drop path, and a resumable run that draws the same gates."""
import pytest
import torch
from torch import nn

from trickbench import train
from trickbench.tasks import TASKS
from trickbench.tricks import stochastic_depth as sd


class Counting(nn.Module):
    """A residual block whose branch is a fixed linear map; counts branch evaluations."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.calls = 0

    def residual(self, x):
        self.calls += 1
        return self.lin(x)

    def shortcut(self, x):
        return x

    def join(self, skip, branch):
        return skip if branch is None else skip + branch


def test_linear_rule_matches_the_paper():
    ps = sd.survival(54, "linear", 0.5)
    assert ps[-1] == pytest.approx(0.5) and ps[0] == pytest.approx(1 - 0.5 / 54)
    assert sd.mean_survival(54, {"rule": "linear", "p_last": 0.5}) == pytest.approx(0.7454, abs=1e-4)  # the paper's 0.745
    assert sd.survival(3, "uniform", 0.8) == [0.8] * 3
    assert sd.mean_survival(54, {"mode": "sample", "p_last": 0.5}) == 1.0  # computes every branch
    with pytest.raises(ValueError, match="rule"):
        sd.survival(3, "cubic", 0.5)
    with pytest.raises(ValueError, match="p_last"):
        sd.survival(3, "linear", 0.0)


def test_batch_mode_skips_the_branch_for_the_whole_batch():
    torch.manual_seed(0)
    block = Counting()
    gate = sd.StochasticDepth(block, 0.3, "batch").train()
    x = torch.randn(16, 4)
    outs = [gate(x) for _ in range(2000)]
    assert block.calls == gate.computed
    assert 0.27 < block.calls / 2000 < 0.33                     # survives with probability p
    skipped = [o for o in outs if torch.equal(o, x)]            # identity for every sample at once
    assert len(skipped) == 2000 - block.calls
    x = x.clone().requires_grad_()
    while not torch.equal(out := gate(x), x):                   # until a step skips the block
        pass
    out.sum().backward()
    assert block.lin.weight.grad is None and x.grad is not None  # a skipped branch gets no gradient


def test_batch_mode_scales_the_branch_by_p_at_test_time():
    block = Counting()
    gate = sd.StochasticDepth(block, 0.6, "batch").eval()
    x = torch.randn(8, 4)
    assert torch.allclose(gate(x), x + 0.6 * block.lin(x))


def test_sample_mode_always_computes_and_is_unbiased():
    torch.manual_seed(1)
    block = Counting()
    gate = sd.StochasticDepth(block, 0.5, "sample").train()
    x = torch.randn(20000, 4)
    out = gate(x)
    assert block.calls == 1                                     # no saving: the branch ran
    branch = block.lin(x).detach()
    kept = ~torch.isclose(out, x).all(1)
    assert 0.48 < kept.float().mean() < 0.52                    # per-sample mask
    assert torch.allclose(out[kept], x[kept] + 2 * branch[kept], atol=1e-6)  # inverted scaling 1/p
    assert torch.allclose(gate.eval()(x), x + branch)           # the plain block at test time


def test_apply_needs_residual_blocks():
    with pytest.raises(ValueError, match="blocks"):
        sd.apply(nn.Sequential(nn.Linear(2, 2)), {"p_last": 0.5})


def test_a_run_with_stochastic_depth_resumes_with_the_same_gates(tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp() / "data"
    ctx = {"data_root": str(root), "cache_dir": str(root / "cache"), "device": "cpu", "threads": 1}
    recipe = dict(TASKS.get("classify").defaults, dataset="digits", model="resnet_cifar",
                  model_args={"depth": 8, "widths": [4, 8, 8]}, optimizer="nesterov", momentum=0.9,
                  weight_decay=1e-4, lr=0.05, epochs=3, batch_size=128, val_fraction=0.1, train_subset=384,
                  stochastic_depth={"mode": "batch", "rule": "linear", "p_last": 0.5})
    full = train.run(recipe, 2, tmp_path / "a", ctx, {"config_hash": "t"})
    train.run(recipe, 2, tmp_path / "b", ctx, {"config_hash": "t"}, stop_after_epoch=1)
    torch.manual_seed(999)
    resumed = train.run(recipe, 2, tmp_path / "b", ctx, {"config_hash": "t"})
    assert train.learned(resumed["metrics"]) == train.learned(full["metrics"])
    assert full["metrics"]["branch_share"] == pytest.approx(sd.mean_survival(3, recipe["stochastic_depth"]))
    plain = train.run({**recipe, "stochastic_depth": None}, 2, tmp_path / "c", ctx, {"config_hash": "t"})
    assert plain["metrics"]["final_test_acc"] != full["metrics"]["final_test_acc"]


def test_stage_costs_and_the_expected_compute_share_of_a_resnet():
    """Per-stage branch costs measured on a copy (BN statistics and the global generator untouched);
    the expected share is 1 with every gate open and falls with each stage's skip rate."""
    from trickbench.models import MODELS
    from trickbench.train import Engine
    torch.manual_seed(0)
    model = MODELS.build("resnet_cifar", (3, 32, 32), 10, depth=14)   # 3 stages of 2 blocks
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    bn = [m.running_mean.clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    state = torch.get_rng_state()
    costs = sd.stage_costs(model, x, y, Engine(torch.device("cpu")), reps=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(bn, [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]))
    assert [st for st, _ in costs] == [[0, 1], [2, 3], [4, 5]]
    # measured times: each share is a real part of a step, and together they are most of it (the
    # stages are timed one at a time, so under load their sum can pass 1: 1.06 seen in CI on 2 busy cores)
    assert all(0 < share < 0.8 for _, share in costs) and 0.4 < sum(s for _, s in costs) < 1.25
    assert sd.compute_share(costs, [1.0] * 6) == 1.0
    ps = sd.survival(6, "linear", 0.5)
    want = 1 - sum(share * sum(1 - ps[i] for i in st) / 2 for st, share in costs)
    assert sd.compute_share(costs, ps) == pytest.approx(want) and want < 1
    assert sd.compute_share([([0, 1], 0.5), ([2, 3], 0.5)], [0.5] * 4) == pytest.approx(0.5)


def test_a_stochastic_depth_run_records_its_measured_compute_share(tmp_path):
    ctx = {"data_root": str(tmp_path / "d"), "cache_dir": str(tmp_path / "c"), "device": "cpu", "threads": 1}
    base = dict(TASKS.get("classify").defaults, dataset="digits", model="resmlp", model_args={"blocks": 6, "width": 32},
                optimizer="sgd", momentum=0.9, lr=0.05, epochs=1, batch_size=64, val_fraction=0.2)
    m = train.run(dict(base, stochastic_depth={"mode": "batch", "rule": "linear", "p_last": 0.5}), 0, tmp_path / "a", ctx, {})["metrics"]
    assert 0 < m["compute_share"] < 1 and m["branch_share"] == pytest.approx(sd.mean_survival(6, {"p_last": 0.5}))
    assert train.run(base, 0, tmp_path / "b", ctx, {})["metrics"]["compute_share"] == 1.0
