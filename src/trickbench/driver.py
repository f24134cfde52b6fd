"""The one training loop. Every run goes through `drive`: a single seed (train.Single, which tricks
see as the run) or a stack of seeds trained as one batched model (stacked.Stack). A trainer writes
only what it computes its own way (building its model, a training epoch's steps, an evaluation
pass, its checkpointed state); the loop around it is this module's, the same for both:

    start    the newest readable checkpoint (ckpt.pt, else ckpt.prev.pt; an unreadable one is moved
             aside to <name>.corrupt with a warning naming it), refused when it was trained for
             another recipe, precision or layout; else from scratch
    epoch    trainer.train_epoch (the steps; a seed whose loss diverged stops there, its step
             recorded), then validation after every epoch and the test set every `test_every`-th
             epoch and the last; each seed's best-validation epoch (its model kept, when that epoch
             was not tested, and tested once at the end)
    record   each seed's metrics.jsonl after every epoch, then the trainer's checkpoint, written
             atomically with the one before kept as <name>.prev.pt
    stop     `stop_after_epoch` or ctx["deadline"] ends the process with the checkpoint in place
             (outcome 'stopped'); past `max_seconds` of training per run the live seeds end as
             `timeout`
    finish   each seed's metrics (its history, the best-validation model's test accuracy, the
             training images in eval mode, every trick's) and summary.json (`summary`: one writer)

A Record is one seed's run as the loop keeps it; train.Run is the Record of a single run (with the
model and data the tricks' hooks see).
"""
from __future__ import annotations

import contextlib
import io as _io
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trickbench import io, provenance


@dataclass(kw_only=True)
class Record:
    """One seed's run: its recipe, history (the epochs' rows), best-validation epoch, outcome: what a
    trick's final_metrics sees of a seed of a stack (train.Run adds the model and data of a single run)."""
    seed: int
    recipe: dict = field(default_factory=dict)
    run_dir: Path | None = None
    history: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"val_acc": -1.0, "epoch": None, "test_acc": None})
    best_state: Any = None              # the best-validation model, when its epoch was not tested
    outcome: str = "ok"
    diverged_at: int | None = None
    first_loss: float | None = None

    @property
    def live(self) -> bool:
        return self.outcome == "ok"

    def state(self) -> dict:
        out = {"seed": self.seed, "history": self.history, "best": self.best, "outcome": self.outcome,
               "diverged_at": self.diverged_at, "first_loss": self.first_loss}
        return out | ({"best_state": self.best_state} if self.best_state is not None else {})

    def restore(self, st: dict) -> None:
        self.history, self.best, self.first_loss = st["history"], st["best"], st["first_loss"]
        self.outcome, self.diverged_at = st.get("outcome", "ok"), st.get("diverged_at")
        self.best_state = st.get("best_state")


class Trainer:
    """What `drive` needs of an engine (train.Single, stacked.Stack). Attributes: records (one per
    seed), recipe, engine (train.Engine: precision, layout, chunking), device, data (its
    description and checksum), ckpt_path, steps_per_epoch, micro (training chunk or None),
    stacked (a stack's summaries say so), spent / cpu_spent / evaluated (the trainer's training
    wall, training CPU and evaluation seconds, for all its seeds), state_keys (what its
    checkpointed state must hold)."""
    stacked = False
    state_keys: frozenset = frozenset()

    def state_dict(self) -> dict: raise NotImplementedError                         # model(s), optimizer, RNGs
    def load_state_dict(self, ck: dict) -> None: raise NotImplementedError
    def ready(self) -> None: ...                                                     # after a resume, before epoch 1
    def train_epoch(self, epoch: int) -> dict[int, dict]: raise NotImplementedError  # rows of the seeds still live
    def evaluate_split(self, split: str) -> list: raise NotImplementedError          # [(loss, acc)] per seed
    def has_val(self) -> bool: raise NotImplementedError
    def snapshot(self, i: int): raise NotImplementedError                            # seed i's model now
    def test_snapshot(self, i: int, state) -> float: raise NotImplementedError       # its test accuracy
    def train_accuracy(self) -> list: raise NotImplementedError                      # [(loss, acc)] eval mode
    def trick_metrics(self, i: int, metrics: dict) -> None: ...
    def progress(self, epoch: int, rows: dict, ctx: dict) -> str: raise NotImplementedError


# ---- checkpoints ----------------------------------------------------------------------------

def previous(path: Path) -> Path:
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically, keeping the one before as <name>.prev.pt: a checkpoint damaged after its
    write (a full disk, a bad copy) still leaves the epoch before it to resume from."""
    buf = _io.BytesIO()
    torch.save(state, buf)
    if path.exists():
        path.replace(previous(path))
    io.atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, required=frozenset()) -> dict | None:
    """The newest readable checkpoint: `path`, else its .prev, else None (start from scratch). An
    unreadable one (or one without the keys `required`, config_hash, epoch and a history) is moved
    aside to <name>.corrupt with a warning that names it."""
    for candidate in (path, previous(path)):
        if not candidate.exists():
            continue
        try:
            # on the CPU: generator states must be CPU byte tensors (a GPU run's resume failed with
            # map_location=cuda); load_state_dict moves weights and optimizer state to the device
            ck = torch.load(candidate, weights_only=True, map_location="cpu")
            if not {"config_hash", "epoch", *required} <= set(ck) or not {"records", "history", "histories"} & set(ck):
                raise KeyError("missing keys")
            return ck
        except Exception as e:  # noqa: BLE001 (truncated zip, not a torch file, an old layout)
            bad = candidate.with_name(candidate.name + ".corrupt")
            candidate.replace(bad)
            fallback = "the checkpoint before it" if candidate == path and previous(path).exists() else "scratch"
            warnings.warn(f"checkpoint {candidate} is unreadable ({type(e).__name__}: {e}); moved to {bad}, "
                          f"resuming from {fallback}", stacklevel=2)
    return None


def records_state(ck: dict) -> list[dict]:
    """Each seed's state in a checkpoint; those written before this loop was one kept a single
    run's at the top level, a stack's as parallel lists."""
    if "records" in ck:
        return ck["records"]
    if "histories" in ck:   # stacked.py before the one loop
        return [{"history": h, "first_loss": f, "outcome": o, "diverged_at": d, "best": b}
                for h, f, o, d, b in zip(ck["histories"], ck["first"], ck["outcome"], ck["diverged_at"], ck["best"])]
    return [{"history": ck["history"], "first_loss": ck["first_loss"], "best": ck["best"],
             "best_state": ck.get("best_state")}]


def check_resumable(ck: dict, path: Path, config_hash, engine, device) -> None:
    """A checkpoint resumes only the recipe, precision and layout it was trained in."""
    if ck["config_hash"] != config_hash:
        raise RuntimeError(f"{path} belongs to another recipe ({ck['config_hash']}); remove it to restart")
    if ck.get("precision", engine.precision) != engine.precision:  # a run never mixes precisions
        raise RuntimeError(f"{path} was trained in {ck['precision']}, this process runs {engine.precision}: "
                           f"resume with --precision {ck['precision']} (config precision={ck['precision']}), "
                           "or remove it to restart")
    # nor layouts (checkpoints from before layouts were recorded: channels_last on CUDA only)
    was = ck.get("layout", "channels_last" if device.type == "cuda" else "contiguous")
    if was != engine.layout:
        flag = "true" if was == "channels_last" else "false"
        raise RuntimeError(f"{path} was trained in layout {was}, this process uses {engine.layout}: resume "
                           f"with --channels-last {flag} (config channels_last={flag}), or remove it to restart")


def machines(ck: dict | None, trained: bool, epoch0: int, device) -> list[dict]:
    """The machines a run trained on, from the epoch each took over (a run resumed in a later
    session may land on another CPU: its provenance names the last; this names them all)."""
    here = {k: v for k, v in provenance.device_info(device.type).items() if k in ("cpu", "cpu_bf16", "gpu")}
    out = list((ck or {}).get("machines") or [])
    if trained and not out:   # a checkpoint from before machines were recorded
        out = [{"cpu": "not recorded", "from_epoch": 1}]
    if not out or {k: v for k, v in out[-1].items() if k != "from_epoch"} != here:
        out.append({**here, "from_epoch": epoch0 + 1})
    return out


# ---- metrics ---------------------------------------------------------------------------------

def test_due(epoch: int, epochs: int, every: int) -> bool:
    """Whether the test set is evaluated after `epoch` (1-based): every `every`-th epoch and the
    last. Validation, which picks the best epoch, runs after every epoch; the best-validation
    model is tested once at the end when its epoch was not tested (recipe `test_every`)."""
    return epoch % every == 0 or epoch == epochs


def median_epoch_s(history: list[dict], key: str = "wall_s") -> float:
    """Median training seconds per epoch (the first epoch left out when there are others: it
    pays one-off costs such as allocator warm-up or compilation). On a CPU the run records the
    process's CPU seconds (`cpu_s`; one thread per job), which other jobs sharing the cores barely
    move; on a GPU, wall-clock seconds with the device synchronised at the epoch's end."""
    walls = [h[key] for h in history]
    per = [b - a for a, b in zip([0.0] + walls, walls)]
    return statistics.median(per[1:] or per)


def final_metrics(history: list[dict], best: dict) -> dict:
    """A run's summary metrics from its per-epoch history (empty if it never finished an epoch);
    tricks add theirs in their final_metrics hook."""
    if not history:
        return {}
    last = history[-1]
    tested = [h["test_acc"] for h in history if "test_acc" in h]  # recipe test_every: not every epoch
    metrics = {"final_train_loss": last["train_loss"], "min_train_loss": min(h["train_loss"] for h in history),
               "first_epoch_train_loss": history[0]["train_loss"],
               "epochs_done": len(history), "train_s_per_epoch": median_epoch_s(history)}
    if "test_acc" in last:  # a run stopped early (timeout) between tested epochs has no final test
        metrics |= {"final_test_acc": last["test_acc"], "final_test_error": 1 - last["test_acc"]}
    if tested:
        metrics["best_test_acc"] = max(tested)
    if "test_acc" in history[0]:
        metrics["first_epoch_test_acc"] = history[0]["test_acc"]
    if "cpu_s" in last:  # recorded on CPU devices only
        metrics["train_s_per_epoch"] = median_epoch_s(history, "cpu_s")
    if best["epoch"] is not None:
        metrics |= {"final_val_acc": last["val_acc"], "final_val_loss": last["val_loss"],
                    "best_val_acc": best["val_acc"], "best_val_epoch": best["epoch"],
                    "test_acc_at_best_val": best["test_acc"]}
    return metrics


def summary(t: Trainer, rec: Record, meta: dict, metrics: dict, where: list[dict]) -> dict:
    """A run's summary.json: every run's has these keys (a stack's also `stacked_runs`); each seed
    of a stack is charged its share of the stack's time."""
    n = len(t.records)
    wall = t.spent / n
    images = t.steps_per_epoch * t.recipe["batch_size"]
    return {**meta, "seed": rec.seed, "recipe": t.recipe, "outcome": rec.outcome, "diverged_at": rec.diverged_at,
            "metrics": metrics, "wall_s": wall, "eval_s": t.evaluated / n,
            **({"stacked_runs": n} if t.stacked else {}),
            "images_per_s": images * len(rec.history) / wall if wall else None,
            "machines": where, "micro_batch": t.engine.micro_batch, "train_chunk": t.micro,
            "precision": t.engine.precision, "layout": t.engine.layout, "compile": t.engine.compile,
            "dataset": t.data.description, "dataset_sha256": t.data.sha256,
            "provenance": provenance.record(str(t.device))}


# ---- the loop ----------------------------------------------------------------------------------

@contextlib.contextmanager
def locked(run_dirs):
    """Every run's lock (io.run_lock: a second process on one of them stops naming the holder)."""
    with contextlib.ExitStack() as stack:
        for d in run_dirs:
            stack.enter_context(io.run_lock(d))
        yield


def _evaluate_epoch(t: Trainer, rows: dict[int, dict]) -> None:
    """Test (when due) and validation into the live seeds' rows; each seed's best epoch."""
    t0 = time.perf_counter()
    epoch = next(iter(rows.values()))["epoch"]
    if test_due(epoch, t.recipe["epochs"], int(t.recipe.get("test_every", 1))):
        res = t.evaluate_split("test")
        for i, row in rows.items():
            row["test_loss"], row["test_acc"] = res[i]
    if t.has_val():
        res = t.evaluate_split("val")
        for i, row in rows.items():
            rec = t.records[i]
            row["val_loss"], row["val_acc"] = res[i]
            if row["val_acc"] > rec.best["val_acc"]:
                rec.best = {"val_acc": row["val_acc"], "epoch": row["epoch"], "test_acc": row.get("test_acc")}
                # an untested best epoch (test_every > 1): its model is tested once at the end
                rec.best_state = None if "test_acc" in row else t.snapshot(i)
    t.evaluated += time.perf_counter() - t0


def _checkpoint(t: Trainer, epoch: int, config_hash, where: list[dict]) -> dict:
    return {"config_hash": config_hash, "epoch": epoch, "records": [r.state() for r in t.records],
            "wall_s": t.spent, "cpu_s": t.cpu_spent, "eval_s": t.evaluated, "machines": where,
            "precision": t.engine.precision, "layout": t.engine.layout, "micro_batch": t.engine.micro_batch,
            **t.state_dict()}


def _resume(t: Trainer, ck: dict) -> int:
    """The checkpoint's state into the trainer and its records; the epochs done."""
    t.engine.micro_batch = ck.get("micro_batch")   # as it started (checkpoints before it: none)
    t.load_state_dict(ck)
    for rec, st in zip(t.records, records_state(ck)):
        rec.restore(st)
    t.spent, t.evaluated = ck["wall_s"], ck.get("eval_s", 0.0)
    last = t.records[0].history[-1] if t.records[0].history else {}
    t.cpu_spent = ck.get("cpu_s", last.get("cpu_s", 0.0))   # a single run's before the one loop: its last row
    return ck["epoch"]


def _finish(t: Trainer, meta: dict, where: list[dict]) -> list[dict]:
    """Each seed's final metrics and summary.json; the checkpoint removed (the summary and
    metrics are the record)."""
    out = []
    for i, rec in enumerate(t.records):
        t0 = time.perf_counter()
        if rec.best["epoch"] is not None and rec.best["test_acc"] is None and rec.best_state is not None:
            rec.best["test_acc"] = t.test_snapshot(i, rec.best_state)
        metrics = final_metrics(rec.history, rec.best)
        if rec.outcome == "ok" and rec.history:
            metrics["final_train_loss_eval"], metrics["final_train_acc"] = t.train_accuracy()[i]
            metrics["generalization_gap"] = metrics["final_train_acc"] - metrics["final_test_acc"]
        t.trick_metrics(i, metrics)
        t.evaluated += time.perf_counter() - t0
        out.append((rec, metrics))
    summaries = []
    for rec, metrics in out:
        # a run diverged in epoch 1 too; the summary keeps its metrics file's checksum (analyse checks it)
        summaries.append(io.write_run(rec.run_dir, summary(t, rec, meta, metrics, where), rec.history))
    t.ckpt_path.unlink(missing_ok=True)
    previous(t.ckpt_path).unlink(missing_ok=True)
    return summaries


def drive(t: Trainer, meta: dict, ctx: dict, stop_after_epoch: int | None = None) -> list[dict]:
    """Train (or resume) the trainer's seeds to their summaries, in the trainer's order. With
    `stop_after_epoch`, or past ctx["deadline"] at an epoch's end, the process stops with the
    checkpoint in place, exactly as a kill would: each seed's summary is then
    {"outcome": "stopped", "epoch": k}."""
    ck = load_checkpoint(t.ckpt_path, t.state_keys)
    epoch0 = 0
    if ck is not None:
        check_resumable(ck, t.ckpt_path, meta.get("config_hash"), t.engine, t.device)
        epoch0 = _resume(t, ck)
    where = machines(ck, any(r.history for r in t.records), epoch0, t.device)
    t.ready()
    epochs = t.recipe["epochs"]
    for epoch in range(epoch0, epochs):
        if not any(r.live for r in t.records):
            break
        rows = t.train_epoch(epoch)
        if not rows:   # every seed diverged: a result, recorded with the epochs before
            break
        _evaluate_epoch(t, rows)
        for i, row in rows.items():
            rec = t.records[i]
            rec.history.append(row)
            io.write_jsonl(Path(rec.run_dir) / "metrics.jsonl", rec.history)
        print(t.progress(epoch + 1, rows, ctx), flush=True)
        save_checkpoint(t.ckpt_path, _checkpoint(t, epoch + 1, meta.get("config_hash"), where))
        last = epoch + 1 == epochs
        if not last and ((stop_after_epoch is not None and epoch + 1 >= stop_after_epoch)
                         or (ctx.get("deadline") and time.time() > ctx["deadline"])):
            return [{"outcome": "stopped", "epoch": epoch + 1} for _ in t.records]   # the checkpoint resumes
        if t.recipe["max_seconds"] and t.spent / len(t.records) > t.recipe["max_seconds"]:
            for r in t.records:
                if r.live:
                    r.outcome = "timeout"
            break
    return _finish(t, meta, where)
