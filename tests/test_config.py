"""Bad configs fail before any training, with a message that names the key."""
import copy
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from trickbench import config

CLAIM = REPO / "config" / "claims" / "amsgrad_synthetic.yaml"


def write_claim(tmp_path, mutate, name="amsgrad_synthetic"):
    claim = yaml.safe_load(CLAIM.read_text())
    mutate(claim)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(claim, allow_unicode=True))
    return path


def test_shipped_claims_resolve_at_every_tier_they_declare():
    for cid, claim in config.load_claims(REPO / "config" / "claims").items():
        for tier in claim["tiers"]:
            cat = config.resolve(claim, tier)
            assert cat.arms and all(len(a.hash) == 12 for a in cat.arms.values())


def test_resolution_order_base_then_tier_then_arm():
    claim = config.load_claim(CLAIM)
    cat = config.resolve(claim, "smoke")
    arm = cat.arms["adam_online_a01"]
    assert arm.recipe["steps"] == claim["tiers"]["smoke"]["set"]["steps"]  # tier
    assert arm.recipe["lr"] == 0.1                                         # arm beats base (0.5)
    assert arm.recipe["eps"] == 1e-8                                       # task default
    assert cat.seeds_of("adam_online") == [0] and cat.seeds_of("adam_stochastic") == [0, 1]
    assert config.resolve(claim, "smoke", seeds_override=5).seeds == list(range(5))


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["base"].update(learning_rate=0.1), "learning_rate"),
    (lambda c: c["base"].update(lr=-0.1), "lr"),
    (lambda c: c["tiers"]["smoke"].update(seeds=0), "seeds"),
    (lambda c: c["arms"]["adam_online"]["set"].update(optimizer="adamm"), "adamm"),
    (lambda c: c["arms"]["adam_online"]["set"].update(problem="reddi_nope"), "reddi_nope"),
    (lambda c: c.update(task="regression"), "regression"),
    (lambda c: c["tiers"].update(huge={"seeds": 1}), "huge"),
    (lambda c: c["subclaims"][0]["rule"].update(arm="no_such_arm"), "no_such_arm"),
    (lambda c: c["subclaims"][0]["rule"].update(metric="accuracy"), "accuracy"),
    (lambda c: c.update(paper_metric="top5_acc"), "paper_metric 'top5_acc'"),
    (lambda c: c["subclaims"][0].update(beside={"train_acc": "training accuracy"}), r"subclaims\[0\].beside.train_acc is not declared"),
    (lambda c: c["subclaims"][0].update(variant_of="no_such_subclaim"), "variant_of names 'no_such_subclaim'"),
])
def test_bad_claim_is_rejected_naming_the_key(tmp_path, mutate, key):
    path = write_claim(tmp_path, mutate)
    with pytest.raises(config.ConfigError, match=key):
        config.resolve(config.load_claim(path), "smoke")


def test_claim_id_must_match_file_name(tmp_path):
    path = write_claim(tmp_path, lambda c: None, name="other_name")
    with pytest.raises(config.ConfigError, match="other_name"):
        config.load_claim(path)


def test_unknown_tier_and_missing_tier():
    claim = config.load_claim(CLAIM)
    with pytest.raises(config.ConfigError, match="unknown tier 'huge'"):
        config.resolve(claim, "huge")
    small = copy.deepcopy(claim)
    del small["tiers"]["paper"]
    with pytest.raises(config.ConfigError, match="no settings for tier 'paper'"):
        config.resolve(small, "paper")


def test_classify_recipe_names_are_checked_without_torch():
    code = ("import sys; from trickbench.tasks import TASKS; t = TASKS.get('classify');"
            "r = dict(t.defaults, dataset='digits', model='resnet_cifar', optimizer='amsgrad', lr=0.1, epochs=1, batch_size=8);"
            "t.check(r, 'x');"
            "bad = dict(r, model='resnet_cifra');\n"
            "try:\n    t.check(bad, 'arm y')\nexcept KeyError as e:\n    print(e.args[0])\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    first, last = out.stdout.strip().splitlines()
    assert "unknown model 'resnet_cifra' (at arm y: model)" in first and "Did you mean 'resnet_cifar'" in first
    assert last == "False"


def test_validate_checks_model_args_without_importing_torch():
    """The README says `trickbench validate` never imports torch; it did, through the model
    modules it imported to read their builders' parameters (now read from their source)."""
    code = ("import sys; from trickbench import cli\n"
            "try:\n    cli.main(['validate', '--tier', 'cpu'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_model_parameters_read_from_source_are_the_builders_own():
    import inspect

    from trickbench.models import MODELS
    for name in MODELS.names():
        static = MODELS.parameters(name)
        builder = MODELS.get(name)   # imports it (torch)
        target = getattr(builder, "forwards_to", builder)
        ps = inspect.signature(target).parameters.values()
        assert static == {p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}, name


@pytest.mark.parametrize("override, key", [("tier=huge", "tier"), ("seeds=0", "seeds"), ("bogus=1", "bogus"),
                                           ("claims=[nope]", "nope")])
def test_snakemake_rejects_bad_config_before_any_job(tmp_path, override, key):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", override,
                          f"results_dir={tmp_path}/r"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode != 0
    assert key in out.stdout + out.stderr
    assert not (tmp_path / "r").exists()


def test_values_that_validate_but_cannot_train_are_rejected_naming_arm_and_key():
    claim = config.load_claims(REPO / "config" / "claims")["gradient_noise"]
    nan = copy.deepcopy(claim)
    nan["arms"]["simple"]["grid"] = {"lr": [0.1, float("nan")]}
    with pytest.raises(config.ConfigError, match=r"arm 'simple__lrnan'.*lr = nan is not a finite number"):
        config.resolve(nan, "quick")
    typo = copy.deepcopy(claim)
    typo["arms"]["simple"].setdefault("set", {}).setdefault("model_args", {})["dropuot"] = 0.2
    cat = config.resolve(typo, "quick")   # schema-valid: model_args is free-form
    with pytest.raises(config.ConfigError, match=r"arm 'simple__lr0p1'.*\['dropuot'\] are not parameters of model 'mlp'.*did you mean 'dropout'"):
        config.check_model_args(cat)
    config.check_model_args(config.resolve(claim, "quick"))   # the shipped one passes


def test_missing_data_is_reported_before_any_job(tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "tier=full",
                          "claims=[amsgrad_cifarnet]", f"data_root={empty}", f"results_dir={tmp_path}/r"],
                         capture_output=True, text=True, cwd=REPO)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "rule train" not in text
    assert "claim 'amsgrad_cifarnet'" in text and "dataset 'cifar10' not found under data_root=" + str(empty) in text
    assert not (tmp_path / "r").exists()


def test_a_yaml_error_in_config_yaml_names_line_and_column(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    with open(tmp_path / "config" / "config.yaml", "a") as f:
        f.write("tier: quick\n  device: [auto\n")
    lines = (tmp_path / "config" / "config.yaml").read_text().count("\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                          "-n", "--cores", "1"], capture_output=True, text=True)
    assert out.returncode != 0
    assert f"config file config/config.yaml, line {lines}, column 9" in out.stdout + out.stderr


def test_a_duplicate_key_in_config_yaml_is_an_error_not_the_last_one_winning(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    first = next(i for i, line in enumerate((tmp_path / "config" / "config.yaml").read_text().splitlines())
                 if line.startswith("tier:")) + 1
    with open(tmp_path / "config" / "config.yaml", "a") as f:
        f.write("tier: smoke\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                          "-n", "--cores", "1"], capture_output=True, text=True)
    assert out.returncode != 0 and f"duplicate key 'tier' (first on line {first})" in out.stdout + out.stderr


def test_two_arms_of_one_name_in_a_claim_file_are_an_error(tmp_path):
    text = (REPO / "config" / "claims" / "amsgrad_synthetic.yaml").read_text()
    arm = text.index("\n  adam_online:") + 1
    block = text[arm:text.index("\n  ", text.index("\n", arm) + 1)]   # the arm's first line
    path = tmp_path / "amsgrad_synthetic.yaml"
    path.write_text(text[:arm] + block.split("\n")[0] + " {label: again}\n" + text[arm:])
    with pytest.raises(config.ConfigError, match="duplicate key 'adam_online' \\(first on line"):
        config.load_claim(path)


def test_a_metric_no_run_writes_is_rejected(tmp_path):
    def mutate(c):
        c["metrics"]["final_train_acc"] = "train accuracy (no task writes it)"
    with pytest.raises(config.ConfigError, match="metrics.final_train_acc: no online run writes this metric"):
        config.load_claim(write_claim(tmp_path, mutate))


def test_a_rule_on_a_metric_its_arms_never_write_is_refused_before_training():
    """Issue 47 §5: both trained 15 runs and ended 'no data'."""
    from trickbench import plan
    snap = config.load_claim(REPO / "config" / "claims" / "snapshot_ensembles.yaml")
    for t in snap["tiers"]:
        plan.check_metrics_written(config.resolve(snap, t))            # as shipped: every metric written
    no_cycles = copy.deepcopy(snap)
    arm = next(s["rule"]["arm"] for s in snap["subclaims"] if s["rule"].get("metric") == "ensemble_test_acc")
    del no_cycles["base"]["snapshots"]                                   # the arms without their snapshots
    with pytest.raises(config.ConfigError, match=f"needs 'ensemble_test_acc' of arm '{arm}.*no trick in its recipe writes it"):
        plan.check_metrics_written(config.resolve(no_cycles, "quick"))
    sd = config.load_claim(REPO / "config" / "claims" / "stochastic_depth.yaml")
    sd["tiers"]["quick"]["set"]["val_fraction"] = 0
    with pytest.raises(config.ConfigError, match="'test_acc_at_best_val' of arm 'linear__p_last0p5'.*val_fraction 0"):
        plan.check_metrics_written(config.resolve(sd, "quick"))


def test_a_plan_far_larger_than_meant_is_refused_with_its_estimate(tmp_path):
    """Issue 47 §5: seeds=100000 passed validation and the dry run ('300000 runs'), the first hint
    a job log's 'job ≈ 49.0 h' after training had begun. Estimated at the measured cost of the
    committed runs; refused unless confirmed."""
    from trickbench import plan
    gn = config.load_claim(REPO / "config" / "claims" / "gradient_noise.yaml")
    assert plan.estimate({"gradient_noise": config.resolve(gn, "quick")}, REPO / "results").runs == 0   # committed
    big = plan.estimate({"gradient_noise": config.resolve(gn, "quick", 100000)}, REPO / "results")
    assert big.runs > 1_000_000 and big.hours > 100 and big.unknown == 0
    with pytest.raises(config.ConfigError, match=r"this plan trains [\d,]+ runs, ≈ [\d,.]+ hours.*confirm_large=true"):
        plan.check_size(big, 5000, 100, False)
    plan.check_size(big, 5000, 100, True)                               # confirmed
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "seeds=100000",
                          "claims=[gradient_noise]", f"results_dir={tmp_path}/r"], capture_output=True, text=True, cwd=REPO)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "over the limit of 5,000 runs" in text and "runs of claims with no finished run" in text


@pytest.mark.parametrize("override, says", [
    ("tier_=smoke", "unknown key(s) 'tier_' (did you mean 'tier'?)"),
    ("tier=fast", "tier: 'fast' is not one of smoke, quick, cpu, cpu_long, cpu_paper_epochs, full, paper"),
    ("threads=two", "threads: 'two' is not of type 'integer'"),
    ("claims=amsgrad_synthetic", "claims=amsgrad_synthetic must be `all` or a list: --config 'claims=[amsgrad_synthetic]'"),
])
def test_config_messages_are_short_and_name_the_key(tmp_path, override, says):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", override,
                          f"results_dir={tmp_path}/r"], capture_output=True, text=True, cwd=REPO)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and says in text
    assert len(text.splitlines()) < 12   # not the whole schema and config (139 lines before)


def test_workflow_files_are_snakefmt_clean():
    files = [REPO / "Snakefile", REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    out = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *map(str, files)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_environment_files_parse_and_agree_with_pyproject():
    import tomllib
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    conda_name = {"torch": "pytorch"}

    def names(env):
        out = {}
        for d in env["dependencies"]:
            for item in (d["pip"] if isinstance(d, dict) else [d]):
                name, _, version = item.partition(">=")
                out[name.split("=")[0]] = version
        return out
    full = names(yaml.safe_load((REPO / "environment.yml").read_text()))
    for dep in deps:
        name, _, version = dep.partition(">=")
        assert full.get(conda_name.get(name, name)) == version, f"environment.yml lacks {dep}"
    small = names(yaml.safe_load((REPO / "workflow" / "envs" / "analysis.yaml").read_text()))
    assert "pytorch" not in small and "torchvision" not in small
    for name, version in small.items():
        assert full.get(name) == version, f"workflow/envs/analysis.yaml: {name} {version} differs from environment.yml"


def test_a_results_folder_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    """(As root a read-only folder is writable: a path through a plain file cannot be created by anyone.)"""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "tier=smoke",
                          f"results_dir={blocker}/results"], capture_output=True, text=True, cwd=REPO)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and f"results folder {blocker}/results/smoke cannot be written" in text
    assert "Traceback" not in text and "InputFunctionException" not in text


def test_tables_and_summaries_are_written_with_the_users_umask(tmp_path):
    import os
    from trickbench import io
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "a.json", {"x": 1})
        io.atomic_write_bytes(tmp_path / "b.pdf", b"%PDF")
        os.umask(0o077)
        io.write_json(tmp_path / "c.json", {})
    finally:
        os.umask(old)
    assert [oct((tmp_path / n).stat().st_mode & 0o777) for n in ("a.json", "b.pdf", "c.json")] == ["0o644", "0o644", "0o600"]


def test_a_killed_writers_temporary_file_is_removed_on_the_next_run(tmp_path):
    """kill -9 between a temporary file and its rename left `.runs.csv.<x>.tmp` for good."""
    import os
    import time
    from trickbench import io
    stale, fresh = tmp_path / "a" / ".runs.csv.abc123.tmp", tmp_path / ".verdicts.json.def456.tmp"
    stale.parent.mkdir()
    for f in (stale, fresh):
        f.write_text("half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert io.remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and fresh.exists()   # a write in progress is left alone


def test_every_sub_claim_has_a_short_name_for_the_report():
    """Page 1, the forest plot and the README table name sub-claims by their claim-file `label`
    (or a statement of 70 characters at most), never by an id."""
    from trickbench import report
    for cid, claim in config.load_claims(REPO / "config" / "claims").items():
        for sub in claim["subclaims"]:
            name = report.label(claim, sub)
            assert 0 < len(name) <= 70, (cid, sub["id"], name)


def test_a_dry_run_deletes_nothing(tmp_path):
    """`snakemake -n` builds the DAG without deleting anything: a killed job's stale temporary file
    stays until a real run starts (onstart), and the writability check asks instead of writing. (The
    flag files that make a train or analyse job rerun are still written while the DAG is built: a
    fresh clone has no metadata to trigger the rerun otherwise; a rule-made temp() flag changed the
    recorded input set and made finished jobs rerun.)"""
    import os
    results = tmp_path / "results"
    stale = results / "smoke" / "amsgrad_synthetic" / ".verdicts.json.abc123.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_text("half written\n")
    os.utime(stale, (1, 1))   # old enough for remove_stale_temporaries
    before = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "tier=smoke",
                          "claims=[amsgrad_synthetic]", f"results_dir={results}", f"report_dir={tmp_path}/report"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stale.exists() and before <= {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
