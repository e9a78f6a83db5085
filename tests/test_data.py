"""The data layer: every format read from small files written here, preprocessing, the cache."""

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan_lib import data as D
from dcgan_lib import datasets as DS
from dcgan_lib.data import load_dataset
from dcgan_lib.datasets import DataError


def _rand_images(n, h=32, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(arr, quality=95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _smooth_images(n, size=32, seed=0):
    """Smooth images survive JPEG almost unchanged (random noise would not)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0, 255, 3)
        img = np.stack([a * xx + (255 - a) * (1 - xx), b * yy + 20, np.full_like(xx, c)], -1)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def _add_bytes(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


# --- formats -------------------------------------------------------------------------------


def test_cifar10_pickle_batches(tmp_path, cache, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    imgs = _rand_images(12)
    labels = list(range(10)) + [3, 4]
    chunks = {f"data_batch_{i}": slice(2 * (i - 1), 2 * i) for i in range(1, 6)}
    for name, sl in chunks.items():
        flat = imgs[sl].transpose(0, 3, 1, 2).reshape(-1, 3072)  # CIFAR stores CHW rows
        with open(folder / name, "wb") as f:
            pickle.dump({"data": flat, "labels": labels[sl]}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(
            {"data": imgs[10:].transpose(0, 3, 1, 2).reshape(-1, 3072), "labels": labels[10:]}, f
        )
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(DS.CIFAR10_CLASSES)}, f)
    # torchvision checks the md5 of the real release files; ours are hand-made
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    train = load_dataset("cifar10", tmp_path, "train", 32, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(train.images, imgs[:10])
    np.testing.assert_array_equal(train.labels, labels[:10])
    assert train.meta["label_names"][0] == "airplane"
    test = load_dataset("cifar10", tmp_path, "test", 32, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(test.images, imgs[10:])


def test_svhn_mat(tmp_path, cache, monkeypatch):
    import scipy.io

    imgs = _rand_images(5, seed=1)
    y = np.array([[10], [1], [2], [10], [9]], dtype=np.uint8)  # SVHN stores digit 0 as 10
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": imgs.transpose(1, 2, 3, 0), "y": y})
    monkeypatch.setattr("torchvision.datasets.svhn.check_integrity", lambda *a, **k: True)
    p = load_dataset("svhn", tmp_path, "train", 32, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(p.images, imgs)
    np.testing.assert_array_equal(p.labels, [0, 1, 2, 0, 9])


def test_lsun_lmdb(tmp_path, cache):
    import lmdb

    imgs = _rand_images(4, 40, 48, seed=2)
    env = lmdb.open(str(tmp_path / "bedroom_train_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, a in enumerate(imgs):
            txn.put(f"{i:040x}".encode(), _png(a))
    env.close()
    p = load_dataset("lsun", tmp_path, "train", 32, cache_dir=cache, progress=False)
    assert p.images.shape == (4, 32, 32, 3) and p.labels is None
    expected = D.min_resize_center_crop(Image.fromarray(imgs[2]), 32)
    np.testing.assert_array_equal(p.images[2], expected)


def test_image_folder_with_and_without_classes(tmp_path, cache):
    imgs = _rand_images(6, seed=3)
    for i, a in enumerate(imgs):
        cls = tmp_path / "folder" / ("cats" if i < 4 else "dogs")
        cls.mkdir(parents=True, exist_ok=True)
        (cls / f"{i}.png").write_bytes(_png(a))
    p = load_dataset(
        "imagefolder", tmp_path / "folder", image_size=32, cache_dir=cache, progress=False
    )
    np.testing.assert_array_equal(p.images, imgs)
    np.testing.assert_array_equal(p.labels, [0, 0, 0, 0, 1, 1])
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, a in enumerate(imgs[:3]):
        (flat / f"{i}.png").write_bytes(_png(a))
    p = load_dataset("imagefolder", flat, image_size=32, cache_dir=cache, progress=False)
    assert len(p) == 3 and p.meta["label_names"] == ["."]


def test_cifar10_jpeg_bundle_tar_gz(tmp_path, cache):
    imgs = _smooth_images(6)
    bundle = tmp_path / "cifar10"
    bundle.mkdir()
    with tarfile.open(bundle / "cifar10-jpg.tar.gz", "w:gz") as tar:
        for i, a in enumerate(imgs):
            split = "train" if i < 4 else "test"
            _add_bytes(tar, f"{split}/{DS.CIFAR10_CLASSES[i]}/{i:04d}.jpg", _jpeg(a))
    p = load_dataset("cifar10", tmp_path, "train", 32, cache_dir=cache, progress=False)
    assert len(p) == 4
    np.testing.assert_array_equal(p.labels, [0, 1, 2, 3])
    assert np.abs(p.images.astype(int) - imgs[:4]).mean() < 3  # JPEG round trip
    assert p.meta["description"].startswith("CIFAR-10 train (JPEG re-encoded copy")
    assert len(load_dataset("cifar10", tmp_path, "test", 32, cache_dir=cache, progress=False)) == 2


def test_celeba_bundle_with_attributes(tmp_path, cache):
    imgs = _smooth_images(3, size=64)[:, :, :48]  # portrait-ish 64x48 (h x w)
    folder = tmp_path / "celeba"
    folder.mkdir()
    with tarfile.open(folder / "celeba-align-89x109-first10k.tar.gz", "w:gz") as tar:
        for i, a in enumerate(imgs):
            _add_bytes(tar, f"celebA/{i + 1:06d}.jpg", _jpeg(a))
    (folder / "list_attr_celeba-first10k.txt").write_text(
        "3\nSmiling Male\n000001.jpg 1 -1\n000002.jpg -1 -1\n000003.jpg  1  1\n"
    )
    p = load_dataset("celeba", tmp_path, image_size=32, cache_dir=cache, progress=False)
    assert p.images.shape == (3, 32, 32, 3)
    assert p.meta["label_names"] == ["Smiling", "Male"]
    np.testing.assert_array_equal(p.labels, [[1, -1], [-1, -1], [1, 1]])


def test_tinyimagenet_part_tars_and_val(tmp_path, cache):
    folder = tmp_path / "tinyimagenet"
    folder.mkdir()
    imgs = _smooth_images(4, size=64)
    for part, wnid in enumerate(["n01", "n02"], start=1):
        with tarfile.open(folder / f"tinyimagenet-train-part{part}-of-4.tar.gz", "w:gz") as tar:
            for j in range(2):
                _add_bytes(
                    tar, f"train/{wnid}/images/{wnid}_{j}.JPEG", _jpeg(imgs[2 * (part - 1) + j])
                )
            _add_bytes(tar, f"train/{wnid}/{wnid}_boxes.txt", b"")
    with tarfile.open(folder / "tinyimagenet-val.tar.gz", "w:gz") as tar:
        _add_bytes(tar, "val/images/val_0.JPEG", _jpeg(imgs[0]))
        _add_bytes(tar, "val/val_annotations_std.txt", b"val_0.JPEG\tn02\t0\t0\t10\t10\n")
        _add_bytes(tar, "val/wnids_std200.txt", b"n01\nn02\n")
    with pytest.warns(UserWarning, match="found 2 of the 4 train parts"):
        p = load_dataset("tinyimagenet", tmp_path, "train", 32, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(p.labels, [0, 0, 1, 1])
    v = load_dataset("tinyimagenet", tmp_path, "val", 32, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(v.labels, [1])


def test_synthetic_twin_has_the_real_shapes():
    p = load_dataset("synthetic", image_size=64, limit=20)
    assert p.images.shape == (20, 64, 64, 3) and p.images.dtype == np.uint8
    assert p.labels.shape == (20,)
    again = load_dataset("synthetic", image_size=64, limit=20)
    np.testing.assert_array_equal(p.images, again.images)


# --- preprocessing -------------------------------------------------------------------------


def test_min_resize_then_center_crop():
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, :20] = [255, 0, 0]  # left third red
    wide[:, 20:40] = [0, 255, 0]  # middle third green
    wide[:, 40:] = [0, 0, 255]
    out = D.min_resize_center_crop(Image.fromarray(wide), 10)  # -> 10x30, crop the middle 10
    assert out.shape == (10, 10, 3)
    assert (out[:, 2:8, 1] > 200).all() and (out[:, 2:8, 0] < 50).all()


@pytest.mark.parametrize(
    "mode,make",
    [
        ("L", lambda: Image.new("L", (16, 16), 128)),
        ("RGBA", lambda: Image.new("RGBA", (16, 16), (10, 20, 30, 0))),
        ("I;16", lambda: Image.fromarray(np.full((16, 16), 65535, np.uint16))),
        ("P", lambda: Image.new("RGB", (16, 16), (200, 0, 0)).convert("P")),
    ],
)
def test_every_mode_becomes_8bit_rgb(mode, make):
    img = make()
    assert img.mode == mode
    out = D.decode(img, 16)
    assert isinstance(out, np.ndarray) and out.shape == (16, 16, 3) and out.dtype == np.uint8
    if mode == "I;16":
        assert out.min() == 255  # full-scale 16-bit white stays white, not clipped garbage
    if mode == "L":
        assert (out == 128).all()


def test_to_float_range_and_round_trip():
    u = torch.from_numpy(_rand_images(4))
    x = D.to_float(u)
    assert x.shape == (4, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert x.min() == -1 or x.max() == 1
    torch.testing.assert_close(D.to_uint8(x), u.permute(0, 3, 1, 2))


def test_epoch_order_is_fixed_by_seed_and_epoch():
    a, b = D.epoch_order(100, 3, seed=1), D.epoch_order(100, 3, seed=1)
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(100))
    assert not torch.equal(a, D.epoch_order(100, 4, seed=1))
    assert not torch.equal(a, D.epoch_order(100, 3, seed=2))


# --- cache and errors ----------------------------------------------------------------------


def _folder(tmp_path, n=5):
    f = tmp_path / "imgs"
    f.mkdir(exist_ok=True)
    for i, a in enumerate(_rand_images(n, seed=9)):
        (f / f"{i}.png").write_bytes(_png(a))
    return f


def test_cache_is_reused_and_rebuilt_when_the_source_changes(tmp_path, cache, monkeypatch):
    f = _folder(tmp_path)
    calls = []
    real = D._build_pack
    monkeypatch.setattr(D, "_build_pack", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    p1 = load_dataset("imagefolder", f, image_size=32, cache_dir=cache, progress=False)
    p2 = load_dataset("imagefolder", f, image_size=32, cache_dir=cache, progress=False)
    assert len(calls) == 1 and isinstance(p2.images, np.memmap)
    np.testing.assert_array_equal(p1.images, p2.images)
    new = _rand_images(1, seed=99)[0]
    (f / "0.png").write_bytes(_png(new))
    os.utime(f / "0.png", ns=(1, 1))  # a different mtime even on coarse clocks
    p3 = load_dataset("imagefolder", f, image_size=32, cache_dir=cache, progress=False)
    assert len(calls) == 2
    np.testing.assert_array_equal(p3.images[0], new)
    load_dataset("imagefolder", f, image_size=64, cache_dir=cache, progress=False)
    assert len(calls) == 3  # another size is another pack


def test_corrupt_and_empty_files_are_skipped_and_listed(tmp_path, cache):
    f = _folder(tmp_path, n=3)
    (f / "empty.png").write_bytes(b"")
    (f / "truncated.jpg").write_bytes(_jpeg(_rand_images(1)[0])[:200])
    (f / "notes.png").write_bytes(b"this is not an image")
    with pytest.warns(UserWarning, match="skipped 3 unreadable images"):
        p = load_dataset("imagefolder", f, image_size=32, cache_dir=cache, progress=False)
    assert len(p) == 3
    reasons = dict(p.skipped)
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert "corrupt or truncated" in reasons["truncated.jpg"]
    assert reasons["notes.png"] == "not an image PIL can read"


def test_clear_errors_for_missing_data(tmp_path, cache, monkeypatch):
    monkeypatch.delenv("DCGAN_DATA", raising=False)
    monkeypatch.setattr("dcgan_lib.datasets.SHARED_DATA", tmp_path / "no-shared-data")
    with pytest.raises(DataError, match="pass --data-root DIR or set DCGAN_DATA"):
        load_dataset("cifar10", None)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(
        DataError, match=r"Expected cifar-10-batches-py/ .*python -m dcgan_lib download cifar10"
    ):
        load_dataset("cifar10", tmp_path, cache_dir=cache)
    with pytest.raises(DataError, match="unknown dataset 'imagenette'"):
        load_dataset("imagenette", tmp_path)
    with pytest.raises(DataError, match="no image files"):
        load_dataset("imagefolder", tmp_path, cache_dir=cache)
    with pytest.raises(DataError, match="LSUN project's download.py"):
        load_dataset("lsun", tmp_path, cache_dir=cache)
    with pytest.raises(DataError, match="not obtainable on the project's own machines"):
        load_dataset("svhn", tmp_path, cache_dir=cache)


def test_one_data_root_rule_for_the_command_line_and_the_book(tmp_path, monkeypatch):
    from dcgan_lib import book
    from dcgan_lib.datasets import default_data_root, resolve_data_root

    shared, env, given = tmp_path / "shared", tmp_path / "env", tmp_path / "given"
    for d in (shared, env, given):
        d.mkdir()
    monkeypatch.setattr("dcgan_lib.datasets.SHARED_DATA", shared)
    monkeypatch.delenv("DCGAN_DATA", raising=False)
    assert default_data_root() == book.data_root() == resolve_data_root(None) == shared
    monkeypatch.setenv("DCGAN_DATA", str(env))
    assert default_data_root() == book.data_root() == resolve_data_root(None) == env
    assert default_data_root(given) == resolve_data_root(str(given)) == given
    monkeypatch.delenv("DCGAN_DATA")
    shared.rmdir()
    assert default_data_root() is None and book.data_root() is None


def test_damaged_archive_is_named(tmp_path, cache):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w:gz") as tar:
        for i in range(50):
            _add_bytes(tar, f"train/cat/{i:04d}.jpg", _jpeg(_rand_images(1, seed=i)[0]))
    (folder / "cifar10-jpg.tar.gz").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    with pytest.raises(DataError, match=r"cifar10-jpg.tar.gz is damaged .*sha256sum -c"):
        load_dataset("cifar10", tmp_path, cache_dir=cache, progress=False)
    assert not any(Path(cache).glob("*.u8"))  # no half-built pack left behind


def test_unwritable_cache_dir_says_what_to_do(tmp_path):
    f = _folder(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text(
        ""
    )  # the cache path runs through a file: no one can create it, root included
    with pytest.raises(DataError, match=r"cannot write the packed-image cache .* DCGAN_CACHE"):
        load_dataset("imagefolder", f, image_size=32, cache_dir=blocker / "c", progress=False)


def test_keep_list_selects_by_name(tmp_path, cache):
    f = _folder(tmp_path, n=5)
    p = load_dataset("imagefolder", f, image_size=32, cache_dir=cache, progress=False)
    keep = tmp_path / "keep.txt"
    keep.write_text("1.png\n3.png\n")
    idx = D.read_keep_list(keep, p)
    assert [p.names[i] for i in idx] == ["1.png", "3.png"]
    keep.write_text("zzz.png\n")
    with pytest.raises(DataError, match="names none"):
        D.read_keep_list(keep, p)
