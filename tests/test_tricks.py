"""Annealed gradient noise against its formula and a seeded reference."""
import math

import pytest
import torch

from trickbench import train
from trickbench.tricks import noise as tricks   # the gradient-noise module
from trickbench.tasks import TASKS


def test_noise_std_formula():
    assert tricks.noise_std(0, 0.01) == pytest.approx(0.1)                         # sigma_0^2 = eta
    assert tricks.noise_std(99, 0.3, 0.55) == pytest.approx(math.sqrt(0.3 / 100 ** 0.55))
    assert tricks.noise_std(10, 1.0, 0.0) == pytest.approx(1.0)                    # gamma 0: fixed noise


def test_noise_is_added_after_whatever_is_in_grad_with_the_right_scale_and_stream():
    p = torch.nn.Parameter(torch.zeros(200_000))
    p.grad = torch.full_like(p, 2.0)
    tricks.add_grad_noise([p], 0, {"eta": 0.04}, tricks.noise_generator(3))
    noise = p.grad - 2.0
    assert noise.mean().abs() < 0.002 and noise.std().item() == pytest.approx(0.2, rel=0.01)
    # a seeded reference: the same generator gives the same draws
    ref = torch.randn(200_000, generator=tricks.noise_generator(3)) * 0.2
    assert torch.allclose(noise, ref, atol=1e-6)


def test_noise_rescues_zero_init_where_plain_sgd_cannot_move():
    """Zero init: every hidden unit is identical and ReLU(0) = 0, so SGD never moves the hidden
    layers and the net stays at chance; noise breaks the symmetry (the paper's Exp. 6)."""
    base = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp",
                model_args={"depth": 4, "width": 32, "init": "zero"}, optimizer="sgd", lr=0.1, epochs=8,
                batch_size=32, clip_grad_norm=10.0)
    ctx = {"data_root": "/tmp/tb-tricks-data", "cache_dir": "/tmp/tb-tricks-data/cache", "device": "cpu"}
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        plain = train.run(base, 0, f"{d}/plain", ctx, {"config_hash": "x"})
        noisy = train.run(dict(base, grad_noise={"eta": 0.3}), 0, f"{d}/noisy", ctx, {"config_hash": "x"})
        resumed_dir = f"{d}/resumed"
        train.run(dict(base, grad_noise={"eta": 0.3}), 0, resumed_dir, ctx, {"config_hash": "x"}, stop_after_epoch=3)
        resumed = train.run(dict(base, grad_noise={"eta": 0.3}), 0, resumed_dir, ctx, {"config_hash": "x"})
    assert plain["metrics"]["final_test_acc"] < 0.25
    assert noisy["metrics"]["final_test_acc"] > plain["metrics"]["final_test_acc"] + 0.2
    assert train.learned(resumed["metrics"]) == train.learned(noisy["metrics"])  # the noise stream is checkpointed too


def test_every_trick_module_on_disk_is_loaded_with_no_list_to_extend():
    """Issue 46: a new trick module missing from tricks/base.py's MODULES was never imported
    ('unknown key'). The modules are found on disk now."""
    from pathlib import Path

    from trickbench.tricks import base
    on_disk = sorted(p.stem for p in Path(base.__file__).parent.glob("*.py") if p.stem not in ("base", "__init__"))
    assert base.modules() == on_disk and len(on_disk) >= 10
    base.load_all()
    # every module on disk registered its trick (a test may have registered one of its own too)
    assert {f"trickbench.tricks.{m}" for m in on_disk} <= {c.__module__ for c in base.classes()}
