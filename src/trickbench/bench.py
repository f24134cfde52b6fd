"""Speed benchmark, kept out of the training loop (as nanoGPT keeps bench.py):

    python -m trickbench.bench [--seeds 8] [--epochs 1] [--out results/bench/<host>.json]

Measures, on this machine and in this process, the deep MLP of the gradient-noise and AMSGrad
claims (20 hidden layers x 50, batch 128, MNIST-shaped random data):
  sequential  one run after another through trickbench.train (what a job did before stacking)
  stacked     the same seeds in one stacked model (trickbench.stacked)
and the start-up a job pays before it trains (a fresh `python -c "import torch"`), then prints
the images per second of each and their ratio. Timings are wall clock, medians of `--repeat`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _recipe(epochs: int) -> dict:
    from trickbench.tasks import TASKS
    return dict(TASKS.get("classify").defaults, dataset="random", dataset_args={"n_train": 6400, "n_test": 1000},
                model="mlp", model_args={"depth": 20, "width": 50}, optimizer="sgd", lr=0.01,
                epochs=epochs, batch_size=128, diverge_factor=1e9)


def bench(seeds: int, epochs: int, repeat: int, threads: int) -> dict:
    import torch
    from trickbench import provenance, stacked, train
    torch.set_num_threads(threads)
    recipe = _recipe(epochs)
    images = 6400 // 128 * 128 * epochs * seeds
    out = {"seeds": seeds, "epochs": epochs, "threads": threads, "images": images}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {"data_root": tmp, "cache_dir": f"{tmp}/cache", "device": "cpu", "threads": threads}
        seq, stk = [], []
        for r in range(repeat):
            t0 = time.perf_counter()
            for s in range(seeds):
                train.run(recipe, s, Path(tmp) / f"seq{r}" / str(s), ctx, {"config_hash": "bench"})
            seq.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            stacked.run_stacked(recipe, list(range(seeds)), [Path(tmp) / f"stk{r}" / str(s) for s in range(seeds)],
                                ctx, {"config_hash": "bench"})
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
    out["device"] = provenance.device_info("cpu")
    out["versions"] = provenance.versions()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file for the results (default: print only)")
    args = ap.parse_args(argv)
    r = bench(args.seeds, args.epochs, args.repeat, args.threads)
    print(f"20x50 MLP, batch 128, {r['seeds']} seeds x {r['epochs']} epoch(s) of 6,400 images, "
          f"{r['threads']} thread(s), {r['device']['cpu']}")
    print(f"  sequential: {r['sequential_img_s']:9.0f} images/s  ({r['sequential_s']:.2f} s)")
    print(f"  stacked:    {r['stacked_img_s']:9.0f} images/s  ({r['stacked_s']:.2f} s)")
    print(f"  ratio stacked / sequential: {r['stacked_over_sequential']:.2f}x")
    print(f"  start-up of a fresh job (import torch): {r['torch_import_s']:.2f} s "
          f"= {r['torch_import_s'] / (r['sequential_s'] / r['seeds']):.1f}x one sequential run here")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(r, indent=1) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
