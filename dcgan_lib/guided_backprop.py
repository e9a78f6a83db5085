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

The study (which images, which D's, the sizes, the stored figures and the command ``python -m
dcgan_lib guided-backprop``) is ``dcgan_lib.studies.guided_backprop``. Paper: §6.2.
"""

from __future__ import annotations

import contextlib
import copy
import runpy
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dcgan_lib.data import to_float
from dcgan_lib.models import block_index, eval_mode

RULES = ("zero", "slope", "none")


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
    last = block_index(model, layer)
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
    last = block_index(D, layer)
    out = []
    with eval_mode(D):
        for i in range(0, len(images), batch_size):
            x = float_images(images[i : i + batch_size])
            for block in D.blocks[: last + 1]:  # type: ignore[index]
                x = block(x)
            out.append(x)
    return torch.cat(out)


def float_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (B, S, S, nc) as stored, or float (B, nc, S, S) -> float (B, nc, S, S) in [-1, 1]."""
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


if __name__ == "__main__":  # the old spelling: runs ``python -m dcgan_lib guided-backprop ...``
    sys.argv[1:1] = ["guided-backprop"]
    runpy.run_module("dcgan_lib", run_name="__main__", alter_sys=True)
