"""Curriculum learning (Bengio, Louradour, Collobert & Weston, ICML 2009): easy examples first.

How easy an image is, is a declared score (lower = easier):
  prototype  distance of the image to the mean image of its class: near the mean = easy (a score
             that needs no second model; Bengio et al. defined "easy" by their shapes' geometry)
  constant   every image equally easy: the control, which gives exactly the random order
Pacing ("baby steps"): epoch e (0-based) of E draws its batches from the easiest share
q_e = start + (1 - start) * e / (ramp * E) of the training set (ties at the cut all in), until
q reaches 1 after the first `ramp` of training; then from all of it, in random order. An epoch
has the same number of steps with or without a curriculum: the pool's random permutation is
repeated to fill it. `order: hard_first` ranks the other way round (the contrast).

recipe key: curriculum: {score: prototype, order: easy_first, start: 0.2, ramp: 0.5}   (absent: off)
"""
from __future__ import annotations

import math

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")
nn = lazy("torch.nn")
F = lazy("torch.nn.functional")

SCORES = ("prototype", "constant")
ORDERS = ("easy_first", "hard_first")


def scores(x: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """One score per training image (lower = easier)."""
    if kind == "constant":
        return torch.zeros(len(y))
    if kind != "prototype":
        raise ValueError(f"curriculum.score {kind!r} is not one of {', '.join(SCORES)}")
    flat = x.float().flatten(1).cpu()
    yc = y.cpu()
    means = torch.stack([flat[yc == c].mean(0) if (yc == c).any() else flat.mean(0)
                         for c in range(int(yc.max()) + 1)])
    return (flat - means[yc]).norm(dim=1)


def share(epoch: int, epochs: int, spec: dict) -> float:
    """q_e: the share of the training set epoch `epoch` draws from."""
    start, ramp = float(spec.get("start", 0.2)), float(spec.get("ramp", 0.5))
    span = ramp * epochs
    return 1.0 if span <= 0 else min(1.0, start + (1 - start) * epoch / span)


def pool(score: torch.Tensor, q: float, order: str = "easy_first") -> torch.Tensor:
    """Indices of the easiest (or hardest) share q of the images, every tie at the cut included."""
    if order not in ORDERS:
        raise ValueError(f"curriculum.order {order!r} is not one of {', '.join(ORDERS)}")
    s = score if order == "easy_first" else -score
    k = max(1, math.ceil(q * len(s)))
    cut = s.sort().values[k - 1]
    return torch.nonzero(s <= cut).flatten()


def epoch_order(score: torch.Tensor, epoch: int, epochs: int, spec: dict, generator: torch.Generator) -> torch.Tensor:
    """The epoch's order of training indices, len(score) of them: a random permutation of the
    whole set once the pool holds every image (the same draw as training without a curriculum)."""
    n = len(score)
    idx = pool(score, share(epoch, epochs, spec), spec.get("order", "easy_first"))
    if len(idx) >= n:
        return torch.randperm(n, generator=generator)
    reps = math.ceil(n / len(idx))
    return torch.cat([idx[torch.randperm(len(idx), generator=generator)] for _ in range(reps)])[:n]


@register("curriculum")
class Curriculum(Trick):
    """Each epoch's order from the easiest share of the training set (run.gen draws it)."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': 'Curriculum learning (trickbench.tricks.curriculum): each epoch draws its batches from the '
                            'easiest share of the training set, growing linearly from `start` to all of it over the '
                            'first `ramp` of training.',
             'additionalProperties': False,
             'properties': {'score': {'type': 'string',
                                      'enum': ['prototype', 'constant'],
                                      'default': 'prototype',
                                      'description': "prototype: distance to the class's mean image (near = easy); "
                                                     'constant: the control (the random order).'},
                            'order': {'type': 'string', 'enum': ['easy_first', 'hard_first'], 'default': 'easy_first'},
                            'start': {'type': 'number', 'exclusiveMinimum': 0, 'maximum': 1, 'default': 0.2},
                            'ramp': {'type': 'number', 'minimum': 0, 'maximum': 1, 'default': 0.5}}}
    order = 5

    def setup(self, run) -> None:
        self.score = scores(run.x_train, run.y_train, self.spec.get("score", "prototype"))

    def epoch_order(self, run, epoch: int):
        return epoch_order(self.score, epoch, self.recipe["epochs"], self.spec, run.gen)
