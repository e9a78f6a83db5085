"""§6.1 walks (dcgan_lib/walks.py): endpoints, the smoothness measure on a smooth and a jumping
toy, its statistics by hand, and the BatchNorm policy (a sample does not depend on its batch)."""

import pytest
import torch

from dcgan_lib import toys
from dcgan_lib import walks as W
from dcgan_lib.config import get_model_config
from dcgan_lib.models import Generator, generate, sample_z

G_TOY = toys.ToyFaces()


def test_interpolation_endpoints_are_the_given_points():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.rand(100, generator=g) * 2 - 1, torch.rand(100, generator=g) * 2 - 1
    path = W.interpolate(z0, z1, 7)
    assert path.shape == (8, 100)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    for i in range(8):  # the linear formula, by hand
        assert torch.allclose(path[i], z0 + (i / 7) * (z1 - z0), atol=1e-6)
    steps = path[1:] - path[:-1]
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-6)  # equal steps


def test_walk_passes_through_every_point_in_order():
    points = torch.rand(9, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    path = W.walk(points, 5)
    assert path.shape == (8 * 5 + 1, 16)
    assert torch.equal(path[::5], points)  # row j * steps is points[j], exactly
    with pytest.raises(ValueError):
        W.walk(points[:1], 5)


def test_smoothness_tells_a_smooth_generator_from_a_jumping_one():
    class Jumps(toys.ToyFaces):
        """The toy, but each image is snapped to black or white: small z moves cause jumps."""

        def forward(self, z):
            return torch.sign(super().forward(z) + 0.05 * torch.sign(z[:, 5:6, None, None]))

    smooth = W.walk_smoothness(G_TOY, n_walks=2, n_points=5, steps=16, n_random=32, seed=0)
    jumpy = W.walk_smoothness(Jumps(), n_walks=2, n_points=5, steps=16, n_random=32, seed=0)
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
    s = W.segment_stats(d, endpoint=torch.tensor([4.0, 4.0, 2.0]), scale=2.0)
    assert s["max_step_share"]["median"] == pytest.approx(0.75)  # shares 1/4, 1, 3/4
    assert s["max_step_share"]["max"] == pytest.approx(1.0)
    assert s["sharp_segments"] == pytest.approx(2 / 3)  # over half the change in one step
    assert s["mean_step_vs_random"] == pytest.approx(0.5)  # mean step 1, random pairs 2
    assert s["max_step_vs_random"]["median"] == pytest.approx(1.5)  # largest steps 1, 4, 3
    assert s["max_step_vs_random"]["max"] == pytest.approx(2.0)
    assert s["endpoint_vs_random"] == pytest.approx(2.0)  # endpoints 4, 4, 2 over 2
    assert s["path_vs_endpoint"] == pytest.approx(1.0)  # path lengths 4, 4, 4 over 4, 4, 2


def test_a_path_does_not_depend_on_the_rest_of_the_batch():
    # the documented policy: generate() uses BatchNorm's running statistics (eval mode)
    G = Generator(get_model_config("smoke64"))
    G.train()
    with torch.no_grad():  # give BatchNorm non-trivial running statistics
        for seed in range(2):
            G(sample_z(16, G.cfg, torch.Generator().manual_seed(seed)))
    path = W.walk(sample_z(3, G.cfg, torch.Generator().manual_seed(9)), 4)
    d = W.batch_dependence(G, path, n_others=16)
    assert d["eval"] < 1e-5, d  # alone or inside a batch of 25: the same images
    assert d["train"] > 1e-2, d  # with batch statistics it would not be
    assert G.training  # batch_dependence left G's mode alone
    assert torch.allclose(generate(G, path, batch_size=2), generate(G, path), atol=1e-5)
