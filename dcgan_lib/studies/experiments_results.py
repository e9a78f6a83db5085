"""The stored results of the §4 experiments read back: per seed, summarized over seeds, and as the
rows of the book's tables (``artifacts/NAME/result_sSEED.json``, written by
``dcgan_lib.studies.experiments.run_experiment``). Paper: §4.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dcgan_lib import artifacts
from dcgan_lib.experiments import EXPERIMENTS, RESULT_PREFIX, TARGETS, Experiment


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
    seed's, the best checkpoint's and the reporting half's where measured), KID, seeds done,
    image-steps, training minutes and devices."""
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
        seeds = f"{len(r['seeds_done'])} of {len(exp.seeds)}"
        out.append(
            {
                "run": f"`{r['experiment']}`",
                "protocol": r["protocol"],
                "FID": fid,
                "KID": r["kid"],
                "seeds done": seeds,
                "image-steps": f"{r['image_steps']:,}",
                "train min": f"{r['train_minutes']:.1f}",
                "device": ", ".join(r["devices"]),
            }
        )
    return out


def pending_rows(rows: list[dict]) -> list[dict]:
    """The rows of ``results_table`` not produced yet, each with the command that makes it."""
    return [
        {"run": f"`{r['experiment']}`", "stands in for": r["stands_in_for"],
         "command": f"`{r['command']}`"}
        for r in rows
        if r["status"] != "measured"
    ]  # fmt: skip


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
