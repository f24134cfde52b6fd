"""Figure kind `runs`: one dot per run of a final metric (runs.csv), one row per value of `by`."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from trickbench.figures.base import _legend_outside_and_save, FIGURE_KINDS, LABELS, _run_table, use_style


def runs_figure(runs: pd.DataFrame, spec: dict, out: Path) -> None:
    """One dot per run: the final metric spec.y[0] (x) for each value of spec.by (y), coloured by
    spec.hue, one panel per value of spec.facet."""
    use_style()
    metric, by, hue = spec["y"][0], spec["by"], spec.get("hue")
    facets = list(dict.fromkeys(runs[spec["facet"]])) if spec.get("facet") else [None]
    order = list(dict.fromkeys(runs[by]))
    hue_order = palette = None
    if hue:   # one colour per value in every panel, in order of appearance over all runs (a panel's own order swapped them)
        runs = runs.assign(**{hue: runs[hue].replace({"nan": "none", "None": "none"})})
        hue_order = list(dict.fromkeys(runs[hue]))
        palette = dict(zip(hue_order, sns.color_palette(n_colors=len(hue_order))))
    fig, axes = plt.subplots(1, len(facets), figsize=(3.2 * len(facets) + 1.4, 0.45 * len(order) + 1.0),
                             squeeze=False, sharey=True)
    for j, f in enumerate(facets):
        ax = axes[0, j]
        df = runs if f is None else runs[runs[spec["facet"]] == f]
        sns.stripplot(data=df, x=metric, y=by, hue=hue, hue_order=hue_order, palette=palette, order=order, dodge=True,
                      size=4, alpha=0.85, jitter=0.25, linewidth=0.4, edgecolor="white", ax=ax, legend=(j == len(facets) - 1))
        ax.set_xlabel(LABELS.get(metric, metric))
        ax.set_ylabel("")
        if f is not None:
            ax.set_title(f"{spec['facet']} = {f}")
    _legend_outside_and_save(fig, axes, spec, out)


@FIGURE_KINDS.register("runs")
def _runs_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    runs_figure(_run_table(cat, cdir, spec, "runs"), spec, out)
