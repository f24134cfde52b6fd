"""The canary: the committed runs must still come out of today's code (src/trickbench/canary.py)."""
import shutil
from pathlib import Path

import pytest


from trickbench import config, stacked, train
from trickbench.ops import canary
from trickbench.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
CLAIMS = REPO / "config" / "claims"


def test_every_committed_quick_run_comes_out_of_todays_code(ctx):
    rows = canary.check(REPO / "results", "quick", ctx, CLAIMS)
    classify = {c for c, claim in config.load_claims(CLAIMS).items()
                if claim["task"] == "classify" and (REPO / "results" / "quick" / c / "runs").is_dir()}
    assert classify and {r["claim"] for r in rows} == classify   # one canary per arm file of every such claim
    assert any(r["precision"] == "fp32" for r in rows)
    strict = [r for r in rows if r["tolerance"] == canary.RTOL[r["precision"]]]
    assert len(strict) >= len(rows) // 2   # the probe loosens only the float-sensitive few (12 of 61 today)
    assert all(r["ok"] for r in rows), canary.explain(rows, "quick")


def test_a_change_to_training_that_keeps_every_recipe_is_caught(ctx, monkeypatch):
    real = train.data_generator

    def shifted(seed):  # another data order: what a silent change to training looks like
        return real(seed + 1)
    monkeypatch.setattr(train, "data_generator", shifted)
    monkeypatch.setattr(stacked, "data_generator", shifted)
    # pruning's run trained alone, dropout's seeds stacked: both engines are retrained as they ran
    rows = canary.check(REPO / "results", "quick", ctx, CLAIMS, claims=["pruning", "dropout"])
    assert {r["claim"] for r in rows} == {"pruning", "dropout"}
    assert not any(r["ok"] for r in rows) and all("train_loss" in r["problem"] for r in rows)
    assert "results/quick/dropout, pruning" in canary.explain(rows, "quick")


def test_a_run_without_its_committed_curve_is_reported_not_skipped(tmp_path, ctx):
    shutil.copytree(REPO / "results" / "quick" / "pruning", tmp_path / "quick" / "pruning")
    curves = tmp_path / "quick" / "pruning" / "curves.csv"
    curves.write_text(curves.read_text().splitlines()[0] + "\n")   # the header alone
    rows = canary.check(tmp_path, "quick", ctx, CLAIMS, claims=["pruning"])
    assert len(rows) == 1 and not rows[0]["ok"] and "curves.csv" in rows[0]["problem"]



def test_an_epoch_written_as_a_float_is_still_epoch_1(tmp_path, ctx):
    """pandas writes 1.0 where the epoch column has gaps (the cpu optimizers tier): not a missing curve."""
    import pandas as pd
    shutil.copytree(REPO / "results" / "quick" / "pruning", tmp_path / "quick" / "pruning")
    curves = tmp_path / "quick" / "pruning" / "curves.csv"
    pd.read_csv(curves).astype({"epoch": float}).to_csv(curves, index=False)
    assert ",1.0," in curves.read_text()
    rows = canary.check(tmp_path, "quick", ctx, CLAIMS, claims=["pruning"])
    assert len(rows) == 1 and rows[0]["ok"], rows

def test_a_run_that_diverged_in_its_first_epoch_matches_one_that_diverges_again():
    assert canary._rel(float("nan"), float("inf")) == 0 and canary._rel(float("nan"), 2.3) == float("inf")
    assert canary._rel(2.0, 2.0 * (1 + 5e-5)) == pytest.approx(5e-5)


def test_the_probe_scales_the_initial_weights_and_changes_nothing_when_off(tmp_path, ctx):
    recipe = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 3, "width": 32},
                  optimizer="sgd", lr=0.1, epochs=1, batch_size=64)
    runs = {eps: train.run(recipe, 0, tmp_path / str(eps), dict(ctx, perturb_init=eps), {"config_hash": "t"})
            for eps in (0.0, 1e-6, 1e-2)}
    plain = train.run(recipe, 0, tmp_path / "plain", ctx, {"config_hash": "t"})
    loss = {eps: r["metrics"]["final_train_loss"] for eps, r in runs.items()}
    assert loss[0.0] == plain["metrics"]["final_train_loss"]
    assert 0 < abs(loss[1e-6] - loss[0.0]) < abs(loss[1e-2] - loss[0.0])


def test_the_canary_table_keeps_other_claims_and_the_report_states_it(tmp_path):
    from trickbench import report
    row = lambda claim, arm, ok, diff, tol: {"claim": claim, "arm": arm, "seed": 0, "precision": "fp32",  # noqa: E731
                                              "ok": ok, "max_rel_diff": diff, "probe_rel_diff": 0.0,
                                              "tolerance": tol, "problem": "" if ok else "train_loss 1 committed, 2 now"}
    path = tmp_path / "cpu" / "canary.csv"
    path.parent.mkdir()
    canary.write_table([row("dropout", "none", True, 0.0, 1e-4), row("dropout", "paper", True, 0.0, 0.3)], path)
    canary.write_table([row("pruning", "mlp", False, 0.5, 1e-4)], path)
    table = canary.write_table([row("pruning", "mlp", True, 1e-6, 1e-4)], path)   # pruning checked again
    assert [(r["claim"], r["arm"], r["ok"]) for r in table] == [("dropout", "none", "True"), ("dropout", "paper", "True"),
                                                                ("pruning", "mlp", True)]
    [line] = report.canaries(tmp_path)
    assert (line["tier"], line["n"], line["claims"], line["agree"], line["exact"], line["sensitive"]) == ("cpu", 3, 2, 3, 2, 1)
    assert line["failed"] == [] and "commit" in line["where"]
    canary.write_table([row("pruning", "mlp", False, 0.5, 1e-4)], path)
    [line] = report.canaries(tmp_path)
    assert line["agree"] == 2 and line["failed"] == ["pruning/mlp seed 0: train_loss 1 committed, 2 now"]
    canary.write_table([row("pruning", "mlp", True, 0.1, 0.3) | {"train_loss_rel": 0.0, "test_loss_rel": 0.1}], path)
    [line] = report.canaries(tmp_path)
    assert (line["agree"], line["exact"], line["eval_only"]) == (3, 2, 1)
    canary.write_table([row("pruning", "mlp", True, 1e-3, 1e-4) | {"cross_cpu": "another CPU's difference: ..."}], path)
    [line] = report.canaries(tmp_path)
    assert (line["agree"], line["cross_cpu"], line["failed"]) == (3, 1, [])


def _this_cpus_pruning_run(tmp_path, ctx) -> Path:
    """results/quick/pruning as if trained on this CPU: its epoch-1 curve is today's retraining
    (committed runs come from another CPU, where training agrees to 1e-4, not to the bit)."""
    import pandas as pd
    shutil.copytree(REPO / "results" / "quick" / "pruning", tmp_path / "quick" / "pruning")
    [base] = canary.check(tmp_path, "quick", ctx, CLAIMS, claims=["pruning"])
    curves = tmp_path / "quick" / "pruning" / "curves.csv"
    df = pd.read_csv(curves)
    at = (df.arm == base["arm"]) & (df.seed == base["seed"]) & (df.epoch == 1)
    df.loc[at, "train_loss"], df.loc[at, "test_loss"] = base["train_loss_now"], base["test_loss_now"]
    df.to_csv(curves, index=False)
    return tmp_path


def test_a_changed_evaluation_is_told_apart_from_changed_training(tmp_path, ctx, monkeypatch):
    """stochastic_depth_cifar's first seeds: trained to the bit, evaluated on another test subset."""
    results = _this_cpus_pruning_run(tmp_path, ctx)
    real = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda *a, **k: (lambda loss, acc: (loss * 1.01, acc))(*real(*a, **k)))
    [r] = canary.check(results, "quick", ctx, CLAIMS, claims=["pruning"])
    assert r["train_loss_rel"] == 0.0 and r["test_loss_rel"] > 1e-3 and not r["ok"]
    assert canary.only_evaluation_moved(r) and "the evaluation or test set changed" in canary.explain([r], "quick")


def test_lane_files_that_share_their_first_run_are_checked_once(tmp_path):
    from trickbench import io
    from trickbench.ops import canary
    runs = tmp_path / "runs"
    io.write_jsonl(runs / "constant.s1.jsonl", [{"arm": "constant", "seed": 0}])
    io.write_jsonl(runs / "constant.s2.jsonl", [{"arm": "constant", "seed": 1}, {"arm": "constant", "seed": 0}])
    io.write_jsonl(runs / "linear.jsonl", [{"arm": "linear", "seed": 0}])
    assert [(r["arm"], r["seed"]) for r in canary._first_runs(tmp_path)] == [("constant", 0), ("linear", 0)]


def test_two_cpus_of_one_name_are_told_apart_by_their_bf16_units():
    here = {"cpu": "AMD EPYC", "cpu_bf16": "avx512_bf16"}
    assert canary.same_machine({"cpu": "AMD EPYC", "cpu_bf16": "avx512_bf16"}, here)
    assert not canary.same_machine({"cpu": "AMD EPYC", "cpu_bf16": None}, here)   # an AVX2-only EPYC
    assert canary.same_machine({"cpu": "AMD EPYC"}, here)                           # not recorded: the name decides
    assert not canary.same_machine({"cpu": "Intel(R) Xeon(R) Processor", "cpu_bf16": "amx_bf16"}, here)


def test_another_cpus_difference_is_told_apart_from_a_stale_run_by_the_runs_own_commit():
    row = {"ok": False, "problem": "test_loss 0.207962 committed, 0.207904 now", "same_cpu": False}
    now = {"train_loss": 0.3934739, "test_loss": 0.2079037}
    keys = {"train_loss": "train_loss", "test_loss": "test_loss"}
    cpu = canary.judge_other_cpu(row, now, dict(now), keys, 1e-4, "78de43716dcb")   # the run's commit trains today's numbers here
    assert cpu["ok"] and cpu["problem"] == "" and cpu["own_commit_rel"] == 0.0 and "78de437" in cpu["cross_cpu"]
    stale = canary.judge_other_cpu(row, now, {**now, "train_loss": 0.39}, keys, 1e-4, "78de43716dcb")
    assert not stale["ok"] and "its own commit 78de437 on this CPU differs from today's code by 8.9e-03" in stale["problem"]
    unknown = canary.judge_other_cpu(row, now, None, keys, 1e-4, "None")
    assert not unknown["ok"] and "could not be run here" in unknown["problem"]
    assert "ok: another CPU's difference" in canary.explain([cpu | {"claim": "c", "arm": "a", "seed": 0, "precision": "fp32"}], "cpu")


def test_a_runs_own_commit_trains_todays_numbers_on_this_machine(tmp_path, ctx):
    """The question the canary asks a run from another CPU, asked of a quick pruning run: a git
    worktree of the commit it recorded trains epoch 1 here as today's code does."""
    import subprocess
    [summary] = canary._first_runs(REPO / "results" / "quick" / "pruning")
    commit = summary["provenance"]["commit"]
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True).returncode:
        pytest.skip(f"no git history with the run's commit {commit[:7]} (an installed package or a shallow clone)")
    try:
        own = canary.retrain_at_own_commit(summary, ctx, tmp_path)
        assert any(tmp_path.glob("commit-*"))
    finally:
        canary._remove_worktrees(tmp_path)
    assert not any(tmp_path.glob("commit-*"))
    now = canary.retrain_first_epoch(summary, ctx, tmp_path / "now")
    assert own and own["train_loss"] == now["train_loss"] and own["test_loss"] == now["test_loss"]
    assert canary.retrain_at_own_commit({**summary, "provenance": {**summary["provenance"], "dirty": True}}, ctx, tmp_path) is None
