"""The plan of ``python -m dcgan_lib reproduce``: the book's GPU jobs, which are done, which are
left and which cannot run here, and an estimate of each job's GPU minutes.

The book's GPU jobs as data (``book_jobs``), ordered by what they unlock in the book (``ORDER``),
each after the jobs it needs: the Tiny ImageNet 32 px D and the §5.1 protocol on it first, then
the scene model (§4.1, §6.2 scenes), the faces run at pytorch/examples' number of updates, the long
faces run, the other §4 runs' first seeds and the choice of the §6 faces model, §5.2 (SVHN), the
extra seeds, and last the benchmarks (the Compute page, then the timings the estimates rest on).
The plan marks the lease in which each job left would finish (``leases``): a lease is
``LEASE_MINUTES`` of GPU time in calls of at most ``CALL_MINUTES``, each call working
``GPU_MINUTES`` (its ``--max-minutes``; the rest is its start-up). Each job names the artifacts
it writes; it is done when each is present and matches its sha256 in ``artifacts/manifest.json``
(and, where it applies, the file says its work is complete). The estimates come from the stored
measurements (``artifacts/benchmarks/throughput.json``: step speed per model config, decode and
FID timings; each stored experiment's own minutes), each with its basis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dcgan_lib import artifacts
from dcgan_lib.artifacts import NUMERICS, THROUGHPUT
from dcgan_lib.compute import wall_seconds
from dcgan_lib.datasets import DATASETS, DataError, resolve_data_root
from dcgan_lib.experiments import (
    EXPERIMENTS,
    FACES_CANDIDATES,
    FACES_MODEL,
    GPU_MINUTES,
    Experiment,
)
from dcgan_lib.studies.experiments_results import read_results

GPU_CALL_MINUTES = float(GPU_MINUTES)  # one call's work (its --max-minutes)
CALL_MINUTES = 10.0  # one call on a lent GPU machine, start-up included
LEASE_MINUTES = 13.0  # the GPU time of one lease, all its calls together
# What each job unlocks in the book, most first: the first lease makes these. Every other job
# follows in the order of ``_rank``.
ORDER = (
    "imagenet32_tinyimagenet/s1",  # §4.3 at 32 px, and the D of §5.1
    "features_cifar10",  # §5.1 Table 1: the D's features + L2-SVM on CIFAR-10
    "tinyimagenet_dcgan64/s1",  # §4.1 scenes (Figs. 2-3) and the scene model of §6.2
    "celeba_dcgan64_updates/s1",  # faces at pytorch/examples' number of updates
    "celeba_dcgan64_long/s1",  # the long faces run (its best checkpoint)
)
# the throughput benchmark's modes the book reads (``step`` with the compiled engine's rows): the
# FID and decode timings (what the estimates rest on; the book shows neither: the last job), the
# engine's modes (the Compute page)
TIMING_MODES = ("fid", "decode")
ENGINE_MODES = ("e2e", "e2e_run", "step")
# artifacts made on a CPU by their own commands (PRODUCERS), not by this plan: the §4.1.1 hash,
# the judges of §6, the studies of the stored models (§6) and the §5 CPU baselines
CPU_MADE = (
    "dedup_ae", "celeba_pose", "celeba_attributes", "latent_walks", "vector_arithmetic",
    "guided_backprop_faces", "guided_backprop_scenes", "forgetting_faces",
    "features_cifar10/baselines_cpu.json",
    # the authors' released weights, converted, and what the CPU measures with them
    "authors_svhn", "authors_imagenet32", "authors_svhn_walks",
    "features_cifar10/authors_imagenet.json", "features_svhn/authors_svhn.json",
)  # fmt: skip
# images per split, for the estimates of runs not measured yet (the real sets' sizes)
DATASET_IMAGES = {
    ("celeba", "train"): 10_000,
    ("cifar10", "train"): 50_000,
    ("cifar10", "test"): 10_000,
    ("tinyimagenet", "train"): 100_000,
    ("tinyimagenet", "val"): 10_000,
    ("svhn", "train"): 73_257,
    ("svhn", "test"): 26_032,
}


@dataclass(frozen=True)
class Job:
    """One GPU job of the book: what it makes, what it reads, what must be done first."""

    name: str  # e.g. "celeba_dcgan64/s2", "faces_model", "features_cifar10", "throughput"
    kind: str  # experiment | faces_model | features | throughput | numerics
    what: str
    outputs: tuple[str, ...]  # artifact files (under artifacts/) that mark it done
    data: tuple[tuple[str, str], ...]  # (dataset, split) it reads
    after: tuple[str, ...] = ()
    experiment: str | None = None
    seed: int | None = None
    modes: tuple[str, ...] = ()  # throughput: the benchmark modes this job stores
    extra_seed: bool = False  # an experiment's seed after its first (error bars)


def experiment_jobs(exps: dict[str, Experiment]) -> list[Job]:
    jobs = []
    for exp in exps.values():
        sets = tuple(dict.fromkeys(((exp.data, "train"), *exp.references)))
        for seed in exp.seeds:
            outs = [f"{exp.name}/result_s{seed}.json"]
            if seed == exp.seeds[0]:
                outs += [f"{exp.name}/run.json", f"{exp.name}/metrics.jsonl"]
                outs += [f"{exp.name}/G.pt", f"{exp.name}/D.pt"] if exp.ship_weights else []
            jobs.append(
                Job(
                    f"{exp.name}/s{seed}", "experiment", exp.stands_in_for, tuple(outs), sets,
                    experiment=exp.name, seed=seed, extra_seed=seed != exp.seeds[0],
                )
            )  # fmt: skip
    return jobs


def book_jobs(exps: dict[str, Experiment] | None = None) -> list[Job]:
    """The book's GPU jobs, ordered by what they unlock (``ORDER``, then ``_rank``), each after
    the jobs it needs."""
    exps = exps or EXPERIMENTS
    jobs = [
        Job(
            "timings", "throughput",
            "FID-10k uncached and cached, decode in one thread and a process per core: what the "
            "estimates of the plan rest on",
            (THROUGHPUT,), (("celeba", "train"),), modes=TIMING_MODES,
        ),
        *experiment_jobs(exps),
    ]  # fmt: skip
    first = {e.name: f"{e.name}/s{e.seeds[0]}" for e in exps.values()}
    d_job = first["imagenet32_tinyimagenet"]
    jobs += [
        Job(
            FACES_MODEL, "faces_model",
            "the §6 faces model: the faces run with the best FID on the selection half",
            (f"{FACES_MODEL}/selection.json",), (("celeba", "train"),),
            after=tuple(first[c] for c in FACES_CANDIDATES),
        ),
        Job(
            "features_cifar10", "features",
            "§5.1: the Tiny ImageNet D's features + L2-SVM on CIFAR-10, with the supervised "
            "baseline (full protocol)",
            ("features_cifar10/metrics.json", "features_cifar10/svm_all.pt"),
            (("cifar10", "train"), ("cifar10", "test")), after=(d_job,),
        ),
        Job(
            "features_svhn", "features", "§5.2: the same D's features + L2-SVM on SVHN",
            ("features_svhn/metrics.json",), (("svhn", "train"), ("svhn", "test")),
            after=(d_job,),
        ),
        Job(
            "throughput", "throughput",
            "throughput benchmark: step speed with the compiled engine beside the others, an "
            "epoch and a 25-epoch run end to end",
            (THROUGHPUT,), (("celeba", "train"),), modes=ENGINE_MODES,
        ),
        Job(
            "numerics", "numerics", "the fast engine's numerics against eager fp32 and seed noise",
            (NUMERICS,), (("celeba", "train"),),
        ),
    ]  # fmt: skip
    return sorted(jobs, key=_rank)  # stable: seeds and experiments keep their order


def _rank(job: Job) -> tuple[int, int]:
    """Where a job goes: ``ORDER``; then the other §4 runs' first seeds, the §6 faces model (it
    chooses among first seeds), §5.2, the extra seeds; the Compute page's benchmarks; last the
    timings that only sharpen the estimates."""
    if job.name in ORDER:
        return 0, ORDER.index(job.name)
    if job.kind == "experiment":
        return (4, 0) if job.extra_seed else (1, 0)
    rank = {"faces_model": (2, 0), "features": (3, 0), "numerics": (5, 1)}
    if job.kind == "throughput":
        return (5, 0) if job.name == "throughput" else (6, 0)
    return rank[job.kind]


def select(jobs: list[Job], only: list[str] | None) -> list[Job]:
    """The jobs named by ``only`` (a job's name, or an experiment's name for all its seeds)."""
    if not only:
        return jobs
    known = {j.name for j in jobs} | {j.experiment for j in jobs if j.experiment}
    unknown = sorted(set(only) - known)
    if unknown:
        raise ValueError(f"unknown job(s) {unknown}; choose from {sorted(known)}")
    return [j for j in jobs if j.name in only or j.experiment in only]


# ---------------------------------------------------------------------------------------------
# Done, runnable, or not


def is_done(job: Job, root: Path, smoke: bool = False) -> bool:
    """Every output present and matching the manifest, and complete by its own account."""
    try:
        paths = [artifacts.require(*out.split("/", 1), root) for out in job.outputs]
    except artifacts.ArtifactMissing:
        return False
    if job.kind == "features":
        metrics = json.loads(paths[0].read_text())
        return bool(metrics.get("complete")) and metrics.get("size") == (
            "smoke" if smoke else "full"
        )
    if job.kind == "throughput":
        blob = json.loads(paths[0].read_text())
        return not missing_modes(blob, job.modes, smoke)
    if job.kind == "faces_model":  # chosen among the candidates' current weights
        manifest = artifacts.read_manifest(root)["files"]
        rows = json.loads(paths[0].read_text()).get("candidates", [])
        return bool(rows) and all(
            manifest.get(r["weights"], {}).get("sha256") == r["weights_sha256"] for r in rows
        )
    return True


def missing_modes(blob: dict, modes: tuple[str, ...], smoke: bool = False) -> list[str]:
    """Which of ``modes`` the throughput file lacks (``step`` counts only with its compiled
    rows, which smoke runs on a CPU skip)."""
    left = [m for m in modes if m not in blob]
    if "step" in modes and "step" in blob and not smoke and not blob["step"].get("compile"):
        left.append("step")
    return left


class DataCheck:
    """Whether each (dataset, split) is readable under the data root (``datasets``' one rule:
    ``--data-root``, else ``$DCGAN_DATA``, else ``../shared/data`` beside the checkout);
    remembered per plan."""

    def __init__(self, data_root: str | None) -> None:
        self.data_root, self.seen = data_root, {}

    def reason(self, dataset: str, split: str) -> str | None:
        key = (dataset, split)
        if key not in self.seen:
            try:
                DATASETS[dataset](resolve_data_root(self.data_root), split)
                self.seen[key] = None
            except DataError as e:
                self.seen[key] = str(e).split(". ")[0]
        return self.seen[key]

    def missing_sets(self, job: Job) -> list[tuple[str, str]]:
        """The (dataset, split) pairs ``job`` reads that are not readable here."""
        return [(d, s) for d, s in job.data if self.reason(d, s)]

    def missing(self, job: Job) -> str | None:
        for dataset, split in job.data:
            why = self.reason(dataset, split)
            if why:
                return f"data missing: {why}"
        return None


# ---------------------------------------------------------------------------------------------
# Estimates, from stored measurements


@dataclass
class Estimate:
    minutes: float | None  # None: nothing stored to base it on
    basis: str


class Timings:
    """What the estimates rest on: the stored throughput benchmark, numerics runs and experiment
    results. A fresh GPU machine has empty caches: each data set is decoded, and each FID
    reference computed, by the first job left that needs it."""

    def __init__(self, root: Path) -> None:
        path = root / THROUGHPUT
        self.bench = json.loads(path.read_text()) if path.exists() else {}
        self.gpu = self.bench.get("step", {}).get("gpu", "the GPU of the stored benchmark")
        self.results = {n: read_results(n, root) for n in EXPERIMENTS}
        path = root / NUMERICS
        self.numerics = json.loads(path.read_text()) if path.exists() else None
        self.decoded: set = set()  # (dataset, split, size) already decoded earlier in the plan
        self.referenced: set = set()  # FID references already computed earlier in the plan

    def img_per_s(self, config: str) -> float | None:
        row = self.bench.get("step", {}).get("configs", {}).get(config)
        return row["engines"]["fast"]["img_per_s"] if row else None

    def fid_seconds(self, n: int, reference: tuple) -> tuple[float | None, str]:
        """Seconds of one FID with ``n`` samples (the reference's first FID computes it)."""
        fid = self.bench.get("fid")
        if fid and str(fid.get("device", "")).startswith("cuda"):
            first = reference not in self.referenced
            self.referenced.add(reference)
            s = fid["uncached_s"] if first else fid["cached_s"]
            return s * n / 10_000, f"FID-10k {'uncached' if first else 'cached'}: {s:.1f} s"
        stored = [
            f["seconds"]
            for rs in self.results.values()
            for r in rs
            for f in r["fid"].values()
            if f.get("n_real") == 10_000 and "seconds" in f
        ]
        if not stored:
            return None, "no stored FID timing"
        s = sorted(stored)[len(stored) // 2]
        return s * n / 10_000, f"FID-10k {s:.1f} s (median of {len(stored)} stored, no cache)"

    def decode_seconds(self, dataset: str, split: str, size: int) -> tuple[float, str]:
        key = (dataset, split, size)
        if key in self.decoded:
            return 0.0, ""
        self.decoded.add(key)
        n = DATASET_IMAGES.get((dataset, split), 10_000)
        dec = self.bench.get("decode")
        if dec:
            rate, how = dec["decoders"]["processes"]["img_per_s"], "decode benchmark"
        else:
            e2e = self.bench.get("e2e", {}).get("ours")
            if not e2e:
                return 0.0, "decode not measured"
            rate, how = self.bench["e2e"]["n_images"] / e2e["decode_s"], "stored e2e decode"
        return n / rate, f"decode {n:,} at {rate:,.0f} img/s ({how})"

    def overhead_seconds(self) -> float:
        """Per training job, beyond its steps: start, decode of a cached set, sample grids,
        checkpoints (the median over stored runs of train time minus steps at benchmark speed)."""
        extra = []
        for rs in self.results.values():
            for r in rs:
                rate = self.img_per_s(r["config"])
                if rate:
                    extra.append(r["train_minutes"] * 60 - r["image_steps"] / rate)
        return max(0.0, sorted(extra)[len(extra) // 2]) if extra else 0.0


def estimate(job: Job, t: Timings, exps: dict[str, Experiment]) -> Estimate:
    if job.kind == "experiment":
        return _estimate_experiment(exps[job.experiment], job.seed, t)
    if job.kind == "faces_model":
        secs, basis = t.fid_seconds(5_000, ("celeba", "train", 64, "select"))
        n = len(FACES_CANDIDATES)
        return Estimate(None if secs is None else n * secs / 60, f"{n} FID-5k; {basis}")
    if job.kind == "features":
        return Estimate(None, "no stored GPU timing of the §5 job (it resumes unit by unit)")
    if job.kind == "throughput":
        return _estimate_throughput(job, t)
    return _estimate_numerics(t)


def _estimate_experiment(exp: Experiment, seed: int, t: Timings) -> Estimate:
    sets = list(dict.fromkeys(((exp.data, "train"), *exp.references)))
    done = [r for r in t.results.get(exp.name, []) if r["seed"] != seed]
    if done:  # another seed of the same run: its own minutes (its decode and FIDs included)
        t.decoded.update((d, s_, exp.image_size) for d, s_ in sets)
        t.referenced.update((d, s_, p) for d, s_, p in exp.fid_sets())
        mins = sorted(r["train_minutes"] + r["fid_minutes"] for r in done)
        return Estimate(mins[len(mins) // 2], f"as seed {done[0]['seed']} took on "
                        f"{done[0]['devices'][0]}")  # fmt: skip
    rate = t.img_per_s(exp.config)
    if rate is None:
        return Estimate(None, f"no stored step speed for {exp.config}")
    per_epoch = DATASET_IMAGES[(exp.data, "train")] // exp.batch_size
    steps = exp.max_steps or exp.epochs * per_epoch
    secs = steps * exp.batch_size / rate + t.overhead_seconds()
    parts = [f"{steps:,} steps at {rate:,.0f} img/s ({t.gpu}, fast engine) + start-up"]
    for dataset, split in sets:
        s_, basis = t.decode_seconds(dataset, split, exp.image_size)
        secs += s_
        parts += [basis] if basis else []
    if exp.fid_every:
        evals = steps // exp.fid_every
        d, sp = exp.references[0]
        for _ in range(evals):
            s_, basis = t.fid_seconds(5_000, (d, sp, "select"))
            if s_ is None:
                return Estimate(None, basis)
            secs += s_
        parts.append(f"{evals} FID-5k on the selection half while training")
    n_fids, basis = 0, ""
    for _ in range(2 if exp.fid_every else 1):  # the final generator, and best.pt if tracked
        for dataset, split, part in exp.fid_sets():
            n = 10_000 if part == "all" else 5_000
            s_, basis = t.fid_seconds(n, (dataset, split, part))
            if s_ is None:
                return Estimate(None, basis)
            secs, n_fids = secs + s_, n_fids + 1
    parts.append(f"{n_fids} FIDs at the end ({basis})")
    return Estimate(secs / 60, "; ".join(parts))


def _estimate_throughput(job: Job, t: Timings) -> Estimate:
    left = missing_modes(t.bench, job.modes)
    secs, parts = 0.0, []
    for mode in left:
        if mode == "fid":
            s, b = t.fid_seconds(10_000, ("celeba", "train", 64, "bench"))
            secs += 2 * (s or 0)
            parts.append(f"fid: 2 FID-10k ({b})")
        elif mode == "decode":
            e2e = t.bench.get("e2e", {}).get("ours", {})
            secs += 2 * e2e.get("decode_s", 0)
            parts.append("decode: twice the stored CelebA decode")
        elif mode in ("e2e", "e2e_run"):
            e2e = t.bench.get("e2e", {})
            ours, base = e2e.get("ours", {}), e2e.get("pytorch_examples", {})
            epochs = 25 if mode == "e2e_run" else 1
            secs += ours.get("decode_s", 0) + epochs * ours.get("epoch_s", 0)
            secs += base.get("epoch_s", 0) + base.get("extract_s", 0)
            parts.append(f"{mode}: {epochs} epoch(s) + 1 baseline epoch (stored e2e)")
        else:
            step = t.bench.get("step", {})
            per = [
                (step["steps"] + step["warmup"]) * r["ms_per_step"] / 1000
                for c in step.get("configs", {}).values()
                for r in c["engines"].values()
            ]
            secs += 2 * sum(per)  # the fast engine once more, compiled
            parts.append("step: the stored loops' step times, the fast one twice "
                         "(torch.compile's compilation time: not measured yet)")  # fmt: skip
    if not left:
        return Estimate(0.0, "nothing left")
    return Estimate(secs / 60, "; ".join(parts))


def _estimate_numerics(t: Timings) -> Estimate:
    if not t.numerics:
        return Estimate(None, "no stored numerics run")
    runs = t.numerics["runs"]
    secs = sum(wall_seconds(r["metrics"]) for r in runs)
    fids = sum(1 for r in runs if r.get("fid"))
    s_, basis = t.fid_seconds(10_000, ("celeba", "train", "all"))
    secs += fids * (s_ or 0.0)
    return Estimate(secs / 60, f"the stored runs' wall time ({len(runs)} runs) + {fids} FIDs "
                    f"({basis})")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class Planned:
    job: Job
    state: str  # done | left | skip
    reason: str = ""
    estimate: Estimate | None = None
    missing: tuple[tuple[str, str, str], ...] = ()  # (dataset, split, why) it lacks
    lease: tuple[int, int] | None = None  # left: the leases it starts and finishes in


def make_plan(
    jobs: list[Job], root: Path, data_root: str | None, smoke: bool = False,
    exps: dict[str, Experiment] | None = None, timings_root: Path | None = None,
) -> list[Planned]:  # fmt: skip
    """Each job's state (done, left, or skip with its one-line reason) and, for jobs left, the
    estimate of GPU minutes (from the stored measurements under ``timings_root``)."""
    exps = exps or EXPERIMENTS
    t = Timings(timings_root or root)
    check = DataCheck(data_root)
    every = {j.name: j for j in book_jobs(exps)}
    states: dict[str, str] = {}
    plan = []
    for job in jobs:
        if is_done(job, root, smoke):
            plan.append(Planned(job, "done"))
            states[job.name] = "done"
            continue
        why = check.missing(job)
        missing = tuple((d, sp, check.reason(d, sp) or "") for d, sp in check.missing_sets(job))
        blocked = [
            a
            for a in job.after
            if states.get(a) not in ("done", "left")
            and not (a not in states and is_done(every[a], root, smoke))
        ]
        if why is None and blocked:
            why = f"needs {', '.join(blocked)} first (not done, and not runnable in this plan)"
        est = estimate(job, t, EXPERIMENTS)  # smoke too: the estimates are of the GPU jobs
        states[job.name] = "skip" if why else "left"
        plan.append(Planned(job, states[job.name], why or "", est, missing))
    for p, lease in zip([p for p in plan if p.state == "left"], leases(plan), strict=True):
        p.lease = lease
    return plan


def leases(
    plan: list[Planned],
    lease: float = LEASE_MINUTES,
    call: float = CALL_MINUTES,
    work: float = GPU_CALL_MINUTES,
) -> list[tuple[int, int]]:
    """For each job left, in plan order, the leases (first, last) it runs in, by the estimates:
    each lease is ``lease`` minutes of calls of at most ``call`` minutes, of which ``work`` run
    jobs (the rest is the call's start-up); a call too short to work ends the lease. A job not
    finished when its call ends resumes in the next call (every job resumes). A job with no
    estimate is counted as the rest of the call it starts in (each job stops at its call's
    budget)."""
    start_up = call - work
    number, lease_left, call_left = 1, lease, 0.0

    def next_call() -> None:
        nonlocal number, lease_left, call_left
        length = min(call, lease_left)
        if length - start_up <= 1e-9:  # no room for another call: a new lease
            number, lease_left, length = number + 1, lease, call
        lease_left -= length
        call_left = length - start_up

    out = []
    for p in plan:
        if p.state != "left":
            continue
        if call_left <= 1e-9:
            next_call()
        first = number
        need = p.estimate.minutes if p.estimate else None
        if need is None:
            call_left = 0.0
        else:
            while need > call_left + 1e-9:
                need -= call_left
                next_call()
            call_left -= need
        out.append((first, number))
    return out


def _lease_mark(p: Planned) -> str:
    if p.lease is None:
        return ""
    first, last = p.lease
    return f"lease {first}" if first == last else f"lease {first}-{last}"


def plan_text(plan: list[Planned], smoke: bool) -> str:
    """The plan as the command prints it: one line per job (done; left with its GPU minutes, the
    lease it finishes in and the estimate's basis; skip with its reason, a missing data set
    named on the line and explained once below), then the GPU time left and the first lease."""
    lines = []
    width = max(len(p.job.name) for p in plan) if plan else 10
    missing: dict[str, list[str]] = {}  # why -> the data sets it explains
    for p in plan:
        if p.state == "done":
            lines.append(f"  done  {p.job.name:<{width}}  {p.job.what}")
            continue
        est = p.estimate
        mins = "   ?    " if est is None or est.minutes is None else f"{est.minutes:5.1f} min"
        if p.state == "skip" and p.missing:
            sets = [f"{d} {sp}" for d, sp, _ in p.missing]
            for d, sp, why in p.missing:
                names = missing.setdefault(why, [])
                names += [] if f"{d} {sp}" in names else [f"{d} {sp}"]
            tail = f"data missing: {', '.join(sets)} (below)"
        elif p.state == "skip":
            tail = p.reason
        else:
            tail = f"{_lease_mark(p):<10} {est.basis if est else ''}"
        lines.append(f"  {p.state:<4}  {p.job.name:<{width}}  {mins}  {tail}")
    for why, sets in missing.items():
        lines.append(f"data missing ({', '.join(sets)}): {why}")
    left = [p for p in plan if p.state == "left"]
    known = [p.estimate.minutes for p in left if p.estimate and p.estimate.minutes is not None]
    unknown = [p.job.name for p in left if not p.estimate or p.estimate.minutes is None]
    total = sum(known)
    done = sum(p.state == "done" for p in plan)
    skipped = sum(p.state == "skip" for p in plan)
    head = f"plan: {len(plan)} jobs, {done} done, {len(left)} left, {skipped} cannot run here"
    if smoke:
        head += " (smoke: tiny configs on the CPU; the estimates are of the full GPU jobs)"
    total_line = f"estimated GPU time left: {total:.1f} min" + (
        f" + {len(unknown)} job(s) with no stored timing ({', '.join(unknown)}: each counted as "
        "the rest of its call)"
        if unknown
        else ""
    )
    return "\n".join([head, *lines, total_line, first_lease_text(plan)])


def first_lease_text(plan: list[Planned]) -> str:
    """One line: what the first lease makes (``LEASE_MINUTES`` of GPU time in calls of at most
    ``CALL_MINUTES``, each ``--max-minutes`` ``GPU_CALL_MINUTES``) and what it starts."""
    left = [p for p in plan if p.state == "left" and p.lease]
    fits = [p.job.name for p in left if p.lease == (1, 1)]
    starts = [p.job.name for p in left if p.lease[0] == 1 and p.lease[1] > 1]
    head = (
        f"one lease ({LEASE_MINUTES:g} GPU-minutes, calls of at most {CALL_MINUTES:g} min with "
        f"--max-minutes {GPU_CALL_MINUTES:g}): "
    )
    if not left:
        return head + "nothing left to run"
    text = head + (f"finishes {', '.join(fits)}" if fits else "finishes no job")
    text += f"; starts {', '.join(starts)} (resumed by the next)" if starts else ""
    later = len(left) - len(fits) - len(starts)
    return text + (f"; {later} job(s) for later leases" if later else "; that is all")


def plan_summary(plan: list[Planned]) -> dict:
    """The plan as JSON-able data (what the tests and a notebook read)."""
    left = [p for p in plan if p.state == "left"]
    return {
        "jobs": [
            {
                "name": p.job.name,
                "state": p.state,
                "reason": p.reason,
                "minutes": p.estimate.minutes if p.estimate else None,
                "basis": p.estimate.basis if p.estimate else "",
                "outputs": list(p.job.outputs),
                "lease": list(p.lease) if p.lease else None,
            }
            for p in plan
        ],
        "left_minutes": sum(
            p.estimate.minutes for p in left if p.estimate and p.estimate.minutes is not None
        ),
        "unestimated": [p.job.name for p in left if not p.estimate or p.estimate.minutes is None],
        "gpu_call_minutes": GPU_CALL_MINUTES,
        "lease_minutes": LEASE_MINUTES,
        "call_minutes": CALL_MINUTES,
        "first_lease": [p.job.name for p in left if p.lease == (1, 1)],
    }
