"""Train one network for one seed: run(recipe, seed, run_dir, ctx) -> summary.

A run is a pure function of its resolved recipe and seed. The whole dataset is a uint8 tensor
on the device; batches are index slices; augmentation is batched. Each epoch writes a checkpoint
(model, optimizer, schedule, every RNG state, the epoch and the metric history) atomically, so a
killed run resumes and ends with the same metrics as an uninterrupted one. A NaN/inf loss, or a
loss above `diverge_factor` times the first batch's, ends the run as `diverged` (with its step);
past `max_seconds` it ends as `timeout`. Both are results, not crashes.

Randomness, all derived from the seed:
  torch.manual_seed(seed)          -> initialisation (and global RNG: dropout)
  data generator (seed, stream 1)  -> epoch order and augmentation
"""
from __future__ import annotations

import contextlib
import functools
import math
import operator
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from trickbench import io, provenance, tricks
from trickbench.driver import Record, Trainer, drive, locked
from trickbench.data import DATASETS
from trickbench.data.tensors import augment, channel_stats, normalize, split, strided
from trickbench.models import MODELS
from trickbench.optim import build_optimizer, build_schedule, param_groups


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for, but torch sees no CUDA device")
    return torch.device(device)


def _rng_state(gen: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "data": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


MICRO_BATCH_CPU = 256


def chunkable(model, recipe: dict) -> bool:
    """Whether a batch's gradient is the same accumulated over chunks: no batch statistics
    (BatchNorm), no random masks drawn per forward call (dropout, a trick's per-batch draws such as
    stochastic depth's gates: Trick.chunkable)."""
    if not all(t.chunkable for t in tricks.for_recipe(recipe)):
        return False
    return not any(isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout)) for m in model.modules())


class Engine:
    """How a run uses its device (not part of the recipe: the same experiment, faster).

    precision  fp32, or bf16 autocast; the loss is fp32. `precision: auto` takes bf16 on CUDA, and on
               a CPU with native bf16 units (AMX or AVX-512 BF16: 2.0-2.4x for the CIFAR ResNets)
               for convolutional models only; MLPs (small-magnitude effects, stacked seeds) stay fp32
    channels_last  NHWC activations and weights for convolutions. `channels_last: auto` takes it on
               CUDA, and on a CPU for convolutional models in bf16 (oneDNN's bf16 convolutions want
               NHWC: +13 % for ResNet-20 on a Zen 4, see `python -m trickbench.ops.bench --suite engine`).
               Like precision, the layout changes the arithmetic's order: it is recorded in the run's
               summary, and a run never resumes in another layout
    compile    torch.compile the model (ctx `compile: true`); its compile time lands in epoch 1,
               which train_s_per_epoch leaves out and wall_s keeps
    micro_batch  at most this many images per forward pass (ctx `micro_batch`; auto: 256 on a CPU,
               off on CUDA). Evaluation goes in such chunks; a training batch too, its gradient
               accumulated over the chunks, where that is the same gradient: no BatchNorm (batch
               statistics), no dropout and no per-batch stochastic depth gates. On a CPU large
               batches outgrow the caches: NF-ResNet-20 at batch 2048 trains 1.85x faster in chunks
               of 256, and evaluates 2.05x faster at 256 than at 2000 (2-core Xeon with AMX,
               `--suite engine --only chunks`). Recorded per run; a resumed run keeps its chunking
    """

    def __init__(self, device, precision: str = "fp32", channels_last: bool = False, compile: bool = False,
                 micro_batch: int | None = None):
        self.device, self.precision, self.channels_last, self.compile = device, precision, channels_last, compile
        self.micro_batch = micro_batch

    @classmethod
    def for_run(cls, ctx: dict, device, model=None) -> "Engine":
        conv = model is not None and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
        prec = ctx.get("precision", "auto")
        if prec == "auto":
            prec = "bf16" if device.type == "cuda" or (conv and provenance.cpu_bf16()) else "fp32"
        if prec not in ("fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {prec!r}")
        layout = ctx.get("channels_last", "auto")
        if layout == "auto":
            layout = device.type == "cuda" or (conv and prec == "bf16")
        if not isinstance(layout, bool):
            raise ValueError(f"channels_last must be auto, true or false, got {layout!r}")
        micro = ctx.get("micro_batch", "auto")
        if micro == "auto":
            micro = None if device.type == "cuda" else MICRO_BATCH_CPU
        if micro is not None and (not isinstance(micro, int) or isinstance(micro, bool) or micro < 1):
            raise ValueError(f"micro_batch must be auto, a whole number >= 1 or null, got {micro!r}")
        return cls(device, prec, channels_last=layout, compile=bool(ctx.get("compile")), micro_batch=micro)

    @property
    def layout(self) -> str:
        return "channels_last" if self.channels_last else "contiguous"

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def compiled(self, model):
        return torch.compile(model) if self.compile else model


@torch.no_grad()
def evaluate(model, x, y, mean, std, batch_size: int, engine: Engine | None = None) -> tuple[float, float]:
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    if engine is not None and engine.micro_batch:
        batch_size = min(batch_size, engine.micro_batch)
    for i in range(0, len(y), batch_size):
        xb = normalize(x[i:i + batch_size], mean, std)
        if engine is not None and engine.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with engine.autocast() if engine is not None else contextlib.nullcontext():
            out = model(xb)
        out = out.float()
        loss += F.cross_entropy(out, y[i:i + batch_size], reduction="sum")
        correct += (out.argmax(1) == y[i:i + batch_size]).sum()
    model.train()
    return loss.item() / len(y), correct.item() / len(y)


def load_data(recipe: dict, ctx: dict, device):
    """The dataset's splits as tensors on `device`, and the training images' channel statistics."""
    data_root = Path(ctx.get("data_root", "data"))
    cache_dir = Path(ctx.get("cache_dir") or data_root / "cache")
    data = DATASETS.build(recipe["dataset"], data_root, cache_dir, **recipe["dataset_args"])
    tr_idx, val_idx = split(len(data.train_y), recipe["val_fraction"], recipe["train_subset"])
    train = data.train_x[tr_idx].to(device), data.train_y[tr_idx].to(device)
    val = data.train_x[val_idx].to(device), data.train_y[val_idx].to(device)
    keep = test_subset(len(data.test_y), recipe.get("test_subset"))
    test = data.test_x[keep].to(device), data.test_y[keep].to(device)
    stats = tuple(t.to(device) for t in channel_stats(data.train_x[tr_idx]))
    return data, train, val, test, stats


def test_subset(n: int, k: int | None) -> torch.Tensor | slice:
    """The test images a run evaluates on: all, or k of them evenly strided over the set (the same
    for every run; data.tensors.strided). Not the first k: the first 2,000 CIFAR-10 test images of
    the class-sorted copy are classes 0 and 1 only (the first runs of stochastic_depth_cifar
    evaluated on those; they judge time, not accuracy)."""
    return strided(n, k)


TRAIN_EVAL_IMAGES = 10_000  # final_train_acc: at most this many training images, strided


def train_accuracy_set(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images final_train_acc is measured on (eval mode: no dropout, BN running
    statistics, no augmentation): all of them, or TRAIN_EVAL_IMAGES strided over the split. The
    logged per-epoch train_acc is the running accuracy of the training batches in train mode,
    which dropout and augmentation lower: it gives no honest train-test gap."""
    idx = test_subset(len(y), TRAIN_EVAL_IMAGES)
    return x[idx], y[idx]


def _accumulate(fwd, x, y, micro: int, engine: Engine, smoothing: float):
    """Forward and backward of a batch in chunks of `micro`, each chunk's loss weighted by its share
    of the batch: the gradient of the batch's mean loss (the caller zeroes the gradients first).
    Returns the batch's loss (detached) and its outputs."""
    loss, outs = torch.zeros((), device=x.device), []
    for xc, yc in zip(x.split(micro), y.split(micro)):
        with engine.autocast():
            oc = fwd(xc)
        lc = F.cross_entropy(oc.float(), yc, label_smoothing=smoothing) * (len(yc) / len(y))
        lc.backward()
        loss += lc.detach()
        outs.append(oc.detach())
    return loss, torch.cat(outs)


@torch.no_grad()
def test_at(model, state: dict, test) -> float:
    """test(model) with the weights (and BN statistics) of `state`, the model restored after."""
    now = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    try:
        return test(model)
    finally:
        model.load_state_dict(now)


def data_generator(seed: int) -> torch.Generator:
    """Epoch order and augmentation stream of a run (independent of the init stream)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + 1)




def learned(metrics: dict) -> dict:
    """A run's metrics without the wall-clock ones (what must match between equal runs)."""
    from trickbench.tricks import base   # train_s_per_epoch (tasks.ClassifyTask.core_timings) and the tricks' timings
    timings = {"train_s_per_epoch"} | {m for cls in base.classes() for m in cls.timings}
    return {k: v for k, v in metrics.items() if k not in timings}


def _steps(n: int, desc: str):
    """range(n), with a tqdm progress bar when the process writes to a terminal (a job's log gets
    the one line per epoch of progress_line instead)."""
    if not sys.stderr.isatty():
        return range(n)
    from tqdm import tqdm
    return tqdm(range(n), desc=desc, leave=False, unit="step")


def _eta(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"


def progress_line(run_dir: Path, row: dict, epochs: int, ctx: dict, images: int | None = None,
                  clock: str | None = None) -> str:
    """One line per epoch for the job's log: the time (UTC), where the run is, its numbers, the
    learning rate, its speed, and how long it and the job's remaining runs (ctx["job"]:
    {"runs": N, "index": k}, kept by run-arm) should take. `images`: training images per epoch."""
    per_epoch = row["wall_s"] / row["epoch"]
    left = (epochs - row["epoch"]) * per_epoch
    job = ctx.get("job") or {}
    later = max(0, job.get("runs", 0) - job.get("index", 0)) * epochs * per_epoch
    acc = " ".join(f"{k} {row[k]:.4f}" for k in ("val_acc", "test_acc") if k in row)
    where = f"run {job['index']}/{job['runs']} " if job else ""
    lr = f" lr {row['lr_now']:.3g}" if "lr_now" in row else ""
    speed = f", {images / per_epoch:.0f} img/s" if images and per_epoch > 0 else ""
    clock = clock if clock is not None else time.strftime("%H:%M:%S", time.gmtime())
    return (f"{clock} {run_dir.parent.parent.name}/{run_dir.name} {where}epoch {row['epoch']}/{epochs}: "
            f"train_loss {row['train_loss']:.4f} {acc}{lr} · {_secs(per_epoch)}/epoch{speed} · "
            f"ETA run {_eta(left)}" + (f", job ≈ {_eta(left + later)}" if job else ""))



@dataclass(kw_only=True)
class Run(Record, Trainer):
    """One single-seed run: what a trick's hooks see (tricks/base.py), and the trainer the one loop
    (driver.drive) drives. Built by _start; its Record fields (seed, history, best, outcome) are the
    loop's; _train_epoch is its steps."""
    recipe: dict
    model: Any
    device: Any
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    mean: Any
    std: Any
    x_val: Any = None
    y_val: Any = None
    ckpt_path: Path | None = None
    data: Any = None                    # the dataset's description and checksum
    ctx: dict = field(default_factory=dict)
    engine: Any = None
    gen: Any = None                     # the data generator: epoch order, augmentation
    accuracy: Callable | None = None    # accuracy(model, x, y) on the run's device and engine
    tricks: list = field(default_factory=list)    # the active tricks, in hook order
    fwd: Any = None                     # the (compiled) model's forward
    optimizer: Any = None
    schedule: Any = None
    steps_per_epoch: int = 1
    micro: int | None = None            # training chunk size, where the gradient is the same
    check: int = 1                      # steps between divergence checks
    spent: float = 0.0                  # training seconds (wall clock)
    cpu_spent: float = 0.0              # training CPU seconds of the process
    evaluated: float = 0.0              # evaluation seconds (test/validation, final metrics): not in `spent`

    state_keys = frozenset({"model", "optimizer", "schedule", "rng"})

    @property
    def records(self) -> list:
        return [self]

    def evaluate(self, x, y) -> tuple[float, float]:
        return evaluate(self.model, x, y, self.mean, self.std, self.recipe["eval_batch_size"], self.engine)

    # the Trainer interface (driver.py)
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "rng": _rng_state(self.gen),
                **{f"trick.{t.key}": t.state_dict() for t in self.tricks if t.state_dict()}}

    def load_state_dict(self, ck: dict) -> None:
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.schedule.load_state_dict(ck["schedule"])
        _set_rng_state(self.gen, ck["rng"])
        for t in self.tricks:  # each trick's own state (its generator, its snapshots)
            state = ck.get(f"trick.{t.key}", _legacy_trick_state(ck, t.key))
            if state:
                t.load_state_dict(state)

    def ready(self) -> None:
        # chunks of at most engine.micro_batch images where a batch is larger and the gradient the same
        mb = self.engine.micro_batch
        self.micro = mb if mb and self.recipe["batch_size"] > mb and chunkable(self.model, self.recipe) else None
        self.model.train()

    def train_epoch(self, epoch: int) -> dict[int, dict]:
        row = _train_epoch(self, epoch, self.check)
        return {} if row is None else {0: row}

    def evaluate_split(self, split: str) -> list:
        return [self.evaluate(*((self.x_test, self.y_test) if split == "test" else (self.x_val, self.y_val)))]

    def has_val(self) -> bool:
        return bool(len(self.y_val))

    def snapshot(self, i: int) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def test_snapshot(self, i: int, state) -> float:
        return test_at(self.model, state, lambda m: self.accuracy(m, self.x_test, self.y_test))

    def train_accuracy(self) -> list:
        return [self.evaluate(*train_accuracy_set(self.x_train, self.y_train))]

    def trick_metrics(self, i: int, metrics: dict) -> None:
        for t in self.tricks:
            t.final_metrics(self, metrics)

    def progress(self, epoch: int, rows: dict, ctx: dict) -> str:
        return progress_line(self.run_dir, rows[0], self.recipe["epochs"], ctx,
                             self.steps_per_epoch * self.recipe["batch_size"])


def _legacy_trick_state(ck: dict, key: str) -> dict | None:
    """A trick's state in a checkpoint written before tricks kept theirs under "trick.<key>"."""
    if key == "grad_noise" and "noise" in ck.get("rng", {}):
        return {"noise": ck["rng"]["noise"]}
    if key == "snapshots" and ck.get("snapshots"):
        return {"snapshots": ck["snapshots"]}
    return None


def _start(recipe: dict, seed: int, run_dir: Path, ctx: dict, device) -> Run:
    """Data, the model from the seed, the tricks' setup, the engine, optimizer and schedule."""
    data, (x_train, y_train), (x_val, y_val), (x_test, y_test), (mean, std) = load_data(recipe, ctx, device)
    torch.manual_seed(seed)
    model = MODELS.build(recipe["model"], data.shape, data.num_classes, **recipe["model_args"]).to(device)
    if ctx.get("perturb_init"):  # the canary's probe of how far a recipe amplifies float differences
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + ctx["perturb_init"])
    r = Run(recipe=recipe, seed=seed, run_dir=run_dir, ckpt_path=run_dir / "ckpt.pt", model=model, device=device,
            x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, mean=mean, std=std, x_val=x_val,
            y_val=y_val, data=data, tricks=tricks.for_recipe(recipe), ctx=ctx,
            # on a GPU a loss.item() per step stalls the pipeline: check divergence every `check`
            # steps (the step recorded is that of the check); on a CPU every step
            check=1 if device.type == "cpu" else int(ctx.get("check_every", 25)))
    for t in r.tricks:
        t.setup(r)
    r.engine = engine = Engine.for_run(ctx, device, model)
    if engine.channels_last:
        model.to(memory_format=torch.channels_last)
    r.fwd, r.gen = engine.compiled(model), data_generator(seed)
    r.accuracy = lambda m, x, y: evaluate(m, x, y, mean, std, recipe["eval_batch_size"], engine)[1]
    r.steps_per_epoch = max(1, len(y_train) // recipe["batch_size"])  # the last partial batch dropped
    r.optimizer = build_optimizer(param_groups(model, recipe), recipe)
    r.schedule = build_schedule(r.optimizer, recipe, r.steps_per_epoch * recipe["epochs"])
    return r


def _train_epoch(r: Run, epoch: int, check: int) -> dict | None:
    """One epoch of steps; its row of training metrics, or None when the loss diverged (r.outcome)."""
    recipe, bs, device, engine = r.recipe, r.recipe["batch_size"], r.device, r.engine
    smoothing = recipe.get("label_smoothing", 0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    order = next((o for t in r.tricks if (o := t.epoch_order(r, epoch)) is not None), None)
    order = (torch.randperm(len(r.y_train), generator=r.gen) if order is None else order).to(device)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for b in _steps(r.steps_per_epoch, f"epoch {epoch + 1}/{recipe['epochs']}"):
        idx = order[b * bs:(b + 1) * bs]
        x = normalize(augment(r.x_train[idx], recipe["augment"], r.gen, recipe.get("augment_pad", 4)), r.mean, r.std)
        if engine.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = r.y_train[idx]
        for t in r.tricks:
            x, y = t.before_forward(r, x, y)
        if r.micro:   # the batch's gradient accumulated over chunks (the same gradient: see chunkable)
            r.optimizer.zero_grad(set_to_none=False)
            loss, out = _accumulate(r.fwd, x, y, r.micro, engine, smoothing)
        else:
            with engine.autocast():
                out = r.fwd(x)
            loss = F.cross_entropy(out.float(), y, label_smoothing=smoothing)
        step = epoch * r.steps_per_epoch + b
        if r.first_loss is None:
            r.first_loss = loss.item()
        if (b + 1) % check == 0 or b + 1 == r.steps_per_epoch:
            lv = loss.item()
            if not math.isfinite(lv) or lv > recipe["diverge_factor"] * r.first_loss:
                r.outcome, r.diverged_at = "diverged", step
                break
        # zeros, not None: a block skipped by stochastic depth still gets weight decay and
        # momentum, as in the paper's Torch7 code (identical for every other model)
        extra = [e for t in r.tricks if (e := t.extra_loss(r)) is not None]   # a penalty
        if r.micro:
            if extra:
                functools.reduce(operator.add, extra).backward()
        else:
            r.optimizer.zero_grad(set_to_none=False)
            (functools.reduce(operator.add, extra, loss)).backward()
        for t in r.tricks:   # gradients: norm clipping, then AGC, then noise (Trick.order)
            t.after_backward(r, step)
        r.optimizer.step()
        for t in r.tricks:   # on the updated weights: max-norm
            t.after_step(r, step)
        r.schedule.step()
        loss_sum += loss.detach() * len(y)
        correct += (out.argmax(1) == y).sum()
        seen += len(y)
    loss_sum, correct = loss_sum.item(), correct.item()
    r.spent += time.perf_counter() - t0
    r.cpu_spent += time.process_time() - c0
    if r.outcome == "diverged":
        return None
    row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
           "lr_now": r.schedule.get_last_lr()[0], "wall_s": r.spent}
    if device.type == "cpu":
        row["cpu_s"] = r.cpu_spent
    for t in r.tricks:
        t.end_of_epoch(r, row)
    if hasattr(r.model, "skip_gains"):  # NF networks: how far the residual branches have opened
        row |= r.model.skip_gains()
    return row


def run(recipe: dict, seed: int, run_dir: Path, ctx: dict, meta: dict | None = None,
        stop_after_epoch: int | None = None) -> dict:
    """Train (or resume, or return the finished summary of) one run through the one loop
    (driver.drive), holding its lock (io.run_lock: a second process on the same run stops with the
    holder's name).

    `stop_after_epoch` ends the process's work after that epoch with the checkpoint in place,
    exactly as a kill would (used by the resume test); the returned summary has outcome 'stopped'.
    """
    run_dir = Path(run_dir)
    if (run_dir / "summary.json").exists():
        return io.read_json(run_dir / "summary.json")
    with locked([run_dir]):
        if (run_dir / "summary.json").exists():
            return io.read_json(run_dir / "summary.json")
        torch.set_num_threads(int(ctx.get("threads", 1)))
        device = resolve_device(ctx.get("device", "cpu"))
        r = _start(recipe, seed, run_dir, ctx, device)
        return drive(r, meta or {}, ctx, stop_after_epoch)[0]
