"""The authors' released DCGANs (Newmu/dcgan_code, Theano) as the library's own G and D.

The authors published trained weights with their code (MIT licence, Copyright (c) 2015 Alec
Radford): their SVHN DCGAN of §5.2 (G and D) and the 32x32 ImageNet-1k D of §5.1 (the paper's
model, says their load_pretrained.py), of which the public copy lacks the two largest conv
weights (layers 5 and 6), so only its layers 1-4 are usable. Each ``*.jl`` joblib pickle lists ``*.jl_NN.npy`` files (plain float32
NumPy, NN from 01, in the order of the authors' model function's arguments); they are read
directly. ``convert`` writes them, in float32, as ``artifacts/authors_*/{G,D}.pt`` in the format of
``dcgan_lib.checkpoint.load_weights``, which ``load_authors`` reads back on a fresh clone.

Theano conventions reproduced here:

- ``dnn_conv`` (``conv_mode='conv'``) is a true convolution: the kernel is flipped relative to
  PyTorch's cross-correlation, so a conv weight (out, in, k, k) enters ``nn.Conv2d`` flipped in
  both spatial axes;
- the authors' ``deconv`` is the gradient of that convolution with respect to its input, with the
  weight stored (in, out, k, k): exactly ``nn.ConvTranspose2d``'s layout, flipped the same way;
- dense layers compute ``T.dot(x, w)`` with w (in, out): ``nn.Linear`` takes w transposed;
- their ``batchnorm`` uses epsilon 1e-8 and the batch's biased variance; no conv has a bias.

The authors stored no BatchNorm running statistics. D's features estimate them from the data
(``dcgan_lib.features``, the authors' protocol); G's are estimated from generated batches
(``generator_bn_stats``, ``G_BN_POLICY``), so that ``models.generate`` (eval mode) draws each
sample from its own z alone. Paper: §5.1, §5.2, §6.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dcgan_lib import artifacts
from dcgan_lib.checkpoint import load_weights
from dcgan_lib.config import ModelConfig, get_model_config
from dcgan_lib.device import describe_machine
from dcgan_lib.features import average_batch_stats, feature_dim, with_bn_stats
from dcgan_lib.models import Discriminator, Generator, sample_z

SOURCE = {
    "repository": "Newmu/dcgan_code",
    "commit": "ee12b2d",
    "folder": "models/",
    "licence": "MIT, Copyright (c) 2015 Alec Radford (LICENSE beside the converted weights)",
}
LICENCE_FILE = "LICENSE"


@dataclass(frozen=True)
class AuthorsModel:
    """One of the authors' parameter lists: where it lies, its names in order, its config."""

    folder: str  # under the authors' models/
    stem: str  # the .jl file's name; its arrays are <stem>_NN.npy
    names: tuple[str, ...]  # the arguments of the authors' model function, in order
    config: str  # dcgan_lib.config name
    kind: str  # "G" or "D"


SVHN_FOLDER = "svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb"
IMAGENET_FOLDER = "imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z"
MODELS = {
    "svhn_D": AuthorsModel(
        SVHN_FOLDER,
        "200_discrim_params.jl",
        ("w", "w2", "g2", "b2", "w3", "g3", "b3", "wy"),
        "authors_svhn32",
        "D",
    ),
    "svhn_G": AuthorsModel(
        SVHN_FOLDER,
        "200_gen_params.jl",
        ("w", "g", "b", "w2", "g2", "b2", "w3", "g3", "b3", "wx"),
        "authors_svhn32",
        "G",
    ),
    "imagenet_D": AuthorsModel(
        IMAGENET_FOLDER,
        "30_discrim_params.jl",
        ("w", "w2", "g2", "b2", "w3", "g3", "b3", "w4", "g4", "b4")
        + ("w5", "g5", "b5", "w6", "g6", "b6", "wy"),
        "authors_imagenet32",
        "D",
    ),
}
# where the converted weights live: artifacts/<folder>/<file>
ARTIFACTS = {
    "svhn_G": ("authors_svhn", "G.pt"),
    "svhn_D": ("authors_svhn", "D.pt"),
    "imagenet_D": ("authors_imagenet32", "D.pt"),
}
DESCRIPTIONS = {
    "svhn_G": "the authors' SVHN G (Newmu/dcgan_code, epoch 200)",
    "svhn_D": "the authors' SVHN D (Newmu/dcgan_code, epoch 200)",
    "imagenet_D": "the authors' ImageNet-1k D, layers 1-4 of 6 (Newmu/dcgan_code, epoch 30)",
}
# G's BatchNorm statistics at sampling time (the authors stored none)
G_BN_BATCHES = 200
G_BN_BATCH_SIZE = 64  # the SVHN model's training minibatch
G_BN_SEED = 0
G_BN_POLICY = (
    f"BatchNorm in eval mode with statistics estimated once from generated batches: per layer, "
    f"the mean and biased variance of its input over each batch of {G_BN_BATCH_SIZE} z "
    f"(the model's training minibatch; z ~ N(0, I)), averaged over {G_BN_BATCHES} batches "
    f"(seed {G_BN_SEED}), the way the authors fix D's statistics at feature time; the authors' "
    "own sampling normalized every batch by its own statistics"
)

# What the book does differently from the paper and the authors' code with their models, each
# with its reason (for the deviations page): (topic, ours, paper / authors, why); the protocol's
# are in ``studies.features.authors_deviations``
DEVIATIONS = (
    (
        "§5.1 discriminator",
        "the authors' ImageNet-1k D, conv layers 1-4 of 6: "
        f"{feature_dim(get_model_config('authors_imagenet32')):,} features",
        f"all 6 layers: {feature_dim(get_model_config('imagenet32')):,} features",
        "the public copy of their weights lacks w5 and w6 (the two largest arrays)",
    ),
    (
        "sampling the authors' SVHN G",
        f"BatchNorm in eval mode with statistics averaged over {G_BN_BATCHES} generated batches "
        f"of {G_BN_BATCH_SIZE}",
        "every sampled batch normalized by its own statistics",
        "so that a sample depends on its own z only (the library's policy, models.generate); "
        "the authors stored no running statistics",
    ),
    (
        "§6.1 walk on the SVHN G",
        "linear walks between z ~ N(0, I), measured like the faces model's",
        "Fig. 4: linear walks between uniform z (other models)",
        "the same measure for both models; the SVHN model's z is Gaussian",
    ),
)


# ---------------------------------------------------------------------------------------------
# Reading the parameter lists


def read_params(folder: str | Path, stem: str, n: int) -> list[np.ndarray | None]:
    """The ``n`` arrays ``<folder>/<stem>_01.npy`` ... ``_NN.npy`` in order, float32; a file that
    is absent gives None (the ImageNet D's w5 and w6). Paper: §5."""
    out: list[np.ndarray | None] = []
    for i in range(1, n + 1):
        path = Path(folder) / f"{stem}_{i:02d}.npy"
        out.append(np.load(path, allow_pickle=False).astype(np.float32) if path.exists() else None)
    if all(a is None for a in out):
        raise FileNotFoundError(f"no {stem}_NN.npy files in {folder}")
    return out


def theano_conv_weight(w: np.ndarray) -> torch.Tensor:
    """A ``dnn_conv`` kernel (out, in, k, k) (true convolution) as ``nn.Conv2d``'s weight (same
    layout, cross-correlation): both spatial axes flipped."""
    return torch.from_numpy(np.ascontiguousarray(w[:, :, ::-1, ::-1]))


def theano_deconv_weight(w: np.ndarray) -> torch.Tensor:
    """An authors' ``deconv`` kernel (in, out, k, k), the input-gradient of a true convolution, as
    ``nn.ConvTranspose2d``'s weight (in, out, k, k): both spatial axes flipped."""
    return torch.from_numpy(np.ascontiguousarray(w[:, :, ::-1, ::-1]))


def _put(target: torch.Tensor, value: torch.Tensor | np.ndarray, name: str) -> None:
    value = torch.as_tensor(value)
    if tuple(value.shape) != tuple(target.shape):
        raise ValueError(
            f"the authors' {name} has shape {tuple(value.shape)}, the model expects "
            f"{tuple(target.shape)}: a parameter list of another architecture or order"
        )
    with torch.no_grad():
        target.copy_(value)


def _conv_blocks(model: nn.Module) -> Iterator[tuple[nn.Module, nn.Module | None]]:
    """(conv, its BatchNorm or None) per block of G or D, in order."""
    for block in model.blocks:  # type: ignore[union-attr]
        conv = block[0]
        bn = block[1] if isinstance(block[1], nn.modules.batchnorm._BatchNorm) else None
        yield conv, bn


def discriminator_from_params(
    params: Sequence[np.ndarray | None], cfg: ModelConfig | str
) -> Discriminator:
    """The library's D from an authors' D parameter list ``w, w2, g2, b2, ..., wy`` (first conv
    without BatchNorm, then (w, g, b) per conv, then the dense output weight (4*4*C, 1)).

    A truncated config (``cfg.d_depth``) reads only its first convs; the later ones may be None.
    Paper: §3, §5.
    """
    cfg = get_model_config(cfg) if isinstance(cfg, str) else cfg
    D = Discriminator(cfg)
    i = 0
    for j, (conv, bn) in enumerate(_conv_blocks(D)):
        _put(conv.weight, theano_conv_weight(_need(params, i, f"conv {j + 1} weight")), f"w{j + 1}")
        i += 1
        if bn is not None:
            _put(bn.weight, _need(params, i, f"g{j + 1}"), f"g{j + 1}")
            _put(bn.bias, _need(params, i + 1, f"b{j + 1}"), f"b{j + 1}")
            i += 2
    if D.head is not None:
        wy = _need(params, len(params) - 1, "wy")
        _put(D.head[1].weight, torch.from_numpy(np.ascontiguousarray(wy.T)), "wy")
    return D.eval()


def generator_from_params(params: Sequence[np.ndarray | None], cfg: ModelConfig | str) -> Generator:
    """The library's G from an authors' G parameter list ``w, g, b, w2, g2, b2, ..., wx``: the
    dense projection (nz, 4*4*C) with its per-unit BatchNorm, then (w, g, b) per deconv, then the
    output deconv. BatchNorm running statistics are left at PyTorch's defaults: set them
    (``generator_bn_stats``) before sampling in eval mode. Paper: §3."""
    cfg = get_model_config(cfg) if isinstance(cfg, str) else cfg
    G = Generator(cfg)
    if cfg.g_project != "linear":
        raise ValueError(
            "the authors' generators project z with a dense layer (g_project='linear')"
        )
    w = _need(params, 0, "w")
    _put(G.project[0].weight, torch.from_numpy(np.ascontiguousarray(w.T)), "w")
    _put(G.project[1].weight, _need(params, 1, "g"), "g")
    _put(G.project[1].bias, _need(params, 2, "b"), "b")
    i = 3
    for j, (conv, bn) in enumerate(_conv_blocks(G), start=2):
        _put(conv.weight, theano_deconv_weight(_need(params, i, f"w{j}")), f"w{j}")
        i += 1
        if bn is not None:
            _put(bn.weight, _need(params, i, f"g{j}"), f"g{j}")
            _put(bn.bias, _need(params, i + 1, f"b{j}"), f"b{j}")
            i += 2
    if i != len(params):
        raise ValueError(
            f"G of config {cfg.name!r} used {i} parameters, the list has {len(params)}"
        )
    return G.eval()


def _need(params: Sequence[np.ndarray | None], i: int, name: str) -> np.ndarray:
    if i >= len(params) or params[i] is None:
        raise ValueError(f"the authors' parameter list lacks {name} (position {i + 1})")
    return params[i]  # type: ignore[return-value]


@torch.no_grad()
def generator_bn_stats(
    G: Generator,
    n_batches: int = G_BN_BATCHES,
    batch_size: int = G_BN_BATCH_SIZE,
    seed: int = G_BN_SEED,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """G's BatchNorm statistics for sampling (``G_BN_POLICY``): per BN layer, the mean and biased
    variance of its input over each batch of ``batch_size`` generated from z of G's distribution,
    averaged over ``n_batches`` batches (``features.average_batch_stats``). Paper: §6.1 (the
    policy is ours: the authors stored no running statistics)."""
    g = torch.Generator().manual_seed(seed)
    batches = (sample_z(batch_size, G.cfg, g) for _ in range(n_batches))
    return average_batch_stats(G, batches)


def load_authors_params(source: str | Path, which: str) -> list[np.ndarray | None]:
    """The parameter list ``which`` (a key of ``MODELS``) from the authors' models folder."""
    m = MODELS[which]
    return read_params(Path(source) / m.folder, m.stem, len(m.names))


def from_source(source: str | Path, which: str) -> nn.Module:
    """The authors' model ``which`` (``svhn_G``, ``svhn_D``, ``imagenet_D``) read from their
    ``.npy`` files under ``source`` (a copy of their ``models/`` folder); G with its sampling
    BatchNorm statistics set (``generator_bn_stats``). Paper: §5, §6."""
    m = MODELS[which]
    params = load_authors_params(source, which)
    if m.kind == "D":
        return discriminator_from_params(params, m.config)
    G = generator_from_params(params, m.config)
    return with_bn_stats(G, generator_bn_stats(G))


# ---------------------------------------------------------------------------------------------
# The converted weights in artifacts/


def save_float32(module: Generator | Discriminator, path: Path) -> None:
    """``checkpoint.save_weights``' format ({"config", "state"}) in float32: the converted
    weights stay exactly the authors' numbers (``checkpoint.load_weights`` reads it)."""
    torch.save({"config": module.cfg.__dict__, "state": module.state_dict()}, path)


def load_authors(which: str, root: Path | None = None) -> Generator | Discriminator:
    """The converted model ``which`` (``svhn_G``, ``svhn_D``, ``imagenet_D``) from the committed
    ``artifacts/`` (sha256 checked against the manifest; no ``../shared`` needed), float32, eval
    mode. ``ArtifactMissing`` names the command that converts them. Paper: §5, §6."""
    folder, filename = ARTIFACTS[which]
    return load_weights(artifacts.require(folder, filename, root), MODELS[which].kind)


def licence_text(root: Path | None = None) -> str:
    """The authors' MIT licence notice, as committed beside the converted weights (a page that
    shows their models shows it too)."""
    return artifacts.require(ARTIFACTS["svhn_G"][0], LICENCE_FILE, root).read_text()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(source: str | Path, root: Path | None = None, command: str = "") -> list[Path]:
    """Read the authors' ``.npy`` files under ``source`` and write ``artifacts/authors_svhn/``
    (G.pt, D.pt) and ``artifacts/authors_imagenet32/`` (D.pt, layers 1-4), each folder with the
    authors' LICENSE and a ``conversion.json`` (source, the sha256 of every array read, what
    was done to each, G's BatchNorm policy); every file registered in the manifest with source,
    licence, command, machine and CPU time. Paper: §5, §6."""
    started_cpu, started = time.process_time(), time.time()
    source = Path(source)
    root = root or artifacts.artifacts_dir()
    licence = source / LICENCE_FILE
    if not licence.is_file():
        raise FileNotFoundError(
            f"{licence} is missing: the MIT notice must travel with the weights"
        )
    written: dict[str, list[Path]] = {}
    notes: dict[str, dict] = {}
    for which in MODELS:
        m = MODELS[which]
        folder, filename = ARTIFACTS[which]
        model = from_source(source, which)
        dest = root / folder
        dest.mkdir(parents=True, exist_ok=True)
        save_float32(model, dest / filename)
        written.setdefault(folder, []).append(dest / filename)
        arrays = {}
        for i, name in enumerate(m.names, 1):
            f = source / m.folder / f"{m.stem}_{i:02d}.npy"
            arrays[name] = (
                {"file": f"{m.folder}/{f.name}", "sha256": _sha256(f)} if f.exists() else None
            )
        notes.setdefault(folder, {})[filename] = {
            "description": DESCRIPTIONS[which],
            "config": m.config,
            "parameters": arrays,
            "missing": [n for n, a in arrays.items() if a is None],
            "used": _used_names(m, model),
            "conversion": (
                "conv weights (out, in, k, k) and deconv weights (in, out, k, k) flipped in both "
                "spatial axes (Theano's dnn_conv is a true convolution, the deconv its input-"
                "gradient); dense weights transposed; BatchNorm scale g and shift b as they are"
            ),
            "batchnorm_statistics": G_BN_POLICY
            if m.kind == "G"
            else "none stored (PyTorch's defaults, mean 0 and variance 1, never used): the "
            "features estimate them from the data (authors' protocol, dcgan_lib.features)",
        }
    cpu, wall = time.process_time() - started_cpu, time.time() - started
    out = []
    for folder, files in written.items():
        shutil.copyfile(licence, root / folder / LICENCE_FILE)
        (root / folder / "conversion.json").write_text(
            json.dumps({"source": SOURCE, "files": notes[folder]}, indent=1) + "\n"
        )
        extra = {
            "source": SOURCE,
            "machine": describe_machine(),
            "cpu_seconds": round(cpu, 1),
            "wall_seconds": round(wall, 1),
        }
        for f in [*files, root / folder / LICENCE_FILE, root / folder / "conversion.json"]:
            config = notes[folder].get(f.name, {}).get("config", "")
            out.append(artifacts.register(f"{folder}/{f.name}", f, command, config, root, extra))
    return out


def _used_names(m: AuthorsModel, model: nn.Module) -> list[str]:
    """The authors' parameter names the converted model holds (a truncated D: the first convs)."""
    if m.kind == "G":
        return list(m.names)
    depth = len(model.blocks)  # type: ignore[arg-type]
    used = ["w"] + [f"{p}{j}" for j in range(2, depth + 1) for p in ("w", "g", "b")]
    return used + (["wy"] if model.head is not None else [])  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Command line: python -m dcgan_lib.authors --source ../shared/authors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dcgan_lib.authors",
        description="convert the authors' released DCGAN weights into artifacts/authors_*",
    )
    p.add_argument("--source", default="../shared/authors", help="a copy of their models/ folder")
    a = p.parse_args(argv)
    for path in convert(a.source, command=artifacts.invoked_command()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
