"""Adaptive gradient clipping (Brock, De, Smith, Simonyan, ICML 2021, arXiv 2102.06171, §4).

Unit-wise: for each output unit i of a layer (a row of a linear weight, the fan-in of one output
channel of a convolution; the whole tensor for scalars and vectors such as gains and biases)

    if ||G_i|| / max(||W_i||, eps) > lambda:   G_i <- lambda * max(||W_i||, eps) * G_i / ||G_i||

with eps = 1e-3. The final classifier is not clipped ("it is always better to not clip the final
linear layer"): it is excluded by parameter *name* (`exclude` prefixes, default ["head"]), never
by position. The clipping itself is timm's `adaptive_clip_grad` (timm.utils.agc), whose unit-wise
norm (over every dim but the first) is the DeepMind code's for PyTorch layouts; the test checks it
against the formula above on a hand-made tensor.
"""
from __future__ import annotations

from torch import nn


def clipped_parameters(model: nn.Module, exclude=("head",)) -> list:
    """Parameters AGC acts on: all but those whose name starts with one of `exclude`."""
    exclude = tuple(f"{e}." if not e.endswith(".") else e for e in exclude)
    params = [p for name, p in model.named_parameters() if not (name + ".").startswith(exclude)]
    if exclude and len(params) == len(list(model.parameters())):
        raise ValueError(f"agc.exclude {list(exclude)} matches no parameter of {type(model).__name__}; "
                         f"names are e.g. {[n for n, _ in model.named_parameters()][-2:]}")
    return params


def clip_(params, clipping: float, eps: float = 1e-3) -> None:
    from timm.utils.agc import adaptive_clip_grad
    adaptive_clip_grad(params, clip_factor=clipping, eps=eps)
