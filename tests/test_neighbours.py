"""Nearest training images (dcgan_lib/neighbours.py): planted copies are found at distance 0,
the chunked search equals a brute-force one, feature spaces, leave-one-out, JSON output."""

import json

import numpy as np
import pytest
import torch

from dcgan_lib import neighbours as N
from dcgan_lib.attributes import load_stored_classifier
from dcgan_lib.data import Packed, to_float
from dcgan_lib.datasets import synthetic_images

IMAGES, _ = synthetic_images(300, 64, seed=0)  # (300, 64, 64, 3) uint8, like a Packed dataset


def test_planted_copies_are_found_at_distance_zero():
    planted = [5, 123, 299]
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    samples = torch.cat([to_float(torch.from_numpy(IMAGES[planted])), noise])
    res = N.nearest_training(samples, IMAGES, N.PixelSpace(), k=4, chunk=64)
    assert res.indices.shape == res.distances.shape == (4, 4)
    assert res.indices[:3, 0].tolist() == planted
    assert (res.distances[:3, 0] == 0).all()  # exactly: the candidates are re-ranked exactly
    assert (res.distances[:3, 1] > 0.01).all()  # the next one is another image
    assert res.distances[3, 0] > 0.3  # noise is far from every training image
    assert (np.diff(res.distances, axis=1) >= 0).all()  # nearest first


def test_chunked_search_equals_brute_force():
    g = torch.Generator().manual_seed(1)
    ref = (torch.rand(200, 16, 16, 3, generator=g) * 255).to(torch.uint8).numpy()
    samples = torch.rand(7, 3, 16, 16, generator=g) * 2 - 1
    res = N.nearest_training(samples, ref, k=5, chunk=37)  # chunks that do not divide 200
    q = samples.flatten(1)
    r = to_float(torch.from_numpy(ref)).flatten(1)
    brute = ((q[:, None] - r[None]) ** 2).mean(2).sqrt()  # RMS pixel difference
    want = brute.sort(dim=1)
    assert (res.indices == want.indices[:, :5].numpy()).all()
    assert np.allclose(res.distances, want.values[:, :5].numpy(), atol=1e-6)


def test_packed_and_feature_space():
    packed = Packed(IMAGES, None, [f"img/{i:04d}" for i in range(len(IMAGES))])
    space = N.ClassifierSpace(load_stored_classifier())
    vecs = N.reference_vectors(packed, space, chunk=100)
    assert vecs.shape == (300, 256)
    assert torch.allclose(vecs.norm(dim=1), torch.ones(300), atol=1e-5)  # L2-normalised
    samples = to_float(torch.from_numpy(IMAGES[[7, 42]]))
    res = N.nearest_training(samples, packed, space, k=3, reference_vecs=vecs)
    assert res.indices[:, 0].tolist() == [7, 42]
    assert (res.distances[:, 0] < 1e-5).all()
    same = N.nearest_training(samples, packed, space, k=3)  # vectors computed on the fly
    assert (same.indices == res.indices).all()
    out = res.to_json(packed.names)
    assert out["names"][0][0] == "img/0007" and out["k"] == 3
    assert json.loads(json.dumps(out))["indices"] == res.indices.tolist()


def test_leave_one_out_never_returns_the_image_itself():
    ref = np.concatenate([IMAGES[:50], IMAGES[10:11]])  # image 50 is a copy of image 10
    idx, res = N.leave_one_out(ref, n=51, seed=0)
    assert sorted(idx.tolist()) == list(range(51))
    assert (res.indices[:, 0] != idx).all()
    found = dict(zip(idx.tolist(), res.indices[:, 0].tolist(), strict=True))
    assert found[10] == 50 and found[50] == 10
    d = dict(zip(idx.tolist(), res.distances[:, 0].tolist(), strict=True))
    assert d[10] == 0 and d[50] == 0 and min(v for k, v in d.items() if k not in (10, 50)) > 0


def test_k_larger_than_the_reference_is_an_error():
    with pytest.raises(ValueError, match="k=5"):
        N.nearest_training(torch.zeros(1, 3, 64, 64), IMAGES[:3], k=5)


def test_stored_neighbours_read_back():
    samples = to_float(torch.from_numpy(IMAGES[[3, 9]]))
    res = N.nearest_training(samples, IMAGES, k=3)
    back = N.Neighbours.from_json(json.loads(json.dumps(res.to_json())))
    np.testing.assert_array_equal(back.indices, res.indices)
    np.testing.assert_allclose(back.distances, res.distances, atol=1e-6)  # stored to 6 places
    assert back.space == "pixel" and back.indices.dtype == np.int64
