"""What a decision rule is: a DecisionRule subclass in a module of its own under trickbench/rules/,
registered by name (`@register("compare")`), found on disk like the tricks (a new rule is its module
alone; tests/test_new_rule.py adds one). No torch, no pandas.

A rule declares, once, everything the rest of the pipeline asks of it:

    schema, required   its keys in a claim file (JSON-schema properties; merged into
                       claim.schema.yaml's `rule`, so `trickbench validate` knows them) and the ones
                       a claim must give; a key of another rule set on it is refused (config)
    check              what the schema cannot say (e.g. an order rule's arms must be grid arms)
    evaluate           runs -> the verdict's numbers (verdict.evaluate adds tuning, ties, setups)
    smallest_p         the smallest p its design allows (analyse.design_check)
    p_doubled          False where its p is not a one-sided test's (Holm takes 2p otherwise)
    t_interval         a t interval over seeds: one seed of a seeded arm decides nothing, few seeds
                       rest on normality (the report says so)
    text, unit, sign, ours   its sentence in the report, the unit of its effect, which way is
                       "as the paper says", our side of the numbers

Every rule reduces to an effect `e` signed so that a positive value is the claim's direction,
with an interval [lo, hi], compared with the claim's `min_effect`:

    replicated      lo >  min_effect   (the interval lies beyond the claimed effect)
    reversed        hi <  0 <= min_effect (two arms compared: significantly the other way round)
    not replicated  hi <= min_effect   (the interval excludes the claimed effect)
    inconclusive    otherwise          (the interval straddles it: more seeds needed)

Each result carries a one-sided p-value of "no effect beyond min_effect" (`p_value`) and its
opposite `p_against` (what "not replicated" and "not equivalent" reject), which
verdict.apply_holm corrects across the sub-claims of one claim at one tier in both directions;
paired rules add the exact sign-flip p-value, and, when inconclusive, the seeds that would decide
it with 80% power (stats.n_needed). `stability`: the share of 2,000 resamples of the seeds whose
interval gives the same verdict.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

import numpy as np

from trickbench import stats
from trickbench.registry import Registry

RULES = Registry("decision rule")
REPLICATED, NOT_REPLICATED, INCONCLUSIVE, NO_DATA = "replicated", "not replicated", "inconclusive", "no data"
REVERSED = "reversed"
EQUIVALENT, NOT_EQUIVALENT = "equivalent", "not equivalent"
DECIDED = (REPLICATED, EQUIVALENT, REVERSED, NOT_REPLICATED, NOT_EQUIVALENT)

# keys every rule takes (their schema in claim.schema.yaml); a rule's own are its `schema`
COMMON_KEYS = ("type", "confidence")
SIDE = {"type": "string", "enum": ["less", "greater"], "description": "The claim's side: the arm's metric is less or greater."}
ARM = {"type": "string", "description": "An arm of the claim (a grid arm stands for its tuned member), or one grid point, e.g. arm__lr0p1."}
METRIC = {"type": "string", "description": "A metric declared in the claim's `metrics`."}
MIN_EFFECT = {"type": "number", "default": 0, "description": "Effect size the claim needs beyond zero (or beyond `value`)."}
FAILED = {"description": "How a run that diverged or timed out counts in the pairing: `exclude` (its seed is left out; "
                         "the report says how many) or a number (e.g. 0.1, chance accuracy on ten classes).",
          "anyOf": [{"type": "string", "enum": ["exclude"]}, {"type": "number"}]}
BASELINE_METRIC = {"type": "string", "description": "The baseline's metric when it differs from the arm's (e.g. an "
                   "ensemble's accuracy against the single model's); absent: the same metric."}


class DecisionRule:
    """The defaults are those of a rule on one arm's metric with a t interval over seeds."""
    name = ""
    description = ""
    schema: dict = {}
    required: tuple[str, ...] = ()
    default_confidence = 0.95
    t_interval = True
    p_doubled = True
    paper_effect = True          # a claim file's paper.effect is in this rule's effect units (report: inside our interval?)
    non_inferiority = False      # True: a negative min_effect is a margin the arm may fall short by
    reads_tuning_seeds = False   # True: evaluated on a tuned grid's tuning seeds (order), not its test seeds

    def __call__(self, runs: list[dict], rule: dict) -> dict:
        return self.evaluate(runs, rule)

    def evaluate(self, runs: list[dict], rule: dict) -> dict:
        raise NotImplementedError

    def check(self, rule: dict, claim: dict, key: str) -> None:
        """Raise ValueError naming what is wrong beyond the schema (config prefixes the claim and key)."""

    def arms(self, rule: dict) -> list[str]:
        """The arms the rule reads, arm first."""
        return [rule[k] for k in ("arm", "baseline") if k in rule]

    def smallest_p(self, rule: dict, n_arm: int, n_base: int | None = None) -> float | None:
        """The smallest one-sided p the rule can give with n_arm runs of its arm (and n_base of its
        baseline), whatever they show; None: it cannot decide at all. t-based rules: no floor."""
        if not n_arm or (rule.get("baseline") and not n_base):
            return None
        return 0.0

    def confidence(self, rule: dict) -> float:
        return rule.get("confidence", self.default_confidence)

    def sign(self, rule: dict) -> int:
        """+1 when the effect is arm − baseline as stated, −1 when the claim is that the arm is less."""
        return -1 if rule.get("direction") == "less" else 1

    def unit(self, rule: dict, metric_unit: str) -> str | None:
        """The unit of the effect ('pp', 's', ''), None where it is not a difference (order)."""
        return metric_unit

    def text(self, rule: dict, fmt) -> str:
        """The rule in words (arms as given: labels in quotes where the report has them)."""
        raise NotImplementedError

    def ours(self, s: dict, value) -> str:
        """Our side of a result `s`, each value through value(s, v): '66.8 % vs 56.9 %'."""
        if s.get("baseline_mean") is not None:
            return f"{value(s, s.get('arm_mean'))} vs {value(s, s['baseline_mean'])}"
        return value(s, s.get("arm_mean"))


def register(name: str):
    """Class decorator: one instance of the rule under `name` in RULES."""
    def deco(cls):
        cls.name = name
        RULES._add(name, cls())
        return cls
    return deco


def modules() -> list[str]:
    """Every rule module of the trickbench.rules package (all but base), found on disk."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "base")


@functools.cache
def load_all() -> None:
    for m in modules():
        importlib.import_module(f"trickbench.rules.{m}")


def get(name: str) -> DecisionRule:
    load_all()
    return RULES.get(name)


def names() -> list[str]:
    load_all()
    return RULES.names()


# -- shared by the rules ---------------------------------------------------------------------

def ok_values(runs: list[dict], arm: str, metric: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][metric] for r in runs
            if r["arm"] == arm and r["outcome"] == "ok" and metric in r["metrics"]}


def values(runs: list[dict], arm: str, metric: str, failed="exclude") -> dict[int, float]:
    """seed -> metric of the arm's runs; a run that did not finish counts as `failed` (a number)
    or is left out (`exclude`)."""
    out = ok_values(runs, arm, metric)
    if failed != "exclude":
        out |= {r["seed"]: float(failed) for r in runs if r["arm"] == arm and r["outcome"] != "ok"}
    return out


def verdict_of(lo: float, hi: float, m: float, two_arms: bool = True) -> str:
    """The verdict words of the module docstring; "reversed" only compares two arms (against a
    fixed value, falling short is "not replicated")."""
    if lo > m:
        return REPLICATED
    if two_arms and hi < 0 <= m:
        return REVERSED
    return NOT_REPLICATED if hi <= m else INCONCLUSIVE


def decide(effects: list[float], rule: dict, extra: dict, conf: float) -> dict:
    """A t interval over per-seed effects -> the verdict and its numbers."""
    n_total = extra.pop("n_total")
    if not effects:
        return {"verdict": NO_DATA, "n": 0, "n_total": n_total, **extra}
    mean, lo, hi = stats.mean_ci(effects, conf)
    m = rule.get("min_effect", 0.0)
    verdict = verdict_of(lo, hi, m, "baseline" in rule)
    los, his = stats.resample_intervals(effects, conf)
    stability = float(np.mean([verdict_of(a, b, m, "baseline" in rule) == verdict for a, b in zip(los, his)]))
    sd = float(np.std(effects, ddof=1)) if len(effects) > 1 else float("nan")
    return {"verdict": verdict, "effect": mean, "ci_low": lo, "ci_high": hi, "n": len(effects),
            "n_total": n_total, "stability": stability, "no_spread": len(set(effects)) == 1,  # every seed gave the same effect (or n = 1)
            "p_value": stats.p_greater(effects, m), "p_signflip": stats.signflip_p_greater(effects, m),
            "p_reverse": stats.p_greater([-x for x in effects]) if verdict == REVERSED else None,
            # the other direction: H0 effect >= m, what "not replicated" rejects
            "p_against": stats.p_greater([-x for x in effects], -m),
            "n_needed": stats.n_needed(sd, mean - m, (1 - conf) / 2) if verdict == INCONCLUSIVE else None,
            **extra}


def paired(runs, rule):
    """The arm's and the baseline's values by seed, the seeds they share, and how many seeds ran."""
    failed = rule.get("failed", "exclude")
    a = values(runs, rule["arm"], rule["metric"], failed)
    b = values(runs, rule["baseline"], rule.get("baseline_metric", rule["metric"]), failed)
    seeds = sorted(set(a) & set(b))
    n_total = len({r["seed"] for r in runs if r["arm"] in (rule["arm"], rule["baseline"])})
    return a, b, seeds, n_total


def failed_counts(runs, rule) -> dict:
    """How many runs of each side did not finish, and how the rule counted them."""
    bad = lambda arm: sum(r["arm"] == arm and r["outcome"] != "ok" for r in runs)  # noqa: E731
    return {"failed_arm": bad(rule["arm"]), "failed_baseline": bad(rule["baseline"]),
            "failed_as": rule.get("failed", "exclude")}


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def relation(rule: dict) -> str:
    return {"less": "<", "greater": ">"}[rule["direction"]]
