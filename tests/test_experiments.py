"""§4 experiments: one resumable job trains, measures FID under every reference set, and exports."""

import dataclasses
import json
import math

import pytest

from dcgan_lib import artifacts, experiments
from dcgan_lib.experiments import Experiment
from dcgan_lib.metrics import reference_indices
from dcgan_lib.studies import experiments as study
from dcgan_lib.studies import experiments_results as results_of
from dcgan_lib.studies.experiments import run_experiment

TINY = Experiment(
    name="tiny_synthetic",
    config="smoke32",
    data="synthetic",
    image_size=32,
    epochs=2,
    references=(("synthetic", "test"), ("synthetic", "train")),
    stands_in_for="a test",
    seeds=(1, 2),
    batch_size=16,
    ship_weights=True,
)
# the tiny stand-in feature network: the job's logic is tested here, Inception's FID in
# test_metrics.py (on a CPU, one Inception FID's 2,048 x 2,048 eigenvalues take seconds)
SMALL = dict(
    limit=64, device="cpu", log_every=2, sample_every=1000, checkpoint_every=2, fid_network="tiny"
)


def _run(tmp_path, seed, **kw):
    return run_experiment(
        TINY.name,
        seed=seed,
        runs_dir=tmp_path / "runs",
        root=tmp_path / "artifacts",
        fid_n=12,
        progress=False,
        experiment=kw.pop("experiment", TINY),
        **(SMALL | kw),
    )


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exp")
    first = _run(tmp, 1)
    second = _run(tmp, 2)
    return tmp, first, second


def test_an_experiment_trains_measures_every_reference_and_exports(done):
    tmp, first, _ = done
    assert first["status"] == "complete"
    assert first["steps"] == 2 * (64 // 16) and first["image_steps"] == 8 * 16
    assert set(first["fid"]) == {"final:synthetic/test", "final:synthetic/train"}
    for fid in first["fid"].values():
        assert fid["n_fake"] == 12 and fid["n_real"] == 12 and fid["fid"] > 0
        assert fid["protocol"].startswith("FID-12/") and "eval mode" in fid["sampling"]
        assert fid["step"] == first["steps"]
    dest = tmp / "artifacts" / TINY.name
    # the first seed ships weights, metrics and samples; every seed its result file
    assert {"G.pt", "D.pt", "metrics.jsonl", "run.json", "result_s1.json", "result_s2.json"} <= {
        p.name for p in dest.iterdir()
    }
    artifacts.require(TINY.name, "result_s2.json", tmp / "artifacts")  # in the manifest
    assert json.loads((dest / "result_s1.json").read_text())["seed"] == 1
    # every file's command is its own seed's, runnable as written
    manifest = artifacts.read_manifest(tmp / "artifacts")["files"]
    for name, seed in (("result_s1.json", 1), ("G.pt", 1), ("result_s2.json", 2)):
        command = manifest[f"{TINY.name}/{name}"]["command"]
        assert f"experiment {TINY.name} --data-root DIR --seed {seed} --max-minutes" in command
        assert "SEED" not in command and " in 1, 2" not in command, command
        assert "machine" in manifest[f"{TINY.name}/{name}"]


def test_the_command_of_every_seed_and_of_one():
    exp = experiments.get_experiment("celeba_dcgan64")
    assert "--seed SEED" in exp.command() and "for SEED in 1, 2, 3;" in exp.command()
    one = exp.command(seed=2)
    assert "--seed 2 " in one and "SEED" not in one and "for " not in one
    single = experiments.get_experiment("celeba_paper64")
    assert single.command() == single.command(seed=1) and "--seed 1 " in single.command()
    # the stored manifest's commands are their own seed's too
    for name, entry in artifacts.read_manifest()["files"].items():
        assert " in 1, 2, 3" not in entry["command"], name


def test_the_anchors_training_and_the_targets_are_one_copy():
    examples = experiments.anchor_of("celeba_dcgan64")
    batches = math.ceil(10_000 / examples.batch_size)  # its loader keeps the last, partial batch
    assert examples.updates == batches * examples.epochs == 3925
    epochs, updates, fid = examples.early
    assert updates == batches * epochs and fid > examples.fid
    assert experiments.get_experiment("celeba_dcgan64_updates").max_steps == examples.updates
    for a in experiments.ANCHORS:
        assert experiments.TARGETS[(a.experiment, a.protocol)] == a.fid


def test_a_finished_experiment_is_not_redone(done):
    tmp, first, _ = done
    ledger = json.loads((tmp / "runs" / "tiny_synthetic-s1" / "experiment.json").read_text())
    again = _run(tmp, 1)
    assert again["fid"] == first["fid"]  # FIDs come from the ledger, not recomputed
    ledger2 = json.loads((tmp / "runs" / "tiny_synthetic-s1" / "experiment.json").read_text())
    assert len(ledger2["chunks"]) == len(ledger["chunks"]) + 1
    assert ledger2["chunks"][-1]["step"] == first["steps"]


def test_a_time_boxed_call_stops_and_the_next_one_finishes(tmp_path):
    one_ref = dataclasses.replace(TINY, references=(("synthetic", "test"),))
    part = _run(tmp_path, 1, max_steps=3, experiment=one_ref)  # stops early, like a spent budget
    assert part["status"] == "incomplete" and part["step"] == 3
    assert not (tmp_path / "artifacts" / TINY.name / "result_s1.json").exists()
    full = _run(tmp_path, 1, experiment=one_ref)
    assert full["status"] == "complete" and full["steps"] == 8 and full["chunks"] == 2


def test_results_are_summarized_over_seeds(done):
    tmp, first, second = done
    every = experiments.EXPERIMENTS | {TINY.name: TINY}
    results = results_of.read_results(TINY.name, tmp / "artifacts")
    assert [r["seed"] for r in results] == [1, 2]
    stats = results_of.summarize(results)["final:synthetic/test"]
    values = [
        first["fid"]["final:synthetic/test"]["fid"],
        second["fid"]["final:synthetic/test"]["fid"],
    ]
    assert stats["fid"]["mean"] == pytest.approx(sum(values) / 2)
    assert stats["fid"]["n"] == 2 and stats["fid"]["min"] == min(values)
    rows = {r["experiment"]: r for r in results_of.results_table(tmp / "artifacts", every)}
    assert rows[TINY.name]["status"] == "measured" and "2 seeds" in rows[TINY.name]["fid"]
    assert rows["celeba_dcgan64"]["status"] == "not produced yet"
    assert "experiment celeba_dcgan64" in rows["celeba_dcgan64"]["command"]
    pending = {r["run"]: r["command"] for r in results_of.pending_rows(list(rows.values()))}
    updates = pending["`celeba_dcgan64_updates`"]  # not produced yet: named with its command
    assert "experiment celeba_dcgan64_updates --data-root ../shared/data --seed 1 " in updates
    assert f"`{TINY.name}`" not in pending
    mem = {r["experiment"]: r for r in results_of.memorization_rows(tmp / "artifacts", every)}
    assert mem[TINY.name]["gap"] == pytest.approx(
        stats["fid"]["mean"] - results_of.summarize(results)["final:synthetic/train"]["fid"]["mean"]
    )


def test_weights_are_not_shipped_when_the_experiment_says_so(tmp_path):
    light = dataclasses.replace(TINY, ship_weights=False, references=(("synthetic", "test"),))
    out = _run(tmp_path, 1, experiment=light)
    names = {p.name for p in (tmp_path / "artifacts" / TINY.name).iterdir()}
    assert out["status"] == "complete" and "G.pt" not in names and "metrics.jsonl" in names


def test_a_missing_experiment_names_its_command(tmp_path):
    for exp in experiments.EXPERIMENTS.values():
        experiments.train_config(exp, exp.seeds[0])  # a valid TrainConfig
        with pytest.raises(artifacts.ArtifactMissing, match=f"experiment {exp.name} --data-root"):
            artifacts.require(exp.name, "result_s1.json", tmp_path)


def test_the_reference_subset_is_fixed_spread_and_complete_when_exact():
    assert (reference_indices(10, 10) == list(range(10))).all()
    idx = reference_indices(100_000, 10_000)
    assert len(set(idx.tolist())) == 10_000 and (idx == reference_indices(100_000, 10_000)).all()
    assert idx.max() > 90_000  # not the first classes of a class-sorted split


def test_the_cli_lists_experiments_and_hands_section_6_tools_their_arguments(tmp_path, capsys):
    from dcgan_lib.__main__ import main

    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(f"experiment {name} --data-root" in listed for name in experiments.EXPERIMENTS)
    # the forgetting command's bands: an empty data root is a one-line error
    assert main(["forgetting", "bands", "--data-root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error:")


# --- selection on a half, runs sized in updates, the §6 faces model ---------------------------

SELECTING = dataclasses.replace(
    TINY, name="tiny_select", seeds=(1,), epochs=3, fid_every=4, select_half=True,
    references=(("synthetic", "test"),),
)  # fmt: skip
UPDATES = dataclasses.replace(
    TINY, name="tiny_updates", seeds=(1,), max_steps=5, references=(("synthetic", "test"),)
)


def _tiny_run(tmp_path, exp):
    return _run(tmp_path, 1, experiment=exp)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The selecting run and the run sized in updates, made once (stand-in feature network)."""
    tmp = tmp_path_factory.mktemp("tiny")
    return tmp, _tiny_run(tmp, SELECTING), _tiny_run(tmp, UPDATES)


def test_a_run_that_selects_on_one_half_reports_on_the_other(tiny_runs):
    tmp_path, out, _ = tiny_runs
    assert out["status"] == "complete" and out["steps"] == 12
    rows = [
        json.loads(x) for x in (tmp_path / "runs/tiny_select-s1/fid.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [4, 8, 12]
    assert {r["protocol"] for r in rows} == {"FID-12/synthetic-test-select"}
    sel = out["selection"]
    best = min(rows, key=lambda r: r["fid"])
    assert sel["chosen_by"] == "FID-12/synthetic-test-select" and sel["chosen_step"] == best["step"]
    assert "selection half" in sel["selection_images"] and sel["evaluated_steps"] == [4, 8, 12]
    assert out["fid"]["best:synthetic/test#report"]["protocol"] == "FID-6/synthetic-test-report"
    assert "share no image" in out["fid"]["best:synthetic/test#report"]["reference_images"]
    overlap = {p: r["overlap_with_selection"] for p, r in sel["reported"].items()}
    assert overlap["FID-6/synthetic-test-report"].startswith("none")
    assert "includes every selection image" in overlap["FID-12/synthetic-test"]
    # the shipped weights are the selected checkpoint's
    entry = artifacts.read_manifest(tmp_path / "artifacts")["files"]["tiny_select/G.pt"]
    assert entry["weights_from"] == "best.pt" and entry["step"] == best["step"]
    stored = json.loads((tmp_path / "artifacts/tiny_select/result_s1.json").read_text())
    assert stored["selection"] == sel
    # the results table shows the selection and the reporting half's FID
    (row,) = results_of.results_table(tmp_path / "artifacts", {SELECTING.name: SELECTING})
    assert row["selection"] == sel and row["report_protocol"] == "FID-6/synthetic-test-report"
    report = out["fid"]["best:synthetic/test#report"]["fid"]
    assert row["report_fid"] == f"{report:.1f} (1 seed)"
    shown = {r["what"]: r["value"] for r in results_of.selection_rows(row)}
    assert shown["chosen by"].startswith("FID-12/synthetic-test-select at steps 4, 8, 12")
    assert shown["chosen"].startswith(f"step {best['step']}, FID ")
    assert shown["reported: FID-6/synthetic-test-report"].endswith(
        "(none: the other half of the split)"
    )
    (display,) = results_of.display_rows([row], tmp_path / "artifacts", {SELECTING.name: SELECTING})
    assert (
        f"reporting half {row['report_fid']}" in display["FID"]
        and display["seeds done"] == "1 of 1"
    )
    assert results_of.pending_rows([row]) == []


def test_a_run_sized_in_updates_stops_there_and_completes(tiny_runs):
    tmp_path, _, out = tiny_runs
    assert out["status"] == "complete" and out["steps"] == 5  # not the 8 of two whole epochs
    assert out["fid"]["final:synthetic/test"]["step"] == 5
    assert _tiny_run(tmp_path, UPDATES)["steps"] == 5  # done: not trained further


def test_the_faces_model_is_chosen_on_the_selection_half(tiny_runs, tmp_path):
    import shutil

    root = tmp_path / "artifacts"
    shutil.copytree(tiny_runs[0] / "artifacts", root)
    assert artifacts.faces_model_artifact(root) == experiments.FACES_DEFAULT  # none chosen yet
    chosen = study.select_faces_model(
        root=root, experiments={e.name: e for e in (SELECTING, UPDATES)},
        candidates=("tiny_select", "tiny_updates"), n=12, network="tiny", device="cpu",
        progress=False,
    )  # fmt: skip
    fids = {r["experiment"]: r["selection_fid"] for r in chosen["candidates"]}
    assert chosen["chosen"] == min(fids, key=fids.get)
    assert chosen["selection_protocol"] == "FID-12/synthetic-test-select"
    assert all(r["reported"] for r in chosen["candidates"])
    assert artifacts.faces_model_artifact(root) == chosen["chosen"]
    (root / "faces_model/selection.json").write_text("{}")  # changed: not trusted any more
    assert artifacts.faces_model_artifact(root) == experiments.FACES_DEFAULT
