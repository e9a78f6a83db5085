"""Speed of the §4.1.1 de-duplication hash: images per second, and linear growth with N.

Hashes (autoencoder codes) and groups (exact collisions, and radius 1) the first N of all the real
images at hand (CIFAR-10 train + test, Tiny ImageNet train + val: 170,000 at 32x32), for several
N, on the CPU and, when CUDA is available, on the GPU. Prints one JSON object; ``--out`` also
writes it. The full study (``python -m dcgan_lib dedup-study --size full``) stores the same JSON,
from the same function, as ``artifacts/dedup_ae/speed.json``.

    python benchmarks/dedup_speed.py --data-root ../shared/data [--store]

Without the data it times the same on test-made images (``"data": "made_images"``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from dcgan_lib import dedup
from dcgan_lib.artifacts import artifacts_dir, register
from dcgan_lib.book import data_root
from dcgan_lib.storage import plain
from dcgan_lib.studies.dedup import load_sets, made_images, speed_benchmark

SETS = (("cifar10", ("train", "test")), ("tinyimagenet", ("train", "val")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None, help="default: $DCGAN_DATA or ../shared/data")
    p.add_argument("--model", default=None, help="default: artifacts/dedup_ae/ae.pt")
    p.add_argument(
        "--sizes", default="10000,20000,40000,85000,170000", help="N values (capped at all)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument(
        "--store",
        action="store_true",
        help="also write artifacts/dedup_ae/speed.json and record it in the manifest",
    )
    a = p.parse_args(argv)

    root = a.data_root or data_root()
    if root is not None:
        sets = [[(n, s) for s in splits] for n, splits in SETS]
        images = np.concatenate([load_sets(s, root, None)[0] for s in sets])
        data = ", ".join(f"{n} {'+'.join(sp)}" for n, sp in SETS)
    else:
        images, data = made_images(20_000, seed=3), "made_images"
    model = dedup.load_autoencoder(a.model)
    sizes = [int(s) for s in a.sizes.split(",")]
    result = speed_benchmark(model, images, sizes, a.repeats, data=data)
    text = json.dumps(plain(result), indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    if a.store:
        path = artifacts_dir() / dedup.ARTIFACT / "speed.json"
        path.write_text(text + "\n")
        register(
            f"{dedup.ARTIFACT}/speed.json", path, "python " + " ".join(sys.argv), "speed benchmark"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
