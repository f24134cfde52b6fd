"""The max-norm constraint of the dropout paper (Srivastava et al., JMLR 2014, §5.1): after every
update, each hidden unit's incoming weight vector is scaled back onto the ball of radius c when it
left it, w <- w * min(1, c / ||w||). "Although dropout alone gives significant improvements, using
dropout along with max-norm regularization, large decaying learning rates and high momentum
provides a significant boost"; c is typically 3-4. Hidden units only: every Linear's rows but the
output layer's (the paper constrains "the incoming weight vector at each hidden unit"); biases free.

recipe key: max_norm: {c: 3.5}     (absent: off; model mlp)
"""
from __future__ import annotations

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")


@no_grad
def constrain(weights: list, c: float) -> None:
    """Rows of each matrix (the last dimension is a unit's fan-in: [out, in] or stacked
    [S, out, in]) scaled down to norm c where longer; in place."""
    for w in weights:
        norms = w.norm(dim=-1, keepdim=True)
        w.mul_(torch.clamp(c / norms.clamp_min(1e-12), max=1.0))


@register("max_norm")
class MaxNorm(Trick):
    """After each optimizer step: every hidden unit's incoming weights back to norm <= c."""
    order = 40
    stacked = True
    schema = {"type": "object", "additionalProperties": False, "required": ["c"],
              "properties": {"c": {"type": "number", "exclusiveMinimum": 0}},
              "description": "The dropout paper's max-norm constraint (trickbench.tricks.max_norm): after every update each hidden unit's incoming weight vector is scaled back to norm c when longer (c = 3-4 in the paper)."}

    @classmethod
    def check(cls, spec, recipe: dict, where: str) -> None:
        if recipe["model"] != "mlp":
            raise ValueError(f"{where}: max_norm constrains the hidden units of a plain MLP (model mlp), not {recipe['model']!r}")
        if not isinstance(spec, dict) or set(spec) != {"c"} or not isinstance(spec["c"], (int, float)) or spec["c"] <= 0:
            raise ValueError(f"{where}: max_norm must be {{c: <radius > 0>}}, not {spec!r}")

    def setup(self, run) -> None:
        self.hidden = [m.weight for m in run.model.modules() if isinstance(m, torch.nn.Linear)][:-1]

    def after_step(self, run, step: int) -> None:
        constrain(self.hidden, self.spec["c"])

    def after_step_stacked(self, weights: list, step: int) -> None:
        constrain(weights[:-1], self.spec["c"])
