"""What the commands the pages offer cost on this machine: CPU seconds, wall seconds, peak memory.

    python benchmarks/exercise_costs.py                 # every command (about 30 CPU-minutes)
    python benchmarks/exercise_costs.py --only KEY ...  # some; the others stay as stored
    python benchmarks/exercise_costs.py --list

Each command of ``COMMANDS`` runs as a reader would type it, from the repository root, in a fresh
output folder under ``runs/exercise/`` (stored results are read from a copy of ``artifacts/``, so
nothing stored changes), one after the other. CPU seconds (user + system of the command and its
children) are the number to quote on a shared machine; wall seconds depend on what else ran (the
load average before and after each command is recorded). Writes and registers
``artifacts/benchmarks/exercise_costs.json`` (``dcgan_lib.run_yourself`` reads it) and prints it.
Decoded images are cached (``~/.cache/dcgan_lib``): the costs are with the cache built, except
``decode_celeba_cold``, which is that one-time decode.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dcgan_lib import artifacts
from dcgan_lib.device import describe_machine
from dcgan_lib.run_yourself import COSTS

ROOT = Path(__file__).resolve().parent.parent
OUT = "runs/exercise"
PY = "python"  # as a reader types it; run with this interpreter

STAGES = (
    "from dcgan_lib.config import get_model_config; from dcgan_lib.models import Generator; "
    "from dcgan_lib.diagram import generator_stages; "
    "[print(s.shape, '|', s.op) for s in generator_stages(Generator(get_model_config('paper64', "
    "ngf=64)))]"
)
WALK_ANIMATION = (
    "from dcgan_lib import animation; from dcgan_lib.studies.faces import load_faces_generator; "
    "from dcgan_lib.studies.latent import SIZES; G = load_faces_generator(); "
    "a = animation.latent_walk_animation(G, animation.study_walk_points(G, SIZES['book'], 4), "
    "steps=16); print(len(a), 'frames,', len(a.html) // 1000, 'kB')"
)
DECODE = (
    "from dcgan_lib.data import load_dataset; "
    f"print(len(load_dataset('celeba', '../shared/data', 'train', 64, cache_dir='{OUT}/cache')))"
)

# key: (command, the pages that offer it, what it does)
COMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "minimal_loop_smoke": (
        f"{PY} examples/dcgan_minimal.py --smoke --epochs 2 --out {OUT}/minimal_smoke",
        ("02_training",),
        "the page's loop, smoke mode: smoke32 on 512 synthetic images, 2 epochs of 4 steps",
    ),
    "train_smoke_strip": (
        f"{PY} -m dcgan_lib train --config smoke32 --data synthetic --limit 512 --epochs 10 "
        f"--out {OUT}/smoke_strip --no-progress",
        ("02_training",),
        "the library's trainer, smoke32 on 512 synthetic images, 10 epochs: a strip of 10 frames",
    ),
    "minimal_loop_celeba_1epoch": (
        f"{PY} examples/dcgan_minimal.py --data-root ../shared/data --epochs 1 "
        f"--out {OUT}/minimal_celeba",
        ("02_training", "10_sample_quality"),
        "the page's loop on CelebA-10k: dcgan64, one epoch (78 steps of 128) on the CPU",
    ),
    "decode_celeba_cold": (
        f'{PY} -c "{DECODE}"',
        ("02_training", "10_sample_quality"),
        "decoding CelebA-10k to 64 px once (the first run on a machine; cached afterwards)",
    ),
    "architecture_stages": (
        f'{PY} -c "{STAGES}"',
        ("01_architecture",),
        "G's stages from its shape walk for a changed config (paper64 at ngf=64)",
    ),
    "dedup_smoke": (
        f"{PY} -m dcgan_lib dedup-study --size smoke --out {OUT}/dedup_smoke",
        ("03_dedup",),
        "the de-duplication study at smoke size: a small autoencoder on synthetic images",
    ),
    "dedup_book": (
        f"{PY} -m dcgan_lib dedup-study --size book --data-root ../shared/data "
        f"--out {OUT}/dedup_book",
        ("03_dedup",),
        "the de-duplication study at book size: the stored autoencoder on planted duplicates",
    ),
    "features_synthetic_smoke": (
        f"{PY} -m dcgan_lib features synthetic --size smoke --out {OUT}/features_smoke "
        "--no-progress",
        ("s5_features", "04_cifar10_features", "05_svhn"),
        "the §5 protocol at smoke size on synthetic images (random smoke32 D, L2-SVM)",
    ),
    "authors_svhn_sampling": (
        f'{PY} -c "from dcgan_lib.studies import authors_svhn as S; G = S.svhn_generator(); '
        "ours, theirs = S.sample_grid(G, n=16), S.sample_grid(G, n=16, policy='batch'); "
        'print((ours - theirs).abs().amax(dim=(1, 2, 3)))"',
        ("05_svhn",),
        "the authors' SVHN G sampled with fixed statistics and batch by batch (exercise 2 of §5.2)",
    ),
    "features_cifar10_pixels_10": (
        f"{PY} -m dcgan_lib features cifar10 --size smoke --variants pixels --regimes 10 "
        f"--data-root ../shared/data --out {OUT}/features_cifar10 --no-progress",
        ("04_cifar10_features",),
        "raw-pixel L2-SVM on CIFAR-10 with 10 labels per class (smoke draws)",
    ),
    "latent_walks_book": (
        f"{PY} -m dcgan_lib latent --parts walks --size book --no-progress --out {OUT}/walks.json",
        ("s6_internals", "06_latent_walks"),
        "the §6.1 walks and their smoothness on the stored faces model, book size",
    ),
    "walk_animation_book": (
        f'{PY} -c "{WALK_ANIMATION}"',
        ("06_latent_walks",),
        "the §6.1 animation: 4 walks through 9 points, 16 steps a segment (129 frames)",
    ),
    "guided_backprop_smoke": (
        f"{PY} -m dcgan_lib guided-backprop --model faces --size smoke --out {OUT}/guided.json",
        ("07_guided_backprop",),
        "guided backpropagation at smoke size (a smoke64 D trained 40 steps, and a random D)",
    ),
    "forgetting_smoke": (
        f"{PY} -m dcgan_lib forgetting study --size smoke --out {OUT}/forgetting.json",
        ("08_forgetting_objects",),
        "the forgetting study at smoke size (the planted toy)",
    ),
    "arithmetic_smoke": (
        f"{PY} -m dcgan_lib latent --parts arithmetic turn --size smoke --no-progress "
        f"--out {OUT}/arithmetic.json",
        ("09_vector_arithmetic",),
        "vector arithmetic and the turn vector at smoke size (toy generator and judge)",
    ),
    "fid_celeba_1k_cpu": (
        f"{PY} -m dcgan_lib fid artifacts/celeba_dcgan64/G.pt --data celeba "
        "--data-root ../shared/data --n 1000 --device cpu",
        ("10_sample_quality",),
        "FID-1k of the stored faces model against CelebA-10k, Inception on the CPU",
    ),
    "throughput_dcgan64_cpu": (
        f"{PY} benchmarks/throughput.py --mode step --configs dcgan64 --device cpu --steps 3 "
        f"--warmup 1 --out {OUT}/throughput.json",
        ("11_compute",),
        "the step benchmark's three loops on dcgan64 at batch 128, 3 timed steps each, CPU",
    ),
}

NOTE = "the 2-core machine was shared with other jobs: CPU seconds are the number to compare"
RSS_OF = "the command's largest process (os.wait4)"


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    return [sys.executable, *argv[1:]] if argv[0] == PY else argv


def measure(key: str, store: Path) -> dict:
    """Run one command in a fresh output folder; its CPU, wall and memory."""
    command, pages, what = COMMANDS[key]
    out = ROOT / OUT
    shutil.rmtree(out, ignore_errors=True)  # every command starts from nothing it wrote before
    out.mkdir(parents=True)
    env = dict(os.environ, DCGAN_ARTIFACTS=str(store), PYTHONUNBUFFERED="1")
    load_before = os.getloadavg()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        t0 = time.monotonic()
        proc = subprocess.Popen(_argv(command), cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        # this command's own usage (with its finished children, e.g. decoding workers)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out_text, err_text = stdout.read(), stderr.read()
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"{key} failed ({proc.returncode}):\n{err_text[-3000:]}")
    return {
        "command": command,
        "pages": list(pages),
        "what": what,
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1),
        "max_rss_mb": round(usage.ru_maxrss / 1024),
        "max_rss_of": RSS_OF,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": describe_machine(_cpu()),
        "note": NOTE,
        "output_tail": out_text.strip().splitlines()[-3:],
        "measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _cpu():
    import torch

    return torch.device("cpu")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=sorted(COMMANDS))
    p.add_argument("--list", action="store_true")
    a = p.parse_args(argv)
    if a.list:
        for key, (command, pages, _) in COMMANDS.items():
            print(f"{key} ({', '.join(pages)}): {command}")
        return {}
    root = artifacts.artifacts_dir()
    path = root / COSTS
    stored = json.loads(path.read_text()) if path.exists() else {"commands": {}}
    for entry in stored["commands"].values():  # a first version read the peak over all commands
        if entry.get("max_rss_of") != RSS_OF:
            entry["max_rss_mb"] = None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "artifacts"
        shutil.copytree(root, copy)
        for key in a.only or list(COMMANDS):
            print(f"measuring {key} ...", file=sys.stderr, flush=True)
            stored["commands"][key] = measure(key, copy)
            result = {
                "about": "CPU cost of the commands the book's pages offer (benchmarks/"
                "exercise_costs.py); CPU seconds are user + system time of the command",
                "commands": dict(sorted(stored["commands"].items())),
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=1) + "\n")  # after each: a kill keeps them
            artifacts.register(
                COSTS, path, "python benchmarks/exercise_costs.py  (every command; --only KEY "
                "measures some again; CPU, about 30 CPU-minutes)",
                extra={"machine": describe_machine(_cpu()), "note": NOTE},
            )  # fmt: skip
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
