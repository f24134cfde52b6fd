"""compare: e = sign * (metric[arm, seed] - metric[baseline, seed]), paired over seeds; sign = -1
when the claim is that the arm is `less`. A run that diverged or timed out counts as the rule's
`failed` value (e.g. 0.1: chance accuracy on ten classes) or, by default (`failed: exclude`),
leaves its seed out of the pairing; the verdict carries how many seeds were left out. A negative
`min_effect` is a non-inferiority margin."""
from __future__ import annotations

from trickbench.rules.base import (ARM, BASELINE_METRIC, FAILED, METRIC, MIN_EFFECT, SIDE, DecisionRule, decide,
                                   failed_counts, mean, paired, register, relation)


@register("compare")
class Compare(DecisionRule):
    description = "paired difference arm − baseline over seeds"
    schema = {"arm": ARM, "baseline": ARM, "metric": METRIC, "baseline_metric": BASELINE_METRIC, "direction": SIDE,
              "failed": FAILED,
              "min_effect": {**MIN_EFFECT, "description": MIN_EFFECT["description"] + " Negative: a non-inferiority "
                             "margin (replicated when the whole interval lies above −margin)."}}
    required = ("arm", "baseline", "direction", "metric")
    non_inferiority = True

    def evaluate(self, runs, rule):
        a, b, seeds, n_total = paired(runs, rule)
        s = self.sign(rule)
        effects = [s * (a[k] - b[k]) for k in seeds]
        return decide(effects, rule, {"n_total": n_total, **failed_counts(runs, rule),
                                      "arm_mean": mean([a[k] for k in seeds]),
                                      "baseline_mean": mean([b[k] for k in seeds])}, self.confidence(rule))

    def text(self, rule, fmt):
        m = rule.get("min_effect", 0)
        margin = f" by > {fmt(m)}" if m else ""
        if "baseline_metric" in rule:
            return (f"{rule['metric']} of {rule['arm']} {relation(rule)} {rule['baseline_metric']} of "
                    f"{rule['baseline']}{margin} (paired over seeds)")
        return f"{rule['metric']}: {rule['arm']} {relation(rule)} {rule['baseline']}{margin} (paired over seeds)"
