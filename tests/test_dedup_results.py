"""The §4.1.1 page's readers (dcgan_lib/studies/dedup_results.py): the bound on the false pairs,
tables shaped to read, the key figure and its found/missed marks. Test-made numbers and images."""

import numpy as np
import pytest

from dcgan_lib import dedup
from dcgan_lib import near_duplicates as nd
from dcgan_lib.studies import dedup as study
from dcgan_lib.studies import dedup_results as results


def _scores(recall: float, pairs: int, other: int) -> dict:
    kinds = {k: recall for k in nd.TRANSFORMS}
    return {
        "n_images": 1000,
        "n_planted": 100,
        "predicted_pairs": pairs,
        "true_positives": pairs - other,
        "other_pairs": other,
        "recall": recall,
        "recall_by_kind": kinds,
        "precision_strict": (pairs - other) / pairs,
        "precision": 1.0,
    }


PLANTED = {
    "sets": [["tinyimagenet", "val"], ["cifar10", "test"]],
    "autoencoder": {"0": _scores(0.4, 1242, 0), "1": _scores(0.5, 1600, 3)},
    "phash": {"0": _scores(0.5, 1500, 5)},
    "judge": {"threshold": 0.45, "planted_below": 0.99, "random_below": 0.0},
}


def _natural(judged: int, duplicate: int) -> dict:
    x = {
        "groups": judged,
        "images_in_groups": 2 * judged,
        "removed": judged,
        "largest_group": 2,
        "identical_pairs": 0,
        "cross_split_groups": 1,
        "cross_class_groups": None,
        "heldout_in_groups": 1,
        "judged_pairs": judged,
        "judged_duplicate": duplicate,
    }
    return {"n_images": 1000, "n_heldout": 100, "autoencoder": {"0": x}, "phash": {"0": x}}


def test_false_positives_bound_comes_from_the_counts():
    fp = results.false_positives(PLANTED["autoencoder"]["0"])
    assert fp["false"] == 0 and fp["pairs"] == 1242
    assert 0.002 < fp["bound"] < 0.0025  # one-sided 95%: far below 1 in 100
    assert results.false_positives(_scores(0.4, 31, 0))["bound"] > 0.05  # too few to say


def test_readings_state_the_bound_and_why_natural_collisions_cannot():
    r = results.readings(
        {"planted": PLANTED, "natural": {"a": _natural(4, 4), "b": _natural(27, 27)}}
    )
    assert (r["ae_false_r0"], r["ae_pairs_r0"], r["ae_fp_bound_r0"]) == ("0", "1,242", "0.22%")
    assert (r["natural_false_r0"], r["natural_judged_r0"]) == ("0", "31")
    assert r["natural_fp_bound_r0"] == "8%" and r["confidence"] == "95%"
    assert results.readings({})["ae_fp_bound_r0"] is None  # not produced: left out


def test_tables_have_few_columns_and_quantities_down_the_side():
    rows = results.planted_rows(PLANTED)
    assert [r["hash"] for r in rows] == ["autoencoder (128 bits)"] * 2 + ["pHash (64 bits)"]
    assert rows[0]["false (bound, 95%)"] == "0 (0.22%)" and len(rows[0]) == 7
    kinds = results.kind_rows(PLANTED)
    assert list(kinds[0]) == ["hash", "all", *nd.TRANSFORMS]
    nat = results.natural_rows(_natural(4, 3))
    assert [r[""] for r in nat] == list(results.NATURAL_QUANTITIES)
    assert set(nat[0]) == {"", "autoencoder, radius 0", "pHash, radius 0"}
    assert nat[-1]["autoencoder, radius 0"] == "3 of 4"


def test_sweep_rows_and_the_note_on_shared_settings():
    config = {"standardize": True, "noise_std": 4.0, "dropout": 0.5, "lr": 3e-4}
    scores = {"0": _scores(0.4, 100, 0), "2": _scores(0.6, 150, 2)}
    sweep = {
        "size": {"radii": [0, 2]},
        "settings": {
            "chosen: noise 4": {"config": config, "planted": scores},
            "noise 8": {"config": config | {"noise_std": 8.0}, "planted": scores},
        },
    }
    rows = results.sweep_rows(sweep)
    assert [r["setting"] for r in rows] == ["chosen: noise 4", "noise 8"]
    assert list(rows[0]) == [
        "setting", "recall", "precision", "brightness recall", "recall, radius 2",
        "precision, radius 2",
    ]  # fmt: skip
    assert results.sweep_note(sweep) == (
        "Unless its name says otherwise, a setting standardizes its input and trains at lr 0.0003."
    )
    assert results.config_text(True) == "yes" and results.config_text(3e-4) == "0.0003"


def test_key_figure_draws_each_kind_for_each_hash_and_the_examples():
    fig = results.key_figure(PLANTED)
    (ax,) = fig.axes
    n_kinds = len(nd.TRANSFORMS) + 1  # and "all kinds"
    assert len(ax.patches) == 2 * n_kinds  # autoencoder and pHash bars
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "all kinds"
    assert "0 false of 1,242" in fig._suptitle.get_text()
    examples = [
        {"kind": k, "original": np.zeros((8, 8, 3), np.uint8), "copy": np.zeros((8, 8, 3), np.uint8),
         "found": i % 2 == 0}
        for i, k in enumerate(nd.TRANSFORMS)
    ]  # fmt: skip
    fig = results.key_figure(PLANTED, examples)
    assert sum(len(a.images) for a in fig.axes) == 2 * len(nd.TRANSFORMS)
    assert results.sets_text(PLANTED["sets"]) == "Tiny ImageNet val and CIFAR-10 test"
    assert results.sets_text(["made_images"]) == "test-made images"


@pytest.fixture(scope="module")
def model():
    m, _ = dedup.train_autoencoder(
        study.SIZES["smoke"].ae, study.made_images(500, seed=1), progress=False
    )
    return m


def test_key_examples_mark_found_exactly_when_the_codes_are_equal(model):
    planted = nd.plant_duplicates(study.made_images(60, seed=2), 30, seed=0)
    examples = results.key_examples(planted, model)
    assert [e["kind"] for e in examples] == list(nd.TRANSFORMS)
    codes = dedup.image_codes(model, planted.images)
    for e in examples:
        k = planted.kind.index(e["kind"])
        a, b = int(planted.source[k]), planted.n_base + k
        assert np.array_equal(e["original"], planted.images[a])
        assert np.array_equal(e["copy"], planted.images[b])
        assert e["found"] == bool(np.array_equal(codes[a], codes[b]))


def test_the_key_caption_ranks_the_kinds_from_the_recall_it_is_given():
    from dcgan_lib.studies import dedup_results as r

    text = r.kinds_sentence({"shift": 0.02, "brightness": 0.9, "crop": 0.05, "contrast": 0.7})
    assert text == (
        "Found most often: brightness (90%) and contrast (70%); least often: shift (2%) and "
        "crop (5%)."
    )
    assert r.kinds_sentence({"shift": 0.5}) == ""
    assert "{kinds}" in r.KEY_CAPTION and "almost never" not in r.KEY_CAPTION
