"""Figures from tidy tables (seaborn, one style for the whole report). Never imports torch."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from trickbench.analyse import claim_dir  # noqa: E402

STYLE = {"context": "paper", "style": "whitegrid", "palette": "colorblind", "font_scale": 1.0}
LABELS = {"x": "$x_t$", "avg_regret": "$R_t/t$", "t": "step $t$", "epoch": "epoch",
          "train_loss": "training loss", "test_acc": "test accuracy", "val_acc": "validation accuracy",
          "final_test_acc": "final test accuracy"}


def use_style():
    sns.set_theme(**STYLE, rc={"svg.fonttype": "path", "axes.titlesize": 9, "legend.fontsize": 8})


def curves_figure(curves: pd.DataFrame, spec: dict, out: Path) -> None:
    """Rows: the metrics in spec.y; columns: the values of the facet tag; median line, 10-90% band."""
    use_style()
    x, ys = spec.get("x", "t"), spec["y"]
    facets = list(dict.fromkeys(curves[spec["facet"]])) if spec.get("facet") else [None]
    # one legend for the figure, with every hue and style level (a facet may lack some)
    hue_order = list(dict.fromkeys(curves[spec["hue"]])) if spec.get("hue") else None
    style_order = list(dict.fromkeys(curves[spec["style"]])) if spec.get("style") else None
    fig, axes = plt.subplots(len(ys), len(facets), figsize=(2.6 * len(facets) + 1.2, 2.0 * len(ys) + 0.6),
                             squeeze=False, sharex="col")
    for j, f in enumerate(facets):
        df = curves if f is None else curves[curves[spec["facet"]] == f]
        for i, y in enumerate(ys):
            ax = axes[i, j]
            sns.lineplot(data=df, x=x, y=y, hue=spec.get("hue"), style=spec.get("style"), estimator="median",
                         errorbar=("pi", 80), ax=ax, legend=False, linewidth=1.2,
                         hue_order=hue_order, style_order=style_order)
            if spec.get("logx", True):
                ax.set_xscale("log")
            if y in spec.get("symlogy", []):  # long early transients: log scale that allows <= 0
                ax.set_yscale("symlog", linthresh=0.1)
            ax.set_xlabel(LABELS.get(x, x) if i == len(ys) - 1 else "")
            ax.set_ylabel(LABELS.get(y, y) if j == 0 else "")
            if i == 0 and f is not None:
                ax.set_title(str(f))
    fig.tight_layout()
    if hue_order or style_order:
        handles = _legend_handles(spec, hue_order, style_order)
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.97), frameon=False, fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.svg")
    fig.savefig(tmp, format="svg", bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)


def runs_figure(runs: pd.DataFrame, spec: dict, out: Path) -> None:
    """One dot per run: the final metric spec.y[0] (x) for each value of spec.by (y), coloured by
    spec.hue, one panel per value of spec.facet."""
    use_style()
    metric, by = spec["y"][0], spec["by"]
    facets = list(dict.fromkeys(runs[spec["facet"]])) if spec.get("facet") else [None]
    order = list(dict.fromkeys(runs[by]))
    fig, axes = plt.subplots(1, len(facets), figsize=(3.2 * len(facets) + 1.4, 0.45 * len(order) + 1.0),
                             squeeze=False, sharey=True)
    for j, f in enumerate(facets):
        ax = axes[0, j]
        df = runs if f is None else runs[runs[spec["facet"]] == f]
        sns.stripplot(data=df, x=metric, y=by, hue=spec.get("hue"), order=order, dodge=True, size=2.5,
                      alpha=0.7, jitter=0.25, ax=ax, legend=(j == len(facets) - 1))
        ax.set_xlabel(LABELS.get(metric, metric))
        ax.set_ylabel("")
        if f is not None:
            ax.set_title(f"{spec['facet']} = {f}")
    last = axes[0, -1]
    if last.get_legend() is not None:
        sns.move_legend(last, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title=spec.get("hue"))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.svg")
    fig.savefig(tmp, format="svg", bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)


def _legend_handles(spec, hue_order, style_order):
    from matplotlib.lines import Line2D
    palette = sns.color_palette(n_colors=len(hue_order or [0]))
    dashes = ["-", "--", ":", "-."]
    handles = []
    if hue_order:
        handles.append(Line2D([], [], linestyle="", label=spec["hue"]))
        handles += [Line2D([], [], color=palette[k], label=str(v)) for k, v in enumerate(hue_order)]
    if style_order:
        handles.append(Line2D([], [], linestyle="", label=spec["style"]))
        handles += [Line2D([], [], color="0.3", linestyle=dashes[k % 4], label=str(v)) for k, v in enumerate(style_order)]
    return handles


def claim_figure(cat, results: Path, out: Path) -> None:
    """Draw figure number N of the claim, N taken from the output name `<claim>_<N>.svg`."""
    index = int(Path(out).stem.rsplit("_", 1)[1])
    spec = cat.claim["figures"][index]
    cdir = claim_dir(results, cat.tier, cat.id)
    if spec.get("kind", "curves") == "runs":
        runs = pd.read_csv(cdir / "runs.csv")
        runs = runs[runs.outcome == "ok"]
        for tag in ("hue", "facet", "by"):
            if spec.get(tag):
                runs[spec[tag]] = runs[spec[tag]].astype(str)
        runs_figure(runs, spec, Path(out))
        return
    curves = pd.read_csv(cdir / "curves.csv")
    families = set(spec.get("arms") or cat.families())
    keep = {a.name for a in cat.arms.values() if a.family in families}
    if spec.get("tuned"):
        keep &= set(json.loads((cdir / "verdicts.json").read_text())["selected"].values())
    curves = curves[curves.arm.isin(keep)]
    for tag in ("hue", "style", "facet"):
        if spec.get(tag):
            curves[spec[tag]] = curves[spec[tag]].astype(str)
    curves_figure(curves, spec, Path(out))
