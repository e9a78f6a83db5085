"""What the whole test session shares: the book built once (``site``) and read by Chromium
(``browser``, ``dom``), and how pytest-xdist splits the session (``make test`` runs it on every
core with ``--dist loadgroup``).

Under xdist, every test that uses ``site``, ``dom`` or ``browser`` runs on one worker (group
``book``; the build is also behind a file lock, so it runs once whatever the split); every other
test runs with the rest of its file (its module fixtures then build their data once), and each
notebook's cells stay together in one kernel.
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test's xdist group, and the order the groups start in (``make test`` keeps it with
    --no-loadscope-reorder): the book first (its build is the longest single piece), then the
    files with a test marked ``slow``, the notebooks, the rest; a group's tests keep their order."""
    groups = {}
    for item in items:
        marks = [m.args[0] for m in item.iter_markers("xdist_group")]
        if marks:
            groups[item] = marks[0]
            continue
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            group = "book"
        else:  # a test file, or a notebook (nbval: its cells share one kernel)
            group = Path(str(item.fspath)).name
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item] = group
    slow = {groups[i] for i in items if any(i.iter_markers("slow"))}

    def rank(item: pytest.Item) -> int:
        group = groups[item]
        if group == "book":
            return 0
        return 1 if group in slow else 2 if group.endswith(".ipynb") else 3

    items.sort(key=rank)


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
