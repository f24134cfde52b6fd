"""The files trickbench reads besides its code: the JSON schemas, the report template and the
lecture's claim files (with the default config.yaml).

In a clone (an editable install, or PYTHONPATH=src) they are read where they live and are edited:
workflow/schemas/, report/report.typ, config/. A built package (`pip install .`, a wheel) carries
copies under trickbench/_resources/, put there by setup.py, so a non-editable install validates,
renders and starts a new folder (`trickbench init`) without a clone.
"""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: the clone this module sits in (<repo>/src/trickbench/resources.py), None when installed
REPO: Path | None = _HERE.parents[1] if (_HERE.parents[1] / "workflow" / "Snakefile").exists() else None
PACKAGED = _HERE / "_resources"

#: name -> its place in a clone; a built package holds each under _resources/<name>
IN_CLONE = {
    "schemas": "workflow/schemas",
    "report.typ": "report/report.typ",
    "claims": "config/claims",
    "config.yaml": "config/config.yaml",
}


def path(name: str) -> Path:
    """Where resource `name` (a key of IN_CLONE) is: the clone's copy, else the package's."""
    if name not in IN_CLONE:
        raise KeyError(f"unknown resource {name!r}: one of {', '.join(IN_CLONE)}")
    if REPO is not None and (REPO / IN_CLONE[name]).exists():
        return REPO / IN_CLONE[name]
    if (PACKAGED / name).exists():
        return PACKAGED / name
    raise FileNotFoundError(
        f"trickbench's {name} is neither in a clone ({IN_CLONE[name]}) nor in the installed package "
        f"({PACKAGED / name}): reinstall trickbench (`pip install .` from a clone, or the release)")
