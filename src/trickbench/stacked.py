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

import contextlib
import functools
import io as _io
import math
import operator
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from trickbench import io, provenance, tricks
from trickbench.data.tensors import normalize
from trickbench.models import MODELS
from trickbench.optim import build_optimizer, build_schedule
from trickbench.train import _eta, _secs, data_generator, final_metrics, load_data, resolve_device, train_accuracy_set


def progress_line(run_dirs, rows: list[dict], epoch: int, epochs: int, spent: float) -> str:
    """One line per epoch for the job's log (a single run prints train.progress_line): the stack,
    its live runs' mean test accuracy, seconds per epoch of the whole stack, and its ETA, after the
    time (UTC) as train.progress_line starts."""
    import time
    first = Path(run_dirs[0])
    per_epoch = spent / epoch
    acc = f"mean test_acc {sum(r['test_acc'] for r in rows) / len(rows):.4f} " if rows else ""
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
    "early_stopping": None, "test_every": lambda v: v == 1,
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
        elif key in ("augment", "model", "test_every") and not IMPLEMENTED[key](value):
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
    numbers, bit for bit (tests/test_stacked.py); `python -m trickbench.bench --suite stacked-linear`
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
    """Train `seeds` of one recipe together; write each run's metrics.jsonl and summary.json.

    `stop_after_epoch` ends the work after that epoch with the checkpoint in place, as a kill would
    (train.run's argument; the canary uses it); nothing is returned then. Every run's lock is held
    throughout (io.run_lock)."""
    missing = unsupported(recipe)
    if missing:
        raise ValueError(f"the stacked engine does not implement {', '.join(missing)}: train this recipe one run "
                         "at a time (train.run), or implement it in stacked.py and add it to IMPLEMENTED")
    with contextlib.ExitStack() as locks:
        for d in run_dirs:
            locks.enter_context(io.run_lock(d))
        return _run_stacked(recipe, seeds, run_dirs, ctx, meta, stop_after_epoch)


def _run_stacked(recipe: dict, seeds: list[int], run_dirs: list[Path], ctx: dict, meta: dict,
                 stop_after_epoch: int | None) -> list[dict]:
    torch.set_num_threads(int(ctx.get("threads", 1)))
    device = resolve_device(ctx.get("device", "cpu"))
    data, (x_train, y_train), (x_val, y_val), (x_test, y_test), (mean, std) = load_data(recipe, ctx, device)
    S = len(seeds)
    models, drop_gens = [], []
    dropout = float(recipe["model_args"].get("dropout") or 0.0)
    input_dropout = float(recipe["model_args"].get("input_dropout") or 0.0)
    for seed in seeds:  # the single run's initialisation, seed by seed
        torch.manual_seed(seed)
        models.append(MODELS.build("mlp", data.shape, data.num_classes, **recipe["model_args"]))
        if dropout or input_dropout:  # the global RNG as the single run's dropout finds it
            drop_gens.append(torch.Generator())
            drop_gens[-1].set_state(torch.get_rng_state())
    linears = [[m for m in model.net if isinstance(m, torch.nn.Linear)] for model in models]
    weights = [torch.stack([ls[i].weight.detach() for ls in linears]).to(device).requires_grad_()
               for i in range(len(linears[0]))]
    biases = [torch.stack([ls[i].bias.detach() for ls in linears]).to(device).requires_grad_()
              for i in range(len(linears[0]))]
    params = [p for pair in zip(weights, biases) for p in pair]
    if ctx.get("perturb_init"):  # as train.run: the canary's float-sensitivity probe
        with torch.no_grad():
            for p in params:
                p.mul_(1 + ctx["perturb_init"])
    gens = [data_generator(seed) for seed in seeds]
    # the tricks this engine implements (unsupported() refused a recipe setting any other; one that
    # runs without its key, such as stochastic depth's branch_share, has nothing to do on an MLP)
    active = [t for t in tricks.for_recipe(recipe) if t.stacked]
    for t in active:
        t.setup_stacked(weights, seeds)
    trick_gens = [g for t in active for g in t.generators_stacked()]
    bs, n = recipe["batch_size"], len(y_train)
    steps_per_epoch = max(1, n // bs)
    optimizer = build_optimizer(params, recipe)
    schedule = build_schedule(optimizer, recipe, steps_per_epoch * recipe["epochs"])

    ckpt = Path(run_dirs[0]).parent / f"stack-{'-'.join(map(str, seeds))}.pt"
    histories = [[] for _ in seeds]
    first = [None] * S
    outcome, diverged_at = ["ok"] * S, [None] * S
    best = [{"val_acc": -1.0, "epoch": None, "test_acc": None} for _ in seeds]
    epoch0, spent = 0, 0.0
    evaluated = 0.0  # wall seconds of evaluation (after each epoch, the final metrics), shared by the seeds
    cpu_spent = 0.0  # CPU seconds of the training steps (this process), shared by the seeds
    if ckpt.exists():
        ck = torch.load(ckpt, weights_only=True, map_location="cpu")   # generator states stay CPU byte tensors
        if ck["config_hash"] != meta.get("config_hash"):
            raise RuntimeError(f"{ckpt} belongs to another recipe; remove it to restart")
        with torch.no_grad():
            for p, v in zip(params, ck["params"]):
                p.copy_(v)
        optimizer.load_state_dict(ck["optimizer"])
        schedule.load_state_dict(ck["schedule"])
        torch.set_rng_state(ck["torch_rng"])
        for g, st in zip(gens + trick_gens + drop_gens, ck["gens"]):
            g.set_state(st)
        histories, first, outcome, diverged_at, best = ck["histories"], ck["first"], ck["outcome"], ck["diverged_at"], ck["best"]
        epoch0, spent, evaluated = ck["epoch"], ck["wall_s"], ck.get("eval_s", 0.0)
        cpu_spent = ck.get("cpu_s", 0.0)

    for epoch in range(epoch0, recipe["epochs"]):
        if all(o != "ok" for o in outcome):
            break
        t0, c0 = time.perf_counter(), time.process_time()
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
        loss_sum = torch.zeros(S, dtype=torch.float64)
        correct = torch.zeros(S, dtype=torch.float64)
        for b in range(steps_per_epoch):
            idx = orders[:, b * bs:(b + 1) * bs]                                  # [S, B]
            xb = normalize(x_train[idx.reshape(-1)], mean, std).view(S, bs, -1)  # [S, B, D]
            yb = y_train[idx]                                                     # [S, B]
            out = _forward(weights, biases, xb, dropout, drop_gens, input_dropout)
            losses = F.cross_entropy(out.transpose(1, 2), yb, reduction="none",
                                     label_smoothing=recipe.get("label_smoothing", 0.0)).mean(1)  # [S]
            lv = losses.detach().double().cpu()
            step = epoch * steps_per_epoch + b
            for s in range(S):
                if outcome[s] != "ok":
                    continue
                if first[s] is None:
                    first[s] = float(lv[s])
                if not math.isfinite(lv[s]) or lv[s] > recipe["diverge_factor"] * first[s]:
                    outcome[s], diverged_at[s] = "diverged", step
            optimizer.zero_grad(set_to_none=True)
            extra = [e for t in active if (e := t.extra_loss_stacked(weights)) is not None]   # a penalty
            # seeds share no weights: each gets its own gradient
            functools.reduce(operator.add, extra, losses).sum().backward()
            for t in active:   # per seed, as on one run: clipping, then noise (Trick.order)
                t.after_backward_stacked(params, step)
            optimizer.step()
            for t in active:   # on the updated weights: max-norm
                t.after_step_stacked(weights, step)
            schedule.step()
            loss_sum += lv * bs
            correct += (out.detach().argmax(2) == yb).sum(1).double().cpu()
        spent += time.perf_counter() - t0
        cpu_spent += time.process_time() - c0   # the stack's process: each run is charged 1/S of it
        if recipe["max_seconds"] and spent / S > recipe["max_seconds"]:
            timed_out = True  # recorded after this epoch's metrics, as a single run does
        else:
            timed_out = False
        t_eval = time.perf_counter()
        test_loss, test_acc = _evaluate(weights, biases, x_test, y_test, mean, std, recipe["eval_batch_size"])
        if len(y_val):
            val_loss, val_acc = _evaluate(weights, biases, x_val, y_val, mean, std, recipe["eval_batch_size"])
        evaluated += time.perf_counter() - t_eval
        for s in range(S):
            if outcome[s] != "ok":
                continue
            seen = steps_per_epoch * bs
            row = {"epoch": epoch + 1, "train_loss": float(loss_sum[s]) / seen, "train_acc": float(correct[s]) / seen,
                   "lr_now": schedule.get_last_lr()[0], "wall_s": spent / S,
                   "test_loss": test_loss[s], "test_acc": test_acc[s]}
            if device.type == "cpu":   # as a single run records it (train.py)
                row["cpu_s"] = cpu_spent / S
            if len(y_val):
                row["val_loss"], row["val_acc"] = val_loss[s], val_acc[s]
                if val_acc[s] > best[s]["val_acc"]:
                    best[s] = {"val_acc": val_acc[s], "epoch": epoch + 1, "test_acc": test_acc[s]}
            histories[s].append(row)
            io.write_jsonl(Path(run_dirs[s]) / "metrics.jsonl", histories[s])
        print(progress_line(run_dirs, [h[-1] for h in histories if h and h[-1]["epoch"] == epoch + 1],
                            epoch + 1, recipe["epochs"], spent), flush=True)
        buf = _io.BytesIO()
        torch.save({"config_hash": meta.get("config_hash"), "epoch": epoch + 1,
                    "params": [p.detach() for p in params], "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "torch_rng": torch.get_rng_state(),
                    "gens": [g.get_state() for g in gens + trick_gens + drop_gens], "histories": histories, "first": first,
                    "outcome": outcome, "diverged_at": diverged_at, "best": best, "wall_s": spent,
                    "eval_s": evaluated, "cpu_s": cpu_spent}, buf)
        io.atomic_write_bytes(ckpt, buf.getvalue())
        if stop_after_epoch is not None and stop_after_epoch <= epoch + 1 < recipe["epochs"] and not timed_out:
            return []
        if timed_out:
            outcome = ["timeout" if o == "ok" else o for o in outcome]
            break

    prov = provenance.record(str(device))
    xs, ys = train_accuracy_set(x_train, y_train)   # final_train_acc, eval mode, as train.run measures it
    t_eval = time.perf_counter()
    train_loss_eval, train_acc = _evaluate(weights, biases, xs, ys, mean, std, recipe["eval_batch_size"])
    evaluated += time.perf_counter() - t_eval
    summaries = []
    for s, seed in enumerate(seeds):
        hist = histories[s]
        metrics = final_metrics(hist, best[s])
        if outcome[s] == "ok" and hist:
            metrics["final_train_loss_eval"], metrics["final_train_acc"] = train_loss_eval[s], train_acc[s]
            metrics["generalization_gap"] = train_acc[s] - metrics["final_test_acc"]
        for t in active:
            t.final_metrics_stacked(SimpleNamespace(history=hist, outcome=outcome[s], recipe=recipe),
                                    [w[s] for w in weights], metrics)
        if not hist:
            io.write_jsonl(Path(run_dirs[s]) / "metrics.jsonl", [])
        summary = {**meta, "seed": seed, "recipe": recipe, "outcome": outcome[s], "diverged_at": diverged_at[s],
                   "metrics": metrics, "wall_s": spent / S, "eval_s": evaluated / S, "stacked_runs": S,
                   "images_per_s": steps_per_epoch * bs * len(hist) / (spent / S) if spent else None,
                   "precision": "fp32", "compile": False, "dataset": data.description,
                   "dataset_sha256": data.sha256, "provenance": prov}
        io.write_json(Path(run_dirs[s]) / "summary.json", summary)
        summaries.append(summary)
    ckpt.unlink(missing_ok=True)
    return summaries
