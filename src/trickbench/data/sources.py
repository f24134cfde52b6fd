"""Dataset sources. Each takes (data_root, cache_dir, **dataset_args) and returns Tensors.

Where the data may live, in the order tried:
  mnist / fashion_mnist / cifar10 / cifar100:
    1. torchvision's own files under <data_root> (e.g. <data_root>/MNIST/raw, cifar-10-batches-py)
    2. an ImageFolder tree or .tar.gz of one: <data_root>/<name>/ or <data_root>/<name>*.tar.gz
       (the layout of the development copies: <name>/{train,test}/<class>/*)
    3. a torchvision download, only when dataset_args.download is true
  imagefolder: dataset_args.path, a folder or a .tar.gz with {train,test}/<class>/* inside.
"""
from __future__ import annotations

import hashlib
import io as _io
import tarfile
from pathlib import Path

import numpy as np
import torch

from trickbench.data.tensors import Tensors, cached

HOWTO = {
    "mnist": "torchvision.datasets.MNIST(root=DATA_ROOT, download=True), or put mnist.tar.gz (ImageFolder) in DATA_ROOT",
    "fashion_mnist": "torchvision.datasets.FashionMNIST(root=DATA_ROOT, download=True) (Debian: dataset-fashion-mnist)",
    "cifar10": "torchvision.datasets.CIFAR10(root=DATA_ROOT, download=True), or an ImageFolder copy (e.g. cifar10-jpeg.tar.gz) in DATA_ROOT",
    "cifar100": "torchvision.datasets.CIFAR100(root=DATA_ROOT, download=True)",
    "tiny_imagenet": "the CS231n archive tiny-imagenet-200.zip unpacked to DATA_ROOT/tiny-imagenet-200 with train/ and test/ (ImageFolder), or a tiny-imagenet-200*.tar.gz of that layout (the development machines have one in ../shared/data)",
}


class DataMissing(FileNotFoundError):
    pass


def _missing(name: str, data_root: Path, looked: list[str]) -> DataMissing:
    return DataMissing(
        f"dataset {name!r} not found under data_root={data_root} (looked for: {'; '.join(looked)}). "
        f"Get it with {HOWTO[name]}, point `data_root` at it (snakemake --config data_root=...), "
        f"or set dataset_args: {{download: true}} where the network allows. Nothing is substituted.")


def digits(data_root, cache_dir, test_size: int = 500):
    """scikit-learn's bundled 8x8 digits (1,797 images, offline): a fixed split, 16 grey levels -> uint8."""
    def make():
        from sklearn.datasets import load_digits
        d = load_digits()
        x = torch.from_numpy(np.round(d.images * (255 / 16)).astype(np.uint8))[:, None]
        y = torch.from_numpy(d.target.astype(np.int64))
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        te, tr = perm[:test_size].sort().values, perm[test_size:].sort().values
        return Tensors("digits", x[tr], y[tr], x[te], y[te], 10, "scikit-learn digits (8×8, 1,797 images)")
    return cached(Path(cache_dir) / f"digits-{test_size}.pt", make)


def _from_torchvision(cls_name, root, download):
    import torchvision
    cls = getattr(torchvision.datasets, cls_name)
    tr, te = cls(root, train=True, download=download), cls(root, train=False, download=download)

    def xs(ds):
        x = torch.as_tensor(np.asarray(ds.data))
        return (x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)).contiguous().to(torch.uint8)
    return xs(tr), torch.as_tensor(tr.targets, dtype=torch.int64), xs(te), torch.as_tensor(te.targets, dtype=torch.int64)


CLASSES = {  # the class folders a copy of a known dataset must hold, in both splits
    "mnist": [str(d) for d in range(10)], "fashion_mnist": [str(d) for d in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


class DataInvalid(ValueError):
    pass


def check_classes(path, train: set[str], test: set[str], expected: list[str] | None = None) -> None:
    """The class folders of an ImageFolder copy: exactly `expected` in both splits for a known
    dataset, else the same in train and test. A missing folder would silently shift every later
    label by one (MNIST without 7: the 8s learnt as 7s) or drop a class from the test set."""
    problems = []
    for split, have in (("train", train), ("test", test)):
        want = set(expected) if expected is not None else (test if split == "train" else train)
        if missing := sorted(want - have):
            problems.append(f"{split}/ lacks class folder(s) {', '.join(missing)}")
        if expected is not None and (extra := sorted(have - want)):
            problems.append(f"{split}/ has class folder(s) {', '.join(extra)} that the dataset does not")
    if problems:
        raise DataInvalid(f"{path}: {'; '.join(dict.fromkeys(problems))}. Nothing is substituted: fix the copy "
                          f"(its class folders must be {', '.join(sorted(expected or train | test))} in train/ and test/)")


def _read_imagefolder(path: Path, channels: int, max_classes: int | None = None, expected: list[str] | None = None):
    """{train,test}/<class>/<image> from a folder or a .tar.gz, decoded with PIL, classes sorted by
    name; with max_classes, only the first that many classes (in that order) are decoded. The
    class folders are checked first (check_classes): `expected` for a known dataset."""
    from PIL import Image
    mode = "L" if channels == 1 else "RGB"
    items = {"train": [], "test": []}  # (class, name, bytes)

    def add(rel_parts, data):
        # .../<split>/<class>/<file>
        if len(rel_parts) >= 3 and rel_parts[-3] in items:
            items[rel_parts[-3]].append((rel_parts[-2], rel_parts[-1], data))
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file() and f.suffix.lower() in (".png", ".jpg", ".jpeg"):
                add(f.relative_to(path).parts, f.read_bytes())
    else:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                if m.isfile() and Path(m.name).suffix.lower() in (".png", ".jpg", ".jpeg"):
                    add(Path(m.name).parts, tar.extractfile(m).read())
    found = {k: {c for c, _, _ in v} for k, v in items.items()}
    if not found["train"] or not found["test"]:
        raise DataMissing(f"{path} holds no train/<class>/ and test/<class>/ images")
    classes = sorted(found["train"])[:max_classes]
    if max_classes:   # a class subset: the chosen classes in both splits
        check_classes(path, set(classes), found["test"] & set(classes))
    else:
        check_classes(path, found["train"], found["test"], expected)
    items = {k: [r for r in v if r[0] in set(classes)] for k, v in items.items()}
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for split in ("train", "test"):
        rows = sorted(items[split], key=lambda r: (index[r[0]], r[1]))
        x = np.stack([np.asarray(Image.open(_io.BytesIO(b)).convert(mode)) for _, _, b in rows])
        x = torch.from_numpy(x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2).copy())
        out += [x.contiguous(), torch.tensor([index[c] for c, _, _ in rows], dtype=torch.int64)]
    return (*out, len(classes))


def fingerprint(src: Path) -> str:
    """What the decoded cache of `src` is keyed by: the SHA-256 of an archive's bytes, or of a
    folder's file list with sizes and modification times (12 hex digits). Data changed in place
    (a class folder put back) is decoded again instead of served from the old cache."""
    h = hashlib.sha256()
    src = Path(src)
    if src.is_file():
        with open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    else:
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            st = f.stat()
            h.update(f"{f.relative_to(src)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def _candidates(data_root: Path, stems) -> list[Path]:
    found = []
    for stem in stems:
        found += [p for p in (data_root / stem,) if (p / "train").is_dir()]
        found += sorted(data_root.glob(f"{stem}*.tar.gz"))
    return found


def _standard(name, tv_class, tv_dir, stems, channels, label, data_root, cache_dir, download=False, prefer=None):
    data_root = Path(data_root)
    looked = [str(data_root / tv_dir)]
    tv_present = (data_root / tv_dir).exists()
    if tv_present or download:
        def make():
            x, y, xt, yt = _from_torchvision(tv_class, str(data_root), download)
            return Tensors(name, x, y, xt, yt, int(y.max()) + 1, label)
        return cached(Path(cache_dir) / f"{name}-torchvision-{fingerprint(data_root / tv_dir)}.pt", make)
    cands = _candidates(data_root, stems)
    if prefer:
        cands = [c for c in cands if prefer in c.name] or cands
    looked += [str(data_root / f"{s}/ or {s}*.tar.gz") for s in stems]
    if not cands:
        raise _missing(name, data_root, looked)
    src = cands[0]

    def make():
        x, y, xt, yt, k = _read_imagefolder(src, channels, expected=CLASSES.get(name))
        lossy = "jpeg" in src.name.lower()
        return Tensors(name, x, y, xt, yt, k, f"{label} ({'JPEG q75 copy' if lossy else 'ImageFolder copy'}: {src.name})")
    return cached(Path(cache_dir) / f"{name}-{src.name.replace('.tar.gz', '')}-{fingerprint(src)}.pt", make)


def mnist(data_root, cache_dir, download=False):
    return _standard("mnist", "MNIST", "MNIST/raw", ["mnist"], 1, "MNIST", data_root, cache_dir, download)


def fashion_mnist(data_root, cache_dir, download=False):
    return _standard("fashion_mnist", "FashionMNIST", "FashionMNIST/raw", ["fashion-mnist", "fashion_mnist"], 1,
                     "Fashion-MNIST", data_root, cache_dir, download)


def cifar10(data_root, cache_dir, download=False, copy=None):
    """`copy`: which ImageFolder copy to prefer when several exist (e.g. 'jpeg', 'lossless')."""
    return _standard("cifar10", "CIFAR10", "cifar-10-batches-py", ["cifar10"], 3, "CIFAR-10", data_root,
                     cache_dir, download, prefer=copy)


def cifar100(data_root, cache_dir, download=False):
    return _standard("cifar100", "CIFAR100", "cifar-100-python", ["cifar100"], 3, "CIFAR-100", data_root,
                     cache_dir, download)


def imagefolder(data_root, cache_dir, path=None, channels=3, name=None):
    if path is None:
        raise ValueError("dataset imagefolder needs dataset_args.path (a folder or .tar.gz with train/ and test/)")
    src = Path(path) if Path(path).is_absolute() else Path(data_root) / path
    if not src.exists():
        raise DataMissing(f"imagefolder path {src} does not exist (relative paths are taken under data_root={data_root})")
    label = name or src.name.replace(".tar.gz", "")

    def make():
        x, y, xt, yt, k = _read_imagefolder(src, channels)
        return Tensors(label, x, y, xt, yt, k, f"{label} (ImageFolder: {src.name})")
    return cached(Path(cache_dir) / f"imagefolder-{label}-{channels}-{fingerprint(src)}.pt", make)


def tiny_imagenet(data_root, cache_dir, classes: int | None = None):
    """Tiny ImageNet (64x64, 200 classes; the labelled val set as test) from tiny-imagenet-200/ or
    tiny-imagenet-200*.tar.gz under data_root; `classes`: the first N classes in sorted wnid order
    (a class subset of ImageNet's, for CPU- or GPU-budget tiers)."""
    data_root = Path(data_root)
    cands = _candidates(data_root, ["tiny-imagenet-200", "tiny-imagenet"])
    if not cands:
        raise _missing("tiny_imagenet", data_root, [str(data_root / "tiny-imagenet-200/ or tiny-imagenet-200*.tar.gz")])
    src, k = cands[0], classes or 200

    def make():
        x, y, xt, yt, n = _read_imagefolder(src, 3, classes)
        return Tensors(f"tiny_imagenet{k}", x, y, xt, yt, n, f"Tiny ImageNet, first {n} classes (sorted wnids; val as test)")
    return cached(Path(cache_dir) / f"tiny_imagenet-{k}classes-{fingerprint(src)}.pt", make)


_STANDARD = {  # name -> (torchvision folder, ImageFolder stems)
    "mnist": ("MNIST/raw", ["mnist"]), "fashion_mnist": ("FashionMNIST/raw", ["fashion-mnist", "fashion_mnist"]),
    "cifar10": ("cifar-10-batches-py", ["cifar10"]), "cifar100": ("cifar-100-python", ["cifar100"]),
}


def class_folders(path: Path) -> dict[str, set[str]]:
    """{"train": classes, "test": classes} of an ImageFolder copy (folder or .tar.gz), from its
    file names alone (no image decoded)."""
    found = {"train": set(), "test": set()}
    names = ([f.relative_to(path).parts for f in path.rglob("*") if f.is_file()] if path.is_dir() else
             [Path(m.name).parts for m in tarfile.open(path, "r:*") if m.isfile()])
    for parts in names:
        if len(parts) >= 3 and parts[-3] in found and Path(parts[-1]).suffix.lower() in (".png", ".jpg", ".jpeg"):
            found[parts[-3]].add(parts[-2])
    return found


def missing_message(name: str, data_root, cache_dir, **dataset_args) -> str | None:
    """None when dataset `name` can be loaded (its source or its decoded cache is there, or a
    download was asked for), else the message `load` would raise: checked for every dataset of a
    tier before its first job (the Snakefile), so a missing dataset is not found hours in."""
    data_root, cache_dir = Path(data_root), Path(cache_dir)
    if name in _STANDARD:
        tv_dir, stems = _STANDARD[name]
        cands = _candidates(data_root, stems)
        if cands and not (data_root / tv_dir).exists():   # the copy that will be read: its classes, now
            prefer = dataset_args.get("copy")
            src = ([c for c in cands if prefer and prefer in c.name] or cands)[0]
            if not (cache_dir / f"{name}-{src.name.replace('.tar.gz', '')}-{fingerprint(src)}.pt").exists():
                found = class_folders(src)
                try:
                    check_classes(src, found["train"], found["test"], CLASSES.get(name))
                except DataInvalid as e:
                    return str(e)
        if (data_root / tv_dir).exists() or dataset_args.get("download") or cands \
                or list(cache_dir.glob(f"{name}-*.pt")):
            return None
        return str(_missing(name, data_root, [str(data_root / tv_dir)] + [str(data_root / f"{s}/ or {s}*.tar.gz") for s in stems]))
    if name == "tiny_imagenet":
        k = dataset_args.get("classes") or 200
        if _candidates(data_root, ["tiny-imagenet-200", "tiny-imagenet"]) or list(cache_dir.glob(f"tiny_imagenet-{k}classes*.pt")):
            return None
        return str(_missing(name, data_root, [str(data_root / "tiny-imagenet-200/ or tiny-imagenet-200*.tar.gz")]))
    if name == "imagefolder" and dataset_args.get("path"):
        src = Path(dataset_args["path"]) if Path(dataset_args["path"]).is_absolute() else data_root / dataset_args["path"]
        return None if src.exists() else f"imagefolder path {src} does not exist (relative paths are taken under data_root={data_root})"
    return None   # digits (bundled with scikit-learn), temporal_order, random


def random_images(data_root, cache_dir, n_train=10_000, n_test=2_000, shape=(1, 28, 28), classes=10, seed=0):
    """Uniform random uint8 images with random labels, for speed benchmarks (nothing to learn)."""
    g = torch.Generator().manual_seed(seed)
    shape = tuple(shape)
    x = torch.randint(0, 256, (n_train + n_test, *shape), generator=g, dtype=torch.uint8)
    y = torch.randint(0, classes, (n_train + n_test,), generator=g)
    return Tensors("random", x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes,
                   f"random uint8 images {shape}, {n_train} / {n_test}")


def temporal_order(data_root, cache_dir, length=50, n_train=10_000, n_test=2_000, seed=0):
    """The temporal-order problem (Hochreiter & Schmidhuber 1997, experiment 6a; the long-term
    task of Pascanu, Mikolov & Bengio 2013): a sequence of `length` symbols, each a distractor
    from {a, b, c, d} except two, X or Y, at a uniform time in [length/10, 2·length/10) and one in
    [5·length/10, 6·length/10); the class is the ordered pair (XX, XY, YX, YY). Stored as one-hot
    uint8 images [N, 1, length, 6] (time down the rows, 0 or 255), so the engine's batching and
    per-channel standardisation apply unchanged (an affine map of the one-hot code). Generated from
    `seed`, the same for every run: the arms see the same sequences."""
    if length < 10:
        raise ValueError(f"dataset_args.length must be >= 10 (two marker windows of length/10), got {length}")
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    sym = torch.randint(0, 4, (n, length), generator=g)            # distractors a-d: 0..3
    lo1, hi1, lo2, hi2 = length // 10, 2 * length // 10, 5 * length // 10, 6 * length // 10
    t1 = lo1 + (torch.rand(n, generator=g) * (hi1 - lo1)).long()
    t2 = lo2 + (torch.rand(n, generator=g) * (hi2 - lo2)).long()
    first, second = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)
    rows = torch.arange(n)
    sym[rows, t1] = 4 + first                                        # X = 4, Y = 5
    sym[rows, t2] = 4 + second
    x = (torch.nn.functional.one_hot(sym, 6) * 255).to(torch.uint8).unsqueeze(1)
    y = 2 * first + second
    return Tensors("temporal_order", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 4,
                   f"temporal-order problem, length {length}, {n_train} / {n_test} sequences")
