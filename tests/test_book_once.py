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


def test_a_test_runs_with_its_file_and_the_browser_tests_with_the_book(request):
    assert [m.args[0] for m in request.node.iter_markers("xdist_group")] == ["test_book_once.py"]
    items = request.session.items
    browser = [i for i in items if {"site", "dom", "browser"} & set(i.fixturenames)]
    for item in browser:
        assert [m.args[0] for m in item.iter_markers("xdist_group")] == ["book"], item.nodeid
