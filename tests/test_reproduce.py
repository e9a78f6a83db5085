"""`python -m dcgan_lib reproduce`: the book's GPU jobs as one plan (done, left, why not, GPU
minutes), run in order on tiny configs with --smoke, skipping what is done, resuming after a
kill, and skipping a job whose data is missing with its reason."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _tinydata import celeba, cifar10, tinyimagenet

from dcgan_lib import artifacts, experiments
from dcgan_lib.studies import faces, guided_backprop
from dcgan_lib.studies import features as features_study
from dcgan_lib.studies import reproduce as R
from dcgan_lib.studies import reproduce_plan as plan
from dcgan_lib.studies.experiments_results import read_results

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def _book_reads() -> set[tuple[str, str]]:
    """(artifact, file) pairs the book reads: literal require() calls in the notebooks, and the
    library's constants behind the pages' loaders."""
    pairs = set()
    for nb in NOTEBOOKS.glob("*.ipynb"):
        text = nb.read_text()
        pairs |= set(re.findall(r'require(?:_json)?\(\\"(\w+)\\", \\"([\w.]+)\\"', text))
    pairs |= {tuple(features_study.D_ARTIFACT), (faces.ARTIFACT, "G.pt")}
    pairs |= {(name, "D.pt") for name, _ in guided_backprop.MODELS.values()}
    pairs |= {tuple(p.split("/", 1)) for p in (artifacts.THROUGHPUT, artifacts.NUMERICS)}
    pairs |= {
        (e.name, f"result_s{s}.json") for e in experiments.EXPERIMENTS.values() for s in e.seeds
    }
    pairs |= {(experiments.FACES_MODEL, "selection.json")}
    return pairs


def test_the_plan_lists_every_gpu_artifact_the_book_reads():
    jobs = plan.book_jobs()
    outputs = {o for j in jobs for o in j.outputs}
    folders = {o.split("/")[0] for o in outputs}
    cpu = {c.split("/")[0] for c in plan.CPU_MADE if "/" not in c}
    # every producer of artifacts/ is this plan's or a CPU command's (a file's own: a CPU's)
    folder_keys = {k for k in artifacts.PRODUCERS if "/" not in k}
    assert folder_keys == folders | cpu
    for key in set(artifacts.PRODUCERS) - folder_keys:
        assert key in plan.CPU_MADE or key.split("/")[0] in cpu, key
    for name, filename in _book_reads():
        made_on_cpu = name in cpu or f"{name}/{filename}" in plan.CPU_MADE
        experiment_file = name in experiments.EXPERIMENTS and name in folders
        assert made_on_cpu or experiment_file or f"{name}/{filename}" in outputs, (name, filename)
    # the book's weights: every experiment that ships them lists them
    for exp in experiments.EXPERIMENTS.values():
        job = next(j for j in jobs if j.name == f"{exp.name}/s{exp.seeds[0]}")
        assert (f"{exp.name}/G.pt" in job.outputs) == exp.ship_weights
    # dependency order: a job comes after every job it needs
    seen = set()
    for job in jobs:
        assert set(job.after) <= seen, job.name
        seen.add(job.name)
    names = {j.name for j in jobs}
    assert {"celeba_dcgan64_long/s1", "celeba_dcgan64_updates/s1", "features_cifar10"} <= names
    # the order of what each job unlocks in the book: the §5.1 D and protocol, the scene model,
    # the faces at pytorch/examples' updates, the long faces run; then the other first seeds,
    # the §6 faces model, §5.2, the extra seeds; the benchmarks last
    order = [j.name for j in jobs]
    assert order[: len(plan.ORDER)] == list(plan.ORDER) == [
        "imagenet32_tinyimagenet/s1", "features_cifar10", "tinyimagenet_dcgan64/s1",
        "celeba_dcgan64_updates/s1", "celeba_dcgan64_long/s1",
    ]  # fmt: skip
    extra = [i for i, j in enumerate(jobs) if j.extra_seed]
    firsts = [i for i, j in enumerate(jobs) if j.kind == "experiment" and not j.extra_seed]
    assert extra and max(firsts) < min(extra) and order.index("faces_model") < min(extra)
    assert order[-3:] == ["throughput", "numerics", "timings"]
    assert {"tinyimagenet_dcgan64/s1", "imagenet32_tinyimagenet/s1", "numerics"} <= names
    assert {f"cifar10_imagenet32/s{s}" for s in (1, 2, 3)} <= names


def test_the_plan_of_this_repository_says_what_is_done_left_and_how_long(tmp_path, capsys):
    data = tmp_path / "data"
    celeba(data, n=4)
    cifar10(data, n_train=4, n_test=4)
    tinyimagenet(data, per_class=1, n_val=4)
    summary = R.reproduce(data_root=str(data), plan_only=True, progress=False)
    printed = capsys.readouterr().out
    root = artifacts.artifacts_dir()
    by_name = {j["name"]: j for j in summary["jobs"]}
    for job in plan.book_jobs():
        row = by_name[job.name]
        assert (row["state"] == "done") == plan.is_done(job, root), job.name
        if row["state"] == "left" and job.kind != "features":
            assert row["minutes"] > 0 and row["basis"], job.name
    # stored H200 results: done; the runs nobody made yet: left, with an estimate
    assert by_name["celeba_dcgan64/s1"]["state"] == "done"
    assert by_name["features_svhn"]["state"] == "skip"
    assert "data missing: dataset 'svhn'" in by_name["features_svhn"]["reason"]
    assert printed.startswith(f"plan: {len(plan.book_jobs())} jobs, ")
    total = sum(j["minutes"] for j in summary["jobs"] if j["state"] == "left" and j["minutes"])
    assert summary["left_minutes"] == pytest.approx(total)
    assert re.search(r"estimated GPU time left: [\d.]+ min", printed)
    assert printed.splitlines()[-1].startswith(
        "one lease (13 GPU-minutes, calls of at most 10 min with --max-minutes 9): "
    )
    # the missing data is named on its jobs' lines and explained once
    assert printed.count("dataset 'svhn'") == 1 and "data missing: svhn train" in printed
    # the first lease: a prefix of the jobs left, in order, within its working minutes
    left = [j for j in summary["jobs"] if j["state"] == "left"]
    first = [j["name"] for j in left if j["lease"] == [1, 1]]
    assert first == summary["first_lease"] == [j["name"] for j in left[: len(first)]]
    assert not left or left[0]["lease"][0] == 1  # the first job left starts in the first lease
    assert sum(j["minutes"] or 0 for j in left[: len(first)]) <= 9 + 2
    assert all(j["lease"][0] <= j["lease"][1] for j in left)
    assert [j["lease"][1] for j in left] == sorted(j["lease"][1] for j in left)
    if not torch.cuda.is_available():  # full mode on a CPU: the plan, then a one-line refusal
        refused = R.reproduce(data_root=str(data), progress=False)
        assert refused["run"] == [] and "no GPU here" in capsys.readouterr().out


def _planned(minutes: list[float | None]) -> list[plan.Planned]:
    job = plan.book_jobs()[0]
    return [plan.Planned(job, "left", estimate=plan.Estimate(m, "")) for m in minutes] + [
        plan.Planned(job, "done"),
        plan.Planned(job, "skip", "data missing: x"),
    ]


def test_the_lease_marks_follow_calls_of_ten_minutes_in_leases_of_thirteen():
    # a lease: a call of 10 min (9 working) and one of 3 (2 working); jobs resume across calls
    marks = plan.leases(_planned([3.0, None, 2.0, 0.7, 12.0, 5.0]))
    assert marks == [(1, 1), (1, 1), (1, 1), (2, 2), (2, 3), (3, 3)]
    # a job with no estimate takes the rest of its call; one too long for a lease spans two
    assert plan.leases(_planned([None, None, None])) == [(1, 1), (1, 1), (2, 2)]
    assert plan.leases(_planned([25.0])) == [(1, 3)]
    assert plan.leases(_planned([])) == []


def test_without_data_the_plan_says_so_once(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DCGAN_DATA", raising=False)
    monkeypatch.setattr("dcgan_lib.datasets.SHARED_DATA", tmp_path / "no-shared-data")
    summary = R.reproduce(plan_only=True, progress=False)
    printed = capsys.readouterr().out
    skipped = [j for j in summary["jobs"] if j["state"] == "skip"]
    assert skipped and all(j["reason"].startswith("data missing: no data root") for j in skipped)
    assert printed.count("no data root") == 1
    assert printed.count("data missing") == len(skipped) + 1


def test_estimates_rest_on_the_stored_benchmark(tmp_path):
    t = plan.Timings(artifacts.artifacts_dir())
    exp = experiments.get_experiment("celeba_dcgan64_updates")
    est = plan._estimate_experiment(exp, 1, t)
    rate = t.img_per_s("dcgan64")
    step_minutes = 3925 * 128 / rate / 60
    assert est.minutes > step_minutes and "3,925 steps" in est.basis
    again = plan._estimate_experiment(exp, 1, t)  # the decode was counted by the first job only
    assert again.minutes < est.minutes
    # a seed whose sibling is stored: that sibling's own minutes
    stored = read_results("cifar10_imagenet32")
    if stored:
        other = plan._estimate_experiment(experiments.get_experiment("cifar10_imagenet32"), 9, t)
        first = stored[0]
        assert other.minutes == pytest.approx(first["train_minutes"] + first["fid_minutes"])


def _job_done(root: Path, name: str) -> bool:
    exps = {n: R.smoke_experiment(e) for n, e in experiments.EXPERIMENTS.items()}
    job = next(j for j in plan.book_jobs(exps) if j.name == name)
    try:
        return plan.is_done(job, root, smoke=True)
    except (json.JSONDecodeError, OSError):
        return False


@pytest.mark.slow
def test_smoke_runs_the_whole_plan_skips_missing_data_and_resumes_after_a_kill(tmp_path, capsys):
    data, root, runs = tmp_path / "data", tmp_path / "artifacts", tmp_path / "runs"
    celeba(data)
    cifar10(data)  # no Tiny ImageNet, no SVHN here
    argv = ["reproduce", "--smoke", "--data-root", str(data), "--artifacts", str(root),
            "--runs-dir", str(runs), "--no-progress"]  # fmt: skip
    env = os.environ | {"DCGAN_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcgan_lib", *argv], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while not _job_done(root, "celeba_dcgan64/s1"):  # a few jobs finished: kill the rest
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    first_output = proc.communicate()[0]
    assert first_output.startswith("plan: 20 jobs, 0 done, 16 left, 4 cannot run here (smoke")
    assert "\none lease (13 GPU-minutes, calls of at most 10 min with --max-minutes 9): " in (
        first_output
    )
    assert re.search(r"^  left  celeba_dcgan64_updates/s1 .* lease 1 ", first_output, re.M)
    done_before = {
        j.name
        for j in plan.book_jobs(
            {n: R.smoke_experiment(e) for n, e in experiments.EXPERIMENTS.items()}
        )
        if _job_done(root, j.name)
    }
    # run in the order of what they unlock: the faces runs of ORDER first (the Tiny ImageNet jobs
    # lack their data here), then the other first seeds; the timings come last
    ran_first = re.findall(r"^run   (\S+)", first_output, re.M)
    assert ran_first[:3] == [
        "celeba_dcgan64_updates/s1",
        "celeba_dcgan64_long/s1",
        "celeba_dcgan64/s1",
    ]
    assert {"celeba_dcgan64_updates/s1", "celeba_dcgan64/s1"} <= done_before
    assert "timings" not in done_before

    os.environ["DCGAN_CACHE"] = str(tmp_path / "cache")
    try:
        summary = R.reproduce(
            data_root=str(data), smoke=True, root=root, runs_dir=runs, progress=False
        )
    finally:
        del os.environ["DCGAN_CACHE"]
    printed = capsys.readouterr().out
    states = {j["name"]: j for j in summary["jobs"]}
    ran = {r["name"] for r in summary["run"] if r["state"] in ("complete", "incomplete")}
    assert not done_before & ran  # what was finished before the kill is not redone
    assert all(states[n]["state"] == "done" for n in done_before)
    assert summary["left_after"] == [] and not [r for r in summary["run"] if r["state"] == "failed"]
    # a job whose data is missing is skipped with its reason; so is what needs it
    for name in ("tinyimagenet_dcgan64/s1", "imagenet32_tinyimagenet/s1"):
        assert states[name]["state"] == "skip"
        assert states[name]["reason"].startswith("data missing: dataset 'tinyimagenet'")
    assert "needs imagenet32_tinyimagenet/s1" in states["features_cifar10"]["reason"]
    assert "svhn" in states["features_svhn"]["reason"]
    assert printed.splitlines()[-1].startswith("complete: every job that can run here is done")
    # what the smoke plan made: the selection-half run, the faces model, the benchmarks
    long = json.loads((root / "celeba_dcgan64_long/result_s1.json").read_text())
    assert long["selection"]["chosen_by"].endswith("celeba10k-select")
    assert json.loads((root / "celeba_dcgan64_updates/result_s1.json").read_text())["steps"] == 5
    chosen = json.loads((root / "faces_model/selection.json").read_text())["chosen"]
    assert artifacts.faces_model_artifact(root) == chosen
    bench = json.loads((root / "benchmarks/throughput.json").read_text())
    assert set(plan.TIMING_MODES + plan.ENGINE_MODES) <= set(bench)
    assert bench["decode"]["byte_identical"] and bench["fid"]["agree"]
    # nothing left: a third call only prints the plan
    again = R.reproduce(data_root=str(data), smoke=True, root=root, runs_dir=runs, progress=False)
    assert [r for r in again["run"] if r["state"] not in ("done", "skip")] == []


def test_smoke_runs_the_features_job_once_its_discriminator_exists(tmp_path, capsys, monkeypatch):
    data, root = tmp_path / "data", tmp_path / "artifacts"
    cifar10(data)
    tinyimagenet(data)
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    summary = R.reproduce(
        only=["imagenet32_tinyimagenet", "features_cifar10"], data_root=str(data), smoke=True,
        root=root, runs_dir=tmp_path / "runs", progress=False,
    )  # fmt: skip
    assert [r["state"] for r in summary["run"]] == ["complete", "complete"]
    metrics = json.loads((root / "features_cifar10/metrics.json").read_text())
    assert metrics["complete"] and metrics["size"] == "smoke"
    assert metrics["d_description"].endswith("imagenet32_tinyimagenet/D.pt")
    artifacts.require("features_cifar10", "svm_all.pt", root)
    with pytest.raises(ValueError, match="unknown job"):
        plan.select(plan.book_jobs(), ["nonsense"])


def test_the_size_flag_and_its_old_spelling():
    from dcgan_lib.__main__ import parser

    assert parser().parse_args(["reproduce"]).size == "full"
    for argv in (["reproduce", "--size", "smoke"], ["reproduce", "--smoke"]):
        a = parser().parse_args(argv)
        assert a.size == "smoke" and a.run.resolve() is R.run_cli


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the checkout


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs the real data in ../shared/data")
def test_smoke_reads_a_bounded_part_of_the_real_data(tmp_path, monkeypatch):
    # every job of the smoke plan that reads the data root, on the real data (Tiny ImageNet's
    # 100,000 images, CIFAR-10's 60,000, CelebA-10k): each reads the first SMOKE_IMAGES
    # images of a split at most, trains a few steps and compiles nothing
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "artifacts"
    only = [
        "imagenet32_tinyimagenet/s1", "tinyimagenet_dcgan64/s1", "celeba_dcgan64_updates/s1",
        "celeba_dcgan64_long/s1", "celeba_dcgan64/s1", "cifar10_imagenet32/s1", "faces_model",
        "throughput", "timings",
    ]  # fmt: skip
    summary = R.reproduce(
        only=only, data_root=str(SHARED_DATA), smoke=True, root=root, runs_dir=tmp_path / "runs",
        progress=False,
    )  # fmt: skip
    assert [r["state"] for r in summary["run"]] == ["complete"] * len(only)
    packs = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    assert {p["dataset"] for p in packs} == {"tinyimagenet", "celeba", "cifar10"}
    assert max(p["n"] for p in packs) <= R.SMOKE_IMAGES
    for name in ("imagenet32_tinyimagenet", "celeba_dcgan64_long", "cifar10_imagenet32"):
        result = json.loads((root / name / "result_s1.json").read_text())
        assert result["n_images"] <= R.SMOKE_TRAIN["limit"] and result["steps"] <= 9, name
        for fid in result["fid"].values():
            assert f"of {R.SMOKE_IMAGES}" in fid["reference_images"], (name, fid)
    bench = json.loads((root / "benchmarks/throughput.json").read_text())
    assert [d["images"] for d in bench["decode"]["decoders"].values()] == [R.SMOKE_IMAGES] * 2
    for mode in ("e2e", "e2e_run"):
        assert bench[mode]["n_images"] == R.SMOKE_IMAGES and not bench[mode]["ours"]["compile"]
        assert bench[mode]["pytorch_examples"]["images"] <= R.SMOKE_IMAGES * bench[mode]["epochs"]
    assert not bench["step"]["compile"]


def test_the_plan_imports_no_torch():
    code = (
        "import sys\nfrom dcgan_lib.__main__ import main\n"
        "assert main(['reproduce', '--plan']) == 0\n"
        "print('heavy:', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', "
        "'matplotlib', 'sklearn'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("plan: ") and out.stdout.strip().endswith("heavy: []")
