"""Speed benchmarks, kept out of the training loop (as nanoGPT keeps bench.py):

    python -m trickbench.bench [--seeds 8] [--epochs 1] [--out results/bench/<host>.json]
    python -m trickbench.bench --suite models [--device auto] [--models resnet20,...] [--steps 20]

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
    from trickbench.models import MODELS
    flops = flops_per_image(MODELS.build("mlp", (1, 28, 28), 10, depth=20, width=50), (1, 28, 28), torch.device("cpu"))
    out["flops_per_image"], out["peak_flops"] = flops, cpu_matmul_peak(threads)
    out["stacked_fraction_of_peak"] = out["stacked_img_s"] * flops / out["peak_flops"]
    out["load_after"] = os.getloadavg()[0]
    out["device"] = provenance.device_info("cpu")
    out["versions"] = provenance.versions()
    return out


MODELS_BENCH = {  # name -> (model, model_args, input shape)
    "mlp20x50": ("mlp", {"depth": 20, "width": 50}, (1, 28, 28)),
    "cifarnet": ("cifarnet", {}, (3, 32, 32)),
    "resnet20": ("resnet_cifar", {"depth": 20}, (3, 32, 32)),
    "resnet56": ("resnet_cifar", {"depth": 56}, (3, 32, 32)),
    "resnet110": ("resnet_cifar", {"depth": 110}, (3, 32, 32)),
    "nf_resnet20": ("nf_resnet", {"depth": 20}, (3, 32, 32)),
}
GPU_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12}


def _sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def cpu_matmul_peak(threads: int, n: int = 1024, repeat: int = 20) -> float:
    """Measured float32 matmul FLOP/s on this CPU with `threads` threads."""
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def flops_per_image(model, shape, device) -> float:
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.randn(8, *shape, device=device)
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), torch.zeros(8, dtype=torch.long, device=device)).backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / 8


def plain_loop_img_s(model_name, args, shape, device, batch, steps, workers) -> float:
    """The textbook loop: PIL images through torchvision transforms and a DataLoader, fp32."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchvision import transforms as T
    from trickbench.models import MODELS
    torch.manual_seed(0)
    n = batch * (steps + 2)
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (n, shape[1], shape[2], shape[0]), dtype=np.uint8)
    mode = "L" if shape[0] == 1 else "RGB"
    tf = T.Compose([T.RandomCrop(shape[1], padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.5] * shape[0], [0.25] * shape[0])])

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            img = Image.fromarray(pix[i].squeeze(-1) if mode == "L" else pix[i], mode)
            return tf(img), int(i % 10)

    loader = torch.utils.data.DataLoader(DS(), batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)
    model = MODELS.build(model_name, shape, 10, **args).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    t0 = None
    for i, (x, y) in enumerate(loader):
        if i == 2:  # two warm-up steps
            _sync(device)
            t0 = time.perf_counter()
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def engine_img_s(model_name, args, shape, device, batch, steps, compile=False) -> tuple[float, float]:
    """trickbench.train.run on random images: (images/s of the timed epoch, seconds of epoch 1)."""
    from trickbench import io, train
    from trickbench.tasks import TASKS
    recipe = dict(TASKS.get("classify").defaults, dataset="random",
                  dataset_args={"n_train": batch * steps, "n_test": batch, "shape": list(shape)},
                  model=model_name, model_args=args, optimizer="sgd", momentum=0.9, lr=0.01, epochs=3,
                  batch_size=batch, augment="flip_crop" if shape[0] == 3 else "crop", diverge_factor=1e9)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {"data_root": tmp, "cache_dir": f"{tmp}/cache", "device": device.type, "threads": torch_threads(),
               "compile": compile}
        s = train.run(recipe, 0, Path(tmp) / "run", ctx, {"config_hash": "bench"})
        first = io.read_jsonl(Path(tmp) / "run" / "metrics.jsonl")[0]["wall_s"]
    return batch * steps / s["metrics"]["train_s_per_epoch"], first


def torch_threads() -> int:
    import torch
    return torch.get_num_threads()


def bench_models(names, device_name: str, batch: int, steps: int, workers: int, compile: bool) -> dict:
    import torch
    from trickbench import provenance
    from trickbench.models import MODELS
    from trickbench.train import resolve_device
    device = resolve_device(device_name)
    out = {"suite": "models", "batch": batch, "steps": steps, "workers": workers, "compile": compile,
           "device": provenance.device_info(device.type), "versions": provenance.versions(), "models": {}}
    if device.type == "cuda":
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in GPU_PEAK_BF16.items() if k in name), None)
        out["peak_flops"], out["peak_source"] = peak, f"{name}: dense bf16 spec" if peak else "unknown card"
    else:
        out["peak_flops"], out["peak_source"] = cpu_matmul_peak(torch_threads()), "float32 matmul measured here"
    out["load_before"] = os.getloadavg()[0]  # other processes sharing the machine skew every number
    for key in names:
        model_name, args, shape = MODELS_BENCH[key]
        flops = flops_per_image(MODELS.build(model_name, shape, 10, **args).to(device), shape, device)
        ours, first = engine_img_s(model_name, args, shape, device, batch, steps, compile)
        plain = plain_loop_img_s(model_name, args, shape, device, batch, steps, workers)
        row = {"engine_img_s": ours, "plain_img_s": plain, "ratio": ours / plain, "flops_per_image": flops,
               "engine_flops_s": ours * flops, "first_epoch_s": first,
               "mfu": ours * flops / out["peak_flops"] if out["peak_flops"] else None}
        out["models"][key] = row
        print(f"  {key:12s} engine {ours:9.0f} img/s   plain DataLoader {plain:9.0f} img/s   ratio {ours / plain:5.2f}x"
              f"   {flops / 1e6:8.1f} MFLOP/img   MFU {row['mfu'] or float('nan'):.3f}", flush=True)
    if device.type == "cpu":  # the best of a peak measured before and after the models
        out["peak_flops"] = max(out["peak_flops"], cpu_matmul_peak(torch_threads()))
        for row in out["models"].values():
            row["mfu"] = row["engine_flops_s"] / out["peak_flops"]
    out["load_after"] = os.getloadavg()[0]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="mlp", choices=["mlp", "models"])
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
    ap.add_argument("--out", default=None, help="JSON file for the results (default: print only)")
    args = ap.parse_args(argv)
    if args.suite == "models":
        import torch
        torch.set_num_threads(args.threads)
        print(f"models, batch {args.batch}, {args.steps} timed steps, device {args.device}")
        r = bench_models(args.models.split(","), args.device, args.batch, args.steps, args.workers, args.compile)
        print(f"  peak {r['peak_flops'] / 1e9:.0f} GFLOP/s ({r['peak_source']}); load average "
              f"{r['load_before']:.1f} before, {r['load_after']:.1f} after (MFU values are over this peak)")
        _write(args.out, r)
        return r
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
    print(f"  one MNIST epoch (59,904 images) per run: {r['mnist_epoch_s_sequential']:.2f} s alone, "
          f"{r['mnist_epoch_s_stacked']:.2f} s in the stack; gradient_noise full tier (400 runs x 30 epochs): "
          f"{400 * 30 * r['mnist_epoch_s_stacked'] / 3600:.1f} CPU-h stacked on {r['threads']} thread(s)")
    print(f"  start-up of a fresh job (import torch): {r['torch_import_s']:.2f} s "
          f"= {r['torch_import_s'] / (r['sequential_s'] / r['seeds']):.1f}x one sequential run here")
    _write(args.out, r)
    return r


def _write(path, r):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(r, indent=1) + "\n")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
