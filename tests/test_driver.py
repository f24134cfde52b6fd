"""The one training loop (trickbench.driver): a single seed and a seed stack go through the same
start, resume, checkpoint safety, timeout and summary."""
import shutil
from pathlib import Path

import pytest

from trickbench import driver, io, stacked, train
from trickbench.tasks import TASKS

BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 2, "width": 16},
            optimizer="sgd", momentum=0.9, lr=0.05, epochs=3, batch_size=64, val_fraction=0.1, lr_schedule="cosine")
META = {"config_hash": "legacy"}
LEGACY = Path(__file__).parent / "fixtures" / "legacy_checkpoints"


def _train(kind, recipe, root: Path, ctx, **kw) -> list[dict]:
    """Seeds 0 and 1 of `recipe`: one train.run each, or one stack."""
    if kind == "single":
        return [train.run(recipe, s, root / f"seed{s}", ctx, META, **kw) for s in (0, 1)]
    return stacked.run_stacked(recipe, [0, 1], [root / "seed0", root / "seed1"], ctx, META, **kw)


def _ckpt(kind, root: Path) -> Path:
    return root / "seed0" / "ckpt.pt" if kind == "single" else root / "stack-0-1.pt"


def _curves(root: Path) -> list:
    return [[{k: v for k, v in r.items() if k not in ("wall_s", "cpu_s")} for r in io.read_jsonl(root / f"seed{s}" / "metrics.jsonl")]
            for s in (0, 1)]


@pytest.mark.parametrize("kind", ["single", "stack"])
def test_a_damaged_checkpoint_is_moved_aside_and_the_run_resumes_from_the_one_before(tmp_path, ctx, kind):
    """Stacks had one checkpoint file and no fallback: a torn stack-<seeds>.pt lost the stack."""
    full = _train(kind, BASE, tmp_path / "full", ctx)
    root = tmp_path / "r"
    assert {s["outcome"] for s in _train(kind, BASE, root, ctx, stop_after_epoch=2)} == {"stopped"}
    ck = _ckpt(kind, root)
    prev = driver.previous(ck)
    assert ck.exists() and prev.exists()   # epochs 2 and 1
    ck.write_bytes(ck.read_bytes()[:700])  # a kill or a full disk during a copy
    with pytest.warns(UserWarning, match=f"checkpoint {ck} is unreadable"):
        out = _train(kind, BASE, root, ctx)
    assert ck.with_name(ck.name + ".corrupt").exists() and not ck.exists() and not prev.exists()
    assert [train.learned(s["metrics"]) for s in out] == [train.learned(s["metrics"]) for s in full]
    assert _curves(root) == _curves(tmp_path / "full")


@pytest.mark.parametrize("kind", ["single", "stack"])
def test_every_run_writes_one_summary_shape(tmp_path, ctx, kind):
    """One writer: a stack's summaries have every key a single run's has (and say they were stacked)."""
    out = _train(kind, BASE, tmp_path, ctx)
    keys = {"claim", "seed", "recipe", "outcome", "diverged_at", "metrics", "wall_s", "eval_s", "images_per_s",
            "machines", "micro_batch", "train_chunk", "precision", "layout", "compile", "dataset", "dataset_sha256",
            "provenance", "config_hash"}
    for s in out:
        assert keys <= set(s | {"claim": None}) and ("stacked_runs" in s) == (kind == "stack")
        assert s["machines"][0]["from_epoch"] == 1 and s["precision"] == "fp32" and s["layout"] == "contiguous"


@pytest.mark.parametrize("kind", ["single", "stack"])
def test_the_timeout_counts_each_runs_own_seconds(tmp_path, ctx, kind, monkeypatch):
    """max_seconds is per run: a stack of S seeds is charged its time / S, as its summaries' wall_s
    (the two loops wrote the rule twice). A fake clock: every perf_counter call advances 0.5 s, so an
    epoch costs 0.5 s of training, 0.25 s a seed in a stack of two."""
    import itertools
    clock = itertools.count(step=0.5)
    monkeypatch.setattr(driver.time, "perf_counter", lambda: next(clock))
    out = _train(kind, dict(BASE, max_seconds=0.3), tmp_path, ctx)
    assert [s["outcome"] for s in out] == ["timeout", "timeout"]
    assert [s["metrics"]["epochs_done"] for s in out] == ([1, 1] if kind == "single" else [2, 2])
    assert all(s["wall_s"] == 0.5 for s in out)   # one epoch alone, two epochs in a stack of two


@pytest.mark.parametrize("kind", ["single", "stack"])
def test_checkpoints_written_before_the_one_loop_still_resume(tmp_path, ctx, kind):
    """tests/fixtures/legacy_checkpoints: epoch 1 of seeds 0 (single) and 0-1 (stack) of BASE, as the
    code of 5bec520 wrote them (a single run's state at the checkpoint's top level, a stack's as
    parallel lists). They resume to the end; epoch 1 is the one they hold, and the rest is what
    this code trains from it (to float tolerance: the fixtures were made on another CPU)."""
    root = tmp_path / "r"
    shutil.copytree(LEGACY / kind, root)
    seeds = [0] if kind == "single" else [0, 1]
    held = [io.read_jsonl(root / f"seed{s}" / "metrics.jsonl") if kind == "stack" else io.read_jsonl(root / "metrics.jsonl")
            for s in seeds]
    if kind == "single":
        out = [train.run(BASE, 0, root, ctx, META)]
        hist = [io.read_jsonl(root / "metrics.jsonl")]
    else:
        out = stacked.run_stacked(BASE, seeds, [root / f"seed{s}" for s in seeds], ctx, META)
        hist = [io.read_jsonl(root / f"seed{s}" / "metrics.jsonl") for s in seeds]
    fresh = _train(kind, BASE, tmp_path / "fresh", ctx)
    for s, h, before, summary in zip(seeds, hist, held, out):
        assert summary["outcome"] == "ok" and [r["epoch"] for r in h] == [1, 2, 3]
        assert h[0] == before[0]                 # the checkpoint's own epoch, as it was
        for k, v in train.learned(fresh[s]["metrics"]).items():
            assert summary["metrics"][k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
    assert not list(root.rglob("*.pt"))


def test_a_kept_best_model_is_tested_as_the_live_one_would_be(tmp_path, ctx):
    """test_every > 1: the best-validation epoch's model, when that epoch was not tested, is kept
    (Trainer.snapshot) and tested at the end (test_snapshot); for a seed of a stack, as a stack of one."""
    import torch
    stack = stacked.Stack(BASE, [0, 1], [tmp_path / "a", tmp_path / "b"], ctx, torch.device("cpu"))
    stack.train_epoch(0)
    kept = stack.snapshot(1)
    live = stack.evaluate_split("test")[1][1]
    stack.train_epoch(1)   # the weights move on; the kept copy does not
    assert stack.test_snapshot(1, kept) == pytest.approx(live, abs=1e-12)
    assert stack.evaluate_split("test")[1][1] != live
    run = train._start(BASE, 1, tmp_path / "c", ctx, torch.device("cpu"))
    run.ready()
    run.train_epoch(0)
    kept, live = run.snapshot(0), run.evaluate_split("test")[0][1]
    run.train_epoch(1)
    assert run.test_snapshot(0, kept) == live != run.evaluate_split("test")[0][1]
