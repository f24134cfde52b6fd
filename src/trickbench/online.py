"""Online convex optimisation: the synthetic problems of Reddi, Kale & Kumar (ICLR 2018).

Every problem is a sequence of linear losses f_t(x) = g_t * x on the domain F = [-1, 1]; the
optimum of their sum is x* = -1 whenever the average gradient is positive (true for all three).
Many runs (seeds) are integrated at once as numpy vectors: the recurrence over t cannot be
vectorised, the runs can. Each run draws its gradients from its own seeded stream, so a run gives
the same trajectory alone or inside a stack.

No torch here: the problems are one-dimensional and a torch op costs ~10x a numpy op at this size.
The torch-semantics optimizers below are checked step by step against `torch.optim.Adam` in the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from trickbench.registry import Registry

PROBLEMS = Registry("problem")
OPTIMIZERS = Registry("online optimizer")

# ---------------------------------------------------------------------------------------------
# Problems: each returns a function grads(t0, n, seeds) -> array [n, runs] of g_t for t = t0..t0+n-1


@dataclass(frozen=True)
class Problem:
    name: str
    grads: Callable[[int, int], np.ndarray]  # (t0, n) -> [n, runs]
    optimum: float = -1.0


@PROBLEMS.register("reddi_online")
def reddi_online(seeds, big: float = 1010.0, small: float = -10.0, period: int = 101):
    """§5 online problem: f_t(x) = 1010 x if t mod 101 == 1, else -10 x. Deterministic."""
    def grads(t0, n):
        t = np.arange(t0, t0 + n)
        g = np.where(t % period == 1, big, small)
        return np.repeat(g[:, None], len(seeds), axis=1).astype(np.float64)
    return Problem("reddi_online", grads)


@PROBLEMS.register("reddi_stochastic")
def reddi_stochastic(seeds, big: float = 1010.0, small: float = -10.0, p: float = 0.01):
    """§5 stochastic problem: f_t(x) = 1010 x with probability 0.01, else -10 x (i.i.d. over t)."""
    rngs = [np.random.default_rng([int(s), 0x5EED]) for s in seeds]

    def grads(t0, n):
        # each run's own stream, consumed in order: chunking does not change the draws
        cols = [np.where(r.random(n) < p, big, small) for r in rngs]
        return np.stack(cols, axis=1).astype(np.float64)
    return Problem("reddi_stochastic", grads)


@PROBLEMS.register("reddi_theorem1")
def reddi_theorem1(seeds, C: float = 3.0):
    """Theorem 1: f_t(x) = C x if t mod 3 == 1, else -x (C > 2). Deterministic."""
    if C <= 2:
        raise ValueError(f"problem_args.C must be > 2 for Theorem 1, got {C}")

    def grads(t0, n):
        t = np.arange(t0, t0 + n)
        g = np.where(t % 3 == 1, C, -1.0)
        return np.repeat(g[:, None], len(seeds), axis=1).astype(np.float64)
    return Problem("reddi_theorem1", grads)


# ---------------------------------------------------------------------------------------------
# Optimizers: stateful objects with step(x, g, t) -> new x before projection. t starts at 1.

class _Moments:
    def __init__(self, runs, beta1, beta2, eps):
        self.b1, self.b2, self.eps = beta1, beta2, eps
        self.m = np.zeros(runs)
        self.v = np.zeros(runs)

    def update(self, g):
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g


@OPTIMIZERS.register("adam_paper")
class AdamPaper(_Moments):
    """Adam as analysed by Reddi et al. (Algorithm 1 with Adam's phi, psi): no bias correction, no eps."""

    def step(self, x, g, t, lr):
        self.update(g)
        return x - lr * self.m / np.sqrt(self.v)


@OPTIMIZERS.register("amsgrad_paper")
class AMSGradPaper(_Moments):
    """AMSGrad, Algorithm 2: v_hat = max(v_hat, v); x -= a_t m_t / sqrt(v_hat). No bias correction, no eps."""

    def __init__(self, runs, beta1, beta2, eps):
        super().__init__(runs, beta1, beta2, eps)
        self.vhat = np.zeros(runs)

    def step(self, x, g, t, lr):
        self.update(g)
        self.vhat = np.maximum(self.vhat, self.v)
        return x - lr * self.m / np.sqrt(self.vhat)


@OPTIMIZERS.register("adam_torch")
class AdamTorch(_Moments):
    """torch.optim.Adam(amsgrad=False): bias-corrected m and v, eps added to sqrt(v_hat)."""

    def _denominator(self, t):
        return np.sqrt(self.v) / math.sqrt(1 - self.b2 ** t) + self.eps

    def step(self, x, g, t, lr):
        self.update(g)
        return x - lr / (1 - self.b1 ** t) * self.m / self._denominator(t)


@OPTIMIZERS.register("amsgrad_torch")
class AMSGradTorch(AdamTorch):
    """torch.optim.Adam(amsgrad=True): the max is over the raw v, then bias-corrected, plus eps."""

    def __init__(self, runs, beta1, beta2, eps):
        super().__init__(runs, beta1, beta2, eps)
        self.vmax = np.zeros(runs)

    def _denominator(self, t):
        self.vmax = np.maximum(self.vmax, self.v)
        return np.sqrt(self.vmax) / math.sqrt(1 - self.b2 ** t) + self.eps


# ---------------------------------------------------------------------------------------------

def log_grid(steps: int, points: int) -> np.ndarray:
    """Roughly log-spaced steps 1..steps (always including both ends) at which to record x_t."""
    grid = np.unique(np.round(np.logspace(0, math.log10(steps), points)).astype(np.int64))
    return grid[(grid >= 1) & (grid <= steps)]


def run_online(recipe: dict, seeds: list[int], chunk: int = 65536) -> dict:
    """Integrate one arm for all `seeds` at once.

    Returns {"curve": {t, x [runs], avg_regret [runs]} at log-spaced t, "final": {...} per run}.
    The average regret R_t/t = (1/t) sum_{s<=t} f_s(x_s) - f_s(x*) uses the problem's optimum x* = -1.
    """
    runs = len(seeds)
    problem = PROBLEMS.build(recipe["problem"], seeds, **recipe.get("problem_args", {}))
    opt = OPTIMIZERS.get(recipe["optimizer"])(runs, recipe["beta1"], recipe["beta2"], recipe["eps"])
    steps, lr0 = int(recipe["steps"]), float(recipe["lr"])
    schedule = recipe["lr_schedule"]
    if schedule not in ("inv_sqrt", "constant"):
        raise ValueError(f"lr_schedule must be 'inv_sqrt' or 'constant' for online problems, got {schedule!r}")
    lo, hi = recipe.get("domain", [-1.0, 1.0])
    x = np.full(runs, float(recipe.get("x0", 0.0)))
    regret = np.zeros(runs)
    record = set(log_grid(steps, int(recipe.get("log_points", 200))).tolist())
    ts, xs, rs = [], [], []
    sqrt = math.sqrt
    for t0 in range(1, steps + 1, chunk):
        n = min(chunk, steps + 1 - t0)
        G = problem.grads(t0, n)
        for i in range(n):
            t = t0 + i
            g = G[i]
            regret += g * (x - problem.optimum)  # f_t(x_t) - f_t(x*) for linear f_t
            lr = lr0 / sqrt(t) if schedule == "inv_sqrt" else lr0
            x = np.clip(opt.step(x, g, t, lr), lo, hi)  # projection onto F (1-D: clipping)
            if t in record:
                ts.append(t)
                xs.append(x.copy())
                rs.append(regret / t)
    return {
        "curve": {"t": np.array(ts), "x": np.array(xs), "avg_regret": np.array(rs)},
        "final": {"final_x": x.copy(), "final_avg_regret": regret / steps},
    }
