"""Optimizers and learning-rate schedules as tables over torch.optim (no torch import until built).

OPTIMIZERS: name -> (torch.optim class, fixed kwargs, how recipe keys map to its arguments).
SCHEDULES:  name -> multiplier of the base LR as a function of the step (0-based) and total steps;
            stepped once per optimizer step, so fractions of training mean the same at any epoch count.
"""
from __future__ import annotations

import math

from trickbench.registry import Registry

OPTIMIZERS = Registry("optimizer")
SCHEDULES = Registry("lr schedule")

_TABLE = {
    #  name        class      fixed kwargs            recipe keys -> argument
    "sgd":      ("SGD",     {},                     {"momentum": "momentum", "weight_decay": "weight_decay"}),
    "nesterov": ("SGD",     {"nesterov": True},     {"momentum": "momentum", "weight_decay": "weight_decay"}),
    "adagrad":  ("Adagrad", {},                     {"eps": "eps", "weight_decay": "weight_decay"}),
    "rmsprop":  ("RMSprop", {},                     {"beta2": "alpha", "eps": "eps", "momentum": "momentum",
                                                     "weight_decay": "weight_decay"}),
    "adam":     ("Adam",    {"amsgrad": False},     {"betas": "betas", "eps": "eps", "weight_decay": "weight_decay"}),
    "amsgrad":  ("Adam",    {"amsgrad": True},      {"betas": "betas", "eps": "eps", "weight_decay": "weight_decay"}),
    "nadam":    ("NAdam",   {},                     {"betas": "betas", "eps": "eps", "weight_decay": "weight_decay"}),
    "adamw":    ("AdamW",   {},                     {"betas": "betas", "eps": "eps", "weight_decay": "weight_decay"}),
}
for _name, _row in _TABLE.items():
    OPTIMIZERS.register(_name)(_row)


def build_optimizer(params, recipe: dict):
    import torch
    cls_name, fixed, keys = OPTIMIZERS.get(recipe["optimizer"])
    if recipe["optimizer"] == "nesterov" and not recipe.get("momentum"):
        raise ValueError("optimizer nesterov needs momentum > 0")
    values = {**recipe, "betas": (recipe["beta1"], recipe["beta2"])}
    kwargs = {arg: values[key] for key, arg in keys.items()}
    return getattr(torch.optim, cls_name)(params, lr=effective_lr(recipe), **fixed, **kwargs)


def param_groups(model, recipe: dict):
    """model.parameters(), or with `weight_decay_on: matrices` two groups: weight matrices and conv
    kernels with the recipe's weight decay, and every parameter that is a scalar or a vector once
    squeezed (gains, biases, SkipInit gains, BatchNorm scales/offsets) with none, the filter of
    DeepMind's NFNet code (experiment_nfnets.py: no decay on 'gain', 'bias', 'scale', 'offset')."""
    if recipe.get("weight_decay_on", "all") == "all":
        return model.parameters()
    params = list(model.parameters())
    return [{"params": [p for p in params if p.squeeze().ndim > 1]},
            {"params": [p for p in params if p.squeeze().ndim <= 1], "weight_decay": 0.0}]


def effective_lr(recipe: dict) -> float:
    """`lr`, or with `lr_ref_batch` set, lr * batch_size / lr_ref_batch (linear scaling, Goyal et al.
    2017; the NFNet paper's 0.1 * B / 256)."""
    ref = recipe.get("lr_ref_batch")
    return recipe["lr"] * recipe["batch_size"] / ref if ref else recipe["lr"]


@SCHEDULES.register("constant")
def constant(step, total):
    return 1.0


@SCHEDULES.register("inv_sqrt")
def inv_sqrt(step, total):
    """alpha_t = alpha / sqrt(t), t = step + 1 (the AMSGrad paper's logistic regression)."""
    return 1.0 / math.sqrt(step + 1)


@SCHEDULES.register("step")
def step_schedule(step, total, milestones=(0.5, 0.75), gamma=0.1, warmup=0.0):
    """Divide by 1/gamma at each milestone fraction (stochastic depth: /10 at 50% and 75%), after
    an optional linear warm-up over the first `warmup` fraction."""
    w = int(warmup * total)
    if step < w:
        return (step + 1) / w
    return gamma ** sum(step >= m * total for m in milestones)


@SCHEDULES.register("cosine")
def cosine(step, total, warmup=0.0):
    """Linear warm-up over the first `warmup` fraction, then cosine decay to 0."""
    w = int(warmup * total)
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


@SCHEDULES.register("cyclic_cosine")
def cyclic_cosine(step, total, cycles=5):
    """Snapshot Ensembles' schedule (Huang et al. 2017, Eq. 2): `cycles` cosine annealings from
    the base LR towards 0, restarting at the base LR: 0.5 * (cos(pi * (step mod c) / c) + 1),
    c = ceil(total / cycles)."""
    c = math.ceil(total / cycles)
    return 0.5 * (1 + math.cos(math.pi * (step % c) / c))


def build_schedule(optimizer, recipe: dict, total_steps: int):
    import functools
    import torch
    fn = functools.partial(SCHEDULES.get(recipe["lr_schedule"]), total=total_steps, **recipe.get("schedule_args", {}))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
    ramp = recipe.get("momentum_ramp")
    if ramp:
        steps = max(1, round(ramp["epochs"] * total_steps / recipe["epochs"]))
        return MomentumRamp(schedule, ramp["start"], ramp["end"], steps)
    return schedule


class MomentumRamp:
    """The LR schedule, and momentum rising linearly from `start` to `end` over the first `steps`
    optimizer steps, then held: the MNIST recipe of Hinton et al. 2012 (arXiv 1207.0580, App. A:
    0.5 to 0.99 over the first 500 epochs) that the dropout paper's momentum of 0.95-0.99 comes
    from. Set before each step; its position is the LR schedule's, so a resumed run continues the
    ramp where it stopped."""

    def __init__(self, schedule, start: float, end: float, steps: int):
        self.schedule, self.start, self.end, self.steps = schedule, start, end, steps
        self._set()

    def momentum(self) -> float:
        return self.start + (self.end - self.start) * min(1.0, self.schedule.last_epoch / self.steps)

    def _set(self) -> None:
        for g in self.schedule.optimizer.param_groups:
            g["momentum"] = self.momentum()

    def step(self) -> None:
        self.schedule.step()
        self._set()

    def get_last_lr(self):
        return self.schedule.get_last_lr()

    def state_dict(self) -> dict:
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.schedule.load_state_dict(state)
        self._set()
