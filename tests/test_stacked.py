"""A run trained inside a stack of seeds gives the same metrics as the same run alone."""
import re

import pytest

from trickbench import io, stacked, train
from trickbench.tasks import TASKS

BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 4, "width": 32},
            optimizer="adam", lr=3e-3, epochs=3, batch_size=64, val_fraction=0.2, lr_schedule="inv_sqrt")
META = {"config_hash": "stack-test"}


def _curves(d):
    return [{k: v for k, v in r.items() if k not in ("wall_s", "cpu_s")} for r in io.read_jsonl(d / "metrics.jsonl")]


@pytest.mark.parametrize("recipe", [
    BASE,
    dict(BASE, optimizer="sgd", lr=0.1, lr_schedule="constant", clip_grad_norm=0.5,
         model_args={"depth": 3, "width": 16, "init": "normal", "init_std": 0.3}),
    dict(BASE, optimizer="sgd", lr=0.1, lr_schedule="constant", clip_grad_norm=10.0,
         grad_noise={"eta": 0.3, "gamma": 0.55}, model_args={"depth": 5, "width": 16, "init": "zero"}),
    dict(BASE, optimizer="sgd", lr=0.05, lr_schedule="constant", model_args={"depth": 3, "width": 24, "dropout": 0.3}),
    dict(BASE, optimizer="sgd", lr=0.05, lr_schedule="constant",
         model_args={"depth": 2, "width": 24, "dropout": 0.5, "input_dropout": 0.2}),
    dict(BASE, label_smoothing=0.1, early_stopping={"patience": 1}),
    # the test set every 2nd epoch and the last (a stack refused test_every before the one loop):
    # an untested best-validation epoch is tested once at the end from its kept weights
    dict(BASE, test_every=2, lr=0.01),
    # the dropout paper's recipe: max-norm on hidden units, momentum ramped 0.5 -> 0.99, high LR
    dict(BASE, optimizer="sgd", lr=0.3, lr_schedule="cosine", momentum=0.5, max_norm={"c": 1.0},
         momentum_ramp={"start": 0.5, "end": 0.99, "epochs": 2},
         model_args={"depth": 2, "width": 24, "dropout": 0.5, "input_dropout": 0.2}),
])
def test_stacked_equals_alone(tmp_path, ctx, recipe):
    seeds = [0, 3, 5]
    stacked.run_stacked(recipe, seeds, [tmp_path / f"stack{s}" for s in seeds], ctx, META)
    for s in seeds:
        alone = train.run(recipe, s, tmp_path / f"alone{s}", ctx, META)
        together = io.read_json(tmp_path / f"stack{s}" / "summary.json")
        assert together["stacked_runs"] == 3 and together["outcome"] == alone["outcome"] == "ok"
        for k, v in train.learned(alone["metrics"]).items():
            assert together["metrics"][k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
        for a, b in zip(_curves(tmp_path / f"alone{s}"), _curves(tmp_path / f"stack{s}")):
            assert a == pytest.approx(b, rel=1e-4, abs=1e-6)
    assert not list(tmp_path.glob("*.pt"))  # the stack's checkpoint is gone once it finished


def test_one_seed_diverging_leaves_the_others_alone(tmp_path, ctx):
    recipe = dict(BASE, optimizer="sgd", lr=2.0, lr_schedule="constant", diverge_factor=3.0,
                  model_args={"depth": 6, "width": 32, "init": "normal", "init_std": 0.5})
    seeds = [0, 1, 2, 3]
    stacked.run_stacked(recipe, seeds, [tmp_path / f"s{s}" for s in seeds], ctx, META)
    for s in seeds:
        alone = train.run(recipe, s, tmp_path / f"a{s}", ctx, META)
        together = io.read_json(tmp_path / f"s{s}" / "summary.json")
        assert (together["outcome"], together["diverged_at"]) == (alone["outcome"], alone["diverged_at"])


def test_killed_stack_resumes_to_the_same_metrics(tmp_path, ctx, monkeypatch):
    seeds = [1, 2]
    recipe = dict(BASE, model_args={"depth": 4, "width": 32, "dropout": 0.2})  # dropout's streams resume too
    full = stacked.run_stacked(recipe, seeds, [tmp_path / f"f{s}" for s in seeds], ctx, META)
    # kill after the first epoch: the checkpoint write is the last thing an epoch does
    calls = {"n": 0}
    real = io.atomic_write_bytes

    def dying(path, data):
        real(path, data)
        if str(path).endswith(".pt"):
            calls["n"] += 1
            if calls["n"] == 1:
                raise KeyboardInterrupt
    monkeypatch.setattr(io, "atomic_write_bytes", dying)
    dirs = [tmp_path / f"r{s}" for s in seeds]
    with pytest.raises(KeyboardInterrupt):
        stacked.run_stacked(recipe, seeds, dirs, ctx, META)
    assert list(tmp_path.glob("stack-1-2.pt"))
    monkeypatch.setattr(io, "atomic_write_bytes", real)
    resumed = stacked.run_stacked(recipe, seeds, dirs, ctx, META)
    assert [train.learned(r["metrics"]) for r in resumed] == [train.learned(r["metrics"]) for r in full]


def test_a_key_it_does_not_implement_is_never_trained_here_without_its_effect(tmp_path, ctx):
    """A new trick's key (or a value of a known key it does not implement) makes a recipe
    unstackable, and run_stacked refuses it by name, instead of training it without the trick."""
    new_trick = dict(BASE, my_new_trick={"strength": 0.5})
    assert stacked.unsupported(new_trick) == ["my_new_trick"] and not stacked.supports(new_trick)
    assert stacked.supports(dict(BASE, my_new_trick=None))           # absent is absent
    assert stacked.unsupported(dict(BASE, weight_decay_on="matrices")) == ["weight_decay_on='matrices'"]
    with pytest.raises(ValueError, match="does not implement my_new_trick"):
        stacked.run_stacked(new_trick, [0, 1], [tmp_path / "a", tmp_path / "b"], ctx, META)


def test_supports_only_what_it_implements():
    assert stacked.supports(BASE)
    assert not stacked.supports(dict(BASE, augment="crop"))
    assert stacked.supports(dict(BASE, model_args={"depth": 2, "dropout": 0.2}))
    assert not stacked.supports(dict(BASE, model="cifarnet"))


def test_sigmoid_mlps_train_one_at_a_time():
    assert not stacked.supports(dict(BASE, model_args={"depth": 2, "activation": "sigmoid"}))
    assert stacked.supports(dict(BASE, model_args={"depth": 2, "activation": "relu"}))


def test_a_stack_prints_one_progress_line_per_epoch(tmp_path, ctx, capsys):
    seeds = [0, 1]
    stacked.run_stacked(dict(BASE, epochs=2), seeds, [tmp_path / "arm" / "h" / f"seed{s}" for s in seeds], ctx, META)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "stacked" in ln]
    assert [ln.split(": ")[0][9:] for ln in lines] == ["arm/2 seeds stacked (2 live) epoch 1/2",
                                                        "arm/2 seeds stacked (2 live) epoch 2/2"]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d ", ln[:9]) for ln in lines)  # the time, UTC
    assert "mean test_acc" in lines[0] and "ETA stack 0 s" in lines[1]
    assert " 0 s/epoch" not in lines[0]  # a sub-second epoch shows as such (e.g. "0.31 s/epoch")


def test_a_stack_stopped_after_an_epoch_keeps_its_checkpoint_and_resumes_to_the_same_metrics(tmp_path, ctx):
    seeds = [0, 1]
    full = stacked.run_stacked(BASE, seeds, [tmp_path / f"f{s}" for s in seeds], ctx, META)
    dirs = [tmp_path / f"r{s}" for s in seeds]
    assert stacked.run_stacked(BASE, seeds, dirs, ctx, META, stop_after_epoch=1) == [{"outcome": "stopped", "epoch": 1}] * 2
    assert (tmp_path / "stack-0-1.pt").exists() and len(io.read_jsonl(dirs[0] / "metrics.jsonl")) == 1
    assert not (dirs[0] / "summary.json").exists()
    resumed = stacked.run_stacked(BASE, seeds, dirs, ctx, META)
    assert [train.learned(r["metrics"]) for r in resumed] == [train.learned(r["metrics"]) for r in full]


def test_a_stack_records_each_seed_its_share_of_the_evaluation_time(tmp_path, ctx, monkeypatch):
    import time
    real = stacked._evaluate
    monkeypatch.setattr(stacked, "_evaluate", lambda *a, **k: (time.sleep(0.2), real(*a, **k))[1])
    seeds = [0, 1]
    out = stacked.run_stacked(BASE, seeds, [tmp_path / f"s{s}" for s in seeds], ctx, META)
    calls = BASE["epochs"] * (2 if BASE.get("val_fraction") else 1) + 1   # per epoch, then final train accuracy
    assert all(r["eval_s"] >= calls * 0.2 / len(seeds) for r in out)


def test_a_stack_charges_each_seed_its_share_of_the_cpu_time_across_a_resume(tmp_path, ctx, monkeypatch):
    """Stacked runs recorded no cpu_s, so a tier's CPU-hours left them out. Each epoch's training
    CPU seconds (process time) are split over the seeds and carried in the checkpoint; here a fake
    clock gives 1 CPU second per epoch."""
    import itertools
    clock = itertools.count()
    monkeypatch.setattr(stacked.time, "process_time", lambda: float(next(clock)))
    seeds = [0, 1]
    dirs = [tmp_path / f"s{s}" for s in seeds]
    assert stacked.run_stacked(BASE, seeds, dirs, ctx, META, stop_after_epoch=1)[0]["outcome"] == "stopped"
    stacked.run_stacked(BASE, seeds, dirs, ctx, META)
    for d in dirs:
        assert [r["cpu_s"] for r in io.read_jsonl(d / "metrics.jsonl")] == [0.5, 1.0, 1.5]
        assert io.read_json(d / "summary.json")["metrics"]["train_s_per_epoch"] == 0.5


def test_stacked_seeds_hold_every_run_lock(tmp_path, ctx):
    from trickbench import io
    dirs = [tmp_path / f"s{s}" for s in (0, 1)]
    with io.run_lock(dirs[1]):   # another job holds the second run
        with pytest.raises(io.RunBusy, match="s1 is being trained by"):
            stacked.run_stacked(dict(BASE, epochs=1), [0, 1], dirs, ctx, META)
    assert not list(tmp_path.glob("s*/summary.json")) and not list(tmp_path.glob("s*/metrics.jsonl"))


@pytest.mark.parametrize("S,B,fan_in,fan_out", [(1, 64, 20, 50), (3, 128, 784, 1024), (5, 32, 64, 10)])
def test_stacked_linear_is_baddbmm_bit_for_bit(S, B, fan_in, fan_out):
    """The layer's own backward (weight gradient in the weight's layout) gives autograd's numbers: the
    forward is the same call, bit for bit; the gradients to float rounding. The weight gradient is
    another GEMM (bmm(g^T, x) in [S, out, in] against autograd's [S, in, out] copied into place), whose
    summation order depends on the CPU's kernels: bit for bit the same on an Intel Xeon with AMX,
    up to 2e-7 of the largest entry apart on AMD EPYC Zen 3 and Zen 4 (3.8e-6 absolute)."""
    import torch
    torch.manual_seed(S + B)
    w, b = torch.randn(S, fan_out, fan_in), torch.randn(S, fan_out)
    x, g = torch.randn(S, B, fan_in), torch.randn(S, B, fan_out)
    got = []
    for f in (lambda x, w, b: torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)), stacked.StackedLinear.apply):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
        out = f(xs, ws, bs)
        out.backward(g)
        got.append((out.detach(), xs.grad, ws.grad, bs.grad))
    assert torch.equal(got[0][0], got[1][0])
    for ref, new in zip(got[0][1:], got[1][1:]):   # fp32 eps is 1.2e-7: a few roundings, not another formula
        assert (ref - new).abs().max() <= 1e-6 * ref.abs().max()
    assert got[1][2].is_contiguous()
    x64, w64 = x[:, :4, :6].double().requires_grad_(), w[:, :3, :6].double().requires_grad_()
    b64 = b[:, :3].double().requires_grad_()
    assert torch.autograd.gradcheck(stacked.StackedLinear.apply, (x64, w64, b64))
