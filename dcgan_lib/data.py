"""Datasets by name, with the paper's preprocessing, decoded once into a packed uint8 cache.

Paper §4: "No pre-processing was applied to training images besides scaling to the range of the
tanh activation function [-1, 1]"; ImageNet-1k at 32x32 uses "min-resized center crops". Every
dataset here is min-resized (shorter side to ``image_size``) and center-cropped, then stored as
uint8 (N, S, S, 3) in a memory-mapped file, so training never decodes a JPEG per step. Scaling to
[-1, 1] happens on the batch (``to_float``).

Sources (``DATASETS``), each read where the official tools put it or from this project's bundles:

=============  =====================================================================
cifar10        ``cifar-10-batches-py/`` (torchvision CIFAR10) or ``cifar10-jpg.tar.gz``
svhn           ``train_32x32.mat`` / ``test_32x32.mat`` (torchvision SVHN)
lsun           ``<category>_<split>_lmdb/`` (the LSUN lmdb format), default bedroom
celeba         ``img_align_celeba/`` (+ ``list_attr_celeba.txt``) or the 10k bundle tar
tinyimagenet   ``tiny-imagenet-200/`` or the four train part tars + the val tar
imagefolder    any folder of images, class subfolders optional (torchvision's layout)
synthetic      procedurally drawn shapes, the same shapes as the real sets (smoke runs)
=============  =====================================================================
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import multiprocessing
import os
import tarfile
import warnings
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

PACK_VERSION = 1  # bump when the preprocessing changes: every cache is rebuilt
IMG_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MIN_SIDE = 8  # images whose shorter side is below this are skipped as unusable
# Decoding into the cache: a set of at least this many images is decoded by a pool of processes
# (one per core; PIL's decode and resize then run truly in parallel), a smaller one by threads.
# The cache is byte-identical either way (the same ``decode`` on the same bytes, in order). No GPU
# JPEG decoder (torchvision.io.decode_jpeg on CUDA): nvJPEG's IDCT and upsampling differ from
# libjpeg's in the last bits, so its cache could not be byte-identical to PIL's.
DECODE_PROCESSES_MIN = 2048
DECODERS = ("auto", "serial", "threads", "processes")


class DataError(RuntimeError):
    """Data that is missing or unusable; the message says what was expected where and what to do."""


# ---------------------------------------------------------------------------------------------
# Decoding and the paper's preprocessing


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB (greyscale replicated, alpha dropped, 16-bit scaled)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def min_resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """PIL image -> (size, size, 3) uint8: shorter side resized to size, then center crop."""
    import torchvision.transforms.functional as TF

    img = TF.resize(to_rgb(img), size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    img = TF.center_crop(img, [size, size])
    return np.asarray(img, dtype=np.uint8)


def decode(data: bytes | Image.Image | np.ndarray, size: int) -> np.ndarray | str:
    """Encoded bytes (or a PIL image or HWC uint8 array) -> (size, size, 3) uint8, or a reason."""
    try:
        if isinstance(data, np.ndarray):
            img = Image.fromarray(data)
        elif isinstance(data, Image.Image):
            img = data
        else:
            if len(data) == 0:
                return "empty file (0 bytes)"
            img = Image.open(io.BytesIO(data))
            img.load()  # decode fully here, so truncated files fail now
        if min(img.size) < MIN_SIDE:
            return f"too small ({img.size[0]}x{img.size[1]} px, need at least {MIN_SIDE})"
        return min_resize_center_crop(img, size)
    except UnidentifiedImageError:
        return "not an image PIL can read"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        return f"corrupt or truncated image ({type(e).__name__}: {e})"


# ---------------------------------------------------------------------------------------------
# Sources: each yields (name, encoded bytes or array, label) and has a fingerprint


@dataclass
class Source:
    """Where a dataset's images come from, and what identifies this exact copy of them."""

    dataset: str
    items: Iterable[tuple[str, object, object]]  # (name, data, label)
    fingerprint: list  # (path, size, mtime_ns) entries; a change rebuilds the cache
    total: int | None = None
    label_names: list[str] | None = None
    labels_kind: str = "class"  # "class": int per image; "attributes": int8 vector per image
    description: str = ""


def _stat(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _folder_fingerprint(paths: Iterable[Path], base: Path) -> list:
    """(path relative to base, size, mtime_ns) per file: a changed file rebuilds the cache."""
    out = []
    for p in paths:
        st = p.stat()
        out.append([str(p.relative_to(base)), st.st_size, st.st_mtime_ns])
    return out


FAST_TAR_MAX_BYTES = 512 * 2**20  # archives up to this size are read by ``_fast_tar_members``


def _damaged(path: Path, e: BaseException) -> DataError:
    return DataError(
        f"the archive {path} is damaged ({type(e).__name__}: {e}). Check it against its "
        "SHA256SUMS (sha256sum -c SHA256SUMS) and copy or download it again."
    )


def _fast_tar_members(path: Path) -> Iterator[tuple[str, bytes]] | None:
    """(name, bytes) of each regular file of a plain or gzipped ustar archive, in archive order:
    the whole file decompressed at once in C, then the 512-byte headers read directly (about 20x
    faster than ``tarfile`` per member: what makes the reading keep up with a decode on many
    cores). ``None`` for what this reader does not handle (pax or GNU extended headers, bzip2,
    xz, several gzip members, large numeric fields, over ``FAST_TAR_MAX_BYTES``): ``tarfile``
    reads those. The same names and bytes as ``tarfile``, checksums checked."""
    if path.stat().st_size > FAST_TAR_MAX_BYTES:
        return None
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(47)  # gzip
        try:
            buf = d.decompress(raw)
        except zlib.error as e:
            raise _damaged(path, e) from e
        if not d.eof:
            raise _damaged(path, EOFError("compressed file ended before the end-of-stream marker"))
        if d.unused_data.strip(b"\0"):
            return None  # several gzip members
    elif raw[257:262] == b"ustar":
        buf = raw
    else:
        return None  # bzip2, xz, an old tar: tarfile
    members = []
    pos, end = 0, len(buf)
    while pos + 512 <= end:
        hdr = buf[pos : pos + 512]
        if hdr.count(0) == 512:
            break  # end of archive
        if hdr[257:262] != b"ustar" or hdr[124] & 0x80:
            return None
        if sum(hdr[:148]) + 256 + sum(hdr[156:]) != int(hdr[148:156].strip(b"\0 ") or b"0", 8):
            return None  # a bad checksum: tarfile says what is wrong
        kind = hdr[156:157]
        if kind not in (b"0", b"\0", b"1", b"2", b"5", b"7"):
            return None  # pax, GNU long names, sparse files...
        name = hdr[:100].split(b"\0", 1)[0]
        prefix = hdr[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
        size = int(hdr[124:136].strip(b"\0 ") or b"0", 8) if kind in (b"0", b"\0", b"7") else 0
        if pos + 512 + size > end:
            raise _damaged(path, EOFError("unexpected end of data"))
        if kind != b"\0" or not name.endswith(b"/"):  # "\0" with a trailing "/" is a folder
            if kind in (b"0", b"\0", b"7"):
                text = name.decode("utf-8", "surrogateescape")
                members.append((text, pos + 512, size))
        pos += 512 + -(-size // 512) * 512
    return ((name, buf[start : start + size]) for name, start, size in members)


def _tar_items(path: Path, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) for the image files in a tar(.gz), in archive order."""
    fast = _fast_tar_members(path)
    if fast is not None:
        for name, data in fast:
            if name.lower().endswith(IMG_EXTS) and name.startswith(prefix):
                yield name, data
        return
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                if m.isfile() and m.name.lower().endswith(IMG_EXTS) and m.name.startswith(prefix):
                    f = tar.extractfile(m)
                    yield m.name, (f.read() if f is not None else b"")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(
            f"the archive {path} is damaged ({type(e).__name__}: {e}). Check it against its "
            "SHA256SUMS (sha256sum -c SHA256SUMS) and copy or download it again."
        ) from e


def _read_tar_text(path: Path, member_suffix: str) -> str:
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                if m.isfile() and m.name.endswith(member_suffix):
                    f = tar.extractfile(m)
                    return f.read().decode() if f is not None else ""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"the archive {path} is damaged ({e}); copy or download it again") from e
    raise DataError(f"{path} holds no file ending in {member_suffix!r}")


def _file_items(
    files: list[tuple[Path, object]], base: Path
) -> Iterator[tuple[str, bytes, object]]:
    for p, label in files:
        try:
            data = p.read_bytes()
        except OSError as e:
            data = f"unreadable file ({e})"  # reported as skipped, with the reason
        yield str(p.relative_to(base)), data, label


def _first(root: Path, *candidates: str) -> Path | None:
    for c in candidates:
        if (root / c).exists():
            return root / c
    return None


def _missing(dataset: str, root: Path, expected: str, how: str) -> DataError:
    return DataError(f"dataset {dataset!r}: nothing found under {root}. Expected {expected}. {how}")


def _source_cifar10(root: Path, split: str) -> Source:
    if split not in ("train", "test"):
        raise DataError(f"cifar10 has splits 'train' and 'test', not {split!r}")
    batches = _first(root, "cifar-10-batches-py", "cifar10/cifar-10-batches-py")
    if batches is not None:
        from torchvision.datasets import CIFAR10

        try:
            ds = CIFAR10(str(batches.parent), train=split == "train", download=False)
        except RuntimeError as e:
            raise DataError(
                f"cifar10: {batches} is incomplete or corrupted ({e}). Delete it and run "
                f"`python -m dcgan_lib download cifar10 --data-root {root}`."
            ) from e
        files = ds.train_list if split == "train" else ds.test_list
        return Source(
            "cifar10",
            (
                (f"{split}/{i:05d}", img, int(t))
                for i, (img, t) in enumerate(zip(ds.data, ds.targets, strict=True))
            ),
            [_stat(batches / f) for f, _ in files],
            total=len(ds),
            label_names=list(ds.classes),
            description=f"CIFAR-10 {split} (torchvision pickle batches at {batches})",
        )
    tar = _first(root, "cifar10/cifar10-jpg.tar.gz", "cifar10-jpg.tar.gz")
    if tar is not None:
        index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}

        def items() -> Iterator[tuple[str, bytes, int]]:
            for name, data in _tar_items(tar, prefix=f"{split}/"):
                cls = name.split("/")[1]
                if cls not in index:
                    raise DataError(f"{tar}: unexpected class folder {cls!r} in {name}")
                yield name, data, index[cls]

        return Source(
            "cifar10",
            items(),
            [_stat(tar)],
            total=50000 if split == "train" else 10000,
            label_names=list(CIFAR10_CLASSES),
            description=f"CIFAR-10 {split} (JPEG re-encoded copy, {tar.name})",
        )
    raise _missing(
        "cifar10",
        root,
        "cifar-10-batches-py/ (torchvision) or cifar10/cifar10-jpg.tar.gz",
        f"Run `python -m dcgan_lib download cifar10 --data-root {root}` where the internet is "
        "reachable, or point --data-root / DCGAN_DATA at a folder that has it.",
    )


def _source_svhn(root: Path, split: str) -> Source:
    if split not in ("train", "test", "extra"):
        raise DataError(f"svhn has splits 'train', 'test' and 'extra', not {split!r}")
    folder = _first(root, f"{split}_32x32.mat", f"svhn/{split}_32x32.mat")
    if folder is None:
        raise _missing(
            "svhn",
            root,
            f"{split}_32x32.mat (the format torchvision's SVHN reads)",
            f"Run `python -m dcgan_lib download svhn --data-root {root}` where the internet is "
            "reachable (SVHN is not obtainable on the project's own machines).",
        )
    from torchvision.datasets import SVHN

    try:
        ds = SVHN(str(folder.parent), split=split, download=False)
    except (RuntimeError, ValueError, OSError) as e:
        raise DataError(
            f"svhn: {folder} is not a readable SVHN .mat file ({e}); download it again"
        ) from e
    imgs = ds.data.transpose(0, 2, 3, 1)  # (N, 3, 32, 32) -> HWC; labels: '10' already mapped to 0
    return Source(
        "svhn",
        (
            (f"{split}/{i:06d}", np.ascontiguousarray(imgs[i]), int(ds.labels[i]))
            for i in range(len(ds))
        ),
        [_stat(folder)],
        total=len(ds),
        label_names=[str(i) for i in range(10)],
        description=f"SVHN {split} ({folder.name})",
    )


def _source_lsun(root: Path, split: str, category: str = "bedroom") -> Source:
    name = f"{category}_{split}_lmdb"
    db = _first(root, name, f"lsun/{name}")
    if db is None:
        raise _missing(
            "lsun",
            root,
            f"the folder {name}/ (data.mdb + lock.mdb)",
            "Get it with the LSUN project's download.py (`python download.py -c bedroom`), unzip "
            "it there, and pass that folder's parent as --data-root.",
        )
    import lmdb

    try:
        env = lmdb.open(
            str(db), readonly=True, lock=False, readahead=False, meminit=False, max_readers=1
        )
    except lmdb.Error as e:
        raise DataError(
            f"lsun: {db} is not an lmdb database ({e}); unzip the LSUN download again"
        ) from e

    def items() -> Iterator[tuple[str, bytes, None]]:
        # read the keys in order from the cursor (what torchvision's LSUNClass does, without its
        # key-cache pickle written to the working directory)
        with env.begin(write=False) as txn:
            for key, value in txn.cursor():
                yield key.decode(errors="replace"), bytes(value), None
        env.close()

    with env.begin(write=False) as txn:
        total = txn.stat()["entries"]
    files = [p for p in sorted(db.iterdir()) if p.is_file()]
    return Source(
        "lsun",
        items(),
        [_stat(p) for p in files],
        total=total,
        labels_kind="none",
        description=f"LSUN {category} {split} ({db})",
    )


def _parse_celeba_attributes(text: str, source: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """The official list_attr_celeba.txt format: count, names, then 'file v1 ... v40' (1 / -1)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    try:
        names = lines[1].split()
        table = {}
        for ln in lines[2:]:
            parts = ln.split()
            table[parts[0]] = np.array([int(v) for v in parts[1:]], dtype=np.int8)
            if len(table[parts[0]]) != len(names):
                raise ValueError(f"line for {parts[0]} has {len(parts) - 1} values")
    except (IndexError, ValueError) as e:
        raise DataError(f"{source} is not in the CelebA attribute format ({e})") from e
    return names, table


def _source_celeba(root: Path, split: str) -> Source:
    folder = _first(root, "celeba/img_align_celeba", "img_align_celeba")
    tar = _first(
        root, "celeba/celeba-align-89x109-first10k.tar.gz", "celeba-align-89x109-first10k.tar.gz"
    )
    attr_path = _first(
        root,
        "celeba/list_attr_celeba.txt",
        "list_attr_celeba.txt",
        "celeba/list_attr_celeba-first10k.txt",
        "list_attr_celeba-first10k.txt",
    )
    names, table = (None, {})
    if attr_path is not None:
        names, table = _parse_celeba_attributes(attr_path.read_text(), str(attr_path))
    attrs = (
        (lambda n: table.get(Path(n).name, np.zeros(len(names), np.int8)))
        if names
        else (lambda n: None)
    )
    # the GAN is unsupervised: every image is used whatever the split name
    if folder is not None:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMG_EXTS)
        items = ((n, d, attrs(n)) for n, d, _ in _file_items([(p, None) for p in files], folder))
        fp = _folder_fingerprint(files, folder)
        desc = f"CelebA aligned ({folder})"
        total = len(files)
    elif tar is not None:
        items = ((n, d, attrs(n)) for n, d in _tar_items(tar))
        fp, desc, total = [_stat(tar)], "CelebA-10k (first 10,000 aligned images, 89x109)", 10000
    else:
        raise _missing(
            "celeba",
            root,
            "celeba/img_align_celeba/ or celeba/celeba-align-89x109-first10k.tar.gz",
            f"Run `python -m dcgan_lib download celeba --data-root {root}` (torchvision; Google "
            "Drive quotas often refuse it: then download img_align_celeba.zip by hand and unzip it "
            "under celeba/).",
        )
    if attr_path is not None:
        fp.append(_stat(attr_path))
    return Source(
        "celeba",
        items,
        fp,
        total=total,
        label_names=names,
        labels_kind="attributes" if names else "none",
        description=desc,
    )


def _source_tinyimagenet(root: Path, split: str) -> Source:
    if split not in ("train", "val"):
        raise DataError(f"tinyimagenet has splits 'train' and 'val', not {split!r}")
    folder = _first(root, "tiny-imagenet-200", "tinyimagenet/tiny-imagenet-200")
    bundle = _first(root, "tinyimagenet", ".")
    parts = sorted(bundle.glob("tinyimagenet-train-part*-of-4.tar.gz")) if bundle else []
    val_tar = bundle / "tinyimagenet-val.tar.gz" if bundle else None
    if folder is not None:
        wnids = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
        index = {w: i for i, w in enumerate(wnids)}
        if split == "train":
            files = [
                (p, index[p.parent.parent.name])
                for p in sorted((folder / "train").glob("*/images/*"))
                if p.suffix.lower() in IMG_EXTS
            ]
        else:
            ann = dict(
                ln.split("\t")[:2]
                for ln in (folder / "val/val_annotations.txt").read_text().splitlines()
                if ln
            )
            files = [(folder / "val/images" / f, index[w]) for f, w in sorted(ann.items())]
        return Source(
            "tinyimagenet",
            _file_items(files, folder),
            _folder_fingerprint((p for p, _ in files), folder),
            total=len(files),
            label_names=wnids,
            description=f"Tiny ImageNet {split} ({folder})",
        )
    if split == "train" and parts:
        if len(parts) != 4:
            warnings.warn(
                f"tinyimagenet: found {len(parts)} of the 4 train parts in {bundle}; using those",
                stacklevel=2,
            )
        wnids = sorted({n.split("/")[1] for p in parts for n in _tar_names(p)})
        index = {w: i for i, w in enumerate(wnids)}
        items = (
            (n, d, index[n.split("/")[1]]) for p in parts for n, d in _tar_items(p, prefix="train/")
        )
        return Source(
            "tinyimagenet",
            items,
            [_stat(p) for p in parts],
            total=500 * len(wnids),
            label_names=wnids,
            description=f"Tiny ImageNet train ({len(parts)} of 4 parts)",
        )
    if split == "val" and val_tar is not None and val_tar.exists():
        wnids = _read_tar_text(val_tar, "wnids_std200.txt").split()
        index = {w: i for i, w in enumerate(sorted(wnids))}
        ann = dict(
            ln.split()[:2]
            for ln in _read_tar_text(val_tar, "val_annotations_std.txt").splitlines()
            if ln.strip()
        )
        items = (
            (n, d, index[ann[Path(n).name]]) for n, d in _tar_items(val_tar, prefix="val/images/")
        )
        return Source(
            "tinyimagenet",
            items,
            [_stat(val_tar)],
            total=len(ann),
            label_names=sorted(wnids),
            description="Tiny ImageNet val",
        )
    raise _missing(
        "tinyimagenet",
        root,
        "tiny-imagenet-200/ (the CS231n zip, unzipped) or tinyimagenet/tinyimagenet-train-part{1..4}-of-4.tar.gz "
        "and tinyimagenet-val.tar.gz",
        f"Run `python -m dcgan_lib download tinyimagenet --data-root {root}` where the internet is reachable.",
    )


def _tar_names(path: Path) -> list[str]:
    try:
        with tarfile.open(path, "r:*") as tar:
            return [m.name for m in tar if m.isfile() and m.name.lower().endswith(IMG_EXTS)]
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"the archive {path} is damaged ({e}); copy or download it again") from e


def _source_imagefolder(root: Path, split: str) -> Source:
    from torchvision.datasets.folder import find_classes, make_dataset

    if not root.is_dir():
        raise DataError(
            f"imagefolder: {root} is not a folder. Pass the folder of images as --data-root."
        )
    try:
        classes, class_to_idx = find_classes(str(root))
        samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTS, allow_empty=True)
    except FileNotFoundError:
        classes, samples = [], []
    if not samples:  # no class subfolders with images: the folder itself holds the images
        classes = ["."]
        samples = [(str(p), 0) for p in sorted(root.iterdir()) if p.suffix.lower() in IMG_EXTS]
    if not samples:
        raise DataError(
            f"imagefolder: no image files ({', '.join(IMG_EXTS)}) in {root} or its class subfolders. "
            "Put the images there (root/<class>/<image>.jpg or root/<image>.jpg)."
        )
    files = [(Path(p), t) for p, t in samples]
    empty = sorted(set(classes) - {classes[t] for _, t in files})
    if empty:
        warnings.warn(
            f"imagefolder: class folders without images in {root}: {empty} "
            "(kept as labels with no images)",
            stacklevel=3,
        )
    return Source(
        "imagefolder",
        _file_items(files, root),
        _folder_fingerprint((p for p, _ in files), root),
        total=len(files),
        label_names=classes,
        description=f"image folder {root}",
    )


def synthetic_images(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size, 3) uint8 images of one coloured disc or square on a gradient, and labels
    (0-9: shape x colour). Same shapes and dtype as the real sets; for smoke runs and tests."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    palette = np.array(
        [[230, 60, 60], [60, 200, 80], [70, 90, 230], [240, 200, 40], [200, 80, 220]]
    )
    images = np.empty((n, size, size, 3), np.uint8)
    labels = rng.integers(0, 10, n)
    for i in range(n):
        bg = rng.uniform(0, 120, 3)[None, None] + 60 * np.stack([xx, yy, 1 - xx], -1)
        cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.25)
        shape = (
            ((xx - cx) ** 2 + (yy - cy) ** 2 < r**2)
            if labels[i] < 5
            else ((abs(xx - cx) < r) & (abs(yy - cy) < r))
        )
        img = np.where(shape[..., None], palette[labels[i] % 5], bg)
        images[i] = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def _source_synthetic(root: Path | None, split: str, n: int = 1024) -> Source:
    offset = 0 if split == "train" else 1
    # images are drawn in load_dataset (no files); this source only names them
    return Source(
        "synthetic",
        (),
        [["synthetic", n, offset]],
        total=n,
        label_names=[str(i) for i in range(10)],
        description="synthetic shapes",
    )


DATASETS = {
    "cifar10": _source_cifar10,
    "svhn": _source_svhn,
    "lsun": _source_lsun,
    "celeba": _source_celeba,
    "tinyimagenet": _source_tinyimagenet,
    "imagefolder": _source_imagefolder,
    "synthetic": _source_synthetic,
}


# ---------------------------------------------------------------------------------------------
# The packed cache


@dataclass
class Packed:
    """A decoded dataset: images (N, S, S, 3) uint8 (memory-mapped), labels, names, metadata."""

    images: np.ndarray
    labels: np.ndarray | None
    names: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [tuple(x) for x in self.meta.get("skipped", [])]

    def subset(self, idx: np.ndarray) -> Packed:
        idx = np.asarray(idx, dtype=np.int64)
        return Packed(
            self.images[idx],
            None if self.labels is None else self.labels[idx],
            [self.names[i] for i in idx],
            dict(self.meta, n=len(idx)),
        )


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    root = data_root if data_root is not None else os.environ.get("DCGAN_DATA")
    if not root:
        raise DataError(
            "no data root: pass --data-root DIR or set DCGAN_DATA=DIR (for example "
            "DCGAN_DATA=../shared/data, or a folder where `python -m dcgan_lib download` put data)."
        )
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(
            f"the data root {path} does not exist. Create it, or pass the folder that "
            "holds the datasets as --data-root / DCGAN_DATA."
        )
    return path


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("DCGAN_CACHE"):
        return Path(os.environ["DCGAN_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dcgan_lib"


def _cache_key(dataset: str, split: str, size: int, limit: int | None, fingerprint: list) -> str:
    blob = json.dumps([PACK_VERSION, dataset, split, size, limit, fingerprint], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _open_pack(base: Path) -> Packed | None:
    meta_path = base.with_suffix(".json")
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        shape = tuple(meta["shape"])
        images = (
            np.memmap(base.with_suffix(".u8"), dtype=np.uint8, mode="r", shape=shape)
            if shape[0]
            else np.zeros(shape, np.uint8)
        )
        labels = np.load(base.with_suffix(".labels.npy")) if meta.get("has_labels") else None
        names = base.with_suffix(".names.txt").read_text().splitlines()
    except (OSError, ValueError, KeyError) as e:
        warnings.warn(f"the cache {base} is unreadable ({e}); rebuilding it", stacklevel=3)
        return None
    if len(names) != shape[0]:
        return None
    return Packed(images, labels, names, meta)


def _check_writable(cache: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = cache / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DataError(
            f"cannot write the packed-image cache in {cache} ({e.strerror}). Pass --cache-dir or set "
            "DCGAN_CACHE to a writable folder (the data root itself may stay read-only)."
        ) from e


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    image_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = True,
    workers: int | None = None,
    decoder: str = "auto",
) -> Packed:
    """Dataset ``name`` as a ``Packed`` uint8 array (N, S, S, 3), decoded once and cached.

    ``decoder`` / ``workers``: how the first call decodes (``decode_executor``: a process per
    core for large sets); the cache is byte-identical whichever decodes it.

    The cache key holds the source's sizes and modification times: a changed source rebuilds it.
    Unreadable images are skipped and listed in ``Packed.skipped`` (name, reason). Paper: §4.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if name == "synthetic":
        n = limit or 1024
        images, labels = synthetic_images(n, image_size, seed=0 if split == "train" else 1)
        return Packed(
            images,
            labels,
            [f"synthetic/{i:05d}" for i in range(n)],
            {
                "dataset": "synthetic",
                "split": split,
                "image_size": image_size,
                "n": n,
                "shape": list(images.shape),
                "description": "synthetic shapes",
                "skipped": [],
            },
        )
    source = DATASETS[name](resolve_data_root(root), split)
    key = _cache_key(name, split, image_size, limit, source.fingerprint)
    cache = default_cache_dir(cache_dir)
    base = cache / f"{name}-{split}-{image_size}px-{key}"
    packed = _open_pack(base)
    if packed is not None:
        return packed
    _check_writable(cache)
    with open(cache / f".{base.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent runs: one builds, the others wait and reuse
        packed = _open_pack(base)
        if packed is None:
            _build_pack(source, base, image_size, limit, progress, workers, decoder)
            packed = _open_pack(base)
    if packed is None:
        raise DataError(f"the cache {base} could not be read back after building it")
    return packed


def _process_context() -> multiprocessing.context.BaseContext:
    """fork where it exists (as torch's DataLoader does: the workers only run PIL, never CUDA or
    OpenMP, and the caller's script is not re-imported), spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def decode_executor(decoder: str, workers: int | None, total: int | None) -> Executor | None:
    """The pool that decodes a dataset into its cache: ``None`` (decode in this thread),
    threads, or processes (``auto``: processes on several cores for a set of at least
    ``DECODE_PROCESSES_MIN`` images, else threads)."""
    if decoder not in DECODERS:
        raise DataError(f"unknown decoder {decoder!r}; choose one of {DECODERS}")
    cores = os.cpu_count() or 1
    if decoder == "auto":
        big = total is None or total >= DECODE_PROCESSES_MIN
        decoder = "processes" if big and cores > 1 and (workers or cores) > 1 else "threads"
    if decoder == "serial":
        return None
    if decoder == "processes":
        return ProcessPoolExecutor(workers or cores, mp_context=_process_context())
    return ThreadPoolExecutor(workers or min(8, cores))


def decode_many(
    pool: Executor | None, datas: list[object], size: int
) -> Iterator[np.ndarray | str]:
    """``decode`` of each item, in order, on ``pool`` (or here when it is None). With a pool the
    work is submitted now and the results come as they are read: the caller reads its next chunk
    of the archive meanwhile."""
    fn = functools.partial(decode, size=size)
    if pool is None:
        return (fn(d) for d in datas)
    if not isinstance(pool, ProcessPoolExecutor):
        return pool.map(fn, datas)
    with warnings.catch_warnings():  # Python >= 3.12 warns on every fork of a threaded process
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        return pool.map(fn, datas, chunksize=64)


def _build_pack(
    source: Source,
    base: Path,
    size: int,
    limit: int | None,
    progress: bool,
    workers: int | None,
    decoder: str = "auto",
) -> None:
    tmp = base.parent / f"{base.name}.{os.getpid()}.tmp"
    names: list[str] = []
    labels: list[object] = []
    skipped: list[tuple[str, str]] = []
    total = min(source.total, limit) if source.total and limit else (limit or source.total)
    pool = decode_executor(decoder, workers, total)
    per_flush = 4096 if isinstance(pool, ProcessPoolExecutor) else 512
    bar = tqdm(
        total=total,
        desc=f"decoding {source.dataset} -> {size}px cache",
        unit="img",
        disable=not progress,
    )
    try:
        with open(tmp, "wb") as out, pool or contextlib.nullcontext():
            chunk: list[tuple[str, object, object]] = []
            pending: list = []  # [(chunk, its decodes)]: one chunk decodes while the next is read

            def flush() -> None:
                done, decoded = pending.pop()
                for (n, _, lab), img in zip(done, decoded, strict=True):
                    if isinstance(img, str):
                        skipped.append((n, img))
                    else:
                        out.write(img.tobytes())
                        names.append(n)
                        labels.append(lab)
                bar.update(len(done))

            def submit() -> None:
                nonlocal chunk
                started = (chunk, decode_many(pool, [it[1] for it in chunk], size))
                if pending:
                    flush()
                pending.append(started)
                chunk = []

            for item in source.items:
                if isinstance(item[1], str):  # unreadable file: its reason
                    skipped.append((item[0], item[1]))
                    continue
                chunk.append(item)
                if len(chunk) >= per_flush:
                    submit()
                in_flight = sum(len(c) for c, _ in pending)
                if limit is not None and len(names) + in_flight + len(chunk) >= limit:
                    break
            submit()
            flush()
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        bar.close()
        tmp.unlink(missing_ok=True)
        raise
    bar.close()
    if not names:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"dataset {source.dataset!r} ({source.description}): no usable image was found"
            + (
                f"; {len(skipped)} files were unreadable, e.g. {skipped[0][0]}: {skipped[0][1]}"
                if skipped
                else ""
            )
        )
    if limit is not None:
        names, labels = names[:limit], labels[:limit]
        with open(tmp, "r+b") as f:
            f.truncate(len(names) * size * size * 3)
    has_labels = any(lab is not None for lab in labels)
    if has_labels:
        arr = np.stack([np.asarray(lab) for lab in labels])
        np.save(base.with_suffix(".labels.npy.tmp.npy"), arr)
        os.replace(base.with_suffix(".labels.npy.tmp.npy"), base.with_suffix(".labels.npy"))
    base.with_suffix(".names.txt").write_text("\n".join(names) + "\n")
    os.replace(tmp, base.with_suffix(".u8"))
    meta = {
        "dataset": source.dataset,
        "description": source.description,
        "image_size": size,
        "n": len(names),
        "shape": [len(names), size, size, 3],
        "has_labels": has_labels,
        "labels_kind": source.labels_kind if has_labels else "none",
        "label_names": source.label_names,
        "skipped": skipped,
        "pack_version": PACK_VERSION,
    }
    meta_tmp = base.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps(meta, indent=1))
    os.replace(
        meta_tmp, base.with_suffix(".json")
    )  # written last: its presence marks a complete pack
    if skipped:
        warnings.warn(
            f"{source.dataset}: skipped {len(skipped)} unreadable images "
            f"(first: {skipped[0][0]}: {skipped[0][1]})",
            stacklevel=3,
        )


def read_keep_list(path: str | os.PathLike, packed: Packed) -> np.ndarray:
    """Indices of ``packed`` whose names are listed (one per line) in a keep-list file."""
    keep = {ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()}
    idx = np.array([i for i, n in enumerate(packed.names) if n in keep], dtype=np.int64)
    if len(idx) == 0:
        raise DataError(
            f"the keep list {path} names none of the {len(packed)} images of this dataset"
        )
    return idx


# ---------------------------------------------------------------------------------------------
# Batches


def to_float(batch_uint8: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float in [-1, 1] (paper §4: scaled to tanh's range)."""
    return batch_uint8.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) in [-1, 1] -> (B, 3, S, S) uint8."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def epoch_order(n: int, epoch: int, seed: int) -> torch.Tensor:
    """The data order of an epoch: a permutation fixed by (seed, epoch), so a resumed run sees
    exactly the batches an uninterrupted one would."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def download(name: str, root: str | os.PathLike) -> Path:
    """Fetch a dataset with its official downloader (needs internet; not on the project's machines)."""
    from torchvision import datasets
    from torchvision.datasets.utils import download_and_extract_archive

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if name == "cifar10":
        datasets.CIFAR10(str(root), train=True, download=True)
        datasets.CIFAR10(str(root), train=False, download=True)
    elif name == "svhn":
        for split in ("train", "test"):
            datasets.SVHN(str(root), split=split, download=True)
    elif name == "celeba":
        datasets.CelebA(str(root), split="all", target_type="attr", download=True)
    elif name == "tinyimagenet":
        download_and_extract_archive("http://cs231n.stanford.edu/tiny-imagenet-200.zip", str(root))
    else:
        raise DataError(
            f"no downloader for {name!r}: LSUN comes from the LSUN project's download.py; "
            "an image folder is yours to fill"
        )
    return root
