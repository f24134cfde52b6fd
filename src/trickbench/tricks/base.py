"""The trick interface: a trick is one module that declares its recipe key, validates its own spec,
names the metrics it writes, and acts on a run only through the training loop's named hooks.

    @TRICKS.register("my_trick")        # the recipe key: `my_trick: {...}` in a claim file's arm
    class MyTrick(Trick):
        metrics = {"my_metric": "what it measures"}
        def after_backward(self, run, step): ...

The hooks, in the order train.run calls them (every active trick's hook in `order`, low first):

    setup(run)                  once, after the model is built from the seed, before the engine
                                sets its layout and the optimizer is made: wrap or inspect the model
                                (stochastic depth), pick parameters (AGC), make a generator (noise),
                                precompute from the data (curriculum scores)
    epoch_order(run, epoch)     each epoch: the order of the training examples (a LongTensor), or
                                None for the default random permutation; the first trick that
                                returns one decides (curriculum). Draw only from run.gen
    before_forward(run, x, y)   each step: the batch (normalised inputs, labels) before the forward
                                pass; return it, changed or not (input noise, label corruption)
    extra_loss(run)             each step: a term added to the batch's loss before backward (the
                                L1/L2 penalty), or None
    after_backward(run, step)   each step, after backward and before the optimizer step: act on the
                                gradients (norm clipping 10, AGC 20, gradient noise 30)
    after_step(run, step)       each step, after the optimizer step: act on the updated weights
                                (the max-norm constraint)
    end_of_epoch(run, row)      after each epoch's training, before evaluation: add to the epoch's
                                metrics row (gradient norms), keep state (snapshots)
    final_metrics(run, metrics) after training, for every outcome: add run metrics (early stopping
                                from the history; on finished runs, run.outcome == "ok": pruning,
                                snapshot ensembles, sparsity, branch share)

A trick's random numbers: the run's data generator `run.gen` (epoch order, augmentation), the global
torch generator seeded by the run (initialisation, dropout, stochastic depth's gates), or a
generator of its own made in setup from `run.seed` and returned by state_dict(), so that a resumed
run draws exactly what an uninterrupted one would (the checkpoint holds state_dict() under
"trick.<key>"). Any state a trick keeps across epochs (snapshots) goes there too.

A trick is active when the recipe sets its key; with `always = True` its hooks also run when the
key is absent (spec None): for metrics every run has, so that an arm and its baseline are compared
on the same metric (weight sparsity, branch share). `chunkable = False` when a batch's gradient is
not the same summed over chunks (per-batch random gates). `stacked = True` when the stacked
engine (many seeds' MLPs as one batched model, stacked.py) implements it, through the *_stacked
hooks (the same calls on [S, ...] tensors, each seed as its single run); that engine refuses a
recipe with any other trick.

Trick modules import torch lazily (`lazy`), so that validating a config (`snakemake -n`, the
analysis jobs) never imports it.
"""
from __future__ import annotations

import functools
import importlib

from trickbench.registry import Registry

TRICKS = Registry("trick")


class lazy:  # noqa: N801 (reads as a module)
    """A module imported on first attribute access: `torch = lazy("torch")` at a trick module's top
    keeps the module importable without torch (validation, analysis) and its bodies unchanged."""

    def __init__(self, name: str):
        self._name, self._module = name, None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def no_grad(fn):
    """torch.no_grad() as a decorator that imports torch only when the function runs."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch
        with torch.no_grad():
            return fn(*args, **kwargs)
    return wrapper


def absent(value) -> bool:
    """A recipe key counts as unset when None, False, 0 or empty."""
    return value is None or value is False or (not isinstance(value, bool) and value == 0) or value in ("", [], {})


class Trick:
    """One trick's declaration and hooks; an instance lives for one run (train.run makes it)."""

    key: str = ""                     # the recipe key (set by `register`)
    schema: dict | None = None        # JSON-schema fragment of the key's value (claim files are checked
                                      # against it; the lecture's tricks have theirs in claim.schema.yaml)
    metrics: dict[str, str] = {}      # run metrics it writes -> what they are
    units: dict[str, str] = {}        # its metrics that are not plain numbers -> "pp" (a share, shown in %,
                                      # its changes in pp) or "s" (seconds); the report reads them (units.py)
    timings: frozenset = frozenset()  # its metrics that are measured times (or shares of time): they differ
                                      # between equal runs, so equal-run checks skip them and verdicts on them
                                      # compare only runs of one setup
    order: int = 50                   # hooks run low first (gradients: clip 10, AGC 20, noise 30)
    always: bool = False              # hooks run even without the key (spec None)
    chunkable: bool = True            # a batch's gradient is the same accumulated over chunks
    stacked: bool = False             # the stacked engine implements it

    def __init__(self, spec, recipe: dict):
        self.spec, self.recipe = spec, recipe

    @classmethod
    def check(cls, spec, recipe: dict, where: str) -> None:
        """Raise ValueError naming the problem (config validation, before any job runs)."""

    @classmethod
    def active(cls, recipe: dict) -> bool:
        return cls.always or not absent(recipe.get(cls.key))

    # hooks: no-ops unless a trick overrides them
    def setup(self, run) -> None: ...
    def epoch_order(self, run, epoch: int): return None
    def before_forward(self, run, x, y): return x, y
    def extra_loss(self, run): return None
    def after_backward(self, run, step: int) -> None: ...
    def after_step(self, run, step: int) -> None: ...
    def end_of_epoch(self, run, row: dict) -> None: ...
    def final_metrics(self, run, metrics: dict) -> None: ...
    def state_dict(self) -> dict: return {}
    def load_state_dict(self, state: dict) -> None: ...

    # the stacked engine's hooks (stacked = True): S seeds' MLPs as tensors [S, ...]
    def setup_stacked(self, weights: list, seeds: list[int]) -> None: ...
    def extra_loss_stacked(self, weights: list): return None      # a [S] term, or None
    def after_backward_stacked(self, params: list, step: int) -> None: ...
    def after_step_stacked(self, weights: list, step: int) -> None: ...
    def generators_stacked(self) -> list: return []               # checkpointed, in order

    def final_metrics_stacked(self, run, weights: list, metrics: dict) -> None:
        """Seed s's final metrics; `run` is its driver.Record (recipe, history, outcome), `weights` its matrices."""
        self.final_metrics(run, metrics)


def register(key: str):
    """TRICKS.register that also sets the class's `key`."""
    def deco(cls):
        cls.key = key
        return TRICKS.register(key)(cls)
    return deco


def for_recipe(recipe: dict) -> list[Trick]:
    """The run's trick instances, in hook order."""
    load_all()
    out = [TRICKS.get(k)(recipe.get(k), recipe) for k in TRICKS.names()]
    return sorted((t for t in out if type(t).active(recipe)), key=lambda t: (t.order, t.key))


def classes() -> list[type[Trick]]:
    load_all()
    return [TRICKS.get(k) for k in TRICKS.names()]


def modules() -> list[str]:
    """Every trick module of the trickbench.tricks package (all but base), found on disk: a new
    trick is its module alone, with no list to extend."""
    import pkgutil
    from pathlib import Path
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "base")


@functools.cache
def load_all() -> None:
    """Import every trick module of trickbench.tricks (each registers itself; none imports torch)."""
    for m in modules():
        importlib.import_module(f"trickbench.tricks.{m}")
