"""The stored §5 results read back: the tables of the §5 pages, and the stored classifier checked.

``save_classifier`` writes ``svm_all.pt`` (the full run's all-label SVM, the BatchNorm statistics
its features used, its predictions on a fixed test subset); ``check_stored_classifier`` recomputes
those predictions on a CPU, so a book page does not only read the numbers from a file. The rest
turns a stored ``metrics.json`` of ``dcgan_lib.studies.features`` into the pages' rows and texts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dcgan_lib.features import extract_features, with_bn_stats
from dcgan_lib.models import Discriminator


def save_classifier(path: Path, clf, bn_stats, X_test, y_test, seed: int, n: int = 1000) -> None:
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
