"""What produced a result: code version, packages, machine, device. Recorded in every run summary."""
from __future__ import annotations

import functools
import os
import importlib.metadata as md
import platform
import subprocess
import sys
from pathlib import Path

from trickbench import __version__, resources

REPO = resources.REPO  # None in an installed package: no git history to ask
PACKAGES = ("numpy", "torch", "torchvision", "timm", "scipy", "pandas", "seaborn", "snakemake", "typst")


def _git(*args) -> str | None:
    if REPO is None:  # never the history of a repository that merely holds the virtual environment
        return None
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "src", "workflow", "config", "Snakefile")
    return {"commit": _git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None,
            "version": __version__}


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def cpu_bf16() -> str | None:
    """The CPU's native bf16 matrix instructions, if any: 'amx_bf16' (Intel AMX tiles) or
    'avx512_bf16' (AVX-512 BF16 dot products, e.g. AMD Zen 4); None on AVX2-only CPUs, where bf16
    autocast is emulated and no faster than fp32."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return next((f for f in ("amx_bf16", "avx512_bf16") if f in flags), None)
    except OSError:
        pass
    return None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return out


def device_info(device: str = "cpu") -> dict:
    """Device details; asks torch only if the caller already imported it (analysis never does)."""
    info = {"device": device, "cpu": cpu_model(), "cpu_bf16": cpu_bf16(), "host": platform.node()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            idx = torch.device(device).index or 0
            info["gpu"] = torch.cuda.get_device_name(idx)
            info["cuda"] = torch.version.cuda
            info["driver"] = _nvidia_driver()
    return info


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return None


def scheduler_info() -> dict:
    """Where the job ran: the SLURM job (id, node) and the GPU slot, when there are any."""
    env = os.environ
    out = {k: env[v] for k, v in (("slurm_job_id", "SLURM_JOB_ID"), ("slurm_node", "SLURMD_NODENAME"),
                                  ("cuda_visible_devices", "CUDA_VISIBLE_DEVICES")) if v in env}
    return out


def record(device: str = "cpu") -> dict:
    return {**code_version(), "versions": versions(), **device_info(device), **scheduler_info()}
