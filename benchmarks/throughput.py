"""Training throughput: a pytorch/examples-style reference loop against this library's engines.

    python benchmarks/throughput.py --mode step --peak-tflops 800   # on a GPU (minutes)
    python benchmarks/throughput.py --mode e2e --data-root ../shared/data   # examples64, CelebA-10k
    python benchmarks/throughput.py --configs smoke32 --steps 3 --device cpu   # the code, on a CPU

Prints JSON. On CUDA it also writes ``artifacts/benchmarks/throughput.json`` (``--out`` to change;
each mode fills its own key, so both can share the file), recorded in the artifacts manifest.
What is measured, and how: ``dcgan_lib.throughput`` (``run_step``: the reference loop of
pytorch/examples, our eager engine and our fast engine per model config; ``run_e2e``: one epoch
from the image archive, decode included and reported apart, against ImageFolder + DataLoader with
2 workers).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dcgan_lib.artifacts import artifacts_dir
from dcgan_lib.throughput import CONFIGS, run_e2e, run_step, store
from dcgan_lib.train import resolve_device

DEFAULT_OUT = artifacts_dir() / "benchmarks/throughput.json"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["step", "e2e"], default="step")
    p.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help=f"step: default {' '.join(CONFIGS)}; e2e: the first (default examples64, the model "
        "of pytorch/examples' script)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200, help="timed steps per loop (step mode)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10)")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's bf16 peak")
    p.add_argument("--data", default="celeba", help="e2e: celeba or imagefolder")
    p.add_argument("--data-root", default=None, help="e2e: the folder holding the data")
    p.add_argument("--workers", type=int, default=2, help="e2e baseline: DataLoader workers")
    p.add_argument("--out", default=None, help=f"write JSON here (default on CUDA: {DEFAULT_OUT})")
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    if a.warmup is None:
        a.warmup = 10 if device.type == "cuda" else 1
    if a.mode == "e2e" and not a.data_root:
        p.error("--mode e2e needs --data-root")
    a.configs = a.configs or (list(CONFIGS) if a.mode == "step" else ["examples64"])
    if a.mode == "step":
        result = run_step(a.configs, device, a.batch_size, a.steps, a.warmup, a.peak_tflops)
    else:
        result = run_e2e(a.configs[0], a.data, a.data_root, device, a.batch_size, a.workers)
    print(json.dumps(result, indent=1))
    out = a.out or (DEFAULT_OUT if device.type == "cuda" else None)
    if out:
        command = " ".join(["python benchmarks/throughput.py", *(argv or sys.argv[1:])])
        store(result, Path(out), command)
    return result


if __name__ == "__main__":
    main()
