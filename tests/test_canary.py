"""The canary: the committed runs must still come out of today's code (src/trickbench/canary.py)."""
import shutil
from pathlib import Path


from trickbench import canary, config, stacked, train

REPO = Path(__file__).resolve().parents[1]
CLAIMS = REPO / "config" / "claims"


def test_every_committed_quick_run_comes_out_of_todays_code(ctx):
    rows = canary.check(REPO / "results", "quick", ctx, CLAIMS)
    classify = {c for c, claim in config.load_claims(CLAIMS).items()
                if claim["task"] == "classify" and (REPO / "results" / "quick" / c / "runs").is_dir()}
    assert classify and {r["claim"] for r in rows} == classify   # one canary per arm file of every such claim
    assert any(r["precision"] == "fp32" for r in rows)
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


def test_a_run_that_diverged_in_its_first_epoch_matches_one_that_diverges_again():
    assert canary._close(float("nan"), float("inf"), 1e-4)
    assert not canary._close(float("nan"), 2.3, 1e-4)
    assert canary._close(2.3, 2.3 * (1 + 5e-5), 1e-4) and not canary._close(2.3, 2.3 * (1 + 5e-4), 1e-4)
