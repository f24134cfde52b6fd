"""The benchmark's bookkeeping and the report rows it feeds (the timings themselves are not tested)."""
import json
import re

import pytest

from trickbench import report
from trickbench.ops import bench

JOB_STATS = """Building DAG of jobs...
Job stats:
job         count
--------  -------
all             1
analyse         7
figure         16
report          1
train          53
total          78

Select jobs to execute...
"""


def test_job_stats_reads_snakemakes_table():
    assert bench.job_stats(JOB_STATS) == {"all": 1, "analyse": 7, "figure": 16, "report": 1, "train": 53}
    assert bench.job_stats("Nothing to be done.") == {}


def test_unknown_layout_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown layout 'threads'.*parallel_stacked"):
        bench.time_layout("threads", 2, 1, 2, str(tmp_path))


def test_worker_trains_its_seeds(tmp_path):
    bench._worker([0, 1], 1, 1, "stacked", str(tmp_path))
    summaries = [json.loads(p.read_text()) for p in tmp_path.glob("*/*/summary.json")]
    assert sorted(s["seed"] for s in summaries) == [0, 1]


def test_report_shows_layouts_and_pipeline(tmp_path):
    dev = {"device": "cpu", "cpu": "Test CPU"}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "l.json").write_text(json.dumps({
        "suite": "layouts", "seeds": 16, "epochs": 2, "cores": 2, "images_per_run": 12800, "device": dev,
        "load_before": 0.1, "load_after": 0.5, "best": "parallel_stacked",
        "layouts": {"per_run_process": {"wall_s": 40.0, "runs_per_hour": 1440.0, "over_per_run_process": 1.0},
                    "parallel_stacked": {"wall_s": 10.0, "runs_per_hour": 5760.0, "over_per_run_process": 4.0}}}))
    (tmp_path / "bench" / "p.json").write_text(json.dumps({
        "suite": "pipeline", "tier": "quick", "cores": 2, "device": dev, "load_before": 0.0, "load_after": 1.0,
        "jobs": {"train": 53, "all": 1}, "wall_s": 600.0, "train_forced_wall_s": 45.0, "noop_wall_s": 5.0, "analysis_wall_s": 30.0,
        "train_overhead": 0.075, "overhead_bound": 0.125}))
    s = report.speed(tmp_path)
    assert [r["layout"] for r in s["layouts"]] == ["per_run_process", "parallel_stacked (fastest)"]
    assert s["layouts"][1]["ratio"] == "4.00×"
    assert s["pipeline"] == [{"device": "Test CPU (load 0.0–1.0)", "tier": "quick, 2 cores", "jobs": "53 train, 0 other",
                              "wall": "10.0", "train": "45", "noop": "5", "train_share": "7.5%", "analysis": "30",
                              "share": "12.5%"}]


def test_report_shows_cpu_fp32_and_bf16_throughput_of_conv_models(tmp_path):
    (tmp_path / "bench").mkdir()
    row = {"engine_img_s": 359.0, "plain_img_s": 244.0, "ratio": 1.47, "flops_per_image": 2.4e8, "mfu": 1.08}
    (tmp_path / "bench" / "m.json").write_text(json.dumps({
        "suite": "models", "device": {"device": "cpu", "cpu": "Test CPU"}, "load_before": 0.1, "load_after": 1.0,
        "models": {"resnet20": {**row, "engine_fp32_img_s": 220.0, "engine_bf16_img_s": 359.0, "bf16_over_fp32": 359 / 220},
                   "mlp20x50": row}}))
    rows = {r["model"]: r for r in report.speed(tmp_path)["models"]}
    assert rows["resnet20"]["bf16"] == "220 / 359 (1.63×)"
    assert rows["mlp20x50"]["bf16"] == "–"          # MLPs are not timed in bf16


def test_stacked_linear_suite_compares_the_two_backwards(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "LINEAR_SHAPES", [(2, 16, 12, 8), (3, 8, 20, 5)])
    out = tmp_path / "bench" / "s.json"
    r = bench.main(["--suite", "stacked-linear", "--steps", "1", "--repeat", "1", "--out", str(out)])
    assert [(x["seeds"], x["fan_in"]) for x in r["rows"]] == [(2, 12), (3, 20)]
    # the same numbers to float rounding (bit for bit on a Xeon with AMX, ~1e-7 relative on AMD EPYCs)
    assert all(x["max_rel_diff"] < 1e-6 and x["speedup"] > 0 for x in r["rows"])
    assert json.loads(out.read_text())["rows"] == r["rows"]
    rows = report.speed(tmp_path)["engine"]   # the report's table of engine choices, in milliseconds
    assert len(rows) == 2 and rows[0]["choice"].startswith("stacked MLP layer, 2 seeds × batch 16, 12→8")
    assert re.search(r"bit for bit the same|the same to \de-0[5-9] relative", rows[0]["choice"])
    assert rows[0]["base"].endswith(" ms")
