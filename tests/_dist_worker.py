"""One rank of the 2-process gloo check in test_distributed.py (spawned; saves what it saw)."""

import os

import numpy as np
import torch
from _smoke import DATA, smoke_cfg

from dcgan_lib import distributed
from dcgan_lib.data import epoch_order, to_float
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.step import d_loss


def run(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    dist, device = distributed.from_env("cpu")
    assert device == "cpu" and dist.enabled and dist.rank == rank
    try:
        cfg = smoke_cfg("unused")
        rows = dist.batch_slice(16)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        G, D = Generator(cfg.model), Discriminator(cfg.model)
        idx = epoch_order(len(DATA), 0, cfg.seed)[:16][rows]
        x_real = to_float(torch.from_numpy(np.array(DATA.images))[idx])
        z = sample_z(16, cfg.model, torch.Generator().manual_seed(7))[rows]
        loss = d_loss(D(x_real), D(G(z).detach()))
        loss.backward()
        local = [p.grad.clone() for p in D.parameters()]
        dist.average_gradients(D)
        averaged = [p.grad.clone() for p in D.parameters()]

        # SyncBatchNorm on this rank's rows of one global batch
        x = torch.randn(16, 4, 5, 5, generator=torch.Generator().manual_seed(3))[rows]
        x.requires_grad_(True)
        w = torch.randn(16, 4, 5, 5, generator=torch.Generator().manual_seed(4))[rows]
        bn = distributed.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(4)))
        assert isinstance(bn[0], distributed.SyncBatchNorm)
        y = bn(x)
        (y * w).sum().backward()
        torch.save(
            {
                "local": local,
                "averaged": averaged,
                "bn_y": y.detach(),
                "bn_x_grad": x.grad,
                "bn_weight_grad": bn[0].weight.grad,
                "bn_bias_grad": bn[0].bias.grad,
                "bn_running": (bn[0].running_mean.clone(), bn[0].running_var.clone()),
            },
            os.path.join(out, f"rank{rank}.pt"),
        )
    finally:
        dist.shutdown()
