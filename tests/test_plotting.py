"""The shared figures draw exactly the data they are given."""

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan_lib import plotting

METRICS = [
    {"step": s, "loss_d": 1.0 + s / 100, "loss_g": 5.0 - s / 100, "d_real": 0.8, "d_fake": 0.2}
    for s in (50, 100, 150)
]


def test_image_files_show_each_stored_grid_under_its_title(tmp_path):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        paths.append(tmp_path / f"g{i}.png")
        Image.new("RGB", (20, 10), colour).save(paths[-1])
    fig = plotting.image_files([(paths[0], "after 1 epoch"), (paths[1], "end")])
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["after 1 epoch", "end"]
    shown = axes[1].get_images()[0].get_array()
    assert (
        shown.shape == (10, 20, 3) and (shown[..., 2] == 255).all() and (shown[..., 0] == 0).all()
    )
    with pytest.raises(ValueError, match="no images"):
        plotting.image_files([])


def test_sample_grid_places_each_image_in_reading_order():
    x = torch.full((5, 3, 4, 4), -1.0)
    x[3] = 1.0  # the fourth image is white: row 1, column 1 with nrow=3
    grid = plotting.sample_grid(x, nrow=3, pad=2)
    assert grid.shape == (2 * 6 + 2, 3 * 6 + 2, 3)
    assert grid.min() == 0 and grid.max() == 1
    white = np.argwhere(grid[..., 0] == 1)
    assert white.min(0).tolist() == [8, 2] and white.max(0).tolist() == [11, 5]
    with pytest.raises(ValueError, match=r"\(N, C, S, S\)"):
        plotting.sample_grid(x[0])


def test_samples_figure_shows_the_grid():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    ax = plotting.samples(x, nrow=2, title="fresh").get_axes()[0]
    assert ax.get_title() == "fresh"
    assert np.allclose(ax.get_images()[0].get_array(), plotting.sample_grid(x, nrow=2))


def test_training_curves_plot_losses_and_d_outputs():
    left, right = plotting.training_curves(METRICS).get_axes()
    lines = {ln.get_label(): ln for ln in left.get_lines() + right.get_lines()}
    assert set(lines) == {"loss D", "loss G", "D(x)", "D(G(z))"}
    assert list(lines["loss G"].get_xdata()) == [50, 100, 150]
    assert list(lines["loss G"].get_ydata()) == [4.5, 4.0, 3.5]
    assert list(lines["D(G(z))"].get_ydata()) == [0.2, 0.2, 0.2]
    assert right.get_ylim() == (0, 1)
    with pytest.raises(ValueError):
        plotting.training_curves([])


def test_diagnostics_drop_repeated_steps():
    diag = [
        {"step": 78, "sample_diversity": 0.05},
        {"step": 1950, "sample_diversity": 0.5},
        {"step": 1950, "sample_diversity": 0.5},  # the final grid is logged twice by some runs
    ]
    left, right = plotting.diagnostics({"run": (diag, METRICS)}).get_axes()
    assert list(left.get_lines()[0].get_xdata()) == [78, 1950]
    assert list(right.get_lines()[0].get_ydata()) == [0.2, 0.2, 0.2]


def _step():
    rate = {"a": (100.0, 200.0, 400.0), "b": (1000.0, 1500.0, 5000.0)}
    return {
        "batch_size": 128,
        "device": "cuda",
        "gpu": "Test GPU",
        "configs": {
            n: {
                "engines": {
                    loop: {"img_per_s": r} for loop, r in zip(plotting.LOOPS, rs, strict=True)
                }
            }
            for n, rs in rate.items()
        },
    }


def test_throughput_bars_have_the_measured_heights():
    ax = plotting.throughput_bars(_step()).get_axes()[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [100.0, 1000.0, 200.0, 1500.0, 400.0, 5000.0]  # loop by loop
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert "Test GPU" in ax.get_title() and "batch 128" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(plotting.LOOPS)


def test_engine_curves_one_line_per_run_and_key():
    runs = [
        {"engine": e, "seed": s, "metrics": [{"step": 50, "loss_d": s + i, "loss_g": 2.0}]}
        for i, (e, s) in enumerate([("eager", 1), ("fast", 1), ("eager", 2)])
    ]
    axes = plotting.engine_curves({"runs": runs}).get_axes()
    assert [ax.get_title() for ax in axes] == ["loss D", "loss G"]
    lines = axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["eager, seed 1", "fast, seed 1", "eager, seed 2"]
    assert [ln.get_linestyle() for ln in lines] == ["-", "--", "-"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert [ln.get_ydata()[0] for ln in lines] == [1, 2, 4]


def test_fid_panels_draw_the_mean_each_seed_and_the_comparable_references():
    panels = [
        {"title": "FID-10k/a", "bars": [("x", [10.0, 14.0]), ("y", [20.0])],
         "lines": [("ref", 15.0)]},
        {"title": "pair", "bars": [("held-out", [30.0]), ("training", [31.0])], "lines": []},
    ]  # fmt: skip
    left, right = plotting.fid_panels(panels).get_axes()
    assert [p.get_height() for p in left.patches] == [12.0, 20.0]
    dots = [list(ln.get_ydata()) for ln in left.get_lines() if ln.get_marker() == "o"]
    assert dots == [[10.0, 14.0], [20.0]]
    (ref,) = [ln for ln in left.get_lines() if ln.get_linestyle() == "--"]
    assert list(ref.get_ydata()) == [15.0, 15.0]
    assert left.get_title() == "FID-10k/a" and right.get_legend() is None
    assert [t.get_text() for t in right.get_xticklabels()] == ["held-out", "training"]
    with pytest.raises(ValueError, match="no FID"):
        plotting.fid_panels([])


def test_stacked_grids_cut_rows_and_keep_the_pixel_size(tmp_path):
    path = tmp_path / "grid.png"
    grid = np.zeros((8 * 6 + 2, 8 * 6 + 2, 3), np.uint8)  # 8 x 8 tiles of 4 px, 2 px apart
    grid[2:6, 2:6] = 255  # the first tile is white
    Image.fromarray(grid).save(path)
    fig = plotting.stacked_grids([(path, "end"), (path, "start")], tile_rows=2, scale=2)
    axes = fig.get_axes()
    assert [ax.get_title(loc="left") for ax in axes] == ["end", "start"]
    shown = axes[0].get_images()[0].get_array()
    assert shown.shape == (2 * 6 + 2, 50, 3) and (shown[2:6, 2:6] == 255).all()
    assert fig.get_figwidth() == pytest.approx(50 * 2 / 80)
    assert axes[0].get_position().y0 > axes[1].get_position().y0  # the first on top
    with pytest.raises(ValueError, match="no images"):
        plotting.stacked_grids([])
