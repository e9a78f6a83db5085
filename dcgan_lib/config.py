"""Plain dataclass configs: the model (paper §3) and the training run (paper §4).

Named model configs (``get_model_config(name)``):

- ``paper64``    the paper's Fig. 1 / the authors' faces model (4x4x1024 start, 5x5 kernels).
- ``dcgan64``    the same design at half width (4x4x512); the model the book ships.
- ``imagenet32`` the authors' ImageNet-32 model (3x3 kernels, D 128-128-256-256-512-512).
- ``examples64`` pytorch/examples' dcgan (4x4 kernels, width 64, normal z): the baseline.
- ``authors_svhn32`` the authors' released SVHN DCGAN (5x5 kernels, G 256-128-64-3, D 64-128-256,
  normal z, BatchNorm epsilon 1e-8): the model whose weights ``dcgan_lib.authors`` loads.
- ``authors_imagenet32`` the authors' released ImageNet-32 D, truncated to its conv layers 1-4 of 6
  (``d_depth=4``: their public copy lacks the weights of layers 5 and 6): features only, no output.
- ``smoke32`` / ``smoke64`` tiny versions of the paper design for tests and smoke mode.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

SUPPORTED_IMAGE_SIZES = (32, 64, 128)


class ConfigError(ValueError):
    """A configuration that cannot work; the message says what to change."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of G and D. Field comments give the paper's (or authors') value."""

    name: str = "dcgan64"
    image_size: int = 64  # paper: 64 (LSUN, faces), 32 (ImageNet-1k)
    nz: int = 100  # paper: 100-d z
    ngf: int = 64  # paper64: 128 (4x4x1024 start = ngf*8)
    ndf: int = 64  # paper64: 128 (D 128-256-512-1024)
    nc: int = 3  # RGB
    kernel_size: int = 5  # authors' code: 5x5 at 64px, 3x3 at 32px
    z_dist: str = "uniform"  # paper: uniform in [-1, 1]; pytorch/examples: normal
    # How z reaches 4x4: "linear" = the paper's matrix multiply + reshape (BN per unit, as in
    # the authors' code); "conv" = pytorch/examples' 4x4 transposed conv on a 1x1 z.
    g_project: str = "linear"
    # How D ends: "linear" = the paper's flatten + single output; "conv" = examples' 4x4 conv.
    d_output: str = "linear"
    # Explicit layer lists (out_channels, stride) after the projection (G) / from the input (D).
    # Empty = derived from ngf/ndf: a stride-2 layer per doubling, widths halving towards pixels.
    g_layers: tuple[tuple[int, int], ...] = ()
    d_layers: tuple[tuple[int, int], ...] = ()
    g_start_channels: int = 0  # channels at 4x4 when g_layers is explicit
    # D conv layers built, from the input (0: all). Fewer = a truncated D: the first d_depth
    # layers of the architecture above and no output layer, a feature extractor only.
    d_depth: int = 0
    bn_eps: float = 1e-5  # deviation: authors 1e-8 (see deviations page)
    leaky_slope: float = 0.2  # paper §3: LeakyReLU slope 0.2
    init_std: float = 0.02  # paper §4: N(0, 0.02)

    def __post_init__(self) -> None:
        if self.image_size not in SUPPORTED_IMAGE_SIZES:
            raise ConfigError(
                f"image_size={self.image_size} is not supported; use one of "
                f"{SUPPORTED_IMAGE_SIZES} (the generator doubles from 4x4)."
            )
        if self.z_dist not in ("uniform", "normal"):
            raise ConfigError(f"z_dist must be 'uniform' or 'normal', not {self.z_dist!r}")
        if self.g_project not in ("linear", "conv") or self.d_output not in ("linear", "conv"):
            raise ConfigError("g_project and d_output must each be 'linear' or 'conv'")
        if self.kernel_size not in (3, 4, 5):
            raise ConfigError(f"kernel_size must be 3, 4 or 5, not {self.kernel_size}")
        for what, value in (("nz", self.nz), ("ngf", self.ngf), ("ndf", self.ndf), ("nc", self.nc)):
            if value < 1:
                raise ConfigError(f"{what} must be positive, got {value}")
        for layers in (self.g_layers, self.d_layers):
            n_down = sum(1 for _, s in layers if s == 2)
            if layers and 4 * 2**n_down != self.image_size:
                raise ConfigError(
                    f"explicit layers {layers} have {n_down} stride-2 layers, which does not "
                    f"map 4x4 to {self.image_size}x{self.image_size}"
                )
        if self.g_layers and self.g_layers[-1][0] != self.nc:
            raise ConfigError("the last generator layer must output nc channels")
        n_d = len(self.d_layers) if self.d_layers else self.n_doublings
        if not 0 <= self.d_depth <= n_d:
            raise ConfigError(f"d_depth must be between 0 (all) and {n_d}, not {self.d_depth}")

    @property
    def n_doublings(self) -> int:
        return int(math.log2(self.image_size // 4))

    def generator_layers(self) -> tuple[int, tuple[tuple[int, int], ...]]:
        """(channels at 4x4, [(out_channels, stride), ...]) of G's conv stack."""
        if self.g_layers:
            return self.g_start_channels, self.g_layers
        n = self.n_doublings
        widths = [self.ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 512, 256, 128, 64
        layers = [(w, 2) for w in widths[1:]] + [(self.nc, 2)]
        return widths[0], tuple(layers)

    def discriminator_layers(self) -> tuple[tuple[int, int], ...]:
        """[(out_channels, stride), ...] of D's conv stack as built, from pixels to 4x4 (to the
        ``d_depth``-th layer for a truncated D)."""
        layers = self.d_layers or tuple((self.ndf * 2**i, 2) for i in range(self.n_doublings))
        return layers[: self.d_depth] if self.d_depth else layers

    @property
    def d_truncated(self) -> bool:
        """Whether D stops before its last conv layer (no output layer: features only)."""
        n_d = len(self.d_layers) if self.d_layers else self.n_doublings
        return 0 < self.d_depth < n_d


_PAPER = dict(nz=100, kernel_size=5, z_dist="uniform", g_project="linear", d_output="linear")

MODEL_CONFIGS: dict[str, ModelConfig] = {
    "paper64": ModelConfig(name="paper64", image_size=64, ngf=128, ndf=128, **_PAPER),
    "dcgan64": ModelConfig(name="dcgan64", image_size=64, ngf=64, ndf=64, **_PAPER),
    "imagenet32": ModelConfig(
        name="imagenet32",
        image_size=32,
        nz=256,  # authors' ImageNet-32 model: 256-d uniform z
        kernel_size=3,
        z_dist="uniform",
        g_project="linear",
        d_output="linear",
        ngf=128,
        ndf=128,
        g_start_channels=512,  # authors: ngf*4 at 4x4
        # G: mirrored from D (the authors' file has 6 deconvs, strides 2,1,2,1,2,1).
        g_layers=((256, 2), (256, 1), (128, 2), (128, 1), (128, 2), (3, 1)),
        # D: authors' channels and strides (maps 32, 16, 16, 8, 8, 4).
        d_layers=((128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2)),
    ),
    "examples64": ModelConfig(
        name="examples64",
        image_size=64,
        nz=100,
        ngf=64,
        ndf=64,
        kernel_size=4,
        z_dist="normal",
        g_project="conv",
        d_output="conv",
    ),
    # the authors' SVHN DCGAN (Newmu/dcgan_code, models/svhn_unsup_all_conv_dcgan_100z_gaussian_
    # lr_0.0005_64mb): z 100-d Gaussian, dense 100 -> 256x4x4, deconvs 128, 64, 3 (5x5, stride 2);
    # D convs 64, 128, 256 (5x5, stride 2, padding 2), flatten -> 1 output; no conv biases
    "authors_svhn32": ModelConfig(
        name="authors_svhn32",
        image_size=32,
        nz=100,
        ngf=64,
        ndf=64,
        kernel_size=5,
        z_dist="normal",
        g_project="linear",
        d_output="linear",
        bn_eps=1e-8,  # authors' batchnorm(..., e=1e-8)
    ),
    # the authors' ImageNet-32 D, the model of the paper (models/imagenet_gan_pretrain_128f_relu_
    # lrelu_7l_3x3_256z), its conv layers 1-4 of 6: the public copy has no w5, w6
    "authors_imagenet32": ModelConfig(
        name="authors_imagenet32",
        image_size=32,
        nz=256,  # authors' ImageNet-32 model: 256-d uniform z (its G is not available)
        kernel_size=3,
        z_dist="uniform",
        g_project="linear",
        d_output="linear",
        ngf=128,
        ndf=128,
        g_start_channels=512,
        g_layers=((256, 2), (256, 1), (128, 2), (128, 1), (128, 2), (3, 1)),
        d_layers=((128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2)),
        d_depth=4,
        bn_eps=1e-8,
    ),
    "smoke32": ModelConfig(name="smoke32", image_size=32, ngf=8, ndf=8, **(_PAPER | {"nz": 16})),
    "smoke64": ModelConfig(name="smoke64", image_size=64, ngf=8, ndf=8, **(_PAPER | {"nz": 16})),
}


def get_model_config(name: str, **overrides: object) -> ModelConfig:
    """A named config, optionally with fields replaced (``image_size=128``)."""
    if name not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model config {name!r}; choose one of {sorted(MODEL_CONFIGS)}")
    return dataclasses.replace(MODEL_CONFIGS[name], **overrides)  # type: ignore[arg-type]


# What a resumed run keeps: the settings that define the run (its data, its model, the algorithm
# and its randomness). A resume that asks for another value is refused: it would train another run
# under the first one's name. "model" stands for every ModelConfig field (image size, z
# distribution, widths, ...). The FID settings define which FID picks best.pt, so they stay too.
RESUME_KEEPS = (
    "model",
    "data",
    "split",
    "limit",
    "keep_list",
    "batch_size",
    "lr",
    "beta1",
    "beta2",
    "seed",
    "n_samples",
    "sync_bn",
    "fid_n",
    "fid_data",
    "fid_split",
    "fid_selection",
    "fid_network",
    "fid_limit",
)
# What a resume may change (how long, how often to log, where the data and cache live, which
# engine and device run it, compiled or not); each change is recorded in run.json and the metrics. ``device`` and
# ``engine`` are recorded as what they resolve to (``auto`` -> cuda / fast, ...). ``out`` is the run.
RESUME_MAY_CHANGE = (
    "epochs",
    "max_minutes",
    "max_steps",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "sample_epochs",
    "fid_every",
    "data_root",
    "cache_dir",
    "deterministic",
    "device",
    "engine",
    "compile",
)


@dataclass
class TrainConfig:
    """One training run. Defaults are the paper's §4 settings."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: str = "celeba"  # dataset name, see dcgan_lib.datasets.DATASETS
    data_root: str | None = None  # default: $DCGAN_DATA
    split: str = "train"
    out: str = "runs/dcgan64-celeba"
    epochs: int = 25  # authors' faces script: 25
    batch_size: int = 128  # paper §4: minibatch 128
    lr: float = 2e-4  # paper §4: Adam lr 0.0002
    beta1: float = 0.5  # paper §4: beta1 0.5
    beta2: float = 0.999  # Adam default (paper silent)
    seed: int = 1
    max_minutes: float | None = None  # time budget: checkpoint and stop cleanly
    max_steps: int | None = None  # stop after this many iterations (tests, smoke)
    log_every: int = 50  # metrics line every N steps
    sample_every: int = 500  # fixed-z sample grid every N steps
    checkpoint_every: int = 500  # full-state checkpoint every N steps
    sample_epochs: tuple[int, ...] = (1, 5)  # paper Figs. 2-3: after 1 and 5 epochs
    n_samples: int = 64  # fixed-z grid size
    limit: int | None = None  # use only the first N images (smoke runs)
    keep_list: str | None = None  # file of image names to keep (de-duplication)
    # FID/KID during training (book/fid_protocol.md): every fid_every steps, fid_n samples against
    # fid_n images of the reference split; the best-FID weights are kept in best.pt
    fid_every: int | None = None
    fid_n: int = 10_000
    fid_data: str | None = None  # reference dataset; default: the training dataset
    fid_split: str | None = None  # reference split; default: the training split
    # True: that FID (and so best.pt) uses the selection half of the reference split, never the
    # images of its reporting half (dcgan_lib.metrics.reference_indices)
    fid_selection: bool = False
    fid_network: str = "inception"  # "tiny": a stand-in feature net (tests, smoke runs)
    fid_limit: int | None = None  # the reference: its first N images only (smoke runs)
    cache_dir: str | None = None  # packed-uint8 cache; default $DCGAN_CACHE or ~/.cache
    device: str = "auto"  # "auto" = cuda if available, else cpu
    deterministic: bool = False  # torch.use_deterministic_algorithms (CPU exact resume)
    # "auto" = the fast engine on CUDA (GPU-resident data, bf16 autocast, channels_last, fused
    # Adam, one CUDA graph per iteration), the eager fp32 engine elsewhere; or "eager" / "fast"
    engine: str = "auto"
    compile: bool = False  # fast engine: torch.compile G and D inside the step (dcgan_lib.engine)
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2 (BatchNorm needs a batch)")
        if self.epochs < 1:
            raise ConfigError("epochs must be at least 1")
        if self.lr <= 0 or not 0 <= self.beta1 < 1 or not 0 <= self.beta2 < 1:
            raise ConfigError("lr must be > 0 and 0 <= beta1, beta2 < 1")
        if self.fid_every is not None and (self.fid_every < 1 or self.fid_n < 2):
            raise ConfigError("fid_every must be at least 1 and fid_n at least 2")
        if self.engine not in ("auto", "eager", "fast"):
            raise ConfigError(f"engine must be 'auto', 'eager' or 'fast', not {self.engine!r}")
        for what in ("log_every", "sample_every", "checkpoint_every"):
            if getattr(self, what) < 1:
                raise ConfigError(f"{what} must be at least 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resume_conflicts(self, saved: TrainConfig) -> list[str]:
        """How this config differs from a run's ``saved`` one in a setting it must keep
        (``RESUME_KEEPS``), one "field: run value, asked value" entry each; model fields are
        named ``model.<field>``. Empty when this config may resume that run."""
        pairs = [
            (f"model.{f.name}", getattr(saved.model, f.name), getattr(self.model, f.name))
            for f in dataclasses.fields(ModelConfig)
        ]
        pairs += [
            (name, getattr(saved, name), getattr(self, name))
            for name in RESUME_KEEPS
            if name != "model"
        ]
        return [f"{name}: the run has {a!r}, asked {b!r}" for name, a, b in pairs if a != b]

    def resume_changes(self, saved: TrainConfig) -> dict[str, dict]:
        """The settings a resume may change (``RESUME_MAY_CHANGE``) that this config changes,
        as {field: {"from": run value, "to": new value}}; ``device`` and ``engine`` are left to
        ``train``, which records what they resolve to."""
        return {
            name: {"from": getattr(saved, name), "to": getattr(self, name)}
            for name in RESUME_MAY_CHANGE
            if name not in ("device", "engine") and getattr(saved, name) != getattr(self, name)
        }

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        model = d.pop("model")
        model = ModelConfig(
            **{
                k: (tuple(tuple(x) for x in v) if k in ("g_layers", "d_layers") else v)
                for k, v in model.items()
            }
        )
        d["sample_epochs"] = tuple(d.get("sample_epochs", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown training config fields {sorted(unknown)}")
        return cls(model=model, **d)
