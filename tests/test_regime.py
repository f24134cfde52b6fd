"""Regime checks (trickbench/regime.py): every arm of a comparison judged on its mean over its seeds
against a fixed, declared threshold, outside the sub-claims; a check not met marks what it guards."""
import copy
import shutil

import pytest

from conftest import REPO
from trickbench import analyse, config, io, regime, report


def _claim(name):
    return config.load_claim(REPO / "config" / "claims" / f"{name}.yaml")


def test_the_dropped_network_that_has_not_fit_marks_the_accuracy_verdict(tmp_path):
    """Issue 44: stochastic depth's 160-epoch 'reversed' came from a linear arm at 95.6 % eval-mode
    training accuracy; constant_fits checked only the baseline. Each arm is checked now."""
    shutil.copytree(REPO / "results" / "cpu_long" / "stochastic_depth", tmp_path / "cpu_long" / "stochastic_depth")
    analyse.analyse_claim(config.resolve(_claim("stochastic_depth"), "cpu_long"), tmp_path)
    v = io.read_json(tmp_path / "cpu_long" / "stochastic_depth" / "verdicts.json")
    checks = {c["id"]: c for c in v["regime_checks"]}
    assert checks["constant_fits"]["result"] == "met"   # the baseline's fit, once a sub-claim
    check = checks["every_arm_fits"]
    assert check["result"].startswith("not met: linear__p_last0p5 final_train_acc 95.6 % < 99 % (6 of 6 seeds)")
    arms = {a["arm"]: a for a in check["arms"]}
    assert arms["constant"]["met"] and not arms["linear__p_last0p5"]["met"] and len(arms["linear__p_last0p5"]["seeds"]) == 6
    subs = {s["id"]: s for s in v["subclaims"]}
    assert "regime check not met: Each arm fits its training set" in report._verdict_note(subs["lower_test_error"])
    assert not subs["faster_per_epoch"].get("regime_unmet")          # a speed verdict needs no fit
    assert "regime_checks" not in {s["id"] for s in v["subclaims"]}   # not a sub-claim: outside Holm
    assert all(s.get("holm_k") != len(v["subclaims"]) + 1 for s in v["subclaims"])


def _runs(arm, values, metric="m"):
    return [{"arm": arm, "seed": k, "outcome": "ok", "metrics": {metric: v}} for k, v in enumerate(values)]


def test_each_arm_is_judged_on_its_mean_and_every_seed_is_shown():
    from types import SimpleNamespace
    check = {"id": "fits", "label": "fits", "arms": ["a", "b"], "metrics": ["final_train_acc"], "direction": "greater",
             "value": 0.99, "guards": ["acc"], "declared": "before"}
    cat = SimpleNamespace(tier="t", arms={"a": None, "b": None}, claim={"regime_checks": [check]})
    runs = _runs("a", [1.0, 1.0, 0.995], "final_train_acc") + _runs("b", [1.0, 0.99, 0.97], "final_train_acc")
    [out] = regime.evaluate(cat, runs, {}, None)
    assert out["result"] == "not met: b final_train_acc 98.7 % < 99 % (1 of 3 seeds)"
    assert [a["seeds"] for a in out["arms"]][1] == {0: 1.0, 1: 0.99, 2: 0.97}
    subs = [{"id": "acc", "verdict": "replicated"}, {"id": "other", "verdict": "replicated"}, {"id": "acc2", "verdict": "no data"}]
    regime.mark(subs, [out])
    assert subs[0]["regime_unmet"][0]["verdict"].startswith("not met") and "regime_unmet" not in subs[1]
    cat.claim["regime_checks"] = [dict(check, tiers=["other"])]
    assert regime.evaluate(cat, runs, {}, None) == []                # declared for other tiers only
    neg = dict(check, metrics=["g"], abs=True, value=0.05, at="last_epoch")
    cat.claim["regime_checks"] = [neg]
    hist = {("a", 0): [{"g": -0.2}], ("b", 0): [{"g": 0.01}]}
    runs = _runs("a", [0.0]) + _runs("b", [0.0])
    [out] = regime.evaluate(cat, runs, {}, lambda r: hist[(r["arm"], r["seed"])])
    assert out["result"] == "not met: b g 0.01 < 0.05 (1 of 1 seeds)"   # |−0.2| passes, 0.01 does not


@pytest.mark.parametrize("mutate, says", [
    (lambda c: c["regime_checks"][0].pop("declared"), "needs 'declared'"),
    (lambda c: c["regime_checks"][0].update(arms=["nope"]), "arm 'nope' is not an arm of the claim"),
    (lambda c: c["regime_checks"][0].update(guards=["nope"]), "guards 'nope', which is not a sub-claim"),
    (lambda c: c["regime_checks"][0].update(treshold=1), "unknown key 'treshold'"),
    # a regime check written as a sub-claim, as they once were: refused, saying where it goes
    (lambda c: c["subclaims"][0].update(regime=True), "'regime'.*declared under the claim's `regime_checks`"),
])
def test_a_bad_regime_check_is_refused_naming_it(tmp_path, mutate, says):
    claim = copy.deepcopy(_claim("stochastic_depth"))
    mutate(claim)
    import yaml
    path = tmp_path / "stochastic_depth.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    with pytest.raises(config.ConfigError, match=says):
        config.load_claim(path)


def test_regime_checks_are_outside_holms_family():
    """The sanity floor and the baseline's fit were sub-claims in Holm's family until issue 45: a
    check counted there raised every other verdict's correction and its own tallies."""
    for cid, check in (("agc_nfresnet_cifar", "bn_sanity_floor"), ("stochastic_depth", "constant_fits")):
        claim = _claim(cid)
        assert check in {c["id"] for c in claim["regime_checks"]}
        assert check not in {s["id"] for s in claim["subclaims"]}
        v = io.read_json(REPO / "results" / "cpu_long" / cid / "verdicts.json")
        tested = [s for s in v["subclaims"] if "p_holm" in s]
        assert tested and all(s["correction"].startswith(f"Holm over {len(tested)} sub-claims") for s in tested)
        assert any(c["id"] == check for c in v["regime_checks"])


def test_the_report_shows_every_arm_and_seed_of_a_check():
    check = {"label": "fits", "direction": "greater", "value": 0.99, "missing": ["c final_train_acc"],
             "arms": [{"arm": "a", "metric": "final_train_acc", "mean": 0.956, "seeds": {"1": 0.95, "0": 0.962}, "met": False}]}
    [row, none] = report.regime_rows([check])
    assert row == {"check": "fits", "arm": "a", "metric": "final_train_acc", "mean": "95.6 % (needs ≥ 99 %)",
                   "seeds": "96.2, 95", "met": "not met"}
    assert none["met"] == "no data"


def test_the_budget_curve_takes_each_tiers_steps_from_its_runs(tmp_path):
    """Issue 44 §4: the effect against the training budget, one point per tier the claim file
    lists, at the steps the rule's arm took (images trained / batch) as a share of the paper's;
    hollow where the tier's regime checks fail."""
    for tier in ("cpu", "cpu_long"):
        shutil.copytree(REPO / "results" / tier / "agc_nfresnet_cifar", tmp_path / tier / "agc_nfresnet_cifar")
    claim = _claim("agc_nfresnet_cifar")
    for tier in ("cpu", "cpu_long"):
        analyse.analyse_claim(config.resolve(claim, tier), tmp_path)
    verdicts = [io.read_json(tmp_path / t / "agc_nfresnet_cifar" / "verdicts.json") for t in ("cpu", "cpu_long")]
    pts = report.budget_points(claim, verdicts)
    assert [(p["tier"], p["steps"]) for p in pts] == [("cpu", 63.0), ("cpu_long", 630.0)]   # 3 and 30 epochs at 2048
    assert pts[1]["share"] == pytest.approx(630 / 28151) and not pts[1]["in_regime"]        # BN's 88 % floor unmet
    sub = next(s for s in verdicts[1]["subclaims"] if s["id"] == "nf_agc_large_not_worse")
    assert pts[1]["effect"] == sub["effect"] and (pts[1]["lo"], pts[1]["hi"]) == (sub["ci_low"], sub["ci_high"])
    from trickbench import figures
    figures.budget_figure({**claim["budget_curve"], "points": pts}, "AGC", tmp_path / "b.svg")
    assert (tmp_path / "b.svg").read_text().count("<svg") == 1
