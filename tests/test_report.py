"""How the report states our side of a sub-claim."""
from pathlib import Path

from conftest import REPO
from trickbench import report, units


def _sub(kind, **kw):
    return {"verdict": "not equivalent", "rule": {"type": kind}, **kw}


def test_ours_shows_both_means_in_the_metrics_unit():
    acc = {"verdict": "not equivalent", "rule": {"type": "equivalence", "metric": "final_test_acc"},
           "arm_mean": 0.948, "baseline_mean": 0.967}
    assert units.ours(acc) == "94.8 % vs 96.7 %"
    loss = {"verdict": "replicated", "rule": {"type": "compare", "metric": "final_train_loss"},
            "arm_mean": 0.5, "baseline_mean": 0.25}
    assert units.ours(loss) == "0.5 vs 0.25"
    assert units.ours({**acc, "baseline_mean": None}) == "94.8 %"  # no baseline recorded
    assert units.ours({"verdict": "no data", "rule": {"type": "compare"}}) == "–"
    rate = {"verdict": "replicated", "rule": {"type": "rate"}, "successes": 3, "n_total": 5,
            "baseline_successes": 0, "baseline_n": 5}
    assert units.ours(rate) == "3/5 vs 0/5"
    beside = [{"metric": "final_train_acc", "label": "training accuracy", "arm": 0.9587, "baseline": 1.0},
              {"metric": "final_train_loss", "label": "loss", "arm": 0.25, "baseline": None}]
    assert units.ours({**acc, "beside": beside}) == "94.8 % vs 96.7 %; training accuracy 95.9 % vs 100.0 %; loss 0.25 vs –"


def test_an_unmet_regime_check_is_named_beside_the_verdict():
    s = {"verdict": "replicated", "rule": {"type": "compare", "metric": "final_test_acc"}, "n": 5,
         "regime_unmet": [{"id": "floor", "label": "Sanity: BN reaches 88 %", "verdict": "not replicated"}]}
    assert report._regime_text(s) == "regime check not met: Sanity: BN reaches 88 % (not replicated)"
    assert report._verdict_note(s).startswith("regime check not met: Sanity: BN reaches 88 % (not replicated)")
    assert report._regime_text({k: v for k, v in s.items() if k != "regime_unmet"}) == ""
    open_ = {**s, "regime_unmet": [{"id": "floor", "label": "Sanity", "verdict": "inconclusive"}]}
    assert report._regime_text(open_) == "regime check not established: Sanity (inconclusive)"


def test_page_one_names_an_unmet_regime_check_once_per_trick():
    """Each verdict a failed regime check governs says so in short on page 1 (and in the README's
    evidence cell); the check itself is spelled out once under the trick, with every tier it failed at."""
    unmet = [{"id": "floor", "label": "Sanity: BN reaches 88 %", "verdict": "not replicated"}]
    claim = {"id": "c", "trick": "T", "subclaims": [{"id": s, "label": s.upper()} for s in ("a", "b", "floor")],
             "tiers": {"cpu": {}, "cpu_long": {}}}

    def row(tier, level, sid, regime=True):
        sub = {"id": sid, "verdict": "replicated", "rule": {"type": "compare", "metric": "final_test_acc",
               "direction": "greater"}, "effect": 0.01, "ci_low": 0.005, "ci_high": 0.015, "n": 5}
        return {"claim": "c", "tier": tier, "level": level, "evidence": "", "partial": tier == "cpu_long",
                "sub": {**sub, "regime_unmet": unmet} if regime else sub}
    subs = [row("cpu_long", "reduced", "a"), row("cpu", "stand-in", "b"), row("cpu", "reduced", "floor", regime=False)]
    (t,) = report.answers({"c": claim}, subs, [], {})
    assert {r["label"]: r["regime_word"] for r in t["found"]} == {"A": "regime check not met", "B": "regime check not met",
                                                                "FLOOR": ""}
    (g,) = t["regimes"]
    assert g["tiers"] == ["cpu_long", "cpu"] and g["word"] == "regime check not met"
    assert g["text"] == "Sanity: BN reaches 88 % (not replicated); it governs the verdicts marked so."
    cells = {line.split(" | ")[1]: line for line in report.readme_table([t]).splitlines()[2:]}
    assert cells["A"].endswith("reduced (`cpu_long, in progress`); regime check not met |")
    assert cells["B"].endswith("stand-in (`cpu`); regime check not met |")
    assert cells["FLOOR"].endswith("reduced (`cpu`) |")


def test_effects_in_natural_units_arm_minus_baseline():
    # accuracy, claimed 'greater': the effect is arm − baseline, in pp, one rounding for effect and interval
    acc = {"verdict": "replicated", "rule": {"type": "compare", "metric": "final_test_acc", "direction": "greater"},
           "effect": 0.07682, "ci_low": 0.05358, "ci_high": 0.10006}
    assert units.effect(acc) == "+7.7 pp [5.4, 10.0]"
    # time, claimed 'less': the effect (baseline − arm) is turned back into the change, in s and %
    t = {"verdict": "replicated", "rule": {"type": "compare", "metric": "train_s_per_epoch", "direction": "less"},
         "effect": 40.913, "ci_low": 34.74, "ci_high": 47.08, "baseline_mean": 167.06}
    assert units.effect(t) == "−40.9 s [−47.1, −34.7] (−24.5 %)"
    # a small loss difference: positional, never 2.2e−4
    loss = {"verdict": "inconclusive", "rule": {"type": "compare", "metric": "final_train_loss", "direction": "less"},
            "effect": 0.00022, "ci_low": -0.0001, "ci_high": 0.00054}
    assert units.effect(loss) == "−0.000220 [−0.000540, 0.000100]"
    eq = {"verdict": "not equivalent", "rule": {"type": "equivalence", "metric": "final_test_acc", "margin": 0.01},
          "effect": -0.1646, "ci_low": -0.2164, "ci_high": -0.1129}
    assert units.effect(eq) == "−16.5 pp [−21.6, −11.3], margin ±1 pp"
    rate = {"verdict": "inconclusive", "rule": {"type": "rate", "direction": "less"}, "effect": 1.0,
            "ci_low": 0.2059, "ci_high": 1.0}
    assert units.effect(rate) == "−100 pp [−100, −21]"
    assert units.num(2.2e-4) == "0.00022" and units.num(123456.0) == "123,456" and units.num(-0.5) == "−0.5"


def test_forest_rows_are_in_the_claims_direction():
    t = {"verdict": "replicated", "rule": {"type": "compare", "metric": "train_s_per_epoch", "direction": "less"},
         "effect": 40.0, "ci_low": 30.0, "ci_high": 50.0, "baseline_mean": 200.0}
    assert units.forest(t) == {"axis": "% time", "effect": 20.0, "lo": 15.0, "hi": 25.0}
    loss = {"verdict": "replicated", "rule": {"type": "compare", "metric": "final_train_loss", "direction": "less"},
            "effect": 0.1, "ci_low": 0.05, "ci_high": 0.15}
    assert units.forest(loss) is None   # no common unit: the tables show it


def test_the_forest_plot_greys_verdicts_outside_the_regime_and_marks_fragile_ones():
    claims = {"a": {"trick": "T", "tiers": {"cpu": {}}, "subclaims": [{"id": "x", "statement": "x"}, {"id": "y", "statement": "y"}]}}
    unmet = [{"id": "fit", "label": "fits", "verdict": "not met"}]
    subs = [{"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "R", "sub": _v("replicated", id="x", regime_unmet=unmet)},
            {"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "R", "sub": _v("replicated", id="y", stability=0.6)}]
    x, y = report.forest_rows(claims, subs, {"a": (1, "a")})
    assert not x["in_regime"] and x["tier"] == "cpu (regime not met)"
    assert y["in_regime"] and y["tier"] == "cpu (fragile)"


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


def _v(verdict, effect=0.02, **kw):
    return {"id": kw.pop("id"), "verdict": verdict, "effect": effect, "ci_low": effect - 0.01, "ci_high": effect + 0.01,
            "n": 5, "rule": {"type": "compare", "metric": "final_test_acc", "direction": "greater"}, **kw}


def test_first_page_answers_each_sub_claim_at_its_strongest_evidence():
    claims = {"a": {"trick": "T", "headline": "h", "tiers": {"quick": {}, "cpu": {"caveat": "3 epochs only"}},
                    "subclaims": [{"id": "s1", "statement": "x", "label": "S one"}, {"id": "s2", "statement": "Two."}]},
              "b": {"trick": "T", "tiers": {"full": {}}, "subclaims": [{"id": "s3", "statement": "three"}]}}
    subs = [{"claim": "a", "tier": "quick", "level": "stand-in", "evidence": "MLP", "sub": _v("replicated", id="s1")},
            {"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "ResNet", "sub": _v("reversed", -0.03, id="s1")},
            {"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "ResNet", "sub": _v("inconclusive", id="s2")},
            {"claim": "a", "tier": "smoke", "level": "plumbing", "evidence": "toy", "sub": _v("replicated", id="s2")}]
    pending = [{"claim": "b", "tier": "full", "level": "paper scale", "evidence": "500 epochs", "cost": "8 GPU-h",
                "command": "snakemake --config tier=full claims=[b]"}]
    (t,) = report.answers(claims, subs, pending, {"a": (1, "a"), "b": (2, "b")})
    assert t["trick"] == "T" and t["headline"] == "h"
    # s1 at the reduced tier (not the stand-in's opposite verdict), in pp, labelled from the claim file
    assert [(r["label"], r["verdict"], r["effect"], r["tier"]) for r in t["found"]] == \
        [("S one", "reversed", "−3.00 pp [−4.00, −2.00]", "cpu")]
    # a tier still being run (analysed --partial) says so where its verdict answers
    partial = [dict(r, partial=True) if r["tier"] == "cpu" else r for r in subs]
    (t2,) = report.answers(claims, partial, pending, {"a": (1, "a"), "b": (2, "b")})
    assert [r["tier"] for r in t2["found"]] == ["cpu, in progress"]
    # ... only where the sub-claim's own arms are still running (a tuned grid arm by its family)
    sub = {"rule": {"arm": "nf_agc__clipping0p04", "baseline": "bn"}, "declared_rule": {"arm": "nf_agc", "baseline": "bn"}}
    assert report._in_progress(sub, ["nf_agc"]) and report._in_progress(sub, ["bn"])
    assert not report._in_progress(sub, ["paper_recipe"]) and not report._in_progress({"rule": {"arms": ["a"]}}, [])
    assert [r["label"] for r in t["open"]] == ["Two"]            # the smoke tier never answers
    # the undecided are grouped by the tier that answers them, so one label in two claim files reads apart
    subs2 = subs + [{"claim": "b", "tier": "full", "level": "paper scale", "evidence": "R", "sub": _v("inconclusive", id="s3")}]
    claims2 = {**claims, "b": {**claims["b"], "subclaims": [{"id": "s3", "statement": "x", "label": "Two"}]}}
    (t3,) = report.answers(claims2, subs2, [], {"a": (1, "a"), "b": (2, "b")})
    assert [(g["tier"], g["level"], g["claim"], [r["label"] for r in g["rows"]]) for g in t3["open_groups"]] == \
        [("full", "paper scale", "b", ["Two"]), ("cpu", "reduced", "a", ["Two"])]
    # a sub-claim with no data anywhere yet is named where a tier in progress plans its runs (p_min
    # known), not where the tier's arms cannot decide it (p_min None) nor at the smoke tier
    claims4 = {"a": {**claims["a"], "subclaims": claims["a"]["subclaims"] + [
        {"id": "s4", "statement": "x", "label": "New ablation"}, {"id": "s5", "statement": "Not planned."}]}}
    subs4 = partial + [{"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "R", "partial": True,
                        "sub": {"id": "s4", "verdict": "no data", "p_min": 0.0}},
                       {"claim": "a", "tier": "smoke", "level": "plumbing", "evidence": "toy", "partial": True,
                        "sub": {"id": "s4", "verdict": "no data", "p_min": 0.0}},
                       {"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "R", "partial": True,
                        "sub": {"id": "s5", "verdict": "no data", "p_min": None}}]
    (t4,) = report.answers(claims4, subs4, [], {"a": (1, "a")})
    assert t4["awaiting"] == [{"claim": "a", "tier": "cpu", "level": "reduced", "labels": ["New ablation"]}]
    assert t["awaiting"] == []
    assert t["caveats"] == [{"tier": "cpu", "claim": "a", "text": "3 epochs only"}]
    assert t["decide"][0]["tier"] == "full" and t["decide"][0]["cost"] == "8 GPU-h"
    assert t["sentence"] == "Of 2 sub-claims at their strongest evidence: 1 against it, 1 undecided."
    assert [r["level"] for r in t["rows"]] == ["reduced", "stand-in"]   # tiers the claim files declare


def test_strongest_evidence_is_a_tier_in_the_papers_regime_and_disagreeing_tiers_stand_together():
    """Issue 45: AGC's 'clipping the classifier hurts: replicated, +7.4 pp' came from the 3-epoch tier
    while the 30-epoch tier's nearest test (at the tuned λ) was inconclusive, the rows unlinked; and
    page 1 counted verdicts whose regime check failed as for or against the paper."""
    unmet = [{"id": "floor", "label": "BN reaches 88 %", "verdict": "not met: bn 85 % < 88 %"}]
    claims = {"a": {"trick": "T", "tiers": {"cpu": {}, "cpu_long": {}, "quick": {}},
                    "subclaims": [{"id": "hurts", "statement": "x", "label": "Clipping hurts"},
                                  {"id": "hurts_tuned", "statement": "x", "label": "Tuned λ: clipping hurts",
                                   "variant_of": "hurts"},
                                  {"id": "fast", "statement": "x", "label": "Faster"}]}}
    subs = [{"claim": "a", "tier": "cpu", "level": "reduced", "evidence": "3 epochs",
             "sub": _v("replicated", 0.074, id="hurts", regime_unmet=unmet)},
            {"claim": "a", "tier": "cpu_long", "level": "reduced", "evidence": "30 epochs",
             "sub": _v("inconclusive", -0.018, id="hurts_tuned", regime_unmet=unmet)},
            # a stand-in in regime beats a reduced tier out of it; the reduced verdict is shown beside
            {"claim": "a", "tier": "quick", "level": "stand-in", "evidence": "MLP", "sub": _v("replicated", 0.05, id="fast")},
            {"claim": "a", "tier": "cpu_long", "level": "reduced", "evidence": "30 epochs",
             "sub": _v("reversed", -0.02, id="fast", regime_unmet=unmet)}]
    (t,) = report.answers(claims, subs, [], {"a": (1, "a")})
    rows = {r["label"]: r for r in t["found"] + t["open"]}
    assert rows["Faster"]["tier"] == "quick" and rows["Faster"]["others"].startswith("cpu_long: reversed, −2.00 pp")
    assert rows["Clipping hurts"]["others"].startswith("cpu_long (Tuned λ: clipping hurts): inconclusive, −1.80 pp")
    assert rows["Tuned λ: clipping hurts"]["others"].startswith("cpu (Clipping hurts): replicated, +7.40 pp")
    assert t["sentence"] == ("Of 3 sub-claims at their strongest evidence: 1 as the paper says, "
                             "1 decided outside the paper's regime, 1 undecided.")


def test_every_number_the_report_prints_for_a_sub_claim_is_its_verdicts_json(tmp_path):
    """Nothing stale: the main body's and the appendix's rows are recomputed from verdicts.json on
    every build; each printed effect, read back, is the file's (to its rounding)."""
    import json
    import re
    data = report.gather(REPO / "results", REPO / "config" / "claims", tmp_path, tmp_path)
    files = {(v["tier"], v["claim"]): v for v in (json.loads(f.read_text()) for f in (REPO / "results").glob("*/*/verdicts.json"))}
    checked = 0
    for c in data["claims"]:
        for t in c["tiers"]:
            subs = {s["id"]: s for s in files[(t["tier"], c["id"])]["subclaims"]}
            for row in t["subclaims"]:
                s = subs[row["id"]]
                assert row["effect"] == units.effect(s) and row["verdict"] == report._shown(s)
                m = re.match(r"([+−]?[0-9,.]+)( pp| s)?", row["effect"])
                if m and s["rule"]["type"] in ("compare", "threshold") and not s.get("no_spread"):
                    printed = float(m.group(1).replace("−", "-").replace(",", ""))
                    scale = 100 if m.group(2) == " pp" else 1
                    sign = -1 if s["rule"].get("direction") == "less" else 1
                    decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                    assert abs(printed - sign * s["effect"] * scale) <= 0.5 * 10 ** -decimals + 1e-9, (c["id"], row)
                    checked += 1
    assert checked > 80
    assert len(data["summary"]) == sum(len(v["subclaims"]) for v in files.values())


def test_the_readme_results_table_is_the_committed_results():
    """README.md's table between the markers is what `trickbench report` writes from results/
    (regenerated by the pipeline's report rule; run it after committing new results)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        data = report.gather(REPO / "results", REPO / "config" / "claims", Path(tmp), Path(tmp))
    text = (REPO / "README.md").read_text()
    block = text.split(report.README_START, 1)[1].split(report.README_END, 1)[0].strip()
    assert block == report.readme_table(data["answers"])


def test_the_readme_block_is_replaced_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\nrest\n")
    assert report.update_readme(readme, "| new |")
    assert readme.read_text() == f"intro\n{report.README_START}\n| new |\n{report.README_END}\nrest\n"
    (tmp_path / "plain.md").write_text("no markers")
    assert not report.update_readme(tmp_path / "plain.md", "x") and (tmp_path / "plain.md").read_text() == "no markers"
    assert not report.update_readme(tmp_path / "absent.md", "x")


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
    from trickbench.ops import changes
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


def test_a_tuning_dependent_verdict_counts_its_tied_alternatives_instead_of_naming_them():
    s = {"verdict": "inconclusive", "tuning_dependent": True, "verdict_at_tuned": "replicated",
         "tied_choices": {"amsgrad_logreg__lr0p03_beta20p99 vs adam_logreg__lr0p03_beta20p999": "reversed",
                          "amsgrad_logreg__lr0p1_beta20p99 vs adam_logreg__lr0p03_beta20p99": "replicated",
                          "amsgrad_logreg__lr0p1_beta20p99 vs adam_logreg__lr0p03_beta20p999": "replicated"},
         "rule": {"type": "compare"}}
    note = report._verdict_note(s)
    assert note == ("depends on the tuned choice: replicated at the tuned point, but at the 3 other pairing(s) "
                    "of grid points tied with it on validation: 2 replicated, 1 reversed")


def test_a_tier_still_being_run_says_how_far_it_is_where_page_1_says_what_would_decide(tmp_path):
    import json
    v = json.loads((REPO / "results" / "cpu" / "dropout" / "verdicts.json").read_text())
    v |= {"missing_arms": ["paper_recipe", "none_tuned"], "runs_expected": 90}
    v["cost"]["runs"] = 50
    (tmp_path / "cpu" / "dropout").mkdir(parents=True)
    (tmp_path / "cpu" / "dropout" / "verdicts.json").write_text(json.dumps(v))
    data = report.gather(tmp_path, REPO / "config" / "claims", tmp_path, tmp_path)
    (t,) = [t for t in data["answers"] if any(r["claim"] == "dropout" for r in t["rows"])]
    (d,) = [d for d in t["decide"] if d["tier"] == "cpu"]
    assert d["cost"].startswith("in progress, 50 of 90 runs finished")
    v["missing_arms"] = []   # complete: no longer among what would decide it
    (tmp_path / "cpu" / "dropout" / "verdicts.json").write_text(json.dumps(v))
    data = report.gather(tmp_path, REPO / "config" / "claims", tmp_path, tmp_path)
    (t,) = [t for t in data["answers"] if any(r["claim"] == "dropout" for r in t["rows"])]
    assert not [d for d in t["decide"] if d["tier"] == "cpu"]


def test_no_semicolon_is_swallowed_after_an_embedded_expression():
    """Typst ends an embedded expression (`#r.paper`, `#if c [..]`) at a `;` and drops it, so
    '#t.evidence; #t.seeds' printed '6 seeds 6 seed(s)' and '(… paper: x; reduced …)' lost its
    semicolon; the template writes `#[;]` after an expression instead."""
    import re
    pattern = re.compile(r"(\]|#[A-Za-z_][\w\-]*(\.[A-Za-z_][\w\-]*)*(\([^()]*\))?);")
    typ = REPO / "report" / "report.typ"
    bad = [f"{typ.name}:{i}: {m.group(0)!r}" for i, line in enumerate(typ.read_text().splitlines(), 1)
           if not line.lstrip().startswith("//") for m in pattern.finditer(line)]
    assert not bad, bad
    # the check itself: it finds the three forms the template had
    assert all(pattern.search(s) for s in ("#t.evidence; #t.seeds", "[; paper: #r.paper]; #r.level", "(#t.device; x)"))


def test_what_we_ran_names_the_seed_count_once():
    """'…, 6 seeds; 6 seed(s) per stochastic arm' said it twice: the computed count is added only
    where the evidence does not name it, and beside an evidence that names another count."""
    from trickbench.report import seeds_text
    assert seeds_text("ResNet-56 on 5,000 CIFAR-10 images, 160 epochs, 6 seeds", 6) == ""
    assert seeds_text("λ tuned on 3 held-out seeds, 5 test seeds", 5) == ""
    assert seeds_text("2×128 MLP on 8×8 digits, 20 epochs", 5) == "; 5 seed(s) per stochastic arm"
    assert seeds_text("ResNet-20 on CIFAR-10, 5 seeds", 2) == "; 2 seed(s) per stochastic arm in these runs"


def test_the_cost_table_counts_cpu_and_gpu_hours_apart():
    """agc_nfresnet_cifar cpu_long read '43.0 GPU-h' for 42.6 hours of CPU runs and 0.34 of GPU runs."""
    mixed = {"runs": 53, "wall_s": 154800.0, "eval_s": 3600.0, "eval_recorded": 53, "gpu": True,
             "cpu_runs": 43, "cpu_wall_s": 153360.0, "cpu_eval_s": 3000.0,
             "gpu_runs": 10, "gpu_wall_s": 1224.0, "gpu_eval_s": 600.0}
    wall, ev = report._costs(mixed)
    assert wall == "42.6 CPU-h (153,360 s) (43 runs) + 1224.0 GPU-s (10 runs)"
    assert ev == "3000.0 CPU-s + 600.0 GPU-s"
    cpu = {"runs": 3, "wall_s": 7200.0, "eval_s": 0.0, "eval_recorded": 0, "gpu": False,
           "cpu_runs": 3, "cpu_wall_s": 7200.0, "cpu_eval_s": 0.0, "gpu_runs": 0, "gpu_wall_s": 0.0, "gpu_eval_s": 0.0}
    assert report._costs(cpu) == ("2.0 CPU-h (7,200 s)", "—")
    assert report._costs({"runs": 2, "wall_s": 10.0, "gpu": True}) == ("10.0 GPU-s", "—")   # analysed before the split


def test_the_papers_effect_is_placed_against_our_interval():
    """Issue 45 §2: a verdict against 0 says nothing of the paper's size; where the claim file
    carries the paper's effect as a number, the row says where it lies against our interval."""
    def s(effect, lo, hi, paper, **rule):
        return {"verdict": "replicated", "effect": effect, "ci_low": lo, "ci_high": hi, "paper": {"effect": paper},
                "rule": {"type": "compare", "metric": "final_test_acc", "direction": "greater", **rule}}
    assert units.paper_vs_ours(s(0.01, 0.002, 0.018, 0.0116)) == "the paper's +1.16 pp lies inside our interval"
    assert units.paper_vs_ours(s(-0.0152, -0.0249, -0.0054, 0.0116)) == \
        "the paper's +1.16 pp lies outside our interval, on the other side of 0"
    assert units.paper_vs_ours(s(0.025, -0.065, 0.129, 0.10)) == "the paper's +10.0 pp lies inside our interval"
    assert units.paper_vs_ours(s(0.025, -0.02, 0.07, 0.396)) == \
        "the paper's +39.6 pp lies beyond our interval: its size is not reproduced"
    assert units.paper_vs_ours(s(0.05, 0.03, 0.07, 0.002)) == "ours is larger than the paper's +0.20 pp"
    # a 'less' claim stores the effect in its direction; the paper's is arm − baseline
    assert units.paper_vs_ours(s(4.0, 2.3, 5.7, -15.0, metric="train_s_per_epoch", direction="less")) == \
        "the paper's −15.0 s lies beyond our interval: its size is not reproduced"
    assert units.paper_vs_ours({**s(0.01, 0.0, 0.02, None)}) == ""


def test_page_one_says_how_far_a_tier_is_from_the_papers_steps():
    claim = {"budget_curve": {"paper_steps": 175781}}
    v = {"arms": [{"arm": "linear", "steps": 6240.0}, {"arm": "constant", "steps": 6240.0}]}
    s = {"rule": {"arm": "linear", "baseline": "constant"}}
    assert report.steps_share(claim, v, s) == 6240 / 175781
    assert report.steps_share({}, v, s) is None and report.steps_share(claim, {"arms": []}, s) is None
    # a stand-in tier's steps are not the paper's model's: only the tiers the budget curve names
    assert report.steps_share({"budget_curve": {"paper_steps": 1000, "tiers": ["cpu_long"]}}, {**v, "tier": "cpu"}, s) is None
    claims = {"a": {"trick": "T", "tiers": {"cpu_long": {}}, "subclaims": [{"id": "x", "statement": "x", "label": "X"}]}}
    subs = [{"claim": "a", "tier": "cpu_long", "level": "reduced", "evidence": "ResNet-56 on 5,000 images, 160 epochs",
             "steps_share": 6240 / 175781, "sub": _v("replicated", id="x")}]
    (t,) = report.answers(claims, subs, [], {"a": (1, "a")})
    assert t["found"][0]["distance"] == "ResNet-56 on 5,000 images, 160 epochs; 3.5 % of the paper's steps"


def test_limitations_are_counted_from_the_answers():
    claims = {"a": {"trick": "T", "tiers": {"cpu": {}, "cpu_long": {}},
                    "subclaims": [{"id": "x", "statement": "x", "label": "X"}, {"id": "y", "statement": "y", "label": "Y"}]}}
    unmet = [{"id": "fit", "label": "fits", "verdict": "not met"}]
    subs = [{"claim": "a", "tier": "cpu_long", "level": "reduced", "evidence": "ResNet-56", "steps_share": 0.0355,
             "sub": _v("replicated", id="x", n=3, regime_unmet=unmet)},
            {"claim": "a", "tier": "cpu", "level": "stand-in", "evidence": "MLP", "sub": _v("replicated", id="y", n=6)}]
    ans = report.answers(claims, subs, [], {"a": (1, "a")})
    files = [{"datasets_used": ["CIFAR-10 (JPEG q75 copy: cifar10-jpeg.tar.gz)"], "subclaims": [{"setup_mixed": "x"}, {}]}]
    out = report.limitations(ans, files)
    assert out[0] == "1 of 2 decided verdicts come from a tier whose regime checks do not hold (drawn grey on page 1): X (cpu_long)."
    assert out[1].startswith("Of 2 sub-claims at their strongest evidence, 0 are at paper scale, 1 reduced")
    assert out[2] == "Where a claim file gives the paper's steps, our runs took 3.5 % of them (a, cpu_long)."
    assert out[3].startswith("1 decided verdicts rest on fewer than 5 seeds")
    assert out[4].startswith("Lossy data: CIFAR-10 (JPEG q75") and out[5].startswith("1 verdicts pool runs")


def test_every_figure_kind_the_schema_allows_is_one_registered_function():
    from trickbench.config import _load_schema
    from trickbench.figures import FIGURE_KINDS, kind_names
    kinds = _load_schema("claim.schema.yaml")["properties"]["figures"]["items"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == FIGURE_KINDS.names() == kind_names()   # a module of figures/kinds/ each
    assert {"curves", "runs", "points", "heatmap", "sweep", "path"} <= set(kinds)
