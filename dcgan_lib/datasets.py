"""The datasets by name: where each one's images are found, read in order with their labels.

Each reader (``DATASETS[name](root, split)``) returns a ``Source``: the images as encoded bytes
(or arrays) with their names and labels, in a fixed order, and a fingerprint of the files they
come from (a changed file rebuilds the cache of ``dcgan_lib.data``, which decodes them once).
Read where the official tools put them or from this project's bundles:

=============  =====================================================================
cifar10        ``cifar-10-batches-py/`` (torchvision CIFAR10) or ``cifar10-jpg.tar.gz``
svhn           ``train_32x32.mat`` / ``test_32x32.mat`` (torchvision SVHN)
lsun           ``<category>_<split>_lmdb/`` (the LSUN lmdb format), default bedroom
celeba         ``img_align_celeba/`` (+ ``list_attr_celeba.txt``) or the 10k bundle tar
tinyimagenet   ``tiny-imagenet-200/`` or the four train part tars + the val tar
imagefolder    any folder of images, class subfolders optional (torchvision's layout)
synthetic      procedurally drawn shapes, the same shapes as the real sets (smoke runs)
=============  =====================================================================

Archives are read with the standard library's ``tarfile``; a ``.tar.gz`` is first decompressed
whole (``gzip``, in C; faster than ``tarfile``'s own streaming gunzip) and read from memory.
Missing or damaged data is a ``DataError`` saying what was expected where and what to do;
``download`` fetches the sets that have an official downloader (``python -m dcgan_lib download``).
torchvision and lmdb are imported where a reader needs them: importing this module stays light.
About 600 lines: seven readers of 30-80 lines each, one after the other, each read on its own.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import tarfile
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
WHOLE_ARCHIVE_MAX_BYTES = 512 * 2**20  # a .tar.gz up to this size is decompressed at once


class DataError(RuntimeError):
    """Data that is missing or unusable; the message says what was expected where and what to do."""


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


def _damaged(path: Path, e: BaseException) -> DataError:
    return DataError(
        f"the archive {path} is damaged ({type(e).__name__}: {e}). Check it against its "
        "SHA256SUMS (sha256sum -c SHA256SUMS) and copy or download it again."
    )


def _open_tar(path: Path) -> tarfile.TarFile:
    """A tar archive (plain, gzip, bzip2 or xz) open for reading in order. A gzip archive of at
    most ``WHOLE_ARCHIVE_MAX_BYTES`` is decompressed whole first and read from memory."""
    if path.stat().st_size <= WHOLE_ARCHIVE_MAX_BYTES:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            try:
                return tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw)))
            except gzip.BadGzipFile:
                pass  # not one clean gzip stream: tarfile's own reader says what is wrong
    return tarfile.open(path, "r:*")


def _tar_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of each regular file of a tar archive, in archive order."""
    try:
        with _open_tar(path) as tar:
            for m in tar:
                if m.isfile():
                    f = tar.extractfile(m)
                    yield m.name, (f.read() if f is not None else b"")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise _damaged(path, e) from e


def _tar_items(path: Path, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) for the image files in a tar(.gz) under ``prefix``, in archive order."""
    for name, data in _tar_files(path):
        if name.lower().endswith(IMG_EXTS) and name.startswith(prefix):
            yield name, data


def _tar_names(path: Path) -> list[str]:
    """The names of the image files in a tar(.gz)."""
    return [name for name, _ in _tar_items(path)]


def _read_tar_text(path: Path, member_suffix: str) -> str:
    """The text of the archive's first file whose name ends in ``member_suffix``."""
    for name, data in _tar_files(path):
        if name.endswith(member_suffix):
            return data.decode()
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


def _files_source(
    dataset: str, files: list[tuple[Path, object]], base: Path, labels: list[str], what: str
) -> Source:
    """A dataset of image files under ``base``, each with its label: (path, label) in order."""
    return Source(
        dataset,
        _file_items(files, base),
        _folder_fingerprint((p for p, _ in files), base),
        total=len(files),
        label_names=labels,
        description=what,
    )


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
        return _files_source(
            "tinyimagenet", files, folder, wnids, f"Tiny ImageNet {split} ({folder})"
        )
    if split == "train" and parts:
        if len(parts) != 4:
            warnings.warn(
                f"tinyimagenet: found {len(parts)} of the 4 train parts in {bundle}; using those",
                stacklevel=2,
            )
        if len(parts) == 4 and val_tar is not None and val_tar.exists():
            # the 200 class ids from the val archive's list (0.3 s): listing the four train
            # parts instead reads all 140 MB of them, on every load, cached or not
            wnids = sorted(_read_tar_text(val_tar, "wnids_std200.txt").split())
        else:
            wnids = sorted({n.split("/")[1] for p in parts for n in _tar_names(p)})
        index = {w: i for i, w in enumerate(wnids)}

        def label(name: str) -> int:
            wnid = name.split("/")[1]
            if wnid not in index:
                raise DataError(
                    f"tinyimagenet: {name} is of class {wnid}, which {val_tar} does not list. "
                    "Use the train parts and val archive of one Tiny ImageNet copy."
                )
            return index[wnid]

        items = ((n, d, label(n)) for p in parts for n, d in _tar_items(p, prefix="train/"))
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
    return _files_source("imagefolder", files, root, classes, f"image folder {root}")


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


# The one rule for where data is read, for the command line and the book alike (stated in each
# command's --help as DATA_ROOT_RULE): --data-root DIR, else $DCGAN_DATA, else this project's
# bundles in ../shared/data beside the checkout when that folder exists.
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DATA_ROOT_RULE = "default: $DCGAN_DATA, else ../shared/data beside the checkout when it exists"


def default_data_root(data_root: str | os.PathLike | None = None) -> Path | None:
    """The data root by the one rule: ``data_root`` (``--data-root``), else ``$DCGAN_DATA``,
    else ``SHARED_DATA`` (``../shared/data`` beside the checkout) when it exists, else None."""
    root = data_root if data_root not in (None, "") else os.environ.get("DCGAN_DATA")
    if root:
        return Path(root).expanduser()
    return SHARED_DATA if SHARED_DATA.is_dir() else None


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """``default_data_root``, or a ``DataError`` saying how to give one."""
    path = default_data_root(data_root)
    if path is None:
        raise DataError(
            "no data root: pass --data-root DIR or set DCGAN_DATA=DIR (for example "
            "DCGAN_DATA=../shared/data, or a folder where `python -m dcgan_lib download` put "
            "data); ../shared/data beside the checkout is used when it exists."
        )
    if not path.exists():
        raise DataError(
            f"the data root {path} does not exist. Create it, or pass the folder that "
            "holds the datasets as --data-root / DCGAN_DATA."
        )
    return path


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


# ---------------------------------------------------------------------------------------------
# The command line: `download`


def run_cli(a: argparse.Namespace) -> int:
    print(download(a.dataset, a.data_root))
    return 0
