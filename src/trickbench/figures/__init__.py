"""Figures from tidy tables (seaborn, one style for the whole report). Never imports torch.

One module per figure kind under figures/kinds/ (benchopt's one file per plot kind): the module's
name is the kind a claim file's figures[].kind names, and its function registers itself in
FIGURE_KINDS; a new kind is its module alone (found on disk; the claim schema's enum is the
modules' names, read without importing them). base.py holds what every figure shares; forest.py
and budget.py draw the report's own figures.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

import seaborn as sns  # noqa: F401  (tests set its theme)

from trickbench.analyse import claim_dir
from trickbench.figures.base import (FIGURE_KINDS, MIN_SHARE_SPAN, PALETTE, _dodge, _min_share_span,  # noqa: F401
                                     _require_columns, _save, test_seeds_only)
from trickbench.figures.budget import budget_figure  # noqa: F401
from trickbench.figures.forest import forest_figure, forest_figures, forest_parts  # noqa: F401


def kind_names() -> list[str]:
    """The figure kinds: the modules of figures/kinds/, listed without importing them (config's schema)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent / "kinds")]))


@functools.cache
def load_kinds() -> None:
    for name in kind_names():
        importlib.import_module(f"trickbench.figures.kinds.{name}")


load_kinds()
from trickbench.figures.kinds.curves import curves_figure  # noqa: E402, F401
from trickbench.figures.kinds.path import path_figure  # noqa: E402, F401
from trickbench.figures.kinds.points import points_figure  # noqa: E402, F401
from trickbench.figures.kinds.runs import runs_figure  # noqa: E402, F401


def claim_figure(cat, results: Path, out: Path) -> None:
    """Draw figure number N of the claim, N taken from the output name `<claim>_<N>.svg`, with
    the function its kind names (FIGURE_KINDS: one function per kind)."""
    index = int(Path(out).stem.rsplit("_", 1)[1])
    spec = cat.claim["figures"][index]
    FIGURE_KINDS.get(spec.get("kind", "curves"))(cat, claim_dir(results, cat.tier, cat.id), spec, Path(out))
