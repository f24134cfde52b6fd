"""Plans no one meant, refused before training (no torch): a rule on a metric that none of its arms
will write, and a plan far larger than asked for.

    check_metrics_written(cat)   every sub-claim's metric is one its arms' runs write at this tier
                                 (the task's own metrics, less the validation ones where val_fraction
                                 is 0, plus the metrics of the tricks active in the arm's recipe)
    estimate(cats, results)      the runs still to train and their cost at the measured cost of
                                 the same arm's (else the claim's) finished runs at the tier
    check_size(plan, ...)        refuses a plan over `plan_limit_runs` runs or `plan_limit_hours`
                                 hours unless `confirm_large` is set, the estimate in the message
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from trickbench.config import ConfigError
from trickbench.tasks import TASKS

VAL_METRICS = frozenset({"final_val_acc", "final_val_loss", "best_val_acc", "best_val_epoch", "test_acc_at_best_val"})


def metrics_written(task_name: str, recipe: dict) -> frozenset:
    """The metrics a run of `recipe` writes (a trick's when it is active in the recipe)."""
    task = TASKS.get(task_name)
    if task_name != "classify":
        return frozenset(task.metrics)
    from trickbench.tricks import base
    out = set(task.core_metrics)
    if not recipe.get("val_fraction"):
        out -= VAL_METRICS
    for cls in base.classes():
        if cls.active(recipe):
            out |= set(cls.metrics)
    return frozenset(out)


def _members(cat, name: str) -> list[str]:
    """The arms a rule's name stands for at this tier: a claim-file arm's members, or the member."""
    return cat.families().get(name) or ([name] if name in cat.arms else [])


def check_metrics_written(cat) -> None:
    """ConfigError naming the sub-claim, arm and metric where a rule asks an arm for a metric its
    runs will not write (it would train, then end 'no data')."""
    def need(name, metric, sid):
        for a in _members(cat, name):
            got = metrics_written(cat.claim["task"], cat.arms[a].recipe)
            if metric not in got:
                why = (" (a validation metric: this arm trains with val_fraction 0)" if metric in VAL_METRICS
                       else " (no trick in its recipe writes it)")
                raise ConfigError(f"claim {cat.id!r}, tier {cat.tier!r}: sub-claim {sid!r} needs {metric!r} of arm "
                                  f"{a!r}, whose runs never write it{why}: the rule would end 'no data' after "
                                  "training; fix the rule or the arm's recipe")
    for s in cat.claim["subclaims"]:
        rule, sid = s["rule"], s["id"]
        metric = rule.get("metric") or (rule.get("success") or {}).get("metric")
        if metric is None:
            continue
        for name in rule.get("arms", []):
            need(name, metric, sid)
        if "arm" in rule:
            need(rule["arm"], metric, sid)
        if "baseline" in rule:
            need(rule["baseline"], rule.get("baseline_metric", metric), sid)
    tuning = cat.claim.get("tuning")
    for family, members in cat.families().items():
        if tuning and len(members) > 1:
            need(family, tuning["metric"], f"tuning of {family}")


@dataclass
class Plan:
    runs: int = 0                 # runs to train
    hours: float = 0.0            # their estimated training hours (wall seconds of finished runs)
    unknown: int = 0              # runs with no finished run of their claim to estimate from
    claims: dict = field(default_factory=dict)   # claim -> (runs, hours)


def finished_runs(path: str | Path) -> list[dict]:
    """The run summaries of an arm's runs/<arm>.jsonl ([] when it does not exist), up to the first
    record that does not read or lacks config_hash and seed (analyse names it; here the runs after
    it count as missing). The Snakefile's planning reads arm files through this too."""
    out = []
    path = Path(path)
    if path.exists():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                if not isinstance(r, dict) or "config_hash" not in r or "seed" not in r:
                    break
            except ValueError:
                break
            out.append(r)
    return out


def estimate(cats: dict, results: str | Path) -> Plan:
    """Runs the config asks for that runs/<arm>.jsonl does not hold, and their cost: each at the
    mean wall_s of its claim-file arm's finished runs at the tier, else its claim's, else unknown."""
    plan = Plan()
    for cid, cat in cats.items():
        root = Path(results) / cat.tier / cid / "runs"
        done = {f: finished_runs(root / f"{f}.jsonl") for f in cat.families()}
        everything = [r for rs in done.values() for r in rs if r.get("wall_s")]
        n, h = 0, 0.0
        for family, members in cat.families().items():
            have = {(r.get("config_hash"), r.get("seed")) for r in done[family]}
            todo = sum((cat.arms[m].hash, s) not in have for m in members for s in cat.seeds_of(m))
            if cat.tuned_apart(family):   # the test seeds, at whichever member the tuning picks
                todo += sum(not any((cat.arms[m].hash, s) in have for m in members) for s in cat.seeds)
            base = [r["wall_s"] for r in done[family] if r.get("wall_s")] or [r["wall_s"] for r in everything]
            n += todo
            if base:
                h += todo * sum(base) / len(base) / 3600
            else:
                plan.unknown += todo
        plan.runs += n
        plan.hours += h
        plan.claims[cid] = (n, h)
    return plan


def check_size(plan: Plan, limit_runs: int, limit_hours: float, confirmed: bool) -> None:
    if confirmed or (plan.runs <= limit_runs and plan.hours <= limit_hours):
        return
    top = sorted(plan.claims.items(), key=lambda kv: (-kv[1][1], -kv[1][0]))[:3]
    where = ", ".join(f"{c}: {n:,} runs ≈ {h:,.1f} h" for c, (n, h) in top)
    unknown = f" (+ {plan.unknown:,} runs of claims with no finished run to measure)" if plan.unknown else ""
    raise ConfigError(f"this plan trains {plan.runs:,} runs, ≈ {plan.hours:,.1f} hours of training at the measured "
                      f"cost of finished runs{unknown}: over the limit of {limit_runs:,} runs or {limit_hours:,.0f} "
                      f"hours (plan_limit_runs, plan_limit_hours). Largest: {where}. If you mean it: "
                      "--config confirm_large=true")
