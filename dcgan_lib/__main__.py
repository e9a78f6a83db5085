"""Command line: ``python -m dcgan_lib {train,export,fid,experiment,features,latent,reproduce,...}``.

The commands, their arguments and the module that runs each are one table,
``dcgan_lib.studies.cli.COMMANDS``: the parser is built without importing torch or any command's
module, so ``--help`` and argument errors answer at once; a command's module is imported when it
runs. Errors the user can fix (missing data, a bad config, a diverged run) print one line saying
what to do and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from dcgan_lib.config import ConfigError
from dcgan_lib.studies.cli import COMMANDS, add_commands

__all__ = ["COMMANDS", "main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dcgan_lib", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    add_commands(sub)
    return p


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors a user can fix: one line and status 2. ``TrainingDiverged`` counts only once
    ``dcgan_lib.train`` is loaded (nothing else raises it), so that this costs no import."""
    from dcgan_lib.datasets import DataError

    errors: tuple[type[BaseException], ...] = (
        ConfigError,
        DataError,
        FileNotFoundError,
        ValueError,
    )
    train = sys.modules.get("dcgan_lib.train")
    return errors + ((train.TrainingDiverged,) if train is not None else ())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        a = parser().parse_args(args)
        try:
            return a.run(a)
        except Exception as e:
            if not isinstance(e, user_errors()):
                raise
            print(f"error: {e}", file=sys.stderr)
            return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``warning: ...``, printed between progress bars (no source path)."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
