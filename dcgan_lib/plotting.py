"""Figures the book's pages share: stored sample grids, training curves, throughput bars.

Each function returns a ``matplotlib.figure.Figure`` made without pyplot (no global state, no
style change): a notebook shows it as a cell's last value or with ``display(fig)``, a test reads
its axes. Inputs are what the library stores: image files, ``metrics.jsonl`` rows
(``dcgan_lib.storage.read_jsonl``), the JSON of ``benchmarks/throughput.py`` and
``benchmarks/numerics.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

LOOPS = ("reference", "eager", "fast")  # the three training loops of benchmarks/throughput.py
CURVE_LABELS = {"loss_d": "loss D", "loss_g": "loss G", "d_real": "D(x)", "d_fake": "D(G(z))"}


def _show_figures_as_png() -> None:
    """Inside IPython, show a ``Figure`` as a PNG (IPython's own formatter), also on a page
    that never imports pyplot; elsewhere nothing."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        select_figure_formats(shell, {"png"})


_show_figures_as_png()


def image_files(items: Sequence[tuple[str | os.PathLike, str]], width: float = 5.0) -> Figure:
    """Stored images (sample grids), side by side, each under its title. Paper: Figs. 2-3."""
    if not items:
        raise ValueError("no images to show")
    fig = Figure(figsize=(width * len(items), width * 1.08), layout="constrained")
    for ax, (path, title) in zip(fig.subplots(1, len(items), squeeze=False)[0], items, strict=True):
        with Image.open(path) as img:
            ax.imshow(np.asarray(img.convert("RGB")))
        ax.set_title(title)
        ax.axis("off")
    return fig


def sample_grid(x: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """(N, C, S, S) images in [-1, 1] -> one (H, W, C) float array in [0, 1], ``nrow`` per row,
    ``pad`` pixels of black between them (the layout the runs save)."""
    if x.dim() != 4:
        raise ValueError(f"expected (N, C, S, S) images, got shape {tuple(x.shape)}")
    n, c, s, _ = x.shape
    rows = -(-n // nrow)
    grid = torch.zeros(c, rows * (s + pad) + pad, nrow * (s + pad) + pad)
    for i, img in enumerate(((x.detach().float().cpu() + 1) / 2).clamp(0, 1)):
        r, k = divmod(i, nrow)
        top, left = pad + r * (s + pad), pad + k * (s + pad)
        grid[:, top : top + s, left : left + s] = img
    return grid.permute(1, 2, 0).numpy()


def samples(x: torch.Tensor, nrow: int = 8, size: float = 6.0, title: str | None = None) -> Figure:
    """A figure of generated images (N, C, S, S) in [-1, 1] as one grid."""
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    ax.imshow(sample_grid(x, nrow))
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def training_curves(metrics: Sequence[Mapping], title: str | None = None) -> Figure:
    """D's and G's losses (left) and D's mean output on real and generated images (right)
    against the step, from a run's ``metrics.jsonl`` rows. Paper: §4."""
    if not metrics:
        raise ValueError("no metrics rows to plot")
    steps = [m["step"] for m in metrics]
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for ax, keys in ((left, ("loss_d", "loss_g")), (right, ("d_real", "d_fake"))):
        for key in keys:
            ax.plot(steps, [m[key] for m in metrics], label=CURVE_LABELS[key])
        ax.set_xlabel("step")
        ax.legend()
    left.set_ylabel("loss")
    right.set_ylabel("mean D output")
    right.set_ylim(0, 1)
    if title:
        fig.suptitle(title)
    return fig


def diagnostics(runs: Mapping[str, tuple[Sequence[Mapping], Sequence[Mapping]]]) -> Figure:
    """Per run (name -> (diagnostics rows, metrics rows)): the diversity of the samples from the
    fixed z (left) and D's mean output on generated images (right), against the step."""
    if not runs:
        raise ValueError("no runs to plot")
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, (diag, metrics) in runs.items():
        rows = sorted({d["step"]: d for d in diag}.values(), key=lambda d: d["step"])
        left.plot([d["step"] for d in rows], [d["sample_diversity"] for d in rows], label=name)
        right.plot([m["step"] for m in metrics], [m["d_fake"] for m in metrics], label=name)
    left.set_ylabel("sample diversity (fixed z)")
    right.set_ylabel("mean D(G(z))")
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    return fig


def throughput_bars(step: Mapping, loops: Sequence[str] = LOOPS) -> Figure:
    """Images per second of each training loop, per model config, from the ``step`` result of
    ``benchmarks/throughput.py``; the bars are labelled with their rate."""
    names = list(step["configs"])
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(loops)
    for i, loop in enumerate(loops):
        rates = [step["configs"][n]["engines"][loop]["img_per_s"] for n in names]
        bars = ax.bar([x + i * width for x in range(len(names))], rates, width, label=loop)
        ax.bar_label(bars, labels=[f"{r / 1000:.1f}k" for r in rates], fontsize=7)
    ax.set_xticks([x + width * (len(loops) - 1) / 2 for x in range(len(names))], names)
    ax.set_ylabel("images / s")
    where = step.get("gpu") or step["device"]
    ax.set_title(f"one training iteration, batch {step['batch_size']}, {where}")
    ax.legend()
    return fig


def engine_curves(numerics: Mapping, keys: Sequence[str] = ("loss_d", "loss_g")) -> Figure:
    """The logged curves of each (engine, seed) run of ``benchmarks/numerics.py``: eager solid,
    fast dashed, one colour per seed."""
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    seeds = sorted({r["seed"] for r in numerics["runs"]})
    for run in numerics["runs"]:
        steps = [r["step"] for r in run["metrics"]]
        style = "-" if run["engine"] == "eager" else "--"
        color = f"C{seeds.index(run['seed'])}"
        for ax, key in zip(axes, keys, strict=True):
            ax.plot(
                steps,
                [r[key] for r in run["metrics"]],
                style,
                color=color,
                lw=1,
                label=f"{run['engine']}, seed {run['seed']}",
            )
    for ax, key in zip(axes, keys, strict=True):
        ax.set_xlabel("step")
        ax.set_title(CURVE_LABELS.get(key, key))
    axes[-1].legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# §4.1.1 de-duplication and §5.2's supervised search (the pages 03 and 05)


def loss_per_epoch(history: Sequence[Mapping], ylabel: str, title: str | None = None) -> Figure:
    """A training loss per epoch (``[{"epoch", "loss"}, ...]``), one point each."""
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], "o-")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig


def planted_examples(images: np.ndarray, pairs: Sequence[tuple[int, int, str]]) -> Figure:
    """Near-duplicate pairs side by side: each column an (original, copy, title), the original
    above its copy; ``images`` (N, S, S, 3) uint8. Paper: §4.1.1."""
    fig = Figure(figsize=(1.6 * len(pairs), 3.6), layout="constrained")
    axes = fig.subplots(2, len(pairs), squeeze=False)
    for col, (original, copy, title) in enumerate(pairs):
        for row, idx in enumerate((original, copy)):
            axes[row, col].imshow(images[idx])
            axes[row, col].axis("off")
        axes[0, col].set_title(title, fontsize=8)
    return fig


def image_groups(groups: Sequence[Mapping], title: str, per_row: int = 4, width: int = 4) -> Figure:
    """Groups of images (``{"images", "names", "distance"}`` each), one grey panel per group,
    each image titled with its name and its distance to the group's first image."""
    width = min(max(len(g["names"]) for g in groups), width)
    n_rows = -(-len(groups) // per_row)
    fig = Figure(figsize=(1.25 * width * per_row, 1.6 * n_rows + 0.3), layout="constrained")
    fig.suptitle(title, fontsize=9)
    panels = fig.subfigures(n_rows, per_row, squeeze=False).flat
    for panel, g in zip(panels, groups, strict=False):
        panel.set_facecolor("0.93")
        for col, ax in enumerate(panel.subplots(1, width, squeeze=False)[0]):
            ax.axis("off")
            if col < len(g["names"]):
                ax.imshow(g["images"][col])
                ax.set_title(f"{g['names'][col]}\n{g['distance'][col]:.2f}", fontsize=5)
    return fig


def seconds_against_n(rows: Sequence[Mapping], series: Mapping[str, str], title: str) -> Figure:
    """Seconds against the number of images ``n`` for each key of ``rows`` named in ``series``
    (key -> label): how a cost grows with the data."""
    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.subplots()
    for (key, label), marker in zip(series.items(), "os^v", strict=False):
        ax.plot([r["n"] for r in rows], [r.get(key, np.nan) for r in rows], f"{marker}-",
                label=label)  # fmt: skip
    ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")
    ax.set_xlabel("images $N$")
    ax.set_ylabel("seconds")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8)
    return fig


def search_trials(searches: Mapping[str, Sequence[Mapping]]) -> Figure:
    """Random-search trials (name -> trials with ``lr`` and ``val_error``): validation error
    against the learning rate, one colour per search. Paper: §5.2."""
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    for label, trials in searches.items():
        ax.scatter([t["lr"] for t in trials], [t["val_error"] for t in trials], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation error (%)")
    ax.legend()
    return fig


def init_histograms(weights: torch.Tensor, bn_scales: torch.Tensor, std: float) -> Figure:
    """The initial conv / linear weights (left, with the N(0, ``std``) density dashed) and the
    BatchNorm scales (right), as histograms. Paper: §4."""
    fig = Figure(figsize=(9, 3), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.hist(weights.numpy(), bins=100, density=True)
    grid = np.linspace(-4 * std, 4 * std, 200)
    density = np.exp(-(grid**2) / (2 * std**2)) / (std * np.sqrt(2 * np.pi))
    left.plot(grid, density, "k--")
    left.set_title(f"conv / linear weights (G and D), std {weights.std():.4f}")
    right.hist(bn_scales.numpy(), bins=60, density=True)
    right.set_title(f"BatchNorm scales, mean {bn_scales.mean():.4f}")
    return fig
