"""The Compute page's inputs: the engine numerics check, run wall times, benchmark JSON loading."""

import importlib.util
import json
from pathlib import Path

import pytest
from _smoke import DATA, smoke_cfg

from dcgan_lib import artifacts, compute
from dcgan_lib.artifacts import ArtifactMissing, register
from dcgan_lib.train import train

_spec = importlib.util.spec_from_file_location(
    "numerics", Path(__file__).parent.parent / "benchmarks" / "numerics.py"
)
NUM = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(NUM)


def test_numerics_smoke_compares_engines_against_seed_noise(tmp_path):
    out = tmp_path / "engines.json"
    result = NUM.main(["--smoke", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    runs = {(r["engine"], r["seed"]): r for r in result["runs"]}
    assert set(runs) == {("eager", 1), ("fast", 1), ("eager", 2), ("fast", 2)}
    assert runs[("fast", 1)]["engine_options"]["amp"] is True
    steps = [r["step"] for r in runs[("eager", 1)]["metrics"]]
    assert steps == [2, 4, 6, 8]
    assert all([r["step"] for r in run["metrics"]] == steps for run in runs.values())
    gap = result["summary"]
    # same seed: only the arithmetic differs (bf16 vs fp32); another seed: other weights, data
    # order and z. The first must be far smaller than the second.
    for s in ("seed1", "seed2"):
        for k in ("loss_d", "loss_g"):
            assert gap["engine_gap"][s]["curves"][k] < gap["seed_gap"]["eager"]["curves"][k] / 5
    assert all(r["fid"] is None for r in runs.values())  # smoke: no FID


def test_wall_time_adds_the_segments_of_a_resumed_run():
    rows = [{"time": 5.0}, {"time": 9.0}, {"time": 2.0}, {"time": 4.0}]  # resumed after 9 s
    assert compute.wall_seconds(rows) == 13.0
    assert compute.wall_seconds([{"time": 3.0}]) == 3.0


def test_run_summary_of_a_real_run(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=4), data=DATA, progress=False)
    train(smoke_cfg(out, max_steps=8), data=DATA, progress=False)  # resumed
    s = compute.run_summary(out)
    assert s["steps"] == 8 and s["config"] == "smoke32" and s["engine"] == "eager"
    assert s["device"] == "cpu" and s["gpu"] is None and s["world_size"] == 1
    assert s["wall_s"] > 0 and s["median_img_per_s"] > 0


def test_missing_or_changed_results_name_their_command(tmp_path):
    with pytest.raises(ArtifactMissing, match="not produced yet: run python benchmarks/thr"):
        compute.load_result(artifacts.THROUGHPUT, root=tmp_path)
    path = tmp_path / artifacts.NUMERICS
    path.parent.mkdir(parents=True)
    path.write_text('{"runs": []}')
    with pytest.raises(ArtifactMissing, match="is not in artifacts/manifest.json"):
        compute.load_result(artifacts.NUMERICS, root=tmp_path)
    register(artifacts.NUMERICS, path, command="test", root=tmp_path)
    assert compute.load_result(artifacts.NUMERICS, root=tmp_path) == {"runs": []}
    with pytest.raises(ArtifactMissing, match="has no 'step' result yet: run python benchmarks/nu"):
        compute.load_result(artifacts.NUMERICS, root=tmp_path, part="step")
    assert compute.load_result(artifacts.NUMERICS, root=tmp_path, part="runs") == []
    path.write_text('{"runs": [1]}')
    with pytest.raises(ArtifactMissing, match="does not match its sha256"):
        compute.load_result(artifacts.NUMERICS, root=tmp_path)


def test_throughput_rows_and_exported_runs(tmp_path):
    import dcgan_lib.artifacts as A

    result = {
        "configs": {
            "smoke32": {
                "engines": {
                    "reference": {
                        "img_per_s": 100.0,
                        "ms_per_step": 160.0,
                        "tflops": 0.01,
                        "peak_memory_bytes": None,
                    },
                    "fast": {
                        "img_per_s": 400.0,
                        "ms_per_step": 40.0,
                        "tflops": 0.04,
                        "peak_memory_bytes": 3 * 2**20,
                    },
                },
                "speedup": {"fast": 4.0},
            }
        }
    }
    rows = compute.throughput_rows(result)
    assert [(r["loop"], r["speed-up"], r["peak MiB"]) for r in rows] == [
        ("reference", 1.0, None),
        ("fast", 4.0, 3),
    ]
    run = tmp_path / "run"
    train(smoke_cfg(run, max_steps=4), data=DATA, progress=False)
    A.export_run(run, "smoke_run", root=tmp_path / "artifacts")
    (tmp_path / "artifacts" / "not_a_run").mkdir()
    found = compute.exported_runs(tmp_path / "artifacts")
    assert [r["name"] for r in found] == ["smoke_run"] and found[0]["steps"] == 4


def _step_result() -> dict:
    engines = {
        "reference": {"img_per_s": 1000.4, "tflops": 10.0},
        "eager": {"img_per_s": 1500.0, "tflops": 15.0},
        "fast": {"img_per_s": 4000.0, "tflops": 316.0},
    }
    return {
        "configs": {
            "dcgan64": {
                "engines": engines,
                "speedup": {"eager": 1.5, "fast": 3.9984},
                "fraction_of_peak": 0.4,
            }
        }
    }


def test_throughput_summary_reads_each_loop_and_the_fraction_of_peak():
    (row,) = compute.throughput_summary(_step_result())
    assert row == {
        "config": "dcgan64",
        "reference img/s": 1000,
        "eager img/s": 1500,
        "fast img/s": 4000,
        "fast / reference": "4.00x",
        "fast TFLOP/s": 316,
        "of bf16 peak": "40%",
    }
    step = _step_result()
    del step["configs"]["dcgan64"]["fraction_of_peak"]  # measured without --peak-tflops
    assert compute.throughput_summary(step)[0]["of bf16 peak"] is None


def test_experiment_times_per_seed_and_machine_of(tmp_path):
    runs = [
        {"seed": s, "steps": 1950, "train_minutes": m, "fid_minutes": 0.25, "devices": ["GPU A"]}
        for s, m in ((1, 0.5), (2, 1.0))
    ]
    rows = compute.experiment_times({"faces": runs, "absent": []})
    assert rows == [
        {
            "run": "faces",
            "seeds": "1, 2",
            "steps": 1950,
            "train s per seed": "30, 60",
            "FID s per seed": "15, 15",
            "device": "GPU A",
        }
    ]
    path = tmp_path / "benchmarks" / "throughput.json"
    path.parent.mkdir()
    path.write_text("{}")
    register("benchmarks/throughput.json", path, "cmd", root=tmp_path)
    assert compute.machine_of("benchmarks/throughput.json", tmp_path) is None
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"]["benchmarks/throughput.json"]["machine"] = "one GPU A"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert compute.machine_of("benchmarks/throughput.json", tmp_path) == "one GPU A"
    assert compute.machine_of("nothing/here.json", tmp_path) is None


def _two_configs(device: str = "cuda:0") -> dict:
    """A ``--mode step`` result of two configs: the cheap one gains most from the fast engine,
    the dear one reaches more of the peak; every number is one measurement at batch 128."""

    def loop(img_per_s: float, tflops: float, captured: bool | None = None) -> dict:
        r = {"img_per_s": img_per_s, "ms_per_step": 128 / img_per_s * 1000, "tflops": tflops}
        return r if captured is None else r | {"graph_captured": captured}

    def config(gflop: float, ref: float, eager: float, fast: float, tflops: float) -> dict:
        return {
            "gflop_per_step": gflop,
            "engines": {
                "reference": loop(ref, 1.0),
                "eager": loop(eager, 1.0),
                "fast": loop(fast, tflops, device.startswith("cuda")),
            },
            "speedup": {"eager": eager / ref, "fast": fast / ref},
            "fraction_of_peak": tflops / 1000,
        }

    return {
        "device": device,
        "gpu": "GPU A",
        "torch": "2.9",
        "batch_size": 128,
        "peak_tflops": 1000.0,
        "configs": {
            "small": config(1.0, 1000.0, 1000.0, 8000.0, 100.0),
            "big": config(10.0, 500.0, 550.0, 1500.0, 300.0),
        },
    }


def test_speed_readings_and_their_prose_checks():
    step = _two_configs()
    assert compute.speed_readings(step) == {
        "speedup_range": "3.0x to 8.0x",
        "speedup_best": "small (8.0x)",
        "speedup_worst": "big (3.0x)",
        "eager_range": "1.00x to 1.10x",
        "peak_best": "30% (big)",
        "peak_range": "10% to 30%",
        "peak_tflops": "1000",
    }
    compute.check_step(step)
    compute.check_speed_prose(step, "one GPU A, torch 2.9")
    with pytest.raises(AssertionError, match="is not the result's"):
        compute.check_speed_prose(step, "one GPU B, torch 2.9")
    slow_small = _two_configs()
    slow_small["configs"]["small"]["speedup"]["fast"] = 2.0
    with pytest.raises(AssertionError, match="not the cheapest model"):
        compute.check_speed_prose(slow_small, "GPU A torch 2.9")
    with pytest.raises(AssertionError, match="small: speed-up"):
        compute.check_step(slow_small)
    cpu = _two_configs("cpu")
    compute.check_step(cpu)
    cpu["configs"]["big"]["engines"]["fast"]["graph_captured"] = True  # no graph off CUDA
    with pytest.raises(AssertionError, match="big: graph capture"):
        compute.check_step(cpu)


def test_machine_text_names_this_machine_or_the_manifests(tmp_path):
    step = _two_configs()
    assert compute.machine_text(step, True, tmp_path) == "this machine (GPU A, torch 2.9)"
    path = tmp_path / artifacts.THROUGHPUT
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    register(artifacts.THROUGHPUT, path, "cmd", root=tmp_path)
    assert compute.machine_text(step, False, tmp_path) is None
    assert compute.machines_text(tmp_path) == "no machine yet: no stored result comes from a GPU"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"][artifacts.THROUGHPUT]["machine"] = "one GPU A, torch 2.9"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert compute.machine_text(None, True, tmp_path) == "one GPU A, torch 2.9"
    assert compute.machines_text(tmp_path) == "one GPU A, torch 2.9 (1 file)"
    # the how-to-run page's sentence is about GPUs: the CPU machines are left out there
    second = tmp_path / "benchmarks" / "other.json"
    second.write_text("{}")
    register("benchmarks/other.json", second, "cmd", root=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"]["benchmarks/other.json"]["machine"] = "2-core x86_64 CPU"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert compute.machines_text(tmp_path) == (
        "2-core x86_64 CPU (1 file); one GPU A, torch 2.9 (1 file)"
    )
    assert compute.machines_text(tmp_path, gpu_only=True) == "one GPU A, torch 2.9 (1 file)"
    assert compute.is_gpu("one NVIDIA H200 (141 GB)") and not compute.is_gpu("AMD EPYC")


def _e2e() -> dict:
    return {
        "config": "small",
        "batch_size": 128,
        "data_description": "CelebA-10k",
        "speedup_epoch": 5.0,
        "speedup_with_decode": 2.0,
        "ours": {
            "images": 10_000,
            "epoch_s": 2.0,
            "img_per_s": 5000.0,
            "decode_s": 3.04,
            "upload_s": 0.123,
        },
        "pytorch_examples": {
            "num_workers": 8,
            "extract_s": 4.0,
            "epoch_s": 10.0,
            "img_per_s": 1000.0,
        },
    }


def test_end_to_end_rows_readings_and_checks():
    e2e, step = _e2e(), _two_configs()
    rows = compute.e2e_rows(e2e)
    assert rows[0]["one-time s"] == "3.0 decode + 0.12 upload" and rows[0]["img/s"] == 5000
    assert rows[1]["data path"] == "pytorch/examples: ImageFolder + DataLoader(8 workers)"
    assert compute.e2e_readings(e2e, step) == {
        "e2e_epoch": "5.0x",
        "e2e_with_decode": "2.0x",
        "e2e_data": "CelebA-10k with small",
        "e2e_steps": "78",
        "e2e_workers": "8",
        "e2e_fast_step_ratio": "1.6x",
    }
    assert compute.e2e_readings(e2e, None)["e2e_fast_step_ratio"] is None
    compute.check_e2e(e2e, step)
    e2e["ours"]["img_per_s"] = 9000.0  # not images / epoch time
    with pytest.raises(AssertionError, match="img/s"):
        compute.check_e2e(e2e, step)


def _numerics() -> dict:
    def run(engine: str, seed: int, fid: float) -> dict:
        metrics = [{"step": 2}, {"step": 4}]
        fid_entry = {"fid": fid, "protocol": "FID-10k/x"}
        run = {"engine": engine, "seed": seed, "steps": 4, "fid": fid_entry, "wall_s": 12.34}
        return run | {"metrics": metrics}

    runs = [
        run("eager", 1, 70.0),
        run("fast", 1, 71.0),
        run("eager", 2, 74.0),
        run("fast", 2, 72.5),
    ]
    return {
        "config": "dcgan64",
        "epochs": 25,
        "seeds": [1, 2],
        "runs": runs,
        "summary": {
            "engine_gap": {
                "seed1": {"curves": {"loss_d": 0.01, "loss_g": 0.02}, "fid": 1.0},
                "seed2": {"curves": {"loss_d": 0.015, "loss_g": 0.03}, "fid": 1.5},
            },
            "seed_gap": {
                "eager": {"curves": {"loss_d": 0.012, "loss_g": 0.02}, "fid": 4.0},
                "fast": {"curves": {"loss_d": 0.011, "loss_g": 0.02}, "fid": 1.5},
            },
        },
    }


def test_numerics_tables_readings_and_checks():
    numerics = _numerics()
    rows = compute.numerics_run_rows(numerics)
    assert rows[1] == {
        "engine": "fast",
        "seed": 1,
        "steps": 4,
        "FID": 71.0,
        "protocol": "FID-10k/x",
        "wall s": 12.3,
    }
    gaps = compute.numerics_gap_rows(numerics)
    assert [g["between"] for g in gaps] == [
        "engines, seed 1",
        "engines, seed 2",
        "seeds, eager engine",
        "seeds, fast engine",
    ]
    assert gaps[0] == {"between": "engines, seed 1", "loss D": 0.01, "loss G": 0.02, "FID": 1.0}
    assert compute.engine_mean_fid(numerics) == {"eager": 72.0, "fast": 71.75}
    faces = [
        {"seed": s, "steps": 9, "config": "dcgan64", "epochs": 25}
        | {"fid": {"final:celeba/train": {"fid": f}}}
        for s, f in ((1, 71.25), (2, 72.5), (3, 80.0))
    ]
    rerun = compute.rerun_rows(numerics, faces)
    assert [(r["seed"], r["difference"]) for r in rerun] == [(1, 0.25), (2, 0.0)]
    assert compute.rerun_rows(numerics | {"epochs": 5}, faces) == []
    # the difference is kept unrounded: 0.001 apart is not "identical"
    close = [r | {"difference": 0.00126} for r in rerun]
    assert compute.rerun_table(close)[0]["difference"] == 0.00126
    assert compute.rerun_text(rerun) == (
        "Seed 2 repeated to within 0.01 FID (0 apart); seed 1 ended 0.25 FID points away. The "
        "fast engine is not bit-reproducible from run to run on the GPU."
    )
    assert (
        compute.rerun_text(close)
        == "Seeds 1 and 2 repeated to within 0.01 FID (0.0013 and 0.0013 apart)."
    )
    assert compute.rerun_text([]) is None
    readings = compute.numerics_readings(numerics, rerun, [71.25, 72.5, 80.0])
    assert readings["num_engine_fid"] == "1.0 and 1.5"
    assert readings["num_seed_curve"] == "0.012 and 0.011"
    assert readings["num_mean_eager"] == "72.0" and readings["num_mean_fast"] == "71.8"
    assert readings["num_mean_diff"] == "0.2" and readings["num_seeds"] == "2"
    assert readings["num_seed_sd"] == "4.7" and readings["num_seed_sd_n"] == "3"
    assert readings["num_rerun"] == "0.25 (seed 1) and 0.00 (seed 2)"
    assert compute.numerics_readings(numerics, [])["num_rerun"] is None
    assert compute.numerics_readings(numerics, [], [70.0])["num_seed_sd"] is None
    compute.check_numerics(numerics, rerun, [71.25, 72.5, 80.0])
    compute.check_numerics(numerics, close)  # unrounded: not identical
    with pytest.raises(AssertionError, match="the rerun was identical"):
        compute.check_numerics(numerics, [r | {"difference": 0.0} for r in rerun])
    with pytest.raises(AssertionError, match="more than the seeds' sd"):
        compute.check_numerics(numerics, rerun, [72.0, 72.1])  # seeds closer than the engines
    numerics["runs"][3]["fid"]["fid"] = 75.0  # the stored gap no longer the runs'
    with pytest.raises(AssertionError, match="seed 2: the stored FID gap"):
        compute.check_numerics(numerics, rerun)


def test_run_rows_and_run_checks():
    run = {"name": "r", "config": "c", "data": "d", "steps": 8, "wall_s": 3.21}
    run |= {"median_img_per_s": None, "engine": "fast", "gpu": None, "device": "cpu"}
    (row,) = compute.run_rows([run])
    assert row["steps s"] == 3.2 and row["median img/s"] is None and row["GPU"] == "cpu"
    rows, constant = compute.split_constant([row, row | {"run": "s", "steps s": 4.0}])
    assert constant == {"config": "c", "data": "d", "steps": 8, "median img/s": None,
                        "engine": "fast", "GPU": "cpu"}  # fmt: skip
    assert rows == [{"run": "r", "steps s": 3.2}, {"run": "s", "steps s": 4.0}]
    assert compute.split_constant([row]) == ([row], {})
    compute.check_runs([run], {"faces": [{"seed": 1}, {"seed": 2}]})
    with pytest.raises(AssertionError, match="faces: a seed stored twice"):
        compute.check_runs([run], {"faces": [{"seed": 1}, {"seed": 1}]})
    with pytest.raises(AssertionError, match="r"):
        compute.check_runs([run | {"steps": 0}], {})
