"""The §6.2 study: guided backpropagation of a trained D's features beside a random D's (Fig. 5).

Which D explains which images (``MODELS``), the three sizes (``SIZES``), the job that the command
``python -m dcgan_lib guided-backprop`` and the page run (``run_job``: the top images of the first
6 features of D's last layer, and their maps under each rule, for the trained D and a random D, on
real training images and on the generator's samples), what is stored (``export``: the numbers of
both, the figures of the generated samples only: a figure of real images would show the data
set) and how the page reads it back (``load_stored``, ``redraw_real``). The method is
``dcgan_lib.guided_backprop``. Paper: §6.2.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from dcgan_lib import plotting
from dcgan_lib.artifacts import (
    export_study,
    faces_model_artifact,
    invoked_command,
    load_study,
    require,
)
from dcgan_lib.checkpoint import load_generator, load_weights
from dcgan_lib.config import ModelConfig, get_model_config
from dcgan_lib.data import load_dataset, to_uint8
from dcgan_lib.guided_backprop import (
    TopResponses,
    float_images,
    guided_backprop,
    layer_activations,
    map_agreement,
    map_concentration,
    rule_similarity,
    to_display,
    top_responses,
)
from dcgan_lib.models import generate, random_discriminator, sample_z
from dcgan_lib.studies.cli import emit_json
from dcgan_lib.toys import smoke_discriminator

# which trained model explains which data: (artifact name, dataset of its training images)
MODELS = {
    "faces": ("celeba_dcgan64", "celeba"),
    "scenes": ("tinyimagenet_dcgan64", "tinyimagenet"),  # the LSUN stand-in at 64 px
}


@dataclass(frozen=True)
class GuidedConfig:
    """Sizes of the §6.2 study. ``n_features`` and ``layer`` are the paper's."""

    n_images: int = 2048  # real training images searched for the maximal responses
    n_features: int = 6  # paper: "the first 6 learned convolutional features"
    n_top: int = 8  # images shown per feature
    layer: int = -1  # paper: "the last convolution layer in the discriminator"
    rules: tuple[str, ...] = ("zero", "slope", "none")  # the first is the one shown
    seed: int = 0  # which images are searched, and the random D's initialization
    batch_size: int = 256
    smoke_steps: int = 0  # smoke size: train a tiny GAN this many steps on synthetic images


SIZES = {
    "smoke": GuidedConfig(n_images=256, n_top=4, smoke_steps=40, batch_size=64),
    "book": GuidedConfig(n_images=2048),  # about 15 s per D on a 2-core CPU
    "full": GuidedConfig(n_images=20_000),
}


@dataclass
class ModelMaps:
    """One D's top images per feature and their maps under each rule."""

    top: list[TopResponses]
    images: list[np.ndarray]  # per feature: (n_top, S, S, 3) uint8, the top images
    maps: dict[str, list[torch.Tensor]]  # rule -> per feature: (n_top, 3, S, S) gradients


@dataclass
class GuidedResult:
    """One set of images explained: each D's maps, and the numbers."""

    models: dict[str, ModelMaps]  # "trained" (when given) and "random"
    metrics: dict = field(default_factory=dict)


@dataclass
class GuidedStudy:
    """A model's study: ``metrics`` per set of images ("real", "generated"; smoke:
    "synthetic"), the sets whose maps are at hand (``results``), and the trained D."""

    metrics: dict
    results: dict[str, GuidedResult] = field(default_factory=dict)
    D: nn.Module | None = None


# ---------------------------------------------------------------------------------------------
# Explaining one set of images


def explain(D: nn.Module, images: np.ndarray, cfg: GuidedConfig) -> ModelMaps:
    """Top images of the first ``cfg.n_features`` features of D and their maps per rule."""
    acts = layer_activations(D, images, cfg.layer, cfg.batch_size)
    return explain_top(D, images, top_responses(acts, list(range(cfg.n_features)), cfg.n_top), cfg)


def explain_top(
    D: nn.Module, images: np.ndarray, top: list[TopResponses], cfg: GuidedConfig
) -> ModelMaps:
    """The maps per rule of given top images (``top``: indices into ``images``, uint8 NHWC),
    e.g. a stored study's, redrawn from the data. Paper: §6.2."""
    maps: dict[str, list[torch.Tensor]] = {r: [] for r in cfg.rules}
    shown = []
    for t in top:
        x = float_images(images[t.index])
        shown.append(np.asarray(images[t.index]))
        for r in cfg.rules:
            maps[r].append(guided_backprop(D, x, t.feature, t.position, rule=r, layer=cfg.layer))
    return ModelMaps(top=top, images=shown, maps=maps)


def _nanmean(x: np.ndarray) -> float | None:
    """Mean over the defined values; None when there are none (JSON has no NaN)."""
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else None


def _summary(mm: ModelMaps, rules: tuple[str, ...]) -> dict:
    out: dict = {
        "features": [
            {
                "feature": t.feature,
                "index": t.index.tolist(),
                "strength": [round(float(s), 5) for s in t.strength],
                "position": t.position.tolist(),
            }
            for t in mm.top
        ],
        # where the first rule's maps put their weight (ours: the paper reads them by eye)
        "concentration": [_nanmean(map_concentration(m)) for m in mm.maps[rules[0]]],
        "agreement": [map_agreement(m) for m in mm.maps[rules[0]]],
    }
    base = rules[0]
    for r in rules[1:]:
        sim = rule_similarity(torch.cat(mm.maps[base]), torch.cat(mm.maps[r]))
        out[f"{base}_vs_{r}"] = {
            k: {"mean": float(v.mean()), "min": float(v.min()), "n_maps": len(v)}
            for k, v in sim.items()
        }
    return out


def run_guided_study(
    cfg: GuidedConfig,
    images: np.ndarray,
    D: nn.Module | None,
    model_cfg: ModelConfig,
) -> GuidedResult:
    """The §6.2 study on ``images`` (N, S, S, 3) uint8, real training images.

    ``cfg.n_images`` of them (drawn with ``cfg.seed``, in index order) are searched; the trained D
    (``None``: random baseline only) and a random D of ``model_cfg`` are each explained. Metrics:
    the top images and strengths per feature, and the similarity of the first rule's maps to the
    others'. Paper: §6.2.
    """
    rng = np.random.default_rng(cfg.seed)
    n = min(cfg.n_images, len(images))
    chosen = np.sort(rng.choice(len(images), size=n, replace=False))
    pool = np.asarray(images[chosen])
    models = {}
    if D is not None:
        models["trained"] = explain(D, pool, cfg)
    models["random"] = explain(random_discriminator(model_cfg, cfg.seed), pool, cfg)
    for mm in models.values():
        for t in mm.top:  # indices into the whole data set, not into the pool
            t.index = chosen[t.index]
    metrics = {
        "config": asdict(cfg),
        "n_searched": n,
        **{name: _summary(mm, cfg.rules) for name, mm in models.items()},
    }
    return GuidedResult(models=models, metrics=metrics)


def top_from_json(summary: dict) -> list[TopResponses]:
    """A stored D's top responses (``metrics[name]["features"]``) back as ``TopResponses``."""
    return [
        TopResponses(
            feature=f["feature"],
            index=np.asarray(f["index"], dtype=np.int64),
            strength=np.asarray(f["strength"], dtype=np.float64),
            position=np.asarray(f["position"], dtype=np.int64).reshape(-1, 2),
        )
        for f in summary["features"]
    ]


def generated_images(G: nn.Module, n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """``n`` samples of G (seeded), uint8 (n, S, S, 3) like a stored dataset: D explained on
    what G draws, a picture that may be stored (the real images' may not)."""
    z = sample_z(n, G.cfg, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    return to_uint8(generate(G, z, batch_size)).permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------------------------------------
# The job: the command's and the page's


def load_trained_discriminator(model: str = "faces") -> nn.Module:
    """The exported D of ``MODELS[model]`` (``artifacts/<name>/D.pt``; for the faces, the §6
    faces model: ``artifacts.faces_model_artifact``); raises ArtifactMissing."""
    name = faces_model_artifact() if model == "faces" else MODELS[model][0]
    return load_weights(require(name, "D.pt"), "D")


def run_job(
    size: str, model: str = "faces", data_root=None, random_only: bool = False
) -> GuidedStudy:
    """The study at one of ``SIZES``: smoke, a ``smoke64`` D trained 40 steps and a random D on
    synthetic images; book and full, the stored D of ``model`` and a random D on its real
    training images and on as many samples of its stored G (random only: no trained D, real
    images only). Paper: §6.2."""
    cfg = SIZES[size]
    if size == "smoke":
        D = smoke_discriminator(cfg.smoke_steps, cfg.seed)
        images = load_dataset("synthetic", image_size=64, limit=cfg.n_images).images
        result = run_guided_study(cfg, images, D, D.cfg)
        metrics = {"config": asdict(cfg), "model": "smoke", "synthetic": result.metrics}
        return GuidedStudy(metrics, {"synthetic": result}, D)
    D = None if random_only else load_trained_discriminator(model)
    model_cfg = D.cfg if D is not None else get_model_config("dcgan64")
    images = load_dataset(MODELS[model][1], data_root, image_size=64).images
    results = {"real": run_guided_study(cfg, images, D, model_cfg)}
    if D is not None:
        G = load_generator(require(MODELS[model][0], "G.pt"))
        gen = generated_images(G, cfg.n_images, cfg.seed)
        results["generated"] = run_guided_study(cfg, gen, D, model_cfg)
    metrics = {"config": asdict(cfg), "model": model, **{k: r.metrics for k, r in results.items()}}
    return GuidedStudy(metrics, results, D)


def study_figures(result: GuidedResult, cfg: GuidedConfig, label: str) -> dict:
    """The pictures of one set of images by file name: ``maps_<label>.png`` (Fig. 5: each D's
    maps by the first rule, random D first), ``images_<label>.png`` (the images behind the
    trained D's maps, or the random D's without one) and ``rules_<label>.png`` (feature 0 under
    every rule). Store them only for generated images: for real ones they show the dataset.
    Paper: §6.2."""
    rule = cfg.rules[0]
    shown = {n: [to_display(m) for m in mm.maps[rule]] for n, mm in result.models.items()}
    features = [t.feature for t in next(iter(result.models.values())).top]
    name = "trained" if "trained" in result.models else "random"
    mm = result.models[name]
    return {
        f"maps_{label}.png": plotting.guided_maps_figure(
            f"{label} images: guided backprop ({rule!r}) of D's last-layer features",
            shown,
            features,
        ),
        f"images_{label}.png": plotting.image_grid(
            [list(imgs) for imgs in mm.images],
            f"the top {label} images per feature ({name} D); titles: index, strength",
            row_labels=[f"feature {f}" for f in features],
            titles=[
                [f"#{i} {v:.2f}" for i, v in zip(t.index, t.strength, strict=True)] for t in mm.top
            ],
            fontsize=10,
        ),
        f"rules_{label}.png": plotting.image_grid(
            [list(mm.images[0])] + [list(to_display(mm.maps[r][0])) for r in cfg.rules],
            f"{name} D, feature {features[0]}: one unit under each rule",
            row_labels=["image", *cfg.rules],
            fontsize=10,
        ),
    }


def stored_name(model: str) -> str:
    """The artifacts/ folder of a model's stored study."""
    return f"guided_backprop_{model}"


def export(study: GuidedStudy, cfg: GuidedConfig, cpu0: float, wall0: float) -> list:
    """Store a model's study in ``artifacts/guided_backprop_<model>``: the numbers of every set
    of images, the figures of the generated samples only. ``cpu0``, ``wall0``: when the command
    started (``time.process_time``, ``time.perf_counter``). Returns the paths written."""
    model = study.metrics["model"]
    name = MODELS[model][0]
    pngs = {
        f: plotting.png_bytes(fig)
        for f, fig in study_figures(study.results["generated"], cfg, "generated").items()
    }
    return export_study(
        stored_name(model),
        study.metrics,
        pngs,
        [f"{name}/D.pt", f"{name}/G.pt"],
        invoked_command(),
        time.process_time() - cpu0,
        time.perf_counter() - wall0,
    )


def load_stored(model: str, cfg: GuidedConfig) -> GuidedStudy:
    """A model's stored study (its sizes checked against ``cfg``) with its trained D; no maps
    (``redraw_real`` draws the real images' from the data). Raises ArtifactMissing."""
    metrics = load_study(stored_name(model), asdict(cfg))
    return GuidedStudy(metrics, {}, load_trained_discriminator(model))


def redraw_real(study: GuidedStudy, cfg: GuidedConfig, data_root=None) -> GuidedStudy:
    """The stored real images' maps, drawn again from the data (the stored top images, the
    stored D and the random D of the same seed); raises DataError without the data."""
    model = study.metrics["model"]
    images = load_dataset(MODELS[model][1], data_root, image_size=64, progress=False).images
    nets = {"trained": study.D, "random": random_discriminator(study.D.cfg, cfg.seed)}
    models = {
        n: explain_top(net, images, top_from_json(study.metrics["real"][n]), cfg)
        for n, net in nets.items()
    }
    study.results["real"] = GuidedResult(models, study.metrics["real"])
    return study


def show_figures(
    study: GuidedStudy,
    cfg: GuidedConfig,
    what: str,
    sets: tuple[str, ...] = ("synthetic", "generated", "real"),
) -> None:
    """Show figure ``what`` ("maps", "images", "rules") of each set of images of a study (of
    ``sets`` only): drawn here where its maps are at hand, else the stored one (generated images
    only)."""
    for images in sets:
        if images in study.results:
            plotting.show(study_figures(study.results[images], cfg, images)[f"{what}_{images}.png"])
        elif images == "generated" and images in study.metrics:
            name = stored_name(study.metrics["model"])
            plotting.show_study_figure({}, name, f"{what}_generated.png")


# ---------------------------------------------------------------------------------------------
# Command line


def run_cli(a: argparse.Namespace) -> int:
    """Print the metrics as JSON (or write them to ``--out``); ``--export`` stores them."""
    torch.set_num_threads(os.cpu_count() or 1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if a.export and (a.size != "book" or a.random_only):
        raise ValueError("--export stores the book's study of a stored D: use --size book")
    study = run_job(a.size, a.model, a.data_root, a.random_only)
    if a.export:
        for path in export(study, SIZES[a.size], cpu0, wall0):
            print("wrote", path)
    emit_json(study.metrics, a.out)
    return 0
