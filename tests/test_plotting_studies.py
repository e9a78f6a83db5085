"""The display helpers of pages 01, 03 and 05 (dcgan_lib.plotting): what each figure draws."""

import numpy as np
import torch

from dcgan_lib import plotting


def test_loss_per_epoch_and_seconds_against_n():
    fig = plotting.loss_per_epoch([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}], "MSE")
    (line,) = fig.axes[0].get_lines()
    assert list(line.get_xdata()) == [1, 2] and list(line.get_ydata()) == [2.0, 1.0]
    rows = [{"n": 10, "a": 1.0, "b": 2.0}, {"n": 20, "a": 2.0}]  # b not measured at 20
    fig = plotting.seconds_against_n(rows, {"a": "hash", "b": "group"}, "cpu")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["hash", "group"]
    assert np.isnan(lines[1].get_ydata()[1])


def test_image_figures_draw_each_image_once():
    images = np.zeros((4, 8, 8, 3), np.uint8)
    fig = plotting.planted_examples(images, [(0, 2, "jpeg"), (1, 3, "shift")])
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "jpeg"
    groups = [{"images": images[:3], "names": ["a", "b", "c"], "distance": [0.0, 0.1, 0.2]}]
    fig = plotting.image_groups(groups * 2, "two groups", per_row=2, width=4)
    assert sum(len(ax.images) for ax in fig.axes) == 6


def test_search_trials_and_init_histograms():
    fig = plotting.search_trials({"a": [{"lr": 1e-3, "val_error": 30.0}], "b": []})
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].collections) == 2
    torch.manual_seed(0)  # the title's std is rounded: not at the mercy of earlier tests' draws
    w = torch.randn(10_000) * 0.02
    fig = plotting.init_histograms(w, 1 + 0.02 * torch.randn(100), std=0.02)
    assert len(fig.axes) == 2 and "std 0.02" in fig.axes[0].get_title()
