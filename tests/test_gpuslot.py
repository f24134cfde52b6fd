"""The multi-GPU slot mechanism: N fake devices, more concurrent jobs than devices."""
import json
import subprocess
import sys

import pytest

from conftest import REPO
from trickbench.ops.gpuslot import gpu_slot

JOB = """
import json, os, sys, time
sys.path.insert(0, {src!r})
from trickbench.ops.gpuslot import gpu_slot
with gpu_slot({n}, {locks!r}, poll_s=0.02) as slot:
    start = time.monotonic()
    seen = os.environ["CUDA_VISIBLE_DEVICES"]
    time.sleep(0.4)
    end = time.monotonic()
print(json.dumps({{"slot": slot, "env": seen, "start": start, "end": end}}))
"""


def test_no_two_concurrent_jobs_share_a_device(tmp_path):
    n_dev, n_jobs = 2, 6
    code = JOB.format(src=str(REPO / "src"), n=n_dev, locks=str(tmp_path / "locks"))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(n_jobs)]
    rows = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {r["slot"] for r in rows} == {0, 1} and all(r["env"] == str(r["slot"]) for r in rows)
    for dev in range(n_dev):
        spans = sorted((r["start"], r["end"]) for r in rows if r["slot"] == dev)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), f"device {dev} shared"
    # 6 jobs of 0.4 s on 2 devices: both devices were used at the same time
    assert max(r["start"] for r in rows) - min(r["start"] for r in rows) < 0.4 * n_jobs


def test_slot_restores_environment_and_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    with gpu_slot(1, tmp_path) as i:
        assert i == 0
        import os
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        with pytest.raises(TimeoutError):
            with gpu_slot(1, tmp_path, poll_s=0.01, timeout_s=0.05):
                pass
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "7"
    with pytest.raises(ValueError):
        with gpu_slot(0, tmp_path):
            pass
