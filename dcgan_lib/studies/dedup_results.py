"""The §4.1.1 de-duplication results read back: the tables and the numbers of the page's prose.

Each function turns the study's metrics (``run_dedup_study``'s, or the stored
``artifacts/dedup_ae/metrics.json``, ``sweep.json``) into rows for a table or into the texts the
page glues into its prose; a number whose result is missing is left out (the page says so).
Tables are shaped to read in the book's text column: a few columns, quantities down the side.
The page's key figure (``key_examples`` and ``plotting.dedup_key_figure``) is drawn from the
stored numbers, with planted pairs from the data when it is at hand. Paper: §4.1.1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from dcgan_lib.near_duplicates import TRANSFORMS
from dcgan_lib.stats import upper_bound
from dcgan_lib.studies.dedup_sweep import sweep_table
from dcgan_lib.verdicts import HASH_CONFIDENCE, HASH_RECALL

HASH_BITS = {"autoencoder": 128, "phash": 64}
HASH_NAMES = {"autoencoder": "autoencoder", "phash": "pHash"}
GALLERY_SHOWN = 8  # collision groups a gallery shows (two rows of four)
DATASET_NAMES = {"cifar10": "CIFAR-10", "tinyimagenet": "Tiny ImageNet", "made_images": "test-made"}


def _f(x: float | None, spec: str = ".3f") -> str | None:
    """``x`` formatted, or None when it is missing or NaN (nothing to count)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def false_positives(s: Mapping) -> dict:
    """The false pairs among a grouping's predicted pairs on the planted set (strict: every
    predicted pair that is not planted, though a few may be natural duplicates), with the
    one-sided ``HASH_CONFIDENCE`` upper bound of the false-positive rate those counts allow
    (``stats.upper_bound``): ``{"false", "pairs", "bound"}``."""
    false, pairs = int(s["other_pairs"]), int(s["predicted_pairs"])
    return {"false": false, "pairs": pairs, "bound": upper_bound(false, pairs, HASH_CONFIDENCE)}


def planted_rows(planted: Mapping) -> list[dict]:
    """Per hash and radius: recall, predicted pairs, the false ones with their bound, and the
    precision counted strictly and with the pixel judge."""
    rows = []
    for method, bits in HASH_BITS.items():
        for r, s in planted.get(method, {}).items():
            fp = false_positives(s)
            rows.append(
                {
                    "hash": f"{HASH_NAMES[method]} ({bits} bits)",
                    "radius": r,
                    "recall": f"{s['recall']:.3f}",
                    "colliding pairs": f"{fp['pairs']:,}",
                    f"false (bound, {HASH_CONFIDENCE:.0%})": f"{fp['false']:,} ({fp['bound']:.2%})",
                    "precision, strict": f"{s['precision_strict']:.3f}",
                    "precision, judge": f"{s['precision']:.3f}",
                }
            )
    return rows


def kind_rows(planted: Mapping) -> list[dict]:
    """Recall per kind of change: one row per hash and radius, one column per kind."""
    kinds = list(planted["autoencoder"]["0"]["recall_by_kind"])
    return [
        {"hash": f"{HASH_NAMES[m]}, radius {r}", "all": f"{s['recall']:.2f}"}
        | {k: f"{s['recall_by_kind'][k]:.2f}" for k in kinds}
        for m in HASH_BITS
        for r, s in planted.get(m, {}).items()
    ]


NATURAL_QUANTITIES = (
    "groups",
    "images removed (%)",
    "pixel-identical pairs",
    "groups across splits",
    "groups across classes",
    "test/val images in a group",
    "judged pairs: near-duplicates",
)


def natural_rows(d: Mapping) -> list[dict]:
    """One dataset's collisions, quantities down the side (``NATURAL_QUANTITIES``) and one
    column per hash and radius: the groups, what they remove, how they were judged."""
    runs = {f"{HASH_NAMES[m]}, radius {r}": x for m in HASH_BITS for r, x in d.get(m, {}).items()}
    values: dict[str, dict] = {}
    for col, x in runs.items():
        classes = x.get("cross_class_groups")
        values[col] = {
            "groups": f"{x['groups']:,}",
            "images removed (%)": f"{x['removed']:,} ({100 * x['removed'] / d['n_images']:.2f})",
            "pixel-identical pairs": f"{x['identical_pairs']:,}",
            "groups across splits": f"{x['cross_split_groups']:,}",
            "groups across classes": None if classes is None else f"{classes:,}",
            "test/val images in a group": f"{x['heldout_in_groups']:,}",
            "judged pairs: near-duplicates": f"{x['judged_duplicate']:,} of {x['judged_pairs']:,}",
        }
    return [{"": q} | {col: v[q] for col, v in values.items()} for q in NATURAL_QUANTITIES]


def natural_caption(name: str, d: Mapping) -> str:
    """The line above a dataset's table: its images, and how many are held out."""
    return (
        f"**{DATASET_NAMES.get(name, name)}**: {d['n_images']:,} images, of which "
        f"{d['n_heldout']:,} test/val."
    )


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
    """Per setting of the sweep (its name holds its fields): exact-collision recall and strict
    precision, brightness recall, and both at the widest radius swept."""
    radius = str(max(sweep["size"]["radii"]))
    wide = {r["setting"]: r for r in sweep_table(sweep, radius)}
    return [
        {
            "setting": r["setting"],
            "recall": f"{r['recall']:.3f}",
            "precision": f"{r['precision']:.3f}",
            "brightness recall": f"{r['recall_brightness']:.2f}",
            f"recall, radius {radius}": f"{wide[r['setting']]['recall']:.3f}",
            f"precision, radius {radius}": f"{wide[r['setting']]['precision']:.3f}",
        }
        for r in sweep_table(sweep)
    ]


def config_text(value: object) -> str:
    """A setting as the parameters table shows it: 3e-4 as 0.0003, True as yes."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return (
        f"{value:g}"
        if isinstance(value, float)
        else f"{value:,}"
        if isinstance(value, int)
        else str(value)
    )


def sweep_note(sweep: Mapping) -> str:
    """What the sweep's setting names leave out: the values every setting shares unless its
    name says otherwise (those of the setting whose name starts with "chosen")."""
    chosen = next(
        (s["config"] for n, s in sweep.get("settings", {}).items() if n.startswith("chosen")), None
    )
    if chosen is None:
        return ""
    scaling = "standardizes its input" if chosen["standardize"] else "scales x/127.5 - 1"
    return f"Unless its name says otherwise, a setting {scaling} and trains at lr {chosen['lr']:g}."


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
        "judge_planted_below": _f(planted.get("judge", {}).get("planted_below"), ".3f"),
        "judge_random_below": _f(planted.get("judge", {}).get("random_below"), ".3f"),
        "n_params": f"{metrics['n_params']:,}" if "n_params" in metrics else None,
    }
    for kind in ("shift", "crop"):
        out[f"phash_r4_{kind}"] = _f(ph.get("4", {}).get("recall_by_kind", {}).get(kind), ".2f")
    for kind in TRANSFORMS:
        out[f"ae_r0_{kind}"] = _f(ae.get("0", {}).get("recall_by_kind", {}).get(kind), ".2f")
    for name, key in (("cifar10", "cifar"), ("tinyimagenet", "tiny"), ("made_images", "made")):
        out |= _natural_readings(metrics.get("natural", {}).get(name), key)
    out |= _bound_readings(ae.get("0"), metrics.get("natural", {}))
    out |= _train_readings(metrics.get("train") or {})
    out |= _speed_readings(metrics.get("speed") or {})
    return out


def _bound_readings(exact: Mapping | None, natural: Mapping) -> dict[str, str | None]:
    """The false pairs among exact collisions and the bound they allow: on the planted set
    (``ae_false_r0``, ``ae_pairs_r0``, ``ae_fp_bound_r0``), and on the judged natural
    collisions of every dataset together (``natural_false_r0``, ``natural_judged_r0``,
    ``natural_fp_bound_r0``)."""
    conf = f"{HASH_CONFIDENCE:.0%}"
    out: dict[str, str | None] = {"confidence": conf}
    fp = false_positives(exact) if exact else None
    out |= {
        "ae_false_r0": fp and f"{fp['false']:,}",
        "ae_pairs_r0": fp and f"{fp['pairs']:,}",
        "ae_fp_bound_r0": fp and f"{fp['bound']:.2%}",
    }
    judged = [d["autoencoder"]["0"] for d in natural.values() if "0" in d.get("autoencoder", {})]
    n = sum(x["judged_pairs"] for x in judged)
    false = sum(x["judged_pairs"] - x["judged_duplicate"] for x in judged)
    out |= {
        "natural_false_r0": f"{false:,}" if judged else None,
        "natural_judged_r0": f"{n:,}" if judged else None,
        "natural_fp_bound_r0": f"{upper_bound(false, n, HASH_CONFIDENCE):.0%}" if judged else None,
    }
    return out


def _train_readings(train: Mapping) -> dict[str, str | None]:
    """The stored autoencoder's training: images, epochs, final loss, training time."""
    history = train.get("history") or []
    last = history[-1] if history else None
    return {
        "train_images": f"{train['n_images']:,}" if "n_images" in train else None,
        "train_epochs": last and f"{last['epoch']}",
        "train_loss": last and f"{last['loss']:.3f}",
        "train_seconds": last and f"{last['seconds']:.0f} s",
    }


def key_examples(planted, model, kinds: tuple[str, ...] = TRANSFORMS) -> list[dict]:
    """One planted pair per kind of change (the first of that kind), with whether the hash's
    exact-collision rule finds it (the two codes are equal: at radius 0 that is the grouping's
    rule): ``[{"kind", "note", "original", "copy", "found"}]``, images (S, S, 3) uint8. Only the
    shown pairs are hashed. Paper: §4.1.1."""
    from dcgan_lib.dedup import image_codes

    picks = [planted.kind.index(k) for k in kinds if k in planted.kind]
    idx = [i for k in picks for i in (int(planted.source[k]), planted.n_base + k)]
    codes = image_codes(model, planted.images[idx])
    return [
        {
            "kind": planted.kind[k],
            "note": planted.note[k],
            "original": planted.images[idx[2 * j]],
            "copy": planted.images[idx[2 * j + 1]],
            "found": bool(np.array_equal(codes[2 * j], codes[2 * j + 1])),
        }
        for j, k in enumerate(picks)
    ]


def sets_text(sets: list) -> str:
    """[["tinyimagenet", "val"], ["cifar10", "test"]] -> 'Tiny ImageNet val and CIFAR-10 test'."""
    names = [
        " ".join([DATASET_NAMES.get(s[0], s[0]), *s[1:]])
        if isinstance(s, list)
        else DATASET_NAMES.get(s, s) + " images"
        for s in sets
    ]
    return " and ".join(names)


def key_figure(planted: Mapping, examples: list[dict] | None = None):
    """The page's key figure (``plotting.dedup_key_figure``) from the planted-pair metrics:
    recall by kind of the autoencoder hash and of pHash at exact collisions, the false pairs and
    their bound in the title, the verdict's recall bar (``verdicts.HASH_RECALL``) as a line; with
    ``examples`` (``key_examples``) the planted pairs above. Paper: §4.1.1."""
    from dcgan_lib.plotting import dedup_key_figure

    ae, ph = planted["autoencoder"]["0"], planted["phash"].get("0")
    series = {"autoencoder hash, exact collision": ae}
    if ph is not None:
        series["pHash, exact match"] = ph
    recall = {
        label: {k: s["recall_by_kind"][k] for k in TRANSFORMS if k in s["recall_by_kind"]}
        | {"all kinds": s["recall"]}
        for label, s in series.items()
    }
    fp = false_positives(ae)
    title = (
        f"Autoencoder hash, exact collisions: {fp['false']:,} false of {fp['pairs']:,} colliding "
        f"pairs; false-positive rate at most {fp['bound']:.2%} ({HASH_CONFIDENCE:.0%}, one-sided)"
    )
    line = (HASH_RECALL, f"the verdict's recall bar ({HASH_RECALL:g})")
    return dedup_key_figure(recall, title, line, examples)


KEY_CAPTION = (
    "The hash on {n_planted} near-duplicates planted into held-out images ({sets}): the share "
    "of each kind of change found by exact collision (the paper's rule), beside pHash on the "
    "same pairs; the title counts the false colliding pairs and the bound they allow. "
    "{examples}{kinds}"
)


def kinds_sentence(recall_by_kind: Mapping[str, float], n: int = 2) -> str:
    """Which kinds of planted change the hash finds most and least often, from its recall by
    kind at exact collisions (for the key caption; nothing typed). Paper: §4.1.1."""
    if len(recall_by_kind) < 2:
        return ""
    ranked = sorted(recall_by_kind.items(), key=lambda kv: -kv[1])
    n = min(n, len(ranked) // 2)

    def words(items: list[tuple[str, float]]) -> str:
        return " and ".join(f"{k} ({v:.0%})" for k, v in items)

    return f"Found most often: {words(ranked[:n])}; least often: {words(ranked[-n:][::-1])}."


KEY_EXAMPLES = "Below: one planted pair of each kind (original, copy), found or missed. "


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
