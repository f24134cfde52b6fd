"""Suite `models` of the speed benchmark (python -m trickbench.ops.bench --suite models): images per
second of each model under our engine against a plain DataLoader loop, FLOPs per image, and the
measured matmul peak they are a fraction of. Shared with bench_engine (the CPU choices), which is
why it is a module of its own: bench imports both, neither imports bench."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


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


def cpu_matmul_peak(threads: int, n: int = 1024, repeat: int = 20, dtype: str = "float32") -> float:
    """Measured matmul FLOP/s on this CPU with `threads` threads, in `dtype` (float32, bfloat16)."""
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n).to(getattr(torch, dtype)), torch.randn(n, n).to(getattr(torch, dtype))
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


def engine_img_s(model_name, args, shape, device, batch, steps, compile=False, precision="auto",
                 channels_last="auto", micro_batch="auto") -> tuple[float, float]:
    """trickbench.train.run on random images: (images/s of the timed epoch, seconds of epoch 1)."""
    from trickbench import io, train
    from trickbench.tasks import TASKS
    recipe = dict(TASKS.get("classify").defaults, dataset="random",
                  dataset_args={"n_train": batch * steps, "n_test": batch, "shape": list(shape)},
                  model=model_name, model_args=args, optimizer="sgd", momentum=0.9, lr=0.01, epochs=3,
                  batch_size=batch, augment="flip_crop" if shape[0] == 3 else "crop", diverge_factor=1e9)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = {"data_root": tmp, "cache_dir": f"{tmp}/cache", "device": device.type, "threads": torch_threads(),
               "compile": compile, "precision": precision, "channels_last": channels_last,
               "micro_batch": micro_batch}
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
        if device.type == "cpu" and shape[0] == 3:  # conv models: fp32 vs bf16 autocast, same process
            row["engine_fp32_img_s"], _ = engine_img_s(model_name, args, shape, device, batch, steps, compile, "fp32")
            row["engine_bf16_img_s"], _ = engine_img_s(model_name, args, shape, device, batch, steps, compile, "bf16")
            row["bf16_over_fp32"] = row["engine_bf16_img_s"] / row["engine_fp32_img_s"]
            print(f"  {key:12s} fp32 {row['engine_fp32_img_s']:9.0f} img/s   bf16 autocast {row['engine_bf16_img_s']:9.0f}"
                  f" img/s   ratio {row['bf16_over_fp32']:5.2f}x   (CPU bf16 units: {out['device'].get('cpu_bf16')})", flush=True)
        out["models"][key] = row
        print(f"  {key:12s} engine {ours:9.0f} img/s   plain DataLoader {plain:9.0f} img/s   ratio {ours / plain:5.2f}x"
              f"   {flops / 1e6:8.1f} MFLOP/img   MFU {row['mfu'] or float('nan'):.3f}", flush=True)
    if device.type == "cpu":  # the best of a peak measured before and after the models
        out["peak_flops"] = max(out["peak_flops"], cpu_matmul_peak(torch_threads()))
        for row in out["models"].values():
            row["mfu"] = row["engine_flops_s"] / out["peak_flops"]
    out["load_after"] = os.getloadavg()[0]
    return out
