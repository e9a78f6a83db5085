"""Pictures that move, for the pages: a run's samples epoch by epoch (§4), a latent walk step by
step (§6.1).

``animate`` turns frames (images as uint8 arrays) into matplotlib's HTML/JavaScript player
(``matplotlib.animation.HTMLWriter``, what ``FuncAnimation.to_jshtml`` uses: play, pause, step,
a slider; no ffmpeg), with each frame's label drawn on it, wrapped in an element of class
``dcgan-animation``. The frames are embedded as JPEG at a small size, and their number is capped
(``max_frames``, evenly spaced, first and last kept), so a page stays a few MB at most; an
animation that would pass ``embed_limit_mb`` is refused rather than cut short. A notebook shows
the returned ``Animation`` as a cell's last value (or with ``display``).

``strip_animation`` plays a run's strip (``dcgan_lib.strip``: the fixed z after each epoch);
``latent_walk_animation`` walks a generator through random points of z as Fig. 4 does.
Paper: §4, §6.1.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.animation import FuncAnimation, HTMLWriter
from matplotlib.figure import Figure
from torch import nn

from dcgan_lib import strip as strips
from dcgan_lib.models import generate
from dcgan_lib.walks import walk

CSS_CLASS = "dcgan-animation"  # the outer element of every animation on a page
EMBED_LIMIT_MB = 10.0  # the most an animation may embed (matplotlib's default is 20)
MAX_FRAMES = 80


class Animation:
    """An animation as HTML (``html``: the outer ``div.dcgan-animation`` and the player), with
    the labels of the frames it holds. Shown by IPython through ``_repr_html_``."""

    def __init__(self, html_text: str, labels: list[str]) -> None:
        self.html, self.labels = html_text, labels

    def __len__(self) -> int:
        return len(self.labels)

    def _repr_html_(self) -> str:
        return self.html

    def beside(self, *paragraphs: str) -> Animation:
        """The animation with text to its right (a caption, what it shows), so a small player
        does not leave the rest of its row empty; narrow screens put the text below it. Each
        paragraph is plain text (escaped); `code` in backticks and *emphasis* are kept."""

        def inline(text: str) -> str:
            text = html.escape(text, quote=False)
            text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
            return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)

        side = "".join(f"<p>{inline(p)}</p>" for p in paragraphs)
        row = (
            '<div style="display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: flex-start">'
            f'<div style="flex: 0 0 auto">{self.html}</div>'
            f'<div style="flex: 1 1 18em">{side}</div></div>'
        )
        return Animation(row, self.labels)


def _pick(n: int, most: int) -> list[int]:
    """Indices of at most ``most`` of ``n`` frames, evenly spaced, the first and last kept."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


def animate(
    frames: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[str],
    title: str = "",
    width: float = 3.2,
    fps: float = 2.0,
    dpi: int = 100,
    max_frames: int = MAX_FRAMES,
    embed_limit_mb: float = EMBED_LIMIT_MB,
    quality: int = 88,
    autoplay: bool = True,
) -> Animation:
    """Frames (T, H, W, 3) uint8 (or [0, 1] floats) as an HTML/JS player, ``labels[t]`` drawn on
    frame t, ``width`` inches wide at ``dpi``; at most ``max_frames`` of them (evenly spaced).
    It starts playing when the page loads (``autoplay``; not for readers who ask for reduced
    motion) and loops; the player's buttons pause it and step through the frames. Paper: §4,
    §6.1."""
    if len(frames) == 0 or len(frames) != len(labels):
        raise ValueError(f"{len(frames)} frames and {len(labels)} labels: give one label a frame")
    keep = _pick(len(frames), max_frames)
    frames = [np.asarray(frames[i]) for i in keep]
    labels = [labels[i] for i in keep]
    h, w = frames[0].shape[:2]
    ih = width * h / w  # inches of image; above it, the frame's label and the title
    total = ih + (0.5 if title else 0.28)
    fig = Figure(figsize=(width, total), dpi=dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, ih / total))
    ax.axis("off")
    image = ax.imshow(frames[0], interpolation="nearest")
    label = fig.text(0.5, (ih + 0.13) / total, labels[0], ha="center", va="center", fontsize=9)
    if title:
        fig.text(0.5, (ih + 0.37) / total, title, ha="center", va="center", fontsize=9,
                 weight="bold")  # fmt: skip

    def draw(t: int):
        image.set_data(frames[t])
        label.set_text(labels[t])
        return image, label

    anim = FuncAnimation(fig, draw, frames=len(frames), interval=1000 / fps, blit=False)
    writer = HTMLWriter(fps=fps, embed_frames=True, default_mode="loop", embed_limit=embed_limit_mb)
    writer.frame_format = "jpeg"  # photographs of samples: far smaller than PNG
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "animation.html"
        anim.save(str(path), writer=writer, dpi=dpi, savefig_kwargs={"pil_kwargs": {"quality": quality}})  # fmt: skip
        player = path.read_text()
    embedded = player.count('"data:image/jpeg;base64,')
    if embedded != len(frames):
        raise ValueError(
            f"the animation embeds {embedded} of its {len(frames)} frames: over "
            f"{embed_limit_mb} MB; give fewer frames (max_frames) or a smaller width"
        )
    caption = html.escape(title or "animation")
    outer = (
        f'<div class="{CSS_CLASS}" data-frames="{len(frames)}" aria-label="{caption}">\n'
        f"{_offline(player, autoplay)}\n</div>"
    )
    return Animation(outer, labels)


# matplotlib's player draws its buttons with Font Awesome from a CDN: the book is read offline, so
# the stylesheet goes and each icon becomes a character every font has
_ICONS = {
    "fa fa-minus": "\u2212",
    "fa fa-fast-backward": "|\u25c0\u25c0",
    "fa fa-step-backward": "|\u25c0",
    "fa fa-play fa-flip-horizontal": "\u25c0",
    "fa fa-pause": "\u275a\u275a",
    "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u25b6|",
    "fa fa-fast-forward": "\u25b6\u25b6|",
    "fa fa-plus": "+",
}


def _offline(player: str, autoplay: bool) -> str:
    """The player without its CDN stylesheet, its icons as characters, and (``autoplay``) a
    script that starts it once it exists, unless the reader asked for reduced motion."""
    player = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", player)
    player = re.sub(
        r'<i class="(fa [^"]+)"></i>', lambda m: html.escape(_ICONS.get(m.group(1), "?")), player
    )
    if "https://" in player or "http://" in player:
        raise ValueError("the animation player still loads something from the network")
    found = re.search(r'id="_anim_img([0-9a-f]+)"', player)
    if not autoplay or found is None:
        return player
    name = f"anim{found.group(1)}"
    return player + (
        "\n<script>(function start(tries) {\n"
        "  if (window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches)"
        " return;\n"
        f"  if (typeof {name} !== 'undefined') {{ {name}.play_animation(); return; }}\n"
        "  if (tries > 0) setTimeout(function () { start(tries - 1); }, 50);\n"
        "})(100);</script>"
    )


def strip_animation(
    source: strips.Strip | str | os.PathLike, title: str = "", fps: float = 2.0, width: float = 3.2
) -> Animation:
    """A run's strip (a ``Strip`` or its PNG: ``artifacts/<run>/epochs.png``) played epoch by
    epoch, "epoch 5 (step 390)" on each frame. ``strip.epochs_text`` says which epochs it holds
    (the stored runs: 1, 5 and the end only). Paper: §4, Figs. 2-3."""
    s = source if isinstance(source, strips.Strip) else strips.read_strip(source)
    labels = [f"epoch {strips._number(e)} (step {st:,})" for e, st in zip(s.epochs, s.steps, strict=True)]  # fmt: skip
    return animate(s.frames, labels, title, width=width, fps=fps)


@torch.no_grad()
def walk_frames(
    G: nn.Module, points: torch.Tensor, steps: int = 8
) -> tuple[list[np.ndarray], list[str]]:
    """The frames of a §6.1 walk and their labels: ``points`` (K, nz) for one walk, or
    (W, K, nz) for W walks side by side, ``steps`` steps from each point to the next
    (``walks.walk``: linear, through every point exactly). Frame t (H, W, 3) uint8 is G's sample
    at step t of every walk (``models.generate``: BatchNorm in eval mode); its label says where
    the walks are ("point 2 -> 3: step 5/8", or "at point 3 of 9"). Paper: §6.1, Fig. 4."""
    if points.dim() == 2:
        points = points[None]
    n_walks, k, _ = points.shape
    paths = torch.stack([walk(p, steps) for p in points])  # (W, T, nz)
    t = paths.shape[1]
    flat = generate(G, paths.reshape(n_walks * t, -1))  # (W * T, C, S, S), walk by walk
    by_step = flat.view(n_walks, t, *flat.shape[1:]).transpose(0, 1)  # (T, W, C, S, S)
    tiles = strips.to_uint8_tiles(by_step.reshape(-1, *flat.shape[1:]))
    tiles = tiles.reshape(t, n_walks, *tiles.shape[1:])  # (T, W, S, S, C)
    frames = [strips.layout(tiles[i], nrow=n_walks) for i in range(t)]
    labels = []
    for i in range(t):
        seg, s = divmod(i, steps)
        at_point = f"at point {seg + 1} of {k}"
        labels.append(at_point if s == 0 else f"point {seg + 1} \u2192 {seg + 2}: step {s}/{steps}")
    return frames, labels


def latent_walk_animation(
    G: nn.Module,
    points: torch.Tensor,
    steps: int = 8,
    title: str = "walking through random points of z",
    fps: float = 8.0,
    cell: float = 1.3,
) -> Animation:
    """A §6.1 walk played (``walk_frames``: one walk, or several side by side), every frame
    kept, ``cell`` inches a sample. Paper: §6.1, Fig. 4."""
    frames, labels = walk_frames(G, points, steps)
    n_walks = 1 if points.dim() == 2 else len(points)
    width = max(cell * n_walks, 2.8)  # room for the label
    return animate(frames, labels, title, width=width, fps=fps, max_frames=len(frames))


def study_walk_points(G: nn.Module, cfg, n_walks: int = 4) -> torch.Tensor:
    """(n_walks, cfg.walk_points, nz): the first walk is the one of the §6.1 figure
    (``studies.latent.walk_points``: seed ``cfg.seed``), the others through random points drawn
    from seeds ``cfg.seed + 1000 + i``. Paper: §6.1."""
    from dcgan_lib.models import sample_z
    from dcgan_lib.studies.latent import walk_points

    first = walk_points(G.cfg, cfg)
    more = [
        sample_z(cfg.walk_points, G.cfg, torch.Generator().manual_seed(cfg.seed + 1000 + i))
        for i in range(1, n_walks)
    ]
    return torch.stack([first, *more])
