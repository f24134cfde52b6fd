"""Grid arms: expansion into one arm per point, and tuning on a validation metric."""
import pandas as pd
import pytest
import yaml

from conftest import REPO
from trickbench import analyse, config

PRACTICE = REPO / "config" / "claims" / "amsgrad_practice.yaml"


def test_grid_expands_to_the_product_with_tags_and_distinct_hashes():
    cat = config.resolve(config.load_claim(PRACTICE), "quick")
    fam = cat.families()
    assert len(fam["adam_logreg"]) == 5 * 2 and len(fam["adam_mlp"]) == 5
    arm = cat.arms["adam_logreg__lr0p01_beta20p99"]
    assert arm.recipe["lr"] == 0.01 and arm.recipe["beta2"] == 0.99 and arm.recipe["lr_schedule"] == "inv_sqrt"
    assert arm.tags == {"task": "logistic regression", "optimizer": "Adam", "lr": "0.01", "beta2": "0.99"}
    assert arm.family == "adam_logreg"
    assert len({a.hash for a in cat.arms.values()}) == len(cat.arms)
    # the same grid for both optimizers: the recipes differ only in the optimizer
    a, b = cat.arms["adam_mlp__lr0p001"].recipe, cat.arms["amsgrad_mlp__lr0p001"].recipe
    assert {k for k in a if a[k] != b[k]} == {"optimizer"}


def test_bad_grid_value_is_rejected(tmp_path):
    claim = yaml.safe_load(PRACTICE.read_text())
    claim["arms"]["adam_mlp"]["grid"]["lr"] = [0.001, -1.0]
    path = tmp_path / "amsgrad_practice.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    with pytest.raises(config.ConfigError, match="grid.lr value -1.0"):
        config.load_claim(path)


def test_rules_on_grid_arms_need_tuning(tmp_path):
    claim = yaml.safe_load(PRACTICE.read_text())
    del claim["tuning"]
    path = tmp_path / "amsgrad_practice.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    with pytest.raises(config.ConfigError, match="needs `tuning`"):
        config.load_claim(path)


def test_tuning_picks_the_best_mean_validation_score_never_test():
    cat = config.resolve(config.load_claim(PRACTICE), "smoke")
    rows = []
    for name, arm in cat.arms.items():
        for seed in (0, 1):
            good = name.endswith("lr0p001") or name.endswith("lr0p03_beta20p999")
            rows.append({"arm": name, "seed": seed, "outcome": "ok",
                         "final_val_acc": 0.9 if good else 0.5,
                         "final_test_acc": 0.1 if good else 0.99})  # test must not matter
    sel = analyse.select_tuned(cat, pd.DataFrame(rows))
    assert sel["adam_mlp"] == "adam_mlp__lr0p001" and sel["amsgrad_logreg"] == "amsgrad_logreg__lr0p03_beta20p999"


def test_tuning_ignores_diverged_members():
    cat = config.resolve(config.load_claim(PRACTICE), "smoke")
    members = cat.families()["adam_mlp"]
    rows = [{"arm": members[0], "seed": 0, "outcome": "diverged", "final_val_acc": float("nan")},
            {"arm": members[1], "seed": 0, "outcome": "ok", "final_val_acc": 0.3}]
    assert analyse.select_tuned(cat, pd.DataFrame(rows))["adam_mlp"] == members[1]


def test_grid_edge_is_flagged():
    cat = config.resolve(config.load_claim(PRACTICE), "smoke")
    fam = cat.families()
    sel = {f: m[0] for f, m in fam.items()}                 # smallest lr everywhere: an edge
    sel["adam_mlp"] = "adam_mlp__lr0p001"                    # interior
    edges = analyse.at_grid_edge(cat, sel)
    assert "adam_mlp" not in edges and edges["amsgrad_mlp"] == ["lr"]
    assert edges["adam_logreg"] == ["lr"]                   # beta2 has two values: no interior to miss


def test_dotted_grid_key_sets_a_nested_value():
    cat = config.resolve(config.load_claim(REPO / "config" / "claims" / "agc_nfresnet.yaml"), "quick")
    arm = cat.arms["nf_agc_large__clipping0p04"]
    assert arm.recipe["agc"] == {"clipping": 0.04, "eps": 0.001, "exclude": ["head.weight"]}  # schema defaults filled
    assert arm.tags["clipping"] == "0.04" and arm.family == "nf_agc_large"
    assert cat.arms["nf_agc_head_large"].recipe["agc"]["exclude"] == []


def test_a_partial_tier_is_analysed_with_missing_arms_as_no_data(tmp_path):
    from trickbench import io
    from trickbench.tasks import TASKS
    claim = config.load_claim(REPO / "config" / "claims" / "amsgrad_synthetic.yaml")
    cat = config.resolve(claim, "smoke")
    root = tmp_path / "smoke" / cat.id / "runs"
    fam = next(iter(cat.families()))
    runs = []
    for name in cat.families()[fam]:
        runs += TASKS.get("online").run_arm(cat.id, "smoke", cat.arms[name], cat.seeds_of(name), root, {})
    io.write_jsonl(root / f"{fam}.jsonl", runs)
    with pytest.raises(FileNotFoundError, match="is missing"):
        analyse.analyse_claim(cat, tmp_path)
    v = analyse.analyse_claim(cat, tmp_path, partial=True)
    assert set(v["missing_arms"]) == set(cat.families()) - {fam}
    assert {s["verdict"] for s in v["subclaims"] if fam not in (s["rule"].get("arm"), s["rule"].get("baseline"))} == {"no data"}


def test_a_partial_tier_reads_the_finished_runs_of_a_job_still_running(tmp_path):
    from trickbench.tasks import TASKS
    claim = config.load_claim(REPO / "config" / "claims" / "amsgrad_synthetic.yaml")
    cat = config.resolve(claim, "smoke")
    root = tmp_path / "smoke" / cat.id / "runs"
    fams = cat.families()
    done, running = [f for f in fams if len(cat.seeds_of(fams[f][0])) > 1][:2]
    for name in fams[done]:   # a finished job: its jsonl; and a job killed after its first seed
        from trickbench import io
        io.write_jsonl(root / f"{done}.jsonl",
                       TASKS.get("online").run_arm(cat.id, "smoke", cat.arms[name], cat.seeds_of(name), root, {}))
    first = fams[running][0]
    TASKS.get("online").run_arm(cat.id, "smoke", cat.arms[first], cat.seeds_of(first)[:1], root, {})
    runs, missing = analyse.load_runs(cat, tmp_path, partial=True)
    assert {(r["arm"], r["seed"]) for r in runs if r["arm"] == first} == {(first, cat.seeds_of(first)[0])}
    assert running in missing and done not in missing
