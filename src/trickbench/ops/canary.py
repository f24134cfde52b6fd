"""Canaries: do the committed runs still come out of today's code?

A run is reused while its recipe hash is unchanged. A code change that alters training without
changing any recipe (a model's init order, the data order, a trick's arithmetic) therefore leaves
stale runs in `results/` that no longer say what the code does; only a full reproduction would see
it (it happened once: a quick tier trained before the residual blocks were unified).

The canary retrains the first epoch of one run per arm file (`runs/<arm>.jsonl`: its lowest seed,
from the recipe recorded in its summary, at the precision it recorded) and compares the epoch's
training and test loss with the committed curve (`curves.csv`), with the engine that trained it
(seeds that were stacked are retrained stacked). Those two numbers move with any change to
initialisation, data, forward pass, loss, optimizer step or evaluation.

How far is too far: float results differ between CPUs (summation order), and a few recipes amplify
such differences within one epoch (a 20-layer net at the edge of chaos with gradient noise: a
10⁻⁷ difference after 16 steps is 2 % by the epoch's end). So each canary is also retrained with every
initial weight scaled by 1 + 10⁻⁷, about one fp32 unit in the last place (the probe), and a difference counts only beyond
max(tolerance, 10 × the probe's difference): fp32 tolerance 10⁻⁴ relative, bf16 autocast 10⁻².
On a CPU other than the one that trained the run the factor is 30, not 10: another CPU's kernels
differ in every operation, not in one last bit as the probe does (seen: the quick tier's 50-block
residual MLP with drop path, trained on an AMD EPYC, moved its epoch-1 test loss 13,395 -> 40,808 on
an Intel Xeon, 10.8x its probe of 19 %; a shifted data order moves the float-sensitive dropout
canary 170x its probe, so 30x still catches it).
A stale run in an ordinary recipe differs by 10⁻⁴–10⁻¹ (tests/test_canary.py changes the data order).
Where a run trained on another CPU still differs by more, the canary asks the run's own commit:
it trains epoch 1 again on this machine from a git worktree of the commit the run recorded. If
that equals today's code here (within the same-CPU tolerance), the difference is the CPU's and the
run is not stale (seen: two fp32 MLP runs trained on an AMD EPYC Zen 4 differ by 3·10⁻⁴ and 10⁻³ on
an Intel Xeon, and their commit 78de437 trains today's numbers to the bit there); if not, today's
code trains it differently. Not asked where there is no git history (an installed package), the
commit is unknown or was dirty (a stacked run is retrained as a one-seed stack, to its end where its
commit's stacked engine cannot stop after an epoch: MLP runs of a few minutes at most).

Covered: every claim of the `classify` task. Not covered: the `online` and `quadratic` tasks (their
runs are exact and cheap; their own tests pin them), and anything that acts after the first epoch
only (a later schedule restart, pruning, ensembling).

    python -m trickbench.cli canary --tier quick            # exit 1 on a mismatch
    python -m trickbench.cli canary --tier cpu --claim dropout --out results/cpu/canary.csv

`--out` keeps the rows in `results/<tier>/canary.csv` (the claims checked now replace their old
rows, the others stay), with the machine, commit and date; the report states them.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from trickbench import config
from trickbench.io import atomic_write_text, read_jsonl

RTOL = {"fp32": 1e-4, "bf16": 1e-2}
PROBE = 1e-7       # relative scaling of every initial weight (about one fp32 unit in the last place)
PROBE_FACTOR = 10  # a difference counts beyond this many times the probe's
PROBE_FACTOR_OTHER_CPU = 30  # ... on a CPU other than the run's (largest seen: 10.8x, AMD EPYC -> Intel Xeon)
KEYS = ("train_loss", "test_loss")


def _first_runs(claim_dir: Path) -> list[dict]:
    """The lowest-seed summary of each runs/<arm>.jsonl (a grid arm: its first member), each run
    once (the long-run lanes' files <arm>.s<N>.jsonl share their first run)."""
    out, seen = [], set()
    for path in sorted((claim_dir / "runs").glob("*.jsonl")):
        rows = read_jsonl(path)
        if rows:
            first = min(rows, key=lambda r: r["seed"])
            if (first["arm"], first["seed"]) not in seen:
                seen.add((first["arm"], first["seed"]))
                out.append(first)
    return out


def _committed_epoch1(claim_dir: Path) -> dict[tuple[str, int], dict]:
    path = claim_dir / "curves.csv"
    if not path.exists():
        return {}
    with path.open() as f:
        # pandas writes the epoch as "1.0" where the column also has gaps (runs logged by step)
        return {(r["arm"], int(r["seed"])): r for r in csv.DictReader(f) if _number(r.get("epoch")) == 1.0}


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _rel(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0 if not (math.isfinite(a) or math.isfinite(b)) else math.inf
    return abs(a - b) / max(abs(a), 1e-12)


def recorded_layout(summary: dict) -> str:
    """The memory layout a run trained in: recorded since layouts could differ on a CPU; before
    that, channels_last on CUDA and contiguous on a CPU."""
    if "layout" in summary:
        return summary["layout"]
    return "channels_last" if (summary.get("provenance") or {}).get("gpu") else "contiguous"


def _as_recorded(summary: dict, ctx: dict) -> dict:
    """The training context the run recorded: its precision and memory layout, its micro-batch
    (none for runs before chunking was recorded), one engine at a time, no compilation."""
    return {**ctx, "precision": summary.get("precision", "fp32"), "stack": False, "compile": False,
            "channels_last": recorded_layout(summary) == "channels_last", "micro_batch": summary.get("micro_batch")}


def retrain_first_epoch(summary: dict, ctx: dict, workdir: Path) -> dict:
    """Epoch 1 of the summary's run, trained now by the engine that trained it (train.run, or the
    stacked engine for seeds that were stacked: a one-seed stack equals its seed in a larger one)."""
    from trickbench import stacked, train
    recipe = summary["recipe"]
    run_ctx = _as_recorded(summary, ctx)
    run_dir = workdir / str(summary.get("claim")) / summary["arm"] / f"seed{summary['seed']}"  # stack checkpoints sit beside
    with contextlib.redirect_stdout(io.StringIO()):   # the run's progress line
        if (summary.get("stacked_runs") or 1) > 1:
            stacked.run_stacked(recipe, [int(summary["seed"])], [run_dir], run_ctx, {"config_hash": "canary"},
                                stop_after_epoch=1)
        else:
            train.run(recipe, int(summary["seed"]), run_dir, run_ctx, {"config_hash": "canary"}, stop_after_epoch=1)
    rows = read_jsonl(run_dir / "metrics.jsonl")
    return rows[0] if rows else {}


# run inside a worktree of the run's own commit (its train.run has had this signature since the
# first committed runs; a stacked run is retrained as a one-seed stack, to its end where that
# commit's stacked engine cannot stop after an epoch): epoch 1 of the run, printed as JSON
_OWN_COMMIT_SCRIPT = """
import inspect, json, sys
from pathlib import Path
from trickbench import train
from trickbench.io import read_jsonl
summary, ctx, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
recipe, seed, meta = summary["recipe"], int(summary["seed"]), {"config_hash": "canary"}
if (summary.get("stacked_runs") or 1) > 1:
    from trickbench import stacked
    stop = {"stop_after_epoch": 1} if "stop_after_epoch" in inspect.signature(stacked.run_stacked).parameters else {}
    stacked.run_stacked(recipe, [seed], [out], ctx, meta, **stop)
else:
    train.run(recipe, seed, out, ctx, meta, stop_after_epoch=1)
rows = read_jsonl(out / "metrics.jsonl")
print(json.dumps(rows[0] if rows else {}))
"""


def retrain_at_own_commit(summary: dict, ctx: dict, workdir: Path, timeout: float = 900) -> dict | None:
    """Epoch 1 of the summary's run trained on this machine by the code of the commit that trained
    it (a git worktree of its recorded commit, its own data cache); None where that cannot be asked
    (no git history, the commit unknown, dirty or missing) or the old code failed or ran past
    `timeout` seconds."""
    from trickbench import provenance
    prov = summary.get("provenance") or {}
    commit = prov.get("commit")
    if not commit or prov.get("dirty") or provenance.REPO is None:
        return None
    tree = workdir / f"commit-{commit[:12]}"
    if not tree.exists():
        made = subprocess.run(["git", "-C", str(provenance.REPO), "worktree", "add", "--detach", str(tree), commit],
                              capture_output=True, text=True)
        if made.returncode:
            return None
    # an old commit's cache format may differ from today's: a cache of its own
    run_ctx = {k: (str(v) if isinstance(v, Path) else v)
               for k, v in (_as_recorded(summary, ctx) | {"cache_dir": str(workdir / "old-cache")}).items()}
    out = workdir / "own" / f"{summary.get('claim')}-{summary['arm']}-seed{summary['seed']}"
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": str(ctx.get("threads", 1))}
    try:
        done = subprocess.run([sys.executable, "-c", _OWN_COMMIT_SCRIPT, json.dumps(summary), json.dumps(run_ctx), str(out)],
                              env=env, capture_output=True, text=True, timeout=timeout)
        return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (IndexError, json.JSONDecodeError, subprocess.TimeoutExpired):
        return None


def _remove_worktrees(workdir: Path) -> None:
    from trickbench import provenance
    for tree in workdir.glob("commit-*"):
        subprocess.run(["git", "-C", str(provenance.REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)


def judge_other_cpu(row: dict, now: dict, own: dict | None, keys: dict, same_cpu_tol: float, commit: str) -> dict:
    """A canary that failed on a CPU other than the run's, against epoch 1 of the run's own commit
    trained here (`own`): equal to today's code within the same-CPU tolerance -> ok (the CPU made
    the difference); otherwise still failed, now known to be today's code."""
    if own is None:
        return row | {"problem": row["problem"] + "; trained on another CPU, and its own commit could not be run here"}
    d = max(_rel(float(own.get(src, "nan")), float(now.get(src, "nan"))) for src in keys.values())
    row = row | {"own_commit_rel": d}
    if d <= same_cpu_tol:
        return row | {"ok": True, "problem": "", "cross_cpu": f"another CPU's difference: its own commit {commit[:7]} "
                      f"trains today's numbers on this CPU (relative difference {d:.1e})"}
    return row | {"problem": row["problem"] + f"; its own commit {commit[:7]} on this CPU differs from today's code by {d:.1e}"}


def check(results_dir: str | Path, tier: str, ctx: dict, claims_dir: str | Path = "config/claims",
          claims: list[str] | None = None) -> list[dict]:
    """One row per canary: claim, arm, seed, precision, per key the committed and today's value, ok."""
    from trickbench import provenance
    all_claims = config.load_claims(claims_dir)
    here = {"cpu": provenance.cpu_model(), "cpu_bf16": provenance.cpu_bf16()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="trickbench-canary-") as tmp:
        try:
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
                    now = retrain_first_epoch(summary, ctx, Path(tmp) / "now")
                    probe = retrain_first_epoch(summary, {**ctx, "perturb_init": PROBE}, Path(tmp) / "probe")
                    # a run that tests every k-th epoch (recipe test_every) has no epoch-1 test loss:
                    # its validation loss stands in (it moves with the same changes)
                    keys = {"train_loss": "train_loss",
                            "test_loss": "test_loss" if _number(ref.get("test_loss")) is not None else "val_loss"}
                    sens = max(_rel(float(now.get(k, "nan")), float(probe.get(k, "nan"))) for k in keys.values())
                    same_cpu = same_machine(summary.get("provenance") or {}, here)
                    tol = max(RTOL[prec], (PROBE_FACTOR if same_cpu else PROBE_FACTOR_OTHER_CPU) * sens)
                    bad, rel = [], 0.0
                    for key, src in keys.items():
                        v = _number(ref.get(src))
                        a, b = (math.nan if v is None else v), float(now.get(src, "nan"))
                        row[f"{key}_committed"], row[f"{key}_now"] = a, b
                        d = _rel(a, b)
                        row[f"{key}_rel"] = d
                        rel = max(rel, d)
                        if d > tol:
                            bad.append(f"{src} {a:.6g} committed, {b:.6g} now")
                    row |= {"ok": not bad, "problem": "; ".join(bad), "max_rel_diff": rel, "probe_rel_diff": sens,
                            "tolerance": tol, "same_cpu": same_cpu}
                    if bad and not same_cpu:
                        own = retrain_at_own_commit(summary, ctx, Path(tmp))
                        row = judge_other_cpu(row, now, own, keys, max(RTOL[prec], PROBE_FACTOR * sens),
                                              str((summary.get("provenance") or {}).get("commit")))
                    rows.append(row)
        finally:
            _remove_worktrees(Path(tmp))
    return rows


COLUMNS = ("claim", "arm", "seed", "precision", "ok", "max_rel_diff", "train_loss_rel", "test_loss_rel",
           "probe_rel_diff", "tolerance", "same_cpu", "own_commit_rel", "cross_cpu", "problem", "cpu", "commit", "date")


def same_machine(prov: dict, here: dict) -> bool:
    """Did the run train on a CPU like this one? VMs often name only "AMD EPYC": the bf16 units
    (recorded since 2026-11) tell an AVX2-only EPYC from a Zen 4 one, where a run recorded them."""
    return prov.get("cpu", "?") == here["cpu"] and ("cpu_bf16" not in prov or prov["cpu_bf16"] == here["cpu_bf16"])


def only_evaluation_moved(row: dict) -> bool:
    """Training to the bit, test loss not: the evaluation or the test set changed, not the training
    (stochastic_depth_cifar's first seeds were evaluated on another test subset)."""
    return _number(row.get("train_loss_rel")) == 0.0 and (_number(row.get("test_loss_rel")) or 0.0) > 0.0


def write_table(rows: list[dict], path: str | Path) -> list[dict]:
    """Merge this check's rows into the CSV at `path`: the claims checked now replace their rows,
    the rows of other claims stay. Returns the table written."""
    import datetime

    from trickbench import provenance
    path = Path(path)
    prov = provenance.record("cpu")
    where = {"cpu": prov.get("cpu", "?"), "commit": f"{str(prov.get('commit'))[:12]}{'+dirty' if prov.get('dirty') else ''}",
             "date": datetime.date.today().isoformat()}
    checked = {r["claim"] for r in rows}
    old = []
    if path.exists():
        with path.open() as f:
            old = [r for r in csv.DictReader(f) if r["claim"] not in checked]
    new = [{k: r.get(k, "") for k in COLUMNS} | where for r in rows]
    table = sorted(old + new, key=lambda r: (r["claim"], r["arm"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    atomic_write_text(path, buf.getvalue())
    return table


def explain(rows: list[dict], tier: str) -> str:
    lines = [f"{r['claim']}/{r['arm']} seed {r['seed']} ({r['precision']}): "
             + (("ok: " + r["cross_cpu"]) if r.get("cross_cpu") else "ok" if r["ok"] else r["problem"])
             + (f" (relative difference {r['max_rel_diff']:.1e}; probe {r['probe_rel_diff']:.1e}, "
                f"tolerance {r['tolerance']:.1e})" if "tolerance" in r else "")
             + ("; training equal to the bit, only the test loss moved: the evaluation or test set changed"
                if only_evaluation_moved(r) else "") for r in rows]
    judged = [r for r in rows if "tolerance" in r]
    loose = [r for r in judged if r["tolerance"] > RTOL[r["precision"]]]
    if judged:
        lines.append(f"\n{len(judged) - len(loose)} of {len(judged)} canaries judged at the base tolerance; "
                     f"{len(loose)} float-sensitive (a last-bit change of the initial weights moves them by more "
                     f"than a tenth of it), judged only beyond {PROBE_FACTOR}x the probe's difference "
                     f"({PROBE_FACTOR_OTHER_CPU}x for a run trained on another CPU).")
    stale = sorted({r["claim"] for r in rows if not r["ok"]})
    if stale:
        lines.append(
            f"\nToday's code does not train what results/{tier}/{', '.join(stale)} hold. If the change was meant "
            "(a fix, a faithful init), those runs are stale: retrain them (move the claim's runs/ folder aside, "
            "run the tier, commit the new runs and say why in CHANGELOG.md). If it was not meant, the code has a bug.")
    return "\n".join(lines)
