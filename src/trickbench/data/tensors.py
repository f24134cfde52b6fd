"""Whole datasets as uint8 tensors: cache, splits, batched augmentation, batches by index slicing.

On small models the DataLoader's per-sample Python work dominates a step; holding the set as one
tensor (on the GPU when there is one) and slicing it is faster on CPU and GPU alike (the models
benchmark, `python -m trickbench.ops.bench --suite models`, prints our engine against a DataLoader loop).
"""
from __future__ import annotations

import hashlib
import io as _io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from trickbench import io


@dataclass
class Tensors:
    """A decoded dataset. x: uint8 [N, C, H, W]; y: int64 [N]."""
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    description: str  # what the report calls it, e.g. "CIFAR-10 (JPEG q75 copy)"
    sha256: str = ""

    @property
    def shape(self):
        return tuple(self.train_x.shape[1:])


def sha256_of(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def cached(cache_file: Path, make) -> Tensors:
    """Load the decoded tensors from `cache_file`, or decode with `make()` and cache atomically.

    A cache is trusted only if it loads and its tensors hash to the SHA-256 stored with them (a
    flipped byte or a truncated file would otherwise train every run on altered data while the
    provenance recorded the clean hash): otherwise it is moved aside to `<file>.corrupt`, a warning
    names it, and it is rebuilt from the source. The recorded hash is always that of the tensors
    actually used."""
    cache_file = Path(cache_file)
    if cache_file.exists():
        problem = None
        try:
            t = Tensors(**torch.load(cache_file, weights_only=True))
            actual = sha256_of(t.train_x, t.train_y, t.test_x, t.test_y)
            if actual == t.sha256:
                return t
            problem = f"its tensors hash to {actual[:12]}…, not the {t.sha256[:12]}… stored with them"
        except Exception as e:  # noqa: BLE001 (any unreadable file: truncated, not a torch file, wrong keys)
            problem = f"it cannot be read ({type(e).__name__}: {e})"
        bad = cache_file.with_name(cache_file.name + ".corrupt")
        cache_file.replace(bad)
        warnings.warn(f"data cache {cache_file} is corrupt: {problem}; moved to {bad} and rebuilt from the source",
                      stacklevel=2)
    t = make()
    t.sha256 = sha256_of(t.train_x, t.train_y, t.test_x, t.test_y)
    buf = _io.BytesIO()
    torch.save(dict(vars(t)), buf)
    io.atomic_write_bytes(cache_file, buf.getvalue())
    return t


def split(n: int, val_fraction: float, subset: int | None, seed: int = 0):
    """Fixed train/validation split of the training set (the same for every run seed, so arms
    and seeds are compared on the same held-out images). Returns (train_idx, val_idx)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    val, train = perm[:n_val], perm[n_val:]
    if subset is not None:
        if subset > len(train):
            raise ValueError(f"train_subset={subset} exceeds the {len(train)} training images left after the split")
        train = train[:subset]
    return train.sort().values, val.sort().values


def strided(n: int, k: int | None) -> torch.Tensor | slice:
    """k indices evenly strided over range(n) (all of them: slice(None) when k is None or >= n).
    Not the first k: the ImageFolder copies (MNIST, CIFAR-10) are sorted by class, and a split's
    indices come back sorted, so the first k of them hold the first classes only."""
    if not k or k >= n:
        return slice(None)
    return torch.div(torch.arange(k) * n, k, rounding_mode="floor")


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (training images only)."""
    xf = x.float().div_(255)
    return xf.mean(dim=(0, 2, 3)), xf.std(dim=(0, 2, 3)).clamp_min(1e-6)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x.float().div_(255) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


AUGMENTS = ("none", "crop", "flip_crop", "crop_color", "flip_crop_color")


def augment(x: torch.Tensor, kind: str, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Batched random crop with zero padding (translation by up to ±pad px), horizontal flip, and
    (`*_color`) brightness and contrast jitter.

    One gather for the whole batch instead of a Python loop over images. uint8 in, uint8 out.
    """
    if kind == "none":
        return x
    if kind not in AUGMENTS:
        raise ValueError(f"augment {kind!r} is not one of {', '.join(AUGMENTS)}")
    b, c, h, w = x.shape
    dev = x.device
    color = kind.endswith("_color")
    kind = kind.removesuffix("_color")
    if kind in ("flip_crop", "crop"):
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(dev)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        x = xp[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    if kind == "flip_crop":
        flip = (torch.rand(b, generator=generator) < 0.5).to(dev)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if color:
        x = color_jitter(x, generator)
    return x


def color_jitter(x: torch.Tensor, generator: torch.Generator, strength: float = 0.2) -> torch.Tensor:
    """Brightness then contrast, each by a factor drawn per image from U(1 - s, 1 + s) (s = 0.2),
    as torchvision's ColorJitter(brightness=s, contrast=s) does them (it also draws their order
    at random; here brightness comes first): brightness scales the pixels, contrast blends each
    image with the mean of its grey levels. uint8 in, uint8 out (rounded, clamped to 0..255)."""
    b = x.shape[0]
    fb = (1 - strength + 2 * strength * torch.rand(b, generator=generator)).to(x.device)[:, None, None, None]
    fc = (1 - strength + 2 * strength * torch.rand(b, generator=generator)).to(x.device)[:, None, None, None]
    y = (x.float() * fb).clamp_(0, 255)
    grey = y.mean(dim=1, keepdim=True) if y.shape[1] == 1 else \
        (0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3])
    m = grey.mean(dim=(1, 2, 3), keepdim=True)
    return ((y - m) * fc + m).clamp_(0, 255).round_().to(torch.uint8)
