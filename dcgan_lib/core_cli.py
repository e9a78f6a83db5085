"""The commands of the training core: ``train``, ``export``, ``download``, ``fid``.

Each is one subparser of ``python -m dcgan_lib`` (``add_cli``) whose run function
(``set_defaults(run=...)``) calls the library's own job: ``train.train``,
``artifacts.export_run``, ``data.download``, ``metrics.evaluate_generator``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path

from dcgan_lib.artifacts import export_run, load_generator
from dcgan_lib.config import MODEL_CONFIGS, TrainConfig, get_model_config
from dcgan_lib.data import download
from dcgan_lib.device import resolve_device
from dcgan_lib.metrics import evaluate_generator
from dcgan_lib.train import train


def add_cli(sub: argparse._SubParsersAction) -> None:
    _train_parser(sub)
    e = sub.add_parser(
        "export", help="copy a run's fp16 weights, metrics and samples into artifacts/"
    )
    e.add_argument("run_dir", metavar="run", help="the run folder")
    e.add_argument("--name", required=True)
    e.set_defaults(run=run_export)
    dl = sub.add_parser(
        "download", help="fetch a dataset with its official downloader (needs internet)"
    )
    dl.add_argument("dataset", choices=["cifar10", "svhn", "celeba", "tinyimagenet"])
    dl.add_argument("--data-root", required=True)
    dl.set_defaults(run=run_download)
    f = sub.add_parser(
        "fid", help="FID/KID of a generator under the book's protocol (book/fid_protocol.md)"
    )
    f.add_argument("generator", help="an exported G.pt or a run's checkpoint.pt")
    f.add_argument("--data", default="celeba")
    f.add_argument("--data-root", default=None)
    f.add_argument(
        "--split", default="train", help="reference split (celeba: train, cifar10: test)"
    )
    f.add_argument("--n", type=int, default=10_000, help="samples and reference images (FID-10k)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--device", default="auto")
    f.add_argument("--out", default=None, help="also write the result as JSON here")
    f.set_defaults(run=run_fid)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train (or resume) a DCGAN run; paper §4 (several GPUs: torchrun --nproc-per-node "
        "N -m dcgan_lib train ...)",
    )
    d = TrainConfig()
    p.add_argument(
        "--config", default="dcgan64", choices=sorted(MODEL_CONFIGS), help="model config"
    )
    p.add_argument("--image-size", type=int, help="override the config's image size (32, 64, 128)")
    p.add_argument(
        "--data",
        default=d.data,
        help="dataset name (cifar10, svhn, lsun, celeba, tinyimagenet, imagefolder, synthetic)",
    )
    p.add_argument(
        "--data-root", default=None, help="folder holding the data (default: $DCGAN_DATA)"
    )
    p.add_argument("--split", default=d.split)
    p.add_argument(
        "--out",
        required=True,
        help="run folder; an existing checkpoint there is resumed (with the settings it holds)",
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument(
        "--max-minutes", type=float, default=None, help="time budget; checkpoints and stops"
    )
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="paper: 128")
    p.add_argument("--lr", type=float, default=d.lr, help="paper: 2e-4")
    p.add_argument("--beta1", type=float, default=d.beta1, help="paper: 0.5")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--keep-list", default=None, help="file of image names to keep (from `dedup`)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="packed-image cache (default $DCGAN_CACHE or ~/.cache/dcgan_lib)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--sample-every", type=int, default=d.sample_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument(
        "--deterministic", action="store_true", help="deterministic algorithms (exact CPU resume)"
    )
    p.add_argument(
        "--fid-every", type=int, default=None, help="FID/KID every N steps (keeps best.pt)"
    )
    p.add_argument(
        "--fid-n", type=int, default=d.fid_n, help="samples and reference images per FID"
    )
    p.add_argument("--fid-data", default=None, help="reference dataset (default: --data)")
    p.add_argument("--fid-split", default=None, help="reference split (default: --split)")
    p.add_argument(
        "--engine",
        default=d.engine,
        choices=["auto", "eager", "fast"],
        help="auto: fast on CUDA (GPU-resident data, bf16, channels_last, CUDA graph), "
        "eager fp32 elsewhere",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="fast engine: torch.compile G and D inside the captured step (off by default)",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run_train)


def run_train(a: argparse.Namespace) -> int:
    overrides = {"image_size": a.image_size} if a.image_size else {}
    given = {f.name for f in dataclasses.fields(TrainConfig)} & set(vars(a))  # same names
    cfg = TrainConfig(
        model=get_model_config(a.config, **overrides), **{k: getattr(a, k) for k in given}
    )
    result = train(cfg, progress=not a.no_progress)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports
    print(f"{result.status}: step {result.step}, epoch {result.epoch}, run folder {result.out}")
    if result.status in ("time budget", "interrupted"):
        print("resume with the same command")
    return 0


def run_fid(a: argparse.Namespace) -> int:
    device = resolve_device(a.device)
    G = load_generator(a.generator).to(device)
    result = evaluate_generator(G, a.data, a.data_root, a.split, a.n, a.seed, device)
    result["generator"] = str(a.generator)
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


def run_export(a: argparse.Namespace) -> int:
    command = " ".join(["python -m dcgan_lib", shlex.join(sys.argv[1:])])
    for p in export_run(a.run_dir, a.name, command=command):
        print(p)
    return 0


def run_download(a: argparse.Namespace) -> int:
    print(download(a.dataset, a.data_root))
    return 0
