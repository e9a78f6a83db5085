"""The status of every experiment of the book, read from ``artifacts/``: what each reproduces, on
what data, whether its stored results exist, and its headline number.

``status_markdown()`` is the table the README shows, and ``status_rows()`` the one source of the
book's intro (each row's state, and where its files were made: ``book_cell``; whether the paper's
claim held here: ``verdict_cell``); nothing in either is typed by hand: a row is "stored" only
when every file it names is in ``artifacts/`` with the sha256 the manifest records, each headline
is computed from those files, and each verdict by the rule of ``dcgan_lib.verdicts``. Regenerate the
README's copy with ``python -m dcgan_lib status --write-readme``; a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dcgan_lib import artifacts, experiments, verdicts
from dcgan_lib.book import repo_root
from dcgan_lib.compute import is_gpu, machines
from dcgan_lib.studies.experiments_results import fid_text, read_results, summarize

Headline = Callable[[Path], str | None]


@dataclass(frozen=True)
class Row:
    """One experiment of the paper as the book reproduces it."""

    section: str  # the paper's section and figure or table
    reproduces: str  # what the paper shows there
    data: str  # the data we use (a stand-in where the paper's is not obtainable)
    page: str  # the book page, e.g. "notebooks/02_training"
    artifacts: tuple[str, ...] = ()  # files under artifacts/ the page loads ("name/file")
    headline: Headline | None = None  # the number to show, from those files
    key: str = ""  # its name in the book's intro (``status_<key>``)


def _results(name: str) -> tuple[str, ...]:
    """The result files of every seed of experiment ``name``."""
    return experiments.get_experiment(name).result_files()


def _fid(name: str, root: Path) -> str | None:
    """'FID-10k/celeba10k 121.4 ± 7.1 (sd, 3 seeds)' from the stored results, or None."""
    results = read_results(name, root)
    if not results:
        return None
    stats = summarize(results)[experiments.get_experiment(name).headline_key()]
    return f"{stats['protocol']} {fid_text(stats)}"


def _anchor(name: str) -> str:
    a = experiments.anchor_of(name)
    return f"{a.what}: {a.fid}"


def _faces(root: Path) -> str | None:
    ours = _fid("celeba_dcgan64", root)
    return ours and f"{ours}; {_anchor('celeba_dcgan64')}"


def _design(root: Path) -> str | None:
    parts = [
        f"`{experiments.get_experiment(n).config}` {f.split(' ', 1)[1]}"
        for n in ("celeba_paper64", "celeba_dcgan64", "celeba_examples64")
        if (f := _fid(n, root))
    ]
    return "FID-10k/celeba10k: " + ", ".join(parts) if parts else None


def _cifar(root: Path) -> str | None:
    ours = _fid("cifar10_imagenet32", root)
    return (
        ours
        and f"{ours}; {_anchor('cifar10_imagenet32')} (another network, StudioGAN's own protocol)"
    )


def _dedup(root: Path) -> str | None:
    m = json.loads((root / "dedup_ae" / "metrics.json").read_text())
    exact = m["planted"]["autoencoder"]["0"]
    return (
        f"exact hash collisions find {exact['recall']:.0%} of {exact['n_planted']:,} planted "
        f"near-duplicates at precision {exact['precision_strict']:.2f}"
    )


def _cpu_baselines(root: Path) -> str | None:
    m = json.loads((root / "features_cifar10" / "baselines_cpu.json").read_text())
    r = m["results"].get("pixels/100")
    if r is None:
        return None
    te = r["test_error"]
    return f"raw pixels, 100 labels per class: {100 - te['mean']:.1f}% accuracy on {m['data']}"


def _authors_s51(root: Path) -> str | None:
    """The authors' D (layers 1-4) on CIFAR-10 beside its controls, from its stored results."""
    m = json.loads((root / "features_cifar10" / "authors_imagenet.json").read_text())
    res = m["results"]

    def acc(key: str) -> str | None:
        r = res.get(key)
        if r is None:
            return None
        te = r["test_error"]
        return f"{100 - (te['mean'] if isinstance(te, dict) else te):.1f}%"

    parts = []
    for regime, label in (("all", "all labels"), ("400", "400 per class")):
        d = acc(f"dcgan/{regime}")
        if d is None:
            continue
        ctrl = [f"{n} {a}" for n in ("random", "pixels") if (a := acc(f"{n}/{regime}"))]
        parts.append(f"{label} {d}" + (f" ({', '.join(ctrl)})" if ctrl else ""))
    if not parts:
        return None
    return "the authors' ImageNet-1k D, layers 1-4: " + "; ".join(parts) + f" on {m['data']}"


def _compute(root: Path) -> str | None:
    step = json.loads((root / "benchmarks" / "throughput.json").read_text())
    speedups = [c["speedup"]["fast"] for c in step["step"]["configs"].values()]
    e2e = step["e2e"]
    return (
        f"fast engine {min(speedups):.1f}-{max(speedups):.1f}x pytorch/examples' loop per step, "
        f"{e2e['speedup_epoch']:.1f}x per epoch from the archive ({step['step']['gpu']})"
    )


def _study(name: str, root: Path) -> dict:
    """A stored §6 study's metrics, or {} when it is not stored (the model may be)."""
    if not artifacts.is_stored(f"{name}/metrics.json", root):
        return {}
    return json.loads((root / name / "metrics.json").read_text())


def _walks(root: Path) -> str | None:
    share = _study("latent_walks", root).get("smoothness")
    if share is None:
        return None
    g, m = share["generator"]["max_step_share"], share["memorizer"]["max_step_share"]
    return (
        f"a walk segment's largest step carries a median {g['median']:.3f} of its change "
        f"(a memorizer: {m['median']:.3f}; an even change: {1 / share['steps']:.3f})"
    )


def _forgetting(root: Path) -> str | None:
    study = _study("forgetting_faces", root)
    objects, n_eval = study.get("objects"), study.get("config", {}).get("n_eval", 0)
    if objects is None:
        return None
    parts = [
        f"{name.replace('_', ' ').lower()} {o['rate_before']:.3f} -> {o['rate_dropped']:.3f} "
        f"(random maps: {o['rate_random_mean']:.3f})"
        + (", too rare to measure" if round(o["rate_before"] * n_eval) < verdicts.MIN_SHOWN else "")
        for name, o in objects.items()
        if "," not in name and "skipped" not in o  # the paper's negatives, measured
    ]
    return "the classifier's rate before -> with the object's maps dropped: " + "; ".join(parts)


def _arithmetic(root: Path) -> str | None:
    study = _study("vector_arithmetic", root)
    arithmetic, turn = study.get("arithmetic"), study.get("turn")
    if arithmetic is None:
        return None
    parts = [
        f"{a['equation']}: target in {a['success']['z']:.0%} of {a['n_trials']} trials "
        f"(random z {a['success']['random_z']:.0%}, pixels {a['success']['pixel']:.0%})"
        for a in arithmetic.values()
    ]
    if turn and turn["turn"].get("spearman") is not None:
        parts.append(
            f"turn: a pose cue's score rose for {turn['turn']['rose']:.0%} of samples "
            f"(a random control direction: {turn['control']['rose']:.0%})"
        )
    return "; ".join(parts)


_FACES_MODEL = ("celeba_dcgan64/G.pt", "celeba_dcgan64/D.pt")
# paper §4.2: "approximately 350,000 face boxes" detected in "3M images from 10K people"
CELEBA = "CelebA-10k (for the unreleased faces set: about 350,000 face boxes from 3M web images)"

ROWS: tuple[Row, ...] = (
    Row("§3, Fig. 1", "the architecture guidelines; the 64 px generator", "none needed",
        "notebooks/01_architecture", key="s3"),
    Row("§4, §4.2", "the training recipe; faces after 1 and 5 epochs and at the end", CELEBA,
        "notebooks/02_training",
        _results("celeba_dcgan64") + ("celeba_dcgan64/final.png", "celeba_dcgan64/G.pt"),
        _faces, key="s4"),
    Row("§4.1, Figs. 2-3", "LSUN bedrooms after 1 and 5 epochs",
        "Tiny ImageNet at 64 px (LSUN is not obtainable here)", "notebooks/10_sample_quality",
        _results("tinyimagenet_dcgan64"), lambda r: _fid("tinyimagenet_dcgan64", r), key="s41"),
    Row("§4.1.1", "de-duplication with an autoencoder hash",
        "near-duplicates planted into Tiny ImageNet and CIFAR-10", "notebooks/03_dedup",
        ("dedup_ae/metrics.json", "dedup_ae/ae.pt"), _dedup, key="s411"),
    Row("§4.3", "ImageNet-1k at 32 px", "Tiny ImageNet at 32 px", "notebooks/10_sample_quality",
        _results("imagenet32_tinyimagenet"), lambda r: _fid("imagenet32_tinyimagenet", r),
        key="s43"),
    Row("§4 (not in the paper)", "the paper's network against pytorch/examples' at equal updates",
        "CelebA-10k", "notebooks/10_sample_quality",
        _results("celeba_paper64") + _results("celeba_examples64"), _design, key="design"),
    Row("§4 (not in the paper)", "sample quality of a 32 px DCGAN; memorization",
        "CIFAR-10 train, FID against test and train", "notebooks/10_sample_quality",
        _results("cifar10_imagenet32"), _cifar, key="cifar"),
    Row("§4 (not in the paper)", "faces at pytorch/examples' number of updates", "CelebA-10k",
        "notebooks/10_sample_quality", _results("celeba_dcgan64_updates"),
        lambda r: _fid("celeba_dcgan64_updates", r), key="updates"),
    Row("§4 (not in the paper)", "faces trained 200 epochs, best checkpoint kept", "CelebA-10k",
        "notebooks/10_sample_quality", _results("celeba_dcgan64_long"),
        lambda r: _fid("celeba_dcgan64_long", r), key="long"),
    Row("§4 (not in the paper)", "training speed and the fast engine's numerics", "CelebA-10k",
        "notebooks/11_compute", (artifacts.THROUGHPUT, artifacts.NUMERICS), _compute,
        key="compute"),
    Row("§5.1, Table 1", "CIFAR-10 accuracy of D's features + L2-SVM",
        "the authors' ImageNet-1k D, layers 1-4 of 6 (their released weights), on a CPU",
        "notebooks/04_cifar10_features", ("features_cifar10/authors_imagenet.json",),
        _authors_s51, key="s51"),
    Row("§5.1, our D", "the same protocol on the book's own D", "D trained on Tiny ImageNet at 32 px",
        "notebooks/04_cifar10_features",
        ("imagenet32_tinyimagenet/D.pt", "features_cifar10/metrics.json"), key="s51_book"),
    Row("§5.1, controls", "the same protocol on raw pixels and on a random D",
        "CIFAR-10, measured on a CPU", "notebooks/04_cifar10_features",
        ("features_cifar10/baselines_cpu.json",), _cpu_baselines, key="s51_cpu"),
    Row("§5.2, Table 2", "SVHN error with 1,000 labels", "SVHN (not obtainable here; downloaded by the user)",
        "notebooks/05_svhn", ("features_svhn/metrics.json",), key="s52"),
    Row("§6.1, Fig. 4", "walking in the latent space", "the faces model (`celeba_dcgan64`)",
        "notebooks/06_latent_walks", _FACES_MODEL[:1] + ("latent_walks/metrics.json",), _walks,
        key="s61"),
    Row("§6.2, Fig. 5", "guided backpropagation of D's features",
        "the faces model; the Tiny ImageNet 64 px model for scenes",
        "notebooks/07_guided_backprop",
        _FACES_MODEL[1:] + ("guided_backprop_faces/metrics.json", "tinyimagenet_dcgan64/D.pt"),
        key="s62"),
    Row("§6.3.1, Fig. 6", "forgetting to draw an object", "the faces model: eyeglasses, hats, smiles",
        "notebooks/08_forgetting_objects",
        _FACES_MODEL[:1] + ("celeba_attributes/classifier.pt", "forgetting_faces/metrics.json"),
        _forgetting, key="s631"),
    Row("§6.3.2, Figs. 7-8", "vector arithmetic; the turn vector", "the faces model",
        "notebooks/09_vector_arithmetic",
        _FACES_MODEL[:1] + ("celeba_attributes/classifier.pt", "celeba_pose/reliability.json",
                            "vector_arithmetic/metrics.json"),
        _arithmetic, key="s632"),
)  # fmt: skip


_SOFTWARE = re.compile(r", (?:CUDA|driver|torch|Python)\b")  # a machine's words after its hardware


def provenance(files: list[str], root: Path | None = None) -> str:
    """Where and when stored files were made, from the manifest: each machine and date once
    (``one NVIDIA H200 (141 GB), 2026-11-28``)."""
    manifest = artifacts.read_manifest(root)["files"]
    seen: list[str] = []
    for f in files:
        entry = manifest[f]
        machine = _SOFTWARE.split(entry.get("machine", ""))[0]
        made = f"{machine}, {entry['created'][:10]}" if machine else entry["created"][:10]
        if made not in seen:
            seen.append(made)
    return "; ".join(seen)


def status_rows(root: Path | None = None) -> list[dict]:
    """Per row: its fields, ``stored`` (files present of files needed), ``headline``, ``made``
    (where and when its stored files were made), ``on`` (``made_on``) and ``verdict`` (its claim's
    ``verdicts.Verdict``, None for a row that tests no claim of the paper)."""
    root = root or artifacts.artifacts_dir()
    out = []
    for row in ROWS:
        present = [a for a in row.artifacts if artifacts.is_stored(a, root)]
        have = len(present)
        complete = have == len(row.artifacts)
        headline = row.headline(root) if row.headline and have else None
        if complete and headline is None and row.artifacts:
            headline = "measured when the page is built"
        if not row.artifacts:
            state = "computed on the page"
        elif complete:
            state = "stored"
        elif have:
            state = f"partly stored ({have} of {len(row.artifacts)} files)"
        else:
            state = "**not produced yet**"
        verdict = verdicts.judge(row.key, root) if row.key in verdicts.CLAIMS else None
        out.append(
            {"row": row, "have": have, "need": len(row.artifacts), "state": state,
             "headline": headline, "made": provenance(present, root),
             "on": made_on(present, root), "verdict": verdict}
        )  # fmt: skip
    return out


NO_CLAIM = "–"  # a row that tests no claim of the paper (a control, a measurement of ours)


def verdict_cell(s: dict) -> str:
    """Whether the paper's claim held here: the verdict of the row's claim
    (``dcgan_lib.verdicts``), in italics; a dash for a row that tests no claim of the paper."""
    return f"*{s['verdict'].verdict}*" if s["verdict"] else NO_CLAIM


def made_on(files: list[str], root: Path | None = None) -> str:
    """On what kinds of machine stored files were made, from the manifest: 'on a GPU', 'on a
    CPU', 'on a GPU and a CPU' ('' when no file names its machine)."""
    manifest = artifacts.read_manifest(root)["files"]
    kinds = {
        "GPU" if is_gpu(m) else "CPU" for f in files if (m := manifest.get(f, {}).get("machine"))
    }
    return (
        "on " + " and ".join(f"a {k}" for k in sorted(kinds, key="GPU CPU".index)) if kinds else ""
    )


def book_cell(s: dict) -> str:
    """A row's state for the book's intro, short: the state, the kinds of machine its files
    were made on, a link to its page (the machines themselves: ``machine_note``)."""
    on = f" {s['on']}" if s.get("on") else ""
    return f"{s['state']}{on}: {{doc}}`page <../{s['row'].page}>`"


def _page_link(page: str, book: bool) -> str:
    name = page.rsplit("/", 1)[-1]
    return f"{{doc}}`../{page}`" if book else f"[{name}]({page}.ipynb)"


def status_markdown(root: Path | None = None, book: bool = False) -> str:
    """The status table as Markdown (``book=True``: page links as MyST ``{doc}`` roles), with
    the verdict of each row's claim (the rules: ``verdicts.rules_markdown``)."""
    lines = [
        "| paper | what it shows | our data | results | headline (from `artifacts/`) "
        "| did the paper's claim hold here? | page |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in status_rows(root):
        row = s["row"]
        cells = [row.section, row.reproduces, row.data, s["state"], s["headline"] or "–",
                 verdict_cell(s), _page_link(row.page, book)]  # fmt: skip
        if any("|" in c or "\n" in c for c in cells):
            raise ValueError(f"a status cell of {row.page} holds '|' or a newline: {cells}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine_note(root: Path | None = None) -> str:
    """Where the stored results were made, from the manifest's ``machine`` fields: one line per
    machine (GPU or CPU) with its number of files."""
    found = machines(root)
    if not found:
        return "No stored result names the machine that made it yet.\n"
    lines = [
        f"- {machine} ({len(files)} file{'s' if len(files) > 1 else ''})\n"
        for machine, files in found.items()
    ]
    return (
        "Where the stored results were made (each file's manifest entry names its machine):\n\n"
        + "".join(lines)
    )


# ---------------------------------------------------------------------------------------------
# The README's copy

BEGIN = "<!-- status: generated by `python -m dcgan_lib status --write-readme`; do not edit -->"
END = "<!-- end of status -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.S)


def readme_block(root: Path | None = None) -> str:
    """What the README holds between its markers: the status table and the machine note."""
    return f"{status_markdown(root)}\n{machine_note(root)}"


def read_readme_block(text: str) -> str:
    """What the README holds between its markers (see ``readme_block``)."""
    match = _BLOCK.search(text)
    if match is None:
        raise ValueError(f"no status block in the README: add the lines\n{BEGIN}\n{END}")
    return match.group(1)


def write_readme(path: Path, root: Path | None = None) -> bool:
    """Replace the README's status table with the current one; True when it changed."""
    text = path.read_text()
    read_readme_block(text)  # the markers must be there
    new = _BLOCK.sub(lambda _: f"{BEGIN}\n{readme_block(root)}{END}", text, count=1)
    path.write_text(new)
    return new != text


def run_cli(a: argparse.Namespace) -> int:
    if a.write_readme:
        readme = repo_root() / "README.md"
        print(f"{readme}: {'updated' if write_readme(readme) else 'already current'}")
        return 0
    if a.markdown:
        print(status_markdown(), end="")
        return 0
    for s in status_rows():
        print(f"{s['row'].section:<24} {s['state']:<32} {s['headline'] or ''}")
    return 0
