"""Command line: ``python -m dcgan_lib {train,export,fid,experiment,features,latent,reproduce,...}``.

Each command lives in one module that adds its subparser (``add_cli``) and names its run function
(``set_defaults(run=...)``). Errors the user can fix (missing data, a bad config, a diverged run)
print one line saying what to do and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from tqdm import tqdm

from dcgan_lib import artifacts, datasets, metrics, status, strip, train
from dcgan_lib.config import ConfigError
from dcgan_lib.datasets import DataError
from dcgan_lib.studies import (
    attributes,
    dedup,
    dedup_sweep,
    experiments,
    features,
    forgetting,
    guided_backprop,
    latent,
    reproduce,
)
from dcgan_lib.train import TrainingDiverged

COMMANDS = (
    train,  # train (§4: one run, resumable)
    artifacts,  # export (a run's fp16 weights, metrics and samples into artifacts/)
    strip,  # strip (§4: the fixed-z samples after each epoch, as one image strip)
    datasets,  # download
    metrics,  # fid (book/fid_protocol.md)
    dedup,  # dedup (keep lists), dedup-study (§4.1.1)
    dedup_sweep,  # dedup-sweep: the settings behind the dedup autoencoder
    features,  # features (§5: D features + L2-SVM)
    experiments,  # experiment (§4 runs: train, FID, export)
    latent,  # latent (§6.1, §6.3.2: walks, arithmetic, turn)
    guided_backprop,  # guided-backprop (§6.2)
    forgetting,  # forgetting {study,fit,annotate,bands} (§6.3.1)
    attributes,  # attributes (the §6 judge: train and store the CelebA attribute classifier)
    status,  # status (the README's table of every experiment)
    reproduce,  # reproduce (every GPU job of the book, resumable)
)
USER_ERRORS = (ConfigError, DataError, TrainingDiverged, FileNotFoundError, ValueError)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dcgan_lib", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        a = parser().parse_args(args)
        try:
            return a.run(a)
        except USER_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``warning: ...``, printed between progress bars (no source path)."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
