"""The GPU script end to end on a CPU at toy size (so it is ready the moment a GPU is lent), its
merge back into results/, and the models benchmark's ratios."""
import json
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import REPO
from trickbench.ops import gpucheck

pytestmark = pytest.mark.slow


def test_gpu_script_runs_packs_and_merges(tmp_path):
    out = tmp_path / "gpu-out"
    # a budget a loaded 2-core machine meets too (at 120 s, with long runs beside the tests, the
    # plan's last runs were still "not started" when it ran out)
    proc = subprocess.run([str(REPO / "bench" / "gpu_check.sh"), str(out), "--tiny", "--budget-s", "400"],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    archive = out / gpucheck.ARCHIVE
    names = tarfile.open(archive).getnames()
    assert "runs.json" in names and "gpu_check.log" in names
    bench = [n for n in names if n.startswith("bench/") and n.endswith("-models.json")]
    assert len(bench) == 1
    runs = json.loads((out / "runs.json").read_text())
    assert {r["claim"] for r in runs} >= {"stochastic_depth", "agc_nfresnet_cifar", "amsgrad_cifarnet"}
    assert all(r["outcome"] == "ok" for r in runs)

    results = tmp_path / "results"
    brought = gpucheck.merge(archive, results)
    assert len(brought["finished"]) == len(runs) and not brought["to_resume"]
    b = json.loads((results / "bench" / bench[0].split("/")[1]).read_text())
    for row in b["models"].values():
        assert row["engine_img_s"] > 0 and row["plain_img_s"] > 0 and row["flops_per_image"] > 0
        assert row["mfu"] == pytest.approx(row["engine_flops_s"] / b["peak_flops"]) and row["mfu"] > 0
    assert b["time_to_accuracy"]["curve"] and b["environment"]["torch"] and b["load_after"] >= 0
    conc = b["concurrency"]   # 1 and 2 processes at toy size; the count it trained with is its best
    assert [c["procs"] for c in conc["curve"]][:1] == [1] and all(c["img_s"] > 0 for c in conc["curve"])
    assert conc["best_procs"] in [c["procs"] for c in conc["curve"]]
    assert f"{conc['best_procs']} processes at a time" in (out / "gpu_check.log").read_text()
    again = gpucheck.merge(archive, results)  # finished runs here are never overwritten
    assert len(again["kept"]) == len(runs) and not again["finished"]

    # the next draw of this card: its measurements come with the seed results, so its minutes go to
    # runs (here every run is finished already: nothing to train, nothing measured, nothing packed)
    out2 = tmp_path / "gpu-out-2"
    proc = subprocess.run([str(REPO / "bench" / "gpu_check.sh"), str(out2), "--tiny", "--budget-s", "400",
                           "--seed-results", str(results)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (out2 / "gpu_check.log").read_text()
    assert "measured before" in log and f"training {conc['best_procs']} runs at a time" in log
    assert "time to accuracy:" not in log and "concurrency:" not in log
    assert not [n for n in tarfile.open(out2 / gpucheck.ARCHIVE).getnames() if n.startswith("bench/") and n != "bench"]


def test_a_tuned_grid_is_tuned_side_by_side_then_tested_seed_by_seed(tmp_path):
    # one task per tuning run (all at once on the card), then, planned again, one per test seed
    from trickbench import io
    from trickbench.config import load_claims, resolve
    from trickbench.tasks import run_dir
    claims = load_claims(REPO / "config" / "claims")
    cat = resolve(claims["agc_nfresnet_cifar"], "cpu_long")
    members = cat.families()["nf_agc_large"]
    tasks = [t for t in gpucheck.plan_tasks(claims, root=tmp_path) if t[:2] == ("agc_nfresnet_cifar", "cpu_long")]
    tuning = [t for t in tasks if t[2] in members]
    assert sorted((t[2], t[3]) for t in tuning) == sorted((m, (s,)) for m in members for s in cat.tune_seeds)
    assert not [t for t in tasks if t[2] == "nf_agc_large"]   # no test seed before the pick
    root = tmp_path / "cpu_long" / "agc_nfresnet_cifar" / "runs"
    for m in members:
        for s in cat.tune_seeds:
            io.write_json(run_dir(root, cat.arms[m], s) / "summary.json", {"arm": m, "seed": s})
    tasks = [t for t in gpucheck.plan_tasks(claims, root=tmp_path) if t[:2] == ("agc_nfresnet_cifar", "cpu_long")]
    assert not [t for t in tasks if t[2] in members]
    assert [t[3] for t in tasks if t[2] == "nf_agc_large"] == [(s,) for s in cat.seeds]


def test_a_grid_members_tuning_run_trains_as_its_own_task(tmp_path, ctx):
    from trickbench.config import load_claims, resolve
    cat = resolve(load_claims(REPO / "config" / "claims")["dropout"], "smoke")
    member = cat.families()["paper_recipe"][0]
    rows = gpucheck._train_task(("dropout", "smoke", member, (7,), None), str(REPO / "config" / "claims"),
                                str(tmp_path), dict(ctx, deadline=float("inf")))
    assert [(r["arm"], r["seed"], r["outcome"]) for r in rows] == [(member, 7, "ok")]
