"""The §6 pictures (dcgan_lib/plotting.py): what each figure holds, drawn from toy tensors, and that
it encodes as a PNG of the right kind."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan_lib import plotting as F6
from dcgan_lib.neighbours import Neighbours


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _shown(fig) -> list[np.ndarray]:
    """The arrays the figure shows, axes in order (every subfigure included)."""
    return [im.get_array() for ax in fig.get_axes() for im in ax.get_images()]


def test_rgb_maps_each_input_kind_to_unit_range():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 2, 2)
    np.testing.assert_allclose(F6.rgb(x)[0, 0], [0.0, 0.5, 1.0])  # CHW in [-1, 1] -> HWC
    u = np.full((2, 2, 3), 255, np.uint8)
    np.testing.assert_allclose(F6.rgb(u), 1.0)
    np.testing.assert_allclose(F6.rgb(np.full((2, 2, 3), 1.7)), 1.0)  # float clipped


def test_image_grid_places_each_image_and_leaves_short_rows_blank():
    x = _images(5)
    fig = F6.image_grid([list(x[:3]), list(x[3:])], "t", row_labels=["a", "b"])
    assert len(fig.get_axes()) == 6  # 2 rows x 3 columns
    shown = _shown(fig)
    assert len(shown) == 5  # the second row's third cell is blank
    np.testing.assert_allclose(shown[3], F6.rgb(x[3]))  # row 2, column 1
    assert fig.get_axes()[3].get_ylabel() == "b"


def test_walk_figure_has_one_row_per_segment_sharing_the_points():
    steps, points = 4, 3
    x = _images((points - 1) * steps + 1)
    fig = F6.walk_figure(x, steps)
    shown = _shown(fig)
    assert len(shown) == (points - 1) * (steps + 1)
    np.testing.assert_allclose(shown[steps], shown[steps + 1])  # row 1's last = row 2's first


def test_equation_and_direction_and_before_after_figures():
    ex = {
        "exemplars": _images(9).view(3, 3, 3, 16, 16),
        "means": _images(3, 1),
        "z_result": _images(9, 2),
        "pixel_result": _images(1, 3)[0],
    }
    fig = F6.equation_figure("a - b + c", ["a", "b", "c"], ex, [True] + [False] * 8, True)
    assert len(_shown(fig)) == 12 + 9 + 1
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert "Y ✓" in titles and titles.count("+ noise ✗") == 8 and "pixel space ✓" in titles
    # Fig. 7: "The center sample on the right hand side" is Y, its 8 noisy neighbours around it
    grid = fig.get_axes()[12:21]  # the 3 x 3 grid, in reading order
    np.testing.assert_allclose(grid[4].get_images()[0].get_array(), F6.rgb(ex["z_result"][0]))
    assert grid[4].get_title() == "Y ✓" and grid[4].spines["top"].get_visible()
    others = [a.get_images()[0].get_array() for i, a in enumerate(grid) if i != 4]
    for got, want in zip(others, ex["z_result"][1:], strict=True):  # the rest in reading order
        np.testing.assert_allclose(got, F6.rgb(want))
    assert F6.grid_order() == [4, 0, 1, 2, 3, 5, 6, 7, 8]
    assert all(a.title.get_fontsize() >= 10 for a in fig.get_axes() if a.get_title())
    d = F6.direction_figure(_images(6).view(2, 3, 3, 16, 16), [-1, 0, 1], "turn")
    assert len(_shown(d)) == 6 and "α = -1.00" in [ax.get_title() for ax in d.get_axes()]
    assert all(a.title.get_fontsize() >= 10 for a in d.get_axes() if a.get_title())
    u = (np.random.default_rng(0).random((2, 16, 16, 3)) * 255).astype(np.uint8)
    b = F6.before_after_figure("x", u, u[:1], u)
    assert len(_shown(b)) == 5
    labels = [ax.get_ylabel() for ax in b.get_axes() if ax.get_ylabel()]
    assert labels == ["unmodified", "object maps\ndropped", "random maps\ndropped"]
    assert all(ax.yaxis.label.get_fontsize() >= 10 for ax in b.get_axes() if ax.get_ylabel())
    row = F6.labelled_row(list(_images(3)), ["a", "b", "c"], "t")
    assert [ax.get_title() for ax in row.get_axes()] == ["a", "b", "c"] and len(_shown(row)) == 3


def test_forgetting_rates_figure_marks_each_entry_and_the_rare_ones():
    entries = {
        "Smiling": {"rate_before": 0.6, "rate_dropped": 0.4, "rate_random": [0.3, 0.5]},
        "Eyeglasses": {"rate_before": 0.013, "rate_dropped": 0.13, "rate_random": [0.0, 0.1]},
    }
    fig = F6.forgetting_rates_figure(entries, min_shown=20, n_eval=1000)
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Smiling", "Eyeglasses (too rare)"]
    dots = {
        ln.get_label(): ln.get_xydata()
        for ln in ax.get_lines()
        if not ln.get_label().startswith("_")
    }
    np.testing.assert_allclose(dots["unmodified"], [[0.6, 0]])
    np.testing.assert_allclose(dots["its own maps dropped"], [[0.4, 0]])
    np.testing.assert_allclose(dots["random maps dropped (range, draws)"], [[0.3, 0], [0.5, 0]])
    assert "1,000 fresh samples" in ax.get_xlabel()


def test_guided_maps_figure_puts_the_random_d_first():
    maps = {
        "trained": [np.full((2, 8, 8, 3), 0.9)] * 3,
        "random": [np.full((2, 8, 8, 3), 0.1)] * 3,
    }
    fig = F6.guided_maps_figure("t", maps, [0, 1, 2])
    shown = _shown(fig)
    assert len(shown) == 12
    assert shown[0].max() == pytest.approx(0.1)  # the random baseline first (Fig. 5's left)
    assert shown[-1].max() == pytest.approx(0.9)
    # one panel per row: the trained D's panel lies wholly below the random D's, and each is the
    # figure's full width (its maps span the same columns)
    fig.canvas.draw()
    boxes = [ax.get_window_extent() for ax in fig.get_axes()]  # pixels of the whole figure
    random_axes, trained_axes = boxes[:6], boxes[6:]
    assert max(b.y0 for b in random_axes) > min(b.y1 for b in random_axes) > 0  # 3 rows
    assert min(b.y0 for b in random_axes) > max(b.y1 for b in trained_axes)
    assert [round(b.x0, 3) for b in random_axes[:2]] == [round(b.x0, 3) for b in trained_axes[:2]]
    labels = [ax.get_ylabel() for ax in fig.get_axes() if ax.get_ylabel()]
    assert labels == ["feature 0", "feature 1", "feature 2"] * 2
    assert all(ax.yaxis.label.get_fontsize() >= 10 for ax in fig.get_axes() if ax.get_ylabel())


def test_image_grid_labels_take_the_font_size_asked_for():
    x = _images(4)
    fig = F6.image_grid(
        [list(x[:2]), list(x[2:])], "t", ["a", "b"], [["1", "2"], ["3", "4"]], fontsize=10
    )
    assert {ax.title.get_fontsize() for ax in fig.get_axes()} == {10}
    assert {ax.yaxis.label.get_fontsize() for ax in fig.get_axes() if ax.get_ylabel()} == {10}
    small = F6.image_grid([list(x[:2])], "t", ["a"])  # the default is unchanged
    assert small.get_axes()[0].yaxis.label.get_fontsize() == 6
    walk = F6.walk_figure(_images(9), 4)  # §6.1's figure reads at 10 px or more at 80 dpi
    assert walk.get_axes()[0].yaxis.label.get_fontsize() >= 9


def test_png_bytes_and_step_plot():
    fig = F6.step_plot([0.1, 0.2, 0.1, 0.3], 0.7, 2)
    line = fig.get_axes()[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [0.1, 0.2, 0.1, 0.3])
    img = Image.open(io.BytesIO(F6.png_bytes(fig)))
    assert img.format == "PNG" and img.size[0] > 300


def test_neighbours_figure_shows_each_sample_then_its_neighbours_read_from_the_data():
    ref = (np.random.default_rng(1).random((6, 16, 16, 3)) * 255).astype(np.uint8)
    found = Neighbours(np.array([[4, 1], [0, 5]]), np.array([[0.1, 0.25], [0.0, 0.5]]), "pixel")
    fig = F6.neighbours_figure(_images(2), found, ref, rows=2)
    shown = _shown(fig)
    assert len(shown) == 6
    np.testing.assert_allclose(shown[1], ref[4] / 255)  # row 1: sample, then images 4 and 1
    np.testing.assert_allclose(shown[5], ref[5] / 255)
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert titles[:3] == ["sample", "0.100", "0.250"] and titles[4:6] == ["0.000", "0.500"]


def test_bands_figure_draws_each_attribute_with_its_stored_box():
    band = {"mean_with": np.full((8, 8, 3), 0.5), "difference": np.eye(8), "n_with": 7}
    fig = F6.bands_figure(
        {"Smiling": band, "Male": band}, {"Smiling": (1, 2, 5, 4), "Male": (0, 0, 8, 8)}
    )
    axes = fig.get_axes()
    assert len(axes) == 4 and axes[0].get_title() == "smiling:\nmean of 7"
    assert all(ax.title.get_fontsize() >= 10 for ax in axes)
    box = axes[1].patches[0]
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (0.5, 1.5, 4, 2)
