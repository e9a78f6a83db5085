"""The authors' SVHN generator in the book: a fixed-z sample grid (§5.2) and a latent walk (§6.1).

The generator is the authors' own (Newmu/dcgan_code, epoch 200), converted by
``dcgan_lib.authors`` and committed under ``artifacts/authors_svhn/``: a paper-grade G that the
book draws from when it builds, on a CPU, without ``../shared``. Its BatchNorm policy at sampling
is ``authors.G_BN_POLICY`` (the authors stored no running statistics). The walk is measured by
the same study as the faces model's (``studies.latent.run_faces_study``, part ``walks``, at the
same book size): the smoothness of linear walks next to a memorizer's, and the batch check.
``python -m dcgan_lib.studies.authors_svhn --export`` stores it in ``artifacts/authors_svhn_walks``.
Paper: §5.2, §6.1.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from dcgan_lib import authors, plotting
from dcgan_lib.artifacts import export_study, load_study
from dcgan_lib.config import get_model_config
from dcgan_lib.models import Generator, generate, sample_z
from dcgan_lib.studies.latent import (
    SIZES,
    FacesStudy,
    LatentStudyConfig,
    run_faces_study,
    study_figures,
)

WALKS = "authors_svhn_walks"  # the stored walk study (artifacts/)
COMMAND = "python -m dcgan_lib.studies.authors_svhn --export"  # what stores it (CPU, seconds)
INPUTS = ["authors_svhn/G.pt"]
GRID_N, GRID_SEED = 64, 0
POLICIES = ("eval", "batch")


def svhn_generator(root: Path | None = None) -> Generator:
    """The authors' SVHN G from the committed artifact, float32, eval mode, with its sampling
    BatchNorm statistics (``authors.G_BN_POLICY``). Paper: §5.2."""
    return authors.load_authors("svhn_G", root)  # type: ignore[return-value]


def grid_z(n: int = GRID_N, seed: int = GRID_SEED) -> torch.Tensor:
    """(n, 100) fixed z ~ N(0, I) (the model's z distribution), from ``seed``."""
    cfg = get_model_config(authors.MODELS["svhn_G"].config)
    return sample_z(n, cfg, torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample_grid(
    G: Generator | None = None, n: int = GRID_N, seed: int = GRID_SEED, policy: str = "eval"
) -> torch.Tensor:
    """(n, 3, 32, 32) samples in [-1, 1] of the fixed z ``grid_z(n, seed)``. ``policy="eval"``:
    the library's (``models.generate``: the stored statistics, each sample from its own z);
    ``"batch"``: the authors' own sampling, every layer normalized by the statistics of these n
    samples together (for comparison). Paper: §5.2."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    G = G if G is not None else svhn_generator()
    z = grid_z(n, seed)
    if policy == "eval":
        return generate(G, z)
    # a copy: a forward pass in training mode would also move G's stored BatchNorm statistics
    return copy.deepcopy(G).train()(z)


def grid_figure(x: torch.Tensor, title: str | None = None) -> Figure:
    """The samples as one grid, 8 per row."""
    return plotting.samples(x, nrow=8, title=title or "the authors' SVHN G, fixed z")


def walk_study(
    G: Generator | None = None, cfg: LatentStudyConfig = SIZES["book"], progress: bool = False
) -> FacesStudy:
    """The faces model's walk measurements (``run_faces_study``, part ``walks``) on the authors'
    SVHN G at the sizes of ``cfg`` (default the book's, as the stored faces study): Fig. 4's walk,
    its step changes, the batch check, and the smoothness against the memorizer. Paper: §6.1."""
    G = G if G is not None else svhn_generator()
    return run_faces_study(G, None, cfg, parts=("walks",), progress=progress)


def load_walks(cfg: LatentStudyConfig = SIZES["book"]) -> dict:
    """The stored walk study (``--export``), checked: its files, that it ran on the committed G
    and at ``cfg``'s sizes. Raises ``ArtifactMissing`` naming the command. Paper: §6.1."""
    return load_study(WALKS, dataclasses.asdict(cfg))


def export_walks(cfg: LatentStudyConfig = SIZES["book"], progress: bool = True) -> list[Path]:
    """Run ``walk_study`` and store its metrics and ``walk.png`` in ``artifacts/authors_svhn_walks``
    with the command, this machine and the CPU time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    study = walk_study(cfg=cfg, progress=progress)
    pngs = {name: plotting.png_bytes(fig) for name, fig in study_figures(study, cfg).items()}
    study.metrics["generator_description"] = authors.DESCRIPTIONS["svhn_G"]
    study.metrics["sampling"] = authors.G_BN_POLICY
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return export_study(WALKS, study.metrics, pngs, INPUTS, COMMAND, cpu, wall)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dcgan_lib.studies.authors_svhn",
        description="the §6.1 walk study on the authors' SVHN G",
    )
    p.add_argument("--export", action="store_true", help="store it in artifacts/" + WALKS)
    a = p.parse_args(argv)
    if a.export:
        for path in export_walks():
            print("wrote", path)
    else:
        print(walk_study(progress=True).metrics["smoothness"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
