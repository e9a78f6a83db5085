"""Training you can watch: the samples of one fixed z after every epoch, as one image strip.

While a run trains (``dcgan_lib.train``), the end of each epoch writes a *frame*: the first
``FRAME_SAMPLES`` samples of the run's fixed z, laid out ``FRAME_NROW`` to a row like the run's
sample grids, as ``samples/frames/epoch_NNNN.png`` (small, written atomically; a resume drops the
frames of epochs after its checkpoint and writes them again). Each stop of the run, and its
export to ``artifacts/``, joins the frames into one 8-bit RGB PNG, ``epochs.png``: the frames
top to bottom, with the epochs and steps they show in a PNG text chunk (``STRIP_KEY``).
``read_strip`` reads it back and ``epochs_text`` says which epochs it holds; a page plays it with
``dcgan_lib.animation.strip_animation``.

Runs stored before frames existed kept grids only after epochs 1, 5 and at the end: their strip is
cut from those stored grids (``strip_from_grids``: the same samples, tile for tile) and says so.
``python -m dcgan_lib strip`` makes either kind. Paper: §4 (Figs. 2-3 show samples after 1 and 5
epochs; here every epoch).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from dcgan_lib.storage import atomic_write

FRAME_SAMPLES = 16  # samples of the fixed z in a frame: a 4 x 4 grid
FRAME_NROW = 4
PAD = 2  # black pixels between samples, as in the runs' sample grids (torchvision's make_grid)
STRIP_KEY = "dcgan_strip"  # the PNG text chunk holding the strip's epochs and steps (JSON)
FRAME_KEY = "dcgan_frame"  # the PNG text chunk of one frame file: {"epoch", "step"}
STRIP_NAME = "epochs.png"  # the strip in a run's samples/ and in artifacts/<name>/
FRAMES_DIR = "frames"  # samples/frames/epoch_NNNN.png
STRIP_MAX_BYTES = 4 * 2**20  # an exported strip larger than this keeps evenly spaced epochs
FROM_TRAINING = "written after every epoch while the run trained"
FROM_GRIDS = "built from the stored grids"
_FRAME_FILE = re.compile(r"epoch_(\d+)\.png$")


@dataclass
class Strip:
    """Frames (T, H, W, 3) uint8 of one run's fixed z, with the epoch and step of each."""

    frames: np.ndarray
    epochs: list[float]
    steps: list[int]
    source: str = FROM_TRAINING
    meta: dict = field(default_factory=dict)  # samples, nrow, image_size, run epochs, ...

    def __len__(self) -> int:
        return len(self.frames)


# ---------------------------------------------------------------------------------------------
# Frames


def to_uint8_tiles(x: torch.Tensor) -> np.ndarray:
    """(N, C, S, S) samples in [-1, 1] -> (N, S, S, C) uint8, rounded exactly as the runs' grid
    PNGs are (torchvision's ``save_image`` of ``make_grid(normalize=True, value_range=(-1, 1))``),
    so a frame's tiles equal the same samples cut from a stored grid."""
    t = (x.detach().float().cpu().clamp(-1, 1) - (-1)) / 2
    return t.mul(255).add_(0.5).clamp_(0, 255).permute(0, 2, 3, 1).to(torch.uint8).numpy()


def layout(tiles: np.ndarray, nrow: int = FRAME_NROW, pad: int = PAD) -> np.ndarray:
    """(N, S, S, C) uint8 tiles -> one (H, W, C) uint8 grid, ``nrow`` a row, ``pad`` black pixels
    around each (the runs' grid layout)."""
    n, s, _, c = tiles.shape
    rows = -(-n // nrow)
    grid = np.zeros((rows * (s + pad) + pad, nrow * (s + pad) + pad, c), np.uint8)
    for i, tile in enumerate(tiles):
        r, k = divmod(i, nrow)
        top, left = pad + r * (s + pad), pad + k * (s + pad)
        grid[top : top + s, left : left + s] = tile
    return grid


def frame_of(x: torch.Tensor) -> np.ndarray:
    """The frame of samples x (N, C, S, S) in [-1, 1]: the first ``FRAME_SAMPLES`` as a grid."""
    return layout(to_uint8_tiles(x[:FRAME_SAMPLES]))


def tiles_from_grid(path: str | os.PathLike, image_size: int, n: int = FRAME_SAMPLES,
                    nrow: int = 8, pad: int = PAD) -> np.ndarray:  # fmt: skip
    """The first ``n`` samples (n, S, S, 3) uint8 cut from a stored grid PNG of ``nrow`` samples a
    row (a run's ``epoch_001.png``, ``final.png``: 8 a row, 2 pixels apart)."""
    with Image.open(path) as img:
        grid = np.asarray(img.convert("RGB"))
    s = image_size
    want = nrow * (s + pad) + pad
    if grid.shape[1] != want:
        raise ValueError(
            f"{path} is {grid.shape[1]} pixels wide; a grid of {nrow} samples of {s} px a row "
            f"is {want}"
        )
    out = []
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (s + pad), pad + k * (s + pad)
        out.append(grid[top : top + s, left : left + s])
    return np.stack(out)


def _png(array: np.ndarray, text: dict) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, json.dumps(value))
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="png", pnginfo=info, optimize=True)
    return buf.getvalue()


def frame_path(samples_dir: Path, epoch: int) -> Path:
    return Path(samples_dir) / FRAMES_DIR / f"epoch_{epoch:04d}.png"


def write_frame(samples_dir: Path, epoch: int, step: int, x: torch.Tensor) -> Path:
    """Write the frame of samples x after ``epoch`` (at ``step``), atomically. Paper: §4."""
    path = frame_path(samples_dir, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = _png(frame_of(x), {FRAME_KEY: {"epoch": epoch, "step": step}})
    atomic_write(path, lambda f: f.write(blob))
    return path


def read_frames(samples_dir: Path) -> list[tuple[int, int, np.ndarray]]:
    """[(epoch, step, frame (H, W, 3) uint8)] of a run's ``samples/frames``, in epoch order."""
    folder = Path(samples_dir) / FRAMES_DIR
    out = []
    for path in sorted(folder.glob("epoch_*.png")) if folder.is_dir() else []:
        with Image.open(path) as img:
            meta = json.loads(img.text[FRAME_KEY])
            out.append((meta["epoch"], meta["step"], np.asarray(img.convert("RGB"))))
    return sorted(out, key=lambda f: f[0])


def drop_frames_after(samples_dir: Path, epoch: int) -> None:
    """Remove the frames of epochs after ``epoch`` (those a resume trains again)."""
    folder = Path(samples_dir) / FRAMES_DIR
    for path in folder.glob("epoch_*.png") if folder.is_dir() else []:
        m = _FRAME_FILE.search(path.name)
        if m and int(m.group(1)) > epoch:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The strip


def strip_png(strip: Strip) -> bytes:
    """The strip as PNG bytes: frames top to bottom, epochs and steps in its text chunk."""
    if not len(strip):
        raise ValueError("a strip needs at least one frame")
    meta = {
        "format": 1,
        "epochs": [_number(e) for e in strip.epochs],
        "steps": [int(s) for s in strip.steps],
        "frame_shape": list(strip.frames.shape[1:3]),
        "source": strip.source,
        **strip.meta,
    }
    return _png(np.concatenate(list(strip.frames), axis=0), {STRIP_KEY: meta})


def _number(e: float) -> float | int:
    return int(e) if float(e).is_integer() else round(float(e), 2)


def read_strip(path: str | os.PathLike) -> Strip:
    """A strip PNG (``strip_png``) back as frames (T, H, W, 3) uint8 with its epochs and steps."""
    with Image.open(path) as img:
        if STRIP_KEY not in getattr(img, "text", {}):
            raise ValueError(f"{path} is not a strip of dcgan_lib (no {STRIP_KEY!r} text chunk)")
        meta = json.loads(img.text[STRIP_KEY])
        tall = np.asarray(img.convert("RGB"))
    h, w = meta["frame_shape"]
    frames = tall.reshape(-1, h, w, 3)
    epochs, steps = meta.pop("epochs"), meta.pop("steps")
    if len(frames) != len(epochs):
        raise ValueError(f"{path} holds {len(frames)} frames but names {len(epochs)} epochs")
    source = meta.pop("source")
    return Strip(frames, epochs, steps, source, meta)


def thin(strip: Strip, keep: int) -> Strip:
    """``keep`` frames of the strip, evenly spaced, the first and the last always kept."""
    if keep >= len(strip):
        return strip
    idx = sorted({round(i * (len(strip) - 1) / max(keep - 1, 1)) for i in range(keep)})
    return Strip(
        strip.frames[idx],
        [strip.epochs[i] for i in idx],
        [strip.steps[i] for i in idx],
        strip.source,
        {**strip.meta, "thinned_from": len(strip)},
    )


def write_strip(path: Path, strip: Strip, max_bytes: int | None = None) -> Strip:
    """Write the strip PNG atomically; with ``max_bytes``, keep fewer (evenly spaced) frames until
    it fits, and say so in its metadata (``thinned_from``). Returns what was written."""
    whole, blob = strip, strip_png(strip)
    while max_bytes is not None and len(blob) > max_bytes and len(strip) > 2:
        strip = thin(whole, max(2, int(len(strip) * max_bytes / len(blob) * 0.95)))
        blob = strip_png(strip)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), lambda f: f.write(blob))
    return strip


def strip_of_run(run_dir: str | os.PathLike, **meta: object) -> Strip | None:
    """The strip of a run folder's frames (None when it has none)."""
    frames = read_frames(Path(run_dir) / "samples")
    if not frames:
        return None
    return Strip(
        np.stack([f for _, _, f in frames]),
        [e for e, _, _ in frames],
        [s for _, s, _ in frames],
        FROM_TRAINING,
        {"samples": FRAME_SAMPLES, "nrow": FRAME_NROW, **meta},
    )


def strip_from_grids(folder: str | os.PathLike) -> Strip:
    """The strip of a stored run that kept grids only at some epochs (``epoch_NNN.png``, drawn at
    the end of epoch NNN, and ``final.png``, with the run's ``run.json``, in ``folder``): each
    grid's first ``FRAME_SAMPLES`` samples, tile for tile, at the epoch and step it was drawn."""
    folder = Path(folder)
    run = json.loads((folder / "run.json").read_text())
    size, n = run["config"]["model"]["image_size"], run["config"]["n_samples"]
    per_epoch = run["steps_per_epoch"]
    grids = {int(p.stem.split("_")[1]): p for p in folder.glob("epoch_*.png")}
    rows = {e: (e * per_epoch, path) for e, path in grids.items()}
    if (folder / "final.png").exists():
        end = _number(run["step"] / per_epoch)  # a run sized in steps may end inside an epoch
        rows.setdefault(end, (run["step"], folder / "final.png"))
    epochs = sorted(rows)
    if not epochs:
        raise ValueError(f"{folder} holds no epoch_NNN.png or final.png grid")
    nrow = int(math.sqrt(n)) or 1  # as the run laid its grids out
    frames = [layout(tiles_from_grid(rows[e][1], size, nrow=nrow)) for e in epochs]
    return Strip(
        np.stack(frames),
        epochs,
        [rows[e][0] for e in epochs],
        FROM_GRIDS,
        {"samples": FRAME_SAMPLES, "nrow": FRAME_NROW, "image_size": size,
         "run_epochs": run["epoch"]},
    )  # fmt: skip


def epochs_text(strip: Strip) -> str:
    """Which epochs a strip holds, in words: "every epoch from 1 to 25", "epochs 1, 5 and 25
    only (built from the stored grids)", "24 of the 200 epochs, evenly spaced: 1, 10, ..."."""
    e = [_number(x) for x in strip.epochs]
    listed = ", ".join(map(str, e[:-1])) + f" and {e[-1]}" if len(e) > 1 else str(e[0])
    if strip.meta.get("thinned_from"):
        n = strip.meta["thinned_from"]
        return f"{len(e)} of the {n} epochs, evenly spaced: {listed}"
    if e == list(range(1, len(e) + 1)) and len(e) > 2:
        return f"every epoch from 1 to {e[-1]}"
    word = "epoch" if len(e) == 1 else "epochs"
    only = f" only ({strip.source})" if strip.source == FROM_GRIDS else ""
    return f"{word} {listed}{only}"


# ---------------------------------------------------------------------------------------------
# The command line: `strip`


def export_from_grids(name: str, root: Path | None = None, command: str = "") -> Path:
    """``artifacts/<name>/epochs.png`` built from the folder's stored grids, registered with its
    command and the note that it was built from the stored grids."""
    from dcgan_lib import artifacts
    from dcgan_lib.device import describe_machine

    root = root or artifacts.artifacts_dir()
    folder = root / name
    strip = strip_from_grids(folder)
    path = folder / STRIP_NAME
    strip = write_strip(path, strip, STRIP_MAX_BYTES)
    grids = [f"{name}/{p.name}" for p in sorted(folder.glob("epoch_*.png"))] + [f"{name}/final.png"]
    manifest = artifacts.read_manifest(root)["files"]
    artifacts.register(
        f"{name}/{STRIP_NAME}", path,
        f"{command or f'python -m dcgan_lib strip --stored {name}'}  ({FROM_GRIDS}; CPU, seconds)",
        manifest.get(grids[0], {}).get("config", ""), root,
        {"machine": describe_machine(torch.device("cpu")), "note": FROM_GRIDS,
         "epochs": [_number(e) for e in strip.epochs],
         "inputs": {g: manifest[g]["sha256"] for g in grids if g in manifest}},
    )  # fmt: skip
    return path


def run_cli(a: argparse.Namespace) -> int:
    from dcgan_lib.artifacts import invoked_command

    if a.stored:
        path = export_from_grids(a.stored, command=invoked_command())
    elif a.run_dir:
        strip = strip_of_run(a.run_dir)
        if strip is None:
            raise FileNotFoundError(f"{a.run_dir}/samples/{FRAMES_DIR} holds no frames")
        path = Path(a.run_dir) / "samples" / STRIP_NAME
        write_strip(path, strip)
    else:
        raise ValueError("give a run folder, or --stored NAME")
    print(f"{path}: {epochs_text(read_strip(path))}")
    return 0
