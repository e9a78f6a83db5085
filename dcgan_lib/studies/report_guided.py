"""Page 07's reader (§6.2): each model's study as the page shows it (the real images' maps drawn
again from the data), how concentrated and consistent D's guided-backpropagation maps are and how
much the rule at LeakyReLU matters, as tables and glued sentences. Paper: §6.2."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from dcgan_lib import book
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.guided_backprop import layer_activations
from dcgan_lib.studies.guided_backprop import (
    GuidedConfig,
    GuidedStudy,
    load_stored,
    redraw_real,
    run_job,
)
from dcgan_lib.studies.report import markdown_table, model_glue

IMAGE_SETS = ("synthetic", "real", "generated")


def page_study(mode: str, model: str, cfg: GuidedConfig, data_root=None) -> GuidedStudy | None:
    """A model's study as the page shows it (``book.result``): smoke and full, the job run here;
    book, the stored one with its real images' maps drawn again from the data (the stored study
    keeps their indices only; without the data, the data-missing message and the study without
    them). Paper: §6.2."""
    run = partial(run_job, mode, model, data_root)
    study = book.result(mode, load=partial(load_stored, model, cfg), run=run)
    if mode == "book" and study is not None:
        book.result(mode, load=partial(redraw_real, study, cfg, data_root))
    return study


def strengths_again(study: GuidedStudy, cfg: GuidedConfig, images: str) -> tuple:
    """(measured again, found): each top image's strength for the trained D on one set of images
    at hand, measured here by ``layer_activations``, beside the strength the study found (stored
    or just computed). A page checks that they agree. Paper: §6.2."""
    mm = study.results[images].models["trained"]
    x = np.concatenate(mm.images)
    acts = layer_activations(study.D, x, cfg.layer)
    feature = np.repeat([t.feature for t in mm.top], [len(t.index) for t in mm.top])
    pos = np.concatenate([t.position for t in mm.top])
    again = acts[torch.arange(len(x)), feature, pos[:, 0], pos[:, 1]].numpy()
    return again, np.concatenate([t.strength for t in mm.top])


def _mean(values: list) -> float:
    return float(np.mean([v for v in values if v is not None]))


def maps_table(metrics: dict[str, dict]) -> str:
    """Per set of images and D (and model, when there are several): the mean concentration and
    agreement of the maps."""
    several = len(metrics) > 1
    rows = [
        ((model,) if several else ())
        + (images, d, f"{_mean(s['concentration']):.3f}", f"{_mean(s['agreement']):.3f}")
        for model, m in metrics.items()
        for images in IMAGE_SETS
        for d in ("trained", "random")
        if (s := m.get(images, {}).get(d))
    ]
    head = (("model",) if several else ()) + ("images", "D", "concentration, mean over features")
    head += ("agreement, mean over features",)
    return markdown_table(head, rows) if rows else ""


def rules_table(metrics: dict[str, dict], rules: Sequence[str]) -> str:
    """Per set of images and D (and model, when there are several): how the first rule's maps
    compare with each other rule's."""
    several = len(metrics) > 1
    rows = []
    for model, m in metrics.items():
        for images in IMAGE_SETS:
            for d in ("trained", "random"):
                for other in rules[1:]:
                    s = m.get(images, {}).get(d, {}).get(f"{rules[0]}_vs_{other}")
                    if s:
                        c, r = s["cosine"], s["spearman"]
                        rows.append(
                            ((model,) if several else ())
                            + (images, d, f"{rules[0]} vs {other}", c["n_maps"])
                            + tuple(f"{v:.3f}" for v in (c["mean"], c["min"], r["mean"], r["min"]))
                        )
    head = (("model",) if several else ()) + ("images", "D", "compared", "maps")
    head += ("cosine, mean", "cosine, min", "Spearman, mean", "Spearman, min")
    return markdown_table(head, rows) if rows else ""


def guided_glue(metrics: dict[str, dict]) -> dict[str, str]:
    """Page 07's glued numbers and sentences: the paper's setting is the trained D on real
    training images (smoke: the synthetic images)."""
    head = next((m[k] for m in metrics.values() for k in IMAGE_SETS if k in m), None)
    trained = [n for n, m in metrics.items() if any("trained" in m.get(k, {}) for k in m)]
    out = model_glue(metrics.get("faces", {}).get("run"))
    out["trained_models"] = ", ".join(trained) if trained else NOT_PRODUCED
    out["n_searched"] = f"{head['n_searched']:,}" if head else NOT_PRODUCED
    keys = ("zero_slope_cos", "zero_none_cos", "rule_verdict", "map_verdict")
    out.update(dict.fromkeys(keys, NOT_PRODUCED))
    if not head:
        return out
    t, r = head["trained"], head["random"]
    zs, zn = t["zero_vs_slope"]["cosine"]["mean"], t["zero_vs_none"]["cosine"]["mean"]
    out["zero_slope_cos"], out["zero_none_cos"] = f"{zs:.3f}", f"{zn:.3f}"
    out["rule_verdict"] = (
        f"For the trained D the two guided rules agree with a mean cosine of {zs:.3f} (lowest "
        f"{t['zero_vs_slope']['cosine']['min']:.3f}), and the plain gradient agrees with them "
        f"at {zn:.3f} (the random D: {r['zero_vs_slope']['cosine']['mean']:.3f} and "
        f"{r['zero_vs_none']['cosine']['mean']:.3f}). "
        + (
            "The figure depends on being guided, not on how the guided rule treats the "
            "negative slope: the negative side only ever passes 0.2 of a gradient that the "
            "positive side passes in full."
            if zs > zn
            else "Here the choice of rule matters as much as being guided at all."
        )
    )
    ct, cr = _mean(t["concentration"]), _mean(r["concentration"])
    at, ar = _mean(t["agreement"]), _mean(r["agreement"])
    out["map_verdict"] = (
        f"On the {head['n_searched']:,} images searched, the trained D's maps hold "
        f"{ct:.0%} of their gradient in their top 10% of pixels against {cr:.0%} for the random "
        f"D: they are {'more' if ct > cr else 'less'} concentrated. Across a feature's top "
        f"images they agree at {at:.2f} against {ar:.2f} for the random D"
        + (
            ": the random D's maps light much the same pixels in every image a feature "
            "prefers, the trained D's differ more from image to image."
            if at < ar
            else ": the trained features light the same pixels again and again."
        )
        + " What the maps pick out is read by eye from the figures; no number here says that a "
        "feature fires on a part of a face."
    )
    return out
