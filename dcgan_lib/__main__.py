"""Command line: ``python -m dcgan_lib {train,export,fid,experiment,features,latent,reproduce,...}``.

Errors the user can fix (missing data, a bad config, a diverged run) print one line saying what to
do and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from dcgan_lib import datasets, metrics, train
from dcgan_lib.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dcgan_lib", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_cli(sub)  # `train` (paper §4)
    e = sub.add_parser(
        "export", help="copy a run's fp16 weights, metrics and samples into artifacts/"
    )
    e.add_argument("run")
    e.add_argument("--name", required=True)
    datasets.add_cli(sub)  # `download`
    metrics.add_cli(sub)  # `fid` (book/fid_protocol.md)
    from dcgan_lib import dedup  # `dedup` (keep lists), `dedup-study` and `dedup-sweep` (§4.1.1)

    dedup.add_cli(sub)
    from dcgan_lib import features_run  # `features` (paper §5: D features + L2-SVM)

    features_run.add_cli(sub)
    from dcgan_lib import experiments  # `experiment` (paper §4 runs: train, FID, export)

    experiments.add_cli(sub)
    from dcgan_lib import latent  # `latent` (paper §6.1, §6.3.2: walks, arithmetic, turn)

    latent.add_cli(sub)
    from dcgan_lib import status  # `status` (the README's table of every experiment)

    status.add_cli(sub)
    from dcgan_lib import reproduce  # `reproduce` (every GPU job of the book, resumable)

    reproduce.add_cli(sub)
    # `guided-backprop` (§6.2) and `forgetting` (§6.3.1) keep their own parsers (their modules'
    # main); everything after the subcommand's name is handed to them
    delegated = {
        "guided-backprop": ("dcgan_lib.guided_backprop", "guided backprop of D's features; §6.2"),
        "forgetting": ("dcgan_lib.forgetting", "boxes -> maps to drop -> G without them; §6.3.1"),
    }
    for name, (_, text) in delegated.items():
        sub.add_parser(name, help=text, add_help=False)
    args = sys.argv[1:] if argv is None else argv
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        if args and args[0] in delegated:
            import importlib

            return importlib.import_module(delegated[args[0]][0]).main(args[1:])
        return _run(parser.parse_args(argv))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``warning: ...``, printed between progress bars (no source path)."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


def _run(a: argparse.Namespace) -> int:
    """Run the parsed command; an error the user can fix prints ``error: ...`` and returns 2."""
    from dcgan_lib import dedup, experiments, features_run, latent, reproduce, status
    from dcgan_lib.datasets import DataError
    from dcgan_lib.train import TrainingDiverged

    try:
        if a.command in ("dedup", "dedup-study", "dedup-sweep"):
            return dedup.run_cli(a)
        if a.command == "features":
            return features_run.run_cli(a)
        if a.command == "experiment":
            return experiments.run_cli(a)
        if a.command == "latent":
            return latent.run_cli(a)
        if a.command == "status":
            return status.run_cli(a)
        if a.command == "reproduce":
            return reproduce.run_cli(a)
        if a.command in ("train", "fid", "download"):
            return a.run(a)
        if a.command == "export":
            from dcgan_lib.artifacts import export_run

            for p in export_run(
                a.run, a.name, command=" ".join(["python -m dcgan_lib", *sys.argv[1:]])
            ):
                print(p)
            return 0
    except (ConfigError, DataError, TrainingDiverged, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
