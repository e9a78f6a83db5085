"""Paper §4 training: one step, exact resume, time budget, signals, samples, metrics, the CLI."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _smoke import DATA, assert_same_training_state, smoke_cfg

from dcgan_lib.__main__ import main
from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.config import (
    RESUME_KEEPS,
    RESUME_MAY_CHANGE,
    ConfigError,
    ModelConfig,
    TrainConfig,
    get_model_config,
)
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.step import make_optimizers, train_step
from dcgan_lib.storage import read_jsonl
from dcgan_lib.train import train


def _strip_timing(rows):
    """Metrics rows without timing, and without the note a resume adds (what it changed)."""
    return [{k: v for k, v in r.items() if k not in ("img_per_s", "time", "resumed")} for r in rows]


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
    assert _strip_timing(read_jsonl(tmp_path / "full/metrics.jsonl")) == _strip_timing(
        read_jsonl(tmp_path / "cut/metrics.jsonl")
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
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl")]
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
        "epochs.png",  # the strip: one frame after every epoch (dcgan_lib.strip)
        "final.png",
        "frames",
        "step_0000008.png",
        "step_0000016.png",
    ]
    row = read_jsonl(out / "metrics.jsonl")[0]
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
    with pytest.raises(ConfigError, match="other settings .model.ngf: the run has 8, asked 16"):
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
    from dcgan_lib.datasets import DataError

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
        if (out / "metrics.jsonl").exists() and len(read_jsonl(out / "metrics.jsonl")) >= 3:
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


# --- a resume keeps the run's settings -------------------------------------------------------

# a value other than smoke_cfg's for every setting a resume keeps (model fields one by one)
OTHER_VALUE = {
    "model.name": "smoke32b",
    "model.image_size": 64,
    "model.nz": 8,
    "model.ngf": 16,
    "model.ndf": 16,
    "model.nc": 1,
    "model.kernel_size": 3,
    "model.z_dist": "normal",
    "model.g_project": "conv",
    "model.d_output": "conv",
    "model.g_layers": ((16, 2), (8, 2), (3, 2)),
    "model.d_layers": ((8, 2), (16, 2), (32, 2)),
    "model.g_start_channels": 32,
    "model.bn_eps": 1e-3,
    "model.leaky_slope": 0.1,
    "model.init_std": 0.01,
    "model.d_depth": 2,  # a truncated D (features only): refused on resume like any model field
    "data": "cifar10",
    "split": "test",
    "limit": 32,
    "keep_list": "keep.txt",
    "batch_size": 8,
    "lr": 1e-3,
    "beta1": 0.9,
    "beta2": 0.99,
    "seed": 7,
    "n_samples": 16,
    "sync_bn": True,
    "fid_n": 500,
    "fid_data": "cifar10",
    "fid_split": "test",
    "fid_selection": True,
    "fid_network": "tiny",
    "fid_limit": 48,
}
KEPT = [f"model.{f.name}" for f in dataclasses.fields(ModelConfig)] + [
    name for name in RESUME_KEEPS if name != "model"
]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped at step 2 (checkpoint at 2), to be copied and resumed."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    return out


def _copy(run, tmp_path):
    return Path(shutil.copytree(run, tmp_path / "run"))


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_every_field_is_either_kept_or_changeable_on_resume():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert not set(RESUME_KEEPS) & set(RESUME_MAY_CHANGE)
    assert set(RESUME_KEEPS) | set(RESUME_MAY_CHANGE) | {"out"} == names
    assert set(KEPT) == set(OTHER_VALUE)


@pytest.mark.parametrize("name", KEPT)
def test_a_resume_with_another_value_of_a_kept_setting_is_refused(name, stopped_run, tmp_path):
    out = _copy(stopped_run, tmp_path)
    before = _files(out)
    value = OTHER_VALUE[name]
    if name.startswith("model."):
        model = dataclasses.replace(get_model_config("smoke32"), **{name[6:]: value})
        cfg = smoke_cfg(out, model=model)
    else:
        cfg = smoke_cfg(out, **{name: value})
    base = smoke_cfg(out)
    old = getattr(base.model, name[6:]) if name.startswith("model.") else getattr(base, name)
    with pytest.raises(ConfigError) as e:
        train(cfg, data=DATA, progress=False)
    message = str(e.value)
    assert f"{name}: the run has {old!r}, asked {value!r}" in message
    assert "pass the same values" in message and "another --out" in message
    assert "\n" not in message
    assert _files(out) == before  # the run is untouched: resumable as it was


def test_the_refusal_names_every_difference(stopped_run, tmp_path):
    out = _copy(stopped_run, tmp_path)
    with pytest.raises(ConfigError) as e:
        train(smoke_cfg(out, batch_size=8, lr=1e-3, seed=7), data=DATA, progress=False)
    assert (
        "(batch_size: the run has 16, asked 8; lr: the run has 0.0002, asked 0.001; "
        "seed: the run has 1, asked 7)" in str(e.value)
    )


class _NoFid:  # stands in for the FID tracker (no Inception network in this test)
    def __init__(self, *a):
        pass


CHANGEABLE = {
    "epochs": 4,
    "max_minutes": 100.0,
    "max_steps": 4,
    "log_every": 1,
    "sample_every": 3,
    "checkpoint_every": 3,
    "sample_epochs": (2,),
    "fid_every": 1000,
    "data_root": "/elsewhere",
    "cache_dir": "/elsewhere/cache",
    "deterministic": False,
    "compile": True,
}


@pytest.mark.parametrize("name", [*CHANGEABLE, "engine"])
def test_a_legitimate_change_on_resume_is_recorded(name, stopped_run, tmp_path, monkeypatch):
    import dcgan_lib.train as T

    monkeypatch.setattr(T, "_FidTracker", _NoFid)
    out = _copy(stopped_run, tmp_path)
    changed = {"max_steps": {"from": 2, "to": 4}}
    if name == "engine":  # recorded as what it resolves to
        kw = {"engine": "fast"}
        changed["engine"] = {"from": "eager", "to": "fast"}
    else:
        kw = {name: CHANGEABLE[name]}
        was = getattr(smoke_cfg(out, max_steps=2), name)
        changed[name] = {"from": was, "to": CHANGEABLE[name]}
    result = train(smoke_cfg(out, **{"max_steps": 4} | kw), data=DATA, progress=False)
    assert result.step == 4
    note = json.loads(json.dumps({"step": 2, "changed": changed}))  # tuples become lists
    assert json.loads((out / "run.json").read_text())["resumes"] == [note]
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r.get("resumed") for r in rows if r["step"] > 2][0] == [note]  # the first new line
    assert sum("resumed" in r for r in rows) == 1


def test_a_resume_compares_with_the_settings_of_the_last_one(stopped_run, tmp_path):
    out = _copy(stopped_run, tmp_path)
    train(smoke_cfg(out, max_steps=4, lr=2e-4, log_every=1), data=DATA, progress=False)
    train(smoke_cfg(out, max_steps=6, log_every=1), data=DATA, progress=False)
    assert json.loads((out / "run.json").read_text())["resumes"] == [
        {
            "step": 2,
            "changed": {"max_steps": {"from": 2, "to": 4}, "log_every": {"from": 2, "to": 1}},
        },
        {"step": 4, "changed": {"max_steps": {"from": 4, "to": 6}}},
    ]
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "resumed" in r] == [3, 5]


def test_a_device_that_resolves_to_the_same_one_is_not_a_change(stopped_run, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("auto is cuda here")
    out = _copy(stopped_run, tmp_path)
    train(smoke_cfg(out, device="auto", max_steps=4), data=DATA, progress=False)
    changes = json.loads((out / "run.json").read_text())["resumes"][0]["changed"]
    assert changes == {"max_steps": {"from": 2, "to": 4}}


def test_a_change_not_yet_logged_goes_into_the_next_metrics_line(stopped_run, tmp_path):
    # resumed with a time budget that stops it after one step, before its next metrics line:
    # the note waits in the checkpoint and reaches the line at step 4 with the next resume's
    out = _copy(stopped_run, tmp_path)
    train(smoke_cfg(out, max_minutes=1e-9, log_every=4), data=DATA, progress=False)
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [2]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    train(smoke_cfg(out, max_steps=4, log_every=4), data=DATA, progress=False)
    row = read_jsonl(out / "metrics.jsonl")[-1]
    assert row["step"] == 4 and [n["step"] for n in row["resumed"]] == [2, 3]
    assert row["resumed"][1]["changed"] == {
        "max_minutes": {"from": 1e-9, "to": None},
        "max_steps": {"from": None, "to": 4},
    }
    assert json.loads((out / "run.json").read_text())["resumes"] == row["resumed"]


@pytest.mark.parametrize("subset", ["fewer images", "other images"])
def test_a_resume_on_other_images_is_refused(subset, stopped_run, tmp_path):
    from dcgan_lib.datasets import DataError

    out = _copy(stopped_run, tmp_path)
    if subset == "fewer images":
        data, match = (
            DATA.subset(np.arange(48)),
            "trained on 64 images, and the data found now has 48",
        )
    else:
        data = DATA.subset(np.arange(64))
        data.names = [f"other/{i}" for i in range(64)]
        match = "has 64 with other names"
    before = _files(out)
    with pytest.raises(DataError, match=match):
        train(smoke_cfg(out), data=data, progress=False)
    assert _files(out) == before
