"""The book's structure: every notebook in the toc and every toc entry on disk, one parameters
cell per notebook, notebooks committed without outputs, and the house notebook shape."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def toc_files() -> list[str]:
    """Every `file:` of _toc.yml (root included), without suffix, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


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
    missing = [entry for entry in toc_files() if resolve(entry) is None]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"


def test_toc_has_no_duplicates():
    files = toc_files()
    assert len(files) == len(set(files))


def test_every_notebook_is_in_the_toc():
    listed = {resolve(entry) for entry in toc_files()}
    absent = [nb.relative_to(ROOT).as_posix() for nb in NOTEBOOKS if nb not in listed]
    assert not absent, f"notebooks missing from _toc.yml: {absent}"


def test_toc_has_a_part_per_paper_section():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    captions = " ".join(part.get("caption", "") for part in toc["parts"])
    for section in ("§3", "§4", "§5", "§6"):
        assert section in captions


def test_notebooks_are_in_reading_order():
    names = [nb.name for nb in NOTEBOOKS]
    assert all(re.match(r"\d\d_[a-z0-9_]+\.ipynb$", n) for n in names), names
    toc_notebooks = [Path(e).name for e in toc_files() if e.startswith("notebooks/")]
    assert [Path(n).stem for n in names] == [Path(n).stem for n in toc_notebooks]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exactly_one_parameters_cell(path):
    cells = read(path).cells
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    cell = tagged[0]
    assert cell.cell_type == "code"
    assert "MODE = dcgan_lib.book.get_mode()" in cell.source
    assert re.search(r"^SEED\s*=", cell.source, re.M), "the parameters cell sets SEED"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_before_parameters_lists_deviations(path):
    cells = read(path).cells
    i = next(
        i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    before = cells[i - 1]
    assert i > 0 and before.cell_type == "markdown", "a markdown cell must precede the parameters"
    assert "paper" in before.source.lower(), "it lists what differs from the paper"


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_checks_and_an_admonition(path):
    cells = read(path).cells
    assert any(c.cell_type == "code" and "assert " in c.source for c in cells), "no assert cell"
    assert "{admonition}" in cells[0].source, "the first cell has the hardware/time admonition"
    assert any(c.cell_type == "code" and "import *" in c.source for c in cells) is False


def test_front_pages_exist_and_are_in_the_toc():
    files = toc_files()
    for page in ("intro", "how_to_run", "deviations", "references", "troubleshooting"):
        assert f"book/{page}" in files and (ROOT / "book" / f"{page}.md").is_file()


def test_config_executes_and_fails_on_errors():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] in ("force", "cache")
    assert config["execute"]["raise_on_error"] is True
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_kernel_rgx_aliases"] == {".*": "python3"}
    assert not sphinx["mathjax_path"].startswith("http"), "MathJax must be the local copy"
    assert "repository" not in config or "url" not in config["repository"]
