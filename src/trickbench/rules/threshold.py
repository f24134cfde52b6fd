"""threshold: e = sign * (metric[arm, seed] - value), over the arm's finished runs."""
from __future__ import annotations

from trickbench.rules.base import ARM, METRIC, MIN_EFFECT, SIDE, DecisionRule, decide, mean, ok_values, register, relation


@register("threshold")
class Threshold(DecisionRule):
    description = "an arm's mean against a fixed value"
    schema = {"arm": ARM, "metric": METRIC, "direction": SIDE, "value": {"type": "number"}, "min_effect": MIN_EFFECT}
    required = ("arm", "direction", "value", "metric")
    paper_effect = False   # its effect is against a fixed value, not a paper's arm − baseline

    def evaluate(self, runs, rule):
        a = ok_values(runs, rule["arm"], rule["metric"])
        n_total = len([r for r in runs if r["arm"] == rule["arm"]])
        s = self.sign(rule)
        effects = [s * (v - rule["value"]) for v in a.values()]
        return decide(effects, rule, {"n_total": n_total, "arm_mean": mean(list(a.values()))}, self.confidence(rule))

    def text(self, rule, fmt):
        m = rule.get("min_effect", 0)
        margin = f" by > {fmt(m)}" if m else ""
        return f"{rule['metric']}: mean of {rule['arm']} {relation(rule)} {fmt(rule['value'])}{margin}"

    def ours(self, s, value):
        return f"{value(s, s.get('arm_mean'))} (threshold {value(s, s['rule'].get('value'))})"
