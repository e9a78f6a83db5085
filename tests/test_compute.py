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
