"""Training tricks that act on gradients, shared by the single-run and the stacked engine.

Annealed Gaussian gradient noise (Neelakantan et al. 2015, arXiv 1511.06807):
    g_t <- g_t + N(0, sigma_t^2),   sigma_t^2 = eta / (1 + t)^gamma
i.i.d. per coordinate, t the optimizer step (0-based), added *after* gradient clipping as in the
paper. eta is the noise scale, not the learning rate (the lecture uses eta for both). The noise
comes from the run's own generator, so a run draws the same noise alone or inside a stack.
"""
from __future__ import annotations

import math

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")
nn = lazy("torch.nn")
F = lazy("torch.nn.functional")


def noise_std(step: int, eta: float, gamma: float = 0.55) -> float:
    """sigma_t = sqrt(eta / (1 + t)^gamma)."""
    return math.sqrt(eta / (1 + step) ** gamma)


def noise_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + 2)


@no_grad
def add_grad_noise(params, step: int, spec: dict, gen: torch.Generator) -> None:
    """Add annealed noise to the .grad of every parameter, in parameter order, from `gen`."""
    std = noise_std(step, spec["eta"], spec.get("gamma", 0.55))
    for p in params:
        if p.grad is not None:
            p.grad.add_(torch.randn(p.grad.shape, generator=gen).to(p.grad.device), alpha=std)


@no_grad
def add_grad_noise_stacked(params, step: int, spec: dict, gens: list[torch.Generator]) -> None:
    """The same for stacked parameters [S, ...]: seed s draws its noise from gens[s], parameter
    by parameter in the single run's order, so its noise equals the single run's."""
    std = noise_std(step, spec["eta"], spec.get("gamma", 0.55))
    for s, g in enumerate(gens):
        for p in params:
            p.grad[s].add_(torch.randn(p.grad.shape[1:], generator=g).to(p.grad.device), alpha=std)


@register("grad_noise")
class GradNoise(Trick):
    """Recipe `grad_noise: {eta: 0.01, gamma: 0.55}`: annealed noise added to every gradient after
    clipping, from the run's own noise generator (checkpointed)."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': 'Annealed Gaussian gradient noise (Neelakantan et al. 2015): sigma_t^2 = eta / (1 + '
                            't)^gamma, added after clipping.',
             'additionalProperties': False,
             'required': ['eta'],
             'properties': {'eta': {'type': 'number', 'exclusiveMinimum': 0},
                            'gamma': {'type': 'number', 'minimum': 0, 'default': 0.55}}}
    order = 30
    stacked = True

    def setup(self, run) -> None:
        self.gen = noise_generator(run.seed)

    def after_backward(self, run, step: int) -> None:
        add_grad_noise(run.model.parameters(), step, self.spec, self.gen)

    def setup_stacked(self, weights, seeds: list[int]) -> None:
        self.gens = [noise_generator(s) for s in seeds]

    def after_backward_stacked(self, params, step: int) -> None:
        add_grad_noise_stacked(params, step, self.spec, self.gens)

    def generators_stacked(self) -> list:
        return self.gens

    def state_dict(self) -> dict:
        return {"noise": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["noise"])
