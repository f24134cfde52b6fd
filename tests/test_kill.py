"""A killed pipeline never leaves the committed tables, figures or report missing (issue 33).

Snakemake deletes a job's outputs when the job starts; killed with -9 (or a lost node) nothing
puts them back, so a committed verdicts.json or figure was gone from the working tree until a
rerun. Every output that is committed is flagged update(): Snakemake keeps it while the job runs
and restores it if the job fails, and our writes are atomic, so a kill leaves the old file or the
new one."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_every_committed_output_of_a_rule_is_kept_while_its_job_runs():
    for name in ("train", "analyse", "report"):
        text = (REPO / "workflow" / "rules" / f"{name}.smk").read_text()
        for block in re.findall(r"\n    output:\n(.*?)\n    log:", text, re.S):
            paths = re.findall(r'f?"[^"]*\{(?:RESULTS|REPORT_DIR)\}[^"]*"|REPORT_PDF', block)
            assert paths and all(f"update({p})" in block for p in paths), (name, block)


def test_a_kill_during_a_figure_job_leaves_the_committed_figure(tmp_path):
    work = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(work)], check=True)
    if subprocess.run(["git", "-C", str(work), "status", "--porcelain"], capture_output=True, text=True).stdout.strip():
        pytest.skip("the clone is not clean")
    log = (tmp_path / "snakemake.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "--forcerun", "analyse", "--config",
                             "tier=quick", "claims=[pruning]"], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and "rule figure" not in (tmp_path / "snakemake.log").read_text():
        time.sleep(0.2)
    time.sleep(0.7)   # the figure job has started: its output would be deleted by now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    text = (tmp_path / "snakemake.log").read_text()
    assert "rule figure" in text, text[-2000:]
    status = subprocess.run(["git", "-C", str(work), "status", "--porcelain"], capture_output=True, text=True).stdout
    assert not [line for line in status.splitlines() if line.startswith(" D")], status
