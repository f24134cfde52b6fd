"""The report's forest plot: every decided sub-claim's effect in the claim's direction, a panel per unit."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from trickbench.figures.base import _save, use_style


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
