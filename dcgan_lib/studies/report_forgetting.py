"""Page 08's reader (§6.3.1): where the faces' boxes come from (measured on the data), what
dropping an object's maps did per measured entry, as tables and glued sentences, its figures, and
an entry's box file and fit made again. Paper: §6.3.1."""

from __future__ import annotations

import json

import numpy as np
from torch import nn

from dcgan_lib import plotting
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.config import ModelConfig
from dcgan_lib.forgetting import BANDS, BoxSet, ObjectRegression, fit_from_boxes
from dcgan_lib.studies.forgetting import (
    STORED,
    ForgettingConfig,
    ForgettingResult,
    entry_figure,
    figure_name,
    measure_bands,
)
from dcgan_lib.studies.report import faces_data, markdown_table, model_glue
from dcgan_lib.toys import PlantedGenerator


def _spread(values: list[float], spec: str = ".3f") -> str:
    """Mean (min-max) of a list of draws."""
    return f"{np.mean(values):{spec}} ({min(values):{spec}}-{max(values):{spec}})"


def forgetting_table(objects: dict) -> str:
    """Per measured entry: what was dropped, the object's rates, what was kept and changed."""
    rows = []
    for obj, m in objects.items():
        r = m["regression"]
        acc = "-" if r["heldout_accuracy"] is None else f"{r['heldout_accuracy']:.3f}"
        rows.append(
            (obj, m["n_annotated"], f"{r['n_dropped']} of {r['n_maps']}", acc)
            + (f"{m['rate_before']:.3f}", f"{m['rate_dropped']:.3f}", _spread(m["rate_random"]))
            + (f"{m['kept_dropped']:.3f}", _spread(m["kept_random"]))
            + (f"{m['change_outside_dropped']:.1f}", _spread(m["change_outside_random"], ".1f"))
            + (f"{m['change_inside_dropped']:.1f}", _spread(m["change_inside_random"], ".1f"))
        )
    head = ("entry", "annotated", "maps dropped", "held-out accuracy", "rate before")
    head += ("rate dropped", "rate, random maps", "kept, dropped", "kept, random")
    head += ("change outside box, dropped", "outside, random", "inside box, dropped")
    return markdown_table(head + ("inside, random",), rows)


def forgetting_verdict(entry: str, m: dict, n_eval: int, min_shown: int) -> str:
    """What the numbers say about one entry, in words (fewer than ``min_shown`` of the ``n_eval``
    fresh samples showing the object: too few to call its rate changed)."""
    n_shown = round(m["rate_before"] * n_eval)
    lo, hi = min(m["rate_random"]), max(m["rate_random"])
    text = (
        f"{entry}: {m['rate_before']:.3f} of {n_eval:,} fresh samples show it; "
        f"{m['rate_dropped']:.3f} after dropping its {m['regression']['n_dropped']} maps, "
        f"{lo:.3f}-{hi:.3f} after dropping as many random maps ({len(m['rate_random'])} draws). "
    )
    if n_shown < min_shown:
        text += f"Only {n_shown} samples show it before: too few to measure forgetting. "
    if m["rate_dropped"] > hi:
        text += "After dropping, the judge sees it more often than after any random draw. "
    elif n_shown < min_shown:
        pass
    elif m["rate_dropped"] < lo:
        text += "That is below every random draw: these maps carry the object more than others. "
    else:
        text += "That is within the random draws: these maps remove it no more than any maps do. "
    out = m["change_outside_random"]
    return text + (
        f"Outside the box the image changes by {m['change_outside_dropped']:.1f} grey levels "
        f"({min(out):.1f}-{max(out):.1f} for random maps)."
    )


def side_effects_table(objects: dict) -> str:
    """Every judged attribute's rate before, and after dropping each entry's maps (and random)."""
    first = next(iter(objects.values()))["attribute_rates"]
    head = ["attribute", "before"] + [f"{o} {k}" for o in objects for k in ("dropped", "random")]
    rows = [
        [a, f"{first[a]['before']:.3f}"]
        + [
            f"{m['attribute_rates'][a][k]:.3f}"
            for m in objects.values()
            for k in ("dropped", "random_mean")
        ]
        for a in first
    ]
    return markdown_table(head, rows)


def bands_table(measured: dict[str, dict], stored: dict) -> str:
    """The boxes measured now on the data (``studies.forgetting.measure_bands``) beside the
    stored ones (``forgetting.BANDS``)."""
    rows = [(a, stored[a], b["box"]) for a, b in measured.items()]
    return markdown_table(("object", "stored box (x0, y0, x1, y1)", "measured now"), rows)


def measured_entries(m: dict) -> dict[str, dict]:
    """A forgetting study's measured entries (those not skipped)."""
    return {o: e for o, e in m.get("objects", {}).items() if "skipped" not in e}


def main_entry(objects: dict[str, dict]) -> str | None:
    """The entry compared with the paper: with the paper's negatives, the object the model
    draws most often (``None`` without one)."""
    paper = [o for o in objects if objects[o]["negatives"].endswith("(paper)")]
    return max(paper, key=lambda o: objects[o]["rate_before"], default=None)


def forgetting_glue(m: dict, n_eval: int, min_shown: int, paper_dropped: int) -> dict[str, str]:
    """Page 08's glued numbers and sentences: the entry compared with the paper
    (``main_entry``), and its contrast fit beside it."""
    objects = measured_entries(m)
    main = main_entry(objects)
    contrast = f"{main}, contrast"

    def value(entry: str | None, fmt) -> str:
        return fmt(objects[entry]) if entry in objects else NOT_PRODUCED

    def dropped(e: dict) -> str:
        return f"{e['regression']['n_dropped']} of {e['regression']['n_maps']}"

    out = model_glue(m.get("run"))
    out["main_obj"] = main or NOT_PRODUCED
    out["paper_n_dropped"] = f"about {paper_dropped}"
    out["n_annotated"] = value(main, lambda e: f"{e['n_annotated']}")
    for suffix, entry in (("", main), ("_c", contrast)):
        out["n_dropped" + suffix] = value(entry, dropped)
        out["rate_dropped" + suffix] = value(entry, lambda e: f"{e['rate_dropped']:.3f}")
        out["rate_random" + suffix] = value(entry, lambda e: _spread(e["rate_random"]))
        out["out_dropped" + suffix] = value(entry, lambda e: f"{e['change_outside_dropped']:.1f}")
    out["rate_before"] = value(main, lambda e: f"{e['rate_before']:.3f}")
    out["out_random"] = value(main, lambda e: _spread(e["change_outside_random"], ".1f"))
    out["main_verdict"] = value(main, lambda e: forgetting_verdict(main, e, n_eval, min_shown))
    out["contrast_verdict"] = value(
        contrast, lambda e: forgetting_verdict(contrast, e, n_eval, min_shown)
    )
    rates = {e["object"]: e["rate_before"] for e in objects.values()}
    rare = [o for o, r in rates.items() if round(r * n_eval) < min_shown]
    out["rare_verdict"] = (
        (
            f"This model draws {' and '.join(rare)} too rarely to measure forgetting ("
            + ", ".join(f"{o} on {rates[o]:.1%} of fresh samples" for o in rare)
            + "); a model that draws them more often will tell."
        )
        if rare
        else "Every object is drawn often enough to measure."
    )
    return out


# ---------------------------------------------------------------------------------------------
# What the page draws or checks itself


def show_bands(mode: str, data_root=None) -> dict[str, dict]:
    """Where each object's box comes from, measured now on the aligned faces (``studies.
    forgetting.measure_bands``): the mean faces and the differences, drawn from the data (never
    stored), and the table of measured beside stored boxes. Returns what was measured: nothing
    at smoke size (the toy's object is a planted bar) or without the data. Paper: §6.3.1."""
    from IPython.display import Markdown, display

    if mode == "smoke":
        print("smoke mode: the toy's object is a red bar in the box", PlantedGenerator().band)
        return {}
    faces = faces_data(data_root)
    if faces is None:
        print("the stored boxes:", BANDS)
        return {}
    measured = measure_bands(faces)
    plotting.show(plotting.bands_figure(measured, BANDS))
    display(Markdown(bands_table(measured, BANDS)))
    return measured


def show_figure(result: ForgettingResult | None, entry: str) -> None:
    """Show an entry's figure (``studies.forgetting.entry_figure``): drawn here when the study ran
    on this page, else the stored one (or the not-produced message naming its command)."""
    drawn = {}
    if result is not None and entry in result.figures:
        drawn = {figure_name(entry): entry_figure(result, entry)}
    plotting.show_study_figure(drawn, STORED, figure_name(entry))


def entry_boxes(entry: dict, cfg: ModelConfig) -> BoxSet:
    """A measured entry's annotated samples, each with the object's box, as a box file holds
    them (``BoxSet.to_json``): the study's annotation, written out for anyone to redraw."""
    return BoxSet.from_seeds(entry["annotated_seeds"], tuple(entry["box"]), cfg, entry["object"])


def box_file_excerpt(boxes: BoxSet, n: int = 3) -> str:
    """A box file's header and its first ``n`` samples, one JSON line each."""
    data = boxes.to_json()
    lines = [json.dumps({k: v for k, v in data.items() if k != "samples"})]
    lines += ["    " + json.dumps(sample) for sample in data["samples"][:n]]
    return "\n".join(lines + [f"    ... {len(data['samples'])} samples"])


def refit(G: nn.Module, entry: dict, cfg: ForgettingConfig) -> ObjectRegression:
    """The paper's fit made again on an entry's annotated samples (an entry with the paper's
    negatives): on the G the study ran on, it drops the stored maps. Paper: §6.3.1."""
    boxes = entry_boxes(entry, G.cfg)  # type: ignore[arg-type]
    return fit_from_boxes(G, boxes, cfg.layer, cfg.neg_per_pos, cfg.C, cfg.seed)
