"""Training you can watch (paper §4): every run stores the fixed z after each epoch as frames and
one strip, a resume keeps the earlier frames, the export ships the strip, and the stored runs'
strips are cut from their stored grids, tile for tile."""

import json

import numpy as np
import pytest
import torch
from _smoke import DATA, smoke_cfg
from PIL import Image

from dcgan_lib import artifacts, strip
from dcgan_lib.__main__ import main
from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.models import Generator, generate
from dcgan_lib.train import train

STORED_RUNS = ("celeba_dcgan64", "celeba_examples64", "celeba_paper64", "cifar10_imagenet32")


def _strip(out):
    return strip.read_strip(out / "samples" / strip.STRIP_NAME)


def test_a_smoke_run_stores_one_frame_per_epoch(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out), data=DATA, progress=False)  # 3 epochs of 4 steps, smoke32
    frames = sorted(p.name for p in (out / "samples" / strip.FRAMES_DIR).iterdir())
    assert frames == ["epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]
    s = _strip(out)
    assert (s.epochs, s.steps, s.source) == ([1, 2, 3], [4, 8, 12], strip.FROM_TRAINING)
    assert s.frames.shape == (3, 4 * 34 + 2, 4 * 34 + 2, 3) and s.frames.dtype == np.uint8
    assert not np.array_equal(s.frames[0], s.frames[-1])  # G changed between the epochs
    # the last frame is the final G's first 16 samples of the run's fixed z, rounded as a PNG grid
    ckpt = load_checkpoint(out / "checkpoint.pt")
    G = Generator(smoke_cfg(out).model)
    G.load_state_dict(ckpt["G"])
    assert np.array_equal(s.frames[-1], strip.frame_of(generate(G, ckpt["fixed_z"])))
    assert strip.epochs_text(s) == "every epoch from 1 to 3"


def test_a_resumed_run_keeps_the_earlier_frames(tmp_path):
    full = tmp_path / "full"
    train(smoke_cfg(full, epochs=4), data=DATA, progress=False)
    cut = tmp_path / "cut"
    train(smoke_cfg(cut, epochs=2), data=DATA, progress=False)
    first = {p.name: p.read_bytes() for p in (cut / "samples" / strip.FRAMES_DIR).iterdir()}
    assert _strip(cut).epochs == [1, 2]
    train(smoke_cfg(cut, epochs=4), data=DATA, progress=False)  # resumed: 2 more epochs
    after = {p.name: p.read_bytes() for p in (cut / "samples" / strip.FRAMES_DIR).iterdir()}
    assert {k: after[k] for k in first} == first  # the earlier frames, untouched
    a, b = _strip(full), _strip(cut)
    assert a.epochs == b.epochs == [1, 2, 3, 4] and a.steps == b.steps
    assert np.array_equal(a.frames, b.frames)  # the same as the run never stopped


def test_frames_after_the_checkpoint_are_drawn_again_on_resume(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=6), data=DATA, progress=False)  # checkpoint at 6 (epoch 1)
    kept = strip.frame_path(out / "samples", 1).read_bytes()
    # as if killed after drawing epochs 2 and 9 but before checkpointing them
    for e in (2, 9):
        strip.write_frame(out / "samples", e, 999, torch.zeros(16, 3, 32, 32))
    train(smoke_cfg(out), data=DATA, progress=False)
    s = _strip(out)
    assert s.epochs == [1, 2, 3] and s.steps == [4, 8, 12]
    assert strip.frame_path(out / "samples", 1).read_bytes() == kept
    assert s.frames[1].any()  # epoch 2 drawn again from the trained G, not the zeros


def test_the_export_ships_the_strip_and_registers_it(tmp_path):
    run = tmp_path / "run"
    train(smoke_cfg(run, sample_epochs=(1, 2)), data=DATA, progress=False)
    root = tmp_path / "artifacts"
    written = artifacts.export_run(run, "tiny", command="python -m dcgan_lib export x", root=root)
    assert root / "tiny" / strip.STRIP_NAME in written
    s = strip.read_strip(artifacts.require("tiny", strip.STRIP_NAME, root))  # sha256-checked
    assert s.epochs == [1, 2, 3] and s.meta["run_epochs"] == 3 and s.meta["image_size"] == 32
    entry = artifacts.read_manifest(root)["files"]["tiny/epochs.png"]
    assert entry["command"] == "python -m dcgan_lib export x" and entry["step"] == 12
    # the run's grids after epochs 1 and 2 hold the same samples as the strip's frames there
    from_grids = strip.strip_from_grids(root / "tiny")
    assert from_grids.epochs == [1, 2, 3] and from_grids.source == strip.FROM_GRIDS
    assert np.array_equal(from_grids.frames, s.frames)


def test_an_exported_strip_over_the_size_limit_keeps_evenly_spaced_epochs(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (20, 40, 40, 3), dtype=np.uint8)  # noise: PNG cannot shrink it
    whole = strip.Strip(frames, list(range(1, 21)), [10 * e for e in range(1, 21)])
    size = len(strip.strip_png(whole))
    kept = strip.write_strip(tmp_path / "s.png", whole, max_bytes=size // 3)
    back = strip.read_strip(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size <= size // 3
    assert back.epochs == kept.epochs and back.epochs[0] == 1 and back.epochs[-1] == 20
    assert 2 <= len(back) < 20 and back.meta["thinned_from"] == 20
    gaps = np.diff(back.epochs)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    i = back.epochs.index(back.epochs[1])
    assert np.array_equal(back.frames[i], frames[back.epochs[1] - 1])
    assert strip.epochs_text(back).startswith(f"{len(back)} of the 20 epochs, evenly spaced: 1, ")


def test_epochs_text_names_what_a_strip_holds():
    one = np.zeros((1, 8, 8, 3), np.uint8)
    grids = strip.Strip(np.repeat(one, 3, 0), [1, 5, 25], [78, 390, 1950], strip.FROM_GRIDS)
    assert strip.epochs_text(grids) == "epochs 1, 5 and 25 only (built from the stored grids)"
    assert strip.epochs_text(strip.Strip(one, [1], [4])) == "epoch 1"
    assert strip.epochs_text(strip.Strip(np.repeat(one, 2, 0), [1, 2], [4, 8])) == "epochs 1 and 2"
    with pytest.raises(ValueError, match="at least one frame"):
        strip.strip_png(strip.Strip(one[:0], [], []))


def test_a_png_that_is_not_a_strip_is_refused(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    with pytest.raises(ValueError, match="not a strip"):
        strip.read_strip(tmp_path / "x.png")


@pytest.mark.parametrize("name", STORED_RUNS)
def test_the_stored_runs_strips_are_their_stored_grids(name):
    """Committed: each stored run's strip, registered as built from the stored grids, holds
    epochs 1, 5 and the end, and is what the stored grids give today."""
    s = strip.read_strip(artifacts.require(name, strip.STRIP_NAME))
    run = json.loads(artifacts.require(name, "run.json").read_text())
    assert s.epochs == [1, 5, run["epoch"]] and s.source == strip.FROM_GRIDS
    assert strip.epochs_text(s) == f"epochs 1, 5 and {run['epoch']} only ({strip.FROM_GRIDS})"
    again = strip.strip_from_grids(artifacts.artifacts_dir() / name)
    assert np.array_equal(s.frames, again.frames) and s.steps == again.steps
    entry = artifacts.read_manifest()["files"][f"{name}/{strip.STRIP_NAME}"]
    assert entry["note"] == strip.FROM_GRIDS and "machine" in entry
    assert entry["command"].startswith(f"python -m dcgan_lib strip --stored {name}")
    for grid, digest in entry["inputs"].items():  # built from the grids stored now
        assert artifacts.read_manifest()["files"][grid]["sha256"] == digest


def test_the_cli_joins_a_runs_frames(tmp_path, capsys):
    out = tmp_path / "run"
    train(smoke_cfg(out, epochs=2), data=DATA, progress=False)
    (out / "samples" / strip.STRIP_NAME).unlink()
    assert main(["strip", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("epochs 1 and 2")
    assert _strip(out).epochs == [1, 2]
    assert main(["strip", str(tmp_path)]) == 2  # no frames there: one line, status 2
