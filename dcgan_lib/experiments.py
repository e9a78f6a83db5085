"""The paper's §4 training runs as data: what each trains, how it is measured, what it stands in for.

One ``Experiment`` per row of the book's results table: a model config trained on a dataset for a
number of epochs, evaluated under the book's FID protocols (book/fid_protocol.md; the first
reference set gives the headline number, a second one, where it exists, is the training split,
for the memorization check of §4.1: FID against held-out images vs against training images).
``ANCHORS`` are reference FIDs measured outside the book's stored runs, each with its own protocol
name and who measured it (this project with pytorch/examples' own script, or others), that the
book sets beside its own; a difference is computed only under the same protocol. Nothing here runs: ``dcgan_lib.studies.experiments`` trains, measures and stores
an experiment (``python -m dcgan_lib experiment NAME``), and reads the stored results back.

Stand-ins (paper's data not obtainable here): CelebA-10k for the unreleased faces set, Tiny ImageNet
at 64 px for LSUN bedrooms, Tiny ImageNet at 32 px for ImageNet-1k-32. Paper: §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dcgan_lib.config import TrainConfig, get_model_config

RESULT_PREFIX = "result_s"  # artifacts/NAME/result_s1.json, result_s2.json, ...
GPU_MINUTES = 9  # each call's time budget: what one call on a GPU machine may take


@dataclass(frozen=True)
class Experiment:
    """One §4 training run and how it is measured."""

    name: str  # also the artifact folder: artifacts/<name>/
    config: str  # model config (dcgan_lib.config.MODEL_CONFIGS)
    data: str  # training dataset (dcgan_lib.datasets.DATASETS), split "train"
    image_size: int
    epochs: int
    references: tuple[tuple[str, str], ...]  # FID reference sets (dataset, split); first = headline
    stands_in_for: str  # the paper's experiment it reproduces, and on what stand-in data
    seeds: tuple[int, ...] = (1,)
    batch_size: int = 128  # paper §4
    fid_every: int | None = None  # FID during training (keeps best.pt); None = final only
    ship_weights: bool = False  # fp16 G.pt / D.pt into artifacts/ (the book loads them)
    max_steps: int | None = None  # stop after this many updates (a run sized in updates)
    # True: best.pt is chosen by the FID during training on the selection half of the headline
    # reference, the shipped weights are best.pt's, and every generator is also measured on the
    # reporting half (no image in common with the selection); see dcgan_lib.metrics
    select_half: bool = False

    def command(self, data_root: str = "../shared/data", seed: int | None = None) -> str:
        """The shell command that produces one seed's artifacts (``seed``), or every seed's."""
        if seed is None and len(self.seeds) == 1:
            seed = self.seeds[0]
        which, loop = (str(seed), "") if seed is not None else ("SEED", self._seed_loop())
        return (
            f"python -m dcgan_lib experiment {self.name} --data-root {data_root} --seed {which} "
            f"--max-minutes {GPU_MINUTES}  (on a GPU; {loop}repeat until it prints 'complete')"
        )

    def _seed_loop(self) -> str:
        return f"for SEED in {', '.join(map(str, self.seeds))}; "

    def result_files(self) -> tuple[str, ...]:
        """The stored result of every seed, as artifact names (``name/result_s1.json``, ...)."""
        return tuple(f"{self.name}/{RESULT_PREFIX}{s}.json" for s in self.seeds)

    def fid_sets(self) -> list[tuple[str, str, str]]:
        """(dataset, split, part) of every FID measured at the end: each reference set whole,
        and, for a run that selects on a half, the headline reference's reporting half."""
        sets = [(d, s, "all") for d, s in self.references]
        if self.select_half:
            sets.append((*self.references[0], "report"))
        return sets

    def headline_key(self, which: str = "final") -> str:
        """The key of the headline FID in a stored result (``final:celeba/train``)."""
        dataset, split = self.references[0]
        return f"{which}:{dataset}/{split}"


_CELEBA = (("celeba", "train"),)  # FID-10k/celeba10k: all 10,000 images are training images
_TINY = (("tinyimagenet", "val"), ("tinyimagenet", "train"))
_CIFAR = (("cifar10", "test"), ("cifar10", "train"))

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "celeba_dcgan64", "dcgan64", "celeba", 64, 25, _CELEBA,
            "§4.2 faces (unreleased) on CelebA-10k; the model of §6",
            seeds=(1, 2, 3), ship_weights=True,
        ),
        Experiment(
            "celeba_dcgan64_long", "dcgan64", "celeba", 64, 200, _CELEBA,
            "§4.2 faces on CelebA-10k, trained longer; the checkpoint with the best FID on the "
            "selection half of CelebA-10k is kept",
            fid_every=1560,  # every 20 epochs of 78 steps: 10 candidates
            ship_weights=True, select_half=True,
        ),
        Experiment(
            "celeba_dcgan64_updates", "dcgan64", "celeba", 64,
            51,  # 78 updates an epoch: 3,925 updates end in the 51st epoch
            _CELEBA,
            "§4.2 faces on CelebA-10k at pytorch/examples' number of updates (3,925: its 25 "
            "epochs at batch 64; about 50 epochs at batch 128)",
            ship_weights=True, max_steps=3925,
        ),
        Experiment(
            "celeba_examples64", "examples64", "celeba", 64, 25, _CELEBA,
            "pytorch/examples' network at the same image-steps as celeba_dcgan64",
            seeds=(1, 2, 3),
        ),
        Experiment(
            "celeba_paper64", "paper64", "celeba", 64, 25, _CELEBA,
            "Fig. 1's width (4x4x1024) at the same image-steps; weights too big to ship",
        ),
        Experiment(
            "tinyimagenet_dcgan64", "dcgan64", "tinyimagenet", 64, 10, _TINY,
            "§4.1 LSUN bedrooms, Figs. 2-3, on Tiny ImageNet at 64 px; the scene model of §6.2",
            ship_weights=True,
        ),
        Experiment(
            "imagenet32_tinyimagenet", "imagenet32", "tinyimagenet", 32, 30, _TINY,
            "§4.3 ImageNet-1k at 32 px on Tiny ImageNet at 32 px; the D of §5",
            ship_weights=True,
        ),
        Experiment(
            "cifar10_imagenet32", "imagenet32", "cifar10", 32, 30, _CIFAR,
            "a 32 px DCGAN (the authors' ImageNet-32 D, with a G whose widths mirror it: ours) on "
            "the CIFAR-10 train split, unlabelled",
            seeds=(1, 2, 3),
        ),
    )
}  # fmt: skip


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def train_config(
    exp: Experiment,
    seed: int,
    data_root: str | None = None,
    runs_dir: str | Path = "runs",
    **overrides: object,
) -> TrainConfig:
    """The TrainConfig of one seed of ``exp`` (overrides: e.g. ``max_minutes``, ``device``)."""
    fields = dict(
        model=get_model_config(exp.config, image_size=exp.image_size),
        data=exp.data,
        data_root=data_root,
        out=str(Path(runs_dir) / f"{exp.name}-s{seed}"),
        epochs=exp.epochs,
        batch_size=exp.batch_size,
        seed=seed,
        fid_every=exp.fid_every,
        fid_data=exp.references[0][0],
        fid_split=exp.references[0][1],
        fid_selection=exp.select_half,
        max_steps=exp.max_steps,
    )
    fields.update(overrides)
    return TrainConfig(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Reference numbers beside ours, each under its own protocol (book/fid_protocol.md), with who
# measured it: this project (outside the book's stored runs) or others

MEASURED_BY_US = "this project"  # Anchor.measured_by of a number this project measured
# the protocol name of PyTorch-StudioGAN's published CIFAR-10 FID: its own pipeline, on the
# original CIFAR-10 test images (ours, FID-10k/cifar10-test, uses the JPEG re-encoded copy)
STUDIOGAN_PROTOCOL = "StudioGAN's FID-10k on the original CIFAR-10 test images, its own pipeline"


@dataclass(frozen=True)
class Anchor:
    """A reference FID measured outside the book's stored runs, with the training behind it,
    beside one of our experiments; comparable with ours only under the same ``protocol``."""

    experiment: str  # ours it stands beside
    what: str
    protocol: str
    fid: float
    source: str  # where the number comes from
    difference: str  # how their run differs from ours
    batch_size: int | None = None  # their training, where known
    epochs: int | None = None
    updates: int | None = None
    seed: int | None = None
    early: tuple[int, int, float] | None = None  # (epochs, updates, FID) earlier in the same run
    measured_by: str = "others"  # MEASURED_BY_US, or who else measured it
    stored: str | None = None  # the artifact that stores the measurement; None: none does


ANCHORS: tuple[Anchor, ...] = (
    Anchor(
        "celeba_dcgan64",
        "pytorch/examples dcgan, unchanged defaults, 25 epochs on CelebA-10k",
        "FID-10k/celeba10k",
        89.1,
        "pytorch/examples' own script, run and measured on an H100 (torch 2.11) with this book's "
        "protocol, before the book's runs; written down on the FID protocol page",
        "its network (4x4 kernels, normal z, batch 64) at the same 25 epochs",
        batch_size=64,  # pytorch/examples dcgan/main.py's default --batchSize
        epochs=25,
        updates=3925,  # 157 batches of 64 (the last one partial) an epoch
        seed=1,
        early=(5, 785, 331.0),
        measured_by=MEASURED_BY_US,
    ),
    Anchor(
        "cifar10_imagenet32",
        "PyTorch-StudioGAN 'DCGAN' on CIFAR-10",
        STUDIOGAN_PROTOCOL,
        49.03,
        "StudioGAN's published table (10k test images vs 10k samples; IS 6.64)",
        "the SNGAN paper's CNN, not the paper's DCGAN; the original CIFAR-10 images and "
        "StudioGAN's own Inception pipeline",
        measured_by="others: the PyTorch-StudioGAN authors",
    ),
)


@dataclass(frozen=True)
class Reference:
    """Another reference FID measured outside the book's stored runs (not beside a run: never a
    target), with who measured it and the artifact that stores it (None: none does)."""

    what: str
    protocol: str
    fid: float
    source: str
    measured_by: str = "others"
    stored: str | None = None


REFERENCES: tuple[Reference, ...] = (
    Reference(
        "the same pytorch/examples run, its samples drawn with batch statistics",
        "FID-10k/celeba10k",
        90.6,
        "the same measurement as the row above",
        MEASURED_BY_US,
    ),
    Reference(
        "two random halves of CelebA-10k, 5,000 images against 5,000: the protocol's floor",
        "FID-5k halves of CelebA-10k",
        5.54,
        "measured on an H100 (torch 2.11) with this protocol's network and preprocessing, "
        "before the book's runs; written down on the FID protocol page",
        MEASURED_BY_US,
    ),
)


def anchor_of(experiment: str) -> Anchor:
    """The anchor beside ``experiment``."""
    return next(a for a in ANCHORS if a.experiment == experiment)


# (experiment, protocol) -> the FID to get below: each anchor, and the longer faces run's own
TARGETS = {(a.experiment, a.protocol): a.fid for a in ANCHORS} | {
    ("celeba_dcgan64_long", "FID-10k/celeba10k"): 40.0,
}

# ---------------------------------------------------------------------------------------------
# The faces model of §6: the best of the faces runs, chosen on the selection half

FACES_MODEL = "faces_model"  # artifacts/faces_model/selection.json names the chosen run
FACES_DEFAULT = "celeba_dcgan64"  # the §6 model until a selection has been made
FACES_CANDIDATES = ("celeba_dcgan64", "celeba_dcgan64_updates", "celeba_dcgan64_long")
