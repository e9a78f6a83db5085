"""Training throughput: a pytorch/examples-style reference loop against this library's engines.

    python benchmarks/throughput.py --mode step --peak-tflops 800   # on a GPU (minutes)
    python benchmarks/throughput.py --mode step --compile           # + torch.compile'd fast engine
    python benchmarks/throughput.py --mode e2e --data-root ../shared/data   # examples64, CelebA-10k
    python benchmarks/throughput.py --mode e2e --epochs 25 --data-root ../shared/data  # a §4 run
    python benchmarks/throughput.py --mode fid --data-root ../shared/data   # one FID-10k, cached
    python benchmarks/throughput.py --mode decode --data-root ../shared/data  # decode img/s
    python benchmarks/throughput.py --configs smoke32 --steps 3 --device cpu   # the code, on a CPU

Prints JSON. On CUDA it also writes ``artifacts/benchmarks/throughput.json`` (``--out`` to change;
each mode fills its own key, ``e2e`` over several epochs the key ``e2e_run``, so all can share the
file), recorded in the artifacts manifest. What is measured, and how: ``dcgan_lib.studies.throughput``
(``run_step``: the reference loop of pytorch/examples, our eager engine and our fast engine per
model config; ``run_e2e``: epochs from the image archive, decode included and reported apart,
against ImageFolder + DataLoader with 2 workers; ``run_fid``: one FID uncached and cached;
``run_decode``: the decode into the packed cache in one thread and with a process per core).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dcgan_lib.artifacts import THROUGHPUT, artifacts_dir
from dcgan_lib.device import resolve_device
from dcgan_lib.studies.throughput import CONFIGS, run_decode, run_e2e, run_fid, run_step, store

DEFAULT_OUT = artifacts_dir() / THROUGHPUT
MODES = ("step", "e2e", "fid", "decode")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=MODES, default="step")
    p.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help=f"step: default {' '.join(CONFIGS)}; e2e: the first (default examples64, the model "
        "of pytorch/examples' script); fid: the first (default dcgan64)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200, help="timed steps per loop (step mode)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10)")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's bf16 peak")
    p.add_argument(
        "--compile", action="store_true", help="step: add the torch.compile'd fast engine; "
        "e2e: train with it"
    )  # fmt: skip
    p.add_argument("--data", default="celeba", help="e2e: celeba or imagefolder; fid, decode")
    p.add_argument("--data-root", default=None, help="e2e, fid, decode: the folder of the data")
    p.add_argument("--split", default="train", help="fid, decode: the split")
    p.add_argument("--image-size", type=int, default=64, help="decode: the cache's image size")
    p.add_argument("--workers", type=int, default=None, help="e2e baseline: DataLoader workers "
                   "(default 2); decode: processes (default: one per core)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=1, help="e2e: epochs (25: a §4 run)")
    p.add_argument(
        "--baseline-epochs", type=int, default=1, help="e2e: epochs of the baseline measured"
    )
    p.add_argument("--n", type=int, default=10_000, help="fid: samples and reference images")
    p.add_argument("--network", default="inception", help="fid: inception, or tiny (smoke)")
    p.add_argument("--cache-dir", default=None, help="fid: the packed-image cache")
    p.add_argument("--out", default=None, help=f"write JSON here (default on CUDA: {DEFAULT_OUT})")
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    if a.warmup is None:
        a.warmup = 10 if device.type == "cuda" else 1
    if a.mode != "step" and not a.data_root:
        p.error(f"--mode {a.mode} needs --data-root")
    first = {"e2e": "examples64", "fid": "dcgan64"}.get(a.mode)
    a.configs = a.configs or (list(CONFIGS) if a.mode == "step" else [first])
    if a.mode == "step":
        result = run_step(
            a.configs, device, a.batch_size, a.steps, a.warmup, a.peak_tflops, a.compile
        )
    elif a.mode == "e2e":
        workers = 2 if a.workers is None else a.workers
        result = run_e2e(
            a.configs[0], a.data, a.data_root, device, a.batch_size, workers, a.epochs,
            a.baseline_epochs, a.compile,
        )  # fmt: skip
    elif a.mode == "fid":
        result = run_fid(
            a.data, a.data_root, device, a.split, a.n, a.configs[0], a.network, a.cache_dir
        )
    else:
        result = run_decode(a.data, a.data_root, a.split, a.image_size, workers=a.workers)
    print(json.dumps(result, indent=1))
    out = a.out or (DEFAULT_OUT if device.type == "cuda" else None)
    if out:
        command = " ".join(["python benchmarks/throughput.py", *(argv or sys.argv[1:])])
        store(result, Path(out), command)
    return result


if __name__ == "__main__":
    main()
