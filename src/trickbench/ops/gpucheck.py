"""One command for a lent GPU machine (no network, no snakemake): check, benchmark, train, pack.

    bench/gpu_check.sh [OUT]                  # = python -m trickbench.ops.gpucheck run --out OUT
    python -m trickbench.ops.gpucheck merge OUT/trickbench-gpu.tar.gz   # back here: into results/

`run` does, within --budget-s seconds (default 420: an 8-minute slot with start-up to spare):
  1. environment: python, torch, CUDA device, the CIFAR-10 archive under --data-root;
  2. the speed benchmark (python -m trickbench.ops.bench --suite models) -> bench/<card>.json;
  3. time to accuracy: ResNet-20 on CIFAR-10, per-epoch wall clock and test accuracy -> same file;
  4. the concurrency curve: total images/s of 1, 2, 4, ... ResNet-20 processes on the card at
     once, until it stops rising; its best count is how many runs train at a time (--procs sets it);
  5. the core claims' runs in PLAN order (the converged CPU tiers first, then `full` cells), that
     many processes at a time; when the budget is spent every run stops at an epoch boundary with
     its checkpoint, so the next lent session resumes it (carry results/<tier> back to the device);
  6. packs bench/, results/ and the log into OUT/trickbench-gpu.tar.gz.
`merge` unpacks such an archive into results/ without touching a run that is already finished
here (summary.json present) or started here and unfinished in the archive too, and lists what it
brought: finished runs, runs to resume.
With --tiny (the test on CPU) every step runs at a toy size: smoke tier, 2 benchmark models.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# (claim, tier, claim-file arms or None for all, minutes per run) in priority order: what the GPU
# slot trains (a grid tuned apart: its tuning seeds, the pick, its test seeds). Runs finished in --seed-results are
# skipped (and let a tuned grid pick). Minutes per run: measured on the first draw (NVIDIA H200,
# 2026-12-04, 16 runs at a time): a run is started only if that much budget is left, since a run
# cut by the budget cannot come back (its checkpoint outgrows what a lent machine returns).
# None: not measured yet, started while any budget is left.
PLAN = [
    # AGC at batch 2048: 149 s a run (30 epochs of NF/BN ResNet-20 on 45,000 images)
    ("agc_nfresnet_cifar", "cpu_long", ["nf_agc_large", "nf_large", "bn_large"], 2.6),
    # dropout with the paper's recipe: 30 tuning and 10 test runs of a 3x1024 MLP on MNIST, about
    # 4 CPU-hours; not measured on a GPU yet (MNIST travels in gpu-carry)
    ("dropout", "cpu", ["paper_recipe", "none_tuned"], None),
    # batch 256: 15 s an epoch at 16 runs at a time, 30 epochs
    ("agc_nfresnet_cifar", "cpu_long", ["nf_agc_small", "nf_small", "bn_small"], 8.0),
    # ResNet-56 on 5,000 images: 5 s an epoch at 16 runs at a time, 160 epochs
    ("stochastic_depth", "cpu_long", ["constant", "linear"], 14.0),
    ("stochastic_depth", "full", ["constant", "linear", "drop_path", "uniform"], None),
    ("agc_nfresnet_cifar", "full", ["bn_large", "nf_large", "nf_agc_large", "bn_small", "nf_small", "nf_agc_small"], None),
    ("amsgrad_cifarnet", "full", ["adam", "amsgrad"], None),
]
ARCHIVE = "trickbench-gpu.tar.gz"


def _log(out: Path, msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with open(out / "gpu_check.log", "a") as f:
        f.write(line + "\n")


def environment(data_root: Path) -> dict:
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
           "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
           "data": sorted(p.name for p in data_root.glob("*.tar.gz")) if data_root.exists() else []}
    return env


def card_slug(env: dict) -> str:
    return "".join(c if c.isalnum() else "-" for c in env["device"]).strip("-").lower()[:40] or "device"


def time_to_accuracy(ctx: dict, epochs: int, tiny: bool) -> dict:
    """ResNet-20 on CIFAR-10 (digits when tiny): per-epoch wall clock and test accuracy."""
    from trickbench import io, train
    from trickbench.tasks import TASKS
    recipe = dict(TASKS.get("classify").defaults, dataset="digits" if tiny else "cifar10", model="resnet_cifar",
                  model_args={"depth": 8 if tiny else 20}, optimizer="nesterov", momentum=0.9, weight_decay=5e-4,
                  lr=0.4, lr_ref_batch=256, batch_size=512, lr_schedule="cosine", schedule_args={"warmup": 0.1},
                  augment="flip_crop", epochs=epochs, eval_batch_size=2000)
    with tempfile.TemporaryDirectory() as tmp:
        s = train.run(recipe, 0, Path(tmp) / "tta", ctx, {"config_hash": "tta"})
        hist = io.read_jsonl(Path(tmp) / "tta" / "metrics.jsonl")
    reach = {}
    for target in (0.80, 0.85, 0.90, 0.92):
        hit = next((h for h in hist if h["test_acc"] >= target), None)
        reach[f"{target:.2f}"] = hit["wall_s"] if hit else None
    return {"recipe": "ResNet-20, batch 512, LR 0.4·B/256 with 10% warm-up + cosine, Nesterov 0.9, wd 5e-4, flip+crop",
            "dataset": s["dataset"], "epochs": epochs, "precision": s["precision"],
            "curve": [{"epoch": h["epoch"], "wall_s": h["wall_s"], "test_acc": h["test_acc"]} for h in hist],
            "seconds_to_test_acc": reach}


def plan_tasks(claims: dict, tier_of=lambda t: t, root: Path | None = None) -> list[tuple]:
    """PLAN as (claim, tier, arm, seeds, minutes per run) training tasks, seed-major (every arm's
    seed 0 first, so a short slot still gives paired evidence). A grid tuned apart is one task per
    tuning run still to do (arm: the grid member), all side by side, until every tuning run is
    finished under `root` (the results folder); then one task per test seed (the pick, then the
    seed). train_plan plans again after each round, so one draw can tune and then test."""
    from trickbench.config import resolve
    from trickbench.tasks import run_dir
    tasks = []
    for claim_id, tier, arms, minutes in PLAN:
        tier = tier_of(tier)
        if claim_id not in claims or tier not in claims[claim_id]["tiers"]:
            continue
        cat = resolve(claims[claim_id], tier)
        runs = None if root is None else Path(root) / tier / claim_id / "runs"
        tuned = lambda f: all((run_dir(runs, cat.arms[m], s) / "summary.json").exists()   # noqa: E731
                              for m in cat.families()[f] for s in cat.tune_seeds) if runs else False
        fams = [f for f in (arms or cat.families()) if f in cat.families()]
        split = [f for f in fams if not cat.tuned_apart(f) or tuned(f)]
        tasks += [(claim_id, tier, m, (s,), minutes) for s in cat.tune_seeds for f in fams if f not in split
                  for m in cat.families()[f] if not (runs and (run_dir(runs, cat.arms[m], s) / "summary.json").exists())]
        tasks += [(claim_id, tier, f, (s,), minutes) for s in cat.seeds for f in split]
    return tasks


def seed_results(src: Path, dest: Path) -> int:
    """Copy the finished runs (summary.json, metrics.jsonl) of PLAN's cells from `src` (a results
    folder carried to the device) into `dest`, so that they are skipped and a tuned grid can pick."""
    n = 0
    for f in sorted((Path(src) / "bench").glob("*-models.json")):   # cards measured before (measured_before)
        (dest / "bench").mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest / "bench" / f.name)
    for claim_id, tier in dict.fromkeys((c, t) for c, t, *_ in PLAN):
        for summary in sorted((Path(src) / tier / claim_id / "runs").glob("*/*/seed*/summary.json")):
            run = dest / summary.parent.relative_to(src)
            run.mkdir(parents=True, exist_ok=True)
            for f in ("summary.json", "metrics.jsonl"):
                if (summary.parent / f).exists():
                    shutil.copy2(summary.parent / f, run / f)
            n += 1
    return n


def _train_task(task: tuple, claims_dir: str, results: str, ctx: dict) -> list[dict]:
    """One task in a worker process (spawned: CUDA is initialised per process)."""
    import contextlib
    import io as _io
    from trickbench.config import load_claim, resolve
    from trickbench.tasks import TASKS, run_family
    claim_id, tier, family, seeds, minutes = task
    if time.time() + 60 * (minutes or 0) > ctx["deadline"]:
        why = f"not started (a run takes about {minutes} min)" if minutes else "not started"
        return [{"claim": claim_id, "arm": family, "seed": seeds, "outcome": why}]
    cat = resolve(load_claim(Path(claims_dir) / f"{claim_id}.yaml"), tier)
    root = Path(results) / tier / claim_id / "runs"
    with contextlib.redirect_stdout(_io.StringIO()):   # progress lines of many processes
        if family in cat.families():
            out = run_family(cat, family, root, dict(ctx), seeds and list(seeds))
        else:   # one grid member's tuning run (plan_tasks)
            out = TASKS.get(cat.claim["task"]).run_arm(cat.id, tier, cat.arms[family], list(seeds), root, dict(ctx))
    return [{"claim": claim_id, "arm": s.get("arm", family), "seed": s.get("seed", seeds), "outcome": s["outcome"],
             "epoch": s.get("epoch", s.get("metrics", {}).get("epochs_done"))} for s in out]


def train_plan(out: Path, ctx: dict, deadline: float, claims_dir: str, procs: int, tiny: bool, work: Path) -> list[dict]:
    """Every task of PLAN (the smoke tier when tiny), `procs` worker processes at a time, into
    out/results; a run still going at the deadline stops at an epoch boundary."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from trickbench.config import load_claims
    claims, tried, done = load_claims(claims_dir), set(), []
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for round_ in range(1, 4):   # a tuned grid: its tuning runs in one round, its test seeds in the next
            tasks = plan_tasks(claims, (lambda t: "smoke") if tiny else (lambda t: t), work / "results")
            if tiny:   # every tier maps to smoke: one task per run, toy runs need no estimate
                tasks = list(dict.fromkeys(t[:4] + (None,) for t in tasks))
            tasks = [t for t in tasks if t[:4] not in tried]
            if not tasks or time.time() > deadline:
                break
            tried |= {t[:4] for t in tasks}
            _log(out, f"round {round_}: {len(tasks)} training tasks, {procs} processes at a time")
            futures = [pool.submit(_train_task, t, claims_dir, str(work / "results"), {**ctx, "deadline": deadline})
                       for t in tasks]
            for t, f in zip(tasks, futures):
                try:
                    rows = f.result()
                except Exception as e:  # noqa: BLE001 (one task's failure must not lose the others)
                    rows = [{"claim": t[0], "arm": t[2], "seed": t[3], "outcome": f"error: {type(e).__name__}: {e}"}]
                done += rows
                _log(out, f"{t[0]}@{t[1]}/{t[2]} seeds {t[3]}: " + ", ".join(sorted({r['outcome'] for r in rows})))
    return done


def _throughput_worker(tiny: bool, device: str) -> float:
    import torch
    from trickbench.ops import bench
    model, args, shape = bench.MODELS_BENCH["resnet20"]
    return bench.engine_img_s(model, args, shape, torch.device(device), 32 if tiny else 256,
                              2 if tiny else 40, precision="bf16")[0]


def concurrency_curve(device: str, tiny: bool, max_procs: int = 16) -> dict:
    """Total training images/s of k processes training ResNet-20 (batch 256, bf16) at once on the
    device, k = 1, 2, 4, ... until the total rises by less than 5 %: how many runs to put on one
    card. A small CIFAR ResNet leaves most of an H100 idle, so one process is far from its peak."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    curve, k = [], 1
    while k <= (2 if tiny else max_procs):
        with ProcessPoolExecutor(k, mp_context=multiprocessing.get_context("spawn")) as pool:
            each = list(pool.map(_throughput_worker, [tiny] * k, [device] * k))
        curve.append({"procs": k, "img_s": sum(each), "each": each})
        if len(curve) > 1 and curve[-1]["img_s"] < 1.05 * max(c["img_s"] for c in curve[:-1]):
            break
        k *= 2
    best = max(curve, key=lambda c: c["img_s"])
    return {"curve": curve, "best_procs": best["procs"],
            "over_one_process": best["img_s"] / curve[0]["img_s"],
            "note": "each process times its own middle epochs; start-up is staggered, so the overlap is not perfect"}


def run(args) -> Path:
    out = Path(args.out)        # what comes back: the archive, runs.json and the log (3 files)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="trickbench-gpu-"))   # runs, cache, checkpoints
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    deadline = t_start + args.budget_s
    env = environment(Path(args.data_root))
    _log(out, f"environment: {json.dumps(env)}")
    if not args.tiny and not env["cuda"]:
        _log(out, "no CUDA device: run with --tiny on a CPU")
        sys.exit(2)
    if not args.tiny and not any(n.startswith("cifar10") for n in env["data"]):
        _log(out, f"no cifar10*.tar.gz under {args.data_root}: carry ../shared/data/cifar10-jpeg.tar.gz")
        sys.exit(2)
    from trickbench.ops import bench
    if args.seed_results and Path(args.seed_results).is_dir():
        n = seed_results(Path(args.seed_results), work / "results")
        _log(out, f"{n} finished runs from {args.seed_results}: skipped, and a tuned grid picks from them")
    device = "cuda" if env["cuda"] else "cpu"
    ctx = {"data_root": args.data_root, "cache_dir": str(work / "cache"), "device": device, "threads": 1 if args.tiny else 8}
    (work / "bench").mkdir(exist_ok=True)
    known = measured_before(args.seed_results, env)
    if known and not args.remeasure:   # a draw is short: its minutes go to runs, not to a second measurement
        procs = args.procs or known["concurrency"]["best_procs"]
        _log(out, f"this card was measured before ({known['file']}): benchmark, time to accuracy and the "
                  f"concurrency curve skipped (--remeasure repeats them); training {procs} runs at a time")
        return _train_and_pack(args, out, work, ctx, procs, deadline, t_start)
    names = ["mlp20x50", "resnet20"] if args.tiny else list(bench.MODELS_BENCH)
    r = bench.bench_models(names, device, batch=32 if args.tiny else 128, steps=2 if args.tiny else 30,
                           workers=0 if args.tiny else 8, compile=False)
    r["time_to_accuracy"] = time_to_accuracy(ctx, 2 if args.tiny else args.tta_epochs, args.tiny)
    _log(out, f"time to accuracy: {r['time_to_accuracy']['seconds_to_test_acc']}")
    r["environment"] = env
    bench_file = work / "bench" / f"{card_slug(env)}-models.json"
    bench_file.write_text(json.dumps(r, indent=1) + "\n")
    procs = args.procs
    if not procs:
        r["concurrency"] = concurrency_curve(device, args.tiny)
        procs = r["concurrency"]["best_procs"]
        _log(out, f"concurrency: {[(c['procs'], round(c['img_s'])) for c in r['concurrency']['curve']]} img/s; "
                  f"training {procs} runs at a time")
        bench_file.write_text(json.dumps(r, indent=1) + "\n")
    return _train_and_pack(args, out, work, ctx, procs, deadline, t_start)


def measured_before(seed_results: str | None, env: dict) -> dict | None:
    """This card's benchmark file from an earlier draw (results/bench/<card>-models.json, carried
    in the seed results), if it has the concurrency curve; with "file" naming it."""
    if not seed_results:
        return None
    path = Path(seed_results) / "bench" / f"{card_slug(env)}-models.json"
    if not path.exists():
        return None
    r = json.loads(path.read_text())
    return {**r, "file": path.name} if r.get("concurrency", {}).get("best_procs") else None


def _train_and_pack(args, out: Path, work: Path, ctx: dict, procs: int, deadline: float, t_start: float) -> Path:
    ctx["threads"] = max(1, ctx["threads"] * 2 // procs)   # 16 CPU cores among the processes
    before = {p.parent for p in (work / "results").glob("*/*/runs/*/*/seed*/summary.json")}
    done = train_plan(out, ctx, deadline, args.claims_dir, procs, args.tiny, work)
    (out / "runs.json").write_text(json.dumps(done, indent=1) + "\n")
    _log(out, f"spent {time.time() - t_start:.0f} s of {args.budget_s} s")
    # the runs finished here, without checkpoints: a lent machine returns at most 16 MiB a file, and
    # 16 ResNet checkpoints (twice 2-10 MiB each) outgrow that; a run cut by the budget is lost
    new = sorted(p.parent for p in (work / "results").glob("*/*/runs/*/*/seed*/summary.json") if p.parent not in before)
    archive = out / ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work / "bench", arcname="bench")
        for run_dir in new:
            for f in ("summary.json", "metrics.jsonl"):
                if (run_dir / f).exists():
                    tar.add(run_dir / f, arcname=str((run_dir / f).relative_to(work)))
        for part in ("runs.json", "gpu_check.log"):
            tar.add(out / part, arcname=part)
    _log(out, f"packed {len(new)} finished runs into {archive} ({archive.stat().st_size / 2**20:.1f} MiB)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return archive


def merge(archive: Path, results: Path) -> dict:
    """Unpack into `results`: bench/*.json to results/bench/, run folders to results/<tier>/...;
    a run already finished here is kept as it is."""
    brought = {"finished": [], "to_resume": [], "kept": [], "bench": []}
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        tmp = Path(tmp)
        for f in sorted((tmp / "bench").glob("*.json")):
            dest = results / "bench" / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
            brought["bench"].append(str(dest))
        for seed_dir in sorted((tmp / "results").glob("*/*/runs/*/*/seed*")):
            rel = seed_dir.relative_to(tmp / "results")
            dest = results / rel
            if (dest / "summary.json").exists() or (dest.exists() and not (seed_dir / "summary.json").exists()):
                brought["kept"].append(str(rel))   # finished here, or both unfinished: this one goes on
                continue
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(seed_dir, dest)
            brought["finished" if (dest / "summary.json").exists() else "to_resume"].append(str(rel))
    return brought


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--out", default="gpu-out")
    p.add_argument("--data-root", default="data")
    p.add_argument("--claims-dir", default="config/claims")
    p.add_argument("--work", help="folder for runs, data cache and checkpoints (default: a temporary one, removed)")
    p.add_argument("--seed-results", default="results",
                   help="a results folder whose finished runs of PLAN's cells are skipped (bench/gpu_prepare.sh carries a slim copy)")
    p.add_argument("--budget-s", type=float, default=420)
    p.add_argument("--tta-epochs", type=int, default=12)
    p.add_argument("--procs", type=int, default=0, help="training processes at a time (0: measure the concurrency curve and take its best)")
    p.add_argument("--remeasure", action="store_true",
                   help="benchmark the card again although the seed results hold its measurements from an earlier draw")
    p.add_argument("--tiny", action="store_true", help="toy sizes, CPU: the test of this script")
    p = sub.add_parser("merge")
    p.add_argument("archive")
    p.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        run(args)
    else:
        b = merge(Path(args.archive), Path(args.results))
        for k, v in b.items():
            print(f"{k}: {len(v)}")
            for x in v:
                print(f"  {x}")


if __name__ == "__main__":
    main()
