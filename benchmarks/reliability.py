"""Reliability report: SIGKILL a training run at random steps and feed the loaders bad input.

    python benchmarks/reliability.py --kills 40 > artifacts/reliability/report.json

Prints JSON: interruptions survived (how many landed inside a checkpoint write), the most steps
ever redone after a kill, whether the resumed run ended bit-identical to an uninterrupted one, and
the bad inputs tried with what each produced. ``tests/test_reliability.py`` runs the same code.

Each kill is aimed at a step the run has not logged yet (read from its ``metrics.jsonl``), never
at a delay, and the run is sized from the number of kills: the trial takes as many steps on a slow
machine as on a fast one, loaded or idle.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.data import load_dataset
from dcgan_lib.datasets import DataError
from dcgan_lib.storage import read_jsonl

# A run big enough that a checkpoint write takes tens of milliseconds (so kills can land inside
# one), small enough for a CPU: dcgan64's layout at 32px, 64 synthetic images, batches of 16.
RUN_ARGS = [
    "--config",
    "dcgan64",
    "--image-size",
    "32",
    "--data",
    "synthetic",
    "--limit",
    "64",
    "--batch-size",
    "16",
    "--epochs",
    "{epochs}",
    "--checkpoint-every",
    "3",
    "--log-every",
    "1",
    "--sample-every",
    "1000",
    "--deterministic",
    "--device",
    "cpu",
    "--no-progress",
]
CHECKPOINT_EVERY = 3
STEPS_PER_EPOCH = 4  # 64 images in batches of 16
WRITE_TRIES = 3  # checkpoints a write-aimed kill waits through before it kills anyway


def run_epochs(n_kills: int) -> int:
    """Epochs that leave room for ``n_kills`` kills, each aimed at most ``CHECKPOINT_EVERY`` steps
    past the last step logged, with a margin of two for kills that land late, plus the checkpoints
    a write-aimed kill may wait through."""
    steps = 2 * n_kills * CHECKPOINT_EVERY + WRITE_TRIES * CHECKPOINT_EVERY
    return max(8, -(-steps // STEPS_PER_EPOCH))


def _cmd(out: Path, epochs: int) -> list[str]:
    args = [a.format(epochs=epochs) for a in RUN_ARGS]
    return [sys.executable, "-m", "dcgan_lib", "train", *args, "--out", str(out)]


def _steps_logged(out: Path) -> int:
    path = out / "metrics.jsonl"
    rows = read_jsonl(path) if path.exists() else []
    return max((r["step"] for r in rows), default=0)


def _one_trial(out: Path, epochs: int, rng: random.Random, during_write: bool) -> dict:
    """Start (or resume) the run and SIGKILL it at a step it has not logged yet.

    The aim is a step, read from the metrics the run logs, never a delay: a random step 1 to
    ``CHECKPOINT_EVERY`` past the last one logged, or, for ``during_write``, the moment this
    process's temp file of the next checkpoint exists (up to ``WRITE_TRIES`` checkpoints)."""
    logged = _steps_logged(out)  # steps past it are new: the resumed run must reach them again
    if during_write:
        first = (logged // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
        target = first + (WRITE_TRIES - 1) * CHECKPOINT_EVERY  # give up on a write after this
    else:
        target = logged + rng.randint(1, CHECKPOINT_EVERY)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        _cmd(out, epochs), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    mine = f".checkpoint.pt.{proc.pid}."  # temp files of earlier, killed runs don't count
    in_write = False
    while proc.poll() is None:
        if during_write and any(p.name.startswith(mine) for p in out.iterdir()):
            proc.kill()
            in_write = True
            break
        if _steps_logged(out) >= target + (1 if during_write else 0):
            proc.kill()
            break
        time.sleep(0.001 if during_write else 0.005)
    _, err = proc.communicate()
    killed = proc.returncode == -9
    if not killed and proc.returncode != 0:
        raise RuntimeError(f"training exited with {proc.returncode}: {err.decode()[-2000:]}")
    ckpt_step = (
        load_checkpoint(out / "checkpoint.pt")["step"] if (out / "checkpoint.pt").exists() else 0
    )
    return {
        "killed": killed,
        "in_checkpoint_write": in_write and killed,
        "aimed_at_step": target,
        "steps_logged": _steps_logged(out),
        "checkpoint_step": ckpt_step,
        "redone_on_resume": _steps_logged(out) - ckpt_step,
    }


def kill_trials(workdir: Path, n_kills: int = 20, seed: int = 0) -> dict:
    """SIGKILL a run ``n_kills`` times (every third kill aimed at a checkpoint write), resume it to
    the end, and compare with an uninterrupted run of the same command."""
    rng = random.Random(seed)
    epochs = run_epochs(n_kills)
    t0 = time.monotonic()
    ref, run = workdir / "uninterrupted", workdir / "interrupted"
    subprocess.run(
        _cmd(ref, epochs),
        check=True,
        capture_output=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    trials = []
    while len(trials) < n_kills:
        trial = _one_trial(run, epochs, rng, during_write=len(trials) % 3 == 2)
        trials.append(trial)
        if not trial["killed"]:
            raise RuntimeError(
                f"the run reached its last step ({epochs * STEPS_PER_EPOCH}) after "
                f"{len(trials) - 1} of {n_kills} kills: the kills landed "
                f"{trial['steps_logged']} steps in, later than the steps they aimed at "
                f"({[t['aimed_at_step'] for t in trials]}); nothing was lost, the trial is void"
            )
    subprocess.run(
        _cmd(run, epochs),
        check=True,
        capture_output=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    a, b = load_checkpoint(ref / "checkpoint.pt"), load_checkpoint(run / "checkpoint.pt")
    identical = all(
        torch.equal(t, b[k][name]) for k in ("G", "D") for name, t in a[k].items()
    ) and all(
        torch.equal(t, b[k]["state"][i][name])
        for k in ("opt_g", "opt_d")
        for i, st in a[k]["state"].items()
        for name, t in st.items()
    )

    def strip(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("time", "img_per_s")} for r in rows]

    same_metrics = strip(read_jsonl(ref / "metrics.jsonl")) == strip(
        read_jsonl(run / "metrics.jsonl")
    )
    leftovers = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    return {
        "kills": sum(t["killed"] for t in trials),
        "kills_in_checkpoint_write": sum(t["in_checkpoint_write"] for t in trials),
        "checkpoint_every": CHECKPOINT_EVERY,
        "max_steps_redone": max(t["redone_on_resume"] for t in trials),
        "final_step": b["step"],
        "bit_identical_to_uninterrupted": identical,
        "metrics_identical": same_metrics,
        "temp_files_left": leftovers,
        "completed_steps_lost": 0 if identical else None,
        "wall_s": round(time.monotonic() - t0, 1),
    }


# --- bad input ------------------------------------------------------------------------------


def _save(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _good(seed: int = 0, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _folder_with(root: Path, files: dict[str, bytes], n_good: int = 3) -> Path:
    folder = root / "images"
    folder.mkdir(parents=True)
    for i in range(n_good):
        (folder / f"good{i}.png").write_bytes(_save(_good(i)))
    for name, payload in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(payload)
    return folder


def _wrong_lmdb(root: Path) -> Path:
    db = root / "bedroom_train_lmdb"
    db.mkdir(parents=True)
    (db / "data.mdb").write_bytes(b"not an lmdb database" * 100)
    return root


def _lmdb_of_text(root: Path) -> Path:
    import lmdb

    root.mkdir(parents=True)
    env = lmdb.open(str(root / "bedroom_train_lmdb"), map_size=1 << 22)
    with env.begin(write=True) as txn:
        txn.put(b"a", b"hello")
        txn.put(b"b", _save(_good(1), "JPEG"))
    env.close()
    return root


def _damaged_tar(root: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(40):
            data = _save(_good(i), "JPEG")
            info = tarfile.TarInfo(f"train/cat/{i:04d}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "cifar10").mkdir(parents=True)
    (root / "cifar10" / "cifar10-jpg.tar.gz").write_bytes(
        buf.getvalue()[: len(buf.getvalue()) // 2]
    )
    return root


def _empty_classes(root: Path) -> Path:
    folder = _folder_with(root, {}, n_good=0)
    (folder / "cats").mkdir()
    (folder / "dogs").mkdir()
    (folder / "dogs" / "d.png").write_bytes(_save(_good(3)))
    return folder


# (name, dataset, builds the root, what must happen: "skipped:<n>" | "converted" | "error:<text>")
BAD_INPUTS: list[tuple[str, str, Callable[[Path], Path], str]] = [
    (
        "truncated JPEG",
        "imagefolder",
        lambda r: _folder_with(r, {"t.jpg": _save(_good(), "JPEG")[:300]}),
        "skipped:1",
    ),
    (
        "corrupt JPEG body",
        "imagefolder",
        lambda r: _folder_with(r, {"c.jpg": _save(_good(), "JPEG")[:20] + b"\x00" * 500}),
        "skipped:1",
    ),
    ("zero-byte file", "imagefolder", lambda r: _folder_with(r, {"z.png": b""}), "skipped:1"),
    (
        "non-image file with an image name",
        "imagefolder",
        lambda r: _folder_with(r, {"readme.png": b"hello world"}),
        "skipped:1",
    ),
    (
        "greyscale image",
        "imagefolder",
        lambda r: _folder_with(r, {"g.png": _save(_good().convert("L"))}),
        "converted",
    ),
    (
        "RGBA image",
        "imagefolder",
        lambda r: _folder_with(r, {"a.png": _save(_good().convert("RGBA"))}),
        "converted",
    ),
    (
        "palette image",
        "imagefolder",
        lambda r: _folder_with(r, {"p.gif": _save(_good().convert("P"), "GIF")}),
        "converted",
    ),
    (
        "16-bit greyscale PNG",
        "imagefolder",
        lambda r: _folder_with(
            r, {"h.png": _save(Image.fromarray(np.full((40, 40), 40000, np.uint16)))}
        ),
        "converted",
    ),
    (
        "tiny image (2x2)",
        "imagefolder",
        lambda r: _folder_with(r, {"tiny.png": _save(_good(size=2))}),
        "skipped:1",
    ),
    ("empty class folder", "imagefolder", _empty_classes, "converted"),
    ("missing data root", "celeba", lambda r: r / "does-not-exist", "error:does not exist"),
    (
        "empty data root",
        "celeba",
        lambda r: (r / "empty").mkdir(parents=True) or r / "empty",
        "error:nothing found under",
    ),
    (
        "folder with no images",
        "imagefolder",
        lambda r: _folder_with(r, {"notes.txt": b"x"}, n_good=0),
        "error:no image files",
    ),
    ("damaged tar.gz archive", "cifar10", _damaged_tar, "error:is damaged"),
    ("wrong lmdb (not a database)", "lsun", _wrong_lmdb, "error:is not an lmdb database"),
    ("lmdb holding a non-image value", "lsun", _lmdb_of_text, "skipped:1"),
]


def try_bad_input(
    name: str, dataset: str, build: Callable[[Path], Path], expect: str, workdir: Path
) -> dict:
    """Run one bad input through load_dataset; report whether it met its expectation."""
    root = build(workdir / "data")
    outcome: str
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            p = load_dataset(
                dataset, root, image_size=32, cache_dir=workdir / "cache", progress=False
            )
            outcome = f"skipped:{len(p.skipped)}" if p.skipped else "converted"
            ok = (
                outcome == expect
                and p.images.dtype == np.uint8
                and p.images.shape[1:] == (32, 32, 3)
            )
            message = "; ".join(f"{n}: {why}" for n, why in p.skipped)
        except DataError as e:
            outcome, message = "error", str(e)
            ok = expect.startswith("error:") and expect[6:] in message
    return {"input": name, "expected": expect, "outcome": outcome, "ok": ok, "message": message}


def bad_input_report(workdir: Path) -> list[dict]:
    rows = []
    for i, (name, dataset, build, expect) in enumerate(BAD_INPUTS):
        d = workdir / f"case{i}"
        d.mkdir(parents=True)
        rows.append(try_bad_input(name, dataset, build, expect, d))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kills = kill_trials(Path(tmp) / "kill", a.kills, a.seed)
        bad = bad_input_report(Path(tmp) / "bad")
    print(
        json.dumps(
            {
                "interruptions": kills,
                "bad_inputs_tried": len(bad),
                "bad_inputs_handled": sum(r["ok"] for r in bad),
                "bad_inputs": bad,
                "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}",
                "command": f"python benchmarks/reliability.py --kills {a.kills} --seed {a.seed}",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
