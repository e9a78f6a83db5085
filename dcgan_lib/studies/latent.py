"""The §6.1 and §6.3.2 studies of the faces model: walks, nearest neighbours, arithmetic, turn.

One job (``run_faces_study``; ``run_job`` picks its inputs for a size) measures, on one generator:
``walks`` (Fig. 4 and how smooth walks are, ``dcgan_lib.walks``), ``neighbours`` (the nearest
training images of samples, ``dcgan_lib.neighbours``), ``arithmetic`` (Fig. 7, counted by the
attribute judge, ``dcgan_lib.arithmetic``) and ``turn`` (Fig. 8, measured by the pose cue). The
command ``python -m dcgan_lib latent --parts ... [--export]`` runs it and stores the book's study
(``EXPORTS``: ``artifacts/latent_walks`` for page 06, ``artifacts/vector_arithmetic`` for page
09); the pages run the same job in smoke and full sizes and read the stored one in book size.
About 500 lines: one job of four parts, its sizes, figures and command, read together.
Paper: §6.1, §6.3.2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from dcgan_lib import plotting
from dcgan_lib.arithmetic import (
    EQUATIONS,
    SamplePool,
    along_direction,
    arithmetic_example,
    concept_mean,
    pick_exemplars,
    pose_change,
    sample_pool,
    score_arithmetic,
    target_met,
    turn_vector,
)
from dcgan_lib.artifacts import export_study, invoked_command, load_study
from dcgan_lib.attributes import load_stored_classifier, predict_proba
from dcgan_lib.checkpoint import load_generator
from dcgan_lib.config import ModelConfig
from dcgan_lib.data import Packed, load_dataset
from dcgan_lib.models import generate, sample_z
from dcgan_lib.neighbours import (
    ClassifierSpace,
    PixelSpace,
    leave_one_out,
    nearest_training,
    reference_vectors,
)
from dcgan_lib.pose import pose_score
from dcgan_lib.stats import quantiles
from dcgan_lib.studies.cli import emit_json
from dcgan_lib.studies.faces import load_faces_generator
from dcgan_lib.studies.pose import export_pose_reliability
from dcgan_lib.toys import ToyAttributeClassifier, ToyFaces, toy_faces_data, toy_pose_score
from dcgan_lib.walks import batch_dependence, step_changes, walk, walk_smoothness


@dataclass(frozen=True)
class LatentStudyConfig:
    """Sizes of the faces study. Three: ``SIZES['smoke' | 'book' | 'full']``."""

    mode: str = "book"  # which of SIZES (the stored studies record it under this name)
    seed: int = 0
    batch_size: int = 256
    # §6.1 walks
    walk_points: int = 9  # paper Fig. 4: "a series of 9 random points in Z"
    walk_steps: int = 8  # images per segment in the figure (paper: not stated)
    smooth_walks: int = 8  # walks measured (each walk_points points)
    smooth_steps: int = 16  # steps per segment measured
    random_pairs: int = 256  # pairs of independent samples: the scale of a whole change
    # §6.1 memorization
    neighbour_samples: int = 64
    k_neighbours: int = 5
    loo_images: int = 256  # real images with their nearest other real image: the reference
    # §6.3.2 arithmetic
    pool: int = 2000  # generated samples the exemplars are picked from
    hi: float = 0.9  # an exemplar's wanted attributes: probability above this
    lo: float = 0.1  # ... and its unwanted ones below this
    k_exemplars: int = 3  # paper: 3 samples per concept
    n_noise: int = 8  # paper: 8 neighbours around the result
    noise_scale: float = 0.25  # paper: uniform noise, scale +-0.25
    n_trials: int = 200  # random exemplar triples scored per equation
    # §6.3.2 turn vector
    k_turn: int = 4  # paper: 4 left- and 4 right-looking samples
    turn_pool: int = 600  # pool samples scored by the pose cue (about 50 ms each on a CPU)
    turn_samples: int = 32  # random samples moved along the turn vector
    turn_alphas: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    turn_shown: int = 6  # rows in the figure


SIZES = {
    "smoke": LatentStudyConfig(
        mode="smoke",
        smooth_walks=2,
        smooth_steps=8,
        random_pairs=64,
        neighbour_samples=8,
        k_neighbours=3,
        loo_images=32,
        pool=400,
        n_trials=50,
        turn_pool=200,
        turn_samples=8,
        turn_alphas=(-1.0, -0.5, 0.0, 0.5, 1.0),
        turn_shown=4,
    ),
    # the stored study (artifacts/latent_walks, artifacts/vector_arithmetic); the undertrained
    # faces model draws few men with glasses (about 1 in 700 samples): a pool of 10,000
    "book": LatentStudyConfig(mode="book", pool=10_000, n_trials=500, turn_samples=64),
    "full": LatentStudyConfig(
        mode="full",
        smooth_walks=32,
        random_pairs=1000,
        neighbour_samples=256,
        loo_images=1000,
        pool=20_000,
        n_trials=2000,
        turn_pool=3000,
        turn_samples=128,
    ),
}

PARTS = ("walks", "neighbours", "arithmetic", "turn")
# what `--export` stores, per artifacts/ folder: §6.1 (notebook 06) and §6.3.2 (notebook 09)
EXPORTS = {"latent_walks": ("walks", "neighbours"), "vector_arithmetic": ("arithmetic", "turn")}
INPUTS = ["celeba_dcgan64/G.pt", "celeba_attributes/classifier.pt"]  # what the stored study reads


@dataclass
class FacesStudy:
    """``metrics``: JSON-able numbers (and pool indices); ``figures``: tensors for the pictures;
    what it ran on: the generator, the attribute judge, the training set searched, the pool."""

    metrics: dict
    figures: dict = field(default_factory=dict)
    pool: SamplePool | None = None
    G: nn.Module | None = None
    classifier: nn.Module | None = None
    data: Packed | None = None


def neighbour_z(cfg_g: ModelConfig, cfg: LatentStudyConfig) -> torch.Tensor:
    """(neighbour_samples, nz): the z's of the samples whose nearest training images are looked
    up (a page regenerates them to draw the gallery from the stored indices). Paper: §6.1."""
    return sample_z(cfg.neighbour_samples, cfg_g, torch.Generator().manual_seed(cfg.seed + 3))


def pool_z(cfg_g: ModelConfig, cfg: LatentStudyConfig) -> torch.Tensor:
    """(pool, nz): the z of the samples the exemplars and the turn vector are picked from (the
    pool's seed, ``cfg.seed + 5``); a page rebuilds the turn vector from them. Paper: §6.3.2."""
    return sample_z(cfg.pool, cfg_g, torch.Generator().manual_seed(cfg.seed + 5))


def walk_points(cfg_g: ModelConfig, cfg: LatentStudyConfig) -> torch.Tensor:
    """(walk_points, nz): the random points of the figure's walk (seed ``cfg.seed``); a page
    walks through them again to check the stored study. Paper: §6.1, Fig. 4."""
    return sample_z(cfg.walk_points, cfg_g, torch.Generator().manual_seed(cfg.seed))


# ---------------------------------------------------------------------------------------------
# The parts of the study


def _walks(study: FacesStudy, cfg: LatentStudyConfig, progress: bool) -> None:
    G, m = study.G, study.metrics
    assert G is not None
    points = walk_points(G.cfg, cfg)
    path = walk(points, cfg.walk_steps)
    x = generate(G, path, cfg.batch_size)
    study.figures["walk"] = x  # ((points - 1) * steps + 1, C, S, S)
    study.figures["walk_z"] = path
    m["walk_endpoints_exact"] = bool(torch.equal(path[:: cfg.walk_steps], points))
    m["walk_step_changes"] = step_changes(x).tolist()  # the figure's walk
    # the BatchNorm policy: the path's images alone vs the path inside a batch of others
    m["batch_dependence"] = batch_dependence(G, path, n_others=64, seed=cfg.seed + 1)
    m["smoothness"] = walk_smoothness(
        G,
        cfg.smooth_walks,
        cfg.walk_points,
        cfg.smooth_steps,
        cfg.random_pairs,
        cfg.seed + 2,
        cfg.batch_size,
        progress,
    )


def _neighbours(
    study: FacesStudy, cfg: LatentStudyConfig, feature_space: Callable | None, progress: bool
) -> None:
    G, data = study.G, study.data
    assert G is not None
    if data is None:
        study.metrics["neighbours"] = {"skipped": "no training data given"}
        return
    samples = generate(G, neighbour_z(G.cfg, cfg), cfg.batch_size)
    study.figures["neighbour_samples"] = samples
    spaces: list = [PixelSpace()]
    if feature_space is not None:
        spaces.append(feature_space)
    elif study.classifier is not None:
        spaces.append(ClassifierSpace(study.classifier))
    nb: dict = {"n_samples": len(samples), "n_reference": len(data), "spaces": {}}
    for space in spaces:
        vecs = None if isinstance(space, PixelSpace) else reference_vectors(data, space)
        res = nearest_training(
            samples, data, space, cfg.k_neighbours, reference_vecs=vecs, progress=progress
        )
        loo_idx, loo = leave_one_out(data, cfg.loo_images, space, cfg.seed + 4, reference_vecs=vecs)
        study.figures[f"neighbours:{space.name}"] = res
        nb["spaces"][space.name] = {
            "samples": res.to_json(getattr(data, "names", None)),
            "sample_nearest": quantiles(res.distances[:, 0]),
            "real_nearest_other": quantiles(loo.distances[:, 0]),
            "real_indices": loo_idx.tolist(),
            "share_closer_than_real_p01": float(
                (res.distances[:, 0] < np.quantile(loo.distances[:, 0], 0.01)).mean()
            ),
        }
    study.metrics["neighbours"] = nb


def _pool(study: FacesStudy, cfg: LatentStudyConfig, progress: bool) -> SamplePool:
    G, clf = study.G, study.classifier
    assert G is not None
    if clf is None:
        raise ValueError("the arithmetic and turn parts need the attribute classifier")
    pool = sample_pool(G, clf, cfg.pool, cfg.seed + 5, cfg.batch_size, progress)  # pool_z
    study.pool = pool
    study.metrics["pool"] = {
        "n": cfg.pool,
        "positive_rate": {
            a: float((pool.probs[:, j] > 0.5).float().mean()) for j, a in enumerate(pool.attributes)
        },
    }
    return pool


def _arithmetic(study: FacesStudy, cfg: LatentStudyConfig, overrides: dict) -> None:
    G, clf, pool = study.G, study.classifier, study.pool
    assert G is not None and clf is not None and pool is not None
    study.metrics["arithmetic"], study.figures["arithmetic"] = {}, {}
    for key, eq in EQUATIONS.items():
        entry = score_arithmetic(
            G,
            clf,
            pool,
            eq,
            cfg.n_trials,
            cfg.k_exemplars,
            cfg.noise_scale,
            cfg.seed + 6,
            cfg.hi,
            cfg.lo,
            cfg.batch_size,
        )
        concepts = (("a", eq.a), ("b", eq.b), ("c", eq.c))
        try:
            picks = {
                role: pick_exemplars(
                    pool.probs,
                    pool.attributes,
                    concept,
                    cfg.k_exemplars,
                    cfg.seed + 7 + j,
                    overrides.get(concept.name),
                    cfg.hi,
                    cfg.lo,
                )
                for j, (role, concept) in enumerate(concepts)
            }
        except ValueError as e:
            entry["example"] = {"skipped": str(e)}
        else:
            ex = arithmetic_example(G, pool, eq, picks, cfg.n_noise, cfg.noise_scale, cfg.seed + 8)
            p_z = predict_proba(clf, ex["z_result"])
            p_px = predict_proba(clf, ex["pixel_result"][None])
            entry["example"] = {
                "picks": {r: v.tolist() for r, v in picks.items()},
                "z": ex["z"].tolist(),  # the result and its noisy neighbours
                "z_result_target_met": target_met(p_z, pool.attributes, eq.target).tolist(),
                "pixel_result_target_met": bool(target_met(p_px, pool.attributes, eq.target)[0]),
            }
            study.figures["arithmetic"][key] = ex
        study.metrics["arithmetic"][key] = entry


def _turn(study: FacesStudy, cfg: LatentStudyConfig, pose: Callable, overrides: dict) -> None:
    G, pool = study.G, study.pool
    assert G is not None and pool is not None
    n_scored = min(cfg.turn_pool, len(pool.z))
    scores = np.asarray(pose(pool.float_images(slice(0, n_scored))), dtype=np.float64)
    turn, li, ri = turn_vector(
        pool.z[:n_scored], scores, cfg.k_turn, overrides.get("left"), overrides.get("right")
    )
    g = torch.Generator().manual_seed(cfg.seed + 9)
    ctrl_idx = torch.randperm(n_scored, generator=g)[: 2 * cfg.k_turn].numpy()
    control = concept_mean(pool.z, ctrl_idx[: cfg.k_turn]) - concept_mean(
        pool.z, ctrl_idx[cfg.k_turn :]
    )
    z = sample_z(cfg.turn_samples, G.cfg, g)
    entry: dict = {
        "n_scored": n_scored,
        "pool_scores": quantiles(scores),
        "left": li.tolist(),
        "right": ri.tolist(),
        "left_scores": scores[li].tolist(),
        "right_scores": scores[ri].tolist(),
        "turn_norm": float(turn.norm()),
        "control_norm": float(control.norm()),
        "control_indices": ctrl_idx.tolist(),
    }
    for name, direction in (("turn", turn), ("control", control)):
        x = along_direction(G, z, direction, cfg.turn_alphas, cfg.batch_size)
        s = np.asarray(pose(x.flatten(0, 1)), dtype=np.float64).reshape(x.shape[:2])
        entry[name] = {**pose_change(s, cfg.turn_alphas), "scores": s.tolist()}
        study.figures[f"turn:{name}"] = x[: cfg.turn_shown]
    moved = z[:, None, :] + torch.tensor(cfg.turn_alphas)[None, :, None] * turn
    entry["z_outside_unit_box"] = float((moved.abs() > 1).float().mean())
    study.figures["turn_exemplars"] = pool.float_images(np.concatenate([li, ri]))
    study.metrics["turn"] = entry


def run_faces_study(
    G: nn.Module,
    classifier: nn.Module | None,
    cfg: LatentStudyConfig,
    data: Packed | None = None,
    parts: Sequence[str] = PARTS,
    pose_fn: Callable[[torch.Tensor], np.ndarray] | None = None,
    feature_space: Callable[[torch.Tensor], torch.Tensor] | None = None,
    overrides: dict[str, Sequence[int]] | None = None,
    progress: bool = True,
) -> FacesStudy:
    """The §6.1 and §6.3.2 measurements on one generator.

    G: the generator (book: the stored ``celeba_dcgan64``; smoke: ``toys.ToyFaces``);
    classifier: the attribute judge (``arithmetic``, ``turn``; default feature space);
    data: a ``Packed`` training set for ``neighbours`` (skipped without it); pose_fn: the pose
    cue (default ``pose_score``); feature_space: for neighbours (default the classifier's
    features); overrides: exemplar pool indices by concept name, or "left" / "right" for the turn
    vector (the paper picked by eye). Paper: §6.1, §6.3.2.
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    t0 = time.monotonic()
    overrides = dict(overrides or {})
    metrics: dict = {
        "mode": cfg.mode,
        "config": dataclasses.asdict(cfg),
        "generator": G.cfg.name,
        "sampling": "BatchNorm eval mode (running statistics)",
    }
    study = FacesStudy(metrics, G=G, classifier=classifier, data=data)
    if "walks" in parts:
        _walks(study, cfg, progress)
    if "neighbours" in parts:
        _neighbours(study, cfg, feature_space, progress)
    if "arithmetic" in parts or "turn" in parts:
        _pool(study, cfg, progress)
    if "arithmetic" in parts:
        _arithmetic(study, cfg, overrides)
    if "turn" in parts:
        _turn(study, cfg, pose_fn or pose_score, overrides)
    metrics["seconds"] = round(time.monotonic() - t0, 1)
    return study


# ---------------------------------------------------------------------------------------------
# The job: the command's and the page's


def run_job(
    cfg: LatentStudyConfig,
    parts: Sequence[str] = PARTS,
    data_root=None,
    generator: str | None = None,
    overrides: dict[str, Sequence[int]] | None = None,
    progress: bool = True,
) -> FacesStudy:
    """The study at ``cfg``'s size on its inputs: smoke, the hand-built ``ToyFaces`` with its
    judge, its pose readout and 512 of its samples as training images; book and full, the stored
    faces G (or ``generator``), the stored attribute classifier and CelebA-10k (needed by the
    ``neighbours`` part: DataError without it). Paper: §6.1, §6.3.2."""
    data = None
    if cfg.mode == "smoke":
        G, clf, pose_fn = ToyFaces(), ToyAttributeClassifier(), toy_pose_score
        if "neighbours" in parts:
            data = toy_faces_data(512, cfg.seed + 100)
    else:
        G = load_generator(generator) if generator else load_faces_generator()
        clf, pose_fn = load_stored_classifier(), None
        if "neighbours" in parts:
            data = load_dataset("celeba", data_root, image_size=G.cfg.image_size)
    return run_faces_study(G, clf, cfg, data, parts, pose_fn, None, overrides, progress)


def load_stored(name: str, cfg: LatentStudyConfig) -> FacesStudy:
    """A stored study (``EXPORTS``: ``latent_walks`` or ``vector_arithmetic``), its sizes checked
    against ``cfg``, with the stored G and judge it ran on (to redraw its cheap parts); no
    figures in memory (``report.show_faces_figure`` finds the stored ones). Raises ArtifactMissing."""
    metrics = load_study(name, dataclasses.asdict(cfg))
    return FacesStudy(metrics, G=load_faces_generator(), classifier=load_stored_classifier())


def study_figures(study: FacesStudy, cfg: LatentStudyConfig) -> dict:
    """The study's pictures by file name (``--export`` stores them as PNG): ``walk.png`` (Fig. 4),
    ``arithmetic_<equation>.png`` (Fig. 7), ``turn_exemplars.png``, ``turn.png`` and
    ``turn_control.png`` (Fig. 8). Generated samples only: the nearest-neighbour gallery shows
    training images, and a page draws it from the data. Paper: §6.1, §6.3.2."""
    f, m, out = study.figures, study.metrics, {}
    if "walk" in f:
        out["walk.png"] = plotting.walk_figure(f["walk"], cfg.walk_steps)
    for key, ex in f.get("arithmetic", {}).items():
        eq, e = EQUATIONS[key], m["arithmetic"][key]["example"]
        out[f"arithmetic_{key}.png"] = plotting.equation_figure(
            eq.name,
            [eq.a.name, eq.b.name, eq.c.name],
            ex,
            e["z_result_target_met"],
            e["pixel_result_target_met"],
        )
    if "turn_exemplars" in f:
        t = m["turn"]
        scores = t["left_scores"] + t["right_scores"]
        side = ["left"] * len(t["left"]) + ["right"] * len(t["right"])
        out["turn_exemplars.png"] = plotting.labelled_row(
            list(f["turn_exemplars"]),
            [f"{w} {v:+.2f}" for w, v in zip(side, scores, strict=True)],
            "the samples that make the turn vector, with their pose scores",
        )
        out["turn.png"] = plotting.direction_figure(
            f["turn:turn"], cfg.turn_alphas, "z + α · turn vector"
        )
        out["turn_control.png"] = plotting.direction_figure(
            f["turn:control"], cfg.turn_alphas, "z + α · control (4 random minus 4 random samples)"
        )
    return out


# ---------------------------------------------------------------------------------------------
# Command line


def _export_name(a: argparse.Namespace) -> str:
    """The artifacts/ folder that ``--export`` writes, or ValueError saying how to call it."""
    names = [k for k, parts in EXPORTS.items() if set(parts) == set(a.parts)]
    if a.size != "book" or a.generator or not names:
        raise ValueError(
            "--export stores the book's study of the stored model: use --size book, no "
            "--generator, and --parts walks neighbours (latent_walks) or --parts arithmetic turn "
            "(vector_arithmetic)"
        )
    return names[0]


def run_cli(a: argparse.Namespace) -> int:
    torch.set_num_threads(os.cpu_count() or 1)
    if a.pose_reliability:
        emit_json(export_pose_reliability(a.data_root), None)
        return 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    export = _export_name(a) if a.export else None
    cfg = SIZES[a.size]
    study = run_job(cfg, a.parts, a.data_root, a.generator, progress=not a.no_progress)
    if export:
        pngs = {name: plotting.png_bytes(fig) for name, fig in study_figures(study, cfg).items()}
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        for path in export_study(export, study.metrics, pngs, INPUTS, invoked_command(), cpu, wall):
            print("wrote", path)
    emit_json(study.metrics, a.out)
    return 0
