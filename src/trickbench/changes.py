"""Which verdicts changed between two analyses of the same runs (a new statistic, a new rule):
results/*/*/verdicts.json at a git revision against the working tree, as the report showed them.

    python -m trickbench.cli verdict-changes --before 3165685 --out results/verdict-changes.csv

"As the report showed them": before 2026-11-28 verdicts.json held pre-Holm verdicts and the report
applied Holm across every sub-claim of a tier; files of that era are read that way. Newer files
hold the corrected verdict themselves (`verdict_uncorrected` marks them).
"""
from __future__ import annotations

import csv
import io as _io
import json
import subprocess
from pathlib import Path

from trickbench import stats

POSITIVE = ("replicated", "equivalent")


def _shown_old_style(files: list[dict]) -> None:
    """Holm across every sub-claim of a tier, as the report applied it before verdicts.json did."""
    for tier in {v["tier"] for v in files}:
        subs = [s for v in files if v["tier"] == tier for s in v["subclaims"]
                if s.get("p_value") is not None and "verdict_uncorrected" not in s]
        for s, adj in zip(subs, stats.holm([s["p_value"] for s in subs])):
            s["p_holm"] = adj
            if s["verdict"] in POSITIVE and adj >= 0.05:
                s["verdict"] = "inconclusive"


def load_at(rev: str | None, results: str = "results", repo: Path | None = None) -> dict:
    """(tier, claim, sub-claim) -> sub-claim result, from git `rev` (or the working tree if None)."""
    repo = Path(repo or ".")
    if rev is None:
        paths = sorted(str(p.relative_to(repo)) for p in (repo / results).glob("*/*/verdicts.json"))
        files = [json.loads((repo / p).read_text()) for p in paths]
    else:
        ls = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "--", results], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.split()
        paths = [p for p in ls if p.endswith("/verdicts.json") and p.count("/") == 3]
        files = [json.loads(subprocess.run(["git", "show", f"{rev}:{p}"], cwd=repo, capture_output=True,
                                           text=True, check=True).stdout) for p in paths]
    _shown_old_style(files)
    return {(v["tier"], v["claim"], s["id"]): s for v in files for s in v["subclaims"]}


def compare(before: dict, after: dict) -> list[dict]:
    """One row per sub-claim present in both: verdicts, effects and intervals before and after."""
    rows = []
    for key in sorted(set(before) & set(after)):
        b, a = before[key], after[key]
        rows.append({"tier": key[0], "claim": key[1], "subclaim": key[2],
                     "verdict_before": b["verdict"], "verdict_after": a["verdict"],
                     "changed": b["verdict"] != a["verdict"],
                     "effect": a.get("effect"), "ci_before": _ci(b), "ci_after": _ci(a),
                     "p_holm_after": a.get("p_holm"), "n_after": a.get("n")})
    return rows


def _ci(s: dict) -> str:
    if s.get("ci_low") is None:
        return ""
    return f"[{s['ci_low']:.4g}, {s['ci_high']:.4g}]"


def write(rows: list[dict], out: Path, before_rev: str) -> None:
    buf = _io.StringIO()
    buf.write(f"# verdicts at git {before_rev} (as its report showed them) against the current analysis\n")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["tier"])
    w.writeheader()
    w.writerows(rows)
    Path(out).write_text(buf.getvalue())


def read(path: Path) -> tuple[str, list[dict]]:
    text = Path(path).read_text().splitlines()
    head = text[0].lstrip("# ") if text and text[0].startswith("#") else ""
    return head, list(csv.DictReader(text[1:] if head else text))
