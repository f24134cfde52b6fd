"""Figure kind `sweep`: run metrics named by a pattern (placeholders in braces) as lines against a placeholder."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from trickbench.figures.base import FIGURE_KINDS, SEED, _save, test_seeds_only, use_style


def sweep_figure(runs: pd.DataFrame, spec: dict, out: Path) -> None:
    """Run metrics named by a pattern (y[0], e.g. prune_{method}_{sparsity}{finetune}) as curves:
    the placeholder `x` on the x axis, `hue` and `style` (placeholders or arm tags) as lines; `values` lists each
    placeholder's values, or maps them to the labels shown. Mean over runs, 95% intervals."""
    import itertools
    use_style()
    names = list(spec["values"])
    labels = {n: (v if isinstance(v, dict) else {k: k for k in v}) for n, v in spec["values"].items()}
    rows = []
    for combo in itertools.product(*[list(labels[n]) for n in names]):
        col = spec["y"][0].format(**dict(zip(names, combo)))
        if col not in runs:
            continue
        tags = {n: labels[n][c] for n, c in zip(names, combo)}
        # hue / style may also name an arm tag (a column of runs.csv) instead of a placeholder
        carried = [spec[k] for k in ("hue", "style") if spec.get(k) and spec[k] not in names and spec[k] in runs]
        rows += [{**tags, **{c: str(r[c]) for c in carried}, "value": r[col]}
                 for _, r in runs[runs[col].notna()].iterrows()]
    long = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    if len(long):
        long[spec["x"]] = pd.to_numeric(long[spec["x"]])
        if (long[spec["x"]] % 1 == 0).all():   # counts (snapshots, %): whole-number ticks
            from matplotlib.ticker import MaxNLocator
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        sns.lineplot(data=long, x=spec["x"], y="value", hue=spec.get("hue"), style=spec.get("style"),
                     estimator="mean", errorbar=("ci", 95), seed=SEED, marker="o", ax=ax)
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_xlabel(spec.get("xlabel", spec["x"]))
    ax.set_ylabel(spec.get("ylabel", "value"))
    fig.tight_layout()
    _save(fig, out)


@FIGURE_KINDS.register("sweep")
def _sweep_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    runs = test_seeds_only(pd.read_csv(cdir / "runs.csv"), cat)
    sweep_figure(runs[runs.outcome == "ok"], spec, out)
