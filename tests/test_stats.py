"""Statistics and decision rules on cases with known answers."""
import numpy as np
import pytest

from trickbench import stats, verdict


def test_bootstrap_finds_planted_difference_and_covers_the_truth():
    rng = np.random.default_rng(1)
    d = 0.5 + rng.normal(0, 0.3, size=40)
    mean, lo, hi = stats.bootstrap_mean_ci(d)
    assert lo > 0 and lo < 0.5 < hi
    assert mean == pytest.approx(d.mean())


def test_bootstrap_interval_of_noise_straddles_zero():
    rng = np.random.default_rng(2)
    _, lo, hi = stats.bootstrap_mean_ci(rng.normal(0, 1, size=30))
    assert lo < 0 < hi


def test_bootstrap_degenerate_cases():
    assert stats.bootstrap_mean_ci([3.0]) == (3.0, 3.0, 3.0)
    assert stats.bootstrap_mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        stats.bootstrap_mean_ci([])


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


def test_compare_rule_opposite_direction_is_not_replicated_and_noise_is_inconclusive():
    rule = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater"}
    runs = _runs("a", [1.0, 1.1, 0.9, 1.0]) + _runs("b", [2.0, 2.1, 1.9, 2.0])
    assert verdict.RULES.get("compare")(runs, rule)["verdict"] == verdict.NOT_REPLICATED
    rng = np.random.default_rng(3)
    runs = _runs("a", rng.normal(0, 1, 20)) + _runs("b", rng.normal(0, 1, 20))
    assert verdict.RULES.get("compare")(runs, rule)["verdict"] == verdict.INCONCLUSIVE


def test_min_effect_raises_the_bar():
    runs = _runs("a", [1.1, 1.2, 1.15]) + _runs("b", [1.0, 1.0, 1.0])
    rule = {"type": "compare", "metric": "m", "arm": "a", "baseline": "b", "direction": "greater", "min_effect": 0.5}
    assert verdict.RULES.get("compare")(runs, rule)["verdict"] == verdict.NOT_REPLICATED


def test_threshold_rule_and_failed_runs_are_left_out():
    runs = _runs("a", [0.95, 0.97]) + [{"arm": "a", "seed": 2, "outcome": "diverged", "metrics": {}}]
    out = verdict.RULES.get("threshold")(runs, {"type": "threshold", "metric": "m", "arm": "a",
                                                "direction": "greater", "value": 0.9})
    assert out["verdict"] == verdict.REPLICATED and out["n"] == 2 and out["n_total"] == 3
    out = verdict.RULES.get("threshold")(runs[2:], {"type": "threshold", "metric": "m", "arm": "a",
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


def test_holm_known_values():
    # Holm (1979) step-down: sorted p * (m - rank), made monotone
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([]) == [] and stats.holm([0.5]) == [0.5] and stats.holm([0.6, 0.9]) == [1.0, 1.0]


def test_newcombe_interval_matches_newcombe_1998():
    lo, hi = stats.newcombe_interval(56, 70, 48, 80)  # Newcombe (1998), Table II, example (a)
    assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)


def test_bootstrap_p_value_and_n_needed():
    rng = np.random.default_rng(5)
    assert stats.bootstrap_p_greater(1.0 + rng.normal(0, 0.5, 30)) < 0.001   # clearly > 0
    assert stats.bootstrap_p_greater(-1.0 + rng.normal(0, 0.5, 30)) > 0.99   # clearly < 0
    assert stats.bootstrap_p_greater([0.2]) == 0.0 and stats.bootstrap_p_greater([-0.2]) == 1.0
    # sd 1, delta 0.5, one-sided 2.5%, 80% power: (1.96 + 0.84)^2 / 0.25 = 31.4 -> 32
    assert stats.n_needed(1.0, 0.5) == 32
    assert stats.n_needed(1.0, -0.1) is None


@pytest.mark.parametrize("n, floor", [(5, 0.87), (20, 0.91)])
def test_bootstrap_interval_coverage_is_near_nominal_even_at_five_seeds(n, floor):
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(300):
        _, lo, hi = stats.bootstrap_mean_ci(rng.normal(0.3, 1.0, n), samples=2000, seed=int(rng.integers(1 << 30)))
        hits += lo < 0.3 < hi
    # nominal 0.95; the plain percentile interval covers ~0.85 at n = 5, the expanded one ~0.92
    # (it cannot reach past the data's own range at so few points)
    assert floor <= hits / 300 <= 0.99


def test_expanded_alpha():
    # n = 5: t_{0.975,4} = 2.776, * sqrt(5/4) = 3.104 -> alpha' = 2 (1 - Phi(3.104)) = 0.0019
    assert stats.expanded_alpha(0.05, 5) == pytest.approx(0.0019, abs=2e-4)
    assert stats.expanded_alpha(0.05, 1000) == pytest.approx(0.05, abs=2e-3)


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


def test_holm_downgrades_a_marginal_positive_verdict():
    results = [{"verdict": verdict.REPLICATED, "p_value": 0.03}, {"verdict": verdict.REPLICATED, "p_value": 0.001},
               {"verdict": verdict.NOT_REPLICATED, "p_value": 0.9}, {"verdict": verdict.NO_DATA}]
    verdict.apply_holm(results)
    assert results[1]["verdict"] == verdict.REPLICATED and results[1]["p_holm"] == pytest.approx(0.003)
    assert results[0]["verdict"] == verdict.INCONCLUSIVE and results[0]["holm_downgraded"]
    assert results[0]["p_holm"] == pytest.approx(0.06) and results[0]["verdict_uncorrected"] == verdict.REPLICATED
    assert "p_holm" not in results[3]


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
    r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01), rule)
    assert r["verdict"] == verdict.REPLICATED and r["best"] == [0.16, 0.01] and r["effect"] > 0.95
    r = verdict.RULES.get("order")(_agc_runs(0.01, 0.16), rule)
    assert r["verdict"] == verdict.NOT_REPLICATED and r["best"] == [0.01, 0.16]
    # a value whose run diverged on some seed ranks below values whose runs all finished
    r = verdict.RULES.get("order")(_agc_runs(0.16, 0.01, flip_seed=0), rule)
    assert r["best"] == [0.04, 0.04] and r["verdict"] != verdict.REPLICATED


def test_pooled_rate_rule_counts_every_grid_member():
    runs = [{"arm": f"{arm}__lr{lr}", "seed": s, "outcome": "ok",
             "metrics": {"acc": 0.9 if (arm == "noise" and (s < 15 if lr == "0p1" else s < 5)) else 0.1}}
            for arm in ("noise", "plain") for lr in ("0p1", "0p01") for s in range(20)]
    sub = {"id": "x", "statement": "s", "rule": {"type": "rate", "arm": "noise", "baseline": "plain", "pool": True,
                                                 "direction": "greater",
                                                 "success": {"metric": "acc", "direction": "greater", "value": 0.5}}}
    r = verdict.evaluate(sub, runs)
    assert (r["successes"], r["n"], r["baseline_successes"], r["baseline_n"]) == (20, 40, 0, 40)
    assert r["verdict"] == verdict.REPLICATED


def test_arm_std_is_exactly_zero_when_every_run_agrees():
    import pandas as pd
    from trickbench import analyse
    assert analyse._std(pd.Series([0.1135] * 20)) == 0.0  # pandas alone gives ~1.4e-17 here
    assert analyse._std(pd.Series([1.0, 2.0, 3.0])) == pytest.approx(1.0)


def test_timings_from_two_machines_are_not_compared():
    from trickbench import verdict
    sub = {"id": "faster", "statement": "s", "rule": {"type": "compare", "arm": "a", "baseline": "b",
                                                       "metric": "train_s_per_epoch", "direction": "less"}}

    def run(arm, seed, t, cpu="EPYC", prec="bf16"):
        return {"arm": arm, "seed": seed, "outcome": "ok", "metrics": {"train_s_per_epoch": t},
                "precision": prec, "provenance": {"cpu": cpu}}
    same = [run("a", k, 1.0 + 0.01 * k) for k in range(5)] + [run("b", k, 2.0 - 0.01 * k) for k in range(5)]
    v = verdict.evaluate(sub, same)
    assert v["verdict"] == "replicated" and v["timing_setups"] == ["EPYC, bf16"] and not v.get("mixed_setups")
    mixed = same[:5] + [run("b", k, 2.0, prec="fp32") for k in range(5)]
    v = verdict.evaluate(sub, mixed)
    assert v["verdict"] == "inconclusive" and v["mixed_setups"] and v["timing_setups"] == ["EPYC, bf16", "EPYC, fp32"]
