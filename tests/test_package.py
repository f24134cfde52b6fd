"""A built package (`pip install .`, not editable) carries what it reads at run time (schemas, the
report template, the lecture's claim files: trickbench/resources.py) and works without a clone."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel pip builds from this working tree, unpacked into a folder of its own (its
    dependencies are this environment's, so nothing is downloaded)."""
    tmp = tmp_path_factory.mktemp("pkg")
    build = tmp / "src"  # a copy: building in the clone would leave build/ behind
    top = {".git", ".venv", "results", "data", "logs", "build", "dist", "report"}  # not src/trickbench/data

    def skip(folder, names):
        return [n for n in names if (folder == str(REPO) and n in top) or n == "__pycache__" or n.endswith(".egg-info")]

    shutil.copytree(REPO, build, ignore=skip)
    (build / "report").mkdir()
    shutil.copy2(REPO / "report" / "report.typ", build / "report")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(build)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp / "dist").glob("trickbench-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(tmp / "site"), str(wheel)], check=True, capture_output=True, timeout=600)
    return tmp / "site"


def _trickbench(site, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(site)}  # before the editable install of this clone
    return subprocess.run([sys.executable, "-m", "trickbench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_installed_package_validates_and_renders_in_a_folder_of_its_own(installed, tmp_path):
    out = _trickbench(installed, tmp_path, "init", "study")
    assert out.returncode == 0, out.stderr
    study = tmp_path / "study"
    assert sorted(p.name for p in (study / "config" / "claims").glob("*.yaml")) == \
        sorted(p.name for p in (REPO / "config" / "claims").glob("*.yaml"))
    assert _trickbench(installed, tmp_path, "init", "study").returncode != 0  # never overwrites

    code = ("import trickbench, trickbench.resources as r; "
            "print(trickbench.__file__); print(r.path('schemas')); print(r.path('report.typ'))")
    where = subprocess.run([sys.executable, "-c", code], cwd=study, env={**os.environ, "PYTHONPATH": str(installed)},
                           capture_output=True, text=True, check=True).stdout.split()
    assert all(w.startswith(str(installed)) for w in where), where  # not the clone's files

    out = _trickbench(installed, study, "validate", "--tier", "smoke")
    assert out.returncode == 0, out.stdout + out.stderr
    # render: one committed claim's tables, its figures drawn and the PDF built by the package
    shutil.copytree(REPO / "results" / "quick" / "amsgrad_synthetic", study / "results" / "quick" / "amsgrad_synthetic",
                    ignore=shutil.ignore_patterns("runs", "logs"))
    out = _trickbench(installed, study, "figure", "--tier", "quick", "--claim", "amsgrad_synthetic",
                      "--out", "report/figures/quick/amsgrad_synthetic_0.svg")
    assert out.returncode == 0, out.stdout + out.stderr
    out = _trickbench(installed, study, "report")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (study / "report" / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (study / "report" / "report.typ").read_text() == (REPO / "report" / "report.typ").read_text()


def test_the_rules_environment_is_the_top_level_one():
    """workflow/envs/trickbench.yaml is a file, not a link (a git host serves a link as its text),
    and lists what environment.yml lists."""
    env = REPO / "workflow" / "envs" / "trickbench.yaml"
    assert not env.is_symlink()

    def body(p):
        return [line for line in p.read_text().splitlines() if line.strip() and not line.startswith("#")]

    assert body(env) == body(REPO / "environment.yml")


def test_the_lock_pins_what_the_committed_runs_were_made_with():
    """constraints.txt (what .ci/run installs with) pins, for every package a run records, the
    version most committed runs record: regenerate it when the results move to new versions."""
    import collections
    import json

    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    seen = collections.defaultdict(collections.Counter)
    for f in (REPO / "results").glob("*/*/runs/*.jsonl"):
        for line in f.read_text().splitlines():
            if line.strip():
                prov = json.loads(line).get("provenance") or {}
                if prov.get("device", "cpu") == "cpu":  # a lent GPU machine has its own torch
                    for pkg, v in (prov.get("versions") or {}).items():
                        seen[pkg][v] += 1
    assert sum(seen["torch"].values()) > 1000
    for pkg, counts in seen.items():
        if pkg == "python":
            continue
        version, n = counts.most_common(1)[0]
        assert pins.get(pkg) == version, f"{pkg}: lock {pins.get(pkg)}, {n} of {sum(counts.values())} runs {version}"


def test_one_version_everywhere():
    """pyproject, the package, CITATION.cff and the newest CHANGELOG section name one release."""
    import re
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    import trickbench
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    cff = (REPO / "CITATION.cff").read_text()
    newest = re.search(r"^## (\S+) \((\d{4}-\d\d-\d\d)\)", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert trickbench.__version__ == version
    assert re.search(rf"^version: {re.escape(version)}$", cff, re.M)
    assert newest and newest.group(1) == version
    assert re.search(rf"^date-released: {newest.group(2)}$", cff, re.M)
