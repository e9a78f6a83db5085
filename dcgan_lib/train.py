"""The training loop (paper §4): one entry point for the CLI, the notebooks and the tests.

Per iteration, the standard GAN algorithm with the paper's settings (Adam 2e-4, beta1 0.5,
minibatch 128, z uniform): one D step on a real and a generated batch (each its own BatchNorm
batch), then one G step on the same z with the non-saturating loss -log D(G(z)).

A run folder holds everything: ``checkpoint.pt`` (the full state, written atomically),
``metrics.jsonl`` (one JSON line every ``log_every`` steps), ``samples/`` (a grid from a fixed z),
``run.json`` (config and status) and ``skipped_images.txt`` when the data had unreadable files.
Running the same command again resumes exactly where the last checkpoint left off. A resume keeps
the settings that define the run (``config.RESUME_KEEPS``: model, data, batch size, lr, betas,
seed, ...) and the same images, or is refused; the settings it may change (``RESUME_MAY_CHANGE``:
epochs, time budget, engine, ...) are recorded in ``run.json`` and the next metrics line. A refused
start leaves no run folder behind.

Two engines run the same ``train_step``: ``eager`` (fp32, batches gathered on the host, the
reference) and ``fast`` (``dcgan_lib.engine``: data resident on the GPU as uint8, bf16 autocast,
channels_last, fused Adam, the whole iteration replayed as one CUDA graph). ``engine="auto"``
picks fast on CUDA and eager elsewhere. Under ``torchrun`` the run is data-parallel
(``dcgan_lib.distributed``): the global batch stays 128, rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib import distributed
from dcgan_lib.config import ConfigError, TrainConfig
from dcgan_lib.data import DataError, Packed, epoch_order, load_dataset, read_keep_list, to_float
from dcgan_lib.models import Discriminator, Generator, generate, sample_z

CHECKPOINT_FORMAT = 1
# Sample diversity (mean per-pixel std over the fixed-z grid, in [-1, 1] units) below which a
# collapse warning is logged; real CelebA / CIFAR-10 / Tiny ImageNet batches measure about 0.5.
# Not before step 100: an untrained G sampled with its initial running statistics measures ~0.002.
COLLAPSE_DIVERSITY = 0.05
COLLAPSE_MIN_STEP = 100
IN_MEMORY_BYTES = 8 * 2**30
SKIPPED_SHOWN = 50  # unreadable files listed in a too-few-images error


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/Inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    out: Path
    step: int
    epoch: int
    status: str  # "done", "time budget", "max steps", "interrupted"


# ---------------------------------------------------------------------------------------------
# The algorithm


def d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), from logits. Paper: §4 (Goodfellow et al. 2014)."""
    return F.binary_cross_entropy_with_logits(
        logits_real, torch.ones_like(logits_real)
    ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))


def g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)), from logits."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "d_acc_real", "d_acc_fake")


def train_step(
    G: Generator,
    D: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    z: torch.Tensor,
    amp: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    reduce_grads: Callable[[nn.Module], None] | None = None,
) -> torch.Tensor:
    """One D update then one G update: x_real (B, nc, S, S) in [-1, 1], z (B, nz).

    Returns the detached stats named by ``STAT_NAMES``: [loss_d, loss_g, D(x), D(G(z)), the
    fraction of real images with D(x) > 0.5, the fraction of fakes with D(G(z)) < 0.5] (a
    probability above one half is a positive logit). ``amp`` wraps the forward passes (the fast
    engine's bf16 autocast); ``reduce_grads`` averages a net's gradients over data-parallel ranks
    before its optimizer step. Both engines and every rank run this one function. Paper: §4.
    """
    with amp():
        x_fake = G(z)
        logits_real = D(x_real).float()
        logits_fake = D(x_fake.detach()).float()
        loss_d = d_loss(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    if reduce_grads is not None:
        reduce_grads(D)
    opt_d.step()

    with amp():
        logits_gen = D(x_fake).float()  # D after its update, as in the standard algorithm
        loss_g = g_loss(logits_gen)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    if reduce_grads is not None:
        reduce_grads(G)
    opt_g.step()
    return torch.stack(
        [
            loss_d,
            loss_g,
            torch.sigmoid(logits_real).mean(),
            torch.sigmoid(logits_fake).mean(),
            (logits_real > 0).float().mean(),
            (logits_fake < 0).float().mean(),
        ]
    ).detach()


def make_optimizers(
    G: Generator, D: Discriminator, cfg: TrainConfig, fused: bool | None = None, capturable=False
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each net. ``fused``/``capturable``: the fast engine's kernels (same update rule)."""
    betas = (cfg.beta1, cfg.beta2)  # paper §4: beta1 0.5 ("0.9 ... instability")
    kw = {"fused": fused, "capturable": capturable}
    return torch.optim.Adam(G.parameters(), cfg.lr, betas, **kw), torch.optim.Adam(
        D.parameters(), cfg.lr, betas, **kw
    )


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """Load Adam state written by either engine into ``opt``, keeping ``opt``'s own kernel flags.

    ``Optimizer.load_state_dict`` would also copy the writer's ``fused``/``capturable`` flags;
    here they stay this optimizer's, the step counter goes where its kernels want it (on the
    parameter's device for fused/capturable Adam, else on the CPU), and the moment estimates
    take their parameter's memory format (channels_last under the fast engine).
    """
    flags = {k: opt.param_groups[0].get(k) for k in ("fused", "capturable", "foreach")}
    opt.load_state_dict(state)
    on_device = bool(flags["fused"] or flags["capturable"])
    for group in opt.param_groups:
        group.update(flags)
        for p in group["params"]:
            st = opt.state.get(p)
            if not st:
                continue
            if torch.is_tensor(st.get("step")):
                st["step"] = st["step"].to(
                    device=p.device if on_device else "cpu", dtype=torch.float32
                )
            for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                if key in st:
                    st[key] = torch.empty_like(p).copy_(st[key])


class WindowStats:
    """``train_step``'s stats summed on the device between two log lines: no host sync per step.

    Also remembers, on the device, the first step of the window whose stats were NaN or Inf.
    """

    def __init__(self, device: torch.device) -> None:
        self.sum = torch.zeros(len(STAT_NAMES), device=device)
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.bad = torch.full((), -1, dtype=torch.long, device=device)

    def add(self, stats: torch.Tensor) -> None:
        """In-place device ops only (the fast engine records them inside its CUDA graph)."""
        self.count += 1
        first_bad = (self.bad < 0) & ~torch.isfinite(stats).all()
        self.bad.copy_(torch.where(first_bad, self.count, self.bad))
        self.sum += stats

    def read(self, dist: distributed.Dist) -> tuple[list[float], int]:
        """(mean stats over the window and over ranks, 1-based index in the window of the first
        non-finite step or -1); one host sync, then the window starts again."""
        mean = self.sum / self.count.clamp(min=1)
        bad = self.bad.clone()
        if dist.enabled:
            mean = distributed.mean_across(mean)
            bad = distributed.max_across(bad)
        values = torch.cat([mean, bad.float().view(1)]).tolist()
        self.sum.zero_()
        self.count.zero_()
        self.bad.fill_(-1)
        return values[:-1], int(values[-1])


class _EagerRunner:
    """The reference engine: fp32, batches gathered on the host and copied, ``train_step``."""

    name = "eager"

    def __init__(
        self,
        G: Generator,
        D: Discriminator,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        cfg: TrainConfig,
        data: Packed,
        device: torch.device,
        z_rng: torch.Generator,
        dist: distributed.Dist,
    ) -> None:
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.cfg, self.data, self.device, self.z_rng, self.dist = cfg, data, device, z_rng, dist
        self.rows = dist.batch_slice(cfg.batch_size)  # this rank's part of the global batch
        # sets that fit in memory are read once; larger ones (LSUN) stay memory-mapped
        self.images = (
            torch.from_numpy(np.array(data.images))
            if data.images.nbytes < IN_MEMORY_BYTES
            else None
        )
        self.window = WindowStats(device)
        self.options: dict = {}

    def set_epoch(self, order: torch.Tensor) -> None:
        self.order = order

    def step(self, it: int) -> None:
        b = self.cfg.batch_size
        idx = self.order[it * b : (it + 1) * b][self.rows]
        batch = (
            self.images[idx]
            if self.images is not None
            else torch.from_numpy(self.data.images[np.sort(idx.numpy())])
        )
        x_real = to_float(batch.to(self.device, non_blocking=True))
        z = sample_z(b, self.cfg.model, self.z_rng, self.device)[self.rows]  # the global z
        kw = {"reduce_grads": self.dist.average_gradients} if self.dist.enabled else {}
        stats = train_step(self.G, self.D, self.opt_g, self.opt_d, x_real, z, **kw)
        self.window.add(stats)

    def read_window(self) -> tuple[list[float], int]:
        return self.window.read(self.dist)

    def close(self) -> None:
        pass


def resolve_engine(name: str, device: torch.device) -> str:
    """The engine ``train`` runs: ``auto`` is ``fast`` on CUDA and ``eager`` elsewhere."""
    if name == "auto":
        return "fast" if device.type == "cuda" else "eager"
    return name


# ---------------------------------------------------------------------------------------------
# Checkpoints


def atomic_write(path: Path, write) -> None:
    """Write via a temp file in the same folder, fsync, rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint as a dict of CPU tensors, whatever device wrote it."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ConfigError(
            f"{path} is not a readable checkpoint ({type(e).__name__}: {e}). "
            "Delete it to start over, or restore a backup."
        ) from e
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt is None:
        raise ConfigError(f"{path} is not a dcgan_lib checkpoint (no 'format' field)")
    if fmt > CHECKPOINT_FORMAT:
        raise ConfigError(
            f"{path} has checkpoint format {fmt}, newer than this dcgan_lib "
            f"({CHECKPOINT_FORMAT}); upgrade dcgan_lib to read it"
        )
    return ckpt


def weights_finite(*modules: torch.nn.Module) -> bool:
    return all(
        bool(torch.isfinite(p).all())
        for m in modules
        for p in m.state_dict().values()
        if p.is_floating_point()
    )


# ---------------------------------------------------------------------------------------------
# The run


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} asked for, but CUDA is not available here; use --device cpu"
        )
    return torch.device(name)


def _prepare_data(cfg: TrainConfig, data: Packed | None, progress: bool) -> Packed:
    """The run's images, checked to fit the model and to hold one batch.

    The loader's warnings (skipped files) are held back until the data passes: a set made too
    small by unreadable files is reported as one error that lists them."""
    caught: list[warnings.WarningMessage] = []
    if data is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = load_dataset(
                cfg.data,
                cfg.data_root,
                cfg.split,
                cfg.model.image_size,
                cfg.cache_dir,
                cfg.limit,
                progress=progress,
            )
    if data.images.shape[1:] != (cfg.model.image_size, cfg.model.image_size, cfg.model.nc):
        raise DataError(
            f"data of shape {data.images.shape[1:]} does not fit model config "
            f"{cfg.model.name!r} ({cfg.model.image_size}px, {cfg.model.nc} channels)"
        )
    skipped = data.skipped
    if cfg.keep_list:
        data = data.subset(read_keep_list(cfg.keep_list, data))
    if len(data) < cfg.batch_size:
        raise DataError(_too_few_images(len(data), cfg.batch_size, skipped))
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return data


def _too_few_images(n: int, batch_size: int, skipped: list[tuple[str, str]]) -> str:
    """The error for a set smaller than a batch: one line, then the unreadable files, if any."""
    if not skipped:
        return (
            f"the dataset has {n} images, fewer than one batch of {batch_size}; "
            "lower --batch-size or add images"
        )
    shown = [f"  {name}: {why}" for name, why in skipped[:SKIPPED_SHOWN]]
    if len(skipped) > SKIPPED_SHOWN:
        shown.append(f"  ... and {len(skipped) - SKIPPED_SHOWN} more")
    return "\n".join(
        [
            f"the dataset has {n} usable images, fewer than one batch of {batch_size}: "
            f"{len(skipped)} files were unreadable and skipped (listed below); repair or "
            "replace them, add images, or lower --batch-size",
            *shown,
        ]
    )


def _data_identity(data: Packed) -> dict:
    """What a resume checks to be training on the same images: their number and names."""
    digest = hashlib.sha256()
    for name in data.names:
        digest.update(name.encode() + b"\n")
    return {"n_images": len(data), "names_sha256": digest.hexdigest()}


def _device_label(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def _samples_logged(diag_path: Path, step: int, name: str) -> bool:
    """Whether diagnostics.jsonl already has the line of grid ``name`` at ``step``."""
    return diag_path.exists() and any(
        r.get("step") == step and r.get("samples") == name for r in read_metrics(diag_path)
    )


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    text, kept = path.read_text(), []
    for line in text.splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line + "\n")
        except (ValueError, KeyError):
            continue  # a line cut by a kill: drop it
    if "".join(kept) != text:  # else the file stays as it is
        atomic_write(path, lambda f: f.write("".join(kept).encode()))


def train(cfg: TrainConfig, data: Packed | None = None, progress: bool = True) -> TrainResult:
    """Train (or resume) the run in ``cfg.out``. Paper: §4.

    Stops cleanly, with a checkpoint, at the end of the last epoch, at ``max_steps``, when
    ``max_minutes`` run out, or on SIGINT/SIGTERM; run the same call again to resume. Launched by
    ``torchrun`` (``WORLD_SIZE`` > 1), every rank calls this and trains its slice of each batch;
    only rank 0 writes, and a stop takes effect on every rank at the next log step.
    """
    dist, device_name = distributed.from_env(cfg.device)
    try:
        device = resolve_device(device_name)
        dist.check_batch(cfg.batch_size)
        return _train_locked(cfg, data, progress, device, dist)
    finally:
        dist.shutdown()


def _train_locked(
    cfg: TrainConfig,
    data: Packed | None,
    progress: bool,
    device: torch.device,
    dist: distributed.Dist,
) -> TrainResult:
    out = Path(cfg.out)
    started = time.monotonic()
    lock, made = None, []
    if dist.is_main:
        lock, made = _claim_run_folder(out)
    dist.barrier()  # the other ranks read the folder only once rank 0 holds it
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(cfg.deterministic or was_deterministic)
    try:
        return _train(cfg, data, progress, out, device, started, dist)
    except BaseException:
        if lock is not None and not (out / "run.json").exists():
            lock.close()  # a refused start (bad data, bad settings): leave nothing behind
            lock = None
            _remove_made(made)
        raise
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        if lock is not None:
            lock.close()


def _claim_run_folder(out: Path) -> tuple[IO, list[Path]]:
    """Create the run folder if needed and hold its lock for the whole run.

    Returns the open lock file and the paths this call created (folders from the outermost, then
    ``samples/`` and ``.lock``), so that a refused start can remove them again."""
    made, p = [], out
    while not p.exists():
        made.insert(0, p)
        p = p.parent
    out.mkdir(parents=True, exist_ok=True)
    for path, is_dir in ((out / "samples", True), (out / ".lock", False)):
        if not path.exists():
            made.append(path)
        if is_dir:
            path.mkdir(exist_ok=True)
    lock = open(out / ".lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ConfigError(
            f"another training process is using the run folder {out}; wait for it, stop "
            "it, or pass another --out"
        ) from None
    for stale in [*out.glob(".*.tmp"), *(out / "samples").glob(".*.tmp")]:
        stale.unlink(missing_ok=True)  # left by a process killed mid-write; never read
    return lock, made


def _remove_made(made: list[Path]) -> None:
    """Remove the paths a refused start created, innermost first; a folder something else has
    written into since is kept."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()


def _train(
    cfg: TrainConfig,
    data: Packed | None,
    progress: bool,
    out: Path,
    device: torch.device,
    started: float,
    dist: distributed.Dist | None = None,
) -> TrainResult:
    dist = dist or distributed.Dist()
    main = dist.is_main  # rank 0 alone writes files
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    diag_path = out / "diagnostics.jsonl"
    fid_path = out / "fid.jsonl"
    engine_name = resolve_engine(cfg.engine, device)
    torch.manual_seed(cfg.seed)  # weight init, the same on every rank
    G, D = Generator(cfg.model), Discriminator(cfg.model)
    if cfg.sync_bn and dist.enabled:
        G, D = distributed.convert_sync_batchnorm(G), distributed.convert_sync_batchnorm(D)
    G, D = G.to(device), D.to(device)
    options = None
    if engine_name == "fast":
        from dcgan_lib import engine

        options = engine.FastOptions.for_device(device, dist.world_size)
        if cfg.compile:
            options = dataclasses.replace(options, compile=True)
        G, D = options.prepare(G), options.prepare(D)
        opt_g, opt_d = make_optimizers(G, D, cfg, **options.adam_kwargs())
    else:
        opt_g, opt_d = make_optimizers(G, D, cfg)
        if cfg.compile:
            warnings.warn("compile applies to the fast engine only; training eagerly", stacklevel=2)
    z_rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    fixed_z = sample_z(cfg.n_samples, cfg.model, torch.Generator().manual_seed(cfg.seed + 2))
    step, epoch, it = 0, 0, 0
    best_fid = math.inf
    ran_on = {"engine": engine_name, "device": _device_label(device), "world_size": dist.world_size}
    # settings changed by resumes: every one in run.json ("resumes"); those not yet in a metrics
    # line wait in the checkpoint and go into the next line logged (its "resumed" field)
    history: list[dict] = []
    notes_to_log: list[dict] = []
    resumed, changed, saved_data = False, {}, None

    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        saved = TrainConfig.from_dict(ckpt["config"])
        conflicts = cfg.resume_conflicts(saved)
        if conflicts:
            raise ConfigError(
                f"{ckpt_path} holds a run started with other settings ({'; '.join(conflicts)}). "
                "A resumed run keeps its settings: pass the same values to resume it, or "
                "another --out to start a new run."
            )
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        load_optimizer_state(opt_g, ckpt["opt_g"])  # either engine's checkpoint
        load_optimizer_state(opt_d, ckpt["opt_d"])
        try:
            z_rng.set_state(ckpt["z_rng"])
        except RuntimeError:  # a CUDA generator's state on a CPU machine, or the reverse
            z_rng.manual_seed(cfg.seed + 1 + ckpt["step"])
            warnings.warn(
                "the checkpoint's noise generator comes from another device type; "
                "the z stream continues from a new seed (training resumes, not bit-exact)",
                stacklevel=2,
            )
        step, epoch, it = ckpt["step"], ckpt["epoch"], ckpt["it"]
        best_fid = ckpt.get("best_fid", math.inf)
        resumed, saved_data = True, ckpt.get("data")
        history, notes_to_log = list(ckpt.get("history", [])), list(ckpt.get("notes_to_log", []))
        changed = cfg.resume_changes(saved) | {
            k: {"from": ckpt[k], "to": v} for k, v in ran_on.items() if ckpt.get(k, v) != v
        }
        if changed:
            note = {"step": step, "changed": changed}
            history.append(note)
            notes_to_log.append(note)
    data = _prepare_data(cfg, data, progress and main)
    data_id = _data_identity(data)
    if saved_data is not None and saved_data != data_id:
        raise DataError(
            f"{ckpt_path} holds a run trained on {saved_data['n_images']} images, and the data "
            f"found now has {data_id['n_images']}"
            + (" with other names" if saved_data["n_images"] == data_id["n_images"] else "")
            + ". A resumed run keeps its images: point --data-root at the run's data, or pass "
            "another --out to start a new run."
        )
    start_step = step
    if main:
        # lines logged after the checkpoint (or, with none, by a run killed before its first
        # one) are dropped: those steps are redone and logged again
        _truncate_metrics(metrics_path, step)
        _truncate_metrics(diag_path, step)
        _truncate_metrics(fid_path, step)
        if data.skipped:
            (out / "skipped_images.txt").write_text(
                "".join(f"{name}\t{why}\n" for name, why in data.skipped)
            )

    steps_per_epoch = len(data) // cfg.batch_size  # drop_last: every batch has 128 images
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    if engine_name == "fast":
        runner = engine.FastRunner(
            G, D, opt_g, opt_d, cfg, data.images, device, z_rng, options, dist
        )
    else:
        runner = _EagerRunner(G, D, opt_g, opt_d, cfg, data, device, z_rng, dist)
    run_info = {
        "config": cfg.to_dict(),
        "data": {k: v for k, v in data.meta.items() if k != "skipped"},
        "n_images": len(data),
        "steps_per_epoch": steps_per_epoch,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "engine": engine_name,
        "engine_options": runner.options,
        "world_size": dist.world_size,
        "status": "running",
        "torch": torch.__version__,
        "resumes": history,  # each resume that changed a setting: {"step", "changed": {...}}
    }

    def write_run_info() -> None:
        if main:
            blob = json.dumps(run_info, indent=1).encode()
            atomic_write(out / "run.json", lambda f: f.write(blob))

    write_run_info()

    def sync_buffers() -> None:
        # without SyncBN each rank's BatchNorm running statistics differ: samples and
        # checkpoints use their average (a collective: every rank calls this at the same steps)
        if dist.enabled and not cfg.sync_bn:
            dist.average_buffers(G)
            dist.average_buffers(D)

    def save_checkpoint() -> None:
        sync_buffers()
        if not weights_finite(G, D):
            raise TrainingDiverged(
                f"non-finite weights at step {step}; kept the last good checkpoint {ckpt_path}"
            )
        if not main:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": cfg.to_dict(),
            "G": G.state_dict(),
            "D": D.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "step": step,
            "epoch": epoch,
            "it": it,
            "z_rng": z_rng.get_state(),
            "fixed_z": fixed_z,
            "best_fid": best_fid,
            **ran_on,  # engine, device, world_size
            "data": data_id,
            "history": history,
            "notes_to_log": notes_to_log,
        }
        atomic_write(ckpt_path, lambda f: torch.save(state, f))

    def save_samples(name: str) -> None:
        import torchvision.utils as vutils

        sync_buffers()
        if not main or _samples_logged(diag_path, step, name):
            return  # written before (a finished run started again): once is enough
        x = generate(G, fixed_z)
        grid = vutils.make_grid(
            x, nrow=int(math.sqrt(len(x))) or 1, normalize=True, value_range=(-1, 1)
        )
        atomic_write(
            out / "samples" / f"{name}.png", lambda f: vutils.save_image(grid, f, format="png")
        )
        diversity = sample_diversity(x)
        diag = {
            "step": step,
            "samples": name,
            "sample_diversity": diversity,
            "collapse_warning": diversity < COLLAPSE_DIVERSITY and step >= COLLAPSE_MIN_STEP,
        }
        with open(diag_path, "a") as f:  # after the grid: a line means its grid is written
            f.write(json.dumps(diag) + "\n")
        if diag["collapse_warning"]:
            warnings.warn(
                f"possible mode collapse at step {step}: samples from the fixed z have "
                f"diversity {diversity:.4f} < {COLLAPSE_DIVERSITY} (see {diag_path})",
                stacklevel=2,
            )

    fid_tracker = _FidTracker(cfg, out, device, progress) if cfg.fid_every and main else None
    stop = {"signal": None}

    def on_signal(signum, _frame):  # checkpoint at the next step boundary, then exit
        stop["signal"] = signal.Signals(signum).name

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            handlers[s] = signal.signal(s, on_signal)

    status = "done"
    window_steps, window_t0 = 0, time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc=f"train {cfg.model.name}",
        unit="step",
        disable=not (progress and main),
    )
    try:
        while step < total_steps:
            runner.set_epoch(epoch_order(len(data), epoch, cfg.seed))
            while it < steps_per_epoch and step < total_steps:
                runner.step(it)  # stats stay on the device: no host sync per step
                window_steps += 1
                step, it = step + 1, it + 1
                bar.update(1)

                logged = step % cfg.log_every == 0 or step == total_steps
                if logged:
                    mean, bad = runner.read_window()
                    elapsed = time.perf_counter() - window_t0
                    if bad >= 0:
                        raise TrainingDiverged(
                            f"a loss became NaN or Inf at step {step - window_steps + bad}; "
                            f"stopped at step {step}. The last good checkpoint ({ckpt_path}) is "
                            "kept; lower --lr, check the data, or resume from it with another seed."
                        )
                    row = {
                        "step": step,
                        "epoch": epoch + it / steps_per_epoch,
                        **dict(zip(STAT_NAMES, mean, strict=True)),
                        "img_per_s": window_steps * cfg.batch_size / max(elapsed, 1e-9),
                        "time": time.monotonic() - started,
                    }
                    if notes_to_log:  # settings changed by the resume(s) before this line
                        row["resumed"] = notes_to_log
                        notes_to_log = []
                    if main:
                        with open(metrics_path, "a") as f:
                            f.write(json.dumps(row) + "\n")
                    bar.set_postfix(loss_d=f"{mean[0]:.3f}", loss_g=f"{mean[1]:.3f}")
                    window_steps, window_t0 = 0, time.perf_counter()
                if step % cfg.sample_every == 0:
                    save_samples(f"step_{step:07d}")
                if cfg.fid_every and step % cfg.fid_every == 0:
                    sync_buffers()
                    if fid_tracker is not None:
                        best_fid = fid_tracker.evaluate(G, D, step, best_fid)
                if step % cfg.checkpoint_every == 0:
                    save_checkpoint()
                over_time = (
                    cfg.max_minutes is not None
                    and time.monotonic() - started > cfg.max_minutes * 60
                )
                reason = "interrupted" if stop["signal"] else "time budget" if over_time else None
                if dist.enabled:  # the ranks agree on stopping, at log steps only
                    reason = dist.agree_stop(reason) if logged else None
                if reason:
                    status = reason
                    break
            if status != "done":
                break
            if it >= steps_per_epoch:  # an epoch is complete
                epoch, it = epoch + 1, 0
                if epoch in cfg.sample_epochs:
                    save_samples(f"epoch_{epoch:03d}")
        if status == "done" and step >= total_steps and step < cfg.epochs * steps_per_epoch:
            status = "max steps"
        if step > start_step or not resumed or changed:  # else the checkpoint holds this state
            save_checkpoint()
        save_samples("final")
    except TrainingDiverged:
        status = "diverged"
        raise
    finally:
        runner.close()
        bar.close()
        for s, h in handlers.items():
            signal.signal(s, h)
        run_info.update(status=status, step=step, epoch=epoch)
        write_run_info()
    return TrainResult(out, step, epoch, status)


class _FidTracker:
    """FID/KID of G during training (../shared/FID.md): reference statistics computed once and
    stored in the run folder, a line in fid.jsonl per evaluation, the best weights in best.pt.

    With ``cfg.fid_selection`` the reference is the selection half of the split
    (``metrics.reference_indices(..., "select")``): best.pt is then chosen on images that the
    reported FIDs of the reporting half never see."""

    def __init__(self, cfg: TrainConfig, out: Path, device: torch.device, progress: bool) -> None:
        from dcgan_lib import metrics as M

        self.cfg, self.out, self.device, self.progress = cfg, out, device, progress
        data, split = cfg.fid_data or cfg.data, cfg.fid_split or cfg.split
        part = "select" if cfg.fid_selection else "all"
        self.net = M.feature_network(cfg.fid_network).to(device)
        ref_path = out / "fid_reference.pt"
        if ref_path.exists():
            saved = torch.load(ref_path, map_location="cpu", weights_only=True)
            same = (saved.get("part", "all"), saved.get("network", "inception")) == (
                part,
                cfg.fid_network,
            )
            if same and "sum" in saved:  # files from before the statistics were stored: redo
                self.n, self.protocol = len(saved["features"]), saved["protocol"]
                self.images = saved.get("reference_images")
                self.real = M.ReferenceStats(saved["features"], saved["sum"], saved["cov_sum"])
                return
        ref = load_dataset(
            data, cfg.data_root, split, cfg.model.image_size, cfg.cache_dir, progress=progress
        )
        idx = M.reference_indices(len(ref), cfg.fid_n, part)
        if part == "all" and len(ref) < cfg.fid_n:
            raise DataError(
                f"the FID reference {data}/{split} has {len(ref)} images, fewer than fid_n={cfg.fid_n}"
            )
        self.n = len(idx)
        self.protocol = M.protocol_name(self.n, M.reference_name(data, split, part))
        self.images = M.reference_description(len(ref), self.n, part)
        feats = M.inception_features(ref.images[idx], self.net, device, progress=progress)
        self.real = M.ReferenceStats.from_features(feats, device)
        blob = {
            "protocol": self.protocol,
            "reference_images": self.images,
            "part": part,
            "network": cfg.fid_network,
            "features": self.real.features,
            "sum": self.real.sum,
            "cov_sum": self.real.cov_sum,
        }
        atomic_write(ref_path, lambda f: torch.save(blob, f))

    def evaluate(self, G: Generator, D: Discriminator, step: int, best: float) -> float:
        from dcgan_lib.metrics import fid_kid, generator_features

        fake = generator_features(
            G, self.n, seed=self.cfg.seed + 3, net=self.net, device=self.device, progress=False
        )
        row = {
            "step": step,
            "protocol": self.protocol,
            "reference_images": self.images,
            "sampling": "BatchNorm eval mode (running statistics)",
            **fid_kid(self.real, fake, device=self.device),
        }
        row["best"] = row["fid"] < best
        with open(self.out / "fid.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        tqdm.write(
            f"step {step}: {self.protocol} = {row['fid']:.2f}" + (" (best)" if row["best"] else "")
        )
        if not row["best"]:
            return best
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),
            "G": G.state_dict(),
            "D": D.state_dict(),
            "step": step,
            "fid": row["fid"],
            "protocol": self.protocol,
        }
        atomic_write(self.out / "best.pt", lambda f: torch.save(state, f))
        return row["fid"]


def sample_diversity(x: torch.Tensor) -> float:
    """Mean over pixels of the std across samples: about 0 when every z gives the same image."""
    return float(x.float().flatten(1).std(0).mean()) if len(x) > 1 else 0.0


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a metrics.jsonl file (a line cut by a kill is ignored)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows
