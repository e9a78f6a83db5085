"""The two engines that run ``train_step`` for ``dcgan_lib.train``, and the choice between them.

``eager`` (``EagerRunner``) is the reference: fp32, batches gathered on the host and copied.
``fast`` (``FastRunner``) is the same ``train_step``, without the waiting (paper §4 unchanged).
``engine="auto"`` (``resolve_engine``) picks fast on CUDA and eager elsewhere; ``build_nets``
makes G, D and their optimizers as the chosen engine wants them.

A reference loop (eager fp32, a host sync every step) spends most of a DCGAN step launching
kernels and waiting for the GPU. This engine runs the identical algorithm (same losses, same
update order, same batch size, same z stream) with:

- the dataset resident on the GPU as uint8 (decoded and packed once by ``dcgan_lib.data``),
  batches gathered on the device from the epoch's permutation (``DeviceBatches``);
- bf16 autocast for the forward passes (fp32 weights and Adam state, no loss scaling needed);
- channels_last weights and activations;
- fused Adam (``capturable`` under a CUDA graph);
- the stats summed on the device and read every ``log_every`` steps (``WindowStats``);
- the whole D+G iteration captured once as a CUDA graph and replayed every step: warm-up steps on
  a side stream, then capture, then one ``replay()`` per step. Only the batch gather and the z
  draw (into the graph's static buffers, from the run's checkpointed z generator) run outside it.

On the CPU (``engine="fast"`` forced) the same code runs without the graph: that is how the tests
check it. ``FastOptions`` switches each part off separately.

Optionally (``compile=True``; ``TrainConfig.compile``, ``--compile``), G and D are compiled with
``torch.compile`` (TorchInductor, default mode: fused kernels for the BatchNorm, activation and
loss chains around the convolutions; no CUDA graphs of its own) and the compiled modules run inside
the same captured step: ``train_step`` stays the one definition of the algorithm, it only receives
the compiled modules. Compilation happens during the warm-up steps, before capture. Off by
default: its speed and numerics on a GPU are measured by ``benchmarks/throughput.py --compile``
and ``benchmarks/numerics.py --engines eager fast fast+compile``, not assumed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dcgan_lib import distributed
from dcgan_lib.config import ModelConfig, TrainConfig
from dcgan_lib.data import Packed, to_float
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.step import WindowStats, make_optimizers, train_step

# Data sets smaller than this are held in memory (the eager engine's host copy, the fast engine's
# CPU data); larger ones (LSUN) stay memory-mapped and are read batch by batch.
IN_MEMORY_BYTES = 8 * 2**30
WARMUP_STEPS = 3  # eager steps on a side stream before capture (CUDA graph guidance)
# Keep the dataset on the GPU when it needs at most this fraction of the free memory, else stream
# it from (pinned) host memory: CelebA-10k at 64px is 123 MB, all of CelebA 2.4 GB, LSUN 37 GB.
RESIDENT_FRACTION = 0.5


@dataclass(frozen=True)
class FastOptions:
    """Which parts of the fast path are on. ``for_device`` gives the defaults."""

    amp: bool = True  # bf16 autocast of the forward passes
    channels_last: bool = True  # NHWC weights and activations (tensor-core friendly)
    fused_adam: bool = True  # one fused kernel per optimizer step
    cuda_graph: bool = True  # capture the iteration once, replay it every step
    compile: bool = False  # torch.compile G and D (run inside the captured step)
    compile_backend: str = "inductor"  # tests: "aot_eager" (traced, not code-generated)

    @classmethod
    def for_device(
        cls, device: torch.device, world_size: int = 1, compile: bool = False
    ) -> FastOptions:
        # no graph on the CPU; none under torchrun either: capturing the NCCL all-reduces inside
        # the graph is possible but untested here, so data-parallel runs replay nothing
        return cls(cuda_graph=device.type == "cuda" and world_size == 1, compile=compile)

    def compiled(self, module: nn.Module) -> nn.Module:
        """``module`` itself, or its ``torch.compile`` wrapper (same parameters and buffers)."""
        if not self.compile:
            return module
        return torch.compile(module, backend=self.compile_backend, dynamic=False)

    def prepare(self, module: nn.Module) -> nn.Module:
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def adam_kwargs(self) -> dict:
        return {"fused": self.fused_adam or None, "capturable": self.cuda_graph}

    def autocast(self, device: torch.device):
        """A factory of the forward-pass context (``train_step``'s ``amp``)."""
        if not self.amp:
            return contextlib.nullcontext
        # cache_enabled=False: autocast's weight-cast cache must not outlive a graph capture
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)


def sample_z_(out: torch.Tensor, cfg: ModelConfig, generator: torch.Generator) -> torch.Tensor:
    """``models.sample_z`` written into ``out`` (B, nz): the same numbers from the same generator
    state, without allocating (the graph reads a fixed buffer)."""
    if cfg.z_dist == "uniform":
        torch.rand(out.shape, generator=generator, device=out.device, out=out)
        return out.mul_(2).sub_(1)
    return torch.randn(out.shape, generator=generator, device=out.device, out=out)


class DeviceBatches:
    """The packed uint8 images (N, S, S, 3) on the training device, batches gathered there.

    ``set_epoch(order)`` takes the epoch's permutation (``data.epoch_order``, the eager engine's
    order); ``fill(it, out)`` writes this rank's rows of batch ``it`` into ``out`` (b, S, S, 3)
    uint8: one ``index_select`` on the device. A set too large for the device stays on the host
    and is copied batch by batch through two pinned buffers.
    """

    def __init__(
        self,
        images: np.ndarray,
        device: torch.device,
        batch_size: int,
        rows: slice = slice(None),
        resident: bool | None = None,
    ) -> None:
        self.device, self.batch_size, self.rows = device, batch_size, rows
        self.n = len(images)
        if resident is None:
            if device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(device)
                resident = images.nbytes <= RESIDENT_FRACTION * free
            else:
                resident = images.nbytes < IN_MEMORY_BYTES
        self.resident = resident
        if resident:
            self.images = torch.empty(images.shape, dtype=torch.uint8, device=device)
            chunk = max(1, (256 * 2**20) // max(1, images[0].nbytes))  # 256 MB at a time
            for i in range(0, self.n, chunk):
                part = torch.from_numpy(np.array(images[i : i + chunk]))  # a writable copy
                self.images[i : i + chunk].copy_(part)
        else:
            self.host = images
            pin = device.type == "cuda"
            shape = (len(range(batch_size)[rows]), *images.shape[1:])
            self.pinned = [torch.empty(shape, dtype=torch.uint8, pin_memory=pin) for _ in (0, 1)]
            self.copied: list[torch.cuda.Event | None] = [None, None]
            self.k = 0

    def set_epoch(self, order: torch.Tensor) -> None:
        self.order_cpu = order
        if self.resident:  # through pinned memory: no wait for the GPU once per epoch
            pinned = order.pin_memory() if self.device.type == "cuda" else order
            self.order = pinned.to(self.device, non_blocking=True)

    def fill(self, it: int, out: torch.Tensor) -> torch.Tensor:
        b = self.batch_size
        lo = it * b
        if self.resident:
            idx = self.order[lo : lo + b][self.rows]
            return torch.index_select(self.images, 0, idx, out=out)
        idx = np.sort(self.order_cpu[lo : lo + b][self.rows].numpy())  # sorted: memmap-friendly
        k, self.k = self.k % 2, self.k + 1
        if self.copied[k] is not None:
            self.copied[k].synchronize()  # the copy that last read this pinned buffer is done
        self.pinned[k].copy_(torch.from_numpy(self.host[idx]))
        out.copy_(self.pinned[k], non_blocking=True)
        if self.device.type == "cuda":
            self.copied[k] = torch.cuda.Event()
            self.copied[k].record()
        return out


def resolve_engine(name: str, device: torch.device) -> str:
    """The engine ``train`` runs: ``auto`` is ``fast`` on CUDA and ``eager`` elsewhere."""
    if name == "auto":
        return "fast" if device.type == "cuda" else "eager"
    return name


def build_nets(
    cfg: TrainConfig, engine: str, device: torch.device, dist: distributed.Dist
) -> tuple[nn.Module, nn.Module, torch.optim.Adam, torch.optim.Adam, FastOptions | None]:
    """G, D (initialised from ``cfg.seed``, the same on every rank) and their Adam optimizers on
    ``device``, as ``engine`` runs them: (G, D, opt_g, opt_d, the fast options or None)."""
    torch.manual_seed(cfg.seed)  # weight init
    G, D = Generator(cfg.model), Discriminator(cfg.model)
    if cfg.sync_bn and dist.enabled:
        G, D = distributed.convert_sync_batchnorm(G), distributed.convert_sync_batchnorm(D)
    G, D = G.to(device), D.to(device)
    if engine != "fast":
        if cfg.compile:
            warnings.warn("compile applies to the fast engine only; training eagerly", stacklevel=3)
        return G, D, *make_optimizers(G, D, cfg), None
    options = FastOptions.for_device(device, dist.world_size)
    if cfg.compile:
        options = dataclasses.replace(options, compile=True)
    G, D = options.prepare(G), options.prepare(D)
    return G, D, *make_optimizers(G, D, cfg, **options.adam_kwargs()), options


class EagerRunner:
    """The reference engine: fp32, batches gathered on the host and copied, ``train_step``."""

    name = "eager"

    def __init__(
        self,
        G: Generator,
        D: Discriminator,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        cfg: TrainConfig,
        data: Packed,
        device: torch.device,
        z_rng: torch.Generator,
        dist: distributed.Dist,
    ) -> None:
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.cfg, self.data, self.device, self.z_rng, self.dist = cfg, data, device, z_rng, dist
        self.rows = dist.batch_slice(cfg.batch_size)  # this rank's part of the global batch
        # sets that fit in memory are read once; larger ones (LSUN) stay memory-mapped
        self.images = (
            torch.from_numpy(np.array(data.images))
            if data.images.nbytes < IN_MEMORY_BYTES
            else None
        )
        self.window = WindowStats(device)
        self.options: dict = {}

    def set_epoch(self, order: torch.Tensor) -> None:
        self.order = order

    def step(self, it: int) -> None:
        b = self.cfg.batch_size
        idx = self.order[it * b : (it + 1) * b][self.rows]
        batch = (
            self.images[idx]
            if self.images is not None
            else torch.from_numpy(self.data.images[np.sort(idx.numpy())])
        )
        x_real = to_float(batch.to(self.device, non_blocking=True))
        z = sample_z(b, self.cfg.model, self.z_rng, self.device)[self.rows]  # the global z
        kw = {"reduce_grads": self.dist.average_gradients} if self.dist.enabled else {}
        stats = train_step(self.G, self.D, self.opt_g, self.opt_d, x_real, z, **kw)
        self.window.add(stats)

    def read_window(self) -> tuple[list[float], int]:
        return self.window.read(self.dist)

    def close(self) -> None:
        pass


class FastRunner:
    """One training iteration per ``step(it)`` with the fast path (the engine of ``train``).

    Static buffers: the uint8 batch and the global z; the graph (when on) reads them, runs
    ``train_step`` under bf16 autocast on channels_last nets, and adds the stats to the
    device-side window. Nothing here reads a value back to the host except ``read_window``.
    """

    name = "fast"

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        cfg: TrainConfig,
        images: np.ndarray,
        device: torch.device,
        z_rng: torch.Generator,
        fast: FastOptions | None = None,
        dist: distributed.Dist | None = None,
        resident: bool | None = None,
    ) -> None:
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.cfg, self.device, self.z_rng = cfg, device, z_rng
        self.fast = fast or FastOptions.for_device(device)
        # what train_step runs: the modules, or their compiled wrappers (same weights)
        self.G_step, self.D_step = self.fast.compiled(G), self.fast.compiled(D)
        self.dist = dist or distributed.Dist()
        if self.fast.cuda_graph and device.type != "cuda":
            raise ValueError("a CUDA graph needs a CUDA device")
        rows = self.dist.batch_slice(cfg.batch_size)
        self.data = DeviceBatches(images, device, cfg.batch_size, rows, resident)
        m = cfg.model
        b = cfg.batch_size // self.dist.world_size
        shape = (b, m.image_size, m.image_size, m.nc)
        self.batch = torch.empty(shape, dtype=torch.uint8, device=device)
        self.z = torch.empty((cfg.batch_size, m.nz), device=device)  # the global z
        self.z_local = self.z[rows]
        self.window = WindowStats(device)
        self.amp = self.fast.autocast(device)
        self.reduce = self.dist.average_gradients if self.dist.enabled else None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.calls = 0
        self.options = dataclasses.asdict(self.fast) | {"data_on_device": self.data.resident}
        if not self.fast.compile:
            self.options.pop("compile_backend")
        self._benchmark = torch.backends.cudnn.benchmark
        if device.type == "cuda" and not cfg.deterministic:
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv kernels

    def set_epoch(self, order: torch.Tensor) -> None:
        self.data.set_epoch(order)

    def _body(self) -> None:
        x_real = to_float(self.batch)  # (b, nc, S, S): a view of NHWC, so already channels_last
        stats = train_step(
            self.G_step,
            self.D_step,
            self.opt_g,
            self.opt_d,
            x_real,
            self.z_local,
            amp=self.amp,
            reduce_grads=self.reduce,
        )
        self.window.add(stats)

    def step(self, it: int) -> None:
        """Batch ``it`` of the current epoch and the next z, then one D and one G update."""
        self.data.fill(it, self.batch)
        sample_z_(self.z, self.cfg.model, self.z_rng)  # the whole global z, as eager draws it
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
        elif not self.fast.cuda_graph:
            self._body()
        elif self.calls <= WARMUP_STEPS:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._body()
            torch.cuda.current_stream(self.device).wait_stream(side)
        else:
            self.capture()
            self.graph.replay()

    def capture(self) -> None:
        """Record ``_body`` (the whole D+G iteration) as a CUDA graph; nothing runs yet."""
        torch.cuda.synchronize(self.device)
        self.opt_d.zero_grad(set_to_none=True)  # gradients are then allocated in the graph pool
        self.opt_g.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body()
        self.graph = graph

    def read_window(self) -> tuple[list[float], int]:
        return self.window.read(self.dist)

    def close(self) -> None:
        torch.backends.cudnn.benchmark = self._benchmark
