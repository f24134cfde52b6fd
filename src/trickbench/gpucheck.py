"""One command for a lent GPU machine (no network, no snakemake): check, benchmark, train, pack.

    bench/gpu_check.sh [OUT]                  # = python -m trickbench.gpucheck run --out OUT
    python -m trickbench.gpucheck merge OUT/trickbench-gpu.tar.gz   # back here: into results/

`run` does, within --budget-s seconds (default 420: an 8-minute slot with start-up to spare):
  1. environment: python, torch, CUDA device, the CIFAR-10 archive under --data-root;
  2. the speed benchmark (python -m trickbench.bench --suite models) -> bench/<card>.json;
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

# (claim, tier, arms or None for all, seeds or None for all) in priority order: what the GPU slot
# trains. An arm is a claim-file arm (a grid tuned apart: its tuning seeds, the pick, its test seeds)
# or one grid member by its run name (then `seeds` as given, e.g. the tuning seeds). First the
# converged CPU tier of the two open core claims, the runs the CPU lanes of results/cpu_long/queue
# reach last (a run that a lane has started stays on the CPU: nothing mixes devices within a run;
# runs of a tier pool across devices for accuracy, a timing verdict compares one device's pairs),
# then the GPU-sized `full` cells.
PLAN = [
    ("stochastic_depth", "cpu_long", ["constant", "linear"], [2, 3, 4, 5]),
    ("agc_nfresnet_cifar", "cpu_long", ["nf_agc_small__clipping0p16", "nf_agc_large__clipping0p16"], [100, 101, 102]),
    ("agc_nfresnet_cifar", "cpu_long", ["nf_small", "nf_large", "bn_small", "bn_large"], [1, 2, 3, 4]),
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


def plan_tasks(claims: dict, tier_of=lambda t: t) -> list[tuple]:
    """PLAN as (claim, tier, family, seeds) training tasks, seed-major (every arm's seed 0 first, so
    a short slot still gives paired evidence); a grid tuned apart is one task (its tuning seeds,
    then its test seeds at the member they pick)."""
    from trickbench.config import resolve
    tasks = []
    for claim_id, tier, arms, only in PLAN:
        tier = tier_of(tier)
        if claim_id not in claims or tier not in claims[claim_id]["tiers"]:
            continue
        cat = resolve(claims[claim_id], tier)
        fams = [f for f in (arms or cat.families()) if f in cat.families()]
        members = [m for m in (arms or []) if m in cat.arms and m not in cat.families()]
        seeds = [s for s in cat.seeds if only is None or s in only]
        tasks += [(claim_id, tier, f, None) for f in fams if cat.tuned_apart(f) and only is None]
        tasks += [(claim_id, tier, f, (s,)) for s in seeds for f in fams if not cat.tuned_apart(f)]
        by_seed = sorted({(s, i, m) for i, m in enumerate(members) for s in cat.seeds_of(m) if only is None or s in only})
        tasks += [(claim_id, tier, m, (s,)) for s, _, m in by_seed]
    return tasks


def _train_task(task: tuple, claims_dir: str, results: str, ctx: dict) -> list[dict]:
    """One task in a worker process (spawned: CUDA is initialised per process)."""
    import contextlib
    import io as _io
    from trickbench.config import load_claim, resolve
    from trickbench.tasks import TASKS, run_family
    claim_id, tier, family, seeds = task
    if time.time() > ctx["deadline"]:
        return [{"claim": claim_id, "arm": family, "seed": seeds, "outcome": "not started"}]
    cat = resolve(load_claim(Path(claims_dir) / f"{claim_id}.yaml"), tier)
    root = Path(results) / tier / claim_id / "runs"
    with contextlib.redirect_stdout(_io.StringIO()):   # progress lines of many processes
        if family in cat.families():
            out = run_family(cat, family, root, dict(ctx), seeds and list(seeds))
        else:   # one grid member at the given seeds
            out = TASKS.get(cat.claim["task"]).run_arm(cat.id, tier, cat.arms[family], list(seeds), root,
                                                       dict(ctx, job={"index": 0, "runs": len(seeds)}))
    return [{"claim": claim_id, "arm": s.get("arm", family), "seed": s.get("seed", seeds), "outcome": s["outcome"],
             "epoch": s.get("epoch", s.get("metrics", {}).get("epochs_done"))} for s in out]


def train_plan(out: Path, ctx: dict, deadline: float, claims_dir: str, procs: int, tiny: bool) -> list[dict]:
    """Every task of PLAN (the smoke tier when tiny), `procs` worker processes at a time; a run
    still going at the deadline stops at an epoch boundary with its checkpoint."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from trickbench.config import load_claims
    tasks = plan_tasks(load_claims(claims_dir), (lambda t: "smoke") if tiny else (lambda t: t))
    tasks = list(dict.fromkeys(tasks))   # tiny: every tier maps to smoke
    _log(out, f"{len(tasks)} training tasks, {procs} processes at a time")
    done = []
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train_task, t, claims_dir, str(out / "results"), {**ctx, "deadline": deadline})
                   for t in tasks]
        for t, f in zip(tasks, futures):
            try:
                rows = f.result()
            except Exception as e:  # noqa: BLE001 (one task's failure must not lose the others)
                rows = [{"claim": t[0], "arm": t[2], "seed": t[3], "outcome": f"error: {type(e).__name__}: {e}"}]
            done += rows
            _log(out, f"{t[0]}@{t[1]}/{t[2]} seeds {t[3] or 'tuned'}: " + ", ".join(sorted({r['outcome'] for r in rows})))
    return done


def _throughput_worker(tiny: bool, device: str) -> float:
    import torch
    from trickbench import bench
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
    from trickbench import bench
    device = "cuda" if env["cuda"] else "cpu"
    names = ["mlp20x50", "resnet20"] if args.tiny else list(bench.MODELS_BENCH)
    r = bench.bench_models(names, device, batch=32 if args.tiny else 128, steps=2 if args.tiny else 30,
                           workers=0 if args.tiny else 8, compile=False)
    ctx = {"data_root": args.data_root, "cache_dir": str(out / "cache"), "device": device, "threads": 1 if args.tiny else 8}
    r["time_to_accuracy"] = time_to_accuracy(ctx, 2 if args.tiny else args.tta_epochs, args.tiny)
    _log(out, f"time to accuracy: {r['time_to_accuracy']['seconds_to_test_acc']}")
    r["environment"] = env
    (out / "bench").mkdir(exist_ok=True)
    (out / "bench" / f"{card_slug(env)}-models.json").write_text(json.dumps(r, indent=1) + "\n")
    procs = args.procs
    if not procs:
        r["concurrency"] = concurrency_curve(device, args.tiny)
        procs = r["concurrency"]["best_procs"]
        _log(out, f"concurrency: {[(c['procs'], round(c['img_s'])) for c in r['concurrency']['curve']]} img/s; "
                  f"training {procs} runs at a time")
        (out / "bench" / f"{card_slug(env)}-models.json").write_text(json.dumps(r, indent=1) + "\n")
    ctx["threads"] = max(1, ctx["threads"] * 2 // procs)   # 16 CPU cores among the processes
    done = train_plan(out, ctx, deadline, args.claims_dir, procs, args.tiny)
    (out / "runs.json").write_text(json.dumps(done, indent=1) + "\n")
    _log(out, f"spent {time.time() - t_start:.0f} s of {args.budget_s} s")
    shutil.rmtree(out / "cache", ignore_errors=True)
    archive = out / ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        for part in ("bench", "results", "runs.json", "gpu_check.log"):
            if (out / part).exists():
                tar.add(out / part, arcname=part)
    print(f"packed {archive}")
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
    p.add_argument("--budget-s", type=float, default=420)
    p.add_argument("--tta-epochs", type=int, default=12)
    p.add_argument("--procs", type=int, default=0, help="training processes at a time (0: measure the concurrency curve and take its best)")
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
