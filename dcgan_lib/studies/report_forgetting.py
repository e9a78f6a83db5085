"""Page 08's reader (§6.3.1): where the faces' boxes come from (measured on the data), what
dropping an object's maps did per measured entry, as tables and glued sentences, its figures, and
an entry's box file and fit made again. Paper: §6.3.1."""

from __future__ import annotations

import functools
import json

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from dcgan_lib import plotting
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.config import ModelConfig
from dcgan_lib.data import load_dataset
from dcgan_lib.datasets import DataError
from dcgan_lib.forgetting import BANDS, BoxSet, Judge, ObjectRegression, fit_from_boxes
from dcgan_lib.studies.forgetting import (
    SIZES,
    STORED,
    ForgettingConfig,
    ForgettingResult,
    figure_name,
    figures_again,
    load_stored,
    measure_bands,
    study_inputs,
)
from dcgan_lib.studies.report import markdown_table, model_glue, modes_glue
from dcgan_lib.toys import PlantedGenerator
from dcgan_lib.verdicts import MIN_SHOWN, MOSTLY


def _spread(values: list[float], spec: str = ".3f") -> str:
    """Mean (min-max) of a list of draws."""
    return f"{np.mean(values):{spec}} ({min(values):{spec}}-{max(values):{spec}})"


def measurable(m: dict, n_eval: int, min_shown: int = MIN_SHOWN) -> bool:
    """Whether at least ``min_shown`` of the ``n_eval`` fresh samples show the entry's object
    (``verdicts.MIN_SHOWN``): fewer, and no change of its rate can be told from chance."""
    return round(m["rate_before"] * n_eval) >= min_shown


def ordered_entries(objects: dict, n_eval: int, min_shown: int = MIN_SHOWN) -> dict[str, dict]:
    """The measured entries in the order a reader needs them: the entry compared with the
    paper (``main_entry``) and its contrast fit first, then the other measurable ones, then
    those too rare to measure."""
    main = main_entry(objects)
    first = [e for e in (main, f"{main}, contrast") if e in objects]
    rest = [e for e in objects if e not in first]
    rest.sort(key=lambda e: not measurable(objects[e], n_eval, min_shown))  # stable
    return {e: objects[e] for e in first + rest}


def _columns(objects: dict, rows: list[tuple[str, object]]) -> str:
    """A table with one column per entry and one row per measure: ``rows`` are (label,
    function of an entry's metrics -> cell text)."""
    head = ("", *(e for e in objects))
    return markdown_table(head, [(label, *(f(m) for m in objects.values())) for label, f in rows])


def dropped_table(objects: dict) -> str:
    """Per entry (a column): what its fit saw and dropped."""

    def acc(m: dict) -> str:
        a = m["regression"]["heldout_accuracy"]
        return "-" if a is None else f"{a:.3f}"

    return _columns(objects, [
        ("negatives", lambda m: "same images (paper)" if m["negatives"].endswith("(paper)")
         else "without the object (ours)"),
        ("samples annotated", lambda m: m["n_annotated"]),
        ("maps dropped", lambda m: f"{m['regression']['n_dropped']} of {m['regression']['n_maps']}"),
        ("held-out accuracy of the fit", acc),
    ])  # fmt: skip


def effects_table(objects: dict) -> str:
    """Per entry (a column): the object's rate before and after, the share of samples with the
    object that keep it, and the pixel change outside and inside its box, each for the entry's
    maps and for as many random maps (mean, range over the draws)."""
    return _columns(objects, [
        ("rate before", lambda m: f"{m['rate_before']:.3f}"),
        ("rate, its maps dropped", lambda m: f"{m['rate_dropped']:.3f}"),
        ("rate, random maps dropped", lambda m: _spread(m["rate_random"])),
        ("kept, its maps dropped", lambda m: f"{m['kept_dropped']:.2f}"),
        ("kept, random maps dropped", lambda m: _spread(m["kept_random"], ".2f")),
        ("change outside the box, its maps", lambda m: f"{m['change_outside_dropped']:.1f}"),
        ("change outside, random maps", lambda m: _spread(m["change_outside_random"], ".1f")),
        ("change inside the box, its maps", lambda m: f"{m['change_inside_dropped']:.1f}"),
        ("change inside, random maps", lambda m: _spread(m["change_inside_random"], ".1f")),
    ])  # fmt: skip


def forgetting_verdict(entry: str, m: dict, n_eval: int, min_shown: int = MIN_SHOWN) -> str:
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
    if n_shown >= min_shown:
        kept, k_lo, k_hi = m["kept_dropped"], min(m["kept_random"]), max(m["kept_random"])
        mostly = "mostly forgets it" if kept < MOSTLY else "does not mostly forget it"
        text += (
            f"Of the samples that showed it, {kept:.0%} still do ({k_lo:.0%}-{k_hi:.0%} with "
            f"random maps): the model {mostly}. "
        )
    out = m["change_outside_random"]
    return text + (
        f"Outside the box the image changes by {m['change_outside_dropped']:.1f} grey levels "
        f"({min(out):.1f}-{max(out):.1f} for random maps)."
    )


def side_effects_table(objects: dict) -> str:
    """Every judged attribute (a row): its rate before, and per entry (a column) its rate with the
    entry's maps dropped / with random maps dropped (the mean over the draws)."""
    first = next(iter(objects.values()))["attribute_rates"]
    head = ["attribute", "before"] + list(objects)
    rows = [
        [a.replace("_", " "), f"{first[a]['before']:.3f}"]
        + [
            f"{m['attribute_rates'][a]['dropped']:.3f} / {m['attribute_rates'][a]['random_mean']:.3f}"
            for m in objects.values()
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


def forgetting_glue(
    m: dict, n_eval: int, min_shown: int = MIN_SHOWN, paper_dropped: int = 200
) -> dict[str, str]:
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
    out["kept_dropped"] = value(main, lambda e: f"{e['kept_dropped']:.0%}")
    out["kept_random"] = value(
        main, lambda e: f"{min(e['kept_random']):.0%}-{max(e['kept_random']):.0%}"
    )
    out["out_random"] = value(main, lambda e: _spread(e["change_outside_random"], ".1f"))
    out["main_verdict"] = value(main, lambda e: forgetting_verdict(main, e, n_eval, min_shown))
    out["contrast_verdict"] = value(
        contrast, lambda e: forgetting_verdict(contrast, e, n_eval, min_shown)
    )
    paper = {e["object"]: e for e in objects.values() if e["negatives"].endswith("(paper)")}
    rare = [o for o, e in paper.items() if not measurable(e, n_eval, min_shown)]
    text = "Every object is drawn often enough to measure."
    if rare:
        text = (
            f"This model draws {' and '.join(r.replace('_', ' ').lower() for r in rare)} too "
            f"rarely to measure forgetting (fewer than {min_shown} of {n_eval:,} fresh samples: "
            + ", ".join(f"{o.replace('_', ' ').lower()} on {paper[o]['rate_before']:.1%}"
                        for o in rare)
            + "); a model that draws them more often will tell."
        )  # fmt: skip
        rose = [o for o in rare if paper[o]["rate_dropped"] > max(paper[o]["rate_random"])]
        for o in rose:
            e = paper[o]
            text += (
                f" Dropping the {o.replace('_', ' ').lower()} maps even raised its rate, from "
                f"{e['rate_before']:.3f} to {e['rate_dropped']:.3f}, above every random draw "
                f"(at most {max(e['rate_random']):.3f}): the classifier finds the object in more "
                "of the changed images, the opposite of forgetting it."
            )
    out["rare_verdict"] = text
    return out


# ---------------------------------------------------------------------------------------------
# What the page draws or checks itself


def bands(mode: str, data_root=None) -> tuple[dict[str, dict], Figure | None, str]:
    """Where each object's box comes from, measured now on the aligned faces (``studies.
    forgetting.measure_bands``): (what was measured, the figure of mean faces and differences,
    drawn from the data and never stored, the table of measured beside stored boxes). At smoke
    size (the toy's object is a planted bar) or without the data: ({}, None, a sentence and
    the stored boxes). Paper: §6.3.1."""
    stored = markdown_table(
        ("object", "stored box (x0, y0, x1, y1)"),
        [(a.replace("_", " ").lower(), tuple(b)) for a, b in BANDS.items()],
    )
    if mode == "smoke":
        return {}, None, (
            f"Smoke mode: the toy's object is a red bar in the box {PlantedGenerator().band}; "
            f"the faces' stored boxes are:\n\n{stored}"
        )  # fmt: skip
    try:
        faces = load_dataset("celeba", data_root, image_size=64, progress=False)
    except DataError as err:
        return {}, None, (
            f"The mean faces are drawn from CelebA-10k when it is present (never stored): {err} "
            f"The stored boxes:\n\n{stored}"
        )  # fmt: skip
    measured = measure_bands(faces)
    return measured, plotting.bands_figure(measured, BANDS), bands_table(measured, BANDS)


def glue_bands(mode: str, data_root=None) -> dict[str, dict]:
    """``bands`` glued for the page's dropdown: ``bands_figure`` (the figure as an image, or a
    sentence when it is not drawn) and ``bands_table``; returns what was measured."""
    from IPython.display import Image, Markdown
    from myst_nb import glue

    measured, fig, table = bands(mode, data_root)
    shown = Image(data=plotting.png_bytes(fig)) if fig is not None else Markdown(" ")
    glue("bands_figure", shown, display=False)
    glue("bands_table", Markdown(table), display=False)
    return measured


def config_glue(cfg: ForgettingConfig) -> dict[str, str]:
    """Page 08's settings as glued text: this mode's sizes (``cfg``), what each of ``SIZES``
    runs, the threshold of a measurable object (``MIN_SHOWN``) and of *mostly* (``MOSTLY``), and
    measured costs: the smoke command's (``run_yourself.cost_text``) and the stored study's own
    (the manifest's, ``chapter.measured_costs``)."""

    def runs(c: ForgettingConfig) -> str:
        return (
            f"{c.n_pool:,} samples judged to find up to {c.n_annotated} per object, "
            f"{c.n_eval:,} fresh samples before and after, {c.n_random} random-map draws"
        )

    objects = ", ".join(o.replace("_", " ").lower() for o in cfg.objects)
    return {
        "cfg_objects": objects,
        "cfg_n_pool": f"{cfg.n_pool:,}",
        "cfg_n_annotated": f"{cfg.n_annotated}",
        "cfg_n_eval": f"{cfg.n_eval:,}",
        "cfg_n_random": f"{cfg.n_random}",
        "cfg_neg_per_pos": f"{cfg.neg_per_pos:g}",
        "cfg_C": f"{cfg.C:g}",
        "cfg_layer": f"{cfg.layer}",
        "min_shown": f"{MIN_SHOWN}",
        "mostly": f"{MOSTLY:.0%}",
        **modes_glue(runs, SIZES, "forgetting_smoke", STORED),
    }


def show_rates(objects: dict, n_eval: int, number: str = "Figure 2") -> None:
    """Display ``plotting.forgetting_rates_figure`` of the measured entries with its numbered
    caption (what to look for: the claim in the figure's terms). Paper: §6.3.1."""
    from IPython.display import Markdown, display

    if not objects:
        return
    plotting.show(plotting.forgetting_rates_figure(objects, MIN_SHOWN, n_eval))
    display(Markdown(
        f"*{number}. Per entry, the share of {n_eval:,} fresh samples the classifier says show "
        "the object: unmodified (open circle), with the entry's own maps dropped (red dot), and "
        "with as many random maps dropped (grey: a tick per draw, their range as a bar). The "
        "paper's claim needs the red dot far left of the open circle and left of the whole grey "
        f"bar. Too rare: fewer than {MIN_SHOWN} of the samples show the object, so no change "
        "of its rate can be read.*"
    ))  # fmt: skip


def show_results(objects: dict) -> None:
    """Display what dropping each entry's maps did (``effects_table``, one column per entry) and,
    folded, what each fit saw and dropped (``dropped_table``)."""
    from IPython.display import Markdown, display

    from dcgan_lib.chapter import show_fold

    if not objects:
        return
    display(Markdown(effects_table(objects)))
    show_fold("What each fit saw and dropped", dropped_table(objects))


@functools.cache
def stored_inputs() -> tuple[ForgettingResult, nn.Module, Judge]:
    """The stored study (at the book's sizes) with the G and judge it ran on, loaded once a
    page; raises ArtifactMissing (naming the command) when the study is not stored."""
    stored = load_stored(SIZES["book"])
    G, judge = study_inputs("book")
    return stored, G, judge


@functools.cache
def stored_figures() -> dict[str, dict[str, np.ndarray]]:
    """The figure samples of the stored study's main entry and its contrast fit, made again from
    the stored metrics in one pass (``studies.forgetting.figures_again``): what the page shows
    in book mode, drawn at a size a reader can read."""
    stored, G, judge = stored_inputs()
    objects = measured_entries(stored.metrics)
    main = main_entry(objects)
    entries = [e for e in (main, f"{main}, contrast") if e in objects]
    return figures_again(SIZES["book"], G, judge, stored.metrics, entries)


def show_figure(result: ForgettingResult | None, entry: str, caption: str = "") -> None:
    """Show an entry's figure (Fig. 6's layout, ``plotting.before_after_figure``) with its
    caption: from the study's own samples when it ran on this page; for the stored study, its
    samples made again from the stored metrics (``stored_figures``: the same samples, maps and
    random draw); else the stored PNG (or the not-produced message naming its command).
    Paper: §6.3.1."""
    from IPython.display import Markdown, display

    figs = None
    if result is not None and entry in result.figures:
        figs = result.figures[entry]
    elif result is not None and not result.figures:  # the stored study
        figs = stored_figures().get(entry)
    if figs is None:
        plotting.show_study_figure({}, STORED, figure_name(entry))
        return
    n = result.metrics["objects"][entry]["regression"]["n_dropped"]  # type: ignore[union-attr]
    title = f"{entry}: its {n} maps dropped, or as many random maps"
    plotting.show(
        plotting.before_after_figure(title, figs["before"], figs["dropped"], figs["random"])
    )
    if caption:
        display(Markdown(f"*{caption}*"))


KEY_CAPTION = (
    "{n}. Fig. 6's layout on our faces model: fresh samples that the classifier scores as "
    "{entry} (top row), the same samples with the {k} maps of G's {layer} that the regression "
    "ties to the annotated {entry} box dropped (middle; the paper's bottom row), and with {k} "
    "random maps dropped instead (bottom). The classifier's rate: {before} before, {dropped} "
    "with those maps dropped, {random} (mean) with random ones."
)


def conv_name(layer: int, n_convs: int = 4) -> str:
    """A G layer index (negative, as ``forgetting`` counts them) in Fig. 1's names: CONV 1-4,
    CONV 4 giving the image. Paper: §6.3.1."""
    return f"CONV {n_convs + 1 + layer}" if layer < 0 else f"CONV {layer}"


def show_key_figure(number: str = "Figure 1") -> None:
    """The chapter's key figure: the stored study's main entry (``main_entry``) in Fig. 6's
    layout (``show_figure``), or the not-produced message naming its command. Paper: §6.3.1."""
    from dcgan_lib.artifacts import ArtifactMissing
    from dcgan_lib.book import not_produced

    try:
        stored, _, _ = stored_inputs()
    except ArtifactMissing as err:
        not_produced(err)
        return
    main = main_entry(measured_entries(stored.metrics))
    if main is not None:
        o = stored.metrics["objects"][main]
        caption = KEY_CAPTION.format(
            n=number,
            k=o["regression"]["n_dropped"],
            entry=main,
            layer=conv_name(stored.metrics["config"]["layer"]),
            before=f"{o['rate_before']:.1%}",
            dropped=f"{o['rate_dropped']:.1%}",
            random=f"{o['rate_random_mean']:.1%}",
        )
        show_figure(stored, main, caption)


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
