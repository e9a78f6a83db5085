"""The training loop (paper §4): one entry point for the CLI, the notebooks and the tests.

``train(cfg)`` runs the paper's algorithm (``dcgan_lib.step.train_step``: one D update, then one
G update, Adam 2e-4, beta1 0.5, minibatch 128) epoch after epoch over the cached images, with
an engine of ``dcgan_lib.engine`` (``eager`` fp32, or ``fast`` on CUDA).

A run folder holds everything: ``checkpoint.pt`` (the full state, written atomically),
``metrics.jsonl`` (one JSON line every ``log_every`` steps), ``samples/`` (grids from a fixed z,
and after every epoch a frame of it, joined into ``samples/epochs.png``: ``dcgan_lib.strip``),
``run.json`` (config and status) and ``skipped_images.txt`` when the data had unreadable files.
Running the same command again resumes exactly where the last checkpoint left off. A resume keeps
the settings that define the run (``config.RESUME_KEEPS``: model, data, batch size, lr, betas,
seed, ...) and the same images, or is refused; the settings it may change (``RESUME_MAY_CHANGE``:
epochs, time budget, engine, ...) are recorded in ``run.json`` and the next metrics line
(``dcgan_lib.checkpoint``). A refused start leaves no run folder behind. Under ``torchrun`` the
run is data-parallel (``dcgan_lib.distributed``): the global batch stays 128, rank 0 alone writes.

Reading order: ``train`` claims the folder; ``_Run.__init__`` builds the nets, resumes from the
checkpoint and opens the data; ``_Run.run`` trains (``_train_epochs``: one ``runner.step`` per
iteration, then the log line, the sample grids, the FID and the checkpoint on their cadences)
and stops cleanly at the end, at ``max_steps``, at the time budget, or on SIGINT/SIGTERM. About
600 lines: the loop with what only it uses (the training-time FID, ``_FidTracker``; the command).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib import checkpoint, distributed, strip
from dcgan_lib import metrics as M
from dcgan_lib.config import TrainConfig, get_model_config
from dcgan_lib.data import Packed, epoch_order, load_dataset, training_images
from dcgan_lib.datasets import DataError
from dcgan_lib.device import device_label, resolve_device
from dcgan_lib.engine import EagerRunner, FastOptions, FastRunner, build_nets, resolve_engine
from dcgan_lib.models import Discriminator, Generator, generate, sample_z
from dcgan_lib.step import STAT_NAMES
from dcgan_lib.storage import append_jsonl, atomic_write, read_jsonl

# Sample diversity (mean per-pixel std over the fixed-z grid, in [-1, 1] units) below which a
# collapse warning is logged; real CelebA / CIFAR-10 / Tiny ImageNet batches measure about 0.5.
# Not before step 100: an untrained G sampled with its initial running statistics measures ~0.002.
COLLAPSE_DIVERSITY = 0.05
COLLAPSE_MIN_STEP = 100


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/Inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    out: Path
    step: int
    epoch: int
    status: str  # "done", "time budget", "max steps", "interrupted"


def train(cfg: TrainConfig, data: Packed | None = None, progress: bool = True) -> TrainResult:
    """Train (or resume) the run in ``cfg.out``. Paper: §4.

    Stops cleanly, with a checkpoint, at the end of the last epoch, at ``max_steps``, when
    ``max_minutes`` run out, or on SIGINT/SIGTERM; run the same call again to resume. Launched by
    ``torchrun`` (``WORLD_SIZE`` > 1), every rank calls this and trains its slice of each batch;
    only rank 0 writes, and a stop takes effect on every rank at the next log step.
    """
    dist, device_name = distributed.from_env(cfg.device)
    try:
        device = resolve_device(device_name)
        dist.check_batch(cfg.batch_size)
        with checkpoint.run_folder(Path(cfg.out), dist), _deterministic(cfg.deterministic):
            return _Run(cfg, device, dist, data, progress).run()
    finally:
        dist.shutdown()


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    """torch's deterministic algorithms during the run when ``on`` (or already on), as before after."""
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on or was)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


class _Run:
    """One training run in its folder: G, D and their optimizers, where the run stands (step,
    epoch, batch of the epoch ``it``, best FID), its images, its engine and its files."""

    def __init__(
        self,
        cfg: TrainConfig,
        device: torch.device,
        dist: distributed.Dist,
        data: Packed | None,
        progress: bool,
    ) -> None:
        self.started = time.monotonic()
        self.cfg, self.device, self.dist = cfg, device, dist
        self.main = dist.is_main  # rank 0 alone writes files
        self.progress = progress and self.main
        self.out = Path(cfg.out)
        self.ckpt_path = self.out / "checkpoint.pt"
        engine = resolve_engine(cfg.engine, device)
        self.G, self.D, self.opt_g, self.opt_d, options = build_nets(cfg, engine, device, dist)
        self.z_rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        self.fixed_z = sample_z(
            cfg.n_samples, cfg.model, torch.Generator().manual_seed(cfg.seed + 2)
        )
        self.step, self.epoch, self.it = 0, 0, 0
        self.best_fid = math.inf
        self.ran_on = {
            "engine": engine,
            "device": device_label(device),
            "world_size": dist.world_size,
        }
        # settings changed by resumes: every one in run.json ("resumes"); those not yet in a metrics
        # line wait in the checkpoint and go into the next line logged (its "resumed" field)
        self.history: list[dict] = []
        self.notes_to_log: list[dict] = []
        self.changed: dict[str, dict] = {}
        self.resumed = self.ckpt_path.exists()
        saved_images = self._resume() if self.resumed else None

        self._open_data(data, saved_images)
        if self.main:
            self._forget_logs_after_checkpoint()
        self.runner = self._make_runner(options)
        self.run_info = self._run_info(engine)
        self._write_run_info()
        self.fid = (
            _FidTracker(cfg, self.out, device, self.progress)
            if cfg.fid_every and self.main
            else None
        )

    def _resume(self) -> dict | None:
        """Continue from the folder's checkpoint: its weights, optimizers, z stream, position
        and history; refused if the settings differ in one the run keeps. Returns the identity
        of the images it was trained on (checked once the data is open)."""
        ckpt = checkpoint.load_checkpoint(self.ckpt_path)
        self.changed = checkpoint.check_resume(self.cfg, ckpt, self.ckpt_path, self.ran_on)
        checkpoint.restore(ckpt, self.G, self.D, self.opt_g, self.opt_d, self.z_rng, self.cfg.seed)
        self.step, self.epoch, self.it = ckpt["step"], ckpt["epoch"], ckpt["it"]
        self.best_fid = ckpt.get("best_fid", math.inf)
        self.history = list(ckpt.get("history", []))
        self.notes_to_log = list(ckpt.get("notes_to_log", []))
        if self.changed:
            note = {"step": self.step, "changed": self.changed}
            self.history.append(note)
            self.notes_to_log.append(note)
        return ckpt.get("data")

    def _open_data(self, data: Packed | None, saved_images: dict | None) -> None:
        """The run's images (the same ones as before a resume) and its length in steps."""
        cfg = self.cfg
        self.data = training_images(cfg, data, self.progress)
        self.data_id = checkpoint.data_identity(self.data)
        checkpoint.check_same_images(saved_images, self.data_id, self.ckpt_path)
        self.start_step = self.step
        self.steps_per_epoch = len(self.data) // cfg.batch_size  # drop_last: full batches only
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)

    def _make_runner(self, options: FastOptions | None) -> EagerRunner | FastRunner:
        """The engine's runner over the run's images (``options`` None: the eager engine)."""
        nets = (self.G, self.D, self.opt_g, self.opt_d)
        cfg, device, z_rng, dist = self.cfg, self.device, self.z_rng, self.dist
        if options is None:
            return EagerRunner(*nets, cfg, self.data, device, z_rng, dist)
        return FastRunner(*nets, cfg, self.data.images, device, z_rng, options, dist)

    def _forget_logs_after_checkpoint(self) -> None:
        """Lines logged after the checkpoint (or, with none, by a run killed before its first
        one) are dropped: those steps are redone and logged again. Also lists skipped files."""
        for name in ("metrics.jsonl", "diagnostics.jsonl", "fid.jsonl"):
            checkpoint.drop_lines_after(self.out / name, self.step)
        strip.drop_frames_after(self.out / "samples", self.epoch)  # those epochs come again
        if self.data.skipped:
            (self.out / "skipped_images.txt").write_text(
                "".join(f"{name}\t{why}\n" for name, why in self.data.skipped)
            )

    def _run_info(self, engine: str) -> dict:
        device = self.device
        return {
            "config": self.cfg.to_dict(),
            "data": {k: v for k, v in self.data.meta.items() if k != "skipped"},
            "n_images": len(self.data),
            "steps_per_epoch": self.steps_per_epoch,
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "engine": engine,
            "engine_options": self.runner.options,
            "world_size": self.dist.world_size,
            "status": "running",
            "torch": torch.__version__,
            "resumes": self.history,  # each resume that changed a setting: {"step", "changed"}
        }

    def _write_run_info(self) -> None:
        if self.main:
            blob = json.dumps(self.run_info, indent=1).encode()
            atomic_write(self.out / "run.json", lambda f: f.write(blob))

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train from where the run stands to its end or a stop, then checkpoint and report."""
        status = "done"
        self.window_steps, self.window_t0 = 0, time.perf_counter()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=f"train {self.cfg.model.name}",
            unit="step",
            disable=not self.progress,
        )
        with _StopSignals() as stop:
            try:
                status = self._train_epochs(bar, stop)
                full = self.cfg.epochs * self.steps_per_epoch
                if status == "done" and self.total_steps <= self.step < full:
                    status = "max steps"
                if self.step > self.start_step or not self.resumed or self.changed:
                    self.save_checkpoint()  # else the checkpoint holds this state already
                self.save_samples("final")
                self.save_strip()
            except TrainingDiverged:
                status = "diverged"
                raise
            finally:
                self.runner.close()
                bar.close()
                self.run_info.update(status=status, step=self.step, epoch=self.epoch)
                self._write_run_info()
        return TrainResult(self.out, self.step, self.epoch, status)

    def _train_epochs(self, bar: tqdm, stop: _StopSignals) -> str:
        """Epoch after epoch up to the last step: "done", or the reason the run stopped early."""
        cfg = self.cfg
        while self.step < self.total_steps:
            self.runner.set_epoch(epoch_order(len(self.data), self.epoch, cfg.seed))
            while self.it < self.steps_per_epoch and self.step < self.total_steps:
                self.runner.step(self.it)  # stats stay on the device: no host sync per step
                self.window_steps += 1
                self.step, self.it = self.step + 1, self.it + 1
                bar.update(1)
                logged = self.step % cfg.log_every == 0 or self.step == self.total_steps
                if logged:
                    self._log(bar)
                self._on_cadence()
                reason = self._stop_reason(stop, logged)
                if reason:
                    return reason
            if self.it >= self.steps_per_epoch:  # an epoch is complete
                self.epoch, self.it = self.epoch + 1, 0
                self.save_frame()  # the fixed z after every epoch: the run's strip
                if self.epoch in cfg.sample_epochs:
                    self.save_samples(f"epoch_{self.epoch:03d}")
        return "done"

    def _log(self, bar: tqdm) -> None:
        """The window's mean stats (one host sync) as a metrics line; NaN or Inf stops the run."""
        mean, bad = self.runner.read_window()
        elapsed = time.perf_counter() - self.window_t0
        if bad >= 0:
            raise TrainingDiverged(
                f"a loss became NaN or Inf at step {self.step - self.window_steps + bad}; "
                f"stopped at step {self.step}. The last good checkpoint ({self.ckpt_path}) is "
                "kept; lower --lr, check the data, or resume from it with another seed."
            )
        row = {
            "step": self.step,
            "epoch": self.epoch + self.it / self.steps_per_epoch,
            **dict(zip(STAT_NAMES, mean, strict=True)),
            "img_per_s": self.window_steps * self.cfg.batch_size / max(elapsed, 1e-9),
            "time": time.monotonic() - self.started,
        }
        if self.notes_to_log:  # settings changed by the resume(s) before this line
            row["resumed"] = self.notes_to_log
            self.notes_to_log = []
        if self.main:
            append_jsonl(self.out / "metrics.jsonl", row)
        bar.set_postfix(loss_d=f"{mean[0]:.3f}", loss_g=f"{mean[1]:.3f}")
        self.window_steps, self.window_t0 = 0, time.perf_counter()

    def _on_cadence(self) -> None:
        """The sample grid, the FID and the checkpoint that are due at this step."""
        cfg, step = self.cfg, self.step
        if step % cfg.sample_every == 0:
            self.save_samples(f"step_{step:07d}")
        if cfg.fid_every and step % cfg.fid_every == 0:
            self.sync_buffers()
            if self.fid is not None:
                self.best_fid = self.fid.evaluate(self.G, self.D, step, self.best_fid)
        if step % cfg.checkpoint_every == 0:
            self.save_checkpoint()

    def _stop_reason(self, stop: _StopSignals, logged: bool) -> str | None:
        """ "interrupted" after a signal, "time budget" past ``max_minutes``, else None."""
        budget = self.cfg.max_minutes
        over_time = budget is not None and time.monotonic() - self.started > budget * 60
        reason = "interrupted" if stop.signal else "time budget" if over_time else None
        if self.dist.enabled:  # the ranks agree on stopping, at log steps only
            reason = self.dist.agree_stop(reason) if logged else None
        return reason

    # -- what the run writes ----------------------------------------------------------------

    def sync_buffers(self) -> None:
        """Without SyncBN each rank's BatchNorm running statistics differ: samples and
        checkpoints use their average (a collective: every rank calls this at the same steps)."""
        if self.dist.enabled and not self.cfg.sync_bn:
            self.dist.average_buffers(self.G)
            self.dist.average_buffers(self.D)

    def save_checkpoint(self) -> None:
        """The full state, atomically; non-finite weights stop the run and keep the last one."""
        self.sync_buffers()
        if not checkpoint.weights_finite(self.G, self.D):
            raise TrainingDiverged(
                f"non-finite weights at step {self.step}; kept the last good checkpoint "
                f"{self.ckpt_path}"
            )
        if not self.main:
            return
        state = {
            "config": self.cfg.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "it": self.it,
            "z_rng": self.z_rng.get_state(),
            "fixed_z": self.fixed_z,
            "best_fid": self.best_fid,
            **self.ran_on,  # engine, device, world_size
            "data": self.data_id,
            "history": self.history,
            "notes_to_log": self.notes_to_log,
        }
        checkpoint.save_checkpoint(self.ckpt_path, state)

    def save_frame(self) -> None:
        """The frame of the epoch just completed: the first samples of the fixed z, as
        ``samples/frames/epoch_NNNN.png`` (``dcgan_lib.strip``). Paper: §4."""
        self.sync_buffers()
        if self.main:
            strip.write_frame(self.out / "samples", self.epoch, self.step,
                              generate(self.G, self.fixed_z))  # fmt: skip

    def save_strip(self) -> None:
        """The run's frames joined into one strip, ``samples/epochs.png`` (at every stop)."""
        if not self.main:
            return
        run_strip = strip.strip_of_run(self.out, image_size=self.cfg.model.image_size)
        if run_strip is not None:
            strip.write_strip(self.out / "samples" / strip.STRIP_NAME, run_strip)

    def save_samples(self, name: str) -> None:
        """The fixed-z grid ``samples/<name>.png`` and its line in diagnostics.jsonl (with the
        samples' diversity; a collapse warning when it is too low)."""
        import torchvision.utils as vutils  # heavy: imported when a grid is drawn

        self.sync_buffers()
        diag_path = self.out / "diagnostics.jsonl"
        if not self.main or _samples_logged(diag_path, self.step, name):
            return  # written before (a finished run started again): once is enough
        x = generate(self.G, self.fixed_z)
        grid = vutils.make_grid(
            x, nrow=int(math.sqrt(len(x))) or 1, normalize=True, value_range=(-1, 1)
        )
        atomic_write(
            self.out / "samples" / f"{name}.png",
            lambda f: vutils.save_image(grid, f, format="png"),
        )
        diversity = sample_diversity(x)
        collapse = diversity < COLLAPSE_DIVERSITY and self.step >= COLLAPSE_MIN_STEP
        diag = {
            "step": self.step,
            "samples": name,
            "sample_diversity": diversity,
            "collapse_warning": collapse,
        }
        append_jsonl(diag_path, diag)  # after the grid: a line means its grid is written
        if collapse:
            warnings.warn(
                f"possible mode collapse at step {self.step}: samples from the fixed z have "
                f"diversity {diversity:.4f} < {COLLAPSE_DIVERSITY} (see {diag_path})",
                stacklevel=2,
            )


class _StopSignals:
    """While active, SIGINT and SIGTERM are noted instead of raised: the run checkpoints at the
    next step boundary, then exits (in the main thread only; elsewhere signals are untouched)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.saved: dict = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self.saved[s] = signal.signal(s, self._note)
        return self

    def _note(self, signum: int, _frame: object) -> None:
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.saved.items():
            signal.signal(s, handler)


def _samples_logged(diag_path: Path, step: int, name: str) -> bool:
    """Whether diagnostics.jsonl already has the line of grid ``name`` at ``step``."""
    return diag_path.exists() and any(
        r.get("step") == step and r.get("samples") == name for r in read_jsonl(diag_path)
    )


def sample_diversity(x: torch.Tensor) -> float:
    """Mean over pixels of the std across samples: about 0 when every z gives the same image."""
    return float(x.float().flatten(1).std(0).mean()) if len(x) > 1 else 0.0


class _FidTracker:
    """FID/KID of G during training (``book/fid_protocol.md``): reference statistics computed
    once and stored in the run folder, a line in fid.jsonl per evaluation, the best weights in
    best.pt.

    With ``cfg.fid_selection`` the reference is the selection half of the split
    (``metrics.reference_indices(..., "select")``): best.pt is then chosen on images that the
    reported FIDs of the reporting half never see."""

    def __init__(self, cfg: TrainConfig, out: Path, device: torch.device, progress: bool) -> None:
        self.cfg, self.out, self.device, self.progress = cfg, out, device, progress
        part = "select" if cfg.fid_selection else "all"
        self.net = M.feature_network(cfg.fid_network).to(device)
        ref_path = out / "fid_reference.pt"
        if ref_path.exists():
            saved = torch.load(ref_path, map_location="cpu", weights_only=True)
            same = (saved.get("part", "all"), saved.get("network", "inception")) == (
                part,
                cfg.fid_network,
            )
            if same and "sum" in saved:  # files from before the statistics were stored: redo
                self.n, self.protocol = len(saved["features"]), saved["protocol"]
                self.images = saved.get("reference_images")
                self.real = M.ReferenceStats(saved["features"], saved["sum"], saved["cov_sum"])
                return
        self._compute_reference(part, ref_path)

    def _compute_reference(self, part: str, ref_path: Path) -> None:
        cfg, progress = self.cfg, self.progress
        data, split = cfg.fid_data or cfg.data, cfg.fid_split or cfg.split
        ref = load_dataset(
            data, cfg.data_root, split, cfg.model.image_size, cfg.cache_dir, cfg.fid_limit,
            progress=progress,
        )  # fmt: skip
        idx = M.reference_indices(len(ref), cfg.fid_n, part)
        if part == "all" and len(ref) < cfg.fid_n:
            raise DataError(
                f"the FID reference {data}/{split} has {len(ref)} images, fewer than fid_n={cfg.fid_n}"
            )
        self.n = len(idx)
        self.protocol = M.protocol_name(self.n, M.reference_name(data, split, part))
        self.images = M.reference_description(len(ref), self.n, part)
        feats = M.inception_features(ref.images[idx], self.net, self.device, progress=progress)
        self.real = M.ReferenceStats.from_features(feats, self.device)
        blob = {
            "protocol": self.protocol,
            "reference_images": self.images,
            "part": part,
            "network": cfg.fid_network,
            "features": self.real.features,
            "sum": self.real.sum,
            "cov_sum": self.real.cov_sum,
        }
        atomic_write(ref_path, lambda f: torch.save(blob, f))

    def evaluate(self, G: Generator, D: Discriminator, step: int, best: float) -> float:
        """One FID/KID of G now, logged; a new best is kept in best.pt. Returns the best FID."""
        fake = M.generator_features(
            G, self.n, seed=self.cfg.seed + 3, net=self.net, device=self.device, progress=False
        )
        row = {
            "step": step,
            "protocol": self.protocol,
            "reference_images": self.images,
            "sampling": "BatchNorm eval mode (running statistics)",
            **M.fid_kid(self.real, fake, device=self.device),
        }
        row["best"] = row["fid"] < best
        append_jsonl(self.out / "fid.jsonl", row)
        tqdm.write(
            f"step {step}: {self.protocol} = {row['fid']:.2f}" + (" (best)" if row["best"] else "")
        )
        if not row["best"]:
            return best
        state = {
            "config": self.cfg.to_dict(),
            "G": G.state_dict(),
            "D": D.state_dict(),
            "step": step,
            "fid": row["fid"],
            "protocol": self.protocol,
        }
        checkpoint.save_checkpoint(self.out / "best.pt", state)
        return row["fid"]


# ---------------------------------------------------------------------------------------------
# The command line: `train`


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of parsed ``train`` arguments: every field that has a flag, and the
    named model config (with ``--image-size``)."""
    overrides = {"image_size": a.image_size} if a.image_size else {}
    given = {
        f.name: getattr(a, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name != "model" and hasattr(a, f.name)
    }
    return TrainConfig(model=get_model_config(a.config, **overrides), **given)


def run_cli(a: argparse.Namespace) -> int:
    result = train(config_from_args(a), progress=not a.no_progress)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports
    print(f"{result.status}: step {result.step}, epoch {result.epoch}, run folder {result.out}")
    if result.status in ("time budget", "interrupted"):
        print("resume with the same command")
    return 0
