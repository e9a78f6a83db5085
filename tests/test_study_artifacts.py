"""Stored §6 studies (dcgan_lib.artifacts.export_study / load_study): what is written and
registered, how a study of an older model or of other sizes is refused, and that the committed
studies match the library's book sizes and the stored models."""

import dataclasses
import json
import sys

import pytest

from dcgan_lib import artifacts as A
from dcgan_lib.device import describe_machine
from dcgan_lib.studies import forgetting, guided_backprop, latent


@pytest.fixture
def root(tmp_path):
    """An artifacts folder with one input model registered."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "G.pt").write_bytes(b"weights v1")
    A.register("model/G.pt", tmp_path / "model" / "G.pt", "make model", root=tmp_path)
    return tmp_path


def _export(root, config=None):
    return A.export_study(
        "study",
        {"config": config or {"n": 3, "sizes": (1, 2)}, "rate": 0.25},
        {"fig.png": b"\x89PNG fake"},
        ["model/G.pt"],
        "python -m dcgan_lib study --export",
        12.34,
        56.78,
        root=root,
    )


def test_export_writes_registers_and_records_the_machine(root):
    written = _export(root)
    assert [p.name for p in written] == ["metrics.json", "fig.png"]
    entry = A.read_manifest(root)["files"]["study/metrics.json"]
    assert entry["command"] == "python -m dcgan_lib study --export"
    assert entry["cpu_seconds"] == 12.3 and entry["wall_seconds"] == 56.8
    assert entry["machine"] == describe_machine() and "torch" in entry["machine"]
    assert A.read_manifest(root)["files"]["study/fig.png"]["sha256"] == A.sha256(written[1])
    m = A.load_study("study", {"n": 3, "sizes": (1, 2)}, root=root)  # tuples as JSON lists
    assert m["rate"] == 0.25
    assert m["run"]["inputs"] == {"model/G.pt": A.sha256(root / "model" / "G.pt")}


def test_a_study_of_another_model_or_other_sizes_is_refused(root):
    _export(root)
    with pytest.raises(A.ArtifactMissing, match="other sizes"):
        A.load_study("study", {"n": 4, "sizes": (1, 2)}, root=root)
    (root / "model" / "G.pt").write_bytes(b"weights v2")  # a better model is stored
    A.register("model/G.pt", root / "model" / "G.pt", "make model", root=root)
    with pytest.raises(A.ArtifactMissing, match="another model/G.pt"):
        A.load_study("study", root=root)
    with pytest.raises(A.ArtifactMissing, match="not produced yet"):
        A.load_study("nothing", root=root)


def test_invoked_command_names_the_module(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/x/dcgan_lib/__main__.py", "latent", "--data-root", "a b"])
    assert A.invoked_command() == "python -m dcgan_lib latent --data-root 'a b'"
    monkeypatch.setattr(sys, "argv", ["/x/dcgan_lib/forgetting.py", "study", "--export"])
    assert A.invoked_command() == "python -m dcgan_lib.forgetting study --export"


# the committed studies of the stored faces model: the book's sizes, the stored G (and D)
STORED = {
    "latent_walks": latent.SIZES["book"],
    "vector_arithmetic": latent.SIZES["book"],
    "guided_backprop_faces": guided_backprop.SIZES["book"],
    "forgetting_faces": forgetting.SIZES["book"],
}


@pytest.mark.parametrize("name", sorted(STORED))
def test_committed_studies_match_the_book_sizes_and_the_stored_models(name):
    m = A.load_study(name, dataclasses.asdict(STORED[name]))
    assert "CPU" in m["run"]["machine"] and m["run"]["cpu_seconds"] > 0
    assert "celeba_dcgan64/G.pt" in m["run"]["inputs"]
    manifest = A.read_manifest()["files"]
    mine = [f for f in manifest if f.startswith(f"{name}/")]
    assert f"{name}/metrics.json" in mine
    for f in mine:  # every stored file checks out, and says how and where it was made
        A.require(*f.split("/"))
        assert manifest[f]["command"].startswith("python -m dcgan_lib")
        assert manifest[f]["machine"] == m["run"]["machine"]
    json.dumps(m)
