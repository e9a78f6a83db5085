"""What the whole test session shares: the book built once (``site``) and read by Chromium
(``browser``, ``dom``), and the order in which pytest-xdist hands out the work (``make test``
runs the session on every core with ``--dist loadfile --no-loadscope-reorder``).

Each test file, and each notebook (its cells share one kernel), runs on one worker; the browser
tests are in one file, and the build is behind a file lock besides, so it runs once whatever the
split. (``--dist loadgroup`` would group by ``xdist_group`` marks, but pytest-xdist 3.8 tags them
onto ``item._nodeid``, which pytest 9's ``nodeid`` no longer reads: it groups nothing.)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from _book import CHROMIUM, CHROMIUM_FLAGS, build_book

BOOK_FIXTURES = {"site", "dom", "browser"}

# Under xdist, the workers share the cores: each (and every process it starts: kernels, the book
# build, subprocesses) gets its share of threads instead of one per core each, which would
# oversubscribe them. Set before any test module imports torch; an explicit setting wins.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(max(1, (os.cpu_count() or 1) // _WORKERS)))


def _starts(item: pytest.Item, slow: set[Path]) -> int:
    path = Path(str(item.fspath))
    if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
        return 0
    return 1 if path in slow else 2 if path.suffix == ".ipynb" else 3


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order the files start in (``make test`` keeps it with --no-loadscope-reorder): the
    book's tests first (its build is the longest single piece), then the files with a test
    marked ``slow``, the notebooks, the rest; a file's tests keep their order."""
    slow = {Path(str(i.fspath)) for i in items if any(i.iter_markers("slow"))}
    items.sort(key=lambda item: _starts(item, slow))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book built in book mode with -W into a fresh folder, once per session (all xdist
    workers included); returns its html folder."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return build_book(shared)


@pytest.fixture(scope="session")
def browser() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: run `make setup` (`make test` does it too); "
            "it installs Debian's chromium package"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def dom(site: Path, browser: str):
    """The DOM of a page after its scripts ran (MathJax included), as Chromium sees it."""
    cache: dict[str, str] = {}

    def get(page: str) -> str:
        if page not in cache:
            profile = tempfile.mkdtemp(prefix="dcgan-chromium-")
            url = (site / f"{page}.html").as_uri()
            proc = subprocess.run(
                [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, f"chromium failed on {url}: {proc.stderr[-2000:]}"
            cache[page] = proc.stdout
        return cache[page]

    return get
