"""Tiny copies of the project's real data bundles, in their real formats (tar.gz of JPEGs), for
tests that need a data root: CelebA-10k, the CIFAR-10 JPEG copy, Tiny ImageNet's parts."""

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan_lib.datasets import CIFAR10_CLASSES


def jpeg(arr: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour ramps with a little noise: JPEG keeps them recognisable."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        a, b, c = rng.uniform(0, 255, 3)
        img = np.stack([a * xx / w + (255 - a) * (1 - xx / w), b * yy / h + 20, c + 0 * xx], -1)
        out[i] = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    return out


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def celeba(root: Path, n: int = 40, broken: bool = False) -> Path:
    """celeba/celeba-align-89x109-first10k.tar.gz with n 89x109 JPEGs (and one unreadable
    file when ``broken``)."""
    folder = root / "celeba"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "celeba-align-89x109-first10k.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i, a in enumerate(images(n, 109, 89, seed=1)):
            _add(tar, f"celebA/{i + 1:06d}.jpg", jpeg(a))
        if broken:
            _add(tar, f"celebA/{n + 1:06d}.jpg", b"not a jpeg")
    return path


def cifar10(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    """cifar10/cifar10-jpg.tar.gz: train/<class>/NNNN.jpg and test/<class>/NNNN.jpg, 32x32."""
    folder = root / "cifar10"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cifar10-jpg.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split, n, seed in (("train", n_train, 2), ("test", n_test, 3)):
            for i, a in enumerate(images(n, 32, 32, seed)):
                _add(tar, f"{split}/{CIFAR10_CLASSES[i % 10]}/{i:04d}.jpg", jpeg(a))
    return path


def tinyimagenet(root: Path, per_class: int = 10, n_val: int = 20) -> Path:
    """tinyimagenet/tinyimagenet-train-part{1..4}-of-4.tar.gz (one class each) and the val tar."""
    folder = root / "tinyimagenet"
    folder.mkdir(parents=True, exist_ok=True)
    wnids = [f"n0{k}" for k in range(4)]
    for part, wnid in enumerate(wnids, start=1):
        with tarfile.open(folder / f"tinyimagenet-train-part{part}-of-4.tar.gz", "w:gz") as tar:
            for j, a in enumerate(images(per_class, 64, 64, seed=10 + part)):
                _add(tar, f"train/{wnid}/images/{wnid}_{j}.JPEG", jpeg(a))
    ann = []
    with tarfile.open(folder / "tinyimagenet-val.tar.gz", "w:gz") as tar:
        for j, a in enumerate(images(n_val, 64, 64, seed=20)):
            _add(tar, f"val/images/val_{j}.JPEG", jpeg(a))
            ann.append(f"val_{j}.JPEG\t{wnids[j % 4]}\t0\t0\t10\t10\n")
        _add(tar, "val/val_annotations_std.txt", "".join(ann).encode())
        _add(tar, "val/wnids_std200.txt", ("\n".join(wnids) + "\n").encode())
    return folder
