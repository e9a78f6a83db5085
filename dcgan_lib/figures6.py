"""The pictures of the §6 pages (walks, arithmetic, turn, forgetting, guided backprop).

Drawn by the same functions in two places: the study commands save them as PNG under
``artifacts/`` (figures of generated samples only), and the notebooks draw them in smoke mode or,
from the data at build time, where the pictures would show dataset images. Each function returns a
``matplotlib.figure.Figure`` made without pyplot (no global state, works without a display);
``png_bytes`` encodes one, ``show`` displays a figure or a stored PNG in a notebook.

Images: torch tensors are (3, S, S) in [-1, 1] (the generator's range); numpy arrays are (S, S, 3),
uint8 or float in [0, 1].
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from dcgan_lib.artifacts import ArtifactMissing, require
from dcgan_lib.book import not_produced


def rgb(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """One image -> (S, S, 3) float in [0, 1] for ``imshow`` (see the module docstring)."""
    if isinstance(img, torch.Tensor):
        return ((img.detach().float().permute(1, 2, 0) + 1) / 2).clamp(0, 1).cpu().numpy()
    img = np.asarray(img)
    return img / 255.0 if img.dtype == np.uint8 else np.clip(img, 0, 1)


def png_bytes(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (what the study commands store)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def show(fig_or_path: Figure | str | os.PathLike) -> None:
    """Display a figure, or a stored PNG, in a notebook (the same way in every mode)."""
    from IPython.display import Image, display

    if isinstance(fig_or_path, Figure):
        display(Image(data=png_bytes(fig_or_path)))
    else:
        display(Image(filename=str(fig_or_path)))


def show_study_figure(figures: dict, study: str, name: str) -> None:
    """Show figure ``name`` of a study: drawn on this page (in ``figures``: smoke and full
    modes) or stored by the study's command (``artifacts/<study>/<name>``, book mode); when
    neither exists, the not-produced message naming the command."""
    if name in figures:
        show(figures[name])
        return
    try:
        show(require(study, name))
    except ArtifactMissing as e:
        not_produced(e)


def image_grid(
    rows: Sequence[Sequence[torch.Tensor | np.ndarray]],
    title: str = "",
    row_labels: Sequence[str] | None = None,
    titles: Sequence[Sequence[str]] | None = None,
    cell: float = 1.05,
) -> Figure:
    """A grid of images, row by row (rows may be shorter than the longest: blank cells);
    ``row_labels`` on the left, ``titles[r][c]`` above each image."""
    n_cols = max((len(r) for r in rows), default=0)
    head = 0.35 * bool(title) + 0.2 * (titles is not None)  # inches above the first row
    height = cell * max(len(rows), 1) + head + 0.1
    fig = Figure(figsize=(cell * max(n_cols, 1) + 0.4, height))
    axes = fig.subplots(max(len(rows), 1), max(n_cols, 1), squeeze=False)
    for r, ax_row in enumerate(axes):
        for c, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if r < len(rows) and c < len(rows[r]):
                ax.imshow(rgb(rows[r][c]))
                if titles is not None and c < len(titles[r]):
                    ax.set_title(titles[r][c], fontsize=6)
        if row_labels is not None and r < len(row_labels):
            ax_row[0].set_ylabel(row_labels[r], fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    gap = 0.3 if titles is not None and any(titles[1:]) else 0.06  # room for titles between rows
    fig.subplots_adjust(
        left=0.04, right=0.99, bottom=0.01, top=1 - head / height, wspace=0.04, hspace=gap
    )
    return fig


# ---------------------------------------------------------------------------------------------
# §6.1


def walk_figure(x: torch.Tensor, steps: int) -> Figure:
    """Fig. 4's layout: the frames of a walk ((K - 1) * steps + 1, 3, S, S), one row per segment
    from one point to the next (a row's last image is the next row's first)."""
    n_rows = (len(x) - 1) // steps
    rows = [[x[r * steps + c] for c in range(steps + 1)] for r in range(n_rows)]
    labels = [f"{r + 1} to {r + 2}" for r in range(n_rows)]
    return image_grid(rows, "interpolation through random points in z", row_labels=labels)


def step_plot(d: Sequence[float], random_pair_rms: float, steps: int) -> Figure:
    """The RMS image change of each step along a walk, next to that of two random samples."""
    d = np.asarray(d, dtype=np.float64)
    fig = Figure(figsize=(8, 2.6))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(d) + 1), d, ".-", label="step change along the walk")
    ax.axhline(random_pair_rms, color="grey", ls="--", label="two random samples")
    for b in range(0, len(d) + 1, steps):
        ax.axvline(b + 0.5, color="lightgrey", lw=0.8)
    ax.set_xlabel("step (grey lines: the points of the walk)")
    ax.set_ylabel("RMS change")
    ax.set_ylim(0, max(random_pair_rms, float(d.max(initial=0))) * 1.1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# §6.3.2


def equation_figure(
    name: str,
    concepts: Sequence[str],
    example: dict[str, torch.Tensor],
    z_met: Sequence[bool],
    pixel_met: bool,
) -> Figure:
    """Fig. 7's layout for one equation: each concept's exemplars with the image of their mean z
    below (``example["exemplars"]`` (3, k, 3, S, S), ``["means"]`` (3, 3, S, S)); the z-space
    result and its noisy neighbours as a 3 x 3 grid (``["z_result"]``, result first); the
    pixel-space result (``["pixel_result"]``). ✓ / ✗: the judge's verdict on the target."""
    k = example["exemplars"].shape[1]
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    left, mid, right = fig.subfigures(1, 3, width_ratios=[3, 3, 1.1])
    ax = left.subplots(k + 1, 3)
    for j, concept in enumerate(concepts):
        for i in range(k):
            ax[i, j].imshow(rgb(example["exemplars"][j, i]))
        ax[k, j].imshow(rgb(example["means"][j]))
        ax[0, j].set_title(("", "− ", "+ ")[j] + concept, fontsize=8)
        ax[k, j].set_xlabel("mean z", fontsize=7)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    grid = mid.subplots(3, 3)
    for i, a in enumerate(grid.ravel()):
        a.imshow(rgb(example["z_result"][i]))
        a.set_title(("result" if i == 0 else "+ noise") + (" ✓" if z_met[i] else " ✗"), fontsize=7)
        a.axis("off")
    mid.suptitle(f"z space: {name}", fontsize=9)
    a = right.subplots(1, 1)
    a.imshow(rgb(example["pixel_result"]))
    a.set_title("pixel space" + (" ✓" if pixel_met else " ✗"), fontsize=8)
    a.axis("off")
    return fig


def direction_figure(x: torch.Tensor, alphas: Sequence[float], title: str) -> Figure:
    """Samples moved along a direction: x (n, len(alphas), 3, S, S), one row per sample."""
    rows = [list(x[r]) for r in range(len(x))]
    titles = [[f"α = {a:+.2f}" for a in alphas]] + [[] for _ in range(len(x) - 1)]
    return image_grid(rows, title, titles=titles)


# ---------------------------------------------------------------------------------------------
# §6.3.1


def before_after_figure(title: str, before, dropped, random) -> Figure:
    """Fig. 6's layout: the same samples unmodified, with the object's maps dropped, and with as
    many random maps dropped (uint8 (n, S, S, 3) each)."""
    return image_grid(
        [list(before), list(dropped), list(random)],
        title,
        row_labels=["unmodified", "object maps dropped", "random maps dropped"],
    )


# ---------------------------------------------------------------------------------------------
# §6.2


def guided_maps_figure(
    title: str, maps: dict[str, Sequence[np.ndarray]], features: Sequence[int]
) -> Figure:
    """Fig. 5's layout: per D (``maps``: name -> per feature (n_top, S, S, 3) in [0, 1], as from
    ``guided_backprop.to_display``), one row per feature, its top images' maps strongest first;
    the D's side by side, the random baseline first as in the paper."""
    names = [n for n in ("random", "trained") if n in maps] + [
        n for n in maps if n not in ("random", "trained")
    ]
    n_top = max(len(m) for per in maps.values() for m in per)
    fig = Figure(
        figsize=(0.9 * n_top * len(names) + 0.6, 0.95 * len(features) + 0.5), layout="constrained"
    )
    fig.suptitle(title, fontsize=9)
    for sub, name in zip(fig.subfigures(1, len(names), squeeze=False)[0], names, strict=True):
        sub.suptitle("random D (baseline)" if name == "random" else f"{name} D", fontsize=8)
        axes = sub.subplots(len(features), n_top, squeeze=False)
        for row, shown in enumerate(maps[name]):
            for col, ax in enumerate(axes[row]):
                ax.axis("off")
                if col < len(shown):
                    ax.imshow(rgb(shown[col]))
            axes[row, 0].set_title(f"feature {features[row]}", fontsize=6, loc="left")
    return fig
