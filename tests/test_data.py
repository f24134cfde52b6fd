"""Datasets: decoding, cache, splits, batched augmentation, missing-data errors."""
import io
import tarfile

import numpy as np
import pytest
import torch

from trickbench.data import DATASETS
from trickbench.data import sources
from trickbench.data.tensors import augment, channel_stats, normalize, split


def test_digits_shapes_cache_and_checksum(tmp_path):
    a = DATASETS.build("digits", tmp_path, tmp_path / "cache")
    assert a.train_x.dtype == torch.uint8 and a.train_x.shape == (1297, 1, 8, 8) and a.test_x.shape == (500, 1, 8, 8)
    assert a.train_x.max() == 255 and a.num_classes == 10
    b = DATASETS.build("digits", tmp_path, tmp_path / "cache")  # from the cache
    assert b.sha256 == a.sha256 and len(a.sha256) == 64
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_corrupt_cache_is_moved_aside_and_rebuilt_naming_the_file(tmp_path, damage):
    clean = DATASETS.build("digits", tmp_path, tmp_path / "cache")
    (path,) = (tmp_path / "cache").glob("digits-*.pt")
    raw = bytearray(path.read_bytes())
    if damage == "flip":   # 2,560 bytes in the middle of the tensors: still a loadable file
        mid = len(raw) // 2
        raw[mid:mid + 2560] = bytes(b ^ 0xFF for b in raw[mid:mid + 2560])
    else:
        raw = raw[: len(raw) // 3]
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match=str(path).replace("\\", "\\\\") + " is corrupt"):
        again = DATASETS.build("digits", tmp_path, tmp_path / "cache")
    assert again.sha256 == clean.sha256 and torch.equal(again.train_x, clean.train_x)
    assert (tmp_path / "cache" / (path.name + ".corrupt")).exists()
    assert DATASETS.build("digits", tmp_path, tmp_path / "cache").sha256 == clean.sha256  # the rebuilt cache is trusted


def test_split_is_fixed_disjoint_and_subsettable():
    tr, va = split(100, 0.2, None)
    tr2, va2 = split(100, 0.2, None)
    assert torch.equal(tr, tr2) and len(va) == 20 and len(tr) == 80
    assert not set(tr.tolist()) & set(va.tolist())
    tr3, _ = split(100, 0.2, 30)
    assert len(tr3) == 30 and set(tr3.tolist()) <= set(tr.tolist())
    with pytest.raises(ValueError, match="train_subset"):
        split(100, 0.2, 90)


def test_crop_is_a_window_of_the_zero_padded_image_and_flip_mirrors():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.int64).reshape(2, 3, 6, 6).to(torch.uint8)
    g = torch.Generator().manual_seed(0)
    out = augment(x, "crop", g, pad=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(augment(x, "flip_crop", g1), augment(x, "flip_crop", g2))  # deterministic per seed
    flips = augment(x.repeat(50, 1, 1, 1), "flip_crop", torch.Generator().manual_seed(1), pad=0)
    flipped = [torch.equal(f, x[i % 2].flip(2)) for i, f in enumerate(flips)]
    assert 10 < sum(flipped) < 90  # about half mirrored
    assert augment(x, "none", g) is x


def test_normalize_uses_training_statistics():
    x = torch.randint(0, 256, (64, 3, 4, 4), dtype=torch.uint8)
    mean, std = channel_stats(x)
    z = normalize(x, mean, std)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)


def _fake_imagefolder_tar(path, channels=3, classes=("cat", "ant"), test_classes=None):
    from PIL import Image
    with tarfile.open(path, "w:gz") as tar:
        for split_name, n in (("train", 3), ("test", 2)):
            for cls in (classes if split_name == "train" or test_classes is None else test_classes):
                for i in range(n):
                    arr = np.full((5, 5, 3), 40 * i + (100 if cls == "cat" else 0), np.uint8)
                    buf = io.BytesIO()
                    Image.fromarray(arr).save(buf, format="PNG")
                    info = tarfile.TarInfo(f"toy/{split_name}/{cls}/{i}.png")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))


def test_imagefolder_tar_gz(tmp_path):
    _fake_imagefolder_tar(tmp_path / "toy.tar.gz")
    t = DATASETS.build("imagefolder", tmp_path, tmp_path / "cache", path="toy.tar.gz")
    assert t.train_x.shape == (6, 3, 5, 5) and t.test_x.shape == (4, 3, 5, 5) and t.num_classes == 2
    # classes sorted by name: ant = 0, cat = 1; cat images are brighter by 100
    assert t.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert t.train_x[3, 0, 0, 0] == 100 and t.train_x[0, 0, 0, 0] == 0


def test_cifar10_from_a_local_imagefolder_copy_is_labelled(tmp_path):
    _fake_imagefolder_tar(tmp_path / "cifar10-jpeg.tar.gz", classes=sources.CLASSES["cifar10"])
    t = DATASETS.build("cifar10", tmp_path, tmp_path / "cache")
    assert "JPEG q75 copy" in t.description


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "fashion_mnist"])
def test_missing_dataset_says_how_to_get_it(tmp_path, name):
    with pytest.raises(sources.DataMissing, match=f"dataset '{name}' not found.*download"):
        DATASETS.build(name, tmp_path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing cached, nothing substituted


def test_imagefolder_needs_a_path(tmp_path):
    with pytest.raises(ValueError, match="dataset_args.path"):
        DATASETS.build("imagefolder", tmp_path, tmp_path / "cache")


def test_tiny_imagenet_class_subset_keeps_the_first_classes(tmp_path):
    _fake_imagefolder_tar(tmp_path / "tiny-imagenet-200.tar.gz")
    t = DATASETS.build("tiny_imagenet", tmp_path, tmp_path / "cache", classes=1)
    assert t.num_classes == 1 and t.train_y.tolist() == [0, 0, 0] and len(t.test_y) == 2
    assert t.train_x[:, 0, 0, 0].tolist() == [0, 40, 80]  # "ant", the first class by name
    with pytest.raises(sources.DataMissing, match="tiny_imagenet"):
        DATASETS.build("tiny_imagenet", tmp_path / "none", tmp_path / "cache2")


def test_color_jitter_scales_brightness_and_contrast_within_its_range():
    from trickbench.data.tensors import color_jitter
    flat = torch.full((200, 1, 4, 4), 100, dtype=torch.uint8)
    out = color_jitter(flat, torch.Generator().manual_seed(0))
    # a flat image has no contrast to change: only brightness, a factor in [0.8, 1.2]
    assert out.dtype == torch.uint8 and 80 <= int(out.min()) and int(out.max()) <= 120
    assert len(out.view(200, -1).float().mean(1).unique()) > 30   # one factor per image: most of the 41 levels 80..120
    two = torch.tensor([[[[50, 150]]]], dtype=torch.uint8).repeat(300, 1, 1, 1)
    spread = color_jitter(two, torch.Generator().manual_seed(1)).float()
    gap = spread[..., 1] - spread[..., 0]                                        # 100 * fb * fc
    assert 100 * 0.8 * 0.8 - 1 <= float(gap.min()) and float(gap.max()) <= 100 * 1.2 * 1.2 + 1
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(augment(two, "crop_color", g1, pad=1), augment(two, "crop_color", g2, pad=1))
    with pytest.raises(ValueError, match="augment 'flip' is not one of"):
        augment(two, "flip", g1)


DIGITS = [str(d) for d in range(10)]


@pytest.mark.parametrize("train, test", [
    ([d for d in DIGITS if d != "7"], [d for d in DIGITS if d != "7"]),   # 8s would be learnt as 7s
    ([d for d in DIGITS if d != "7"], DIGITS),                            # the test set's 7s dropped
    (DIGITS, [d for d in DIGITS if d != "7"]),                            # accepted silently before
])
def test_a_missing_class_folder_is_an_error_naming_it_before_any_job(tmp_path, train, test):
    """Issue 33: an MNIST ImageFolder copy without the folder 7 trained on 9 classes."""
    _fake_imagefolder_tar(tmp_path / "mnist.tar.gz", channels=1, classes=train, test_classes=test)
    msg = sources.missing_message("mnist", tmp_path, tmp_path / "cache")   # what the Snakefile checks first
    assert msg and "class folder(s) 7" in msg and "mnist.tar.gz" in msg
    with pytest.raises(sources.DataInvalid, match="lacks class folder\\(s\\) 7"):
        DATASETS.build("mnist", tmp_path, tmp_path / "cache")
    assert not list(tmp_path.glob("cache/*.pt"))   # nothing decoded, nothing cached


def test_an_extra_class_folder_and_unequal_splits_of_any_imagefolder_are_errors(tmp_path):
    _fake_imagefolder_tar(tmp_path / "mnist.tar.gz", classes=DIGITS + ["x"])
    with pytest.raises(sources.DataInvalid, match="has class folder\\(s\\) x that the dataset does not"):
        DATASETS.build("mnist", tmp_path, tmp_path / "cache")
    _fake_imagefolder_tar(tmp_path / "toy.tar.gz", classes=("ant", "cat"), test_classes=("ant",))
    with pytest.raises(sources.DataInvalid, match="test/ lacks class folder\\(s\\) cat"):
        DATASETS.build("imagefolder", tmp_path, tmp_path / "cache", path="toy.tar.gz")


def test_the_decoded_cache_follows_the_data_it_came_from(tmp_path):
    """Put a class folder back (or change any image): the cache is decoded again, not served stale."""
    _fake_imagefolder_tar(tmp_path / "toy.tar.gz", classes=("ant", "cat"))
    one = DATASETS.build("imagefolder", tmp_path, tmp_path / "cache", path="toy.tar.gz")
    _fake_imagefolder_tar(tmp_path / "toy.tar.gz", classes=("ant", "bee", "cat"))
    two = DATASETS.build("imagefolder", tmp_path, tmp_path / "cache", path="toy.tar.gz")
    assert (one.num_classes, two.num_classes) == (2, 3) and one.sha256 != two.sha256
    again = DATASETS.build("imagefolder", tmp_path, tmp_path / "cache", path="toy.tar.gz")
    assert again.sha256 == two.sha256 and len(list((tmp_path / "cache").glob("*.pt"))) == 2
