"""§3 Fig. 1 drawn from the model: the stages are the generator's own shapes and layers, and the
drawing follows a changed config."""

from dcgan_lib import diagram
from dcgan_lib.config import get_model_config
from dcgan_lib.models import Generator


def _shapes(name: str, **overrides) -> list[str]:
    return [s.shape for s in diagram.generator_stages(Generator(get_model_config(name, **overrides)))]  # fmt: skip


def test_paper64_is_fig_1():
    # paper Fig. 1: 100 z -> 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3
    assert _shapes("paper64") == ["100", "4×4×1024", "8×8×512", "16×16×256", "32×32×128", "64×64×3"]  # fmt: skip
    stages = diagram.generator_stages(Generator(get_model_config("paper64")))
    assert stages[1].op == "project: matrix; multiply, reshape; BN, ReLU"
    assert all(s.op_lines[:2] == ("5×5 transposed", "conv, stride 2") for s in stages[2:])
    assert stages[-1].op_lines[-1] == "tanh" and stages[-2].op_lines[-1] == "BN, ReLU"


def test_the_drawing_follows_the_config():
    assert _shapes("dcgan64")[1] == "4×4×512"  # half width
    assert _shapes("paper64", ngf=32)[1:3] == ["4×4×256", "8×8×128"]
    assert _shapes("paper64", image_size=128)[-1] == "128×128×3"
    ims = diagram.generator_stages(Generator(get_model_config("imagenet32")))
    assert [s.op_lines[1] for s in ims[2:]] == ["conv, stride 2", "conv, stride 1"] * 3
    ex = diagram.generator_stages(Generator(get_model_config("examples64")))
    assert ex[1].op_lines[:2] == ("4×4 transposed", "conv on z (1×1)")


def test_the_figure_names_every_shape_and_the_page_can_find_it():
    G = Generator(get_model_config("paper64"))
    fig = diagram.generator_diagram(G)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for shape in _shapes("paper64")[1:]:
        assert shape in texts
    assert "z: 100" in texts and any(t.startswith("G of paper64: 100-d z") for t in texts)
    d = diagram.diagram_html(G, caption="Fig. 1, drawn from the model")
    html = d._repr_html_()
    assert html.startswith('<figure class="dcgan-diagram"><img src="data:image/svg+xml;base64,')
    assert 'alt="G: 100 -&gt; 4×4×1024 -&gt;' in html
    assert "<figcaption>Fig. 1, drawn from the model</figcaption>" in html
