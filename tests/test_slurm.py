"""The smoke tier through a real single-node SLURM (sbatch), with the project's slurm profile.

The real-SLURM test runs only when asked for (it starts daemons): opt in with
TRICKBENCH_SLURM_TEST=1, or TRICKBENCH_REQUIRE_SLURM=1 as CI sets it (then a missing SLURM is a
failure, not a skip). workflow/scripts/slurm-single-node.sh keeps everything in its own state
folder (its slurm.conf, munge key and socket, ports), refuses to run beside a slurmctld/slurmd it
did not start, and `down` stops only the PIDs it recorded; the tests without SLURM below check
exactly that, so a machine with a SLURM of its own is safe either way (issue 21).
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
    up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr   # (exit 3: a SLURM of the machine's own is running)
    state = os.environ.get("TRICKBENCH_SLURM_STATE", "/tmp/trickbench-slurm")
    before = {k: os.environ.get(k) for k in ("SLURM_CONF", "PATH")}
    os.environ["SLURM_CONF"] = f"{state}/slurm.conf"   # sbatch/squeue of this test and of snakemake
    os.environ["PATH"] = f"{state}/bin:{os.environ['PATH']}"   # srun inside jobs (see the script)
    try:
        queued = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip()
        if queued:  # they would hold the node and this test would wait on them until its timeout
            pytest.fail(f"the single-node SLURM already has jobs (scancel them first):\n{queued}")
        yield
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], timeout=60)   # the PIDs `up` recorded, nothing else
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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



# Without SLURM: the script's own guarantees.

def _script(*args, state, env=None, **kw):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TRICKBENCH_SLURM_STATE": str(state), **(env or {})}, **kw)


def test_up_plan_writes_only_inside_its_state_folder(tmp_path):
    state = tmp_path / "state"
    out = _script("plan", state=state)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert {line.split()[0] for line in lines} == {"mkdir", "write", "start"}
    for line in lines:
        paths = [w.split("=", 1)[-1] for w in line.split()[1:] if "/" in w]
        assert paths and all(p.startswith(str(state) + "/") for p in paths), line
    assert "/etc" not in out.stdout and "/run" not in out.stdout
    assert not state.exists()   # a plan touches nothing


def test_down_stops_only_the_pids_it_recorded(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    ours = subprocess.Popen(["sleep", "60"])
    theirs = subprocess.Popen(["sleep", "60"])   # e.g. a slurmd of the machine's own SLURM
    try:
        (state / "slurmctld.pid").write_text(f"{ours.pid}\n")
        assert _script("down", state=state).returncode == 0
        assert ours.wait(timeout=10) is not None
        assert theirs.poll() is None   # untouched
        assert not (state / "slurmctld.pid").exists()
    finally:
        for p in (ours, theirs):
            p.kill()
            p.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="`up` needs root before it looks for other daemons")
def test_up_refuses_beside_a_slurmctld_it_did_not_start(tmp_path):
    fake = tmp_path / "bin" / "slurmctld"   # a process named slurmctld that this script did not start
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nsleep 60\n")
    fake.chmod(0o755)
    proc = subprocess.Popen([str(fake)])
    try:
        env = {"PATH": f"{fake.parent}:{os.environ['PATH']}"}
        out = _script("up", state=tmp_path / "state", env=env)
        assert out.returncode == 3 and "refusing: a slurmctld this script did not start is running" in out.stderr
        assert not (tmp_path / "state").exists() and proc.poll() is None   # nothing written, nothing stopped
    finally:
        proc.kill()
        proc.wait()
