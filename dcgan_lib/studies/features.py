"""The ``features`` job (paper §5): data -> D features -> L2-SVM, for CIFAR-10 and SVHN.

One entry point, ``run_protocol``, called by ``python -m dcgan_lib features``, the notebooks and
the tests, in three sizes (``SIZES``):

- ``smoke``: synthetic images, the tiny ``smoke32`` D with random weights, a handful of draws:
  seconds on a CPU, exercises every path;
- ``book``: real data, CPU-sized: the raw-pixel baseline at 1,000 labels with a few draws (what
  a 2-core CPU can measure honestly; the D features of 60,000 images take a GPU);
- ``full``: the whole protocol on a GPU: every variant, 10 draws per C, 100 fresh draws.

What it measures, per ``task``:

- ``cifar10`` (paper §5.1): all 50,000 labels and 400 per class, plus the 1,000-label protocol
  (100 per class) as the stand-in for SVHN while SVHN cannot be obtained here;
- ``svhn`` (paper §5.2): 1,000 labels (100 per class) on train_32x32 / test_32x32 (no extra).

Variants: ``dcgan`` (the trained D, BN statistics averaged over 128-image batches, the authors'),
``dcgan_running`` (its running BN statistics), ``random`` (the same architecture, untrained),
``pixels`` (the 3,072 raw pixels in [-1, 1]); and the purely supervised baseline of §5.2.
Results go to ``<out>/metrics.json`` after every finished unit: a run stopped by its time budget
resumes with the same command and skips what is done; ``features_results`` reads them back.
(About 550 lines: one resumable job of many units, its sizes and its command line, kept whole.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan_lib import artifacts, authors, svm, verdicts
from dcgan_lib.config import get_model_config
from dcgan_lib.data import Packed, load_dataset
from dcgan_lib.device import describe_machine, resolve_device
from dcgan_lib.features import (
    batch_average_bn_stats,
    bn_stats_of,
    extract_features,
    feature_dim,
    pixel_features,
)
from dcgan_lib.models import Discriminator, random_discriminator
from dcgan_lib.storage import write_json
from dcgan_lib.studies.features_results import compute_time, save_classifier
from dcgan_lib.supervised import SEARCH_SPACE, random_search

D_ARTIFACT = ("imagenet32_tinyimagenet", "D.pt")
D_DESCRIPTION = (
    "imagenet32 D trained as a DCGAN on Tiny ImageNet (100,000 real ImageNet-1k images, "
    "200 classes) downsampled to 32x32"
)
# the Ds whose features ``--d`` measures: (artifact, description, default results file name)
D_SOURCES = {
    "book": (D_ARTIFACT, D_DESCRIPTION, "metrics.json"),
    "authors-imagenet": (
        authors.ARTIFACTS["imagenet_D"],
        authors.DESCRIPTIONS["imagenet_D"],
        "authors_imagenet.json",
    ),
    "authors-svhn": (
        authors.ARTIFACTS["svhn_D"],
        authors.DESCRIPTIONS["svhn_D"],
        "authors_svhn.json",
    ),
}
# how C is chosen; a stored result chosen by another rule is measured again
GRID_RULE = "grid extended downward (1-2-5 steps) while its lowest C is the best"
GRID_RULE_BOTH = (
    "grid extended downward and upward (1-2-5 steps) while its lowest or highest C is the best"
)
VARIANTS = ("dcgan", "random", "pixels", "dcgan_running")  # in the order they are run
REGIMES = {"cifar10": ("all", 400, 100), "svhn": (100,), "synthetic": ("all", 20, 10)}
PAPER = {  # paper §5.1 Table 1 and §5.2 Table 2
    "cifar10_all_accuracy": verdicts.PAPER_S5["all"],
    "cifar10_400_accuracy": verdicts.PAPER_S5["400"],
    "cifar10_400_ci95": 0.4,
    "kmeans_accuracy": 80.6,
    "kmeans_triangle_accuracy": 82.0,  # 3 layer K-means learned RF
    "svhn_1000_test_error": verdicts.PAPER_SVHN_ERROR,
    "svhn_supervised_val_error": verdicts.PAPER_SUPERVISED_VAL_ERROR,
}


@dataclass(frozen=True)
class ProtocolSize:
    """How much of the protocol a run does. Defaults: the authors' SVHN script."""

    name: str
    n_val: int = 10000  # paper §5.2: 10,000 held out for all selection
    n_select_draws: int = 10  # authors: 10 draws per C
    n_eval_draws: int = 100  # authors: 100 fresh draws at the best C
    baseline_select_draws: int = 5  # deviation: fewer draws for the comparison rows
    baseline_eval_draws: int = 20
    variants: tuple[str, ...] = VARIANTS
    regimes: tuple | None = None  # None: REGIMES[task]
    c_grid: tuple[float, ...] = svm.C_GRID  # authors' grid, for the labelled draws
    c_grid_all: tuple[float, ...] = svm.C_GRID_WIDE  # all labels: a wider grid
    # deviation: a best C at the grid's lowest value extends the grid downward, to this floor
    c_floor: float | None = svm.C_FLOOR
    # and upward to this ceiling while the highest C is the best (None: no upward extension)
    c_ceiling: float | None = None
    supervised_trials: int = 64  # paper §5.2: 64 random-search trials
    supervised_max_steps: int | None = None  # smoke: a few steps per trial
    synthetic_n: tuple[int, int] = (0, 0)  # smoke: (train, test) synthetic images


SIZES = {
    "smoke": ProtocolSize(
        "smoke",
        n_val=200,
        n_select_draws=2,
        n_eval_draws=3,
        baseline_select_draws=1,
        baseline_eval_draws=2,
        regimes=("all", 10),
        c_grid=(1e-3, 1e-2),
        c_grid_all=(1e-3, 1e-2),
        c_floor=1e-4,
        supervised_trials=2,
        supervised_max_steps=3,
        synthetic_n=(600, 200),
    ),
    # a 2-core CPU: raw pixels at 1,000 labels, 2 draws per C and 10 at the best C (liblinear
    # takes minutes per fit at 400 per class and large C; the D features of 60k images need a GPU)
    "book": ProtocolSize(
        "book",
        n_select_draws=2,
        n_eval_draws=10,
        baseline_select_draws=2,
        baseline_eval_draws=10,
        variants=("pixels",),
        regimes=(100,),
        supervised_trials=0,
    ),
    "full": ProtocolSize("full"),
    # §5.2 exactly as the authors' SVHN script runs it (their grid as given, 10 draws per C,
    # 100 draws at the best C), with the random-D and pixel controls at fewer draws
    "authors": ProtocolSize(
        "authors",
        variants=("dcgan", "random", "pixels"),
        c_floor=None,
        supervised_trials=0,
    ),
    # §5.1 with the authors' ImageNet D on a 2-core CPU (deviations: fewer draws at 400 per class;
    # the grids a decade lower than the full size's, extended either way while an edge is best;
    # the torch L2-SVM for all labels, CPU_SOLVER_REASON)
    "cpu": ProtocolSize(
        "cpu",
        n_select_draws=5,
        n_eval_draws=20,
        baseline_select_draws=2,
        baseline_eval_draws=10,
        variants=("dcgan", "random", "pixels"),
        regimes=("all", 400),
        c_grid=(1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3),
        c_grid_all=(1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4),
        c_ceiling=1.0,
        supervised_trials=0,
    ),
}


def _cpu_solver_reason(n_pool: int = 50_000 - SIZES["cpu"].n_val, dim: int | None = None) -> str:
    """Why the cpu size fits all labels with the torch solver: the memory of the training pool
    (CIFAR-10's 50,000 train images less the validation split, by the authors' D's features)
    in each solver's layout, computed."""
    dim = dim or feature_dim(get_model_config("authors_imagenet32"))
    gb = n_pool * dim / 1e9  # liblinear's feature_node: an int index and a double, 16 bytes
    return (
        "LinearSVC (liblinear, the authors' solver) for the 400-per-class draws, where it is the "
        f"faster; the torch L2-SVM (the same objective, by L-BFGS) for all labels: liblinear "
        f"would copy the {n_pool:,} x {dim:,} pool into double-precision sparse rows (about "
        f"{16 * gb:.0f} GB beside a {8 * gb:.0f} GB float64 copy) on a shared 23 GB "
        f"machine, where torch keeps float32 ({4 * gb:.0f} GB), uses both cores and warm-starts "
        "each C from the last; solver_check compares the two on one 400-per-class draw at the "
        "chosen C"
    )


CPU_SOLVER_REASON = _cpu_solver_reason()


def authors_deviations() -> list[tuple[str, str, str, str]]:
    """Every departure from the paper and the authors' code in the runs with the authors' models
    (``authors.DEVIATIONS`` and the protocol sizes ``cpu`` and ``authors``): (topic, ours,
    paper / authors, why), for the deviations page. Paper: §5.1, §5.2, §6.1."""
    cpu, grid = SIZES["cpu"], lambda g: f"{min(g):g} to {max(g):g}"
    return list(authors.DEVIATIONS) + [
        (
            "§5.1 C grids (authors' D, CPU run)",
            f"all labels: {grid(cpu.c_grid_all)}; 400 per class: {grid(cpu.c_grid)}; each "
            "extended in 1-2-5 steps, down or up, while its lowest or highest C has the lowest "
            "validation error",
            f"not stated for CIFAR-10; the SVHN script's grid is {grid(svm.C_GRID)}, not extended",
            "the best C falls as the labels grow; a best C at an edge of the grid is not an "
            "optimum",
        ),
        (
            "§5.1 draws at 400 per class (authors' D, CPU run)",
            f"{cpu.n_select_draws} draws per C, then {cpu.n_eval_draws} at the best C; the "
            f"random-D and pixel controls {cpu.baseline_select_draws} and "
            f"{cpu.baseline_eval_draws}",
            "not stated (the SVHN script: 10 and 100)",
            "CPU time on a shared 2-core machine",
        ),
        (
            "§5.1 solver (authors' D, CPU run)",
            "LinearSVC for the draws; for all labels the same objective by L-BFGS in torch",
            "sklearn LinearSVC",
            CPU_SOLVER_REASON,
        ),
        (
            "§5.1 all labels (every run)",
            "C chosen with the 40,000-image pool, then one refit on all 50,000",
            "not stated",
            "the validation split must not choose C and train the scored fit at once",
        ),
        (
            "§5.2 validation split and draws (authors' SVHN D)",
            "a seeded numpy permutation for the 10,000 validation images and the draws; "
            "LinearSVC with random_state=0",
            "their lib.rng shuffle and py_rng.sample; LinearSVC unseeded",
            "their random streams cannot be replayed outside their setup; sizes, grid, draws, "
            "features and BatchNorm statistics are theirs",
        ),
    ]


def data_label(meta: dict) -> str:
    """How every number measured on this data must name it."""
    desc = meta.get("description", "")
    if meta.get("dataset") == "cifar10":
        return "CIFAR-10 (JPEG re-encoded copy)" if "JPEG" in desc else "CIFAR-10"
    if meta.get("dataset") == "svhn":
        return "SVHN (train_32x32 / test_32x32, no extra)"
    return desc or str(meta.get("dataset"))


# ---------------------------------------------------------------------------------------------
# The run


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def random_d(cfg_name: str, seed: int) -> Discriminator:
    """The untrained control: D of config ``cfg_name`` with its random initial weights."""
    return random_discriminator(get_model_config(cfg_name), seed)


def _load_task_data(task: str, size: ProtocolSize, data_root, cache_dir, progress):
    if task == "synthetic":
        n_train, n_test = size.synthetic_n or (800, 200)
        train = load_dataset("synthetic", split="train", image_size=32, limit=n_train)
        test = load_dataset("synthetic", split="test", image_size=32, limit=n_test)
        return train, test
    train = load_dataset(task, data_root, "train", 32, cache_dir=cache_dir, progress=progress)
    test = load_dataset(task, data_root, "test", 32, cache_dir=cache_dir, progress=progress)
    return train, test


def grid_rule(size: ProtocolSize) -> str:
    """How ``size`` chooses C, as recorded with each result."""
    if size.c_floor is None:
        return "the grid as given"
    return GRID_RULE if size.c_ceiling is None else GRID_RULE_BOTH


def _is_current(result: dict | None, size: ProtocolSize) -> bool:
    """Whether a stored result exists and chose its C by this run's rule (else: measure again)."""
    if result is None:
        return False
    return size.c_floor is None or result.get("grid_rule") == grid_rule(size)


def _regime_code(regime) -> int:
    return 0 if regime == "all" else int(regime)


@dataclass
class _Labels:
    """The labels of a task and its split: the validation images and the labelled pool."""

    y: np.ndarray
    y_test: np.ndarray
    val_idx: np.ndarray
    pool_idx: np.ndarray


def _run_regime(
    X: np.ndarray,
    X_test: np.ndarray,
    labels: _Labels,
    regime: str | int,
    n_select: int,
    n_eval: int,
    size: ProtocolSize,
    seed: int,
    solver: str,
    device: str,
    progress: bool,
) -> tuple[dict, object]:
    """One label regime: C on the validation split, then the test numbers. Returns (result,
    the final classifier for "all", else None)."""
    code = _regime_code(regime)
    started, cpu_started = time.time(), time.process_time()
    per_class = None if regime == "all" else int(regime)
    grid = size.c_grid_all if regime == "all" else size.c_grid
    y, val_idx, pool_idx = labels.y, labels.val_idx, labels.pool_idx
    # common random draws: every variant sees the same labelled draws for a regime
    rng = np.random.default_rng((seed, 1, code))
    sel = svm.select_C(X, y, val_idx, pool_idx, per_class, grid, n_select, rng, solver, device,
                       progress, size.c_floor, size.c_ceiling)  # fmt: skip
    clf = None
    if regime == "all":
        # deviation: C chosen with the 40,000-image pool, then refit on every training label
        clf = svm.fit_svm(X, y, sel.best_C, solver, device, progress, init=sel.best_fit)
        result = {
            "C": sel.best_C,
            "per_class": None,
            "n_labels": len(y),
            "train_error": svm.error_rate(clf, X, y),
            "val_error_at_C": min(r["val_error_mean"] for r in sel.table),
            "test_error": svm.error_rate(clf, X_test, labels.y_test),
        }
    else:
        rng = np.random.default_rng((seed, 2, code))
        result = svm.evaluate_draws(X, y, val_idx, pool_idx, X_test, labels.y_test, per_class,
                                    sel.best_C, n_eval, rng, solver, device, progress)  # fmt: skip
    return result | {
        "selection": sel.table,
        "grid_rule": grid_rule(size),
        "c_extended_below": list(sel.extended_below),
        "c_extended_above": list(sel.extended_above),
        "n_select_draws": 1 if regime == "all" else n_select,
        "seconds": round(time.time() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "solver": solver,
    }, clf


@dataclass
class _Run:
    """One call of ``run_protocol``: its results file, what it must hold, its time budget."""

    path: Path
    metrics: dict
    size: ProtocolSize
    regimes: tuple
    command: str
    cfg_name: str
    deadline: float | None

    def current(self, key: str) -> bool:
        return _is_current(self.metrics["results"].get(key), self.size)

    def complete(self) -> bool:
        want = [f"{v}/{r}" for v in self.size.variants for r in self.regimes]
        sup = self.size.supervised_trials == 0 or self.metrics.get("supervised", {}).get("complete")
        return all(self.current(k) for k in want) and bool(sup)

    def minutes_left(self) -> float | None:
        return None if self.deadline is None else (self.deadline - time.time()) / 60

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.time() > self.deadline

    def save(self) -> None:
        self.metrics["updated"] = _now()
        self.metrics["complete"] = self.complete()
        write_json(self.path, self.metrics)
        artifacts.register_if_stored(
            self.path, self.command, self.cfg_name, compute_time(self.metrics)
        )


def run_protocol(
    task: str = "cifar10",
    size: str | ProtocolSize = "full",
    out: str | os.PathLike = "artifacts/features_cifar10",
    D: Discriminator | None = None,
    d_weights: str | os.PathLike | None = None,
    d_description: str = D_DESCRIPTION,
    data_root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    metrics_name: str = "metrics.json",
    device: str = "auto",
    solver: str = "auto",
    seed: int = 0,
    max_minutes: float | None = None,
    command: str = "",
    progress: bool = True,
    d_source: str = "book",
    feature_cache: str | os.PathLike | None = None,
    solver_all: str | None = None,
) -> dict:
    """Run (or resume) the §5 protocol for ``task`` ("cifar10", "svhn", or "synthetic" for
    smoke); write ``out/metrics_name`` after every unit and return its content.

    D: a Discriminator, or ``d_weights`` (an fp16 file from ``export``), or the stored D named by
    ``d_source`` (``D_SOURCES``: "book", the default, is ``imagenet32_tinyimagenet/D.pt``;
    "authors-imagenet" and "authors-svhn" the authors' converted Ds); a missing one raises
    ``ArtifactMissing`` naming the command that makes it. Not needed when ``size`` runs only the
    pixel baseline. ``solver="auto"``: the torch L2-SVM on a GPU, LinearSVC on a CPU;
    ``solver_all``: another solver for the all-label fits (default ``solver``).
    ``feature_cache``: a folder where each variant's features are kept (``.npy``, keyed by D's
    weights, the images and the BN-statistics order), so a stopped run does not extract them
    again. Paper: §5.1, §5.2.
    """
    size = SIZES[size] if isinstance(size, str) else size
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = str(resolve_device(device))
    solver = solver if solver != "auto" else ("torch" if dev.startswith("cuda") else "liblinear")
    deadline = None if max_minutes is None else time.time() + 60 * max_minutes
    # an authors' D is always read (it is committed): its sha256 names the results' D even in a
    # call that runs only the controls, and its config is the random control's
    needs_d = any(v in ("dcgan", "dcgan_running") for v in size.variants) or d_source != "book"
    D, d_description, d_sha, d_provenance = _discriminator(
        task, D, d_weights, d_description, needs_d, seed, d_source
    )
    if D is not None and "dcgan_running" in size.variants and d_source.startswith("authors"):
        raise ValueError(
            "the authors' Ds carry no running BatchNorm statistics: drop the variant "
            "dcgan_running (--variants dcgan,random,pixels)"
        )
    cfg_name = D.cfg.name if D is not None else ("smoke32" if task == "synthetic" else "imagenet32")

    train, test = _load_task_data(task, size, data_root, cache_dir, progress)
    y = np.asarray(train.labels)
    labels = _Labels(y, np.asarray(test.labels), *svm.split_validation(len(y), size.n_val, seed))
    # BN statistics pool: the labelled pool in shuffled order (authors: the shuffled trX)
    bn_order = np.random.default_rng((seed, 3)).permutation(labels.pool_idx)
    identity = {
        "task": task, "size": size.name, "seed": seed, "d_sha256": d_sha, "d_config": cfg_name,
        "n_train": len(y), "n_test": len(labels.y_test), "n_val": size.n_val,
    }  # fmt: skip
    path = out / metrics_name
    metrics = _start_metrics(path, identity, command, dev, solver, size)
    metrics["solver_all"] = solver_all or solver
    random_desc = f"{cfg_name} D, random untrained weights (seed {seed})"
    metrics.update(
        data=data_label(train.meta),
        data_description=[train.meta.get("description"), test.meta.get("description")],
        d_description=d_description if needs_d else (random_desc if "random" in size.variants else None),
        d_weights=d_provenance,
        d_source=d_source,
        feature_dim={
            "dcgan": feature_dim(get_model_config(cfg_name)),
            "pixels": int(np.prod(train.images.shape[1:])),
        },
    )  # fmt: skip
    run = _Run(path, metrics, size, size.regimes or REGIMES[task], command, cfg_name, deadline)

    for variant in size.variants:
        todo = [r for r in run.regimes if not run.current(f"{variant}/{r}")]
        if not todo or run.out_of_time():
            continue
        Dv = D if variant.startswith("dcgan") else random_d(cfg_name, seed)
        X, X_test, bn_stats, took = _variant_features(
            variant, Dv, train, test, bn_order, dev, progress, feature_cache
        )
        if took is not None:  # the extraction's time (from the cache: when it was made)
            metrics.setdefault("feature_extraction", {})[variant] = took
        for regime in todo:
            if run.out_of_time():
                break
            s = solver_all if regime == "all" and solver_all else solver
            _fit_regime(run, variant, regime, X, X_test, labels, bn_stats, seed, s, dev,
                        progress)  # fmt: skip
        done_here = all(f"dcgan/{r}" in metrics["results"] for r in run.regimes)
        uses_torch = "torch" in (solver, solver_all)
        if variant == "dcgan" and uses_torch and done_here and "solver_check" not in metrics:
            metrics["solver_check"] = solver_check(X, X_test, labels, metrics["results"], seed, dev)
            run.save()
        del X, X_test

    if size.supervised_trials and not run.out_of_time():
        _run_supervised(run, train, test, labels, seed, dev, progress)
    run.save()
    return metrics


def _discriminator(task, D, d_weights, d_description, needs_d, seed, d_source="book"):
    """The D whose features are measured, its description, sha256 and provenance."""
    if D is None and needs_d and task == "synthetic" and d_source == "book":
        return random_d("smoke32", seed + 1), "smoke32 D, random (smoke)", None, None
    if D is not None or not needs_d:
        return D, d_description, None, None
    if d_source not in D_SOURCES:
        raise ValueError(f"unknown D {d_source!r}; choose one of {sorted(D_SOURCES)}")
    artifact, description, _ = D_SOURCES[d_source]
    path = Path(d_weights) if d_weights else artifacts.require(*artifact)
    D = artifacts.load_weights(path, "D")
    if d_weights or (d_source == "book" and D.cfg.name != "imagenet32"):
        d_description = f"{D.cfg.name} D from {path}"  # not a known D: say what it is
    elif d_source != "book":
        d_description = description
    provenance = {
        "path": str(path),
        "manifest": artifacts.read_manifest().get("files", {}).get("/".join(artifact)),
    }
    return D, d_description, artifacts.sha256(path), provenance


def _start_metrics(path: Path, identity: dict, command: str, dev: str, solver: str, size) -> dict:
    """The stored results of the same run (another run's are dropped), with this call recorded."""
    metrics = json.loads(path.read_text()) if path.exists() else {}
    if {k: metrics.get(k) for k in identity} != identity:
        metrics = {}  # another run's results: start over
    metrics.update(identity)
    metrics.setdefault("results", {})
    if metrics.get("command") and "runs" not in metrics:  # written before runs were recorded
        metrics["runs"] = [
            {k: metrics.get(k) for k in ("command", "machine", "device", "solver", "protocol")}
        ]
    call = {"command": command, "machine": describe_machine(), "device": dev, "solver": solver,
            "protocol": asdict(size)}  # fmt: skip
    metrics.setdefault("runs", []).append({**call, "started": _now()})
    metrics.update(call, paper=PAPER)
    return metrics


def _variant_features(
    variant: str, D, train: Packed, test: Packed, bn_order, dev, progress, cache=None
):
    """(train features, test features, BN statistics used or None) of one variant; with a
    ``cache`` folder, read from it when there, else extracted into it (``.npy`` memmaps)."""
    if variant == "pixels":
        return pixel_features(train.images), pixel_features(test.images), None, None
    cpu0, wall0 = time.process_time(), time.time()
    key = _cache_key(variant, D, train, test, bn_order) if cache is not None else None
    if key is not None:
        stored = _cached_features(Path(cache), key)
        if stored is not None:
            return stored
    stats = (
        bn_stats_of(D)
        if variant == "dcgan_running"
        else batch_average_bn_stats(D, train.images[bn_order], 128, dev, progress)
    )
    kw = dict(bn_mode="batch_avg", bn_stats=stats, device=dev, progress=progress)
    if key is None:
        X, X_test = extract_features(D, train.images, **kw), extract_features(D, test.images, **kw)
        return X, X_test, stats, _took(cpu0, wall0)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    for split, images in (("train", train.images), ("test", test.images)):
        tmp = cache / f"{key}-{split}.partial.npy"
        extract_features(D, images, out=tmp, **kw)  # a .npy memmap, flushed
        os.replace(tmp, cache / f"{key}-{split}.npy")
    torch.save([(m.float(), v.float()) for m, v in stats], cache / f"{key}-bn.pt")
    took = _took(cpu0, wall0)
    write_json(
        cache / f"{key}.json",
        {"variant": variant, "d_config": D.cfg.name, "done": _now(), "extraction": took},
    )
    return _cached_features(cache, key)


def _took(cpu0: float, wall0: float) -> dict:
    """CPU and wall seconds since (cpu0, wall0), and the machine."""
    return {
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "wall_seconds": round(time.time() - wall0, 1),
        "machine": describe_machine(),
    }


def _cache_key(variant: str, D, train: Packed, test: Packed, bn_order) -> str:
    """What a variant's features depend on: D's weights, the images, the BN-statistics order."""
    h = hashlib.sha256(f"features-v1 {variant}".encode())
    for name, t in sorted(D.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    for a in (train.images, test.images, np.asarray(bn_order, np.int64)):
        h.update(np.ascontiguousarray(a).tobytes())
    return f"{variant}-{h.hexdigest()[:16]}"


def _cached_features(cache: Path, key: str):
    """(train, test, BN statistics, the extraction's time) stored under ``key``, memory-mapped;
    None if not complete."""
    if not (cache / f"{key}.json").is_file():
        return None
    X = np.load(cache / f"{key}-train.npy", mmap_mode="r")
    X_test = np.load(cache / f"{key}-test.npy", mmap_mode="r")
    stats = torch.load(cache / f"{key}-bn.pt", weights_only=True)
    took = json.loads((cache / f"{key}.json").read_text()).get("extraction")
    return X, X_test, [(m, v) for m, v in stats], took


def _fit_regime(run: _Run, variant, regime, X, X_test, labels: _Labels, bn_stats, seed, solver,
                dev, progress) -> None:  # fmt: skip
    """One (variant, label regime) unit: fitted, stored, and the all-label SVM kept."""
    size = run.size
    n_select = size.n_select_draws if variant == "dcgan" else size.baseline_select_draws
    n_eval = size.n_eval_draws if variant == "dcgan" else size.baseline_eval_draws
    result, clf = _run_regime(X, X_test, labels, regime, n_select, n_eval, size, seed, solver, dev,
                              progress)  # fmt: skip
    result["data"] = run.metrics["data"]
    result["command"], result["machine"] = run.command, run.metrics["machine"]
    run.metrics["results"][f"{variant}/{regime}"] = result
    if variant == "dcgan" and regime == "all":
        svm_path = run.path.parent / classifier_name(run.path.name)
        save_classifier(svm_path, clf, bn_stats, X_test, labels.y_test, seed)
        artifacts.register_if_stored(svm_path, run.command, run.cfg_name)
    run.save()


def classifier_name(metrics_name: str) -> str:
    """The stored all-label SVM beside a results file: ``svm_all.pt`` beside ``metrics.json``,
    ``<stem>_svm_all.pt`` beside any other (``authors_imagenet_svm_all.pt``)."""
    stem = Path(metrics_name).stem
    return "svm_all.pt" if stem == "metrics" else f"{stem}_svm_all.pt"


def solver_check(X, X_test, labels: _Labels, results: dict, seed: int, device: str) -> dict:
    """LinearSVC and the torch L2-SVM on the same labelled draw, at the C the protocol chose, for
    each label budget: test accuracy of each and the fraction of equal predictions (they should
    agree within half a point)."""
    y, y_test, pool_idx = labels.y, labels.y_test, labels.pool_idx
    out = {}
    for key, r in results.items():
        if not key.startswith("dcgan/") or key.endswith("/all"):
            continue  # LinearSVC on 50,000 x 28,672 is what the torch solver replaces
        per_class = int(key.split("/")[1])
        idx = svm.draw_balanced(y, pool_idx, per_class, np.random.default_rng((seed, 5, per_class)))
        started = time.time()
        a = svm.fit_svm(X[idx], y[idx], r["C"], "liblinear")
        t_a, started = time.time() - started, time.time()
        b = svm.fit_svm(X[idx], y[idx], r["C"], "torch", device)
        t_b = time.time() - started
        pa, pb = a.predict(np.asarray(X_test)), b.predict(X_test)
        out[f"{per_class} per class"] = {
            str(r["C"]): {
                "liblinear_test_accuracy": 100.0 * float(np.mean(pa == y_test)),
                "torch_test_accuracy": 100.0 * float(np.mean(pb == y_test)),
                "prediction_agreement": float(np.mean(pa == pb)),
                "seconds": [round(t_a, 1), round(t_b, 1)],
            }
        }
    return out


def _run_supervised(run: _Run, train: Packed, test: Packed, labels: _Labels, seed, dev,
                    progress) -> None:  # fmt: skip
    """§5.2's purely supervised baseline on one 1,000-label draw (100 per class)."""
    per_class = min(r for r in run.regimes if r != "all")
    idx = svm.draw_balanced(labels.y, labels.pool_idx, per_class, np.random.default_rng((seed, 6)))
    sup = run.metrics.setdefault(
        "supervised",
        {"per_class": per_class, "config": run.cfg_name, "search_space": SEARCH_SPACE,
         "trials": []},
    )  # fmt: skip
    if sup.get("complete"):
        return

    def on_trial(trials: list[dict]) -> None:
        sup["trials"] = trials
        run.save()

    res = random_search(
        get_model_config(run.cfg_name), train.images[idx], labels.y[idx],
        train.images[labels.val_idx], labels.y[labels.val_idx], run.size.supervised_trials, seed,
        dev, test.images, labels.y_test, done=sup["trials"], on_trial=on_trial,
        max_minutes=run.minutes_left(), max_steps=run.size.supervised_max_steps,
        progress=progress,
    )  # fmt: skip
    sup.update(trials=res["trials"], best=res["best"], complete=res["complete"])


# ---------------------------------------------------------------------------------------------
# Command line: python -m dcgan_lib features ...


def _size_of(a: argparse.Namespace) -> ProtocolSize:
    """The size named by ``--size``, with the command line's overrides."""
    size = SIZES[a.size]
    if a.variants:
        size = dataclasses.replace(size, variants=tuple(a.variants.split(",")))
        bad = set(size.variants) - set(VARIANTS)
        if bad:
            raise ValueError(f"unknown variants {sorted(bad)}; choose from {VARIANTS}")
    if a.regimes:
        regimes = tuple(r if r == "all" else int(r) for r in a.regimes.split(","))
        size = dataclasses.replace(size, regimes=regimes)
    if a.select_draws is not None:
        size = dataclasses.replace(
            size, n_select_draws=a.select_draws, baseline_select_draws=a.select_draws
        )
    if a.eval_draws is not None:
        size = dataclasses.replace(
            size, n_eval_draws=a.eval_draws, baseline_eval_draws=a.eval_draws
        )
    if a.n_val is not None:
        size = dataclasses.replace(size, n_val=a.n_val)
    if a.supervised_trials is not None:
        size = dataclasses.replace(size, supervised_trials=a.supervised_trials)
    return size


def run_cli(a: argparse.Namespace) -> int:
    D, desc = None, D_DESCRIPTION
    if a.task == "synthetic" and a.d_weights is None and a.d == "book":
        D, desc = random_d("smoke32", a.seed + 1), "smoke32 D, random weights (smoke)"
    m = run_protocol(
        a.task,
        _size_of(a),
        a.out or f"artifacts/features_{a.task}",
        D=D,
        d_weights=a.d_weights,
        d_description=desc,
        data_root=a.data_root,
        cache_dir=a.cache_dir,
        metrics_name=a.metrics_name or D_SOURCES[a.d][2],
        d_source=a.d,
        feature_cache=a.feature_cache,
        device=a.device,
        solver=a.solver,
        solver_all=a.solver_all,
        seed=a.seed,
        max_minutes=a.max_minutes,
        command=" ".join(["python -m dcgan_lib", *sys.argv[1:]]),
        progress=not a.no_progress,
    )
    for key, r in m["results"].items():
        err = r["test_error"]
        err = f"{err['mean']:.2f} +- {err['ci95']:.2f}" if isinstance(err, dict) else f"{err:.2f}"
        print(f"{key}: test error {err}% (C={r['C']:g}, {m['data']})")
    if "supervised" in m and m["supervised"].get("best"):
        print(f"supervised: best validation error {m['supervised']['best']['val_error']:.2f}%")
    print("complete" if m["complete"] else "not complete: resume with the same command")
    return 0
