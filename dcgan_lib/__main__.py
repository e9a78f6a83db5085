"""Command line: ``python -m dcgan_lib {train,export,fid,experiment,features,latent,reproduce,...}``.

Each command lives in one module that adds its subparser (``add_cli``) and names its run function
(``set_defaults(run=...)``). Errors the user can fix (missing data, a bad config, a diverged run)
print one line saying what to do and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from tqdm import tqdm

from dcgan_lib import artifacts, datasets, latent, metrics, status, train
from dcgan_lib.config import ConfigError
from dcgan_lib.datasets import DataError
from dcgan_lib.studies import dedup, dedup_sweep, experiments, features, reproduce
from dcgan_lib.train import TrainingDiverged

COMMANDS = (
    train,  # train (§4: one run, resumable)
    artifacts,  # export (a run's fp16 weights, metrics and samples into artifacts/)
    datasets,  # download
    metrics,  # fid (book/fid_protocol.md)
    dedup,  # dedup (keep lists), dedup-study (§4.1.1)
    dedup_sweep,  # dedup-sweep: the settings behind the dedup autoencoder
    features,  # features (§5: D features + L2-SVM)
    experiments,  # experiment (§4 runs: train, FID, export)
    latent,  # latent (§6.1, §6.3.2: walks, arithmetic, turn)
    status,  # status (the README's table of every experiment)
    reproduce,  # reproduce (every GPU job of the book, resumable)
)
# commands whose module parses its own arguments (its ``main(argv)``): everything after the
# command's name is handed to it
DELEGATED = {
    "guided-backprop": ("dcgan_lib.guided_backprop", "guided backprop of D's features; §6.2"),
    "forgetting": ("dcgan_lib.forgetting", "boxes -> maps to drop -> G without them; §6.3.1"),
}
USER_ERRORS = (ConfigError, DataError, TrainingDiverged, FileNotFoundError, ValueError)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dcgan_lib", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_cli(sub)
    sub.choices["latent"].set_defaults(run=latent.run_cli)
    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)  # listed here, parsed by main()
    return p


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        if args and args[0] in DELEGATED:
            return importlib.import_module(DELEGATED[args[0]][0]).main(args[1:])
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
