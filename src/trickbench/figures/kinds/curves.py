"""Figure kind `curves`: logged metrics against x (curves.csv), median over seeds with the 10–90 % band."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from trickbench.figures.base import FIGURE_KINDS, LABELS, _legend_handles, _min_share_span, _save, _selected, test_seeds_only, use_style


def curves_figure(curves: pd.DataFrame, spec: dict, out: Path) -> None:
    """Rows: the metrics in spec.y; columns: the values of the facet tag (at most spec.wrap columns,
    then a new block of rows); median line, 10-90% band."""
    use_style()
    x, ys = spec.get("x", "t"), spec["y"]
    facets = list(dict.fromkeys(curves[spec["facet"]])) if spec.get("facet") else [None]
    # one legend for the figure, with every hue and style level (a facet may lack some)
    hue_order = list(dict.fromkeys(curves[spec["hue"]])) if spec.get("hue") else None
    style_order = list(dict.fromkeys(curves[spec["style"]])) if spec.get("style") else None
    ncol = min(len(facets), spec.get("wrap") or len(facets))
    blocks = -(-len(facets) // ncol)
    fig, axes = plt.subplots(len(ys) * blocks, ncol, figsize=(2.6 * ncol + 1.2, 2.0 * len(ys) * blocks + 0.6),
                             squeeze=False, sharex="col" if blocks == 1 else False)
    for j in range(len(facets) - (blocks - 1) * ncol, ncol):  # the last block's empty columns
        for i in range(len(ys)):
            axes[(blocks - 1) * len(ys) + i, j].set_visible(False)
    for k, f in enumerate(facets):
        df = curves if f is None else curves[curves[spec["facet"]] == f]
        j = k % ncol
        for i, y in enumerate(ys):
            ax = axes[(k // ncol) * len(ys) + i, j]
            sns.lineplot(data=df, x=x, y=y, hue=spec.get("hue"), style=spec.get("style"), estimator="median",
                         errorbar=("pi", 80), ax=ax, legend=False, linewidth=1.2,
                         hue_order=hue_order, style_order=style_order)
            if spec.get("logx", True):
                ax.set_xscale("log")
            if y in spec.get("symlogy", []):  # long early transients: log scale that allows <= 0
                ax.set_yscale("symlog", linthresh=0.1)
                if (df[y].dropna() >= 0).all():  # a norm: no negative decades below it
                    ax.set_ylim(bottom=0)
            elif "loss" in y and (df[y].dropna() > 0).all() and df[y].max() > 5 * df[y].median():
                ax.set_yscale("log")  # an early spike (epoch 1, a divergence) would flatten every curve
            if spec.get("ymin") is not None:
                ax.set_ylim(bottom=spec["ymin"])
            _min_share_span(ax, y)
            ax.set_xlabel(LABELS.get(x, x) if i == len(ys) - 1 else "")
            ax.set_ylabel(LABELS.get(y, y) if j == 0 else "")
            if i == 0 and f is not None:
                ax.set_title(str(f))
    fig.tight_layout()
    if hue_order or style_order:
        handles = _legend_handles(spec, hue_order, style_order)
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.97), frameon=False, fontsize=8)
    _save(fig, out)


@FIGURE_KINDS.register("curves")
def _curves_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    curves = test_seeds_only(pd.read_csv(cdir / "curves.csv"), cat)
    families = set(spec.get("arms") or cat.families())
    keep = {a.name for a in cat.arms.values() if a.family in families}
    if spec.get("tuned"):
        keep &= _selected(cdir)
    curves = curves[curves.arm.isin(keep)]
    for tag in ("hue", "style", "facet"):
        if spec.get(tag):
            curves[spec[tag]] = curves[spec[tag]].astype(str)
    curves_figure(curves, spec, out)
