"""Adaptive gradient clipping (Brock, De, Smith, Simonyan, ICML 2021, arXiv 2102.06171, §4).

Unit-wise: for each unit i of a parameter

    if ||G_i|| / max(||W_i||, eps) > lambda:   G_i <- lambda * max(||W_i||, eps) * G_i / ||G_i||

with eps = 1e-3. What a unit is follows DeepMind's own code (nfnets/optim.py `unitwise_norm`):
a parameter that is a scalar or a vector once squeezed (gains, biases, SkipInit gains; a conv
gain of shape (C, 1, 1, 1) too) is ONE unit, its whole norm; a weight matrix or conv kernel has
one unit per output (PyTorch layouts: a row of a linear weight, an output channel's fan-in of a
convolution). timm's `adaptive_clip_grad` differs on the (C, 1, 1, 1) gains of its
ScaledStdConv2d (it clips each gain on its own), so the clipping is written here.

The final classifier's *weight* is not clipped ("it is always better to not clip the final
linear layer"); its bias is, as in the reference (experiment_nfnets.py puts every bias in the
clipped gains/biases group and exempts only the `linear` module's weight). Exclusion is by
parameter name (`exclude`, default ["head.weight"]), never by position: an entry matches a name
exactly or as a dotted prefix ("head" would exempt the bias too).
"""
from __future__ import annotations

import fnmatch

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")
nn = lazy("torch.nn")
F = lazy("torch.nn.functional")

DEFAULT_EXCLUDE = ("head.weight",)


def _matches(name: str, entry: str) -> bool:
    """A parameter is named by an exclude entry: exactly, as a dotted prefix (`head` covers
    head.weight and head.bias), or by a glob (`*.skip_gain`: every block's SkipInit gain)."""
    if any(ch in entry for ch in "*?["):
        return fnmatch.fnmatchcase(name, entry)
    return name == entry or name.startswith(entry.rstrip(".") + ".")


def clipped_parameters(model: nn.Module, exclude=DEFAULT_EXCLUDE) -> list:
    """Parameters AGC acts on: all but those named by (or under) an entry of `exclude`."""
    named = list(model.named_parameters())
    params = [p for name, p in named if not any(_matches(name, e) for e in exclude)]
    if exclude and len(params) == len(named):
        raise ValueError(f"agc.exclude {list(exclude)} matches no parameter of {type(model).__name__}; "
                         f"names are e.g. {[n for n, _ in named][-2:]}")
    return params


def unitwise_norm(x: torch.Tensor) -> torch.Tensor:
    """One norm per unit, broadcastable to x: the whole norm for (squeezed) scalars and vectors,
    else one per output unit (dim 0) over all other dims."""
    if x.squeeze().ndim <= 1:
        return torch.linalg.vector_norm(x)
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


@no_grad
def clip_(params, clipping: float, eps: float = 1e-3) -> None:
    for p in params:
        if p.grad is None:
            continue
        max_norm = unitwise_norm(p).clamp_min(eps) * clipping
        g_norm = unitwise_norm(p.grad)
        # the 1e-6 only guards a division the trigger never uses (the reference's "just in case")
        clipped = p.grad * (max_norm / g_norm.clamp_min(1e-6))
        p.grad.copy_(torch.where(g_norm > max_norm, clipped, p.grad))


@register("agc")
class AGC(Trick):
    """Recipe `agc: {clipping: λ, eps: 1e-3, exclude: [head.weight]}`: after backward (and after norm
    clipping), each unit's gradient clipped to λ times its weight norm."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': 'Adaptive gradient clipping, unit-wise (Brock et al. 2021; trickbench.tricks.agc), after '
                            'clip_grad_norm if both are set.',
             'additionalProperties': False,
             'required': ['clipping'],
             'properties': {'clipping': {'type': 'number',
                                         'exclusiveMinimum': 0,
                                         'description': 'lambda: the largest allowed ratio ||G_i|| / max(||W_i||, '
                                                        'eps).'},
                            'eps': {'type': 'number', 'exclusiveMinimum': 0, 'default': 0.001},
                            'exclude': {'type': 'array',
                                        'items': {'type': 'string'},
                                        'default': ['head.weight'],
                                        'description': 'Parameters left unclipped, by name, dotted prefix or glob '
                                                       "(`*.skip_gain`): the classifier's weight as in the paper's "
                                                       'code (its bias is clipped; `head` exempts both); [] clips '
                                                       'everything.'}}}
    order = 20
    stacked = False

    def setup(self, run) -> None:
        self.params = clipped_parameters(run.model, self.spec.get("exclude", DEFAULT_EXCLUDE))

    def after_backward(self, run, step: int) -> None:
        clip_(self.params, self.spec["clipping"], self.spec.get("eps", 1e-3))
