"""Pictures that move (§4, §6.1): the player is offline, labelled, capped, marked for the page
test; a walk's frames are G's samples along the walk; the stored strips play their epochs."""

import re

import numpy as np
import pytest
import torch

from dcgan_lib import animation, artifacts, strip
from dcgan_lib.config import get_model_config
from dcgan_lib.models import Generator, generate, sample_z


def _strip(n: int = 3, size: int = 40) -> strip.Strip:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return strip.Strip(frames, list(range(1, n + 1)), [4 * e for e in range(1, n + 1)])


def test_a_strip_plays_offline_with_its_epochs_on_the_frames():
    a = animation.strip_animation(_strip(), title="tiny run")
    assert a.labels == ["epoch 1 (step 4)", "epoch 2 (step 8)", "epoch 3 (step 12)"]
    assert a.html.startswith('<div class="dcgan-animation" data-frames="3"')
    assert a.html.count('"data:image/jpeg;base64,') == 3
    assert "http://" not in a.html and "https://" not in a.html  # no CDN: the book is offline
    assert "fa-" not in a.html and "\u25b6" in a.html  # icons are characters
    assert "play_animation()" in a.html and "prefers-reduced-motion" in a.html  # autoplay
    assert a._repr_html_() == a.html


def test_without_autoplay_no_script_starts_it():
    a = animation.animate(_strip().frames, ["a", "b", "c"], autoplay=False)
    assert "play_animation(); return" not in a.html and len(a) == 3


def test_many_frames_are_capped_evenly_and_keep_the_first_and_last():
    s = _strip(20, size=16)
    a = animation.animate(s.frames, [f"f{i}" for i in range(20)], max_frames=5)
    assert a.labels == ["f0", "f5", "f10", "f14", "f19"]
    assert a.html.count('"data:image/jpeg;base64,') == 5


def test_an_animation_over_the_embed_limit_is_refused_not_cut():
    s = _strip(6, size=200)
    with pytest.raises(ValueError, match="embeds .* of its 6 frames"):
        animation.animate(s.frames, list("abcdef"), embed_limit_mb=0.02, max_frames=6)
    with pytest.raises(ValueError, match="one label a frame"):
        animation.animate(s.frames, ["a"])


def test_walk_frames_are_the_generators_samples_along_the_walk():
    torch.manual_seed(0)
    G = Generator(get_model_config("smoke64"))
    points = sample_z(6, G.cfg, torch.Generator().manual_seed(1)).view(2, 3, -1)  # 2 walks
    frames, labels = animation.walk_frames(G, points, steps=2)
    assert len(frames) == 5 and frames[0].shape == (64 + 4, 2 * 66 + 2, 3)
    assert labels == [
        "at point 1 of 3",
        "point 1 \u2192 2: step 1/2",
        "at point 2 of 3",
        "point 2 \u2192 3: step 1/2",
        "at point 3 of 3",
    ]
    for t, k in ((0, 0), (2, 1), (4, 2)):  # frames at the points show the points' samples
        want = strip.layout(strip.to_uint8_tiles(generate(G, points[:, k])), nrow=2)
        assert np.abs(frames[t].astype(int) - want.astype(int)).max() <= 1
    a = animation.latent_walk_animation(G, points, steps=2)
    assert len(a) == 5 and 'class="dcgan-animation"' in a.html


def test_the_study_walks_start_with_the_figures_walk():
    from dcgan_lib.studies.latent import SIZES, walk_points

    G = Generator(get_model_config("smoke64"))
    pts = animation.study_walk_points(G, SIZES["smoke"], n_walks=3)
    assert pts.shape == (3, 9, 16)
    assert torch.equal(pts[0], walk_points(G.cfg, SIZES["smoke"]))
    assert not torch.equal(pts[1], pts[2])


def test_the_stored_faces_run_plays_epochs_1_5_and_25():
    a = animation.strip_animation(artifacts.require("celeba_dcgan64", strip.STRIP_NAME))
    assert a.labels == ["epoch 1 (step 78)", "epoch 5 (step 390)", "epoch 25 (step 1,950)"]
    size = len(a.html.encode())
    assert size < 1_000_000, size  # a sane page: JPEG frames at a small size
    assert re.search(r'id="_anim_img[0-9a-f]+"', a.html)


def test_text_beside_an_animation_is_escaped_and_keeps_the_player():
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    anim = animation.animate(frames, ["a", "b"], autoplay=False)
    row = anim.beside("*Figure 1.* Plays `epochs.png` <b>", "second")
    assert anim.html in row.html and row.labels == anim.labels and len(row) == 2
    assert (
        "<p><em>Figure 1.</em> Plays <code>epochs.png</code> &lt;b&gt;</p><p>second</p>" in row.html
    )
    assert row.html.count(f'class="{animation.CSS_CLASS}"') == 1
