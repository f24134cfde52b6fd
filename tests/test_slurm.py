"""The smoke tier through a real single-node SLURM (sbatch), with the project's slurm profile.

Runs only when asked for: workflow/scripts/slurm-single-node.sh writes /etc/slurm and
/etc/munge and starts daemons, which must never happen to a machine with a SLURM of its own just
because someone ran `python -m pytest` as root (issue 21). Opt in with TRICKBENCH_SLURM_TEST=1, or
TRICKBENCH_REQUIRE_SLURM=1 as CI sets it (then a missing SLURM is a failure, not a skip). Even
then, outside CI, a slurmctld already running stops the test before `up` (CI's fresh machine may
reuse one, as before).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
SCRIPT = REPO / "workflow" / "scripts" / "slurm-single-node.sh"


def _available() -> str | None:
    if "1" not in (os.environ.get("TRICKBENCH_SLURM_TEST"), os.environ.get("TRICKBENCH_REQUIRE_SLURM")):
        return ("the SLURM test writes /etc/slurm and starts daemons: it runs only with TRICKBENCH_SLURM_TEST=1 "
                "(or TRICKBENCH_REQUIRE_SLURM=1, as .ci/run sets it)")
    if shutil.which("slurmctld") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[cluster]')"
    return None


@pytest.fixture(scope="module")
def slurm():
    why = _available()
    if why:
        if os.environ.get("TRICKBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"TRICKBENCH_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    already = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0
    if already and os.environ.get("TRICKBENCH_REQUIRE_SLURM") != "1":  # somebody's own SLURM: hands off
        pytest.fail("a slurmctld is already running; this test does not touch a SLURM it did not start "
                    "(stop it with workflow/scripts/slurm-single-node.sh down if it is a leftover of this test)")
    up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    queued = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip()
    if queued:  # they would hold the node and this test would wait on them until its timeout
        pytest.fail(f"the single-node SLURM already has jobs (scancel them first):\n{queued}")
    yield
    if not already:  # clean up the daemons this test started
        subprocess.run(["bash", str(SCRIPT), "down"], timeout=60)


def test_smoke_tier_through_sbatch(slurm, tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "--profile", str(REPO / "profiles" / "slurm"), "--slurm-status-command", "squeue", "--slurm-no-account",
           "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2", "--jobs", "4",
           "--config", "tier=smoke", "claims=[amsgrad_synthetic]"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert (tmp_path / "report" / "report.pdf").read_bytes()[:5] == b"%PDF-"
    runs = tmp_path / "results" / "smoke" / "amsgrad_synthetic" / "runs"
    summaries = [json.loads(p.read_text()) for p in runs.glob("*/*/seed*/summary.json")]
    jobs = [s["provenance"].get("slurm_job_id") for s in summaries]
    assert summaries and all(j and j.isdigit() for j in jobs), "every run must carry its SLURM job id"
    # one sbatch job per training job (claim-file arm); its seeds share it
    assert len(set(jobs)) == len(list(runs.glob("*.jsonl")))
