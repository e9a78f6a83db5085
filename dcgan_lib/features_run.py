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
resumes with the same command and skips what is done.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan_lib import svm
from dcgan_lib.config import get_model_config
from dcgan_lib.data import Packed, load_dataset
from dcgan_lib.features import (
    batch_average_bn_stats,
    bn_stats_of,
    extract_features,
    feature_dim,
    with_bn_stats,
)
from dcgan_lib.models import Discriminator
from dcgan_lib.supervised import SEARCH_SPACE, random_search

D_ARTIFACT = ("imagenet32_tinyimagenet", "D.pt")
D_DESCRIPTION = (
    "imagenet32 D trained as a DCGAN on Tiny ImageNet (100,000 real ImageNet-1k images, "
    "200 classes) downsampled to 32x32"
)
# what a 2-core CPU measures honestly: the raw-pixel baseline with a few draws (``SIZES["book"]``
# at 1,000 labels, then 400 per class with one draw per C: liblinear needs minutes per fit there)
CPU_BASELINES_COMMAND = (
    "python -m dcgan_lib features cifar10 --size book --data-root ../shared/data "
    "--metrics-name baselines_cpu.json, then python -m dcgan_lib features cifar10 --size book "
    "--regimes 400 --select-draws 1 --eval-draws 10 --data-root ../shared/data "
    "--metrics-name baselines_cpu.json, then (the random-D control at 1,000 labels, most of an "
    "hour on 2 cores) python -m dcgan_lib features cifar10 --size book --variants random "
    "--regimes 100 --select-draws 2 --eval-draws 10 --data-root ../shared/data "
    "--metrics-name baselines_cpu.json"
)
# how C is chosen; a stored result chosen by another rule is measured again
GRID_RULE = "grid extended downward (1-2-5 steps) while its lowest C is the best"
VARIANTS = ("dcgan", "random", "pixels", "dcgan_running")  # in the order they are run
REGIMES = {"cifar10": ("all", 400, 100), "svhn": (100,), "synthetic": ("all", 20, 10)}
PAPER = {  # paper §5.1 Table 1 and §5.2 Table 2
    "cifar10_all_accuracy": 82.8,
    "cifar10_400_accuracy": 73.8,
    "cifar10_400_ci95": 0.4,
    "kmeans_accuracy": 80.6,
    "kmeans_triangle_accuracy": 82.0,  # 3 layer K-means learned RF
    "svhn_1000_test_error": 22.48,
    "svhn_supervised_val_error": 28.87,
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
}


def data_label(meta: dict) -> str:
    """How every number measured on this data must name it."""
    desc = meta.get("description", "")
    if meta.get("dataset") == "cifar10":
        return "CIFAR-10 (JPEG re-encoded copy)" if "JPEG" in desc else "CIFAR-10"
    if meta.get("dataset") == "svhn":
        return "SVHN (train_32x32 / test_32x32, no extra)"
    return desc or str(meta.get("dataset"))


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} ({os.cpu_count()} CPU cores)"
    return f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()})"


def pixel_features(images_uint8: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Raw pixels as features: (N, S, S, 3) uint8 -> (N, 3*S*S) float32 in [-1, 1], channel-major
    (the images exactly as D sees them). The no-learning baseline."""
    n = len(images_uint8)
    out = np.empty((n, int(np.prod(images_uint8.shape[1:]))), np.float32)
    for s in range(0, n, chunk):
        x = np.asarray(images_uint8[s : s + chunk]).transpose(0, 3, 1, 2).reshape(-1, out.shape[1])
        out[s : s + chunk] = x / np.float32(127.5) - 1
    return out


def random_discriminator(cfg_name: str = "imagenet32", seed: int = 0) -> Discriminator:
    """D with its initial random weights (N(0, 0.02), BN scale N(1, 0.02)): the untrained baseline."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Discriminator(get_model_config(cfg_name)).eval()


# ---------------------------------------------------------------------------------------------
# Book mode: check stored results against a cheap CPU recomputation


@torch.no_grad()
def check_stored_classifier(
    D: Discriminator, svm_path: str | os.PathLike, test_images: np.ndarray, progress: bool = False
) -> dict:
    """Recompute the stored all-label classifier's predictions on its stored test subset.

    ``svm_all.pt`` (written by the full run) holds the BN statistics the features used, the fp16
    SVM weights, a fixed subset of test indices and the full run's predictions there. Returns the
    agreement (fraction of equal predictions) and the test error on that subset, in percent.
    """
    blob = torch.load(svm_path, map_location="cpu", weights_only=True)
    Dbn = with_bn_stats(D, list(zip(blob["bn_mean"], blob["bn_var"], strict=True)))
    idx = blob["test_idx"].numpy()
    feats = extract_features(Dbn, test_images[idx], bn_mode="running", progress=progress)
    scores = torch.from_numpy(feats) @ blob["coef"].float().T + blob["intercept"].float()
    pred = scores.argmax(1).numpy()
    return {
        "n": len(idx),
        "agreement": float(np.mean(pred == blob["test_pred"].numpy())),
        "subset_test_error": 100.0 * float(np.mean(pred != blob["test_labels"].numpy())),
        "stored_subset_test_error": 100.0
        * float(np.mean(blob["test_pred"].numpy() != blob["test_labels"].numpy())),
    }


# ---------------------------------------------------------------------------------------------
# The run


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def _register(path: Path, command: str, config: str) -> None:
    """Record ``path`` in artifacts/manifest.json when it lies under artifacts/."""
    from dcgan_lib import artifacts

    try:
        name = path.resolve().relative_to(artifacts.artifacts_dir().resolve()).as_posix()
    except ValueError:
        return  # a run folder outside artifacts/ (smoke, tests)
    artifacts.register(name, path, command=command, config=config)


def _load_task_data(task: str, size: ProtocolSize, data_root, cache_dir, progress):
    if task == "synthetic":
        n_train, n_test = size.synthetic_n or (800, 200)
        train = load_dataset("synthetic", split="train", image_size=32, limit=n_train)
        test = load_dataset("synthetic", split="test", image_size=32, limit=n_test)
        return train, test
    train = load_dataset(task, data_root, "train", 32, cache_dir=cache_dir, progress=progress)
    test = load_dataset(task, data_root, "test", 32, cache_dir=cache_dir, progress=progress)
    return train, test


def _is_current(result: dict | None, c_floor: float | None) -> bool:
    """Whether a stored result exists and chose its C by this run's rule (else: measure again)."""
    if result is None:
        return False
    return c_floor is None or result.get("grid_rule") == GRID_RULE


def _regime_code(regime) -> int:
    return 0 if regime == "all" else int(regime)


def _run_regime(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    val_idx: np.ndarray,
    pool_idx: np.ndarray,
    regime,
    n_select: int,
    n_eval: int,
    grids: tuple[tuple[float, ...], tuple[float, ...]],
    c_floor: float | None,
    seed: int,
    solver: str,
    device: str,
    progress: bool,
) -> tuple[dict, object]:
    """One label regime: C on the validation split, then the test numbers. Returns (result,
    the final classifier for "all", else None)."""
    code = _regime_code(regime)
    started = time.time()
    per_class = None if regime == "all" else int(regime)
    grid = grids[1] if regime == "all" else grids[0]
    # common random draws: every variant sees the same labelled draws for a regime
    sel = svm.select_C(
        X,
        y,
        val_idx,
        pool_idx,
        per_class,
        grid,
        n_select,
        np.random.default_rng((seed, 1, code)),
        solver,
        device,
        progress,
        c_floor,
    )
    if regime == "all":
        # deviation: C chosen with the 40,000-image pool, then refit on every training label
        clf = svm.fit_svm(X, y, sel.best_C, solver, device, progress, init=sel.best_fit)
        result = {
            "C": sel.best_C,
            "per_class": None,
            "n_labels": len(y),
            "train_error": svm.error_rate(clf, X, y),
            "val_error_at_C": min(r["val_error_mean"] for r in sel.table),
            "test_error": svm.error_rate(clf, X_test, y_test),
        }
    else:
        clf = None
        result = svm.evaluate_draws(
            X,
            y,
            val_idx,
            pool_idx,
            X_test,
            y_test,
            per_class,
            sel.best_C,
            n_eval,
            np.random.default_rng((seed, 2, code)),
            solver,
            device,
            progress,
        )
    result["selection"] = sel.table
    result["grid_rule"] = GRID_RULE if c_floor is not None else "the grid as given"
    result["c_extended_below"] = list(sel.extended_below)
    result["n_select_draws"] = 1 if regime == "all" else n_select
    result["seconds"] = round(time.time() - started, 1)
    result["solver"] = solver
    return result, clf


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
) -> dict:
    """Run (or resume) the §5 protocol for ``task`` ("cifar10", "svhn", or "synthetic" for
    smoke); write ``out/metrics_name`` after every unit and return its content.

    D: a Discriminator, or ``d_weights`` (an fp16 file from ``export``); default the artifact
    ``imagenet32_tinyimagenet/D.pt`` (raises ``ArtifactMissing`` naming the command that makes
    it). Not needed when ``size`` runs only the pixel baseline. ``solver="auto"``: the torch
    L2-SVM on a GPU, LinearSVC on a CPU. Paper: §5.1, §5.2.
    """
    size = SIZES[size] if isinstance(size, str) else size
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = str(svm.resolve_device(device))
    solver = solver if solver != "auto" else ("torch" if dev.startswith("cuda") else "liblinear")
    started = time.time()
    needs_d = any(v in ("dcgan", "dcgan_running") for v in size.variants)
    d_sha, d_provenance = None, None
    if D is None and needs_d and task == "synthetic":
        D, d_description = random_discriminator("smoke32", seed + 1), "smoke32 D, random (smoke)"
    if D is None and needs_d:
        from dcgan_lib import artifacts

        path = Path(d_weights) if d_weights else artifacts.require(*D_ARTIFACT)
        d_sha = artifacts.sha256(path)
        D = artifacts.load_weights(path, "D")
        if D.cfg.name != "imagenet32" or d_weights:  # not the book's D: say what it is
            d_description = f"{D.cfg.name} D from {path}"
        d_provenance = {
            "path": str(path),
            "manifest": artifacts.read_manifest().get("files", {}).get("/".join(D_ARTIFACT)),
        }
    cfg_name = D.cfg.name if D is not None else ("smoke32" if task == "synthetic" else "imagenet32")

    train, test = _load_task_data(task, size, data_root, cache_dir, progress)
    y, y_test = np.asarray(train.labels), np.asarray(test.labels)
    val_idx, pool_idx = svm.split_validation(len(y), size.n_val, seed)
    # BN statistics pool: the labelled pool in shuffled order (authors: the shuffled trX)
    bn_order = np.random.default_rng((seed, 3)).permutation(pool_idx)

    path = out / metrics_name
    identity = {
        "task": task,
        "size": size.name,
        "seed": seed,
        "d_sha256": d_sha,
        "d_config": cfg_name,
        "n_train": len(y),
        "n_test": len(y_test),
        "n_val": size.n_val,
    }
    metrics = json.loads(path.read_text()) if path.exists() else {}
    if {k: metrics.get(k) for k in identity} != identity:
        metrics = {}  # another run's results: start over
    metrics.update(identity)
    metrics.setdefault("results", {})
    if metrics.get("command") and "runs" not in metrics:  # written before runs were recorded
        metrics["runs"] = [
            {k: metrics.get(k) for k in ("command", "machine", "device", "solver", "protocol")}
        ]
    metrics.setdefault("runs", []).append(
        {
            "command": command,
            "machine": machine(),
            "device": dev,
            "solver": solver,
            "protocol": asdict(size),
            "started": _now(),
        }
    )
    metrics.update(
        {
            "data": data_label(train.meta),
            "data_description": [train.meta.get("description"), test.meta.get("description")],
            "d_description": (
                d_description
                if needs_d
                else f"{cfg_name} D, random untrained weights (seed {seed})"
                if "random" in size.variants
                else None
            ),
            "d_weights": d_provenance,
            "feature_dim": {
                "dcgan": feature_dim(get_model_config(cfg_name)),
                "pixels": int(np.prod(train.images.shape[1:])),
            },
            "protocol": asdict(size),
            "machine": machine(),
            "device": dev,
            "solver": solver,
            "command": command,
            "paper": PAPER,
        }
    )
    regimes = size.regimes or REGIMES[task]

    def save() -> None:
        metrics["updated"] = _now()
        metrics["complete"] = _complete()
        _write_json(path, metrics)
        _register(path, command, cfg_name)

    def _complete() -> bool:
        want = [f"{v}/{r}" for v in size.variants for r in regimes]
        sup = size.supervised_trials == 0 or (metrics.get("supervised", {}).get("complete"))
        done = all(_is_current(metrics["results"].get(k), size.c_floor) for k in want)
        return done and bool(sup)

    def out_of_time() -> bool:
        return max_minutes is not None and time.time() - started > 60 * max_minutes

    for variant in size.variants:
        todo = [
            r
            for r in regimes
            if not _is_current(metrics["results"].get(f"{variant}/{r}"), size.c_floor)
        ]
        if not todo or out_of_time():
            continue
        # features of the training and test images for this variant
        if variant == "pixels":
            X, X_test = pixel_features(train.images), pixel_features(test.images)
            bn_info = None
        else:
            Dv = D if variant.startswith("dcgan") else random_discriminator(cfg_name, seed)
            bn_mode = "running" if variant == "dcgan_running" else "batch_avg"
            stats = (
                batch_average_bn_stats(Dv, train.images[bn_order], 128, dev, progress)
                if bn_mode == "batch_avg"
                else bn_stats_of(Dv)
            )
            kw = dict(bn_mode="batch_avg", bn_stats=stats, device=dev, progress=progress)
            X = extract_features(Dv, train.images, **kw)
            X_test = extract_features(Dv, test.images, **kw)
            bn_info = stats
        n_select = size.n_select_draws if variant == "dcgan" else size.baseline_select_draws
        n_eval = size.n_eval_draws if variant == "dcgan" else size.baseline_eval_draws
        for regime in todo:
            if out_of_time():
                break
            result, clf = _run_regime(
                X,
                y,
                X_test,
                y_test,
                val_idx,
                pool_idx,
                regime,
                n_select,
                n_eval,
                (size.c_grid, size.c_grid_all),
                size.c_floor,
                seed,
                solver,
                dev,
                progress,
            )
            result["data"] = metrics["data"]
            result["command"], result["machine"] = command, metrics["machine"]
            metrics["results"][f"{variant}/{regime}"] = result
            if variant == "dcgan" and regime == "all":
                _save_classifier(out / "svm_all.pt", clf, bn_info, X_test, y_test, seed)
                _register(out / "svm_all.pt", command, cfg_name)
            save()
        done_here = all(f"dcgan/{r}" in metrics["results"] for r in regimes)
        if variant == "dcgan" and solver == "torch" and done_here and "solver_check" not in metrics:
            metrics["solver_check"] = solver_check(
                X, y, X_test, y_test, pool_idx, metrics["results"], seed, dev
            )
            save()
        del X, X_test

    if size.supervised_trials and not out_of_time():
        _run_supervised(
            metrics,
            train,
            test,
            y,
            y_test,
            val_idx,
            pool_idx,
            size,
            cfg_name,
            seed,
            dev,
            started,
            max_minutes,
            progress,
            save,
        )
    save()
    return metrics


def _save_classifier(path: Path, clf, bn_stats, X_test, y_test, seed: int, n: int = 1000) -> None:
    """The all-label SVM (fp16), the BN statistics and the predictions on a fixed test subset:
    what book mode needs to recompute those predictions on a CPU."""
    idx = np.sort(np.random.default_rng((seed, 4)).choice(len(y_test), min(n, len(y_test)), False))
    torch.save(
        {
            "coef": torch.from_numpy(np.asarray(clf.coef_, np.float32)).half(),
            "intercept": torch.from_numpy(np.asarray(clf.intercept_, np.float32)),
            "C": float(clf.C),
            "bn_mean": [m.float().cpu() for m, _ in bn_stats],
            "bn_var": [v.float().cpu() for _, v in bn_stats],
            "test_idx": torch.from_numpy(idx),
            "test_pred": torch.from_numpy(np.asarray(clf.predict(X_test[idx]), np.int64)),
            "test_labels": torch.from_numpy(np.asarray(y_test[idx], np.int64)),
        },
        path,
    )


def solver_check(X, y, X_test, y_test, pool_idx, results: dict, seed: int, device: str) -> dict:
    """LinearSVC and the torch L2-SVM on the same labelled draw, at the C the protocol chose, for
    each label budget: test accuracy of each and the fraction of equal predictions (the issue's
    bar: the accuracies within half a point)."""
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


def _run_supervised(
    metrics,
    train: Packed,
    test: Packed,
    y,
    y_test,
    val_idx,
    pool_idx,
    size,
    cfg_name,
    seed,
    dev,
    started,
    max_minutes,
    progress,
    save,
) -> None:
    """§5.2's purely supervised baseline on one 1,000-label draw (100 per class)."""
    per_class = min(r for r in (size.regimes or REGIMES[metrics["task"]]) if r != "all")
    idx = svm.draw_balanced(y, pool_idx, per_class, np.random.default_rng((seed, 6)))
    sup = metrics.setdefault(
        "supervised",
        {"per_class": per_class, "config": cfg_name, "search_space": SEARCH_SPACE, "trials": []},
    )
    if sup.get("complete"):
        return
    left = None if max_minutes is None else max_minutes - (time.time() - started) / 60

    def on_trial(trials: list[dict]) -> None:
        sup["trials"] = trials
        save()

    res = random_search(
        get_model_config(cfg_name),
        train.images[idx],
        y[idx],
        train.images[val_idx],
        y[val_idx],
        size.supervised_trials,
        seed,
        dev,
        test.images,
        y_test,
        done=sup["trials"],
        on_trial=on_trial,
        max_minutes=left,
        max_steps=size.supervised_max_steps,
        progress=progress,
    )
    sup.update(trials=res["trials"], best=res["best"], complete=res["complete"])


# ---------------------------------------------------------------------------------------------
# Command line: python -m dcgan_lib features ...


def add_cli(sub) -> None:
    p = sub.add_parser("features", help="D features + L2-SVM on CIFAR-10 or SVHN; paper §5")
    p.add_argument("task", choices=["cifar10", "svhn", "synthetic"])
    p.add_argument("--size", default="full", choices=sorted(SIZES))
    p.add_argument("--out", default=None, help="default artifacts/features_<task>")
    p.add_argument(
        "--d-weights", default=None, help="default artifacts/imagenet32_tinyimagenet/D.pt"
    )
    p.add_argument("--data-root", default=None, help="default $DCGAN_DATA")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--metrics-name", default="metrics.json")
    p.add_argument("--variants", default=None, help=f"comma list from {','.join(VARIANTS)}")
    p.add_argument("--regimes", default=None, help="comma list of labels per class or 'all'")
    p.add_argument("--select-draws", type=int, default=None, help="draws per C (authors: 10)")
    p.add_argument(
        "--eval-draws", type=int, default=None, help="draws at the best C (authors: 100)"
    )
    p.add_argument("--supervised-trials", type=int, default=None, help="paper: 64")
    p.add_argument("--device", default="auto")
    p.add_argument("--solver", default="auto", choices=["auto", *svm.SOLVERS])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=None, help="time budget; resumable")
    p.add_argument("--no-progress", action="store_true")


def run_cli(a) -> int:
    import dataclasses
    import sys

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
    if a.supervised_trials is not None:
        size = dataclasses.replace(size, supervised_trials=a.supervised_trials)
    D, desc = None, D_DESCRIPTION
    if a.task == "synthetic" and a.d_weights is None:
        D, desc = random_discriminator("smoke32", a.seed + 1), "smoke32 D, random weights (smoke)"
    m = run_protocol(
        a.task,
        size,
        a.out or f"artifacts/features_{a.task}",
        D=D,
        d_weights=a.d_weights,
        d_description=desc,
        data_root=a.data_root,
        cache_dir=a.cache_dir,
        metrics_name=a.metrics_name,
        device=a.device,
        solver=a.solver,
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


# ---------------------------------------------------------------------------------------------
# Reading results (the notebooks' tables)

VARIANT_NAMES = {
    "dcgan": "DCGAN D features (BN: batch averages, the authors')",
    "dcgan_running": "DCGAN D features (BN: running averages)",
    "random": "same D, random untrained weights",
    "pixels": "raw pixels",
}


def summary_rows(metrics: dict) -> list[dict]:
    """One row per measured result: features, labels, test accuracy (mean and 1.96 sd over the
    draws; one fit for all labels), draws, C, the data it was measured on."""
    rows = []
    for key, r in metrics.get("results", {}).items():
        variant, regime = key.split("/")
        te = r["test_error"]
        many = isinstance(te, dict)
        dim = metrics.get("feature_dim", {}).get("pixels" if variant == "pixels" else "dcgan")
        rows.append(
            {
                "key": key,
                "features": f"{VARIANT_NAMES.get(variant, variant)}, {dim:,}-d",
                "labels": "all" if regime == "all" else f"{int(regime):,} per class",
                "n_labels": r["n_labels"],
                "accuracy": 100.0 - (te["mean"] if many else te),
                "ci95": te["ci95"] if many else None,
                "n_draws": te["n"] if many else 1,
                "C": r["C"],
                "data": r.get("data", metrics.get("data")),
            }
        )
    return rows


def selection_rows(metrics: dict) -> list[dict]:
    """How each result chose its C: the values tried (the grid and what was added below it), the
    chosen C and the mean validation error at the chosen and at the lowest C tried."""
    rows = []
    for key, r in metrics.get("results", {}).items():
        table = sorted(r.get("selection", []), key=lambda s: s["C"])
        if not table:
            continue
        best = min(table, key=lambda s: s["val_error_mean"])
        rows.append(
            {
                "key": key,
                "C": r["C"],
                "tried": [s["C"] for s in table],
                "added_below": r.get("c_extended_below", []),
                "rule": r.get("grid_rule", "the grid as given"),
                "val_error_at_C": best["val_error_mean"],
                "val_error_at_lowest": table[0]["val_error_mean"],
                "at_lower_edge": best["C"] == table[0]["C"],
            }
        )
    return rows


def selection_markdown(rows: list[dict]) -> str:
    """``selection_rows`` as a markdown table."""
    out = (
        "| result | C tried | added below the authors' grid | chosen C "
        "| validation error at the chosen C | at the lowest C tried |\n|---|---|---|---|---|---|\n"
    )
    for r in rows:
        added = ", ".join(f"{c:g}" for c in r["added_below"]) or "none"
        out += (
            f"| {r['key']} | {min(r['tried']):g} to {max(r['tried']):g} ({len(r['tried'])} values) "
            f"| {added} | {r['C']:g} | {r['val_error_at_C']:.2f}% | {r['val_error_at_lowest']:.2f}% |\n"
        )
    return out


def accuracy_text(metrics: dict | None, key: str) -> str | None:
    """'82.80%' or '73.80% +- 0.40' (mean +- 1.96 sd over draws) for a result, or None."""
    r = (metrics or {}).get("results", {}).get(key)
    if r is None:
        return None
    te = r["test_error"]
    if isinstance(te, dict):
        return f"{100 - te['mean']:.2f}% ± {te['ci95']:.2f}"
    return f"{100 - te:.2f}%"


def error_text(metrics: dict | None, key: str) -> str | None:
    """'22.48%' or '22.48% +- 0.50' (test error, mean +- 1.96 sd over draws), or None."""
    r = (metrics or {}).get("results", {}).get(key)
    if r is None:
        return None
    te = r["test_error"]
    return f"{te['mean']:.2f}% ± {te['ci95']:.2f}" if isinstance(te, dict) else f"{te:.2f}%"


def svhn_present(root: str | os.PathLike | None) -> bool:
    """Whether ``root`` holds SVHN's train_32x32.mat and test_32x32.mat (or under svhn/)."""
    if root is None:
        return False
    root = Path(root)
    return any(
        (root / sub / "train_32x32.mat").is_file() and (root / sub / "test_32x32.mat").is_file()
        for sub in (".", "svhn")
    )


def rows_markdown(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    out = "| features | labels | test accuracy | draws | C | data |\n|---|---|---|---|---|---|\n"
    for r in rows:
        acc = f"{r['accuracy']:.2f}%" + (f" ± {r['ci95']:.2f}" if r["ci95"] is not None else "")
        out += (
            f"| {r['features']} | {r['labels']} | {acc} | {r['n_draws']} | {r['C']:g} "
            f"| {r['data']} |\n"
        )
    return out
