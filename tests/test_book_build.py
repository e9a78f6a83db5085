"""Build the book in book mode with warnings as errors, then read the rendered site in a real
headless Chromium: every page of the toc loads, every image decodes, maths render with the local
MathJax, no internal link is broken, and at 1,280 px no table is wider than the text column.
Slow (minutes); needs Chromium (`make setup`)."""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from _book import BUILD_LOG, CHROMIUM_FLAGS, ROOT
from PIL import Image

# the book is built once per session by tests/conftest.py's `site` (with `browser`, `dom`)
pytestmark = pytest.mark.slow


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key, value in node.items():
                if key != "file":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return [str(Path(p).with_suffix("")) for p in pages]


PAGES = toc_pages()


class Collector(HTMLParser):
    """Tags, ids and the URLs a page refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.math_elements = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if "math" in a.get("class", "").split():
            self.math_elements += 1


def parse(html: str) -> Collector:
    c = Collector()
    c.feed(html)
    return c


def test_the_build_writes_every_page(site):
    missing = [p for p in PAGES if not (site / f"{p}.html").exists()]
    assert not missing, f"pages in _toc.yml that the build did not write: {missing}"
    assert "book/intro.html" in (site / "index.html").read_text()


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_in_chromium(dom, page):
    html = dom(page)
    c = parse(html)
    assert "h1" in c.tags, f"{page}: no <h1> in the rendered page"
    assert "main" in c.tags or "article" in c.tags, f"{page}: no main content"
    assert "Traceback (most recent call last)" not in html, f"{page} shows a traceback"


@pytest.mark.parametrize("page", PAGES)
def test_images_resolve_and_decode(site, dom, page):
    base = (site / f"{page}.html").parent
    for src in parse(dom(page)).imgs:
        assert src, f"{page}: an <img> without src"
        if src.startswith("data:"):
            header, _, data = src.partition(",")
            raw = base64.b64decode(data) if header.endswith(";base64") else unquote(data).encode()
        else:
            url = urlsplit(src)
            assert url.scheme in ("", "file"), f"{page}: image from the network: {src}"
            path = Path(unquote(url.path)) if url.scheme == "file" else base / unquote(url.path)
            assert path.is_file(), f"{page}: image {src} -> {path} does not exist"
            raw = path.read_bytes()
        if raw.lstrip().startswith(b"<"):  # SVG: must at least be XML with an <svg> root
            assert b"<svg" in raw[:2000], f"{page}: {src} is not an image"
            continue
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            assert img.size[0] > 0 and img.size[1] > 0


def test_notebook_figures_are_rendered(site, dom):
    # the §3 page always draws the initialisation histograms
    imgs = parse(dom("notebooks/01_architecture")).imgs
    assert any("_images/" in src for src in imgs), "no figure rendered on the §3 page"


def test_training_page_shows_results_or_says_not_produced(dom):
    from dcgan_lib.artifacts import ArtifactMissing, require

    html = dom("notebooks/02_training")
    try:
        require("celeba_dcgan64", "final.png")
    except ArtifactMissing:
        assert "Not produced yet." in html
        # the command it names is copyable: no "--" turned into a dash by smart quotes
        assert "experiment celeba_dcgan64 --data-root" in html, (
            "the not-produced message mangles the command"
        )
    else:
        assert len(parse(html).imgs) >= 3, "the samples and curves are missing from §4"


def test_maths_render_with_the_local_mathjax(site, dom):
    pages_with_maths = []
    for page in PAGES:
        raw = parse((site / f"{page}.html").read_text())
        if raw.math_elements:
            pages_with_maths.append(page)
            scripts = [s for s in raw.scripts if "mathjax" in s.lower()]
            assert scripts, f"{page} has maths but loads no MathJax"
            for s in scripts:
                assert not urlsplit(s).scheme, f"{page}: MathJax from the network: {s}"
                path = (site / f"{page}.html").parent / urlsplit(s).path
                assert path.is_file(), f"{page}: {s} does not exist"
            assert "<mjx-container" in dom(page), f"{page}: maths did not render (raw TeX)"
    assert "notebooks/02_training" in pages_with_maths, "the §4 page must show the GAN losses"


@pytest.mark.parametrize("page", PAGES)
def test_no_broken_internal_links(site, dom, page):
    here = site / f"{page}.html"
    c = parse(dom(page))
    broken = []
    for href in c.links:
        url = urlsplit(href)
        if url.scheme in ("http", "https", "mailto", "javascript") or href.startswith("//"):
            continue
        if url.scheme == "file":
            target = Path(unquote(url.path))
        elif not url.path:
            target = here
        else:
            target = here.parent / unquote(url.path)
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target})")
            continue
        if url.fragment and target.suffix == ".html":
            ids = c.ids if target == here else parse(target.read_text()).ids
            if url.fragment not in ids:
                broken.append(f"{href} (no id {url.fragment!r} in {target.name})")
    assert not broken, f"{page}: broken links: {broken}"


def test_the_build_prints_no_kernel_transport_warning(site):
    # ipykernel's warning about local unencrypted TCP, once per notebook: silenced by the kernel
    # configuration `make setup` installs (book/ipython_kernel_config.py)
    assert "without encryption" not in BUILD_LOG[-1]


# At 1,280 px: each table's box against the text column, measured by Chromium after layout.
TABLE_PROBE = """<script>
document.addEventListener('DOMContentLoaded', function () { setTimeout(function () {
  var column = (document.querySelector('.bd-article') || document.body).getBoundingClientRect();
  var out = [];
  document.querySelectorAll('.bd-article table').forEach(function (t) {
    var r = t.getBoundingClientRect(), box = t.parentElement;
    out.push({right: r.right, column_right: column.right, box_client: box.clientWidth,
              box_scroll: box.scrollWidth, head: (t.rows[0] || {innerText: ''}).innerText});
  });
  var pre = document.createElement('pre');
  pre.id = 'dcgan-table-widths';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300); });
</script>"""


def table_widths(site: Path, browser: str, page: str) -> list[dict]:
    """Every table of a page with its right edge, the column's right edge and whether its box
    scrolls (a cut-off table), as laid out by Chromium in a 1,280 px wide window."""
    page_file = site / f"{page}.html"
    probe = page_file.with_name(f"{page_file.stem}.table-probe.html")  # same folder: same assets
    probe.write_text(page_file.read_text().replace("</body>", TABLE_PROBE + "</body>"))
    profile = tempfile.mkdtemp(prefix="dcgan-chromium-")
    try:
        proc = subprocess.run(
            [browser, *CHROMIUM_FLAGS, "--window-size=1280,900", f"--user-data-dir={profile}"]
            + ["--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    found = re.search(r'<pre id="dcgan-table-widths"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    assert found, f"{page}: the table probe did not run ({proc.stderr[-1000:]})"
    return json.loads(html_lib.unescape(found.group(1)))


def too_wide(tables: list[dict]) -> list[str]:
    return [
        " | ".join(t["head"].split())[:80]
        for t in tables
        if t["right"] > t["column_right"] + 1 or t["box_scroll"] > t["box_client"] + 1
    ]


@pytest.mark.parametrize("page", PAGES)
def test_no_table_is_wider_than_its_column(site, browser, page):
    wide = too_wide(table_widths(site, browser, page))
    assert not wide, f"{page}: tables wider than the text column at 1,280 px: {wide}"


def test_the_table_check_sees_a_table_that_does_not_wrap(site, browser):
    # the intro's status table without the book's CSS overflows: the check must notice
    page = site / "book" / "intro.html"
    original = page.read_text()
    try:
        page.write_text(original.replace("book.css", "no-such-stylesheet.css"))
        assert too_wide(table_widths(site, browser, "book/intro"))
    finally:
        page.write_text(original)
