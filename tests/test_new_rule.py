"""The README's worked example of a new decision rule, written as this one new file: the paired sign
test (on how many seeds does the arm beat its baseline?), which assumes nothing of the spread of the
per-seed differences. The class declares its keys, required keys, smallest attainable p, unit and
sentence; config, verdict, analyse.design_check, units and the report were not edited for it."""
import math

import pytest
import yaml

from conftest import REPO
from trickbench import config, report, rules, stats, units, verdict
from trickbench.rules.base import ARM, METRIC, SIDE, DecisionRule, paired, register, relation, verdict_of


@register("sign")
class Sign(DecisionRule):
    """effect = the share of paired seeds on which the arm beats the baseline in the claim's
    direction, minus one half, with Wilson's interval; p: the exact binomial tail."""
    description = "paired sign test: the arm beats the baseline on more seeds than chance"
    schema = {"arm": ARM, "baseline": ARM, "metric": METRIC, "direction": SIDE,
              "ties": {"type": "string", "enum": ["exclude", "half"], "description": "A tied seed: left out, or half a win."}}
    required = ("arm", "baseline", "direction", "metric")
    t_interval = False

    def evaluate(self, runs, rule):
        a, b, seeds, n_total = paired(runs, rule)
        d = [self.sign(rule) * (a[k] - b[k]) for k in seeds]
        if rule.get("ties", "exclude") == "exclude":
            d = [x for x in d if x != 0]
        n, wins = len(d), sum(1.0 if x > 0 else 0.5 if x == 0 else 0.0 for x in d)
        if not n:
            return {"verdict": "no data", "n": 0, "n_total": n_total}
        lo, hi = (x - 0.5 for x in stats.wilson_interval(round(wins), n, self.confidence(rule)))
        tail = lambda k: sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n  # noqa: E731
        return {"verdict": verdict_of(lo, hi, 0.0), "effect": wins / n - 0.5, "ci_low": lo, "ci_high": hi, "n": n,
                "n_total": n_total, "p_value": tail(math.ceil(wins)), "p_against": tail(math.ceil(n - wins)),
                "successes": wins}

    def smallest_p(self, rule, n_arm, n_base=None):
        return None if not n_arm or not n_base else 0.5 ** min(n_arm, n_base)

    def unit(self, rule, metric_unit):
        return "pp"   # a share of seeds

    def text(self, rule, fmt):
        return (f"{rule['metric']}: {rule['arm']} {relation(rule)} {rule['baseline']} on more than half the seeds "
                f"(sign test, {round(100 * self.confidence(rule))}% Wilson interval)")

    def ours(self, s, value):
        return f"{s['successes']:g} of {s['n']} seeds"


def _runs(arm, vals):
    return [{"arm": arm, "seed": i, "outcome": "ok", "metrics": {"final_test_acc": v}, "recipe": {}} for i, v in enumerate(vals)]


CLAIM = REPO / "config" / "claims" / "dropout.yaml"
SUB = {"id": "sign_example", "statement": "Dropout wins on most seeds.",
       "rule": {"type": "sign", "arm": "hidden_05", "baseline": "none", "metric": "final_test_acc", "direction": "greater"}}


def _claim_with(tmp_path, rule):
    claim = yaml.safe_load(CLAIM.read_text())
    claim["subclaims"].append({**SUB, "rule": rule})
    path = tmp_path / "dropout.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    return path


def test_a_claim_file_declares_the_new_rule_with_its_own_keys(tmp_path):
    claim = config.load_claim(_claim_with(tmp_path, {**SUB["rule"], "ties": "half"}))
    assert claim["subclaims"][-1]["rule"]["type"] == "sign" and "sign" in rules.names()
    with pytest.raises(config.ConfigError, match="ties 'sometimes' does not fit|is not one of"):
        config.load_claim(_claim_with(tmp_path, {**SUB["rule"], "ties": "sometimes"}))
    with pytest.raises(config.ConfigError, match=r"margin is not a key of a sign rule"):
        config.load_claim(_claim_with(tmp_path, {**SUB["rule"], "margin": 0.01}))
    with pytest.raises(config.ConfigError, match=r"baseline is required for a sign rule"):
        config.load_claim(_claim_with(tmp_path, {k: v for k, v in SUB["rule"].items() if k != "baseline"}))


def test_the_new_rule_decides_enters_holm_and_reads_in_the_report():
    runs = _runs("hidden_05", [0.91, 0.92, 0.93, 0.90, 0.95, 0.94, 0.92, 0.93, 0.96, 0.91]) + _runs("none", [0.90] * 10)
    out = verdict.apply_holm([verdict.evaluate(SUB, runs)])[0]   # the tied seed (0.90 vs 0.90) left out
    assert out["verdict"] == "replicated" and out["p_value"] == pytest.approx(2 ** -9)
    assert out["p_two_sided"] == pytest.approx(2 ** -8)           # doubled, as every rule that is a test
    assert units.effect(out).startswith("+50.0 pp") and units.ours(out) == "9 of 9 seeds"
    half = verdict.evaluate({**SUB, "rule": {**SUB["rule"], "ties": "half"}}, runs)
    assert half["p_value"] == pytest.approx(2 ** -10) and units.effect(half).startswith("+45.0 pp")   # 95 % − 50 %
    assert verdict.smallest_p(SUB["rule"], 5, 5) == 2 ** -5       # analyse.design_check asks the class
    assert report._rule_text(SUB["rule"]) == ("final_test_acc: hidden_05 > none on more than half the seeds "
                                              "(sign test, 95% Wilson interval)")
    one = verdict.evaluate(SUB, _runs("hidden_05", [0.91]) + _runs("none", [0.90]))
    assert one["verdict"] == "inconclusive" and "verdict_one_seed" not in one   # not t-based: its own interval decides
