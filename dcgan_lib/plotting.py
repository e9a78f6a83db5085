"""Figures the book's pages share: stored sample grids, training curves, throughput bars, and the
§6 pictures (walks, vector arithmetic, the turn, forgetting, guided backprop, nearest neighbours).

Each function returns a ``matplotlib.figure.Figure`` made without pyplot (no global state, no
style change): a notebook shows it as a cell's last value, with ``display(fig)`` or ``show``, a
test reads its axes, a study command stores it with ``png_bytes``. Inputs are what the library
stores: image files, ``metrics.jsonl`` rows (``dcgan_lib.storage.read_jsonl``), the JSON of
``benchmarks/throughput.py`` and ``benchmarks/numerics.py``, a study's tensors and metrics.
About 500 lines: every page's figures in one place, one short function each, a section a chapter.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from dcgan_lib.artifacts import ArtifactMissing, require
from dcgan_lib.book import not_produced

LOOPS = ("reference", "eager", "fast")  # the three training loops of benchmarks/throughput.py
CURVE_LABELS = {"loss_d": "loss D", "loss_g": "loss G", "d_real": "D(x)", "d_fake": "D(G(z))"}


def _bare(ax: Axes) -> None:
    """An image axis without ticks or frame; unlike ``axis("off")``, its labels still show."""
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


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


# ---------------------------------------------------------------------------------------------
# The §6 pictures (walks, arithmetic, turn, forgetting, guided backprop, nearest neighbours).
# Drawn by the same functions in two places: the study commands store them as PNG under
# artifacts/ (figures of generated samples only), and the pages draw them in smoke and full modes
# or, from the data at build time, where a picture would show dataset images. Images: torch
# tensors are (3, S, S) in [-1, 1] (the generator's range); numpy arrays are (S, S, 3), uint8 or
# float in [0, 1].


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


def html_figure(
    fig: Figure, css_class: str, alt: str = "", caption: str = "", fmt: str = "png", dpi: int = 80
) -> str:
    """The figure as an HTML ``<figure class="css_class">``: the image embedded (PNG, or SVG for
    drawings), ``alt`` as its alternative text, ``caption`` below; a page test finds it by its
    class."""
    import base64
    import html

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    src = f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure class="{css_class}"><img src="{src}" alt="{html.escape(alt)}" '
        f'style="max-width:100%">{cap}</figure>'
    )


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
    fontsize: float = 6,
) -> Figure:
    """A grid of images, row by row (rows may be shorter than the longest: blank cells);
    ``row_labels`` on the left, ``titles[r][c]`` above each image, both at ``fontsize`` points
    (the title 3 points larger; 9 points or more reads at 10 px or more in a PNG at 80 dpi)."""
    n_cols = max((len(r) for r in rows), default=0)
    big = fontsize / 6  # the room above the rows grows with the text
    head = (0.35 * bool(title) + 0.2 * (titles is not None)) * big  # inches above the first row
    height = cell * max(len(rows), 1) + head + 0.1
    fig = Figure(figsize=(cell * max(n_cols, 1) + 0.4, height))
    axes = fig.subplots(max(len(rows), 1), max(n_cols, 1), squeeze=False)
    for r, ax_row in enumerate(axes):
        for c, ax in enumerate(ax_row):
            _bare(ax)
            if r < len(rows) and c < len(rows[r]):
                ax.imshow(rgb(rows[r][c]))
                if titles is not None and c < len(titles[r]):
                    ax.set_title(titles[r][c], fontsize=fontsize)
        if row_labels is not None and r < len(row_labels):
            ax_row[0].set_ylabel(row_labels[r], fontsize=fontsize)
    if title:
        fig.suptitle(title, fontsize=fontsize + 3)
    gap = 0.3 * big if titles is not None and any(titles[1:]) else 0.06  # titles between rows
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
    return image_grid(
        rows, "interpolation through random points in z", row_labels=labels, fontsize=10
    )


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
    ax.legend(fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# §6.3.2


GRID_CENTRE = 4  # Fig. 7: "The center sample on the right hand side" of the 3 x 3 grid is Y
LABEL_PT = 10  # labels of the §6.3 figures: 10 pt at the 80 dpi of ``png_bytes``, about 11 px


def grid_order(n: int = 9, centre: int = GRID_CENTRE) -> list[int]:
    """Where each of ``n`` images goes in a 3 x 3 grid (reading order): image 0 (the result) at
    ``centre``, images 1..n-1 (its noisy neighbours) in the other cells in reading order."""
    around = [i for i in range(n) if i != centre]
    return [centre, *around]


def equation_figure(
    name: str,
    concepts: Sequence[str],
    example: dict[str, torch.Tensor],
    z_met: Sequence[bool],
    pixel_met: bool,
) -> Figure:
    """Fig. 7's layout for one equation: each concept's exemplars with the image of their mean z
    below (``example["exemplars"]`` (3, k, 3, S, S), ``["means"]`` (3, 3, S, S)); the z-space
    result Y at the centre of a 3 x 3 grid, its 8 noisy neighbours around it (``["z_result"]``
    (9, 3, S, S), Y first: ``grid_order``); the pixel-space result (``["pixel_result"]``), drawn
    at the size of one grid image. ✓ / ✗: the judge's verdict on the target. Labels are
    ``LABEL_PT``; the figure is 920 px wide at 80 dpi, so it shows unscaled in the book's text
    column. Paper: §6.3.2, Fig. 7."""
    k = example["exemplars"].shape[1]
    fig = Figure(figsize=(11.5, 1.05 * (k + 1) + 0.8), layout="constrained")
    left, mid, right = fig.subfigures(1, 3, width_ratios=[3, 3.2, 1.25], wspace=0.02)
    ax = left.subplots(k + 1, 3)
    for j, concept in enumerate(concepts):
        for i in range(k):
            ax[i, j].imshow(rgb(example["exemplars"][j, i]))
        ax[k, j].imshow(rgb(example["means"][j]))
        ax[0, j].set_title(("", "− ", "+ ")[j] + concept, fontsize=LABEL_PT)
        ax[k, j].set_xlabel("mean z", fontsize=LABEL_PT)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    left.suptitle("exemplars (columns a, b, c)", fontsize=LABEL_PT)
    grid = mid.subplots(3, 3).ravel()
    for i, cell in enumerate(grid_order(len(example["z_result"]))):
        a = grid[cell]
        a.imshow(rgb(example["z_result"][i]))
        a.set_title(("Y" if i == 0 else "+ noise") + (" ✓" if z_met[i] else " ✗"),
                    fontsize=LABEL_PT, fontweight="bold" if i == 0 else "normal")  # fmt: skip
        a.set_xticks([])
        a.set_yticks([])
        for side in a.spines.values():  # Y framed, its neighbours unframed
            side.set_visible(i == 0)
            side.set(linewidth=3, color="tab:blue")
    mid.suptitle("z space: Y = mean a − mean b + mean c, at the centre", fontsize=LABEL_PT)
    a = right.subplots(3, 1)
    for b in a:
        b.axis("off")
    a[1].imshow(rgb(example["pixel_result"]))
    a[1].set_title("pixel space" + (" ✓" if pixel_met else " ✗"), fontsize=LABEL_PT)
    right.suptitle(" ", fontsize=LABEL_PT)  # aligns its rows with the grid's
    fig.suptitle(name, fontsize=LABEL_PT + 1)
    return fig


def direction_figure(x: torch.Tensor, alphas: Sequence[float], title: str) -> Figure:
    """Samples moved along a direction (Fig. 8's layout): x (n, len(alphas), 3, S, S), one row
    per sample, one column per α, titled at ``LABEL_PT`` (at most 920 px wide at 80 dpi).
    Paper: §6.3.2, Fig. 8."""
    n, k = x.shape[0], x.shape[1]
    cell = min(0.85, 10.5 / k)  # 68 px a face at 80 dpi: above the 64 px of a sample
    fig = Figure(figsize=(cell * k + 0.2, cell * n + 0.75), layout="constrained")
    axes = fig.subplots(n, k, squeeze=False)
    for r in range(n):
        for c in range(k):
            ax = axes[r, c]
            ax.imshow(rgb(x[r, c]))
            _bare(ax)
            if r == 0:
                ax.set_title(f"α = {alphas[c]:+.2f}", fontsize=LABEL_PT)
    fig.suptitle(title, fontsize=LABEL_PT + 1)
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.01, hspace=0.01)
    return fig


def labelled_row(images: Sequence[torch.Tensor], labels: Sequence[str], title: str) -> Figure:
    """One row of images (3, S, S) in [-1, 1], each titled at ``LABEL_PT`` (the samples that make
    the turn vector, with their pose scores). Paper: §6.3.2, Fig. 8."""
    n = max(len(images), 1)
    cell = min(1.15, 10.5 / n)
    fig = Figure(figsize=(cell * n + 0.2, cell + 0.8), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, img, label in zip(axes, images, labels, strict=True):
        ax.imshow(rgb(img))
        ax.set_title(label, fontsize=LABEL_PT)
        ax.axis("off")
    fig.suptitle(title, fontsize=LABEL_PT + 1)
    return fig


# ---------------------------------------------------------------------------------------------
# §6.3.1


def before_after_figure(title: str, before, dropped, random) -> Figure:
    """Fig. 6's layout: the same samples unmodified, with the object's maps dropped, and with as
    many random maps dropped (uint8 (n, S, S, 3) each), one row each, labelled at ``LABEL_PT``
    (the figure is at most 920 px wide at 80 dpi: unscaled in the book's text column).
    Paper: §6.3.1, Fig. 6."""
    rows = [list(before), list(dropped), list(random)]
    labels = ["unmodified", "object maps\ndropped", "random maps\ndropped"]
    n_cols = max(1, max(len(r) for r in rows))
    cell = min(1.25, 10.0 / n_cols)
    fig = Figure(figsize=(1.5 + cell * n_cols, cell * 3 + 0.45), layout="constrained")
    axes = fig.subplots(3, n_cols, squeeze=False)
    for r, ax_row in enumerate(axes):
        for c, ax in enumerate(ax_row):
            _bare(ax)
            if c < len(rows[r]):
                ax.imshow(rgb(rows[r][c]))
        ax_row[0].set_ylabel(labels[r], fontsize=LABEL_PT)
    fig.suptitle(title, fontsize=LABEL_PT + 1)
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.01, hspace=0.01)
    return fig


def forgetting_rates_figure(entries: Mapping[str, Mapping], min_shown: int, n_eval: int) -> Figure:
    """Per entry of the forgetting study (its ``objects``): the share of fresh samples showing
    the object unmodified (open circle), with the entry's maps dropped (filled dot) and with as
    many random maps dropped (each draw a grey tick, their range a grey bar). An entry that
    fewer than ``min_shown`` of ``n_eval`` samples show before is marked too rare to measure.
    Paper: §6.3.1 (the random-map control is ours)."""
    names = list(entries)
    fig = Figure(figsize=(10.5, 0.55 * len(names) + 1.2), layout="constrained")
    ax = fig.subplots()
    for y, name in enumerate(names):
        e = entries[name]
        rand = list(e["rate_random"])
        ax.plot([min(rand), max(rand)], [y, y], color="0.75", linewidth=7, solid_capstyle="butt",
                label="random maps dropped (range, draws)" if y == 0 else None)  # fmt: skip
        ax.plot(rand, [y] * len(rand), "|", color="0.35", markersize=12)
        ax.plot(e["rate_before"], y, "o", mfc="white", mec="black", markersize=9,
                label="unmodified" if y == 0 else None)  # fmt: skip
        ax.plot(e["rate_dropped"], y, "o", color="tab:red", markersize=8,
                label="its own maps dropped" if y == 0 else None)  # fmt: skip
    rare = [round(entries[n]["rate_before"] * n_eval) < min_shown for n in names]
    ax.set_yticks(range(len(names)),
                  [n + (" (too rare)" if r else "") for n, r in zip(names, rare, strict=True)],
                  fontsize=LABEL_PT)  # fmt: skip
    ax.invert_yaxis()
    ax.set_xlabel(f"share of {n_eval:,} fresh samples the classifier says show the object",
                  fontsize=LABEL_PT)  # fmt: skip
    ax.tick_params(axis="x", labelsize=LABEL_PT)
    ax.set_xlim(left=0)
    ax.grid(axis="x", color="0.9")
    ax.legend(fontsize=LABEL_PT, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
              frameon=False)  # fmt: skip
    return fig


# ---------------------------------------------------------------------------------------------
# §6.2


def guided_maps_figure(
    title: str, maps: dict[str, Sequence[np.ndarray]], features: Sequence[int], cell: float = 0.9
) -> Figure:
    """Fig. 5's maps, one panel per row: per D (``maps``: name -> per feature (n_top, S, S, 3) in
    [0, 1], as from ``guided_backprop.to_display``) a panel of one row per feature, its top
    images' maps strongest first; the panels stacked, the random baseline first (the paper's
    left), each the figure's full width, ``cell`` inches a map, labels at 10 points."""
    names = [n for n in ("random", "trained") if n in maps] + [
        n for n in maps if n not in ("random", "trained")
    ]
    n_top = max(len(m) for per in maps.values() for m in per)
    panel = cell * len(features) + 0.35  # inches: the maps and the panel's title
    fig = Figure(figsize=(cell * n_top + 0.8, panel * len(names) + 0.4), layout="constrained")
    fig.suptitle(title, fontsize=11)
    for sub, name in zip(fig.subfigures(len(names), 1, squeeze=False)[:, 0], names, strict=True):
        sub.suptitle(
            "random D (the baseline)" if name == "random" else f"{name} D", fontsize=10, x=0.02,
            ha="left", weight="bold",
        )  # fmt: skip
        axes = sub.subplots(len(features), n_top, squeeze=False)
        for row, shown in enumerate(maps[name]):
            for col, ax in enumerate(axes[row]):
                _bare(ax)
                if col < len(shown):
                    ax.imshow(rgb(shown[col]))
            axes[row, 0].set_ylabel(f"feature {features[row]}", fontsize=10)
    return fig


def neighbours_figure(
    samples: torch.Tensor,
    result,
    reference_images: np.ndarray,
    rows: int = 8,
    title: str = "",
) -> Figure:
    """A gallery of nearest training images: each row one sample (``samples`` (Q, 3, S, S) in
    [-1, 1]), then its neighbours (``result``: a ``neighbours.Neighbours``) nearest first, read
    from ``reference_images`` (uint8 (N, S, S, 3): the data must be present), each titled with
    its distance. Paper: §6.1."""
    grid = [
        [samples[r], *(np.asarray(reference_images[int(i)]) for i in result.indices[r])]
        for r in range(min(rows, len(samples)))
    ]
    titles = [
        ["sample" if r == 0 else "", *(f"{d:.3f}" for d in result.distances[r])]
        for r in range(len(grid))
    ]
    title = title or f"nearest training images ({result.space}); titles: distance"
    return image_grid(grid, title, titles=titles, cell=1.3, fontsize=10)


def bands_figure(bands: dict[str, dict], stored: dict[str, Sequence[float]]) -> Figure:
    """Where each face attribute lives in the aligned crop: per attribute (``bands``: name ->
    {"mean_with": (S, S, 3) in [0, 1], "difference": (S, S), "n_with": int}), the mean face with
    it and the map of |with - without|, each with the ``stored`` box (x0, y0, x1, y1) drawn.
    Paper: §6.3.1 (the faces stand-in for boxes drawn by hand)."""
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(11.5, 2.9), layout="constrained")
    axes = fig.subplots(1, 2 * len(bands), squeeze=False)[0]
    for k, (attr, b) in enumerate(bands.items()):
        x0, y0, x1, y1 = stored[attr]
        name = attr.replace("_", " ").lower()
        panels = (
            (b["mean_with"], f"{name}:\nmean of {b['n_with']:,}"),
            (b["difference"], f"{name}:\n|with - without|"),
        )
        for ax, (img, text) in zip(axes[2 * k : 2 * k + 2], panels, strict=True):
            ax.imshow(img, cmap="magma")
            ax.add_patch(
                Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="cyan", lw=1.5)
            )
            ax.set_title(text, fontsize=LABEL_PT)
            ax.axis("off")
    return fig


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


def diagnostics(
    runs: Mapping[str, tuple[Sequence[Mapping], Sequence[Mapping]]], log_steps: bool = False
) -> Figure:
    """Per run (name -> (diagnostics rows, metrics rows)): the diversity of the samples from the
    fixed z (left) and D's mean output on generated images (right), against the step (on a log
    scale with ``log_steps``: runs of very different lengths, early grids visible)."""
    if not runs:
        raise ValueError("no runs to plot")
    fig = Figure(figsize=(11, 3.3), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, (diag, metrics) in runs.items():
        rows = sorted({d["step"]: d for d in diag}.values(), key=lambda d: d["step"])
        left.plot([d["step"] for d in rows], [d["sample_diversity"] for d in rows], label=name)
        right.plot([m["step"] for m in metrics], [m["d_fake"] for m in metrics], label=name)
    left.set_ylabel("sample diversity (fixed z)")
    right.set_ylabel("mean D(G(z))")
    for ax in (left, right):
        ax.set_xlabel("step (log scale)" if log_steps else "step")
        if log_steps:
            ax.set_xscale("log")
        ax.legend(fontsize=9)
    return fig


def throughput_bars(step: Mapping, loops: Sequence[str] = LOOPS) -> Figure:
    """Images per second of each training loop, per model config, from the ``step`` result of
    ``benchmarks/throughput.py``; the bars are labelled with their rate (labels of 10 pt, 11 px
    at the book's 80 dpi)."""
    names = list(step["configs"])
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(loops)
    for i, loop in enumerate(loops):
        rates = [step["configs"][n]["engines"][loop]["img_per_s"] for n in names]
        bars = ax.bar([x + i * width for x in range(len(names))], rates, width, label=loop)
        ax.bar_label(bars, labels=[f"{r / 1000:.1f}k" for r in rates], fontsize=10)
    ax.set_xticks([x + width * (len(loops) - 1) / 2 for x in range(len(names))], names)
    ax.set_xlabel("model config")
    ax.set_ylabel("images / s")
    ax.margins(y=0.12)
    where = step.get("gpu") or step["device"]
    ax.set_title(f"one training iteration, batch {step['batch_size']}, {where}")
    ax.legend(title="training loop")
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
        ax.set_ylabel(CURVE_LABELS.get(key, key))
        ax.set_title(CURVE_LABELS.get(key, key))
    axes[-1].legend(fontsize=9)
    return fig


def fid_panels(panels: Sequence[Mapping]) -> Figure:
    """FID per run, one panel per protocol (``panels``: ``studies.experiments_results.
    fid_panels``): a bar at each run's mean FID, a dot per seed, the mean written on the bar,
    and each reference measured under the panel's protocol as a dashed line. Paper: §4."""
    if not panels:
        raise ValueError("no FID to plot")
    widths = [max(len(p["bars"]), 2) for p in panels]
    fig = Figure(figsize=(11, 3.9), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, width_ratios=widths)[0]
    for ax, panel in zip(axes, panels, strict=True):
        means = [float(np.mean(f)) for _, f in panel["bars"]]
        xs = range(len(means))
        bars = ax.bar(xs, means, 0.6, color="C0", alpha=0.55)
        ax.bar_label(bars, labels=[f"{m:.1f}" for m in means], label_type="center", fontsize=10)
        for x, (_, fids) in zip(xs, panel["bars"], strict=True):
            ax.plot([x] * len(fids), fids, "o", color="C0", ms=5)
        for k, (label, fid) in enumerate(panel["lines"]):
            ax.axhline(fid, color=f"C{k + 1}", ls="--", lw=1.5, label=f"{label}: {fid}")
        ax.set_xticks(list(xs), [label for label, _ in panel["bars"]])
        ax.set_ylim(0, 1.15 * max([*means, *(f for _, f in panel["lines"])]))
        ax.set_title(panel["title"], fontsize=10)
        ax.set_ylabel("FID (lower is better)")
        if panel["lines"]:
            ax.legend(fontsize=9, loc="lower right")
    return fig


def stacked_grids(
    items: Sequence[tuple[str | os.PathLike, str]],
    tile_rows: int | None = None,
    scale: float = 1.0,
    nrow: int = 8,
    pad: int = 2,
    dpi: int = 80,
) -> Figure:
    """Stored sample grids (PNG, ``nrow`` tiles a row, ``pad`` pixels between), one above the
    other, each under its title, cut to their first ``tile_rows`` rows of tiles and drawn at
    ``scale`` times their pixel size when the figure is saved at ``dpi`` (``png_bytes``): big
    enough to see a face, not thumbnails side by side. Paper: Figs. 2-3."""
    if not items:
        raise ValueError("no images to show")
    grids = []
    for path, title in items:
        with Image.open(path) as img:
            grid = np.asarray(img.convert("RGB"))
        if tile_rows is not None:
            tile = (grid.shape[1] - pad) // nrow  # a tile and its padding
            grid = grid[: tile_rows * tile + pad]
        grids.append((grid, title))
    head = 0.3  # inches above each grid for its title
    width = max(g.shape[1] for g, _ in grids) * scale / dpi
    heights = [g.shape[0] * scale / dpi + head for g, _ in grids]
    fig = Figure(figsize=(width, sum(heights)))
    top = sum(heights)
    for grid, title in grids:
        h = grid.shape[0] * scale / dpi
        top -= h + head
        ax = fig.add_axes((0, top / sum(heights), grid.shape[1] * scale / dpi / width,
                           h / sum(heights)))  # fmt: skip
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(title, fontsize=11, loc="left")
        ax.axis("off")
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
        axes[0, col].set_title(title, fontsize=9)
    return fig


def image_groups(groups: Sequence[Mapping], title: str, per_row: int = 4, width: int = 4) -> Figure:
    """Groups of images (``{"images", "names", "distance"}`` each), one grey panel per group,
    each image titled with its name (split at its last '/') and its distance to the group's
    first image; labels of 8 pt, about 10 px on the page at 1,280 px."""
    width = min(max(len(g["names"]) for g in groups), width)
    n_rows = -(-len(groups) // per_row)
    fig = Figure(figsize=(1.25 * width * per_row, 1.9 * n_rows + 0.35), layout="constrained")
    fig.suptitle(title, fontsize=10)
    panels = fig.subfigures(n_rows, per_row, squeeze=False).flat
    for panel, g in zip(panels, groups, strict=False):
        panel.set_facecolor("0.93")
        for col, ax in enumerate(panel.subplots(1, width, squeeze=False)[0]):
            ax.axis("off")
            if col < len(g["names"]):
                ax.imshow(g["images"][col])
                folder, _, file = g["names"][col].rpartition("/")
                stem = file.rsplit(".", 1)[0]  # the extension says nothing here
                ax.set_title(f"{folder}\n{stem}\nd = {g['distance'][col]:.2f}", fontsize=9)
    return fig


def dedup_key_figure(
    recall: Mapping[str, Mapping[str, float]],
    title: str,
    line: tuple[float, str] | None = None,
    examples: Sequence[Mapping] | None = None,
) -> Figure:
    """§4.1.1's key figure: recall by kind of change, one bar per hash (``recall``: label ->
    {kind: recall}, the kinds in the first's order, "all" last), a dashed ``line`` (x, label),
    and below the bars, when given, one planted pair per kind (``examples``: ``{"kind",
    "original", "copy", "found"}``, images (S, S, 3) uint8), original beside copy, marked found
    or missed. Labels of 10 pt at least. Paper: §4.1.1."""
    series = list(recall)
    kinds = list(recall[series[0]])
    ex = list(examples or [])
    fig = Figure(figsize=(9.5, 3.5 + (1.3 if ex else 0.0)), layout="constrained")
    bars = fig
    if ex:
        bars, below = fig.subfigures(2, 1, height_ratios=[3.5, 1.3])
        pairs = below.subfigures(1, len(ex), squeeze=False)[0]
        for panel, e in zip(pairs, ex, strict=True):
            axes = panel.subplots(1, 2)
            for ax, img in zip(axes, (e["original"], e["copy"]), strict=True):
                ax.imshow(img, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            word, colour = ("found", "tab:green") if e["found"] else ("missed", "tab:red")
            panel.suptitle(f"{e['kind']}: {word}", fontsize=11, color=colour)
            for ax in axes:
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(2)
    ax = bars.subplots()
    y = np.arange(len(kinds))
    h = 0.8 / len(series)
    for i, label in enumerate(series):
        values = [recall[label].get(k, np.nan) for k in kinds]
        drawn = ax.barh(y - 0.4 + h * (i + 0.5), values, h, label=label)
        ax.bar_label(drawn, fmt="%.2f", padding=2, fontsize=10)
    if line is not None:
        ax.axvline(line[0], color="0.3", linestyle="--", linewidth=1, label=line[1])
    ax.set_yticks(y, kinds, fontsize=11)
    ax.set_xlim(0, 1.05)
    ax.set_ylim(len(kinds) - 0.5, -0.5)  # top down
    ax.set_xlabel("share of the planted pairs found (recall)", fontsize=11)
    ax.tick_params(axis="x", labelsize=10)
    ax.legend(fontsize=10, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    bars.suptitle(title, fontsize=11, x=0.01, ha="left")
    return fig


def seconds_against_n(rows: Sequence[Mapping], series: Mapping[str, str], title: str) -> Figure:
    """Seconds against the number of images ``n`` for each key of ``rows`` named in ``series``
    (key -> label): how a cost grows with the data."""
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.subplots()
    for (key, label), marker in zip(series.items(), "os^v", strict=False):
        ax.plot([r["n"] for r in rows], [r.get(key, np.nan) for r in rows], f"{marker}-",
                label=label)  # fmt: skip
    ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")
    ax.set_xlabel("images $N$")
    ax.set_ylabel("seconds")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=9)
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
