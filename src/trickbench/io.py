"""Atomic file writes: a killed job leaves the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())   # mkstemp makes 0600; a plain open() would obey the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):  # a full disk or a lost mount: say which file could not be written
            raise OSError(e.errno, f"could not write {path}: {e.strerror or e}") from e
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _default(o):
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj) -> str:
    return json.dumps(obj, default=_default, allow_nan=True, sort_keys=True)


def write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, default=_default, indent=1, sort_keys=True) + "\n")


class DamagedFile(ValueError):
    """A results file that does not read as it was written: the message names the file and line."""


DAMAGED = "the file is damaged (a cut copy, a write killed before the atomic writes, or an edit)"


def read_json(path: str | Path):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise DamagedFile(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg}): {DAMAGED}") from None


def write_jsonl(path: str | Path, rows) -> str:
    """Write one JSON object a line; returns the file's sha256 (a run's summary records its metrics')."""
    text = "".join(dumps(r) + "\n" for r in rows)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def write_run(run_dir: str | Path, summary: dict, history) -> dict:
    """A finished run on disk, the one way every engine writes it: metrics.jsonl (its rows), then
    summary.json with the file's checksum (`metrics_sha256`, which analyse checks), last, so that a
    summary.json means the run is complete. Returns the summary."""
    summary = {**summary, "metrics_sha256": write_jsonl(Path(run_dir) / "metrics.jsonl", history)}
    write_json(Path(run_dir) / "summary.json", summary)
    return summary


def read_jsonl(path: str | Path) -> list[dict]:
    """One JSON object a line (blank lines skipped); a line that is not one raises DamagedFile
    naming the file and the line."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DamagedFile(f"{path}, line {n}: not valid JSON at column {e.colno} ({e.msg}): {DAMAGED}") from None
        if not isinstance(row, dict):
            raise DamagedFile(f"{path}, line {n}: a JSON {type(row).__name__}, not an object: {DAMAGED}")
        rows.append(row)
    return rows


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def remove_stale_temporaries(root: str | Path, older_than_s: float = 600.0) -> list[Path]:
    """Delete the temporary files of atomic writes (`.<name>.<random>.tmp`) under `root` that a
    killed process left behind; only those older than `older_than_s` (a write in progress renames
    its file within seconds). Returns what was deleted."""
    import time
    gone, now = [], time.time()
    for f in Path(root).rglob(".*.tmp"):
        try:
            if f.is_file() and now - f.stat().st_mtime > older_than_s:
                f.unlink()
                gone.append(f)
        except OSError:
            pass   # gone meanwhile, or not ours to delete
    return gone


class RunBusy(RuntimeError):
    """Another process is training this run."""


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold `run_dir/train.lock` (an flock, released when the process ends however it ends) while a
    run trains: a second job on the same run (two long-run lanes given overlapping lines, a lane
    beside a pipeline) would write one checkpoint from two processes. It stops at once, naming the
    holder, instead."""
    import fcntl
    import socket
    path = Path(run_dir) / "train.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "a process"
            raise RunBusy(f"{run_dir} is being trained by {holder}: two jobs would overwrite one checkpoint; "
                          "let that job finish (this one then finds its summary) or stop it") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        yield
    finally:
        f.close()
