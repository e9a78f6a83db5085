"""dcgan_lib.book: a chapter's result in each mode, or the message that says what is missing."""

import pytest

from dcgan_lib import book
from dcgan_lib.artifacts import ArtifactMissing
from dcgan_lib.datasets import DataError


@pytest.fixture
def shown(monkeypatch):
    out = []
    monkeypatch.setattr(book, "not_produced", lambda m: out.append(("not produced", str(m))))
    monkeypatch.setattr(book, "data_missing", lambda m: out.append(("no data", str(m))))
    return out


def test_book_mode_loads_and_the_other_modes_run(shown):
    calls = []

    def load():
        calls.append("load")
        return 1

    def run():
        calls.append("run")
        return 2

    assert book.result("book", load, run) == 1
    assert book.result("smoke", load, run) == 2
    assert book.result("full", load, run) == 2
    assert book.result("smoke", load) == 1  # nothing to run: the stored result
    assert calls == ["load", "run", "run", "load"] and shown == []


def test_a_missing_artifact_shows_its_command_and_the_page_goes_on(shown):
    def load():
        raise ArtifactMissing("x/G.pt: not produced yet: run python -m dcgan_lib experiment x")

    assert book.result("book", load) is None
    assert shown == [
        ("not produced", "x/G.pt: not produced yet: run python -m dcgan_lib experiment x")
    ]


def test_missing_data_says_what_to_provide(shown):
    def run():
        raise DataError("nothing found under /nowhere: pass --data-root")

    assert book.result("full", lambda: 0, run) is None
    assert shown == [("no data", "nothing found under /nowhere: pass --data-root")]


def test_other_errors_are_not_swallowed(shown):
    def load():
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        book.result("book", load)


def test_markdown_table():
    table = book.markdown_table([{"a": 1, "b": None}, {"a": 2, "b": "x"}])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | – |", "| 2 | x |"]
    assert book.markdown_table([]) == ""


def test_glue_texts_says_what_is_missing(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda k, v, display: glued.update({k: v}))
    book.glue_texts({"fid": "71.3", "kid": None}, ["fid", "kid", "steps"])
    assert glued == {"fid": "71.3", "kid": book.NOT_PRODUCED, "steps": book.NOT_PRODUCED}
    glued.clear()
    book.glue_texts(None, ["a"], missing="not measured yet")
    assert glued == {"a": "not measured yet"}


def test_show_source_shows_the_library_code_or_folds_it(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda m: shown.append(m.data))
    book.show_source(book.markdown_table)
    book.show_source(book.markdown_table, fold=True)
    plain, folded = shown
    assert plain.startswith("`dcgan_lib.book.markdown_table`") and "def markdown_table(" in plain
    assert folded.startswith(":::{dropdown} The library's code: `dcgan_lib.book.markdown_table`")
    assert "```python\ndef markdown_table(" in folded and folded.rstrip().endswith(":::")
