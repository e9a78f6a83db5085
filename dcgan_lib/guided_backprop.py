"""Guided backpropagation of the discriminator's features (paper §6.2, Fig. 5).

Paper §6.2: "we show that the features learnt by the discriminator activate on typical parts of a
bedroom, like beds and windows", with "guided backpropagation visualizations of maximal
axis-aligned responses for the first 6 learned convolutional features from the last convolution
layer in the discriminator", next to "a baseline for randomly initialized features".

What this module does, and the choices the paper leaves open:

- **Features.** Channel ``k`` (``k = 0..5``: "the first 6") of the output of D's last conv block,
  after its LeakyReLU (``D.features(x)[-1]``: 4x4 maps for a 64 px D).
- **Maximal axis-aligned responses.** The strength of image ``i`` for feature ``k`` is the largest
  value of channel ``k`` over the spatial positions; the images shown are the real training images
  with the largest strengths, and the position of that maximum is the unit that is explained.
- **Guided backpropagation** (Springenberg et al. 2014): the gradient of that single activation
  with respect to the input image, where at every rectifier only positive gradient is passed back.
- **BatchNorm** in eval mode (its running statistics), so that each image's map depends on that
  image only. Deviation: the running statistics of a trained D average its real and generated
  training batches; the paper does not say what it used.
- **The rule for LeakyReLU.** Guided backpropagation is defined for ReLU: gradient passes where the
  forward input was positive *and* the incoming gradient is positive. D uses LeakyReLU (slope 0.2),
  whose negative side also passes gradient. Two rules, both implemented and compared:

  * ``"zero"`` (the default, the figure's rule): treat LeakyReLU as ReLU in the guided pass,
    ``g_in = max(g_out, 0) * [x > 0]``;
  * ``"slope"``: keep the negative side's slope, ``g_in = max(g_out, 0) * (1 if x > 0 else 0.2)``.
    This is what clamping the ordinary LeakyReLU gradient to be non-negative gives (captum's rule
    for ReLU, ``relu(grad_input)``, applied to LeakyReLU).

  ``"none"`` is the plain gradient (no rule), for comparison. ``rule_similarity`` measures how much
  the maps change between rules (cosine and Spearman correlation per map).
- **Implementation.** captum's ``GuidedBackprop`` overrides the backward of ``nn.ReLU`` modules
  only (``isinstance(module, torch.nn.ReLU)``; ``nn.LeakyReLU`` is not a subclass), so it would leave
  every rectifier of D unchanged, and captum is not a dependency here. We register full backward
  hooks (``register_full_backward_hook``) on the LeakyReLU modules of a *copy* of D whose
  activations are not in-place (hooks on in-place modules fail, and the stored D must never
  change); a forward hook records the sign of each rectifier's input for the ``"zero"`` rule.

Paper: §6.2.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from dcgan_lib.config import ModelConfig, get_model_config
from dcgan_lib.data import to_float, to_uint8
from dcgan_lib.models import Discriminator, Generator, eval_mode, generate, sample_z

RULES = ("zero", "slope", "none")
# which trained model explains which data: (artifact name, dataset of its training images)
MODELS = {
    "faces": ("celeba_dcgan64", "celeba"),
    "scenes": ("tinyimagenet_dcgan64", "tinyimagenet"),  # the LSUN stand-in at 64 px
}


# ---------------------------------------------------------------------------------------------
# The guided rule


def guided_copy(D: nn.Module) -> nn.Module:
    """A copy of D in eval mode, with no in-place activations and frozen parameters.

    Guided backprop runs on this copy: D itself (its mode, hooks, ``inplace`` flags and weights)
    is never touched.
    """
    model = copy.deepcopy(D).eval()
    for m in model.modules():
        if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
            m.inplace = False
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@contextlib.contextmanager
def guided_rule(model: nn.Module, rule: str = "zero") -> Iterator[nn.Module]:
    """Within the block, every ReLU / LeakyReLU of ``model`` backpropagates by ``rule``.

    ``model`` must have no in-place activations (use ``guided_copy``). The hooks are removed on
    exit, also after an error. Rules: see the module docstring.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    rectifiers = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    if any(m.inplace for m in rectifiers):
        raise ValueError("guided_rule needs a model without in-place activations: use guided_copy")
    handles = []
    if rule != "none":
        positive: dict[nn.Module, torch.Tensor] = {}

        def record(m: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
            positive[m] = inputs[0].detach() > 0

        def backward(
            m: nn.Module,
            grad_input: tuple[torch.Tensor, ...],
            grad_output: tuple[torch.Tensor, ...],
        ) -> tuple[torch.Tensor]:
            g_out = grad_output[0].clamp(min=0)  # guided: only positive gradient flows back
            if rule == "zero":  # LeakyReLU treated as ReLU
                return (torch.where(positive[m], g_out, torch.zeros_like(g_out)),)
            slope = getattr(m, "negative_slope", 0.0)  # "slope": keep the negative side's slope
            return (torch.where(positive[m], g_out, g_out * slope),)

        for m in rectifiers:
            handles.append(m.register_forward_hook(record))
            handles.append(m.register_full_backward_hook(backward))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def _block_index(model: nn.Module, layer: int) -> int:
    n = len(model.blocks)  # type: ignore[arg-type]
    if not -n <= layer < n:
        raise ValueError(f"layer {layer} is out of range for a model with {n} blocks")
    return layer % n


def guided_backprop(
    D: nn.Module,
    images: torch.Tensor,
    feature: int,
    positions: torch.Tensor | np.ndarray | None = None,
    rule: str = "zero",
    layer: int = -1,
) -> torch.Tensor:
    """Guided-backprop maps (B, nc, S, S) of one unit per image.

    images (B, nc, S, S) in [-1, 1]; the unit is channel ``feature`` of the output of
    ``D.blocks[layer]`` at ``positions`` (B, 2) as (row, col) in that layer's map (default: each
    image's argmax). BatchNorm in eval mode; D is not changed. Paper: §6.2.
    """
    model = guided_copy(D)
    last = _block_index(model, layer)
    x = images.detach().float().clone().requires_grad_(True)
    with guided_rule(model, rule):
        h = x
        for block in model.blocks[: last + 1]:  # type: ignore[index]
            h = block(h)
        if not 0 <= feature < h.shape[1]:
            raise ValueError(f"feature {feature} is out of range: the layer has {h.shape[1]} maps")
        fmap = h[:, feature]  # (B, h, w)
        if positions is None:
            flat = fmap.detach().flatten(1).argmax(1)
            pos = torch.stack([flat // fmap.shape[2], flat % fmap.shape[2]], 1)
        else:
            pos = torch.as_tensor(np.asarray(positions), dtype=torch.long).view(-1, 2)
        unit = fmap[torch.arange(len(x)), pos[:, 0], pos[:, 1]]  # (B,)
        (grad,) = torch.autograd.grad(unit.sum(), x)  # eval-mode BN: images are independent
    return grad.detach()


# ---------------------------------------------------------------------------------------------
# Maximal axis-aligned responses


@torch.no_grad()
def layer_activations(
    D: nn.Module, images: np.ndarray | torch.Tensor, layer: int = -1, batch_size: int = 256
) -> torch.Tensor:
    """Output of ``D.blocks[layer]`` (N, C, h, w), BatchNorm in eval mode.

    images: uint8 (N, S, S, nc) as stored by ``dcgan_lib.data``, or float (N, nc, S, S) in [-1, 1].
    """
    last = _block_index(D, layer)
    out = []
    with eval_mode(D):
        for i in range(0, len(images), batch_size):
            x = _as_float(images[i : i + batch_size])
            for block in D.blocks[: last + 1]:  # type: ignore[index]
                x = block(x)
            out.append(x)
    return torch.cat(out)


def _as_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.array(images))  # a copy: the source may be a read-only map
    if images.dtype == torch.uint8:
        return to_float(images)  # (B, S, S, 3) uint8 -> (B, 3, S, S) in [-1, 1]
    return images.float()


@dataclass
class TopResponses:
    """The images with the largest response of one feature, strongest first."""

    feature: int
    index: np.ndarray  # (n_top,) image indices
    strength: np.ndarray  # (n_top,) max over positions of the feature's activation
    position: np.ndarray  # (n_top, 2) (row, col) of that maximum in the feature map


def top_responses(acts: torch.Tensor, features: list[int], n_top: int) -> list[TopResponses]:
    """For each feature k: the ``n_top`` images whose channel-k map has the largest maximum.

    acts (N, C, h, w). Ties go to the lower image index. Paper: §6.2 ("maximal axis-aligned
    responses").
    """
    n, _, _, w = acts.shape
    out = []
    for k in features:
        flat = acts[:, k].flatten(1)  # (N, h*w)
        strength, where = flat.max(1)
        # stable sort on -strength: equal strengths keep index order
        order = np.argsort(-strength.numpy(), kind="stable")[: min(n_top, n)]
        pos = where.numpy()[order]
        out.append(
            TopResponses(
                feature=k,
                index=order,
                strength=strength.numpy()[order],
                position=np.stack([pos // w, pos % w], 1),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Comparing rules, showing maps


def rule_similarity(a: torch.Tensor, b: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-map cosine similarity and Spearman rank correlation of maps a, b (B, ...)."""
    from scipy.stats import spearmanr

    a2, b2 = a.flatten(1).double(), b.flatten(1).double()
    cos = torch.nn.functional.cosine_similarity(a2, b2, dim=1).numpy()
    rho = np.array([spearmanr(x, y).statistic for x, y in zip(a2.numpy(), b2.numpy(), strict=True)])
    return {"cosine": cos, "spearman": rho}


def map_concentration(maps: torch.Tensor, fraction: float = 0.1) -> np.ndarray:
    """(B, C, S, S) maps -> (B,): the share of each map's absolute gradient (summed over
    channels) held by its top ``fraction`` of pixels. ``fraction`` for a map spread evenly; 1 for
    a map on a few pixels; NaN for a map without gradient. Ours: the paper reads its maps by eye."""
    a = maps.detach().abs().sum(1).flatten(1).double()  # (B, S*S)
    k = max(1, int(round(fraction * a.shape[1])))
    top = a.topk(k, dim=1).values.sum(1)
    total = a.sum(1)
    return torch.where(total > 0, top / total.clamp_min(1e-300), float("nan")).numpy()


def map_agreement(maps: torch.Tensor) -> float:
    """(B, C, S, S) maps of one feature's top images -> the mean cosine similarity, over pairs of
    maps, of where their absolute gradient lies (summed over channels): 1 when every map puts its
    weight on the same pixels. Ours: the paper reads its maps by eye."""
    a = torch.nn.functional.normalize(maps.detach().abs().sum(1).flatten(1).double(), dim=1)
    n = len(a)
    if n < 2:
        raise ValueError("map_agreement needs at least 2 maps")
    sim = a @ a.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * n - n))


def to_display(maps: torch.Tensor, clip_std: float = 3.0) -> np.ndarray:
    """Maps (B, 3, S, S) -> (B, S, S, 3) in [0, 1]: each map centred, scaled by its own std.

    0.5 is zero gradient; ``clip_std`` standard deviations reach black or white.
    """
    m = maps.double()
    m = m - m.mean(dim=(1, 2, 3), keepdim=True)
    m = m / (m.std(dim=(1, 2, 3), keepdim=True) * clip_std * 2 + 1e-12)
    return (m + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------------------------------------
# The §6.2 study: one entry point for the CLI, the notebook and the tests


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
    smoke_steps: int = 0  # smoke mode: train a tiny GAN this many steps on synthetic images


STUDY_CONFIGS = {
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
    models: dict[str, ModelMaps]  # "trained" (when given) and "random"
    metrics: dict = field(default_factory=dict)


def random_discriminator(cfg: ModelConfig, seed: int = 0) -> Discriminator:
    """The paper's baseline: D with the paper's random initialization, N(0, 0.02)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        D = Discriminator(cfg)
    return D.eval()


def smoke_discriminator(steps: int, seed: int = 0, n_images: int = 256) -> Discriminator:
    """A tiny ``smoke64`` GAN trained ``steps`` steps on synthetic shapes; its D (smoke mode)."""
    from dcgan_lib.data import synthetic_images
    from dcgan_lib.train import TrainConfig, make_optimizers, train_step

    cfg = get_model_config("smoke64")
    images, _ = synthetic_images(n_images, cfg.image_size, seed=seed)
    x_all = to_float(torch.from_numpy(images))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = Generator(cfg), Discriminator(cfg)
        opt_g, opt_d = make_optimizers(G, D, TrainConfig(model=cfg, batch_size=32))
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(0, len(x_all), (32,), generator=g)
            train_step(G, D, opt_g, opt_d, x_all[idx], sample_z(32, cfg, generator=g))
    return D.eval()


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
        x = _as_float(images[t.index])
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


def study_figures(result: GuidedResult, cfg: GuidedConfig, label: str) -> dict:
    """The pictures of one study by file name: ``maps_<label>.png`` (Fig. 5: each D's maps by
    the first rule, random D first), ``images_<label>.png`` (the images behind the trained D's
    maps, or the random D's without one) and ``rules_<label>.png`` (feature 0 under every rule).
    Store them only for generated images: for real ones they show the dataset. Paper: §6.2."""
    from dcgan_lib import figures6  # matplotlib: only where pictures are made

    rule = cfg.rules[0]
    shown = {n: [to_display(m) for m in mm.maps[rule]] for n, mm in result.models.items()}
    features = [t.feature for t in next(iter(result.models.values())).top]
    name = "trained" if "trained" in result.models else "random"
    mm = result.models[name]
    return {
        f"maps_{label}.png": figures6.guided_maps_figure(
            f"{label} images: guided backprop ({rule!r}) of D's last-layer features",
            shown,
            features,
        ),
        f"images_{label}.png": figures6.image_grid(
            [list(imgs) for imgs in mm.images],
            f"the top {label} images per feature ({name} D); titles: index, strength",
            row_labels=[f"feature {f}" for f in features],
            titles=[
                [f"#{i} {v:.2f}" for i, v in zip(t.index, t.strength, strict=True)] for t in mm.top
            ],
            cell=0.9,
        ),
        f"rules_{label}.png": figures6.image_grid(
            [list(mm.images[0])] + [list(to_display(mm.maps[r][0])) for r in cfg.rules],
            f"{name} D, feature {features[0]}: one unit under each rule",
            row_labels=["image", *cfg.rules],
            cell=0.9,
        ),
    }


def load_trained_discriminator(model: str = "faces") -> Discriminator:
    """The exported D of ``MODELS[model]`` (``artifacts/<name>/D.pt``; for the faces, the §6
    faces model: ``experiments.faces_model_artifact``); raises ArtifactMissing."""
    from dcgan_lib.artifacts import load_weights, require
    from dcgan_lib.experiments import faces_model_artifact

    name = faces_model_artifact() if model == "faces" else MODELS[model][0]
    return load_weights(require(name, "D.pt"), "D")  # type: ignore[return-value]


def export_study(
    model: str, cfg: GuidedConfig, real: dict, D: nn.Module, cpu0: float, wall0: float
) -> dict:
    """Add the same study on ``cfg.n_images`` samples of the model's stored G to the metrics of
    the real images (``real``), and store both in ``artifacts/guided_backprop_<model>``: the
    numbers of both, the figures of the generated samples only. ``cpu0``, ``wall0``: when the
    command started (``time.process_time``, ``time.perf_counter``). Returns the stored metrics."""
    from dcgan_lib import artifacts
    from dcgan_lib.figures6 import png_bytes  # matplotlib: only where pictures are made

    name = MODELS[model][0]
    G = artifacts.load_generator(artifacts.require(name, "G.pt"))
    gen = run_guided_study(cfg, generated_images(G, cfg.n_images, cfg.seed), D, D.cfg)  # type: ignore[arg-type]
    metrics = {"config": asdict(cfg), "model": model, "real": real, "generated": gen.metrics}
    pngs = {f: png_bytes(fig) for f, fig in study_figures(gen, cfg, "generated").items()}
    for path in artifacts.export_study(
        f"guided_backprop_{model}",
        metrics,
        pngs,
        [f"{name}/D.pt", f"{name}/G.pt"],
        artifacts.invoked_command(),
        time.process_time() - cpu0,
        time.perf_counter() - wall0,
    ):
        print("wrote", path)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """``python -m dcgan_lib.guided_backprop --model faces --data-root DIR [--mode book]``.

    Prints the metrics as JSON (and writes them to ``--out``); an error the user can fix (no
    stored D, no data) prints one line and returns 2.
    """
    from dcgan_lib.artifacts import ArtifactMissing
    from dcgan_lib.data import DataError, load_dataset

    p = argparse.ArgumentParser(
        prog="python -m dcgan_lib.guided_backprop",
        description="guided backprop of D's last-layer features (paper §6.2)",
    )
    p.add_argument("--model", default="faces", choices=sorted(MODELS))
    p.add_argument("--mode", default="book", choices=sorted(STUDY_CONFIGS))
    p.add_argument("--data-root", default=None, help="folder holding the data (or DCGAN_DATA)")
    p.add_argument("--random-only", action="store_true", help="only the random-D baseline")
    p.add_argument("--out", default=None, help="write the metrics JSON here")
    p.add_argument(
        "--export",
        action="store_true",
        help="store the book's study in artifacts/guided_backprop_<model>: on real images "
        "(indices and numbers only) and on G's samples (numbers and figures)",
    )
    a = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    cfg = STUDY_CONFIGS[a.mode]
    if a.export and (a.mode != "book" or a.random_only):
        print(
            "error: --export stores the book's study of a stored D: use --mode book",
            file=sys.stderr,
        )
        return 2
    try:
        if a.mode == "smoke":
            D: nn.Module | None = smoke_discriminator(cfg.smoke_steps, cfg.seed)
            images = load_dataset("synthetic", image_size=64, limit=cfg.n_images).images
            model_cfg = get_model_config("smoke64")
        else:
            D = None if a.random_only else load_trained_discriminator(a.model)
            model_cfg = D.cfg if D is not None else get_model_config("dcgan64")  # type: ignore[union-attr]
            images = load_dataset(MODELS[a.model][1], a.data_root, image_size=64).images
    except (ArtifactMissing, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    metrics = run_guided_study(cfg, images, D, model_cfg).metrics
    if a.export:
        try:
            metrics = export_study(a.model, cfg, metrics, D, cpu0, wall0)  # type: ignore[arg-type]
        except ArtifactMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    text = json.dumps(metrics, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
