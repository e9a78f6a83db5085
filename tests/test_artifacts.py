"""Artifacts: fp16 export with a sha256 manifest, checked loading, generators from either format."""

import json

import pytest
import torch
from _smoke import DATA, smoke_cfg

from dcgan_lib.artifacts import ArtifactMissing, export_run, load_generator, load_weights, require
from dcgan_lib.models import generate, sample_z
from dcgan_lib.train import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = smoke_cfg(out, epochs=1, deterministic=False)
    train(cfg, data=DATA, progress=False)
    return out


def test_export_writes_fp16_weights_and_a_manifest(run, tmp_path):
    written = export_run(run, "demo", command="make demo", root=tmp_path)
    names = sorted(p.name for p in written)
    assert names == [
        "D.pt", "G.pt", "epoch_001.png", "epochs.png", "final.png", "metrics.jsonl", "run.json"
    ]  # fmt: skip
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["files"]["demo/G.pt"]
    assert (
        entry["command"] == "make demo"
        and entry["config"] == "smoke32"
        and len(entry["sha256"]) == 64
    )
    blob = torch.load(tmp_path / "demo/G.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state"].values() if v.is_floating_point())
    assert require("demo", "G.pt", root=tmp_path) == tmp_path / "demo/G.pt"


def test_changed_artifact_is_refused(run, tmp_path):
    export_run(run, "demo", root=tmp_path)
    with open(tmp_path / "demo/metrics.jsonl", "a") as f:
        f.write("{}\n")
    with pytest.raises(ArtifactMissing, match="does not match its sha256"):
        require("demo", "metrics.jsonl", root=tmp_path)
    with pytest.raises(ArtifactMissing, match="not produced yet"):
        require("demo", "nothing.png", root=tmp_path)


def test_generator_from_export_or_checkpoint_gives_the_same_samples(run, tmp_path):
    export_run(run, "demo", root=tmp_path)
    from_export = load_generator(tmp_path / "demo/G.pt")
    from_ckpt = load_generator(run / "checkpoint.pt")
    assert not from_export.training and not from_ckpt.training
    z = sample_z(8, from_ckpt.cfg, torch.Generator().manual_seed(0))
    torch.testing.assert_close(generate(from_export, z), generate(from_ckpt, z), atol=2e-2, rtol=0)
    D = load_weights(tmp_path / "demo/D.pt", "D")
    assert D(generate(from_ckpt, z)).shape == (8,)


def test_a_file_made_by_its_own_command_names_it_and_files_elsewhere_are_not_recorded(
    tmp_path, monkeypatch
):
    from dcgan_lib import artifacts

    # the sweep has its own command; the rest of its folder the study's
    assert "dedup-sweep" in artifacts.producer("dedup_ae/sweep.json")
    assert "dedup-study" in artifacts.producer("dedup_ae/ae.pt")
    with pytest.raises(ArtifactMissing, match="dedup-sweep"):
        require("dedup_ae", "sweep.json", tmp_path)
    assert not artifacts.is_stored("dedup_ae/sweep.json", tmp_path)
    # register_if_stored records a file under artifacts/ only
    root = tmp_path / "artifacts"
    monkeypatch.setenv("DCGAN_ARTIFACTS", str(root))
    (root / "x").mkdir(parents=True)
    (root / "x" / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    assert artifacts.register_if_stored(root / "x" / "a.json", "cmd") is not None
    assert artifacts.register_if_stored(tmp_path / "b.json", "cmd") is None
    assert artifacts.is_stored("x/a.json", root) and artifacts.require_json("x", "a.json") == {}
    assert list(artifacts.read_manifest(root)["files"]) == ["x/a.json"]
