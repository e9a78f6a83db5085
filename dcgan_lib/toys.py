"""Test doubles and smoke-size stand-ins: small models whose right answers are known.

Each replaces a trained model or a judge where a test or a smoke run (seconds on a CPU) needs one:

- ``ToyFaces``: a hand-built "face generator" whose attributes and pose are known from z, with
  ``ToyAttributeClassifier`` and ``toy_pose_score``, which read them back exactly (§6.1, §6.3.2);
  ``toy_faces_data`` is a training set of its samples (the nearest-neighbour search);
- ``batchnorm_generator``: an untrained ``smoke64`` G whose BatchNorm holds running statistics
  (the toy has no BatchNorm; this checks the sampling policy, §6.1);
- ``PlantedGenerator`` and ``toy_judge``: a generator with two planted feature maps that paint a
  red bar, and a judge of the bar: the regression of §6.3.1 must find the planted maps;
- ``smoke_discriminator``: a ``smoke64`` GAN trained a few steps on synthetic shapes (§6.2).

None is a GAN result: a number computed on these describes the toy, never the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dcgan_lib.attributes import AttributeConfig
from dcgan_lib.config import ModelConfig, TrainConfig, get_model_config
from dcgan_lib.data import Packed, to_float, to_uint8
from dcgan_lib.datasets import synthetic_images
from dcgan_lib.forgetting import Box, Judge, feature_mask
from dcgan_lib.models import Discriminator, Generator, generate, sample_z
from dcgan_lib.step import make_optimizers, train_step

# ---------------------------------------------------------------------------------------------
# A toy generator with known attributes (§6.1, §6.3.2)

TOY_ATTRIBUTES = ("Smiling", "Male", "Eyeglasses")
TOY_THRESHOLD = 0.3  # attribute k is present exactly when z_k > 0.3
_TOY_BANDS = ((44, 56, 0), (20, 30, 2), (6, 16, 1))  # (row from, row to, channel) per attribute
_TOY_NOSE = (32, 40)  # rows of the "nose"


class ToyFaces(nn.Module):
    """A hand-built stand-in for a face generator, with attributes known from z (not a GAN).

    z (B, 8) in [-1, 1] -> (B, 3, 64, 64) in [-1, 1]. Attribute k (Smiling, Male, Eyeglasses) is
    drawn in its own band of rows as vertical stripes of amplitude clamp(z_k, 0, 1) and phase
    pi * z_4 (a nuisance that averages of images blur); z_3 is the "pose": a bright bump whose
    column is 32 + 12 * z_3 (right of centre: looking right). z_5..z_7 are unused.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cfg = ModelConfig(name="toy_faces", image_size=64, nz=8, ngf=1, ndf=1)
        self.anchor = nn.Parameter(
            torch.zeros(()), requires_grad=False
        )  # generate() asks for a device

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        cols = torch.arange(64, dtype=torch.float32, device=z.device)
        stripes = torch.sin(2 * math.pi * cols[None] / 8 + math.pi * z[:, 4:5])  # (B, 64)
        x = torch.zeros(len(z), 3, 64, 64, device=z.device)
        for k, (r0, r1, ch) in enumerate(_TOY_BANDS):
            amp = z[:, k].clamp(0, 1)
            x[:, ch, r0:r1, :] = amp[:, None, None] * stripes[:, None, :]
        centre = 32 + 12 * z[:, 3].clamp(-2, 2)
        bump = torch.exp(-((cols[None] - centre[:, None]) ** 2) / 8)  # (B, 64), width 2 px
        x[:, :, _TOY_NOSE[0] : _TOY_NOSE[1], :] = bump[:, None, None, :]
        return x + 0 * self.anchor

    @staticmethod
    def truth(z: torch.Tensor) -> torch.Tensor:
        """(B, nz) -> (B, 3) bool: which attributes G(z) has."""
        return z[:, :3] > TOY_THRESHOLD


class ToyAttributeClassifier(nn.Module):
    """Reads ``ToyFaces`` images: attribute k's logit is 20 * (amplitude_k - 0.3), with the
    amplitude of band k measured as sqrt(2) x the RMS of the band around its mean. On ToyFaces
    samples its decision equals ``ToyFaces.truth``."""

    def __init__(self) -> None:
        super().__init__()
        self.cfg = AttributeConfig(attributes=TOY_ATTRIBUTES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 64, 64) -> (B, 3, 1, 1): the three bands' amplitudes (its "feature maps", so
        that ``neighbours.ClassifierSpace`` reads it as it reads the real classifier)."""
        amps = []
        for r0, r1, ch in _TOY_BANDS:
            band = x[:, ch, r0:r1, :]
            amps.append(
                math.sqrt(2) * (band - band.mean((1, 2), keepdim=True)).pow(2).mean((1, 2)).sqrt()
            )
        return torch.stack(amps, 1)[:, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20 * (self.features(x).flatten(1) - TOY_THRESHOLD)


def toy_pose_score(images: torch.Tensor) -> np.ndarray:
    """(B, 3, 64, 64) ToyFaces images -> (B,) pose in about [-1, 1]: the bump's column
    (centroid of the nose rows) minus 32, over 24. Positive: looking right."""
    prof = images[:, :, _TOY_NOSE[0] : _TOY_NOSE[1], :].float().mean((1, 2)).clamp_min(0)
    cols = torch.arange(images.shape[-1], dtype=torch.float32)
    centre = (prof * cols).sum(1) / prof.sum(1).clamp_min(1e-6)
    return ((centre - 32) / 24).numpy()


def toy_faces_data(n: int = 512, seed: int = 100) -> Packed:
    """``n`` ToyFaces samples (seeded) as a training set: uint8 (n, 64, 64, 3), names
    ``toy/00000``, ... (what ``neighbours.nearest_training`` searches in smoke runs)."""
    G = ToyFaces()
    z = sample_z(n, G.cfg, torch.Generator().manual_seed(seed))
    images = to_uint8(generate(G, z)).permute(0, 2, 3, 1).numpy()
    return Packed(images, None, [f"toy/{i:05d}" for i in range(n)])


def batchnorm_generator(seed: int = 0) -> Generator:
    """An untrained ``smoke64`` G in eval mode whose BatchNorm running statistics are not the
    initial ones (three batches seen in training mode, as training would leave them)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator(get_model_config("smoke64"))
    with torch.no_grad():
        for i in range(3):
            G(sample_z(64, G.cfg, torch.Generator().manual_seed(i)))
    return G.eval()


# ---------------------------------------------------------------------------------------------
# A generator with planted object maps, and its judge (§6.3.1)


class _PlantedMaps(nn.Module):
    """z -> (B, n_maps, 32, 32): smooth random textures, and ``planted`` maps that are on only
    inside ``band`` (at 32x32) and only when z[0] > 0, with strength z[0]."""

    def __init__(self, nz: int, n_maps: int, planted: Sequence[int], band: Box, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("basis", torch.randn(n_maps, nz, 8, 8, generator=g) / nz**0.5)
        mask = torch.as_tensor(feature_mask([band], 64, 32), dtype=torch.float32)
        self.register_buffer("band", mask)
        self.register_buffer("planted", torch.as_tensor(list(planted), dtype=torch.long))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(1)
        low = torch.einsum("bk,ckhw->bchw", z, self.basis)
        h = torch.relu(
            nn.functional.interpolate(low, size=32, mode="bilinear", align_corners=False)
        )
        on = torch.relu(z[:, 0])[:, None, None] * self.band  # (B, 32, 32)
        h = h.clone()
        h[:, self.planted] = 2.0 * on[:, None]
        return h


class PlantedGenerator(nn.Module):
    """A toy generator with G's interface (``cfg``, ``project_z``, ``blocks``): maps ``planted`` of
    ``blocks[-2]`` (32x32) paint a red bar in ``band`` when z[0] > 0; the other maps paint grey
    textures everywhere. For smoke mode and tests: the regression must find the planted maps."""

    def __init__(
        self,
        n_maps: int = 16,
        planted: Sequence[int] = (3, 11),
        band: Box = (16, 26, 48, 38),
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.cfg = get_model_config("smoke64")  # 64 px, nz = 16, uniform z
        self.planted = tuple(planted)
        self.band = band
        out = nn.Conv2d(n_maps, 3, 1)
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            out.weight.copy_(torch.randn(3, n_maps, 1, 1, generator=g) * 0.15)
            out.weight[:, list(planted)] = (
                torch.tensor([1.0, -0.5, -0.5])[:, None, None, None] * 1.5
            )
            out.bias.zero_()
        self.blocks = nn.ModuleList(
            [
                _PlantedMaps(self.cfg.nz, n_maps, planted, band, seed),  # (n_maps) x 32 x 32
                nn.Sequential(nn.Upsample(scale_factor=2), out, nn.Tanh()),  # 3 x 64 x 64
            ]
        )

    def project_z(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, self.cfg.nz, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project_z(z)
        for block in self.blocks:
            h = block(h)
        return h


def toy_judge(band: Box = (16, 26, 48, 38)) -> Judge:
    """ "Red_Bar": the probability that the band is red (mean of R - (G + B) / 2 above 0.25)."""

    def predict(x: torch.Tensor) -> torch.Tensor:
        x0, y0, x1, y1 = (int(v) for v in band)
        patch = x[:, :, y0:y1, x0:x1]
        red = (patch[:, 0] - (patch[:, 1] + patch[:, 2]) / 2).mean(dim=(1, 2))
        return torch.sigmoid((red - 0.25) * 20)[:, None]

    return Judge(("Red_Bar",), predict, {"Red_Bar": band}, "redness of the band (toy)")


# ---------------------------------------------------------------------------------------------
# A discriminator trained a few steps (§6.2)


def smoke_discriminator(steps: int, seed: int = 0, n_images: int = 256) -> Discriminator:
    """A tiny ``smoke64`` GAN trained ``steps`` steps on synthetic shapes; its D (the §6.2
    study's smoke size)."""
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
