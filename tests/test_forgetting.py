"""Forgetting to draw objects (dcgan_lib/forgetting.py, paper §6.3.1): boxes to feature-map cells,
the sampled positives and negatives, the regression finds planted maps, dropped maps are zero
everywhere and nothing else changes, the box file format, the band measurement, the study
(dcgan_lib/studies/forgetting.py) and its command."""

import json

import numpy as np
import pytest
import torch

from dcgan_lib import forgetting as F
from dcgan_lib import toys
from dcgan_lib.__main__ import main
from dcgan_lib.checkpoint import save_weights
from dcgan_lib.config import get_model_config
from dcgan_lib.models import Generator, generate, sample_z
from dcgan_lib.studies import forgetting as SF


def test_feature_mask_maps_pixel_boxes_to_cells():
    m = F.feature_mask([(0, 0, 4, 4)], 64, 32)  # stride 2: cells 0-1 have centres 1 and 3
    assert m.sum() == 4 and m[:2, :2].all()
    m = F.feature_mask([(19, 30, 45, 40)], 64, 32)  # centres 19, 21, ..., 43 and 31, ..., 39
    assert m.sum() == 13 * 5
    rows, cols = np.nonzero(m)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (15, 19, 9, 21)
    m = F.feature_mask([(10.2, 20.2, 10.8, 20.8)], 64, 32)  # holds no centre: its centre's cell
    assert m.sum() == 1 and m[10, 5]
    m = F.feature_mask([(60, 60, 64, 64), (0, 0, 64, 2)], 64, 16)  # two boxes, stride 4
    assert m[15, 15] and m[0].all() and m.sum() == 16 + 1


def test_sample_locations_positives_inside_negatives_outside():
    n, c, h = 3, 5, 8
    feats = torch.arange(n * c * h * h, dtype=torch.float32).view(n, c, h, h)
    boxes = [[(0, 0, 16, 16)], [(32, 32, 64, 48), (0, 56, 8, 64)], []]  # image 64, stride 8
    X, y, img = F.sample_locations(feats, boxes, 64, neg_per_pos=2.0)
    masks = [F.feature_mask(b, 64, h) for b in boxes[:2]]
    assert (y[img == 0] == 1).sum() == 4 and (y[img == 1] == 1).sum() == 8 + 1
    assert (y[img == 0] == 0).sum() == 8 and (y[img == 1] == 0).sum() == 18
    assert (y[img == 2] == 1).sum() == 0 and (y[img == 2] == 0).sum() == 13  # 2 x mean(4, 9)
    for i in range(3):
        vecs = feats[i].permute(1, 2, 0).reshape(-1, c).numpy()
        cells = [int(np.flatnonzero((vecs == row).all(1))[0]) for row in X[img == i]]
        labels = y[img == i]
        inside = masks[i].ravel()[cells] if i < 2 else np.zeros(len(cells), bool)
        assert (inside == (labels == 1)).all()  # positives inside, negatives outside
        neg = [cl for cl, lab in zip(cells, labels, strict=True) if lab == 0]
        assert len(set(neg)) == len(neg)  # without replacement
    with pytest.raises(ValueError, match="box lists"):
        F.sample_locations(feats, boxes[:2], 64)


def planted_boxes(G: toys.PlantedGenerator, n: int = 40) -> F.BoxSet:
    z = sample_z(400, G.cfg, generator=torch.Generator().manual_seed(0))
    z = z[z[:, 0] > 0.3][:n]  # the samples that show the planted object
    return F.BoxSet(z, [[G.band]] * len(z), 64, [], "bar")


def test_regression_picks_the_planted_maps():
    G = toys.PlantedGenerator(n_maps=24, planted=(4, 17))
    reg = F.fit_from_boxes(G, planted_boxes(G))
    assert set(G.planted) <= set(reg.maps.tolist())
    assert set(np.argsort(reg.weights)[-2:]) == set(G.planted)  # the largest weights
    assert len(reg.maps) < 24 and reg.train_accuracy > 0.95 and reg.heldout_accuracy > 0.95
    # dropping them removes the object
    z = sample_z(64, G.cfg, generator=torch.Generator().manual_seed(1))
    judge = toys.toy_judge(G.band)
    before = judge.predict(generate(G, z))[:, 0] > 0.5
    after = judge.predict(generate(F.DroppedGenerator(G, reg.maps), z))[:, 0] > 0.5
    assert before.sum() >= 10 and after.sum() == 0


def test_contrast_regression_uses_the_same_cells_without_the_object():
    G = toys.PlantedGenerator(n_maps=24, planted=(4, 17))
    with_obj = planted_boxes(G, 30)
    z = sample_z(400, G.cfg, generator=torch.Generator().manual_seed(3))
    without = z[z[:, 0] < 0][:30]  # planted maps are off everywhere
    reg = F.fit_contrast(G, with_obj, without)
    cells = F.feature_mask([G.band], 64, 32).sum()
    assert reg.n_positive == reg.n_negative == 30 * cells  # the box's cells, both sides
    assert set(np.argsort(reg.weights)[-2:]) == set(G.planted)
    assert reg.heldout_accuracy > 0.95
    # the held-out images hold both kinds: a regression with no signal scores near chance there
    noise = F.fit_contrast(G, planted_boxes(G, 30), z[z[:, 0] > 0.3][30:60])
    assert 0.2 < noise.heldout_accuracy < 0.8


def test_dropped_maps_are_zero_everywhere_and_only_there():
    torch.manual_seed(0)
    G = Generator(get_model_config("smoke64")).eval()
    idx = F.split_index(G, -2)
    seen = []
    G.blocks[idx + 1].register_forward_pre_hook(lambda m, inp: seen.append(inp[0].clone()))
    z = sample_z(6, G.cfg, generator=torch.Generator().manual_seed(2))
    maps = [1, 5]
    with torch.no_grad():
        full = F.forward_to(G, z)
        dropped = generate(F.DroppedGenerator(G, maps), z)
    h = seen[-1]
    assert h.shape == full.shape == (6, 8, 32, 32)
    assert (h[:, maps] == 0).all()
    keep = [c for c in range(8) if c not in maps]
    assert torch.equal(h[:, keep], full[:, keep])
    assert (full[:, maps] != 0).any()  # they were not zero before
    assert not torch.allclose(dropped, generate(G, z))
    torch.testing.assert_close(generate(F.DroppedGenerator(G, []), z), generate(G, z))
    with torch.no_grad():  # the split path is the same computation
        torch.testing.assert_close(F.forward_from(G, F.forward_to(G, z), -2, maps), dropped)
    with pytest.raises(ValueError, match="output block"):
        F.DroppedGenerator(G, maps, layer=-1)
    with pytest.raises(ValueError, match="map indices"):
        F.forward_from(G, full, -2, [8])


def test_box_file_round_trip_and_errors(tmp_path):
    cfg = get_model_config("smoke64")
    z = torch.rand(1, cfg.nz) * 2 - 1
    obj = {
        "format": F.FORMAT,
        "object": "window",
        "image_size": 64,
        "nz": cfg.nz,
        "scale": 4,
        "samples": [
            {"seed": 7, "boxes": [[40, 80, 120, 160]]},
            {"z": z[0].tolist(), "boxes": []},
        ],
    }
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(obj))
    bs = F.parse_boxes(path, cfg)
    assert bs.boxes == [[(10.0, 20.0, 30.0, 40.0)], []]  # divided by the annotation scale
    torch.testing.assert_close(bs.z[0], F.z_from_seed(7, cfg))
    torch.testing.assert_close(bs.z[1], z[0])
    again = F.parse_boxes(bs.to_json(), cfg)
    assert again.boxes == bs.boxes and torch.equal(again.z, bs.z) and again.object == "window"

    def bad(change: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            F.parse_boxes({**obj, **change}, cfg)

    bad({"format": "x"}, "format")
    bad({"nz": 100}, "nz")
    bad({"image_size": 32}, "32px")
    bad({"samples": [{"seed": 1, "z": z[0].tolist(), "boxes": []}]}, "exactly one")
    bad({"samples": [{"seed": 1, "boxes": [[0, 0, 300, 10]]}]}, "sample 0, box 0")
    bad({"samples": [{"seed": 1, "boxes": [[8, 0, 4, 10]]}]}, "empty")
    bad({"samples": [{"z": [0.0] * 3, "boxes": [[0, 0, 4, 4]]}]}, "finite numbers")
    bad({"samples": [{"seed": 1, "boxes": []}]}, "no sample has a box")


def test_annotation_images_and_skeleton(tmp_path):
    G = toys.PlantedGenerator()
    path = F.write_annotation_images(G, [3, 4], tmp_path, scale=2, obj="bar")
    assert (tmp_path / "seed_000003.png").exists() and (tmp_path / "seed_000004.png").exists()
    skeleton = json.loads(path.read_text())
    skeleton["samples"][0]["boxes"] = [[32, 52, 96, 76]]
    bs = F.parse_boxes(skeleton, G.cfg)
    assert bs.boxes[0] == [(16.0, 26.0, 48.0, 38.0)] and bs.seeds == [3, 4]


def test_attribute_band_finds_a_planted_region():
    rng = np.random.default_rng(0)
    imgs = rng.integers(60, 120, size=(200, 64, 64, 3)).astype(np.uint8)
    has = np.arange(200) % 4 == 0
    imgs[has, 30:40, 20:44] = 250
    assert F.attribute_band(imgs, has) == (20, 30, 44, 40)
    with pytest.raises(ValueError):
        F.attribute_band(imgs, np.ones(200, bool))


def test_study_on_the_planted_toy():
    cfg = SF.ForgettingConfig(
        objects=("Red_Bar",), n_pool=200, n_annotated=40, n_eval=100, n_random=2, n_figure=3,
        batch_size=50,
    )  # fmt: skip
    G = toys.PlantedGenerator()
    result = SF.run_forgetting_study(cfg, G, toys.toy_judge(G.band))
    assert set(result.metrics["objects"]) == {"Red_Bar", "Red_Bar, contrast"}
    for m in result.metrics["objects"].values():
        assert m["n_annotated"] == 40 and set(G.planted) <= set(m["regression"]["maps"])
        assert m["rate_dropped"] == 0
    m = result.metrics["objects"]["Red_Bar"]
    assert m["rate_before"] > 0.3 and m["rate_dropped"] == 0 and m["kept_dropped"] == 0
    assert len(m["rate_random"]) == 2 and m["change_inside_dropped"] > m["change_outside_dropped"]
    assert result.metrics["layer_shape"] == [16, 32, 32]
    figs = result.figures["Red_Bar"]
    assert figs["before"].shape == figs["dropped"].shape == (3, 64, 64, 3)
    json.dumps(result.metrics)  # writable as JSON
    json.dumps(result.boxes["Red_Bar"].to_json())
    # what a page reads back: the fitted weights (the dropped maps are those above 0) and the
    # annotated samples' seeds (the box file can be written again from them)
    r = m["regression"]
    assert r["maps"] == [i for i, w in enumerate(r["weights"]) if w > 0]
    assert m["annotated_seeds"] == result.boxes["Red_Bar"].seeds
    figs = SF.study_figures(result)
    assert sorted(figs) == ["red_bar.png", "red_bar_contrast.png"]
    assert SF.figure_name("Eyeglasses, contrast") == "eyeglasses_contrast.png"
    rare = SF.run_forgetting_study(
        SF.ForgettingConfig(objects=("Red_Bar",), n_pool=50, n_eval=20, min_annotated=1000),
        G,
        toys.toy_judge(G.band),
    )  # an object G (almost) never draws is skipped, and says why
    assert "only" in rare.metrics["objects"]["Red_Bar"]["skipped"] and not rare.figures
    with pytest.raises(ValueError, match="cannot judge"):
        SF.run_forgetting_study(SF.ForgettingConfig(objects=("Eyeglasses",)), G, toys.toy_judge())


def test_cli_annotate_then_fit(tmp_path, capsys):
    torch.manual_seed(0)
    save_weights(Generator(get_model_config("smoke64")), tmp_path / "G.pt")
    g = str(tmp_path / "G.pt")
    assert (
        main(
            [
                "forgetting",
                "annotate",
                "--generator",
                g,
                "--seeds",
                "0-9",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    path = tmp_path / "b" / "boxes.json"
    obj = json.loads(path.read_text())
    for s in obj["samples"]:  # scale 4: a box over the top-left quarter of each sample
        s["boxes"] = [[0, 0, 128, 128]]
    path.write_text(json.dumps(obj))
    out = tmp_path / "drop.json"
    assert (
        main(["forgetting", "fit", "--generator", g, "--boxes", str(path), "--out", str(out)]) == 0
    )
    fitted = json.loads(out.read_text())
    assert fitted["n_maps"] == 8 and fitted["n_positive"] == 10 * 16 * 16
    assert fitted["n_dropped"] == len(fitted["maps"])
    # an error the user can fix: one line, status 2
    assert (
        main(["forgetting", "fit", "--generator", g, "--boxes", str(tmp_path / "none.json")]) == 2
    )
    assert "error:" in capsys.readouterr().err


def test_g_is_split_before_its_output_block_only():
    G = Generator(get_model_config("smoke64"))
    n = len(G.blocks)
    assert F.split_index(G, -2) == n - 2 and F.split_index(G, 0) == 0
    for layer in (-1, n - 1, n, -n - 1):  # the output block, or no block at all
        with pytest.raises(ValueError):
            F.split_index(G, layer)
