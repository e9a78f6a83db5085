"""Near-duplicates as ground truth for a de-duplication hash (paper §4.1.1): planted copies of real
images, a pixel-space judge, and the recall and precision of a grouping against them.

The paper judged its hash's false positives by eye and measured no recall. Here a copy of a real
held-out image, changed in one of six ways (``TRANSFORMS``: JPEG re-encoding, a 1-3 px shift or
crop, brightness, contrast, a resize round trip), is appended to the set (``plant_duplicates``);
a grouping's recall is the share of those pairs it joins, its precision the share of the pairs
it joins that are planted, or that ``pair_distance`` (the judge, blind to any hash) calls
near-duplicates. ``phash_codes`` is the perceptual-hash baseline measured on the same pairs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from dcgan_lib.dedup import duplicate_groups, group_codes, keep_indices, n_pairs

TRANSFORMS = ("jpeg", "shift", "crop", "brightness", "contrast", "resize")


def _resize(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    size = (size, size) if isinstance(size, int) else size
    return np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR))


def near_duplicate(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A near-duplicate of one (S, S, 3) uint8 image, and a note of what was done.

    kinds: ``jpeg`` (re-encode, quality 40-90), ``shift`` (1-3 px, edges replicated), ``crop``
    (1-3 px off each side, resized back), ``brightness`` (+-4 to 16 grey levels), ``contrast``
    (x 0.85-0.95 or 1.05-1.15 about the mean), ``resize`` (down to 16-24 px and back up).
    """
    s = img.shape[0]
    if kind == "jpeg":
        q = int(rng.integers(40, 91))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q)
        return np.asarray(Image.open(buf).convert("RGB")), f"q={q}"
    if kind == "shift":
        while True:
            dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
            if dx or dy:
                break
        p = np.pad(img, ((3, 3), (3, 3), (0, 0)), mode="edge")
        return p[3 + dy : 3 + dy + s, 3 + dx : 3 + dx + s], f"dx={dx},dy={dy}"
    if kind == "crop":  # 1-3 px off each axis, split at random between its two sides
        cy, cx = (int(v) for v in rng.integers(1, 4, 2))
        t, left = int(rng.integers(0, cy + 1)), int(rng.integers(0, cx + 1))
        crop = img[t : s - (cy - t), left : s - (cx - left)]
        return _resize(np.ascontiguousarray(crop), s), f"crop y{cy} x{cx}"
    if kind == "brightness":
        d = int(rng.integers(4, 17)) * int(rng.choice([-1, 1]))
        return np.clip(img.astype(np.int16) + d, 0, 255).astype(np.uint8), f"{d:+d}"
    if kind == "contrast":
        c = float(rng.uniform(0.05, 0.15)) * float(rng.choice([-1, 1])) + 1
        m = img.mean()
        return np.clip((img - m) * c + m + 0.5, 0, 255).astype(np.uint8), f"x{c:.2f}"
    if kind == "resize":
        k = int(rng.integers(16, 25))
        return _resize(_resize(img, k), s), f"{s}->{k}->{s}"
    raise ValueError(f"unknown near-duplicate kind {kind!r}; choose one of {TRANSFORMS}")


@dataclass
class Planted:
    """Real images with near-duplicates mixed in: ``images[n_base + k]`` copies ``images[source[k]]``."""

    images: np.ndarray  # (n_base + n_planted, S, S, 3) uint8
    n_base: int
    source: np.ndarray  # (n_planted,) index of the original of each copy
    kind: list[str]  # (n_planted,) transform name
    note: list[str]

    @property
    def pairs(self) -> set[tuple[int, int]]:
        return {(int(s), self.n_base + k) for k, s in enumerate(self.source)}


def plant_duplicates(
    base: np.ndarray, n_planted: int, seed: int = 0, kinds: Sequence[str] = TRANSFORMS
) -> Planted:
    """Append ``n_planted`` near-duplicates of distinct random base images, kinds in turn."""
    rng = np.random.default_rng(seed)
    source = rng.choice(len(base), size=n_planted, replace=False)
    copies, kind, note = [], [], []
    for k, s in enumerate(source):
        name = kinds[k % len(kinds)]
        img, how = near_duplicate(np.asarray(base[s]), name, rng)
        copies.append(img)
        kind.append(name)
        note.append(how)
    images = np.concatenate([np.asarray(base), np.stack(copies)]) if copies else np.asarray(base)
    return Planted(images, len(base), source, kind, note)


def pair_distance(a: np.ndarray, b: np.ndarray, max_shift: int = 3, blur: int = 3) -> np.ndarray:
    """Pixel-space judge: (P, S, S, 3) uint8 pairs -> (P,) distance. Both images are blurred
    (a ``blur`` x ``blur`` box, so re-sampling and small crops barely count); for every shift up to
    ``max_shift`` px the overlapping parts are standardized (mean 0, std 1 per image: brightness
    and contrast do not count) and compared by RMS difference; the smallest over shifts is kept.
    Planted near-duplicates score below about 0.4, unrelated images above about 0.5."""

    def smooth(x: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x)).float().permute(0, 3, 1, 2)
        x = torch.nn.functional.avg_pool2d(x, blur, 1, blur // 2, count_include_pad=False)
        return x.permute(0, 2, 3, 1)

    a, b = smooth(a), smooth(b)
    s, m = a.shape[1], max_shift
    best = torch.full((len(a),), float("inf"))
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            pa = a[:, max(dy, 0) : s + min(dy, 0), max(dx, 0) : s + min(dx, 0)].reshape(len(a), -1)
            pb = b[:, max(-dy, 0) : s + min(-dy, 0), max(-dx, 0) : s + min(-dx, 0)].reshape(
                len(b), -1
            )
            pa = pa - pa.mean(1, keepdim=True)
            pb = pb - pb.mean(1, keepdim=True)
            va, vb, cov = pa.pow(2).mean(1), pb.pow(2).mean(1), (pa * pb).mean(1)
            sa, sb = va.sqrt().clamp_min(2.0), vb.sqrt().clamp_min(2.0)  # a flat image: std floor
            d2 = va / sa**2 + vb / sb**2 - 2 * cov / (sa * sb)  # mean((pa/sa - pb/sb)^2)
            best = torch.minimum(best, d2.clamp_min(0).sqrt())
    return best.numpy()


JUDGE_THRESHOLD = 0.45  # pair_distance below this: a near-duplicate (calibrated on planted pairs)


def judge_pairs(
    images: np.ndarray, pairs: Sequence[tuple[int, int]], batch: int = 2048
) -> np.ndarray:
    """pair_distance for index pairs into ``images``."""
    pairs = np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)
    out = [
        pair_distance(images[p[:, 0]], images[p[:, 1]])
        for p in (pairs[i : i + batch] for i in range(0, len(pairs), batch))
    ]
    return np.concatenate(out) if out else np.zeros(0)


def sample_group_pairs(
    rep: np.ndarray, k: int, seed: int = 0, exclude: set[tuple[int, int]] = frozenset()
) -> list[tuple[int, int]]:
    """Up to ``k`` pairs (i < j) drawn uniformly from all pairs sharing a group, none in
    ``exclude``; without listing the pairs, so a huge group costs nothing extra."""
    groups = duplicate_groups(rep)
    if not groups:
        return []
    rng = np.random.default_rng(seed)
    w = np.array([len(g) * (len(g) - 1) / 2 for g in groups])
    out: set[tuple[int, int]] = set()
    total = int(w.sum())
    for _ in range(20 * k):
        if len(out) >= min(k, total):
            break
        g = groups[rng.choice(len(groups), p=w / w.sum())]
        a, b = sorted(int(x) for x in rng.choice(g, 2, replace=False))
        if (a, b) not in exclude:
            out.add((a, b))
    return sorted(out)


def random_pairs(n: int, k: int, seed: int = 0) -> np.ndarray:
    """(k, 2) random pairs of distinct indices below n."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, k)
    return np.stack([a, (a + rng.integers(1, n, k)) % n], 1)


def planted_scores(planted: Planted, rep: np.ndarray, judged_duplicate: float = 0.0) -> dict:
    """Recall (overall and per kind) and precision of a grouping against the planted pairs.

    precision_strict counts every predicted pair that is not planted as a false positive;
    precision counts as true also the share ``judged_duplicate`` of the other pairs that the pixel
    judge calls near-duplicates (the real images hold natural duplicates of their own)."""
    truth = sorted(planted.pairs)
    found = np.array([rep[a] == rep[b] for a, b in truth]) if truth else np.zeros(0, bool)
    kinds = [planted.kind[k - planted.n_base] for _, k in truth]
    predicted, tp = n_pairs(rep), int(found.sum())
    nan = float("nan")
    return {
        "n_images": len(rep),
        "n_planted": len(truth),
        "predicted_pairs": predicted,
        "true_positives": tp,
        "other_pairs": predicted - tp,
        "other_pairs_judged_duplicate": judged_duplicate,
        "recall": float(found.mean()) if len(found) else nan,
        "recall_by_kind": {
            k: float(found[[x == k for x in kinds]].mean()) for k in dict.fromkeys(kinds)
        },
        "precision_strict": tp / predicted if predicted else nan,
        "precision": (tp + judged_duplicate * (predicted - tp)) / predicted if predicted else nan,
    }


def phash_codes(images: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, hash_size**2 / 8) uint8: imagehash's pHash, the baseline."""
    import imagehash

    return np.stack(
        [
            np.packbits(imagehash.phash(Image.fromarray(np.asarray(im)), hash_size).hash)
            for im in images
        ]
    )


# ---------------------------------------------------------------------------------------------
# A hash's groups scored against planted pairs and, in real data, against the judge


def evaluate_planted(
    planted: Planted, codes: np.ndarray, radii: Sequence[int], judge_sample: int = 1000
) -> dict:
    """planted_scores for each radius; up to ``judge_sample`` of the predicted pairs that are not
    planted are judged in pixel space."""
    out = {}
    for r in radii:
        rep = group_codes(codes, r)
        other = sample_group_pairs(rep, judge_sample, exclude=planted.pairs)
        dist = judge_pairs(planted.images, other)
        out[str(r)] = planted_scores(
            planted, rep, float((dist < JUDGE_THRESHOLD).mean()) if len(dist) else 0.0
        )
    return out


def natural_duplicates(
    images: np.ndarray,
    names: Sequence[str],
    codes: np.ndarray,
    radius: int = 0,
    judge_sample: int = 1000,
    gallery: int = 16,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> tuple[dict, list]:
    """Collision groups in a real dataset: counts, a pixel-judged precision (on up to
    ``judge_sample`` pairs, each image against its group's first), and ``gallery`` groups drawn at
    random for display ({names, images, distance to the first}). A name's split is its part
    before the first '/' (after an optional 'dataset:' prefix); test and val are held out."""
    rep = group_codes(codes, radius)
    groups = duplicate_groups(rep)
    rng = np.random.default_rng(seed)
    pairs = [(int(g[0]), int(b)) for g in groups for b in g[1:]]
    pick = np.sort(rng.choice(len(pairs), min(judge_sample, len(pairs)), replace=False))
    dist = judge_pairs(images, [pairs[i] for i in pick])
    split = np.array([n.split(":", 1)[-1].split("/", 1)[0] for n in names])
    heldout = np.isin(split, ("test", "val"))
    in_group = np.zeros(len(rep), bool)
    for g in groups:
        in_group[g] = True
    metrics = {
        "n_images": len(rep),
        "radius": radius,
        "groups": len(groups),
        "images_in_groups": int(in_group.sum()),
        "removed": int(len(rep) - len(keep_indices(rep))),
        "largest_group": int(max((len(g) for g in groups), default=1)),
        "identical_pairs": sum(bool((images[a] == images[b]).all()) for a, b in pairs),
        "cross_split_groups": sum(len(set(split[g])) > 1 for g in groups),
        "cross_class_groups": None
        if labels is None
        else sum(len(set(labels[g])) > 1 for g in groups),
        "n_heldout": int(heldout.sum()),
        "heldout_in_groups": int((heldout & in_group).sum()),  # test/val images with any duplicate
        "judged_pairs": len(dist),
        "judged_duplicate": int((dist < JUDGE_THRESHOLD).sum()),
        "precision_judged": float((dist < JUDGE_THRESHOLD).mean()) if len(dist) else float("nan"),
    }
    shown = [
        groups[i]
        for i in np.sort(rng.choice(len(groups), min(gallery, len(groups)), replace=False))
    ]
    gal = [
        {
            "names": [names[i] for i in g],
            "images": np.asarray(images[g]),
            "distance": judge_pairs(images, [(int(g[0]), int(b)) for b in g]).tolist(),
        }
        for g in shown
    ]
    return metrics, gal
