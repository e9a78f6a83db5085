"""The stored faces model that the §6 studies run on, and how a page names it.

``load_faces_generator`` is the generator every §6 face study reads (the run chosen on the
selection half: ``artifacts.faces_model_artifact``, by default ``celeba_dcgan64``);
``faces_model_summary`` says which model the numbers of a page describe. Paper: §6.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from dcgan_lib.artifacts import ArtifactMissing, faces_model_artifact, require
from dcgan_lib.checkpoint import load_generator

ARTIFACT = "celeba_dcgan64"  # the faces run whose FID and length a page quotes


def load_faces_generator(root: Path | None = None) -> nn.Module:
    """The stored faces generator (``artifacts/<faces model>/G.pt``, sha256-checked: the run
    chosen on the selection half, ``artifacts.faces_model_artifact``, by default
    ``celeba_dcgan64``); raises ``ArtifactMissing`` naming the command that makes it."""
    return load_generator(require(faces_model_artifact(root), "G.pt", root))


def faces_model_summary(root: Path | None = None) -> dict[str, str]:
    """The stored faces model in words, for a page: its FID-10k and number of updates, from
    ``artifacts/celeba_dcgan64/result_s1.json`` (the run whose G is stored); "not produced yet"
    without it."""
    try:
        result = json.loads(require(ARTIFACT, "result_s1.json", root).read_text())
    except ArtifactMissing:
        return {"fid": "not produced yet", "steps": "not produced yet"}
    fid = next(v["fid"] for k, v in result["fid"].items() if k.startswith("final"))
    return {"fid": f"{fid:.1f}", "steps": f"{result['steps']:,}"}
