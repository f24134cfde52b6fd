"""What every figure shares: one style (Okabe & Ito's colours, seeded jitter and bootstrap), labels, saving,
the run table a run-based kind draws, and FIGURE_KINDS. Never imports torch."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

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


def _legend_outside_and_save(fig, axes, spec: dict, out: Path) -> None:
    """The last panel's legend moved right of the figure (titled by the hue), then saved."""
    last = axes[0, -1]
    if last.get_legend() is not None:
        sns.move_legend(last, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title=spec.get("hue"))
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
