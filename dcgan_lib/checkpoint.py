"""G and D on disk: a run's folder and checkpoint, resuming from it, and the exported weights.

A run folder holds everything of one training run (``dcgan_lib.train``): ``checkpoint.pt`` is
its full state (both nets, both Adam states, the noise generator, where the run stands), written
atomically; a resume reads it back (``load_checkpoint``, ``restore``) after checking that the
asked settings may continue it (``check_resume``: ``config.RESUME_KEEPS`` refused, the changes
of ``config.RESUME_MAY_CHANGE`` returned) on the same images (``check_same_images``). The folder
is held by one process at a time (``run_folder``); a refused start leaves nothing behind.

The book ships smaller files: ``save_weights`` writes one net as fp16 with its model config,
``load_weights`` reads it on any device, and ``load_generator`` takes either form (an exported
``G.pt`` or a run's checkpoint).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import torch
from torch import nn

from dcgan_lib import distributed
from dcgan_lib.config import ConfigError, ModelConfig, TrainConfig
from dcgan_lib.data import Packed
from dcgan_lib.datasets import DataError
from dcgan_lib.models import Discriminator, Generator
from dcgan_lib.step import load_optimizer_state
from dcgan_lib.storage import atomic_write

CHECKPOINT_FORMAT = 1


# ---------------------------------------------------------------------------------------------
# The run folder


@contextlib.contextmanager
def run_folder(out: Path, dist: distributed.Dist) -> Iterator[None]:
    """Hold the run folder ``out`` (made if needed) for the whole run; rank 0 alone claims it.

    A start refused before it wrote ``run.json`` (bad data, bad settings) removes what it made."""
    lock, made = None, []
    if dist.is_main:
        lock, made = claim_run_folder(out)
    dist.barrier()  # the other ranks read the folder only once rank 0 holds it
    try:
        yield
    except BaseException:
        if lock is not None and not (out / "run.json").exists():
            lock.close()  # a refused start: leave nothing behind
            lock = None
            remove_made(made)
        raise
    finally:
        if lock is not None:
            lock.close()


def claim_run_folder(out: Path) -> tuple[IO, list[Path]]:
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


def remove_made(made: list[Path]) -> None:
    """Remove the paths a refused start created, innermost first; a folder something else has
    written into since is kept."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()


def drop_lines_after(path: Path, step: int) -> None:
    """Drop the lines of a JSON-lines log written after ``step`` (the checkpoint a run resumes
    from): those steps are redone and logged again. A line cut by a kill goes too."""
    if not path.exists():
        return
    text, kept = path.read_text(), []
    for line in text.splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line + "\n")
        except (ValueError, KeyError):
            continue
    if "".join(kept) != text:  # else the file stays as it is
        atomic_write(path, lambda f: f.write("".join(kept).encode()))


# ---------------------------------------------------------------------------------------------
# The checkpoint


def save_checkpoint(path: Path, state: dict) -> None:
    """``state`` (tensors and plain values) with this library's checkpoint format, atomically."""
    state = {"format": CHECKPOINT_FORMAT, **state}
    atomic_write(path, lambda f: torch.save(state, f))


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


def weights_finite(*modules: nn.Module) -> bool:
    """Whether every floating-point weight and buffer of ``modules`` is finite."""
    return all(
        bool(torch.isfinite(p).all())
        for m in modules
        for p in m.state_dict().values()
        if p.is_floating_point()
    )


def check_resume(cfg: TrainConfig, ckpt: dict, path: Path, ran_on: dict) -> dict[str, dict]:
    """Refuse to continue the run of checkpoint ``ckpt`` (at ``path``) with settings it must keep
    (``config.RESUME_KEEPS``); else return what this resume changes, as {setting: {"from", "to"}}:
    the settings of ``config.RESUME_MAY_CHANGE`` and what the run now runs on (``ran_on``: the
    engine and device as resolved, the number of processes)."""
    saved = TrainConfig.from_dict(ckpt["config"])
    conflicts = cfg.resume_conflicts(saved)
    if conflicts:
        raise ConfigError(
            f"{path} holds a run started with other settings ({'; '.join(conflicts)}). "
            "A resumed run keeps its settings: pass the same values to resume it, or "
            "another --out to start a new run."
        )
    return cfg.resume_changes(saved) | {
        k: {"from": ckpt[k], "to": v} for k, v in ran_on.items() if ckpt.get(k, v) != v
    }


def restore(
    ckpt: dict,
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    z_rng: torch.Generator,
    seed: int,
) -> None:
    """Load both nets, both Adam states (either engine's) and the noise generator from ``ckpt``.

    A noise generator saved on another device type cannot be restored: the z stream then goes
    on from a new seed, with a warning (training resumes, not bit-exact)."""
    G.load_state_dict(ckpt["G"])
    D.load_state_dict(ckpt["D"])
    load_optimizer_state(opt_g, ckpt["opt_g"])
    load_optimizer_state(opt_d, ckpt["opt_d"])
    try:
        z_rng.set_state(ckpt["z_rng"])
    except RuntimeError:  # a CUDA generator's state on a CPU machine, or the reverse
        z_rng.manual_seed(seed + 1 + ckpt["step"])
        warnings.warn(
            "the checkpoint's noise generator comes from another device type; "
            "the z stream continues from a new seed (training resumes, not bit-exact)",
            stacklevel=3,
        )


def data_identity(data: Packed) -> dict:
    """What a resume checks to be training on the same images: their number and names."""
    digest = hashlib.sha256()
    for name in data.names:
        digest.update(name.encode() + b"\n")
    return {"n_images": len(data), "names_sha256": digest.hexdigest()}


def check_same_images(saved: dict | None, now: dict, path: Path) -> None:
    """Refuse to resume the checkpoint at ``path``, trained on the images ``saved``
    (``data_identity``; None: not recorded), on other images ``now``."""
    if saved is None or saved == now:
        return
    raise DataError(
        f"{path} holds a run trained on {saved['n_images']} images, and the data "
        f"found now has {now['n_images']}"
        + (" with other names" if saved["n_images"] == now["n_images"] else "")
        + ". A resumed run keeps its images: point --data-root at the run's data, or pass "
        "another --out to start a new run."
    )


# ---------------------------------------------------------------------------------------------
# Exported weights


def save_weights(module: Generator | Discriminator, path: Path) -> None:
    """fp16 state dict plus the model config: small, and loadable on any device."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in module.state_dict().items()}
    torch.save({"config": module.cfg.__dict__, "state": state}, path)


def load_weights(path: Path, kind: str = "G") -> Generator | Discriminator:
    """A float32 Generator ("G") or Discriminator ("D") from ``save_weights`` output, on the CPU."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    d = dict(blob["config"])
    d["g_layers"] = tuple(tuple(x) for x in d["g_layers"])
    d["d_layers"] = tuple(tuple(x) for x in d["d_layers"])
    model = (Generator if kind == "G" else Discriminator)(ModelConfig(**d))
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in blob["state"].items()}
    )
    return model.eval()


def load_generator(path: str | os.PathLike) -> Generator:
    """A float32 Generator in eval mode from an exported ``G.pt`` or a run's ``checkpoint.pt``
    (a run folder stands for its checkpoint)."""
    path = Path(path)
    if path.is_dir() and (path / "checkpoint.pt").is_file():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise ConfigError(
            f"no generator at {path}: give an exported G.pt (`python -m dcgan_lib export RUN "
            "--name NAME` writes artifacts/NAME/G.pt) or a run's checkpoint.pt (`python -m "
            "dcgan_lib train ... --out RUN` writes RUN/checkpoint.pt)"
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a file it cannot read
        raise ConfigError(
            f"{path} is not a generator file ({type(e).__name__}); give an exported G.pt or a "
            "run's checkpoint.pt"
        ) from e
    if "format" not in blob:
        return load_weights(path, "G")  # type: ignore[return-value]
    ckpt = load_checkpoint(path)
    G = Generator(TrainConfig.from_dict(ckpt["config"]).model)
    G.load_state_dict(ckpt["G"])
    return G.eval()
