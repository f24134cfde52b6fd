"""Stochastic depth (Huang, Sun, Liu, Sedra, Weinberger, ECCV 2016, arXiv 1603.09382).

Block l of L survives with probability p_l:
    linear   p_l = 1 - (l / L) (1 - p_L)      (the paper's rule; the last block has p_L)
    uniform  p_l = p_L
Two ways to drop, chosen by `mode`:
    batch    the paper's: one gate per block per mini-batch, drawn from the run's CPU generator
             (torch's global one, seeded by the run), so the whole batch skips the block and its
             residual branch is NOT computed: this is where the speed-up comes from. At test time
             every block runs and its branch is scaled by p_l (output = skip + p_l f(x)).
    sample   timm / torchvision "drop path" (row mode): a per-sample Bernoulli mask with inverted
             scaling (f(x) * mask / p_l) in training, the plain block at test time. The branch is
             always computed, so it cannot save time; it is here to show that.
A skipped block's BatchNorm running statistics are not updated (its branch never runs), as in the
official Torch code. Its parameters get a zero gradient, not None: train.py zeroes gradients with
set_to_none=False, so SGD still applies weight decay and momentum to them, as Torch7's optim.sgd
did on the flat parameter vector (with None, torch.optim would skip them for that step).

A block is wrapped, not edited: it must offer residual(x), shortcut(x) and join(skip, branch),
with forward(x) == join(shortcut(x), residual(x)); the models' `blocks` ModuleList holds them.
"""
from __future__ import annotations

import functools

from trickbench.tricks.base import Trick, lazy, register

torch = lazy("torch")
nn = lazy("torch.nn")

RULES = ("linear", "uniform")
MODES = ("batch", "sample")


def survival(n_blocks: int, rule: str = "linear", p_last: float = 0.5) -> list[float]:
    """p_l for l = 1..L."""
    if not 0 < p_last <= 1:
        raise ValueError(f"stochastic_depth.p_last must be in (0, 1], got {p_last}")
    if rule == "linear":
        return [1 - (l / n_blocks) * (1 - p_last) for l in range(1, n_blocks + 1)]
    if rule == "uniform":
        return [p_last] * n_blocks
    raise ValueError(f"stochastic_depth.rule must be one of {RULES}, got {rule!r}")


@functools.cache
def _wrapper_class():
    """The block wrapper, made on first use (an nn.Module subclass needs torch to be defined)."""
    import torch
    from torch import nn

    class StochasticDepth(nn.Module):
        """One residual block with a survival probability `p` (see the module docstring)."""

        def __init__(self, block: nn.Module, p: float, mode: str = "batch"):
            super().__init__()
            if mode not in MODES:
                raise ValueError(f"stochastic_depth.mode must be one of {MODES}, got {mode!r}")
            self.block, self.p, self.mode = block, float(p), mode
            self.computed = 0  # residual branches computed in training (a test counts them)

        def forward(self, x):
            b = self.block
            if not self.training:
                branch = b.residual(x)
                return b.join(b.shortcut(x), branch * self.p if self.mode == "batch" and self.p < 1 else branch)
            if self.mode == "batch":
                if self.p < 1 and torch.rand(()).item() >= self.p:  # closed gate: the branch is not run
                    return b.join(b.shortcut(x), None)
                self.computed += 1
                return b.join(b.shortcut(x), b.residual(x))
            self.computed += 1
            keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) < self.p
            return b.join(b.shortcut(x), b.residual(x) * keep.to(x.dtype) / self.p)

    return StochasticDepth


def __getattr__(name):  # stochastic_depth.StochasticDepth, defined on first use
    if name == "StochasticDepth":
        return _wrapper_class()
    raise AttributeError(name)


def apply(model: nn.Module, spec: dict) -> list[float]:
    """Wrap every block of `model.blocks` in place; return the survival probabilities."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not all(
            hasattr(b, a) for b in blocks for a in ("residual", "shortcut", "join")):
        raise ValueError(f"stochastic_depth needs a model with a `blocks` ModuleList of residual blocks "
                         f"(residual/shortcut/join); {type(model).__name__} has none")
    ps = survival(len(blocks), spec.get("rule", "linear"), spec.get("p_last", 0.5))
    wrap = _wrapper_class()
    model.blocks = nn.ModuleList(wrap(b, p, spec.get("mode", "batch")) for b, p in zip(blocks, ps))
    return ps


def mean_survival(n_blocks: int, spec: dict | None) -> float:
    """Expected share of residual branches computed per training step (1 without the trick;
    also 1 for mode=sample, which computes every branch)."""
    if not spec or spec.get("mode", "batch") == "sample":
        return 1.0
    ps = survival(n_blocks, spec.get("rule", "linear"), spec.get("p_last", 0.5))
    return sum(ps) / len(ps)


def stage_costs(model, x, y, engine, reps: int = 5) -> list[tuple[list[int], float]]:
    """Measured share of a training step (forward, loss, backward) spent in the residual branches
    of each stage: [(block indices, share)], a stage being a run of blocks with the same output
    shape. Each stage's share is 1 - t(step with that stage's branches skipped) / t(full step),
    medians of `reps` steps taken in turn over the configurations, on a copy of the model (its
    BatchNorm statistics untouched) with the global generator restored afterwards. Timed like the
    epochs: CPU seconds of the process on a CPU, synchronised wall clock on a GPU."""
    import copy
    import statistics
    import time
    import torch.nn.functional as F
    m = copy.deepcopy(model).train()
    if not all(hasattr(b, "p") for b in m.blocks):
        apply(m, {"rule": "uniform", "p_last": 1.0, "mode": "batch"})
    shapes = []
    hooks = [b.register_forward_hook(lambda mod, i, o: shapes.append(tuple(o.shape[1:]))) for b in m.blocks]
    rng = torch.get_rng_state()
    try:
        for b in m.blocks:
            b.p = 1.0
        with torch.no_grad(), engine.autocast():
            m(x)
        for h in hooks:
            h.remove()
        stages = []
        for i, shape in enumerate(shapes):
            if stages and shapes[stages[-1][-1]] == shape:
                stages[-1].append(i)
            else:
                stages.append([i])
        cuda = x.device.type == "cuda"
        clock = time.perf_counter if cuda else time.process_time

        def step(skip: list[int]) -> float:
            for i, b in enumerate(m.blocks):
                b.p = 0.0 if i in skip else 1.0   # p = 0: the gate is always closed
            if cuda:
                torch.cuda.synchronize()
            t0 = clock()
            with engine.autocast():
                out = m(x)
            m.zero_grad(set_to_none=False)
            F.cross_entropy(out.float(), y).backward()
            if cuda:
                torch.cuda.synchronize()
            return clock() - t0

        configs = [[]] + stages
        for c in configs:   # warm-up
            step(c)
        times = [[] for _ in configs]
        for _ in range(reps):
            for k, c in enumerate(configs):
                times[k].append(step(c))
        full = statistics.median(times[0])
        return [(st, max(0.0, 1 - statistics.median(t) / full)) for st, t in zip(stages, times[1:])]
    finally:
        torch.set_rng_state(rng)


def compute_share(costs: list[tuple[list[int], float]], ps: list[float]) -> float:
    """Expected share of a constant-depth step's compute that a step computes when block l runs
    with probability p_l: 1 - sum over stages of (stage's branch share) x (its mean skip rate)."""
    return 1 - sum(share * sum(1 - ps[i] for i in st) / len(st) for st, share in costs)


@register("stochastic_depth")
class StochasticDepthTrick(Trick):
    """Wraps the model's blocks at setup; branch_share for every run of a model with blocks (the
    constant-depth baseline's is 1)."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': "Stochastic depth (Huang et al. 2016) on the model's residual blocks "
                            '(trickbench.tricks.stochastic_depth).',
             'additionalProperties': False,
             'properties': {'mode': {'type': 'string',
                                     'enum': ['batch', 'sample'],
                                     'default': 'batch',
                                     'description': 'batch: one gate per block per mini-batch, the branch really '
                                                    'skipped, test-time scaling by p_l (the paper); sample: '
                                                    'timm/torchvision per-sample drop path with inverted scaling.'},
                            'rule': {'type': 'string',
                                     'enum': ['linear', 'uniform'],
                                     'default': 'linear',
                                     'description': 'linear: p_l = 1 - (l/L)(1 - p_last); uniform: p_l = p_last.'},
                            'p_last': {'type': 'number', 'exclusiveMinimum': 0, 'maximum': 1, 'default': 0.5}}}
    order = 5
    always = True

    @property
    def chunkable(self) -> bool:   # one gate per block per batch: chunks would draw several
        return not self.spec
    metrics = {"branch_share": "expected share of residual branches computed per step (1 for drop path: it computes them all)",
               "compute_share": "expected share of a constant-depth training step's compute, from the stage costs measured at the end of the run (1 for constant depth and drop path)"}
    timings = frozenset({"compute_share"})   # from measured stage costs

    def setup(self, run) -> None:
        if self.spec:  # gates come from the global CPU generator, seeded by the run and checkpointed
            apply(run.model, self.spec)

    def final_metrics(self, run, metrics: dict) -> None:
        import torch
        if self.spec or isinstance(getattr(run.model, "blocks", None), torch.nn.ModuleList):
            metrics["branch_share"] = mean_survival(len(run.model.blocks), self.spec)
            batch = self.spec and self.spec.get("mode", "batch") == "batch"
            if not batch:   # constant depth and drop path compute every branch
                metrics["compute_share"] = 1.0
            elif run.outcome == "ok":
                metrics["compute_share"] = measured_share(run, self.spec)


def measured_share(run, spec: dict) -> float:
    """compute_share of a run's model on the run's device and engine."""
    costs = batch_costs(run.model, run.x_train, run.y_train, run.mean, run.std, run.engine, run.recipe["batch_size"])
    return expected_share(costs, spec)


def batch_costs(model, x_train, y_train, mean, std, engine, batch_size: int) -> list[tuple[list[int], float]]:
    """stage_costs on one training batch (strided over the split, not augmented), laid out as the
    engine trains."""
    import torch
    from trickbench.data.tensors import normalize, strided
    idx = strided(len(y_train), batch_size)
    x = normalize(x_train[idx], mean, std)
    if engine.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return stage_costs(model, x, y_train[idx], engine)


def expected_share(costs: list[tuple[list[int], float]], spec: dict) -> float:
    """compute_share for the survival probabilities of `spec` over the blocks the costs cover."""
    n = sum(len(st) for st, _ in costs)
    return compute_share(costs, survival(n, spec.get("rule", "linear"), spec.get("p_last", 0.5)))
