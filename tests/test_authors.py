"""The authors' released weights (Newmu/dcgan_code, Theano) in the library's G and D.

The conversion is checked against an independent reference of the authors' Theano graph written
here with scipy.signal (true convolution for ``dnn_conv``; zero-insertion plus full convolution for
their ``deconv``, the input-gradient of that convolution), on small random parameter lists in the
authors' layout. A wrong orientation (no flip, in and out swapped) must fail the same check. The
real files are loaded when ../shared/authors is present; the committed artifacts always.
"""

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch

from dcgan_lib import authors
from dcgan_lib.config import ModelConfig, get_model_config
from dcgan_lib.features import feature_dim, pooled_features
from dcgan_lib.models import Discriminator, generate, sample_z

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "authors"
EPS = 1e-8  # the authors' batchnorm epsilon


# --- the reference: the authors' Theano ops in numpy / scipy --------------------------------


def ref_conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Theano dnn_conv(x, w, subsample=stride, border_mode=pad), conv_mode='conv': x (N, C, H, W),
    w (O, C, k, k) -> (N, O, H', W'), a true convolution (scipy's convolve2d flips the kernel)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = []
    for n in range(len(x)):
        maps = [
            sum(scipy.signal.convolve2d(xp[n, c], w[o, c], mode="valid") for c in range(x.shape[1]))
            for o in range(w.shape[0])
        ]
        out.append(np.stack(maps)[:, ::stride, ::stride])
    return np.stack(out)


def ref_deconv(g: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """The authors' deconv(g, w, subsample=stride, border_mode=pad): the gradient, with respect to
    its input, of dnn_conv(x, w) for an input of stride times g's size. g (N, A, h, h), w (A, B, k,
    k) -> (N, B, stride*h, stride*h): insert stride-1 zeros between g's pixels, convolve fully
    with each kernel flipped back (the transpose of a true convolution is a correlation), crop the
    padding, and zero-fill what the forward convolution never reached."""
    n, a, h, _ = g.shape
    size = stride * h
    up = np.zeros((n, a, stride * (h - 1) + 1, stride * (h - 1) + 1))
    up[:, :, ::stride, ::stride] = g
    full = np.zeros((n, w.shape[1], size + 2 * pad, size + 2 * pad))
    for i in range(n):
        for b in range(w.shape[1]):
            m = sum(scipy.signal.correlate2d(up[i, o], w[o, b], mode="full") for o in range(a))
            reach = min(m.shape[0], full.shape[2])
            full[i, b, :reach, :reach] = m[:reach, :reach]
    return full[:, :, pad : pad + size, pad : pad + size]


def ref_bn(h: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The authors' batchnorm with the batch's statistics (biased variance), epsilon 1e-8."""
    axes = (0, 2, 3) if h.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if h.ndim == 4 else (1, -1)
    u = h.mean(axis=axes).reshape(shape)
    s = ((h - u) ** 2).mean(axis=axes).reshape(shape)
    return (h - u) / np.sqrt(s + EPS) * g.reshape(shape) + b.reshape(shape)


def lrelu(h: np.ndarray) -> np.ndarray:
    return np.maximum(h, 0.2 * h)


def ref_discrim(x, params, strides, pad, depth=None):
    """The authors' discrim(): conv, lrelu; then conv, batchnorm, lrelu per layer; flatten, dot wy.
    Returns (every layer after its lrelu, the logit or None for a truncated D)."""
    n_conv = len(strides) if depth is None else depth
    h, feats, i = x, [], 0
    for j in range(n_conv):
        h = ref_conv(h, params[i], strides[j], pad)
        i += 1
        if j > 0:
            h = ref_bn(h, params[i], params[i + 1])
            i += 2
        h = lrelu(h)
        feats.append(h)
    logit = None if depth is not None else h.reshape(len(h), -1) @ params[-1]
    return feats, logit


def ref_gen(z, params, start, pad):
    """The authors' gen(): dot w, batchnorm, relu, reshape (start, 4, 4); deconvs of stride 2 with
    batchnorm and relu; the last deconv, tanh."""
    h = np.maximum(ref_bn(z @ params[0], params[1], params[2]), 0).reshape(len(z), start, 4, 4)
    i = 3
    while i < len(params) - 1:
        h = np.maximum(ref_bn(ref_deconv(h, params[i], 2, pad), params[i + 1], params[i + 2]), 0)
        i += 3
    return np.tanh(ref_deconv(h, params[-1], 2, pad))


# --- small configs and random parameter lists in the authors' layout ----------------------

TINY_SVHN = ModelConfig(
    name="tiny_svhn", image_size=32, nz=6, ngf=2, ndf=3, kernel_size=5, z_dist="normal",
    bn_eps=EPS,
)  # fmt: skip
TINY_IMAGENET = ModelConfig(
    name="tiny_imagenet", image_size=32, nz=5, kernel_size=3, bn_eps=EPS,
    d_layers=((4, 1), (4, 2), (5, 1), (5, 2), (6, 1), (6, 2)), d_depth=4,
)  # fmt: skip


def _rand(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def d_params(cfg: ModelConfig, rng, full_layers=None):
    """w, w2, g2, b2, ..., wy for D of ``cfg`` (all its layers, even those a truncation drops)."""
    layers = full_layers or cfg.discriminator_layers()
    k, c_in, params = cfg.kernel_size, cfg.nc, []
    for j, (c, _) in enumerate(layers):
        params.append(_rand(rng, c, c_in, k, k))  # conv: (out, in, k, k)
        if j > 0:
            params += [1 + _rand(rng, c, scale=0.1), _rand(rng, c, scale=0.1)]
        c_in = c
    return params + [_rand(rng, c_in * 16, 1, scale=0.05)]


def g_params(cfg: ModelConfig, rng):
    """w, g, b, w2, g2, b2, ..., wx for G of ``cfg``; deconvs (in, out, k, k)."""
    start, layers = cfg.generator_layers()
    k = cfg.kernel_size
    params = [_rand(rng, cfg.nz, start * 16), 1 + _rand(rng, start * 16, scale=0.1)]
    params.append(_rand(rng, start * 16, scale=0.1))
    c_in = start
    for j, (c, _) in enumerate(layers):
        params.append(_rand(rng, c_in, c, k, k))  # deconv: (in, out, k, k)
        if j < len(layers) - 1:
            params += [1 + _rand(rng, c, scale=0.1), _rand(rng, c, scale=0.1)]
        c_in = c
    return params


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, 32, 32)).astype(np.float32)


# --- the single ops: conv and deconv, right and wrong orientations ----------------------------


def _conv_error(weight_fn, stride, pad, k, c_in=3, c_out=3):
    """Max difference between nn.Conv2d with ``weight_fn``(authors' w) and dnn_conv."""
    rng = np.random.default_rng(k + stride)
    w, x = _rand(rng, c_out, c_in, k, k), _images(2, stride)[:, :c_in, :12, :12]
    conv = torch.nn.Conv2d(c_in, c_out, k, stride, pad, bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight_fn(w))
        ours = conv(torch.from_numpy(x)).numpy()
    return float(np.abs(ours - ref_conv(x, w, stride, pad)).max())


def _deconv_error(weight_fn, stride, pad, k, c_in=3, c_out=3):
    """Max difference between nn.ConvTranspose2d with ``weight_fn``(authors' w) and deconv."""
    rng = np.random.default_rng(10 + k + stride)
    w, g = _rand(rng, c_in, c_out, k, k), _rand(rng, 2, c_in, 6, 6, scale=1.0)
    out_pad = stride + 2 * pad - k if stride == 2 else 0
    deconv = torch.nn.ConvTranspose2d(c_in, c_out, k, stride, pad, out_pad, bias=False)
    with torch.no_grad():
        deconv.weight.copy_(weight_fn(w))
        ours = deconv(torch.from_numpy(g)).numpy()
    ref = ref_deconv(g, w, stride, pad)
    assert ours.shape == ref.shape == (2, c_out, stride * 6, stride * 6)
    return float(np.abs(ours - ref).max())


CASES = [(2, 2, 5), (1, 1, 3), (2, 1, 3), (1, 2, 5)]  # (stride, padding, kernel)


def _no_flip(w):
    return torch.from_numpy(np.ascontiguousarray(w))


def _in_out_swapped(w):
    return torch.from_numpy(np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]))


@pytest.mark.parametrize("stride,pad,k", CASES)
def test_conv_matches_theano_true_convolution_and_a_wrong_orientation_fails(stride, pad, k):
    assert _conv_error(authors.theano_conv_weight, stride, pad, k) < 1e-5
    assert _conv_error(_no_flip, stride, pad, k) > 1e-2  # PyTorch's correlation: not theirs
    assert _conv_error(_in_out_swapped, stride, pad, k) > 1e-2


@pytest.mark.parametrize("stride,pad,k", CASES)
def test_deconv_matches_the_input_gradient_and_a_wrong_orientation_fails(stride, pad, k):
    assert _deconv_error(authors.theano_deconv_weight, stride, pad, k) < 1e-5
    assert _deconv_error(_no_flip, stride, pad, k) > 1e-2
    assert _deconv_error(_in_out_swapped, stride, pad, k) > 1e-2


def test_the_reference_deconv_is_the_adjoint_of_the_reference_conv():
    """<conv(x), g> = <x, deconv(g)>: the deconv reference really is the conv's input-gradient."""
    rng = np.random.default_rng(3)
    for stride, pad, k in CASES:
        w = _rand(rng, 4, 3, k, k)  # conv 3 -> 4; its deconv 4 -> 3
        x, g = _rand(rng, 2, 3, 12, 12, scale=1), _rand(rng, 2, 4, 12 // stride, 12 // stride)
        lhs = float((ref_conv(x, w, stride, pad) * g).sum())
        rhs = float((x * ref_deconv(g, w, stride, pad)).sum())
        assert abs(lhs - rhs) < 1e-3 * max(1.0, abs(lhs)), (stride, pad, k)


# --- whole models: the converted G and D against the reference graph ------------------------


def test_svhn_d_matches_the_authors_graph():
    params = d_params(TINY_SVHN, np.random.default_rng(1))
    D = authors.discriminator_from_params(params, TINY_SVHN).train()  # batch statistics
    x = _images()
    feats, logit = ref_discrim(x, params, [2, 2, 2], 2)
    with torch.no_grad():
        ours = D.features(torch.from_numpy(x))
        out = D(torch.from_numpy(x)).numpy()
    for a, b in zip(ours, feats, strict=True):
        assert np.abs(a.numpy() - b).max() < 1e-4
    assert np.abs(out - logit[:, 0]).max() < 1e-4  # D returns the logit; the sigmoid is the loss's


def test_svhn_g_matches_the_authors_graph():
    params = g_params(TINY_SVHN, np.random.default_rng(2))
    G = authors.generator_from_params(params, TINY_SVHN).train()  # batch statistics, as theirs
    z = np.random.default_rng(3).standard_normal((4, TINY_SVHN.nz)).astype(np.float32)
    with torch.no_grad():
        ours = G(torch.from_numpy(z)).numpy()
    ref = ref_gen(z, params, TINY_SVHN.generator_layers()[0], 2)
    assert ours.shape == ref.shape == (4, 3, 32, 32)
    assert np.abs(ours - ref).max() < 1e-4


def test_a_wrongly_oriented_model_fails_the_same_check(monkeypatch):
    params = g_params(TINY_SVHN, np.random.default_rng(2))
    z = np.random.default_rng(3).standard_normal((4, TINY_SVHN.nz)).astype(np.float32)
    ref = ref_gen(z, params, TINY_SVHN.generator_layers()[0], 2)
    monkeypatch.setattr(authors, "theano_deconv_weight", _no_flip)
    G = authors.generator_from_params(params, TINY_SVHN).train()
    with torch.no_grad():
        assert np.abs(G(torch.from_numpy(z)).numpy() - ref).max() > 1e-2


def test_truncated_imagenet_d_reads_layers_1_to_4_and_has_no_head():
    full = TINY_IMAGENET.d_layers
    params = d_params(TINY_IMAGENET, np.random.default_rng(4), full_layers=full)
    params[10] = params[13] = None  # w5 and w6 are missing, as in the authors' public copy
    D = authors.discriminator_from_params(params, TINY_IMAGENET).train()
    assert len(D.blocks) == 4 and D.head is None and TINY_IMAGENET.d_truncated
    x = _images()
    feats, _ = ref_discrim(x, params, [s for _, s in full], 1, depth=4)
    with torch.no_grad():
        ours = D.features(torch.from_numpy(x))
    assert [tuple(f.shape[1:]) for f in ours] == [(4, 32, 32), (4, 16, 16), (5, 16, 16), (5, 8, 8)]
    for a, b in zip(ours, feats, strict=True):
        assert np.abs(a.numpy() - b).max() < 1e-4
    with pytest.raises(ValueError, match="truncated"):
        D(torch.from_numpy(x))
    assert feature_dim(TINY_IMAGENET) == 16 * (4 + 4 + 5 + 5)


def test_a_parameter_list_of_another_shape_is_refused():
    params = d_params(TINY_SVHN, np.random.default_rng(1))
    params[1] = params[1][:, :2]  # w2 with too few input channels
    with pytest.raises(ValueError, match="w2"):
        authors.discriminator_from_params(params, TINY_SVHN)
    params = d_params(TINY_IMAGENET, np.random.default_rng(4), TINY_IMAGENET.d_layers)
    params[7] = None  # w4 is needed by the truncated D
    with pytest.raises(ValueError, match="lacks"):
        authors.discriminator_from_params(params, TINY_IMAGENET)


def test_read_params_takes_the_numbered_npy_files_and_marks_missing_ones(tmp_path):
    arrays = [np.arange(6, dtype=np.float64).reshape(2, 3), None, np.ones(4, np.float32)]
    for i, a in enumerate(arrays, 1):
        if a is not None:
            np.save(tmp_path / f"x.jl_{i:02d}.npy", a)
    got = authors.read_params(tmp_path, "x.jl", 3)
    assert got[1] is None and got[0].dtype == np.float32 and np.array_equal(got[0], arrays[0])
    with pytest.raises(FileNotFoundError):
        authors.read_params(tmp_path, "y.jl", 2)


def test_generator_bn_stats_are_averages_of_batch_statistics():
    G = authors.generator_from_params(g_params(TINY_SVHN, np.random.default_rng(2)), TINY_SVHN)
    stats = authors.generator_bn_stats(G, n_batches=3, batch_size=8, seed=5)
    g = torch.Generator().manual_seed(5)
    zs = [sample_z(8, TINY_SVHN, g) for _ in range(3)]
    with torch.no_grad():  # the projection's BatchNorm1d input, per batch
        pre = [G.project[0](z).double() for z in zs]
    want_mean = sum(p.mean(0) for p in pre) / 3
    want_var = sum(p.var(0, unbiased=False) for p in pre) / 3
    assert torch.allclose(stats[0][0], want_mean) and torch.allclose(stats[0][1], want_var)
    assert len(stats) == 1 + len(G.blocks) - 1  # projection + every deconv but the output


# --- the real weights: the committed artifacts, and the authors' files when present --------


def test_committed_authors_models_load_without_shared():
    G = authors.load_authors("svhn_G")
    D = authors.load_authors("svhn_D")
    DI = authors.load_authors("imagenet_D")
    assert G.cfg == get_model_config("authors_svhn32") == D.cfg
    assert DI.cfg == get_model_config("authors_imagenet32") and DI.head is None
    assert feature_dim(D.cfg) == 7168 and feature_dim(DI.cfg) == 12288
    assert all(p.dtype == torch.float32 for m in (G, D, DI) for p in m.state_dict().values()
               if p.is_floating_point())  # fmt: skip
    x = generate(G, sample_z(8, G.cfg, torch.Generator().manual_seed(0)))
    assert x.shape == (8, 3, 32, 32) and x.abs().max() <= 1
    with torch.no_grad():
        assert pooled_features(DI.train(), x).shape == (8, 12288)
        assert pooled_features(D.train(), x).shape == (8, 7168)
    bn = G.project[1]  # the sampling statistics are stored, not PyTorch's defaults
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_the_licence_notice_travels_with_the_weights():
    text = authors.licence_text()
    assert text.startswith("The MIT License") or "MIT" in text.splitlines()[0]
    assert "Alec Radford" in text and "Permission is hereby granted" in text


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/authors is not present")
def test_real_files_load_and_equal_the_committed_conversion():
    for which in authors.MODELS:
        from_files = authors.from_source(SHARED, which)
        stored = authors.load_authors(which)
        a, b = from_files.state_dict(), stored.state_dict()
        assert a.keys() == b.keys()
        for k in a:
            if k.endswith(("running_mean", "running_var")):  # G's: averaged over sampled
                # batches, so the order of float sums (the thread count) moves the last bits
                assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), (which, k)
            else:
                assert torch.equal(a[k], b[k]), (which, k)
    params = authors.load_authors_params(SHARED, "imagenet_D")
    assert [i + 1 for i, p in enumerate(params) if p is None] == [11, 14]  # w5 and w6
    assert isinstance(authors.from_source(SHARED, "svhn_D"), Discriminator)
