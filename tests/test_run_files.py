"""No silent wrong results from damaged run files: each is named, with its line and how to repair it
(issue 47 §1). A run's summary records its metrics.jsonl's checksum; analyse refuses a file that
does not read, holds other epochs than its summary counts, or is not the file the run wrote."""
import json

import pytest

from trickbench import cli, io

ARGS = ["--tier", "smoke", "--claim", "dropout"]


@pytest.fixture()
def results(tmp_path, ctx):
    out = tmp_path / "results"
    cli.main(["run-arm", *ARGS, "--arm", "none", "--results", str(out), "--out", str(out / "smoke/dropout/runs/none.jsonl"),
              "--data-root", ctx["data_root"], "--cache-dir", ctx["cache_dir"], "--device", "cpu"])
    return out


def analyse(results):
    cli.main(["analyse", *ARGS, "--results", str(results), "--partial"])


def seed_file(results, name="metrics.jsonl"):
    return next((results / "smoke/dropout/runs/none").glob(f"*/seed0/{name}"))


def refused(results, *patterns):
    with pytest.raises(SystemExit) as e:
        analyse(results)
    msg = str(e.value.code)
    assert msg.startswith("damaged results file: ") and "Traceback" not in msg
    for p in patterns:
        assert p in msg, (p, msg)
    return msg


def test_an_intact_tier_analyses(results):
    analyse(results)
    assert (results / "smoke/dropout/curves.csv").exists()


def test_a_metrics_line_cut_mid_way_names_the_file_and_its_line(results):
    m = seed_file(results)
    text = m.read_text()
    m.write_text(text[:-40])     # the last line cut, as a killed copy leaves it
    msg = refused(results, f"{m}, line 2: not valid JSON", "retrain that seed: remove", "none.jsonl")
    assert "line 1 column" not in msg


def test_a_whole_epoch_missing_is_refused_against_the_summary(results):
    m = seed_file(results)
    m.write_text(m.read_text().splitlines(keepends=True)[0])
    refused(results, str(m), "holds 1 epochs, its run's summary 2")


def test_an_edited_number_that_still_reads_is_caught_by_the_checksum(results):
    m = seed_file(results)
    rows = io.read_jsonl(m)
    rows[0]["train_loss"] += 0.5
    m.write_text("".join(io.dumps(r) + "\n" for r in rows))
    refused(results, str(m), "sha256 differs from the summary's metrics_sha256")


def test_a_truncated_summary_file_is_named(results):
    arm = results / "smoke/dropout/runs/none.jsonl"
    arm.write_text(arm.read_text()[:300])
    refused(results, f"{arm}, line 1: not valid JSON")


def test_a_truncated_run_summary_is_named_where_a_running_tier_reads_it(results):
    arm = results / "smoke/dropout/runs/none.jsonl"
    arm.unlink()               # a job still running: analyse --partial reads the runs' own summary.json
    s = seed_file(results, "summary.json")
    s.write_text(s.read_text()[:200])
    refused(results, f"{s}: not valid JSON at line")


def test_every_run_records_its_metrics_checksum(results):
    for line in (results / "smoke/dropout/runs/none.jsonl").read_text().splitlines():
        r = json.loads(line)
        m = next((results / "smoke/dropout/runs/none").glob(f"*/seed{r['seed']}/metrics.jsonl"))
        assert r["metrics_sha256"] == io.sha256_file(m)
