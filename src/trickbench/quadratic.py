"""The lecture's ill-conditioned quadratic ("Пример сходимости SGD"): optimizers on a 2-D ravine.

    f(w) = ½ wᵀ A w,   A = R(θ) diag(1/κ, 1) R(θ)ᵀ

a valley whose floor is κ times flatter than its walls, turned by θ degrees so that no coordinate
axis lines up with it (a diagonal preconditioner such as Adam's cannot undo a rotated valley).
The minimum is w* = 0. With `noise` σ > 0 every gradient gets N(0, σ² I) added: the stochastic
case, where seeds differ.

The optimizers are torch.optim's own (trickbench.optim.OPTIMIZERS, the table the networks use),
run in float64 on a [seeds, 2] parameter: every one of them acts element-wise, so seeds stacked in
one tensor follow exactly the paths they would follow alone (tested). Each step records the
iterate and the loss ratio f(w_t) / f(w_0), so the paths can be drawn.

This module imports numpy only at the top: the report's figures use `matrix` for the contours.
"""
from __future__ import annotations

import math

import numpy as np

DEFAULTS = {"kappa": 100.0, "angle": 30.0, "start": [-2.0, 1.0], "noise": 0.0, "target": 1e-6}


def problem(args: dict) -> dict:
    """The recipe's problem_args with their defaults filled in, checked."""
    p = {**DEFAULTS, **(args or {})}
    unknown = set(p) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"problem_args: unknown key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    if not p["kappa"] >= 1:
        raise ValueError(f"problem_args.kappa (condition number) must be >= 1, got {p['kappa']}")
    if len(p["start"]) != 2 or not any(p["start"]):
        raise ValueError(f"problem_args.start must be a non-zero point [w1, w2], got {p['start']}")
    if p["noise"] < 0 or not 0 < p["target"] < 1:
        raise ValueError("problem_args.noise must be >= 0 and target in (0, 1)")
    return p


def matrix(kappa: float, angle: float) -> np.ndarray:
    """A = R diag(1/κ, 1) Rᵀ: eigenvalues 1/κ (along the valley) and 1 (across it)."""
    t = math.radians(angle)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return r @ np.diag([1.0 / kappa, 1.0]) @ r.T


def loss(w: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f for each row of w [..., 2]."""
    return 0.5 * np.einsum("...i,ij,...j->...", w, a, w)


def run(recipe: dict, seeds: list[int]) -> dict:
    """All seeds of one recipe at once. Returns per-seed paths [steps+1, seeds, 2], loss ratios
    [steps+1, seeds], and the final metrics (steps_to_target is censored at steps + 1 when the
    target is never reached; a run whose loss ratio passes 1e6 or stops being finite diverged)."""
    import torch

    from trickbench.optim import build_optimizer, build_schedule
    p = problem(recipe.get("problem_args"))
    a = torch.tensor(matrix(p["kappa"], p["angle"]), dtype=torch.float64)
    w = torch.tensor([p["start"]] * len(seeds), dtype=torch.float64, requires_grad=True)
    opt = build_optimizer([w], recipe)
    sched = build_schedule(opt, recipe, recipe["steps"])
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    f0 = 0.5 * float(torch.tensor(p["start"], dtype=torch.float64) @ a @ torch.tensor(p["start"], dtype=torch.float64))
    paths, ratios = [w.detach().clone()], [torch.ones(len(seeds), dtype=torch.float64)]
    for _ in range(recipe["steps"]):
        with torch.no_grad():
            g = w @ a   # A is symmetric: ∇f = A w, row-wise
            if p["noise"]:
                g = g + p["noise"] * torch.stack([torch.randn(2, generator=gen, dtype=torch.float64) for gen in gens])
        w.grad = g
        opt.step()
        sched.step()
        with torch.no_grad():
            paths.append(w.detach().clone())
            ratios.append(0.5 * ((w @ a) * w).sum(1) / f0)
    path, ratio = torch.stack(paths).numpy(), torch.stack(ratios).numpy()
    bad = ~np.isfinite(ratio) | (ratio > 1e6)
    reached = ratio <= p["target"]
    final = {"steps_to_target": [], "final_loss_ratio": [], "log10_final_loss_ratio": [], "diverged_at": []}
    for j in range(len(seeds)):
        hit = np.flatnonzero(reached[:, j])
        blow = np.flatnonzero(bad[:, j])
        final["diverged_at"].append(int(blow[0]) if blow.size else None)
        final["steps_to_target"].append(float(hit[0]) if hit.size and (not blow.size or hit[0] < blow[0])
                                        else float(recipe["steps"] + 1))
        last = float(ratio[-1, j])
        final["final_loss_ratio"].append(last)
        final["log10_final_loss_ratio"].append(math.log10(last) if last > 0 and math.isfinite(last) else float("nan"))
    return {"path": path, "ratio": ratio, "final": final, "target": p["target"]}
