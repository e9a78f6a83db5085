"""Every GPU result the book shows, from one command: ``python -m dcgan_lib reproduce``.

The command first prints the plan (``dcgan_lib.studies.reproduce_plan``): what is done, what is
left, what cannot run here (its data missing, or a job it needs not done) with a one-line reason,
and an estimate of GPU minutes for each job left. Then it runs what is left in order under
``--max-minutes``; every job resumes where it stopped (experiments from their ledger, the §5 job
from its metrics file, the benchmarks mode by mode), so calling it again continues. ``--size
smoke`` (or ``--smoke``) runs the same plan on tiny configs on a CPU (``smoke32`` at 32 px, 24 images, a
stand-in feature network): how the tests check it.

Printing the plan imports no torch (``--plan`` answers in about a second); the jobs' modules
are imported when a job runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

from dcgan_lib import artifacts
from dcgan_lib.artifacts import NUMERICS, THROUGHPUT
from dcgan_lib.datasets import DataError, default_data_root
from dcgan_lib.experiments import EXPERIMENTS, Experiment
from dcgan_lib.studies.reproduce_plan import (
    Job,
    Planned,
    book_jobs,
    make_plan,
    missing_modes,
    plan_summary,
    plan_text,
    select,
)

# The smoke plan reads at most SMOKE_IMAGES images of any split, whatever the data root holds
# (the first ones: 24 to train on, 48 as an FID reference; its selection half holds 24).
SMOKE_IMAGES = 48
SMOKE_TRAIN = dict(
    limit=24, device="cpu", log_every=1, sample_every=10**6, checkpoint_every=2,
    sample_epochs=(1,), fid_network="tiny", fid_limit=SMOKE_IMAGES,
)  # fmt: skip
SMOKE_FID_N = 12
REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------
# Running it


@dataclass
class Settings:
    root: Path
    runs_dir: Path
    data_root: str | None
    smoke: bool = False
    device: str = "auto"
    cache_dir: str | None = None
    progress: bool = True


def smoke_experiment(exp: Experiment) -> Experiment:
    """The tiny CPU version of an experiment: the same datasets, references and logic (seeds,
    selection on a half, a run sized in updates), the ``smoke32`` model at 32 px, 3 batches of 8
    an epoch (``SMOKE_TRAIN``'s 24 images)."""
    return dataclasses.replace(
        exp,
        config="smoke32",
        image_size=32,
        epochs=3 if exp.fid_every or exp.max_steps else 2,
        batch_size=8,
        fid_every=3 if exp.fid_every else None,
        max_steps=5 if exp.max_steps else None,
    )


def run_job(job: Job, s: Settings, exps: dict[str, Experiment], minutes: float | None) -> bool:
    """Run (or resume) one job; True when it finished."""
    from dcgan_lib.studies import experiments

    if job.kind == "experiment":
        exp = exps[job.experiment]
        kw = dict(SMOKE_TRAIN) if s.smoke else {"device": s.device}
        out = experiments.run_experiment(
            exp.name, seed=job.seed, data_root=s.data_root, max_minutes=minutes,
            runs_dir=s.runs_dir, root=s.root, fid_n=SMOKE_FID_N if s.smoke else 10_000,
            progress=s.progress, experiment=exp, cache_dir=s.cache_dir, **kw,
        )  # fmt: skip
        return out["status"] == "complete"
    if job.kind == "faces_model":
        experiments.select_faces_model(
            s.data_root, "cpu" if s.smoke else s.device, s.root, exps,
            n=SMOKE_FID_N if s.smoke else 5_000, network="tiny" if s.smoke else "inception",
            cache_dir=s.cache_dir, progress=s.progress, command=_command(job, s),
            limit=SMOKE_IMAGES if s.smoke else None,
        )  # fmt: skip
        return True
    if job.kind == "features":
        return _run_features(job, s, minutes)
    if job.kind == "throughput":
        return _run_throughput(job, s, minutes)
    return _run_numerics(job, s, minutes)


def _command(job: Job, s: Settings) -> str:
    root = s.data_root or "DIR"
    return f"python -m dcgan_lib reproduce --only {job.name} --data-root {root}" + (
        " --size smoke" if s.smoke else ""
    )


def _run_features(job: Job, s: Settings, minutes: float | None) -> bool:
    from dcgan_lib.studies import features

    task = job.name.split("_", 1)[1]
    d_path = s.root / "imagenet32_tinyimagenet" / "D.pt"
    kw: dict = {}
    if s.smoke:  # the smoke D (smoke32) on the features job's own synthetic smoke data
        kw = {"D": artifacts.load_weights(d_path, "D"), "d_description": f"smoke D from {d_path}"}
    elif s.root.resolve() != artifacts.artifacts_dir().resolve():
        kw = {"d_weights": d_path}  # the book's D is read from artifacts/ by default
    metrics = features.run_protocol(
        "synthetic" if s.smoke else task, "smoke" if s.smoke else "full", s.root / job.name,
        data_root=s.data_root, cache_dir=s.cache_dir, device="cpu" if s.smoke else s.device,
        max_minutes=minutes, command=_command(job, s), progress=s.progress, **kw,
    )  # fmt: skip
    for out in job.outputs:
        if (s.root / out).exists():
            artifacts.register(out, s.root / out, _command(job, s), "imagenet32", s.root)
    return bool(metrics.get("complete"))


def _run_throughput(job: Job, s: Settings, minutes: float | None) -> bool:
    from dcgan_lib.device import resolve_device
    from dcgan_lib.studies import throughput

    path = s.root / THROUGHPUT
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    device = resolve_device("cpu" if s.smoke else s.device)
    blob = json.loads(path.read_text()) if path.exists() else {}
    peak = blob.get("step", {}).get("peak_tflops")  # the bf16 peak the stored run used
    for mode in missing_modes(blob, job.modes, s.smoke):
        if deadline is not None and time.monotonic() > deadline:
            return False
        size = "smoke" if s.smoke else "full"
        result, cmd = throughput.measure_mode(mode, size, s.data_root, device, s.cache_dir, peak)
        throughput.store(result, path, cmd)
        extra = {"machine": result["gpu"]} if result.get("gpu") else None
        artifacts.register(THROUGHPUT, path, cmd, root=s.root, extra=extra)
    return True


def _run_numerics(job: Job, s: Settings, minutes: float | None) -> bool:
    spec = importlib.util.spec_from_file_location("numerics", REPO / "benchmarks/numerics.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError("benchmarks/numerics.py is not next to dcgan_lib")
    numerics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(numerics)
    out = s.root / NUMERICS
    argv = ["--out", str(out)]
    if s.smoke:
        argv += ["--smoke", "--seeds", "1"]  # one seed: the engines compared, no seed noise
    else:
        argv += ["--data-root", str(s.data_root), "--work", str(s.runs_dir / "numerics")]
        argv += ["--device", s.device] + (["--max-minutes", f"{minutes:.2f}"] if minutes else [])
    result = numerics.main(argv)
    if result is None:
        return False
    artifacts.register(NUMERICS, out, result["command"], result["config"], s.root,
                       extra={"machine": result["gpu"]} if result.get("gpu") else None)  # fmt: skip
    return True


def run_plan(
    plan: list[Planned],
    s: Settings,
    exps: dict[str, Experiment],
    max_minutes: float | None,
    replan=None,
) -> list[dict]:
    """Run every job left, in order, under the time budget; print one line per job (and, once
    the timings job has measured FID and decode speeds, the estimate they give: ``replan``)."""
    started = time.monotonic()
    report, finished = [], set()
    for p in plan:
        job = p.job
        if p.state != "left":
            report.append({"name": job.name, "state": p.state})
            continue
        unmet = [a for a in job.after if a not in finished and _needs_run(a, plan)]
        if unmet:
            _say(f"skip  {job.name}: needs {', '.join(unmet)} to finish first")
            report.append({"name": job.name, "state": "waiting"})
            continue
        left = None if max_minutes is None else max_minutes - (time.monotonic() - started) / 60
        if left is not None and left <= 0:
            _say(f"later {job.name}: out of time (run the same command again)")
            report.append({"name": job.name, "state": "not started"})
            continue
        _say(f"run   {job.name}  ({job.what})")
        t0 = time.monotonic()
        try:
            ok = run_job(job, s, exps, left)
        except (DataError, artifacts.ArtifactMissing, FileNotFoundError, ValueError) as e:
            _say(f"fail  {job.name}: {e}")
            report.append({"name": job.name, "state": "failed", "error": str(e)})
            continue
        took = (time.monotonic() - t0) / 60
        state = "complete" if ok else "incomplete"
        if ok:
            finished.add(job.name)
        _say(f"{'done ' if ok else 'part '} {job.name}: {state} ({took:.2f} min)")
        report.append({"name": job.name, "state": state, "minutes": took})
        if ok and job.name == "timings" and replan is not None:
            _say(f"      re-estimated with these timings: {replan()}")
    return report


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _needs_run(name: str, plan: list[Planned]) -> bool:
    return any(p.job.name == name and p.state == "left" for p in plan)


def _say(line: str) -> None:
    print(line, flush=True)


def reproduce(
    only: list[str] | None = None,
    data_root: str | None = None,
    max_minutes: float | None = None,
    smoke: bool = False,
    root: str | Path | None = None,
    runs_dir: str | Path | None = None,
    device: str = "auto",
    cache_dir: str | None = None,
    plan_only: bool = False,
    progress: bool = True,
) -> dict:
    """Print the plan, then run what is left (unless ``plan_only``). Returns the plan summary
    and, when run, each job's outcome. ``data_root``: by ``datasets.default_data_root``'s rule
    (None: ``$DCGAN_DATA``, else ``../shared/data`` beside the checkout)."""
    found = default_data_root(data_root)
    data_root = str(found) if found is not None else None
    base = Path("runs") / "reproduce-smoke"
    root = Path(root) if root else (base / "artifacts" if smoke else artifacts.artifacts_dir())
    runs_dir = Path(runs_dir) if runs_dir else (base / "runs" if smoke else Path("runs"))
    exps = {n: smoke_experiment(e) for n, e in EXPERIMENTS.items()} if smoke else EXPERIMENTS
    jobs = select(book_jobs(exps), only)
    root.mkdir(parents=True, exist_ok=True)
    timings = artifacts.artifacts_dir()  # estimates come from the stored GPU measurements
    plan = make_plan(jobs, root, data_root, smoke, exps, timings_root=timings)
    print(plan_text(plan, smoke), flush=True)
    summary = plan_summary(plan)
    if plan_only:
        return summary
    if not smoke and device == "auto" and not _has_cuda():
        print(
            "no GPU here: these jobs take hours on a CPU. Run them on a GPU machine, pass "
            "--device cpu to run them here anyway, or --smoke for the tiny CPU check.",
            flush=True,
        )
        summary["run"] = []
        return summary
    s = Settings(root, runs_dir, data_root, smoke, device, cache_dir, progress)

    def replan() -> str:
        again = make_plan(jobs, root, data_root, smoke, exps, timings_root=timings)
        return plan_text(again, smoke).splitlines()[-2]  # the GPU time left

    summary["run"] = run_plan(plan, s, exps, max_minutes, replan)
    after = make_plan(jobs, root, data_root, smoke, exps, timings_root=timings)
    left = [p.job.name for p in after if p.state == "left"]
    summary["left_after"] = left
    if left:
        print(f"incomplete: {len(left)} job(s) left; run the same command again", flush=True)
    else:
        skipped = [p.job.name for p in after if p.state == "skip"]
        tail = f" ({len(skipped)} cannot run here: see the plan)" if skipped else ""
        print(f"complete: every job that can run here is done{tail}", flush=True)
    return summary


# ---------------------------------------------------------------------------------------------
# CLI


def run_cli(a: argparse.Namespace) -> int:
    summary = reproduce(
        only=a.only,
        data_root=a.data_root,
        max_minutes=a.max_minutes,
        smoke=a.size == "smoke",
        root=a.artifacts,
        runs_dir=a.runs_dir,
        device=a.device,
        cache_dir=a.cache_dir,
        plan_only=a.plan,
        progress=not a.no_progress,
    )
    failed = [r for r in summary.get("run", []) if r["state"] == "failed"]
    return 1 if failed else 0
