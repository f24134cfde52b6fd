"""Figure kind `path`: the quadratic task's iterates x, y[0] of each tuned arm over the problem's contours."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from trickbench.figures.base import FIGURE_KINDS, LABELS, _save, _selected, test_seeds_only, use_style


def path_figure(curves: pd.DataFrame, spec: dict, out: Path, a, target: float | None = None) -> None:
    """Iterates (spec.x, spec.y[0]) of one run per value of spec.hue, each in its own panel over the
    contours of f(w) = ½ wᵀ A w (trickbench.quadratic), the first spec.max_t steps (default all)."""
    use_style()
    x, y, hue = spec["x"], spec["y"][0], spec["hue"]
    curves = curves[curves.t <= spec.get("max_t", curves.t.max())]
    order = list(dict.fromkeys(curves[hue]))
    ncol = min(len(order), spec.get("wrap") or 4)
    nrow = -(-len(order) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.4 * ncol, 2.1 * nrow + 0.3), squeeze=False, sharex=True, sharey=True)
    first = curves[curves.t == 0]
    span = float(np.abs(first[[x, y]].to_numpy()).max()) * 1.25
    g = np.linspace(-span, span, 161)
    gx, gy = np.meshgrid(g, g)
    f = 0.5 * (a[0, 0] * gx ** 2 + 2 * a[0, 1] * gx * gy + a[1, 1] * gy ** 2)
    f0 = float(0.5 * first[[x, y]].iloc[0].to_numpy() @ a @ first[[x, y]].iloc[0].to_numpy())
    levels = f0 * np.logspace(-4, 0.5, 10)
    palette = sns.color_palette(n_colors=len(order))
    for k in range(len(order), nrow * ncol):
        axes.flat[k].set_visible(False)
    for k, name in enumerate(order):
        ax = axes.flat[k]
        ax.contour(gx, gy, f, levels=levels, colors="0.75", linewidths=0.6)
        run = curves[curves[hue] == name]
        run = run[run.seed == run.seed.min()].sort_values("t")
        ax.plot(run[x], run[y], color=palette[k], linewidth=0.9, marker="o", markersize=1.6)
        ax.plot([0], [0], marker="*", color="black", markersize=6)
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_title(str(name))
        ax.set_aspect("equal")
    for ax in axes[-1]:
        ax.set_xlabel(LABELS.get(x, x))
    for ax in axes[:, 0]:
        ax.set_ylabel(LABELS.get(y, y))
    fig.tight_layout()
    _save(fig, out)


@FIGURE_KINDS.register("path")
def _path_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    """The quadratic task's iterates, over its contours."""
    from trickbench import quadratic
    curves = test_seeds_only(pd.read_csv(cdir / "curves.csv"), cat)
    curves = curves[curves.arm.isin(_selected(cdir))].copy()
    p = quadratic.problem(cat.arms[curves.arm.iloc[0]].recipe.get("problem_args"))
    curves[spec["hue"]] = curves[spec["hue"]].astype(str)
    path_figure(curves, spec, out, quadratic.matrix(p["kappa"], p["angle"]))
