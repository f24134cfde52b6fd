"""The whole DAG on the smoke tier, in a temporary folder, through to the PDF."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from trickbench import config

SMOKE = {cid: config.resolve(c, "smoke") for cid, c in config.load_claims(REPO / "config" / "claims").items()}
SYN = SMOKE["amsgrad_synthetic"]
N_RUNS = sum(len(SYN.seeds_of(a)) for a in SYN.arms)

pytestmark = pytest.mark.slow


ONE = "claims=[amsgrad_synthetic]"  # the later tests need one claim, not all


def snakemake(workdir, *args, config=(), **kw):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args, "--config", "tier=smoke", *config]
    # a guard against a hung run, not a speed target: the smoke tier (~70 jobs) takes minutes on an
    # idle 2-core machine and over 10 minutes when the machine is busy with other training
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, **kw)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(REPO / "config", wd / "config")
    return wd


def test_smoke_tier_builds_the_report(workdir):
    out = snakemake(workdir)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    pdf = workdir / "report" / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    v = json.loads((workdir / "results" / "smoke" / "amsgrad_synthetic" / "verdicts.json").read_text())
    assert {s["id"] for s in v["subclaims"]} >= {"online_adam_worst_point", "stochastic_amsgrad_closer"}
    assert all(s["verdict"] in ("replicated", "not replicated", "inconclusive") for s in v["subclaims"])
    assert v["cost"]["runs"] == N_RUNS  # deterministic arms: 1 seed; stochastic arms: the tier's seeds
    for cid in SMOKE:
        assert (workdir / "results" / "smoke" / cid / "verdicts.json").exists()
    assert (workdir / "report" / "figures" / "smoke" / "amsgrad_synthetic_0.svg").exists()
    data = json.loads((workdir / "report" / "build" / "data.json").read_text())
    assert data["summary"] and data["summary"][0]["tier"] == "smoke"


def test_second_run_has_nothing_to_do(workdir):
    out = snakemake(workdir)
    assert out.returncode == 0 and "Nothing to be done" in out.stdout + out.stderr


def test_interrupted_run_resumes_without_redoing_finished_runs(workdir):
    shutil.rmtree(workdir / "results")
    shutil.rmtree(workdir / "report")
    runs = workdir / "results" / "smoke" / "amsgrad_synthetic" / "runs"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "1", "--config", "tier=smoke", ONE]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(runs.glob("*/*/seed*/summary.json")):
        time.sleep(0.02)
    # a hard kill of snakemake and its job, as a lost node or a pulled plug would (SIGINT let a
    # loaded CI machine finish every job before it took effect)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert snakemake(workdir, "--unlock", config=[ONE]).returncode == 0
    # a run is finished when its summary.json exists (written atomically, last)
    done = {p: p.stat().st_mtime_ns for p in runs.glob("*/*/seed*/summary.json")}
    assert done and len(done) < N_RUNS, "the kill should land mid-run"
    out = snakemake(workdir, config=[ONE])
    assert out.returncode == 0, out.stderr[-3000:]
    for path, mtime in done.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    assert len(list(runs.glob("*/*/seed*/summary.json"))) == N_RUNS
    assert len(list(runs.glob("*.jsonl"))) == len(SYN.families())
    assert (workdir / "report" / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_lint_dry_run_and_html_report(workdir):
    lint = snakemake(workdir, "--lint", config=[ONE])
    assert lint.returncode == 0, lint.stdout[-3000:]
    dry = snakemake(workdir, "-n", "--forcerun", "analyse", config=[ONE])
    assert dry.returncode == 0 and "analyse" in dry.stdout
    html = snakemake(workdir, "--report", str(workdir / "report.html"), config=[ONE])
    assert html.returncode == 0, html.stderr[-3000:]
    page = (workdir / "report.html").read_text(errors="replace")
    assert (workdir / "report.html").stat().st_size > 10_000
    # each figure carries its own caption from the claim file (report/figure.rst renders params.caption)
    first = " ".join(SYN.claim["figures"][0]["caption"].split()[:4])
    assert first in page, first


def test_committed_results_of_another_tier_survive_and_are_shown(workdir):
    """A run of one tier never deletes, overwrites or retrains another tier's results, and the
    report shows them beside the fresh ones."""
    src = workdir / "results" / "smoke" / "amsgrad_synthetic"
    other = workdir / "results" / "full" / "amsgrad_synthetic"
    shutil.copytree(src, other)
    v = json.loads((other / "verdicts.json").read_text())
    v["tier"] = "full"
    (other / "verdicts.json").write_text(json.dumps(v))
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    out = snakemake(workdir, "--forcerun", "analyse", config=[ONE])
    assert out.returncode == 0, out.stderr[-3000:]
    after = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    assert after == before
    data = json.loads((workdir / "report" / "build" / "data.json").read_text())
    assert {"smoke", "full"} <= {r["tier"] for r in data["summary"]}


def test_a_fresh_clone_retrains_what_the_config_changed_and_what_was_deleted(workdir):
    """Without Snakemake's metadata (a fresh clone), a committed runs/<arm>.jsonl whose recipe
    hash is no longer the arm's, an arm without runs/<arm>.jsonl, or a deleted claim folder, is
    retrained: not "Nothing to be done"."""
    shutil.rmtree(workdir / ".snakemake", ignore_errors=True)
    quiet = snakemake(workdir, "-n", config=[ONE])
    assert quiet.returncode == 0 and "rule train" not in quiet.stdout, quiet.stdout[-3000:]
    runs = workdir / "results" / "smoke" / "amsgrad_synthetic" / "runs"
    arm = sorted(runs.glob("*.jsonl"))[0]
    recs = [json.loads(line) for line in arm.read_text().splitlines()]
    arm.write_text("".join(json.dumps({**r, "config_hash": "0" * 12}) + "\n" for r in recs))  # an old recipe
    dry = snakemake(workdir, "-n", config=[ONE])
    assert dry.returncode == 0 and f"arm={arm.stem}" in dry.stdout, dry.stdout[-3000:]
    assert dry.stdout.count("rule train:") == 1
    fixed = snakemake(workdir, config=[ONE])   # retrains that arm's runs under the current hash
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert {json.loads(line)["config_hash"] for line in arm.read_text().splitlines()} != {"0" * 12}
    again = snakemake(workdir, "-n", config=[ONE])
    assert again.returncode == 0 and "rule train" not in again.stdout, again.stdout[-3000:]
    arm.unlink()   # an arm never started, beside a verdicts.json analysed from the others (--partial)
    partial = snakemake(workdir, "-n", config=[ONE])
    assert partial.returncode == 0 and f"arm={arm.stem}" in partial.stdout, partial.stdout[-3000:]
    assert partial.stdout.count("rule train:") == 1
    shutil.rmtree(workdir / "results" / "smoke" / "amsgrad_synthetic")
    gone = snakemake(workdir, "-n", config=[ONE])
    assert gone.returncode == 0 and gone.stdout.count("rule train:") == len(SYN.families()), gone.stdout[-3000:]


def test_a_report_is_never_staler_than_its_runs(workdir):
    """Issue 47 §3: an arm's seed folders and runs/<arm>.jsonl deleted, then `--allowed-rules analyse
    figure report all` said "Nothing to be done" (rc 0) over a PDF with the deleted arm's verdict. Now:
    a run file changed re-analyses; one deleted stops the pipeline naming it; an arm deleted where
    training is not allowed stops it too."""
    assert snakemake(workdir, config=[ONE]).returncode == 0
    runs = workdir / "results" / "smoke" / "amsgrad_synthetic" / "runs"
    arm = sorted(runs.glob("*.jsonl"))[0]
    seed = next((runs / arm.stem).glob("*/seed0"))
    time.sleep(1)
    (seed / "metrics.jsonl").touch()
    dry = snakemake(workdir, "-n", config=[ONE])
    assert dry.returncode == 0 and "rule analyse:" in dry.stdout and "rule report:" in dry.stdout, dry.stdout[-3000:]
    shutil.rmtree(seed)
    out = snakemake(workdir, "-n", config=[ONE])
    assert out.returncode != 0 and f"{seed.relative_to(workdir)}/metrics.jsonl is missing" in out.stdout + out.stderr
    assert f"remove {seed.relative_to(workdir)} and {arm.relative_to(workdir)}" in out.stdout + out.stderr
    for d in (runs / arm.stem).glob("*"):
        shutil.rmtree(d)
    arm.unlink()
    out = snakemake(workdir, "--allowed-rules", "analyse", "figure", "report", "all", config=[ONE])
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Nothing to be done" not in text
    assert f"holds verdicts of runs that are gone (no runs/<arm>.jsonl for arm(s) {arm.stem})" in text
    assert snakemake(workdir, config=[ONE]).returncode == 0   # training allowed: retrained, re-analysed


def test_reproduce_retrains_into_its_own_folder_and_compares_verdicts(workdir):
    from trickbench import report
    readme = workdir / "README.md"
    readme.write_text(f"# a clone\n{report.README_START}\nold table\n{report.README_END}\nmore\n")
    # the "committed" results (the report forced: the tests before may have built them already)
    assert snakemake(workdir, "--forcerun", "report", config=[ONE]).returncode == 0
    table = readme.read_text()
    assert "old table" not in table and "| Trick |" in table   # the default run writes the committed table
    committed = {p: p.read_bytes() for p in (workdir / "results").rglob("*") if p.is_file() and "logs" not in p.parts}
    out = snakemake(workdir, config=[ONE, "results_dir=reproduce/results", "report_dir=reproduce/report",
                                     "compare_with=results"])
    assert out.returncode == 0, out.stderr[-3000:]
    after = {p: p.read_bytes() for p in (workdir / "results").rglob("*") if p.is_file() and "logs" not in p.parts}
    assert after == committed   # byte-identical
    assert readme.read_text() == table   # and the README's table of them: a side run never rewrites it
    table = (workdir / "reproduce" / "results" / "smoke" / "reproduction.csv").read_text().splitlines()
    assert table[0].startswith("# tier smoke") and len(table) - 2 == len(SYN.claim["subclaims"])
    assert all(",True,True," in row for row in table[2:] if ",amsgrad_synthetic,online_" in row)  # deterministic: exact
    data = json.loads((workdir / "reproduce" / "report" / "build" / "data.json").read_text())
    assert len(data["reproduction"]["rows"]) == len(SYN.claim["subclaims"])


def _importing_workflow(folder, snakefile_source):
    """A folder as `snakedeploy deploy-workflow` leaves it: its own config/, a Snakefile that
    loads trickbench as a module and uses every rule, naming no target."""
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "config.yaml").write_text(
        f"tier: smoke\nclaims: [amsgrad_synthetic]\nclaims_dir: {REPO / 'config' / 'claims'}\n")
    (folder / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        f'module trickbench:\n    snakefile:\n        {snakefile_source}\n    config:\n        config\n\n\n'
        'use rule * from trickbench as tb_*\n')


def test_usable_as_a_snakemake_module_from_another_folder(tmp_path):
    """Another workflow imports this one from a local path (`module ... snakefile:`): every path
    comes from the module's own files, and its `all` is the default target."""
    _importing_workflow(tmp_path, f'"{REPO / "workflow" / "Snakefile"}"')
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("rule tb_train:") == len(SYN.families()) and "rule tb_report:" in out.stdout
    assert "rule tb_all:" in out.stdout


def test_entry_points_agree():
    """`snakemake` from the root (Snakefile includes workflow/Snakefile) and `-s workflow/Snakefile`
    (the catalog's entry point) plan the same jobs: an included file's default target is not lost."""
    plans = []
    for snakefile in ("Snakefile", "workflow/Snakefile"):
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", snakefile, "--cores", "1",
                              "--config", "tier=smoke", "results_dir=/nonexistent-results"],
                             cwd=REPO, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        plans.append(sorted(line for line in out.stdout.splitlines()
                            if line.startswith("rule ") and line.strip() not in ("rule default:", "rule all:")))
    assert plans[0] == plans[1] and any(p.startswith("rule report") for p in plans[0])


def test_deployed_from_a_git_tag_runs_to_the_pdf(tmp_path):
    """As snakedeploy deploys it: a module from a git source at a tag (Snakemake's `gitfile`
    helper on a local repository; `github(...)` takes the same path), the package installed
    (here the test's own), no file of a clone in reach: dry run, then the smoke tier of one claim
    through to the PDF."""
    repo = tmp_path / "trickbench.git"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", "workflow", "config",
                            "report/report.typ", "Snakefile"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for f in files:  # the working tree's files, committed changes or not
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, repo / f)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", "-a", "v9.9.9", "-m", "t"]):
        subprocess.run(git + args, check=True, capture_output=True)
    user = tmp_path / "user"
    _importing_workflow(user, f'gitfile("{repo}", path="workflow/Snakefile", tag="v9.9.9")')
    assert not (repo / "src").exists()  # the package comes from the installation
    out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=user,
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (user / "report" / "report.pdf").read_bytes()[:5] == b"%PDF-"
    v = json.loads((user / "results" / "smoke" / "amsgrad_synthetic" / "verdicts.json").read_text())
    assert v["cost"]["runs"] == N_RUNS
