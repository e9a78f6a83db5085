"""The paper's preprocessing, and each dataset decoded once into a packed uint8 cache.

Paper §4: "No pre-processing was applied to training images besides scaling to the range of the
tanh activation function [-1, 1]"; ImageNet-1k at 32x32 uses "min-resized center crops". Every
dataset here is min-resized (shorter side to ``image_size``) and center-cropped, then stored as
uint8 (N, S, S, 3) in a memory-mapped file, so training never decodes a JPEG per step. Scaling to
[-1, 1] happens on the batch (``to_float``; back to uint8 with ``to_uint8``).

``load_dataset(name, ...)`` reads the images of ``dcgan_lib.datasets`` (where each set is found,
in order, with its labels), decodes them once (``decode``; many cores decode a large set in
parallel, ``decode_executor``) into the cache, and returns it as ``Packed``. The cache is keyed
by the source files' sizes and modification times, so a changed source rebuilds it.
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
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.config import TrainConfig
from dcgan_lib.datasets import DATASETS, DataError, Source, resolve_data_root, synthetic_images

PACK_VERSION = 1  # bump when the preprocessing changes: every cache is rebuilt
MIN_SIDE = 8  # images whose shorter side is below this are skipped as unusable
# Decoding into the cache: a set of at least this many images is decoded by a pool of processes
# (one per core; PIL's decode and resize then run truly in parallel), a smaller one by threads.
# The cache is byte-identical either way (the same ``decode`` on the same bytes, in order). No GPU
# JPEG decoder (torchvision.io.decode_jpeg on CUDA): nvJPEG's IDCT and upsampling differ from
# libjpeg's in the last bits, so its cache could not be byte-identical to PIL's.
DECODE_PROCESSES_MIN = 2048
DECODERS = ("auto", "serial", "threads", "processes")
SKIPPED_SHOWN = 50  # unreadable files listed in a too-few-images error


# ---------------------------------------------------------------------------------------------
# Decoding and the paper's preprocessing


def _files_were(n: int) -> str:
    """'1 file was' or '3 files were'."""
    return f"{n} file was" if n == 1 else f"{n} files were"


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
    import torchvision.transforms.functional as TF  # heavy (seconds): imported when first used

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
    source, base = _pack_base(name, root, split, image_size, cache_dir, limit)
    cache = base.parent
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


def _pack_base(name: str, root, split: str, image_size: int, cache_dir, limit) -> tuple:
    """The source of ``load_dataset``'s arguments, and where its pack lives (no suffix)."""
    source = DATASETS[name](resolve_data_root(root), split)
    key = _cache_key(name, split, image_size, limit, source.fingerprint)
    return source, default_cache_dir(cache_dir) / f"{name}-{split}-{image_size}px-{key}"


def cached_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    image_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
) -> Packed | None:
    """``load_dataset``'s pack when an earlier call has already built it, else None: nothing
    is decoded (a page that needs a few named images of a large set reads them from the cache
    when it is there, and from the archive otherwise). Paper: §4."""
    return _open_pack(_pack_base(name, root, split, image_size, cache_dir, None)[1])


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
                f"; {_files_were(len(skipped))} unreadable, e.g. {skipped[0][0]}: {skipped[0][1]}"
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
            f"{source.dataset}: skipped {len(skipped)} unreadable "
            f"image{'' if len(skipped) == 1 else 's'} "
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


def training_images(cfg: TrainConfig, data: Packed | None = None, progress: bool = True) -> Packed:
    """The images of training run ``cfg`` (``data``, or its dataset loaded), checked to fit its
    model and to hold one batch, and cut to its keep list.

    The loader's warnings (skipped files) are held back until the data passes: a set made too
    small by unreadable files is reported as one error that lists them."""
    caught: list[warnings.WarningMessage] = []
    if data is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = load_dataset(
                cfg.data,
                cfg.data_root,
                cfg.split,
                cfg.model.image_size,
                cfg.cache_dir,
                cfg.limit,
                progress=progress,
            )
    if data.images.shape[1:] != (cfg.model.image_size, cfg.model.image_size, cfg.model.nc):
        raise DataError(
            f"data of shape {data.images.shape[1:]} does not fit model config "
            f"{cfg.model.name!r} ({cfg.model.image_size}px, {cfg.model.nc} channels)"
        )
    skipped = data.skipped
    if cfg.keep_list:
        data = data.subset(read_keep_list(cfg.keep_list, data))
    if len(data) < cfg.batch_size:
        raise DataError(_too_few_images(len(data), cfg.batch_size, skipped))
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return data


def _too_few_images(n: int, batch_size: int, skipped: list[tuple[str, str]]) -> str:
    """The error for a set smaller than a batch: one line, then the unreadable files, if any."""
    if not skipped:
        return (
            f"the dataset has {n} images, fewer than one batch of {batch_size}; "
            "lower --batch-size or add images"
        )
    shown = [f"  {name}: {why}" for name, why in skipped[:SKIPPED_SHOWN]]
    if len(skipped) > SKIPPED_SHOWN:
        shown.append(f"  ... and {len(skipped) - SKIPPED_SHOWN} more")
    return "\n".join(
        [
            f"the dataset has {n} usable images, fewer than one batch of {batch_size}: "
            f"{_files_were(len(skipped))} unreadable and skipped (listed below); repair or "
            "replace them, add images, or lower --batch-size",
            *shown,
        ]
    )


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
