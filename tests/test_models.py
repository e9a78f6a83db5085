"""Paper §3: the architecture guidelines, shapes for every config and size, init, sampling policy."""

import pytest
import torch
from torch import nn

from dcgan_lib.config import MODEL_CONFIGS, ConfigError, ModelConfig, get_model_config
from dcgan_lib.models import (
    Discriminator,
    Generator,
    count_parameters,
    generate,
    init_weights,
    sample_z,
    shape_walk,
)

SIZED = [(n, s) for n in MODEL_CONFIGS if not MODEL_CONFIGS[n].d_layers for s in (32, 64, 128)] + [
    ("imagenet32", 32)
]


@pytest.mark.parametrize("name,size", SIZED)
def test_shapes_for_every_config_and_size(name, size):
    cfg = get_model_config(name, image_size=size)
    G, D = Generator(cfg), Discriminator(cfg)
    z = sample_z(3, cfg)
    x = G(z)
    assert x.shape == (3, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1  # Tanh output
    assert D(x).shape == (3,)
    feats = D.features(x)
    assert feats[-1].shape[-2:] == (4, 4)  # D's last conv is 4x4, then flattened


def test_paper64_projects_z_to_4x4x1024_with_5x5_kernels():
    cfg = get_model_config("paper64")
    G = Generator(cfg)
    assert isinstance(G.project[0], nn.Linear) and G.project[0].out_features == 4 * 4 * 1024
    assert G.project_z(sample_z(2, cfg)).shape == (2, 1024, 4, 4)
    assert [b[0].out_channels for b in G.blocks] == [512, 256, 128, 3]
    assert all(b[0].kernel_size == (5, 5) for b in G.blocks)
    D = Discriminator(cfg)
    assert [b[0].out_channels for b in D.blocks] == [128, 256, 512, 1024]
    assert isinstance(D.head[1], nn.Linear) and D.head[1].in_features == 1024 * 16


def test_dcgan64_is_paper64_at_half_width():
    G = Generator(get_model_config("dcgan64"))
    assert G.start_channels == 512
    assert [b[0].out_channels for b in G.blocks] == [256, 128, 64, 3]


def test_imagenet32_matches_the_authors_discriminator():
    cfg = get_model_config("imagenet32")
    D = Discriminator(cfg)
    x = torch.zeros(2, 3, 32, 32)
    feats = D.features(x)
    assert [f.shape[1] for f in feats] == [128, 128, 256, 256, 512, 512]
    assert [f.shape[-1] for f in feats] == [32, 16, 16, 8, 8, 4]
    assert all(b[0].kernel_size == (3, 3) for b in D.blocks)
    assert sum(16 * f.shape[1] for f in feats) == 28672  # paper §5.1: 28,672 features
    assert cfg.nz == 256 and cfg.z_dist == "uniform"


def test_examples64_matches_pytorch_examples_parameter_counts():
    cfg = get_model_config("examples64")
    # pytorch/examples dcgan/main.py with ngf = ndf = 64, nz = 100
    assert count_parameters(Generator(cfg)) == 3_576_704
    assert count_parameters(Discriminator(cfg)) == 2_765_568
    assert all(b[0].kernel_size == (4, 4) for b in Generator(cfg).blocks)


@pytest.mark.parametrize("name", ["paper64", "imagenet32", "examples64"])
def test_guidelines_no_pooling_bn_placement_activations(name):
    cfg = get_model_config(name)
    G, D = Generator(cfg), Discriminator(cfg)
    for m in list(G.modules()) + list(D.modules()):
        assert not isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d))  # guideline 1
    # guideline 2: BN everywhere except G's output and D's input
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.blocks[-1])
    assert isinstance(G.blocks[-1][-1], nn.Tanh)
    assert all(isinstance(b[1], nn.BatchNorm2d) for b in G.blocks[:-1])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.blocks[0])
    assert all(isinstance(b[1], nn.BatchNorm2d) for b in D.blocks[1:])
    # guidelines 4-5: ReLU in G, LeakyReLU(0.2) in D
    assert all(isinstance(b[-1], nn.ReLU) for b in G.blocks[:-1])
    assert all(isinstance(b[-1], nn.LeakyReLU) and b[-1].negative_slope == 0.2 for b in D.blocks)
    # strided convs in D, fractionally-strided in G
    assert all(isinstance(b[0], nn.Conv2d) for b in D.blocks)
    assert all(isinstance(b[0], nn.ConvTranspose2d) for b in G.blocks)


def test_init_statistics():
    torch.manual_seed(0)
    G = Generator(get_model_config("dcgan64"))
    w = G.blocks[0][0].weight
    assert abs(w.mean().item()) < 1e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.02)
    bn = G.blocks[0][1]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.all(bn.bias == 0)
    lin = G.project[0].weight
    assert lin.std().item() == pytest.approx(0.02, rel=0.02)
    # re-initialising with another std changes the statistics accordingly
    init_weights(G, std=0.05)
    assert G.blocks[0][0].weight.std().item() == pytest.approx(0.05, rel=0.02)


def test_sample_z_distributions():
    u = sample_z(10000, get_model_config("dcgan64"), torch.Generator().manual_seed(0))
    assert u.shape == (10000, 100) and u.min() >= -1 and u.max() <= 1
    assert u.mean().abs() < 0.01 and u.std().item() == pytest.approx(1 / 3**0.5, rel=0.02)
    n = sample_z(10000, get_model_config("examples64"), torch.Generator().manual_seed(0))
    assert n.std().item() == pytest.approx(1.0, rel=0.02) and n.abs().max() > 1


def _warm_up_bn(G: Generator) -> None:
    G.train()
    with torch.no_grad():
        for _ in range(5):
            G(sample_z(32, G.cfg) * 0.5 + 0.3)  # shift the running statistics off their init


def test_sample_does_not_depend_on_the_rest_of_the_batch():
    torch.manual_seed(0)
    G = Generator(get_model_config("smoke64"))
    _warm_up_bn(G)
    z = sample_z(16, G.cfg, torch.Generator().manual_seed(1))
    batch = generate(G, z)
    alone = torch.cat([generate(G, z[i : i + 1]) for i in range(16)])
    other = generate(G, torch.cat([z[:1], sample_z(15, G.cfg, torch.Generator().manual_seed(2))]))
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(batch[:1], other[:1], atol=1e-5, rtol=0)
    assert G.training  # generate() restores the mode
    # with batch statistics (train mode) the same z would change with its companions
    with torch.no_grad():
        a = G(z)[:1]
        b = G(torch.cat([z[:1], sample_z(15, G.cfg, torch.Generator().manual_seed(2))]))[:1]
    assert (a - b).abs().max() > 1e-3


def test_wrong_shapes_and_configs_give_clear_errors():
    G = Generator(get_model_config("smoke32"))
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 16\)"):
        G(torch.zeros(2, 100))
    D = Discriminator(get_model_config("smoke32"))
    with pytest.raises(ValueError, match=r"takes images of shape \(batch, 3, 32, 32\)"):
        D(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ConfigError, match="image_size=48 is not supported"):
        ModelConfig(image_size=48)
    with pytest.raises(ConfigError, match="unknown model config"):
        get_model_config("dcgan65")
    with pytest.raises(ConfigError, match="stride-2"):
        ModelConfig(image_size=64, d_layers=((8, 2), (8, 2)))


def test_shape_walk_lists_every_block():
    cfg = get_model_config("dcgan64")
    rows = shape_walk(Generator(cfg), sample_z(2, cfg))
    assert [r[0] for r in rows] == ["project", "blocks.0", "blocks.1", "blocks.2", "blocks.3"]
    assert rows[-1][2] == (2, 3, 64, 64)
    rows = shape_walk(Discriminator(cfg), torch.zeros(2, 3, 64, 64))
    assert rows[-1] == ("head", "Flatten -> Linear", (2, 1))


def test_random_discriminator_is_reproducible_and_leaves_the_global_generator_alone():
    from dcgan_lib.models import random_discriminator

    cfg = get_model_config("smoke32")
    state = torch.random.get_rng_state()
    a, b = random_discriminator(cfg, seed=3), random_discriminator(cfg, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not a.training
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    c = random_discriminator(cfg, seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_block_index_counts_from_the_end_and_refuses_out_of_range():
    from dcgan_lib.models import block_index

    G = Generator(get_model_config("smoke32"))
    n = len(G.blocks)
    assert block_index(G, -1) == n - 1 and block_index(G, 0) == 0
    with pytest.raises(ValueError, match=f"with {n} blocks"):
        block_index(G, n)
