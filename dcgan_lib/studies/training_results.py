"""The §4 training page's side of the library: the paper's recipe as the library builds it, the
first seed's run of ``celeba_dcgan64`` read back, and the three CelebA-10k runs beside
pytorch/examples' own script. Each ``*_readings`` formats the numbers the page's prose quotes;
each ``check_*`` raises AssertionError when a stored result or a sentence no longer holds.
Paper: §4 ("Details of adversarial training").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan_lib import artifacts, compute
from dcgan_lib.config import ModelConfig, TrainConfig, get_model_config
from dcgan_lib.data import to_float
from dcgan_lib.experiments import Anchor, get_experiment
from dcgan_lib.models import Discriminator, Generator
from dcgan_lib.step import make_optimizers
from dcgan_lib.storage import read_jsonl
from dcgan_lib.studies.experiments_results import fid_text, stored_fids, summarize
from dcgan_lib.train import COLLAPSE_DIVERSITY

OURS = "celeba_dcgan64"  # the page's run: the paper's design at half width
CELEBA_RUNS = (OURS, "celeba_examples64", "celeba_paper64")
UPDATES_RUN = "celeba_dcgan64_updates"  # ours at pytorch/examples' number of updates
HEAD = "final:celeba/train"  # FID-10k/celeba10k of the final generator
AUGMENTATION_WORDS = ("aug", "flip", "crop", "jitter", "mirror", "rotat")
EARLY_LOSS_G = 10.0  # the opening windows the page reads: G's loss above this

# What one of the paper's epochs is, in minibatches of its 128 (§4), from its own words, and the
# authors' faces script (Newmu/dcgan_code, faces/train_uncond_dcgan.py)
PAPER_BATCH = 128  # §4: "a mini-batch size of 128"
LSUN_IMAGES = 3_000_000  # §4.1: "a little over 3 million training examples" (so: at least)
FACE_BOXES = 350_000  # §4.2: "approximately 350,000 face boxes"; the script's ntrain
AUTHORS_FACES_EPOCHS = 25  # the script's niter; each minibatch updates G or D, alternately (k = 1)


def _check(ok: bool, message: str) -> None:
    """A page's claim or consistency check: AssertionError with ``message`` when it fails."""
    if not ok:
        raise AssertionError(message)


@dataclass
class Recipe:
    """The training recipe as the library builds it by default."""

    train: TrainConfig
    model: ModelConfig
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer]  # G's, D's
    pixels: torch.Tensor  # black and white through the training batch's conversion
    augmentation: list[str]  # TrainConfig fields that would augment the images


def library_recipe() -> Recipe:
    """The defaults of ``TrainConfig`` and ``ModelConfig``, the optimizers the training loop
    builds (on the tiny ``smoke32`` nets: the settings do not depend on the model), and the
    pixel range of a training batch."""
    train = TrainConfig()
    tiny = get_model_config("smoke32")
    optimizers = make_optimizers(Generator(tiny), Discriminator(tiny), train)
    pixels = to_float(torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1))
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    augmentation = [f for f in fields if any(w in f for w in AUGMENTATION_WORDS)]
    return Recipe(train, ModelConfig(), optimizers, pixels, augmentation)


def recipe_rows(recipe: Recipe) -> list[dict]:
    """Each setting of §4's recipe: the paper's value and ours (where the paper is silent, the
    authors' code's or none)."""
    model, adam = recipe.model, recipe.optimizers[0].param_groups[0]
    lo, hi = recipe.pixels.min(), recipe.pixels.max()
    rows = [
        ("minibatch size", "128", recipe.train.batch_size),
        ("optimizer", "Adam", type(recipe.optimizers[0]).__name__),
        ("learning rate", "0.0002", adam["lr"]),
        ("Adam beta1", "0.5", adam["betas"][0]),
        ("Adam beta2", "not stated", adam["betas"][1]),
        ("weight init", "N(0, 0.02)", f"N(0, {model.init_std})"),
        ("LeakyReLU slope", "0.2", model.leaky_slope),
        ("z", "100-d, uniform", f"{model.nz}-d, {model.z_dist}"),
        ("pixel range", "[-1, 1]", f"[{lo:g}, {hi:g}] (`dcgan_lib.data.to_float`)"),
        (
            "augmentation",
            "none",
            ", ".join(recipe.augmentation) or "none (no such setting in `TrainConfig`)",
        ),
        ("weight decay", "none (authors' script: 1e-5)", adam["weight_decay"] or "none"),
        ("BatchNorm epsilon", "not stated (authors: 1e-8)", model.bn_eps),
        ("epochs", "not stated (authors' faces script: 25)", recipe.train.epochs),
    ]
    return [{"setting": s, "paper": p, "ours": o} for s, p, o in rows]


def check_recipe(recipe: Recipe) -> None:
    """Every setting §4 states is the library's default: batch 128, Adam at lr 0.0002 and
    beta1 0.5 with no weight decay, pixels in [-1, 1], no augmentation, N(0, 0.02) weights,
    LeakyReLU slope 0.2, a 100-d uniform z."""
    _check(recipe.train.batch_size == 128, "the minibatch is not 128")
    _check(all(isinstance(o, torch.optim.Adam) for o in recipe.optimizers), "not Adam")
    for group in recipe.optimizers[0].param_groups + recipe.optimizers[1].param_groups:
        adam = group["lr"] == 2e-4 and group["betas"][0] == 0.5 and group["weight_decay"] == 0
        _check(adam, f"Adam's settings: {group}")
    _check(recipe.pixels.min() == -1 and recipe.pixels.max() == 1, "pixels not in [-1, 1]")
    _check(not recipe.augmentation, f"TrainConfig has augmentation: {recipe.augmentation}")
    model = recipe.model
    _check(model.init_std == 0.02 and model.leaky_slope == 0.2, "init or LeakyReLU slope")
    _check(model.nz == 100 and model.z_dist == "uniform", "z is not 100-d uniform")


def run_readings(run_info: dict, metrics: list[dict]) -> dict[str, str]:
    """A run's size, its last logged losses and D outputs, its config and device, for the
    prose (``run_info``: its ``run.json``; ``metrics``: its ``metrics.jsonl`` rows)."""
    last = metrics[-1]
    return {
        "n_images": f"{run_info['n_images']:,}",
        "steps_per_epoch": f"{run_info['steps_per_epoch']:,}",
        "total_steps": f"{last['step']:,}",
        "final_loss_d": f"{last['loss_d']:.3f}",
        "final_loss_g": f"{last['loss_g']:.3f}",
        "final_d_real": f"{last['d_real']:.3f}",
        "final_d_fake": f"{last['d_fake']:.3f}",
        "run_config": run_info["config"]["model"]["name"],
        "run_device": run_info.get("gpu") or run_info["device"],
    }


def check_run(run_info: dict, metrics: list[dict], config: TrainConfig) -> None:
    """The run is the one configured and it finished: its batch, whole batches per epoch
    (drop_last), every epoch's steps; D's outputs are probabilities, both losses positive."""
    spe = run_info["steps_per_epoch"]
    _check(run_info["config"]["batch_size"] == config.batch_size, "another batch size")
    _check(spe == run_info["n_images"] // config.batch_size, "steps per epoch != drop_last's")
    _check(metrics[-1]["step"] == config.epochs * spe, "the run did not finish")
    _check(all(0 <= m["d_real"] <= 1 and 0 <= m["d_fake"] <= 1 for m in metrics), "D's output")
    _check(all(m["loss_d"] > 0 and m["loss_g"] > 0 for m in metrics), "a loss <= 0")


def celeba_rows(results: dict[str, list[dict]], anchor: Anchor) -> list[dict]:
    """The CelebA-10k runs (name -> stored results), each seed's FID and the mean ± sd, and
    pytorch/examples' own script below them."""
    rows = [
        {
            "run": f"`{n}`",
            "network": f"`{runs[0]['config']}`",
            "batch": runs[0]["batch_size"],
            "updates": f"{runs[0]['steps']:,}",
            "seeds": ", ".join(str(r["seed"]) for r in runs),
            "FID per seed": ", ".join(f"{r['fid'][HEAD]['fid']:.1f}" for r in runs),
            "mean ± sd": fid_text(summarize(runs)[HEAD]),
        }
        for n, runs in results.items()
    ]
    return rows + [
        {
            "run": "anchor: pytorch/examples' own script",
            "network": "`examples64` (pytorch/examples' own code)",
            "batch": anchor.batch_size,
            "updates": f"{anchor.updates:,}",
            "seeds": f"{anchor.seed}",
            "FID per seed": f"{anchor.fid}",
            "mean ± sd": f"{anchor.fid} (1 seed)",
        }
    ]


def epoch_readings(steps_per_epoch: int, total_steps: int) -> dict[str, str]:
    """One of the paper's epochs against ours (``steps_per_epoch`` iterations of one D and one G
    update, ``total_steps`` in the run): LSUN's "a little over 3 million" images and the faces
    set's "approximately 350,000" boxes in minibatches of 128, how many of ours one LSUN epoch
    is, and the authors' faces run (25 epochs, each minibatch updating G or D in turn) in updates
    of each net, and how many of our runs that is. Paper: §4.1, §4.2."""
    lsun = LSUN_IMAGES // PAPER_BATCH
    faces = FACE_BOXES // PAPER_BATCH
    per_net = AUTHORS_FACES_EPOCHS * faces // 2
    return {
        "lsun_images": f"{LSUN_IMAGES:,}",
        "face_boxes": f"{FACE_BOXES:,}",
        "lsun_epoch_batches": f"{lsun:,}",
        "faces_epoch_batches": f"{faces:,}",
        "lsun_over_ours": f"{lsun / steps_per_epoch:.0f}",
        "authors_faces_epochs": f"{AUTHORS_FACES_EPOCHS}",
        "authors_updates_per_net": f"{per_net:,}",
        "authors_over_ours": f"{per_net / total_steps:.0f}",
    }


def updates_run_reading(root: Path | None = None) -> dict[str, str | bool]:
    """The run that tests whether the number of updates explains the gap to pytorch/examples:
    ours (same network, batch 128) at the anchor's number of updates; ``stored`` says whether
    its results exist."""
    from dcgan_lib.studies.experiments_results import read_results

    exp = get_experiment(UPDATES_RUN)
    return {
        "updates_run": exp.name,
        "updates_run_steps": f"{exp.max_steps:,}",
        "updates_run_batch": f"{exp.batch_size}",
        "stored": bool(read_results(exp.name, root or artifacts.artifacts_dir())),
    }


def early_windows(metrics: list[dict], above: float = EARLY_LOSS_G) -> list[dict]:
    """The opening log windows in which G's loss is above ``above``."""
    early = []
    for m in metrics:
        if m["loss_g"] <= above:
            break
        early.append(m)
    return early


@dataclass
class StoredRun:
    """What the prose reads of the stored first seed beyond its result file."""

    metrics: list[dict]
    diversity: dict[str, float]  # samples ("epoch_001", "final", ...) -> sample diversity
    numerics: dict | None  # the Compute page's engine numerics check, where stored


def stored_run(root: Path | None = None, name: str = OURS) -> StoredRun:
    """The stored run's metrics and sample diversity, and the engine numerics check."""
    metrics = read_jsonl(artifacts.require(name, "metrics.jsonl", root))
    diag = read_jsonl(artifacts.require(name, "diagnostics.jsonl", root))
    try:
        numerics = compute.load_result(artifacts.NUMERICS, root)
    except artifacts.ArtifactMissing:
        numerics = None
    return StoredRun(metrics, {d["samples"]: d["sample_diversity"] for d in diag}, numerics)


def celeba_readings(
    results: dict[str, list[dict]], anchor: Anchor, run: StoredRun
) -> dict[str, str | None]:
    """The CelebA-10k FIDs and their gaps to the anchor in points and in seed sd, both runs'
    updates and batches, the opening windows of G's loss above 10, the sample diversity after
    one epoch and at the end, and each engine's mean FID."""
    mean = {n: summarize(r)[HEAD]["fid"]["mean"] for n, r in results.items()}
    sd = summarize(results[OURS])[HEAD]["fid"]["sd"]
    first = results[OURS][0]
    early = early_windows(run.metrics)
    engine = compute.engine_mean_fid(run.numerics) if run.numerics else None
    return {
        **{f"fid_{n[7:]}": fid_text(summarize(results[n])[HEAD]) for n in CELEBA_RUNS},
        "fid_anchor": f"{anchor.fid}",
        "gap_dcgan64": f"{mean[OURS] - anchor.fid:.1f}",
        "gap_examples64": f"{mean['celeba_examples64'] - anchor.fid:.1f}",
        "gap_in_sd": f"{(mean[OURS] - anchor.fid) / sd:.1f}",
        "seed_sd": f"{sd:.1f}",
        "updates_ours": f"{first['steps']:,}",
        "batch_ours": f"{first['batch_size']}",
        "updates_anchor": f"{anchor.updates:,}",
        "batch_anchor": f"{anchor.batch_size}",
        "early_steps": f"{early[-1]['step']:,}" if early else "0",
        "early_share": f"{early[-1]['step'] / first['steps']:.0%}" if early else "0%",
        "early_max_d_fake": f"{max(m['d_fake'] for m in early):.2f}" if early else "–",
        "early_loss_g": f"{early[0]['loss_g']:.1f}" if early else "–",
        "div_epoch1": f"{run.diversity['epoch_001']:.3f}",
        "div_final": f"{run.diversity['final']:.2f}",
        "collapse_threshold": f"{COLLAPSE_DIVERSITY}",
        "early_above": f"{EARLY_LOSS_G:g}",
        "fid_eager": f"{engine['eager']:.1f}" if engine else None,
        "fid_fast": f"{engine['fast']:.1f}" if engine else None,
    }


def check_celeba(
    results: dict[str, list[dict]], anchor: Anchor, run: StoredRun, root: Path | None = None
) -> None:
    """Each run has its experiment's seeds, each seed's FID in the table is its own result file's
    (read again from disk, under the anchor's protocol, all distinct), the same updates and
    batch; and every sentence of the reading still holds."""
    first = results[OURS][0]
    for n in CELEBA_RUNS:
        seeds = [r["seed"] for r in results[n]]
        _check(seeds == list(get_experiment(n).seeds), f"{n}: seeds {seeds}")
        for r, disk in zip(results[n], stored_fids(n, seeds, HEAD, root), strict=True):
            _check(disk["fid"] == r["fid"][HEAD]["fid"], f"{n}: seed {r['seed']}'s FID")
            _check(disk["protocol"] == anchor.protocol, f"{n}: protocol {disk['protocol']}")
            same = r["steps"] == first["steps"] and r["batch_size"] == first["batch_size"]
            _check(same, f"{n}: other updates or batch")
        fids = [r["fid"][HEAD]["fid"] for r in results[n]]
        _check(len(set(fids)) == len(fids), f"{n}: two seeds with the same FID: one run twice?")
    mean = {n: summarize(r)[HEAD]["fid"]["mean"] for n, r in results.items()}
    _check(mean[OURS] > anchor.fid, "ours is no longer worse than the anchor: reword")
    # the anchor's updates: its loader keeps the last, partial batch of each epoch
    anchor_updates = math.ceil(first["n_images"] / anchor.batch_size) * anchor.epochs
    _check(anchor.updates == anchor_updates, "the anchor's updates")
    _check(abs(anchor.updates / first["steps"] - 2) < 0.02, "not half the anchor's updates")
    _check(mean["celeba_examples64"] >= mean[OURS], "examples64 beats ours: reword")
    if run.numerics:
        engine = compute.engine_mean_fid(run.numerics)
        sd = summarize(results[OURS])[HEAD]["fid"]["sd"]
        _check(abs(engine["eager"] - engine["fast"]) < sd, "engine gap >= seed spread")
    early = early_windows(run.metrics)
    _check(bool(early) and all(m["loss_g"] > 10 for m in early), "no early windows")
    _check(run.diversity["epoch_001"] < run.diversity["final"] / 4, "epoch 1 not near-uniform")
    _check(mean["celeba_paper64"] < mean[OURS], "paper64 is not ahead of ours: reword")
    _check(len(results["celeba_paper64"]) == 1, "paper64 has more than one seed")
