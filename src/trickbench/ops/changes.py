"""Verdicts compared between two sets of results.

- verdict-changes: the same runs analysed twice (a new statistic, a new rule): results/*/*/
  verdicts.json at a git revision against the working tree, as the report showed them.

      python -m trickbench.cli verdict-changes --before 3165685 --out results/verdict-changes.csv

- reproduction: a tier retrained into another results folder (README, "Reproduce") against the
  committed one: does each verdict hold, and how far did its effect move?

      python -m trickbench.cli reproduction --committed results --results reproduce/results --tier quick

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
    write_rows(rows, out, f"verdicts at git {before_rev} (as its report showed them) against the current analysis")


def read(path: Path) -> tuple[str, list[dict]]:
    text = Path(path).read_text().splitlines()
    head = text[0].lstrip("# ") if text and text[0].startswith("#") else ""
    return head, list(csv.DictReader(text[1:] if head else text))


def _tier_files(results: Path, tier: str) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(results).glob(f"{tier}/*/verdicts.json"))}


def _setup(v: dict) -> str:
    versions = v.get("provenance", {}).get("versions", {})
    return (f"{', '.join(v.get('cost', {}).get('devices', []))}; "
            + ", ".join(f"{k} {versions[k]}" for k in ("torch", "numpy") if k in versions))


def reproduction(committed: Path, new: Path, tier: str) -> list[dict]:
    """Per sub-claim of every claim present in both: the committed and the new verdict and
    effect, whether they agree, whether the effect is exactly the same, and how far it moved in
    units of the committed interval's half-width (|new - committed| / half-width; above 1 the new
    effect lies outside the committed interval)."""
    old, fresh = _tier_files(committed, tier), _tier_files(new, tier)
    rows = []
    for cid in sorted(set(old) & set(fresh)):
        subs_old = {s["id"]: s for s in old[cid]["subclaims"]}
        for s in fresh[cid]["subclaims"]:
            o = subs_old.get(s["id"])
            if o is None:
                continue
            e0, e1 = o.get("effect"), s.get("effect")
            half = (o["ci_high"] - o["ci_low"]) / 2 if o.get("ci_low") is not None else None
            moved = abs(e1 - e0) / half if None not in (e0, e1, half) and half > 0 else None
            rows.append({"tier": tier, "claim": cid, "subclaim": s["id"],
                         "verdict_committed": o["verdict"], "verdict_new": s["verdict"],
                         "agree": o["verdict"] == s["verdict"],
                         "exact": e0 is not None and e1 is not None and abs(e1 - e0) <= 1e-12 * max(1.0, abs(e0)),
                         "effect_committed": e0, "effect_new": e1, "ci_committed": _ci(o), "ci_new": _ci(s),
                         "moved_in_half_widths": moved,
                         "setup_committed": _setup(old[cid]), "setup_new": _setup(fresh[cid])})
    return rows


def write_rows(rows: list[dict], out: Path, head: str) -> None:
    buf = _io.StringIO()
    buf.write(f"# {head}\n")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["tier"])
    w.writeheader()
    w.writerows(rows)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(buf.getvalue())
