"""One GPU per concurrent training job on a multi-GPU machine (Snakemake alone can't: #281).

Snakemake caps how many train jobs run at once with `--resources gpu=N` (each train job asks for
gpu=1 when device=cuda); this module decides *which* GPU a job gets: it takes the first free slot
among N lock files (an exclusive, non-blocking flock per slot) and exports CUDA_VISIBLE_DEVICES
before torch is imported. The kernel releases a lock when its process dies, so a killed job never
leaves a slot taken.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def gpu_slot(n_slots: int, lock_dir: str | Path, poll_s: float = 0.2, timeout_s: float | None = None):
    """Hold one of `n_slots` device slots for the duration of the block; yields its index."""
    if n_slots < 1:
        raise ValueError(f"gpu_slots must be >= 1, got {n_slots}")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    while True:
        for i in range(n_slots):
            f = open(lock_dir / f"gpu{i}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            old = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = str(i)
            try:
                yield i
            finally:
                if old is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = old
                fcntl.flock(f, fcntl.LOCK_UN)
                f.close()
            return
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no free GPU slot among {n_slots} in {lock_dir} after {timeout_s}s")
        time.sleep(poll_s)
