"""§3 Fig. 1 drawn from the model: the generator's stages as boxes of their real shapes.

``generator_stages`` reads a generator's own shape walk (``models.shape_walk`` on a batch of z):
z, the projection reshaped to 4x4 (the paper's "matrix multiplication ... reshaped into a
4-dimensional tensor"), then each fractionally-strided convolution up to the image, with the
kernel, stride, normalization and activation of each layer as the model holds them.
``generator_diagram`` draws them as boxes (height: the map's side, thickness: its channels, both
on a log scale) with the operation between each pair: change the config, and the drawing
changes with it. ``diagram_html`` wraps the drawing for a page (an SVG in a ``<figure>`` of class
``dcgan-diagram``, the shapes in its alternative text). Paper: §3, Fig. 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Polygon, Rectangle
from torch import nn

from dcgan_lib.models import Generator, shape_walk
from dcgan_lib.plotting import html_figure

CSS_CLASS = "dcgan-diagram"


@dataclass(frozen=True)
class Stage:
    """One tensor on G's way from z to the image: ``channels`` maps of ``size`` x ``size`` (z: a
    vector, size 0), and the operation that made it from the previous one."""

    name: str  # the block of G ("z", "project", "blocks.0", ...)
    channels: int
    size: int
    op_lines: tuple[str, ...] = ()  # the operation, in short lines (none for z)

    @property
    def op(self) -> str:
        return "; ".join(self.op_lines)

    @property
    def shape(self) -> str:
        return f"{self.channels}" if self.size == 0 else f"{self.size}×{self.size}×{self.channels}"


def _layers(block: nn.Module) -> str:
    names = {nn.BatchNorm1d: "BN", nn.BatchNorm2d: "BN", nn.ReLU: "ReLU", nn.Tanh: "tanh"}
    return ", ".join(names[type(m)] for m in block if type(m) in names)


def generator_stages(G: Generator) -> list[Stage]:
    """z, then every block's output as G computes it (``models.shape_walk``): channels, map size,
    and the layer that made it ("5x5 transposed conv, stride 2; BN, ReLU"). Paper: §3, Fig. 1."""
    cfg = G.cfg
    rows = shape_walk(G, torch.zeros(2, cfg.nz))
    stages = [Stage("z", cfg.nz, 0)]
    for name, _summary, shape in rows:
        if name == "project":
            how = (
                ("project: matrix", "multiply, reshape")  # paper §3
                if cfg.g_project == "linear"
                else ("4×4 transposed", "conv on z (1×1)")  # pytorch/examples
            )
            stages.append(Stage(name, G.start_channels, 4, (*how, _layers(G.project))))
            continue
        block = G.blocks[int(name.split(".")[1])]
        conv = block[0]
        k, s = conv.kernel_size[0], conv.stride[0]
        lines = (f"{k}×{k} transposed", f"conv, stride {s}", _layers(block))
        stages.append(Stage(name, shape[1], shape[2], lines))
    return stages


def _box(ax, x: float, h: float, t: float, color: str) -> float:
    """A cuboid: front face t wide and h high at x (bottom at -h/2), its square map drawn
    obliquely behind it. Returns how far right it reaches."""
    dx, dy = 0.3 * h, 0.22 * h
    y0 = -h / 2
    ax.add_patch(Rectangle((x, y0), t, h, facecolor=color, edgecolor="black", lw=0.8))
    top = [(x, y0 + h), (x + dx, y0 + h + dy), (x + t + dx, y0 + h + dy), (x + t, y0 + h)]
    side = [(x + t, y0), (x + t + dx, y0 + dy), (x + t + dx, y0 + h + dy), (x + t, y0 + h)]
    ax.add_patch(Polygon(top, closed=True, facecolor="white", edgecolor="black", lw=0.8))
    ax.add_patch(Polygon(side, closed=True, facecolor="#d9d9d9", edgecolor="black", lw=0.8))
    return x + t + dx


GAP = 1.45  # inches between a box and the next: room for three short lines of the operation


def generator_diagram(G: Generator, title: str | None = None) -> Figure:
    """Fig. 1 for ``G``: one box per stage of ``generator_stages`` (height grows with the map's
    side, thickness with its channels, on log scales), its shape below it and the operation above
    the arrow into it; z is the thin bar on the left. Drawn in inches (about 1.9 a stage), so the
    text keeps its size on a page. Paper: §3, Fig. 1."""
    stages = generator_stages(G)
    fig = Figure()
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    x, heights = 0.0, []
    for i, st in enumerate(stages):
        if st.size == 0:  # z: a vector, drawn as a thin bar
            h, t = 1.5, 0.14
            ax.add_patch(Rectangle((x, -h / 2), t, h, facecolor="#fdd49e", edgecolor="black"))
            right = x + t
        else:
            h = 0.4 + 0.26 * math.log2(st.size)
            t = 0.08 + 0.065 * math.log2(st.channels)
            right = _box(ax, x, h, t, "#9ecae1" if i < len(stages) - 1 else "#a1d99b")
        heights.append(h)
        label = f"z: {st.channels}" if st.size == 0 else st.shape
        ax.text(x + t / 2, -h / 2 - 0.1, label, ha="center", va="top", fontsize=11)
        if i + 1 < len(stages):
            end = right + GAP
            ax.add_patch(
                FancyArrowPatch((right + 0.08, 0), (end - 0.08, 0), arrowstyle="-|>",
                                mutation_scale=12, lw=1)
            )  # fmt: skip
            ax.text((right + end) / 2, 0.08, "\n".join(stages[i + 1].op_lines), ha="center",
                    va="bottom", fontsize=10, linespacing=1.1)  # fmt: skip
            x = end
        else:
            x = right
    top, bottom = max(heights) * 0.72 + 0.55, -max(heights) / 2 - 0.4
    left, width = -0.4, x + 0.55  # room for "z: 100" under the bar
    fig.set_size_inches(width, top - bottom)
    ax.set_xlim(left, left + width)
    ax.set_ylim(bottom, top)
    last = stages[-1]
    ax.text(left + width / 2, top - 0.12, title or f"G of {G.cfg.name}: {stages[0].channels}-d "
            f"z to a {last.shape} image, drawn from its own shape walk", ha="center", va="top",
            fontsize=12)  # fmt: skip
    return fig


class Diagram:
    """A drawn diagram for a page: the figure as SVG inside ``<figure class="dcgan-diagram">``,
    the stages' shapes as its alternative text, a caption; IPython shows it through
    ``_repr_html_``."""

    def __init__(self, fig: Figure, stages: list[Stage], caption: str = "") -> None:
        self.figure, self.stages, self.caption = fig, stages, caption
        alt = "G: " + " -> ".join(s.shape for s in stages)
        self.html = html_figure(fig, CSS_CLASS, alt, caption, fmt="svg")

    def _repr_html_(self) -> str:
        return self.html


def diagram_html(G: Generator, caption: str = "", title: str | None = None) -> Diagram:
    """``generator_diagram(G)`` ready for a page: a ``<figure class="dcgan-diagram">`` holding
    it as SVG, the stages' shapes as its alternative text, ``caption`` below. Paper: §3, Fig. 1."""
    return Diagram(generator_diagram(G, title), generator_stages(G), caption)
