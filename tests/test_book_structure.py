"""The book's structure: every notebook in the toc and every toc entry on disk, one parameters
cell per notebook, notebooks committed without outputs, the house notebook shape, pages that open
on prose with their plumbing folded away, and reader-facing text free of project-management words
and of paths outside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from _prose import book_pages
from page_layout import toc_pages

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MYST_PAGES = sorted(p for p in (ROOT / "book").glob("*.md") if "```{code-cell}" in p.read_text())
HIDDEN = {"hide-input", "remove-input", "remove-cell"}


def resolve(entry: str) -> Path | None:
    for suffix in ("", ".md", ".ipynb"):
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    return None


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks under notebooks/"


def test_every_toc_entry_exists():
    missing = [entry for entry in toc_pages() if resolve(entry) is None]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"


def test_toc_has_no_duplicates():
    files = toc_pages()
    assert len(files) == len(set(files))


def test_every_notebook_is_in_the_toc():
    listed = {resolve(entry) for entry in toc_pages()}
    absent = [nb.relative_to(ROOT).as_posix() for nb in NOTEBOOKS if nb not in listed]
    assert not absent, f"notebooks missing from _toc.yml: {absent}"


def test_toc_has_a_part_per_paper_section():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    captions = " ".join(part.get("caption", "") for part in toc["parts"])
    for section in ("§3", "§4", "§5", "§6"):
        assert section in captions


def test_notebooks_are_in_reading_order():
    # the toc follows the paper (dcgan_lib.chapter.CHAPTERS): §4's result pages, numbered 10
    # and 11, sit in §4's part; the numbers only name the files
    from dcgan_lib.chapter import CHAPTERS

    names = [nb.name for nb in NOTEBOOKS]
    assert all(re.match(r"\d\d_[a-z0-9_]+\.ipynb$", n) for n in names), names
    toc_notebooks = [e for e in toc_pages() if e.startswith("notebooks/")]
    assert toc_notebooks == [c.page for c in CHAPTERS.values()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exactly_one_parameters_cell(path):
    cells = read(path).cells
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    cell = tagged[0]
    assert cell.cell_type == "code"
    assert "MODE = dcgan_lib.book.get_mode()" in cell.source
    assert re.search(r"^SEED\s*=", cell.source, re.M), "the parameters cell sets SEED"


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every markdown table row (header first), separator rows left out."""
    rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and not re.fullmatch(r"[|\-: ]+", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_before_parameters_compares_with_the_paper(path):
    cells = read(path).cells
    i = next(
        i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    before = cells[i - 1]
    assert i > 0 and before.cell_type == "markdown", "a markdown cell must precede the parameters"
    rows = table_rows(before.source)
    assert len(rows) >= 2, "it holds a table of what differs from the paper"
    header = [h.lower() for h in rows[0]]
    ours = next((k for k, h in enumerate(header) if h.startswith("ours")), None)
    paper = next((k for k, h in enumerate(header) if h.startswith("paper")), None)
    assert ours is not None and paper is not None, f"columns 'ours' and 'paper...': {rows[0]}"
    for row in rows[1:]:
        assert len(row) == len(header) and row[ours] and row[paper], f"an incomplete row: {row}"
    assert "../book/deviations" in before.source, "it links to the deviations page"


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def is_import_cell(source: str) -> bool:
    body = ast.parse(source).body
    return bool(body) and all(isinstance(n, ast.Import | ast.ImportFrom) for n in body)


def calls(source: str) -> list[str]:
    """The names of the functions a cell calls (``glue``, ``show_source``, ``print``, ...)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            out.append(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


SHOWS = {"print", "display", "show", "imshow", "show_source", "not_produced", "Markdown"}


def is_glue_only(source: str) -> bool:
    """A cell that pastes values into the text and shows nothing itself."""
    names = calls(source)
    return "glue" in names and not SHOWS & set(names)


def code_lines(source: str) -> int:
    return sum(
        1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#")
    )


def prose_words(markdown: str) -> int:
    """Words of running text: headings, tables, directives and admonitions left out."""
    text = re.sub(r"^:::.*?^:::\s*$", "", markdown, flags=re.S | re.M)
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "|", ":"))
    ]
    return len(" ".join(lines).split())


def folding_problems(path: Path) -> list[str]:
    cells = read(path).cells
    problems = []
    visible = [i for i, c in enumerate(cells) if c.cell_type == "code" and not tags(c) & HIDDEN]
    if visible:
        words = sum(prose_words(c.source) for c in cells[: visible[0]] if c.cell_type == "markdown")
        if words < 40:
            problems.append(f"only {words} words of prose before the first visible code cell")
    for i, c in enumerate(cells):
        if c.cell_type != "code" or tags(c) & HIDDEN:
            continue
        if is_import_cell(c.source):
            problems.append(f"cell {i}: an import cell is shown (tag it hide-input)")
        elif is_glue_only(c.source):
            problems.append(f"cell {i}: a glue-only cell is shown (tag it hide-input)")
        elif "parameters" not in tags(c) and set(calls(c.source)) - {"show_source"}:
            if code_lines(c.source) > 12:
                problems.append(f"cell {i}: {code_lines(c.source)} lines of code shown")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_pages_open_on_prose_and_fold_their_plumbing(path, request):
    # shown: the parameters cell, the library's source, short calls that are the chapter's
    # teaching; folded (a toggle shows them): imports, loading, figure drawing, glue, long cells
    problems = folding_problems(path)
    assert not problems, f"{path.name}: {problems}"


def test_the_folding_check_sees_shown_plumbing(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# §3 A title\n\nA short claim."),
        nbformat.v4.new_code_cell("import torch\nimport numpy as np"),
        nbformat.v4.new_code_cell("glue('x', 1, display=False)"),
        nbformat.v4.new_code_cell("\n".join(f"x{i} = f({i})" for i in range(14))),
        nbformat.v4.new_code_cell("show_source(f)"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    problems = folding_problems(path)
    assert len(problems) == 4, problems  # prose, import, glue, 14 lines; show_source is fine
    for cell in nb.cells[1:4]:
        cell.metadata["tags"] = ["hide-input"]
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(" ".join(["word"] * 40)))
    nbformat.write(nb, path)
    assert folding_problems(path) == []


@pytest.mark.parametrize("path", MYST_PAGES, ids=lambda p: p.name)
def test_prose_pages_hide_their_code(path):
    text = path.read_text()
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", text, re.S | re.M)
    for cell in cells:
        cell_tags = re.search(r"^:tags:\s*\[(.*?)\]", cell, re.M)
        assert cell_tags and {t.strip() for t in cell_tags.group(1).split(",")} & HIDDEN, (
            f"{path.name}: a code cell without remove-cell / remove-input / hide-input"
        )
    assert text.index("```{code-cell}") > text.index("\n# "), "the page opens on its title"


@pytest.mark.parametrize("path", MYST_PAGES, ids=lambda p: p.name)
def test_prose_pages_code_runs_and_glues_every_name_it_uses(path):
    # the pages' hidden cells, run here as the build runs them (fast, and nbval skips .md)
    text = path.read_text()
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", text, re.S | re.M)
    glued: dict[str, object] = {}
    namespace: dict[str, object] = {}
    for cell in cells:
        code = "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
        code = code.replace("from myst_nb import glue", "")
        namespace["glue"] = lambda name, value, display=True: glued.__setitem__(name, value)
        exec(compile(code, str(path), "exec"), namespace)  # noqa: S102
    used = set(re.findall(r"\{glue(?::\w+)?\}`([\w]+)", text))
    assert used <= set(glued), f"{path.name}: glued nowhere: {sorted(used - set(glued))}"


PM_WORDS = re.compile(
    r"\bissues?\s*#?\d+|\bthe issue'?s?\b|\(issue|(?<![-\w])helpers?(?![-\w])|\bsessions?\b",
    re.I,
)
OUTSIDE_PATHS = re.compile(r"\.\./shared/(?!data\b)|FID\.md|TOOLCHAIN\.md|PAPER_NOTES")
READER_PAGES = book_pages()


@pytest.mark.parametrize("page", sorted(READER_PAGES))
def test_reader_text_has_no_project_words_or_outside_paths(page, request):
    text = READER_PAGES[page]
    assert not PM_WORDS.findall(text), f"{page}: {PM_WORDS.findall(text)}"
    assert not OUTSIDE_PATHS.findall(text), (
        f"{page}: {OUTSIDE_PATHS.findall(text)}: link the book's own pages instead "
        "({doc}`fid_protocol`, {doc}`toolchain`)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: strip them"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_a_title_naming_a_paper_section(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    title = first.source.splitlines()[0]
    assert re.match(r"# §\d+(\.\d+)* \S", title), f"{path.name}: title {title!r} names no section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_python3(path):
    assert read(path).metadata.get("kernelspec", {}).get("name") == "python3"


MODE_BOX = re.compile(r"\{(?:admonition|dropdown)\}\s*Hardware and time", re.I)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_checks_and_an_admonition(path):
    cells = read(path).cells
    assert any(c.cell_type == "code" and "assert " in c.source for c in cells), "no assert cell"
    # the hardware and time per mode: an admonition, or (below the chapter's verdict and key
    # figure) a dropdown, in the page's markdown
    boxes = [c for c in cells if c.cell_type == "markdown" and MODE_BOX.search(c.source)]
    assert boxes, "no hardware/time box ({admonition} or {dropdown} 'Hardware and time ...')"
    assert any(c.cell_type == "code" and "import *" in c.source for c in cells) is False


def test_front_pages_exist_and_are_in_the_toc():
    files = toc_pages()
    pages = ("intro", "how_to_run", "deviations", "fid_protocol", "toolchain", "references")
    for page in (*pages, "troubleshooting"):
        assert f"book/{page}" in files and (ROOT / "book" / f"{page}.md").is_file()


def test_config_executes_and_fails_on_errors():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] in ("force", "cache")
    assert config["execute"]["raise_on_error"] is True
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_kernel_rgx_aliases"] == {".*": "python3"}
    assert not sphinx["mathjax_path"].startswith("http"), "MathJax must be the local copy"
    # the launch buttons' switch: no URL (off), or the public GitHub repository (an unknown host
    # fails the offline build, TOOLCHAIN.md)
    url = config.get("repository", {}).get("url", "")
    assert url == "" or url.startswith("https://github.com/"), url
