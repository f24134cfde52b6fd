"""A lane of long runs (workflow/scripts/longruns.sh) trains its lines in order, passes a line's
extra flags to run-arm, and marks each line done or failed; longruns_collect.sh brings a worktree's
runs back; lanes.sh starts and collects every lane of a checkout."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from trickbench import io

ROOT = Path(__file__).resolve().parents[1]


def script(name, *args, timeout=600, **kw):
    """Run workflow/scripts/<name> like subprocess.run(check=True), in its own process group: on a
    timeout the whole group is killed (a lane's run-arm job would otherwise outlive the test)."""
    with subprocess.Popen(["bash", str(ROOT / "workflow/scripts" / name), *map(str, args)],
                          start_new_session=True, **kw) as p:
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise
    if rc:
        raise subprocess.CalledProcessError(rc, name)


def test_lane_runs_marks_and_passes_flags(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for d in ("config", "src"):  # a worktree stand-in: the repository's code and claims, results of its own
        (work / d).symlink_to(ROOT / d)
    lane = tmp_path / "lane.txt"
    lane.write_text("# a comment stays\n"
                    "smoke dropout none 2 none.jsonl --stack\n"
                    "smoke dropout no_such_arm 1 x.jsonl\n")
    env = dict(os.environ, PYTHON=sys.executable, DATA_ROOT=str(tmp_path / "data"))
    script("longruns.sh", work, lane, env=env)
    assert lane.read_text().splitlines() == ["# a comment stays", "done smoke dropout none 2 none.jsonl --stack",
                                             "failed smoke dropout no_such_arm 1 x.jsonl"]
    rows = io.read_jsonl(work / "results/smoke/dropout/runs/none.jsonl")
    assert [r["seed"] for r in rows] == [0, 1]
    assert all(r["outcome"] == "ok" and r["stacked_runs"] == 2 for r in rows)  # --stack reached run-arm
    log = (tmp_path / "lane.txt.log").read_text()
    assert "no_such_arm" in log and log.rstrip().endswith("lane empty")


def test_a_lane_line_may_train_some_seeds_of_an_arm(tmp_path):
    """--only-seeds splits one arm's test seeds over lanes running side by side; a seed that is not
    a test seed of the tier is rejected before anything trains."""
    work = tmp_path / "work"
    work.mkdir()
    for d in ("config", "src"):
        (work / d).symlink_to(ROOT / d)
    lane = tmp_path / "lane.txt"
    lane.write_text("smoke weight_penalties none 2 none.s1.jsonl --only-seeds 1\n"
                    "smoke weight_penalties none 2 none.s5.jsonl --only-seeds 5\n")
    env = dict(os.environ, PYTHON=sys.executable, DATA_ROOT=str(tmp_path / "data"))
    script("longruns.sh", work, lane, env=env)
    assert lane.read_text().splitlines() == ["done smoke weight_penalties none 2 none.s1.jsonl --only-seeds 1",
                                             "failed smoke weight_penalties none 2 none.s5.jsonl --only-seeds 5"]
    runs = work / "results/smoke/weight_penalties/runs"
    assert [r["seed"] for r in io.read_jsonl(runs / "none.s1.jsonl")] == [1]
    assert sorted(p.parent.name for p in runs.glob("none/*/seed*/summary.json")) == ["seed1"]
    assert "seeds [5] are not test seeds of weight_penalties at tier smoke" in (tmp_path / "lane.txt.log").read_text()


def trained_worktree(tmp_path, lines):
    """A worktree stand-in (the repository's code and claims, results of its own) whose lane of
    `lines` has run, and a git checkout `here` to collect into. Returns (work, here, lane, env)."""
    work, here = tmp_path / "work", tmp_path / "here"
    for d in (work, here):
        d.mkdir()
        for sub in ("config", "src"):
            (d / sub).symlink_to(ROOT / sub)
    subprocess.run(["git", "init", "-q"], cwd=here, check=True)
    lane = work / "results/smoke/queue/lane.txt"
    lane.parent.mkdir(parents=True)
    lane.write_text(lines)
    env = dict(os.environ, PYTHON=sys.executable, DATA_ROOT=str(tmp_path / "data"))
    script("longruns.sh", work, lane, env=env)
    return work, here, lane, env


def test_collect_one_claim_of_a_tier(tmp_path):
    """longruns_collect.sh WORKTREE TIER CLAIM copies that claim's runs only, analyses it --partial
    and stages it; the tier's other folders (another claim, the lane files) stay where they are."""
    work, here, lane, env = trained_worktree(tmp_path, "smoke dropout none 2 none.jsonl --stack\n"
                                                       "smoke weight_penalties none 1 none.jsonl\n")
    script("longruns_collect.sh", work, "smoke", "dropout", cwd=here, env=env)
    got = here / "results/smoke"
    assert sorted(p.name for p in got.iterdir()) == ["dropout"]
    assert len(io.read_jsonl(got / "dropout/runs/none.jsonl")) == 2
    assert io.read_json(got / "dropout/verdicts.json")["missing_arms"]     # analysed --partial
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=here, capture_output=True, text=True).stdout
    assert "results/smoke/dropout/verdicts.json" in staged and "weight_penalties" not in staged
    r = subprocess.run(["bash", str(ROOT / "workflow/scripts/longruns_collect.sh"), str(work), "smoke", "no_such_claim"],
                       cwd=here, env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "no claim of tier smoke named no_such_claim" in r.stderr


def test_collect_keeps_a_finished_run_from_a_stale_unfinished_copy(tmp_path):
    """Lanes at two commits: the second worktree was made (with a copy of the checkout's results)
    while the first was training a run, which has finished and been collected since. Collecting the
    second worktree must not put its unfinished copy (older metrics, a checkpoint) over the run."""
    work, here, lane, env = trained_worktree(tmp_path, "smoke weight_penalties none 1 none.jsonl\n")
    script("longruns_collect.sh", work, "smoke", cwd=here, env=env)
    (seed,) = (here / "results/smoke/weight_penalties/runs").glob("*/*/seed0")
    finished = (seed / "metrics.jsonl").read_bytes()
    stale = work / seed.relative_to(here)
    (stale / "summary.json").unlink()
    (stale / "metrics.jsonl").write_text(finished.decode().splitlines()[0] + "\n")
    (stale / "ckpt.pt").write_bytes(b"an older checkpoint")
    (work / "results/smoke/weight_penalties/runs/new.txt").write_text("the worktree's other files still come")
    r = subprocess.run(["bash", str(ROOT / "workflow/scripts/longruns_collect.sh"), str(work), "smoke"],
                       cwd=here, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (seed / "metrics.jsonl").read_bytes() == finished and (seed / "summary.json").exists()
    assert not (seed / "ckpt.pt").exists() and "not copied" in r.stderr
    assert (here / "results/smoke/weight_penalties/runs/new.txt").exists()
    # both unfinished: the copy with fewer epochs than the checkout's stays out too
    (seed / "summary.json").unlink()
    script("longruns_collect.sh", work, "smoke", cwd=here, env=env)
    assert (seed / "metrics.jsonl").read_bytes() == finished and not (seed / "ckpt.pt").exists()


def test_lane_without_interpreter_stops_and_marks_nothing(tmp_path):
    """A wiped venv must not mark the queue: before, every line failed at once and the lane spun
    (thousands of 'failed' lines a second, as the marking itself needed the interpreter)."""
    lane = tmp_path / "lane.txt"
    text = "smoke dropout none 1 none.jsonl\nsmoke dropout paper 1 paper.jsonl\n"
    lane.write_text(text)
    lane_sh = str(ROOT / "workflow/scripts/longruns.sh")
    r = subprocess.run(["bash", lane_sh, str(tmp_path), str(lane)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHON=str(tmp_path / "no-venv/bin/python")))
    assert r.returncode == 2 and "is not an executable" in r.stderr and lane.read_text() == text
    gone = tmp_path / "python"  # found at the start, then unable to run (the venv vanished mid-lane)
    gone.write_text("#!/bin/sh\nexit 127\n")
    gone.chmod(0o755)
    r = subprocess.run(["bash", lane_sh, str(tmp_path), str(lane)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHON=str(gone)))
    assert r.returncode == 127 and lane.read_text() == text
    assert (tmp_path / "lane.txt.log").read_text().count("stopped (rc 127") == 1


def test_lane_stops_at_a_line_this_machine_cannot_train_and_marks_nothing(tmp_path):
    """run-arm exits 75 when the machine cannot train the line as asked (bf16 on a CPU without bf16
    units): the lane stops there, leaving that line and the later ones for another machine."""
    lane = tmp_path / "lane.txt"
    text = "cpu_paper_epochs stochastic_depth constant 6 c.jsonl --precision bf16\nsmoke dropout none 1 none.jsonl\n"
    lane.write_text(text)
    py = tmp_path / "python"
    py.write_text("#!/bin/sh\necho not on this machine >&2\nexit 75\n")
    py.chmod(0o755)
    r = subprocess.run(["bash", str(ROOT / "workflow/scripts/longruns.sh"), str(tmp_path), str(lane)],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHON=str(py)))
    assert r.returncode == 0 and lane.read_text() == text
    log = (tmp_path / "lane.txt.log").read_text()
    assert log.count("stopped (rc 75, not on this machine)") == 1 and "lane empty" not in log


def test_run_arm_refuses_bf16_on_a_cpu_without_bf16_units(tmp_path, monkeypatch, capsys):
    """Emulated bf16 is ~25x slower than fp32 (AVX2-only EPYC): run-arm says so before any data is
    read and exits 75; on a CPU with AMX or AVX-512 BF16, or with --allow-emulated-bf16, it goes on."""
    import pytest
    from trickbench import cli, provenance
    monkeypatch.setattr(provenance, "cpu_bf16", lambda: None)
    argv = ["run-arm", "--tier", "smoke", "--claim", "dropout", "--arm", "none", "--out", str(tmp_path / "o.jsonl"),
            "--results", str(tmp_path / "results"), "--data-root", str(tmp_path / "data"), "--device", "cpu"]
    with pytest.raises(SystemExit) as e:
        cli.main(argv + ["--precision", "bf16"])
    assert e.value.code == cli.NOT_ON_THIS_MACHINE == 75
    assert "without native bf16 units" in capsys.readouterr().err and not (tmp_path / "results").exists()
    args = cli.build_parser().parse_args(argv + ["--precision", "bf16", "--allow-emulated-bf16"])
    assert cli._emulated_bf16(args) is None
    monkeypatch.setattr(provenance, "cpu_bf16", lambda: "amx_bf16")
    assert cli._emulated_bf16(cli.build_parser().parse_args(argv + ["--precision", "bf16"])) is None
    monkeypatch.setattr(provenance, "cpu_bf16", lambda: None)
    assert cli._emulated_bf16(cli.build_parser().parse_args(argv + ["--precision", "fp32"])) is None


def test_collect_pauses_training_while_it_times_stages(tmp_path):
    """compute_share times the model's stages: collecting a claim that measures it beside running
    lanes pauses every training job on the machine (SIGSTOP) for the measurement and resumes it."""
    work, here, lane, env = trained_worktree(tmp_path, "smoke stochastic_depth constant 1 constant.jsonl\n")
    assert lane.read_text().startswith("done ")
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "trickbench.cli", "run-arm"])  # pgrep sees a lane's job
    seen = tmp_path / "state-during-measure-share"
    py = tmp_path / "python"  # records the job's state when measure-share starts, then runs python
    # (a stopped job shows T once the kernel has scheduled it: on a busy machine that takes a moment)
    py.write_text(f'#!/bin/sh\ncase "$*" in *measure-share*) for i in $(seq 50); do\n'
                  f'  cut -d" " -f3 /proc/{job.pid}/stat > {seen}; grep -q T {seen} && break; sleep 0.1; done;; esac\n'
                  f'exec {sys.executable} "$@"\n')
    py.chmod(0o755)
    try:
        script("longruns_collect.sh", work, "smoke", "stochastic_depth", cwd=here, env=dict(env, PYTHON=str(py)))
        assert seen.read_text().strip() == "T"                      # stopped while the stages were timed
        state = Path(f"/proc/{job.pid}/stat").read_text().split()[2]
        assert state in ("S", "R"), state                                 # and running again after
        assert (here / "results/smoke/stochastic_depth/verdicts.json").exists()
    finally:
        job.kill()


def test_lanes_start_from_the_commit_they_name_and_collect_back(tmp_path):
    """lanes.sh start makes each lane's worktree at the commit its '# worktree:' line names (beside the
    checkout), puts the committed results back and starts the lane; lanes.sh collect brings each
    claim and the lane file back; a lane with nothing left is not started again."""
    import shutil
    repo = tmp_path / "main"
    for d in ("config", "src", "workflow"):
        shutil.copytree(ROOT / d, repo / d, ignore=shutil.ignore_patterns("__pycache__"))
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True, text=True).stdout  # noqa: E731
    lane = repo / "results/smoke/queue/a.txt"
    lane.parent.mkdir(parents=True)
    # the lane file as committed at the worktree's commit, older than the checkout's (where the first
    # line is marked done): a worktree made from the commit must not run it again
    lane.write_text("smoke dropout paper 1 paper.jsonl\nsmoke dropout none 2 none.jsonl --stack\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    commit = git("rev-parse", "HEAD").strip()
    lane.write_text(f"# worktree: {commit}\ndone smoke dropout paper 1 paper.jsonl\n"
                    "smoke dropout none 2 none.jsonl --stack\n")
    env = dict(os.environ, PYTHON=sys.executable, DATA_ROOT=str(tmp_path / "data"), LANES_ROOT=str(tmp_path))
    run = lambda *a: subprocess.run(["bash", "workflow/scripts/lanes.sh", *a], cwd=repo, env=env, check=True,  # noqa: E731
                                    capture_output=True, text=True, timeout=600).stdout
    assert "started in" in run("start")
    work = tmp_path / f"runs-{commit[:7]}"
    live = work / "results/smoke/queue/a.txt"
    deadline = time.time() + 600
    while "lane empty" not in (live.with_name("a.txt.log").read_text() if live.with_name("a.txt.log").exists() else ""):
        assert time.time() < deadline
        time.sleep(1)
    assert git("-C", str(work), "rev-parse", "HEAD").strip() == commit
    assert "start: smoke dropout paper" not in live.with_name("a.txt.log").read_text()
    assert "nothing left" in run("start")
    assert "results/smoke/queue/a.txt: stopped, 2 done, 0 failed, 0 left" in run("status")
    run("collect")
    assert lane.read_text().splitlines()[2] == "done smoke dropout none 2 none.jsonl --stack"
    assert len(io.read_jsonl(repo / "results/smoke/dropout/runs/none.jsonl")) == 2
    assert "results/smoke/queue/a.txt" in git("diff", "--cached", "--name-only")
    lane.write_text("smoke dropout none 1 x.jsonl\n")
    r = subprocess.run(["bash", "workflow/scripts/lanes.sh", "start"], cwd=repo, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "no '# worktree: <commit>' line" in r.stderr
    # stop: the lane first (it marks nothing), then its run-arm job (here one that would take 5 minutes)
    slow = tmp_path / "slow-python"
    slow.write_text(f'#!/bin/sh\nexec {sys.executable} -c "import time; time.sleep(300)" "$@"\n')
    slow.chmod(0o755)
    text = f"# worktree: {commit}\nsmoke dropout paper 1 paper.jsonl\n"
    lane.write_text(text)
    live.write_text(text)
    subprocess.run(["bash", "workflow/scripts/lanes.sh", "start"], cwd=repo, env={**env, "PYTHON": str(slow)},
                   check=True, capture_output=True, timeout=60)
    jobs = lambda: subprocess.run(["pgrep", "-f", "run-arm .*--claim dropout --arm paper "],  # noqa: E731
                                  capture_output=True, text=True).stdout.split()
    while not jobs():
        assert time.time() < deadline
        time.sleep(0.2)
    run("stop")
    time.sleep(1)
    assert not jobs() and not subprocess.run(["pgrep", "-f", f"longruns.sh {work}"], capture_output=True).stdout
    assert live.read_text() == text                                   # nothing marked failed


def test_a_new_arm_trains_in_its_tiers_recorded_setup(tmp_path, monkeypatch, capsys):
    """Issue 47 §2: a new arm beside committed baselines trained channels_last (the default) while
    its baseline ran contiguous, and nothing warned. With precision and layout auto, run-arm takes
    the setup every finished run of the claim at the tier recorded, or the tier's declared engine;
    a CPU that cannot train it natively (bf16 without bf16 units) is told so (exit 75)."""
    import pytest
    from trickbench import cli, config, io, provenance
    cat = config.resolve(config.load_claim(ROOT / "config" / "claims" / "data_augmentation.yaml"), "quick")
    root = tmp_path / "runs"
    for seed in (0, 1):   # two finished runs of another arm, bf16 on a CPU before layouts were recorded
        io.write_json(root / "none" / "abc" / f"seed{seed}" / "summary.json",
                      {"precision": "bf16", "provenance": {"cpu": "Xeon", "cpu_bf16": "amx_bf16"}})
    args = cli.build_parser().parse_args(["run-arm", "--tier", "quick", "--claim", "data_augmentation", "--arm", "x",
                                          "--out", "o", "--device", "cpu"])
    monkeypatch.setattr(provenance, "cpu_bf16", lambda: "amx_bf16")
    ctx = {"precision": "auto", "channels_last": "auto"}
    assert cli._tier_engine(args, cat, root, ctx) is None
    assert (ctx["precision"], ctx["channels_last"]) == ("bf16", False)   # contiguous, as they ran
    assert "engine: bf16, contiguous (every finished run of the tier trained in" in capsys.readouterr().out
    monkeypatch.setattr(provenance, "cpu_bf16", lambda: None)
    assert "has no native bf16 units" in cli._tier_engine(args, cat, root, dict(ctx))
    explicit = cli.build_parser().parse_args(["run-arm", "--tier", "quick", "--claim", "data_augmentation", "--arm", "x",
                                              "--out", "o", "--device", "cpu", "--precision", "fp32"])
    ctx = {"precision": "fp32", "channels_last": "auto"}
    assert cli._tier_engine(explicit, cat, root, ctx) is None and ctx["precision"] == "fp32"   # flags win
    io.write_json(root / "none" / "abc" / "seed2" / "summary.json", {"precision": "fp32", "provenance": {}})
    ctx = {"precision": "auto", "channels_last": "auto"}
    assert cli._tier_engine(args, cat, root, ctx) is None and ctx["precision"] == "auto"   # mixed already: auto
    cat.claim["tiers"]["quick"]["engine"] = {"precision": "fp32", "channels_last": True}
    assert cli._tier_engine(args, cat, root, ctx) is None and (ctx["precision"], ctx["channels_last"]) == ("fp32", True)
    with pytest.raises(config.ConfigError, match="'fp16' is not one of fp32, bf16"):   # the schema knows the key
        config.validate({**cat.claim, "tiers": {"quick": {"seeds": 1, "engine": {"precision": "fp16", "channels_last": True}}}},
                        "claim.schema.yaml", "x")
