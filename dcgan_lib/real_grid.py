"""Real beside generated: a grid of training images next to a grid of samples, drawn when the
book builds from the data root (never stored: the data is never committed).

``real_beside_generated`` returns the figure (real on the left, generated on the right, the same
layout and size), or, when the data is not on the machine that builds the book, the sentence a
page shows in its place: where the real grid appears, and how to make it appear.
``show_real_beside_generated`` does either on a page. Paper: §4 (Figs. 2-3, 10: samples; the
reader judges them beside the data they imitate).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from dcgan_lib.data import load_dataset
from dcgan_lib.datasets import DataError
from dcgan_lib.strip import layout, to_uint8_tiles

CSS_CLASS = "dcgan-real-generated"  # the outer element of the pair on a page
# What each data set's real grid needs under the data root, in words for the page.
NEEDS = {
    "celeba": "CelebA-10k (`celeba/celeba-align-89x109-first10k.tar.gz`, or `img_align_celeba/`)",
    "cifar10": "CIFAR-10 (`cifar10/cifar10-jpg.tar.gz`, or `cifar-10-batches-py/`)",
    "tinyimagenet": "Tiny ImageNet (`tinyimagenet/tinyimagenet-*.tar.gz`, or `tiny-imagenet-200/`)",
    "svhn": "SVHN (`train_32x32.mat`: `python -m dcgan_lib download svhn`)",
    "lsun": "LSUN bedrooms (`bedroom_train_lmdb/`)",
}
NAMES = {"celeba": "CelebA-10k", "cifar10": "CIFAR-10", "tinyimagenet": "Tiny ImageNet"}


def missing_text(dataset: str, detail: str = "") -> str:
    """The sentence a page shows where the real grid goes when the data is absent."""
    needs = NEEDS.get(dataset, f"the {dataset} data set")
    return (
        f"The real grid appears here when the data is present at build time: {needs} under the "
        "data root (`DCGAN_DATA`, or `../shared/data` beside the checkout; see *How to run*), "
        "then build the book again." + (f" ({detail})" if detail else "")
    )


def real_images(
    dataset: str,
    data_root: str | os.PathLike | None = None,
    image_size: int = 64,
    n: int = 64,
    seed: int = 0,
    split: str = "train",
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """``n`` training images (n, S, S, 3) uint8 drawn at random (``seed``) from the whole split,
    at the size the models train on (``data.load_dataset``: the paper's preprocessing, cached).
    Raises ``DataError`` when the data is not there. Paper: §4."""
    packed = load_dataset(dataset, data_root, split, image_size, cache_dir, progress=False)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(packed), generator=g)[: min(n, len(packed))].sort().values.numpy()
    return np.asarray(packed.images[idx])


def _grid(images: torch.Tensor | np.ndarray | str | os.PathLike, nrow: int) -> np.ndarray:
    """Samples (N, C, S, S) in [-1, 1], uint8 images (N, S, S, 3), or a stored grid PNG -> one
    uint8 grid (the runs' layout)."""
    if isinstance(images, str | os.PathLike):
        with Image.open(Path(images)) as img:
            return np.asarray(img.convert("RGB"))
    if isinstance(images, torch.Tensor):
        return layout(to_uint8_tiles(images), nrow=nrow)
    return layout(np.asarray(images, dtype=np.uint8), nrow=nrow)


def pair_figure(
    real: np.ndarray,
    generated: torch.Tensor | np.ndarray | str | os.PathLike,
    real_title: str,
    generated_title: str,
    nrow: int = 8,
    width: float = 11.0,
) -> Figure:
    """Two grids side by side, the same size: ``real`` (N, S, S, 3) uint8 on the left,
    ``generated`` on the right (samples in [-1, 1], uint8 images, or a stored grid PNG)."""
    fig = Figure(figsize=(width, width / 2 + 0.45), layout="constrained")
    for ax, grid, title in zip(
        fig.subplots(1, 2),
        (_grid(real, nrow), _grid(generated, nrow)),
        (real_title, generated_title),
        strict=True,
    ):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return fig


def real_beside_generated(
    generated: torch.Tensor | np.ndarray | str | os.PathLike,
    dataset: str = "celeba",
    data_root: str | os.PathLike | None = None,
    image_size: int = 64,
    n: int = 64,
    seed: int = 0,
    split: str = "train",
    generated_title: str = "generated",
    cache_dir: str | os.PathLike | None = None,
) -> Figure | str:
    """``n`` random real training images of ``dataset`` (from ``data_root``, else
    ``$DCGAN_DATA``) beside ``generated``; without the data, the page's sentence saying where
    the real grid appears (``missing_text``). Paper: §4."""
    try:
        real = real_images(dataset, data_root, image_size, n, seed, split, cache_dir)
    except DataError as e:
        why = str(e).split(". ")[0]
        return missing_text(
            dataset, "no data root is set" if why.startswith("no data root") else why
        )
    name = NAMES.get(dataset, dataset)
    title = f"real: {len(real)} random {name} {split} images ({image_size} px)"
    return pair_figure(real, generated, title, generated_title)


def show_real_beside_generated(*args: object, **kwargs: object) -> None:
    """Show ``real_beside_generated(...)`` on a page: the pair (in a ``<figure>`` of class
    ``dcgan-real-generated``), or the sentence in its place (a quote: "Real images not
    shown. ...")."""
    from IPython.display import HTML, Markdown, display

    from dcgan_lib.plotting import html_figure

    out = real_beside_generated(*args, **kwargs)  # type: ignore[arg-type]
    if isinstance(out, str):
        display(Markdown(f"> **Real images not shown.** {out}"))
        return
    display(HTML(html_figure(out, CSS_CLASS, alt="real training images beside generated ones")))
