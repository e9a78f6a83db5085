"""Did the paper's claim hold here? One rule per claim the book tests, from the stored results.

Each claim (``CLAIMS``, keyed like the status rows of ``dcgan_lib.status``) has the paper's words
(verbatim, in double quotes), the rule in words as the pages print it, and a rule that maps the
stored results in ``artifacts/`` (read through the readers of ``dcgan_lib.studies``) to one of
four verdicts:

- *reproduced*: the claim holds on our evidence, by the rule;
- *partly*: part of it holds, or it holds only on a stand-in that cannot test the rest;
- *not reproduced*: the evidence goes against it;
- *not run*: the results the rule needs are not stored.

Each rule is a pure function of plain dicts and numbers (``*_rule``), tested with made-up results
both ways, and a reader (``judge``) that feeds it what is stored. Nothing here is typed by hand:
a verdict changes when a stored result does. Paper: §3-§6.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dcgan_lib import artifacts

REPRODUCED = "reproduced"
PARTLY = "partly"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_RUN)

# Thresholds the rules use, each stated in the rule's words
NEAR_IDENTICAL = 0.1  # sample diversity below this: the grid's samples are near-identical
FID_CLOSER = 1.0  # FID points closer to the training images than to held-out ones: memorizing
WITHIN_POINTS = 1.0  # percentage points from the paper's accuracy or error that still count
HASH_FALSE_RATE = 0.01  # the paper: false positives "less than 1 in 100"
HASH_CONFIDENCE = 0.95  # the false-positive rate's one-sided upper bound must be below it
HASH_RECALL = 0.5  # "high recall", taken here as at least half of the planted near-duplicates
SHARP_SHARE = 0.05  # at most this share of a walk's segments may be sharp (one step > half)
MIN_SHOWN = 20  # fresh samples that must show an object before its forgetting can be measured
MOSTLY = 0.5  # "mostly forgets": fewer than this share of the samples with the object keep it


@dataclass(frozen=True)
class Verdict:
    """One claim's verdict: the word, our evidence in one line with its numbers, and what
    stood in for the paper's data or model ("" where nothing did)."""

    verdict: str
    evidence: str
    stand_in: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}: use one of {VERDICTS}")


@dataclass(frozen=True)
class Claim:
    """A claim of the paper the book tests, and how its verdict is computed."""

    key: str  # the status row's key (dcgan_lib.status.ROWS)
    section: str  # "§6.3.1, Fig. 6"
    claim: str  # the paper's words, verbatim in double quotes
    rule: str  # the rule in words, as the pages print it
    judge: Callable[[Path], Verdict] = field(repr=False)


def _grade(held: Sequence[bool]) -> str:
    """All parts hold: reproduced; some: partly; none: not reproduced."""
    if all(held):
        return REPRODUCED
    return PARTLY if any(held) else NOT_REPRODUCED


def _stored_json(name: str, root: Path) -> dict | None:
    """A stored JSON artifact (present, and matching the manifest's sha256), or None."""
    if not artifacts.is_stored(name, root):
        return None
    return json.loads((root / name).read_text())


def pct(x: float) -> str:
    """A share as a percentage; one decimal under 1% (0.2% is not "never")."""
    return f"{x:.1%}" if 0 < x < 0.01 else f"{x:.0%}"


def turn_rule(turn: dict) -> bool:
    """The turn part of the §6.3.2 rule (``arithmetic_rule``): along the turn vector the pose
    cue follows α over twice as closely (Spearman) as along the control direction, and rises
    for more samples. Paper: §6.3.2."""
    tt, tc = turn["turn"], turn["control"]
    return tt["spearman"] > 2 * abs(tc["spearman"] or 0) and tt["rose"] > tc["rose"]


# ---------------------------------------------------------------------------------------------
# §3, Fig. 1: the generator


FIG1_SHAPES = ((1024, 4, 4), (512, 8, 8), (256, 16, 16), (128, 32, 32), (3, 64, 64))


def fig1_rule(
    nz: int, z_dist: str, shapes: Sequence[tuple[int, ...]], layers: Sequence[str]
) -> Verdict:
    """Fig. 1's generator against the library's ``paper64`` G: ``shapes`` are the (C, H, W) after
    the projection and after each block (``models.shape_walk``), ``layers`` the type name of each
    of its modules.
    Reproduced: a 100-d uniform z, the shapes of Fig. 1, four fractionally-strided convolutions,
    no pooling and no fully connected hidden layer; partly: 64x64x3 out of four fractionally
    strided convolutions, with other widths or z; not reproduced: otherwise. Paper: §3, Fig. 1."""
    shapes = [tuple(s) for s in shapes]
    ups = sum(1 for a, b in zip(shapes, shapes[1:], strict=False) if b[1] == 2 * a[1])
    pooling = sorted(t for t in layers if "Pool" in t)
    # the projection is "just a matrix multiplication"; any other Linear is a hidden FC layer
    hidden_fc = sum(1 for t in layers if t == "Linear") > 1
    out = shapes[-1] if shapes else ()
    arrows = " -> ".join("x".join(map(str, (s[1], s[2], s[0]))) for s in shapes)
    evidence = f"built: {nz}-d {z_dist} z -> {arrows}; {ups} fractionally-strided convolutions" + (
        f"; pooling: {', '.join(pooling)}" if pooling else "; no pooling, no hidden FC layer"
    )
    exact = nz == 100 and z_dist == "uniform" and tuple(shapes) == FIG1_SHAPES
    if exact and ups == 4 and not pooling and not hidden_fc:
        return Verdict(REPRODUCED, evidence)
    if out == (3, 64, 64) and ups == 4 and not pooling:
        return Verdict(PARTLY, evidence)
    return Verdict(NOT_REPRODUCED, evidence)


def _judge_fig1(root: Path) -> Verdict:
    return _fig1_built()  # built from the library's code: the same for every root


@functools.cache
def _fig1_built() -> Verdict:
    import torch

    from dcgan_lib.config import get_model_config
    from dcgan_lib.models import Generator, shape_walk

    cfg = get_model_config("paper64")
    with torch.random.fork_rng(devices=[]):
        G = Generator(cfg)
    shapes = [s[1:] for _, _, s in shape_walk(G, torch.zeros(2, cfg.nz))]
    if len(shapes[0]) == 1:  # the projection's output, before G reshapes it to C x 4 x 4
        shapes[0] = (G.start_channels, 4, 4)
    layers = [type(m).__name__ for m in G.modules()]
    return fig1_rule(cfg.nz, cfg.z_dist, shapes, layers)


# ---------------------------------------------------------------------------------------------
# §3-§4: stable training with the paper's recipe


@dataclass(frozen=True)
class RunRecord:
    """What the training rule reads of one stored run (one experiment, all its stored seeds)."""

    name: str
    dataset: str  # the training data, e.g. "CelebA-10k"
    seeds: int  # seeds stored
    finished: bool  # every stored seed ran all its planned updates
    fid_finite: bool  # every stored seed's FID is a finite number
    final_diversity: float | None  # the first seed's final grid (diagnostics), None: not stored


# the paper's design: G and D as §3 describes them (pytorch/examples' network is not)
PAPER_DESIGN_RUNS = (
    "celeba_dcgan64", "celeba_paper64", "celeba_dcgan64_updates", "celeba_dcgan64_long",
    "cifar10_imagenet32", "tinyimagenet_dcgan64", "imagenet32_tinyimagenet",
)  # fmt: skip


def stable(run: RunRecord) -> bool:
    """Finished, a finite FID, and final samples that are not near-identical (a run whose
    final diversity is not stored counts as not shown stable: missing evidence is not met)."""
    diverse = run.final_diversity is not None and run.final_diversity >= NEAR_IDENTICAL
    return run.finished and run.fid_finite and diverse


def training_rule(runs: Sequence[RunRecord], min_datasets: int = 2) -> Verdict:
    """Reproduced: every stored run of the paper's design trained stably, on at least
    ``min_datasets`` data sets; partly: some runs stable (or fewer data sets); not reproduced:
    none; not run: none stored. Paper: §3, §4."""
    if not runs:
        return Verdict(NOT_RUN, "no run of the paper's design is stored here")
    ok = [r for r in runs if stable(r)]
    sets = sorted({r.dataset for r in ok})
    parts = [
        f"{r.name} ({r.dataset}, {r.seeds} seed{'s' if r.seeds > 1 else ''}): "
        + (_stable_text(r) if stable(r) else _unstable_reason(r))
        for r in runs
    ]
    evidence = "; ".join(parts)
    if len(ok) == len(runs) and len(sets) >= min_datasets:
        return Verdict(REPRODUCED, evidence)
    return Verdict(PARTLY if ok else NOT_REPRODUCED, evidence)


def _stable_text(r: RunRecord) -> str:
    return f"stable, final sample diversity {r.final_diversity:.2f}"


def _unstable_reason(r: RunRecord) -> str:
    if not r.finished:
        return "did not finish its updates"
    if not r.fid_finite:
        return "FID not finite"
    if r.final_diversity is None:
        return "no final sample diversity stored (diagnostics.jsonl)"
    return f"final samples near-identical (diversity {r.final_diversity:.3f})"


def run_record(name: str, root: Path) -> RunRecord | None:
    """The training rule's view of experiment ``name``'s stored results (None: none stored)."""
    from dcgan_lib.experiments import get_experiment
    from dcgan_lib.storage import read_jsonl
    from dcgan_lib.studies.experiments_results import read_results

    results = read_results(name, root)
    if not results:
        return None
    exp = get_experiment(name)

    def finished(r: dict) -> bool:  # a result is written when its run ends; it may stop early
        if exp.max_steps:
            return r["steps"] >= exp.max_steps
        if "n_images" not in r:  # its length is unknown: not shown finished
            return False
        return r["steps"] >= exp.epochs * (r["n_images"] // r.get("batch_size", exp.batch_size))

    diag = root / name / "diagnostics.jsonl"
    final = [d for d in read_jsonl(diag) if d["samples"] == "final"] if diag.exists() else []
    return RunRecord(
        name,
        results[0].get("data", exp.data).split(" (")[0],
        len(results),
        all(finished(r) for r in results),
        all(math.isfinite(f["fid"]) for r in results for f in r["fid"].values()),
        final[-1]["sample_diversity"] if final else None,
    )


def _judge_training(names: Sequence[str], min_datasets: int, stand_in: str) -> Callable:
    def judge(root: Path) -> Verdict:
        runs = [r for n in names if (r := run_record(n, root)) is not None]
        v = training_rule(runs, min_datasets)
        evidence = v.evidence if runs else f"{', '.join(names)}: not stored"
        return Verdict(v.verdict, evidence, stand_in)

    return judge


# ---------------------------------------------------------------------------------------------
# §4.1, Figs. 2-3: samples after one epoch, no memorization


def memorization_rule(
    fid_heldout: float | None, fid_train: float | None, epoch1_diversity: float | None
) -> Verdict:
    """Reproduced: its FID against its training images is not lower than against held-out ones
    by ``FID_CLOSER`` or more, and its grid after one epoch is not near-identical;
    partly: one of the two; not reproduced: neither; not run: no FID pair stored. Paper: §4.1."""
    if fid_heldout is None or fid_train is None:
        return Verdict(NOT_RUN, "no run with FIDs against held-out and training images is stored")
    gap = fid_heldout - fid_train
    parts = [gap < FID_CLOSER]
    evidence = f"FID against held-out images {fid_heldout:.1f}, against training images "
    evidence += f"{fid_train:.1f} (held-out minus training {gap:+.1f})"
    if epoch1_diversity is not None:
        parts.append(epoch1_diversity >= NEAR_IDENTICAL)
        evidence += f"; sample diversity after one epoch {epoch1_diversity:.3f}"
    else:
        parts.append(False)
        evidence += "; no grid after one epoch stored"
    return Verdict(_grade(parts), evidence)


def _judge_memorization(name: str, stand_in: str) -> Callable:
    def judge(root: Path) -> Verdict:
        from dcgan_lib.experiments import get_experiment
        from dcgan_lib.storage import read_jsonl
        from dcgan_lib.studies.experiments_results import read_results, summarize

        results = read_results(name, root)
        exp = get_experiment(name)
        held = train = div = None
        if results:
            stats = summarize(results)
            (d0, s0), (d1, s1) = exp.references[:2]
            h, t = stats.get(f"final:{d0}/{s0}"), stats.get(f"final:{d1}/{s1}")
            held, train = h and h["fid"]["mean"], t and t["fid"]["mean"]
            diag = root / name / "diagnostics.jsonl"
            rows = read_jsonl(diag) if diag.exists() else []
            div = next((d["sample_diversity"] for d in rows if d["samples"] == "epoch_001"), None)
        v = memorization_rule(held, train, div)
        # not run: say which run is missing (another run's FIDs may be stored, e.g. CIFAR-10's)
        evidence = v.evidence if results else f"{name}: not stored"
        return Verdict(v.verdict, evidence, stand_in)

    return judge


# ---------------------------------------------------------------------------------------------
# §4.1.1: de-duplication


def dedup_rule(
    false_pairs: int | None, collisions: int | None, recall: float | None, n_planted: int = 0
) -> Verdict:
    """Exact collisions of the autoencoder's hash on planted near-duplicates: ``collisions``
    pairs of images share a code, ``false_pairs`` of them are not planted pairs (counted false,
    though a few might be natural duplicates: the strict count). Reproduced: the one-sided
    ``HASH_CONFIDENCE`` upper bound of the false-positive rate (``stats.upper_bound``) is below
    ``HASH_FALSE_RATE`` (the paper's "less than 1 in 100": the counts must support it, not only
    the point estimate), and recall is at least ``HASH_RECALL``; partly: one of the two; not
    reproduced: neither; not run: not stored. Paper: §4.1.1."""
    from dcgan_lib.stats import upper_bound

    if false_pairs is None or collisions is None or recall is None:
        return Verdict(NOT_RUN, "the de-duplication study is not stored")
    bound = upper_bound(false_pairs, collisions, HASH_CONFIDENCE)
    evidence = (
        f"exact hash collisions find {pct(recall)} of {n_planted:,} planted near-duplicates; "
        f"{false_pairs:,} of their {collisions:,} colliding pairs are false (one-sided "
        f"{HASH_CONFIDENCE:.0%} upper bound on the false-positive rate: {bound:.2%})"
    )
    return Verdict(_grade([bound < HASH_FALSE_RATE, recall >= HASH_RECALL]), evidence)


def _judge_dedup(root: Path) -> Verdict:
    m = _stored_json("dedup_ae/metrics.json", root)
    exact = (m or {}).get("planted", {}).get("autoencoder", {}).get("0")
    v = (
        dedup_rule(
            exact["other_pairs"], exact["predicted_pairs"], exact["recall"], exact["n_planted"]
        )
        if exact
        else dedup_rule(None, None, None)
    )
    return Verdict(v.verdict, v.evidence, "near-duplicates planted into Tiny ImageNet and CIFAR-10")


# ---------------------------------------------------------------------------------------------
# §5.1: CIFAR-10 accuracy of D's features, §5.2: SVHN error


@dataclass(frozen=True)
class FeatureSource:
    """Where a §5 result of D's features is stored, and which D made it."""

    path: str  # under artifacts/, e.g. "features_cifar10/metrics.json"
    d: str  # the D, as the verdict names it (its stand-in)


# The D-feature results, in order of closeness to the paper's setting: the chapter's verdict is
# the first stored one's. Results of other Ds (another file under the same folder whose metrics
# hold "dcgan/..." results, named by their "d_description") are found and judged too, after
# these: the authors' converted Ds (features --d authors-imagenet / authors-svhn, written as
# authors_imagenet.json / authors_svhn.json) are judged once stored; register them here, first,
# to make theirs the chapter's verdict.
S51_SOURCES: tuple[FeatureSource, ...] = (
    FeatureSource(  # features --d authors-imagenet: the paper's own D, its layers 1-4 (CPU)
        "features_cifar10/authors_imagenet.json", "the authors' ImageNet-1k D, layers 1-4 of 6"
    ),
    FeatureSource(
        "features_cifar10/metrics.json",
        "our imagenet32 D trained on Tiny ImageNet at 32 px (for ImageNet-1k), all six layers",
    ),
)
S52_SOURCES: tuple[FeatureSource, ...] = (
    # the authors' own SVHN D by their protocol (features svhn --d authors-svhn --size authors):
    # the closest to the paper's Table 2 row, so the chapter's verdict once SVHN is run somewhere
    FeatureSource(
        "features_svhn/authors_svhn.json",
        "the authors' SVHN D (Newmu/dcgan_code, epoch 200), their protocol",
    ),
    FeatureSource(
        "features_svhn/metrics.json", "our imagenet32 D trained on Tiny ImageNet at 32 px"
    ),
)
# what stands in for SVHN while no SVHN result is stored (SVHN cannot be obtained here)
S52_STAND_IN = (
    "CIFAR-10 (JPEG re-encoded copy) with the same 1,000-label protocol, our imagenet32 D"
)
S52_NONE = (
    "SVHN cannot be obtained on this project's machines, so no SVHN result is stored (the "
    "authors' SVHN D by their protocol is one command away); the CIFAR-10 stand-in's "
    "1,000-label D-feature result is not stored either"
)
CONTROLS_CPU = "features_cifar10/baselines_cpu.json"  # raw pixels and the random D, on a CPU
PAPER_S5 = {"all": 82.8, "400": 73.8}  # Table 1: accuracy with all labels and 400 per class
PAPER_SVHN_ERROR = 22.48  # §5.2: test error with 1,000 labels
PAPER_SUPERVISED_VAL_ERROR = 28.87  # §5.2: the supervised CNN's *validation* error


def _accuracy(result: Mapping) -> float:
    te = result["test_error"]
    return 100.0 - (te["mean"] if isinstance(te, Mapping) else te)


def _error(result: Mapping) -> float:
    te = result["test_error"]
    return te["mean"] if isinstance(te, Mapping) else te


def _regime_label(regime: str) -> str:
    return "all labels" if regime == "all" else f"{int(regime):,} per class"


PENDING = "pending"  # cifar_rule: a label count below the paper's number, its controls missing


def cifar_rule(d: str, results: Mapping, controls: Mapping, data: str = "") -> Verdict:
    """One D on CIFAR-10 (``results``: a features metrics' ``results``; ``controls``: more
    ``pixels/<regime>`` and ``random/<regime>`` results; ``data``: what it was measured on). At
    each label count the paper gives (all labels: 82.8%, 400 per class: 73.8%): reproduced, the
    features' accuracy is within ``WITHIN_POINTS`` of the paper's or above; partly, below it but
    above every raw-pixel and random-D control stored with the same labels (the trained weights
    carry a representation that transfers to CIFAR-10, not the paper's number); not reproduced,
    at or below a control; pending, below the paper's number with no control stored at those
    labels yet (the rule cannot tell). Over the label counts measured: reproduced when all are;
    not run when all are pending (the controls are needed) or none is measured; not reproduced
    when every decided one is; partly otherwise. Paper: §5.1."""
    found = {r: results[f"dcgan/{r}"] for r in PAPER_S5 if f"dcgan/{r}" in results}
    on = f" on {data}" if data else ""
    if not found:
        return Verdict(NOT_RUN, f"no CIFAR-10 result of {d} at all labels or 400 per class", d)
    words, parts = [], []
    for regime, r in found.items():
        acc, paper = _accuracy(r), PAPER_S5[regime]
        ctrl = {
            name: _accuracy(c)
            for name in ("pixels", "random")
            if (c := {**controls, **results}.get(f"{name}/{regime}")) is not None
        }
        text = f"{_regime_label(regime)}: {acc:.1f}% (paper {paper}%"
        text += "".join(f"; {n} {a:.1f}%" for n, a in ctrl.items()) + ")"
        if acc >= paper - WITHIN_POINTS:
            words.append(REPRODUCED)
        elif not ctrl:
            words.append(PENDING)
            text += ", its controls not measured yet"
        elif all(acc > a for a in ctrl.values()):
            words.append(PARTLY)
        else:
            words.append(NOT_REPRODUCED)
        parts.append(text)
    decided = [w for w in words if w != PENDING]
    if all(w == REPRODUCED for w in words):
        word = REPRODUCED
    elif not decided:
        word = NOT_RUN
    elif all(w == NOT_REPRODUCED for w in decided):
        word = NOT_REPRODUCED
    else:
        word = PARTLY
    return Verdict(word, f"{d}{on}: " + "; ".join(parts), d + (f"; {data}" if data else ""))


def svhn_rule(
    d: str, on_svhn: bool, results: Mapping, supervised: Mapping | None, controls: Mapping
) -> Verdict:
    """The D features' test error with 1,000 labels (``results["dcgan/100"]``) against the
    supervised CNN's best trial (``supervised``: its test error) and the random D. On SVHN,
    reproduced: within ``WITHIN_POINTS`` of the paper's 22.48% or below, and below the supervised
    CNN's test error; partly: one of the two; not reproduced: neither. On a stand-in
    (``on_svhn`` False), the paper's number cannot be tested: partly when the features beat the
    supervised CNN and the random D, not reproduced otherwise. Not run: no result at 1,000
    labels. Paper: §5.2."""
    r = results.get("dcgan/100")
    if r is None:
        return Verdict(NOT_RUN, f"no 1,000-label result of {d}", d)
    err = _error(r)
    sup = supervised.get("test_error") if supervised else None
    rand = {**controls, **results}.get("random/100")
    rand_err = _error(rand) if rand is not None else None
    evidence = f"{d}: test error {err:.1f}% with 1,000 labels"
    evidence += f" (supervised CNN {sup:.1f}%" if sup is not None else " (supervised CNN not run"
    evidence += f"; random D {rand_err:.1f}%)" if rand_err is not None else ")"
    beats_sup = sup is not None and err < sup
    if on_svhn:
        word = _grade([err <= PAPER_SVHN_ERROR + WITHIN_POINTS, beats_sup])
        return Verdict(word, evidence + f"; paper {PAPER_SVHN_ERROR}%", d)
    beats_rand = rand_err is not None and err < rand_err
    return Verdict(PARTLY if beats_sup and beats_rand else NOT_REPRODUCED, evidence, d)


def feature_sources(registered: Sequence[FeatureSource], root: Path) -> list[FeatureSource]:
    """The registered sources that are stored, then any other stored metrics file of the same
    folders holding D-feature results (named by its own ``d_description``)."""
    out = [s for s in registered if artifacts.is_stored(s.path, root)]
    known = {s.path for s in registered} | {CONTROLS_CPU}
    manifest = artifacts.read_manifest(root)["files"]
    folders = {s.path.split("/")[0] for s in registered}
    for name in sorted(manifest):
        if name.split("/")[0] in folders and name.endswith(".json") and name not in known:
            m = _stored_json(name, root)
            if m and any(k.startswith("dcgan/") for k in m.get("results", {})):
                out.append(FeatureSource(name, m.get("d_description") or name))
    return out


def _controls(root: Path) -> dict:
    return (_stored_json(CONTROLS_CPU, root) or {}).get("results", {})


def _judge_cifar(root: Path) -> Verdict:
    controls = _controls(root)
    found = []
    for s in feature_sources(S51_SOURCES, root):
        m = _stored_json(s.path, root) or {}
        found.append(cifar_rule(s.d, m.get("results", {}), controls, m.get("data", "")))
    # a D result whose controls are still missing is "not run", but says what it measured
    judged = [v for v in found if v.verdict != NOT_RUN]
    pending = [v for v in found if v.verdict == NOT_RUN and "controls not measured" in v.evidence]
    return _first_and_others(
        judged or pending[:1], "no stored CIFAR-10 result of D's features", S51_SOURCES
    )


def _judge_svhn(root: Path) -> Verdict:
    controls = _controls(root)
    found = []
    for s in feature_sources(S52_SOURCES, root):
        m = _stored_json(s.path, root) or {}
        sup = (m.get("supervised") or {}).get("best")
        found.append(svhn_rule(s.d, True, m.get("results", {}), sup, controls))
    for s in feature_sources(S51_SOURCES, root):  # the CIFAR-10 stand-in at 1,000 labels
        m = _stored_json(s.path, root) or {}
        sup = (m.get("supervised") or {}).get("best")
        d = f"{s.d}, on CIFAR-10 (SVHN is not obtainable here)"
        found.append(svhn_rule(d, False, m.get("results", {}), sup, controls))
    found = [v for v in found if v.verdict != NOT_RUN]
    if not found:
        return Verdict(NOT_RUN, S52_NONE, S52_STAND_IN)
    return _first_and_others(found, S52_NONE, S52_SOURCES)


def _first_and_others(found: list[Verdict], none: str, sources: Sequence) -> Verdict:
    """The first stored result's verdict, with the others' evidence after it."""
    if not found:
        return Verdict(NOT_RUN, none, sources[0].d)
    first = found[0]
    others = [f"{v.evidence} ({v.verdict})" for v in found[1:]]
    return Verdict(first.verdict, "; ".join([first.evidence, *others]), first.stand_in)


# ---------------------------------------------------------------------------------------------
# §6.1: walks in the latent space


def walks_rule(smoothness: Mapping | None) -> Verdict:
    """``smoothness`` of ``walks.walk_smoothness`` (the generator's walks and a memorizer's).
    Reproduced: the median segment's largest step is nearer an even change (1/steps) than the
    memorizer's, and at most ``SHARP_SHARE`` of the generator's segments are sharp (one step
    carries over half the change); partly: one of the two; not reproduced: neither; not run: not
    stored. Paper: §6.1."""
    if not smoothness:
        return Verdict(NOT_RUN, "the walk study is not stored")
    g, m = smoothness["generator"], smoothness["memorizer"]
    even = 1 / smoothness["steps"]
    share, mem = g["max_step_share"]["median"], m["max_step_share"]["median"]
    evidence = (
        f"a segment's largest step carries a median {share:.3f} of its change (even change "
        f"{even:.3f}, memorizer {mem:.3f}); sharp segments {pct(g['sharp_segments'])} "
        f"(memorizer {pct(m['sharp_segments'])})"
    )
    word = _grade([abs(share - even) < abs(mem - share), g["sharp_segments"] <= SHARP_SHARE])
    return Verdict(word, evidence)


def _judge_walks(root: Path) -> Verdict:
    m = _stored_json("latent_walks/metrics.json", root)
    v = walks_rule((m or {}).get("smoothness"))
    return Verdict(v.verdict, v.evidence, FACES_STAND_IN + "; faces, not bedrooms")


FACES_STAND_IN = (
    "the faces model `celeba_dcgan64`, trained on CelebA-10k (the faces set is unreleased)"
)


# ---------------------------------------------------------------------------------------------
# §6.2: guided backpropagation


def guided_rule(metrics: Mapping | None) -> Verdict:
    """``metrics`` of the guided-backpropagation study (image set -> trained / random D ->
    per-feature ``concentration``: the share of a map's gradient in its top tenth of pixels).
    Partly: on every image set the trained D's maps are more concentrated on average than the
    random D's (the paper's contrast with its random baseline holds); whether the features
    fire on object parts is judged by eye, so no number gives *reproduced*; not reproduced: not
    more concentrated; not run: not stored. Paper: §6.2."""
    sets = {k: v for k, v in (metrics or {}).items() if isinstance(v, Mapping) and "trained" in v}
    if not sets:
        return Verdict(NOT_RUN, "the guided-backpropagation study is not stored")

    def mean(xs: Sequence) -> float:
        xs = [x for x in xs if x is not None]
        return sum(xs) / len(xs)

    parts, held = [], []
    for name, s in sets.items():
        t, r = mean(s["trained"]["concentration"]), mean(s["random"]["concentration"])
        held.append(t > r)
        parts.append(f"{name} images: trained D {pct(t)}, random D {pct(r)}")
    evidence = "share of the maps' gradient in their top 10% of pixels: " + "; ".join(parts)
    return Verdict(PARTLY if all(held) else NOT_REPRODUCED, evidence)


def _judge_guided(root: Path) -> Verdict:
    v = guided_rule(_stored_json("guided_backprop_faces/metrics.json", root))
    return Verdict(v.verdict, v.evidence, FACES_STAND_IN + "; faces, not bedrooms")


# ---------------------------------------------------------------------------------------------
# §6.3.1: forgetting to draw an object


def forgetting_rule(objects: Mapping | None, n_eval: int, min_shown: int = MIN_SHOWN) -> Verdict:
    """``objects`` of the forgetting study (entry -> rates; entries with the paper's negatives
    count). An object is measurable when at least ``min_shown`` of the ``n_eval`` fresh samples
    show it. The paper's claim, "the network mostly forgets to draw windows", has two parts the
    numbers can test, per measurable object: the model *mostly forgets* it (of the samples that
    showed it, fewer than ``MOSTLY`` still do once its maps are dropped: ``kept_dropped``), and
    the forgetting is the object's maps' doing (the rate after dropping them is below every
    draw of as many random maps: it leaves the random-map range downwards). Reproduced: both,
    for every measurable object; partly: one of them for some object; not reproduced: neither
    for any (or none is measurable); not run: not stored. Paper: §6.3.1."""
    entries = {
        k: e
        for k, e in (objects or {}).items()
        if "skipped" not in e and e.get("negatives", "").endswith("(paper)")
    }
    if not entries:
        return Verdict(NOT_RUN, "the forgetting study is not stored")
    parts, rare, held = [], [], []
    for name, e in entries.items():
        shown = round(e["rate_before"] * n_eval)
        label = name.replace("_", " ").lower()
        if shown < min_shown:
            rare.append(f"{label} ({shown} of {n_eval:,} samples)")
            continue
        lo, hi = min(e["rate_random"]), max(e["rate_random"])
        where = "below" if e["rate_dropped"] < lo else "above" if e["rate_dropped"] > hi else "in"
        parts.append(
            f"{label} {e['rate_before']:.3f} -> {e['rate_dropped']:.3f} with its maps dropped "
            f"(random maps {lo:.3f}-{hi:.3f}: {where}); {pct(e['kept_dropped'])} of the "
            "samples that showed it still do"
        )
        held.append((e["kept_dropped"] < MOSTLY, where == "below"))
    evidence = "share of fresh samples showing the object, judged by the classifier: "
    evidence += "; ".join(parts) if parts else "no object is drawn often enough to measure"
    if rare:
        evidence += f"; too rare to measure: {', '.join(rare)}"
    if held and all(all(h) for h in held):
        word = REPRODUCED
    else:
        word = PARTLY if any(any(h) for h in held) else NOT_REPRODUCED
    return Verdict(word, evidence)


def _judge_forgetting(root: Path) -> Verdict:
    m = _stored_json("forgetting_faces/metrics.json", root) or {}
    v = forgetting_rule(m.get("objects"), m.get("config", {}).get("n_eval", 0))
    stand_in = FACES_STAND_IN + "; eyeglasses, hats and smiles judged by a CelebA classifier"
    return Verdict(v.verdict, v.evidence, stand_in + " (not windows)")


# ---------------------------------------------------------------------------------------------
# §6.3.2: vector arithmetic and the turn vector


def arithmetic_rule(arithmetic: Mapping | None, turn: Mapping | None = None) -> Verdict:
    """``arithmetic``: per equation, the classifier's success rate and 95% interval per method
    (``z``, ``pixel``, ``random_z``, ``c_only``: the third concept's mean z alone); ``turn``: the
    pose along the turn vector and a control direction. An equation holds when z-arithmetic
    beats pixel arithmetic, a random z and the third concept alone (its interval above theirs:
    the paper's results "semantically obeyed the arithmetic", which c alone must not already
    do); the turn holds when its Spearman correlation with α is over twice the control's and
    more samples' pose score rises than along the control. Reproduced: every equation and the
    turn hold; partly: z beats a random z and c alone in some equation (or the turn holds); not
    reproduced: neither; not run: not stored. Paper: §6.3.2."""
    eqs = {k: a for k, a in (arithmetic or {}).items() if a.get("n_trials")}
    if not eqs:
        return Verdict(NOT_RUN, "the arithmetic study is not stored")
    parts, full, some = [], [], []
    for a in eqs.values():
        s, ci = a["success"], a["ci95"]
        beats = {m: ci["z"][0] > ci[m][1] for m in ("pixel", "random_z", "c_only")}
        full.append(all(beats.values()))
        some.append(beats["random_z"] and beats["c_only"])
        parts.append(
            f"{a['equation']}: {pct(s['z'])} of {a['n_trials']} (random z {pct(s['random_z'])}, "
            f"c alone {pct(s['c_only'])}, pixels {pct(s['pixel'])})"
        )
    if turn and turn["turn"].get("spearman") is not None:
        tt, tc = turn["turn"], turn["control"]
        turns = turn_rule(turn)
        full.append(turns)
        some.append(turns)
        rho_c = "undefined" if tc["spearman"] is None else f"{tc['spearman']:.2f}"
        parts.append(
            f"turn: pose cue against α, Spearman {tt['spearman']:.2f} (control direction "
            f"{rho_c}), score rose for {pct(tt['rose'])} of samples (control {pct(tc['rose'])})"
        )
    if all(full):
        word = REPRODUCED
    else:
        word = PARTLY if any(some) else NOT_REPRODUCED
    return Verdict(word, "target met, by the classifier: " + "; ".join(parts))


def _judge_arithmetic(root: Path) -> Verdict:
    m = _stored_json("vector_arithmetic/metrics.json", root) or {}
    v = arithmetic_rule(m.get("arithmetic"), m.get("turn"))
    return Verdict(v.verdict, v.evidence, FACES_STAND_IN + "; a CelebA attribute classifier judges")


# ---------------------------------------------------------------------------------------------
# The claims


_STABLE_RULE = (
    "A run is stable when it finished all its planned updates, its FID is a finite number and "
    f"its final samples are not near-identical (sample diversity at least {NEAR_IDENTICAL}; real "
    "images measure about 0.5). *Reproduced*: every stored run of the paper's design is stable"
)

CLAIMS: dict[str, Claim] = {
    c.key: c
    for c in (
        Claim(
            "s3", "§3, Fig. 1",
            '"A 100 dimensional uniform distribution Z is projected to a small spatial extent '
            'convolutional representation with many feature maps. A series of four '
            'fractionally-strided convolutions [...] then convert this high level representation '
            'into a 64 × 64 pixel image." "Notably, no fully connected or pooling layers are '
            'used."',
            "Built from the library's `paper64` generator. *Reproduced*: a 100-d uniform z, "
            "Fig. 1's shapes (4x4x1024 to 64x64x3), four fractionally-strided convolutions, no "
            "pooling and no fully connected hidden layer; *partly*: a 64x64x3 image from four "
            "fractionally-strided convolutions with other widths or z; *not reproduced*: "
            "otherwise.",
            _judge_fig1,
        ),
        Claim(
            "s4", "§3-§4",
            '"we identified a family of architectures that resulted in stable training across a '
            'range of datasets"',
            f"{_STABLE_RULE}, on at least two data sets; *partly*: some runs stable, or one data "
            "set only; *not reproduced*: none; *not run*: none stored.",
            _judge_training(PAPER_DESIGN_RUNS, 2, "CelebA-10k for the faces set; Tiny ImageNet "
                            "(64 and 32 px) for LSUN bedrooms and ImageNet-1k; CIFAR-10, which "
                            "the paper does not train on, as a further data set"),
        ),
        Claim(
            "s41", "§4.1, Figs. 2-3",
            '"We show samples from one epoch of training (Fig.2), mimicking online learning, in '
            "addition to samples after convergence (Fig.3), as an opportunity to demonstrate that "
            'our model is not producing high quality samples via simply overfitting/memorizing '
            'training examples."',
            "*Reproduced*: its FID against its training images is not lower than against "
            f"held-out ones by {FID_CLOSER:g} or more, and its samples after one "
            "epoch are not near-identical; *partly*: one of the two; *not reproduced*: neither; "
            "*not run*: not stored. FID is no proof against memorization; the page shows the "
            "grids.",
            _judge_memorization("tinyimagenet_dcgan64", "Tiny ImageNet at 64 px for LSUN bedrooms"),
        ),
        Claim(
            "s411", "§4.1.1",
            '"Visual inspection of hash collisions showed high precision with an estimated false '
            'positive rate of less than 1 in 100." "the technique detected and removed '
            'approximately 275,000 near duplicates, suggesting a high recall."',
            "On near-duplicates planted into real images, exact hash collisions. *Reproduced*: "
            f"the one-sided {HASH_CONFIDENCE:.0%} upper bound (Wilson) of the false-positive rate "
            f"among the collisions, from their counts, is below 1 in {1 / HASH_FALSE_RATE:.0f}, "
            f"and recall is at least {HASH_RECALL} (our reading of \"high recall\"); *partly*: "
            "one of the two; *not reproduced*: neither.",
            _judge_dedup,
        ),
        Claim(
            "s43", "§4.3",
            '"We use Imagenet-1k (Deng et al., 2009) as a source of natural images for '
            'unsupervised training. We train on 32 × 32 min-resized center crops."',
            f"{_STABLE_RULE} (here the one run at 32 px on Tiny ImageNet); *not reproduced*: it "
            "is not; *not run*: not stored.",
            _judge_training(("imagenet32_tinyimagenet",), 1, "Tiny ImageNet at 32 px for "
                            "ImageNet-1k"),
        ),
        Claim(
            "s51", "§5.1, Table 1",
            '"This achieves 82.8% accuracy, out performing all K-means based approaches."',
            "CIFAR-10 test accuracy of an L2-SVM on D's features, at each label count the paper "
            f"gives that is measured ({PAPER_S5['all']}% with all labels; {PAPER_S5['400']}% "
            f"with 400 per class, Table 1). *Reproduced*: within {WITHIN_POINTS:g} point of the "
            "paper's accuracy or above, at each; *partly*: below it, but above every raw-pixel "
            "and random-D control measured with the same labels (the trained weights carry a "
            "representation that transfers to CIFAR-10, a data set D never saw, but not the "
            "paper's number), or reproduced at one label count and not at the other; *not "
            "reproduced*: at or below a control; *not run*: no D-feature result stored, or a "
            "result below the paper's number whose controls are not measured yet. The authors' "
            "own D (their released weights, layers 1-4 of 6) is judged first; any other stored D "
            "after it.",
            _judge_cifar,
        ),
        Claim(
            "s52", "§5.2, Table 2",
            '"This achieves state of the art (for classification using 1000 labels) at 22.48% '
            'test error" "It achieves a signficantly higher 28.87% validation error."',
            f"Test error of an L2-SVM on D's features with 1,000 labels. On SVHN, *reproduced*: "
            f"within {WITHIN_POINTS:g} point of 22.48% or below, and below the supervised CNN's "
            "test error (the paper's 28.87% is a validation error); *partly*: one of the two. On "
            "the CIFAR-10 stand-in the paper's number cannot be tested: *partly* when the "
            "features beat the supervised CNN and the random D. *Not reproduced*: otherwise; "
            "*not run*: no result stored.",
            _judge_svhn,
        ),
        Claim(
            "s61", "§6.1, Fig. 4",
            '"Interpolation between a series of 9 random points in Z show that the space learned '
            'has smooth transitions" "Walking on the manifold that is learnt can usually tell us '
            'about signs of memorization (if there are sharp transitions)"',
            "*Reproduced*: a walk segment's largest step is, at the median, nearer an even "
            "change than a memorizer's (a nearest-training-image generator), and at most "
            f"{SHARP_SHARE:.0%} of segments are sharp (one step carries over half the change); "
            "*partly*: one of the two; *not reproduced*: neither. Whether the images stay "
            "plausible is judged by eye.",
            _judge_walks,
        ),
        Claim(
            "s62", "§6.2, Fig. 5",
            '"we show in Fig.5 that the features learnt by the discriminator activate on typical '
            'parts of a bedroom, like beds and windows." "we give a baseline for randomly '
            'initialized features that are not activated on anything that is semantically '
            'relevant or interesting."',
            "*Partly*: on real and generated images the trained D's guided-backpropagation maps "
            "are more concentrated (more of their gradient in their top tenth of pixels) than "
            "the random D's; that they fire on object parts is judged by eye, so no number gives "
            "*reproduced*; *not reproduced*: not more concentrated; *not run*: not stored.",
            _judge_guided,
        ),
        Claim(
            "s631", "§6.3.1, Fig. 6",
            '"the network mostly forgets to draw windows in the bedrooms, replacing them with '
            'other objects."',
            f"For each object drawn on at least {MIN_SHOWN} of the fresh samples, two parts of "
            "the claim: the model *mostly forgets* it (fewer than "
            f"{MOSTLY:.0%} of the samples that showed it still do once its maps are dropped), and "
            "the forgetting is the object's maps' doing (the rate after dropping them is below "
            "every draw of as many random maps, a control the paper lacks). *Reproduced*: both, "
            "for every such object; *partly*: one of them for some object; *not reproduced*: "
            "neither; *not run*: not stored. Whether the object is replaced by others, and the "
            "rest of the scene kept, the page shows but does not judge.",
            _judge_forgetting,
        ),
        Claim(
            "s632", "§6.3.2, Figs. 7-8",
            '"averaging the Z vector for three examplars showed consistent and stable '
            'generations that semantically obeyed the arithmetic." "Applying arithmetic in the '
            'input space (bottom two examples) results in noisy overlap due to misalignment." "By '
            'adding interpolations along this axis to random samples we were able to reliably '
            'transform their pose."',
            "A classifier judges whether each result shows the target. An equation holds when "
            "arithmetic in z beats pixel arithmetic, a random z and the third concept's mean z "
            "alone (95% intervals apart); the turn holds when a pose cue follows α (Spearman) "
            "over twice as closely as along a control direction and rises for more samples. "
            "*Reproduced*: every equation and the turn; *partly*: z beats a random z and the "
            "third concept alone somewhere, or the turn holds; *not reproduced*: neither.",
            _judge_arithmetic,
        ),
    )
}  # fmt: skip


def judge(key: str, root: Path | None = None) -> Verdict:
    """The verdict of claim ``key`` (``CLAIMS``) from the results stored under ``root``."""
    if key not in CLAIMS:
        raise KeyError(f"no claim {key!r}; the claims are {sorted(CLAIMS)}")
    return CLAIMS[key].judge(root or artifacts.artifacts_dir())


def all_verdicts(root: Path | None = None) -> dict[str, Verdict]:
    """Every claim's verdict, keyed like ``CLAIMS``."""
    return {key: judge(key, root) for key in CLAIMS}


def rules_markdown() -> str:
    """Every claim's rule, as the intro page states them: one item per claim."""
    return "\n".join(f"- **{c.section}**: {c.rule}" for c in CLAIMS.values()) + "\n"
