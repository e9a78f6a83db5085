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
from _book import BUILD_LOG, CHROMIUM_FLAGS, ROOT
from page_layout import toc_pages
from PIL import Image

# the book is built once per session by tests/conftest.py's `site` (with `browser`, `dom`)
pytestmark = pytest.mark.slow


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
              box_scroll: box.scrollWidth, head: (t.rows[0] || {innerText: ''}).innerText,
              box_right: box.getBoundingClientRect().right,
              box_overflow: getComputedStyle(box).overflowX});
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
    """Tables cut off at the column: wider than it, unless their own box scrolls sideways
    (book.css: a table that cannot wrap at spaces scrolls, it never breaks a word)."""
    return [
        " | ".join(t["head"].split())[:80]
        for t in tables
        if t.get("box_right", t["right"]) > t["column_right"] + 1
        or (
            (t["right"] > t["column_right"] + 1 or t["box_scroll"] > t["box_client"] + 1)
            and t.get("box_overflow") not in ("auto", "scroll")
        )
    ]


@pytest.mark.parametrize("page", PAGES)
def test_no_table_is_wider_than_its_column(site, browser, page):
    wide = too_wide(table_widths(site, browser, page))
    assert not wide, f"{page}: tables wider than the text column at 1,280 px: {wide}"


def test_the_table_check_sees_a_table_that_does_not_wrap(site, browser):
    # the intro's status table that neither wraps nor scrolls overflows: the check must notice
    page = site / "book" / "intro.html"
    original = page.read_text()
    unwrapped = (
        "<style>.bd-article table td, .bd-article table th { white-space: nowrap !important; }"
        ".bd-article .pst-scrollable-table-container { overflow: visible !important; }</style>"
    )
    try:
        page.write_text(original.replace("</head>", unwrapped + "</head>"))
        assert too_wide(table_widths(site, browser, "book/intro"))
    finally:
        page.write_text(original)


# ---------------------------------------------------------------------------------------------
# Issues 21 and 22: each chapter opens on its verdict box and an image in its first 900 px, is at
# most 9,000 px tall at 1,280 px wide, has a "Run it yourself" box and an "Exercises" section;
# no table cell breaks a word or a number; no page shows a local path or a findfont warning;
# §4 and §6.1 play an animation, §3 shows the drawn diagram. Measured in Chromium by
# tests/page_layout.py (page authors run it on a built book: `python tests/page_layout.py`).

import page_layout  # noqa: E402  (its toc_pages is imported above)

CHAPTER_PAGES = page_layout.chapter_pages()
LAYOUT: dict[str, dict] = {}  # page -> its measurements, shared by the tests below
ANIMATED = ("notebooks/02_training", "notebooks/06_latent_walks")  # issue 22: §4, §6.1
DIAGRAM = "notebooks/01_architecture"  # issue 22: §3's G drawn from its own shapes
book_group = pytest.mark.xdist_group("book")


def layout(site: Path, browser: str, page: str) -> dict:
    if page not in LAYOUT:
        LAYOUT[page] = page_layout.measure(site / f"{page}.html", browser)
    return LAYOUT[page]


def _fail(page: str, problems: list[str]) -> None:
    assert not problems, f"{page}: " + "; ".join(problems)


@book_group
def test_page_heights_are_reported(site, browser):
    for page in PAGES:
        layout(site, browser, page)
    rows = page_layout.report(site, PAGES, browser, LAYOUT)
    out = ROOT / "_build" / "page_layout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"\npage heights at {page_layout.WIDTH} px wide (written to {out}):")
    for page, r in rows.items():
        print(f"  {page:<36} {r['height']:>7,} px  {len(r['problems'])} problem(s)")
    assert all(r["height"] > 0 for r in rows.values())


@book_group
@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_opens_on_its_verdict_and_an_image(site, browser, page):
    _fail(page, page_layout.opening_problems(layout(site, browser, page)))


@book_group
@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_is_at_most_9000_px_tall(site, browser, page):
    _fail(page, page_layout.height_problems(layout(site, browser, page)))


@book_group
@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_has_a_run_box_and_exercises(site, browser, page):
    _fail(page, page_layout.frame_problems(layout(site, browser, page)))


@book_group
@pytest.mark.parametrize("page", PAGES)
def test_no_table_cell_breaks_a_word_or_number(site, browser, page):
    _fail(page, page_layout.wrap_problems(layout(site, browser, page)))


@book_group
@pytest.mark.parametrize("page", PAGES)
def test_no_local_path_or_findfont_warning_in_the_page(site, browser, page):
    _fail(page, page_layout.text_problems(layout(site, browser, page)))


@book_group
@pytest.mark.parametrize(
    "page, what", [(p, "animation") for p in ANIMATED] + [(DIAGRAM, "diagram")]
)
def test_animations_and_the_drawn_diagram(site, browser, page, what):
    marker = {
        "animation": ".dcgan-animation (dcgan_lib.animation), matplotlib's "
        "div.animation player or a <video>",
        "diagram": ".dcgan-diagram (dcgan_lib.chapter.show_marked)",
    }[what]
    assert layout(site, browser, page)[what], f"{page}: no {what} ({marker})"


BAD_PAGE = """<html><head><style>td { overflow-wrap: anywhere; }</style></head><body>
<article class="bd-article"><h1>A chapter</h1>
<table><tr><td style="width: 2em; max-width: 2em">1,950</td><td>autoencoder</td></tr></table>
<p>written to /work/somewhere/runs/x</p><pre>UserWarning: findfont: Font family not found</pre>
<div style="height: 9500px"></div><img src="data:image/png;base64,{png}" width="300" height="300">
</article></body></html>"""

GOOD_PAGE = """<html><body><article class="bd-article"><h1>A chapter</h1>
<div class="admonition dcgan-verdict"><p class="admonition-title">Verdict: partly</p></div>
<img src="data:image/png;base64,{png}" width="300" height="300">
<div class="admonition dcgan-run"><p class="admonition-title">Run it yourself</p></div>
<table><tr><td>1,950</td><td>autoencoder</td></tr></table>
<figure class="dcgan-animation"></figure><figure class="dcgan-diagram"></figure>
<h2>Exercises</h2></article></body></html>"""


@book_group
def test_the_layout_checker_can_fail(browser, tmp_path):
    # synthetic pages measured in Chromium: one lacks everything the chapters need, one has it
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "grey").save(buf, format="PNG")
    png = base64.b64encode(buf.getvalue()).decode()
    (tmp_path / "bad.html").write_text(BAD_PAGE.replace("{png}", png))
    (tmp_path / "good.html").write_text(GOOD_PAGE.replace("{png}", png))
    bad = page_layout.measure(tmp_path / "bad.html", browser)
    problems = " ".join(page_layout.chapter_problems(bad))
    for expected in ("no verdict box", "no image in the first 900 px", "px tall",
                     "Run it yourself", "Exercises", "breaks '1,950'",
                     "local path in the page text: /work/somewhere/runs/x", "findfont"):  # fmt: skip
        assert expected in problems, f"the checker missed: {expected} ({problems})"
    assert not bad["animation"] and not bad["diagram"]
    good = page_layout.measure(tmp_path / "good.html", browser)
    assert page_layout.chapter_problems(good) == []
    assert good["animation"] and good["diagram"]
