"""Statistics and decision rules on cases with known answers."""
from statistics import NormalDist

import numpy as np
import pytest

from trickbench import rules, stats, verdict
import trickbench.rules.base  # noqa: F401


def test_t_interval_finds_planted_difference_and_covers_the_truth():
    rng = np.random.default_rng(1)
    d = 0.5 + rng.normal(0, 0.3, size=40)
    mean, lo, hi = stats.mean_ci(d)
    assert lo > 0 and lo < 0.5 < hi
    assert mean == pytest.approx(d.mean())


def test_t_interval_known_value_and_noise_straddles_zero():
    # 1, 2, 3, 4: mean 2.5, se = 1.2910 / 2 = 0.6455, t_{0.975, 3} = 3.1824 -> 2.5 ± 2.0542
    mean, lo, hi = stats.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert (lo, hi) == (pytest.approx(0.4458, abs=1e-3), pytest.approx(4.5542, abs=1e-3))
    rng = np.random.default_rng(2)
    _, lo, hi = stats.mean_ci(rng.normal(0, 1, size=30))
    assert lo < 0 < hi


def test_interval_degenerate_cases():
    assert stats.mean_ci([3.0]) == (3.0, 3.0, 3.0)
    assert stats.mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        stats.mean_ci([])


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    lo, hi = stats.wilson_interval(0, 20)
    assert lo == pytest.approx(0, abs=1e-12) and hi == pytest.approx(0.1611, abs=1e-3)


def _runs(arm, values, outcome="ok"):
    return [{"arm": arm, "seed": i, "outcome": outcome, "metrics": {"m": v}} for i, v in enumerate(values)]


def test_compare_rule_is_paired_over_seeds():
    # large seed-to-seed spread, constant paired difference of -1: only pairing sees it
    base = [10.0, 20.0, 30.0, 40.0, 50.0]
    runs = _runs("a", [b - 1 for b in base]) + _runs("b", base)
    rule = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "less"}
    out = verdict.RULES.get("compare")(runs, rule)
    assert out["verdict"] == verdict.REPLICATED and out["effect"] == pytest.approx(1.0) and out["n"] == 5


def test_compare_rule_opposite_direction_is_reversed_and_noise_is_inconclusive():
    rule = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater"}
    runs = _runs("a", [1.0, 1.1, 0.9, 1.0]) + _runs("b", [2.0, 2.3, 1.8, 2.0])
    out = verdict.RULES.get("compare")(runs, rule)
    assert out["verdict"] == verdict.REVERSED and out["p_reverse"] < 0.01
    rng = np.random.default_rng(3)
    runs = _runs("a", rng.normal(0, 1, 20)) + _runs("b", rng.normal(0, 1, 20))
    assert verdict.RULES.get("compare")(runs, rule)["verdict"] == verdict.INCONCLUSIVE


def test_min_effect_raises_the_bar():
    runs = _runs("a", [1.1, 1.2, 1.15]) + _runs("b", [1.0, 1.0, 1.0])
    rule = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater", "min_effect": 0.5}
    assert verdict.RULES.get("compare")(runs, rule)["verdict"] == verdict.NOT_REPLICATED


def test_threshold_rule_and_failed_runs_are_left_out():
    runs = _runs("a", [0.95, 0.97, 0.96]) + [{"arm": "a", "seed": 3, "outcome": "diverged", "metrics": {}}]
    out = verdict.RULES.get("threshold")(runs, {"type": "threshold", "metric": "m", "arm": "a",
                                                "direction": "greater", "value": 0.9})
    assert out["verdict"] == verdict.REPLICATED and out["n"] == 3 and out["n_total"] == 4
    out = verdict.RULES.get("threshold")(runs[3:], {"type": "threshold", "metric": "m", "arm": "a",
                                                    "direction": "greater", "value": 0.9})
    assert out["verdict"] == verdict.NO_DATA


def test_equivalence_tost():
    rule = {"type": "equivalence", "metric": "m", "arm": "a", "baseline": "b", "margin": 0.5, "confidence": 0.9}
    base = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    close = _runs("a", [b + d for b, d in zip(base, [0.01, -0.02, 0.0, 0.02, -0.01, 0.01])]) + _runs("b", base)
    assert verdict.RULES.get("equivalence")(close, rule)["verdict"] == verdict.EQUIVALENT
    far = _runs("a", [b + 2 for b in base]) + _runs("b", base)
    assert verdict.RULES.get("equivalence")(far, rule)["verdict"] == verdict.NOT_EQUIVALENT
    rng = np.random.default_rng(4)
    noisy = _runs("a", rng.normal(0, 2, 8)) + _runs("b", rng.normal(0, 2, 8))
    assert verdict.RULES.get("equivalence")(noisy, rule)["verdict"] == verdict.INCONCLUSIVE


def test_evaluate_maps_grid_arms_to_their_tuned_member():
    runs = _runs("a__lr0p1", [2.0, 2.1]) + _runs("a__lr1", [5.0, 5.1]) + _runs("b", [1.0, 1.0])
    sub = {"id": "x", "statement": "s",
           "rule": {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater"}}
    out = verdict.evaluate(sub, runs, {"a": "a__lr0p1", "b": "b"})
    assert out["rule"]["arm"] == "a__lr0p1" and out["declared_rule"]["arm"] == "a"
    assert out["arm_mean"] == pytest.approx(2.05)


def test_beside_metrics_are_the_means_of_the_compared_runs_of_the_tuned_members():
    runs = _runs("a__lr0p1", [2.0, 2.1, 2.2]) + _runs("a__lr1", [5.0, 5.1]) + _runs("b", [1.0, 1.0])
    for r, fit in zip(runs, [0.9, 0.8, 0.1, 0.0, 0.0, 1.0, 0.96]):
        r["metrics"]["train_acc"] = fit
    sub = {"id": "x", "statement": "s", "beside": {"train_acc": "training accuracy"},
           "rule": {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater"}}
    out = verdict.evaluate(sub, runs, {"a": "a__lr0p1", "b": "b"})
    # seed 2 of a__lr0p1 has no baseline to pair with: left out, as in arm_mean; the other member never counts
    assert out["beside"] == [{"metric": "train_acc", "label": "training accuracy",
                              "arm": pytest.approx(0.85), "baseline": pytest.approx(0.98)}]
    assert "beside" not in verdict.evaluate({k: v for k, v in sub.items() if k != "beside"}, runs, {"a": "a__lr0p1", "b": "b"})


def test_beside_reads_the_baseline_on_its_own_metric():
    """A rule comparing an ensemble's accuracy with the baseline's final accuracy (baseline_metric)
    printed its `beside` metric as '– vs –': the baseline's seeds were looked up by the arm's metric."""
    runs = [{"arm": "cyclic", "seed": k, "outcome": "ok", "metrics": {"ens": 0.9 + k / 100, "loss": 0.1}} for k in range(3)] \
        + [{"arm": "step", "seed": k, "outcome": "ok", "metrics": {"acc": 0.88 + k / 100, "loss": 0.3}} for k in range(3)]
    sub = {"id": "x", "statement": "s", "beside": {"loss": "training loss"},
           "rule": {"type": "compare", "arm": "cyclic", "metric": "ens", "baseline": "step", "baseline_metric": "acc",
                    "direction": "greater"}}
    out = verdict.evaluate(sub, runs)
    assert out["beside"] == [{"metric": "loss", "label": "training loss",
                              "arm": pytest.approx(0.1), "baseline": pytest.approx(0.3)}]


def test_holm_known_values():
    # Holm (1979) step-down: sorted p * (m - rank), made monotone
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([]) == [] and stats.holm([0.5]) == [0.5] and stats.holm([0.6, 0.9]) == [1.0, 1.0]


def test_newcombe_interval_matches_newcombe_1998():
    lo, hi = stats.newcombe_interval(56, 70, 48, 80)  # Newcombe (1998), Table II, example (a)
    assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)


def test_p_values_and_n_needed():
    rng = np.random.default_rng(5)
    assert stats.p_greater(1.0 + rng.normal(0, 0.5, 30)) < 0.001   # clearly > 0
    assert stats.p_greater(-1.0 + rng.normal(0, 0.5, 30)) > 0.99   # clearly < 0
    assert stats.p_greater([0.2]) == 0.0 and stats.p_greater([-0.2]) == 1.0
    # t = 2.5 / 0.6455 = 3.873 with 3 df: one-sided p = 0.0152 (R: t.test(1:4, alternative = "greater"))
    assert stats.p_greater([1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.0152, abs=2e-4)
    # the exact sign-flip test of four positive differences: only the observed signs reach the mean, 1/16
    assert stats.signflip_p_greater([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1 / 16)
    assert stats.signflip_p_greater([0.1, 0.3, 0.2, 0.25, 0.4]) == pytest.approx(1 / 32)
    # t-test power (statsmodels): d = 1, one-sided 2.5%, 80% power needs 10 seeds; the normal
    # approximation (1.96 + 0.84)^2 = 7.85 would say 8
    assert stats.n_needed(1.0, 1.0) == 10
    assert stats.n_needed(1.0, 0.5) == 34
    assert stats.n_needed(1.0, -0.1) is None
    assert stats.n_needed(1.0, 0.001) == stats.N_NEEDED_CAP + 1   # not decidable at this effect size


@pytest.mark.parametrize("n", [3, 4, 5, 20])
def test_t_interval_coverage_is_nominal_at_three_to_five_seeds(n):
    # the bootstrap interval this replaced covered 0.74 / 0.87 / 0.92 at n = 3 / 4 / 5
    rng = np.random.default_rng(6)
    trials = 2000
    hits = sum(lo < 0.3 < hi for lo, hi in (stats.mean_ci(rng.normal(0.3, 1.0, n))[1:] for _ in range(trials)))
    assert 0.935 <= hits / trials <= 0.965   # 0.95 ± 3 binomial sd


def test_positive_min_effect_two_proportions_uses_the_score_test():
    # 10/10 vs 5/10 beyond a difference of 0.2: the Wald test's variance at the observed rates
    # (0 for the 10/10 arm) gives z = 0.3 / 0.158 = 1.90, p = 0.029; the score test's variance at
    # the restricted estimate is larger, so its p-value is larger
    wald = 1 - NormalDist().cdf(0.3 / (0.25 / 10) ** 0.5)
    score = stats.two_proportion_p_greater(10, 10, 5, 10, 0.2)
    assert wald == pytest.approx(0.029, abs=1e-3) and 0.04 < score < 0.3


def test_identical_arms_are_equivalent_and_too_few_seeds_is_inconclusive():
    rule = {"type": "equivalence", "metric": "m", "arm": "a", "baseline": "b", "margin": 0.01, "confidence": 0.9}
    same = [0.91, 0.93, 0.92, 0.95, 0.90]
    out = verdict.RULES.get("equivalence")(_runs("a", same) + _runs("b", same), rule)
    assert out["verdict"] == verdict.EQUIVALENT and out["p_value"] == 0.0
    cmp = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater"}
    few = verdict.RULES.get("compare")(_runs("a", [1.3, 0.2]) + _runs("b", [1.0, 0.5]), cmp)
    assert few["verdict"] == verdict.INCONCLUSIVE and few["n"] == 2
    assert few["n_needed"] is None  # mean effect 0: no n makes it replicate


def test_inconclusive_small_effect_reports_the_seeds_needed():
    rng = np.random.default_rng(7)
    base = rng.normal(0, 1, 4)
    cmp = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater"}
    out = verdict.RULES.get("compare")(_runs("a", base + 0.3 + rng.normal(0, 0.5, 4)) + _runs("b", base), cmp)
    if out["verdict"] == verdict.INCONCLUSIVE:
        assert out["n_needed"] > 4


def test_rate_rule_against_a_baseline_and_a_value():
    runs = ([{"arm": "nf", "seed": i, "outcome": "diverged" if i < 9 else "ok", "metrics": {}} for i in range(10)]
            + [{"arm": "agc", "seed": i, "outcome": "ok", "metrics": {"acc": 0.9}} for i in range(10)])
    div = {"type": "rate", "arm": "agc", "baseline": "nf", "success": {"outcome": "diverged"}, "direction": "less"}
    out = verdict.RULES.get("rate")(runs, div)
    assert out["verdict"] == verdict.REPLICATED and out["effect"] == pytest.approx(0.9) and out["p_value"] < 0.01
    trains = {"type": "rate", "arm": "nf", "value": 0.5, "direction": "greater",
              "success": {"metric": "acc", "direction": "greater", "value": 0.5}}
    out = verdict.RULES.get("rate")(runs, trains)
    assert out["verdict"] == verdict.NOT_REPLICATED and out["arm_mean"] == pytest.approx(0.0)


def test_rate_p_values_are_exact():
    # Fisher's exact test, one-sided (R: fisher.test(matrix(c(6,14,1,19),2,byrow=TRUE), alt="greater"))
    assert stats.two_proportion_p_greater(6, 20, 1, 20) == pytest.approx(0.04574, abs=1e-5)
    assert stats.two_proportion_p_greater(0, 40, 0, 40) == pytest.approx(1.0)
    # exact binomial: P(X >= 9 | n=10, p=0.5) = 11/1024
    assert stats.proportion_p_greater(9, 10, 0.5) == pytest.approx(11 / 1024)


def test_rate_rule_counts_diverged_runs_only_when_asked():
    # 8 runs reach 0.9 before diverging, 2 finish at 0.9; the baseline finishes at chance
    runs = ([{"arm": "noise", "seed": i, "outcome": "diverged" if i < 8 else "ok", "metrics": {"best": 0.9}}
             for i in range(10)] + [{"arm": "plain", "seed": i, "outcome": "ok", "metrics": {"best": 0.1}}
                                    for i in range(10)])
    rule = {"type": "rate", "arm": "noise", "baseline": "plain", "direction": "greater",
            "success": {"metric": "best", "direction": "greater", "value": 0.5}}
    assert verdict.RULES.get("rate")(runs, rule)["successes"] == 2
    rule["success"]["diverged_too"] = True
    out = verdict.RULES.get("rate")(runs, rule)
    assert out["successes"] == 10 and out["verdict"] == verdict.REPLICATED


def test_holm_corrects_in_both_directions():
    """Any decided verdict, for or against the paper, stands only if twice the p of its own
    direction survives Holm; 'not replicated' is corrected too (it never was), and a reversed
    verdict that fails becomes inconclusive (it became 'not replicated')."""
    results = [{"verdict": verdict.REPLICATED, "p_value": 0.015}, {"verdict": verdict.REPLICATED, "p_value": 0.001},
               {"verdict": verdict.NOT_REPLICATED, "p_value": 0.99, "p_against": 0.01},
               {"verdict": verdict.REVERSED, "p_value": 0.999, "p_reverse": 0.02, "p_against": 0.02},
               {"verdict": verdict.INCONCLUSIVE, "p_value": 0.4, "p_against": 0.6}, {"verdict": verdict.NO_DATA}]
    verdict.apply_holm(results)
    assert [r.get("p_two_sided") for r in results[:5]] == pytest.approx([0.03, 0.002, 0.02, 0.04, 0.8])
    assert results[1]["verdict"] == verdict.REPLICATED and results[1]["p_holm"] == pytest.approx(0.01)
    for i in (0, 2, 3):   # 0.03 * 3, 0.02 * 4, 0.04 * 2: none below 0.05
        assert results[i]["verdict"] == verdict.INCONCLUSIVE and results[i]["holm_downgraded"]
    assert results[3]["verdict_uncorrected"] == verdict.REVERSED and "both directions" in results[3]["correction"]
    assert "p_holm" not in results[5]


def test_a_family_with_no_effect_anywhere_decides_nothing_false_more_than_one_time_in_twenty():
    """Family-wise error over both directions, simulated: 8 paired sub-claims, 5 seeds each, no
    true effect. A one-sided correction lets 'replicated' and 'reversed' each take 5 %, and left
    'not replicated' uncorrected; the two-sided one keeps any false verdict at <= 5 %."""
    from scipy.stats import t as student
    rng = np.random.default_rng(7)
    families, k, n = 3000, 8, 5
    d = rng.normal(0, 1, (families, k, n))
    # the t-test and interval of stats.p_greater / stats.mean_ci, vectorised (checked on one below)
    mean, se = d.mean(-1), d.std(-1, ddof=1) / np.sqrt(n)
    p_for, p_against = student.sf(mean / se, n - 1), student.cdf(mean / se, n - 1)
    half = student.ppf(0.975, n - 1) * se
    assert p_for[0, 0] == pytest.approx(stats.p_greater(d[0, 0])) and \
        (mean[0, 0] - half[0, 0], mean[0, 0] + half[0, 0]) == pytest.approx(stats.mean_ci(d[0, 0], 0.95)[1:])
    rule = {"type": "compare", "arm": "a", "baseline": "b", "metric": "m", "direction": "greater"}
    wrong = 0
    for f in range(families):
        fam = []
        for j in range(k):
            v = rules.base.verdict_of(mean[f, j] - half[f, j], mean[f, j] + half[f, j], 0.0)
            fam.append({"verdict": v, "rule": rule, "p_value": p_for[f, j], "p_against": p_against[f, j],
                        "p_reverse": p_against[f, j] if v == verdict.REVERSED else None})
        verdict.apply_holm(fam)
        wrong += any(r["verdict"] != verdict.INCONCLUSIVE for r in fam)
    rate = wrong / families
    assert rate <= 0.05 + 3 * (0.05 * 0.95 / families) ** 0.5, rate   # within 3 standard errors of 5 %
    assert rate > 0.01   # and not a check that cannot fail: the correction is not absurdly strict


def test_a_mixed_family_under_the_null_keeps_its_error_and_finds_a_real_effect():
    """Every rule type but order at the committed sizes, together in one family: paired compares
    at n = 3 and 20, equivalences with the true difference on the margin (only 'equivalent' is
    false there), a rate with equal proportions (10 runs a side). Family-wise error <= 5 % under
    the null (3 standard errors), and a real effect of 1.5 sd at n = 20 still found."""
    from scipy.stats import t as student
    rng = np.random.default_rng(11)
    families = 1500
    cmp_rule, eq_rule = {"type": "compare", "direction": "greater"}, {"type": "equivalence"}
    rate_rule = {"type": "rate", "direction": "greater", "baseline": "b"}

    def t_test(d, conf):
        n = d.shape[-1]
        mean, se = d.mean(-1), d.std(-1, ddof=1) / np.sqrt(n)
        half = student.ppf(1 - (1 - conf) / 2, n - 1) * se
        return mean, mean - half, mean + half, se, n

    def paired(d):
        mean, lo, hi, se, n = t_test(d, 0.95)
        return [{"verdict": rules.base.verdict_of(a, b, 0.0), "rule": cmp_rule, "p_value": student.sf(m / s, n - 1),
                 "p_against": student.cdf(m / s, n - 1), "p_reverse": student.cdf(m / s, n - 1)}
                for m, a, b, s in zip(mean, lo, hi, se)]

    def equivalent(d, margin=1.0):
        mean, lo, hi, se, n = t_test(d, 0.90)
        out = []
        for m, a, b, s in zip(mean, lo, hi, se):
            v = verdict.EQUIVALENT if -margin < a and b < margin else \
                verdict.NOT_EQUIVALENT if a >= margin or b <= -margin else verdict.INCONCLUSIVE
            p = max(student.sf((m + margin) / s, n - 1), student.cdf((m - margin) / s, n - 1))
            against = min(student.sf((m - margin) / s, n - 1), student.cdf((m + margin) / s, n - 1))
            out.append({"verdict": v, "rule": eq_rule, "p_value": p, "p_against": against})
        return out

    def rate(k1, k2, n=10):
        lo, hi = stats.newcombe_interval(k1, n, k2, n, 0.95)
        return {"verdict": rules.base.verdict_of(lo, hi, 0.0), "rule": rate_rule,
                "p_value": stats.two_proportion_p_greater(k1, n, k2, n),
                "p_against": stats.two_proportion_p_greater(k2, n, k1, n),
                "p_reverse": stats.two_proportion_p_greater(k2, n, k1, n)}

    small, large = rng.normal(0, 1, (families, 2, 3)), rng.normal(0, 1, (families, 2, 20))
    on_margin = rng.normal(1.0, 1, (families, 2, 5))   # true difference = the margin
    k = rng.binomial(10, 0.5, (families, 2))
    wrong = 0
    for f in range(families):
        fam = paired(small[f]) + paired(large[f]) + equivalent(on_margin[f]) + [rate(*k[f])]
        verdict.apply_holm(fam)
        wrong += any(r["verdict"] not in (verdict.INCONCLUSIVE, verdict.NOT_EQUIVALENT) if r["rule"] is eq_rule
                     else r["verdict"] != verdict.INCONCLUSIVE for r in fam)
    assert wrong / families <= 0.05 + 3 * (0.05 * 0.95 / families) ** 0.5, wrong / families
    # power: the same family with one real effect of 1.5 sd at n = 20 among the nulls
    found = 0
    for f in range(300):
        real = large[f].copy()
        real[0] += 1.5
        fam = paired(real) + paired(small[f]) + equivalent(on_margin[f]) + [rate(*k[f])]
        verdict.apply_holm(fam)
        found += fam[0]["verdict"] == verdict.REPLICATED
    assert found / 300 > 0.95, found / 300


def _agc_runs(best_small, best_large, n=6, flip_seed=None):
    """Runs of two grid arms over agc.clipping; `best_*` is the value with the highest score."""
    runs, rng = [], np.random.default_rng(1)
    for fam, best in (("agc_small", best_small), ("agc_large", best_large)):
        for lam in (0.01, 0.04, 0.16):
            for seed in range(n):
                score = 0.9 - 0.1 * abs(np.log2(lam / best)) + rng.normal(0, 0.005)
                outcome = "diverged" if seed == flip_seed and lam == best else "ok"
                runs.append({"arm": f"{fam}__clipping{str(lam).replace('.', 'p')}", "seed": seed, "outcome": outcome,
                             "recipe": {"agc": {"clipping": lam}}, "metrics": {"val": score} if outcome == "ok" else {}})
    return runs


def test_order_rule_finds_the_best_value_falling_along_the_arms():
    rule = {"type": "order", "arms": ["agc_small", "agc_large"], "key": "agc.clipping", "metric": "val",
            "direction": "decreasing"}
    r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01), rule)   # 6 seeds: 2^6 relabellings, exact
    assert r["verdict"] == verdict.REPLICATED and r["best"] == [0.16, 0.01] and r["p_value"] == pytest.approx(1 / 64)
    assert r["relabellings"] == 64 and r["effect"] > 0.95          # effect: the bootstrap support, descriptive
    r = verdict.RULES.get("order")(_agc_runs(0.01, 0.16), rule)
    assert r["verdict"] == verdict.NOT_REPLICATED and r["best"] == [0.01, 0.16] and r["p_against"] == pytest.approx(1 / 64)
    # a value whose run diverged on some seed ranks below values whose runs all finished
    r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01, flip_seed=0), rule)
    assert r["best"] == [0.04, 0.04] and r["verdict"] != verdict.REPLICATED
    # one or two seeds: nothing to relabel or resample
    for n in (1, 2):
        r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01, n=n), rule)
        assert r["best"] == [0.16, 0.01] and r["verdict"] == verdict.INCONCLUSIVE and r["p_value"] is None
    # three seeds of two arms: 8 relabellings, so even a perfect order has p = 1/8 (the bootstrap
    # support said "replicated" here, and did so in 6.7 % of runs with no true order)
    r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01, n=3), rule)
    assert r["p_value"] == pytest.approx(1 / 8) and r["verdict"] == verdict.INCONCLUSIVE


def test_the_order_test_decides_falsely_at_most_one_time_in_twenty_with_no_true_order():
    """Issue 45 §5: an order at the committed sizes (2 and 3 arms, 3 to 6 seeds) where every arm has
    the same best value (0.04): a false 'replicated' or 'not replicated' in at most 5 % of 150 draws
    at each size, with Holm's two-sided correction of a family of one."""
    rule2 = {"type": "order", "arms": ["a", "b"], "key": "agc.clipping", "metric": "val", "direction": "decreasing"}
    rule3 = {**rule2, "arms": ["a", "b", "c"]}
    for rule, n in ((rule2, 3), (rule2, 6), (rule3, 3), (rule3, 5)):
        wrong = 0
        for rep in range(150):
            rng = np.random.default_rng(rep)
            runs = [{"arm": f"{arm}__clip{lam}", "seed": s, "outcome": "ok", "recipe": {"agc": {"clipping": lam}},
                     "metrics": {"val": 0.9 - 0.05 * abs(np.log2(lam / 0.04)) + rng.normal(0, 0.02)}}
                    for arm in rule["arms"] for lam in (0.01, 0.04, 0.16) for s in range(n)]
            r = verdict.apply_holm([{**verdict.RULES.get("order")(runs, rule), "rule": rule}])[0]
            wrong += r["verdict"] in (verdict.REPLICATED, verdict.NOT_REPLICATED)
        assert wrong / 150 <= 0.05, (len(rule["arms"]), n, wrong / 150)


def test_an_order_rule_goes_over_the_arms_a_tier_runs():
    rule = {"type": "order", "arms": ["agc_small", "agc_mid", "agc_large"], "key": "agc.clipping", "metric": "val",
            "direction": "decreasing"}
    r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01), rule)   # no agc_mid runs: the medium batch not run
    assert r["arms_used"] == ["agc_small", "agc_large"] and r["verdict"] == verdict.REPLICATED


def test_a_rule_on_two_metrics_of_one_arm_is_still_judged():
    """pruning and snapshot_ensembles compare two metrics of one arm (arm == baseline): not the
    'grid cut to one value' case, which only a grid arm resolving to itself is."""
    runs = [{"arm": "mlp", "seed": s, "outcome": "ok", "metrics": {"a": 0.9 + 0.01 * s, "b": 0.5}} for s in range(5)]
    sub = {"id": "x", "statement": "s", "rule": {"type": "compare", "arm": "mlp", "metric": "a", "baseline": "mlp",
                                                 "baseline_metric": "b", "direction": "greater"}}
    assert verdict.evaluate(sub, runs, {"mlp": "mlp"})["verdict"] == verdict.REPLICATED


def test_one_seed_of_a_seeded_arm_decides_nothing_but_one_deterministic_run_does():
    # a first pair of runs of a tier still being run: a 2.6 pp difference, one seed each
    sub = {"id": "better", "statement": "s", "rule": {"type": "compare", "arm": "a", "baseline": "b",
                                                       "metric": "m", "direction": "greater"}}
    runs = _runs("a", [0.7185]) + _runs("b", [0.7443])
    v = verdict.evaluate(sub, runs)
    assert v["verdict"] == verdict.INCONCLUSIVE and v["verdict_one_seed"] == verdict.REVERSED
    assert v["p_value"] is None and v["n"] == 1
    out = verdict.apply_holm([v, verdict.evaluate(sub, _runs("a", [2.0, 2.1, 2.2]) + _runs("b", [1.0, 1.05, 1.1]))])
    assert out[0]["verdict"] == verdict.INCONCLUSIVE and "p_holm" not in out[0]
    assert out[1]["correction"].startswith("Holm over 1 sub-claims")  # the undecided one-seed result is not counted
    # the same numbers from arms declared deterministic (a quadratic, an online problem): decided
    v = verdict.evaluate(sub, runs, exact=frozenset({"a", "b"}))
    assert v["verdict"] == verdict.REVERSED and "verdict_one_seed" not in v
    thr = {"id": "t", "statement": "s", "rule": {"type": "threshold", "arm": "a", "metric": "m",
                                                   "direction": "greater", "value": 0.5}}
    assert verdict.evaluate(thr, _runs("a", [0.9]))["verdict"] == verdict.INCONCLUSIVE
    assert verdict.evaluate(thr, _runs("a", [0.9, 0.95]))["verdict"] == verdict.REPLICATED


def test_runs_of_another_setup_are_flagged_on_every_verdict_they_feed():
    """Issue 47 §2: one seed retrained in fp32 beside four bf16 siblings was pooled into the accuracy
    verdict with no word; an arm on a GPU against a CPU baseline likewise. Accuracy verdicts keep
    their value and say so (setup_mixed), in verdicts.json, verdicts.csv and the PDF's note."""
    from trickbench import report, verdict
    sub = {"id": "acc", "statement": "s", "rule": {"type": "compare", "arm": "a", "baseline": "b",
                                                    "metric": "test_acc", "direction": "greater"}}

    def run(arm, seed, acc, prec="bf16", gpu=None, layout="channels_last"):
        return {"arm": arm, "seed": seed, "outcome": "ok", "metrics": {"test_acc": acc}, "precision": prec,
                "layout": layout, "provenance": {"cpu": "Xeon", "cpu_bf16": "amx_bf16", **({"gpu": gpu} if gpu else {})}}
    same = [run("a", k, 0.9 + 0.001 * k) for k in range(5)] + [run("b", k, 0.8 + 0.002 * k) for k in range(5)]
    assert "setup_mixed" not in verdict.evaluate(sub, same)
    one_fp32 = same[:4] + [run("a", 4, 0.904, prec="fp32", layout="contiguous")] + same[5:]
    v = verdict.evaluate(sub, one_fp32)
    assert v["verdict"] == "replicated" and v["setup_mixed"] == "precision: bf16 (9), fp32 (1); layout: channels_last (9), contiguous (1)"
    assert "runs in more than one setup, pooled: precision: bf16 (9), fp32 (1)" in report._verdict_note(v)
    on_gpu = same[:5] + [run("b", k, 0.8, gpu="NVIDIA H200") for k in range(5)]
    assert verdict.evaluate(sub, on_gpu)["setup_mixed"].startswith("machine: NVIDIA H200 (5), Xeon (amx_bf16) (5)")
    # another arm's setup does not flag a rule that does not use it
    other = same + [run("c", 0, 0.5, prec="fp32")]
    assert "setup_mixed" not in verdict.evaluate(sub, other)
    assert "setup_mixed" in report.FLAT_COLUMNS
