"""pytorch/examples' dcgan as the throughput benchmark's baseline: its iteration and its data path.

What the book's speed-ups are measured against (``dcgan_lib.studies.throughput``):
``reference_step`` is the iteration of pytorch/examples' ``dcgan/main.py``, step for step (D on
real, then on detached fakes, then G; a ``.item()`` host sync for each logged value, every step),
eager fp32, cudnn.benchmark on as in that script; ``bench_reference`` times it with the data already
on the device as float; ``examples_epochs`` times whole epochs of its data path (torchvision
``ImageFolder`` with its transforms, ``DataLoader`` with worker processes) feeding that loop.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.datasets as dset
import torchvision.transforms as transforms

from dcgan_lib.config import TrainConfig
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.step import make_optimizers

LOG_EVERY = 50  # the engines read their stats this often (TrainConfig's default)


def reference_step(
    G: Generator,
    D: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    z: torch.Tensor,
) -> tuple[float, ...]:
    """pytorch/examples dcgan ``main.py``'s iteration, with its host syncs (the ``.item()`` of
    each printed value), on logits (BCE-with-logits for Sigmoid + BCELoss)."""
    D.zero_grad()
    out = D(x_real)
    err_real = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    err_real.backward()
    d_x = torch.sigmoid(out).mean().item()
    fake = G(z)
    out = D(fake.detach())
    err_fake = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out))
    err_fake.backward()
    d_g_z1 = torch.sigmoid(out).mean().item()
    err_d = err_real + err_fake
    opt_d.step()
    G.zero_grad()
    out = D(fake)
    err_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    err_g.backward()
    d_g_z2 = torch.sigmoid(out).mean().item()
    opt_g.step()
    return err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2


def sync(device: torch.device) -> None:
    """Wait for the device: a timer read after this sees every kernel finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fresh_nets(cfg: TrainConfig, device: torch.device) -> tuple[Generator, Discriminator]:
    """G and D with their initial weights from ``cfg.seed``, on ``device``."""
    torch.manual_seed(cfg.seed)
    return Generator(cfg.model).to(device), Discriminator(cfg.model).to(device)


def start_memory(device: torch.device) -> None:
    """Empty the allocator's cache and reset its peak, before a measured loop."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure(
    step: Callable[[int], None],
    n_steps: int,
    warmup: int,
    device: torch.device,
    finish: Callable[[], object] | None = None,
) -> dict:
    """Run ``warmup`` untimed steps, then time ``n_steps`` (``finish``: the engines' stats read,
    every ``LOG_EVERY`` steps and at the end, as ``train`` does); with the peak memory."""
    for i in range(warmup):
        step(i)
    if finish:
        finish()
    sync(device)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + n_steps):
        step(i)
        if finish and (i + 1) % LOG_EVERY == 0:
            finish()
    if finish:
        finish()
    sync(device)
    seconds = time.perf_counter() - t0
    peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    return {"seconds": seconds, "steps": n_steps, "peak_memory_bytes": peak}


def bench_reference(
    cfg: TrainConfig, images: np.ndarray, steps: int, warmup: int, device: torch.device
) -> dict:
    """pytorch/examples' loop: data already on the device as float, ``.item()`` every step."""
    start_memory(device)
    benchmark_was = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # pytorch/examples sets it
    G, D = fresh_nets(cfg, device)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    x_all = (
        torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
    ).contiguous()
    z_rng = torch.Generator(device=device).manual_seed(cfg.seed)
    b, n_batches = cfg.batch_size, len(images) // cfg.batch_size

    def step(i: int) -> None:
        k = i % n_batches
        z = sample_z(b, cfg.model, z_rng, device)
        reference_step(G, D, opt_g, opt_d, x_all[k * b : (k + 1) * b], z)

    try:
        return measure(step, steps, warmup, device)
    finally:
        torch.backends.cudnn.benchmark = benchmark_was


def folder_for_imagefolder(
    data: str, root: Path, tmp: Path, limit: int | None = None
) -> tuple[Path, float]:
    """A folder torchvision's ImageFolder reads (images in class subfolders), and the seconds
    spent unpacking an archive into it (0 for a folder already on disk); ``limit``: unpack only
    the archive's first images (smoke runs)."""
    if data == "celeba":
        for cand in ("celeba/img_align_celeba", "img_align_celeba"):
            if (root / cand).is_dir():
                return (root / cand).parent, 0.0
        for cand in ("celeba", "."):
            tars = sorted((root / cand).glob("celeba-align-*.tar.gz"))
            if tars:
                t0 = time.perf_counter()
                with tarfile.open(tars[0]) as tar:
                    tar.extractall(tmp / "celeba", members=_first_files(tar, limit), filter="data")
                return tmp / "celeba", time.perf_counter() - t0
        raise FileNotFoundError(f"no CelebA folder or archive under {root}")
    if data == "imagefolder":
        if any(p.is_dir() for p in root.iterdir()):
            return root, 0.0
        (tmp / "folder").mkdir()
        (tmp / "folder" / "images").symlink_to(root.resolve())
        return tmp / "folder", 0.0
    raise ValueError("--mode e2e reads --data celeba or --data imagefolder")


def _first_files(tar: tarfile.TarFile, limit: int | None) -> list[tarfile.TarInfo] | None:
    """The archive's first ``limit`` files (None: every member), read no further than them."""
    if limit is None:
        return None
    files = []
    for member in tar:
        if member.isfile():
            files.append(member)
            if len(files) == limit:
                break
    return files


def examples_epochs(
    cfg: TrainConfig,
    folder: Path,
    device: torch.device,
    epochs: int,
    workers: int,
    limit: int | None = None,
) -> dict:
    """pytorch/examples: ImageFolder + DataLoader(num_workers) + its loop, ``epochs`` epochs
    (``limit``: over the folder's first images only, smoke runs)."""
    m = cfg.model
    dataset = dset.ImageFolder(
        root=str(folder),
        transform=transforms.Compose(
            [
                transforms.Resize(m.image_size),
                transforms.CenterCrop(m.image_size),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        ),
    )
    if limit is not None:
        dataset = torch.utils.data.Subset(dataset, range(min(limit, len(dataset))))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers
    )
    G, D = fresh_nets(cfg, device)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    benchmark_was = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    seen = 0
    sync(device)
    t0 = time.perf_counter()
    try:
        for _ in range(epochs):
            for x, _ in loader:
                x = x.to(device)
                z = sample_z(len(x), m, device=device)
                reference_step(G, D, opt_g, opt_d, x, z)
                seen += len(x)
        sync(device)
    finally:
        torch.backends.cudnn.benchmark = benchmark_was
    base_s = time.perf_counter() - t0
    return {
        "epoch_s": base_s,
        "epochs": epochs,
        "images": seen,
        "img_per_s": seen / base_s,
        "num_workers": workers,
    }
