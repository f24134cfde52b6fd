"""Figure kind `heatmap`: the mean of y[0] over finished runs and the diverged share, rows `by` x columns `x`."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from trickbench.figures.base import FIGURE_KINDS, LABELS, _is_number, _run_table, _save, use_style


def heatmap_figure(runs: pd.DataFrame, spec: dict, out: Path) -> None:
    """Cells spec.by (rows) x spec.x (columns): the mean of spec.y[0] over finished runs, and the
    share of runs that diverged, side by side, with the number of runs in each cell."""
    use_style()
    metric, by, x = spec["y"][0], spec["by"], spec["x"]
    key = lambda v: (0, float(v)) if _is_number(v) else (1, str(v))  # noqa: E731
    rows, cols = sorted(runs[by].unique(), key=key), sorted(runs[x].unique(), key=key)
    ok = runs[runs.outcome == "ok"]
    mean = ok.pivot_table(index=by, columns=x, values=metric, aggfunc="mean").reindex(index=rows, columns=cols)
    div = (runs.assign(d=runs.outcome == "diverged").pivot_table(index=by, columns=x, values="d", aggfunc="mean")
           .reindex(index=rows, columns=cols))
    n = runs.pivot_table(index=by, columns=x, values="seed", aggfunc="count").reindex(index=rows, columns=cols)
    # printed at most at the text width (~17 cm): keep cells large enough for 8-pt numbers
    fig, axes = plt.subplots(1, 2, figsize=(0.75 * len(cols) * 2 + 2.0, 0.5 * len(rows) + 1.3))
    sns.heatmap(mean.astype(float), annot=True, fmt=".2f", cmap="viridis", ax=axes[0], cbar=False,
                annot_kws={"fontsize": 8})
    labels = div.astype(float).map(lambda v: "" if pd.isna(v) else f"{v:.0%}") + n.map(lambda v: "" if pd.isna(v) else f"\nn={int(v)}")
    sns.heatmap(div.astype(float), annot=labels, fmt="", cmap="rocket_r", vmin=0, vmax=1, ax=axes[1], cbar=False,
                annot_kws={"fontsize": 8})
    axes[0].set_title(f"mean {LABELS.get(metric, metric)} (finished runs)")
    axes[1].set_title("share of runs diverged")
    for ax in axes:
        ax.set_xlabel(x)
        ax.set_ylabel(by)
    fig.tight_layout()
    _save(fig, out)


@FIGURE_KINDS.register("heatmap")
def _heatmap_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    heatmap_figure(_run_table(cat, cdir, spec, "heatmap"), spec, out)
