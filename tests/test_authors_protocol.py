"""§5 with the authors' own Ds: the SVHN path end to end on small files in SVHN's real .mat format
(the authors' D, their grid and draws, the command line), the CIFAR-10 job with the truncated
ImageNet D and its controls on synthetic images, the feature cache, and the Table 1 / 2 readers."""

import dataclasses
import json

import numpy as np
import pytest
import scipy.io

from dcgan_lib import authors, svm
from dcgan_lib.__main__ import main
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.data import load_dataset
from dcgan_lib.studies import features_results as R
from dcgan_lib.studies.features import (
    SIZES,
    ProtocolSize,
    authors_deviations,
    classifier_name,
    run_protocol,
)
from dcgan_lib.studies.features_results import check_stored_classifier


def _write_svhn(folder, n, seed, name):
    """SVHN's .mat layout (X: 32x32x3xN uint8, y: Nx1 with 10 for the digit 0), as torchvision's
    SVHN reads it; one template per digit plus noise, so the classes are separable."""
    templates = np.random.default_rng(99).uniform(40, 220, (10, 32, 32, 3))
    digits = np.arange(n) % 10
    noise = np.random.default_rng(seed).normal(0, 30, (n, 32, 32, 3))
    imgs = np.clip(templates[digits] + noise, 0, 255).astype(np.uint8)
    y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
    scipy.io.savemat(folder / name, {"X": imgs.transpose(1, 2, 3, 0), "y": y})


@pytest.fixture
def svhn_root(tmp_path, monkeypatch):
    _write_svhn(tmp_path, 400, 0, "train_32x32.mat")
    _write_svhn(tmp_path, 80, 1, "test_32x32.mat")
    monkeypatch.setattr("torchvision.datasets.svhn.check_integrity", lambda *a, **k: True)
    return tmp_path


def test_svhn_authors_protocol_end_to_end_on_mat_files(svhn_root, tmp_path):
    """The authors' size, shrunk to 400 images: their D (7,168 features), their grid as given,
    draws per C and at the best C, the random and pixel controls; then resumed."""
    size = dataclasses.replace(
        SIZES["authors"], n_val=100, regimes=(5,), n_select_draws=2, n_eval_draws=4,
        baseline_select_draws=1, baseline_eval_draws=2,
    )  # fmt: skip
    out = tmp_path / "out"
    kw = dict(data_root=svhn_root, cache_dir=tmp_path / "cache", progress=False)
    m = run_protocol("svhn", size, out, d_source="authors-svhn", **kw)
    assert m["complete"] and m["data"].startswith("SVHN")
    assert m["d_config"] == "authors_svhn32" and m["d_source"] == "authors-svhn"
    assert m["d_description"].startswith("the authors' SVHN D")
    assert m["feature_dim"] == {"dcgan": 7168, "pixels": 3072}
    assert m["d_weights"]["manifest"]["source"]["repository"] == "Newmu/dcgan_code"
    assert set(m["results"]) == {"dcgan/5", "random/5", "pixels/5"}
    r = m["results"]["dcgan/5"]
    assert [s["C"] for s in r["selection"]] == list(svm.C_GRID)  # their grid, as given
    assert all(len(s["val_errors"]) == 2 for s in r["selection"])
    assert r["test_error"]["n"] == 4 and r["n_labels"] == 50 and r["c_extended_below"] == []
    assert m["results"]["random/5"]["test_error"]["n"] == 2
    rows = R.table2_rows(m, per_class=5)
    assert rows[1]["test error, 1,000 labels"].endswith(f"C = {r['C']:g})")
    again = run_protocol("svhn", size, out, d_source="authors-svhn", **kw)  # resume: no refit
    assert again["results"] == m["results"]


def test_svhn_command_line_with_the_authors_d(svhn_root, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["features", "svhn", "--d", "authors-svhn", "--size", "authors", "--data-root",
            str(svhn_root), "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
            "--n-val", "100", "--regimes", "5", "--select-draws", "1", "--eval-draws", "2",
            "--variants", "dcgan", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    m = json.loads((out / "authors_svhn.json").read_text())  # the --d's default file name
    assert m["complete"] and m["protocol"]["c_grid"] == list(svm.C_GRID)
    assert "dcgan/5: test error" in capsys.readouterr().out


def test_running_statistics_variant_is_refused_for_the_authors_d(tmp_path):
    size = ProtocolSize("t", n_val=50, variants=("dcgan_running",), regimes=(5,),
                        synthetic_n=(200, 50))  # fmt: skip
    with pytest.raises(ValueError, match="no running BatchNorm"):
        run_protocol("synthetic", size, tmp_path, d_source="authors-svhn", progress=False)


def test_cifar10_job_with_the_truncated_authors_d_and_its_controls(tmp_path):
    """The §5.1 job's path with the authors' ImageNet D (layers 1-4) on synthetic images: 12,288
    features; the random control is the same truncated architecture; the feature cache is used
    on resume; Table 1 reads the stored results."""
    size = ProtocolSize(
        "t", n_val=40, n_select_draws=1, n_eval_draws=2, baseline_select_draws=1,
        baseline_eval_draws=2, variants=("dcgan", "random", "pixels"), regimes=("all", 4),
        c_grid=(1e-3, 1e-2), c_grid_all=(1e-3, 1e-2), c_floor=1e-4, supervised_trials=0,
        synthetic_n=(160, 40),
    )  # fmt: skip
    cache = tmp_path / "fcache"
    kw = dict(d_source="authors-imagenet", feature_cache=cache, progress=False)
    m = run_protocol("synthetic", size, tmp_path / "out", **kw)
    assert m["complete"] and m["d_config"] == "authors_imagenet32"
    assert m["feature_dim"]["dcgan"] == 12288
    assert m["d_description"] == R.AUTHORS_D_ROW + " (Newmu/dcgan_code, epoch 30)"
    stored = sorted(p.name for p in cache.iterdir())
    assert len([p for p in stored if p.endswith("-train.npy")]) == 2  # dcgan and random
    for name in stored:  # the random control has the same truncated shape
        if name.endswith("-train.npy"):
            assert np.load(cache / name, mmap_mode="r").shape == (160, 12288)
    assert (tmp_path / "out" / "svm_all.pt").is_file()
    test_images = load_dataset("synthetic", split="test", image_size=32, limit=40).images
    check = check_stored_classifier(authors.load_authors("imagenet_D"), tmp_path / "out" /
                                    "svm_all.pt", test_images)  # fmt: skip
    assert check["n"] == 40 and check["agreement"] >= 0.95  # fp16 SVM weights: near ties only
    # a second run with another results file reads the features from the cache
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    m2 = run_protocol("synthetic", size, tmp_path / "out", metrics_name="again.json", **kw)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    assert (tmp_path / "out" / "again_svm_all.pt").is_file()  # beside its own results file
    for key in m["results"]:
        assert m2["results"][key]["test_error"] == m["results"][key]["test_error"], key

    rows = R.table1_rows(m, per_class=4)
    assert rows[0]["all labels"] == "82.8%" and rows[0]["4 per class"] == "(not reported)"
    assert rows[1]["model"] == R.AUTHORS_D_ROW and rows[1]["features"] == "12,288"
    acc = 100 - m["results"]["dcgan/all"]["test_error"]
    assert rows[1]["all labels"] == f"{acc:.2f}% (one fit)"
    assert rows[2]["4 per class"].endswith("(2 draws)") and rows[3]["features"] == "3,072"
    assert rows[4]["all labels"] == NOT_PRODUCED  # the book's own D: not run here
    assert "Measured on synthetic" in R.missing_layers_text(m)
    assert "12,288" in R.missing_layers_text(None) and "Measured" not in R.missing_layers_text(None)
    md = R.table_markdown(rows)
    assert md.count("\n") == 2 + len(rows) and R.AUTHORS_D_ROW in md


def test_the_classifier_file_is_named_after_its_results_file():
    assert classifier_name("metrics.json") == "svm_all.pt"
    assert classifier_name("authors_imagenet.json") == "authors_imagenet_svm_all.pt"


def test_table2_says_not_produced_without_svhn():
    rows = R.table2_rows(None)
    assert rows[0]["test error, 1,000 labels"] == "22.48%"
    assert all(r["test error, 1,000 labels"] == NOT_PRODUCED for r in rows[1:])
    assert "--d authors-svhn" in R.table_commands()["authors_svhn"]
    assert R.table1_rows(None)[0]["400 per class"] == "73.8% (± 0.4)"


def test_every_deviation_names_ours_theirs_and_why():
    rows = authors_deviations()
    assert len(rows) >= 7 and all(len(r) == 4 and all(r) for r in rows)
    cpu = SIZES["cpu"]
    assert any(f"{cpu.n_eval_draws} at the best C" in r[1] for r in rows)
    assert any("layers 1-4 of 6" in r[1] for r in rows)


def test_table1_points_and_key_figure_from_stored_numbers():
    authors = {
        "results": {
            "dcgan/all": {"test_error": 24.11},
            "random/400": {"test_error": {"mean": 50.0, "ci95": 1.0, "n": 20}},
        }
    }
    cpu = {"results": {"pixels/100": {"test_error": {"mean": 66.8, "ci95": 1.3, "n": 10}}}}
    points = dict(R.table1_points(authors, None, cpu))
    assert list(points)[:2] == ["the paper: DCGAN D, all 6 layers (Table 1)", R.AUTHORS_D_ROW]
    assert points["the paper: DCGAN D, all 6 layers (Table 1)"]["400"] == (73.8, 0.4)
    assert points[R.AUTHORS_D_ROW]["all"] == pytest.approx((75.89, None))
    assert points[R.AUTHORS_D_ROW]["400"] is None  # shown as "not measured yet"
    assert points["random D, the same 4 layers"]["400"] == (50.0, 1.0)
    assert points["earlier CPU run: raw pixels"] == {"100": pytest.approx((33.2, 1.3))}
    assert "earlier CPU run: random D, all 6 layers" not in points  # nothing stored: no row
    fig = R.table1_figure(list(points.items()))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "75.9" in texts and "400 per class: not measured yet" in texts
    assert min(t.get_fontsize() for t in fig.axes[0].texts) >= 10
