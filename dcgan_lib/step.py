"""One training iteration of the paper's GAN (paper §4): the losses, the D and G updates, Adam.

Per iteration, with the paper's settings (Adam 2e-4, beta1 0.5, minibatch 128, z uniform): one D
step on a real and a generated batch (each its own BatchNorm batch), then one G step on the same
z with the non-saturating loss -log D(G(z)). The paper states neither the schedule nor the G
loss: one D step per G step and the non-saturating loss are Goodfellow et al. (2014)'s algorithm,
a standard choice (the authors' faces script alternates G and D on minibatches); reusing the D
step's z is ours (the deviations page). Both engines
(``dcgan_lib.engine``) and every data-parallel rank run this one ``train_step``; its statistics
are summed on the device (``WindowStats``) and read once per log line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dcgan_lib import distributed
from dcgan_lib.config import TrainConfig
from dcgan_lib.models import Discriminator, Generator

STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "d_acc_real", "d_acc_fake")


def d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), from logits: Goodfellow et al. (2014)'s D loss (the DCGAN
    paper does not restate it). Paper: §4."""
    return F.binary_cross_entropy_with_logits(
        logits_real, torch.ones_like(logits_real)
    ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))


def g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)), from logits: Goodfellow et al. (2014)'s
    choice, a standard one (the paper does not state its G loss)."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def train_step(
    G: Generator,
    D: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    z: torch.Tensor,
    amp: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    reduce_grads: Callable[[nn.Module], None] | None = None,
) -> torch.Tensor:
    """One D update then one G update: x_real (B, nc, S, S) in [-1, 1], z (B, nz).

    Returns the detached stats named by ``STAT_NAMES``: [loss_d, loss_g, D(x), D(G(z)), the
    fraction of real images with D(x) > 0.5, the fraction of fakes with D(G(z)) < 0.5] (a
    probability above one half is a positive logit). ``amp`` wraps the forward passes (the fast
    engine's bf16 autocast); ``reduce_grads`` averages a net's gradients over data-parallel ranks
    before its optimizer step. Both engines and every rank run this one function. Paper: §4.
    """
    with amp():
        x_fake = G(z)
        logits_real = D(x_real).float()
        logits_fake = D(x_fake.detach()).float()
        loss_d = d_loss(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    if reduce_grads is not None:
        reduce_grads(D)
    opt_d.step()

    with amp():
        logits_gen = D(x_fake).float()  # D after its update, as in the standard algorithm
        loss_g = g_loss(logits_gen)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    if reduce_grads is not None:
        reduce_grads(G)
    opt_g.step()
    return torch.stack(
        [
            loss_d,
            loss_g,
            torch.sigmoid(logits_real).mean(),
            torch.sigmoid(logits_fake).mean(),
            (logits_real > 0).float().mean(),
            (logits_fake < 0).float().mean(),
        ]
    ).detach()


def make_optimizers(
    G: Generator, D: Discriminator, cfg: TrainConfig, fused: bool | None = None, capturable=False
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each net. ``fused``/``capturable``: the fast engine's kernels (same update rule)."""
    betas = (cfg.beta1, cfg.beta2)  # paper §4: beta1 0.5 ("0.9 ... instability")
    kw = {"fused": fused, "capturable": capturable}
    return torch.optim.Adam(G.parameters(), cfg.lr, betas, **kw), torch.optim.Adam(
        D.parameters(), cfg.lr, betas, **kw
    )


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """Load Adam state written by either engine into ``opt``, keeping ``opt``'s own kernel flags.

    ``Optimizer.load_state_dict`` would also copy the writer's ``fused``/``capturable`` flags;
    here they stay this optimizer's, the step counter goes where its kernels want it (on the
    parameter's device for fused/capturable Adam, else on the CPU), and the moment estimates
    take their parameter's memory format (channels_last under the fast engine).
    """
    flags = {k: opt.param_groups[0].get(k) for k in ("fused", "capturable", "foreach")}
    opt.load_state_dict(state)
    on_device = bool(flags["fused"] or flags["capturable"])
    for group in opt.param_groups:
        group.update(flags)
        for p in group["params"]:
            st = opt.state.get(p)
            if not st:
                continue
            if torch.is_tensor(st.get("step")):
                st["step"] = st["step"].to(
                    device=p.device if on_device else "cpu", dtype=torch.float32
                )
            for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                if key in st:
                    st[key] = torch.empty_like(p).copy_(st[key])


class WindowStats:
    """``train_step``'s stats summed on the device between two log lines: no host sync per step.

    Also remembers, on the device, the first step of the window whose stats were NaN or Inf.
    """

    def __init__(self, device: torch.device) -> None:
        self.sum = torch.zeros(len(STAT_NAMES), device=device)
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.bad = torch.full((), -1, dtype=torch.long, device=device)

    def add(self, stats: torch.Tensor) -> None:
        """In-place device ops only (the fast engine records them inside its CUDA graph)."""
        self.count += 1
        first_bad = (self.bad < 0) & ~torch.isfinite(stats).all()
        self.bad.copy_(torch.where(first_bad, self.count, self.bad))
        self.sum += stats

    def read(self, dist: distributed.Dist) -> tuple[list[float], int]:
        """(mean stats over the window and over ranks, 1-based index in the window of the first
        non-finite step or -1); one host sync, then the window starts again."""
        mean = self.sum / self.count.clamp(min=1)
        bad = self.bad.clone()
        if dist.enabled:
            mean = distributed.mean_across(mean)
            bad = distributed.max_across(bad)
        values = torch.cat([mean, bad.float().view(1)]).tolist()
        self.sum.zero_()
        self.count.zero_()
        self.bad.fill_(-1)
        return values[:-1], int(values[-1])
