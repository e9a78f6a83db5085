"""Small trained results the book loads in book mode: fp16 weights, metrics, sample grids.

Everything lives under ``artifacts/`` with ``manifest.json`` recording, per file, its sha256, size,
the config and the command that produced it. A missing artifact raises ``ArtifactMissing`` whose
message names that command, so a book page can say "not produced yet: run ...".
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from dcgan_lib.config import TrainConfig
from dcgan_lib.experiments import EXPERIMENTS, FACES_DEFAULT, FACES_MODEL
from dcgan_lib.storage import atomic_write

# Importing this module imports no torch (the plan of `reproduce`, `status` and --help stay
# quick); what needs it imports it when called. load_generator and load_weights are re-exported
# from dcgan_lib.checkpoint: artifacts.load_weights(require(...)) reads a stored model.
_FROM_CHECKPOINT = ("load_checkpoint", "load_generator", "load_weights", "save_weights")


def __getattr__(name: str):
    if name in _FROM_CHECKPOINT:
        from dcgan_lib import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_FILE_BYTES = 16 * 2**20  # a GPU machine takes at most 64 MiB of repository per call

# What the book expects, and the command that makes each (full mode, on a GPU).
PRODUCERS = {
    "features_cifar10": (
        "python -m dcgan_lib features cifar10 --size full --data-root ../shared/data "
        "--max-minutes 5  (on a GPU, after imagenet32_tinyimagenet; no unit starts after 5 "
        "minutes, each ends within 10; repeat until it prints 'complete')"
    ),
    "features_svhn": (
        "python -m dcgan_lib download svhn --data-root DIR  (where the internet is reachable), then "
        "python -m dcgan_lib features svhn --size full --data-root DIR --max-minutes 5  (on a GPU, "
        "after imagenet32_tinyimagenet; repeat until it prints 'complete')"
    ),
    # one file made apart from the rest of its folder: by its own command
    "dedup_ae/sweep.json": (
        "python -m dcgan_lib dedup-sweep --data-root ../shared/data  (CPU, about an hour on 2 "
        "cores)"
    ),
    # what a 2-core CPU measures honestly: the raw-pixel baseline with a few draws (size book at
    # 1,000 labels, then 400 per class with one draw per C: liblinear needs minutes per fit there)
    "features_cifar10/baselines_cpu.json": (
        "python -m dcgan_lib features cifar10 --size book --data-root ../shared/data "
        "--metrics-name baselines_cpu.json, then python -m dcgan_lib features cifar10 --size book "
        "--regimes 400 --select-draws 1 --eval-draws 10 --data-root ../shared/data "
        "--metrics-name baselines_cpu.json, then (the random-D control at 1,000 labels, most of an "
        "hour on 2 cores) python -m dcgan_lib features cifar10 --size book --variants random "
        "--regimes 100 --select-draws 2 --eval-draws 10 --data-root ../shared/data "
        "--metrics-name baselines_cpu.json"
    ),
    # the names of the collision groups the §4.1.1 page shows (their images are read from the
    # data when the book is built; never stored)
    "dedup_ae/galleries.json": (
        "python -m dcgan_lib dedup-study --size book --export --data-root ../shared/data  (CPU, "
        "about 2 min: the stored autoencoder's study recomputed, its galleries' names stored)"
    ),
    "dedup_ae": (
        "python -m dcgan_lib dedup-study --size full --data-root ../shared/data  (CPU, about 4 min; "
        "writes ae.pt, metrics.json and speed.json)"
    ),
    "celeba_pose": (
        "python -m dcgan_lib latent --pose-reliability --data-root ../shared/data  (CPU, 15 s; "
        "re-measures reliability.json; labels.json holds labels by eye, protocol in the file)"
    ),
    "benchmarks": (
        "python benchmarks/throughput.py --mode step --peak-tflops 800 && python "
        "benchmarks/throughput.py --mode e2e --data-root ../shared/data  (on a GPU; writes "
        "benchmarks/throughput.json)"
    ),
    "numerics": (
        "python benchmarks/numerics.py --data-root ../shared/data --max-minutes 9  (on a GPU; "
        "repeat until it writes numerics/engines.json)"
    ),
    "faces_model": (
        "python -m dcgan_lib reproduce --only faces_model --data-root ../shared/data  (on a GPU, "
        "after celeba_dcgan64, celeba_dcgan64_updates and celeba_dcgan64_long; seconds)"
    ),
    "celeba_attributes": (
        "python -m dcgan_lib attributes --data-root ../shared/data  (CPU, about 4 min; writes "
        "classifier.pt and metrics.json)"
    ),
    # the §6 studies of the stored faces model (celeba_dcgan64), each by its own command
    "latent_walks": (
        "python -m dcgan_lib latent --parts walks neighbours --data-root ../shared/data --export"
        "  (CPU, about 1 min)"
    ),
    "vector_arithmetic": (
        "python -m dcgan_lib latent --parts arithmetic turn --export  (CPU, about 10 min)"
    ),
    "guided_backprop_faces": (
        "python -m dcgan_lib guided-backprop --model faces --data-root ../shared/data --export"
        "  (CPU, about 3 min)"
    ),
    "guided_backprop_scenes": (
        "python -m dcgan_lib guided-backprop --model scenes --data-root ../shared/data --export"
        "  (CPU, after the scene model tinyimagenet_dcgan64 is stored)"
    ),
    "forgetting_faces": "python -m dcgan_lib forgetting study --export  (CPU, about 10 min)",
    # the authors' released weights (Newmu/dcgan_code), converted (dcgan_lib.authors)
    "authors_svhn": "python -m dcgan_lib.authors --source ../shared/authors  (CPU, seconds)",
    "authors_imagenet32": "python -m dcgan_lib.authors --source ../shared/authors  (CPU, seconds)",
    "authors_svhn_walks": "python -m dcgan_lib.studies.authors_svhn --export  (CPU, seconds)",
    "features_cifar10/authors_imagenet.json": (
        "python -m dcgan_lib features cifar10 --d authors-imagenet --size cpu --solver liblinear "
        "--solver-all torch --data-root ../shared/data --feature-cache runs/features_cache  "
        "(2-core CPU, hours; resumable: repeat until it prints 'complete')"
    ),
    "features_svhn/authors_svhn.json": (
        "python -m dcgan_lib download svhn --data-root DIR  (where the internet is reachable), "
        "then python -m dcgan_lib features svhn --d authors-svhn --size authors --data-root DIR"
    ),
}


# The §4 training runs (dcgan_lib.experiments): celeba_dcgan64, imagenet32_tinyimagenet, ...
PRODUCERS.update({e.name: e.command() for e in EXPERIMENTS.values()})
THROUGHPUT = "benchmarks/throughput.json"  # what the throughput benchmark stores
NUMERICS = "numerics/engines.json"  # what the numerics benchmark stores


class ArtifactMissing(FileNotFoundError):
    """An artifact the book needs has not been produced; the message names the command."""


def artifacts_dir() -> Path:
    env = os.environ.get("DCGAN_ARTIFACTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "artifacts"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(root: Path | None = None) -> dict:
    path = (root or artifacts_dir()) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {"files": {}}


def write_manifest(manifest: dict, root: Path) -> None:
    """Write ``manifest.json`` atomically: a job killed while recording keeps the old one."""
    blob = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic_write(root / "manifest.json", lambda f: f.write(blob))


def require_json(name: str, filename: str = "metrics.json", root: Path | None = None) -> dict:
    """The content of the JSON artifact ``name/filename``, checked as ``require`` checks it."""
    return json.loads(require(name, filename, root).read_text())


def producer(name: str, unknown: str | None = None) -> str:
    """The command that makes artifact ``name`` (a folder, or ``folder/file``): the file's own
    where it has one, else its folder's, else ``unknown`` (by default: words saying so)."""
    folder = name.split("/")[0]
    if unknown is None:
        unknown = f"the full-size run that produces {folder}"
    return PRODUCERS.get(name) or PRODUCERS.get(folder, unknown)


def require(name: str, filename: str, root: Path | None = None) -> Path:
    """Path of artifact ``name/filename``, checked against the manifest's sha256."""
    root = root or artifacts_dir()
    path = root / name / filename
    command = producer(f"{name}/{filename}")
    if not path.exists():
        raise ArtifactMissing(f"{name}/{filename}: not produced yet: run {command}")
    entry = read_manifest(root)["files"].get(f"{name}/{filename}")
    if entry is None:
        raise ArtifactMissing(
            f"{name}/{filename} is not in artifacts/manifest.json; re-export it: {command}"
        )
    if entry["sha256"] != sha256(path):
        raise ArtifactMissing(
            f"{name}/{filename} does not match its sha256 in the manifest "
            f"(changed or damaged); produce it again: {command}"
        )
    return path


def is_stored(name: str, root: Path | None = None) -> bool:
    """Whether artifact ``name`` (``folder/file``) exists with the sha256 the manifest records."""
    try:
        require(*name.split("/", 1), root)
    except ArtifactMissing:
        return False
    return True


def export_run(
    run_dir: str | os.PathLike,
    name: str,
    command: str = "",
    root: Path | None = None,
    weights: bool = True,
    checkpoint: str = "checkpoint.pt",
    machine: str | None = None,
) -> list[Path]:
    """Copy a finished run's small results into ``artifacts/name/`` and record them.

    The run's per-epoch frames go in as one strip, ``epochs.png`` (``dcgan_lib.strip``).
    ``weights=False`` copies only metrics, run info and sample grids (for models whose fp16
    weights are over the 16 MiB limit, or that the book does not load). ``checkpoint``: the
    file whose weights are shipped (``best.pt``: the checkpoint a run selected). ``machine``: what
    made them, recorded in the manifest."""
    from dcgan_lib import strip
    from dcgan_lib.checkpoint import load_checkpoint, save_weights
    from dcgan_lib.models import Discriminator, Generator

    run, root = Path(run_dir), root or artifacts_dir()
    dest = root / name
    dest.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(run / checkpoint)
    cfg = TrainConfig.from_dict(ckpt["config"])
    G, D = Generator(cfg.model), Discriminator(cfg.model)
    G.load_state_dict(ckpt["G"])
    D.load_state_dict(ckpt["D"])
    written = [dest / "G.pt", dest / "D.pt"] if weights else []
    if weights:
        save_weights(G, written[0])
        save_weights(D, written[1])
    for f in ["metrics.jsonl", "run.json"] + [
        f"samples/{p.name}"
        for p in sorted((run / "samples").glob("*.png"))
        if not p.name.startswith("step_") and p.name != strip.STRIP_NAME
    ]:
        if (run / f).exists():
            target = dest / Path(f).name
            shutil.copyfile(run / f, target)
            written.append(target)
    # the fixed z after every epoch, as one strip (evenly thinned if over STRIP_MAX_BYTES)
    info = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    epochs = info.get("epoch", ckpt.get("epoch"))  # best.pt holds no epoch: the run's
    run_strip = strip.strip_of_run(run, image_size=cfg.model.image_size, run_epochs=epochs)
    if run_strip is not None:
        strip.write_strip(dest / strip.STRIP_NAME, run_strip, strip.STRIP_MAX_BYTES)
        written.append(dest / strip.STRIP_NAME)
    manifest = read_manifest(root)
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    for p in written:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(
                f"{p} is {p.stat().st_size / 2**20:.1f} MiB, over the 16 MiB limit for artifacts"
            )
        manifest["files"][f"{name}/{p.name}"] = {
            "sha256": sha256(p),
            "bytes": p.stat().st_size,
            "config": cfg.model.name,
            "step": ckpt["step"],
            "command": command or producer(f"{name}/{p.name}", ""),
            "created": now,
            **({"machine": machine} if machine else {}),
        }
        if p.name in ("G.pt", "D.pt") and checkpoint != "checkpoint.pt":
            manifest["files"][f"{name}/{p.name}"]["weights_from"] = checkpoint
    write_manifest(manifest, root)
    return written


def register(
    name: str,
    path: str | os.PathLike,
    command: str = "",
    config: str = "",
    root: Path | None = None,
    extra: dict | None = None,
) -> Path:
    """Record one file ``artifacts/<name>`` (for example ``dedup_ae/ae.pt``) in the manifest.

    ``extra``: more fields of its entry (``machine``, ``cpu_seconds``, ...)."""
    root = root or artifacts_dir()
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(
            f"{path} is {path.stat().st_size / 2**20:.1f} MiB, over the 16 MiB limit for artifacts"
        )
    manifest = read_manifest(root)
    manifest["files"][name] = {
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "config": config,
        "command": command or producer(name, ""),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    write_manifest(manifest, root)
    return path


def register_if_stored(
    path: str | os.PathLike, command: str = "", config: str = "", extra: dict | None = None
) -> Path | None:
    """``register`` a file that lies under ``artifacts/``; a file elsewhere (a smoke run's, a
    test's) is not recorded. Returns its artifact name's path, or None."""
    try:
        name = Path(path).resolve().relative_to(artifacts_dir().resolve()).as_posix()
    except ValueError:
        return None
    return register(name, path, command, config, extra=extra)


# ---------------------------------------------------------------------------------------------
# Studies of stored models (paper §6): metrics.json + figure PNGs, tied to the files they read


def _this_machine() -> str:
    from dcgan_lib.device import describe_machine

    return describe_machine()


def invoked_command() -> str:
    """The command line of this process as the user typed it (``python -m dcgan_lib ...``)."""
    mod = Path(sys.argv[0]).stem
    prog = "python -m dcgan_lib" if mod == "__main__" else f"python -m dcgan_lib.{mod}"
    return " ".join([prog, shlex.join(sys.argv[1:])]).strip()


def export_study(
    name: str,
    metrics: dict,
    figures: dict[str, bytes],
    inputs: list[str],
    command: str,
    cpu_seconds: float,
    wall_seconds: float,
    root: Path | None = None,
) -> list[Path]:
    """Write a study's ``artifacts/<name>/metrics.json`` and its figures (PNG bytes by file
    name), and register each with the command, this machine and the CPU time.

    ``inputs``: the artifacts it read (``"celeba_dcgan64/G.pt"``, ...); their sha256 go into the
    metrics, so ``load_study`` can tell results of an older model from current ones. Figures must
    be made of generated samples only: never of dataset images."""
    root = root or artifacts_dir()
    manifest = read_manifest(root)["files"]
    run = {
        "command": command,
        "machine": _this_machine(),
        "cpu_seconds": round(cpu_seconds, 1),
        "wall_seconds": round(wall_seconds, 1),
        "inputs": {f: manifest[f]["sha256"] for f in inputs},
    }
    dest = root / name
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "metrics.json").write_text(json.dumps({**metrics, "run": run}, indent=1) + "\n")
    for filename, png in figures.items():
        (dest / filename).write_bytes(png)
    extra = {k: run[k] for k in ("machine", "cpu_seconds", "wall_seconds")}
    config = json.dumps(metrics.get("config", ""), sort_keys=True)
    return [
        register(f"{name}/{f}", dest / f, command, config, root, extra)
        for f in ["metrics.json", *figures]
    ]


def load_study(name: str, config: dict | None = None, root: Path | None = None) -> dict:
    """The metrics of a stored study (``export_study``), checked: its files' sha256, that the
    models it read are the stored ones, and (given ``config``) that it ran at these sizes.
    Otherwise ArtifactMissing, whose message names the command that makes it again."""
    root = root or artifacts_dir()
    metrics = json.loads(require(name, "metrics.json", root).read_text())
    command = producer(name)
    manifest = read_manifest(root)["files"]
    for f, digest in metrics["run"]["inputs"].items():
        if f not in manifest or manifest[f]["sha256"] != digest:
            raise ArtifactMissing(
                f"{name} was computed from another {f} than the stored one: run {command}"
            )
    if config is not None and metrics.get("config") != json.loads(json.dumps(config)):
        raise ArtifactMissing(
            f"{name} was computed with other sizes than this page's: run {command}"
        )
    return metrics


def faces_model_artifact(root: Path | None = None) -> str:
    """The artifact folder of the §6 faces model: the run ``select_faces_model`` chose (its
    ``faces_model/selection.json`` checked against the manifest), else ``celeba_dcgan64``."""
    try:
        return require_json(FACES_MODEL, "selection.json", root)["chosen"]
    except ArtifactMissing:
        return FACES_DEFAULT


# ---------------------------------------------------------------------------------------------
# The command line: `export`


def run_cli(a: argparse.Namespace) -> int:
    command = " ".join(["python -m dcgan_lib", shlex.join(sys.argv[1:])])
    for p in export_run(a.run_dir, a.name, command=command):
        print(p)
    return 0
