"""benchmarks/throughput.py (dcgan_lib.studies.throughput) runs on a CPU for a tiny config and prints the JSON the book reads."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan_lib.studies.throughput import flops_per_step

_spec = importlib.util.spec_from_file_location(
    "throughput", Path(__file__).parent.parent / "benchmarks" / "throughput.py"
)
TP = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(TP)

ROW_KEYS = {"steps", "img_per_s", "ms_per_step", "tflops", "peak_memory_bytes"}


def test_step_mode_json(tmp_path, capsys):
    out = tmp_path / "throughput.json"
    args = ["--configs", "smoke32", "--steps", "3", "--device", "cpu", "--batch-size", "16"]
    result = TP.main([*args, "--out", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert printed == result
    assert result["mode"] == "step" and result["device"] == "cpu" and result["batch_size"] == 16
    row = result["configs"]["smoke32"]
    assert set(row["engines"]) == {"reference", "eager", "fast"}
    for name, eng in row["engines"].items():
        assert ROW_KEYS <= set(eng), name
        assert eng["img_per_s"] > 0 and eng["steps"] == 3
        assert eng["ms_per_step"] == pytest.approx(1000 * 16 / eng["img_per_s"])
        assert eng["peak_memory_bytes"] is None  # measured on CUDA only
    assert row["engines"]["fast"]["graph_captured"] is False  # no graph on a CPU
    fast, ref = row["engines"]["fast"], row["engines"]["reference"]
    assert row["speedup"]["fast"] == pytest.approx(fast["img_per_s"] / ref["img_per_s"])
    # FLOPs of one smoke32 step at batch 16, counted by torch's FlopCounterMode
    assert row["gflop_per_img"] == pytest.approx(row["gflop_per_step"] / 16)
    assert fast["tflops"] == pytest.approx(
        row["gflop_per_step"] / fast["ms_per_step"]
    )  # G/ms = T/s
    saved = json.loads(out.read_text())
    assert saved["step"]["configs"] == result["configs"] and "command" in saved["step"]


def test_flops_grow_with_the_batch_and_match_a_hand_count():
    from dcgan_lib.config import TrainConfig, get_model_config

    cpu = torch.device("cpu")
    cfg = TrainConfig(model=get_model_config("smoke32"), batch_size=8)
    f8 = flops_per_step(cfg, cpu)
    f16 = flops_per_step(TrainConfig(model=cfg.model, batch_size=16), cpu)
    assert f16 == 2 * f8
    # D's first conv (3 -> 8 channels, 5x5, 32 -> 16 px): 2*8*16*16*3*25 FLOPs per image per
    # forward; it runs forward 3 times per iteration (real, fake, G's step) and backward
    # (weight gradient only: no input gradient for the first layer) 3 times
    first = 2 * 8 * 16 * 16 * 3 * 25
    assert f8 > 8 * first * 6


def test_e2e_mode_json(tmp_path):
    folder = tmp_path / "imgs" / "faces"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    args = [
        "--mode",
        "e2e",
        "--data",
        "imagefolder",
        "--data-root",
        str(tmp_path / "imgs"),
        "--configs",
        "smoke32",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--workers",
        "0",
    ]
    result = TP.main(args)
    assert result["mode"] == "e2e" and result["n_images"] == 40
    ours, base = result["ours"], result["pytorch_examples"]
    assert ours["images"] == 32  # 2 whole batches of 16 (drop_last)
    assert base["images"] == 40  # pytorch/examples keeps the last partial batch
    assert ours["decode_s"] > 0 and ours["epoch_s"] > 0 and ours["data_on_device"]
    assert ours["total_s"] == pytest.approx(ours["decode_s"] + ours["upload_s"] + ours["epoch_s"])
    assert result["speedup_epoch"] == pytest.approx(ours["img_per_s"] / base["img_per_s"])


def test_e2e_over_several_epochs_amortizes_the_decode(tmp_path):
    from _tinydata import celeba

    celeba(tmp_path / "data", n=40)
    out = tmp_path / "t.json"
    args = ["--mode", "e2e", "--epochs", "2", "--data-root", str(tmp_path / "data"), "--configs",
            "smoke32", "--batch-size", "16", "--device", "cpu", "--workers", "0", "--out", str(out)]  # fmt: skip
    result = TP.main(args)
    ours, base = result["ours"], result["pytorch_examples"]
    assert result["mode"] == "e2e_run" and result["epochs"] == 2 and ours["epochs"] == 2
    assert ours["images"] == 2 * 32  # 2 epochs of 2 whole batches
    assert base["epochs"] == 1 and base["images"] == 40  # measured over one epoch...
    assert base["total_s"] == pytest.approx(2 * base["epoch_s"])  # ...scaled to two, and said
    assert "scaled to 2" in base["total_is"]
    assert ours["total_s"] == pytest.approx(ours["decode_s"] + ours["upload_s"] + ours["epoch_s"])
    assert result["decode_share"] == pytest.approx(ours["decode_s"] / ours["total_s"])
    assert result["speedup_run"] == pytest.approx(base["total_s"] / ours["total_s"])
    assert set(json.loads(out.read_text())) == {"e2e_run"}  # its own key in the shared file


def test_fid_and_decode_modes_time_the_cache_and_check_it(tmp_path):
    from _tinydata import celeba

    celeba(tmp_path / "data", n=30)
    common = ["--data-root", str(tmp_path / "data"), "--device", "cpu"]
    fid = TP.main(["--mode", "fid", "--n", "10", "--configs", "smoke64", "--network", "tiny",
                   "--cache-dir", str(tmp_path / "cache"), *common])  # fmt: skip
    assert fid["mode"] == "fid" and fid["reference_cached"] == [False, True]
    assert fid["fid"][0] == fid["fid"][1] and fid["agree"] and fid["uncached_s"] > 0
    assert fid["protocol"] == "FID-10/celeba10k" and fid["network"] == "tiny-random-conv-v1"
    dec = TP.main(["--mode", "decode", "--image-size", "32", "--workers", "2", *common])
    assert dec["byte_identical"] and set(dec["decoders"]) == {"serial", "processes"}
    assert all(r["images"] == 30 and r["img_per_s"] > 0 for r in dec["decoders"].values())
