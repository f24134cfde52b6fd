"""The quadratic task: torch.optim on the lecture's ravine, seeds stacked exactly, known rates."""
import math

import numpy as np
import pytest
import torch

from trickbench import quadratic
from trickbench.tasks import TASKS

BASE = dict(TASKS.get("quadratic").defaults, optimizer="sgd", lr=1.0, steps=300)


def test_the_matrix_has_the_declared_eigenvalues_and_turn():
    a = quadratic.matrix(100.0, 30.0)
    vals, vecs = np.linalg.eigh(a)
    assert vals == pytest.approx([0.01, 1.0])
    assert abs(vecs[:, 0] @ [math.cos(math.radians(30)), math.sin(math.radians(30))]) == pytest.approx(1.0)


def test_gradient_descent_contracts_at_the_textbook_rate():
    """GD with step η on eigenvalue λ multiplies that component by (1 - ηλ) every step, so the
    flat component after t steps is (1 - η/κ)^t of its start: checked on the recorded path."""
    out = quadratic.run(dict(BASE, lr=1.0, steps=50), [0])
    a = quadratic.matrix(100.0, 30.0)
    vals, vecs = np.linalg.eigh(a)
    start = np.array([-2.0, 1.0])
    flat0, flat50 = vecs[:, 0] @ start, vecs[:, 0] @ out["path"][50, 0]
    assert flat50 / flat0 == pytest.approx((1 - 1.0 * 0.01) ** 50, rel=1e-12)
    assert vecs[:, 1] @ out["path"][1, 0] == pytest.approx(0.0, abs=1e-12)    # η λ_max = 1: gone in one step
    assert out["ratio"][10, 0] == pytest.approx(quadratic.loss(out["path"][10, 0], a) / quadratic.loss(start, a))


@pytest.mark.parametrize("name,extra", [("sgd", {"momentum": 0.9}), ("nesterov", {"momentum": 0.9}),
                                        ("adagrad", {}), ("rmsprop", {}), ("adam", {}), ("nadam", {})])
def test_stacked_seeds_follow_their_single_paths_exactly(name, extra):
    """Noisy gradients: each seed's path in a stack of three equals its path alone, bit for bit."""
    r = dict(BASE, optimizer=name, lr=0.05, steps=40, problem_args={"noise": 0.1}, **extra)
    stacked = quadratic.run(r, [3, 4, 5])
    alone = quadratic.run(r, [4])
    assert np.array_equal(stacked["path"][:, 1], alone["path"][:, 0])
    assert not np.array_equal(stacked["path"][:, 0], stacked["path"][:, 1])   # seeds differ


def test_steps_to_target_is_the_first_step_below_it_or_censored_and_divergence_is_recorded():
    out = quadratic.run(dict(BASE, lr=1.0, steps=2000), [0])
    t = out["final"]["steps_to_target"][0]
    assert out["ratio"][int(t), 0] <= 1e-6 < out["ratio"][int(t) - 1, 0]
    never = quadratic.run(dict(BASE, lr=0.01, steps=100), [0])
    assert never["final"]["steps_to_target"] == [101.0] and never["final"]["diverged_at"] == [None]
    blown = quadratic.run(dict(BASE, lr=2.5, steps=100), [0])       # η λ_max > 2
    assert blown["final"]["diverged_at"][0] is not None and blown["final"]["steps_to_target"] == [101.0]


def test_momentum_beats_gradient_descent_by_about_root_kappa_at_their_best_rates():
    """The claim's physics on its own problem: best-of-grid GD needs several times the steps of
    best-of-grid heavy ball (theory: O(κ) vs O(√κ) per e-fold; κ = 100)."""
    grid = [0.1 * 10 ** (k / 4) for k in range(-4, 6)]
    gd = min(quadratic.run(dict(BASE, lr=lr, steps=3000), [0])["final"]["steps_to_target"][0] for lr in grid)
    hb = min(quadratic.run(dict(BASE, lr=lr, steps=3000, momentum=0.9), [0])["final"]["steps_to_target"][0] for lr in grid)
    assert gd > 1.5 * hb


def test_bad_problem_args_are_named():
    task = TASKS.get("quadratic")
    with pytest.raises(ValueError, match="kapa"):
        task.check(dict(BASE, problem_args={"kapa": 10}), "claim x")
    with pytest.raises(ValueError, match="kappa"):
        task.check(dict(BASE, problem_args={"kappa": 0.5}), "claim x")
    with pytest.raises(KeyError, match="adamm"):
        task.check(dict(BASE, optimizer="adamm"), "claim x")
    assert torch.get_default_dtype() == torch.float32   # the task never changes the global default
