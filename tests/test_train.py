"""The training engine: resume equivalence, diverged and timed-out runs are results."""
import math

import pytest
import torch

from trickbench import driver, io, train
from trickbench.tasks import TASKS

BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 3, "width": 32},
            optimizer="sgd", momentum=0.9, lr=0.05, epochs=4, batch_size=64, val_fraction=0.1,
            lr_schedule="cosine", augment="crop")
META = {"config_hash": "test"}


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_resumed_run_ends_identical_to_uninterrupted(tmp_path, ctx, device):
    recipe, ctx = dict(BASE), dict(ctx, device=device)
    full = train.run(recipe, 3, tmp_path / "full", ctx, META)
    stopped = train.run(recipe, 3, tmp_path / "resumed", ctx, META, stop_after_epoch=2)
    assert stopped["outcome"] == "stopped" and (tmp_path / "resumed" / "ckpt.pt").exists()
    assert len(io.read_jsonl(tmp_path / "resumed" / "metrics.jsonl")) == 2
    resumed = train.run(recipe, 3, tmp_path / "resumed", ctx, META)
    assert resumed["outcome"] == full["outcome"] == "ok"
    assert train.learned(resumed["metrics"]) == train.learned(full["metrics"])
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("wall_s", "cpu_s")} for r in rows]  # noqa: E731
    assert strip(io.read_jsonl(tmp_path / "resumed" / "metrics.jsonl")) == strip(io.read_jsonl(tmp_path / "full" / "metrics.jsonl"))
    assert not (tmp_path / "resumed" / "ckpt.pt").exists()  # a finished run removes its checkpoint


@pytest.mark.parametrize("both", [False, True])
def test_a_truncated_checkpoint_is_moved_aside_and_the_run_resumes_from_the_one_before(tmp_path, ctx, both):
    recipe = dict(BASE)   # 3 epochs
    full = train.run(recipe, 3, tmp_path / "full", ctx, META)
    run = tmp_path / "r"
    train.run(recipe, 3, run, ctx, META, stop_after_epoch=2)
    ckpt, prev = run / "ckpt.pt", run / "ckpt.prev.pt"
    assert ckpt.exists() and prev.exists()   # epochs 2 and 1
    ckpt.write_bytes(ckpt.read_bytes()[:1000])   # a kill or a full disk during a copy
    if both:
        prev.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match=f"checkpoint {ckpt} is unreadable"):
        out = train.run(recipe, 3, run, ctx, META)
    assert (run / "ckpt.pt.corrupt").exists() and (both == (run / "ckpt.prev.pt.corrupt").exists())
    assert out["outcome"] == "ok" and train.learned(out["metrics"]) == train.learned(full["metrics"])
    assert not ckpt.exists() and not prev.exists()


def test_resume_with_dropout_and_flip_restores_every_rng(tmp_path, ctx):
    recipe = dict(BASE, model_args={"depth": 2, "width": 32, "dropout": 0.3}, augment="flip_crop", epochs=3)
    full = train.run(recipe, 0, tmp_path / "a", ctx, META)
    train.run(recipe, 0, tmp_path / "b", ctx, META, stop_after_epoch=1)
    torch.manual_seed(12345)  # disturb the global RNG, as a fresh process would
    assert train.learned(train.run(recipe, 0, tmp_path / "b", ctx, META)["metrics"]) == train.learned(full["metrics"])


def test_checkpoint_generator_states_load_as_cpu_byte_tensors(tmp_path, ctx):
    # torch.set_rng_state and Generator.set_state take CPU byte tensors only: loading a checkpoint
    # onto the training device made every resume on an H200 fail ("RNG state must be a
    # torch.ByteTensor", 2026-12-04); weights and optimizer state reach the device by load_state_dict
    train.run(dict(BASE, model_args={"depth": 2, "width": 32, "dropout": 0.3}), 0, tmp_path / "r", ctx, META,
              stop_after_epoch=1)
    ck = driver.load_checkpoint(tmp_path / "r" / "ckpt.pt")
    states = [ck["rng"]["torch"], ck["rng"]["data"], *ck["rng"].get("cuda", [])]
    assert all(t.device.type == "cpu" and t.dtype == torch.uint8 for t in states)
    assert all(t.device.type == "cpu" for t in ck["model"].values())


def test_checkpoint_of_another_recipe_is_not_resumed(tmp_path, ctx):
    train.run(BASE, 0, tmp_path / "r", ctx, META, stop_after_epoch=1)
    with pytest.raises(RuntimeError, match="another recipe"):
        train.run(BASE, 0, tmp_path / "r", ctx, {"config_hash": "other"})


def test_checkpoint_loads_with_weights_only(tmp_path, ctx):
    train.run(BASE, 0, tmp_path / "r", ctx, META, stop_after_epoch=1)
    ck = torch.load(tmp_path / "r" / "ckpt.pt", weights_only=True)
    assert ck["epoch"] == 1 and "model" in ck and "rng" in ck


def test_diverging_run_is_recorded_with_its_step(tmp_path, ctx):
    s = train.run(dict(BASE, lr=1e4, lr_schedule="constant"), 0, tmp_path / "d", ctx, META)
    assert s["outcome"] == "diverged" and isinstance(s["diverged_at"], int) and s["diverged_at"] < 20
    assert io.read_json(tmp_path / "d" / "summary.json")["outcome"] == "diverged"


def test_timeout_is_an_outcome(tmp_path, ctx):
    s = train.run(dict(BASE, max_seconds=1e-9), 0, tmp_path / "t", ctx, META)
    assert s["outcome"] == "timeout" and s["metrics"]["epochs_done"] == 1


def test_finished_run_is_not_rerun_and_summary_has_provenance(tmp_path, ctx):
    s = train.run(dict(BASE, epochs=1), 0, tmp_path / "f", ctx, META)
    assert train.run(dict(BASE, epochs=1), 0, tmp_path / "f", ctx, META) == s
    for key in ("commit", "dirty", "versions", "device", "cpu"):
        assert key in s["provenance"]
    assert s["dataset_sha256"] and s["images_per_s"] > 0 and s["config_hash"] == "test"
    assert 0 <= s["metrics"]["test_acc_at_best_val"] <= 1


def test_seeds_differ_and_repeat(tmp_path, ctx):
    r = dict(BASE, epochs=1)
    a, b, c = (train.learned(train.run(r, s, tmp_path / d, ctx, META)["metrics"]) for s, d in ((0, "a"), (0, "b"), (1, "c")))
    assert a == b and a != c


def test_a_deadline_stops_at_an_epoch_boundary_and_the_run_resumes(tmp_path, ctx):
    import time
    recipe = dict(BASE, epochs=3)
    full = train.run(recipe, 1, tmp_path / "full", ctx, META)
    cut = train.run(recipe, 1, tmp_path / "cut", {**ctx, "deadline": time.time()}, META)
    assert cut == {"outcome": "stopped", "epoch": 1} and (tmp_path / "cut" / "ckpt.pt").exists()
    resumed = train.run(recipe, 1, tmp_path / "cut", ctx, META)
    assert train.learned(resumed["metrics"]) == train.learned(full["metrics"])


def test_test_subset_is_strided_over_a_class_sorted_set():
    from trickbench.train import test_subset
    labels = torch.arange(10).repeat_interleave(1000)   # 10,000 images sorted by class, as ImageFolder
    keep = test_subset(10_000, 2000)
    assert len(keep) == 2000 and len(set(keep.tolist())) == 2000
    assert torch.bincount(labels[keep], minlength=10).tolist() == [200] * 10
    assert test_subset(10_000, None) == slice(None) and test_subset(100, 500) == slice(None)


def test_progress_line_per_epoch_with_the_run_and_job_eta(tmp_path):
    row = {"epoch": 2, "train_loss": 0.51234, "val_acc": 0.9, "test_acc": 0.88, "wall_s": 120.0, "lr_now": 0.05}
    line = train.progress_line(tmp_path / "runs" / "nf_large" / "abc123" / "seed1", row, 5,
                               {"job": {"runs": 3, "index": 2}}, images=45_000, clock="12:00:00")
    # 60 s/epoch: 3 epochs left of this run (3 min), one more run of 5 epochs (5 min)
    assert line == ("12:00:00 nf_large/seed1 run 2/3 epoch 2/5: train_loss 0.5123 val_acc 0.9000 test_acc 0.8800 "
                    "lr 0.05 · 60 s/epoch, 750 img/s · ETA run 3 min, job ≈ 8 min")
    short = train.progress_line(tmp_path / "r" / "h" / "seed0", dict(row, wall_s=0.5), 5, {}, clock="")
    assert "0.25 s/epoch" in short   # a sub-second epoch is not "0 s"


def test_the_classify_task_declares_exactly_the_metrics_a_run_writes(tmp_path, ctx):
    from trickbench.tasks import TASKS
    from trickbench.tricks import base, pruning
    PRUNE_METRICS = pruning.metric_names()
    SNAPSHOT_METRICS = [f"ensemble_test_acc_last{m}" for m in range(1, 11)]
    # tricks registered outside the package (the tests' example) declare theirs too
    foreign = {m for cls in base.classes() if not cls.__module__.startswith("trickbench.") for m in cls.metrics}
    recipe = dict(BASE, val_fraction=0.2, stochastic_depth=None)
    written = set(train.run(recipe, 0, tmp_path / "r", ctx, META)["metrics"])
    declared = TASKS.get("classify").metrics
    tricks = {"test_acc_early_stop", "early_stop_epoch", "early_stop_gain", "early_stop_regret",
              "test_acc_gl", "gl_stop_epoch", "gl_gain",
              "ensemble_test_acc", "ensemble_gain", "grad_norm_max", "clipped_share", *PRUNE_METRICS, *SNAPSHOT_METRICS}
    # every run writes weight_sparsity (a trick with always = True: the baseline's too)
    assert written <= declared and declared - written == {"branch_share", "compute_share"} | tricks | foreign   # with their tricks only
    with_both = dict(recipe, early_stopping={"patience": 1, "gl_alpha": 5}, snapshots={"count": 1}, prune={"finetune_epochs": 0, "iterative": {"schedule": [0.5, 0.8, 0.9, 0.95]}},
                     log_grad_norm=True, clip_grad_norm=1.0)
    unwritten = declared - set(train.run(with_both, 0, tmp_path / "e", ctx, META)["metrics"])
    assert unwritten == {"branch_share", "compute_share", *SNAPSHOT_METRICS[1:]} | foreign    # one snapshot: only ensemble_test_acc_last1


def test_final_train_accuracy_is_measured_in_eval_mode(tmp_path, ctx):
    # heavy dropout lowers the running train-mode accuracy; the eval-mode one sees the whole net
    recipe = dict(BASE, model_args={"depth": 1, "width": 128, "dropout": 0.6}, optimizer="adam", lr=3e-3,
                  lr_schedule="constant", augment="none", epochs=5)
    m = train.run(recipe, 0, tmp_path / "r", ctx, META)["metrics"]
    last = io.read_jsonl(tmp_path / "r" / "metrics.jsonl")[-1]
    assert 0 <= m["final_train_acc"] <= 1 and m["final_train_loss_eval"] > 0
    assert m["final_train_acc"] > last["train_acc"]   # dropout off at evaluation
    assert m["generalization_gap"] == pytest.approx(m["final_train_acc"] - m["final_test_acc"])


def test_input_dropout_drops_pixels_in_training_only():
    import torch
    from trickbench.models import MODELS
    torch.manual_seed(0)
    net = MODELS.build("mlp", (1, 8, 8), 10, depth=1, width=16, input_dropout=0.5)
    drop = net.net[1]
    assert isinstance(drop, torch.nn.Dropout) and drop.p == 0.5   # right after Flatten, before the first Linear
    x = torch.ones(4, 1, 8, 8)
    net.train()
    seen = drop(x.flatten(1))
    assert set(seen.unique().tolist()) == {0.0, 2.0}              # dropped, or kept and divided by 1 - p
    net.eval()
    assert torch.equal(drop(x.flatten(1)), x.flatten(1))          # the whole input at test time


def test_label_smoothing_changes_the_training_loss_only(tmp_path, ctx):
    recipe = dict(BASE, model_args={"depth": 1, "width": 128}, optimizer="adam", lr=3e-3, lr_schedule="constant",
                  augment="none", epochs=8)
    # eps = 0.2, 10 classes: the smoothed target (0.82 on the label, 0.02 elsewhere) has entropy
    # -(0.82 ln 0.82 + 9 * 0.02 ln 0.02) = 0.8669, the floor of the smoothed training loss
    floor = -(0.82 * math.log(0.82) + 9 * 0.02 * math.log(0.02))
    plain = train.run(recipe, 0, tmp_path / "a", ctx, META)["metrics"]
    smooth_dir = tmp_path / "b"
    smooth = train.run(dict(recipe, label_smoothing=0.2), 0, smooth_dir, ctx, META)["metrics"]
    assert plain["final_train_loss"] < floor <= smooth["final_train_loss"] + 1e-6
    # evaluation is plain cross-entropy: a well-trained smoothed net scores below the floor there
    assert io.read_jsonl(smooth_dir / "metrics.jsonl")[-1]["test_loss"] < floor


def test_a_progress_bar_only_on_a_terminal(monkeypatch):
    from tqdm import tqdm
    monkeypatch.setattr(train.sys.stderr, "isatty", lambda: False)
    assert train._steps(3, "epoch 1/1") == range(3)
    monkeypatch.setattr(train.sys.stderr, "isatty", lambda: True)
    bar = train._steps(3, "epoch 1/1")
    assert isinstance(bar, tqdm) and list(bar) == [0, 1, 2]


def test_a_full_disk_during_a_checkpoint_write_loses_nothing_and_names_the_file(tmp_path, ctx, monkeypatch):
    import errno
    import os
    full = train.run(BASE, 1, tmp_path / "full", ctx, META)
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync_until_the_disk_fills(fd):
        calls["n"] += 1
        if calls["n"] > 3:   # metrics.jsonl + ckpt.pt of epoch 1, metrics.jsonl of epoch 2, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync_until_the_disk_fills)
    run = tmp_path / "r"
    with pytest.raises(OSError, match=f"could not write {run / 'ckpt.pt'}: No space left on device"):
        train.run(BASE, 1, run, ctx, META)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not list(run.glob(".*.tmp"))   # no half-written file left behind
    resumed = train.run(BASE, 1, run, ctx, META)   # from the epoch-1 checkpoint (kept as ckpt.prev.pt)
    assert train.learned(resumed["metrics"]) == train.learned(full["metrics"])


def test_a_kill_during_a_checkpoint_write_resumes_from_the_one_before(tmp_path, ctx):
    full = train.run(BASE, 2, tmp_path / "full", ctx, META)
    run = tmp_path / "r"
    train.run(BASE, 2, run, ctx, META, stop_after_epoch=2)
    # kill -9 between "ckpt.pt -> ckpt.prev.pt" and the rename of the new file: what is left is the
    # epoch-1 checkpoint and a half-written temporary file (atomic writes never leave a torn ckpt.pt)
    (run / "ckpt.pt").rename(run / ".ckpt.pt.abc123.tmp")
    (run / ".ckpt.pt.abc123.tmp").write_bytes((run / ".ckpt.pt.abc123.tmp").read_bytes()[:500])
    resumed = train.run(BASE, 2, run, ctx, META)
    assert train.learned(resumed["metrics"]) == train.learned(full["metrics"])


def test_mlp_activation_is_a_model_argument_and_a_typo_is_named():
    from trickbench.models import MODELS
    net = MODELS.build("mlp", (1, 8, 8), 10, depth=2, width=8, activation="sigmoid", batchnorm=True)
    kinds = [type(m).__name__ for m in net.net]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "Sigmoid", "Linear", "BatchNorm1d", "Sigmoid", "Linear"]
    with pytest.raises(ValueError, match="activation 'tanhh' is not one of relu, sigmoid"):
        MODELS.build("mlp", (1, 8, 8), 10, activation="tanhh")


def test_gradient_norms_are_measured_before_clipping_and_clipping_changes_nothing_else(tmp_path, ctx):
    """log_grad_norm records the norm clipping sees: with a threshold above every norm the run is
    the unclipped run exactly (clipped_share 0); with one below the median, more than half the
    steps are rescaled and training differs."""
    recipe = dict(BASE, augment="none", epochs=2, log_grad_norm=True)
    free = train.run(recipe, 0, tmp_path / "free", ctx, META)
    hist = io.read_jsonl(tmp_path / "free" / "metrics.jsonl")
    assert free["metrics"]["grad_norm_max"] == max(h["grad_norm_max"] for h in hist) > hist[0]["grad_norm_median"] > 0
    assert "clipped_share" not in free["metrics"]
    high = train.run(dict(recipe, clip_grad_norm=1e6), 0, tmp_path / "high", ctx, META)
    assert high["metrics"]["clipped_share"] == 0.0
    assert high["metrics"]["final_train_loss"] == free["metrics"]["final_train_loss"]
    low_clip = 0.5 * min(h["grad_norm_median"] for h in hist)
    low = train.run(dict(recipe, clip_grad_norm=low_clip), 0, tmp_path / "low", ctx, META)
    assert low["metrics"]["clipped_share"] > 0.5
    assert low["metrics"]["final_train_loss"] != free["metrics"]["final_train_loss"]


def test_evaluation_time_is_recorded_apart_from_training_and_survives_a_resume(tmp_path, ctx, monkeypatch):
    """eval_s holds the test/validation passes and the final metrics; wall_s keeps training only."""
    import time
    plain = train.run(BASE, 0, tmp_path / "plain", ctx, META)
    real = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda *a, **k: (time.sleep(0.25), real(*a, **k))[1])
    train.run(BASE, 0, tmp_path / "slow", ctx, META, stop_after_epoch=2)
    ck = torch.load(tmp_path / "slow" / "ckpt.pt", weights_only=True)
    assert ck["eval_s"] >= 2 * 2 * 0.25                      # two epochs of test + validation passes
    slow = train.run(BASE, 0, tmp_path / "slow", ctx, META)
    calls = 4 * 2 + 1                                        # 4 epochs x (test, validation), final train accuracy
    assert slow["eval_s"] >= calls * 0.25 > plain["eval_s"]
    assert slow["wall_s"] < plain["wall_s"] + 1.0           # the 2.25 s of slower evaluation are not training


def test_testing_every_kth_epoch_keeps_training_and_the_best_validation_test_exact(tmp_path, ctx):
    """test_every 3 over 4 epochs: the test set after epochs 3 and 4 only; training, validation and
    test_acc_at_best_val equal those of the run tested every epoch (its best epoch's test is
    recomputed from the kept best-validation model, at the end)."""
    recipe = dict(BASE, epochs=4, lr=0.2)
    every = train.run(recipe, 1, tmp_path / "every", ctx, META)
    sparse = train.run(dict(recipe, test_every=3), 1, tmp_path / "sparse", ctx, META)
    rows_e, rows_s = (io.read_jsonl(tmp_path / d / "metrics.jsonl") for d in ("every", "sparse"))
    assert [r["epoch"] for r in rows_s if "test_acc" in r] == [3, 4]
    for a, b in zip(rows_e, rows_s):
        assert (a["train_loss"], a["val_acc"]) == (b["train_loss"], b["val_acc"])
    m_e, m_s = every["metrics"], sparse["metrics"]
    assert m_s["best_val_epoch"] == m_e["best_val_epoch"]
    assert m_s["test_acc_at_best_val"] == m_e["test_acc_at_best_val"]
    assert m_s["final_test_acc"] == m_e["final_test_acc"] and "first_epoch_test_acc" not in m_s
    with pytest.raises(ValueError, match="test_every"):
        TASKS.get("classify").check(dict(recipe, test_every=0), "here")


def test_the_memory_layout_is_recorded_and_a_run_never_resumes_in_another(tmp_path, ctx):
    recipe = dict(BASE, model="resnet_cifar", model_args={"depth": 8}, epochs=2, train_subset=256)
    cl = dict(ctx, precision="bf16", channels_last=True)
    assert train.run(recipe, 0, tmp_path / "auto", dict(ctx, precision="bf16"), META)["layout"] == "channels_last"
    assert train.run(recipe, 0, tmp_path / "fp32", dict(ctx, precision="fp32"), META)["layout"] == "contiguous"
    train.run(recipe, 0, tmp_path / "r", cl, META, stop_after_epoch=1)
    with pytest.raises(RuntimeError, match="layout channels_last.*--channels-last true"):
        train.run(recipe, 0, tmp_path / "r", dict(cl, channels_last=False), META)
    assert train.run(recipe, 0, tmp_path / "r", cl, META)["layout"] == "channels_last"


def test_nf_runs_log_how_far_each_stage_has_opened_its_residual_branches(tmp_path, ctx):
    from trickbench.models import MODELS
    model = MODELS.build("nf_resnet", (1, 8, 8), 10, depth=8, widths=[4, 8, 8])
    assert model.skip_gains() == {"skip_gain_stage1": 0.0, "skip_gain_stage2": 0.0, "skip_gain_stage3": 0.0}
    model.blocks[0].skip_gain.data.fill_(-0.5)   # the mean of |gain| over the stage's blocks
    assert model.skip_gains()["skip_gain_stage1"] == 0.5
    assert MODELS.build("preact_resnet", (1, 8, 8), 10, depth=8).skip_gains() == {}
    recipe = dict(BASE, model="nf_resnet", model_args={"depth": 8, "widths": [4, 8, 8]}, epochs=2)
    train.run(recipe, 0, tmp_path / "r", ctx, META)
    rows = io.read_jsonl(tmp_path / "r" / "metrics.jsonl")
    assert all(r["skip_gain_stage3"] > 0 for r in rows)   # SGD moves the zero-initialised gains


def test_a_run_names_every_machine_it_trained_on(tmp_path, ctx):
    """A long run resumed in a later session may land on another CPU: its summary says from which
    epoch each machine trained it."""
    recipe = dict(BASE, epochs=3)
    one = train.run(recipe, 0, tmp_path / "one", ctx, META)
    assert [m["from_epoch"] for m in one["machines"]] == [1] and one["machines"][0]["cpu"] == one["provenance"]["cpu"]
    train.run(recipe, 0, tmp_path / "r", ctx, META, stop_after_epoch=2)
    ck = torch.load(tmp_path / "r" / "ckpt.pt", weights_only=True)
    ck["machines"] = [{"cpu": "Another CPU", "cpu_bf16": None, "from_epoch": 1}]
    torch.save(ck, tmp_path / "r" / "ckpt.pt")
    two = train.run(recipe, 0, tmp_path / "r", ctx, META)
    assert [(m["cpu"], m["from_epoch"]) for m in two["machines"]] == [("Another CPU", 1), (one["provenance"]["cpu"], 3)]


def test_a_batch_in_chunks_trains_as_the_whole_batch_where_the_gradient_is_the_same(tmp_path, ctx):
    """micro_batch: an NF network (no BatchNorm) trained on batches of 64 in chunks of 16 ends
    where the unchunked run ends, to float tolerance; a BN network is never chunked (its batch
    statistics would change), so it is bit-identical; evaluation in chunks gives the same metrics."""
    nf = dict(BASE, model="nf_resnet", model_args={"depth": 8, "widths": [4, 8, 8]}, epochs=2, batch_size=64)
    fp32 = dict(ctx, precision="fp32")
    whole = train.run(nf, 0, tmp_path / "whole", dict(fp32, micro_batch=None), META)
    parts = train.run(nf, 0, tmp_path / "parts", dict(fp32, micro_batch=16), META)
    assert (whole["train_chunk"], parts["train_chunk"], parts["micro_batch"]) == (None, 16, 16)
    for k in ("final_train_loss", "final_val_acc", "final_test_acc"):
        assert parts["metrics"][k] == pytest.approx(whole["metrics"][k], rel=1e-4, abs=1e-4)
    bn = dict(nf, model="preact_resnet", model_args={"depth": 8})
    a = train.run(bn, 0, tmp_path / "bn_whole", dict(fp32, micro_batch=None), META)
    b = train.run(bn, 0, tmp_path / "bn_parts", dict(fp32, micro_batch=16), META)
    assert b["train_chunk"] is None and b["metrics"]["final_train_loss"] == a["metrics"]["final_train_loss"]
    assert b["metrics"]["final_test_acc"] == a["metrics"]["final_test_acc"]   # evaluated in chunks of 16
    # a run resumes with the chunking it started with, whatever this process is told
    train.run(nf, 0, tmp_path / "r", dict(fp32, micro_batch=None), META, stop_after_epoch=1)
    assert train.run(nf, 0, tmp_path / "r", dict(fp32, micro_batch=16), META)["train_chunk"] is None


def test_a_second_process_on_a_run_in_training_stops_naming_the_first(tmp_path, ctx):
    # two long-run lanes given overlapping lines would write one checkpoint from two processes
    import subprocess
    import sys
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from trickbench import io\n"
                               f"with io.run_lock({str(tmp_path / 'r')!r}):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(io.RunBusy, match=rf"is being trained by pid {holder.pid} on "):
            train.run(dict(BASE, epochs=1), 0, tmp_path / "r", ctx, META)
        assert not (tmp_path / "r" / "ckpt.pt").exists() and not (tmp_path / "r" / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder died without unlocking (a kill): the lock went with it, and the run trains
    assert train.run(dict(BASE, epochs=1), 0, tmp_path / "r", ctx, META)["outcome"] == "ok"
