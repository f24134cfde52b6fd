"""Verdicts: a sub-claim's declared rule (trickbench/rules/, one module each) applied to the runs,
with what every rule shares: grid arms replaced by their tuned member, ties on validation, one
seed of a seeded arm deciding nothing, timings compared only within one setup, Holm's correction in
both directions, and the setup (machine, precision, layout) each verdict pools. No torch, no pandas.

A rule may name a grid arm: `selected` maps it to its tuned member (see analyse.select_tuned).
When other members tie with it on validation (analyse.tied_members), the rule is evaluated at
each tied member too; if the verdicts differ, the verdict is inconclusive ("depends on the tuned
choice") and every tied member's verdict is kept. A rate rule with `pool: true` takes the runs of
all its members together instead.

A sub-claim with `control: true` is a negative control: the paper expects no effect (drop path
"also makes a step faster": it should not), and the report reads "not replicated" as "no effect,
as expected".
"""
from __future__ import annotations

import itertools

from trickbench import rules, stats
from trickbench.tasks import timing_metrics
from trickbench.rules.base import (DECIDED, EQUIVALENT, INCONCLUSIVE, NO_DATA, NOT_EQUIVALENT,  # noqa: F401
                                   NOT_REPLICATED, REPLICATED, REVERSED, RULES, mean as _mean, ok_values as _ok_values)

rules.load_all()


def smallest_p(rule: dict, n_arm: int, n_base: int | None = None) -> float | None:
    """The smallest one-sided p-value the rule can give with n_arm runs of its arm (and n_base of its
    baseline), whatever the runs show (DecisionRule.smallest_p): is the design able to decide at all?"""
    return rules.get(rule["type"]).smallest_p(rule, n_arm, n_base)


def direction_p(r: dict) -> float | None:
    """The one-sided p-value of the verdict's own direction: replicated and equivalent their
    p_value, reversed its p_reverse, not replicated and not equivalent their p_against;
    undecided, the smaller of the two directions (the verdict it would have come nearest to)."""
    v, p, against = r["verdict"], r.get("p_value"), r.get("p_against")
    if p is None:
        return None
    if v in (REPLICATED, EQUIVALENT):
        return p
    if v == REVERSED:
        return r.get("p_reverse") if r.get("p_reverse") is not None else against
    if v in (NOT_REPLICATED, NOT_EQUIVALENT):
        return against if against is not None else 1 - p
    return min(p, against) if against is not None else p


def two_sided(p: float, rule_type: str) -> float:
    """The p a sub-claim enters Holm's family with: twice its one-sided p (a verdict may point either
    way), except where the rule's p is not a one-sided test's (p_doubled: an order rule's bootstrap p)."""
    return min(1.0, p * (2 if not rule_type or rules.get(rule_type).p_doubled else 1))


def apply_holm(results: list[dict], alpha: float = 0.05, family: str = "") -> list[dict]:
    """Correct across a family of sub-claims (analyse: the sub-claims of one claim at one tier),
    in both directions: any decided verdict (replicated, equivalent, reversed, not replicated, not
    equivalent) stands only if its Holm-adjusted two-sided p-value, twice the p of its own
    direction (`direction_p`), is below `alpha`, so the chance of any false verdict in a family,
    for or against the paper, stays at most alpha (tests/test_stats.py simulates it); otherwise
    it becomes inconclusive, marked `holm_downgraded`. Order rules enter with their bootstrap p
    undoubled (a trend holds or not; its p is not a test's). Sub-claims without data are left out.
    Every result keeps `verdict_uncorrected` and names the `correction`."""
    tested = [r for r in results if direction_p(r) is not None]
    ps = [two_sided(direction_p(r), r.get("rule", {}).get("type", "")) for r in tested]
    for r in results:
        r.setdefault("verdict_uncorrected", r["verdict"])
    for r, p2, adj in zip(tested, ps, stats.holm(ps)):
        r["p_two_sided"] = p2
        r["p_holm"] = adj
        r["correction"] = f"Holm over {len(tested)} sub-claims{' of ' + family if family else ''}, both directions, alpha {alpha}"
        if adj >= alpha and r["verdict"] in DECIDED:
            r["verdict"] = INCONCLUSIVE
            r["holm_downgraded"] = True
    return results




def _setup(run: dict) -> str:
    """'GPU or CPU model[, its bf16 units], precision'."""
    return f"{_machines_text(run)}, {run.get('precision', '?')}"


def _machines_text(run: dict) -> str:
    """'GPU or CPU model[ (its bf16 units)]', or every machine a resumed run trained on: VMs often
    show only 'AMD EPYC', so the CPU's bf16 units (recorded since 2026-11) tell an AVX2-only EPYC
    from a Zen 4 one."""
    prov = run.get("provenance") or {}
    units = "" if prov.get("gpu") or "cpu_bf16" not in prov else f" ({prov['cpu_bf16'] or 'no bf16 units'})"
    machine = f"{prov.get('gpu') or prov.get('cpu', '?')}{units}"
    # a run resumed on another machine (a later session's CPU) timed its epochs on each: a setup of its own
    seen = [m for i, m in enumerate(run.get("machines") or []) if m.get("cpu") != "not recorded"
            and all(_machine(m) != _machine(o) for o in (run.get("machines") or [])[:i])]
    if len(seen) > 1:
        machine = " then ".join(_machine(m) for m in seen)
    return machine


def _machine(m: dict) -> str:
    return m.get("gpu") or f"{m.get('cpu', '?')} ({m.get('cpu_bf16') or 'no bf16 units'})"


SETUP_KEYS = ("machine", "precision", "layout", "train_chunk")   # what changes a run's arithmetic


def setup_of(run: dict) -> dict:
    """A run's setup, the things that change its numbers without changing its recipe: the machine
    (GPU, or CPU with its bf16 units; every one a resumed run trained on), precision, memory layout
    and training chunk. Runs from before a key was recorded ran fp32, contiguous (on a CPU), whole
    batches. The code commit is a column of runs.csv but no setup: the canary checks the code."""
    gpu = bool((run.get("provenance") or {}).get("gpu"))
    return {"machine": _machines_text(run), "precision": run.get("precision") or "fp32",
            "layout": run.get("layout") or ("channels_last" if gpu else "contiguous"),
            "train_chunk": str(run.get("train_chunk") or "whole batch")}


def mixed_setup(runs: list[dict]) -> str:
    """'' when the runs share one setup; else each differing key with its values and run counts,
    e.g. 'precision: bf16 (4), fp32 (1)'."""
    parts = []
    for k in SETUP_KEYS:
        counts: dict[str, int] = {}
        for r in runs:
            v = setup_of(r)[k]
            counts[v] = counts.get(v, 0) + 1
        if len(counts) > 1:
            parts.append(f"{k}: " + ", ".join(f"{v} ({n})" for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
    return "; ".join(parts)


def _same_setup(out: dict, runs: list[dict], arms: list[str]) -> dict:
    """Times compare only on one machine at one precision: the (CPU or GPU, precision) pairs of the
    rule's runs go into the verdict, and more than one makes it inconclusive, saying why."""
    setups = sorted({_setup(r) for r in runs if any(r["arm"] == a or r["arm"].startswith(a + "__") for a in arms)})
    out = {**out, "timing_setups": setups}
    if len(setups) > 1:
        out |= {"verdict": "inconclusive", "mixed_setups": True}
    return out


def _one_seed(out: dict, rule: dict, exact: frozenset) -> dict:
    """One seed of a seeded arm says nothing about the spread between seeds: its zero-width
    interval would turn any difference into a verdict with p = 0 (a tier analysed `--partial`
    after its first pair of runs, say). Such a result is inconclusive; only arms declared
    `deterministic` (the same numbers from every seed) are decided from one run."""
    arms = [rule[k] for k in ("arm", "baseline") if k in rule]
    if not rules.get(rule["type"]).t_interval or out.get("n") != 1 or all(a in exact for a in arms):
        return out
    return {**out, "verdict": INCONCLUSIVE, "p_value": None, "p_signflip": None, "p_reverse": None,
            "stability": None, "n_needed": None, "verdict_one_seed": out["verdict"],
            "note": "one seed: the spread between seeds is unknown, so one run decides nothing"}


def _evaluate_rule(rule: dict, runs: list[dict], exact: frozenset = frozenset()) -> dict:
    out = _one_seed(RULES.get(rule["type"])(runs, rule), rule, exact)
    if rule.get("metric") in timing_metrics():   # declared by the task or trick (Trick.timings)
        out = _same_setup(out, runs, rules.get(rule["type"]).arms(rule))
    return out


def evaluate(subclaim: dict, runs: list[dict], selected: dict | None = None, ties: dict | None = None,
             exact: frozenset = frozenset()) -> dict:
    """Apply the sub-claim's rule; grid arms named in it are replaced by their tuned member, and,
    where `ties` lists members that tie with it on validation, the rule is checked at each of them
    (see the module docstring). `exact`: the arms declared deterministic, which alone may be
    decided from one seed (_one_seed)."""
    rule = dict(subclaim["rule"])
    if rule.get("pool"):  # rate rules: a grid arm stands for all its members' runs together
        fams = [rule[k] for k in ("arm", "baseline") if k in rule]
        owner = lambda a: next((f for f in fams if a == f or a.startswith(f + "__")), a)  # noqa: E731
        runs = [dict(r, arm=owner(r["arm"])) for r in runs]
    tuned_keys = [k for k in ("arm", "baseline")
                  if k in rule and selected and rule[k] in selected and not rule.get("pool")]
    choices = {k: (ties or {}).get(rule[k]) or [selected[rule[k]]] for k in tuned_keys}
    for k in tuned_keys:
        rule[k] = selected[rule[k]]
    declared = subclaim["rule"]
    if (rule.get("baseline") and rule.get("arm") == rule["baseline"] and declared["arm"] != declared["baseline"]
            and rule.get("baseline_metric", rule.get("metric")) == rule.get("metric")):
        # a tier that runs one value of a grid (tiers.<tier>.grids): the tuned member is the arm itself
        return {"id": subclaim["id"], "statement": subclaim["statement"], "rule": rule,
                "declared_rule": subclaim["rule"], "paper": subclaim.get("paper"),
                "control": bool(subclaim.get("control")), "verdict": NO_DATA, "n": 0,
                "note": f"not decidable at this tier: the tuned arm is {rule['arm']} itself (one grid value run)"}
    out = _evaluate_rule(rule, runs, exact)
    others = [dict(zip(choices, combo)) for combo in itertools.product(*choices.values())]
    others = [c for c in others if any(rule[k] != v for k, v in c.items())]
    if others:
        alt = {" vs ".join(c.get(k, rule[k]) for k in ("arm", "baseline") if k in rule):
               _evaluate_rule({**rule, **c}, runs, exact)["verdict"] for c in others}
        out["tied_choices"] = alt
        if any(v != out["verdict"] for v in alt.values()):
            out |= {"verdict_at_tuned": out["verdict"], "verdict": INCONCLUSIVE, "tuning_dependent": True}
    if subclaim.get("beside") and out.get("n"):
        out["beside"] = _beside(subclaim["beside"], rule, runs)
    # runs of the rule's arms in more than one setup (a seed retrained in fp32 beside bf16 siblings,
    # an arm on another machine than its baseline): flagged, not pooled unnoticed (timing rules
    # above are inconclusive on it)
    names = rules.get(rule["type"]).arms(rule)
    mixed = mixed_setup([r for r in runs if r["arm"] in names])
    if mixed:
        out["setup_mixed"] = mixed
    return {"id": subclaim["id"], "statement": subclaim["statement"], "rule": rule,
            "declared_rule": subclaim["rule"], "paper": subclaim.get("paper"),
            "control": bool(subclaim.get("control")), **out}


def _beside(metrics: dict, rule: dict, runs: list[dict]) -> list[dict]:
    """The claim file's `beside` metrics of the runs the rule compared (the seeds where every arm it
    names has its metric; grid arms already replaced by their tuned member): what a reader needs
    next to the verdict to read it, e.g. whether the arm fit its training set. Means, not tested."""
    arms = [rule[k] for k in ("arm", "baseline") if k in rule]   # config: never an order rule
    # each arm's seeds on the metric the rule reads of it (a baseline_metric for the baseline:
    # searched for the arm's, an ensemble's accuracy, the baseline had none, and printed "– vs –")
    read = [rule["metric"], rule.get("baseline_metric", rule.get("metric"))]
    seeds = set.intersection(*(set(_ok_values(runs, a, m)) for a, m in zip(arms, read))) \
        if rule.get("metric") and rules.get(rule["type"]).t_interval else None
    out = []
    for metric, text in metrics.items():
        means = {}
        for k, a in zip(("arm", "baseline"), arms):
            vals = _ok_values(runs, a, metric)
            means[k] = _mean([v for s, v in vals.items() if seeds is None or s in seeds])
        out.append({"metric": metric, "label": text, **means})
    return out
