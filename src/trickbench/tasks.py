"""Tasks: the engines that run a claim's arms. A claim names one in `task:`.

Each task declares its recipe defaults, checks a resolved recipe (names against the registries,
keys it needs) without importing torch, and runs all seeds of one arm in one process
(start-up of Python + torch costs seconds; a job per seed would spend the quick tier starting up).
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

from trickbench import io, provenance
from trickbench.registry import Registry

TASKS = Registry("task")


def run_dir(root: Path, arm, seed: int) -> Path:
    """results/<tier>/<claim>/runs/<arm>/<config hash>/seed<k>: a changed recipe never reuses old runs."""
    return Path(root) / arm.name / arm.hash / f"seed{seed}"


def _require(recipe: dict, keys, where: str) -> None:
    missing = [k for k in keys if k not in recipe]
    if missing:
        raise KeyError(f"{where}: recipe is missing {', '.join(missing)}")


def _write_stacked_runs(claim_id, tier, arm, root, todo, wall: float, curve, final, diverged_at) -> None:
    """Summaries and curves of seeds integrated together in one numpy/torch pass (the synthetic
    tasks): curve(j) -> the j-th seed's logged rows, final(j) -> its metrics, diverged_at(j) ->
    its divergence step or None. Each seed gets its share of the time; no separate evaluation (eval_s 0).
    Written as every run is (io.write_run: metrics.jsonl, then summary.json with its checksum)."""
    prov = provenance.record("cpu")
    for j, seed in enumerate(todo):
        step = diverged_at(j)
        io.write_run(run_dir(root, arm, seed), {
            "claim": claim_id, "tier": tier, "arm": arm.name, "seed": seed, "config_hash": arm.hash,
            "recipe": arm.recipe, "outcome": "diverged" if step is not None else "ok", "diverged_at": step,
            "metrics": final(j), "wall_s": wall / len(todo), "eval_s": 0.0, "stacked_runs": len(todo),
            "steps_per_s": arm.recipe["steps"] * len(todo) / wall, "precision": "fp64", "provenance": prov,
        }, curve(j))


class OnlineTask:
    """Synthetic online convex problems (trickbench.online); numpy only."""
    defaults = {"lr_schedule": "inv_sqrt", "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "x0": 0.0,
                "domain": [-1.0, 1.0], "log_points": 200, "problem_args": {}}
    required = ("problem", "optimizer", "lr", "steps")
    metrics = frozenset({"final_x", "final_avg_regret"})   # what online.run_online's "final" holds

    def check(self, recipe: dict, where: str) -> None:
        from trickbench import online
        _require(recipe, self.required, where)
        online.PROBLEMS.check(recipe["problem"], f"{where}: problem")
        online.OPTIMIZERS.check(recipe["optimizer"], f"{where}: optimizer")
        if recipe["lr_schedule"] not in ("inv_sqrt", "constant"):
            raise ValueError(f"{where}: lr_schedule {recipe['lr_schedule']!r} must be inv_sqrt or constant")
        lo, hi = recipe["domain"]
        if not lo < hi:
            raise ValueError(f"{where}: domain {recipe['domain']} must be [low, high] with low < high")

    def run_arm(self, claim_id, tier, arm, seeds, root, ctx) -> list[dict]:
        from trickbench import online
        todo = [s for s in seeds if not (run_dir(root, arm, s) / "summary.json").exists()]
        if todo:
            t0 = time.perf_counter()
            out = online.run_online(arm.recipe, todo)
            c = out["curve"]
            _write_stacked_runs(
                claim_id, tier, arm, root, todo, time.perf_counter() - t0,
                lambda j: ({"t": int(t), "x": float(c["x"][i, j]), "avg_regret": float(c["avg_regret"][i, j])}
                           for i, t in enumerate(c["t"])),
                lambda j: {k: float(v[j]) for k, v in out["final"].items()}, lambda j: None)
        return [io.read_json(run_dir(root, arm, s) / "summary.json") for s in seeds]


class QuadraticTask:
    """Optimizers on the lecture's ill-conditioned 2-D quadratic (trickbench.quadratic): torch.optim
    in float64, all seeds of an arm stacked in one [seeds, 2] parameter."""
    defaults = {"lr_schedule": "constant", "schedule_args": {}, "momentum": 0.0, "beta1": 0.9, "beta2": 0.999,
                "eps": 1e-8, "weight_decay": 0.0, "problem_args": {}}
    required = ("optimizer", "lr", "steps")
    metrics = frozenset({"steps_to_target", "final_loss_ratio", "log10_final_loss_ratio"})

    def check(self, recipe: dict, where: str) -> None:
        from trickbench import quadratic
        from trickbench.optim import OPTIMIZERS, SCHEDULES
        _require(recipe, self.required, where)
        OPTIMIZERS.check(recipe["optimizer"], f"{where}: optimizer")
        SCHEDULES.check(recipe["lr_schedule"], f"{where}: lr_schedule")
        try:
            quadratic.problem(recipe["problem_args"])
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None

    def run_arm(self, claim_id, tier, arm, seeds, root, ctx) -> list[dict]:
        from trickbench import quadratic
        todo = [s for s in seeds if not (run_dir(root, arm, s) / "summary.json").exists()]
        if todo:
            t0 = time.perf_counter()
            out = quadratic.run(arm.recipe, todo)
            path, ratio, fin = out["path"], out["ratio"], out["final"]
            _write_stacked_runs(
                claim_id, tier, arm, root, todo, time.perf_counter() - t0,
                lambda j: ({"t": t, "w1": float(path[t, j, 0]), "w2": float(path[t, j, 1]),
                            "loss_ratio": float(ratio[t, j])} for t in range(len(ratio))),
                lambda j: {k: v[j] for k, v in fin.items() if k != "diverged_at"}, lambda j: fin["diverged_at"][j])
        return [io.read_json(run_dir(root, arm, s) / "summary.json") for s in seeds]


class ClassifyTask:
    """Networks trained on datasets (trickbench.train); torch is imported only to run."""
    defaults = {"lr_schedule": "constant", "schedule_args": {}, "momentum": 0.0, "nesterov": False,
                "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "dataset_args": {},
                "model_args": {}, "eval_batch_size": 1024, "augment": "none", "val_fraction": 0.0,
                "train_subset": None, "clip_grad_norm": None, "diverge_factor": 1e3, "max_seconds": None}
    required = ("dataset", "model", "optimizer", "lr", "epochs", "batch_size")
    # what train.run writes itself (tests/test_train.py checks it): the *_val_* ones and
    # test_acc_at_best_val need val_fraction > 0; each trick declares its own (Trick.metrics)
    core_metrics = frozenset({"final_test_acc", "final_test_error", "best_test_acc", "final_train_loss",
                              "min_train_loss", "epochs_done", "train_s_per_epoch", "final_val_acc", "final_val_loss",
                              "best_val_acc", "best_val_epoch", "test_acc_at_best_val", "final_train_acc",
                              "final_train_loss_eval", "generalization_gap", "first_epoch_train_loss",
                              "first_epoch_test_acc"})

    # units of what train.run writes (and of its per-epoch rows, which regime checks read); plain otherwise
    core_units = {**{m: "pp" for m in core_metrics if "acc" in m}, "generalization_gap": "pp",
                  "train_s_per_epoch": "s", "train_acc": "pp", "val_acc": "pp", "test_acc": "pp"}
    core_timings = frozenset({"train_s_per_epoch"})

    @property
    def metrics(self) -> frozenset:
        from trickbench.tricks import base
        return self.core_metrics | {m for cls in base.classes() for m in cls.metrics}

    @property
    def units(self) -> dict[str, str]:
        from trickbench.tricks import base
        return {**self.core_units, **{m: u for cls in base.classes() for m, u in cls.units.items()}}

    @property
    def timings(self) -> frozenset:
        from trickbench.tricks import base
        return self.core_timings | {m for cls in base.classes() for m in cls.timings}

    def check(self, recipe: dict, where: str) -> None:
        from trickbench.data import DATASETS
        from trickbench.models import MODELS
        from trickbench.optim import OPTIMIZERS, SCHEDULES
        from trickbench.tricks import base
        _require(recipe, self.required, where)
        DATASETS.check(recipe["dataset"], f"{where}: dataset")
        MODELS.check(recipe["model"], f"{where}: model")
        OPTIMIZERS.check(recipe["optimizer"], f"{where}: optimizer")
        SCHEDULES.check(recipe["lr_schedule"], f"{where}: lr_schedule")
        ramp = recipe.get("momentum_ramp")
        if ramp is not None:
            if recipe["optimizer"] not in ("sgd", "nesterov"):
                raise ValueError(f"{where}: momentum_ramp needs a momentum optimizer (sgd or nesterov), not {recipe['optimizer']!r}")
            # a ramp longer than the run (a smoke tier's 2 epochs) stops part of the way up
            if not isinstance(ramp, dict) or set(ramp) != {"start", "end", "epochs"} or not 0 <= ramp["start"] < 1 \
                    or not 0 <= ramp["end"] < 1 or not ramp["epochs"] > 0:
                raise ValueError(f"{where}: momentum_ramp must be {{start, end: momentum in [0, 1), epochs: > 0}}, "
                                 f"not {ramp!r}")
        te = recipe.get("test_every", 1)
        if not isinstance(te, int) or isinstance(te, bool) or te < 1:
            raise ValueError(f"{where}: test_every must be a whole number of epochs >= 1, not {te!r}")
        for cls in base.classes():   # each trick validates its own spec (tricks/base.py)
            if not base.absent(recipe.get(cls.key)):
                cls.check(recipe[cls.key], recipe, where)

    def run_arm(self, claim_id, tier, arm, seeds, root, ctx) -> list[dict]:
        from trickbench import stacked, train
        meta = {"claim": claim_id, "tier": tier, "arm": arm.name, "config_hash": arm.hash}
        todo = [s for s in seeds if not (run_dir(root, arm, s) / "summary.json").exists()]
        if ctx.get("stack") and len(todo) > 1 and stacked.supports(arm.recipe):
            # all pending seeds in one stacked model (same metrics to float tolerance, far fewer ops)
            out = stacked.run_stacked(arm.recipe, todo, [run_dir(root, arm, s) for s in todo], ctx, meta)
            if out and out[0]["outcome"] == "stopped":   # a deadline: the stack's checkpoint resumes, not seed by seed
                return [io.read_json(run_dir(root, arm, s) / "summary.json") if s not in todo else out[todo.index(s)]
                        for s in seeds]
        out = []
        for seed in seeds:
            if "job" in ctx and not (run_dir(root, arm, seed) / "summary.json").exists():
                ctx["job"]["index"] += 1   # for the per-epoch progress line's job ETA
            out.append(train.run(arm.recipe, seed, run_dir(root, arm, seed), ctx, meta))
        return out


def best_member(members: list[str], runs: list[dict], tuning: dict) -> str | None:
    """The grid member with the best mean tuning metric (a validation metric) over its ok runs,
    from run summaries ({arm, outcome, metrics}). A member with a diverged or timed-out run ranks
    below every member whose runs all finished (a setting that blows up on some seed is not the
    tuned one); ties go to the first member in grid order; None when no member has an ok run."""
    sign = 1 if tuning["direction"] == "greater" else -1
    scores = {}
    for m in members:
        mine = [r for r in runs if r["arm"] == m]
        vals = [r["metrics"][tuning["metric"]] for r in mine
                if r["outcome"] == "ok" and r["metrics"].get(tuning["metric"]) is not None]
        if vals:
            scores[m] = (all(r["outcome"] == "ok" for r in mine), sign * sum(vals) / len(vals))
    return max(scores, key=scores.get) if scores else None  # max keeps the first of equals


def run_family(cat, family: str, root: Path, ctx: dict, seeds: list[int] | None = None) -> list[dict]:
    """Train one claim-file arm at its tier (every grid member; `seeds`: only these test seeds)
    and return its run summaries. A grid tuned apart (cat.tuned_apart) trains its tuning seeds at
    every member, picks the member (best_member), and trains the test seeds there only;
    runs stopped by a deadline leave the pick to the next call."""
    task, members = TASKS.get(cat.claim["task"]), cat.families()[family]
    seeds = cat.seeds if seeds is None else seeds
    apart = cat.tuned_apart(family)
    todo = [(m, s) for m in members for s in (cat.seeds_of(m) if apart else [s for s in cat.seeds_of(m) if s in seeds])]
    ctx["job"] = {"index": 0, "runs": sum(not (run_dir(root, cat.arms[m], s) / "summary.json").exists() for m, s in todo)}
    summaries = []
    for m in members:  # a grid arm: every member, one process
        summaries += task.run_arm(cat.id, cat.tier, cat.arms[m], [s for mm, s in todo if mm == m], root, ctx)
    if not apart or any(s["outcome"] == "stopped" for s in summaries):
        return summaries
    best = best_member(members, summaries, cat.claim["tuning"])
    if best is None:
        raise RuntimeError(f"{cat.id}/{family}: no tuning run finished, so no member can be picked for the test seeds")
    print(f"{cat.id}/{family}: tuning seeds {cat.tune_seeds} pick {best} ({cat.claim['tuning']['metric']}); "
          f"training the test seeds {seeds} there", flush=True)
    ctx["job"] = {"index": 0, "runs": sum(not (run_dir(root, cat.arms[best], s) / "summary.json").exists() for s in seeds)}
    return summaries + task.run_arm(cat.id, cat.tier, cat.arms[best], seeds, root, ctx)


def metric_unit(metric: str) -> str:
    """'pp' (a share), 's' (seconds) or '' (a plain number), as the task or trick that writes the
    metric declares it (ClassifyTask.core_units, Trick.units)."""
    return _declared(_trick_names())[0].get(metric, "")


def timing_metrics() -> frozenset:
    """Every declared timing metric (ClassifyTask.core_timings, Trick.timings)."""
    return _declared(_trick_names())[1]


def _trick_names() -> tuple[str, ...]:
    from trickbench.tricks import base
    base.load_all()
    return tuple(base.TRICKS.names())


@functools.cache
def _declared(tricks: tuple[str, ...]) -> tuple[dict, frozenset]:
    """Every task's metric units and timings, read once per set of tricks (a test may add one)."""
    tasks = [TASKS.get(n) for n in TASKS.names()]
    units = {m: u for t in tasks for m, u in getattr(t, "units", {}).items()}
    return units, frozenset().union(*(getattr(t, "timings", frozenset()) for t in tasks))


TASKS.register("online")(OnlineTask())
TASKS.register("classify")(ClassifyTask())
TASKS.register("quadratic")(QuadraticTask())
