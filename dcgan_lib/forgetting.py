"""Forgetting to draw certain objects (paper §6.3.1, Fig. 6).

Paper §6.3.1: "On 150 samples, 52 window bounding boxes were drawn manually. On the second highest
convolution layer features, logistic regression was fit to predict whether a feature activation
was on a window (or not), by using the criterion that activations inside the drawn bounding boxes
are positives and random samples from the same images are negatives. Using this simple model, all
feature maps with weights greater than zero (~200 in total) were dropped from all spatial
locations. Then, random new samples were generated with and without the feature map removal."

The general tool (any generator with ``project_z`` and ``blocks``, any object):

1. **Boxes** on generated samples, in a JSON file (``parse_boxes``, ``write_annotation_images`` to
   draw them): each sample given by a seed or by its z, each box ``[x0, y0, x1, y1]`` in pixels of
   the generated image (``x1``, ``y1`` exclusive).
2. **Box -> feature-map locations** (``feature_mask``): cell (i, j) of a layer with stride
   ``s = image_size / h`` covers pixels ``[j*s, (j+1)*s)``; it is inside a box when its centre is
   (along an axis where a box is thinner than a cell: the cell holding the box's middle).
   Positives: the activation vectors (all channels) at every cell inside a box. Negatives: random
   cells outside every box of the same image, ``neg_per_pos`` times as many as that image's
   positives (an image with no boxes gets the average count of the boxed images). The paper does
   not give the ratio; 1 is ours.
3. **Logistic regression** (``fit_object_maps``): sklearn's ``LogisticRegression`` (L2, C = 1) on
   the standardized activation vectors; the paper gives no regularization. Standardizing divides
   each map by a positive number, so the signs of the weights are those of the raw maps.
4. **The maps to drop**: every map with weight > 0 (the paper's rule), zeroed at every spatial
   location (``DroppedGenerator``; ``forward_to`` / ``forward_from`` split G at that layer).

Which layer. "The second highest convolution layer": in the paper's Fig. 1 (the LSUN generator:
CONV 1-4, CONV 4 giving the 64x64x3 image) that is CONV 3's output, 32x32 with 128 maps, which is
``G.blocks[-2]`` (``DEFAULT_LAYER``; 64 maps in our ``dcgan64``). The paper's "~200" dropped maps
do not fit a 128-map layer; they fit CONV 2's 16x16x256 (``layer=-3``) or a wider model than
Fig. 1. We follow the figure's numbering and keep ``layer`` a parameter.

The faces case (ours; the paper used windows in bedrooms, which need LSUN and hand-drawn boxes):
the object is one the CelebA attribute classifier (``dcgan_lib.attributes``) can judge. On
aligned CelebA every face sits in the same place, so each object has a fixed box: the region where
the mean image of faces with the attribute differs most from the mean image of faces without it
(``attribute_band``, measured on CelebA-10k: ``BANDS``). The boxes are that band, on generated
samples the classifier says have the object. Measured (``dcgan_lib.studies.forgetting``): the
classifier's rate of the object on fresh samples before and after dropping; how much of the image
outside the box changes; the same for as many randomly chosen maps (a control the paper lacks).
Because an aligned object always sits at one place, the paper's negatives (other places) also
reward maps that mark the place; a second fit (``fit_contrast``, ours) takes its negatives at the
same cells of samples without the object, and is measured beside the paper's.

Over 500 lines: the tool is one piece from a box file to the dropped maps, with this account.
Paper: §6.3.1.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from dcgan_lib.attributes import load_stored_classifier, predict_proba
from dcgan_lib.config import ModelConfig
from dcgan_lib.data import to_uint8
from dcgan_lib.models import block_index, eval_mode, generate, sample_z

FORMAT = "dcgan-object-boxes/1"
DEFAULT_LAYER = -2  # "second highest convolution layer": CONV 3 of the paper's Fig. 1
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels, x1 and y1 exclusive

# Fixed boxes of objects in the aligned 64x64 CelebA crop, as measured by attribute_band on
# CelebA-10k (fraction 0.5): python -m dcgan_lib forgetting bands --data-root ../shared/data
BANDS: dict[str, Box] = {
    "Eyeglasses": (19, 30, 45, 40),  # the eyes and the frames around them
    "Wearing_Hat": (22, 19, 43, 31),  # the forehead, where a hat's brim sits
    "Smiling": (23, 50, 40, 59),  # the mouth
}


# ---------------------------------------------------------------------------------------------
# Splitting G at a layer


def split_index(G: nn.Module, layer: int) -> int:
    """``layer`` as an index into ``G.blocks`` (``models.block_index``), refused when it is the
    output block: G is split after it, and a later block must remain."""
    i = block_index(G, layer)
    if i == len(G.blocks) - 1:  # type: ignore[arg-type]
        raise ValueError(f"layer {layer}: G has {i + 1} blocks; choose one before the output block")
    return i


def forward_to(G: nn.Module, z: torch.Tensor, layer: int = DEFAULT_LAYER) -> torch.Tensor:
    """z (B, nz) -> the output of ``G.blocks[layer]`` (B, C, h, w). Mode as set by the caller."""
    h = G.project_z(z)  # type: ignore[operator]
    for block in G.blocks[: split_index(G, layer) + 1]:  # type: ignore[index]
        h = block(h)
    return h


def forward_from(
    G: nn.Module,
    h: torch.Tensor,
    layer: int = DEFAULT_LAYER,
    drop: Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """The output of ``G.blocks[layer]`` (B, C, h, w), maps ``drop`` zeroed at every location,
    -> images (B, nc, S, S) in [-1, 1]. Paper: §6.3.1 ("dropped from all spatial locations")."""
    if drop is not None and len(drop) > 0:
        idx = torch.as_tensor(drop, dtype=torch.long, device=h.device)
        if idx.min() < 0 or idx.max() >= h.shape[1]:
            raise ValueError(f"map indices must lie in [0, {h.shape[1]}), got {idx.tolist()}")
        h = h.clone()
        h[:, idx] = 0
    for block in G.blocks[split_index(G, layer) + 1 :]:  # type: ignore[index]
        h = block(h)
    return h


class DroppedGenerator(nn.Module):
    """G with feature maps ``maps`` of ``G.blocks[layer]`` set to zero at every location.

    Shares G's weights (no copy); ``dcgan_lib.models.generate(DroppedGenerator(G, maps), z)``
    samples from it in eval mode. Paper: §6.3.1.
    """

    def __init__(self, G: nn.Module, maps: Sequence[int], layer: int = DEFAULT_LAYER) -> None:
        super().__init__()
        split_index(G, layer)
        self.G = G
        self.layer = layer
        self.register_buffer("maps", torch.as_tensor(list(maps), dtype=torch.long))
        self.train(G.training)  # a new module is in training mode; keep G's mode instead

    @property
    def cfg(self) -> ModelConfig:
        return self.G.cfg  # type: ignore[return-value]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return forward_from(self.G, forward_to(self.G, z, self.layer), self.layer, self.maps)


@torch.no_grad()
def layer_output(
    G: nn.Module, z: torch.Tensor, layer: int = DEFAULT_LAYER, batch_size: int = 256
) -> torch.Tensor:
    """``G.blocks[layer]``'s output (N, C, h, w) for z (N, nz), BatchNorm in eval mode."""
    with eval_mode(G):
        return torch.cat(
            [forward_to(G, z[i : i + batch_size], layer) for i in range(0, len(z), batch_size)]
        )


# ---------------------------------------------------------------------------------------------
# Boxes: the JSON format


@dataclass
class BoxSet:
    """Generated samples with object boxes: z (N, nz) and per sample a list of boxes (pixels)."""

    z: torch.Tensor
    boxes: list[list[Box]]
    image_size: int
    seeds: list[int | None] = field(default_factory=list)
    object: str = ""

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], box: Box, cfg: ModelConfig, obj: str = "") -> BoxSet:
        """The samples of ``seeds`` (``z_from_seeds``), each with the one box ``box``: how an
        object with a fixed place (an aligned face's, ``BANDS``) is annotated."""
        seeds = [int(s) for s in seeds]
        return cls(z_from_seeds(seeds, cfg), [[box]] * len(seeds), cfg.image_size, seeds, obj)

    def to_json(self) -> dict:
        samples = []
        for i, b in enumerate(self.boxes):
            s = self.seeds[i] if i < len(self.seeds) else None
            entry: dict = {"seed": s} if s is not None else {"z": self.z[i].tolist()}
            entry["boxes"] = [[float(v) for v in box] for box in b]
            samples.append(entry)
        return {
            "format": FORMAT,
            "object": self.object,
            "image_size": self.image_size,
            "nz": int(self.z.shape[1]),
            "scale": 1,
            "samples": samples,
        }


def z_from_seed(seed: int, cfg: ModelConfig) -> torch.Tensor:
    """The z (nz,) of sample ``seed``: ``sample_z(1, cfg, torch.Generator().manual_seed(seed))``."""
    return sample_z(1, cfg, generator=torch.Generator().manual_seed(int(seed)))[0]


def z_from_seeds(seeds: Sequence[int], cfg: ModelConfig) -> torch.Tensor:
    """(len(seeds), nz): one ``z_from_seed`` per seed, so a sample never depends on the others."""
    if len(seeds) == 0:
        return torch.zeros(0, cfg.nz)
    return torch.stack([z_from_seed(s, cfg) for s in seeds])


def parse_boxes(obj: dict | str | os.PathLike, cfg: ModelConfig) -> BoxSet:
    """Read and check a box file (a dict, or a path to JSON) for a generator of config ``cfg``.

    Format (``FORMAT``)::

        {"format": "dcgan-object-boxes/1", "object": "window", "image_size": 64, "nz": 100,
         "scale": 1,
         "samples": [{"seed": 12, "boxes": [[x0, y0, x1, y1], ...]},
                     {"z": [100 numbers], "boxes": []}, ...]}

    Boxes are in pixels of the generated image times ``scale`` (annotate images enlarged
    ``scale`` times: ``write_annotation_images``); ``x1``, ``y1`` exclusive. Errors name the sample.
    """
    if not isinstance(obj, dict):
        path = Path(obj)
        try:
            obj = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e})") from e
    assert isinstance(obj, dict)
    if obj.get("format") != FORMAT:
        raise ValueError(f"box file: 'format' must be {FORMAT!r}, got {obj.get('format')!r}")
    size = int(obj.get("image_size", cfg.image_size))
    if size != cfg.image_size:
        raise ValueError(
            f"box file is for {size}px images; this generator makes {cfg.image_size}px"
        )
    if int(obj.get("nz", cfg.nz)) != cfg.nz:
        raise ValueError(f"box file is for nz={obj.get('nz')}; this generator has nz={cfg.nz}")
    scale = float(obj.get("scale", 1))
    if scale <= 0:
        raise ValueError(f"box file: 'scale' must be positive, got {scale}")
    samples = obj.get("samples")
    if not isinstance(samples, list) or not samples:
        raise ValueError("box file: 'samples' must be a non-empty list")
    zs, boxes, seeds = [], [], []
    for i, s in enumerate(samples):
        where = f"box file, sample {i}"
        if not isinstance(s, dict) or ("seed" in s) == ("z" in s):
            raise ValueError(f"{where}: give exactly one of 'seed' or 'z'")
        if "seed" in s:
            if not isinstance(s["seed"], int) or s["seed"] < 0:
                raise ValueError(f"{where}: 'seed' must be a non-negative integer")
            zs.append(z_from_seed(s["seed"], cfg))
            seeds.append(s["seed"])
        else:
            z = torch.as_tensor(s["z"], dtype=torch.float32)
            if z.shape != (cfg.nz,) or not torch.isfinite(z).all():
                raise ValueError(f"{where}: 'z' must be {cfg.nz} finite numbers")
            zs.append(z)
            seeds.append(None)
        own = []
        for j, b in enumerate(s.get("boxes", [])):
            if len(b) != 4:
                raise ValueError(f"{where}, box {j}: need [x0, y0, x1, y1], got {b}")
            x0, y0, x1, y1 = (float(v) / scale for v in b)
            if not (0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size):
                raise ValueError(
                    f"{where}, box {j}: {b} is empty or outside the {size * scale:g}px image "
                    "(need 0 <= x0 < x1 <= size, 0 <= y0 < y1 <= size)"
                )
            own.append((x0, y0, x1, y1))
        boxes.append(own)
    if not any(boxes):
        raise ValueError("box file: no sample has a box")
    return BoxSet(torch.stack(zs), boxes, size, seeds, str(obj.get("object", "")))


def write_annotation_images(
    G: nn.Module, seeds: Sequence[int], folder: str | os.PathLike, scale: int = 4, obj: str = ""
) -> Path:
    """Write ``seed_NNNNNN.png`` (enlarged ``scale`` times) for each seed, and a ``boxes.json``
    skeleton (empty boxes, ``"scale": scale``) to fill in with any box-drawing tool."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = generate(G, z_from_seeds(seeds, G.cfg))  # type: ignore[arg-type]
    pix = to_uint8(x).permute(0, 2, 3, 1).numpy()
    for s, img in zip(seeds, pix, strict=True):
        big = Image.fromarray(img).resize(
            (img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST
        )
        big.save(folder / f"seed_{s:06d}.png")
    skeleton = {
        "format": FORMAT,
        "object": obj,
        "image_size": int(G.cfg.image_size),  # type: ignore[union-attr]
        "nz": int(G.cfg.nz),  # type: ignore[union-attr]
        "scale": scale,
        "samples": [{"seed": int(s), "boxes": []} for s in seeds],
    }
    path = folder / "boxes.json"
    path.write_text(json.dumps(skeleton, indent=1) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Boxes -> feature-map samples -> logistic regression -> maps to drop


def feature_mask(boxes: Sequence[Box], image_size: int, feat_size: int) -> np.ndarray:
    """(feat_size, feat_size) bool: the cells of a feat_size map inside any of ``boxes``.

    A cell is inside a box when its centre is; along an axis where the box holds no cell centre
    (a box thinner than a cell), the cell holding the box's middle counts.
    Paper: §6.3.1 ("activations inside the drawn bounding boxes").
    """
    s = image_size / feat_size
    centres = (np.arange(feat_size) + 0.5) * s
    mask = np.zeros((feat_size, feat_size), bool)

    def cells(lo: float, hi: float) -> np.ndarray:
        inside = (centres >= lo) & (centres < hi)
        if not inside.any():  # thinner than a cell: the cell holding the box's middle
            inside[min(int((lo + hi) / 2 / s), feat_size - 1)] = True
        return inside

    for x0, y0, x1, y1 in boxes:
        mask[np.ix_(cells(y0, y1), cells(x0, x1))] = True
    return mask


def sample_locations(
    feats: torch.Tensor,
    boxes: Sequence[Sequence[Box]],
    image_size: int,
    neg_per_pos: float = 1.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activation vectors of positives and negatives: X (M, C) float32, y (M,) 0/1, image (M,).

    feats (N, C, h, w) of N annotated samples. Positives: every cell inside a box; negatives:
    random cells outside every box of the same image (see the module docstring). Paper: §6.3.1.
    """
    rng = rng or np.random.default_rng(0)
    n, c, h, w = feats.shape
    if len(boxes) != n:
        raise ValueError(f"{n} feature maps but {len(boxes)} box lists")
    masks = [feature_mask(b, image_size, h) for b in boxes]
    n_pos = np.array([m.sum() if b else 0 for m, b in zip(masks, boxes, strict=True)])
    boxed = n_pos[n_pos > 0]
    per_empty = int(round(neg_per_pos * boxed.mean())) if len(boxed) else 0
    f = feats.permute(0, 2, 3, 1).reshape(n, h * w, c).numpy()
    xs, ys, img = [], [], []
    for i, (m, b) in enumerate(zip(masks, boxes, strict=True)):
        inside = np.flatnonzero(m.ravel()) if b else np.zeros(0, np.int64)
        outside = np.flatnonzero(~m.ravel()) if b else np.arange(h * w)
        k = int(round(neg_per_pos * len(inside))) if b else per_empty
        neg = rng.choice(outside, size=min(k, len(outside)), replace=False)
        for cells, label in ((inside, 1), (neg, 0)):
            xs.append(f[i, cells])
            ys.append(np.full(len(cells), label, np.int64))
            img.append(np.full(len(cells), i, np.int64))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(img)


@dataclass
class ObjectRegression:
    """The fitted logistic regression and the maps it says to drop."""

    weights: np.ndarray  # (C,) per map, in standardized units
    intercept: float
    maps: np.ndarray  # indices of the maps with weight > 0 (the paper's rule)
    n_positive: int
    n_negative: int
    train_accuracy: float
    heldout_accuracy: float | None  # fitted on the first 80% of the images, scored on the rest

    def summary(self) -> dict:
        return {
            "n_maps": len(self.weights),
            "n_dropped": len(self.maps),
            "maps": self.maps.tolist(),
            "weights": [round(float(w), 6) for w in self.weights],
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "train_accuracy": round(self.train_accuracy, 4),
            "heldout_accuracy": None
            if self.heldout_accuracy is None
            else round(self.heldout_accuracy, 4),
        }


def _logistic(X: np.ndarray, y: np.ndarray, C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed)
    )
    return model.fit(X, y)


def fit_object_maps(
    X: np.ndarray, y: np.ndarray, image: np.ndarray | None = None, C: float = 1.0, seed: int = 0
) -> ObjectRegression:
    """Logistic regression of y (1 = inside a box) on X (M, C); maps with weight > 0 are dropped.

    With ``image`` (M,) the sample's image index, also a held-out accuracy (fit on the first 80 %
    of the images, scored on the rest); the weights always come from the fit on everything.
    Paper: §6.3.1.
    """
    if len(np.unique(y)) < 2:
        raise ValueError("the regression needs both positives (inside boxes) and negatives")
    model = _logistic(X, y, C, seed)
    lr = model[-1]
    weights = lr.coef_[0].copy()
    held = None
    if image is not None:
        cut = np.quantile(np.unique(image), 0.8)
        tr, te = image <= cut, image > cut
        if te.any() and len(np.unique(y[tr])) == 2:
            held = float((_logistic(X[tr], y[tr], C, seed).predict(X[te]) == y[te]).mean())
    return ObjectRegression(
        weights=weights,
        intercept=float(lr.intercept_[0]),
        maps=np.flatnonzero(weights > 0),
        n_positive=int(y.sum()),
        n_negative=int((y == 0).sum()),
        train_accuracy=float((model.predict(X) == y).mean()),
        heldout_accuracy=held,
    )


def fit_from_boxes(
    G: nn.Module,
    boxset: BoxSet,
    layer: int = DEFAULT_LAYER,
    neg_per_pos: float = 1.0,
    C: float = 1.0,
    seed: int = 0,
) -> ObjectRegression:
    """Boxes on samples of G -> G's layer activations -> the regression and the maps to drop.

    The whole §6.3.1 tool: ``DroppedGenerator(G, fit_from_boxes(G, boxes).maps)`` then draws
    without the object. Paper: §6.3.1.
    """
    feats = layer_output(G, boxset.z, layer)
    X, y, image = sample_locations(
        feats, boxset.boxes, boxset.image_size, neg_per_pos, np.random.default_rng(seed)
    )
    return fit_object_maps(X, y, image, C, seed)


def fit_contrast(
    G: nn.Module,
    with_object: BoxSet,
    z_without: torch.Tensor,
    layer: int = DEFAULT_LAYER,
    C: float = 1.0,
    seed: int = 0,
) -> ObjectRegression:
    """Ours, not the paper's: the same box cells on samples with and without the object.

    Positives: the cells inside the boxes of ``with_object``; negatives: the same cells on the
    samples ``z_without`` (N, nz) that do not show it (sample i takes the boxes of
    ``with_object`` sample ``i mod n``). Where the object always sits at one place (aligned
    faces), the paper's negatives (other places) let the regression pick maps that mark the
    *place*; these negatives leave it only what differs at that place. Paper: §6.3.1 (a variant).
    """
    n = len(with_object.boxes)
    boxes_without = [with_object.boxes[i % n] for i in range(len(z_without))]
    size = with_object.image_size
    pos = sample_locations(layer_output(G, with_object.z, layer), with_object.boxes, size, 0.0)
    neg = sample_locations(layer_output(G, z_without, layer), boxes_without, size, 0.0)
    X = np.concatenate([pos[0], neg[0]])
    y = np.concatenate([pos[1], 1 - neg[1]])  # the cells inside the boxes, labelled 0 there
    # interleaved image numbers: the held-out split (the last 20 % by number) gets both kinds
    image = np.concatenate([2 * pos[2], 2 * neg[2] + 1])
    return fit_object_maps(X, y, image, C, seed)


# ---------------------------------------------------------------------------------------------
# Where a face attribute lives in the aligned crop


def attribute_difference(images: np.ndarray, has: np.ndarray) -> np.ndarray:
    """(S, S): |mean image with the attribute - mean image without it|, averaged over colour.

    images (N, S, S, 3) uint8 aligned faces (may be a memory map), has (N,) bool.
    """
    has = np.asarray(has, bool)
    if has.all() or not has.any():
        raise ValueError("attribute_difference needs images with and without the attribute")
    mean_with = np.zeros(images.shape[1:], np.float64)
    mean_without = np.zeros(images.shape[1:], np.float64)
    for i in range(0, len(images), 1024):  # chunks: the images may be a memory map
        chunk = np.asarray(images[i : i + 1024], np.float64)
        mean_with += chunk[has[i : i + 1024]].sum(0)
        mean_without += chunk[~has[i : i + 1024]].sum(0)
    return np.abs(mean_with / has.sum() - mean_without / (~has).sum()).mean(-1)


def attribute_band(images: np.ndarray, has: np.ndarray, fraction: float = 0.5) -> Box:
    """The box where faces with an attribute differ most from faces without it.

    ``attribute_difference``, 3x3 box-smoothed; the box bounds the connected region around its
    peak where it is at least ``fraction`` of the peak. (ours: the faces stand-in for hand-drawn
    boxes)
    """
    from scipy import ndimage

    diff = ndimage.uniform_filter(attribute_difference(images, has), 3)
    labels, _ = ndimage.label(diff >= fraction * diff.max())
    peak = np.unravel_index(diff.argmax(), diff.shape)
    ys, xs = np.nonzero(labels == labels[peak])
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


# ---------------------------------------------------------------------------------------------
# Judges: the attribute classifier for faces (a toy's: dcgan_lib.toys.toy_judge)


@dataclass
class Judge:
    """Says whether generated images show each object: (B, 3, S, S) in [-1, 1] -> (B, A) in [0, 1]."""

    attributes: tuple[str, ...]
    predict: Callable[[torch.Tensor], torch.Tensor]
    bands: dict[str, Box]
    description: str = ""


def face_judge(classifier: nn.Module | None = None) -> Judge:
    """The stored CelebA attribute classifier (``artifacts/celeba_attributes``) with ``BANDS``."""
    model = classifier if classifier is not None else load_stored_classifier()
    return Judge(
        attributes=tuple(model.cfg.attributes),  # type: ignore[union-attr]
        predict=lambda x: predict_proba(model, x),  # type: ignore[arg-type]
        bands=dict(BANDS),
        description="the CelebA attribute classifier (artifacts/celeba_attributes)",
    )


if __name__ == "__main__":  # the old spelling: runs ``python -m dcgan_lib forgetting ...``
    sys.argv[1:1] = ["forgetting"]
    runpy.run_module("dcgan_lib", run_name="__main__", alter_sys=True)
