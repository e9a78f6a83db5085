"""What a reader reads: the markdown of the book's pages and notebooks, with code, maths and
markup taken out, and the quotations in it. Shared by the quotation and the number checks.

The convention the book follows, and these helpers enforce:

- Double quotes in prose are for quotations only. A blockquote that opens with ``"`` is one
  quotation (up to its last ``"``); elsewhere every ``"..."`` is one. Terms, names and the
  book's own phrases are written in italics, bold or code, never in double quotes.
- Inside a quotation, ``[...]``, ``...`` and ``…`` mark an omission: the parts between them must
  each be found, in order.
- A quotation is the paper's words (checked against the paper's text), unless it is a message
  the library prints (checked against the library's string literals).
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAPER_TEXT = ROOT.parent / "shared" / "paper" / "radford2015-dcgan-en.txt"

_FENCE = re.compile(r"^(`{3,}|~{3,}|:{3,}).*?^\1\s*$", re.S | re.M)
_DIRECTIVE_OPTION = re.compile(r"^:[a-z_-]+:.*$", re.M)
_MATH_BLOCK = re.compile(r"\$\$.*?\$\$", re.S)
_MATH_INLINE = re.compile(r"(?<!\\)\$[^$\n]+\$")
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_ROLE = re.compile(r"\{[a-z:]+\}`[^`]*`")  # {doc}`...`, {glue:text}`name`: markup, not prose
_URL = re.compile(r"<https?://[^>]+>|\]\([^)]*\)|https?://\S+")
_HTML = re.compile(r"<[^>\n]+>")


def book_pages() -> dict[str, str]:
    """Every reader-facing markdown text: ``book/*.md`` whole, and each notebook's markdown
    cells joined, keyed by the path relative to the repository."""
    pages = {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted(ROOT.glob("book/*.md"))}
    for path in sorted(ROOT.glob("notebooks/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        md = [
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells
            if c["cell_type"] == "markdown"
        ]
        pages[path.relative_to(ROOT).as_posix()] = "\n\n".join(md)
    return pages


def strip_markup(md: str) -> str:
    """The prose of a MyST page: without code blocks and directives' fences, code spans, maths,
    roles (glue, links), URLs and HTML tags. MyST front matter and code cells go too."""
    if md.startswith("---\n"):
        end = md.find("\n---", 4)
        md = md[end + 4 :] if end > 0 else md
    md = re.sub(r"^```\{code-cell\}.*?^```\s*$", "", md, flags=re.S | re.M)
    md = re.sub(r"^(`{3,}|~{3,})(?!\{).*?^\1\s*$", "", md, flags=re.S | re.M)  # code blocks
    md = re.sub(r"^:{3,}.*$", "", md, flags=re.M)  # colon fences: keep their content
    md = re.sub(r"^```\{[a-z-]+\}.*$|^```\s*$", "", md, flags=re.M)  # directives: keep content
    md = _DIRECTIVE_OPTION.sub("", md)
    for pattern in (_MATH_BLOCK, _ROLE, _CODE_SPAN, _MATH_INLINE, _URL, _HTML):
        md = pattern.sub(" ", md)
    return md


def quotations(md: str) -> list[str]:
    """Every quotation in a page's prose, whitespace collapsed (see the module's convention)."""
    text = strip_markup(md)
    found: list[str] = []
    rest: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").splitlines()
        if lines and all(line.lstrip().startswith(">") for line in lines if line.strip()):
            inner = " ".join(re.sub(r"^\s*>\s?", "", line) for line in lines)
            inner = inner.strip()
            if inner.startswith('"') and inner.count('"') >= 2:
                found.append(" ".join(inner[1 : inner.rindex('"')].split()))
                inner = inner[inner.rindex('"') + 1 :]
            rest.append(inner)
        else:
            rest.append(block)
    for m in re.finditer(r'"([^"]+)"', "\n\n".join(rest)):
        found.append(" ".join(m.group(1).split()))
    return found


def normalize(text: str) -> str:
    """Compare quotations and the paper's text as characters a reader sees: Unicode compatibility
    forms (ligatures), straight quotes and apostrophes, one kind of minus, single spaces. The
    paper's text was extracted from its PDF, which dropped the tilde of "(~200 in total)" and left
    spaces before some punctuation: tildes and those spaces do not count."""
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("−", "-"), ("–", "-")):
        text = text.replace(a, b)
    text = text.replace("**", "").replace("*", "").replace("~", "").replace("∼", "")
    text = " ".join(text.split())
    return re.sub(r"\( | (?=[.,;:)])", lambda m: m.group(0).strip(), text)


def fragments(quote: str) -> list[str]:
    """The parts of a quotation between omission marks."""
    parts = re.split(r"\s*(?:\[\.\.\.\]|\[…\]|\.\.\.|…)\s*", normalize(quote))
    return [p for p in parts if p.strip()]


def found_in(quote: str, text: str) -> bool:
    """Whether every part of ``quote`` occurs in ``text``, in order. The first letter of each part
    may differ in case (a quotation may start mid-sentence)."""
    text = normalize(text)
    position = 0
    for part in fragments(quote):
        pattern = "[" + re.escape(part[0].lower() + part[0].upper()) + "]" + re.escape(part[1:])
        m = re.compile(pattern).search(text, position)
        if m is None:
            return False
        position = m.end()
    return True


def paper_text() -> str | None:
    """The paper's English text, where the project's shared folder is present (not in CI)."""
    return PAPER_TEXT.read_text() if PAPER_TEXT.is_file() else None


@cache
def library_messages() -> tuple[tuple[str, ...], ...]:
    """The string literals of ``dcgan_lib`` that are not docstrings, each as its constant parts
    (an f-string's parts between the values filled in at run time): what the library prints."""
    out: list[tuple[str, ...]] = []
    for path in sorted((ROOT / "dcgan_lib").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings, in_fstrings = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                first = node.body[0] if node.body else None
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    docstrings.add(id(first.value))
            if isinstance(node, ast.JoinedStr):
                in_fstrings.update(id(v) for v in node.values)
                parts, current = [], ""
                for v in node.values:
                    if isinstance(v, ast.Constant):
                        current += str(v.value)
                    else:
                        parts.append(current)
                        current = ""
                out.append((*parts, current))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings | in_fstrings
            ):
                out.append((node.value,))
    return tuple(out)


def _instance_of(quote: str, parts: tuple[str, ...]) -> bool:
    """Whether ``quote`` is a stretch of a message whose constant ``parts`` surround values filled
    in at run time: it starts inside one part, ends inside a later one (or the same), and between
    them holds every part in order, each value a non-empty stretch of text."""
    if any(quote in p for p in parts):
        return True
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            # the quote starts and ends inside the message's own text, not inside a value
            suffixes = "|".join(re.escape(parts[i][k:]) for k in range(len(parts[i])))
            prefixes = "|".join(re.escape(parts[j][:k]) for k in range(1, len(parts[j]) + 1))
            if not suffixes or not prefixes:
                continue
            middle = "".join(".+?" + re.escape(p) for p in parts[i + 1 : j])
            if re.fullmatch(f"(?:{suffixes}){middle}.+?(?:{prefixes})", quote, re.S):
                # at least half of the quote is the message's own text, not filled-in values
                literal = sum(len(p) for p in parts[i + 1 : j])
                if 2 * (_literal_share(quote, parts[i], parts[j]) + literal) >= len(quote):
                    return True
    return False


def _literal_share(quote: str, head: str, tail: str) -> int:
    """How many characters of ``quote`` the end of ``head`` and the start of ``tail`` account for."""
    start = max(k for k in range(len(head) + 1) if quote.startswith(head[len(head) - k :]))
    end = max(k for k in range(len(tail) + 1) if quote.endswith(tail[:k]))
    return start + end


def is_library_message(quote: str) -> bool:
    """Whether a quotation of three words or more is (part of) a message the library prints:
    with ``...`` standing for what it fills in, or with those values written out."""
    if len(normalize(quote).split()) < 3:
        return False
    gapped = len(fragments(quote)) > 1 or re.search(r"\.\.\.|…", quote) is not None
    for parts in library_messages():
        joined = " ... ".join(parts)
        if (gapped and found_in(quote, joined)) or _instance_of(quote, parts):
            return True
    return False
