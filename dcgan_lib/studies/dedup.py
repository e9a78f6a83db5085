"""The §4.1.1 de-duplication study: the hash trained (or loaded), scored on planted and natural
near-duplicates, and timed; and the commands ``dedup`` (a keep list) and ``dedup-study``.

``run_dedup_study`` is the one entry point (CLI ``python -m dcgan_lib dedup-study --size SIZE``,
the notebook, the tests), in three sizes (``SIZES``): ``smoke`` trains a small autoencoder on
test-made images (``made_images``); ``book`` returns the stored numbers and model
(``artifacts/dedup_ae``: recomputing them takes minutes of CPU) and, when the real data is present,
the page's pictures drawn from it: the planted copies, planted again, and the images of the stored
galleries (``galleries.json``: the names of the collision groups shown); ``full`` trains on Tiny
ImageNet and CIFAR-10, measures everything and the speed, and writes ``artifacts/dedup_ae``.
``book`` with ``export`` recomputes everything with the stored model and writes ``galleries.json``.
The method is ``dcgan_lib.dedup``; the ground truth and the judge ``dcgan_lib.near_duplicates``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dcgan_lib.artifacts import PRODUCERS, ArtifactMissing, artifacts_dir, register, require_json
from dcgan_lib.book import repo_root
from dcgan_lib.data import load_dataset
from dcgan_lib.datasets import resolve_data_root
from dcgan_lib.dedup import (
    ARTIFACT,
    IMAGE_SIZE,
    DedupAutoencoder,
    DedupConfig,
    as_stored,
    duplicate_groups,
    group_codes,
    image_codes,
    keep_indices,
    load_autoencoder,
    save_autoencoder,
    train_autoencoder,
    write_keep_list,
)
from dcgan_lib.device import describe_machine
from dcgan_lib.near_duplicates import (
    JUDGE_THRESHOLD,
    Planted,
    evaluate_planted,
    judge_pairs,
    natural_duplicates,
    phash_codes,
    plant_duplicates,
    random_pairs,
)
from dcgan_lib.storage import plain, write_json

GALLERIES = "galleries.json"  # the page's collision groups: names and judge distances only


def made_images(n: int, size: int = IMAGE_SIZE, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 images, all distinct: random smooth colour fields with a few
    strokes. Test-made data for smoke runs and tests (no real data needed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.zeros((size, size, 3))
        for _ in range(4):  # low-frequency cosines in random directions
            f, phase = rng.uniform(0.5, 3.0, 2), rng.uniform(0, 2 * np.pi)
            img += np.cos(2 * np.pi * (f[0] * xx + f[1] * yy) + phase)[..., None] * rng.uniform(
                -60, 60, 3
            )
        for _ in range(rng.integers(1, 4)):  # a few bars
            x0, y0 = rng.integers(0, size - 4, 2)
            img[y0 : y0 + rng.integers(2, size // 2), x0 : x0 + rng.integers(2, size // 2)] += (
                rng.uniform(-90, 90, 3)
            )
        out[i] = np.clip(img + 128 + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------------
# Speed


def hash_speed(
    model: DedupAutoencoder,
    images: np.ndarray,
    sizes: Sequence[int],
    device: str = "cpu",
    repeats: int = 3,
    radius_1: bool = True,
) -> list[dict]:
    """Seconds to hash and to group the first n images, for each n in ``sizes`` (best of
    ``repeats``; grouping at radius 1 timed once): the cost grows linearly with n."""
    rows = []
    for n in sizes:
        x = np.ascontiguousarray(images[:n])
        t_hash, t_group = math.inf, math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            codes = image_codes(model, x, device=device)  # ends with a copy to the CPU: synchronous
            t1 = time.perf_counter()
            rep = group_codes(codes)
            t2 = time.perf_counter()
            t_hash, t_group = min(t_hash, t1 - t0), min(t_group, t2 - t1)
        row = {
            "n": int(n),
            "hash_s": t_hash,
            "group_s": t_group,
            "images_per_s": n / (t_hash + t_group),
            "hash_images_per_s": n / t_hash,
            "groups": int(len(keep_indices(rep))),
        }
        if radius_1:
            t0 = time.perf_counter()
            row["groups_radius_1"] = int(len(keep_indices(group_codes(codes, 1))))
            row["group_radius_1_s"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def linear_fit(n: Sequence[float], seconds: Sequence[float]) -> dict:
    """Least-squares seconds = a + b n: slope b (s per image), intercept a, R^2."""
    n, t = np.asarray(n, float), np.asarray(seconds, float)
    b, a = np.polyfit(n, t, 1)
    r2 = 1 - ((t - (a + b * n)) ** 2).sum() / max(((t - t.mean()) ** 2).sum(), 1e-30)
    return {"seconds_per_image": float(b), "intercept_s": float(a), "r2": float(r2)}


def speed_benchmark(
    model: DedupAutoencoder,
    images: np.ndarray,
    sizes: Sequence[int],
    repeats: int = 3,
    data: str = "",
) -> dict:
    """hash_speed on the CPU and, when CUDA is available, on the GPU, with a linear fit of the
    total time against n. The JSON of ``benchmarks/dedup_speed.py`` and ``speed.json``."""
    sizes = sorted({min(int(n), len(images)) for n in sizes})
    out: dict = {
        "benchmark": "dedup_speed",
        "data": data,
        "n_available": len(images),
        "torch": torch.__version__,
        "cuda": None,
    }
    runs = [("cpu", "cpu")] + ([("cuda", "cuda")] if torch.cuda.is_available() else [])
    for key, device in runs:
        if device == "cuda":
            image_codes(model, images[:4096], device=device)  # warm-up
        rows = hash_speed(model, images, sizes, device, repeats, radius_1=device == "cpu")
        out[key] = {
            "device": describe_machine(torch.device(device)),
            "rows": rows,
            "fit_total": linear_fit(
                [r["n"] for r in rows], [r["hash_s"] + r["group_s"] for r in rows]
            ),
        }
    model.to("cpu")
    return out


# ---------------------------------------------------------------------------------------------
# The study: one entry point for the CLI, the notebook and the tests


@dataclass
class StudyConfig:
    """One de-duplication study: train (or load) the autoencoder, planted pairs, natural
    collisions, speed. Three sizes: ``SIZES['smoke' | 'book' | 'full']``."""

    size: str = "book"
    ae: DedupConfig = field(default_factory=DedupConfig)
    train: bool = False  # full: train on train_sets; book: load artifacts/dedup_ae
    train_sets: tuple[tuple[str, str], ...] = (("tinyimagenet", "train"), ("cifar10", "train"))
    eval_sets: tuple[tuple[str, str], ...] = (("tinyimagenet", "val"), ("cifar10", "test"))
    natural_sets: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("cifar10", ("train", "test")),
        ("tinyimagenet", ("train", "val")),
    )
    n_planted: int = 3000
    radii: tuple[int, ...] = (0, 1, 2)
    phash_radii: tuple[int, ...] = (0, 2, 4, 8)
    natural_radii: tuple[int, ...] = (0, 1)  # must start with 0 (the paper's rule, the galleries)
    natural_phash_radii: tuple[int, ...] = (0, 2)  # linear-time radii only: 170k images
    speed_sizes: tuple[int, ...] = ()  # empty: no speed measurement
    gallery: int = 12  # natural collision groups kept for display, per dataset and radius
    judge_sample: int = 1000  # natural colliding pairs judged per dataset (all if fewer)
    limit: int | None = None  # first N images of each set (smoke)
    max_minutes: float | None = 10.0


SIZES = {
    "smoke": StudyConfig(
        size="smoke",
        ae=DedupConfig(epochs=3, batch_size=64),
        train=True,
        train_sets=(),
        eval_sets=(),
        natural_sets=(),
        n_planted=60,
        radii=(0, 1),
        phash_radii=(0, 4),
        speed_sizes=(200, 400),
        gallery=4,
        judge_sample=100,
        max_minutes=1.0,
    ),
    "book": StudyConfig(size="book"),
    "full": StudyConfig(
        size="full", train=True, speed_sizes=(10_000, 20_000, 40_000, 85_000, 170_000)
    ),
}


@dataclass
class StudyResult:
    """Metrics (JSON-able) and, when the data was at hand, images for the galleries."""

    metrics: dict
    model: DedupAutoencoder | None = None
    planted: Planted | None = None
    galleries: dict = field(
        default_factory=dict
    )  # "dataset, radius r" -> [{names, images, distance}]
    recomputed: bool = True


def load_sets(
    sets: Sequence[tuple[str, str]], data_root, cache_dir, limit=None, progress=False
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """(images, 'dataset:name' names, class labels or None) of several sets at 32x32, joined."""
    images, names, labels = [], [], []
    for name, split in sets:
        p = load_dataset(name, data_root, split, IMAGE_SIZE, cache_dir, limit, progress=progress)
        images.append(np.asarray(p.images))
        names += [f"{name}:{n}" for n in p.names]
        labels.append(p.labels if p.labels is not None and p.labels.ndim == 1 else None)
    has_labels = all(lab is not None for lab in labels)
    return np.concatenate(images), names, np.concatenate(labels) if has_labels else None


def _stored(filename: str = "metrics.json") -> dict | None:
    try:
        return require_json(ARTIFACT, filename)
    except ArtifactMissing:
        return None


def run_dedup_study(
    cfg: StudyConfig,
    data_root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    export: bool | None = None,
    progress: bool = True,
) -> StudyResult:
    """The whole §4.1.1 study. smoke: test-made images, a short training; book: the stored
    numbers and autoencoder, with the pictures drawn from the real data when ``data_root`` is
    given (``_book_study``; with ``export``: everything recomputed with the stored autoencoder and
    the galleries' names stored); full: trains on the real data (checkpoints in ``out``, default
    ``runs/dedup_ae``: run again to resume) and, with ``export`` (default in full size), writes
    ``artifacts/dedup_ae``. Paper: §4.1.1."""
    t_start = time.monotonic()
    if cfg.size == "book" and not export:
        return _book_study(cfg, data_root, cache_dir, progress)
    smoke = not cfg.train_sets and not cfg.eval_sets
    load = dict(data_root=data_root, cache_dir=cache_dir, limit=cfg.limit, progress=progress)
    metrics: dict = {"size": cfg.size, "config": dataclasses.asdict(cfg)}
    model, metrics["train"] = _autoencoder(cfg, smoke, out, load)
    metrics["n_params"] = sum(p.numel() for p in model.parameters())
    # planted near-duplicates in held-out real images: AE and pHash on the same ground truth
    base = made_images(400, seed=2) if smoke else load_sets(cfg.eval_sets, **load)[0]
    planted = plant_duplicates(base, cfg.n_planted, seed=cfg.ae.seed)
    metrics["planted"] = _planted_metrics(cfg, model, planted, base)
    result = StudyResult(metrics, model, planted)
    metrics["natural"] = {}
    natural = cfg.natural_sets or ((("made_images", ("made",)),) if smoke else ())
    for name, splits in natural:
        metrics["natural"][name], galleries = _natural(cfg, model, name, splits, base, load)
        result.galleries.update(galleries)
    metrics["speed"] = _speed(cfg, model, smoke, load)
    metrics["seconds"] = time.monotonic() - t_start
    if export if export is not None else cfg.size == "full":
        export_study(result)
    return result


def _book_study(cfg: StudyConfig, data_root, cache_dir, progress: bool) -> StudyResult:
    """Book size: the stored metrics and model; with the data, the pictures of the page: the
    planted copies (planted as the study planted them, in the held-out images) and the stored
    galleries' images, read by name from the archives (a few dozen of 170,000, none decoded
    besides them)."""
    result = _stored_study()
    if data_root is None:
        return result
    load = dict(data_root=data_root, cache_dir=cache_dir, limit=cfg.limit, progress=progress)
    base = load_sets(cfg.eval_sets, **load)[0]
    result.planted = plant_duplicates(base, cfg.n_planted, seed=cfg.ae.seed)
    stored = _stored(GALLERIES) or {}
    names = [n for groups in stored.values() for g in groups for n in g["names"]]
    images = images_named(names, cfg.natural_sets, data_root, cache_dir)
    result.galleries = {  # a group whose images are not all in this data root is left out
        key: [
            g | {"images": np.stack([images[n] for n in g["names"]])}
            for g in groups
            if all(n in images for n in g["names"])
        ]
        for key, groups in stored.items()
    }
    return result


def images_named(
    names: Sequence[str],
    sets: Sequence[tuple[str, Sequence[str]]],
    data_root,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """The 32x32 images of ``names`` (``"dataset:name"``, as ``load_sets`` names them), read from
    the data sets ``sets`` ((dataset, splits) pairs) without decoding any other image: a gallery
    shows a few dozen images of 170,000. A split whose packed cache is already built
    (``data.cached_dataset``) is read from it, at once; another is scanned in its archive until
    every name is found. A name not found (or not decodable) is left out."""
    from dcgan_lib.data import cached_dataset, decode
    from dcgan_lib.datasets import DATASETS

    wanted, found = set(names), {}
    root = resolve_data_root(data_root)
    for dataset, splits in sets:
        mine = {n for n in wanted if n.startswith(f"{dataset}:")}
        for split in splits:
            if mine <= set(found):
                break
            packed = cached_dataset(dataset, root, split, IMAGE_SIZE, cache_dir)
            if packed is not None:
                index = {f"{dataset}:{n}": i for i, n in enumerate(packed.names)}
                found |= {n: np.array(packed.images[index[n]]) for n in mine if n in index}
                continue
            for name, data, _ in DATASETS[dataset](root, split).items:
                key = f"{dataset}:{name}"
                if key in mine:
                    image = decode(data, IMAGE_SIZE)
                    if isinstance(image, np.ndarray):
                        found[key] = image
                    if mine <= set(found):
                        break
    return found


def _stored_study() -> StudyResult:
    """Book size without the data: the stored metrics and model."""
    stored = _stored()
    if stored is None:
        raise ArtifactMissing(
            f"{ARTIFACT}/metrics.json: not produced yet: run {PRODUCERS[ARTIFACT]}"
        )
    stored["speed"] = _stored("speed.json") or stored.get("speed", {})
    return StudyResult(stored, load_autoencoder(), recomputed=False)


def _autoencoder(cfg: StudyConfig, smoke: bool, out, load: dict) -> tuple[DedupAutoencoder, dict]:
    """The autoencoder, trained (``cfg.train``) or the stored one, with its training record."""
    if not cfg.train:
        return load_autoencoder(), (_stored() or {}).get("train", {})
    images = made_images(2000, seed=1) if smoke else load_sets(cfg.train_sets, **load)[0]
    if out is None and not smoke:
        out = repo_root() / "runs" / "dedup_ae"
    model, history = train_autoencoder(cfg.ae, images, out, cfg.max_minutes, load["progress"])
    train = {
        "n_images": len(images),
        "history": history,
        "sets": [list(s) for s in cfg.train_sets] or ["made_images"],
    }
    return as_stored(model), train  # measure exactly the model that ae.pt will hold (fp16)


def _planted_metrics(cfg: StudyConfig, model, planted: Planted, base: np.ndarray) -> dict:
    """Recall and precision of the hash and of pHash on the planted pairs; the judge's rates."""
    ae_codes, ph_codes = image_codes(model, planted.images), phash_codes(planted.images)
    planted_dist = judge_pairs(planted.images, sorted(planted.pairs))
    random_dist = judge_pairs(base, random_pairs(len(base), 2000))
    return {
        "sets": [list(s) for s in cfg.eval_sets] or ["made_images"],
        "autoencoder": evaluate_planted(planted, ae_codes, cfg.radii, cfg.judge_sample),
        "phash": evaluate_planted(planted, ph_codes, cfg.phash_radii, cfg.judge_sample),
        "judge": {
            "threshold": JUDGE_THRESHOLD,
            "planted_below": float((planted_dist < JUDGE_THRESHOLD).mean()),
            "random_below": float((random_dist < JUDGE_THRESHOLD).mean()),
        },
    }


def _natural(cfg: StudyConfig, model, name: str, splits, base, load: dict) -> tuple[dict, dict]:
    """Natural collisions in one dataset (the smoke run: the base images and 20 exact copies),
    with the galleries of the hash's groups ("dataset, radius r" -> groups)."""
    if name == "made_images":
        images, labels = np.concatenate([base, base[:20]]), None
        names = [f"made/{i:05d}" for i in range(len(images))]
    else:
        images, names, labels = load_sets([(name, s) for s in splits], **load)
    codes = image_codes(model, images, progress=load["progress"])
    ph = phash_codes(images)
    kw = {"judge_sample": cfg.judge_sample, "labels": labels}
    ae_runs = {
        str(r): natural_duplicates(images, names, codes, r, gallery=cfg.gallery, **kw)
        for r in cfg.natural_radii
    }
    metrics = {
        "n_images": len(images),
        "n_heldout": ae_runs["0"][0]["n_heldout"],
        "autoencoder": {r: m for r, (m, _) in ae_runs.items()},
        "phash": {
            str(r): natural_duplicates(images, names, ph, r, gallery=0, **kw)[0]
            for r in cfg.natural_phash_radii
        },
    }
    return metrics, {f"{name}, radius {r}": gal for r, (_, gal) in ae_runs.items()}


def _speed(cfg: StudyConfig, model, smoke: bool, load: dict) -> dict:
    """Hashing + grouping at several sizes (without ``speed_sizes``: the stored benchmark)."""
    if not cfg.speed_sizes:
        return _stored("speed.json") or {}
    if smoke:
        pool, what = made_images(max(cfg.speed_sizes), seed=3), "made_images"
    else:
        sets = [[(n, s) for s in sp] for n, sp in cfg.natural_sets]
        pool = np.concatenate([load_sets(s, **(load | {"progress": False}))[0] for s in sets])
        what = ", ".join(f"{n} {'+'.join(sp)}" for n, sp in cfg.natural_sets)
    return speed_benchmark(model, pool, cfg.speed_sizes, data=what)


def export_study(result: StudyResult, root: Path | None = None) -> list[Path]:
    """Write ``artifacts/dedup_ae/{ae.pt, metrics.json, speed.json, galleries.json}`` and record
    them in the manifest (speed.json only when the study measured speed). A book-size study (the
    stored model, recomputed) writes only ``galleries.json``: the names and judge distances of
    the collision groups the page shows, never their images."""
    dest = (root or artifacts_dir()) / ARTIFACT
    dest.mkdir(parents=True, exist_ok=True)
    book = result.metrics.get("size") == "book"
    files = [] if book else ["ae.pt", "metrics.json"]
    if not book:
        save_autoencoder(result.model, dest / "ae.pt")
        write_json(dest / "metrics.json", result.metrics)
    if not book and result.metrics.get("speed", {}).get("cpu"):
        write_json(dest / "speed.json", result.metrics["speed"])
        files.append("speed.json")
    if result.galleries:
        shown = {
            key: [{"names": g["names"], "distance": g["distance"]} for g in groups]
            for key, groups in result.galleries.items()
        }
        write_json(dest / GALLERIES, shown)
        files.append(GALLERIES)
    config = json.dumps(dataclasses.asdict(result.model.cfg), sort_keys=True)
    command = {GALLERIES: PRODUCERS[f"{ARTIFACT}/{GALLERIES}"]}
    extra = {"machine": describe_machine(torch.device("cpu"))}
    return [
        register(f"{ARTIFACT}/{f}", dest / f, command.get(f, PRODUCERS[ARTIFACT]), config,
                 root=root, extra=extra)
        for f in files
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Command line: `python -m dcgan_lib dedup ...` and `python -m dcgan_lib dedup-study ...`


def run_cli(a: argparse.Namespace) -> int:
    """``dedup-study``: the study at ``--size``; prints the planted and natural metrics."""
    root = resolve_data_root(a.data_root) if a.size != "smoke" else None
    export = (a.size == "full" and not a.no_export) or (a.size == "book" and a.export)
    result = run_dedup_study(SIZES[a.size], root, a.cache_dir, a.out, export=export)
    shown = {k: result.metrics[k] for k in ("planted", "natural") if k in result.metrics}
    print(json.dumps(plain(shown), indent=1))
    return 0


def run_keep_list(a: argparse.Namespace) -> int:
    """``dedup``: hash a dataset, group its codes, write the keep list (and the groups)."""
    packed = load_dataset(a.data, a.data_root, a.split, IMAGE_SIZE, a.cache_dir)
    model = load_autoencoder(a.model)
    rep = group_codes(image_codes(model, np.asarray(packed.images), progress=True), a.radius)
    kept = write_keep_list(packed.names, rep, a.out)
    if a.groups:
        Path(a.groups).write_text(
            "".join("\t".join(packed.names[i] for i in g) + "\n" for g in duplicate_groups(rep))
        )
    print(
        f"{a.data} {a.split}: kept {kept} of {len(rep)} images "
        f"({len(rep) - kept} near-duplicates removed, radius {a.radius}); keep list {a.out}"
    )
    return 0
