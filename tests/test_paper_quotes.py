"""Every quotation a reader sees is the paper's words, verbatim, or a message the library prints.

The convention (``tests/_prose.py``): double quotes in prose are for quotations only; a blockquote
that opens with a double quote is one quotation. ``tests/paper_quotes.txt`` lists the quotations
of the paper that the pages use, each checked against the paper's text where that text is present
(the project's shared folder; not in CI). Without the text, a page still fails when it gains a
quotation that is not in the list, so nothing unverified reaches a reader unnoticed.
"""

from __future__ import annotations

import hashlib

import pytest
from _prose import (
    ROOT,
    book_pages,
    found_in,
    is_library_message,
    normalize,
    paper_text,
    quotations,
)

QUOTES_FILE = ROOT / "tests" / "paper_quotes.txt"
PAGES = book_pages()


def verified() -> list[str]:
    """The list's quotations, normalized; lines starting with # are comments."""
    lines = QUOTES_FILE.read_text().splitlines()
    return [normalize(line) for line in lines if line.strip() and not line.startswith("#")]


def unverified(page: str) -> list[str]:
    known = set(verified())
    return [
        q
        for q in quotations(PAGES[page])
        if normalize(q) not in known and not is_library_message(q)
    ]


def test_the_quotation_finder_reads_the_convention():
    md = (
        '> "Use batchnorm in both the generator and the discriminator." (§3)\n\n'
        'The paper says "linear time" and `"not a quote"`, then $x = "no"$ and\n'
        '> a plain blockquote with "a quote inside" it\n\n'
        '```python\nprint("code")\n```\n'
        '> "A "turn" vector was created [...] looking right."'
    )
    assert sorted(quotations(md)) == sorted(
        [
            "Use batchnorm in both the generator and the discriminator.",
            "linear time",
            "a quote inside",
            'A "turn" vector was created [...] looking right.',
        ]
    )


def test_matching_is_verbatim_up_to_typography():
    text = "We found leaving the momentum term β1 at the suggested value of 0.9 resulted in ..."
    assert found_in("leaving the momentum term β1 at the suggested value", text)
    assert not found_in("leaving the momentum term at the suggested value", text)  # a dropped word
    assert found_in("We found [...] the suggested value of 0.9", text)  # a marked omission
    assert not found_in("the suggested value [...] We found", text)  # out of order
    assert found_in("the discriminator's features", "the discriminator’s features")


def test_library_messages_are_recognized_with_or_without_their_values():
    assert is_library_message("the data root ... does not exist")
    assert is_library_message("corrupt or truncated image")
    assert not is_library_message("the data root is fine")
    assert not is_library_message("memorizer")  # one word: a term, not a message


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_quotation_is_verified(page, request):
    bad = unverified(page)
    assert not bad, (
        f"{page}: quotations neither in tests/paper_quotes.txt nor printed by the library "
        f"(quote the paper verbatim and add it there, or do not use double quotes): {bad}"
    )


def test_the_list_has_no_quotation_that_no_page_uses():
    used = {normalize(q) for md in PAGES.values() for q in quotations(md)}
    stale = [q for q in verified() if q not in used]
    assert not stale, f"tests/paper_quotes.txt lists quotations no page uses: {stale}"


def test_the_list_is_the_papers_words():
    text = paper_text()
    if text is None:
        pytest.skip("the paper's text is not here (../shared/paper): the list is checked there")
    wrong = [q for q in verified() if not found_in(q, text)]
    assert not wrong, f"not in the paper's text: {wrong}"
    header = QUOTES_FILE.read_text().splitlines()[:5]
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert any(digest in line for line in header), "the list names the text it was checked on"
