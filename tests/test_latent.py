"""§6.1 walks and §6.3.2 vector arithmetic and the turn vector (dcgan_lib/latent.py): endpoints,
hand-computed arithmetic, noise shapes, exemplar picking, classifier scoring on a toy generator
with known attributes, the smoothness measure, the BatchNorm policy, and the pose cue on a real
photo."""

import json

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image

from dcgan_lib import latent as L
from dcgan_lib import pose as P
from dcgan_lib.artifacts import artifacts_dir
from dcgan_lib.attributes import predict_proba
from dcgan_lib.config import get_model_config
from dcgan_lib.models import Generator, generate, sample_z

G_TOY, CLF_TOY = L.ToyFaces(), L.ToyAttributeClassifier()


# ---------------------------------------------------------------------------------------------
# §6.1 walks


def test_interpolation_endpoints_are_the_given_points():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.rand(100, generator=g) * 2 - 1, torch.rand(100, generator=g) * 2 - 1
    path = L.interpolate(z0, z1, 7)
    assert path.shape == (8, 100)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    for i in range(8):  # the linear formula, by hand
        assert torch.allclose(path[i], z0 + (i / 7) * (z1 - z0), atol=1e-6)
    steps = path[1:] - path[:-1]
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-6)  # equal steps


def test_walk_passes_through_every_point_in_order():
    points = torch.rand(9, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    path = L.walk(points, 5)
    assert path.shape == (8 * 5 + 1, 16)
    assert torch.equal(path[::5], points)  # row j * steps is points[j], exactly
    with pytest.raises(ValueError):
        L.walk(points[:1], 5)


def test_smoothness_tells_a_smooth_generator_from_a_jumping_one():
    class Jumps(L.ToyFaces):
        """The toy, but each image is snapped to black or white: small z moves cause jumps."""

        def forward(self, z):
            return torch.sign(super().forward(z) + 0.05 * torch.sign(z[:, 5:6, None, None]))

    smooth = L.walk_smoothness(G_TOY, n_walks=2, n_points=5, steps=16, n_random=32, seed=0)
    jumpy = L.walk_smoothness(Jumps(), n_walks=2, n_points=5, steps=16, n_random=32, seed=0)
    s, j = smooth["generator"], jumpy["generator"]
    assert smooth["n_segments"] == 8
    assert s["sharp_segments"] == 0.0 and s["max_step_share"]["max"] < 0.5
    assert j["max_step_share"]["median"] > 2 * s["max_step_share"]["median"]
    # the memorizer (a lookup of 64 stored samples) jumps along the same paths
    m = smooth["memorizer"]
    assert m["max_step_share"]["median"] > 2 * s["max_step_share"]["median"]
    # the toy changes almost evenly along a segment: its largest step is near 1/16 of the change
    assert s["max_step_share"]["median"] < 2 / 16


def test_segment_statistics_by_hand():
    # three segments of 4 steps: an even change, a jump, a change in two unequal steps
    d = torch.tensor([[1.0, 1, 1, 1], [0, 0, 4, 0], [1, 3, 0, 0]])
    s = L._segment_stats(d, endpoint=torch.tensor([4.0, 4.0, 2.0]), scale=2.0)
    assert s["max_step_share"]["median"] == pytest.approx(0.75)  # shares 1/4, 1, 3/4
    assert s["max_step_share"]["max"] == pytest.approx(1.0)
    assert s["sharp_segments"] == pytest.approx(2 / 3)  # over half the change in one step
    assert s["mean_step_vs_random"] == pytest.approx(0.5)  # mean step 1, random pairs 2
    assert s["max_step_vs_random"]["median"] == pytest.approx(1.5)  # largest steps 1, 4, 3
    assert s["max_step_vs_random"]["max"] == pytest.approx(2.0)
    assert s["endpoint_vs_random"] == pytest.approx(2.0)  # endpoints 4, 4, 2 over 2
    assert s["path_vs_endpoint"] == pytest.approx(1.0)  # path lengths 4, 4, 4 over 4, 4, 2


def test_wilson_interval_by_hand():
    # p = 0.5, n = 10: centre 0.5, half-width 1.96 sqrt(0.025 + 0.0096) / 1.3842 = 0.2634
    assert L.wilson_interval(5, 10) == pytest.approx([0.2366, 0.7634], abs=1e-4)
    # no successes: the upper end is z^2 / (n + z^2), not 0 as the plain (Wald) interval says
    assert L.wilson_interval(0, 10) == pytest.approx([0.0, 1.96**2 / (10 + 1.96**2)])
    assert L.wilson_interval(10, 10) == pytest.approx([10 / (10 + 1.96**2), 1.0])
    assert L.wilson_interval(0, 0) == [0.0, 1.0]


def test_a_path_does_not_depend_on_the_rest_of_the_batch():
    # the documented policy: generate() uses BatchNorm's running statistics (eval mode)
    G = Generator(get_model_config("smoke64"))
    G.train()
    with torch.no_grad():  # give BatchNorm non-trivial running statistics
        for seed in range(2):
            G(sample_z(16, G.cfg, torch.Generator().manual_seed(seed)))
    path = L.walk(sample_z(3, G.cfg, torch.Generator().manual_seed(9)), 4)
    d = L.batch_dependence(G, path, n_others=16)
    assert d["eval"] < 1e-5, d  # alone or inside a batch of 25: the same images
    assert d["train"] > 1e-2, d  # with batch statistics it would not be
    assert G.training  # batch_dependence left G's mode alone
    assert torch.allclose(generate(G, path, batch_size=2), generate(G, path), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# §6.3.2 arithmetic


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
    a = L.concept_mean(z, [0, 1, 2])  # (0.3, -0.1, 0.2)
    b = L.concept_mean(z, [3, 4])  # (0.3, -0.15, 0.45)
    c = L.concept_mean(z, [4])  # (0.0, -0.9, 0.3)
    assert torch.allclose(a, torch.tensor([0.3, -0.1, 0.2]), atol=1e-6)
    assert torch.allclose(b, torch.tensor([0.3, -0.15, 0.45]), atol=1e-6)
    y = L.vector_arithmetic(a, b, c)
    assert torch.allclose(y, torch.tensor([0.0, -0.85, 0.05]), atol=1e-6)
    # pixel space: the same arithmetic on mean images, then clipped to [-1, 1]
    xa = torch.full((3, 3, 2, 2), 0.8)
    xb = torch.full((2, 3, 2, 2), -0.5)
    xc = torch.tensor([0.1, -0.6, 0.2]).view(1, 3, 1, 1).expand(1, 3, 2, 2)  # one exemplar
    px = L.pixel_arithmetic(xa, xb, xc)  # 0.8 + 0.5 + (0.1, -0.6, 0.2) = (1.4, 0.7, 1.5)
    assert px.shape == (3, 2, 2)
    want = torch.tensor([1.0, 0.7, 1.0]).view(3, 1, 1).expand(3, 2, 2)  # clipped to [-1, 1]
    assert torch.allclose(px, want, atol=1e-6)


def test_noise_neighbours_shapes_and_scale():
    y = torch.rand(100) * 2 - 1
    grid = L.with_noise(y, 8, 0.25, torch.Generator().manual_seed(0))
    assert grid.shape == (9, 100)
    assert torch.equal(grid[0], y)  # the result itself comes first
    noise = grid[1:] - y
    assert noise.abs().max() <= 0.25 + 1e-6 and noise.abs().max() > 0.2
    assert noise.std() > 0.1  # uniform on [-0.25, 0.25]: std 0.144
    again = L.with_noise(y, 8, 0.25, torch.Generator().manual_seed(0))
    assert torch.equal(grid, again)


def test_pick_exemplars_uses_thresholds_and_overrides():
    attrs = ("Smiling", "Male")
    probs = torch.tensor(
        [[0.95, 0.05], [0.92, 0.02], [0.5, 0.05], [0.99, 0.5], [0.91, 0.09], [0.97, 0.01]]
    )
    qualifying = {0, 1, 4, 5}  # Smiling > 0.9 and Male < 0.1
    picks = L.pick_exemplars(probs, attrs, L.SMILING_WOMAN, k=3, seed=0)
    assert len(picks) == 3 and set(picks.tolist()) <= qualifying
    assert L.pick_exemplars(probs, attrs, L.SMILING_WOMAN, k=3, seed=0).tolist() == picks.tolist()
    assert L.pick_exemplars(probs, attrs, L.SMILING_WOMAN, 3, override=[2, 3, 0]).tolist() == [
        2,
        3,
        0,
    ]
    with pytest.raises(ValueError, match="only 0 of 6"):
        L.pick_exemplars(probs, attrs, L.NEUTRAL_MAN, k=3)
    with pytest.raises(ValueError):
        L.pick_exemplars(probs, attrs, L.SMILING_WOMAN, 3, override=[0, 1])


def test_toy_classifier_reads_the_toy_attributes_exactly():
    z = sample_z(500, G_TOY.cfg, torch.Generator().manual_seed(3))
    probs = predict_proba(CLF_TOY, generate(G_TOY, z))
    assert torch.equal(probs > 0.5, L.ToyFaces.truth(z))


def test_scoring_on_a_toy_generator_with_known_attributes():
    pool = L.sample_pool(G_TOY, CLF_TOY, 400, seed=1)
    eq = L.EQUATIONS["smile"]
    r = L.score_arithmetic(G_TOY, CLF_TOY, pool, eq, n_trials=300, seed=2)
    trials = np.array(r["trials"])
    assert trials.shape == (300, 9) and r["n_trials"] == 300
    # each exemplar meets its concept's conditions
    for role, concept in (("a", eq.a), ("b", eq.b), ("c", eq.c)):
        j = "abc".index(role)
        mask = L.concept_mask(pool.probs, pool.attributes, concept.want)
        assert mask[torch.from_numpy(trials[:, 3 * j : 3 * j + 3].ravel())].all()
    # the z-space outcome, by hand: the toy's attributes are z_k > 0.3
    means = [pool.z[torch.from_numpy(trials[:, 3 * j : 3 * j + 3])].mean(1) for j in range(3)]
    y = means[0] - means[1] + means[2]
    truth = L.ToyFaces.truth(y)
    expected = truth[:, 0] & truth[:, 1]  # target: Smiling and Male
    assert r["per_trial"]["z"] == expected.tolist()
    assert r["success"]["z"] == pytest.approx(expected.float().mean().item())
    # c alone (neutral men) is never smiling; random z: P(z0 > .3) P(z1 > .3) = 0.1225
    assert r["success"]["c_only"] == 0.0
    assert abs(r["success"]["random_z"] - 0.1225) < 4 * (0.1225 * 0.8775 / 300) ** 0.5
    for m in L.METHODS:  # each interval is that of the method's own count
        assert r["ci95"][m] == L.wilson_interval(sum(r["per_trial"][m]), 300)
    json.dumps(r)  # JSON-able as it is


def test_scoring_skips_an_equation_without_enough_exemplars():
    pool = L.sample_pool(G_TOY, CLF_TOY, 40, seed=1)
    r = L.score_arithmetic(G_TOY, CLF_TOY, pool, L.EQUATIONS["glasses"], n_trials=5, k=30)
    assert r["n_trials"] == 0 and "fewer than 30" in r["skipped"]


# ---------------------------------------------------------------------------------------------
# §6.3.2 the turn vector and the pose cue


def test_turn_vector_turns_the_toy_and_a_random_direction_does_not():
    pool = L.sample_pool(G_TOY, CLF_TOY, 300, seed=4)
    scores = L.toy_pose_score(pool.float_images())
    turn, li, ri = L.turn_vector(pool.z, scores, k=4)
    assert len(li) == len(ri) == 4
    assert scores[li].max() < scores[ri].min()
    assert torch.allclose(turn, L.concept_mean(pool.z, ri) - L.concept_mean(pool.z, li))
    alphas = (-1.0, -0.5, 0.0, 0.5, 1.0)
    z = sample_z(16, G_TOY.cfg, torch.Generator().manual_seed(5))
    x = L.along_direction(G_TOY, z, turn, alphas)
    assert x.shape == (16, 5, 3, 64, 64)
    assert torch.allclose(x[:, 2], generate(G_TOY, z))  # alpha 0: the samples themselves
    s = L.toy_pose_score(x.flatten(0, 1)).reshape(16, 5)
    change = L.pose_change(s, alphas)
    assert change["rose"] == 1.0 and change["spearman"] > 0.9
    assert np.all(np.diff(change["mean_score"]) > 0)
    other = torch.zeros_like(turn)
    other[5:] = turn[5:].norm() + 1  # a direction in the toy's unused coordinates
    s0 = L.toy_pose_score(L.along_direction(G_TOY, z, other, alphas).flatten(0, 1))
    assert np.allclose(s0.reshape(16, 5), s[:, 2:3], atol=1e-4)  # pose unchanged
    # overrides by index
    _, li2, ri2 = L.turn_vector(pool.z, scores, 4, left=[0, 1, 2, 3], right=[4, 5, 6, 7])
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
    folder = artifacts_dir() / P.POSE_LABELS
    labels = json.loads((folder / "labels.json").read_text())
    assert len(labels["frontal"]) == 214 and len(labels["turned"]) == 36
    assert {t["facing"] for t in labels["turned"]} == {"L", "R"}
    assert all(t["name"].startswith("celebA/") for t in labels["turned"])
    rel = json.loads((folder / "reliability.json").read_text())
    t = rel["turned"]["nonzero"]
    assert t["sign_correct"] <= t["decided"] <= rel["turned"]["n"]
    assert rel["frontal"]["n"] == 214


def test_faces_study_on_the_toy_in_smoke_size():
    cfg = L.STUDY_CONFIGS["smoke"]
    study = L.run_faces_study(
        G_TOY, CLF_TOY, cfg, parts=("walks", "arithmetic", "turn"), pose_fn=L.toy_pose_score
    )
    m = study.metrics
    json.dumps(m)
    assert m["walk_endpoints_exact"] and m["batch_dependence"]["eval"] == 0.0
    assert study.figures["walk"].shape == ((cfg.walk_points - 1) * cfg.walk_steps + 1, 3, 64, 64)
    for key in L.EQUATIONS:
        ex = study.figures["arithmetic"][key]
        assert ex["z_result"].shape == (1 + cfg.n_noise, 3, 64, 64)
        assert ex["exemplars"].shape == (3, cfg.k_exemplars, 3, 64, 64)
        assert ex["pixel_result"].shape == (3, 64, 64)
        assert m["arithmetic"][key]["n_trials"] == cfg.n_trials
    assert m["turn"]["turn"]["spearman"] > 0.9
    assert abs(m["turn"]["control"]["spearman"]) < m["turn"]["turn"]["spearman"]
    assert study.figures["turn:turn"].shape == (cfg.turn_shown, len(cfg.turn_alphas), 3, 64, 64)
    # what a page needs from the stored metrics: the figure walk's steps, the pose per sample
    assert len(m["walk_step_changes"]) == (cfg.walk_points - 1) * cfg.walk_steps
    assert np.allclose(m["walk_step_changes"], L.step_changes(study.figures["walk"]).numpy())
    scores = np.array(m["turn"]["turn"]["scores"])
    assert scores.shape == (cfg.turn_samples, len(cfg.turn_alphas))
    assert np.allclose(L.pose_change(scores, cfg.turn_alphas)["mean_score"], scores.mean(0))
    ex = m["arithmetic"]["smile"]["example"]
    assert np.allclose(ex["z"], study.figures["arithmetic"]["smile"]["z"].numpy())
    figs = L.study_figures(study, cfg)  # what --export stores, generated samples only
    assert sorted(figs) == sorted(
        ["walk.png", "arithmetic_smile.png", "arithmetic_glasses.png", "turn_exemplars.png"]
        + ["turn.png", "turn_control.png"]
    )
    with pytest.raises(ValueError):
        L.run_faces_study(G_TOY, CLF_TOY, cfg, parts=("nope",))


def test_cli_writes_the_metrics_as_json(tmp_path, capsys):
    out = tmp_path / "latent.json"
    assert L.main(["--mode", "smoke", "--parts", "walks", "--out", str(out), "--no-progress"]) == 0
    m = json.loads(out.read_text())
    assert m["mode"] == "smoke" and m["walk_endpoints_exact"] and "smoothness" in m
    assert "wrote" in capsys.readouterr().out
    # --export stores only the book's study of the stored model, one folder's parts at a time
    assert L.main(["--mode", "smoke", "--parts", "walks", "--export"]) == 2
    assert "--mode book" in capsys.readouterr().err
    assert L.main(["--parts", "walks", "turn", "--export"]) == 2
