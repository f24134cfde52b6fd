"""order: for grid arms listed in the order of a factor (e.g. batch size), the best grid value of
`key` (e.g. agc.clipping) in each, chosen by the mean of a validation metric, falls (direction
decreasing) or rises along the list: non-increasing at every step and strictly lower at the end.

The test is a paired permutation test, in the spirit of the sign-flip test of the paired rules:
seeds pair the arms (one seed: one initialisation and data order in every arm), so if the factor
did nothing, which arm a seed's grid of runs belongs to would be exchangeable within that seed.
Its statistic is continuous (the best value itself barely moves when a few seeds are relabelled):
per seed, each arm's slope of the metric against the (log) grid value; a best value that falls
along the arms is a slope that falls with them, so the statistic is the trend of the slopes along
the arms (_permutation_p). p_value: the share of within-seed relabellings of the arms (all, or
20,000 drawn) with a trend at least the observed one in the claimed direction; p_against: in the
opposite one. Replicated when the observed best values hold the order and p_value < 1 -
confidence; not replicated when they do not and p_against < 1 - confidence (Holm takes both
two-sided, as every test's). The smallest p a design allows is 1 / (k!)^n for k arms and n seeds: two arms
need 6 seeds to go below 0.05 two-sided (1/64 one-sided), so 3 seeds decide nothing. `effect` is
the bootstrap support of the observed order (the share of 2,000 resamples of the seeds in which it
holds), descriptive. A grid value with a diverged run ranks below every value whose runs all
finished. Arms with no runs at the tier are left out if two remain (`arms_used`). Where the grid
is tuned on seeds of its own (tune_seeds), the rule reads those."""
from __future__ import annotations

import itertools
import math

import numpy as np

from trickbench.rules.base import (INCONCLUSIVE, METRIC, NO_DATA, NOT_REPLICATED, REPLICATED, DecisionRule,
                                   register)

MIN_SEEDS = 3        # below this not even the bootstrap support is computed
EXACT_UP_TO = 20_000  # relabellings enumerated; above, as many drawn at random


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


def _order_holds(best: list, sign: int) -> bool:
    steps = [sign * (b - a) for a, b in zip(best, best[1:])]
    return all(d >= 0 for d in steps) and sign * (best[-1] - best[0]) > 0


def _slopes(per_arm: list[dict], seeds: list[int]) -> dict[int, list[float]]:
    """Per seed, each arm's least-squares slope of the metric against the grid value (its log where
    every value is positive), over the values whose runs finished; seeds where an arm has fewer
    than two are left out. A best value that falls along the arms is a slope that falls with them."""
    out = {}
    for s in seeds:
        row = []
        for vals in per_arm:
            pts = [(v, vals[v][s]) for v in sorted(vals) if vals[v].get(s) is not None]
            if len(pts) < 2:
                break
            xs = np.array([float(v) for v, _ in pts])
            xs = np.log(xs) if (xs > 0).all() else xs
            row.append(float(np.polyfit(xs, [y for _, y in pts], 1)[0]))
        else:
            out[s] = row
    return out


def _permutation_p(per_arm: list[dict], seeds: list[int], sign: int) -> tuple[float, float, int]:
    """(p of the claimed order, p of the opposite one, relabellings used) of a paired permutation
    test: the statistic is the trend of the per-seed slopes along the arms in the claimed direction,
    sign * sum_s sum_j (j - mean j) * slope[s][j]; under no effect of the factor, which arm a seed's
    slope belongs to is exchangeable within the seed (every permutation of the arms, per seed)."""
    slopes = _slopes(per_arm, seeds)
    k = len(per_arm)
    c = [j - (k - 1) / 2 for j in range(k)]
    def stat(lab):
        return sign * sum(c[j] * slopes[s][lab[i][j]] for i, s in enumerate(slopes) for j in range(k))
    perms = list(itertools.permutations(range(k)))
    n_seeds = len(slopes)
    if not n_seeds:
        return 1.0, 1.0, 0
    if len(perms) ** n_seeds <= EXACT_UP_TO:
        labellings = list(itertools.product(perms, repeat=n_seeds))
    else:
        rng = np.random.default_rng(0)
        labellings = [tuple(perms[0] for _ in range(n_seeds))] + [
            tuple(perms[i] for i in rng.integers(len(perms), size=n_seeds)) for _ in range(EXACT_UP_TO - 1)]
    observed = stat(tuple(perms[0] for _ in range(n_seeds)))
    values = np.array([stat(lab) for lab in labellings])
    tol = 1e-12 * max(1.0, abs(observed))
    return float(np.mean(values >= observed - tol)), float(np.mean(values <= observed + tol)), len(labellings)


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
    reads_tuning_seeds = True

    def arms(self, rule):
        return list(rule["arms"])

    def check(self, rule, claim, key):
        for name in rule["arms"]:
            if name not in claim["arms"] or rule["key"] not in (claim["arms"][name].get("grid") or {}):
                raise ValueError(f"arms: {name!r} must be an arm with a grid over {rule['key']!r}")

    def unit(self, rule, metric_unit):
        return None

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
            return _order_holds(best, sign), best

        observed, best = holds(seeds)
        if len(seeds) < MIN_SEEDS:  # a resample of one or two seeds repeats them: no evidence of spread
            return {"verdict": INCONCLUSIVE, "effect": None, "ci_low": None, "ci_high": None, "n": len(seeds),
                    "n_total": len(seeds), "best": best, "no_spread": False, "p_value": None, "n_needed": MIN_SEEDS,
                    "note": f"{len(seeds)} common seed(s): an order needs at least {MIN_SEEDS} to be resampled"}
        rng = np.random.default_rng(0)
        support = sum(holds(list(rng.choice(seeds, len(seeds))))[0] for _ in range(2000)) / 2000
        p, p_against, n_perm = _permutation_p(per_arm, seeds, sign)
        alpha = 1 - conf
        verdict = (REPLICATED if observed and p < alpha else
                   NOT_REPLICATED if not observed and p_against < alpha else INCONCLUSIVE)
        return {"verdict": verdict, "effect": support, "ci_low": None, "ci_high": None, "n": len(seeds), "arms_used": used,
                "n_total": len(seeds), "best": best, "no_spread": False, "p_value": p, "p_against": p_against,
                "relabellings": n_perm, "n_needed": None}

    def smallest_p(self, rule, n_arm, n_base=None):
        """1 / (k!)^n: only the observed relabelling shows the order, for n_arm common seeds and
        k = n_base arms run at the tier (all the rule's arms when not given)."""
        if not n_arm or n_arm < MIN_SEEDS:
            return None
        return 1.0 / math.factorial(n_base or len(rule["arms"])) ** n_arm

    def text(self, rule, fmt):
        pct = round(100 * self.confidence(rule))
        return (f"best {rule['key']} by {rule['metric']} {rule['direction']} along {', '.join(rule['arms'])} "
                f"(paired permutation test over seeds, {pct}%)")

    def ours(self, s, value):
        from trickbench.units import num
        return "best " + s["rule"]["key"].rsplit(".", 1)[-1] + ": " + " → ".join(num(b) for b in s["best"])
