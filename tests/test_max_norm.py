"""The dropout paper's recipe pieces: the max-norm constraint and the momentum ramp."""
import pytest
import torch

from trickbench import train
from trickbench.optim import build_optimizer, build_schedule
from trickbench.tasks import TASKS
from trickbench.tricks import max_norm

BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 2, "width": 32},
            optimizer="sgd", momentum=0.5, lr=0.5, epochs=3, batch_size=64, val_fraction=0.2)


def test_constrain_scales_long_rows_onto_the_ball_and_leaves_short_ones():
    w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])            # norms 5 and 0.5
    max_norm.constrain([w], 2.0)
    assert torch.allclose(w, torch.tensor([[1.2, 1.6], [0.3, 0.4]]))
    stacked = torch.randn(3, 5, 7) * 10                  # [seeds, out, in]: each row of each seed
    max_norm.constrain([stacked], 1.5)
    assert torch.allclose(stacked.norm(dim=-1), torch.full((3, 5), 1.5), atol=1e-5)


def test_a_run_keeps_every_hidden_unit_within_c_and_the_output_layer_free(tmp_path, ctx):
    recipe = dict(BASE, max_norm={"c": 0.5})
    run = tmp_path / "r"
    train.run(recipe, 0, run, ctx, {}, stop_after_epoch=2)
    ck = torch.load(run / "ckpt.pt", weights_only=True)
    mats = [v for k, v in ck["model"].items() if k.endswith("weight")]
    assert all(m.norm(dim=1).max() <= 0.5 + 1e-5 for m in mats[:-1])
    assert mats[-1].norm(dim=1).max() > 0.5                  # the output layer is not constrained
    free = train.run(BASE, 0, tmp_path / "free", ctx, {})["metrics"]
    assert train.run(recipe, 0, run, ctx, {})["metrics"]["final_test_acc"] != free["final_test_acc"]
    with pytest.raises(ValueError, match="max_norm must be"):
        TASKS.get("classify").check(dict(BASE, max_norm={"c": -1}), "here")
    with pytest.raises(ValueError, match="plain MLP"):
        TASKS.get("classify").check(dict(BASE, model="resmlp", max_norm={"c": 3}), "here")


def test_momentum_rises_linearly_then_holds_and_a_resumed_schedule_continues():
    recipe = dict(BASE, momentum_ramp={"start": 0.5, "end": 0.99, "epochs": 2}, lr_schedule="constant")
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = build_optimizer(p, recipe)
    sched = build_schedule(opt, recipe, total_steps=30)   # 10 steps an epoch: the ramp is 20 steps
    seen = []
    for _ in range(25):
        seen.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert seen[0] == 0.5 and seen[10] == pytest.approx(0.745) and seen[20:] == [pytest.approx(0.99)] * 5
    opt2 = build_optimizer(p, recipe)
    again = build_schedule(opt2, recipe, total_steps=30)
    again.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["momentum"] == pytest.approx(0.99)
    longer = dict(recipe, momentum_ramp={"start": 0.5, "end": 0.99, "epochs": 5})   # longer than the 3-epoch run
    TASKS.get("classify").check(longer, "here")
    opt3 = build_optimizer(p, longer)
    part = build_schedule(opt3, longer, total_steps=30)   # 50 steps to the top: stops half way up
    for _ in range(25):
        opt3.step()
        part.step()
    assert opt3.param_groups[0]["momentum"] == pytest.approx(0.745)
    with pytest.raises(ValueError, match="momentum optimizer"):
        TASKS.get("classify").check(dict(recipe, optimizer="adam"), "here")
