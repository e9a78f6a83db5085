"""The purely supervised baseline of paper §5.2: D's architecture trained on the labels alone.

Paper §5.2: "we validate that the CNN architecture used in DCGAN is not the key contributing
factor of the model's performance by training a purely supervised CNN with the same architecture
on the same data and optimizing this model via random search over 64 hyperparameter trials
(Bergstra & Bengio, 2012). It achieves a signficantly higher 28.87% validation error." (sic)

The paper gives neither the search space nor the training details; ``SEARCH_SPACE`` is this
project's choice (each trial draws every field independently), see the deviations page:

- ``lr``: Adam learning rate, log-uniform in [1e-4, 3e-3] (the GAN's 2e-4 lies inside);
- ``beta1``: Adam's first moment, one of 0.5 (the GAN's) and 0.9 (Adam's default);
- ``weight_decay``: L2 penalty (Adam's coupled form), log-uniform in [1e-6, 1e-2];
- ``dropout``: dropout rate before the 10-way linear head, uniform in [0, 0.6];
- ``epochs``: passes over the labelled draw, one of 20, 50, 100, 200;
- ``batch_size``: one of 32, 64, 128.

The network is D's conv stack (same layers, BatchNorm and LeakyReLU, the DCGAN init) with its
single-output head replaced by dropout + a linear layer to the classes. No augmentation.
The trial with the lowest validation error wins; its validation error is the paper's number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.config import ModelConfig
from dcgan_lib.data import to_float
from dcgan_lib.models import Discriminator, eval_mode, init_weights

SEARCH_SPACE = {
    "lr": ("log-uniform", 1e-4, 3e-3),
    "beta1": ("choice", 0.5, 0.9),
    "weight_decay": ("log-uniform", 1e-6, 1e-2),
    "dropout": ("uniform", 0.0, 0.6),
    "epochs": ("choice", 20, 50, 100, 200),
    "batch_size": ("choice", 32, 64, 128),
}


@dataclass(frozen=True)
class Hyperparameters:
    lr: float
    beta1: float
    weight_decay: float
    dropout: float
    epochs: int
    batch_size: int


def sample_hyperparameters(rng: np.random.Generator, space: dict = SEARCH_SPACE) -> Hyperparameters:
    """One random-search trial: every field drawn independently from ``space``."""
    values = {}
    for name, (kind, *args) in space.items():
        if kind == "log-uniform":
            values[name] = float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
        elif kind == "uniform":
            values[name] = float(rng.uniform(args[0], args[1]))
        elif kind == "choice":
            values[name] = args[int(rng.integers(len(args)))]
        else:
            raise ValueError(f"unknown distribution {kind!r} for {name}")
    return Hyperparameters(**values)


class SupervisedD(nn.Module):
    """D's conv stack + dropout + a linear classifier: images (B, nc, S, S) -> logits (B, K)."""

    def __init__(self, cfg: ModelConfig, n_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        self.blocks = Discriminator(cfg).blocks  # same layers, BN, LeakyReLU and init as D
        c_last = cfg.discriminator_layers()[-1][0]
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_last * 16, n_classes)
        )  # (c_last * 4 * 4) -> K
        init_weights(self.head, cfg.init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@torch.no_grad()
def predict(
    model: nn.Module, images_uint8: np.ndarray, device, batch_size: int = 512
) -> np.ndarray:
    """Class predictions (N,) with BatchNorm's running statistics (eval mode)."""
    out = []
    with eval_mode(model):
        for s in range(0, len(images_uint8), batch_size):
            x = to_float(torch.from_numpy(np.array(images_uint8[s : s + batch_size])).to(device))
            out.append(model(x).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def train_supervised(
    cfg: ModelConfig,
    hp: Hyperparameters,
    x_train: np.ndarray,
    y_train: np.ndarray,
    seed: int = 0,
    device: str | torch.device = "cpu",
    max_steps: int | None = None,
) -> SupervisedD:
    """Train ``SupervisedD`` on uint8 images (N, S, S, 3) and labels (N,) with ``hp``. Paper: §5.2."""
    device = torch.device(device)
    n_classes = int(np.max(y_train)) + 1
    with torch.random.fork_rng(devices=[]):  # no change to the caller's global RNG
        torch.manual_seed(seed)
        model = SupervisedD(cfg, n_classes, hp.dropout).to(device)
    opt = torch.optim.Adam(
        model.parameters(), hp.lr, betas=(hp.beta1, 0.999), weight_decay=hp.weight_decay
    )
    x_all = torch.from_numpy(np.asarray(x_train)).to(device)
    y_all = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(device)
    g = torch.Generator().manual_seed(seed)
    n, step = len(x_all), 0
    batch = min(hp.batch_size, n)
    model.train()
    for _ in range(hp.epochs):
        order = torch.randperm(n, generator=g).to(device)
        for s in range(0, n - batch + 1, batch):  # full batches only (BatchNorm)
            idx = order[s : s + batch]
            loss = F.cross_entropy(model(to_float(x_all[idx])), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if max_steps is not None and step >= max_steps:
                return model.eval()
    return model.eval()


def random_search(
    cfg: ModelConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_trials: int = 64,
    seed: int = 0,
    device: str | torch.device = "cpu",
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    done: list[dict] | None = None,
    on_trial: Callable[[list[dict]], None] | None = None,
    max_minutes: float | None = None,
    max_steps: int | None = None,
    progress: bool = True,
) -> dict:
    """Random search over ``SEARCH_SPACE``: ``n_trials`` trials, each trained on the labelled
    draw and scored on the validation split (and the test set, reported, never used to choose).

    ``done`` (trials from an earlier, interrupted call) are kept and not re-run; ``on_trial`` is
    called with all trials after each one (to save them). Returns {"trials", "best", "complete"}.
    Errors are in percent. Paper: §5.2 (28.87% validation error).
    """
    rng = np.random.default_rng(seed)
    space = [sample_hyperparameters(rng) for _ in range(n_trials)]  # fixed by seed, resumable
    trials = list(done or [])
    started = time.time()
    bar = tqdm(total=n_trials, initial=len(trials), desc="supervised trials", disable=not progress)
    for i in range(len(trials), n_trials):
        if max_minutes is not None and time.time() - started > 60 * max_minutes:
            break
        t0 = time.time()
        model = train_supervised(
            cfg, space[i], x_train, y_train, seed + i, device, max_steps=max_steps
        )
        trial = {
            "trial": i,
            **asdict(space[i]),
            "val_error": 100.0 * float(np.mean(predict(model, x_val, device) != y_val)),
            "seconds": round(time.time() - t0, 1),
        }
        if x_test is not None:
            trial["test_error"] = 100.0 * float(np.mean(predict(model, x_test, device) != y_test))
        trials.append(trial)
        bar.update(1)
        bar.set_postfix(best_val=f"{min(t['val_error'] for t in trials):.2f}")
        if on_trial is not None:
            on_trial(trials)
    bar.close()
    best = min(trials, key=lambda t: t["val_error"]) if trials else None
    return {"trials": trials, "best": best, "complete": len(trials) == n_trials}
