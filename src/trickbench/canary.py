"""Canaries: do the committed runs still come out of today's code?

A run is reused while its recipe hash is unchanged. A code change that alters training without
changing any recipe (a model's init order, the data order, a trick's arithmetic) therefore leaves
stale runs in `results/` that no longer say what the code does; only a full reproduction would see
it (it happened once: a quick tier trained before the residual blocks were unified).

The canary retrains the first epoch of one run per arm file (`runs/<arm>.jsonl`: its lowest seed,
from the recipe recorded in its summary, at the precision it recorded) and compares the epoch's
training and test loss with the committed curve (`curves.csv`), with the engine that trained it
(seeds that were stacked are retrained stacked: the single run agrees with them only to float
precision, which a near-chaotic recipe can amplify within an epoch). Those two numbers move with any
change to initialisation, data, forward pass, loss, optimizer step or evaluation; float noise moves
them far less than the tolerance (fp32: 1e-4 relative; bf16 autocast, whose kernels differ between
CPUs: 1e-2).

Covered: every claim of the `classify` task. Not covered: the `online` and `quadratic` tasks (their
runs are exact and cheap; their own tests pin them), and anything that acts after the first epoch
only (a later schedule restart, pruning, ensembling).

    python -m trickbench.cli canary --tier quick            # exit 1 on a mismatch
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import tempfile
from pathlib import Path

from trickbench import config

RTOL = {"fp32": 1e-4, "bf16": 1e-2}
KEYS = ("train_loss", "test_loss")


def _first_runs(claim_dir: Path) -> list[dict]:
    """The lowest-seed summary of each runs/<arm>.jsonl (a grid arm: its first member)."""
    out = []
    for path in sorted((claim_dir / "runs").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            out.append(min(rows, key=lambda r: r["seed"]))
    return out


def _committed_epoch1(claim_dir: Path) -> dict[tuple[str, int], dict]:
    path = claim_dir / "curves.csv"
    if not path.exists():
        return {}
    with path.open() as f:
        return {(r["arm"], int(r["seed"])): r for r in csv.DictReader(f) if r.get("epoch") == "1"}


def _close(a: float, b: float, rtol: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return not math.isfinite(a) and not math.isfinite(b)   # a run that diverged in epoch 1 again
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def retrain_first_epoch(summary: dict, ctx: dict, workdir: Path) -> dict:
    """Epoch 1 of the summary's run, trained now by the engine that trained it (train.run, or the
    stacked engine for seeds that were stacked: a one-seed stack equals its seed in a larger one)."""
    from trickbench import stacked, train
    recipe = summary["recipe"]
    run_ctx = {**ctx, "precision": summary.get("precision", "fp32"), "stack": False, "compile": False}
    run_dir = workdir / str(summary.get("claim")) / summary["arm"] / f"seed{summary['seed']}"  # stack checkpoints sit beside
    with contextlib.redirect_stdout(io.StringIO()):   # the run's progress line
        if (summary.get("stacked_runs") or 1) > 1:
            stacked.run_stacked(recipe, [int(summary["seed"])], [run_dir], run_ctx, {"config_hash": "canary"},
                                stop_after_epoch=1)
        else:
            train.run(recipe, int(summary["seed"]), run_dir, run_ctx, {"config_hash": "canary"}, stop_after_epoch=1)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return rows[0] if rows else {}


def check(results_dir: str | Path, tier: str, ctx: dict, claims_dir: str | Path = "config/claims",
          claims: list[str] | None = None) -> list[dict]:
    """One row per canary: claim, arm, seed, precision, per key the committed and today's value, ok."""
    all_claims = config.load_claims(claims_dir)
    rows = []
    with tempfile.TemporaryDirectory(prefix="trickbench-canary-") as tmp:
        for claim_id in claims or sorted(all_claims):
            claim_dir = Path(results_dir) / tier / claim_id
            if all_claims.get(claim_id, {}).get("task") != "classify" or not claim_dir.is_dir():
                continue
            committed = _committed_epoch1(claim_dir)
            for summary in _first_runs(claim_dir):
                prec = summary.get("precision", "fp32")
                row = {"claim": claim_id, "arm": summary["arm"], "seed": summary["seed"], "precision": prec}
                ref = committed.get((summary["arm"], int(summary["seed"])))
                if ref is None:
                    rows.append(row | {"ok": False, "problem": "no epoch-1 row in curves.csv for this run"})
                    continue
                now = retrain_first_epoch(summary, ctx, Path(tmp))
                bad, rel = [], 0.0
                for key in KEYS:
                    a, b = float(ref[key]), float(now.get(key, "nan"))
                    row[f"{key}_committed"], row[f"{key}_now"] = a, b
                    if not _close(a, b, RTOL[prec]):
                        bad.append(f"{key} {a:.6g} committed, {b:.6g} now")
                    elif math.isfinite(a):
                        rel = max(rel, abs(a - b) / max(abs(a), 1e-12))
                row |= {"ok": not bad, "problem": "; ".join(bad), "max_rel_diff": rel}
                rows.append(row)
    return rows


def explain(rows: list[dict], tier: str) -> str:
    lines = [f"{r['claim']}/{r['arm']} seed {r['seed']} ({r['precision']}): "
             + (f"ok (largest relative difference {r['max_rel_diff']:.1e}, tolerance {RTOL[r['precision']]:.0e})"
                if r["ok"] else r["problem"]) for r in rows]
    stale = sorted({r["claim"] for r in rows if not r["ok"]})
    if stale:
        lines.append(
            f"\nToday's code does not train what results/{tier}/{', '.join(stale)} hold. If the change was meant "
            "(a fix, a faithful init), those runs are stale: retrain them (move the claim's runs/ folder aside, "
            "run the tier, commit the new runs and say why in CHANGELOG.md). If it was not meant, the code has a bug.")
    return "\n".join(lines)
