"""order: for grid arms listed in the order of a factor (e.g. batch size), the best grid value of
`key` (e.g. agc.clipping) in each, chosen by the mean of a validation metric, falls (direction
decreasing) or rises along the list: non-increasing at every step and strictly lower at the end.
Resampling seeds (the same seeds for every arm) gives the bootstrap support of the trend;
replicated when the observed trend holds with support >= confidence, not replicated when support
<= 1 - confidence; p = 1 - support (not a test's p: Holm takes it undoubled). A grid value with a
diverged run ranks below every value whose runs all finished. Arms with no runs at the tier are
left out if two remain (`arms_used`). Fewer than 3 common seeds: inconclusive (a resample of one
seed is that seed again, so one run would be "replicated" with support 1). Where the grid is tuned
on seeds of its own (tune_seeds), the rule reads those."""
from __future__ import annotations

import numpy as np

from trickbench.rules.base import (INCONCLUSIVE, METRIC, NO_DATA, NOT_REPLICATED, REPLICATED, DecisionRule,
                                   register)

MIN_SEEDS = 3


def dotted(recipe: dict, key: str):
    """recipe["agc"]["clipping"] for key "agc.clipping"."""
    for part in key.split("."):
        recipe = (recipe or {}).get(part)
    return recipe


def _best_value(vals: dict, seeds: list[int], better: str):
    """vals: grid value -> {seed: metric or None (not ok)}; the best value over `seeds`."""
    def score(v):
        xs = [vals[v].get(s) for s in seeds if s in vals[v]]
        ok = [x for x in xs if x is not None]
        mean = sum(ok) / len(ok) if ok else float("-inf")
        return (len(ok) == len(xs) and bool(xs), mean if better == "greater" else -mean)
    return max(sorted(vals), key=score)


@register("order")
class Order(DecisionRule):
    description = "the best grid value of `key` per arm in `arms` falls or rises along the list (bootstrap support over seeds)"
    schema = {"arms": {"type": "array", "items": {"type": "string"}, "minItems": 2,
                       "description": "Grid arms in the order of the factor."},
              "key": {"type": "string", "description": "The grid key whose best value is compared (dotted for nested, e.g. agc.clipping)."},
              "metric": METRIC,
              "direction": {"type": "string", "enum": ["decreasing", "increasing"]},
              "better": {"type": "string", "enum": ["less", "greater"], "default": "greater",
                         "description": "Which way the metric is better."}}
    required = ("arms", "key", "direction", "metric")
    t_interval = False
    p_doubled = False
    reads_tuning_seeds = True

    def arms(self, rule):
        return list(rule["arms"])

    def check(self, rule, claim, key):
        for name in rule["arms"]:
            if name not in claim["arms"] or rule["key"] not in (claim["arms"][name].get("grid") or {}):
                raise ValueError(f"arms: {name!r} must be an arm with a grid over {rule['key']!r}")

    def unit(self, rule, metric_unit):
        return None

    def smallest_p(self, rule, n_arm, n_base=None):
        return 0.0 if n_arm and n_arm >= MIN_SEEDS else None

    def evaluate(self, runs, rule):
        conf, better = self.confidence(rule), rule.get("better", "greater")
        per_arm = []
        for fam in rule["arms"]:
            vals: dict = {}
            for r in runs:
                if r["arm"] == fam or r["arm"].startswith(fam + "__"):
                    x = r["metrics"].get(rule["metric"]) if r["outcome"] == "ok" else None
                    vals.setdefault(dotted(r["recipe"], rule["key"]), {})[r["seed"]] = x
            per_arm.append(vals)
        # arms a tier does not run (no runs at all: e.g. the medium batch on a CPU) leave the order
        # over the others, if at least two remain
        used = [fam for fam, vals in zip(rule["arms"], per_arm) if vals]
        per_arm = [vals for vals in per_arm if vals] if len(used) >= 2 else per_arm
        seeds = sorted(set.intersection(*[set(s) for vals in per_arm for s in vals.values()])) if all(per_arm) else []
        if not seeds:
            return {"verdict": NO_DATA, "n": 0, "n_total": 0}
        sign = -1 if rule["direction"] == "decreasing" else 1

        def holds(sample):
            best = [_best_value(vals, sample, better) for vals in per_arm]
            steps = [sign * (b - a) for a, b in zip(best, best[1:])]
            return all(d >= 0 for d in steps) and sign * (best[-1] - best[0]) > 0, best

        observed, best = holds(seeds)
        if len(seeds) < MIN_SEEDS:  # a resample of one or two seeds repeats them: no evidence of spread
            return {"verdict": INCONCLUSIVE, "effect": None, "ci_low": None, "ci_high": None, "n": len(seeds),
                    "n_total": len(seeds), "best": best, "no_spread": False, "p_value": None, "n_needed": MIN_SEEDS,
                    "note": f"{len(seeds)} common seed(s): an order needs at least {MIN_SEEDS} to be resampled"}
        rng = np.random.default_rng(0)
        draws = 2000
        support = sum(holds(list(rng.choice(seeds, len(seeds))))[0] for _ in range(draws)) / draws
        verdict = (REPLICATED if observed and support >= conf else NOT_REPLICATED if support <= 1 - conf
                   else INCONCLUSIVE)
        return {"verdict": verdict, "effect": support, "ci_low": None, "ci_high": None, "n": len(seeds), "arms_used": used,
                "n_total": len(seeds), "best": best, "no_spread": False, "p_value": 1 - support, "p_against": support,
                "n_needed": None}

    def text(self, rule, fmt):
        pct = round(100 * self.confidence(rule))
        return (f"best {rule['key']} by {rule['metric']} {rule['direction']} along {', '.join(rule['arms'])} "
                f"(bootstrap support over seeds ≥ {pct}%)")

    def ours(self, s, value):
        from trickbench.units import num
        return "best " + s["rule"]["key"].rsplit(".", 1)[-1] + ": " + " → ".join(num(b) for b in s["best"])
