"""The paper's Adam/AMSGrad updates against hand computation, torch semantics against torch.optim."""
import math

import numpy as np
import pytest

from trickbench import online

RECIPE = dict(problem="reddi_online", optimizer="amsgrad_paper", lr=0.5, lr_schedule="inv_sqrt",
              beta1=0.9, beta2=0.99, eps=1e-8, x0=0.0, domain=[-1.0, 1.0], log_points=20, problem_args={})


def test_amsgrad_algorithm2_by_hand():
    # g = 1010, -10, -10 at t = 1, 2, 3 (online problem); alpha_t = 0.5 / sqrt(t); no bias correction, no eps
    opt = online.OPTIMIZERS.get("amsgrad_paper")(1, 0.9, 0.99, 1e-8)
    x = np.zeros(1)
    m = v = vhat = 0.0
    xs = 0.0
    for t, g in [(1, 1010.0), (2, -10.0), (3, -10.0)]:
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        vhat = max(vhat, v)
        xs = min(1.0, max(-1.0, xs - 0.5 / math.sqrt(t) * m / math.sqrt(vhat)))
        x = np.clip(opt.step(x, np.array([g]), t, 0.5 / math.sqrt(t)), -1, 1)
        assert x[0] == pytest.approx(xs, rel=1e-12)
    # t=1 by hand: m = 101, v = 10201, x = -0.5 * 101 / 101 = -0.5
    assert online.OPTIMIZERS.get("amsgrad_paper")(1, 0.9, 0.99, 0).step(np.zeros(1), np.array([1010.0]), 1, 0.5)[0] == pytest.approx(-0.5)


def test_amsgrad_keeps_max_while_adam_forgets():
    g_big, g_small = np.array([1010.0]), np.array([-10.0])
    adam = online.OPTIMIZERS.get("adam_paper")(1, 0.9, 0.99, 0)
    ams = online.OPTIMIZERS.get("amsgrad_paper")(1, 0.9, 0.99, 0)
    x = np.zeros(1)
    adam.step(x, g_big, 1, 1.0), ams.step(x, g_big, 1, 1.0)
    for t in range(2, 100):
        adam.step(x, g_small, t, 1.0), ams.step(x, g_small, t, 1.0)
    assert ams.vhat[0] == pytest.approx(0.01 * 1010 ** 2)  # the max of v, reached at t = 1
    assert adam.v[0] < 0.5 * ams.vhat[0]                   # Adam's v decays


@pytest.mark.parametrize("amsgrad", [False, True])
def test_torch_semantics_match_torch_optim(amsgrad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(60, 3)) * rng.choice([1, 100], size=(60, 3))
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    ref = torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.99), eps=1e-8, amsgrad=amsgrad)
    ours = online.OPTIMIZERS.get("amsgrad_torch" if amsgrad else "adam_torch")(3, 0.9, 0.99, 1e-8)
    x = np.zeros(3)
    for t, g in enumerate(grads, start=1):
        p.grad = torch.tensor(g)
        ref.step()
        x = ours.step(x, g, t, 0.01)
        np.testing.assert_allclose(x, p.detach().numpy(), rtol=1e-10, atol=1e-14)


def test_problems_gradients():
    g = online.PROBLEMS.build("reddi_online", [0]).grads(1, 203)[:, 0]
    assert g[0] == 1010 and g[101] == 1010 and g[202] == 1010 and g[1] == -10 and (g == 1010).sum() == 3
    g = online.PROBLEMS.build("reddi_theorem1", [0], C=5.0).grads(1, 6)[:, 0]
    assert g.tolist() == [5, -1, -1, 5, -1, -1]
    g = online.PROBLEMS.build("reddi_stochastic", list(range(20))).grads(1, 20000)
    assert abs((g == 1010).mean() - 0.01) < 0.003
    with pytest.raises(ValueError, match="C must be > 2"):
        online.PROBLEMS.build("reddi_theorem1", [0], C=2.0)


def test_stack_equals_alone_and_chunking_does_not_matter():
    r = {**RECIPE, "problem": "reddi_stochastic", "steps": 3000}
    stacked = online.run_online(r, [3, 7, 11], chunk=512)
    alone = online.run_online(r, [7], chunk=4096)
    assert stacked["final"]["final_x"][1] == alone["final"]["final_x"][0]
    np.testing.assert_array_equal(stacked["curve"]["x"][:, 1], alone["curve"]["x"][:, 0])
    assert len(set(stacked["final"]["final_x"].tolist())) == 3  # seeds differ


def test_theorem1_adam_goes_to_worst_point_amsgrad_to_optimum():
    base = {**RECIPE, "problem": "reddi_theorem1", "problem_args": {"C": 3.0}, "beta1": 0.0, "beta2": 0.1, "steps": 30000}
    adam = online.run_online({**base, "optimizer": "adam_paper"}, [0])["final"]
    ams = online.run_online({**base, "optimizer": "amsgrad_paper"}, [0])["final"]
    assert adam["final_x"][0] > 0.99 and ams["final_x"][0] < -0.99
    assert adam["final_avg_regret"][0] == pytest.approx(2 * (3 - 2) / 3, abs=0.02)  # 2(C-2)/3 at x = +1
    assert ams["final_avg_regret"][0] < 0.02


def test_regret_is_computed_against_minus_one():
    # x stays at the domain edge +1 if it starts there and the optimizer cannot move: lr tiny
    r = {**RECIPE, "optimizer": "adam_paper", "x0": 1.0, "lr": 1e-12, "steps": 101, "lr_schedule": "constant"}
    out = online.run_online(r, [0])["final"]
    # sum over one period of g_t * (1 - (-1)) = 2 * (1010 - 100 * 10) = 20
    assert out["final_avg_regret"][0] == pytest.approx(20 / 101, rel=1e-6)


def test_log_grid_has_both_ends():
    g = online.log_grid(200000, 50)
    assert g[0] == 1 and g[-1] == 200000 and np.all(np.diff(g) > 0)
