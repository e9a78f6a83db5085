"""What the notebooks share: the run mode, showing library source, the not-produced message.

Modes (``DCGAN_MODE``, read only in each notebook's parameters cell):

- ``smoke``: tiny models, synthetic or test-made data, seconds on a CPU (nbval in CI);
- ``book`` (default): paper configs, loads trained artifacts, recomputes what is cheap, never trains;
- ``full``: trains on real data (a GPU), resumable and time-boxed, writes ``artifacts/``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from dcgan_lib.artifacts import ArtifactMissing
from dcgan_lib.datasets import DataError, default_data_root

T = TypeVar("T")

MODES = ("smoke", "book", "full")
NOT_PRODUCED = "not produced yet"  # what the prose shows for a number whose result is missing


def get_mode(default: str = "book") -> str:
    mode = os.environ.get("DCGAN_MODE", default)
    if mode not in MODES:
        raise ValueError(f"DCGAN_MODE={mode!r}; use one of {MODES}")
    return mode


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def data_root() -> Path | None:
    """$DCGAN_DATA, else ../shared/data beside the checkout when it exists, else None: the same
    rule as the command line's ``--data-root`` default (``datasets.default_data_root``)."""
    return default_data_root()


def shown_path(path: str | os.PathLike | None) -> str:
    """A path as a page prints it, never the machine's absolute path: relative to the
    repository root (``artifacts/features_cifar10``), or to the folder that holds it
    (``../shared/data``); any other absolute path as its last two parts (``.../runs/x``)."""
    if path is None:
        return "none"
    p = Path(path).expanduser()
    if not p.is_absolute():
        return p.as_posix()
    for candidate in (Path(os.path.abspath(p)), p.resolve()):  # as given, then links resolved
        for base, prefix in ((repo_root(), ""), (repo_root().parent, "../")):
            if candidate.is_relative_to(base):
                return prefix + (candidate.relative_to(base).as_posix() or ".")
    return ".../" + "/".join(p.parts[-2:])


def source_name(obj: object) -> str:
    """``module.qualname`` of a library object (``dcgan_lib.step.train_step``)."""
    return f"{inspect.getmodule(obj).__name__}.{getattr(obj, '__qualname__', '')}"  # type: ignore[union-attr]


def source_markdown(obj: object) -> str:
    """The library's own source of ``obj`` as a Python code block (markdown)."""
    return f"```python\n{inspect.getsource(obj)}```"  # type: ignore[arg-type]


def show_source(obj: object, fold: bool = False) -> None:
    """Display the library's own source of ``obj`` (the book shows the code, never a copy);
    ``fold``: inside a dropdown titled by its name, for source a reader opens on demand."""
    from IPython.display import Markdown, display

    name = source_name(obj)
    if fold:
        body = source_markdown(obj)
        display(Markdown(f":::{{dropdown}} The library's code: `{name}`\n\n{body}\n:::\n"))
        return
    display(Markdown(f"`{name}`\n\n{source_markdown(obj)}"))


def not_produced(message: str | BaseException) -> None:
    """Show, in place of a result, that an artifact does not exist yet and how to make it."""
    from IPython.display import Markdown, display

    display(Markdown(f"> **Not produced yet.** {message}"))


def data_missing(message: str | BaseException) -> None:
    """Show, in place of a result, that the data it needs is not on this machine."""
    from IPython.display import Markdown, display

    display(Markdown(f"> **Data not present.** {message}"))


def result(
    mode: str,
    load: Callable[[], T],
    run: Callable[[], T] | None = None,
) -> T | None:
    """A chapter's result in its mode: ``book`` loads the stored one (``load``); ``smoke`` and
    ``full`` compute it with the same job the command line runs (``run``; without one, they load
    too). A stored result that is missing shows "Not produced yet" with the command that makes
    it, missing data shows what to provide; either way the page goes on with ``None``."""
    try:
        return run() if run is not None and mode != "book" else load()
    except ArtifactMissing as err:
        not_produced(err)
    except DataError as err:
        data_missing(err)
    return None


def markdown_table(rows: list[dict]) -> str:
    """A list of same-keyed dicts as a Markdown table (None shown as a dash)."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join("–" if r[k] is None else str(r[k]) for k in keys) + " |")
    return "\n".join(lines)


def show_table(rows: list[dict], before: str = "") -> None:
    """Display ``rows`` as a table (``markdown_table``), with a line of text ``before`` it."""
    from IPython.display import Markdown, display

    if rows:
        display(Markdown(f"{before}\n\n{markdown_table(rows)}" if before else markdown_table(rows)))


def glue_texts(
    values: Mapping[str, object] | None, keys: Iterable[str] = (), missing: str = NOT_PRODUCED
) -> None:
    """Glue each value as text for the page's prose (``{glue:text}`key```); a key of ``keys``
    without a value (every key, when ``values`` is None), or whose value is None, shows
    ``missing``: the prose says what is not there rather than a stale number."""
    from myst_nb import glue

    values = dict(values or {})
    for key in dict.fromkeys([*values, *keys]):
        value = values.get(key)
        glue(key, missing if value is None else value, display=False)
