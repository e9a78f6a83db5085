"""The §4.1.1 de-duplication results read back: the tables and the numbers of the page's prose.

Each function turns the study's metrics (``run_dedup_study``'s, or the stored
``artifacts/dedup_ae/metrics.json``, ``sweep.json``) into rows for a table or into the texts the
page glues into its prose; a number whose result is missing is left out (the page says so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dcgan_lib.near_duplicates import TRANSFORMS
from dcgan_lib.studies.dedup_sweep import sweep_table

HASH_BITS = {"autoencoder": 128, "phash": 64}


def _f(x: float | None, spec: str = ".3f") -> str | None:
    """``x`` formatted, or None when it is missing or NaN (nothing to count)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def planted_rows(planted: Mapping) -> list[dict]:
    """Per hash and radius: recall, strict and judged precision, predicted pairs."""
    return [
        {
            "method": method,
            "bits": bits,
            "radius": r,
            "recall": f"{s['recall']:.3f}",
            "precision (strict)": f"{s['precision_strict']:.3f}",
            "precision (judge)": f"{s['precision']:.3f}",
            "predicted pairs": f"{s['predicted_pairs']:,}",
        }
        for method, bits in HASH_BITS.items()
        for r, s in planted.get(method, {}).items()
    ]


def kind_rows(planted: Mapping) -> list[dict]:
    """Recall per kind of change, one column per hash and radius."""
    runs = [(m, r) for m in HASH_BITS for r in planted.get(m, {})]
    kinds = list(planted["autoencoder"]["0"]["recall_by_kind"])
    return [
        {"kind": k} | {f"{m} r={r}": f"{planted[m][r]['recall_by_kind'][k]:.2f}" for m, r in runs}
        for k in kinds
    ]


def natural_rows(natural: Mapping) -> list[dict]:
    """Per dataset, hash and radius: the groups, what they remove, how they were judged."""
    rows = []
    for name, d in natural.items():
        for method in HASH_BITS:
            for r, x in d[method].items():
                prec = _f(x["precision_judged"])
                classes = x.get("cross_class_groups")
                rows.append(
                    {
                        "dataset": name,
                        "hash": method,
                        "radius": r,
                        "groups": f"{x['groups']:,}",
                        "removed (%)": f"{x['removed']:,} ({100 * x['removed'] / d['n_images']:.2f})",
                        "largest group": x["largest_group"],
                        "pixel-identical pairs": f"{x['identical_pairs']:,}",
                        "groups across splits": f"{x['cross_split_groups']:,}",
                        "groups across classes": None if classes is None else f"{classes:,}",
                        "test/val images in a group": f"{x['heldout_in_groups']:,} of {d['n_heldout']:,}",
                        "precision (judge, pairs)": prec and f"{prec} ({x['judged_pairs']:,})",
                    }
                )  # fmt: skip
    return rows


def short_name(name: str) -> str:
    """'cifar10:train/cat/0001.jpg' -> 'train/cat/0001.jpg'; Tiny ImageNet: split/file."""
    parts = [p for p in name.split(":")[-1].split("/") if p != "images"]
    if len(parts) < 2:
        return parts[0]
    keep = parts[-1:] if parts[-1].startswith(parts[-2]) or len(parts) < 3 else parts[-2:]
    return "/".join([parts[0], *keep])


def gallery(groups: list[dict]) -> list[dict]:
    """Collision groups for display, each image named by its short name."""
    return [g | {"names": [short_name(n) for n in g["names"]]} for g in groups]


def speed_rows(rows: list[dict]) -> list[dict]:
    """Hash and group seconds at each N, and images per second."""
    return [
        {
            "N": f"{r['n']:,}",
            "hash s": f"{r['hash_s']:.3f}",
            "group s": f"{r['group_s']:.3f}",
            "radius-1 group s": _f(r.get("group_radius_1_s"), ".2f"),
            "images/s (hash + group)": f"{r['images_per_s']:,.0f}",
        }
        for r in rows
    ]


def speed_fit_text(fit: Mapping) -> str:
    return (
        f"Linear fit of hash + group time: {1e6 * fit['seconds_per_image']:.1f} µs per image, "
        f"intercept {fit['intercept_s']:.3f} s, $R^2$ = {fit['r2']:.4f}."
    )


def sweep_rows(sweep: Mapping) -> list[dict]:
    """Per setting of the sweep: its fields, exact-collision recall and precision, and both at
    the widest radius swept."""
    radius = str(max(sweep["size"]["radii"]))
    wide = {r["setting"]: r for r in sweep_table(sweep, radius)}
    return [
        {
            "setting": r["setting"],
            "standardized": "yes" if r["standardize"] else "no",
            "noise std": f"{r['noise_std']:g}",
            "dropout": f"{r['dropout']:g}",
            "lr": f"{r['lr']:g}",
            "recall": f"{r['recall']:.3f}",
            "precision (strict)": f"{r['precision']:.3f}",
            "brightness recall": f"{r['recall_brightness']:.2f}",
            f"recall, radius {radius}": f"{wide[r['setting']]['recall']:.3f}",
            f"precision, radius {radius}": f"{wide[r['setting']]['precision']:.3f}",
        }
        for r in sweep_table(sweep)
    ]


def readings(metrics: Mapping) -> dict[str, str | None]:
    """The numbers of the page's prose, by glue name (None: not produced)."""
    planted = metrics.get("planted", {})
    ae, ph = planted.get("autoencoder", {}), planted.get("phash", {})
    out: dict[str, str | None] = {
        "ae_recall_r0": _f(ae.get("0", {}).get("recall")),
        "ae_precision_r0": _f(ae.get("0", {}).get("precision_strict")),
        "ae_recall_r2": _f(ae.get("2", {}).get("recall")),
        "ae_precision_r2": _f(ae.get("2", {}).get("precision_strict")),
        "phash_recall_r0": _f(ph.get("0", {}).get("recall")),
        "phash_recall_r2": _f(ph.get("2", {}).get("recall")),
        "phash_recall_r4": _f(ph.get("4", {}).get("recall")),
        "phash_precision_r4": _f(ph.get("4", {}).get("precision_strict")),
        "judge_threshold": _f(planted.get("judge", {}).get("threshold"), ".2f"),
        "n_params": f"{metrics['n_params']:,}" if "n_params" in metrics else None,
    }
    for kind in ("shift", "crop"):
        out[f"phash_r4_{kind}"] = _f(ph.get("4", {}).get("recall_by_kind", {}).get(kind), ".2f")
    for kind in TRANSFORMS:
        out[f"ae_r0_{kind}"] = _f(ae.get("0", {}).get("recall_by_kind", {}).get(kind), ".2f")
    for name, key in (("cifar10", "cifar"), ("tinyimagenet", "tiny"), ("made_images", "made")):
        out |= _natural_readings(metrics.get("natural", {}).get(name), key)
    out |= _speed_readings(metrics.get("speed") or {})
    return out


def _natural_readings(d: Mapping | None, key: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for r in ("0", "1"):
        x = None if d is None else d["autoencoder"].get(r)
        n, held = (d["n_images"], max(d["n_heldout"], 1)) if d else (1, 1)
        out[f"{key}_removed_r{r}"] = x and (
            f"{x['removed']:,} of {n:,} ({100 * x['removed'] / n:.2f} %)"
        )
        out[f"{key}_fp_r{r}"] = x and (
            f"{x['judged_pairs'] - x['judged_duplicate']} of {x['judged_pairs']:,} judged pairs"
        )
        out[f"{key}_heldout_r{r}"] = x and (
            f"{x['heldout_in_groups']:,} of {d['n_heldout']:,} "
            f"({100 * x['heldout_in_groups'] / held:.2f} %)"
        )
    ph = None if d is None else d["phash"].get("0")
    x = None if d is None else d["autoencoder"]["0"]
    classes = None if x is None else x.get("cross_class_groups")
    return out | {
        f"{key}_removed_phash": ph and f"{ph['removed']:,}",
        f"{key}_groups_r0": x and f"{x['groups']:,}",
        f"{key}_identical_r0": x and f"{x['identical_pairs']:,} of {x['removed']:,}",
        f"{key}_cross_split_r0": x and f"{x['cross_split_groups']:,}",
        f"{key}_cross_class_r0": None if classes is None else f"{classes:,}",
    }


def _speed_readings(speed: Mapping) -> dict[str, str | None]:
    rows = speed.get("cpu", {}).get("rows", [])
    best = max(rows, key=lambda r: r["n"]) if rows else None
    cuda = speed.get("cuda")
    return {
        "cpu_images_per_s": best and f"{best['images_per_s']:,.0f}",
        "cpu_n": best and f"{best['n']:,}",
        "gpu_speed": "GPU numbers were not measured."
        if cuda is None
        else f"On a GPU: {cuda.get('device', 'GPU')}.",
    }
