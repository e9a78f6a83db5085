"""The layout of the built pages as a reader sees them: Chromium at 1,280 x 900 px.

For each page: its height; whether its first 900 px hold a verdict box (``.dcgan-verdict``, made
by ``dcgan_lib.chapter.verdict_box``) and an image (an ``img``, ``svg``, ``canvas`` or ``video``
at least 120 px tall, of which at least 120 px lie in the first 900); table cells that break a
word or a number across lines (a break counts unless it follows ``-``, ``/``, an en or em dash;
tables folded into dropdowns are opened first); absolute local paths (``/work/``, ``/root/``,
``/home/``, ``/tmp/``) and matplotlib ``findfont`` warnings in the page's text; a "Run it
yourself" box (``.dcgan-run``); an "Exercises" heading; an animation (``.dcgan-animation``, the
``div.animation`` of matplotlib's ``to_jshtml`` player, or a ``video``); a drawn diagram
(``.dcgan-diagram``).

Page authors, on a built book::

    .venv/bin/python tests/page_layout.py _build/html            # every page of _toc.yml
    .venv/bin/python tests/page_layout.py _build/html notebooks/08_forgetting_objects

It prints one line per page and the problems found, and writes ``_build/page_layout.json``.
The book's browser test (``tests/test_book_build.py``) runs the same checks.
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WIDTH, FIRST_SCREEN = 1280, 900
MAX_CHAPTER_HEIGHT = 9000
MIN_IMAGE = 120  # px: an image this tall at least, this much of it on the first screen
BROWSER_FLAGS = [  # headless, offline, no profile chatter (tests/_book.py's Chromium too)
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLAGS = [*BROWSER_FLAGS, "--virtual-time-budget=8000", f"--window-size={WIDTH},{FIRST_SCREEN}"]

PROBE = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  var MIN_IMAGE = @MIN_IMAGE@;
  var article = document.querySelector('.bd-article') || document.body;
  function top(el) { return el.getBoundingClientRect().top + window.scrollY; }
  var out = {width: window.innerWidth,
             height: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)};
  var v = article.querySelector('.dcgan-verdict');
  out.verdict_top = v ? Math.round(top(v)) : null;
  out.images = [];
  article.querySelectorAll('img, svg, canvas, video').forEach(function (el) {
    if (el.tagName === 'IMG' && !(el.complete && el.naturalWidth > 0)) return;
    var r = el.getBoundingClientRect();
    if (r.height < MIN_IMAGE || r.width < MIN_IMAGE) return;
    out.images.push({tag: el.tagName.toLowerCase(), top: Math.round(r.top + window.scrollY),
                     height: Math.round(r.height)});
  });
  out.run_box = !!article.querySelector('.dcgan-run') ||
    Array.from(article.querySelectorAll('.admonition-title')).some(function (t) {
      return /Run it yourself/i.test(t.textContent); });
  out.exercises = Array.from(article.querySelectorAll('h1, h2, h3')).some(function (h) {
    return /^\\s*Exercises/i.test(h.textContent); });
  out.animation = !!article.querySelector('.dcgan-animation, div.animation, video');
  out.diagram = !!article.querySelector('.dcgan-diagram');
  var clone = document.body.cloneNode(true);
  clone.querySelectorAll('script, style, noscript').forEach(function (e) { e.remove(); });
  var text = clone.textContent, m, re = /(^|[^\\w.~-])(\\/(?:work|root|home|tmp)\\/\\S*)/g;
  out.local_paths = [];
  while ((m = re.exec(text)) && out.local_paths.length < 20) out.local_paths.push(m[2].slice(0, 80));
  out.findfont = [];
  re = /[^\\n]{0,60}findfont[^\\n]{0,60}/gi;
  while ((m = re.exec(text)) && out.findfont.length < 5) out.findfont.push(m[0].trim());
  // table cells: open the dropdowns first, then look for words broken across lines
  article.querySelectorAll('details').forEach(function (d) { d.open = true; });
  out.wraps = [];
  article.querySelectorAll('table td, table th').forEach(function (cell) {
    var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT), node;
    while ((node = walker.nextNode())) {
      var s = node.data, tok = /\\S+/g, t;
      while ((t = tok.exec(s))) {
        var range = document.createRange();
        range.setStart(node, t.index); range.setEnd(node, t.index + t[0].length);
        var rects = Array.from(range.getClientRects()).filter(function (r) { return r.width > 0; });
        if (rects.length < 2) continue;
        var prev = null, bad = false;
        for (var i = 0; i < t[0].length; i++) {
          var rr = document.createRange();
          rr.setStart(node, t.index + i); rr.setEnd(node, t.index + i + 1);
          var c = rr.getClientRects()[0];
          if (!c) continue;
          if (prev !== null && c.top - prev.top > prev.height / 2 && !/[-\\/\\u2013\\u2014]/.test(t[0][i - 1])) bad = true;
          prev = c;
        }
        if (bad && out.wraps.length < 30) {
          var row = cell.closest('tr'), table = cell.closest('table');
          out.wraps.push({token: t[0].slice(0, 60),
                          table: ((table.rows[0] || {}).innerText || '').split(/\\s+/).join(' ').slice(0, 60),
                          row: (row.innerText || '').split(/\\s+/).join(' ').slice(0, 60)});
        }
      }
    }
  });
  var pre = document.createElement('pre');
  pre.id = 'dcgan-page-layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 500); });
</script>""".replace("@MIN_IMAGE@", str(MIN_IMAGE))


def measure(page_file: Path, browser: str = CHROMIUM) -> dict:
    """One page's layout in Chromium at 1,280 x 900 (see the module docstring). The probe runs
    on a copy of the page in the same folder (same assets), removed afterwards."""
    page_file = Path(page_file)
    probe = page_file.with_name(f"{page_file.stem}.layout-probe.html")
    probe.write_text(page_file.read_text().replace("</body>", PROBE + "</body>"))
    profile = tempfile.mkdtemp(prefix="dcgan-chromium-")
    try:
        proc = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        probe.unlink()
    found = re.search(r'<pre id="dcgan-page-layout"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    if not found:
        raise RuntimeError(f"{page_file}: the layout probe did not run ({proc.stderr[-1000:]})")
    return json.loads(html_lib.unescape(found.group(1)))


def first_image(m: dict) -> dict | None:
    """The first image with at least ``MIN_IMAGE`` px on the first screen, or None."""
    shown = [i for i in m["images"] if i["top"] + MIN_IMAGE <= FIRST_SCREEN]
    return min(shown, key=lambda i: i["top"]) if shown else None


def opening_problems(m: dict) -> list[str]:
    """What a chapter's first screen lacks: its verdict box, an image."""
    out = []
    if m["verdict_top"] is None:
        out.append("no verdict box (.dcgan-verdict: dcgan_lib.chapter.frame)")
    elif m["verdict_top"] > FIRST_SCREEN - 40:
        out.append(f"the verdict box starts at {m['verdict_top']} px, below the first screen")
    if first_image(m) is None:
        tops = sorted(i["top"] for i in m["images"])
        where = f"the first image starts at {tops[0]} px" if tops else "the page has no image"
        out.append(
            f"no image in the first {FIRST_SCREEN} px ({where}; at least {MIN_IMAGE} px of one "
            "must show)"
        )
    return out


def wrap_problems(m: dict) -> list[str]:
    return [
        f"table cell breaks {w['token']!r} across lines (table: {w['table']!r}; row: {w['row']!r})"
        for w in m["wraps"]
    ]


def text_problems(m: dict) -> list[str]:
    out = [f"local path in the page text: {p}" for p in m["local_paths"]]
    return out + [f"findfont warning in the page text: {f}" for f in m["findfont"]]


def height_problems(m: dict) -> list[str]:
    if m["height"] > MAX_CHAPTER_HEIGHT:
        return [f"{m['height']:,} px tall at {WIDTH} px wide (at most {MAX_CHAPTER_HEIGHT:,})"]
    return []


def frame_problems(m: dict) -> list[str]:
    """Issue 22: every chapter has a "Run it yourself" box and an "Exercises" section."""
    out = []
    if not m["run_box"]:
        out.append('no "Run it yourself" box (.dcgan-run: dcgan_lib.chapter.show_run_box)')
    if not m["exercises"]:
        out.append('no "Exercises" section (a heading that starts with "Exercises")')
    return out


def chapter_problems(m: dict) -> list[str]:
    """Everything a chapter page must satisfy."""
    return (
        opening_problems(m) + height_problems(m) + frame_problems(m) + wrap_problems(m)
        + text_problems(m)
    )  # fmt: skip


def chapter_pages() -> list[str]:
    """The chapter pages (``dcgan_lib.chapter.CHAPTERS``), in reading order."""
    sys.path.insert(0, str(ROOT))
    from dcgan_lib.chapter import CHAPTERS

    return [c.page for c in CHAPTERS.values()]


def toc_pages() -> list[str]:
    import yaml

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


def report(
    site: Path, pages: list[str], browser: str = CHROMIUM, measured: dict | None = None
) -> dict[str, dict]:
    """Each page's measurements and problems (chapter pages: ``chapter_problems``; the others:
    wrapping cells and the page text); ``measured``: pages measured before (page -> ``measure``)."""
    chapters = set(chapter_pages())
    measured = {} if measured is None else measured
    out = {}
    for page in pages:
        if page not in measured:
            measured[page] = measure(site / f"{page}.html", browser)
        m = measured[page]
        first = first_image(m)
        problems = chapter_problems(m) if page in chapters else wrap_problems(m) + text_problems(m)
        out[page] = {
            "chapter": page in chapters,
            "height": m["height"],
            "verdict_top": m["verdict_top"],
            "first_image_top": first["top"] if first else None,
            "wrapping_cells": len(m["wraps"]),
            "run_box": m["run_box"],
            "exercises": m["exercises"],
            "animation": m["animation"],
            "diagram": m["diagram"],
            "problems": problems,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("site", nargs="?", default=str(ROOT / "_build" / "html"))
    p.add_argument("pages", nargs="*", help="default: every page of _toc.yml")
    p.add_argument("--json", default=str(ROOT / "_build" / "page_layout.json"))
    a = p.parse_args(argv)
    rows = report(Path(a.site).resolve(), a.pages or toc_pages())
    print(f"{'page':<36} {'height':>7} {'verdict':>8} {'image':>6} {'wraps':>6}  problems")
    for page, r in rows.items():
        cells = [r["height"], r["verdict_top"], r["first_image_top"], r["wrapping_cells"]]
        shown = ["-" if c is None else str(c) for c in cells]
        print(f"{page:<36} {shown[0]:>7} {shown[1]:>8} {shown[2]:>6} {shown[3]:>6}  "
              f"{len(r['problems'])}")  # fmt: skip
        for problem in r["problems"]:
            print(f"    - {problem}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(rows, indent=1))
    print(f"written: {a.json}")
    return 0 if not any(r["problems"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
