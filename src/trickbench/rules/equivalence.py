"""equivalence (TOST): d = metric[arm, seed] - metric[baseline, seed], paired; with the t interval
at the rule's confidence (0.90: TOST at alpha = 0.05):
    equivalent      -margin < lo and hi < margin
    not equivalent  lo >= margin or hi <= -margin   (the whole interval lies outside)
    inconclusive    otherwise
Its p-value is the larger of TOST's two one-sided ones; `p_against` rejects |d| <= margin on one side."""
from __future__ import annotations

import numpy as np

from trickbench import stats
from trickbench.rules.base import (ARM, BASELINE_METRIC, EQUIVALENT, FAILED, INCONCLUSIVE, METRIC, NO_DATA,
                                   NOT_EQUIVALENT, DecisionRule, failed_counts, mean, paired, register)


@register("equivalence")
class Equivalence(DecisionRule):
    description = "TOST: the paired difference lies within ±margin"
    schema = {"arm": ARM, "baseline": ARM, "metric": METRIC, "baseline_metric": BASELINE_METRIC, "failed": FAILED,
              "margin": {"type": "number", "exclusiveMinimum": 0, "description": "Equivalence margin, declared before the runs."}}
    required = ("arm", "baseline", "margin", "metric")
    default_confidence = 0.90

    def sign(self, rule):
        return 1   # the effect is arm − baseline as it stands

    def evaluate(self, runs, rule):
        a, b, seeds, n_total = paired(runs, rule)
        extra = {"n_total": n_total, **failed_counts(runs, rule),
                 "arm_mean": mean([a[k] for k in seeds]), "baseline_mean": mean([b[k] for k in seeds])}
        d = [a[k] - b[k] for k in seeds]
        if not d:
            return {"verdict": NO_DATA, "n": 0, **extra}
        conf = self.confidence(rule)
        m_, lo, hi = stats.mean_ci(d, conf)
        m = rule["margin"]

        def tost(lo, hi):
            return EQUIVALENT if -m < lo and hi < m else NOT_EQUIVALENT if lo >= m or hi <= -m else INCONCLUSIVE
        v = tost(lo, hi)
        stability = float(np.mean([tost(x, y) == v for x, y in zip(*stats.resample_intervals(d, conf))]))
        neg = [-x for x in d]
        p = max(stats.p_greater(d, -m), stats.p_greater(neg, -m))
        p_sf = max(stats.signflip_p_greater(d, -m), stats.signflip_p_greater(neg, -m))
        sd = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
        need = stats.n_needed(sd, m - abs(m_), (1 - conf) / 2) if v == INCONCLUSIVE else None
        # "not equivalent" rejects |d| <= m on one side: d <= m (the interval above +m) or d >= -m
        p_against = min(stats.p_greater(d, m), stats.p_greater(neg, m))
        return {"verdict": v, "effect": m_, "ci_low": lo, "ci_high": hi, "n": len(d), "no_spread": len(set(d)) == 1,
                "stability": stability, "p_value": p, "p_against": p_against, "p_signflip": p_sf, "n_needed": need,
                **extra}

    def text(self, rule, fmt):
        pct = round(100 * self.confidence(rule))
        return (f"{rule['metric']}: {rule['arm']} − {rule['baseline']} within ±{fmt(rule['margin'])} "
                f"(TOST, paired {pct}% interval)")
