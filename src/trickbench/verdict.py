"""Decision rules: runs -> a verdict, by the rule a claim file declares. No torch, no pandas.

Every rule reduces to an effect `e` signed so that a positive value is the claim's direction,
with a t interval [lo, hi] over seeds (stats.mean_ci), compared with the claim's `min_effect`:

    replicated      lo >  min_effect   (the interval lies beyond the claimed effect)
    reversed        hi <  0 <= min_effect (two arms compared: significantly the other way round)
    not replicated  hi <= min_effect   (the interval excludes the claimed effect)
    inconclusive    otherwise          (the interval straddles it: more seeds needed)

A negative `min_effect` on a compare rule is a non-inferiority margin. One seed (one paired
difference, one run against a value) has no spread to judge it by: inconclusive, unless every arm
of the rule is declared `deterministic` (_one_seed).

compare   : e = sign * (metric[arm, seed] - metric[baseline, seed]), paired over seeds;
            sign = -1 when the claim is that the arm is `less`. A run that diverged or timed out
            counts as the rule's `failed` value (e.g. 0.1: chance accuracy on ten classes) or, by
            default (`failed: exclude`), leaves its seed out of the pairing; the verdict carries
            how many seeds were left out, and the report shows it.
threshold : e = sign * (metric[arm, seed] - value).

equivalence (TOST): d = metric[arm, seed] - metric[baseline, seed], paired; with the t interval
at the rule's confidence (declare 0.90 for TOST at alpha = 0.05):
    equivalent      -margin < lo and hi < margin
    not equivalent  lo >= margin or hi <= -margin   (the whole interval lies outside)
    inconclusive    otherwise

rate      : a success rate over all runs of an arm (diverged and timed-out runs count as
            failures unless `success` is an outcome), e = sign * (rate[arm] - rate[baseline]) with
            Newcombe's interval, or sign * (rate[arm] - value) with Wilson's.

Paired, threshold and rate rules also carry `stability`: the share of 2,000 resamples of the
seeds (with replacement; for a rate, of each arm's runs) whose interval gives the same verdict:
"replicated on 3 seeds" that a rerun would likely flip shows as a low stability. (Order rules carry their bootstrap support instead.)

Each result also carries a one-sided p-value of "no effect beyond min_effect" (a t-test, which
agrees with the interval; TOST: the larger of its two one-sided p-values; paired rules add the
exact sign-flip p-value, which assumes no distribution), its opposite `p_against` (what "not
replicated" and "not equivalent" reject), which `apply_holm` corrects across the sub-claims of
one claim at one tier in both directions, and, when inconclusive, the number of seeds that would
decide it with 80% power (stats.n_needed; above stats.N_NEEDED_CAP: not decidable).

order     : for grid arms listed in the order of a factor (e.g. batch size), the best grid value
            of `key` (e.g. agc.clipping) in each, chosen by the mean of a validation metric, falls
            (direction decreasing) or rises along the list: non-increasing at every step and
            strictly lower at the end. Resampling seeds (the same seeds for every arm) gives the
            bootstrap support of the trend; replicated when the observed trend holds with support
            >= confidence, not replicated when support <= 1 - confidence; p = 1 - support.
            A grid value with a diverged run ranks below every value whose runs all finished.
            Arms with no runs at the tier are left out if two remain (`arms_used`). Fewer than 3 common seeds: inconclusive (a resample of one seed is that seed again,
            so one run would be "replicated" with support 1).

A rule may name a grid arm: `selected` maps it to its tuned member (see analyse.select_tuned).
When other members tie with it on validation (analyse.tied_members), the rule is evaluated at
each tied member too; if the verdicts differ, the verdict is inconclusive ("depends on the tuned
choice") and every tied member's verdict is kept. A rate rule with `pool: true` takes the runs of
all its members together instead (e.g. both learning rates of a Table-1 row, as the paper pools
them).

A sub-claim with `control: true` is a negative control: the paper expects no effect (drop path
"also makes a step faster": it should not), and the report reads "not replicated" as "no effect,
as expected".
"""
from __future__ import annotations

import itertools

import numpy as np

from trickbench import stats
from trickbench.registry import Registry

RULES = Registry("decision rule")
REPLICATED, NOT_REPLICATED, INCONCLUSIVE, NO_DATA = "replicated", "not replicated", "inconclusive", "no data"
REVERSED = "reversed"
EQUIVALENT, NOT_EQUIVALENT = "equivalent", "not equivalent"


def _ok_values(runs: list[dict], arm: str, metric: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][metric] for r in runs
            if r["arm"] == arm and r["outcome"] == "ok" and metric in r["metrics"]}


def _values(runs: list[dict], arm: str, metric: str, failed="exclude") -> dict[int, float]:
    """seed -> metric of the arm's runs; a run that did not finish counts as `failed` (a number)
    or is left out (`exclude`)."""
    out = _ok_values(runs, arm, metric)
    if failed != "exclude":
        out |= {r["seed"]: float(failed) for r in runs if r["arm"] == arm and r["outcome"] != "ok"}
    return out


def _verdict(lo: float, hi: float, m: float, two_arms: bool = True) -> str:
    """The verdict words of the module docstring; "reversed" only compares two arms (against a
    fixed value, falling short is "not replicated")."""
    if lo > m:
        return REPLICATED
    if two_arms and hi < 0 <= m:
        return REVERSED
    return NOT_REPLICATED if hi <= m else INCONCLUSIVE


def _decide(effects: list[float], rule: dict, extra: dict) -> dict:
    n_total = extra.pop("n_total")
    if not effects:
        return {"verdict": NO_DATA, "n": 0, "n_total": n_total, **extra}
    conf = rule.get("confidence", 0.95)
    mean, lo, hi = stats.mean_ci(effects, conf)
    m = rule.get("min_effect", 0.0)
    verdict = _verdict(lo, hi, m, "baseline" in rule)
    los, his = stats.resample_intervals(effects, conf)
    stability = float(np.mean([_verdict(a, b, m, "baseline" in rule) == verdict for a, b in zip(los, his)]))
    sd = float(np.std(effects, ddof=1)) if len(effects) > 1 else float("nan")
    return {"verdict": verdict, "effect": mean, "ci_low": lo, "ci_high": hi, "n": len(effects),
            "n_total": n_total, "stability": stability, "no_spread": len(set(effects)) == 1,  # every seed gave the same effect (or n = 1)
            "p_value": stats.p_greater(effects, m), "p_signflip": stats.signflip_p_greater(effects, m),
            "p_reverse": stats.p_greater([-x for x in effects]) if verdict == REVERSED else None,
            # the other direction: H0 effect >= m, what "not replicated" rejects
            "p_against": stats.p_greater([-x for x in effects], -m),
            "n_needed": stats.n_needed(sd, mean - m, (1 - conf) / 2) if verdict == INCONCLUSIVE else None,
            **extra}


def _paired(runs, rule):
    failed = rule.get("failed", "exclude")
    a = _values(runs, rule["arm"], rule["metric"], failed)
    b = _values(runs, rule["baseline"], rule.get("baseline_metric", rule["metric"]), failed)
    seeds = sorted(set(a) & set(b))
    n_total = len({r["seed"] for r in runs if r["arm"] in (rule["arm"], rule["baseline"])})
    return a, b, seeds, n_total


def _failed_counts(runs, rule) -> dict:
    """How many runs of each side did not finish, and how the rule counted them."""
    bad = lambda arm: sum(r["arm"] == arm and r["outcome"] != "ok" for r in runs)  # noqa: E731
    return {"failed_arm": bad(rule["arm"]), "failed_baseline": bad(rule["baseline"]),
            "failed_as": rule.get("failed", "exclude")}


def _sign(rule):
    return -1.0 if rule["direction"] == "less" else 1.0


@RULES.register("compare")
def compare(runs: list[dict], rule: dict) -> dict:
    a, b, seeds, n_total = _paired(runs, rule)
    s = _sign(rule)
    effects = [s * (a[k] - b[k]) for k in seeds]
    return _decide(effects, rule, {"n_total": n_total, **_failed_counts(runs, rule),
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
    extra = {"n_total": n_total, **_failed_counts(runs, rule),
             "arm_mean": _mean([a[k] for k in seeds]), "baseline_mean": _mean([b[k] for k in seeds])}
    d = [a[k] - b[k] for k in seeds]
    if not d:
        return {"verdict": NO_DATA, "n": 0, **extra}
    conf = rule.get("confidence", 0.90)
    mean, lo, hi = stats.mean_ci(d, conf)
    m = rule["margin"]
    def tost(lo, hi):
        return EQUIVALENT if -m < lo and hi < m else NOT_EQUIVALENT if lo >= m or hi <= -m else INCONCLUSIVE
    v = tost(lo, hi)
    stability = float(np.mean([tost(a, b) == v for a, b in zip(*stats.resample_intervals(d, conf))]))
    # TOST: reject d <= -m and d >= m; its p-value is the larger of the two one-sided ones
    neg = [-x for x in d]
    p = max(stats.p_greater(d, -m), stats.p_greater(neg, -m))
    p_sf = max(stats.signflip_p_greater(d, -m), stats.signflip_p_greater(neg, -m))
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
    need = stats.n_needed(sd, m - abs(mean), (1 - conf) / 2) if v == INCONCLUSIVE else None
    # "not equivalent" rejects |d| <= m on one side: d <= m (the interval above +m) or d >= -m
    p_against = min(stats.p_greater(d, m), stats.p_greater(neg, m))
    return {"verdict": v, "effect": mean, "ci_low": lo, "ci_high": hi, "n": len(d), "no_spread": len(set(d)) == 1,
            "stability": stability, "p_value": p, "p_against": p_against, "p_signflip": p_sf, "n_needed": need, **extra}


def _successes(runs, arm, success) -> tuple[int, int]:
    mine = [r for r in runs if r["arm"] == arm]
    if "outcome" in success:
        k = sum(r["outcome"] == success["outcome"] for r in mine)
    else:
        rel = (lambda x: x > success["value"]) if success["direction"] == "greater" else (lambda x: x < success["value"])
        counted = ("ok", "diverged") if success.get("diverged_too") else ("ok",)
        k = sum(r["outcome"] in counted and rel(r["metrics"].get(success["metric"], float("nan"))) for r in mine)
    return k, len(mine)


@RULES.register("rate")
def rate(runs: list[dict], rule: dict) -> dict:
    """Share of runs that succeed (`success`: {outcome: diverged} or {metric, direction, value})."""
    conf, m, s = rule.get("confidence", 0.95), rule.get("min_effect", 0.0), _sign(rule)
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
        p = (stats.two_proportion_p_greater(k1, n1, k2, n2, m) if s > 0
             else stats.two_proportion_p_greater(k2, n2, k1, n1, m))
        p_rev = (stats.two_proportion_p_greater(k2, n2, k1, n1) if s > 0
                 else stats.two_proportion_p_greater(k1, n1, k2, n2))
        p_against = (stats.two_proportion_p_greater(k2, n2, k1, n1, -m) if s > 0
                     else stats.two_proportion_p_greater(k1, n1, k2, n2, -m))
        extra |= {"baseline_mean": k2 / n2, "baseline_successes": k2, "baseline_n": n2, "n": min(n1, n2)}
    else:
        lo, hi = (x - rule["value"] for x in stats.wilson_interval(k1, n1, conf))
        resampled = [tuple(x - rule["value"] for x in stats.wilson_interval(int(a), n1, conf))
                     for a in stats.resample_counts(k1, n1)]
        d = k1 / n1 - rule["value"]
        p = (stats.proportion_p_greater(k1, n1, rule["value"] + m) if s > 0
             else stats.proportion_p_greater(n1 - k1, n1, 1 - rule["value"] + m))
        p_rev = (stats.proportion_p_greater(n1 - k1, n1, 1 - rule["value"]) if s > 0
                 else stats.proportion_p_greater(k1, n1, rule["value"]))
        p_against = (stats.proportion_p_greater(n1 - k1, n1, 1 - rule["value"] - m) if s > 0
                     else stats.proportion_p_greater(k1, n1, rule["value"] - m))
    e, lo, hi = (s * d, lo, hi) if s > 0 else (-d, -hi, -lo)
    verdict = _verdict(lo, hi, m, "baseline" in rule)
    stability = float(np.mean([_verdict(*((a, b) if s > 0 else (-b, -a)), m, "baseline" in rule) == verdict
                               for a, b in resampled]))
    return {"verdict": verdict, "effect": e, "ci_low": lo, "ci_high": hi, "no_spread": False, "stability": stability,
            "p_value": p, "p_reverse": p_rev if verdict == REVERSED else None, "p_against": p_against,
            "n_needed": None, **extra}


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


ORDER_MIN_SEEDS = 3


@RULES.register("order")
def order(runs: list[dict], rule: dict) -> dict:
    """The best `key` per grid arm falls (or rises) along `arms`; see the module docstring."""
    conf, better = rule.get("confidence", 0.95), rule.get("better", "greater")
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
    if len(seeds) < ORDER_MIN_SEEDS:  # a resample of one or two seeds repeats them: no evidence of spread
        return {"verdict": INCONCLUSIVE, "effect": None, "ci_low": None, "ci_high": None, "n": len(seeds),
                "n_total": len(seeds), "best": best, "no_spread": False, "p_value": None, "n_needed": ORDER_MIN_SEEDS,
                "note": f"{len(seeds)} common seed(s): an order needs at least {ORDER_MIN_SEEDS} to be resampled"}
    rng = np.random.default_rng(0)
    draws = 2000
    support = sum(holds(list(rng.choice(seeds, len(seeds))))[0] for _ in range(draws)) / draws
    verdict = (REPLICATED if observed and support >= conf else NOT_REPLICATED if support <= 1 - conf
               else INCONCLUSIVE)
    return {"verdict": verdict, "effect": support, "ci_low": None, "ci_high": None, "n": len(seeds), "arms_used": used,
            "n_total": len(seeds), "best": best, "no_spread": False, "p_value": 1 - support, "p_against": support,
            "n_needed": None}


def smallest_p(rule: dict, n_arm: int, n_base: int | None = None) -> float | None:
    """The smallest p-value the rule can give with n_arm runs of its arm (and n_base of its
    baseline), whatever the runs show: is the design able to decide at all? Rate rules are exact
    tests with a floor (0/5 vs 5/5: Fisher 0.004); order rules need ORDER_MIN_SEEDS seeds (None
    below); the t-based rules have no floor (0)."""
    if not n_arm or (rule.get("baseline") and not n_base):
        return None
    if rule["type"] == "order":
        return 0.0 if n_arm >= ORDER_MIN_SEEDS else None
    if rule["type"] != "rate":
        return 0.0
    m, up = rule.get("min_effect", 0.0), _sign(rule) > 0
    if "baseline" in rule:
        return (stats.two_proportion_p_greater(n_arm, n_arm, 0, n_base, m) if up
                else stats.two_proportion_p_greater(n_base, n_base, 0, n_arm, m))
    return (stats.proportion_p_greater(n_arm, n_arm, rule["value"] + m) if up
            else stats.proportion_p_greater(n_arm, n_arm, 1 - rule["value"] + m))


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
    way), except an order rule's bootstrap p (a trend holds or not)."""
    return min(1.0, p * (1 if rule_type == "order" else 2))


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
        if adj >= alpha and r["verdict"] in (REPLICATED, EQUIVALENT, REVERSED, NOT_REPLICATED, NOT_EQUIVALENT):
            r["verdict"] = INCONCLUSIVE
            r["holm_downgraded"] = True
    return results


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


TIMING_METRICS = ("train_s_per_epoch", "compute_share")   # measured times and shares of time: differ between equal runs


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
    if rule["type"] not in ("compare", "threshold", "equivalence") or out.get("n") != 1 or all(a in exact for a in arms):
        return out
    return {**out, "verdict": INCONCLUSIVE, "p_value": None, "p_signflip": None, "p_reverse": None,
            "stability": None, "n_needed": None, "verdict_one_seed": out["verdict"],
            "note": "one seed: the spread between seeds is unknown, so one run decides nothing"}


def _evaluate_rule(rule: dict, runs: list[dict], exact: frozenset = frozenset()) -> dict:
    out = _one_seed(RULES.get(rule["type"])(runs, rule), rule, exact)
    if rule.get("metric") in TIMING_METRICS:
        out = _same_setup(out, runs, [rule[k] for k in ("arm", "baseline") if k in rule] + list(rule.get("arms", [])))
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
    names = [rule[k] for k in ("arm", "baseline") if k in rule] + list(rule.get("arms", []))
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
        if rule.get("metric") and rule["type"] != "rate" else None
    out = []
    for metric, text in metrics.items():
        means = {}
        for k, a in zip(("arm", "baseline"), arms):
            vals = _ok_values(runs, a, metric)
            means[k] = _mean([v for s, v in vals.items() if seeds is None or s in seeds])
        out.append({"metric": metric, "label": text, **means})
    return out
