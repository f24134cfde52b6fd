"""Decision rules: runs -> a verdict, by the rule a claim file declares. No torch, no pandas.

Every rule reduces to an effect `e` signed so that a positive value is the claim's direction,
with a bootstrap interval [lo, hi] over seeds, compared with the claim's `min_effect`:

    replicated      lo >  min_effect   (the interval lies beyond the claimed effect)
    not replicated  hi <= min_effect   (the interval excludes the claimed effect)
    inconclusive    otherwise          (the interval straddles it: more seeds needed)

compare   : e = sign * (metric[arm, seed] - metric[baseline, seed]), paired over seeds that are
            `ok` in both arms; sign = -1 when the claim is that the arm is `less`.
threshold : e = sign * (metric[arm, seed] - value).

equivalence (TOST): d = metric[arm, seed] - metric[baseline, seed], paired; with the interval at
the rule's confidence (declare 0.90 for TOST at alpha = 0.05):
    equivalent      -margin < lo and hi < margin
    not equivalent  lo >= margin or hi <= -margin   (the whole interval lies outside)
    inconclusive    otherwise

A rule may name a grid arm: `selected` maps it to its tuned member (see analyse.select_tuned).
"""
from __future__ import annotations

from trickbench.stats import bootstrap_mean_ci
from trickbench.registry import Registry

RULES = Registry("decision rule")
REPLICATED, NOT_REPLICATED, INCONCLUSIVE, NO_DATA = "replicated", "not replicated", "inconclusive", "no data"
EQUIVALENT, NOT_EQUIVALENT = "equivalent", "not equivalent"


def _ok_values(runs: list[dict], arm: str, metric: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][metric] for r in runs
            if r["arm"] == arm and r["outcome"] == "ok" and metric in r["metrics"]}


def _decide(effects: list[float], rule: dict, extra: dict) -> dict:
    n_total = extra.pop("n_total")
    if not effects:
        return {"verdict": NO_DATA, "n": 0, "n_total": n_total, **extra}
    mean, lo, hi = bootstrap_mean_ci(effects, rule.get("confidence", 0.95))
    m = rule.get("min_effect", 0.0)
    verdict = REPLICATED if lo > m else NOT_REPLICATED if hi <= m else INCONCLUSIVE
    return {"verdict": verdict, "effect": mean, "ci_low": lo, "ci_high": hi, "n": len(effects),
            "n_total": n_total, "no_spread": len(set(effects)) == 1,  # every seed gave the same effect (or n = 1)
            **extra}


def _paired(runs, rule):
    a = _ok_values(runs, rule["arm"], rule["metric"])
    b = _ok_values(runs, rule["baseline"], rule["metric"])
    seeds = sorted(set(a) & set(b))
    n_total = len({r["seed"] for r in runs if r["arm"] in (rule["arm"], rule["baseline"])})
    return a, b, seeds, n_total


def _sign(rule):
    return -1.0 if rule["direction"] == "less" else 1.0


@RULES.register("compare")
def compare(runs: list[dict], rule: dict) -> dict:
    a, b, seeds, n_total = _paired(runs, rule)
    s = _sign(rule)
    effects = [s * (a[k] - b[k]) for k in seeds]
    return _decide(effects, rule, {"n_total": n_total,
                                   "arm_mean": _mean([a[k] for k in seeds]),
                                   "baseline_mean": _mean([b[k] for k in seeds])})


@RULES.register("threshold")
def threshold(runs: list[dict], rule: dict) -> dict:
    a = _ok_values(runs, rule["arm"], rule["metric"])
    n_total = len([r for r in runs if r["arm"] == rule["arm"]])
    s = _sign(rule)
    effects = [s * (v - rule["value"]) for v in a.values()]
    return _decide(effects, rule, {"n_total": n_total, "arm_mean": _mean(list(a.values()))})


@RULES.register("equivalence")
def equivalence(runs: list[dict], rule: dict) -> dict:
    a, b, seeds, n_total = _paired(runs, rule)
    extra = {"n_total": n_total, "arm_mean": _mean([a[k] for k in seeds]), "baseline_mean": _mean([b[k] for k in seeds])}
    d = [a[k] - b[k] for k in seeds]
    if not d:
        return {"verdict": NO_DATA, "n": 0, **extra}
    mean, lo, hi = bootstrap_mean_ci(d, rule.get("confidence", 0.90))
    m = rule["margin"]
    v = EQUIVALENT if -m < lo and hi < m else NOT_EQUIVALENT if lo >= m or hi <= -m else INCONCLUSIVE
    return {"verdict": v, "effect": mean, "ci_low": lo, "ci_high": hi, "n": len(d), "no_spread": len(set(d)) == 1, **extra}


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def evaluate(subclaim: dict, runs: list[dict], selected: dict | None = None) -> dict:
    """Apply the sub-claim's rule; grid arms named in it are replaced by their tuned member."""
    rule = dict(subclaim["rule"])
    for k in ("arm", "baseline"):
        if k in rule and selected and rule[k] in selected:
            rule[k] = selected[rule[k]]
    out = RULES.get(rule["type"])(runs, rule)
    return {"id": subclaim["id"], "statement": subclaim["statement"], "rule": rule,
            "declared_rule": subclaim["rule"], "paper": subclaim.get("paper"), **out}
