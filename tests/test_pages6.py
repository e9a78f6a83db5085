"""The §6 pages (notebooks 06-09): plumbing hidden, teaching shown, and book mode reading a stored
study whose command the library knows."""

from pathlib import Path

import nbformat
import pytest

from dcgan_lib.artifacts import PRODUCERS

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "06_latent_walks.ipynb": ["latent_walks"],
    "07_guided_backprop.ipynb": ["guided_backprop_faces", "guided_backprop_scenes"],
    "08_forgetting_objects.ipynb": ["forgetting_faces"],
    "09_vector_arithmetic.ipynb": ["vector_arithmetic"],
}


def _code(name: str) -> list:
    return [c for c in nbformat.read(ROOT / "notebooks" / name, 4).cells if c.cell_type == "code"]


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("name", sorted(PAGES))
def test_plumbing_is_hidden_and_teaching_is_shown(name):
    cells = _code(name)
    hiding = {"hide-input", "remove-input"}  # folded behind a toggle, or left out of the page
    assert hiding & set(_tags(cells[0])) and "import " in cells[0].source  # the imports
    for cell in cells:
        hidden = bool(hiding & set(_tags(cell)))
        if "glue(" in cell.source or "def " in cell.source:  # glue and display helpers
            assert hidden, f"{name}: plumbing shown:\n{cell.source[:200]}"
        if "parameters" in _tags(cell) or cell.source.startswith("dcgan_lib.book.show_source"):
            assert not hidden, f"{name}: teaching hidden:\n{cell.source[:200]}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_book_mode_reads_a_stored_study_whose_command_is_known(name):
    # the page's result: book.result loads the stored study (load_stored) in book mode, and runs
    # the command's job (run_job) in the other modes; page 07 through report_guided.page_study
    source = "\n".join(c.source for c in _code(name))
    if "report_guided.page_study(" not in source:
        assert "dcgan_lib.book.result(" in source
        assert ".load_stored(" in source and ".run_job(" in source
    for study in PAGES[name]:
        assert PRODUCERS[study].startswith("python -m dcgan_lib ")
        assert "--export" in PRODUCERS[study]
