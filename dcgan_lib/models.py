"""The DCGAN generator and discriminator (paper §3), built from a ``ModelConfig``.

The paper's architecture guidelines, each visible below:

1. no pooling: strided convolutions in D, fractionally-strided (transposed) ones in G;
2. BatchNorm in both nets, except G's output layer and D's input layer;
3. no fully connected hidden layers: z is projected by one matrix multiply and reshaped to
   4x4 (paper64: 4x4x1024); D's last conv is flattened into a single output;
4. ReLU in G, Tanh on its output;
5. LeakyReLU (slope 0.2) in every D layer.

D returns logits; the sigmoid lives in the loss (BCE-with-logits), which is the same model
computed more stably.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from dcgan_lib.config import ModelConfig


def _conv(c_in: int, c_out: int, k: int, stride: int) -> nn.Conv2d:
    # "same"-style padding: stride 1 keeps the size, stride 2 halves it (k = 3, 4 or 5)
    return nn.Conv2d(c_in, c_out, k, stride, padding=(k - 1) // 2, bias=False)


def _deconv(c_in: int, c_out: int, k: int, stride: int) -> nn.ConvTranspose2d:
    # fractionally-strided conv: stride 2 doubles the size exactly, stride 1 keeps it
    p = (k - 1) // 2
    out_pad = (2 + 2 * p - k) if stride == 2 else (1 + 2 * p - k)
    return nn.ConvTranspose2d(c_in, c_out, k, stride, padding=p, output_padding=out_pad, bias=False)


class Generator(nn.Module):
    """z (B, nz) in [-1, 1] (or N(0, 1)) -> images (B, nc, S, S) in [-1, 1]. Paper: §3, Fig. 1."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        start, layers = cfg.generator_layers()
        self.start_channels = start
        if cfg.g_project == "linear":
            # paper §3: "a matrix multiplication ... reshaped into a 4-dimensional tensor";
            # authors' code: BatchNorm over all 4*4*start units, before the reshape
            self.project = nn.Sequential(
                nn.Linear(cfg.nz, start * 16, bias=False),
                nn.BatchNorm1d(start * 16, eps=cfg.bn_eps),
                nn.ReLU(inplace=True),
            )  # (start*16) -> reshaped to start x 4 x 4
        else:
            # pytorch/examples: a 4x4 transposed conv on z viewed as (nz, 1, 1)
            self.project = nn.Sequential(
                nn.ConvTranspose2d(cfg.nz, start, 4, 1, 0, bias=False),
                nn.BatchNorm2d(start, eps=cfg.bn_eps),
                nn.ReLU(inplace=True),
            )  # start x 4 x 4
        blocks = []
        c_in = start
        for i, (c_out, stride) in enumerate(layers):
            conv = _deconv(c_in, c_out, cfg.kernel_size, stride)
            if i == len(layers) - 1:
                blocks.append(nn.Sequential(conv, nn.Tanh()))  # paper §3: no BN, Tanh output
            else:
                blocks.append(
                    nn.Sequential(
                        conv, nn.BatchNorm2d(c_out, eps=cfg.bn_eps), nn.ReLU(inplace=True)
                    )
                )
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        init_weights(self, cfg.init_std)

    def project_z(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, nz) -> the 4x4 feature map (B, start, 4, 4)."""
        if z.dim() != 2 or z.shape[1] != self.cfg.nz:
            raise ValueError(
                f"z must have shape (batch, {self.cfg.nz}) for config {self.cfg.name!r}, "
                f"got {tuple(z.shape)}"
            )
        if self.cfg.g_project == "linear":
            return self.project(z).view(-1, self.start_channels, 4, 4)
        return self.project(z.view(-1, self.cfg.nz, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project_z(z)
        for block in self.blocks:
            h = block(h)
        return h


class Discriminator(nn.Module):
    """images (B, nc, S, S) in [-1, 1] -> logits (B,). Paper: §3."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        blocks = []
        c_in = cfg.nc
        for i, (c_out, stride) in enumerate(cfg.discriminator_layers()):
            conv = _conv(c_in, c_out, cfg.kernel_size, stride)
            act = nn.LeakyReLU(cfg.leaky_slope, inplace=True)  # paper §3: LeakyReLU 0.2
            if i == 0:
                blocks.append(nn.Sequential(conv, act))  # paper §3: no BN on D's input layer
            else:
                blocks.append(nn.Sequential(conv, nn.BatchNorm2d(c_out, eps=cfg.bn_eps), act))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)  # last block: c_in x 4 x 4
        self.head: nn.Module | None = None  # a truncated D (cfg.d_depth) has no output layer
        if cfg.d_output == "linear" and not cfg.d_truncated:
            # paper §3: "the last convolution layer is flattened and fed into a single output"
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * 16, 1, bias=False))
        elif not cfg.d_truncated:
            self.head = nn.Sequential(nn.Conv2d(c_in, 1, 4, 1, 0, bias=False), nn.Flatten())
        init_weights(self, cfg.init_std)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every conv block, after its LeakyReLU (paper §5 features)."""
        _check_images(x, self.cfg)
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise ValueError(
                f"D of config {self.cfg.name!r} is truncated to its first {self.cfg.d_depth} conv "
                "layers and has no output layer: use D.features(x) (paper §5 features)"
            )
        return self.head(self.features(x)[-1]).view(-1)


def _check_images(x: torch.Tensor, cfg: ModelConfig) -> None:
    want = (cfg.nc, cfg.image_size, cfg.image_size)
    if x.dim() != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(
            f"D of config {cfg.name!r} takes images of shape (batch, {want[0]}, {want[1]}, "
            f"{want[2]}), got {tuple(x.shape)}"
        )


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Paper §4: all weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0 (authors' code)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def sample_z(
    n: int,
    cfg: ModelConfig,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(n, nz) noise: uniform in [-1, 1] (paper §4) or N(0, 1) (pytorch/examples)."""
    if cfg.z_dist == "uniform":
        return torch.rand(n, cfg.nz, generator=generator, device=device) * 2 - 1
    return torch.randn(n, cfg.nz, generator=generator, device=device)


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Temporarily put modules in eval mode (BatchNorm uses its running statistics)."""
    was = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, t in zip(modules, was, strict=True):
            m.train(t)


@torch.no_grad()
def generate(G: Generator, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Samples for z (N, nz) -> (N, nc, S, S) in [-1, 1], on z's device.

    BatchNorm policy at sampling time: running statistics (eval mode), so that a sample depends
    only on its own z, never on the other samples in the batch. Paper: §4, §6.
    """
    dev = next(G.parameters()).device
    out = []
    with eval_mode(G):
        for i in range(0, len(z), batch_size):
            out.append(G(z[i : i + batch_size].to(dev)).float().to(z.device))
    return torch.cat(out) if out else z.new_zeros((0, G.cfg.nc, G.cfg.image_size, G.cfg.image_size))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def shape_walk(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str, tuple[int, ...]]]:
    """[(name, layer summary, output shape)] for each top-level block of G or D on input x."""
    rows: list[tuple[str, str, tuple[int, ...]]] = []
    hooks = []
    named = [("project", model.project)] if isinstance(model, Generator) else []
    named += [(f"blocks.{i}", b) for i, b in enumerate(model.blocks)]  # type: ignore[arg-type]
    if isinstance(model, Discriminator) and model.head is not None:
        named.append(("head", model.head))
    for name, mod in named:
        summary = " -> ".join(type(m).__name__ for m in mod)  # type: ignore[union-attr]
        hooks.append(
            mod.register_forward_hook(
                lambda _m, _i, out, n=name, s=summary: rows.append((n, s, tuple(out.shape)))
            )
        )
    try:
        with torch.no_grad(), eval_mode(model):
            model.features(x) if isinstance(model, Discriminator) and model.head is None else model(
                x
            )
    finally:
        for h in hooks:
            h.remove()
    return rows


def random_discriminator(cfg: ModelConfig, seed: int = 0) -> Discriminator:
    """D with the paper's random initialization (N(0, 0.02); BatchNorm scale N(1, 0.02)), in eval
    mode, drawn from its own seed without touching the global generator: the untrained control of
    §5 and §6.2."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Discriminator(cfg).eval()


def block_index(model: nn.Module, layer: int) -> int:
    """``layer`` (negative counts from the end, as in Python) as an index into ``model.blocks``;
    out of range is a ValueError naming the number of blocks."""
    n = len(model.blocks)  # type: ignore[arg-type]
    if not -n <= layer < n:
        raise ValueError(f"layer {layer} is out of range for a model with {n} blocks")
    return layer % n
