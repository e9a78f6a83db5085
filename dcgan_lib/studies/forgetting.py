"""The §6.3.1 study: forgetting to draw an object, measured on the faces model (Fig. 6).

The paper drew 52 window boxes on 150 LSUN samples by hand; the faces stand-in needs no hand: the
attribute classifier finds samples that show an object (eyeglasses, a hat, a smile), the object's
fixed box in the aligned crop (``forgetting.BANDS``) is their box, and the same judge counts the
object on fresh samples before and after its maps are dropped, next to as many random maps
(``run_forgetting_study``). The three sizes (``SIZES``), what is stored (``artifacts/
forgetting_faces``) and the command ``python -m dcgan_lib forgetting {study,fit,annotate,bands}``
(the tool for any model: boxes -> maps to drop) are here; the method is ``dcgan_lib.forgetting``.
Paper: §6.3.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torchvision.utils import save_image
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib import plotting
from dcgan_lib.artifacts import export_study, invoked_command, load_study
from dcgan_lib.attributes import attribute_targets
from dcgan_lib.checkpoint import load_generator
from dcgan_lib.config import ModelConfig
from dcgan_lib.data import load_dataset, to_uint8
from dcgan_lib.forgetting import (
    BANDS,
    DEFAULT_LAYER,
    Box,
    BoxSet,
    DroppedGenerator,
    Judge,
    ObjectRegression,
    attribute_band,
    attribute_difference,
    face_judge,
    fit_contrast,
    fit_from_boxes,
    forward_from,
    forward_to,
    layer_output,
    parse_boxes,
    write_annotation_images,
    z_from_seeds,
)
from dcgan_lib.models import eval_mode, generate, sample_z
from dcgan_lib.storage import plain
from dcgan_lib.studies.cli import emit_json
from dcgan_lib.studies.faces import load_faces_generator
from dcgan_lib.toys import PlantedGenerator, toy_judge

STORED = "forgetting_faces"  # artifacts/forgetting_faces: the book's study of the stored G
INPUTS = ["celeba_dcgan64/G.pt", "celeba_attributes/classifier.pt"]


@dataclass(frozen=True)
class ForgettingConfig:
    """Sizes and choices of the §6.3.1 measurement. Comments give the paper's value."""

    objects: tuple[str, ...] = ("Eyeglasses", "Wearing_Hat", "Smiling")  # paper: windows
    n_pool: int = 3000  # samples judged, to find the annotated ones
    n_annotated: int = 150  # paper: 150 samples, 52 window boxes drawn on them
    min_annotated: int = 10  # fewer samples with the object: the object is skipped (reported)
    n_eval: int = 1000  # fresh samples judged before and after dropping
    n_random: int = 4  # random-map control draws (not in the paper)
    layer: int = DEFAULT_LAYER  # paper: "second highest convolution layer"
    threshold: float = 0.5  # the judge's probability that counts as "has the object"
    neg_per_pos: float = 1.0  # paper: "random samples from the same images", ratio not given
    contrast: bool = True  # also fit_contrast (ours): negatives at the box on samples without it
    C: float = 1.0  # logistic regression L2 (sklearn default); paper: not given
    seed: int = 0  # negatives, random maps
    eval_seed: int = 1_000_000  # eval samples are seeds eval_seed, eval_seed + 1, ...
    n_figure: int = 8  # samples per figure
    batch_size: int = 250


SIZES = {
    "smoke": ForgettingConfig(
        objects=("Red_Bar",), n_pool=400, n_annotated=60, n_eval=200, n_random=3, n_figure=6
    ),
    # the stored study (artifacts/forgetting_faces): the undertrained faces model draws glasses
    # on about 2% of samples and hats on fewer than 1%, so 6,000 are judged to find them
    "book": ForgettingConfig(n_pool=6000, n_random=8),
    "full": ForgettingConfig(n_pool=20_000, n_eval=10_000, n_random=10),
}


@dataclass
class ForgettingResult:
    metrics: dict
    boxes: dict[str, BoxSet]  # per entry: the annotated samples (writable with .to_json())
    regressions: dict[str, ObjectRegression]  # per entry ("Eyeglasses", "Eyeglasses, contrast")
    figures: dict[str, dict[str, np.ndarray]]  # per entry: "before", "dropped", "random" uint8


@dataclass
class _Fits:
    """Step 1's result: per entry (an object, and "<object>, contrast") its annotated samples,
    regression, random map draws and object; the pool's judged probabilities; skipped entries."""

    pool_probs: np.ndarray
    boxes: dict[str, BoxSet] = field(default_factory=dict)
    regressions: dict[str, ObjectRegression] = field(default_factory=dict)
    random_maps: dict[str, list[np.ndarray]] = field(default_factory=dict)
    target: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, dict] = field(default_factory=dict)


@dataclass
class _Tally:
    """Step 2's counts over the fresh samples, per variant (entry, "dropped" | "random", draw)."""

    before: np.ndarray  # (A,) samples each attribute is judged present in, unmodified
    after: dict = field(default_factory=dict)  # variant -> (A,) the same after dropping
    kept: dict = field(default_factory=dict)  # variant -> samples that keep the object
    change_out: dict = field(default_factory=dict)  # variant -> summed mean change outside box
    change_in: dict = field(default_factory=dict)  # ... and inside it
    figures: dict = field(default_factory=dict)  # entry -> {"before", "dropped", "random"}


def _box_mask(box: Box, size: int) -> torch.Tensor:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    m = torch.zeros(size, size, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return to_uint8(x).permute(0, 2, 3, 1).numpy()


def _judge_pool(cfg: ForgettingConfig, G: nn.Module, judge: Judge, progress: bool) -> np.ndarray:
    """(n_pool, A): the judge's probabilities on samples of seeds 0, 1, ..., n_pool - 1."""
    seeds = np.arange(cfg.n_pool)
    probs = []
    batches = range(0, cfg.n_pool, cfg.batch_size)
    for i in tqdm(batches, desc="judging the pool", disable=not progress):
        z = z_from_seeds(seeds[i : i + cfg.batch_size], G.cfg)  # type: ignore[arg-type]
        probs.append(judge.predict(generate(G, z)))
    return torch.cat(probs).numpy()


def fit_entries(cfg: ForgettingConfig, G: nn.Module, judge: Judge, progress: bool) -> _Fits:
    """Step 1: per object, the first ``n_annotated`` pool samples that show it, boxed with the
    object's band; the paper's fit on them and (``cfg.contrast``) ``fit_contrast`` against as
    many samples without it; ``n_random`` draws of as many random maps per fit."""
    mcfg: ModelConfig = G.cfg  # type: ignore[assignment]
    fits = _Fits(_judge_pool(cfg, G, judge, progress))
    pool_seeds = np.arange(cfg.n_pool)
    for obj in cfg.objects:
        has = fits.pool_probs[:, judge.attributes.index(obj)] > cfg.threshold
        pos = pool_seeds[has][: cfg.n_annotated]
        if len(pos) < cfg.min_annotated:  # G (almost) never draws it: nothing to learn from
            fits.skipped[obj] = {
                "skipped": f"only {len(pos)} of {cfg.n_pool} samples show {obj} "
                f"(at least {cfg.min_annotated} needed)",
                "pool_rate": float(has.mean()),
            }
            continue
        chosen = [int(s) for s in pos]
        boxset = BoxSet.from_seeds(chosen, judge.bands[obj], mcfg, obj)
        names = [obj]
        fits.boxes[obj] = boxset
        fits.regressions[obj] = fit_from_boxes(
            G, boxset, cfg.layer, cfg.neg_per_pos, cfg.C, cfg.seed
        )
        without = [int(s) for s in pool_seeds[~has][: len(chosen)]]
        name = f"{obj}, contrast"
        if cfg.contrast and len(without) < cfg.min_annotated:
            fits.skipped[name] = {
                "skipped": f"only {len(without)} of {cfg.n_pool} samples do not show {obj}",
                "pool_rate": float(has.mean()),
            }
        elif cfg.contrast:
            fits.boxes[name] = boxset
            fits.regressions[name] = fit_contrast(
                G, boxset, z_from_seeds(without, mcfg), cfg.layer, cfg.C, cfg.seed
            )
            names.append(name)
        for name in names:
            fits.target[name] = obj
    sizes = {t: (len(r.weights), len(r.maps)) for t, r in fits.regressions.items()}
    fits.random_maps = random_map_draws(cfg, {t: sizes[t] for t in fits.target})
    return fits


def random_map_draws(
    cfg: ForgettingConfig, entries: dict[str, tuple[int, int]]
) -> dict[str, list[np.ndarray]]:
    """The random-map control: per entry (name -> (maps in the layer, maps its fit drops), in
    the order the entries were fitted), ``cfg.n_random`` sorted draws of as many maps without
    replacement, from one generator seeded ``cfg.seed``. The stored metrics hold each entry's
    sizes in that order, so a page draws the same maps again (``figure_again``)."""
    rng = np.random.default_rng(cfg.seed)
    return {
        name: [np.sort(rng.choice(n_all, size=k, replace=False)) for _ in range(cfg.n_random)]
        for name, (n_all, k) in entries.items()
    }


def before_after(
    cfg: ForgettingConfig, G: nn.Module, judge: Judge, fits: _Fits, progress: bool
) -> _Tally:
    """Step 2: ``n_eval`` fresh samples (seeds from ``eval_seed``), streamed in batches, drawn
    unmodified, with each entry's maps dropped and with each random draw dropped, and judged."""
    variants = [(t, "dropped", 0) for t in fits.target] + [
        (t, "random", r) for t in fits.target for r in range(cfg.n_random)
    ]
    n_attr = len(judge.attributes)
    tally = _Tally(np.zeros(n_attr))
    tally.after = {v: np.zeros(n_attr) for v in variants}
    tally.kept = dict.fromkeys(variants, 0)
    tally.change_out = dict.fromkeys(variants, 0.0)
    tally.change_in = dict.fromkeys(variants, 0.0)
    tally.figures = {t: {"before": [], "dropped": [], "random": []} for t in fits.target}
    size = G.cfg.image_size  # type: ignore[union-attr]
    eval_seeds = cfg.eval_seed + np.arange(cfg.n_eval)
    with eval_mode(G):
        batches = range(0, cfg.n_eval, cfg.batch_size)
        for i in tqdm(batches, desc="before / after", disable=not progress):
            z = z_from_seeds(eval_seeds[i : i + cfg.batch_size], G.cfg)  # type: ignore[arg-type]
            h = forward_to(G, z, cfg.layer)
            x0 = forward_from(G, h, cfg.layer)
            has0 = (judge.predict(x0) > cfg.threshold).numpy()
            tally.before += has0.sum(0)
            for v in variants:
                t, kind, r = v
                c = judge.attributes.index(fits.target[t])
                maps = fits.regressions[t].maps if kind == "dropped" else fits.random_maps[t][r]
                x1 = forward_from(G, h, cfg.layer, maps)
                has1 = (judge.predict(x1) > cfg.threshold).numpy()
                tally.after[v] += has1.sum(0)
                tally.kept[v] += int((has0[:, c] & has1[:, c]).sum())
                inside = _box_mask(judge.bands[fits.target[t]], size)
                d = (x1 - x0).abs().mean(1) * 127.5  # (B, S, S) grey levels
                tally.change_out[v] += float(d[:, ~inside].mean(1).sum())
                tally.change_in[v] += float(d[:, inside].mean(1).sum())
                if r == 0:  # figure: the first samples that show the object
                    figs = tally.figures[t]
                    sel = np.flatnonzero(has0[:, c])
                    sel = sel[: max(0, cfg.n_figure - len(figs[kind]))]
                    figs[kind] += list(_nhwc(x1[sel]))
                    if kind == "dropped":
                        figs["before"] += list(_nhwc(x0[sel]))
    return tally


def entry_metrics(cfg: ForgettingConfig, judge: Judge, fits: _Fits, tally: _Tally, t: str) -> dict:
    """Step 3: one entry's numbers (rates are shares of the ``n_eval`` fresh samples)."""
    obj, n = fits.target[t], cfg.n_eval
    col = {a: judge.attributes.index(a) for a in judge.attributes}
    c, n_has = col[obj], max(tally.before[col[obj]], 1)
    d = (t, "dropped", 0)
    rand = [(t, "random", r) for r in range(cfg.n_random)]
    rate_rand = [tally.after[v][c] / n for v in rand]
    return {
        "object": obj,
        "negatives": "contrast" if t != obj else "same images (paper)",
        "box": list(judge.bands[obj]),
        "n_annotated": len(fits.boxes[t].boxes),
        "annotated_seeds": [int(v) for v in fits.boxes[t].seeds],
        "pool_rate": float((fits.pool_probs[:, c] > cfg.threshold).mean()),
        "regression": fits.regressions[t].summary(),
        "rate_before": tally.before[c] / n,
        "rate_dropped": tally.after[d][c] / n,
        "rate_random": rate_rand,
        "rate_random_mean": float(np.mean(rate_rand)) if rand else None,
        "kept_dropped": tally.kept[d] / n_has,  # of the samples with the object, share keeping it
        "kept_random": [tally.kept[v] / n_has for v in rand],
        "change_outside_dropped": tally.change_out[d] / n,
        "change_inside_dropped": tally.change_in[d] / n,
        "change_outside_random": [tally.change_out[v] / n for v in rand],
        "change_inside_random": [tally.change_in[v] / n for v in rand],
        "attribute_rates": {
            a: {
                "before": tally.before[j] / n,
                "dropped": tally.after[d][j] / n,
                "random_mean": float(np.mean([tally.after[v][j] / n for v in rand]))
                if rand
                else None,
            }
            for a, j in col.items()
        },
    }


@torch.no_grad()
def run_forgetting_study(
    cfg: ForgettingConfig, G: nn.Module, judge: Judge, progress: bool = False
) -> ForgettingResult:
    """The §6.3.1 measurement for each object of ``cfg.objects``.

    1. ``n_pool`` samples (seeds 0, 1, ...) are judged; the first ``n_annotated`` the judge says
       show the object get the object's band as their box;
    2. ``fit_from_boxes`` on them gives the maps to drop (entry ``obj``); with ``cfg.contrast``
       also ``fit_contrast`` against as many samples without the object (entry ``"obj, contrast"``);
    3. ``n_eval`` fresh samples (seeds from ``eval_seed``) are drawn unmodified, with those maps
       dropped, and with as many random maps dropped (``n_random`` draws), and judged.

    Metrics per object: the object's rate before / after / after the random control; the share
    of samples with the object that keep it; the mean absolute pixel change (grey levels of 255)
    outside and inside the box; every judged attribute's rate before and after. An object that
    fewer than ``min_annotated`` pool samples show is skipped, and its entry says so.
    Paper: §6.3.1.
    """
    missing = [o for o in cfg.objects if o not in judge.attributes or o not in judge.bands]
    if missing:
        raise ValueError(f"the judge cannot judge {missing}, or has no box for it")
    mcfg: ModelConfig = G.cfg  # type: ignore[assignment]
    fits = fit_entries(cfg, G, judge, progress)
    tally = before_after(cfg, G, judge, fits, progress)
    per_obj: dict = dict(fits.skipped)
    for t in fits.target:
        per_obj[t] = entry_metrics(cfg, judge, fits, tally, t)
    metrics = {
        "config": asdict(cfg),
        "model": getattr(mcfg, "name", ""),
        "layer_shape": list(layer_output(G, z_from_seeds([0], mcfg), cfg.layer).shape[1:]),
        "judge": judge.description,
        "objects": plain(per_obj),
    }
    size = mcfg.image_size
    figures = {
        o: {k: np.stack(v) if v else np.zeros((0, size, size, 3), np.uint8) for k, v in f.items()}
        for o, f in tally.figures.items()
    }
    return ForgettingResult(metrics, fits.boxes, fits.regressions, figures)


# ---------------------------------------------------------------------------------------------
# The job: the command's and the page's


def study_inputs(size: str) -> tuple[nn.Module, Judge]:
    """(G, judge) for a size: smoke = the planted toy; book / full = the stored faces models."""
    if size == "smoke":
        G = PlantedGenerator()
        return G, toy_judge(G.band)
    return load_faces_generator(), face_judge()


def run_job(size: str, progress: bool = False) -> ForgettingResult:
    """The study at one of ``SIZES`` on its inputs (``study_inputs``). Paper: §6.3.1."""
    G, judge = study_inputs(size)
    return run_forgetting_study(SIZES[size], G, judge, progress)


def load_stored(cfg: ForgettingConfig) -> ForgettingResult:
    """The stored study's metrics (its sizes checked against ``cfg``), no figures in memory
    (``report_forgetting.show_figure`` finds the stored ones); raises ArtifactMissing."""
    return ForgettingResult(load_study(STORED, asdict(cfg)), {}, {}, {})


def figure_name(entry: str) -> str:
    """The stored figure of an entry: ``"Eyeglasses, contrast"`` -> ``eyeglasses_contrast.png``."""
    return entry.lower().replace(", ", "_").replace(" ", "_") + ".png"


def entry_figure(result: ForgettingResult, entry: str):
    """Fig. 6's layout for one measured entry: fresh samples that show the object, unmodified /
    with its maps dropped / with as many random maps dropped. Paper: §6.3.1."""
    figs = result.figures[entry]
    n = result.metrics["objects"][entry]["regression"]["n_dropped"]
    title = f"{entry}: {n} maps dropped"
    return plotting.before_after_figure(title, figs["before"], figs["dropped"], figs["random"])


@torch.no_grad()
def figures_again(
    cfg: ForgettingConfig, G: nn.Module, judge: Judge, metrics: dict, entries: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Entries' figure samples (``entry_figure``) made again from the stored metrics, as the
    study made them: per entry, the first ``cfg.n_figure`` fresh samples (seeds from
    ``cfg.eval_seed``, in batches of ``cfg.batch_size``) that the judge says show its object,
    unmodified, with the entry's stored maps dropped and with the first random draw
    (``random_map_draws``) dropped. One pass over the samples serves every entry; the dropped
    variants are drawn for the chosen samples only. Returns per entry uint8 (n, S, S, 3) arrays
    "before", "dropped", "random". Paper: §6.3.1."""
    objects = {t: e for t, e in metrics["objects"].items() if "skipped" not in e}
    sizes = {
        t: (e["regression"]["n_maps"], e["regression"]["n_dropped"]) for t, e in objects.items()
    }
    draws = random_map_draws(cfg, sizes)
    mcfg = G.cfg  # type: ignore[union-attr]
    out = {t: {"before": [], "dropped": [], "random": []} for t in entries}
    with eval_mode(G):
        for i in range(0, cfg.n_eval, cfg.batch_size):
            todo = [t for t in entries if len(out[t]["before"]) < cfg.n_figure]
            if not todo:
                break
            seeds = cfg.eval_seed + np.arange(i, min(i + cfg.batch_size, cfg.n_eval))
            h = forward_to(G, z_from_seeds(seeds, mcfg), cfg.layer)
            x0 = forward_from(G, h, cfg.layer)
            has0 = (judge.predict(x0) > cfg.threshold).numpy()
            for t in todo:
                sel = np.flatnonzero(has0[:, judge.attributes.index(objects[t]["object"])])
                sel = sel[: cfg.n_figure - len(out[t]["before"])]
                if len(sel) == 0:
                    continue
                out[t]["before"] += list(_nhwc(x0[sel]))
                for kind, maps in (("dropped", objects[t]["regression"]["maps"]),
                                   ("random", draws[t][0])):  # fmt: skip
                    out[t][kind] += list(_nhwc(forward_from(G, h[sel], cfg.layer, maps)))
    size = mcfg.image_size
    empty = np.zeros((0, size, size, 3), np.uint8)
    return {t: {k: np.stack(v) if v else empty for k, v in f.items()} for t, f in out.items()}


def study_figures(result: ForgettingResult) -> dict:
    """Every measured entry's figure by file name (``figure_name``); generated samples only."""
    return {figure_name(entry): entry_figure(result, entry) for entry in result.figures}


def measure_bands(faces) -> dict[str, dict]:
    """Per object of ``BANDS``, on aligned faces (a ``Packed`` with CelebA's labels): the box
    ``attribute_band`` measures now, the mean face with the attribute (S, S, 3) in [0, 1], the
    map of |with - without| and how many faces have it (``plotting.bands_figure``)."""
    out = {}
    for attr in BANDS:
        has = attribute_targets(faces, (attr,))[:, 0] > 0.5
        out[attr] = {
            "box": attribute_band(faces.images, has),
            "mean_with": np.asarray(faces.images[np.flatnonzero(has)], np.float64).mean(0) / 255,
            "difference": attribute_difference(faces.images, has),
            "n_with": int(has.sum()),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Command line


def run_cli(args: argparse.Namespace) -> int:
    torch.set_num_threads(os.cpu_count() or 1)
    command = {"study": _study, "fit": _fit, "annotate": _annotate, "bands": _bands}
    return command[args.forgetting_command](args)


def _study(args: argparse.Namespace) -> int:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if args.export and args.size != "book":
        raise ValueError("--export stores the book's study: use --size book")
    result = run_job(args.size, progress=True)
    if args.export:
        pngs = {f: plotting.png_bytes(fig) for f, fig in study_figures(result).items()}
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        for path in export_study(
            STORED, result.metrics, pngs, INPUTS, invoked_command(), cpu, wall
        ):
            print("wrote", path, file=sys.stderr)
    emit_json(result.metrics, args.out)
    return 0


def _fit(args: argparse.Namespace) -> int:
    G = load_generator(args.generator)
    boxset = parse_boxes(args.boxes, G.cfg)
    reg = fit_from_boxes(G, boxset, args.layer, args.neg_per_pos)
    emit_json({"object": boxset.object, "layer": args.layer, **reg.summary()}, args.out)
    if args.samples:
        z = sample_z(8, G.cfg, generator=torch.Generator().manual_seed(0))
        grid = torch.cat([generate(G, z), generate(DroppedGenerator(G, reg.maps, args.layer), z)])
        save_image(grid * 0.5 + 0.5, args.samples, nrow=8)
    return 0


def _annotate(args: argparse.Namespace) -> int:
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    G = load_generator(args.generator)
    path = write_annotation_images(G, seeds, args.out, args.scale, args.object)
    print(
        f"wrote {len(seeds)} images and {path}; draw boxes, then run "
        f"'python -m dcgan_lib forgetting fit --boxes {path}'"
    )
    return 0


def _bands(args: argparse.Namespace) -> int:
    faces = load_dataset("celeba", args.data_root, image_size=64)
    for attr, band in measure_bands(faces).items():
        print(attr, band["box"])
    return 0
