"""Paper §5: D as a feature extractor: dimension, pooling and order, BatchNorm statistics modes."""

import numpy as np
import pytest
import torch
from torch import nn

from dcgan_lib.config import MODEL_CONFIGS, get_model_config
from dcgan_lib.data import to_float
from dcgan_lib.datasets import synthetic_images
from dcgan_lib.features import (
    batch_average_bn_stats,
    extract_features,
    feature_dim,
    layer_sizes,
    pixel_features,
    pool_to_grid,
    pooled_features,
    with_bn_stats,
)
from dcgan_lib.models import Discriminator
from dcgan_lib.studies.features import ProtocolSize, random_d, run_protocol
from dcgan_lib.studies.features_results import check_stored_classifier


def _D(name="smoke32", seed=0, **overrides):
    torch.manual_seed(seed)
    return Discriminator(get_model_config(name, **overrides))


def _trained_like(D: Discriminator, seed=0) -> Discriminator:
    """Give BN layers non-trivial scale, shift and running statistics, as after training."""
    g = torch.Generator().manual_seed(seed)
    for m in D.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = 0.5 + torch.rand(m.num_features, generator=g)
            m.bias.data = torch.randn(m.num_features, generator=g) * 0.3
            m.running_mean = torch.randn(m.num_features, generator=g) * 0.1
            m.running_var = 0.5 + torch.rand(m.num_features, generator=g)
    return D.eval()


def test_feature_dim_is_28672_for_imagenet32():
    cfg = get_model_config("imagenet32")
    assert [s for _, s in layer_sizes(cfg)] == [32, 16, 16, 8, 8, 4]  # authors' maps
    assert feature_dim(cfg) == 16 * (128 + 128 + 256 + 256 + 512 + 512) == 28672
    D = Discriminator(cfg).eval()
    with torch.no_grad():
        assert pooled_features(D, torch.zeros(2, 3, 32, 32)).shape == (2, 28672)


@pytest.mark.parametrize(
    "name,size", [(n, s) for n in MODEL_CONFIGS if not MODEL_CONFIGS[n].d_layers for s in (32, 64)]
)
def test_feature_dim_matches_the_features_of_every_config(name, size):
    cfg = get_model_config(name, image_size=size)
    D = Discriminator(cfg).eval()
    with torch.no_grad():
        f = pooled_features(D, torch.rand(2, 3, size, size) * 2 - 1)
    assert (
        f.shape == (2, feature_dim(cfg)) == (2, 16 * sum(c for c, _ in cfg.discriminator_layers()))
    )


def test_pooling_is_non_overlapping_max_flattened_channel_major():
    h = torch.randn(2, 3, 16, 16)
    f = pool_to_grid(h)
    assert f.shape == (2, 3 * 16)
    for c in range(3):
        for i in range(4):
            for j in range(4):
                window = h[:, c, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
                torch.testing.assert_close(f[:, c * 16 + 4 * i + j], window.amax(dim=(1, 2)))
    h4 = torch.randn(2, 5, 4, 4)
    torch.testing.assert_close(pool_to_grid(h4), h4.flatten(1))  # identity at 4x4
    with pytest.raises(ValueError, match="4x4 grid"):
        pool_to_grid(torch.randn(1, 1, 6, 6))


def test_features_are_every_layer_after_its_leaky_relu_in_layer_order():
    D = _trained_like(_D())
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        f = pooled_features(D, x)
        h = x
        start = 0
        for block in D.blocks:
            h = block(h)
            assert isinstance(block[-1], nn.LeakyReLU)
            width = h.shape[1] * 16
            torch.testing.assert_close(f[:, start : start + width], pool_to_grid(h))
            start += width
    assert start == f.shape[1]


def test_batch_avg_stats_are_the_average_of_per_batch_mean_and_biased_variance():
    D = _trained_like(_D())
    images, _ = synthetic_images(70, 32, seed=3)
    stats = batch_average_bn_stats(D, images, batch_size=32)  # batches 32, 32, 6
    first_bn_conv = D.blocks[1][0]
    means, variances = [], []
    with torch.no_grad():
        for s in (0, 32, 64):
            c = first_bn_conv(D.blocks[0](to_float(torch.from_numpy(images[s : s + 32]))))
            means.append(c.mean(dim=(0, 2, 3)))
            variances.append(c.var(dim=(0, 2, 3), unbiased=False))
    torch.testing.assert_close(
        stats[0][0].float(), torch.stack(means).mean(0), rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        stats[0][1].float(), torch.stack(variances).mean(0), rtol=1e-4, atol=1e-5
    )
    assert len(stats) == sum(isinstance(m, nn.BatchNorm2d) for m in D.modules())


def test_batch_avg_on_one_batch_equals_training_mode_batchnorm():
    # with a single batch, the averaged statistics are that batch's own, at every layer
    D = _trained_like(_D())
    images, _ = synthetic_images(40, 32, seed=4)
    f = extract_features(D, images, bn_mode="batch_avg", batch_size=64, progress=False)
    train_mode = _trained_like(_D())
    train_mode.train()
    with torch.no_grad():
        want = pooled_features(train_mode, to_float(torch.from_numpy(images)))
    np.testing.assert_allclose(f, want.numpy(), rtol=1e-4, atol=1e-4)


def test_running_mode_uses_the_trained_statistics_and_keeps_scale_and_shift():
    D = _trained_like(_D())
    before = {k: v.clone() for k, v in D.state_dict().items()}
    images, _ = synthetic_images(20, 32, seed=5)
    f = extract_features(D, images, bn_mode="running", progress=False)
    with torch.no_grad():
        want = pooled_features(D.eval(), to_float(torch.from_numpy(images)))
    np.testing.assert_allclose(f, want.numpy(), rtol=1e-5, atol=1e-5)
    g = extract_features(D, images, bn_mode="batch_avg", progress=False)
    assert np.abs(f - g).max() > 1e-3  # the two modes differ
    for k, v in D.state_dict().items():  # D itself untouched by either mode
        torch.testing.assert_close(v, before[k])
    stats = batch_average_bn_stats(D, images)
    Dbn = with_bn_stats(D, stats)
    for a, b in zip(
        [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)],
        [m for m in Dbn.modules() if isinstance(m, nn.BatchNorm2d)],
        strict=True,
    ):
        torch.testing.assert_close(a.weight, b.weight)  # trained scale kept
        torch.testing.assert_close(a.bias, b.bias)  # trained shift kept
        assert not torch.equal(a.running_mean, b.running_mean)
    assert not Dbn.training


def test_bn_statistics_come_from_the_given_pool():
    D = _trained_like(_D())
    images, _ = synthetic_images(30, 32, seed=6)
    other, _ = synthetic_images(64, 32, seed=7)
    a = extract_features(D, images, bn_images_uint8=other, progress=False)
    b = extract_features(D, images, bn_stats=batch_average_bn_stats(D, other), progress=False)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="bn_mode"):
        extract_features(D, images, bn_mode="train")


def test_float16_output_and_memmap_file(tmp_path):
    D = _trained_like(_D())
    images, _ = synthetic_images(50, 32, seed=8)
    f32 = extract_features(D, images, batch_size=16, progress=False)
    f16 = extract_features(D, images, batch_size=16, dtype=np.float16, progress=False)
    assert f16.dtype == np.float16
    np.testing.assert_allclose(f16, f32, rtol=2e-3, atol=2e-3)
    path = tmp_path / "feats.npy"
    fm = extract_features(D, images, batch_size=16, out=path, progress=False)
    assert isinstance(fm, np.memmap)
    np.testing.assert_array_equal(np.load(path), f32)


def test_pixel_features_are_the_images_as_D_sees_them():
    images, _ = synthetic_images(4, 32, seed=9)
    p = pixel_features(images)
    assert p.shape == (4, 3072) and p.dtype == np.float32
    np.testing.assert_allclose(p, to_float(torch.from_numpy(images)).flatten(1).numpy(), atol=1e-6)


def test_random_discriminator_is_fixed_by_seed_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a, b = random_d("smoke32", 3), random_d("smoke32", 3)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


def test_stored_classifier_is_recomputed_from_its_file(tmp_path):
    """The all-label run stores what book mode needs; a CPU recomputation agrees exactly."""
    D = _trained_like(_D())
    size = ProtocolSize(
        "test",
        n_val=100,
        variants=("dcgan",),
        regimes=("all",),
        c_grid_all=(1e-2,),
        supervised_trials=0,
        synthetic_n=(300, 100),
    )
    m = run_protocol("synthetic", size, tmp_path, D=D, progress=False)
    assert m["complete"] and m["feature_dim"]["dcgan"] == feature_dim(D.cfg)
    r = m["results"]["dcgan/all"]
    assert r["n_labels"] == 300 and 0 <= r["test_error"] <= 100
    test = __import__("dcgan_lib.data", fromlist=["x"]).load_dataset(
        "synthetic", split="test", image_size=32, limit=100
    )
    check = check_stored_classifier(D, tmp_path / "svm_all.pt", test.images)
    assert check["n"] == 100 and check["agreement"] == 1.0
    assert check["subset_test_error"] == pytest.approx(r["test_error"])


def test_torch_solver_run_checks_itself_against_linear_svc(tmp_path):
    size = ProtocolSize(
        "test",
        n_val=100,
        n_select_draws=1,
        n_eval_draws=2,
        variants=("dcgan",),
        regimes=("all", 5),
        c_grid=(1e-3,),
        c_grid_all=(1e-3,),
        supervised_trials=0,
        synthetic_n=(300, 100),
    )
    m = run_protocol(
        "synthetic",
        size,
        tmp_path,
        D=_trained_like(_D()),
        solver="torch",
        device="cpu",
        progress=False,
    )
    assert m["solver"] == "torch" and m["results"]["dcgan/5"]["solver"] == "torch"
    (check,) = m["solver_check"]["5 per class"].values()
    assert abs(check["liblinear_test_accuracy"] - check["torch_test_accuracy"]) <= 2.0
    assert check["prediction_agreement"] >= 0.95


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_features_on_the_gpu_match_the_cpu():
    D = _trained_like(_D("imagenet32"))
    images, _ = synthetic_images(300, 32, seed=10)
    cpu = extract_features(D, images, progress=False)
    gpu = extract_features(D, images, device="cuda", progress=False)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-2, atol=1e-2)  # cuDNN may use TF32
