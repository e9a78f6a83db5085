"""Real beside generated (§4): drawn from the data root when the data is there (test-made CelebA
files here), a sentence saying where the real grid appears when it is not."""

import numpy as np
import torch
from _tinydata import celeba

from dcgan_lib import real_grid
from dcgan_lib.data import load_dataset
from dcgan_lib.plotting import html_figure


def test_real_images_are_a_random_draw_from_the_whole_split(tmp_path):
    celeba(tmp_path / "data", n=40)
    cache = tmp_path / "cache"
    real = real_grid.real_images("celeba", tmp_path / "data", 64, n=16, seed=3, cache_dir=cache)
    packed = load_dataset("celeba", tmp_path / "data", "train", 64, cache, progress=False)
    assert real.shape == (16, 64, 64, 3) and real.dtype == np.uint8
    rows = {packed.images[i].tobytes(): i for i in range(len(packed))}
    picked = [rows[r.tobytes()] for r in real]  # every one is a training image
    assert len(set(picked)) == 16 and max(picked) > 16  # not just the first 16
    again = real_grid.real_images("celeba", tmp_path / "data", 64, n=16, seed=3, cache_dir=cache)
    assert np.array_equal(real, again)


def test_the_pair_sits_side_by_side_with_the_same_layout(tmp_path):
    celeba(tmp_path / "data", n=40)
    x = torch.rand(16, 3, 64, 64) * 2 - 1
    fig = real_grid.real_beside_generated(
        x, "celeba", tmp_path / "data", n=16, generated_title="generated: tiny", cache_dir=tmp_path
    )
    left, right = fig.axes
    assert left.get_title() == "real: 16 random CelebA-10k train images (64 px)"
    assert right.get_title() == "generated: tiny"
    a, b = left.images[0].get_array(), right.images[0].get_array()
    assert a.shape == b.shape == (2 * 66 + 2, 8 * 66 + 2, 3)
    assert left.get_position().x1 <= right.get_position().x0  # real left of generated
    html = html_figure(fig, real_grid.CSS_CLASS, alt="real beside generated")
    assert html.startswith('<figure class="dcgan-real-generated"><img src="data:image/png;base64,')


def test_without_the_data_the_page_says_where_the_real_grid_appears(tmp_path):
    x = torch.zeros(4, 3, 64, 64)
    text = real_grid.real_beside_generated(x, "celeba", tmp_path / "nowhere")
    assert isinstance(text, str)
    assert text.startswith("The real grid appears here when the data is present at build time")
    assert "celeba-align-89x109-first10k.tar.gz" in text and "DCGAN_DATA" in text
    assert "does not exist" in text
    cifar = real_grid.real_beside_generated(x, "cifar10", tmp_path, image_size=32)
    assert "CIFAR-10 (`cifar10/cifar10-jpg.tar.gz`" in cifar and "nothing found under" in cifar
