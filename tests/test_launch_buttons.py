"""Launch buttons (Binder, Colab) are one setting: repository.url in _config.yml, empty (off) here;
a public GitHub URL turns them on and the book still builds offline with warnings as errors."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml
from jupyter_book.config import yaml_to_sphinx

from dcgan_lib.book import repo_root

CONFIG = yaml.safe_load((repo_root() / "_config.yml").read_text())


def _switch():
    path = repo_root() / "book" / "_ext" / "launch_switch.py"
    spec = importlib.util.spec_from_file_location("launch_switch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.switch


def test_the_book_has_launch_buttons_set_up_and_off():
    assert CONFIG["repository"]["url"] == ""  # off until the public repository's URL is set
    assert CONFIG["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["sphinx"]["local_extensions"] == {"launch_switch": "book/_ext"}
    theme = _switch()(yaml_to_sphinx(CONFIG)[0]["html_theme_options"])
    assert "binderhub_url" not in theme["launch_buttons"]  # what the theme sees: no providers
    assert "colab_url" not in theme["launch_buttons"]


def test_a_github_url_keeps_the_providers():
    on = CONFIG | {"repository": CONFIG["repository"] | {"url": "https://github.com/o/r"}}
    theme = _switch()(yaml_to_sphinx(on)[0]["html_theme_options"])
    assert theme["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert theme["repository_url"] == "https://github.com/o/r"


def _tiny_book(root: Path, url: str) -> None:
    """A one-notebook book with this book's launch settings and extension, and ``url``."""
    (root / "intro.md").write_text("# Intro\n")
    cells = [nbformat.v4.new_markdown_cell("# A page"), nbformat.v4.new_code_cell("print(1)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}  # fmt: skip
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    nbformat.write(nb, root / "nb.ipynb")
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: nb\n")
    shutil.copytree(repo_root() / "book" / "_ext", root / "book" / "_ext")
    config = {
        "title": "t",
        "execute": {"execute_notebooks": "off"},
        "repository": CONFIG["repository"] | {"url": url},
        "launch_buttons": CONFIG["launch_buttons"],
        "html": CONFIG["html"],
        "sphinx": {"local_extensions": CONFIG["sphinx"]["local_extensions"]},
    }
    (root / "_config.yml").write_text(yaml.safe_dump(config))


def test_with_a_github_url_the_buttons_appear_and_the_build_passes_offline(tmp_path):
    _tiny_book(tmp_path, "https://github.com/owner/dcgan-reproduced")
    jb = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run([str(jb), "build", str(tmp_path), "-W", "--all"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = (tmp_path / "_build" / "html" / "nb.html").read_text()
    assert "https://mybinder.org/v2/gh/owner/dcgan-reproduced/main?urlpath=tree/nb.ipynb" in page
    assert "colab.research.google.com/github/owner/dcgan-reproduced/blob/main/nb.ipynb" in page
