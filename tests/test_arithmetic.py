"""§6.3.2 vector arithmetic and the turn vector (dcgan_lib/arithmetic.py), and the pose cue
(dcgan_lib/pose.py): hand-computed arithmetic, noise shapes, exemplar picking, classifier scoring
on a toy generator with known attributes, the turn on the toy, and the pose cue on a real photo."""

import json

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image

from dcgan_lib import arithmetic as AR
from dcgan_lib import pose as P
from dcgan_lib import toys
from dcgan_lib.artifacts import artifacts_dir
from dcgan_lib.attributes import predict_proba
from dcgan_lib.models import generate, sample_z
from dcgan_lib.stats import wilson_interval
from dcgan_lib.studies.pose import POSE_LABELS
from dcgan_lib.studies.pose import pose_cue_reliability as reliability

G_TOY, CLF_TOY = toys.ToyFaces(), toys.ToyAttributeClassifier()


# ---------------------------------------------------------------------------------------------
# Arithmetic


def test_concept_mean_and_arithmetic_match_a_hand_computation():
    z = torch.tensor(
        [
            [0.3, -0.6, 0.9],
            [0.9, 0.0, -0.3],
            [-0.3, 0.3, 0.0],
            [0.6, 0.6, 0.6],
            [0.0, -0.9, 0.3],
        ]
    )
    a = AR.concept_mean(z, [0, 1, 2])  # (0.3, -0.1, 0.2)
    b = AR.concept_mean(z, [3, 4])  # (0.3, -0.15, 0.45)
    c = AR.concept_mean(z, [4])  # (0.0, -0.9, 0.3)
    assert torch.allclose(a, torch.tensor([0.3, -0.1, 0.2]), atol=1e-6)
    assert torch.allclose(b, torch.tensor([0.3, -0.15, 0.45]), atol=1e-6)
    y = AR.vector_arithmetic(a, b, c)
    assert torch.allclose(y, torch.tensor([0.0, -0.85, 0.05]), atol=1e-6)
    # pixel space: the same arithmetic on mean images, then clipped to [-1, 1]
    xa = torch.full((3, 3, 2, 2), 0.8)
    xb = torch.full((2, 3, 2, 2), -0.5)
    xc = torch.tensor([0.1, -0.6, 0.2]).view(1, 3, 1, 1).expand(1, 3, 2, 2)  # one exemplar
    px = AR.pixel_arithmetic(xa, xb, xc)  # 0.8 + 0.5 + (0.1, -0.6, 0.2) = (1.4, 0.7, 1.5)
    assert px.shape == (3, 2, 2)
    want = torch.tensor([1.0, 0.7, 1.0]).view(3, 1, 1).expand(3, 2, 2)  # clipped to [-1, 1]
    assert torch.allclose(px, want, atol=1e-6)


def test_noise_neighbours_shapes_and_scale():
    y = torch.rand(100) * 2 - 1
    grid = AR.with_noise(y, 8, 0.25, torch.Generator().manual_seed(0))
    assert grid.shape == (9, 100)
    assert torch.equal(grid[0], y)  # the result itself comes first
    noise = grid[1:] - y
    assert noise.abs().max() <= 0.25 + 1e-6 and noise.abs().max() > 0.2
    assert noise.std() > 0.1  # uniform on [-0.25, 0.25]: std 0.144
    again = AR.with_noise(y, 8, 0.25, torch.Generator().manual_seed(0))
    assert torch.equal(grid, again)


def test_pick_exemplars_uses_thresholds_and_overrides():
    attrs = ("Smiling", "Male")
    probs = torch.tensor(
        [[0.95, 0.05], [0.92, 0.02], [0.5, 0.05], [0.99, 0.5], [0.91, 0.09], [0.97, 0.01]]
    )
    qualifying = {0, 1, 4, 5}  # Smiling > 0.9 and Male < 0.1
    picks = AR.pick_exemplars(probs, attrs, AR.SMILING_WOMAN, k=3, seed=0)
    assert len(picks) == 3 and set(picks.tolist()) <= qualifying
    assert AR.pick_exemplars(probs, attrs, AR.SMILING_WOMAN, k=3, seed=0).tolist() == picks.tolist()
    assert AR.pick_exemplars(probs, attrs, AR.SMILING_WOMAN, 3, override=[2, 3, 0]).tolist() == [
        2,
        3,
        0,
    ]
    with pytest.raises(ValueError, match="only 0 of 6"):
        AR.pick_exemplars(probs, attrs, AR.NEUTRAL_MAN, k=3)
    with pytest.raises(ValueError):
        AR.pick_exemplars(probs, attrs, AR.SMILING_WOMAN, 3, override=[0, 1])


def test_toy_classifier_reads_the_toy_attributes_exactly():
    z = sample_z(500, G_TOY.cfg, torch.Generator().manual_seed(3))
    probs = predict_proba(CLF_TOY, generate(G_TOY, z))
    assert torch.equal(probs > 0.5, toys.ToyFaces.truth(z))


def test_scoring_on_a_toy_generator_with_known_attributes():
    pool = AR.sample_pool(G_TOY, CLF_TOY, 400, seed=1)
    eq = AR.EQUATIONS["smile"]
    r = AR.score_arithmetic(G_TOY, CLF_TOY, pool, eq, n_trials=300, seed=2)
    trials = np.array(r["trials"])
    assert trials.shape == (300, 9) and r["n_trials"] == 300
    # each exemplar meets its concept's conditions
    for role, concept in (("a", eq.a), ("b", eq.b), ("c", eq.c)):
        j = "abc".index(role)
        mask = AR.concept_mask(pool.probs, pool.attributes, concept.want)
        assert mask[torch.from_numpy(trials[:, 3 * j : 3 * j + 3].ravel())].all()
    # the z-space outcome, by hand: the toy's attributes are z_k > 0.3
    means = [pool.z[torch.from_numpy(trials[:, 3 * j : 3 * j + 3])].mean(1) for j in range(3)]
    y = means[0] - means[1] + means[2]
    truth = toys.ToyFaces.truth(y)
    expected = truth[:, 0] & truth[:, 1]  # target: Smiling and Male
    assert r["per_trial"]["z"] == expected.tolist()
    assert r["success"]["z"] == pytest.approx(expected.float().mean().item())
    # c alone (neutral men) is never smiling; random z: P(z0 > .3) P(z1 > .3) = 0.1225
    assert r["success"]["c_only"] == 0.0
    assert abs(r["success"]["random_z"] - 0.1225) < 4 * (0.1225 * 0.8775 / 300) ** 0.5
    for m in AR.METHODS:  # each interval is that of the method's own count
        assert r["ci95"][m] == wilson_interval(sum(r["per_trial"][m]), 300)
    json.dumps(r)  # JSON-able as it is


def test_scoring_skips_an_equation_without_enough_exemplars():
    pool = AR.sample_pool(G_TOY, CLF_TOY, 40, seed=1)
    r = AR.score_arithmetic(G_TOY, CLF_TOY, pool, AR.EQUATIONS["glasses"], n_trials=5, k=30)
    assert r["n_trials"] == 0 and "fewer than 30" in r["skipped"]


# ---------------------------------------------------------------------------------------------
# §6.3.2 the turn vector and the pose cue


def test_turn_vector_turns_the_toy_and_a_random_direction_does_not():
    pool = AR.sample_pool(G_TOY, CLF_TOY, 300, seed=4)
    scores = toys.toy_pose_score(pool.float_images())
    turn, li, ri = AR.turn_vector(pool.z, scores, k=4)
    assert len(li) == len(ri) == 4
    assert scores[li].max() < scores[ri].min()
    assert torch.allclose(turn, AR.concept_mean(pool.z, ri) - AR.concept_mean(pool.z, li))
    alphas = (-1.0, -0.5, 0.0, 0.5, 1.0)
    z = sample_z(16, G_TOY.cfg, torch.Generator().manual_seed(5))
    x = AR.along_direction(G_TOY, z, turn, alphas)
    assert x.shape == (16, 5, 3, 64, 64)
    assert torch.allclose(x[:, 2], generate(G_TOY, z))  # alpha 0: the samples themselves
    s = toys.toy_pose_score(x.flatten(0, 1)).reshape(16, 5)
    change = AR.pose_change(s, alphas)
    assert change["rose"] == 1.0 and change["spearman"] > 0.9
    assert np.all(np.diff(change["mean_score"]) > 0)
    other = torch.zeros_like(turn)
    other[5:] = turn[5:].norm() + 1  # a direction in the toy's unused coordinates
    s0 = toys.toy_pose_score(AR.along_direction(G_TOY, z, other, alphas).flatten(0, 1))
    assert np.allclose(s0.reshape(16, 5), s[:, 2:3], atol=1e-4)  # pose unchanged
    # overrides by index
    _, li2, ri2 = AR.turn_vector(pool.z, scores, 4, left=[0, 1, 2, 3], right=[4, 5, 6, 7])
    assert li2.tolist() == [0, 1, 2, 3] and ri2.tolist() == [4, 5, 6, 7]


def _grace_hopper_64() -> np.ndarray:
    """A real photo with a near-frontal face: matplotlib's grace_hopper.jpg, cropped around the
    face (OpenCV's frontal cascade puts it at x 155, y 105, 222 x 222 px) like a CelebA crop."""
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = np.asarray(Image.open(path).convert("RGB"))
    crop = img[71 : 71 + 310, 111 : 111 + 310]
    return np.asarray(Image.fromarray(crop).resize((64, 64), Image.BILINEAR))


def _yaw(img: np.ndarray, degrees: float) -> np.ndarray:
    """Perspective view of a plane turned about the vertical axis (negative: its right half comes
    towards the camera, as when a face turns to the image's left)."""
    h, w = img.shape[:2]
    th, f = np.deg2rad(degrees), 1.2 * w
    pts = []
    for u, v in [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]:
        zc = f + u * np.sin(th)
        pts.append((f * u * np.cos(th) / zc + w / 2, f * v / zc + h / 2))
    src = np.float32([(0, 0), (w, 0), (w, h), (0, h)])
    m = cv2.getPerspectiveTransform(src, np.float32(pts))
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_pose_cue_on_a_real_photo_and_its_mirror():
    face = _grace_hopper_64()
    s, s_mirror = P.pose_score(face[None]), P.pose_score(face[None, :, ::-1])
    assert s[0] == -s_mirror[0]  # mirroring negates the score exactly
    votes = P.pose_votes(face[None])[0]
    assert votes[2] > 10 * max(votes[0], votes[1], 1)  # the frontal cascade dominates
    assert abs(s[0]) < 0.1  # a near-frontal face: no turn
    # float input (as G gives) and uint8 NCHW give the same score as uint8 NHWC
    x = torch.from_numpy(face.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert np.allclose(P.pose_score(x), s)
    # the same face foreshortened as if turned: the sign follows the turn, the mirror flips it
    left, right = _yaw(face, -60)[None], _yaw(face, 60)[None]
    assert P.pose_score(left)[0] < 0 < P.pose_score(right)[0]
    assert P.pose_score(left[:, :, ::-1])[0] > 0


def test_pose_labels_and_reliability_artifact():
    folder = artifacts_dir() / POSE_LABELS
    labels = json.loads((folder / "labels.json").read_text())
    assert len(labels["frontal"]) == 214 and len(labels["turned"]) == 36
    assert {t["facing"] for t in labels["turned"]} == {"L", "R"}
    assert all(t["name"].startswith("celebA/") for t in labels["turned"])
    rel = json.loads((folder / "reliability.json").read_text())
    t = rel["turned"]["nonzero"]
    assert t["sign_correct"] <= t["decided"] <= rel["turned"]["n"]
    assert rel["frontal"]["n"] == 214


def test_pose_cue_reliability_counts_the_labelled_sides():
    face = _grace_hopper_64()
    images = np.stack([_yaw(face, -60), _yaw(face, 60), face, _yaw(face, 60)])
    labels = {
        "turned": [
            {"index": 0, "facing": "L", "sample": "a", "seen_with_score": False},
            {"index": 1, "facing": "R", "sample": "b", "seen_with_score": False},
            {"index": 3, "facing": "L", "sample": "b", "seen_with_score": True},  # left out
        ],
        "frontal": [{"index": 2}],
    }
    rel = reliability(images, labels)
    t = rel["turned"]
    assert t["n"] == 2 and t["nonzero"] == {
        "decided": 2,
        "sign_correct": 2,
        "ci95": wilson_interval(2, 2),
    }
    assert rel["turned_by_sample"]["a"]["n"] == rel["turned_by_sample"]["b"]["n"] == 1
    assert rel["frontal"] == {"n": 1, "above_threshold": 0, "above_0.5": 0}
