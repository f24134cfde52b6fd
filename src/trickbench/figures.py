"""Figures from tidy tables (seaborn, one style for the whole report). Never imports torch."""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from trickbench.analyse import claim_dir  # noqa: E402
from trickbench.registry import Registry  # noqa: E402

# Okabe & Ito's colour-blind-safe colours, ordered so that any first few differ strongly (seaborn's
# "colorblind" puts orange #de8f05 and vermillion #d55e00 second and fourth: two arms looked alike).
# Okabe & Ito's yellow #F0E442 is left out (light markers vanished on white) and vermillion comes
# after six clearly different colours, with Tol's indigo in its place
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#332288", "#000000", "#D55E00", "#999999"]
# the bootstrap of the 95% intervals and the strip jitter are seeded: the same data redrawn gives
# the same bytes (unseeded, every redraw rewrote the points and runs figures in git)
SEED = 0
STYLE = {"context": "paper", "style": "whitegrid", "palette": PALETTE, "font_scale": 1.0}
LABELS = {"x": "$x_t$", "avg_regret": "$R_t/t$", "t": "step $t$", "epoch": "epoch",
          "train_loss": "training loss", "test_acc": "test accuracy", "val_acc": "validation accuracy",
          "final_test_acc": "final test accuracy", "train_s_per_epoch": "s per epoch (CPU s)",
          "branch_share": "share of branches computed",
          "compute_share": "expected share of compute\n(measured stage costs)",
          "test_acc_at_best_val": "test accuracy at best-validation epoch", "p_last": "$p_L$",
          "grad_norm_max": "largest gradient norm", "clip_grad_norm": "clipping threshold",
          "generalization_gap": "train − test accuracy", "w1": "$w_1$", "w2": "$w_2$", "loss_ratio": "$f(w_t) / f(w_0)$",
          "lr_now": "learning rate", "lr": "learning rate", "ensemble_test_acc": "ensemble test accuracy",
          "early_stop_epoch": "epoch early stopping stops after", "early_stop_gain": "early stopping − last epoch (test acc.)",
          "weight_sparsity": "share of weights |w| < 0.001", "augment": "augmentation", "clipping": "AGC λ",
          "optimizer": "optimizer", "p_hidden": "dropout rate of hidden units", "penalty": "penalty",
          "schedule": "schedule", "sparsity": "weights removed"}


def use_style():
    np.random.seed(SEED)   # stripplot's jitter draws from numpy's global generator
    sns.set_theme(**STYLE, rc={"svg.fonttype": "path", "axes.titlesize": 9, "legend.fontsize": 8,
                               "axes.labelpad": 5.0, "axes.labelsize": 9})


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


MIN_SHARE_SPAN = 0.05  # an accuracy axis spans at least 5 pp: no panel auto-scaled to 0.115-0.125


def _min_share_span(ax, metric: str) -> None:
    """Widen a linear axis of a share (accuracy, 0-1) to at least MIN_SHARE_SPAN around its data,
    so that noise in the third decimal does not fill a panel as if it were an effect."""
    from trickbench.units import unit
    if unit(metric) != "pp" or ax.get_yscale() != "linear":
        return
    lo, hi = ax.get_ylim()
    if hi - lo < MIN_SHARE_SPAN:
        mid = (lo + hi) / 2
        lo, hi = mid - MIN_SHARE_SPAN / 2, mid + MIN_SHARE_SPAN / 2
        shift = max(0.0, -lo) - max(0.0, hi - 1.0)   # stay within [0, 1]
        ax.set_ylim(lo + shift, hi + shift)


def _dodge(runs: pd.DataFrame, x: str, hue: str | None) -> pd.DataFrame:
    """Numeric x shared by several hues (constant depth and drop path both compute every branch):
    each hue shifted by a sliver of the axis, so no mean hides under another's interval."""
    if not hue or not pd.api.types.is_numeric_dtype(runs[x]):
        return runs
    if not (runs.groupby(x)[hue].nunique() > 1).any():
        return runs
    hues = list(dict.fromkeys(runs[hue]))
    span = (runs[x].max() - runs[x].min()) or 1.0
    step = 0.012 * span
    out = runs.copy()
    out[x] = out[x] + out[hue].map({h: (i - (len(hues) - 1) / 2) * step for i, h in enumerate(hues)})
    return out


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
    last = axes[0, -1]
    if last.get_legend() is not None:
        sns.move_legend(last, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title=spec.get("hue"))
    fig.tight_layout()
    _save(fig, out)


def path_figure(curves: pd.DataFrame, spec: dict, out: Path, a, target: float | None = None) -> None:
    """Iterates (spec.x, spec.y[0]) of one run per value of spec.hue, each in its own panel over the
    contours of f(w) = ½ wᵀ A w (trickbench.quadratic), the first spec.max_t steps (default all)."""
    import numpy as np
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


def _save(fig, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.svg")
    # no date and fixed element ids: the same data redrawn gives the same bytes (no churn in git)
    with plt.rc_context({"svg.hashsalt": "trickbench"}):
        fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    tmp.replace(out)


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
    last = axes[0, -1]
    if last.get_legend() is not None:
        sns.move_legend(last, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title=spec.get("hue"))
    fig.tight_layout()
    _save(fig, out)


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


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


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


def _require_columns(runs: pd.DataFrame, cols: list[str], cat) -> None:
    """A figure's metric that runs lack (trained before the code recorded it): one clear line."""
    lacking = {c: int(runs[c].isna().sum()) if c in runs else len(runs) for c in cols}
    lacking = {c: n for c, n in lacking.items() if n}
    if lacking:
        fix = (f"; `trickbench measure-share --tier {cat.tier} --claim {cat.id}` fills compute_share in"
               if "compute_share" in lacking else "")
        raise ValueError(f"{cat.id} at tier {cat.tier}: " + ", ".join(f"{n} finished run(s) lack {c}" for c, n in lacking.items())
                         + f" (trained before the metric was recorded?){fix}")


def test_seeds_only(runs: pd.DataFrame, cat) -> pd.DataFrame:
    """The runs the verdicts read: the tier's test seeds. A grid tuned on seeds of its own
    (`tune_seeds`) trains every member on those; drawn beside the test seeds they would mix the
    members' means with the tuned arm's (a grid's LR of 0.001 pulled dropout's figure to 0.77)."""
    if not cat.tune_seeds or "seed" not in runs:
        return runs
    return runs[~runs.seed.isin(cat.tune_seeds)]


FIGURE_KINDS = Registry("figure kind")   # a claim file's figures[].kind -> fn(cat, claim folder, spec, out)


def _selected(cdir: Path) -> set[str]:
    """Each grid family's tuned member (verdicts.json `selected`)."""
    return set(json.loads((cdir / "verdicts.json").read_text())["selected"].values())


def _run_table(cat, cdir: Path, spec: dict, kind: str) -> pd.DataFrame:
    """runs.csv as the run-based kinds draw it: the test seeds (a heatmap's cells are the grid,
    tuning runs included, as its caption says), the spec's arms, finished runs (a heatmap also
    counts the diverged ones), the tuned members where `tuned`, tags as text."""
    runs = pd.read_csv(cdir / "runs.csv")
    if kind != "heatmap":
        runs = test_seeds_only(runs, cat)
    if spec.get("arms"):
        runs = runs[runs.arm.isin({a.name for a in cat.arms.values() if a.family in spec["arms"]})]
    if kind != "heatmap":
        runs = runs[runs.outcome == "ok"]
    # the run metrics drawn (tags such as a grid key are absent by design where an arm lacks them)
    _require_columns(runs[runs.outcome == "ok"],
                     [c for c in [spec.get("x"), *spec.get("y", [])] if c in cat.claim["metrics"]], cat)
    if spec.get("tuned"):  # of each grid arm only its tuned member
        runs = runs[runs.arm.isin(_selected(cdir))]
    for tag in ("hue", "facet", "by") + (("x",) if kind == "heatmap" else ()):
        if spec.get(tag):
            runs[spec[tag]] = runs[spec[tag]].astype(str)
    return runs


@FIGURE_KINDS.register("runs")
def _runs_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    runs_figure(_run_table(cat, cdir, spec, "runs"), spec, out)


@FIGURE_KINDS.register("points")
def _points_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    points_figure(_run_table(cat, cdir, spec, "points"), spec, out)


@FIGURE_KINDS.register("heatmap")
def _heatmap_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    heatmap_figure(_run_table(cat, cdir, spec, "heatmap"), spec, out)


@FIGURE_KINDS.register("sweep")
def _sweep_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    runs = test_seeds_only(pd.read_csv(cdir / "runs.csv"), cat)
    sweep_figure(runs[runs.outcome == "ok"], spec, out)


@FIGURE_KINDS.register("path")
def _path_kind(cat, cdir: Path, spec: dict, out: Path) -> None:
    """The quadratic task's iterates, over its contours."""
    from trickbench import quadratic
    curves = test_seeds_only(pd.read_csv(cdir / "curves.csv"), cat)
    curves = curves[curves.arm.isin(_selected(cdir))].copy()
    p = quadratic.problem(cat.arms[curves.arm.iloc[0]].recipe.get("problem_args"))
    curves[spec["hue"]] = curves[spec["hue"]].astype(str)
    path_figure(curves, spec, out, quadratic.matrix(p["kappa"], p["angle"]))


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


def claim_figure(cat, results: Path, out: Path) -> None:
    """Draw figure number N of the claim, N taken from the output name `<claim>_<N>.svg`, with
    the function its kind names (FIGURE_KINDS: one function per kind)."""
    index = int(Path(out).stem.rsplit("_", 1)[1])
    spec = cat.claim["figures"][index]
    FIGURE_KINDS.get(spec.get("kind", "curves"))(cat, claim_dir(results, cat.tier, cat.id), spec, Path(out))


VERDICT_COLOURS = {"replicated": "#1b7837", "equivalent": "#1b7837", "as expected": "#35618f",
                   "reversed": "#b2182b", "not replicated": "#b2182b", "not equivalent": "#b2182b",
                   "unexpected effect": "#b2182b"}  # the report's verdict colours; the rest undecided
UNDECIDED_COLOUR = "#8c6d1f"
OUT_OF_REGIME = "#8a8a8a"   # a verdict whose tier's regime checks fail (page 1's grey)
LEVEL_MARKERS = {"paper scale": ("D", True), "reduced": ("s", True), "stand-in": ("o", False)}  # (marker, filled)
FOREST_AXES = {"pp": "effect in the claim's direction, pp of accuracy or of the share of runs",
               "% time": "time saved, % of the baseline's time"}


FOREST_ROWS_PER_PAGE = 52   # rows (sub-claims and trick headers) one printed page holds legibly


def forest_parts(rows: list[dict], per_page: int = FOREST_ROWS_PER_PAGE) -> list[list[dict]]:
    """The forest plot's rows in as few page-sized parts as hold them (each at most `per_page` rows,
    a trick's header counting as one), split between tricks only and balanced: a last part of two
    rows was drawn squeezed to overlapping labels, and a full first part left its caption no room."""
    blocks: list[list[dict]] = []   # one per trick, in order
    for r in rows:
        if not blocks or blocks[-1][0]["trick"] != r["trick"]:
            blocks.append([])
        blocks[-1].append(r)
    sizes = [len(b) + 1 for b in blocks]
    total = sum(sizes)

    def split(k: int) -> list[list[int]]:
        # block indices per part: cut where the running total is nearest to j * total / k
        cuts, run, j = [], 0, 1
        for i, size in enumerate(sizes[:-1]):
            run += size
            if j < k and abs(run - j * total / k) <= abs(run + sizes[i + 1] - j * total / k):
                cuts.append(i + 1)
                j += 1
        edges = [0, *cuts, len(sizes)]
        return [list(range(edges[i], edges[i + 1])) for i in range(len(edges) - 1)]

    if not blocks:
        return []
    least = max(1, math.ceil(total / per_page))
    for k in range(least, max(least, len(blocks)) + 1):   # a trick longer than a page keeps its own part
        parts = split(k)
        if all(sum(sizes[i] for i in part) <= per_page for part in parts):
            break
    return [[r for i in part for r in blocks[i]] for part in parts]


def forest_figures(rows: list[dict], out_dir: Path) -> list[Path]:
    """The forest plot in page-sized parts (forest_1.svg, ...; forest_parts)."""
    parts = forest_parts(rows)
    paths = []
    for i, chunk in enumerate(parts, 1):
        paths.append(out_dir / f"forest_{i}.svg")
        forest_figure(chunk, paths[-1])
    for stale in out_dir.glob("forest_*.svg"):
        if stale not in paths:
            stale.unlink()
    return paths


def forest_figure(rows: list[dict], out: Path) -> None:
    """Every sub-claim at its strongest evidence on one page (report.forest_rows): the effect in
    the claim's direction (right of 0: as the paper says) with its interval (95 %; 90 % with the
    margin's ticks for equivalence), coloured by verdict, the marker saying the evidence level,
    grouped by trick; one panel per unit. The axis is linear within ±1 and logarithmic beyond."""
    use_style()
    panels = [a for a in FOREST_AXES if any(r["axis"] == a for r in rows)]
    layout = []   # per panel: [(label, row or None for a trick's header)]
    for a in panels:
        items, trick = [], None
        for r in (r for r in rows if r["axis"] == a):
            if r["trick"] != trick:
                trick = r["trick"]
                items.append((trick, None))
            items.append((r["label"], r))
        layout.append(items)
    heights = [len(items) + 2.5 for items in layout]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.2, 0.155 * sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, a, items in zip(axes[:, 0], panels, layout):
        n = len(items)
        for i, (text, r) in enumerate(items):
            y = n - 1 - i
            if r is None:
                continue
            # grey where the tier's regime checks fail, as page 1 draws it: not tested in the paper's regime
            colour = VERDICT_COLOURS.get(r["verdict"], UNDECIDED_COLOUR) if r.get("in_regime", True) else OUT_OF_REGIME
            marker, filled = LEVEL_MARKERS.get(r["level"], ("o", False))
            ax.plot([r["lo"], r["hi"]], [y, y], color=colour, lw=1.4, solid_capstyle="butt")
            ax.plot([r["effect"]], [y], marker=marker, ms=4.5, color=colour, mfc=colour if filled else "white", mew=1.1)
            if "margin" in r:
                ax.plot([-r["margin"], r["margin"]], [y, y], ls="none", marker="|", ms=7, color="#555555")
            ax.annotate(r["tier"], (1.0, y), xycoords=("axes fraction", "data"), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=6, color="#555555")
        ax.axvline(0, color="#333333", lw=0.8)
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
        # room beyond the widest interval on both sides: no marker or interval end on the frame
        drawn = [r for _, r in items if r is not None]
        reach = max([abs(v) for r in drawn for v in (r["lo"], r["hi"], r["effect"], r.get("margin", 0))] + [1.0])
        ax.set_xlim(-reach * 1.6, reach * 1.6)
        ax.set_ylim(-0.8, n - 0.2)
        ax.set_yticks(range(n))
        ax.set_yticklabels([t for t, _ in reversed(items)], fontsize=6.5)
        for tick, (_, r) in zip(ax.get_yticklabels(), list(reversed(items))):
            if r is None:
                tick.set_fontweight("bold")
                tick.set_fontsize(7)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel(FOREST_AXES[a], fontsize=8)
    handles = [plt.Line2D([], [], color=c, marker="o", ls="-", lw=1.4, ms=4, label=v)
               for v, c in (("as the paper says", "#1b7837"), ("control as expected", "#35618f"),
                            ("against the paper", "#b2182b"), ("undecided", UNDECIDED_COLOUR),
                            ("outside the paper's regime", OUT_OF_REGIME))]
    handles += [plt.Line2D([], [], color="#444444", marker=m, ls="none", ms=4.5, mfc="#444444" if f else "white",
                           label=lvl) for lvl, (m, f) in LEVEL_MARKERS.items()]
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=6.5, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 0.97, 1 - 0.5 / (0.155 * sum(heights) + 0.6)))
    _save(fig, out)   # fixed ids and no date: the same verdicts redraw the same bytes


def budget_figure(budget: dict, title: str, out: Path) -> None:
    """One claim's effect against its training budget (report.budget_points): a point per tier at
    the steps its runs took as a share of the paper's (log axis), its interval, filled where the
    tier's regime checks hold and hollow where not; the paper's effect dashed, no effect at 0."""
    use_style()
    pts = budget["points"]
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axhline(100 * budget["paper_effect"], color="C0", lw=1, ls="--",
               label=f"paper: {100 * budget['paper_effect']:+.2f} pp at 100 % of its steps")
    for p in pts:
        x, y = 100 * p["share"], 100 * p["effect"]
        err = [[y - 100 * p["lo"]], [100 * p["hi"] - y]] if p["lo"] is not None and p["hi"] is not None else None
        ax.errorbar([x], [y], yerr=err, fmt="o", color="C3", mfc="C3" if p["in_regime"] else "white", ms=6, capsize=3)
        ax.annotate(f"{p['tier']}: {p['verdict']}" + ("" if p["in_regime"] else " (regime not met)"), (x, y),
                    textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.scatter([100], [100 * budget["paper_effect"]], marker="*", s=80, color="C0", zorder=3)
    ax.set_xscale("log")
    lo = min([100 * p["share"] for p in pts] + [100])
    ax.set_xlim(lo / 3, 300)
    ax.set_xlabel("training steps, % of the paper's")
    ax.set_ylabel("effect, arm − baseline (pp)")
    ax.set_title(f"{title}: effect against training budget", fontsize=8)
    ax.legend(fontsize=7, loc="best", frameon=False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, out)
