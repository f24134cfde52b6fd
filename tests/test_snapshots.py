"""Snapshot ensembles: the cyclic schedule, when snapshots are taken, the ensemble, and resuming."""
import math

import pytest
import torch

from trickbench import train
from trickbench.models import MODELS
from trickbench.optim import SCHEDULES
from trickbench.tasks import TASKS
from trickbench.tricks import snapshots


def test_cyclic_cosine_restarts_at_the_base_rate_each_cycle():
    f = SCHEDULES.get("cyclic_cosine")
    assert [f(s, 100, cycles=4) for s in (0, 25, 50, 75)] == [1.0, 1.0, 1.0, 1.0]
    assert f(12, 100, cycles=4) == pytest.approx(0.5 * (1 + math.cos(math.pi * 12 / 25)))
    assert f(24, 100, cycles=4) < 0.01                     # the end of a cycle: annealed to near 0
    assert snapshots.save_epochs(10, 5) == {2, 4, 6, 8, 10}


def test_an_ensemble_of_identical_snapshots_equals_the_single_model():
    torch.manual_seed(0)
    net = MODELS.build("mlp", (1, 4, 4), 3, depth=1, width=8)
    x = torch.randint(0, 255, (40, 1, 4, 4), dtype=torch.uint8)
    y = torch.randint(0, 3, (40,))
    mean, std = torch.tensor([0.5]), torch.tensor([0.25])
    alone = train.evaluate(net, x, y, mean, std, 16)[1]
    state = snapshots.copy_state(net)
    assert snapshots.ensemble_accuracy(net, [state, state, state], x, y, mean, std, 16) == pytest.approx(alone)
    assert net.training and all(torch.equal(v, state[k]) for k, v in net.state_dict().items())  # restored


def test_the_ensemble_of_the_last_m_snapshots_grows_from_the_last_one():
    torch.manual_seed(0)
    x = torch.randint(0, 255, (60, 1, 4, 4), dtype=torch.uint8)
    y = torch.randint(0, 3, (60,))
    mean, std = torch.tensor([0.5]), torch.tensor([0.25])
    nets = [MODELS.build("mlp", (1, 4, 4), 3, depth=1, width=8) for _ in range(3)]
    states = [snapshots.copy_state(n) for n in nets]
    accs = snapshots.ensemble_accuracies(nets[0], states, x, y, mean, std, 16)
    assert len(accs) == 3
    assert accs[0] == pytest.approx(train.evaluate(nets[2], x, y, mean, std, 16)[1])     # m = 1: the last snapshot
    assert accs[-1] == snapshots.ensemble_accuracy(nets[0], states, x, y, mean, std, 16)
    two = snapshots.ensemble_accuracy(nets[0], states[1:], x, y, mean, std, 16)
    assert accs[1] == two                                                                  # m = 2: the last two
    m = snapshots.metrics_of(accs, accs[0])
    assert m["ensemble_test_acc_last3"] == m["ensemble_test_acc"] and m["ensemble_gain"] == accs[2] - accs[0]


BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 1, "width": 32},
            optimizer="sgd", momentum=0.9, lr=0.1, epochs=4, batch_size=64, val_fraction=0.2,
            lr_schedule="cyclic_cosine", schedule_args={"cycles": 2}, snapshots={"count": 2})


def test_a_killed_run_resumes_with_its_snapshots(tmp_path, ctx):
    whole = train.run(BASE, 0, tmp_path / "whole", ctx, {})["metrics"]
    assert 0 < whole["ensemble_test_acc"] <= 1
    assert whole["ensemble_gain"] == pytest.approx(whole["ensemble_test_acc"] - whole["final_test_acc"])
    assert train.run(BASE, 0, tmp_path / "cut", ctx, {}, stop_after_epoch=3)["outcome"] == "stopped"
    resumed = train.run(BASE, 0, tmp_path / "cut", ctx, {})
    assert resumed["metrics"]["ensemble_test_acc"] == pytest.approx(whole["ensemble_test_acc"])


def test_snapshot_settings_that_do_not_fit_are_rejected_before_training():
    task = TASKS.get("classify")
    with pytest.raises(ValueError, match="divides epochs"):
        task.check(dict(BASE, snapshots={"count": 3}), "here")
    with pytest.raises(ValueError, match="must equal snapshots.count"):
        task.check(dict(BASE, schedule_args={"cycles": 4}), "here")
    task.check(BASE, "here")
