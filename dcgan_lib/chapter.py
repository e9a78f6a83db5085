"""The frame every chapter page opens with: its verdict, its key figure, how to run it yourself.

One registry (``CHAPTERS``) names, per chapter page, the paper's claims it tests (the rules are
``dcgan_lib.verdicts``), the commands that make its results (from ``artifacts.PRODUCERS``), what
they write, the stand-in used and the key figure; every box is built from it and from the stored
results, so a page's first cells stay two lines:

    import dcgan_lib.chapter as chapter
    chapter.frame("s631")      # the verdict box, then the key figure (first screen)
    chapter.show_run_box("s631")  # "Run it yourself": command, what it writes, measured cost

Reference material (the hardware table, the parameters table) folds into a dropdown:
``chapter.show_fold("Parameters", markdown)``. The boxes are MyST markdown (an admonition with
the class ``dcgan-verdict`` or ``dcgan-run``; a sphinx-design ``dropdown``), displayed from a
notebook cell and rendered by the book (``nb_render_markdown_format: myst``); the browser test
finds them by those classes. Figures a test must recognise are wrapped in an element with a
class: ``dcgan-diagram`` (§3's drawn G, ``show_marked``), ``dcgan-animation`` (§4 and §6.1,
``dcgan_lib.animation``).
Paper: §3-§6.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import re
from dataclasses import dataclass
from pathlib import Path

from dcgan_lib import artifacts, verdicts
from dcgan_lib.experiments import EXPERIMENTS, GPU_MINUTES

VERDICT_CLASS = "dcgan-verdict"  # the verdict box
RUN_CLASS = "dcgan-run"  # the "Run it yourself" box
DIAGRAM_CLASS = "dcgan-diagram"  # a diagram drawn by code (§3: G from its own shape walk)
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Job:
    """A command that makes part of a chapter's results."""

    command: str  # the shell command, as a reader types it from the repository root
    writes: tuple[str, ...] = ()  # what it writes under artifacts/ (folders or files)
    note: str = ""  # e.g. "on a GPU; repeat until it prints 'complete'"


@dataclass(frozen=True)
class Chapter:
    """One chapter page of the book."""

    key: str
    page: str  # e.g. "notebooks/08_forgetting_objects"
    title: str
    claims: tuple[str, ...]  # keys of verdicts.CLAIMS the page tests
    jobs: tuple[Job, ...]
    figure: str | None = None  # the key figure stored under artifacts/ ("name/file.png")
    caption: str = ""  # what to see in it
    no_claim: str = ""  # for a page that tests no claim of the paper: what it measures instead


_TRAILING = re.compile(r"\s{2,}\((.*)\)\s*$")  # "command  (note)"
_LEADING = re.compile(r"^\((.*?)\)\s*")  # "(note) command"
_TYPED_COST = re.compile(r"\d+\s*(?:s|min|minutes?|hours?)\b|\babout\b|\bmost of\b")


def producer_job(name: str, writes: tuple[str, ...] | None = None) -> Job:
    """The job of ``artifacts.PRODUCERS[name]``: its commands, one a line (a producer may chain
    several with ", then "), without the notes in parentheses; of those notes it keeps where and
    how to run (a GPU, what must run first, repeating), never a typed estimate of the cost (the
    box shows measured ones)."""
    commands, notes = [], []
    for part in artifacts.PRODUCERS[name].split(", then "):
        part = part.strip()
        for pattern in (_LEADING, _TRAILING):
            if match := pattern.search(part):
                notes += [n.strip() for n in match.group(1).split(";")]
                part = (part[: match.start()] + part[match.end() :]).strip()
        commands.append(part)
    kept = [n for n in notes if n and not _TYPED_COST.search(n) and not n.startswith("writes")]
    return Job("\n".join(commands), writes if writes is not None else (name,), "; ".join(kept))


def _experiments(names: tuple[str, ...]) -> Job:
    only = " ".join(names)
    return Job(
        f"python -m dcgan_lib reproduce --only {only} --data-root ../shared/data "
        f"--max-minutes {GPU_MINUTES}",
        names,
        "on a GPU; it prints its plan first; repeat until it prints 'complete'",
    )


_S4_RUNS = tuple(EXPERIMENTS)
# in the order of the book's table of contents (_toc.yml), which follows the paper
CHAPTERS: dict[str, Chapter] = {
    c.key: c
    for c in (
        Chapter(
            "s3", "notebooks/01_architecture", "§3 Architecture", ("s3",),
            (Job("DCGAN_MODE=book pytest --nbval-lax --nbval-current-env "
                 "notebooks/01_architecture.ipynb", (), "computed on the page; no stored result"),),
        ),
        Chapter(
            "s4", "notebooks/02_training", "§4 Training", ("s4",),
            (producer_job("celeba_dcgan64"),),
            "celeba_dcgan64/final.png",
            "Figure 4.1. 64 samples of the stored faces model (dcgan64, trained on CelebA-10k) "
            "from one fixed z after its last epoch: generated, not real.",
        ),
        Chapter(
            "s4q", "notebooks/10_sample_quality", "§4 Sample quality", ("s41", "s43"),
            (_experiments(_S4_RUNS),),
            None,  # drawn on the page from the stored results: the FID of every run (Figure 1)
        ),
        Chapter(
            "s411", "notebooks/03_dedup", "§4.1.1 De-duplication", ("s411",),
            (producer_job("dedup_ae", ("dedup_ae/metrics.json", "dedup_ae/ae.pt",
                                       "dedup_ae/speed.json")),
             producer_job("dedup_ae/galleries.json", ("dedup_ae/galleries.json",)),
             producer_job("dedup_ae/sweep.json")),
            None,  # drawn on the page from the stored numbers, with planted pairs from the data
            # when it is here (dedup_results.key_figure; caption: dedup_results.KEY_CAPTION)
        ),
        Chapter(
            "s4c", "notebooks/11_compute", "§4 Compute", (),
            (producer_job("benchmarks", (artifacts.THROUGHPUT,)),
             producer_job("numerics", (artifacts.NUMERICS,))),
            None,  # drawn on the page from the stored benchmark: images/s per loop (Figure 1)
            no_claim=(
                "The paper reports no training time or speed; its acknowledgments thank Nvidia "
                'for "a Titan-X GPU used in this work". This page measures how fast the '
                "library trains, and whether its fast engine changes the results."
            ),
        ),
        Chapter(
            "s51", "notebooks/04_cifar10_features", "§5.1 CIFAR-10 from D's features", ("s51",),
            (Job(producer_job("features_cifar10/authors_imagenet.json").command,  # authors' D
                 ("features_cifar10/authors_imagenet.json",
                  "features_cifar10/authors_imagenet_svm_all.pt"),
                 "on a CPU, with the converted weights in artifacts/authors_imagenet32; "
                 "resumable: repeat until it prints 'complete'"),
             _experiments(("imagenet32_tinyimagenet",)),  # the book's own D, on a GPU
             producer_job("features_cifar10", ("features_cifar10/metrics.json",
                                               "features_cifar10/svm_all.pt")),
             producer_job("features_cifar10/baselines_cpu.json")),
            # key figure: Table 1's rows drawn on the page from the stored numbers
            # (features_results.table1_figure; caption: features_results.TABLE1_CAPTION)
        ),
        Chapter(
            "s52", "notebooks/05_svhn", "§5.2 SVHN with 1,000 labels", ("s52",),
            # first the Table 2 row: the authors' SVHN D by their exact protocol; then our D
            (dataclasses.replace(
                producer_job("features_svhn/authors_svhn.json",
                             ("features_svhn/authors_svhn.json",)),
                note="the first line needs the internet; the second is the authors' protocol"),
             producer_job("features_svhn", ("features_svhn/metrics.json",))),
            None,  # drawn on the page when it builds: the authors' SVHN G on a fixed z grid
            # (studies.authors_svhn.sample_grid), with its caption there
        ),
        Chapter(
            "s61", "notebooks/06_latent_walks", "§6.1 Walking in the latent space", ("s61",),
            (producer_job("latent_walks"),),
            "latent_walks/walk.png",
            "Figure 1. One walk of the faces model through 9 random points of z, one row per "
            "segment, read left to right (a row's last image is the next row's first): each row "
            "turns one face into the next gradually; how evenly is measured below.",
        ),
        Chapter(
            "s62", "notebooks/07_guided_backprop", "§6.2 D's features by guided backpropagation",
            ("s62",),
            (producer_job("guided_backprop_faces"), _experiments(("tinyimagenet_dcgan64",)),
             producer_job("guided_backprop_scenes")),
            "guided_backprop_faces/maps_generated.png",
            "Figure 1. Guided-backpropagation maps of the first 6 features of D's last layer, "
            "each on the 8 generated faces it responds to most (strongest left): a random D on "
            "top (the paper's baseline), the faces model's trained D below. Compare how much of "
            "each map lights up, and whether a feature's maps pick out the same part of a face.",
        ),
        Chapter(
            "s631", "notebooks/08_forgetting_objects", "§6.3.1 Forgetting to draw an object",
            ("s631",),
            (producer_job("forgetting_faces"),),
            # key figure drawn on the page from the stored study, at a readable size
            # (report_forgetting.show_key_figure), so none is named here
        ),
        Chapter(
            "s632", "notebooks/09_vector_arithmetic", "§6.3.2 Vector arithmetic", ("s632",),
            (producer_job("vector_arithmetic"), producer_job("celeba_attributes"),
             producer_job("celeba_pose", ("celeba_pose/reliability.json",))),
            # key figure (Fig. 7, Y at the centre) drawn on the page from the stored study
            # (report_arithmetic.show_example), so none is named here
        ),
    )
}  # fmt: skip


def chapter_of(key: str) -> Chapter:
    if key not in CHAPTERS:
        raise KeyError(f"no chapter {key!r}; the chapters are {sorted(CHAPTERS)}")
    return CHAPTERS[key]


@functools.cache
def _verdict(key: str, root: str) -> verdicts.Verdict:
    return verdicts.judge(key, Path(root))


def chapter_verdicts(key: str, root: Path | None = None) -> dict[str, verdicts.Verdict]:
    """The verdict of each claim the chapter tests, from the stored results."""
    root = Path(root or artifacts.artifacts_dir())
    return {c: _verdict(c, str(root)) for c in chapter_of(key).claims}


# ---------------------------------------------------------------------------------------------
# The boxes, as MyST markdown


def _admonition(title: str, classes: str, body: str) -> str:
    """A MyST admonition with ``classes``, fenced with four colons (it may hold a dropdown)."""
    return f"::::{{admonition}} {title}\n:class: {classes}\n\n{body.strip()}\n::::\n"


def fold(title: str, body: str, open_: bool = False) -> str:
    """Markdown folded into a dropdown (sphinx-design): reference material a reader opens on
    demand (the hardware table, the parameters table)."""
    opened = "\n:open:" if open_ else ""
    return f":::{{dropdown}} {title}{opened}\n\n{body.strip()}\n:::\n"


def verdict_box(key: str, root: Path | None = None) -> str:
    """The chapter's verdict box (MyST): per claim, the paper's words, our evidence in one line
    with its numbers, the verdict and the stand-in used; the rule folded below. Paper: §3-§6."""
    ch = chapter_of(key)
    found = chapter_verdicts(key, root)
    if not found:
        return _admonition(
            "Verdict: no claim of the paper here", f"{VERDICT_CLASS} dcgan-verdict-none",
            f"{ch.no_claim}\n\nThe status of every claim is on the {{doc}}`intro page "
            "<../book/intro>`.",
        )  # fmt: skip
    blocks, rules = [], []
    for c, v in found.items():
        claim = verdicts.CLAIMS[c]
        head = f"**{claim.section}**: *{v.verdict}*. " if len(found) > 1 else ""
        lines = [f"{head}**The paper:** {claim.claim}", f"**Our evidence:** {v.evidence}."]
        if v.stand_in:
            lines.append(f"**Stand-in:** {v.stand_in}.")
        blocks.append("\n\n".join(lines))
        rules.append(f"**{claim.section}**: {claim.rule}" if len(found) > 1 else claim.rule)
    words = [v.verdict for v in found.values()]
    title = (
        f"Verdict: {words[0]}"
        if len(words) == 1
        else "Verdicts: " + "; ".join(f"{verdicts.CLAIMS[c].section} {v.verdict}"
                                      for c, v in found.items())
    )  # fmt: skip
    worst = next(w for w in (verdicts.NOT_REPRODUCED, verdicts.PARTLY, verdicts.NOT_RUN,
                             verdicts.REPRODUCED) if w in words)  # fmt: skip
    css = f"{VERDICT_CLASS} dcgan-verdict-{worst.replace(' ', '-')}"
    body = "\n\n".join(blocks) + "\n\n" + fold("How the verdict is computed", "\n\n".join(rules))
    return _admonition(title, css, body)


def _fmt_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _hardware(machine: str) -> str:
    """A manifest machine without its software ('one NVIDIA H200 (141 GB)')."""
    return re.split(r", (?:CUDA|driver|torch|Python)\b", machine)[0]


def _kind(machine: str) -> str:
    """'GPU' or 'CPU' for a machine or device name."""
    from dcgan_lib.compute import is_gpu

    return "GPU" if is_gpu(machine) else "CPU"


def measured_costs(writes: tuple[str, ...], root: Path | None = None) -> dict[str, list[str]]:
    """What making ``writes`` cost, from stored measurements only: per kind of machine
    ("GPU", "CPU"), one text per measurement ('0.7 min a seed (3 seeds; one NVIDIA H200 ...)').
    Experiments: their result files' training and FID minutes; other artifacts: the manifest's
    ``wall_seconds`` / ``cpu_seconds`` and ``machine`` (each producing run once)."""
    from dcgan_lib.studies.experiments_results import read_results

    root = Path(root or artifacts.artifacts_dir())
    manifest = artifacts.read_manifest(root)["files"]
    out: dict[str, list[str]] = {"GPU": [], "CPU": []}
    seen: set = set()
    for w in writes:
        name = w.split("/")[0]
        if name in EXPERIMENTS and w == name:
            runs = read_results(name, root)
            if runs:
                mins = [r["train_minutes"] + r["fid_minutes"] for r in runs]
                device = runs[0]["devices"][0] if runs[0].get("devices") else "unknown device"
                text = f"{_fmt_seconds(60 * sum(mins) / len(mins))} a seed ({name}, "
                text += f"{len(runs)} seed{'s' if len(runs) > 1 else ''}; {device})"
                out[_kind(device)].append(text)
            continue
        files = [f for f in manifest if f == w or f.startswith(w.rstrip("/") + "/")]
        for f in files:
            e = manifest[f]
            if not e.get("machine") or not (e.get("wall_seconds") or e.get("cpu_seconds")):
                continue
            # one producing run: its command and what it measured (files redrawn later from
            # the same run keep its times but get a new "created")
            run = (e.get("command"), e.get("wall_seconds"), e.get("cpu_seconds"), e["machine"])
            if run in seen:
                continue
            seen.add(run)
            parts = []
            if e.get("wall_seconds"):
                parts.append(f"{_fmt_seconds(e['wall_seconds'])} wall")
            if e.get("cpu_seconds"):
                parts.append(f"{_fmt_seconds(e['cpu_seconds'])} of CPU time")
            out[_kind(e["machine"])].append(
                f"{', '.join(parts)} ({f.split('/')[0]}; {_hardware(e['machine'])})"
            )
    return out


def run_box(key: str, root: Path | None = None) -> str:
    """The "Run it yourself" box (MyST): each command that makes the chapter's results, what it
    writes, and its cost on a GPU and on a CPU from stored measurements ("not measured" where
    none is stored). Paper: §3-§6 (issue: run it yourself)."""
    ch = chapter_of(key)
    items = []
    for job in ch.jobs:
        costs = measured_costs(job.writes, root)
        writes = ", ".join(f"`artifacts/{w}`" for w in job.writes) or "nothing under `artifacts/`"
        lines = [
            f"```bash\n{job.command}\n```",
            f"Writes {writes}" + (f" ({job.note})." if job.note else "."),
            "Cost, as measured: GPU: " + ("; ".join(costs["GPU"]) or NOT_MEASURED)
            + "; CPU: " + ("; ".join(costs["CPU"]) or NOT_MEASURED) + ".",
        ]  # fmt: skip
        items.append("\n\n".join(lines))
    body = "\n\n".join(items)
    body += (
        "\n\nFrom the repository root, after `make setup-python`; the data root holds the data "
        "sets ({doc}`../book/how_to_run`). Then `make book` shows the new results here."
    )
    return _admonition("Run it yourself", RUN_CLASS, body)


# ---------------------------------------------------------------------------------------------
# Displaying them from a notebook cell


def _markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_verdict(key: str, root: Path | None = None) -> None:
    """Display the chapter's verdict box."""
    _markdown(verdict_box(key, root))


def show_key_figure(key: str, root: Path | None = None) -> None:
    """Display the chapter's key figure (stored under ``artifacts/``) with its caption; without
    one stored, the not-produced message naming its command."""
    from dcgan_lib.book import not_produced
    from dcgan_lib.plotting import show

    ch = chapter_of(key)
    if ch.figure is None:
        return
    name, _, filename = ch.figure.partition("/")
    try:
        path = artifacts.require(name, filename, root)
    except artifacts.ArtifactMissing as err:
        not_produced(err)
        return
    show(path)
    if ch.caption:
        _markdown(f"*{ch.caption}*")


def frame(key: str, root: Path | None = None) -> None:
    """A chapter's first screen: its verdict box, then its key figure (when it has a stored
    one; a page whose figure is drawn shows it right after this call)."""
    show_verdict(key, root)
    show_key_figure(key, root)


def show_run_box(key: str, root: Path | None = None) -> None:
    """Display the chapter's "Run it yourself" box."""
    _markdown(run_box(key, root))


def show_fold(title: str, body: str, open_: bool = False) -> None:
    """Display markdown ``body`` folded into a dropdown titled ``title``."""
    _markdown(fold(title, body, open_))


def marked_html(content_html: str, css_class: str, caption: str = "") -> str:
    """HTML ``content_html`` inside a ``<figure>`` with ``css_class`` (and a caption), so that
    the browser test can recognise it."""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="{css_class}">{content_html}{cap}</figure>'


def show_marked(fig_or_png, css_class: str, caption: str = "", alt: str = "") -> None:
    """Display a matplotlib figure (or PNG bytes) as an image inside an element with
    ``css_class``: ``DIAGRAM_CLASS`` for §3's drawn G."""
    from IPython.display import HTML, display

    from dcgan_lib.plotting import png_bytes

    data = fig_or_png if isinstance(fig_or_png, bytes) else png_bytes(fig_or_png)
    img = (
        f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}" '
        f'alt="{html.escape(alt or caption)}" style="max-width:100%">'
    )
    display(HTML(marked_html(img, css_class, caption)))
