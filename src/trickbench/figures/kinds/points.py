"""Figure kind `points`: the mean of run metrics against x with 95 % intervals, one line per hue."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from trickbench.figures.base import _legend_outside_and_save, FIGURE_KINDS, LABELS, SEED, _dodge, _min_share_span, _run_table, use_style


def points_figure(runs: pd.DataFrame, spec: dict, out: Path) -> None:
    """Mean of each run metric in spec.y against spec.x (a numeric tag or run metric), one line per
    value of spec.hue, with 95% bootstrap intervals over runs; one panel per metric."""
    use_style()
    x, ys = spec["x"], spec["y"]
    base = spec.get("relative_to")
    if base:   # each metric over the mean of that arm's runs (1 = as fast as it)
        of_base = (runs.arm == base) | runs.arm.str.startswith(base + "__")
        runs = runs.assign(**{y: runs[y] / runs.loc[of_base, y].mean() for y in ys})
    # arms' order of appearance, as the curves figures colour them (sorted names swapped colours)
    hue_order = list(dict.fromkeys(runs[spec["hue"]])) if spec.get("hue") else None
    fig, axes = plt.subplots(1, len(ys), figsize=(3.4 * len(ys) + 1.2, 2.6), squeeze=False)
    for j, y in enumerate(ys):
        ax = axes[0, j]
        # a legend only where the x axis does not already name the lines
        legend = j == len(ys) - 1 and spec.get("hue") != x
        sns.lineplot(data=_dodge(runs, x, spec.get("hue")), x=x, y=y, hue=spec.get("hue"), hue_order=hue_order, estimator="mean",
                     errorbar=("ci", 95), seed=SEED, marker="o", err_style="bars", ax=ax, legend=legend)
        if spec.get("logx"):
            ax.set_xscale("log")
        if not pd.api.types.is_numeric_dtype(runs[x]):  # category names: wrapped, so neighbours never overlap
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            ax.set_xticks(ax.get_xticks(), [textwrap.fill(t, 10, break_long_words=False) for t in ticks])
        if spec.get("diagonal"):   # the expectation: y = x
            lo, hi = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
            ax.plot([lo, hi], [lo, hi], ls="--", lw=0.8, color="0.5", zorder=0)
            ax.text(hi, hi, " y = x", color="0.4", fontsize=7, ha="right", va="bottom")
        ax.set_xlabel(LABELS.get(x, x))
        ax.set_ylabel(LABELS.get(y, y) + (f"\n÷ {base} (mean)" if base else ""))
        if not base:
            _min_share_span(ax, y)
    _legend_outside_and_save(fig, axes, spec, out)


@FIGURE_KINDS.register("points")
def _points_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    points_figure(_run_table(cat, cdir, spec, "points"), spec, out)
