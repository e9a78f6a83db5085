"""The training loop (paper §4): one entry point for the CLI, the notebooks and the tests.

Per iteration, the standard GAN algorithm with the paper's settings (Adam 2e-4, beta1 0.5,
minibatch 128, z uniform): one D step on a real and a generated batch (each its own BatchNorm
batch), then one G step on the same z with the non-saturating loss -log D(G(z)).

A run folder holds everything: ``checkpoint.pt`` (the full state, written atomically),
``metrics.jsonl`` (one JSON line every ``log_every`` steps), ``samples/`` (a grid from a fixed z),
``run.json`` (config and status) and ``skipped_images.txt`` when the data had unreadable files.
Running the same command again resumes exactly where the last checkpoint left off.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

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


def train_step(
    G: Generator,
    D: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    z: torch.Tensor,
) -> torch.Tensor:
    """One D update then one G update. Returns [loss_d, loss_g, D(x), D(G(z))] (detached)."""
    x_fake = G(z)
    logits_real = D(x_real)
    logits_fake = D(x_fake.detach())
    loss_d = d_loss(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    logits_gen = D(x_fake)  # D after its update, as in the standard algorithm
    loss_g = g_loss(logits_gen)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return torch.stack(
        [loss_d, loss_g, torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean()]
    ).detach()


def make_optimizers(
    G: Generator, D: Discriminator, cfg: TrainConfig
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    betas = (cfg.beta1, cfg.beta2)  # paper §4: beta1 0.5 ("0.9 ... instability")
    return torch.optim.Adam(G.parameters(), cfg.lr, betas), torch.optim.Adam(
        D.parameters(), cfg.lr, betas
    )


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


def _prepare_data(cfg: TrainConfig, out: Path, data: Packed | None, progress: bool) -> Packed:
    if data is None:
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
    if data.skipped:
        (out / "skipped_images.txt").write_text(
            "".join(f"{name}\t{why}\n" for name, why in data.skipped)
        )
    if cfg.keep_list:
        data = data.subset(read_keep_list(cfg.keep_list, data))
    if len(data) < cfg.batch_size:
        raise DataError(
            f"the dataset has {len(data)} images, fewer than one batch of "
            f"{cfg.batch_size}; lower --batch-size or add images"
        )
    return data


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line + "\n")
        except (ValueError, KeyError):
            continue  # a line cut by a kill: drop it
    atomic_write(path, lambda f: f.write("".join(kept).encode()))


def train(cfg: TrainConfig, data: Packed | None = None, progress: bool = True) -> TrainResult:
    """Train (or resume) the run in ``cfg.out``. Paper: §4.

    Stops cleanly, with a checkpoint, at the end of the last epoch, at ``max_steps``, when
    ``max_minutes`` run out, or on SIGINT/SIGTERM; run the same call again to resume.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    device = resolve_device(cfg.device)
    started = time.monotonic()

    lock = open(out / ".lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ConfigError(
            f"another training process is using the run folder {out}; wait for it, stop it, "
            "or pass another --out"
        ) from None
    for stale in out.glob(".*.tmp"):  # left by a process killed mid-write; never read
        stale.unlink(missing_ok=True)
    for stale in (out / "samples").glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(cfg.deterministic or was_deterministic)
    try:
        return _train(cfg, data, progress, out, device, started)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        lock.close()


def _train(
    cfg: TrainConfig,
    data: Packed | None,
    progress: bool,
    out: Path,
    device: torch.device,
    started: float,
) -> TrainResult:
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    diag_path = out / "diagnostics.jsonl"
    fid_path = out / "fid.jsonl"
    torch.manual_seed(cfg.seed)  # weight init
    G, D = Generator(cfg.model).to(device), Discriminator(cfg.model).to(device)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    z_rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    fixed_z = sample_z(cfg.n_samples, cfg.model, torch.Generator().manual_seed(cfg.seed + 2))
    step, epoch, it = 0, 0, 0
    best_fid = math.inf

    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        saved = TrainConfig.from_dict(ckpt["config"])
        if saved.model != cfg.model:
            raise ConfigError(
                f"{ckpt_path} holds a run of model config {saved.model.name!r} "
                f"({saved.model}), not {cfg.model.name!r}. Use another --out, or the same config."
            )
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
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
    # lines logged after the checkpoint (or, with none, by a run killed before its first one)
    # are dropped: those steps are redone and logged again
    _truncate_metrics(metrics_path, step)
    _truncate_metrics(diag_path, step)
    _truncate_metrics(fid_path, step)
    data = _prepare_data(cfg, out, data, progress)

    steps_per_epoch = len(data) // cfg.batch_size  # drop_last: every batch has 128 images
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    run_info = {
        "config": cfg.to_dict(),
        "data": {k: v for k, v in data.meta.items() if k != "skipped"},
        "n_images": len(data),
        "steps_per_epoch": steps_per_epoch,
        "device": str(device),
        "status": "running",
        "torch": torch.__version__,
    }
    atomic_write(out / "run.json", lambda f: f.write(json.dumps(run_info, indent=1).encode()))

    def save_checkpoint() -> None:
        if not weights_finite(G, D):
            raise TrainingDiverged(
                f"non-finite weights at step {step}; kept the last good checkpoint {ckpt_path}"
            )
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
        }
        atomic_write(ckpt_path, lambda f: torch.save(state, f))

    def save_samples(name: str) -> None:
        import torchvision.utils as vutils

        x = generate(G, fixed_z)
        diversity = sample_diversity(x)
        diag = {
            "step": step,
            "samples": name,
            "sample_diversity": diversity,
            "collapse_warning": diversity < COLLAPSE_DIVERSITY and step >= COLLAPSE_MIN_STEP,
        }
        with open(diag_path, "a") as f:
            f.write(json.dumps(diag) + "\n")
        if diag["collapse_warning"]:
            msg = (
                f"possible mode collapse at step {step}: samples from the fixed z have "
                f"diversity {diversity:.4f} < {COLLAPSE_DIVERSITY} (see {diag_path})"
            )
            tqdm.write("warning: " + msg)
            warnings.warn(msg, stacklevel=2)
        grid = vutils.make_grid(
            x, nrow=int(math.sqrt(len(x))) or 1, normalize=True, value_range=(-1, 1)
        )
        atomic_write(
            out / "samples" / f"{name}.png", lambda f: vutils.save_image(grid, f, format="png")
        )

    fid_tracker = _FidTracker(cfg, out, device, progress) if cfg.fid_every else None
    stop = {"signal": None}

    def on_signal(signum, _frame):  # checkpoint at the next step boundary, then exit
        stop["signal"] = signal.Signals(signum).name

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            handlers[s] = signal.signal(s, on_signal)

    status = "done"
    window = torch.zeros(4, device=device)
    bad_step = torch.full((), -1, dtype=torch.long, device=device)  # first non-finite step
    window_steps, window_t0 = 0, time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc=f"train {cfg.model.name}",
        unit="step",
        disable=not progress,
    )
    # sets that fit in memory are read once; larger ones (LSUN) stay memory-mapped
    images = (
        torch.from_numpy(np.array(data.images)) if data.images.nbytes < IN_MEMORY_BYTES else None
    )
    try:
        while step < total_steps:
            order = epoch_order(len(data), epoch, cfg.seed)
            while it < steps_per_epoch and step < total_steps:
                idx = order[it * cfg.batch_size : (it + 1) * cfg.batch_size]
                batch = (
                    images[idx]
                    if images is not None
                    else torch.from_numpy(data.images[np.sort(idx.numpy())])
                )
                x_real = to_float(batch.to(device, non_blocking=True))
                z = sample_z(cfg.batch_size, cfg.model, z_rng, device)
                stats = train_step(G, D, opt_g, opt_d, x_real, z)
                # found on the device, read at log time: no host sync per step
                bad_step.masked_fill_((bad_step < 0) & ~torch.isfinite(stats).all(), step + 1)
                window += stats
                window_steps += 1
                step, it = step + 1, it + 1
                bar.update(1)

                if step % cfg.log_every == 0 or step == total_steps:
                    mean = (window / window_steps).tolist()
                    elapsed = time.perf_counter() - window_t0
                    row = {
                        "step": step,
                        "epoch": epoch + it / steps_per_epoch,
                        "loss_d": mean[0],
                        "loss_g": mean[1],
                        "d_real": mean[2],
                        "d_fake": mean[3],
                        "img_per_s": window_steps * cfg.batch_size / max(elapsed, 1e-9),
                        "time": time.monotonic() - started,
                    }
                    if int(bad_step) >= 0:
                        raise TrainingDiverged(
                            f"a loss became NaN or Inf at step {int(bad_step)}; stopped at step "
                            f"{step}. The last good checkpoint ({ckpt_path}) is kept; lower --lr, "
                            "check the data, or resume from it with another seed."
                        )
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    bar.set_postfix(loss_d=f"{mean[0]:.3f}", loss_g=f"{mean[1]:.3f}")
                    window.zero_()
                    window_steps, window_t0 = 0, time.perf_counter()
                if step % cfg.sample_every == 0:
                    save_samples(f"step_{step:07d}")
                if cfg.fid_every and step % cfg.fid_every == 0:
                    best_fid = fid_tracker.evaluate(G, D, step, best_fid)
                if step % cfg.checkpoint_every == 0:
                    save_checkpoint()
                if stop["signal"]:
                    status = "interrupted"
                    break
                if (
                    cfg.max_minutes is not None
                    and time.monotonic() - started > cfg.max_minutes * 60
                ):
                    status = "time budget"
                    break
            if status != "done":
                break
            if it >= steps_per_epoch:  # an epoch is complete
                epoch, it = epoch + 1, 0
                if epoch in cfg.sample_epochs:
                    save_samples(f"epoch_{epoch:03d}")
        if status == "done" and step >= total_steps and step < cfg.epochs * steps_per_epoch:
            status = "max steps"
        save_checkpoint()
        save_samples("final")
    except TrainingDiverged:
        status = "diverged"
        raise
    finally:
        bar.close()
        for s, h in handlers.items():
            signal.signal(s, h)
        run_info.update(status=status, step=step, epoch=epoch)
        atomic_write(out / "run.json", lambda f: f.write(json.dumps(run_info, indent=1).encode()))
    return TrainResult(out, step, epoch, status)


class _FidTracker:
    """FID/KID of G during training (../shared/FID.md): reference features computed once and
    stored in the run folder, a line in fid.jsonl per evaluation, the best weights in best.pt."""

    def __init__(self, cfg: TrainConfig, out: Path, device: torch.device, progress: bool) -> None:
        from dcgan_lib.metrics import (
            REFERENCE_NAMES,
            InceptionFeatures,
            inception_features,
            protocol_name,
        )

        self.cfg, self.out, self.device, self.progress = cfg, out, device, progress
        data, split = cfg.fid_data or cfg.data, cfg.fid_split or cfg.split
        self.protocol = protocol_name(
            cfg.fid_n, REFERENCE_NAMES.get((data, split), f"{data}-{split}")
        )
        self.net = InceptionFeatures().to(device)
        ref_path = out / "fid_reference.pt"
        if ref_path.exists():
            saved = torch.load(ref_path, map_location="cpu", weights_only=True)
            if saved["protocol"] == self.protocol:
                self.real = saved["features"]
                return
        ref = load_dataset(
            data, cfg.data_root, split, cfg.model.image_size, cfg.cache_dir, progress=progress
        )
        if len(ref) < cfg.fid_n:
            raise DataError(
                f"the FID reference {data}/{split} has {len(ref)} images, fewer than fid_n={cfg.fid_n}"
            )
        self.real = inception_features(ref.images[: cfg.fid_n], self.net, device, progress=progress)
        atomic_write(
            ref_path, lambda f: torch.save({"protocol": self.protocol, "features": self.real}, f)
        )

    def evaluate(self, G: Generator, D: Discriminator, step: int, best: float) -> float:
        from dcgan_lib.metrics import fid_kid, generator_features

        fake = generator_features(
            G,
            self.cfg.fid_n,
            seed=self.cfg.seed + 3,
            net=self.net,
            device=self.device,
            progress=False,
        )
        row = {
            "step": step,
            "protocol": self.protocol,
            "sampling": "BatchNorm eval mode (running statistics)",
            **fid_kid(self.real, fake),
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
