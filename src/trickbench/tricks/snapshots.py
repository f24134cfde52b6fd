"""Snapshot ensembles (Huang, Li, Pleiss, Liu, Hopcroft, Weinberger, ICLR 2017): "train 1, get M
for free". The model is saved at the end of each of M equal parts of training, and the saved
models are combined by averaging their softmax outputs (the paper's ensemble). With the cyclic
cosine schedule (`lr_schedule: cyclic_cosine`, `schedule_args: {cycles: M}`) each part is one
cycle and each snapshot a model at the end of an annealing phase, the paper's Snapshot Ensemble;
with a non-cyclic schedule the same saves give the paper's NoCycle control.

recipe key: snapshots: {count: M}   (absent: off; epochs must be a multiple of M)
metrics:    ensemble_test_acc   test accuracy of the ensemble of the M snapshots
            ensemble_gain       ensemble_test_acc - final_test_acc (the last snapshot alone)
            ensemble_test_acc_last<m>   the ensemble of the last m snapshots, m = 1..M
"""
from __future__ import annotations

import contextlib

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")
F = lazy("torch.nn.functional")


def save_epochs(epochs: int, count: int) -> set[int]:
    """The epochs (1-based) after which a snapshot is taken: the ends of the M equal parts."""
    return {epochs * k // count for k in range(1, count + 1)}


def copy_state(model) -> dict:
    return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}


MAX_COUNT = 10   # ensemble_test_acc_last<m> is declared for m = 1..MAX_COUNT (tasks.py)


@no_grad
def ensemble_accuracies(model, states: list[dict], x, y, mean, std, batch_size: int, engine=None) -> list[float]:
    """Test accuracy of the ensemble of the last m snapshots, for m = 1..len(states) (the paper's
    Fig. 3: ensemble accuracy against the number of models): mean softmax of `model` loaded with
    each state in turn (BatchNorm running statistics included, as each snapshot had them); the
    model's own state is restored after."""
    from trickbench.data.tensors import normalize
    own = copy_state(model)
    probs, accs = None, []
    for st in reversed(states):
        model.load_state_dict(st)
        model.eval()
        outs = []
        for i in range(0, len(y), batch_size):
            xb = normalize(x[i:i + batch_size], mean, std)
            if engine is not None and engine.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with engine.autocast() if engine is not None else contextlib.nullcontext():
                outs.append(F.softmax(model(xb).float(), dim=1))
        p = torch.cat(outs)
        probs = p if probs is None else probs + p
        accs.append((probs.argmax(1) == y).float().mean().item())
    model.load_state_dict(own)
    model.train()
    return accs


def ensemble_accuracy(model, states: list[dict], x, y, mean, std, batch_size: int, engine=None) -> float:
    """Accuracy of the ensemble of all the snapshots."""
    return ensemble_accuracies(model, states, x, y, mean, std, batch_size, engine)[-1]


def metrics_of(accs: list[float], final_test_acc: float) -> dict:
    """The run metrics: the whole ensemble, its gain over the last snapshot alone, and the ensemble
    of the last m snapshots for each m."""
    return {"ensemble_test_acc": accs[-1], "ensemble_gain": accs[-1] - final_test_acc,
            **{f"ensemble_test_acc_last{m}": a for m, a in enumerate(accs, 1)}}


@register("snapshots")
class Snapshots(Trick):
    """Saves the model after each of `count` equal parts of training (kept in the checkpoint);
    on a finished run, the ensemble's test accuracy."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': 'Snapshot ensembles (trickbench.tricks.snapshots): save the model at the end of each of '
                            '`count` equal parts of training and evaluate the ensemble of the saves '
                            '(ensemble_test_acc, ensemble_gain). Pair with lr_schedule cyclic_cosine, schedule_args '
                            "{cycles: count}, for the paper's method.",
             'additionalProperties': False,
             'required': ['count'],
             'properties': {'count': {'type': 'integer', 'minimum': 1}}}
    order = 70
    metrics = {"ensemble_test_acc": "test accuracy of the ensemble of the snapshots (mean softmax)",
               "ensemble_gain": "ensemble_test_acc − final_test_acc (the last snapshot alone)",
               **{f"ensemble_test_acc_last{m}": f"the ensemble of the last {m} snapshot(s)" for m in range(1, MAX_COUNT + 1)}}
    units = {m: "pp" for m in metrics}

    @classmethod
    def check(cls, spec, recipe: dict, where: str) -> None:
        count = spec.get("count") if isinstance(spec, dict) else None
        if not isinstance(count, int) or not 1 <= count <= MAX_COUNT or recipe["epochs"] % count:
            raise ValueError(f"{where}: snapshots.count must be a whole number from 1 to {MAX_COUNT} that divides epochs "
                             f"({recipe['epochs']}), not {count!r}")
        cycles = recipe.get("schedule_args", {}).get("cycles")
        if recipe["lr_schedule"] == "cyclic_cosine" and cycles != count:
            raise ValueError(f"{where}: schedule_args.cycles ({cycles}) must equal snapshots.count ({count}): "
                             "one snapshot at the end of each cycle")

    def setup(self, run) -> None:
        self.at, self.snaps = save_epochs(self.recipe["epochs"], self.spec["count"]), []

    def end_of_epoch(self, run, row: dict) -> None:
        if row["epoch"] in self.at:
            self.snaps.append(copy_state(run.model))

    def final_metrics(self, run, metrics: dict) -> None:
        if run.outcome == "ok" and run.history and self.snaps:
            metrics |= metrics_of(ensemble_accuracies(run.model, self.snaps, run.x_test, run.y_test, run.mean,
                                                      run.std, self.recipe["eval_batch_size"], run.engine),
                                  metrics["final_test_acc"])

    def state_dict(self) -> dict:
        return {"snapshots": self.snaps}

    def load_state_dict(self, state: dict) -> None:
        self.snaps = state["snapshots"]
