"""Gradient-norm clipping (Pascanu, Mikolov & Bengio, ICML 2013): when the total L2 norm of the
gradient over all parameters exceeds a threshold, rescale it to the threshold
(torch.nn.utils.clip_grad_norm_). With `log_grad_norm` the norm before clipping is recorded at
every step (an infinite threshold: measured, not clipped), summarised per epoch and per run.

recipe keys: clip_grad_norm: 1.0   (null: off)      log_grad_norm: true   (absent: off)
metrics:     grad_norm_max (largest norm of any epoch), clipped_share (mean share of steps clipped)
"""
from __future__ import annotations

import math
import statistics

from trickbench.tricks.base import Trick, absent, lazy, register

torch = lazy("torch")


def grad_norm_row(norms, clip: float | None) -> dict:
    """An epoch's gradient norms (total L2 norm over all parameters, before clipping): the largest,
    the median, and the share of steps that clipping rescaled (when it is on)."""
    row = {"grad_norm_max": norms.max().item(), "grad_norm_median": norms.median().item()}
    if clip:
        row["clipped_share"] = (norms > clip).double().mean().item()
    return row


@register("clip_grad_norm")
class ClipGradNorm(Trick):
    """Clips after backward, first of the gradient tricks (before AGC and noise); with
    log_grad_norm, the norms in each epoch's row and the run's metrics."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['number', 'null'],
             'exclusiveMinimum': 0,
             'description': 'Gradient-norm clipping (Pascanu et al. 2013): when the total L2 norm of the gradient '
                            'exceeds this, rescale it to this norm (torch.nn.utils.clip_grad_norm_).'}
    order = 10
    stacked = True   # without log_grad_norm: the stacked engine clips each seed by its own norm
    metrics = {"grad_norm_max": "largest gradient norm before clipping, over the run (log_grad_norm)",
               "clipped_share": "mean share of steps whose gradient clipping rescaled (log_grad_norm)"}

    @classmethod
    def active(cls, recipe: dict) -> bool:
        return not absent(recipe.get("clip_grad_norm")) or bool(recipe.get("log_grad_norm"))

    def setup(self, run) -> None:
        self.log, self.norms = bool(self.recipe.get("log_grad_norm")), []

    def after_backward(self, run, step: int) -> None:  # the norm before clipping (inf: measure only)
        total = torch.nn.utils.clip_grad_norm_(run.model.parameters(), self.spec or math.inf)
        if self.log:
            self.norms.append(total.detach())

    def end_of_epoch(self, run, row: dict) -> None:
        if self.norms:
            row |= grad_norm_row(torch.stack(self.norms), self.spec)
        self.norms = []

    def final_metrics(self, run, metrics: dict) -> None:
        last = run.history[-1] if run.history else {}
        if "grad_norm_max" in last:  # every epoch has as many steps
            metrics["grad_norm_max"] = max(h["grad_norm_max"] for h in run.history)
            if "clipped_share" in last:
                metrics["clipped_share"] = statistics.fmean(h["clipped_share"] for h in run.history)

    def after_backward_stacked(self, params, step: int) -> None:
        """Per seed, as torch.nn.utils.clip_grad_norm_ on one run."""
        norms = torch.sqrt(sum(p.grad.pow(2).flatten(1).sum(1) for p in params))
        coef = (self.spec / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(coef.view(-1, *[1] * (p.dim() - 1)))
