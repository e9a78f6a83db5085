"""Training throughput: pytorch/examples' loop against this library's engines (the Compute page).

Measures what ``benchmarks/throughput.py`` prints and stores. ``run_step`` (one process, one
device, per model config):

- ``reference``: pytorch/examples' dcgan iteration with its host syncs, its data already on the
  device as float (``dcgan_lib.studies.examples_baseline``);
- ``eager``: this library's eager engine (fp32, batches gathered on the host, stats read every
  ``log_every`` steps);
- ``fast``: ``dcgan_lib.engine`` (GPU-resident uint8 data, bf16 autocast, channels_last, fused
  Adam, one CUDA graph per iteration; no graph on a CPU).

For each: images/s, ms per step, achieved TFLOP/s (the FLOPs of one fp32 step counted by
``torch.utils.flop_counter.FlopCounterMode``, divided by the measured step time), peak device
memory (``torch.cuda.max_memory_allocated``), and the speed-up over the reference.

``run_e2e`` (one epoch from the image archive): ours = the one-time decode into the packed uint8
cache (``dcgan_lib.data.load_dataset``, timed on its own), the upload to the device, then an
epoch of the fast engine; against pytorch/examples' data path: torchvision ``ImageFolder`` with
its transforms (Resize, CenterCrop, ToTensor, Normalize) and ``DataLoader(batch_size=128,
shuffle=True, num_workers=2)`` feeding the reference loop (the archive is unpacked for it first,
timed apart: that script reads a folder). With ``epochs`` > 1 (mode ``e2e_run``, e.g. the 25
epochs of a §4 run) ours trains every epoch, the one-time decode amortized over them as in a real
run; the baseline is measured over ``baseline_epochs`` and its per-epoch time scaled to the same
number of epochs (said in the result).

With ``compile=True`` the step mode adds a ``fast+compile`` row (``torch.compile`` of G and D
inside the captured step) and the end-to-end modes use it.

``run_fid``: the seconds of one FID-10k (samples of a generator against the reference set), the
first time (reference statistics computed and cached) and again (read from the cache), and that
the two agree. ``run_decode``: images/s of the decode into the packed cache in one thread and
with a process per core, and that the two caches are byte-identical.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from dcgan_lib import engine
from dcgan_lib.artifacts import register_if_stored
from dcgan_lib.config import TrainConfig, get_model_config
from dcgan_lib.data import Packed, epoch_order, load_dataset
from dcgan_lib.device import device_label
from dcgan_lib.distributed import Dist
from dcgan_lib.engine import EagerRunner
from dcgan_lib.metrics import evaluate_generator, feature_network
from dcgan_lib.models import sample_z
from dcgan_lib.step import make_optimizers, train_step
from dcgan_lib.studies.examples_baseline import (
    LOG_EVERY,
    bench_reference,
    examples_epochs,
    folder_for_imagefolder,
    fresh_nets,
    measure,
    start_memory,
    sync,
)

CONFIGS = ("paper64", "dcgan64", "imagenet32", "examples64")


def flops_per_step(cfg: TrainConfig, device: torch.device) -> int:
    """FLOPs of one D+G iteration (forward and backward, fp32 eager) at ``cfg.batch_size``."""
    G, D = fresh_nets(cfg, device)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    m = cfg.model
    x = torch.rand(cfg.batch_size, m.nc, m.image_size, m.image_size, device=device) * 2 - 1
    z = sample_z(cfg.batch_size, m, device=device)
    with FlopCounterMode(display=False) as counter:
        train_step(G, D, opt_g, opt_d, x, z)
    return int(counter.get_total_flops())


def bench_engine(
    kind: str, cfg: TrainConfig, images: np.ndarray, steps: int, warmup: int, device: torch.device
) -> dict:
    """The library's ``eager`` or ``fast`` (or ``fast+compile``) engine, built as ``train``
    builds it."""
    start_memory(device)
    G, D = fresh_nets(cfg, device)
    z_rng = torch.Generator(device=device).manual_seed(cfg.seed)
    if kind.startswith("fast"):
        options = engine.FastOptions.for_device(device, compile=kind == "fast+compile")
        G, D = options.prepare(G), options.prepare(D)
        opt_g, opt_d = make_optimizers(G, D, cfg, **options.adam_kwargs())
        runner = engine.FastRunner(
            G, D, opt_g, opt_d, cfg, images, device, z_rng, options, resident=True
        )
    else:
        opt_g, opt_d = make_optimizers(G, D, cfg)
        packed = Packed(images, None, [str(i) for i in range(len(images))], {})
        runner = EagerRunner(G, D, opt_g, opt_d, cfg, packed, device, z_rng, Dist())
    n_batches = len(images) // cfg.batch_size

    def step(i: int) -> None:
        if i % n_batches == 0:
            runner.set_epoch(epoch_order(len(images), i // n_batches, cfg.seed))
        runner.step(i % n_batches)

    try:
        row = measure(step, steps, warmup, device, finish=runner.read_window)
    finally:
        runner.close()
    if kind.startswith("fast"):
        row.update(options=runner.options, graph_captured=runner.graph is not None)
    return row


def bench_config(
    name: str,
    batch: int,
    steps: int,
    warmup: int,
    device: torch.device,
    seed: int = 1,
    compile: bool = False,
) -> dict:
    """The three loops (four with ``compile``) on one model config; their rows and speed-ups."""
    cfg = TrainConfig(model=get_model_config(name), batch_size=batch, seed=seed, device=str(device))
    m = cfg.model
    n_batches = 16  # the data: 16 batches of random images, resident on the device
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch * n_batches, m.image_size, m.image_size, m.nc), np.uint8)
    flops = flops_per_step(cfg, device)
    rows = {"reference": bench_reference(cfg, images, steps, warmup, device)}
    kinds = ("eager", "fast", "fast+compile") if compile else ("eager", "fast")
    for kind in kinds:
        t0 = time.perf_counter()
        rows[kind] = bench_engine(kind, cfg, images, steps, warmup, device)
        rows[kind]["wall_s"] = time.perf_counter() - t0  # warm-up and compilation included
    for row in rows.values():
        sec = row.pop("seconds") / row["steps"]
        row.update(img_per_s=batch / sec, ms_per_step=1000 * sec, tflops=flops / sec / 1e12)
    ref_rate = rows["reference"]["img_per_s"]
    return {
        "gflop_per_step": flops / 1e9,
        "gflop_per_img": flops / batch / 1e9,
        "engines": rows,
        "speedup": {k: rows[k]["img_per_s"] / ref_rate for k in kinds},
    }


def _device_info(device: torch.device) -> dict:
    info = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        info.update(gpu=device_label(device), cuda=torch.version.cuda)
    return info


def run_step(
    configs: list[str],
    device: torch.device,
    batch_size: int = 128,
    steps: int = 200,
    warmup: int = 10,
    peak_tflops: float | None = None,
    compile: bool = False,
) -> dict:
    """``bench_config`` for each config, with the device and the settings."""
    result = {
        "mode": "step",
        "batch_size": batch_size,
        "steps": steps,
        "warmup": warmup,
        "compile": compile,
        **_device_info(device),
        "peak_tflops": peak_tflops,
        "configs": {},
    }
    for name in configs:
        row = bench_config(name, batch_size, steps, warmup, device, compile=compile)
        if peak_tflops:
            row["fraction_of_peak"] = row["engines"]["fast"]["tflops"] / peak_tflops
            if compile:
                fc = row["engines"]["fast+compile"]["tflops"]
                row["fraction_of_peak_compiled"] = fc / peak_tflops
        result["configs"][name] = row
    return result


# ---------------------------------------------------------------------------------------------
# End to end: one epoch from the archive


def run_e2e(
    config: str,
    data: str,
    data_root: str | Path,
    device: torch.device,
    batch_size: int = 128,
    workers: int = 2,
    epochs: int = 1,
    baseline_epochs: int = 1,
    compile: bool = False,
    limit: int | None = None,
) -> dict:
    """``epochs`` epochs, ours (decode once, upload, fast engine) against pytorch/examples' data
    path (measured over ``baseline_epochs``, scaled to ``epochs``). ``limit``: the archive's first
    images only, on both sides (smoke runs)."""
    cfg = TrainConfig(model=get_model_config(config), batch_size=batch_size, device=str(device))
    root = Path(data_root)
    with tempfile.TemporaryDirectory(prefix="dcgan-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        # ours: decode once into the packed cache (a fresh cache, so the decode is measured)
        t0 = time.perf_counter()
        packed = load_dataset(
            data, root, "train", cfg.model.image_size, tmp / "cache", limit, progress=False
        )
        decode_s = time.perf_counter() - t0
        ours = _ours_epochs(cfg, packed.images, device, epochs, compile) | {"decode_s": decode_s}
        ours["total_s"] = decode_s + ours["upload_s"] + ours["epoch_s"]
        folder, extract_s = folder_for_imagefolder(data, root, tmp, limit)
        baseline = examples_epochs(
            cfg, folder, device, min(baseline_epochs, epochs), workers, limit
        )
    baseline["extract_s"] = extract_s
    per_epoch = baseline["epoch_s"] / baseline["epochs"]
    result = {
        "mode": "e2e" if epochs == 1 else "e2e_run",
        "config": config,
        "data": data,
        "data_description": packed.meta.get("description", data),
        "n_images": len(packed),
        "batch_size": batch_size,
        "epochs": epochs,
        **_device_info(device),
        "ours": ours,
        "pytorch_examples": baseline,
        "speedup_epoch": ours["img_per_s"] / baseline["img_per_s"],
    }
    if epochs == 1:
        result["speedup_with_decode"] = baseline["epoch_s"] / ours["total_s"]
    else:
        baseline["total_s"] = per_epoch * epochs
        baseline["total_is"] = f"measured over {baseline['epochs']} epoch(s), scaled to {epochs}"
        result["speedup_run"] = baseline["total_s"] / ours["total_s"]
        result["decode_share"] = decode_s / ours["total_s"]
    return result


def _ours_epochs(
    cfg: TrainConfig, images: np.ndarray, device: torch.device, epochs: int, compile: bool
) -> dict:
    """Upload, then ``epochs`` epochs of the fast engine as ``train`` runs them."""
    G, D = fresh_nets(cfg, device)
    options = engine.FastOptions.for_device(device, compile=compile)
    G, D = options.prepare(G), options.prepare(D)
    opt_g, opt_d = make_optimizers(G, D, cfg, **options.adam_kwargs())
    z_rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    sync(device)
    t0 = time.perf_counter()
    runner = engine.FastRunner(G, D, opt_g, opt_d, cfg, images, device, z_rng, options)
    sync(device)
    upload_s = time.perf_counter() - t0
    steps = len(images) // cfg.batch_size
    t0, step = time.perf_counter(), 0
    try:
        for epoch in range(epochs):
            runner.set_epoch(epoch_order(len(images), epoch, cfg.seed))
            for it in range(steps):
                runner.step(it)
                step += 1
                if step % LOG_EVERY == 0:
                    runner.read_window()
        runner.read_window()
        sync(device)
    finally:
        runner.close()
    epoch_s = time.perf_counter() - t0
    return {
        "upload_s": upload_s,
        "epoch_s": epoch_s,
        "epochs": epochs,
        "images": steps * cfg.batch_size * epochs,
        "img_per_s": steps * cfg.batch_size * epochs / epoch_s,
        "data_on_device": runner.options["data_on_device"],
        "graph_captured": runner.graph is not None,
        "compile": compile,
    }


# ---------------------------------------------------------------------------------------------
# FID and decode timings


def run_fid(
    data: str,
    data_root: str | Path | None,
    device: torch.device,
    split: str = "train",
    n: int = 10_000,
    config: str = "dcgan64",
    network: str = "inception",
    cache_dir: str | Path | None = None,
    limit: int | None = None,
) -> dict:
    """Seconds of one FID (``n`` samples of an untrained ``config`` G against ``n`` reference
    images): first with the reference statistics computed (and cached), then read from the
    cache; the two results must agree. The packed images come from the usual cache (decoded
    first if needed, not timed); the FID cache is a fresh folder. ``limit``: the split's first
    images only (smoke runs)."""
    cfg = TrainConfig(model=get_model_config(config), device=str(device))
    load_dataset(data, data_root, split, cfg.model.image_size, cache_dir, limit, progress=False)
    G, _ = fresh_nets(cfg, device)
    net = feature_network(network)
    timings, results = [], []
    with tempfile.TemporaryDirectory(prefix="dcgan-fid-") as tmp:  # a fresh reference cache
        for _ in range(2):
            sync(device)
            t0 = time.perf_counter()
            results.append(
                evaluate_generator(
                    G, data, data_root, split, n, 0, device, cache_dir, False, net=net,
                    fid_cache=tmp, limit=limit,
                )
            )  # fmt: skip
            sync(device)
            timings.append(time.perf_counter() - t0)
    first, again = results
    return {
        "mode": "fid",
        "protocol": first["protocol"],
        "network": getattr(net, "cache_id", network),
        "config": config,
        **_device_info(device),
        "uncached_s": timings[0],
        "cached_s": timings[1],
        "reference_cached": [r["reference_cached"] for r in results],
        "fid": [first["fid"], again["fid"]],
        "kid_mean": [first["kid_mean"], again["kid_mean"]],
        "agree": abs(first["fid"] - again["fid"]) <= 1e-6 * max(1.0, abs(first["fid"])),
    }


def run_decode(
    data: str,
    data_root: str | Path,
    split: str = "train",
    image_size: int = 64,
    decoders: tuple[str, ...] = ("serial", "processes"),
    workers: int | None = None,
    limit: int | None = None,
) -> dict:
    """Images/s of the decode into the packed cache with each decoder (a fresh cache each), and
    whether the caches are byte-identical. ``limit``: the first images only (smoke runs)."""
    rows, digests = {}, {}
    for decoder in decoders:
        with tempfile.TemporaryDirectory(prefix="dcgan-decode-") as tmp:
            t0 = time.perf_counter()
            packed = load_dataset(
                data, data_root, split, image_size, tmp, limit, progress=False,
                workers=workers, decoder=decoder,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
            digests[decoder] = hashlib.sha1(np.ascontiguousarray(packed.images).data).hexdigest()
            rows[decoder] = {
                "seconds": seconds,
                "images": len(packed),
                "img_per_s": len(packed) / seconds,
            }
    return {
        "mode": "decode",
        "data": data,
        "split": split,
        "image_size": image_size,
        "cpu_cores": os.cpu_count(),
        "workers": workers or os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "decoders": rows,
        "byte_identical": len(set(digests.values())) == 1,
        "sha1": digests[decoders[0]],
    }


def store(result: dict, out: str | Path, command: str) -> Path:
    """Merge ``result`` under its mode's key (``step`` or ``e2e``) into the JSON file ``out``;
    inside ``artifacts/``, record it in the manifest."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    blob = json.loads(out.read_text()) if out.exists() else {}
    result = result | {
        "command": command,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    blob[result["mode"]] = result
    out.write_text(json.dumps(blob, indent=1) + "\n")
    extra = {"machine": result["gpu"]} if result.get("gpu") else None
    register_if_stored(out, command, extra=extra)
    return out


# ---------------------------------------------------------------------------------------------
# The benchmark's modes at the book's sizes (the reproduce job)

SIZES = {  # per size: the FID timing, the decode, the end-to-end runs, the step benchmark, and
    # the images read (smoke: the archive's first 48, whatever the data root holds)
    "smoke": {"fid": (10, "smoke64", "tiny"), "decode": 32, "e2e": ("smoke32", 16, 0, 2),
              "step": (["smoke32"], 16, 2, 1), "limit": 48},
    "full": {"fid": (10_000, "dcgan64", "inception"), "decode": 64,
             "e2e": ("examples64", 128, 2, 25), "step": (list(CONFIGS), 128, 200, 10),
             "limit": None},
}  # fmt: skip


def measure_mode(
    mode: str,
    size: str,
    data_root: str | None,
    device: torch.device,
    cache_dir: str | None = None,
    peak_tflops: float | None = None,
) -> tuple[dict, str]:
    """One mode of the benchmark (``fid``, ``decode``, ``e2e``, ``e2e_run``, ``step``) at a size
    of ``SIZES``, on the CelebA-10k archive: its result and the equivalent command line. The
    full step benchmark adds the compiled engine and keeps the stored run's bf16 peak, so that
    its shares of peak stay comparable."""
    sz, tp, limit = SIZES[size], "python benchmarks/throughput.py", SIZES[size]["limit"]
    if mode == "fid":
        n, cfg, net = sz["fid"]
        result = run_fid("celeba", data_root, device, "train", n, cfg, net, cache_dir, limit)
        return result, f"{tp} --mode fid --data-root {data_root}"
    if mode == "decode":
        result = run_decode("celeba", data_root, "train", sz["decode"], limit=limit)
        return result, f"{tp} --mode decode --data-root {data_root}"
    if mode in ("e2e", "e2e_run"):
        cfg, batch, workers, run_epochs = sz["e2e"]
        epochs = run_epochs if mode == "e2e_run" else 1
        result = run_e2e(cfg, "celeba", data_root, device, batch, workers, epochs, limit=limit)
        return result, f"{tp} --mode e2e --epochs {epochs} --data-root {data_root}"
    configs, batch, steps, warmup = sz["step"]
    if size == "smoke":
        result = run_step(configs, device, batch, steps, warmup)
        return (
            result,
            f"{tp} --configs {' '.join(configs)} --batch-size {batch} --steps {steps} --device cpu",
        )
    result = run_step(configs, device, batch, steps, warmup, peak_tflops, compile=True)
    peak = f" --peak-tflops {peak_tflops:g}" if peak_tflops else ""
    return result, f"{tp} --mode step --compile{peak}"
