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
