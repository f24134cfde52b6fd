"""L1 and L2 penalties on the weight matrices, each layer with its own coefficient if asked
(the lecture: "L_1, L_2 (можно со своим весом на каждом слое)").

    loss = data loss + sum_i ( l1_i * ||W_i||_1 + l2_i / 2 * ||W_i||_2^2 )

over the weight matrices and conv kernels W_i in the order the model defines them; biases and
normalisation parameters are not penalised. A number applies to every layer; a list gives one
coefficient per weight matrix. The training loss the runs record stays the data loss.
This is the penalty in the loss, as the lecture writes it: with plain SGD the L2 term equals
weight decay (recipe key weight_decay, which also decays biases); with adaptive optimizers the
two differ.

recipe key: penalty: {l1: 1.0e-5, l2: [1.0e-3, 1.0e-4, 1.0e-4]}   (absent: off)
metric:     weight_sparsity: share of weight-matrix entries with |w| < 1e-3 (every run)
"""
from __future__ import annotations

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")
nn = lazy("torch.nn")
F = lazy("torch.nn.functional")

SPARSE_BELOW = 1e-3


def weight_matrices(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def coefficients(spec: dict | None, key: str, n: int) -> list[float]:
    """The coefficient of each of n weight matrices; a list of the wrong length is an error."""
    v = (spec or {}).get(key) or 0.0
    if isinstance(v, (int, float)):
        return [float(v)] * n
    if len(v) != n:
        raise ValueError(f"penalty.{key} lists {len(v)} coefficients but the model has {n} weight matrices")
    return [float(x) for x in v]


def penalty(weights: list[torch.Tensor], spec: dict | None, stacked: bool = False) -> torch.Tensor | float:
    """The penalty term of one model (0.0 when off). With `stacked` weights [S, out, in] it is a
    vector [S]: each seed's own penalty."""
    if not spec:
        return 0.0
    l1, l2 = coefficients(spec, "l1", len(weights)), coefficients(spec, "l2", len(weights))
    total = 0.0
    for w, a, b in zip(weights, l1, l2):
        dims = tuple(range(1 if stacked else 0, w.dim()))
        if a:
            total = total + a * w.abs().sum(dim=dims)
        if b:
            total = total + b / 2 * w.pow(2).sum(dim=dims)
    return total


@no_grad
def sparsity(weights: list[torch.Tensor]) -> float:
    n = sum(w.numel() for w in weights)
    return float(sum((w.abs() < SPARSE_BELOW).sum().item() for w in weights) / n) if n else 0.0


@register("penalty")
class Penalty(Trick):
    """The penalty term added to the loss; weight_sparsity for every run (the baseline's too)."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': 'L1 / L2 penalties on the weight matrices added to the loss (trickbench.tricks.penalty): a '
                            'number for every layer, or a list with one coefficient per weight matrix in model order. '
                            'Biases and normalisation parameters are not penalised.',
             'additionalProperties': False,
             'properties': {'l1': {'anyOf': [{'type': 'number', 'minimum': 0},
                                             {'type': 'array',
                                              'items': {'type': 'number', 'minimum': 0},
                                              'minItems': 1}]},
                            'l2': {'anyOf': [{'type': 'number', 'minimum': 0},
                                             {'type': 'array',
                                              'items': {'type': 'number', 'minimum': 0},
                                              'minItems': 1}]}}}
    order = 40
    always = True
    stacked = True
    metrics = {"weight_sparsity": f"share of weight-matrix entries with |w| < {SPARSE_BELOW:g}"}
    units = {"weight_sparsity": "pp"}

    def setup(self, run) -> None:
        self.weights = weight_matrices(run.model)
        if self.spec:  # a per-layer list that does not fit the model fails here, before any step
            for key in ("l1", "l2"):
                coefficients(self.spec, key, len(self.weights))

    def extra_loss(self, run):
        return penalty(self.weights, self.spec) if self.spec else None

    def final_metrics(self, run, metrics: dict) -> None:
        if run.outcome == "ok" and run.history:
            metrics["weight_sparsity"] = sparsity(self.weights)

    def setup_stacked(self, weights, seeds: list[int]) -> None:
        self.weights = weights
        if self.spec:
            for key in ("l1", "l2"):
                coefficients(self.spec, key, len(weights))

    def extra_loss_stacked(self, weights):
        return penalty(weights, self.spec, stacked=True) if self.spec else None

    def final_metrics_stacked(self, run, weights, metrics: dict) -> None:
        if run.outcome == "ok" and run.history:
            metrics["weight_sparsity"] = sparsity(weights)
