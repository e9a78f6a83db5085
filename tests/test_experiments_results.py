"""The §4 pages' side of the stored experiment results: table rows, the numbers the prose
quotes and the checks that fail when a stored result or a sentence no longer holds. Every
result here is a small file written by the test, in the format ``run_experiment`` stores."""

import dataclasses
import json
from pathlib import Path

import pytest

from dcgan_lib import artifacts, experiments
from dcgan_lib.config import TrainConfig
from dcgan_lib.experiments import Experiment
from dcgan_lib.studies import experiments_results as results_of
from dcgan_lib.studies import training_results as training

TWO_SETS = Experiment(
    name="cifar10_imagenet32",
    config="imagenet32",
    data="cifar10",
    image_size=32,
    epochs=5,
    references=(("cifar10", "test"), ("cifar10", "train")),
    stands_in_for="a test",
    seeds=(1, 2),
)


def _fid(fid: float, protocol: str) -> dict:
    return {"fid": fid, "kid_mean": 0.01, "protocol": protocol, "sampling": "z", "step": 390}


def _store(
    root: Path, name: str, seed: int, fids: dict[str, float], protocol: str = "", **extra
) -> dict:
    """One seed's result file, registered in the manifest as ``run_experiment`` does."""
    protocols = {k: protocol or f"FID-10k/{k.split(':')[1].replace('/', '-')}" for k in fids}
    result = {
        "seed": seed,
        "steps": 390,
        "image_steps": 49_920,
        "train_minutes": 1.5,
        "devices": ["GPU A"],
        "config": "imagenet32",
        "fid": {k: _fid(v, protocols[k]) for k, v in fids.items()},
    } | extra
    path = root / name / f"{experiments.RESULT_PREFIX}{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    artifacts.register(f"{name}/{path.name}", path, "test", root=root)
    return result


@pytest.fixture
def cifar(tmp_path):
    for seed, (test, train) in {1: (30.0, 29.5), 2: (32.0, 31.9)}.items():
        fids = {"final:cifar10/test": test, "final:cifar10/train": train}
        _store(tmp_path, TWO_SETS.name, seed, fids)
    return tmp_path


def test_the_runs_table():
    exp = experiments.get_experiment("celeba_dcgan64")
    (row,) = results_of.experiment_rows({exp.name: exp})
    assert row["run"] == "`celeba_dcgan64`" and row["FID against"] == "celeba/train"
    assert row["trains"] == f"`{exp.config}` on {exp.data} at 64 px, {exp.epochs} epochs"


def test_reference_numbers_say_who_measured_them_and_where_they_are_stored():
    text = results_of.reference_text()
    ours, others = text.split("**Measured by others**")
    examples, studiogan = (
        experiments.anchor_of("celeba_dcgan64"),
        experiments.anchor_of(TWO_SETS.name),
    )
    assert ours.startswith("**Measured by this project**") and f"**{examples.fid}**" in ours
    assert "stored in no artifact" in ours and f"({examples.protocol})" in ours
    # the other numbers of the same measurements: this project's too, under their protocols
    for r in experiments.REFERENCES:
        assert f"**{r.fid}** ({r.protocol})" in ours and r.measured_by == experiments.MEASURED_BY_US
    # StudioGAN is listed under others only, with its own protocol, never the book's
    assert f"**{studiogan.fid}**" in others and f"**{studiogan.fid}**" not in ours
    assert studiogan.protocol in others and "FID-10k/cifar10-test" not in others
    assert "measured by the PyTorch-StudioGAN authors" in others
    stored = dataclasses.replace(examples, stored="anchors/examples.json")
    assert "stored in `artifacts/anchors/examples.json`" in results_of.reference_text((stored,))
    assert "Measured by others" not in results_of.reference_text((stored,))


def test_each_anchor_beside_our_run_of_its_protocol():
    anchor = experiments.ANCHORS[0]
    ours = {"experiment": anchor.experiment, "protocol": anchor.protocol}
    ours |= {"fid": "90.0 (1 seed)", "fid_mean": anchor.fid + 2.5}
    (row,) = results_of.beside_anchor_rows([ours])
    assert row["ours minus anchor"] == "+2.5" and row["anchor"] == anchor.fid
    # StudioGAN's number is under its own protocol: never beside our CIFAR-10 run
    cifar = {"experiment": TWO_SETS.name, "protocol": "FID-10k/cifar10-test"}
    assert results_of.beside_anchor_rows([cifar | {"fid": "44.5 (1 seed)", "fid_mean": 44.5}]) == []
    assert results_of.beside_anchor_rows([ours | {"protocol": "FID-5k/other"}]) == []


def test_cifar_readings_memorization_and_their_checks(cifar):
    results = results_of.read_results(TWO_SETS.name, cifar)
    readings = results_of.cifar_readings(results, 3)
    anchor = experiments.anchor_of(TWO_SETS.name)
    studiogan = anchor.fid
    assert readings["studiogan_fid"] == f"{studiogan}"
    assert readings["cifar_fid_test"] == "31.00" and readings["cifar_fid_train"] == "30.70"
    assert readings["cifar_gap"] == "+0.30" and readings["cifar_seeds"] == "2 of 3"
    assert readings["cifar_updates"] == "390" and readings["fid_closer"] == "1"
    assert readings["cifar_seeds_text"] == "2 seeds of 3 are stored, averaged here"
    one = results_of.cifar_readings(results[:1], 3)["cifar_seeds_text"]
    assert one == "one seed of 3 is stored, so the spread between seeds is not known yet"
    assert readings["cifar_gap_text"] == (
        "its FID against the training images is 0.30 lower than against held-out ones"
    )
    # StudioGAN's protocol is not ours (original images vs our JPEG copy): no difference
    assert readings["cifar_protocol"] == "FID-10k/cifar10-test" != anchor.protocol
    assert "not comparable, so no difference is given" in readings["cifar_vs_studiogan"]
    assert "lower" not in readings["cifar_vs_studiogan"]
    assert "higher" not in readings["cifar_vs_studiogan"]
    assert anchor.protocol in readings["cifar_vs_studiogan"]
    # under the same protocol, the difference is given
    same = results_of.studiogan_text(31.0, anchor.protocol, anchor)
    side = "lower" if 31.0 < studiogan else "higher"
    assert same.startswith(f"That is {abs(31.0 - studiogan):.1f} {side} than the {studiogan}")
    assert results_of.cifar_readings([], 3) == {
        "studiogan_fid": f"{studiogan}",
        "studiogan_protocol": anchor.protocol,
    }
    assert results_of.gap_text(44.5, 45.0).endswith("0.50 higher than against held-out ones")
    assert "the same" in results_of.gap_text(44.5, 44.5)

    every = {TWO_SETS.name: TWO_SETS}
    mem = results_of.memorization_rows(cifar, every)
    (row,) = results_of.memorization_table(mem, {TWO_SETS.name: results}, every)
    assert row["FID vs held-out"] == "31.00 (FID-10k/cifar10-test)"
    assert row["held-out minus training"] == "+0.30" and row["seeds"] == 2
    results_of.check_memorization(mem, results, cifar)
    with pytest.raises(AssertionError, match="the CIFAR-10 gap"):
        results_of.check_memorization([mem[0] | {"gap": 5.0}], results, cifar)
    with pytest.raises(AssertionError, match="cifar10_imagenet32"):
        results_of.check_memorization([mem[0] | {"training": mem[0]["held_out"]}], [], cifar)


def test_a_model_closer_to_its_training_images_fails_the_prose(tmp_path):
    for seed in (1, 2):
        fids = {"final:cifar10/test": 40.0 + seed, "final:cifar10/train": 30.0}
        _store(tmp_path, TWO_SETS.name, seed, fids)
    results = results_of.read_results(TWO_SETS.name, tmp_path)
    mem = results_of.memorization_rows(tmp_path, {TWO_SETS.name: TWO_SETS})
    with pytest.raises(AssertionError, match="closer to its training images"):
        results_of.check_memorization(mem, results, tmp_path)


def test_the_results_table_is_its_files_on_disk(cifar):
    every = {TWO_SETS.name: TWO_SETS}
    rows = results_of.results_table(cifar, every)
    results = {TWO_SETS.name: results_of.read_results(TWO_SETS.name, cifar)}
    results_of.check_results(rows, results, every, cifar)
    with pytest.raises(AssertionError, match="mean FID"):
        results_of.check_results([rows[0] | {"fid_mean": 10.0}], results, every, cifar)
    path = cifar / TWO_SETS.name / "result_s2.json"
    path.write_text(path.read_text().replace("32.0", "32.5"))  # changed after it was recorded
    with pytest.raises(artifacts.ArtifactMissing, match="sha256"):
        results_of.check_results(rows, results, every, cifar)
    one_seed = {TWO_SETS.name: [results[TWO_SETS.name][0]] * 2}
    with pytest.raises(AssertionError, match="a seed stored twice"):
        results_of.check_results(rows, one_seed, every, cifar)
    pending = [{"experiment": "x", "status": "not produced yet"}]
    results_of.check_results(pending, {}, {}, cifar)  # nothing measured, nothing to check


def test_grids_diagnostics_and_collapse_warnings(tmp_path):
    with pytest.raises(artifacts.ArtifactMissing):
        results_of.grid_files(TWO_SETS, tmp_path)
    for name in ("epoch_001.png", "epoch_005.png", "final.png"):
        path = tmp_path / TWO_SETS.name / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"png")
        artifacts.register(f"{TWO_SETS.name}/{name}", path, "test", root=tmp_path)
    titles = [t for _, t in results_of.grid_files(TWO_SETS, tmp_path)]
    assert titles == ["after 1 epoch", "after 5 epochs", "end"]
    steps = [{"step": 390, "samples": "epoch_001"}, {"step": 1950, "samples": "epoch_005"}]
    steps += [{"step": 2000, "samples": "step_0002000"}, {"step": 11700, "samples": "final"}]
    diag_path = tmp_path / TWO_SETS.name / "diagnostics.jsonl"
    diag_path.write_text("".join(json.dumps(d) + "\n" for d in steps))
    titles = [t for _, t in results_of.grid_files(TWO_SETS, tmp_path)]
    assert titles == [
        "after 1 epoch (390 updates)",
        "after 5 epochs (1,950 updates)",
        "end (11,700 updates)",
    ]
    diag_path.unlink()
    short = dataclasses.replace(TWO_SETS, epochs=2)
    assert [t for _, t in results_of.grid_files(short, tmp_path)] == ["after 1 epoch", "end"]

    folder = tmp_path / TWO_SETS.name
    diag = [{"step": 2, "collapse_warning": False}, {"step": 4, "collapse_warning": True}]
    (folder / "diagnostics.jsonl").write_text("".join(json.dumps(d) + "\n" for d in diag))
    assert results_of.read_diagnostics([TWO_SETS.name, "absent"], tmp_path) == {}  # no metrics
    (folder / "metrics.jsonl").write_text(json.dumps({"step": 2}) + "\n")
    shown = results_of.read_diagnostics([TWO_SETS.name, "absent"], tmp_path)
    assert shown == {TWO_SETS.name: (diag, [{"step": 2}])}
    assert results_of.collapse_steps(shown) == {TWO_SETS.name: [4]}
    assert results_of.collapse_steps({"a": (diag[:1], [])}) == {}


def _choice(name: str, config: str, mean: float) -> dict:
    return {"experiment": name, "config": config, "fid": f"{mean} (1 seed)", "fid_mean": mean}


def test_the_design_choices_in_order_and_their_prose():
    choices = [
        _choice("celeba_examples64", "examples64", 80.04),
        _choice("celeba_dcgan64", "dcgan64", 75.0),
        _choice("celeba_paper64", "paper64", 60.0),
    ]
    rows = results_of.choice_rows([c | {"image_steps": 1_248_000} for c in choices])
    assert rows[0]["image-steps"] == "1,248,000" and rows[2]["config"] == "`paper64`"
    assert results_of.design_order(choices) == (
        "paper64 (60.0) < dcgan64 (75.0) < examples64 (80.0)"
    )

    def seeds(*fids: float) -> list[dict]:
        return [{"fid": {"final:celeba/train": {"fid": f}}} for f in fids]

    results = {
        "celeba_examples64": seeds(78.0, 82.0),
        "celeba_dcgan64": seeds(74.0, 79.0),
        "celeba_paper64": seeds(60.0),
    }
    results_of.check_design_order(choices, results)
    with pytest.raises(AssertionError, match="no longer overlap"):
        results_of.check_design_order(choices, results | {"celeba_dcgan64": seeds(74.0, 76.0)})
    with pytest.raises(AssertionError, match="reword the order"):
        results_of.check_design_order(choices[:2] + [_choice("celeba_paper64", "p", 90)], results)


# the §4 training page (dcgan_lib.studies.training_results)


def test_the_library_recipe_is_the_papers_and_a_change_fails_its_check():
    recipe = training.library_recipe()
    training.check_recipe(recipe)
    rows = {r["setting"]: r for r in training.recipe_rows(recipe)}
    assert rows["learning rate"] == {"setting": "learning rate", "paper": "0.0002", "ours": 0.0002}
    assert rows["pixel range"]["ours"] == "[-1, 1] (`dcgan_lib.data.to_float`)"
    assert rows["augmentation"]["ours"] == "none (no such setting in `TrainConfig`)"
    assert rows["weight decay"]["ours"] == "none"
    recipe.optimizers[1].param_groups[0]["lr"] = 1e-3
    with pytest.raises(AssertionError, match="Adam's settings"):
        training.check_recipe(recipe)
    flipped = dataclasses.replace(training.library_recipe(), augmentation=["hflip"])
    assert training.recipe_rows(flipped)[9]["ours"] == "hflip"
    with pytest.raises(AssertionError, match="augmentation"):
        training.check_recipe(flipped)


def test_run_readings_and_a_run_that_did_not_finish():
    config = TrainConfig(batch_size=32, epochs=2)
    run_info = {"n_images": 100, "steps_per_epoch": 3, "device": "cpu"}
    run_info |= {"config": {"batch_size": 32, "model": {"name": "smoke32"}}}
    metrics = [
        {"step": s, "loss_d": 1.23456, "loss_g": 2.0, "d_real": 0.6, "d_fake": 0.4}
        for s in (2, 4, 6)
    ]
    readings = training.run_readings(run_info, metrics)
    assert readings["total_steps"] == "6" and readings["final_loss_d"] == "1.235"
    assert readings["run_config"] == "smoke32" and readings["run_device"] == "cpu"
    assert training.run_readings(run_info | {"gpu": "GPU A"}, metrics)["run_device"] == "GPU A"
    training.check_run(run_info, metrics, config)
    with pytest.raises(AssertionError, match="did not finish"):
        training.check_run(run_info, metrics[:2], config)
    with pytest.raises(AssertionError, match="D's output"):
        training.check_run(run_info, metrics + [metrics[-1] | {"d_fake": 1.5}], config)


def _celeba(tmp_path: Path, fids: dict[str, list[float]]) -> dict[str, list[dict]]:
    """Stored results of the three CelebA-10k runs under the anchor's protocol."""
    protocol = experiments.anchor_of(training.OURS).protocol
    for name, values in fids.items():
        for seed, fid in enumerate(values, 1):
            extra = {"batch_size": 128, "n_images": 10_000, "steps": 1950, "config": name[7:]}
            _store(tmp_path, name, seed, {training.HEAD: fid}, protocol, **extra)
    return {n: results_of.read_results(n, tmp_path) for n in fids}


def _stored_run(numerics: dict | None = None) -> training.StoredRun:
    metrics = [{"step": 10, "loss_g": 15.0, "d_fake": 0.02}, {"step": 20, "loss_g": 12.0}]
    metrics[1]["d_fake"] = 0.05
    metrics.append({"step": 30, "loss_g": 3.0, "d_fake": 0.3})
    return training.StoredRun(metrics, {"epoch_001": 0.01, "final": 0.2}, numerics)


def test_the_celeba_runs_beside_the_anchor(tmp_path):
    anchor = experiments.anchor_of(training.OURS)
    seeds = {n: len(experiments.get_experiment(n).seeds) for n in training.CELEBA_RUNS}
    fids = {
        "celeba_dcgan64": [anchor.fid + 4 + i for i in range(seeds["celeba_dcgan64"])],
        "celeba_examples64": [anchor.fid + 8 + i for i in range(seeds["celeba_examples64"])],
        "celeba_paper64": [anchor.fid + 1],
    }
    results = _celeba(tmp_path, fids)
    rows = training.celeba_rows(results, anchor)
    assert (
        len(rows) == 4
        and rows[0]["updates"] == "1,950"
        and rows[2]["mean ± sd"].endswith("(1 seed)")
    )
    assert rows[3]["FID per seed"] == f"{anchor.fid}"
    run = _stored_run()
    assert training.early_windows(run.metrics) == run.metrics[:2]
    readings = training.celeba_readings(results, anchor, run)
    assert (
        readings["gap_dcgan64"]
        == f"{sum(fids['celeba_dcgan64']) / seeds['celeba_dcgan64'] - anchor.fid:.1f}"
    )
    assert readings["early_steps"] == "20" and readings["early_max_d_fake"] == "0.05"
    assert readings["early_loss_g"] == "15.0" and readings["div_epoch1"] == "0.010"
    assert readings["fid_eager"] is None and readings["updates_ours"] == "1,950"
    assert set(readings) >= {"fid_dcgan64", "fid_examples64", "fid_paper64", "collapse_threshold"}
    training.check_celeba(results, anchor, run, tmp_path)
    numerics = {
        "runs": [{"engine": e, "fid": {"fid": f}} for e, f in (("eager", 70), ("fast", 90))]
    }
    with pytest.raises(AssertionError, match="engine gap >= seed spread"):
        training.check_celeba(results, anchor, _stored_run(numerics), tmp_path)
    worse = results | {"celeba_paper64": [results["celeba_dcgan64"][0]]}
    with pytest.raises(AssertionError, match="celeba_paper64: seed 1's FID"):  # not its file's
        training.check_celeba(worse, anchor, run, tmp_path)
    shifted = {n: [x | {"steps": 2000} for x in r] for n, r in results.items()}
    with pytest.raises(AssertionError, match="not half the anchor's updates"):
        training.check_celeba(shifted, anchor, run, tmp_path)


def test_the_fid_tables_the_pending_runs_and_the_key_figure(cifar):
    faces = experiments.get_experiment("celeba_dcgan64")
    for seed, fid in ((1, 120.0), (2, 126.0)):
        _store(cifar, faces.name, seed, {faces.headline_key(): fid}, "FID-10k/celeba10k")
    every = {e.name: e for e in (faces, TWO_SETS, experiments.get_experiment("celeba_paper64"))}
    rows = results_of.results_table(cifar, every)
    shown = results_of.display_rows(rows, cifar, every)
    assert [r["run"] for r in shown] == ["`celeba_dcgan64`", "`cifar10_imagenet32`"]
    assert shown[0]["FID"] == "123.0 ± 4.2 (sd, 2 seeds); each seed: 120.0, 126.0"
    assert shown[0]["seeds done"] == f"2 of {len(faces.seeds)}" and "device" not in shown[0]
    training_rows = results_of.training_rows(rows)
    assert training_rows[1] == {
        "run": "`cifar10_imagenet32`",
        "image-steps": "49,920",
        "training minutes a seed": "1.5",
        "device": "GPU A",
    }
    assert results_of.pending_text(rows) == (
        "Not produced yet: `celeba_paper64`. The command in *Run it yourself* makes this run on "
        "a GPU."
    )
    assert results_of.pending_text(rows[:2]) is None
    # the key figure: the faces run beside the anchor of its protocol; CIFAR-10 held-out vs train
    faces_panel, memorization = results_of.fid_panels(cifar, every)
    assert faces_panel["title"] == "FID-10k/celeba10k"
    assert faces_panel["bars"] == [("dcgan64\n(2 seeds)", [120.0, 126.0])]
    anchor = experiments.anchor_of(faces.name)
    assert faces_panel["lines"] == [("pytorch/examples dcgan (our measurement)", anchor.fid)]
    assert memorization["title"] == "cifar10_imagenet32: held-out vs training (2 seeds)"
    assert memorization["bars"] == [
        ("held-out\n(cifar10-test)", [30.0, 32.0]),
        ("training\n(cifar10-train)", [29.5, 31.9]),
    ]
    assert memorization["lines"] == []  # StudioGAN's protocol is not ours: no line
    assert results_of.fid_panels(cifar / "empty", every) == []


def test_collapse_text_names_each_collapsed_grid():
    diag = [
        {"step": 78, "samples": "epoch_001", "sample_diversity": 0.055},
        {"step": 390, "samples": "epoch_005", "sample_diversity": 0.45},
    ]
    text = results_of.collapse_text({"run": (diag, [])})
    assert text.startswith("`run`: the epoch_001 grid (step 78, sample diversity 0.055) holds")
    assert "the run did not warn (it warns below 0.05 from step 100 on)" in text
    assert results_of.collapse_text({"run": (diag[1:], [])}).startswith("No grid collapsed")


def test_one_of_the_papers_epochs_against_ours():
    r = training.epoch_readings(steps_per_epoch=78, total_steps=1950)
    # "a little over 3 million" LSUN images and "approximately 350,000" face boxes, at 128
    assert r["lsun_epoch_batches"] == "23,437" and r["faces_epoch_batches"] == "2,734"
    assert r["lsun_over_ours"] == "300"  # 23,437 / 78
    # the authors' faces script: 25 epochs of 2,734 minibatches, each updating G or D in turn
    assert r["authors_updates_per_net"] == "34,175" and r["authors_over_ours"] == "18"
    assert training.epoch_readings(2734, 34_175)["authors_over_ours"] == "1"


def test_the_run_at_the_anchors_number_of_updates(tmp_path):
    anchor = experiments.anchor_of(training.OURS)
    r = training.updates_run_reading(tmp_path)
    assert r["updates_run"] == training.UPDATES_RUN and r["stored"] is False
    assert r["updates_run_steps"] == f"{anchor.updates:,}" and r["updates_run_batch"] == "128"
    _store(tmp_path, training.UPDATES_RUN, 1, {training.HEAD: 90.0})
    assert training.updates_run_reading(tmp_path)["stored"] is True
