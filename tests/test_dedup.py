"""Paper §4.1.1 de-duplication: grouping, planted near-duplicates, deterministic codes, the CLI's
keep list and its use by training. Test-made images only (no ../shared)."""

import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dcgan_lib import dedup
from dcgan_lib import near_duplicates as nd
from dcgan_lib.__main__ import main
from dcgan_lib.artifacts import read_manifest, sha256
from dcgan_lib.config import TrainConfig, get_model_config
from dcgan_lib.studies import dedup as study
from dcgan_lib.studies import dedup_sweep
from dcgan_lib.train import train

SMOKE = study.SIZES["smoke"].ae


@pytest.fixture(scope="module")
def model():
    """The smoke autoencoder, trained for a few seconds on test-made images."""
    m, history = dedup.train_autoencoder(SMOKE, study.made_images(2000, seed=1), progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    return m


def _codes(bits_rows):
    return np.packbits(np.array(bits_rows, dtype=bool), axis=1)


def _components(codes, radius):
    """Reference grouping: all pairs, then connected components (smallest index as label)."""
    bits = np.unpackbits(codes, axis=1).astype(int)
    n = len(bits)
    label = list(range(n))
    for i, j in itertools.combinations(range(n), 2):
        if np.abs(bits[i] - bits[j]).sum() <= radius:
            a, b = label[i], label[j]
            label = [min(a, b) if x in (a, b) else x for x in label]
    return np.array(label)


# ---------------------------------------------------------------------------------------------
# Grouping


def test_model_is_the_papers_3072_128_3072():
    m = dedup.DedupAutoencoder()
    assert (m.encoder.in_features, m.encoder.out_features, m.decoder.out_features) == (
        3072,
        128,
        3072,
    )
    assert sum(p.numel() for p in m.parameters()) == 3072 * 128 + 128 + 128 * 3072 + 3072  # 0.79M


def test_exact_collisions_group_and_keep_first():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (6, 16), dtype=np.uint8)
    codes[4] = codes[1]
    codes[5] = codes[1]
    codes[3] = codes[0]
    rep = dedup.group_codes(codes)
    assert rep.tolist() == [0, 1, 2, 0, 1, 1]
    assert dedup.keep_indices(rep).tolist() == [0, 1, 2]
    assert [g.tolist() for g in dedup.duplicate_groups(rep)] == [[1, 4, 5], [0, 3]]
    assert dedup.predicted_pairs(rep) == {(0, 3), (1, 4), (1, 5), (4, 5)}
    assert dedup.n_pairs(rep) == 4


def test_hamming_radius_one_and_two():
    base = np.zeros(128, bool)
    one, two, three = base.copy(), base.copy(), base.copy()
    one[5] = True
    two[[5, 77]] = True
    three[[1, 2, 3]] = True
    codes = _codes([base, one, two, three])
    assert dedup.group_codes(codes, 0).tolist() == [0, 1, 2, 3]
    assert dedup.group_codes(codes, 1).tolist() == [0, 0, 0, 3]  # 0-1 and 1-2: chained
    assert dedup.group_codes(codes[[0, 2, 3]], 1).tolist() == [0, 1, 2]  # 2 bits apart
    assert dedup.group_codes(codes[[0, 2, 3]], 2).tolist() == [0, 0, 2]
    assert dedup.group_codes(codes[[0, 3]], 2).tolist() == [0, 1]  # 3 bits apart
    assert dedup.group_codes(codes[[0, 3]], 3).tolist() == [0, 0]  # the quadratic fallback


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 4), st.integers(2, 30))
def test_grouping_matches_all_pairs_reference(seed, radius, n):
    rng = np.random.default_rng(seed)
    bits = rng.random((n, 16)) < 0.5  # 16-bit codes: close pairs are common
    for i in range(1, n):  # near copies of earlier codes
        if rng.random() < 0.5:
            bits[i] = bits[rng.integers(0, i)] ^ (rng.random(16) < 0.08)
    codes = _codes(bits)
    assert dedup.group_codes(codes, radius).tolist() == _components(codes, radius).tolist()


# ---------------------------------------------------------------------------------------------
# Planted near-duplicates and distinct images


def test_near_duplicate_kinds_and_the_pixel_judge():
    rng = np.random.default_rng(0)
    imgs = study.made_images(60, seed=5)
    for kind in nd.TRANSFORMS:
        copies = np.stack([nd.near_duplicate(im, kind, rng)[0] for im in imgs])
        assert copies.shape == imgs.shape and copies.dtype == np.uint8
        assert (copies != imgs).any(axis=(1, 2, 3)).all(), kind
        # crops re-sample the whole image: the judge (calibrated on real photos) passes most
        assert (nd.pair_distance(imgs, copies) < nd.JUDGE_THRESHOLD).mean() >= 0.9, kind
    unrelated = nd.pair_distance(imgs[:30], imgs[30:])
    assert (unrelated > nd.JUDGE_THRESHOLD).all()


def test_planted_duplicates_found_and_distinct_images_not_merged(model):
    base = study.made_images(400, seed=2)
    planted = nd.plant_duplicates(base, 60, seed=0, kinds=("brightness", "contrast", "jpeg"))
    assert len(planted.images) == 460 and len(planted.pairs) == 60
    codes = dedup.image_codes(model, planted.images)
    # exact copies always collide
    assert (dedup.image_codes(model, base[planted.source]) == codes[planted.source]).all()
    scores = nd.planted_scores(planted, dedup.group_codes(codes, 2))
    assert scores["recall_by_kind"]["brightness"] >= 0.9
    assert scores["recall_by_kind"]["contrast"] >= 0.9
    assert scores["recall"] >= 0.6
    assert scores["precision_strict"] >= 0.95
    # 400 distinct images: no two merged at the paper's exact match
    assert len(dedup.duplicate_groups(dedup.group_codes(codes[:400]))) == 0


def test_scores_count_pairs_correctly():
    planted = nd.Planted(
        np.zeros((5, 2, 2, 3), np.uint8), 3, np.array([0, 2]), ["jpeg", "shift"], ["", ""]
    )
    rep = np.array([0, 1, 1, 0, 1])  # (0,3) found; (2,4) found; (1,2), (1,4) extra
    s = nd.planted_scores(planted, rep)
    assert s["recall"] == 1.0 and s["true_positives"] == 2 and s["predicted_pairs"] == 4
    assert s["precision_strict"] == 0.5
    assert s["recall_by_kind"] == {"jpeg": 1.0, "shift": 1.0}


# ---------------------------------------------------------------------------------------------
# Deterministic codes


def test_codes_are_deterministic_for_a_given_model(model, tmp_path):
    imgs = study.made_images(300, seed=7)
    a = dedup.image_codes(model, imgs)
    assert a.shape == (300, 16) and a.dtype == np.uint8
    assert (dedup.image_codes(model, imgs) == a).all()
    assert (dedup.image_codes(model, imgs, batch_size=7) == a).all()
    dedup.save_autoencoder(model, tmp_path / "ae.pt")
    assert (tmp_path / "ae.pt").stat().st_size < 2_000_000  # fp16: about 1.6 MB
    x, y = dedup.load_autoencoder(tmp_path / "ae.pt"), dedup.load_autoencoder(tmp_path / "ae.pt")
    assert (dedup.image_codes(x, imgs) == dedup.image_codes(y, imgs)).all()
    bits = np.unpackbits(a, axis=1)
    assert 0.05 < bits.mean() < 0.95  # codes carry information: neither all on nor all off


def test_training_is_reproducible_and_resumes(tmp_path):
    cfg = dedup.DedupConfig(epochs=2, batch_size=64)
    imgs = study.made_images(256, seed=1)
    a, ha = dedup.train_autoencoder(cfg, imgs, progress=False)
    dedup.train_autoencoder(cfg, imgs, tmp_path, max_minutes=0, progress=False)  # stops after 1
    b, hb = dedup.train_autoencoder(cfg, imgs, tmp_path, progress=False)  # resumes epoch 2
    assert len(hb) == 2 and [h["loss"] for h in hb] == pytest.approx([h["loss"] for h in ha])
    for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="another DedupConfig"):  # the folder holds another run
        dedup.train_autoencoder(
            dedup.DedupConfig(epochs=3, batch_size=64), imgs, tmp_path, progress=False
        )


def test_stored_artifact_loads_and_hashes_deterministically():
    m = dedup.load_autoencoder()  # committed under artifacts/dedup_ae; book mode relies on it
    entry = read_manifest()["files"]["dedup_ae/ae.pt"]
    assert entry["sha256"] == sha256(_artifact("ae.pt"))
    imgs = study.made_images(200, seed=9)
    a = dedup.image_codes(m, imgs)
    assert (a == dedup.image_codes(m, imgs)).all()
    assert len(dedup.duplicate_groups(dedup.group_codes(a))) == 0
    metrics = json.loads(_artifact("metrics.json").read_text())
    assert metrics["n_params"] == 789_632


def _artifact(name):
    from dcgan_lib.artifacts import artifacts_dir

    return artifacts_dir() / dedup.ARTIFACT / name


# ---------------------------------------------------------------------------------------------
# The CLI's keep list, honoured by training


def test_keep_list_from_cli_is_honoured_by_training(model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    imgs = study.made_images(40, seed=11)
    copies = {40: 3, 41: 10, 42: 10, 43: 25}  # 4 exact copies: 3 new duplicates of 10, 1 of 3/25
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(folder / f"img_{i:03d}.png")
    for i, src in copies.items():
        Image.fromarray(imgs[src]).save(folder / f"img_{i:03d}.png")
    dedup.save_autoencoder(model, tmp_path / "ae.pt")
    keep, groups = tmp_path / "keep.txt", tmp_path / "groups.tsv"
    rc = main(
        [
            "dedup",
            "--data",
            "imagefolder",
            "--data-root",
            str(folder),
            "--out",
            str(keep),
            "--model",
            str(tmp_path / "ae.pt"),
            "--groups",
            str(groups),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert rc == 0
    kept = keep.read_text().split()
    assert len(kept) == 40 and "img_040.png" not in kept and "img_010.png" in kept
    assert "img_010.png\timg_041.png\timg_042.png" in groups.read_text()

    cfg = TrainConfig(
        model=get_model_config("smoke32"),
        data="imagefolder",
        data_root=str(folder),
        out=str(tmp_path / "run"),
        epochs=1,
        batch_size=8,
        sample_epochs=(),
        keep_list=str(keep),
        cache_dir=str(tmp_path / "cache"),
        device="cpu",
        log_every=1,
        sample_every=100,
        checkpoint_every=100,
        n_samples=4,
    )
    result = train(cfg, progress=False)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["n_images"] == 40 and run["steps_per_epoch"] == 5 and result.step == 5

    keep.write_text(
        "img_000.png\nimg_001.png\n" + "".join(f"img_{i:03d}.png\n" for i in range(30, 44))
    )
    cfg2 = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "run2")})
    train(cfg2, progress=False)
    run2 = json.loads((tmp_path / "run2" / "run.json").read_text())
    assert run2["n_images"] == 16 and run2["steps_per_epoch"] == 2


def test_smoke_study_runs_end_to_end():
    result = study.run_dedup_study(study.SIZES["smoke"], progress=False)
    m = result.metrics
    assert m["n_params"] == 789_632
    assert set(m["planted"]["autoencoder"]) == {"0", "1"}
    natural = m["natural"]["made_images"]
    assert natural["autoencoder"]["0"]["groups"] >= 20  # the 20 exact copies it plants
    assert natural["phash"]["0"]["groups"] >= 20
    assert [r["n"] for r in m["speed"]["cpu"]["rows"]] == [200, 400]


def test_sweep_scores_each_setting_and_resumes(tmp_path, monkeypatch):
    size = dedup_sweep.SweepSize(n_train=300, epochs=1, n_planted=30, radii=(0, 1), smoke=True)
    settings = (("chosen", {}), ("raw pixels, no dropout", {"standardize": False, "dropout": 0.0}))
    out = tmp_path / "sweep.json"
    first = dedup_sweep.run_sweep(size, None, out, settings, progress=False)
    assert list(first["settings"]) == ["chosen", "raw pixels, no dropout"]
    raw = first["settings"]["raw pixels, no dropout"]
    assert raw["config"]["standardize"] is False and raw["config"]["dropout"] == 0.0
    assert raw["config"]["epochs"] == 1 and len(raw["history"]) == 1
    for s in first["settings"].values():
        r0, r1 = s["planted"]["0"], s["planted"]["1"]
        assert r0["n_planted"] == 30 and 0 <= r0["recall"] <= r1["recall"] <= 1
    assert json.loads(out.read_text()) == first
    rows = dedup_sweep.sweep_table(first)
    assert [r["setting"] for r in rows] == list(first["settings"])
    assert rows[0]["recall"] == first["settings"]["chosen"]["planted"]["0"]["recall"]

    trained = []
    monkeypatch.setattr(
        dedup_sweep,
        "sweep_setting",
        lambda o, *a, **k: trained.append(o) or first["settings"]["chosen"],
    )
    again = dedup_sweep.run_sweep(size, None, out, (*settings, ("noise 8", {"noise_std": 8.0})))
    assert trained == [{"noise_std": 8.0}]  # only the new setting is trained
    assert again["settings"]["chosen"] == first["settings"]["chosen"]


def test_the_study_sizes_have_one_flag_and_the_old_one_still_works():
    from dcgan_lib.__main__ import parser

    for argv in (["dedup-study", "--size", "smoke"], ["dedup-study", "--mode", "smoke"]):
        a = parser().parse_args(argv)
        assert a.size == "smoke" and a.run.resolve() is study.run_cli
    assert parser().parse_args(["dedup-study"]).size == "full"
    assert set(study.SIZES) == {"smoke", "book", "full"}


def test_book_size_shows_the_stored_numbers_and_reads_only_the_shown_images(tmp_path):
    from _tinydata import cifar10

    from dcgan_lib.data import load_dataset

    stored = study.run_dedup_study(study.SIZES["book"], None)  # no data: the stored study
    assert not stored.recomputed and stored.planted is None and not stored.galleries
    assert (
        stored.metrics["planted"]
        == json.loads((study.artifacts_dir() / "dedup_ae/metrics.json").read_text())["planted"]
    )
    galleries = json.loads((study.artifacts_dir() / "dedup_ae/galleries.json").read_text())
    assert galleries and all("images" not in g for gs in galleries.values() for g in gs)
    # the galleries' images by name, each as the packed cache holds it, nothing else decoded
    cifar10(tmp_path / "data", n_train=6, n_test=4)
    pack = load_dataset(
        "cifar10", tmp_path / "data", "test", 32, tmp_path / "cache", progress=False
    )
    names = [f"cifar10:{pack.names[i]}" for i in (3, 1)] + ["cifar10:train/none.jpg"]
    found = study.images_named(names, (("cifar10", ("train", "test")),), tmp_path / "data")
    assert sorted(found) == sorted(names[:2])
    assert np.array_equal(found[names[0]], pack.images[3])
    assert np.array_equal(found[names[1]], pack.images[1])


def test_shown_images_come_from_the_packed_cache_when_it_is_built(tmp_path, monkeypatch):
    from _tinydata import cifar10

    import dcgan_lib.data
    from dcgan_lib.data import cached_dataset, load_dataset

    cifar10(tmp_path / "data", n_train=6, n_test=4)
    cache = tmp_path / "cache"
    assert cached_dataset("cifar10", tmp_path / "data", "test", 32, cache) is None  # not built
    pack = load_dataset("cifar10", tmp_path / "data", "test", 32, cache, progress=False)
    cached = cached_dataset("cifar10", tmp_path / "data", "test", 32, cache)
    assert cached is not None and cached.names == pack.names
    # with the cache built, nothing is decoded: the images are the cache's
    monkeypatch.setattr(dcgan_lib.data, "decode", lambda *a, **k: pytest.fail("decoded"))
    names = [f"cifar10:{pack.names[i]}" for i in (2, 0)]
    found = study.images_named(names, (("cifar10", ("test",)),), tmp_path / "data", cache)
    assert all(np.array_equal(found[n], pack.images[i]) for n, i in zip(names, (2, 0), strict=True))
    # without it, the archive is read (and decode is called)
    with pytest.raises(pytest.fail.Exception, match="decoded"):
        study.images_named(names, (("cifar10", ("test",)),), tmp_path / "data", tmp_path / "c2")
