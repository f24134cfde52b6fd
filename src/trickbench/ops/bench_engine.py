"""The engine's CPU choices, measured on this machine in one script (`--suite engine` of
trickbench.ops.bench; its results go to results/bench/<host>-engine.json):

  layout       bf16 autocast with contiguous (NCHW) vs channels_last (NHWC) tensors, one thread,
               interleaved repeats of trickbench.train.run on random CIFAR-shaped images
  evaluation   images/s of an evaluation pass (eval mode, no gradient, batch 2000) against the
               training step's: what a test or validation image costs in training images
  cores        two single-thread runs side by side against one run on two threads (total images/s,
               fresh processes, the model's best layout)
  peak         the share of this CPU's bf16 peak (a bf16 matmul measured here, one thread) that the
               training step reaches, from torch's FLOP count of a forward + backward

  chunks       NF-ResNet-20 at batch 2048 (AGC's large batch) trained whole vs in chunks of 256
               (Engine.micro_batch: the same gradient, accumulated), and evaluation at batch 2000 vs
               256, interleaved repeats

Every ratio is against a baseline measured in the same script on the same machine.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

CASES = {"resnet20": 128, "nf_resnet20": 256}  # model (trickbench.ops.bench.MODELS_BENCH) -> batch


def matmul_peak(dtype_name: str, threads: int = 1) -> float:
    """Measured matmul FLOP/s in `dtype_name` (float32 or bfloat16), 2048 x 2048, best of 10."""
    from trickbench.ops.bench_models import cpu_matmul_peak
    return cpu_matmul_peak(threads, n=2048, repeat=10, dtype=dtype_name)


def eval_img_s(model_name: str, args: dict, shape, channels_last: bool, n: int = 4000, batch: int = 2000) -> float:
    """Images/s of trickbench.train.evaluate (bf16 autocast, eval mode) on random images."""
    import torch
    from trickbench.models import MODELS
    from trickbench.train import Engine, evaluate
    torch.manual_seed(0)
    model = MODELS.build(model_name, shape, 10, **args)
    engine = Engine(torch.device("cpu"), "bf16", channels_last=channels_last)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x, y = torch.randint(0, 256, (n, *shape), dtype=torch.uint8), torch.randint(0, 10, (n,))
    mean, std = torch.full((shape[0],), 120.0), torch.full((shape[0],), 60.0)
    evaluate(model, x[:batch], y[:batch], mean, std, batch, engine)  # warm-up
    t0 = time.perf_counter()
    evaluate(model, x, y, mean, std, batch, engine)
    return n / (time.perf_counter() - t0)


def _worker_cmd(key: str, batch: int, steps: int, threads: int, channels_last: bool) -> list[str]:
    code = ("import json,sys,torch; torch.set_num_threads(%d); from trickbench.ops import bench_models as bench; "
            "m,a,s = bench.MODELS_BENCH[%r]; "
            "print(json.dumps(bench.engine_img_s(m, a, s, torch.device('cpu'), %d, %d, precision='bf16', "
            "channels_last=%r)[0]))" % (threads, key, batch, steps, channels_last))
    return [sys.executable, "-c", code]


def cores(key: str, batch: int, steps: int, channels_last: bool) -> dict:
    """Total images/s of two single-thread processes side by side vs one two-thread process."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(_worker_cmd(key, batch, steps, 1, channels_last), stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    pair = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    out = subprocess.run(_worker_cmd(key, batch, steps, 2, channels_last), capture_output=True, text=True, check=True,
                         env=os.environ | {"OMP_NUM_THREADS": "2"})
    one = json.loads(out.stdout.strip().splitlines()[-1])
    return {"two_single_thread_img_s": sum(pair), "each": pair, "one_two_thread_img_s": one,
            "two_single_over_one_double": sum(pair) / one}


def chunks(steps: int, repeat: int) -> dict:
    """NF-ResNet-20, bf16, channels_last, one thread: batch 2048 whole vs in chunks of 256, and
    evaluation at 2000 vs 256 images per pass (interleaved repeats, medians)."""
    import torch
    from trickbench.ops import bench_models as bench
    name, args, shape = bench.MODELS_BENCH["nf_resnet20"]
    train = {"whole": [], "chunks_256": []}
    evals = {"batch_2000": [], "batch_256": []}
    for _ in range(repeat):
        for k in train:
            train[k].append(bench.engine_img_s(name, args, shape, torch.device("cpu"), 2048, max(2, steps // 8),
                                               precision="bf16", channels_last=True,
                                               micro_batch=None if k == "whole" else 256)[0])
        for k in evals:
            evals[k].append(eval_img_s(name, args, shape, True, n=4000, batch=2000 if k == "batch_2000" else 256))
    out = {f"train_{k}_img_s": statistics.median(v) for k, v in train.items()}
    out |= {f"eval_{k}_img_s": statistics.median(v) for k, v in evals.items()}
    out["train_chunks_over_whole"] = out["train_chunks_256_img_s"] / out["train_whole_img_s"]
    out["eval_256_over_2000"] = out["eval_batch_256_img_s"] / out["eval_batch_2000_img_s"]
    out["runs"] = {"train": train, "eval": evals}
    return out


def bench_engine(steps: int, repeat: int, only: str | None = None) -> dict:
    import torch
    from trickbench import provenance
    from trickbench.ops import bench_models as bench
    from trickbench.models import MODELS
    torch.set_num_threads(1)
    out = {"suite": "engine", "steps": steps, "repeat": repeat, "threads": 1,
           "device": provenance.device_info("cpu"), "versions": provenance.versions(),
           "load_before": os.getloadavg()[0], "models": {}}
    out["peak_bf16_flops"], out["peak_fp32_flops"] = matmul_peak("bfloat16"), matmul_peak("float32")
    if only in (None, "chunks"):
        c = out["chunks"] = chunks(steps, repeat)
        print(f"  nf_resnet20  batch 2048: whole {c['train_whole_img_s']:6.0f} img/s, in chunks of 256 "
              f"{c['train_chunks_256_img_s']:6.0f} ({c['train_chunks_over_whole']:.2f}x); evaluation at 2000 "
              f"{c['eval_batch_2000_img_s']:6.0f} img/s, at 256 {c['eval_batch_256_img_s']:6.0f} "
              f"({c['eval_256_over_2000']:.2f}x)", flush=True)
    for key, batch in (CASES.items() if only in (None, "models") else ()):
        name, args, shape = bench.MODELS_BENCH[key]
        runs = {"contiguous": [], "channels_last": []}
        for _ in range(repeat):   # interleaved: a load change hits both layouts alike
            for layout in runs:
                runs[layout].append(bench.engine_img_s(name, args, shape, torch.device("cpu"), batch, steps,
                                                       precision="bf16", channels_last=layout == "channels_last")[0])
        row = {"batch": batch, **{f"train_{k}_img_s": statistics.median(v) for k, v in runs.items()},
               "train_runs": runs}
        row["channels_last_over_contiguous"] = row["train_channels_last_img_s"] / row["train_contiguous_img_s"]
        best = "channels_last" if row["channels_last_over_contiguous"] > 1 else "contiguous"
        row["best_layout"] = best
        row["eval_img_s"] = eval_img_s(name, args, shape, best == "channels_last")
        row["eval_over_train"] = row["eval_img_s"] / row[f"train_{best}_img_s"]
        flops = bench.flops_per_image(MODELS.build(name, shape, 10, **args), shape, torch.device("cpu"))
        row["flops_per_image"] = flops
        row["share_of_bf16_peak"] = row[f"train_{best}_img_s"] * flops / out["peak_bf16_flops"]
        row["cores"] = cores(key, batch, steps, best == "channels_last")
        out["models"][key] = row
        c = row["cores"]
        print(f"  {key:12s} batch {batch}: bf16 contiguous {row['train_contiguous_img_s']:6.0f} img/s, channels_last "
              f"{row['train_channels_last_img_s']:6.0f} ({row['channels_last_over_contiguous']:.2f}x); evaluation "
              f"{row['eval_img_s']:6.0f} img/s = {row['eval_over_train']:.1f}x a training image; "
              f"{flops / 1e6:.0f} MFLOP/img = {row['share_of_bf16_peak']:.0%} of the bf16 peak; two 1-thread runs "
              f"{c['two_single_thread_img_s']:.0f} img/s vs one 2-thread run {c['one_two_thread_img_s']:.0f} "
              f"({c['two_single_over_one_double']:.2f}x)", flush=True)
    out["load_after"] = os.getloadavg()[0]
    return out
