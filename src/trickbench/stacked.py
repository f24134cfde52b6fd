"""Many seeds of one MLP arm in one model: weights stacked [S, out, in], one batched matmul per layer.

A 20x50 MLP step on CPU is mostly per-operation overhead (measured on the development machines:
~6.6 ms a step where the arithmetic is ~1 ms; results/bench/ keeps the stacked-vs-sequential ratio), so S seeds in one stack pay that overhead once. Each seed keeps everything
that makes it that seed: its own initialisation (the same `torch.manual_seed(seed)` build as a
single run), its own data order (its own generator), its own gradient-norm clipping, divergence
check and outcome. The optimizers of torch.optim are element-wise, so one optimizer over the
stacked tensors is S independent optimizers. A run trained in a stack gives the single run's
metrics to float tolerance (tests/test_stacked.py); `stacked_runs` in its summary says it was.
Dropout masks come seed by seed from a generator holding the global RNG state that seed's single run
has once its model is built (what its `nn.Dropout` draws from), drawn in the same order and shape.

Supported: model `mlp` with ReLU and without batchnorm, augment `none` (what the MLP claims use);
`supports(recipe)` says so, and trickbench.tasks falls back to one run at a time otherwise.
"""
from __future__ import annotations

import functools
import math
import operator
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from trickbench import tricks
from trickbench.data.tensors import normalize
from trickbench.driver import Record, Trainer, drive, locked
from trickbench.models import MODELS
from trickbench.optim import build_optimizer, build_schedule
from trickbench.train import Engine, _eta, _secs, data_generator, load_data, resolve_device, train_accuracy_set


def progress_line(run_dirs, rows: list[dict], epoch: int, epochs: int, spent: float) -> str:
    """One line per epoch for the job's log (a single run prints train.progress_line): the stack,
    its live runs' mean test accuracy, seconds per epoch of the whole stack, and its ETA, after the
    time (UTC) as train.progress_line starts."""
    first = Path(run_dirs[0])
    per_epoch = spent / epoch
    tested = rows and all("test_acc" in r for r in rows)   # test_every: not every epoch
    acc = f"mean test_acc {sum(r['test_acc'] for r in rows) / len(rows):.4f} " if tested else ""
    return (f"{time.strftime('%H:%M:%S', time.gmtime())} "
            f"{first.parent.parent.name}/{len(run_dirs)} seeds stacked ({len(rows)} live) epoch {epoch}/{epochs}: "
            f"{acc}· {_secs(per_epoch)}/epoch · ETA stack {_eta((epochs - epoch) * per_epoch)}")


def _absent(v) -> bool:
    return v in (None, False, 0, "", [], {})


# Every recipe key this engine implements; where it implements only some values, which. A recipe
# with any other key set (a trick added to train.run, a new recipe key) or another value is not
# stackable: ClassifyTask trains it one run at a time in train.run, with its trick, and
# run_stacked refuses it naming the key. A new key never trains here silently without its effect.
IMPLEMENTED = {
    # data, evaluation, bookkeeping (load_data, _evaluate, final_metrics)
    "dataset": None, "dataset_args": None, "train_subset": None, "val_fraction": None, "test_subset": None,
    "epochs": None, "batch_size": None, "eval_batch_size": None, "diverge_factor": None, "max_seconds": None,
    "early_stopping": None, "test_every": None,
    "augment": lambda v: v == "none", "augment_pad": None,   # the pad only matters with crops
    # the model: a plain ReLU MLP, optionally with dropout (stacked _forward)
    "model": lambda v: v == "mlp",
    "model_args": lambda v: not v.get("batchnorm") and v.get("activation", "relu") == "relu"
    and set(v) <= {"depth", "width", "hidden", "widths", "dropout", "input_dropout", "init", "init_std", "activation", "batchnorm"},
    # optimisation (build_optimizer on the stacked tensors: one group, so weight decay on all)
    "optimizer": None, "lr": None, "lr_ref_batch": None, "lr_schedule": None, "schedule_args": None,
    "momentum": None, "nesterov": None, "weight_decay": None, "beta1": None, "beta2": None, "eps": None,
    "momentum_ramp": None,   # build_schedule: the same ramp on the one group
    "weight_decay_on": lambda v: v == "all",
    "label_smoothing": None,
    # and every trick whose class says `stacked = True` (tricks/base.py: its *_stacked hooks)
}


def unsupported(recipe: dict) -> list[str]:
    """The keys of `recipe` (set, not absent) this engine does not implement, or not at the value
    given: [] when it can train the recipe exactly as train.run does."""
    out = []
    stackable = {cls.key for cls in tricks.base.classes() if cls.stacked}
    for key, value in recipe.items():
        if key in stackable:
            continue
        if key not in IMPLEMENTED:
            if not _absent(value):
                out.append(key)
        elif IMPLEMENTED[key] is not None and not _absent(value) and not IMPLEMENTED[key](value):
            out.append(f"{key}={value!r}")
        elif key in ("augment", "model") and not IMPLEMENTED[key](value):
            out.append(f"{key}={value!r}")
    return out


def supports(recipe: dict) -> bool:
    return not unsupported(recipe)


def _drop(x, p: float, drop_gens):
    mask = torch.empty_like(x)
    for s, g in enumerate(drop_gens):
        mask[s].bernoulli_(1 - p, generator=g)
    return x * mask.div_(1 - p)


class StackedLinear(torch.autograd.Function):
    """x [S, B, in] @ w[s].T + b[s] for every seed s (w [S, out, in], b [S, out]): the forward of
    `torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))` with the weight gradient computed in the
    weight's own [S, out, in] layout. Autograd's own backward forms it as [S, in, out] and then copies
    the transpose into place, a strided copy that cost more than the three matmuls together on the
    1024-wide MLPs on a CPU (a 2-core Xeon with AMX: 2.2-2.4x slower a layer step). The same
    numbers, bit for bit (tests/test_stacked.py); `python -m trickbench.ops.bench --suite stacked-linear`
    measures the ratio."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        return gx, torch.bmm(g.transpose(1, 2), x), g.sum(1)


def _forward(weights, biases, x, dropout: float = 0.0, drop_gens=None, input_dropout: float = 0.0):
    """x: [S, B, D] -> logits [S, B, K]; ReLU between layers, none after the last. With `drop_gens`
    (training), each input is dropped with probability `input_dropout` and each hidden ReLU output
    with probability `dropout`, seed s's masks from drop_gens[s] in the single run's order (input
    first), as torch's CPU dropout does it: bernoulli(1 - p) mask / (1 - p)."""
    if input_dropout and drop_gens:
        x = _drop(x, input_dropout, drop_gens)
    for i, (w, b) in enumerate(zip(weights, biases)):
        x = StackedLinear.apply(x, w, b)
        if i < len(weights) - 1:
            x = F.relu(x)
            if dropout and drop_gens:
                x = _drop(x, dropout, drop_gens)
    return x


@torch.no_grad()
def _evaluate(weights, biases, x, y, mean, std, batch_size):
    s = weights[0].shape[0]
    loss, correct = torch.zeros(s, dtype=torch.float64), torch.zeros(s, dtype=torch.float64)
    for i in range(0, len(y), batch_size):
        xb = normalize(x[i:i + batch_size], mean, std).flatten(1)
        out = _forward(weights, biases, xb.unsqueeze(0).expand(s, -1, -1))
        yb = y[i:i + batch_size]
        loss += F.cross_entropy(out.transpose(1, 2), yb.expand(s, -1), reduction="none").sum(1).double().cpu()
        correct += (out.argmax(2) == yb).sum(1).double().cpu()
    return (loss / len(y)).tolist(), (correct / len(y)).tolist()


def run_stacked(recipe: dict, seeds: list[int], run_dirs: list[Path], ctx: dict, meta: dict,
                stop_after_epoch: int | None = None) -> list[dict]:
    """Train `seeds` of one recipe together through the one loop (driver.drive); write each run's
    metrics.jsonl and summary.json, and return the summaries. Every run's lock is held throughout
    (io.run_lock). `stop_after_epoch` (or ctx["deadline"]) ends the work after an epoch with the
    checkpoint in place, as a kill would: each summary is then {"outcome": "stopped", "epoch": k}."""
    missing = unsupported(recipe)
    if missing:
        raise ValueError(f"the stacked engine does not implement {', '.join(missing)}: train this recipe one run "
                         "at a time (train.run), or implement it in stacked.py and add it to IMPLEMENTED")
    with locked(run_dirs):
        torch.set_num_threads(int(ctx.get("threads", 1)))
        stack = Stack(recipe, seeds, run_dirs, ctx, resolve_device(ctx.get("device", "cpu")))
        return drive(stack, meta, ctx, stop_after_epoch)


class Stack(Trainer):
    """S seeds of one MLP recipe as one batched model (weights [S, out, in]): the vectorised
    trainer of driver.drive. Its checkpoint is <arm folder>/stack-<seeds>.pt (and .prev.pt)."""
    stacked = True
    state_keys = frozenset({"params", "optimizer", "schedule", "torch_rng", "gens"})

    def __init__(self, recipe: dict, seeds: list[int], run_dirs: list[Path], ctx: dict, device):
        self.recipe, self.device = recipe, device
        (self.data, (self.x_train, self.y_train), (self.x_val, self.y_val), (self.x_test, self.y_test),
         (self.mean, self.std)) = load_data(recipe, ctx, device)
        self.records = [Record(seed=s, recipe=recipe, run_dir=Path(d)) for s, d in zip(seeds, run_dirs)]
        self.engine = Engine(device, "fp32")   # fp32, contiguous, whole batches
        self.micro = None
        self.ckpt_path = Path(run_dirs[0]).parent / f"stack-{'-'.join(map(str, seeds))}.pt"
        self.spent = self.cpu_spent = self.evaluated = 0.0
        self._train_acc = None
        models = []
        self.drop_gens = []
        self.dropout = float(recipe["model_args"].get("dropout") or 0.0)
        self.input_dropout = float(recipe["model_args"].get("input_dropout") or 0.0)
        for seed in seeds:  # the single run's initialisation, seed by seed
            torch.manual_seed(seed)
            models.append(MODELS.build("mlp", self.data.shape, self.data.num_classes, **recipe["model_args"]))
            if self.dropout or self.input_dropout:  # the global RNG as the single run's dropout finds it
                self.drop_gens.append(torch.Generator())
                self.drop_gens[-1].set_state(torch.get_rng_state())
        linears = [[m for m in model.net if isinstance(m, torch.nn.Linear)] for model in models]
        self.weights = [torch.stack([ls[i].weight.detach() for ls in linears]).to(device).requires_grad_()
                        for i in range(len(linears[0]))]
        self.biases = [torch.stack([ls[i].bias.detach() for ls in linears]).to(device).requires_grad_()
                       for i in range(len(linears[0]))]
        self.params = [p for pair in zip(self.weights, self.biases) for p in pair]
        if ctx.get("perturb_init"):  # as train.run: the canary's float-sensitivity probe
            with torch.no_grad():
                for p in self.params:
                    p.mul_(1 + ctx["perturb_init"])
        self.gens = [data_generator(seed) for seed in seeds]
        # the tricks this engine implements (unsupported() refused a recipe setting any other; one that
        # runs without its key, such as stochastic depth's branch_share, has nothing to do on an MLP)
        self.active = [t for t in tricks.for_recipe(recipe) if t.stacked]
        for t in self.active:
            t.setup_stacked(self.weights, seeds)
        self.trick_gens = [g for t in self.active for g in t.generators_stacked()]
        self.steps_per_epoch = max(1, len(self.y_train) // recipe["batch_size"])
        self.optimizer = build_optimizer(self.params, recipe)
        self.schedule = build_schedule(self.optimizer, recipe, self.steps_per_epoch * recipe["epochs"])

    def state_dict(self) -> dict:
        return {"params": [p.detach() for p in self.params], "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "torch_rng": torch.get_rng_state(),
                "gens": [g.get_state() for g in self.gens + self.trick_gens + self.drop_gens]}

    def load_state_dict(self, ck: dict) -> None:
        with torch.no_grad():
            for p, v in zip(self.params, ck["params"]):
                p.copy_(v)
        self.optimizer.load_state_dict(ck["optimizer"])
        self.schedule.load_state_dict(ck["schedule"])
        torch.set_rng_state(ck["torch_rng"])   # generator states stay CPU byte tensors
        for g, st in zip(self.gens + self.trick_gens + self.drop_gens, ck["gens"]):
            g.set_state(st)

    def train_epoch(self, epoch: int) -> dict[int, dict]:
        recipe, device, recs = self.recipe, self.device, self.records
        S, bs, n = len(recs), recipe["batch_size"], len(self.y_train)
        t0, c0 = time.perf_counter(), time.process_time()
        orders = torch.stack([torch.randperm(n, generator=g) for g in self.gens]).to(device)
        loss_sum = torch.zeros(S, dtype=torch.float64)
        correct = torch.zeros(S, dtype=torch.float64)
        for b in range(self.steps_per_epoch):
            idx = orders[:, b * bs:(b + 1) * bs]                                             # [S, B]
            xb = normalize(self.x_train[idx.reshape(-1)], self.mean, self.std).view(S, bs, -1)  # [S, B, D]
            yb = self.y_train[idx]                                                           # [S, B]
            out = _forward(self.weights, self.biases, xb, self.dropout, self.drop_gens, self.input_dropout)
            losses = F.cross_entropy(out.transpose(1, 2), yb, reduction="none",
                                     label_smoothing=recipe.get("label_smoothing", 0.0)).mean(1)  # [S]
            lv = losses.detach().double().cpu()
            step = epoch * self.steps_per_epoch + b
            for s, rec in enumerate(recs):   # each seed's divergence check, every step (a CPU engine)
                if not rec.live:
                    continue
                if rec.first_loss is None:
                    rec.first_loss = float(lv[s])
                if not math.isfinite(lv[s]) or lv[s] > recipe["diverge_factor"] * rec.first_loss:
                    rec.outcome, rec.diverged_at = "diverged", step
            self.optimizer.zero_grad(set_to_none=True)
            extra = [e for t in self.active if (e := t.extra_loss_stacked(self.weights)) is not None]   # a penalty
            # seeds share no weights: each gets its own gradient
            functools.reduce(operator.add, extra, losses).sum().backward()
            for t in self.active:   # per seed, as on one run: clipping, then noise (Trick.order)
                t.after_backward_stacked(self.params, step)
            self.optimizer.step()
            for t in self.active:   # on the updated weights: max-norm
                t.after_step_stacked(self.weights, step)
            self.schedule.step()
            loss_sum += lv * bs
            correct += (out.detach().argmax(2) == yb).sum(1).double().cpu()
        self.spent += time.perf_counter() - t0
        self.cpu_spent += time.process_time() - c0   # the stack's process: each run is charged 1/S of it
        seen = self.steps_per_epoch * bs
        rows = {}
        for s, rec in enumerate(recs):
            if rec.live:
                rows[s] = {"epoch": epoch + 1, "train_loss": float(loss_sum[s]) / seen, "train_acc": float(correct[s]) / seen,
                           "lr_now": self.schedule.get_last_lr()[0], "wall_s": self.spent / S}
                if device.type == "cpu":   # as a single run records it
                    rows[s]["cpu_s"] = self.cpu_spent / S
        return rows

    def _eval(self, x, y, weights=None, biases=None) -> list:
        losses, accs = _evaluate(self.weights if weights is None else weights, self.biases if biases is None else biases,
                                 x, y, self.mean, self.std, self.recipe["eval_batch_size"])
        return list(zip(losses, accs))

    def evaluate_split(self, split: str) -> list:
        return self._eval(*((self.x_test, self.y_test) if split == "test" else (self.x_val, self.y_val)))

    def has_val(self) -> bool:
        return bool(len(self.y_val))

    def snapshot(self, i: int) -> list:
        return [p[i].detach().clone() for p in self.params]

    def test_snapshot(self, i: int, state) -> float:
        """Seed i's test accuracy with the weights of `state` (a stack of one)."""
        ws, bs = [w.unsqueeze(0) for w in state[0::2]], [b.unsqueeze(0) for b in state[1::2]]
        return self._eval(self.x_test, self.y_test, ws, bs)[0][1]

    def train_accuracy(self) -> list:
        if self._train_acc is None:   # every seed in one pass, eval mode, as train.run measures it
            self._train_acc = self._eval(*train_accuracy_set(self.x_train, self.y_train))
        return self._train_acc

    def trick_metrics(self, i: int, metrics: dict) -> None:
        for t in self.active:   # the seed's Record: its recipe, history and outcome
            t.final_metrics_stacked(self.records[i], [w[i] for w in self.weights], metrics)

    def progress(self, epoch: int, rows: dict, ctx: dict) -> str:
        return progress_line([r.run_dir for r in self.records], [rows[i] for i in sorted(rows)], epoch,
                             self.recipe["epochs"], self.spent)
