"""The budget curve: a claim's effect against its training budget (steps as a share of the paper's)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from trickbench.figures.base import _save, use_style


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
