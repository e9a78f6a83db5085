"""Data-parallel training on several GPUs (or CPU processes), launched by ``torchrun``.

    torchrun --nproc-per-node N -m dcgan_lib train --config dcgan64 ... [--sync-bn]

How the paper's algorithm (§4) is kept:

- the global batch stays ``batch_size`` (128): every rank reads the same epoch permutation and
  draws the same global z, and takes its own contiguous slice of both (rank r: rows
  ``r*b ... (r+1)*b - 1`` of each batch, ``b = 128 / N``), so the N ranks together see exactly
  the batch and the noise of a single-process run;
- after each backward, the gradients of the net about to step are averaged over the ranks (one
  all-reduce per net), so every rank makes the same Adam update and the weights stay identical;
- rank 0 alone writes the run folder (checkpoints, metrics, samples, FID).

The one remaining difference, without ``--sync-bn``: BatchNorm normalises each rank's ``b``
images with their own mean and variance, not those of the 128-image batch (a deviation; each
rank's running statistics also differ, and their average is what samples and checkpoints use).
With ``--sync-bn`` BatchNorm uses the statistics of the global batch, and N ranks compute what
one process computes, up to float rounding.

Why not ``torch.nn.parallel.DistributedDataParallel``: D runs three times per iteration (on real
images, on fakes, and inside G's step), while DDP's reducer expects one forward per backward and
re-broadcasts buffers (BatchNorm's running statistics) on every call. The explicit all-reduce
between ``backward`` and ``step`` is what DDP does, placed where this algorithm needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from dcgan_lib.config import ConfigError

STOP_REASONS = (None, "time budget", "interrupted")  # ranks agree on the most urgent


@dataclass
class Dist:
    """This process's place in a data-parallel run; the defaults are a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this process created the process group and destroys it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise ConfigError(
                f"the global batch of {batch_size} does not split evenly over "
                f"{self.world_size} processes; use a --batch-size divisible by --nproc-per-node"
            )

    def batch_slice(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of ``batch_size``."""
        b = batch_size // self.world_size
        return slice(self.rank * b, (self.rank + 1) * b)

    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()

    def average_gradients(self, module: nn.Module) -> None:
        """Replace every gradient of ``module`` by its mean over the ranks (one all-reduce)."""
        self._average([p.grad for p in module.parameters() if p.grad is not None])

    def average_buffers(self, module: nn.Module) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over the ranks."""
        self._average([b for b in module.buffers() if b.is_floating_point()])

    def _average(self, tensors: list[torch.Tensor]) -> None:
        """Replace each tensor by its mean over the ranks, all in one flat all-reduce."""
        if not self.enabled or not tensors:
            return
        flat = _flatten_dense_tensors(tensors)
        tdist.all_reduce(flat)
        flat.div_(self.world_size)
        for t, avg in zip(tensors, _unflatten_dense_tensors(flat, tensors), strict=True):
            t.copy_(avg)

    def agree_stop(self, reason: str | None) -> str | None:
        """The most urgent stop reason of any rank (``STOP_REASONS``); every rank calls this."""
        if not self.enabled:
            return reason
        device = "cuda" if tdist.get_backend() == "nccl" else "cpu"
        code = torch.tensor([STOP_REASONS.index(reason)], device=device)
        tdist.all_reduce(code, op=tdist.ReduceOp.MAX)
        return STOP_REASONS[int(code)]

    def shutdown(self) -> None:
        if self.owns_group and tdist.is_initialized():
            tdist.destroy_process_group()
            self.owns_group = False


def from_env(device: str = "auto") -> tuple[Dist, str]:
    """(this process's ``Dist``, its device name) from torchrun's ``RANK``, ``WORLD_SIZE`` and
    ``LOCAL_RANK``; joins (or creates) the process group: NCCL on CUDA, gloo on the CPU.

    Without ``WORLD_SIZE`` > 1 this is a single process and ``device`` comes back unchanged.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if torch.cuda.device_count() <= local:
            raise ConfigError(
                f"local rank {local} has no GPU ({torch.cuda.device_count()} visible); start "
                "at most that many processes per node"
            )
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    owns = False
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if cuda else "gloo")
        owns = True
    if tdist.get_world_size() != world:
        raise ConfigError(f"WORLD_SIZE={world} but the process group has {tdist.get_world_size()}")
    return Dist(rank, world, local, owns), device


def mean_across(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over the ranks (a new tensor)."""
    t = t.clone()
    tdist.all_reduce(t)
    return t / tdist.get_world_size()


def max_across(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return t


# ---------------------------------------------------------------------------------------------
# SyncBatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; the gradient of a sum is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        x = x.clone()
        tdist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        grad = grad.clone()
        tdist.all_reduce(grad)
        return grad


class SyncBatchNorm(nn.SyncBatchNorm):
    """BatchNorm over the global batch of all ranks.

    On a GPU this is ``torch.nn.SyncBatchNorm``. torch's version refuses CPU tensors, so on the
    CPU (gloo) the same statistics are computed here with two differentiable all-reduces: the
    global mean, then the global biased variance; running statistics are updated as BatchNorm
    does (unbiased variance of the global batch).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (
            self.training
            and x.device.type == "cpu"
            and tdist.is_available()
            and tdist.is_initialized()
            and tdist.get_world_size() > 1
        ):
            return super().forward(x)
        self._check_input_dim(x)
        world = tdist.get_world_size()
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        n = x.numel() // c * world  # every rank holds the same number of images
        mean = _AllReduceSum.apply(x.sum(dims)) / n
        xc = x - mean.view(shape)
        var = _AllReduceSum.apply((xc * xc).sum(dims)) / n
        y = xc * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / max(n - 1, 1), alpha=m)
        return y


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm1d/2d replaced by ``SyncBatchNorm``, weights kept."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, nn.SyncBatchNorm
    ):
        new = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        if module.affine:
            with torch.no_grad():
                new.weight.copy_(module.weight)
                new.bias.copy_(module.bias)
        if module.track_running_stats:
            new.running_mean.copy_(module.running_mean)
            new.running_var.copy_(module.running_var)
            new.num_batches_tracked.copy_(module.num_batches_tracked)
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child))
    return module
