"""The stored results of the §4 experiments read back: per seed, summarized over seeds, and as the
rows of the book's tables (``artifacts/NAME/result_sSEED.json``, written by
``dcgan_lib.studies.experiments.run_experiment``). Paper: §4.

The pages' side of it too: the rows of the sample-quality page's tables, the numbers its prose
quotes (``*_readings``), and ``check_*`` functions that raise AssertionError when a stored result
or a sentence of the page no longer holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dcgan_lib import artifacts
from dcgan_lib.experiments import (
    ANCHORS,
    EXPERIMENTS,
    MEASURED_BY_US,
    REFERENCES,
    RESULT_PREFIX,
    TARGETS,
    Anchor,
    Experiment,
    Reference,
    anchor_of,
)
from dcgan_lib.storage import read_jsonl
from dcgan_lib.verdicts import FID_CLOSER, NEAR_IDENTICAL


def read_results(name: str, root: Path | None = None) -> list[dict]:
    """Every stored seed's result of experiment ``name`` (empty when none is produced yet)."""
    folder = (root or artifacts.artifacts_dir()) / name
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"{RESULT_PREFIX}*.json"))]


def _mean_spread(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(a.mean()),
        "sd": float(a.std(ddof=1)) if len(a) > 1 else math.nan,
        "min": float(a.min()),
        "max": float(a.max()),
        "n": len(a),
    }


def summarize(results: list[dict]) -> dict:
    """Per FID key (``final:celeba/train``, ...): protocol, mean, sd, min, max over seeds."""
    out: dict[str, dict] = {}
    keys = sorted({k for r in results for k in r["fid"]})
    for key in keys:
        rows = [r["fid"][key] for r in results if key in r["fid"]]
        out[key] = {
            "protocol": rows[0]["protocol"],
            "sampling": rows[0]["sampling"],
            "fid": _mean_spread([r["fid"] for r in rows]),
            "kid": _mean_spread([r["kid_mean"] for r in rows]),
            "step": _mean_spread([r["step"] for r in rows]),
        }
    return out


def fid_text(stats: dict) -> str:
    """'71.3 ± 2.1 (sd, 3 seeds)' or '71.3 (1 seed)'."""
    f = stats["fid"]
    if f["n"] > 1:
        return f"{f['mean']:.1f} ± {f['sd']:.1f} (sd, {f['n']} seeds)"
    return f"{f['mean']:.1f} (1 seed)"


def results_table(
    root: Path | None = None, experiments: dict[str, Experiment] | None = None
) -> list[dict]:
    """One row per experiment with its headline FID (or "not produced yet" and the command);
    a run that selects its checkpoint on a half also gets its selection and its FID on the
    reporting half (``selection``, ``report_fid``)."""
    return [_result_row(exp, root) for exp in (experiments or EXPERIMENTS).values()]


def _result_row(exp: Experiment, root: Path | None) -> dict:
    results = read_results(exp.name, root)
    row = {
        "experiment": exp.name,
        "config": exp.config,
        "stands_in_for": exp.stands_in_for,
        "seeds_done": [r["seed"] for r in results],
    }
    if not results:
        return row | {"status": "not produced yet", "command": exp.command()}
    stats = summarize(results)
    head = stats[exp.headline_key()]
    row.update(
        status="measured",
        protocol=head["protocol"],
        fid=fid_text(head),
        fid_mean=head["fid"]["mean"],
        kid=f"{head['kid']['mean']:.4f}",
        image_steps=results[0]["image_steps"],
        train_minutes=float(np.mean([r["train_minutes"] for r in results])),
        devices=sorted({d for r in results for d in r["devices"]}),
    )
    best = stats.get(exp.headline_key("best"))
    if best is not None:
        row.update(best_fid=fid_text(best), best_step=int(best["step"]["mean"]))
    report = stats.get(exp.headline_key("best") + "#report")
    if report is not None:
        row.update(report_fid=fid_text(report), report_protocol=report["protocol"])
    if "selection" in results[0]:
        row["selection"] = results[0]["selection"]
    target = TARGETS.get((exp.name, head["protocol"]))
    if target is not None:
        # a run that tracks FID is judged by its best checkpoint, the others by the final one
        judged = best if exp.fid_every and best is not None else head
        row.update(target=target, target_met=judged["fid"]["mean"] < target)
    return row


def memorization_rows(
    root: Path | None = None, experiments: dict[str, Experiment] | None = None
) -> list[dict]:
    """FID against held-out images vs against training images, where both were measured."""
    rows = []
    for exp in (experiments or EXPERIMENTS).values():
        results = read_results(exp.name, root) if len(exp.references) >= 2 else []
        if not results:
            continue
        stats = summarize(results)
        (d0, s0), (d1, s1) = exp.references[:2]
        held, seen = stats.get(f"final:{d0}/{s0}"), stats.get(f"final:{d1}/{s1}")
        if held and seen:
            rows.append(
                {
                    "experiment": exp.name,
                    "held_out": f"{held['protocol']}: {fid_text(held)}",
                    "training": f"{seen['protocol']}: {fid_text(seen)}",
                    "gap": held["fid"]["mean"] - seen["fid"]["mean"],
                }
            )
    return rows


def display_rows(
    rows: list[dict], root: Path | None = None, experiments: dict[str, Experiment] | None = None
) -> list[dict]:
    """The measured rows of ``results_table`` for a page: the headline FID (mean ± sd, each
    seed's, the best checkpoint's and the reporting half's where measured), KID and seeds done.
    The training behind each row: ``training_rows``."""
    out = []
    for r in rows:
        if r["status"] != "measured":
            continue
        exp = (experiments or EXPERIMENTS)[r["experiment"]]
        results = read_results(exp.name, root)
        key = exp.headline_key()
        fid = r["fid"]
        if len(results) > 1:
            fid += "; each seed: " + ", ".join(f"{x['fid'][key]['fid']:.1f}" for x in results)
        fid += f"; best {r['best_fid']}" if "best_fid" in r else ""
        fid += f"; reporting half {r['report_fid']}" if "report_fid" in r else ""
        out.append(
            {
                "run": f"`{r['experiment']}`",
                "protocol": r["protocol"],
                "FID": fid,
                "KID": r["kid"],
                "seeds done": f"{len(r['seeds_done'])} of {len(exp.seeds)}",
            }
        )
    return out


def training_rows(rows: list[dict]) -> list[dict]:
    """The training behind each measured row of ``results_table``: image-steps (updates x
    batch), training minutes (mean over seeds) and devices."""
    return [
        {
            "run": f"`{r['experiment']}`",
            "image-steps": f"{r['image_steps']:,}",
            "training minutes a seed": f"{r['train_minutes']:.1f}",
            "device": ", ".join(r["devices"]),
        }
        for r in rows
        if r["status"] == "measured"
    ]


def pending_rows(rows: list[dict]) -> list[dict]:
    """The rows of ``results_table`` not produced yet, each with the command that makes it."""
    return [
        {"run": f"`{r['experiment']}`", "stands in for": r["stands_in_for"],
         "command": f"`{r['command']}`"}
        for r in rows
        if r["status"] != "measured"
    ]  # fmt: skip


def pending_text(rows: list[dict]) -> str | None:
    """The runs of ``results_table`` not produced yet, in one sentence (None when every run is
    measured); their command is the page's "Run it yourself" box."""
    names = [f"`{r['experiment']}`" for r in rows if r["status"] != "measured"]
    if not names:
        return None
    runs = "this run" if len(names) == 1 else f"these {len(names)} runs"
    return f"Not produced yet: {', '.join(names)}. The command in *Run it yourself* makes {runs} on a GPU."


def selection_rows(row: dict) -> list[dict]:
    """How a run that selects its checkpoint on one half chose it, and every FID reported for
    the chosen checkpoint with what it shares with the selection images (``row``: a measured
    row of ``results_table`` with a ``selection``)."""
    sel = row["selection"]
    steps = ", ".join(f"{s:,}" for s in sel["evaluated_steps"])
    chosen = "–" if sel["chosen_step"] is None else f"step {sel['chosen_step']:,}"
    rows = [
        {"what": "chosen by", "value": f"{sel['chosen_by']} at steps {steps}"},
        {"what": "selection images", "value": sel["selection_images"]},
        {"what": "chosen", "value": f"{chosen}, FID {sel['chosen_fid']:.1f}"},
        {"what": "shipped weights", "value": sel["shipped_weights"]},
    ]
    return rows + [
        {"what": f"reported: {protocol}", "value": f"{r['fid']:.1f} ({r['overlap_with_selection']})"}
        for protocol, r in sel["reported"].items()
    ]  # fmt: skip


def _check(ok: bool, message: str) -> None:
    """A page's claim or consistency check: AssertionError with ``message`` when it fails."""
    if not ok:
        raise AssertionError(message)


def experiment_rows(experiments: dict[str, Experiment]) -> list[dict]:
    """The §4 runs: what each trains (config, data, length), what it stands in for, its FID
    references and seeds."""
    return [
        {
            "run": f"`{e.name}`",
            "trains": f"`{e.config}` on {e.data} at {e.image_size} px, "
            + (f"{e.max_steps:,} updates" if e.max_steps else f"{e.epochs} epochs"),
            "stands in for": e.stands_in_for,
            "FID against": ", ".join(f"{d}/{s}" for d, s in e.references),
            "seeds": ", ".join(map(str, e.seeds)),
        }
        for e in experiments.values()
    ]


def _anchor_line(a: Anchor | Reference) -> str:
    stored = f"stored in `artifacts/{a.stored}`" if a.stored else "stored in no artifact"
    return f"- {a.what}: **{a.fid}** ({a.protocol}); {a.source}; {stored}."


def reference_text(
    anchors: tuple[Anchor | Reference, ...] = (*ANCHORS, *REFERENCES),
) -> str:
    """The reference FIDs (the anchors, then the other references) as markdown, in two lists:
    those this project measured outside the book's stored runs, and those measured by others;
    each with its protocol, its source and the artifact that stores it ("stored in no artifact"
    where none does)."""
    ours = [a for a in anchors if a.measured_by == MEASURED_BY_US]
    others = [a for a in anchors if a.measured_by != MEASURED_BY_US]
    parts = []
    if ours:
        parts.append(
            "**Measured by this project**, outside the book's stored runs:\n\n"
            + "\n".join(map(_anchor_line, ours))
        )
    if others:
        lines = [
            _anchor_line(a)[:-1] + f"; measured by {a.measured_by.removeprefix('others: ')}."
            for a in others
        ]
        parts.append("**Measured by others**:\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def beside_anchor_rows(rows: list[dict]) -> list[dict]:
    """Each anchor beside our run of the same protocol (``rows``: ``results_table``), with how
    far apart they are and how the anchor's training differs."""
    by_name = {r["experiment"]: r for r in rows}
    return [
        {
            "run": f"`{a.experiment}`",
            "protocol": a.protocol,
            "ours": by_name[a.experiment]["fid"],
            "anchor": a.fid,
            "ours minus anchor": f"{by_name[a.experiment]['fid_mean'] - a.fid:+.1f}",
            "how the anchor differs": a.difference,
        }
        for a in ANCHORS
        if by_name.get(a.experiment, {}).get("protocol") == a.protocol
    ]


def studiogan_text(ours: float, protocol: str, anchor: Anchor | None = None) -> str:
    """Our CIFAR-10 FID (``ours``, under ``protocol``) beside StudioGAN's published one, in one
    sentence: the difference only when the two protocols are the same, else why there is none
    (StudioGAN measures on the original CIFAR-10 images with its own pipeline; ours, on the JPEG
    re-encoded copy)."""
    a = anchor or anchor_of("cifar10_imagenet32")
    if a.protocol == protocol:
        diff = ours - a.fid
        return (
            f"That is {abs(diff):.1f} {'lower' if diff < 0 else 'higher'} than the {a.fid} "
            f"that PyTorch-StudioGAN reports for its DCGAN under the same protocol."
        )
    return (
        f"PyTorch-StudioGAN reports {a.fid} for its DCGAN under its own protocol ({a.protocol}), "
        f"not ours ({protocol}): the two numbers are not comparable, so no difference is given."
    )


def gap_text(held_out: float, training: float) -> str:
    """FID against held-out images beside FID against training images, in words."""
    if held_out == training:
        return "its FID is the same against the training images as against held-out ones"
    side = "higher" if training > held_out else "lower"
    return (
        f"its FID against the training images is {abs(held_out - training):.2f} {side} than "
        "against held-out ones"
    )


def cifar_readings(cifar: list[dict], planned_seeds: int) -> dict[str, str]:
    """CIFAR-10: the StudioGAN anchor's FID and protocol and, once measured (``cifar``: the
    stored results), ours against the test and the training images, their gap in numbers and
    words, beside StudioGAN (``studiogan_text``), seeds and updates."""
    studiogan = anchor_of("cifar10_imagenet32")
    readings = {"studiogan_fid": f"{studiogan.fid}", "studiogan_protocol": studiogan.protocol}
    if not cifar:
        return readings
    stats = summarize(cifar)
    test, train = stats["final:cifar10/test"], stats["final:cifar10/train"]
    held, seen = test["fid"]["mean"], train["fid"]["mean"]
    return readings | {
        "cifar_fid_test": f"{held:.2f}",
        "cifar_fid_train": f"{seen:.2f}",
        "cifar_gap": f"{held - seen:+.2f}",
        "cifar_gap_text": gap_text(held, seen),
        "cifar_protocol": test["protocol"],
        "cifar_vs_studiogan": studiogan_text(held, test["protocol"], studiogan),
        "cifar_seeds": f"{len(cifar)} of {planned_seeds}",
        "cifar_seeds_text": (
            f"one seed of {planned_seeds} is stored, so the spread between seeds is not known yet"
            if len(cifar) == 1
            else f"{len(cifar)} seeds of {planned_seeds} are stored, averaged here"
        ),
        "cifar_updates": f"{cifar[0]['steps']:,}",
        "fid_closer": f"{FID_CLOSER:g}",
    }


def grid_files(exp: Experiment, root: Path | None = None) -> list[tuple[Path, str]]:
    """A run's stored sample grids after epochs 1 and 5 (where it trained that long) and at the
    end (the epochs of Figs. 2-3), with their titles, each with its number of updates where the
    run's diagnostics record it; ArtifactMissing when one is not stored."""
    wanted = [("epoch_001.png", "after 1 epoch"), ("final.png", "end")]
    if exp.epochs >= 5:
        wanted.insert(1, ("epoch_005.png", "after 5 epochs"))
    diag = (root or artifacts.artifacts_dir()) / exp.name / "diagnostics.jsonl"
    steps = {d.get("samples"): d["step"] for d in read_jsonl(diag)} if diag.exists() else {}
    out = []
    for f, title in wanted:
        step = steps.get(f.removesuffix(".png"))
        if step is not None:
            title += f" ({step:,} update{'' if step == 1 else 's'})"
        out.append((artifacts.require(exp.name, f, root), title))
    return out


def fid_panels(
    root: Path | None = None,
    experiments: dict[str, Experiment] | None = None,
    anchors: tuple[Anchor, ...] = ANCHORS,
) -> list[dict]:
    """What the sample-quality page's key figure draws (``plotting.fid_panels``), from the stored
    results: one panel per headline protocol of the runs measured against their training data
    only, with each run's FID per seed and the anchors measured under that protocol (the only
    ones comparable); then, per run measured against held-out and training images, a panel of
    the two (the memorization reading). Each panel: ``title``, ``bars`` (label, FIDs per seed),
    ``lines`` (label, FID). Paper: §4, §4.1."""
    experiments = experiments or EXPERIMENTS
    groups: dict[str, list[tuple[str, list[float]]]] = {}
    pairs = []
    for exp in experiments.values():
        results = read_results(exp.name, root)
        if not results:
            continue
        stats = summarize(results)
        if len(exp.references) >= 2:
            keys = [f"final:{d}/{s}" for d, s in exp.references[:2]]
            if all(k in stats for k in keys):
                pairs.append((exp, results, keys, stats))
                continue
        key = exp.headline_key()
        seeds = [r["fid"][key]["fid"] for r in results if key in r["fid"]]
        label = f"{exp.config}\n({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"
        groups.setdefault(stats[key]["protocol"], []).append((label, seeds))
    panels = [
        {
            "title": protocol,
            "bars": bars,
            "lines": [
                (
                    f"{a.what.split(',')[0]} ({'our' if a.measured_by == MEASURED_BY_US else 'their'}"
                    " measurement)",
                    a.fid,
                )
                for a in anchors
                if a.protocol == protocol
            ],
        }
        for protocol, bars in groups.items()
    ]
    for exp, results, keys, stats in pairs:
        bars = []
        for key, what in zip(keys, ("held-out", "training"), strict=True):
            protocol = stats[key]["protocol"]
            bars.append(
                (
                    f"{what}\n({protocol.split('/')[-1]})",
                    [r["fid"][key]["fid"] for r in results if key in r["fid"]],
                )
            )
        n = len(results)
        title = f"{exp.name}: held-out vs training ({n} seed{'s' if n > 1 else ''})"
        panels.append({"title": title, "bars": bars, "lines": []})
    return panels


def memorization_table(
    mem: list[dict], results: dict[str, list[dict]], experiments: dict[str, Experiment]
) -> list[dict]:
    """The ``memorization_rows`` for a page: both FIDs of a run to two decimals, with their
    protocols and seeds, and the held-out minus training gap."""
    out = []
    for m in mem:
        (d0, s0), (d1, s1) = experiments[m["experiment"]].references[:2]
        stats = summarize(results[m["experiment"]])
        held, seen = stats[f"final:{d0}/{s0}"], stats[f"final:{d1}/{s1}"]
        out.append(
            {
                "run": f"`{m['experiment']}`",
                "seeds": held["fid"]["n"],
                "FID vs held-out": f"{held['fid']['mean']:.2f} ({held['protocol']})",
                "FID vs training": f"{seen['fid']['mean']:.2f} ({seen['protocol']})",
                "held-out minus training": f"{m['gap']:+.2f}",
            }
        )
    return out


def read_diagnostics(names: list[str], root: Path | None = None) -> dict[str, tuple[list, list]]:
    """Each run's stored ``diagnostics.jsonl`` and ``metrics.jsonl`` rows, for the runs that
    stored both."""
    out = {}
    for name in names:
        folder = (root or artifacts.artifacts_dir()) / name
        diag, metrics = folder / "diagnostics.jsonl", folder / "metrics.jsonl"
        if diag.exists() and metrics.exists():
            out[name] = (read_jsonl(diag), read_jsonl(metrics))
    return out


def near_identical(row: dict) -> bool:
    """Whether a diagnostics row's fixed-z grid holds near-identical samples: its sample
    diversity (``train.sample_diversity``) is below ``verdicts.NEAR_IDENTICAL``, a fifth of what
    real images measure (about 0.5)."""
    return row.get("sample_diversity", math.inf) < NEAR_IDENTICAL


def grid_diversity(path: str | Path, nrow: int = 8, pad: int = 2) -> float:
    """The sample diversity of a stored fixed-z grid PNG (``torchvision.utils.make_grid``'s
    layout: ``nrow`` tiles a row, ``pad`` pixels around each): the mean over pixels of the std
    across tiles, in [-1, 1] units like ``train.sample_diversity`` (up to the PNG's 8 bits).
    About 0 when every tile is the same image; real images measure about 0.5."""
    from PIL import Image

    with Image.open(path) as img:
        grid = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0 * 2 - 1
    height, width = grid.shape[:2]
    size = (width - pad) // nrow - pad
    rows = (height - pad) // (size + pad)
    if size < 1 or rows < 1 or (size + pad) * nrow + pad != width:
        raise ValueError(f"{path}: {width}x{height} is not a grid of {nrow} tiles a row")
    tiles = [
        grid[pad + i * (size + pad) : pad + i * (size + pad) + size,
             pad + j * (size + pad) : pad + j * (size + pad) + size]
        for i in range(rows)
        for j in range(nrow)
    ]  # fmt: skip
    stack = np.stack(tiles).reshape(len(tiles), -1)
    return float(stack.std(0, ddof=1).mean()) if len(stack) > 1 else 0.0


def collapse_steps(shown: dict[str, tuple[list, list]]) -> dict[str, list[int]]:
    """The steps at which each run's fixed-z grid collapsed (runs that never did left out): the
    run warned during training, or its grid holds near-identical samples (``near_identical``).
    The training warning fires below ``train.COLLAPSE_DIVERSITY`` and only from step
    ``train.COLLAPSE_MIN_STEP`` on, so an early grid of near-identical samples (G not using z
    yet) is reported here although the run never warned."""
    found = {
        n: [d["step"] for d in diag if d.get("collapse_warning") or near_identical(d)]
        for n, (diag, _) in shown.items()
    }
    return {n: sorted(set(steps)) for n, steps in found.items() if steps}


def collapse_text(shown: dict[str, tuple[list, list]]) -> str:
    """``collapse_steps`` in words: per run, each collapsed grid, its step and diversity, and
    whether the run warned; "no grid collapsed" when none did."""
    from dcgan_lib.train import COLLAPSE_DIVERSITY, COLLAPSE_MIN_STEP

    parts = []
    for name, (diag, _) in shown.items():
        seen = set()
        for d in diag:
            if not (d.get("collapse_warning") or near_identical(d)) or d["step"] in seen:
                continue
            seen.add(d["step"])
            div = d.get("sample_diversity")
            what = f"the {d.get('samples', 'grid')} grid (step {d['step']:,}"
            what += f", sample diversity {div:.3f})" if div is not None else ")"
            warned = (
                "the run warned"
                if d.get("collapse_warning")
                else (
                    f"the run did not warn (it warns below {COLLAPSE_DIVERSITY} from step "
                    f"{COLLAPSE_MIN_STEP} on)"
                )
            )
            parts.append(f"`{name}`: {what} holds near-identical samples; {warned}")
    if not parts:
        return (
            f"No grid collapsed: every stored grid's sample diversity is at least {NEAR_IDENTICAL}."
        )
    return "; ".join(parts) + "."


def choice_rows(choices: list[dict]) -> list[dict]:
    """The CelebA-10k runs that isolate the paper's design choices, at equal image-steps."""
    return [
        {
            "run": f"`{r['experiment']}`",
            "config": f"`{r['config']}`",
            "FID-10k/celeba10k": r["fid"],
            "image-steps": f"{r['image_steps']:,}",
        }
        for r in choices
    ]


def design_order(choices: list[dict]) -> str:
    """The configs ordered by mean FID, best first: 'paper64 (60.1) < dcgan64 (70.2) < ...'."""
    ranked = sorted(choices, key=lambda r: r["fid_mean"])
    return " < ".join(f"{r['config']} ({r['fid_mean']:.1f})" for r in ranked)


def stored_fids(name: str, seeds: list[int], key: str, root: Path | None = None) -> list[dict]:
    """The FID entry ``key`` of each seed's result file, read again from disk (checked against
    the manifest)."""
    return [
        json.loads(artifacts.require(name, f"{RESULT_PREFIX}{s}.json", root).read_text())["fid"][
            key
        ]
        for s in seeds
    ]


def check_results(
    rows: list[dict],
    results: dict[str, list[dict]],
    experiments: dict[str, Experiment],
    root: Path | None = None,
) -> None:
    """Each measured row of ``results_table`` is sane, its seeds are the experiment's, once each,
    and its mean FID is the mean of the per-seed FIDs in the result files on disk (which
    differ: no seed stored twice)."""
    for r in rows:
        if r["status"] != "measured":
            continue
        name = r["experiment"]
        _check(r["protocol"].startswith("FID-") and r["image_steps"] > 0, f"{name}: {r}")
        _check(r["fid_mean"] >= 0 and r["train_minutes"] > 0, f"{name}: {r}")
        seeds = [x["seed"] for x in results[name]]
        _check(len(set(seeds)) == len(seeds), f"{name}: a seed stored twice")
        _check(set(seeds) <= set(experiments[name].seeds), f"{name}: seeds {seeds}")
        key = experiments[name].headline_key()
        fids = [f["fid"] for f in stored_fids(name, seeds, key, root)]
        _check(abs(sum(fids) / len(fids) - r["fid_mean"]) < 1e-9, f"{name}: mean FID")
        _check(len(set(fids)) == len(fids), f"{name}: two seeds with the same FID")


def check_memorization(mem: list[dict], cifar: list[dict], root: Path | None = None) -> None:
    """Each memorization row compares two reference sets; CIFAR-10's row is the difference of
    the stored FIDs against the test and the training images, each under the book's protocol,
    and the page's reading holds: FID against the training images is not lower by
    ``verdicts.FID_CLOSER`` or more."""
    for m in mem:
        _check(m["held_out"].split(":")[0] != m["training"].split(":")[0], m["experiment"])
    if not cifar:
        return
    seeds = [x["seed"] for x in cifar]
    on_disk = {
        s: stored_fids("cifar10_imagenet32", seeds, f"final:cifar10/{s}", root)
        for s in ("test", "train")
    }
    means = {k: sum(f["fid"] for f in v) / len(v) for k, v in on_disk.items()}
    row = next(m for m in mem if m["experiment"] == "cifar10_imagenet32")
    _check(abs(row["gap"] - (means["test"] - means["train"])) < 1e-9, "the CIFAR-10 gap")
    _check(on_disk["test"][0]["protocol"] == "FID-10k/cifar10-test", "protocol")
    _check(on_disk["train"][0]["protocol"] == "FID-10k/cifar10-train", "protocol")
    _check(
        means["test"] - means["train"] < FID_CLOSER,
        "the model is closer to its training images: reword",
    )


def check_design_order(choices: list[dict], results: dict[str, list[dict]]) -> None:
    """The prose on the design choices: paper64 < dcgan64 < examples64 by mean FID; the
    half-width runs overlap seed for seed; the full-width run has one seed."""
    fid = {r["experiment"]: r["fid_mean"] for r in choices}
    order = fid["celeba_paper64"] < fid["celeba_dcgan64"] < fid["celeba_examples64"]
    _check(order, "reword the order")
    per_seed = {
        n: [x["fid"]["final:celeba/train"]["fid"] for x in results[n]]
        for n in ("celeba_examples64", "celeba_dcgan64", "celeba_paper64")
    }
    overlap = min(per_seed["celeba_examples64"]) < max(per_seed["celeba_dcgan64"])
    _check(overlap, "the half-width runs no longer overlap")
    _check(len(per_seed["celeba_paper64"]) == 1, "the full-width run has more than one seed")
