"""The command line without the work: every command's arguments, and where its work lives.

``python -m dcgan_lib`` builds its parser from ``COMMANDS``: per command its name, its one-line
help, a function adding its arguments, and its run function named as ``"module:function"``
(``Run``), imported only when the command runs. Building the parser, ``--help`` and argument
errors therefore import neither torch nor the command's module; choices and defaults that live in
a heavy module are spelled here and checked against it by ``tests/test_cli.py``.

A new command: write ``run_cli(args) -> int`` in its module, an ``*_arguments(p)`` function here,
and one ``Command`` row in ``COMMANDS``.

Shared by the §6 study commands: ``add_size_flag`` adds ``--size`` (``"smoke" | "book" |
"full"``, the keys of a study's ``SIZES``) with ``--mode`` kept as its old spelling;
``add_output_flags`` adds ``--out`` and ``--export``; ``emit_json`` prints a command's metrics or
writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dcgan_lib.config import MODEL_CONFIGS, TrainConfig
from dcgan_lib.datasets import DATA_ROOT_RULE
from dcgan_lib.experiments import EXPERIMENTS

STUDY_SIZES = ("book", "full", "smoke")  # the keys of each §6 study's and dedup's SIZES
DATA_ROOT_HELP = f"folder holding the datasets ({DATA_ROOT_RULE})"


@dataclass(frozen=True)
class Run:
    """A command's run function, ``"module:function"``, imported only when it is called."""

    target: str

    def resolve(self) -> Callable[[argparse.Namespace], int]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, args: argparse.Namespace) -> int:
        return self.resolve()(args)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: str  # "module:function", imported when the command runs


def add_size_flag(p: argparse.ArgumentParser, sizes: Iterable[str], default: str = "book") -> None:
    """``--size`` among ``sizes`` (a study's ``SIZES`` or its keys); ``--mode`` is its old
    spelling."""
    p.add_argument("--size", "--mode", dest="size", default=default, choices=sorted(sizes))


def add_output_flags(p: argparse.ArgumentParser, export_help: str) -> None:
    """``--out`` (the metrics as JSON) and ``--export`` (store the book's study in artifacts/)."""
    p.add_argument("--out", default=None, help="write the metrics here as JSON")
    p.add_argument("--export", action="store_true", help=export_help)


def emit_json(obj: dict, out: str | None) -> None:
    """Write ``obj`` as JSON to ``out`` (and say so), or print it without one."""
    text = json.dumps(obj, indent=1)
    if out:
        Path(out).write_text(text + "\n")
        print("wrote", out)
    else:
        print(text)


def _data_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, help=DATA_ROOT_HELP)


# ---------------------------------------------------------------------------------------------
# Each command's arguments


# The flags of `train`, one per TrainConfig field of the same name (its default is the field's):
# (field, type, help); a bool field is a switch.
TRAIN_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("data", str, "dataset name (cifar10, svhn, lsun, celeba, tinyimagenet, imagefolder, synthetic)"),
    ("data_root", str, DATA_ROOT_HELP),
    ("split", str, "the dataset's split"),
    ("epochs", int, "passes over the data"),
    ("max_minutes", float, "time budget; checkpoints and stops"),
    ("max_steps", int, "stop after this many iterations"),
    ("batch_size", int, "paper: 128"),
    ("lr", float, "paper: 2e-4"),
    ("beta1", float, "paper: 0.5"),
    ("seed", int, "weights, noise and data order"),
    ("limit", int, "use only the first N images"),
    ("keep_list", str, "file of image names to keep (from `dedup`)"),
    ("cache_dir", str, "packed-image cache (default $DCGAN_CACHE or ~/.cache/dcgan_lib)"),
    ("device", str, "auto: cuda if available, else cpu"),
    ("log_every", int, "a metrics line every N steps"),
    ("sample_every", int, "a fixed-z sample grid every N steps"),
    ("checkpoint_every", int, "a checkpoint every N steps"),
    ("deterministic", bool, "deterministic algorithms (exact CPU resume)"),
    ("fid_every", int, "FID/KID every N steps (keeps best.pt)"),
    ("fid_n", int, "samples and reference images per FID"),
    ("fid_data", str, "reference dataset (default: --data)"),
    ("fid_split", str, "reference split (default: --split)"),
    ("engine", str, "auto: fast on CUDA (GPU-resident data, bf16, channels_last, CUDA graph), "
     "eager fp32 elsewhere"),
    ("compile", bool, "fast engine: torch.compile G and D inside the captured step"),
    ("sync_bn", bool, "under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm)"),
)  # fmt: skip
TRAIN_CHOICES = {"engine": ["auto", "eager", "fast"]}


def train_arguments(p: argparse.ArgumentParser) -> None:
    """``train --out RUN [...]``: ``--config`` names the model config, ``--out`` the run folder,
    and each of ``TRAIN_FLAGS`` sets its ``TrainConfig`` field."""
    p.add_argument(
        "--config", default="dcgan64", choices=sorted(MODEL_CONFIGS), help="model config"
    )
    p.add_argument("--image-size", type=int, help="override the config's image size (32, 64, 128)")
    p.add_argument(
        "--out",
        required=True,
        help="run folder; an existing checkpoint there is resumed (with the settings it holds)",
    )
    defaults = TrainConfig()
    for name, kind, text in TRAIN_FLAGS:
        flag, default = "--" + name.replace("_", "-"), getattr(defaults, name)
        if kind is bool:
            p.add_argument(flag, action="store_true", help=text)
        else:
            choices = TRAIN_CHOICES.get(name)
            p.add_argument(flag, type=kind, default=default, choices=choices, help=text)
    p.add_argument("--no-progress", action="store_true")


def export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="run", help="the run folder")
    p.add_argument("--name", required=True)


def download_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=["cifar10", "svhn", "celeba", "tinyimagenet"])
    p.add_argument("--data-root", required=True)


def fid_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("generator", help="an exported G.pt or a run's checkpoint.pt")
    p.add_argument("--data", default="celeba")
    _data_root(p)
    p.add_argument(
        "--split", default="train", help="reference split (celeba: train, cifar10: test)"
    )
    p.add_argument("--n", type=int, default=10_000, help="samples and reference images (FID-10k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="also write the result as JSON here")


def dedup_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset name (as for train)")
    _data_root(p)
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True, help="keep list to write: image names, one per line")
    p.add_argument(
        "--radius", type=int, default=0, choices=(0, 1, 2), help="paper: 0 (exact collisions)"
    )
    p.add_argument(
        "--model", default=None, help="autoencoder weights (default: artifacts/dedup_ae/ae.pt)"
    )
    p.add_argument(
        "--groups", default=None, help="also write the duplicate groups here (tab-separated names)"
    )
    p.add_argument("--cache-dir", default=None)


def dedup_study_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--size", default="full", choices=sorted(STUDY_SIZES))
    s.add_argument("--mode", dest="size", choices=sorted(STUDY_SIZES), help="the same as --size")
    _data_root(s)
    s.add_argument("--cache-dir", default=None)
    s.add_argument(
        "--out",
        default=None,
        help="training checkpoint folder (default runs/dedup_ae); "
        "run the same command again to resume",
    )
    s.add_argument(
        "--no-export", action="store_true", help="full size: do not write artifacts/dedup_ae"
    )
    s.add_argument(
        "--export",
        action="store_true",
        help="book size: recompute with the stored autoencoder and store the names of the "
        "collision groups the page shows (artifacts/dedup_ae/galleries.json)",
    )


def dedup_sweep_arguments(w: argparse.ArgumentParser) -> None:
    w.add_argument("--size", default="full", choices=["full", "smoke"])
    _data_root(w)
    w.add_argument("--cache-dir", default=None)
    w.add_argument("--out", default=None, help="default: artifacts/dedup_ae/sweep.json (full size)")


FEATURE_VARIANTS = ("dcgan", "random", "pixels", "dcgan_running")  # studies.features.VARIANTS
SVM_SOLVERS = ("liblinear", "torch")  # svm.SOLVERS


FEATURE_SIZES = ("authors", "book", "cpu", "full", "smoke")  # studies.features.SIZES
FEATURE_D = ("authors-imagenet", "authors-svhn", "book")  # studies.features.D_SOURCES


def features_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=["cifar10", "svhn", "synthetic"])
    p.add_argument("--size", default="full", choices=FEATURE_SIZES)
    p.add_argument("--out", default=None, help="default artifacts/features_<task>")
    p.add_argument(
        "--d",
        default="book",
        choices=FEATURE_D,
        help="whose D: book (artifacts/imagenet32_tinyimagenet/D.pt), authors-imagenet (the "
        "authors' ImageNet-1k D, layers 1-4 of 6), authors-svhn (the authors' SVHN D)",
    )
    p.add_argument("--d-weights", default=None, help="a D.pt file instead of --d's")
    p.add_argument(
        "--feature-cache", default=None, help="keep each variant's features here (resumes)"
    )
    _data_root(p)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--metrics-name", default=None, help="default by --d: metrics.json, ...")
    p.add_argument("--variants", default=None, help=f"comma list from {','.join(FEATURE_VARIANTS)}")
    p.add_argument("--regimes", default=None, help="comma list of labels per class or 'all'")
    p.add_argument("--select-draws", type=int, default=None, help="draws per C (authors: 10)")
    p.add_argument(
        "--eval-draws", type=int, default=None, help="draws at the best C (authors: 100)"
    )
    p.add_argument("--supervised-trials", type=int, default=None, help="paper: 64")
    p.add_argument("--n-val", type=int, default=None, help="validation images (paper: 10,000)")
    p.add_argument("--device", default="auto")
    p.add_argument("--solver", default="auto", choices=["auto", *SVM_SOLVERS])
    p.add_argument(
        "--solver-all", default=None, choices=SVM_SOLVERS, help="for all labels (default --solver)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=None, help="time budget; resumable")
    p.add_argument("--no-progress", action="store_true")


def experiment_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", choices=sorted(EXPERIMENTS))
    p.add_argument("--seed", type=int, default=None, help="default: the experiment's first seed")
    _data_root(p)
    p.add_argument("--max-minutes", type=float, default=None, help="time budget for this call")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--fid-n", type=int, default=10_000, help="samples and reference images")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--list", action="store_true", help="print every experiment's command and exit")


LATENT_PARTS = ("walks", "neighbours", "arithmetic", "turn")  # studies.latent.PARTS


def latent_arguments(p: argparse.ArgumentParser) -> None:
    add_size_flag(p, STUDY_SIZES)
    p.add_argument("--parts", nargs="+", default=list(LATENT_PARTS), choices=LATENT_PARTS)
    p.add_argument("--generator", default=None, help="G.pt or checkpoint (default: the stored one)")
    _data_root(p)
    add_output_flags(
        p,
        "store the book's study of the stored model in artifacts/ (--parts walks neighbours: "
        "latent_walks; --parts arithmetic turn: vector_arithmetic)",
    )
    p.add_argument(
        "--pose-reliability",
        action="store_true",
        help="only re-measure the pose cue against the stored labels (artifacts/celeba_pose)",
    )
    p.add_argument("--no-progress", action="store_true")


GUIDED_MODELS = ("faces", "scenes")  # studies.guided_backprop.MODELS


def guided_backprop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="faces", choices=sorted(GUIDED_MODELS))
    add_size_flag(p, STUDY_SIZES)
    _data_root(p)
    p.add_argument("--random-only", action="store_true", help="only the random-D baseline")
    add_output_flags(
        p,
        "store the book's study in artifacts/guided_backprop_<model>: on real images (indices "
        "and numbers only) and on G's samples (numbers and figures)",
    )


FORGETTING_STORED = "forgetting_faces"  # studies.forgetting.STORED
FORGETTING_LAYER = -2  # forgetting.DEFAULT_LAYER: "second highest convolution layer"


def forgetting_arguments(p: argparse.ArgumentParser) -> None:
    """``forgetting {study,fit,annotate,bands}``: the faces study, and the tool for any model."""
    cmds = p.add_subparsers(dest="forgetting_command", required=True)
    s = cmds.add_parser("study", help="the faces measurement (smoke: the planted toy)")
    add_size_flag(s, STUDY_SIZES)
    add_output_flags(
        s, f"store the book's study (metrics and figures) in artifacts/{FORGETTING_STORED}"
    )
    f = cmds.add_parser("fit", help="boxes JSON -> the maps to drop (JSON)")
    f.add_argument("--generator", required=True, help="an exported G.pt or a run's checkpoint.pt")
    f.add_argument("--boxes", required=True, help="the box file (see forgetting.parse_boxes)")
    f.add_argument("--layer", type=int, default=FORGETTING_LAYER)
    f.add_argument("--neg-per-pos", type=float, default=1.0)
    f.add_argument("--out", default=None, help="write the maps JSON here")
    f.add_argument("--samples", default=None, help="also write a before/after PNG grid here")
    a = cmds.add_parser("annotate", help="write sample images and a box-file skeleton to fill in")
    a.add_argument("--generator", required=True)
    a.add_argument("--seeds", default="0-149", help="e.g. 0-149 (the paper: 150 samples)")
    a.add_argument("--out", required=True, help="folder for the PNGs and boxes.json")
    a.add_argument("--scale", type=int, default=4)
    a.add_argument("--object", default="window")
    b = cmds.add_parser("bands", help="measure the face-attribute boxes on aligned CelebA")
    _data_root(b)


ATTRIBUTES_EPOCHS, ATTRIBUTES_SEED = 30, 0  # attributes.AttributeConfig's defaults


def attributes_arguments(p: argparse.ArgumentParser) -> None:
    _data_root(p)
    p.add_argument("--epochs", type=int, default=ATTRIBUTES_EPOCHS)
    p.add_argument("--seed", type=int, default=ATTRIBUTES_SEED)
    p.add_argument("--no-export", action="store_true", help="train and evaluate only")


def strip_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", metavar="run", help="a run folder with samples/frames")
    p.add_argument("--stored", metavar="NAME", help="an artifacts/ folder with epoch grids")


def status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--write-readme", action="store_true", help="rewrite README.md's table")


def reproduce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", nargs="+", default=None, help="jobs or experiments to consider")
    _data_root(p)
    p.add_argument("--max-minutes", type=float, default=None, help="time budget for this call")
    p.add_argument(
        "--size", default="full", choices=("smoke", "full"),
        help="smoke: the same plan on tiny configs, on the CPU",
    )  # fmt: skip
    p.add_argument("--smoke", dest="size", action="store_const", const="smoke",
                   help="the same as --size smoke")  # fmt: skip
    p.add_argument("--plan", action="store_true", help="print the plan and exit")
    p.add_argument("--artifacts", default=None, help="default: artifacts/ (smoke: runs/...)")
    p.add_argument("--runs-dir", default=None, help="default: runs (smoke: runs/reproduce-smoke)")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--no-progress", action="store_true")


# ---------------------------------------------------------------------------------------------
# The table


COMMANDS: tuple[Command, ...] = (
    Command(
        "train",
        "train (or resume) a DCGAN run; paper §4 (several GPUs: torchrun --nproc-per-node N -m "
        "dcgan_lib train ...)",
        train_arguments,
        "dcgan_lib.train:run_cli",
    ),
    Command(
        "export",
        "copy a run's fp16 weights, metrics and samples into artifacts/",
        export_arguments,
        "dcgan_lib.artifacts:run_cli",
    ),
    Command(
        "strip",
        "the fixed-z samples after each epoch as one image strip (a run's frames, or a stored "
        "run's grids); paper §4",
        strip_arguments,
        "dcgan_lib.strip:run_cli",
    ),
    Command(
        "download",
        "fetch a dataset with its official downloader (needs internet)",
        download_arguments,
        "dcgan_lib.datasets:run_cli",
    ),
    Command(
        "fid",
        "FID/KID of a generator under the book's protocol (book/fid_protocol.md)",
        fid_arguments,
        "dcgan_lib.metrics:run_cli",
    ),
    Command(
        "dedup",
        "write a keep list without near-duplicates; paper §4.1.1",
        dedup_arguments,
        "dcgan_lib.studies.dedup:run_keep_list",
    ),
    Command(
        "dedup-study",
        "train / evaluate the dedup autoencoder (artifacts/dedup_ae)",
        dedup_study_arguments,
        "dcgan_lib.studies.dedup:run_cli",
    ),
    Command(
        "dedup-sweep",
        "the settings sweep behind the dedup autoencoder's open choices "
        "(artifacts/dedup_ae/sweep.json)",
        dedup_sweep_arguments,
        "dcgan_lib.studies.dedup_sweep:run_cli",
    ),
    Command(
        "features",
        "D features + L2-SVM on CIFAR-10 or SVHN; paper §5",
        features_arguments,
        "dcgan_lib.studies.features:run_cli",
    ),
    Command(
        "experiment",
        "train + FID + export one §4 experiment (resumable; repeat until 'complete')",
        experiment_arguments,
        "dcgan_lib.studies.experiments:run_cli",
    ),
    Command(
        "latent",
        "latent walks, vector arithmetic, turn vector; paper §6.1, §6.3.2",
        latent_arguments,
        "dcgan_lib.studies.latent:run_cli",
    ),
    Command(
        "guided-backprop",
        "guided backprop of D's features; paper §6.2",
        guided_backprop_arguments,
        "dcgan_lib.studies.guided_backprop:run_cli",
    ),
    Command(
        "forgetting",
        "boxes -> maps to drop -> G without them; §6.3.1",
        forgetting_arguments,
        "dcgan_lib.studies.forgetting:run_cli",
    ),
    Command(
        "attributes",
        "train the CelebA attribute classifier (the §6 judge)",
        attributes_arguments,
        "dcgan_lib.studies.attributes:run_cli",
    ),
    Command(
        "status",
        "the status table of every experiment, from artifacts/",
        status_arguments,
        "dcgan_lib.status:run_cli",
    ),
    Command(
        "reproduce",
        "every GPU job of the book in the order of what it unlocks: prints the plan (done, "
        "left, GPU minutes, what fits in one lease), then runs what is left (resumable; repeat "
        "until 'complete')",
        reproduce_arguments,
        "dcgan_lib.studies.reproduce:run_cli",
    ),
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Every command of ``COMMANDS`` as a subparser whose ``run`` default is its ``Run``."""
    for c in COMMANDS:
        p = sub.add_parser(c.name, help=c.help)
        c.arguments(p)
        p.set_defaults(run=Run(c.run))
