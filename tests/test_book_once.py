"""The book that every browser test reads is built once per test session, however many
pytest-xdist workers ask for it at the same time (tests/_book.py, tests/conftest.py)."""

import subprocess
import threading

import _book
import pytest


def test_the_book_is_built_once_for_every_worker(tmp_path, monkeypatch):
    if not _book.MATHJAX.exists():
        pytest.skip("needs book/_static_mathjax (make setup)")
    builds = []

    def fake_build(cmd, **kwargs):  # what jupyter-book leaves behind, slowly
        builds.append(cmd)
        html = tmp_path / "book" / "_build" / "html"
        html.mkdir(parents=True)
        threading.Event().wait(0.2)
        (html / "index.html").write_text("<html></html>")
        return subprocess.CompletedProcess(cmd, 0, "built\n", "")

    monkeypatch.setattr(_book.subprocess, "run", fake_build)
    sites = []
    workers = [threading.Thread(target=lambda: sites.append(_book.build_book(tmp_path)))
               for _ in range(3)]  # fmt: skip
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(builds) == 1 and "--all" in builds[0] and "-W" in builds[0]
    assert sites == [tmp_path / "book" / "_build" / "html"] * 3
    assert _book.BUILD_LOG[-3:] == ["built\n"] * 3


def test_the_browser_tests_start_first_and_each_file_stays_whole(request):
    items = request.session.items
    uses = [set(getattr(it, "fixturenames", ())) & {"site", "dom", "browser"} for it in items]
    book = [i for i, used in enumerate(uses) if used]
    assert book == list(range(len(book)))  # the book's tests open the session
    files = [str(it.fspath) for it in items]
    starts = [f for k, f in enumerate(files) if k == 0 or files[k - 1] != f]
    assert len(starts) == len(set(starts)), "a file's tests are split"
