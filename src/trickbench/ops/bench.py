"""Speed benchmarks, kept out of the training loop (as nanoGPT keeps bench.py):

    python -m trickbench.ops.bench [--seeds 8] [--epochs 1] [--out results/bench/<host>.json]
    python -m trickbench.ops.bench --suite models [--device auto] [--models resnet20,...] [--steps 20]
    python -m trickbench.ops.bench --suite layouts [--seeds 16] [--epochs 2] [--cores 2]
    python -m trickbench.ops.bench --suite pipeline [--cores 2] [--tier quick]
    python -m trickbench.ops.bench --suite engine [--steps 20] [--repeat 3]   (trickbench.ops.bench_engine)
    python -m trickbench.ops.bench --suite stacked-linear [--steps 10] [--repeat 5]

Suite `models`: for each model, our engine (trickbench.train.run: the dataset as uint8 on the
device, batched flip + pad-crop there, bf16 autocast and channels_last on CUDA, no DataLoader)
against a plain loop (torchvision DataLoader over PIL images with RandomCrop(32, 4),
RandomHorizontalFlip, ToTensor, Normalize; fp32), on the same device in the same process, on
CIFAR-shaped random images; prints images/s of each, their ratio, model FLOPs per image
(torch.utils.flop_counter, forward + backward) and FLOP/s over the device's peak (MFU; on a
CPU the peak is a float32 matmul measured here, on a GPU the card's dense bf16 spec).

Suite `mlp` (default):
Measures, on this machine and in this process, the deep MLP of the gradient-noise and AMSGrad
claims (20 hidden layers x 50, batch 128, MNIST-shaped random data):
  sequential  one run after another through trickbench.train (what a job did before stacking)
  stacked     the same seeds in one stacked model (trickbench.stacked)
and the start-up a job pays before it trains (a fresh `python -c "import torch"`), then prints
the images per second of each and their ratio. Timings are wall clock, medians of `--repeat`.

Suite `layouts`: how to spread the same MLP runs over `--cores` cores, each layout timed from
outside as fresh processes (start-up included, as a Snakemake job pays it):
  per_run_process      one process per run, `cores` of them at a time, one thread each
  parallel_sequential  `cores` single-thread processes in parallel, each running its share one by one
  stacked_threads      one process, all seeds stacked, `cores` threads
  parallel_stacked     `cores` single-thread processes in parallel, each stacking its share
                       (what `snakemake --cores N` with `threads: 1` and `stack_seeds` does)
and prints runs per hour of each and its ratio to one process per run.

Suite `stacked-linear`: one stacked layer's forward + backward (trickbench.stacked.StackedLinear,
the weight gradient formed in the weight's layout) against autograd's own backward of the same
`baddbmm` (which forms it transposed and copies it into place), on the layer shapes of the
project's stacked MLPs, interleaved repeats in one process; prints the time of each, their ratio,
whether every output and gradient is bit for bit the same, and the largest difference relative to
the output's or gradient's largest magnitude. The weight gradient is another GEMM (a different
summation order): bit for bit the same on an Intel Xeon with AMX, within 2e-7 relative on AMD EPYCs
(Zen 3 and Zen 4), i.e. float rounding, not a different formula.

Suite `pipeline`: the whole tier as a newcomer runs it (`snakemake --cores N`, default config, in
a fresh directory, so datasets are decoded and every run trains); then every training job again
(`--forcerun train --until train`): each finds its runs finished and pays only its start-up,
bookkeeping and scheduling; less a call with nothing to do (snakemake's own start, paid once per
call, not per job), that is the per-job overhead of training. Last, every analysis, figure and
report job again (their start-up and their work: an upper bound on their overhead).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trickbench.ops.bench_models import (GPU_PEAK_BF16, MODELS_BENCH, _sync, bench_models,  # noqa: F401
                                          cpu_matmul_peak, engine_img_s, flops_per_image, torch_threads)


def _recipe(epochs: int) -> dict:
    from trickbench.tasks import TASKS
    return dict(TASKS.get("classify").defaults, dataset="random", dataset_args={"n_train": 6400, "n_test": 1000},
                model="mlp", model_args={"depth": 20, "width": 50}, optimizer="sgd", lr=0.01,
                epochs=epochs, batch_size=128, diverge_factor=1e9)


def _train(recipe: dict, seeds: list[int], out: Path, ctx: dict, stack: bool) -> None:
    """The seeds of one recipe under out/<seed>/: one stacked model, or one run after another."""
    from trickbench import stacked, train
    if stack:
        stacked.run_stacked(recipe, seeds, [out / str(s) for s in seeds], ctx, {"config_hash": "bench"})
    else:
        for s in seeds:
            train.run(recipe, s, out / str(s), ctx, {"config_hash": "bench"})


def bench(seeds: int, epochs: int, repeat: int, threads: int) -> dict:
    import torch
    from trickbench import provenance
    torch.set_num_threads(threads)
    recipe = _recipe(epochs)
    images = 6400 // 128 * 128 * epochs * seeds
    out = {"seeds": seeds, "epochs": epochs, "threads": threads, "images": images}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {"data_root": tmp, "cache_dir": f"{tmp}/cache", "device": "cpu", "threads": threads}
        seq, stk = [], []
        for r in range(repeat):
            t0 = time.perf_counter()
            _train(recipe, list(range(seeds)), Path(tmp) / f"seq{r}", ctx, stack=False)
            seq.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _train(recipe, list(range(seeds)), Path(tmp) / f"stk{r}", ctx, stack=True)
            stk.append(time.perf_counter() - t0)
            shutil.rmtree(Path(tmp) / f"seq{r}")
            shutil.rmtree(Path(tmp) / f"stk{r}")
    startup = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        startup.append(time.perf_counter() - t0)
    out |= {"sequential_s": statistics.median(seq), "stacked_s": statistics.median(stk),
            "torch_import_s": statistics.median(startup),
            "sequential_img_s": images / statistics.median(seq), "stacked_img_s": images / statistics.median(stk)}
    out["stacked_over_sequential"] = out["stacked_img_s"] / out["sequential_img_s"]
    from trickbench.models import MODELS
    flops = flops_per_image(MODELS.build("mlp", (1, 28, 28), 10, depth=20, width=50), (1, 28, 28), torch.device("cpu"))
    out["flops_per_image"], out["peak_flops"] = flops, cpu_matmul_peak(threads)
    out["stacked_fraction_of_peak"] = out["stacked_img_s"] * flops / out["peak_flops"]
    out["load_after"] = os.getloadavg()[0]
    out["device"] = provenance.device_info("cpu")
    out["versions"] = provenance.versions()
    return out


# (seeds S, batch, fan-in, fan-out): the 20x50 MLP of gradient noise / AMSGrad, dropout's 3x1024 (its
# first and hidden layers, 3 tuning seeds and 5 test seeds), a 512-wide middle case
LINEAR_SHAPES = [(5, 128, 50, 50), (3, 128, 784, 1024), (3, 128, 1024, 1024), (5, 128, 1024, 1024), (5, 128, 512, 512)]


def bench_stacked_linear(steps: int, repeat: int, threads: int) -> dict:
    import torch

    from trickbench import provenance
    from trickbench.stacked import StackedLinear
    torch.set_num_threads(threads)
    ways = {"autograd_baddbmm": lambda x, w, b: torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)),
            "stacked_linear": StackedLinear.apply}
    rows = []
    for S, B, fan_in, fan_out in LINEAR_SHAPES:
        torch.manual_seed(0)
        w, b, x = torch.randn(S, fan_out, fan_in) * 0.03, torch.zeros(S, fan_out), torch.randn(S, B, fan_in)
        g = torch.randn(S, B, fan_out)
        got, times = {}, {k: [] for k in ways}
        for _ in range(repeat):
            for k, f in ways.items():
                xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
                t0 = time.perf_counter()
                for _ in range(steps):
                    xs.grad = ws.grad = bs.grad = None
                    out = f(xs, ws, bs)
                    out.backward(g)
                times[k].append((time.perf_counter() - t0) / steps)
                got[k] = (out.detach(), xs.grad, ws.grad, bs.grad)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"seeds": S, "batch": B, "fan_in": fan_in, "fan_out": fan_out,
                     "autograd_baddbmm_ms": med["autograd_baddbmm"] * 1e3, "stacked_linear_ms": med["stacked_linear"] * 1e3,
                     "speedup": med["autograd_baddbmm"] / med["stacked_linear"],
                     "bit_identical": all(torch.equal(a, c) for a, c in zip(got["autograd_baddbmm"], got["stacked_linear"])),
                     "max_rel_diff": max(float((a - c).abs().max() / a.abs().max().clamp_min(1e-30))
                                         for a, c in zip(got["autograd_baddbmm"], got["stacked_linear"]))})
    return {"suite": "stacked-linear", "steps": steps, "repeat": repeat, "threads": threads, "rows": rows,
            "device": provenance.device_info("cpu"), "versions": provenance.versions()}


LAYOUTS = ("per_run_process", "parallel_sequential", "stacked_threads", "parallel_stacked")


def _worker(seeds: list[int], epochs: int, threads: int, mode: str, tmp: str) -> None:
    """One benchmark process: train `seeds` (stacked or one by one) on `threads` threads."""
    import torch
    torch.set_num_threads(threads)
    ctx = {"data_root": tmp, "cache_dir": f"{tmp}/cache", "device": "cpu", "threads": threads}
    _train(_recipe(epochs), seeds, Path(tempfile.mkdtemp(dir=tmp)), ctx, stack=mode == "stacked")


def _spawn(seeds, epochs, threads, mode, tmp):
    cmd = [sys.executable, "-m", "trickbench.ops.bench", "--suite", "worker", "--mode", mode, "--epochs", str(epochs),
           "--threads", str(threads), "--seed-list", ",".join(map(str, seeds)), "--tmp", tmp]
    return subprocess.Popen(cmd, env=os.environ | {"OMP_NUM_THREADS": str(threads)})


def _wait(procs):
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"benchmark worker failed: {p.args}")


def time_layout(layout: str, seeds: int, epochs: int, cores: int, tmp: str) -> float:
    """Wall seconds to train `seeds` runs in `layout` on `cores` cores, processes included."""
    ids = list(range(seeds))
    shares = [ids[i::cores] for i in range(cores)]
    t0 = time.perf_counter()
    if layout == "per_run_process":
        for i in range(0, seeds, cores):
            _wait([_spawn([s], epochs, 1, "sequential", tmp) for s in ids[i:i + cores]])
    elif layout == "parallel_sequential":
        _wait([_spawn(sh, epochs, 1, "sequential", tmp) for sh in shares])
    elif layout == "stacked_threads":
        _wait([_spawn(ids, epochs, cores, "stacked", tmp)])
    elif layout == "parallel_stacked":
        _wait([_spawn(sh, epochs, 1, "stacked", tmp) for sh in shares])
    else:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    return time.perf_counter() - t0


def bench_layouts(seeds: int, epochs: int, cores: int, repeat: int) -> dict:
    from trickbench import provenance
    out = {"suite": "layouts", "seeds": seeds, "epochs": epochs, "cores": cores, "repeat": repeat,
           "images_per_run": 6400 // 128 * 128 * epochs, "load_before": os.getloadavg()[0],
           "device": provenance.device_info("cpu"), "versions": provenance.versions(), "layouts": {}}
    with tempfile.TemporaryDirectory() as tmp:
        _wait([_spawn([0], 1, 1, "sequential", tmp)])  # builds the cached dataset outside the timings
        times = {k: [] for k in LAYOUTS}
        for _ in range(repeat):  # interleaved, so a load change hits every layout alike
            for k in LAYOUTS:
                times[k].append(time_layout(k, seeds, epochs, cores, tmp))
    base = seeds * 3600 / statistics.median(times["per_run_process"])
    for k in LAYOUTS:
        wall = statistics.median(times[k])
        out["layouts"][k] = {"wall_s": wall, "runs_per_hour": seeds * 3600 / wall,
                             "over_per_run_process": seeds * 3600 / wall / base}
    out["best"] = max(LAYOUTS, key=lambda k: out["layouts"][k]["runs_per_hour"])
    out["load_after"] = os.getloadavg()[0]
    return out


def _snakemake(workdir: Path, cores: int, tier: str, *extra: str) -> tuple[float, dict]:
    from trickbench import provenance
    if provenance.REPO is None:
        raise RuntimeError("the pipeline benchmark runs the workflow of a clone: run it from one")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(provenance.REPO / "Snakefile"), "-d", str(workdir),
           "--cores", str(cores), *extra, "--config", f"tier={tier}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return wall, job_stats(proc.stderr)


def job_stats(log: str) -> dict[str, int]:
    """Jobs per rule from snakemake's "Job stats" table (its total left out)."""
    jobs = {}
    table = log.split("Job stats:")[1].split("\n\n")[0] if "Job stats:" in log else ""
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    return jobs


def bench_pipeline(cores: int, tier: str) -> dict:
    from trickbench import provenance
    out = {"suite": "pipeline", "tier": tier, "cores": cores, "load_before": os.getloadavg()[0],
           "device": provenance.device_info("cpu"), "versions": provenance.versions()}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(provenance.REPO / "config", Path(tmp) / "config")
        out["wall_s"], out["jobs"] = _snakemake(Path(tmp), cores, tier)
        out["load_mid"] = os.getloadavg()[0]
        # every training job again, nothing left to train: start-up + bookkeeping + scheduling only
        out["train_forced_wall_s"], out["train_forced_jobs"] = _snakemake(
            Path(tmp), cores, tier, "--forcerun", "train", "--until", "train")
        # nothing to do (the rewritten arm files are unchanged): snakemake's own start, once per call
        out["noop_wall_s"], out["noop_jobs"] = _snakemake(Path(tmp), cores, tier)
        # every analysis, figure and report job again: their start-up and their work
        out["analysis_wall_s"], out["analysis_jobs"] = _snakemake(Path(tmp), cores, tier, "--forcerun", "analyse", "figure", "report")
    per_job_train = out["train_forced_wall_s"] - out["noop_wall_s"]
    out["train_overhead"] = per_job_train / out["wall_s"]
    out["overhead_bound"] = (per_job_train + out["analysis_wall_s"] - out["noop_wall_s"]) / out["wall_s"]
    out["load_after"] = os.getloadavg()[0]
    return out


def _suite_pipeline(args):
    print(f"tier {args.tier}, all claims, snakemake --cores {args.cores}, fresh directory", flush=True)
    r = bench_pipeline(args.cores, args.tier)
    print(f"  whole tier:           {r['wall_s'] / 60:6.1f} min  ({sum(r['jobs'].values())} jobs: {r['jobs']})")
    print(f"  training jobs again, nothing left to train: {r['train_forced_wall_s']:5.0f} s")
    print(f"  nothing to do (snakemake's own start):      {r['noop_wall_s']:5.0f} s")
    print(f"  analysis, figures, report again:            {r['analysis_wall_s']:5.0f} s  {r['analysis_jobs']}")
    print(f"  per-job overhead of training: {r['train_overhead']:.1%} of the tier; with every analysis job's "
          f"start-up and work: {r['overhead_bound']:.1%} (an upper bound)")
    print(f"  load average {r['load_before']:.1f} before, {r['load_mid']:.1f} between, {r['load_after']:.1f} after")
    return r


def _suite_layouts(args):
    print(f"20x50 MLP, {args.seeds} runs x {args.epochs} epoch(s) of 6,400 images, on {args.cores} cores, "
          f"fresh processes (start-up included), median of {args.repeat}")
    r = bench_layouts(args.seeds, args.epochs, args.cores, args.repeat)
    for k, v in r["layouts"].items():
        print(f"  {k:20s} {v['wall_s']:7.1f} s  {v['runs_per_hour']:8.0f} runs/h  "
              f"{v['over_per_run_process']:5.2f}x one process per run")
    print(f"  fastest: {r['best']}; load average {r['load_before']:.1f} before, {r['load_after']:.1f} after")
    return r


def _suite_stacked_linear(args):
    from trickbench import provenance
    load_before = os.getloadavg()[0]
    print(f"one stacked layer, forward + backward, {args.steps} steps, median of {args.repeat} interleaved, "
          f"{args.threads} thread(s); {provenance.cpu_model()}")
    r = bench_stacked_linear(args.steps, args.repeat, args.threads)
    for row in r["rows"]:
        print(f"  S={row['seeds']} batch {row['batch']} {row['fan_in']:4d}->{row['fan_out']:<4d}  autograd baddbmm "
              f"{row['autograd_baddbmm_ms']:7.2f} ms  StackedLinear {row['stacked_linear_ms']:7.2f} ms  "
              f"{row['speedup']:4.2f}x  bit-identical: {row['bit_identical']} "
              f"(largest relative difference {row['max_rel_diff']:.1e})")
    r["load_before"], r["load_after"] = load_before, os.getloadavg()[0]
    print(f"  load average {r['load_before']:.1f} before, {r['load_after']:.1f} after (other jobs share the cores: "
          "the ratio, interleaved, is what to read)")
    return r


def _suite_engine(args):
    from trickbench.ops.bench_engine import bench_engine
    print(f"engine choices on this CPU, bf16, {args.steps} timed steps, median of {args.repeat} interleaved")
    r = bench_engine(args.steps, args.repeat, args.only)
    print(f"  bf16 matmul peak {r['peak_bf16_flops'] / 1e9:.0f} GFLOP/s, fp32 {r['peak_fp32_flops'] / 1e9:.0f} "
          f"(one thread); load average {r['load_before']:.1f} before, {r['load_after']:.1f} after")
    return r


def _suite_models(args):
    import torch
    torch.set_num_threads(args.threads)
    print(f"models, batch {args.batch}, {args.steps} timed steps, device {args.device}")
    r = bench_models(args.models.split(","), args.device, args.batch, args.steps, args.workers, args.compile)
    print(f"  peak {r['peak_flops'] / 1e9:.0f} GFLOP/s ({r['peak_source']}); load average "
          f"{r['load_before']:.1f} before, {r['load_after']:.1f} after (MFU values are over this peak)")
    return r


def _suite_mlp(args):
    r = bench(args.seeds, args.epochs, args.repeat, args.threads)
    print(f"20x50 MLP, batch 128, {r['seeds']} seeds x {r['epochs']} epoch(s) of 6,400 images, "
          f"{r['threads']} thread(s), {r['device']['cpu']}")
    print(f"  sequential: {r['sequential_img_s']:9.0f} images/s  ({r['sequential_s']:.2f} s)")
    print(f"  stacked:    {r['stacked_img_s']:9.0f} images/s  ({r['stacked_s']:.2f} s)")
    print(f"  ratio stacked / sequential: {r['stacked_over_sequential']:.2f}x")
    print(f"  stacked engine: {r['stacked_img_s'] * r['flops_per_image'] / 1e9:.1f} GFLOP/s = "
          f"{r['stacked_fraction_of_peak']:.2f} of a float32 matmul measured here ({r['peak_flops'] / 1e9:.0f} GFLOP/s, "
          f"{r['threads']} thread(s); load average {r['load_after']:.1f})")
    ep = 468 * 128  # one MNIST epoch at batch 128
    r["mnist_epoch_s_sequential"], r["mnist_epoch_s_stacked"] = ep / r["sequential_img_s"], ep / r["stacked_img_s"]
    runs, epochs = _gradient_noise_full_tier()
    r["gradient_noise_full_runs"], r["gradient_noise_full_epochs"] = runs, epochs
    print(f"  one MNIST epoch (59,904 images) per run: {r['mnist_epoch_s_sequential']:.2f} s alone, "
          f"{r['mnist_epoch_s_stacked']:.2f} s in the stack; gradient_noise full tier ({runs} runs x {epochs} epochs): "
          f"{runs * epochs * r['mnist_epoch_s_stacked'] / 3600:.1f} CPU-h stacked on {r['threads']} thread(s)")
    print(f"  start-up of a fresh job (import torch): {r['torch_import_s']:.2f} s "
          f"= {r['torch_import_s'] / (r['sequential_s'] / r['seeds']):.1f}x one sequential run here")
    return r


# --suite name -> its function (prints what it measured, returns the results main writes to --out)
SUITES = {"mlp": _suite_mlp, "models": _suite_models, "layouts": _suite_layouts, "pipeline": _suite_pipeline,
          "engine": _suite_engine, "stacked-linear": _suite_stacked_linear}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="mlp", choices=[*SUITES, "worker"])
    ap.add_argument("--tier", default="quick", help="suite pipeline: the tier to run")
    ap.add_argument("--models", default=",".join(MODELS_BENCH), help="suite models: comma-separated names")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="suite models: timed steps per epoch")
    ap.add_argument("--workers", type=int, default=2, help="suite models: DataLoader workers of the plain loop")
    ap.add_argument("--compile", action="store_true", help="suite models: torch.compile in our engine")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2, help="suite layouts: cores to spread the runs over")
    ap.add_argument("--only", choices=["chunks", "models"], help="suite engine: one part only")
    ap.add_argument("--out", default=None, help="JSON file for the results (default: print only)")
    ap.add_argument("--mode", choices=["stacked", "sequential"], help=argparse.SUPPRESS)  # suite worker
    ap.add_argument("--seed-list", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.suite == "worker":   # one process of suite layouts
        return _worker([int(s) for s in args.seed_list.split(",")], args.epochs, args.threads, args.mode, args.tmp)
    r = SUITES[args.suite](args)
    _write(args.out, r)
    return r


def _gradient_noise_full_tier() -> tuple[int, int]:
    """(runs, epochs per run) of the gradient_noise claim's full tier, from its claim file (run from the
    repository root, as every command of the README is)."""
    from trickbench import config
    cat = config.resolve(config.load_claim("config/claims/gradient_noise.yaml"), "full")
    epochs = {a.recipe["epochs"] for a in cat.arms.values()}
    if len(epochs) != 1:
        raise ValueError(f"gradient_noise full-tier arms train for different epochs: {sorted(epochs)}")
    return sum(len(cat.seeds_of(a)) for a in cat.arms), epochs.pop()


def _write(path, r):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(r, indent=1) + "\n")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
