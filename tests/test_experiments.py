"""§4 experiments: one resumable job trains, measures FID under every reference set, and exports."""

import dataclasses
import json

import pytest

from dcgan_lib import artifacts, experiments
from dcgan_lib.experiments import Experiment, run_experiment
from dcgan_lib.metrics import reference_indices

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
SMALL = dict(limit=64, device="cpu", log_every=2, sample_every=1000, checkpoint_every=2)


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
    results = experiments.read_results(TINY.name, tmp / "artifacts")
    assert [r["seed"] for r in results] == [1, 2]
    stats = experiments.summarize(results)["final:synthetic/test"]
    values = [
        first["fid"]["final:synthetic/test"]["fid"],
        second["fid"]["final:synthetic/test"]["fid"],
    ]
    assert stats["fid"]["mean"] == pytest.approx(sum(values) / 2)
    assert stats["fid"]["n"] == 2 and stats["fid"]["min"] == min(values)
    rows = {r["experiment"]: r for r in experiments.results_table(tmp / "artifacts", every)}
    assert rows[TINY.name]["status"] == "measured" and "2 seeds" in rows[TINY.name]["fid"]
    assert rows["celeba_dcgan64"]["status"] == "not produced yet"
    assert "experiment celeba_dcgan64" in rows["celeba_dcgan64"]["command"]
    mem = {r["experiment"]: r for r in experiments.memorization_rows(tmp / "artifacts", every)}
    assert mem[TINY.name]["gap"] == pytest.approx(
        stats["fid"]["mean"]
        - experiments.summarize(results)["final:synthetic/train"]["fid"]["mean"]
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
    # delegated to dcgan_lib.forgetting's own parser: an empty data root is a one-line error
    assert main(["forgetting", "bands", "--data-root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error:")
