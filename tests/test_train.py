"""Paper §4 training: one step, exact resume, time budget, signals, samples, metrics, the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _smoke import DATA, assert_same_training_state, smoke_cfg

from dcgan_lib.__main__ import main
from dcgan_lib.config import ConfigError, TrainConfig, get_model_config
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.train import (
    load_checkpoint,
    make_optimizers,
    read_metrics,
    train,
    train_step,
)


def _strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in ("img_per_s", "time")} for r in rows]


def test_one_step_changes_both_nets_and_gives_finite_losses():
    torch.manual_seed(0)
    cfg = smoke_cfg("unused")
    G, D = Generator(cfg.model), Discriminator(cfg.model)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    before_g = [p.clone() for p in G.parameters()]
    before_d = [p.clone() for p in D.parameters()]
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    stats = train_step(G, D, opt_g, opt_d, x, sample_z(16, cfg.model))
    assert stats.shape == (6,) and torch.isfinite(stats).all()
    assert 0 < stats[2] < 1 and 0 < stats[3] < 1  # D(x) and D(G(z)) are probabilities
    assert 0 <= stats[4] <= 1 and 0 <= stats[5] <= 1  # D's accuracy on real and on fake
    assert all(not torch.equal(a, b) for a, b in zip(before_g, G.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, D.parameters(), strict=True))
    assert opt_g.param_groups[0]["lr"] == 2e-4 and opt_g.param_groups[0]["betas"] == (0.5, 0.999)


def test_paper_defaults():
    cfg = TrainConfig()
    assert (cfg.batch_size, cfg.lr, cfg.beta1) == (128, 2e-4, 0.5)
    assert cfg.model.z_dist == "uniform" and cfg.sample_epochs == (1, 5)


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    full = train(smoke_cfg(tmp_path / "full"), data=DATA, progress=False)
    assert full.status == "done" and full.step == 12  # 3 epochs x 4 batches of 16
    # the same run cut at step 6 (between checkpoints at 4 and 8), then resumed twice
    cut = train(smoke_cfg(tmp_path / "cut", max_steps=6), data=DATA, progress=False)
    assert cut.status == "max steps" and cut.step == 6
    resumed = train(smoke_cfg(tmp_path / "cut"), data=DATA, progress=False)
    assert resumed.status == "done" and resumed.step == 12
    a, b = (
        load_checkpoint(tmp_path / "full/checkpoint.pt"),
        load_checkpoint(tmp_path / "cut/checkpoint.pt"),
    )
    assert_same_training_state(a, b)
    assert torch.equal(a["z_rng"], b["z_rng"])
    assert _strip_timing(read_metrics(tmp_path / "full/metrics.jsonl")) == _strip_timing(
        read_metrics(tmp_path / "cut/metrics.jsonl")
    )


def test_resume_redoes_only_the_steps_since_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=4), data=DATA, progress=False)  # checkpoint at 4
    snapshot = (out / "checkpoint.pt").read_bytes()
    train(smoke_cfg(out, max_steps=7), data=DATA, progress=False)  # runs 5..7, checkpoint at 7
    (out / "checkpoint.pt").write_bytes(snapshot)  # as if killed after step 7 before saving
    # the metrics written after step 4 are dropped on resume and written again
    result = train(smoke_cfg(out), data=DATA, progress=False)
    assert result.step == 12
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert steps == sorted(set(steps)) == [2, 4, 6, 8, 10, 12]


def test_time_budget_checkpoints_and_stops_cleanly(tmp_path):
    out = tmp_path / "run"
    result = train(smoke_cfg(out, max_minutes=1e-9, epochs=50), data=DATA, progress=False)
    assert result.status == "time budget" and result.step == 1
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1
    assert json.loads((out / "run.json").read_text())["status"] == "time budget"
    result = train(smoke_cfg(out, max_minutes=1e-9, epochs=50), data=DATA, progress=False)
    assert result.step == 2  # resumed, not restarted


def test_samples_at_epochs_and_metrics_fields(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, epochs=5, sample_epochs=(1, 5), sample_every=8), data=DATA, progress=False)
    names = sorted(p.name for p in (out / "samples").iterdir())
    assert names == [
        "epoch_001.png",
        "epoch_005.png",
        "final.png",
        "step_0000008.png",
        "step_0000016.png",
    ]
    row = read_metrics(out / "metrics.jsonl")[0]
    assert set(row) == {
        "step",
        "epoch",
        "loss_d",
        "loss_g",
        "d_real",
        "d_fake",
        "d_acc_real",
        "d_acc_fake",
        "img_per_s",
        "time",
    }
    assert row["img_per_s"] > 0
    from PIL import Image

    grid = Image.open(out / "samples/final.png")
    assert grid.size == (8 * 34 + 2, 8 * 34 + 2)  # 64 samples, 8x8 grid with 2px padding


def test_checkpoint_of_another_config_is_refused(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    with pytest.raises(ConfigError, match="holds a run of model config 'smoke32'"):
        train(smoke_cfg(out, model=get_model_config("smoke32", ngf=16)), data=DATA, progress=False)


def test_newer_checkpoint_format_is_refused(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    ckpt["format"] = 99
    torch.save(ckpt, out / "checkpoint.pt")
    with pytest.raises(ConfigError, match="format 99, newer than this dcgan_lib"):
        train(smoke_cfg(out), data=DATA, progress=False)


def test_too_few_images_for_a_batch(tmp_path):
    from dcgan_lib.data import DataError

    with pytest.raises(DataError, match="fewer than one batch of 128"):
        train(smoke_cfg(tmp_path / "r", batch_size=128), data=DATA, progress=False)


def test_cli_train_and_clear_error(tmp_path, capsys):
    rc = main(
        [
            "train",
            "--config",
            "smoke32",
            "--data",
            "synthetic",
            "--limit",
            "32",
            "--batch-size",
            "16",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "cli"),
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0 and "done: step 2" in capsys.readouterr().out
    rc = main(
        [
            "train",
            "--config",
            "dcgan64",
            "--data",
            "celeba",
            "--data-root",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "x"),
            "--no-progress",
        ]
    )
    assert rc == 2
    assert "error: the data root" in capsys.readouterr().err


def test_sigterm_saves_a_checkpoint_then_resumes(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "dcgan_lib",
        "train",
        "--config",
        "smoke32",
        "--data",
        "synthetic",
        "--limit",
        "64",
        "--batch-size",
        "16",
        "--epochs",
        "500",
        "--out",
        str(out),
        "--checkpoint-every",
        "100000",
        "--log-every",
        "1",
        "--no-progress",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "metrics.jsonl").exists() and len(read_metrics(out / "metrics.jsonl")) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted" in stdout and "resume with the same command" in stdout
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert step >= 3  # saved on the signal, although no periodic checkpoint was due
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    result = train(
        TrainConfig(
            model=get_model_config("smoke32"),
            data="synthetic",
            limit=64,
            batch_size=16,
            epochs=500,
            max_steps=step + 2,
            out=str(out),
            checkpoint_every=100000,
            log_every=1,
            device="cpu",
        ),
        progress=False,
    )
    assert result.step == step + 2


def test_checkpoint_loads_on_cpu_as_plain_tensors(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    ckpt = load_checkpoint(Path(out) / "checkpoint.pt")
    assert ckpt["format"] == 1 and ckpt["step"] == 2
    assert all(t.device.type == "cpu" for t in ckpt["G"].values())
    assert TrainConfig.from_dict(ckpt["config"]) == smoke_cfg(out, max_steps=2)
