"""How the report states our side of a sub-claim."""
from conftest import REPO
from trickbench import report


def _sub(kind, **kw):
    return {"verdict": "not equivalent", "rule": {"type": kind}, **kw}


def test_ours_shows_both_means_for_compare_and_equivalence():
    assert report._ours(_sub("equivalence", arm_mean=0.948, baseline_mean=0.967)) == "0.948 vs 0.967"
    assert report._ours(_sub("compare", arm_mean=0.5, baseline_mean=0.25)) == "0.5 vs 0.25"
    assert report._ours(_sub("equivalence", arm_mean=0.948)) == "0.948"  # no baseline recorded
    assert report._ours({"verdict": "no data", "rule": {"type": "compare"}}) == "–"


def test_pooled_best_and_mean_over_grid_points_beside_the_paper():
    members = [{"n": 20, "n_ok": 9, "mean": {"acc": 0.6}, "max": {"acc": 0.97}},   # 11 diverged
               {"n": 20, "n_ok": 20, "mean": {"acc": 0.1}, "max": {"acc": 0.11}}]
    # mean over the 29 finished runs, weighted by runs: (9 * 0.6 + 20 * 0.1) / 29 = 25.5%
    assert report._pooled(members, "acc") == "97.0 / 25.5 of 29 runs (11 not finished: diverged or timed out)"
    assert report._pooled(members, None) == ""
    assert report._pooled([{"n": 3, "n_ok": 3, "mean": {"acc": 0.5}, "std": {}}], "acc") == ""  # old verdicts: no max
    same = [{"n": 20, "n_ok": 20, "mean": {"acc": 0.11350000000000002}, "max": {"acc": 0.1135}}]
    assert report._pooled(same, "acc") == "11.3 / 11.3 of 20 runs"  # a mean never prints above the best


def test_verdict_words_a_reader_sees():
    control = {"verdict": "not replicated", "control": True, "rule": {"type": "compare"}, "n": 3}
    assert report._shown(control) == "as expected" and "a control" in report._verdict_note(control)
    assert report._shown({**control, "verdict": "replicated"}) == "unexpected effect"
    huge = {"verdict": "inconclusive", "n_needed": 10 ** 6, "rule": {"type": "compare"}}
    assert "not decidable at this effect size" in report._verdict_note(huge)
    few = {"verdict": "replicated", "n": 3, "p_signflip": 0.125, "rule": {"type": "compare"},
           "failed_arm": 2, "failed_baseline": 0, "failed_as": "exclude"}
    note = report._verdict_note(few)
    assert "from 3 seeds" in note and "0.125" in note and "2 diverged or timed-out run(s) left out" in note
    assert report._p_holm({"p_holm": 0.0, "no_spread": True}) == "– (no spread)"
    shaky = {"verdict": "replicated", "n": 8, "stability": 0.62, "rule": {"type": "compare"}}
    assert "fragile: the same verdict in only 62% of seed resamples" in report._verdict_note(shaky)


def test_recipes_read_as_text_not_python_dicts():
    text = report._recipe_text({"model_args": {"blocks": 50, "width": 64}, "val_fraction": 0.0833333333,
                                "augment": None, "stochastic_depth": {"p_last": 0.5}})
    assert text == "model_args.blocks 50 · model_args.width 64 · val_fraction 0.0833 · stochastic_depth.p_last 0.5"


def test_first_page_groups_claim_files_by_trick_strongest_evidence_first():
    claims = {"a": {"trick": "T", "headline": "h", "tiers": {"quick": {}, "full": {}}},
              "b": {"trick": "T", "tiers": {"cpu": {}, "full": {}}}}
    rows = [{"claim": "a", "tier": "quick", "level": "stand-in", "evidence": "MLP on digits", "verdict": "replicated"},
            {"claim": "a", "tier": "quick", "level": "stand-in", "evidence": "MLP on digits", "verdict": "inconclusive"},
            {"claim": "b", "tier": "cpu", "level": "reduced", "evidence": "ResNet-110, CIFAR-10", "verdict": "reversed"}]
    pending = [{"claim": "b", "tier": "full", "level": "paper scale", "evidence": "500 epochs", "cost": "8 GPU-h",
                "command": "snakemake --config tier=full claims=[b]"}]
    (t,) = report.answers(claims, rows, pending, {"a": (1, "a"), "b": (2, "b")})
    assert t["trick"] == "T" and t["headline"] == "h"
    assert [r["level"] for r in t["rows"]] == ["reduced", "stand-in"]
    assert t["rows"][1]["tally"] == "1 replicated · 1 inconclusive" and t["rows"][0]["tally"] == "1 reversed"
    assert t["pending"] == [{"text": "paper scale: 500 epochs (8 GPU-h)", "command": "snakemake --config tier=full claims=[b]"}]


def test_every_verdict_shows_its_stability_and_whether_a_rerun_held():
    s = {"verdict": "replicated", "n": 8, "stability": 0.974, "rule": {"type": "compare"}}
    assert report._stability(s) == "97%"
    assert report._stability({"verdict": "replicated", "no_spread": True, "rule": {"type": "compare"}}) == "no spread"
    assert report._stability({"verdict": "no data", "rule": {"type": "compare"}}) == "–"
    held = {"verdict_committed": "replicated", "verdict_new": "replicated", "exact": "False", "setup_new": "x"}
    assert report._stability(s, held) == "97% · rerun: held"
    assert report._stability(s, {**held, "exact": "True"}) == "97% · rerun: exact"
    flipped = {**held, "verdict_new": "inconclusive", "setup_new": "Intel Xeon; torch 2.14.1"}
    assert report._stability(s, flipped) == "97% · rerun: flipped"
    assert "flipped on a rerun from scratch: inconclusive (Intel Xeon; torch 2.14.1)" in report._verdict_note(s, flipped)
    assert "flipped" not in report._verdict_note(s, held)
    # a rerun of older verdicts says nothing about a verdict that has since changed
    assert report._stability({**s, "verdict": "inconclusive"}, flipped) == "97%"


def test_reruns_are_read_from_a_committed_reproduction_table(tmp_path):
    from trickbench import changes
    row = {"tier": "quick", "claim": "c", "subclaim": "s", "verdict_committed": "replicated",
           "verdict_new": "inconclusive", "agree": False, "exact": False}
    changes.write_rows([row], tmp_path / "quick" / "reproduction.csv", "tier quick")
    got = report._reruns(tmp_path)
    assert got[("quick", "c", "s")]["verdict_new"] == "inconclusive"


def test_a_claim_with_many_metrics_shows_those_its_rules_use_in_the_arms_table():
    few = {"a": "", "b": ""}
    assert report.table_metrics(few, []) == ["a", "b"]
    many = {f"m{i}": "" for i in range(20)}
    subs = [{"rule": {"metric": "m3", "baseline_metric": "m1"}}, {"rule": {"success": {"metric": "m7"}}}]
    assert report.table_metrics(many, subs) == ["m1", "m3", "m7"]


def test_evaluation_cost_says_when_runs_did_not_record_it():
    assert report._eval_cost({"runs": 20, "eval_s": 0.0, "eval_recorded": 0}, "CPU") == "—"   # trained before eval_s
    assert report._eval_cost({"runs": 20, "wall_s": 9.0}, "CPU") == "—"                       # verdicts before eval_s
    assert report._eval_cost({"runs": 20, "eval_s": 7200.0, "eval_recorded": 20}, "CPU") == "2.0 CPU-h (7,200 s)"
    assert report._eval_cost({"runs": 20, "eval_s": 30.0, "eval_recorded": 5}, "GPU") == "30.0 GPU-s (5 of 20 runs)"


def test_every_committed_verdict_is_one_row_of_the_flat_table(tmp_path):
    """results/verdicts.csv: each sub-claim of each claim at each tier, the numbers of its verdicts.json."""
    import csv
    import json
    import shutil
    from trickbench import report
    for tier in ("quick", "cpu"):
        shutil.copytree(REPO / "results" / tier, tmp_path / tier, ignore=shutil.ignore_patterns("runs", "*.svg"))
    out = report.write_flat_verdicts(tmp_path, REPO / "config" / "claims")
    rows = list(csv.DictReader(out.open()))
    files = sorted(tmp_path.glob("*/*/verdicts.json"))
    assert len(rows) == sum(len(json.loads(f.read_text())["subclaims"]) for f in files) > 50
    v = json.loads((tmp_path / "cpu" / "data_augmentation" / "verdicts.json").read_text())["subclaims"][0]
    row = next(r for r in rows if (r["claim"], r["tier"], r["subclaim"]) == ("data_augmentation", "cpu", v["id"]))
    assert float(row["effect"]) == v["effect"] and row["verdict"] == v["verdict"] and row["level"] == "reduced"
    assert row["trick"] and row["statement"] == v["statement"]
