"""Guided backprop of D's features (dcgan_lib/guided_backprop.py, paper §6.2): the rules against an
independent implementation, what passes each rectifier, hooks removed and D unchanged, the top
images of planted patterns, and the study's output (dcgan_lib/studies/guided_backprop.py)."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from dcgan_lib import guided_backprop as gb
from dcgan_lib.config import get_model_config
from dcgan_lib.data import to_float
from dcgan_lib.datasets import synthetic_images
from dcgan_lib.models import Discriminator, Generator, random_discriminator
from dcgan_lib.studies import guided_backprop as SG


def smoke_d(seed: int = 0) -> Discriminator:
    torch.manual_seed(seed)
    D = Discriminator(get_model_config("smoke64"))
    with torch.no_grad():  # BN running statistics that are not the identity
        for m in D.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.05, 0.05)
                m.running_var.uniform_(0.5, 2.0)
    return D


def images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return to_float(torch.from_numpy(synthetic_images(n, 64, seed=seed)[0]))


class _Guided(torch.autograd.Function):
    """Reference: LeakyReLU whose backward follows a guided rule (written out by hand)."""

    @staticmethod
    def forward(ctx, x, slope, rule):
        ctx.save_for_backward(x)
        ctx.slope, ctx.rule = slope, rule
        return torch.where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        g = g.clamp(min=0)
        neg = 0.0 if ctx.rule == "zero" else ctx.slope
        return torch.where(x > 0, g, g * neg), None, None


class _RefLeaky(nn.Module):
    def __init__(self, slope: float, rule: str) -> None:
        super().__init__()
        self.slope, self.rule = slope, rule

    def forward(self, x):
        return _Guided.apply(x, self.slope, self.rule)


def reference(D, x, feature, pos, rule):
    model = copy.deepcopy(D).eval()
    for block in model.blocks:
        for i, m in enumerate(block):
            if isinstance(m, nn.LeakyReLU):
                block[i] = _RefLeaky(m.negative_slope, rule)
    x = x.clone().requires_grad_(True)
    h = x
    for block in model.blocks:
        h = block(h)
    unit = h[torch.arange(len(x)), feature, pos[:, 0], pos[:, 1]]
    unit.sum().backward()
    return x.grad


@pytest.mark.parametrize("rule", ["zero", "slope"])
def test_rules_match_an_independent_implementation(rule):
    D, x = smoke_d(), images()
    pos = torch.tensor([[0, 0], [1, 2], [3, 3], [2, 1]])
    ours = gb.guided_backprop(D, x, feature=3, positions=pos, rule=rule)
    ref = reference(D, x, 3, pos, rule)
    assert ours.shape == x.shape
    assert ours.abs().max() > 0
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-8)


def test_rule_none_is_the_plain_gradient():
    D, x = smoke_d(1), images(3, seed=1)
    pos = torch.tensor([[1, 1], [0, 3], [2, 2]])
    ours = gb.guided_backprop(D, x, feature=5, positions=pos, rule="none")
    D.eval()
    xg = x.clone().requires_grad_(True)
    h = D.features(xg)[-1]
    h[torch.arange(3), 5, pos[:, 0], pos[:, 1]].sum().backward()
    torch.testing.assert_close(ours, xg.grad)
    guided = gb.guided_backprop(D, x, feature=5, positions=pos, rule="zero")
    assert not torch.allclose(guided, ours)  # the rule changes the map


@pytest.mark.parametrize("rule", ["zero", "slope", "none"])
def test_what_each_rule_passes_through_a_rectifier(rule):
    """The gradient leaving each LeakyReLU towards its input, as the rule defines it."""
    D, x = smoke_d(2), images(2, seed=2)
    model = gb.guided_copy(D)
    seen = []  # (input, gradient w.r.t. that input) per rectifier

    def pre(m, inputs):
        inp = inputs[0]
        inp.register_hook(lambda g, inp=inp: seen.append((inp.detach(), g)))

    for m in model.modules():
        if isinstance(m, nn.LeakyReLU):
            m.register_forward_pre_hook(pre)
    xg = x.clone().requires_grad_(True)
    with gb.guided_rule(model, rule):
        h = xg
        for block in model.blocks:
            h = block(h)
        h[:, 0].amax(dim=(1, 2)).sum().backward()
    assert len(seen) == len(model.blocks)
    negative_passed = False
    for inp, g in seen:
        if rule == "none":
            continue
        assert (g >= 0).all()  # guided: never a negative gradient
        if rule == "zero":
            assert (g[inp <= 0] == 0).all()  # LeakyReLU treated as ReLU
        else:
            negative_passed |= bool((g[inp < 0] > 0).any())  # the 0.2 side passes gradient
    if rule == "slope":
        assert negative_passed
    if rule == "none":
        assert any((g < 0).any() for _, g in seen)


def test_hooks_are_removed_and_d_is_unchanged():
    D, x = smoke_d(3), images(2)
    D.train()
    before = {k: v.clone() for k, v in D.state_dict().items()}
    for rule in gb.RULES:
        gb.guided_backprop(D, x, feature=1, rule=rule)
    assert D.training
    for k, v in D.state_dict().items():
        assert torch.equal(v, before[k]), k
    for m in D.modules():
        assert not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
        if isinstance(m, nn.LeakyReLU):
            assert m.inplace  # the stored model keeps its in-place activations
    assert all(p.requires_grad for p in D.parameters())
    # hooks go also when the guided pass fails
    model = gb.guided_copy(D)
    with pytest.raises(RuntimeError), gb.guided_rule(model, "zero"):
        raise RuntimeError("boom")
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_in_place_models_and_bad_rules_are_refused():
    with pytest.raises(ValueError, match="in-place"), gb.guided_rule(smoke_d(), "zero"):
        pass
    with pytest.raises(ValueError, match="rule"), gb.guided_rule(gb.guided_copy(smoke_d()), "x"):
        pass


class PatchD(nn.Module):
    """A one-block 'D': channel c sums colour c % 3 over each 16x16 patch (a 4x4 map)."""

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 4, 16, stride=16, bias=False)
        with torch.no_grad():
            conv.weight.zero_()
            for c in range(4):
                conv.weight[c, c % 3] = 1.0 / 256
        self.blocks = nn.ModuleList([nn.Sequential(conv, nn.LeakyReLU(0.2, inplace=True))])


def test_top_responses_find_planted_patches():
    imgs = np.zeros((10, 64, 64, 3), np.uint8)  # black: -1 everywhere
    imgs[5, 32:48, 16:32, 0] = 255  # the brightest red patch: cell (2, 1)
    imgs[2, 0:16, 48:64, 0] = 200  # a dimmer one: cell (0, 3)
    imgs[7, 16:32, 16:32, 1] = 255  # green: another feature
    D = PatchD()
    acts = gb.layer_activations(D, imgs)
    assert acts.shape == (10, 4, 4, 4)
    red, green = gb.top_responses(acts, [0, 1], n_top=2)
    assert red.index.tolist() == [5, 2] and red.position.tolist() == [[2, 1], [0, 3]]
    assert red.strength[0] > red.strength[1]
    assert green.index[0] == 7 and green.position[0].tolist() == [1, 1]
    maps = gb.guided_backprop(D, to_float(torch.from_numpy(imgs[[5]])), 0, red.position[:1])
    nonzero = maps[0].abs().sum(0) > 0
    assert nonzero[32:48, 16:32].all() and nonzero.sum() == 16 * 16  # the patch's field only
    assert (maps[0, 1:] == 0).all()  # and only the red channel


def test_rule_similarity_and_display():
    a = torch.randn(3, 3, 8, 8)
    sim = gb.rule_similarity(a, 2 * a)
    np.testing.assert_allclose(sim["cosine"], 1.0, atol=1e-12)
    np.testing.assert_allclose(sim["spearman"], 1.0)
    assert (gb.rule_similarity(a, -a)["cosine"] < -0.999).all()
    shown = gb.to_display(a)
    assert shown.shape == (3, 8, 8, 3) and shown.min() >= 0 and shown.max() <= 1


def test_study_on_synthetic_images():
    cfg = SG.GuidedConfig(n_images=48, n_features=2, n_top=3, batch_size=16)
    imgs = synthetic_images(80, 64)[0]
    result = SG.run_guided_study(cfg, imgs, smoke_d(4), get_model_config("smoke64"))
    assert set(result.models) == {"trained", "random"}
    for name, mm in result.models.items():
        assert len(mm.top) == 2 and all(len(t.index) == 3 for t in mm.top)
        for t, shown in zip(mm.top, mm.images, strict=True):
            assert (np.diff(t.strength) <= 0).all()  # strongest first
            np.testing.assert_array_equal(shown, imgs[t.index])  # indices into the whole set
        for r in cfg.rules:
            assert all(m.shape == (3, 3, 64, 64) and torch.isfinite(m).all() for m in mm.maps[r])
        summary = result.metrics[name]
        assert summary["zero_vs_slope"]["cosine"]["n_maps"] == 6
        assert -1 <= summary["zero_vs_none"]["spearman"]["mean"] <= 1
    assert result.metrics["n_searched"] == 48
    # no trained D: the random baseline alone
    alone = SG.run_guided_study(cfg, imgs, None, get_model_config("smoke64"))
    assert set(alone.models) == {"random"}
    np.testing.assert_array_equal(
        alone.models["random"].top[0].index, result.models["random"].top[0].index
    )


def test_map_concentration_and_agreement_by_hand():
    even = torch.ones(1, 3, 10, 10)
    spot = torch.zeros(1, 3, 10, 10)
    spot[0, 1, 2, 3] = -5.0  # all the weight on one pixel (sign does not matter)
    np.testing.assert_allclose(gb.map_concentration(even), [0.1])  # top 10% of pixels: 10%
    np.testing.assert_allclose(gb.map_concentration(spot), [1.0])
    half = torch.zeros(1, 3, 10, 10)
    half[0, 0, :5] = 1.0  # 50 equal pixels: the top 10 hold 10 / 50
    np.testing.assert_allclose(gb.map_concentration(half), [0.2])
    assert np.isnan(gb.map_concentration(torch.zeros(1, 3, 10, 10))).all()  # no gradient
    same = torch.cat([spot, 2 * spot, -spot])
    assert gb.map_agreement(same) == pytest.approx(1.0)  # every map on the same pixel
    apart = torch.zeros(2, 3, 10, 10)
    apart[0, 0, 0, 0], apart[1, 0, 9, 9] = 1.0, 1.0
    assert gb.map_agreement(apart) == pytest.approx(0.0)  # no pixel in common
    assert gb.map_agreement(torch.cat([spot, even])) == pytest.approx(0.1)  # 1 / sqrt(100)
    with pytest.raises(ValueError):
        gb.map_agreement(spot)


def test_stored_top_responses_give_back_the_same_maps():
    cfg = SG.GuidedConfig(n_images=40, n_features=2, n_top=3, batch_size=16)
    imgs = synthetic_images(60, 64, seed=3)[0]
    result = SG.run_guided_study(cfg, imgs, smoke_d(5), get_model_config("smoke64"))
    stored = json.loads(json.dumps(result.metrics))  # as a page reads it back
    for name, D in (("trained", smoke_d(5)), ("random", None)):
        D = D or random_discriminator(get_model_config("smoke64"), cfg.seed)
        top = SG.top_from_json(stored[name])
        again = SG.explain_top(D, imgs, top, cfg)  # redrawn from the whole data set
        for r in cfg.rules:
            for a, b in zip(again.maps[r], result.models[name].maps[r], strict=True):
                torch.testing.assert_close(a, b)
        summary = stored[name]
        assert len(summary["concentration"]) == len(summary["agreement"]) == 2
        assert all(c is None or 0.1 <= c <= 1 for c in summary["concentration"])
    figs = SG.study_figures(result, cfg, "generated")
    assert sorted(figs) == ["images_generated.png", "maps_generated.png", "rules_generated.png"]


def test_generated_images_are_stored_like_a_dataset():
    torch.manual_seed(0)
    G = Generator(get_model_config("smoke64")).eval()
    x = SG.generated_images(G, 5, seed=1)
    assert x.shape == (5, 64, 64, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, SG.generated_images(G, 5, seed=1))  # seeded


def test_export_is_only_the_book_study_of_a_stored_d(capsys):
    from dcgan_lib.__main__ import main

    assert main(["guided-backprop", "--size", "smoke", "--export"]) == 2
    assert main(["guided-backprop", "--mode", "book", "--random-only", "--export"]) == 2  # old flag
    assert capsys.readouterr().err.count("--size book") == 2
