"""rate: a success rate over all runs of an arm (diverged and timed-out runs count as failures
unless `success` is an outcome), e = sign * (rate[arm] - rate[baseline]) with Newcombe's interval,
or sign * (rate[arm] - value) with Wilson's; exact tests, so a design has a smallest p (0/5 vs 5/5:
0.004). `pool: true`: a grid arm named in the rule counts the runs of all its members together
(e.g. both learning rates of a Table-1 row, as the paper pools them)."""
from __future__ import annotations

import numpy as np

from trickbench import stats
from trickbench.rules.base import ARM, MIN_EFFECT, NO_DATA, REVERSED, SIDE, DecisionRule, register, relation, verdict_of


def _successes(runs, arm, success) -> tuple[int, int]:
    mine = [r for r in runs if r["arm"] == arm]
    if "outcome" in success:
        k = sum(r["outcome"] == success["outcome"] for r in mine)
    else:
        rel = (lambda x: x > success["value"]) if success["direction"] == "greater" else (lambda x: x < success["value"])
        counted = ("ok", "diverged") if success.get("diverged_too") else ("ok",)
        k = sum(r["outcome"] in counted and rel(r["metrics"].get(success["metric"], float("nan"))) for r in mine)
    return k, len(mine)


def _p(up: bool, k1, n1, k2=None, n2=None, value=None, m=0.0):
    """One-sided p that the arm's share exceeds the baseline's (or `value`) by m, in the direction `up`."""
    if value is None:
        return stats.two_proportion_p_greater(k1, n1, k2, n2, m) if up else stats.two_proportion_p_greater(k2, n2, k1, n1, m)
    return stats.proportion_p_greater(k1, n1, value + m) if up else stats.proportion_p_greater(n1 - k1, n1, 1 - value + m)


@register("rate")
class Rate(DecisionRule):
    description = "a share of runs (e.g. that diverge, or reach an accuracy) against a baseline's or a value, with binomial intervals"
    schema = {
        "arm": ARM, "baseline": ARM, "direction": SIDE, "value": {"type": "number"}, "min_effect": MIN_EFFECT,
        "success": {"type": "object", "additionalProperties": False,
                    "description": "What counts as a success, an outcome ({outcome: diverged}) or a metric bound "
                                   "({metric: final_test_acc, direction: greater, value: 0.5}).",
                    "properties": {"outcome": {"type": "string", "enum": ["ok", "diverged", "timeout"]},
                                   "metric": {"type": "string"}, "direction": {"type": "string", "enum": ["less", "greater"]},
                                   "value": {"type": "number"},
                                   "diverged_too": {"type": "boolean", "default": False, "description":
                                                    "A diverged run counts if its metric (e.g. best_test_acc, reached before "
                                                    "it diverged) meets the bound; default: a diverged run never succeeds."}}},
        "pool": {"type": "boolean", "default": False, "description": "A grid arm named in the rule counts the runs of "
                 "all its members together (no tuning)."}}
    required = ("arm", "direction", "success")
    t_interval = False

    def check(self, rule, claim, key):
        if "baseline" not in rule and "value" not in rule:
            raise ValueError("a rate rule needs a baseline arm or a value")
        succ = rule["success"]
        if "outcome" not in succ and not all(k in succ for k in ("metric", "direction", "value")):
            raise ValueError("success needs an outcome, or metric + direction + value")

    def unit(self, rule, metric_unit):
        return "pp"

    def evaluate(self, runs, rule):
        conf, m, s = self.confidence(rule), rule.get("min_effect", 0.0), self.sign(rule)
        up = s > 0
        k1, n1 = _successes(runs, rule["arm"], rule["success"])
        extra = {"n": n1, "n_total": n1, "arm_mean": k1 / n1 if n1 else None, "successes": k1}
        if not n1:
            return {"verdict": NO_DATA, **extra}
        if "baseline" in rule:
            k2, n2 = _successes(runs, rule["baseline"], rule["success"])
            if not n2:
                return {"verdict": NO_DATA, **extra}
            lo, hi = stats.newcombe_interval(k1, n1, k2, n2, conf)
            resampled = [stats.newcombe_interval(int(a), n1, int(b), n2, conf) for a, b in
                         zip(stats.resample_counts(k1, n1), stats.resample_counts(k2, n2, seed=1))]
            d = k1 / n1 - k2 / n2
            p, p_rev, p_against = _p(up, k1, n1, k2, n2, m=m), _p(not up, k1, n1, k2, n2), _p(not up, k1, n1, k2, n2, m=-m)
            extra |= {"baseline_mean": k2 / n2, "baseline_successes": k2, "baseline_n": n2, "n": min(n1, n2)}
        else:
            v = rule["value"]
            lo, hi = (x - v for x in stats.wilson_interval(k1, n1, conf))
            resampled = [tuple(x - v for x in stats.wilson_interval(int(a), n1, conf)) for a in stats.resample_counts(k1, n1)]
            d = k1 / n1 - v
            p = _p(up, k1, n1, value=v, m=m)
            p_rev = (stats.proportion_p_greater(n1 - k1, n1, 1 - v) if up else stats.proportion_p_greater(k1, n1, v))
            p_against = (stats.proportion_p_greater(n1 - k1, n1, 1 - v - m) if up else stats.proportion_p_greater(k1, n1, v - m))
        e, lo, hi = (s * d, lo, hi) if up else (-d, -hi, -lo)
        two = "baseline" in rule
        verdict = verdict_of(lo, hi, m, two)
        stability = float(np.mean([verdict_of(*((a, b) if up else (-b, -a)), m, two) == verdict for a, b in resampled]))
        return {"verdict": verdict, "effect": e, "ci_low": lo, "ci_high": hi, "no_spread": False, "stability": stability,
                "p_value": p, "p_reverse": p_rev if verdict == REVERSED else None, "p_against": p_against,
                "n_needed": None, **extra}

    def smallest_p(self, rule, n_arm, n_base=None):
        """An exact test's floor: every arm run a success, none of the baseline's (or all against the value)."""
        if super().smallest_p(rule, n_arm, n_base) is None:
            return None
        m, up = rule.get("min_effect", 0.0), self.sign(rule) > 0
        if "baseline" in rule:
            return _p(up, n_arm, n_arm, 0, n_base, m=m) if up else _p(True, n_base, n_base, 0, n_arm, m=m)
        return (stats.proportion_p_greater(n_arm, n_arm, rule["value"] + m) if up
                else stats.proportion_p_greater(n_arm, n_arm, 1 - rule["value"] + m))

    def text(self, rule, fmt):
        pct = round(100 * self.confidence(rule))
        succ = rule["success"]
        what = (f"outcome {succ['outcome']}" if "outcome" in succ else
                f"{succ['metric']} {'>' if succ['direction'] == 'greater' else '<'} {fmt(succ['value'])}")
        other = f"that of {rule['baseline']}" if "baseline" in rule else fmt(rule["value"])
        pooled = ", all grid members pooled" if rule.get("pool") else ""
        return f"share of {rule['arm']} runs with {what} {relation(rule)} {other} ({pct}% Wilson/Newcombe interval{pooled})"

    def ours(self, s, value):
        mine = f"{s['successes']}/{s['n_total']}"
        return f"{mine} vs {s['baseline_successes']}/{s['baseline_n']}" if "baseline_successes" in s else mine
