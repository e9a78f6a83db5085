"""The loop on the §4 page (examples/dcgan_minimal.py) is the library's algorithm, not a second one:
one step of it and ``step.train_step`` give bit-identical weights and Adam states from the same
state and batch, and a whole smoke run of it is the library's ``train`` run with the same seed;
a changed loop (another beta1, another order of D's two batches) is caught."""

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcgan_lib import run_yourself
from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.config import TrainConfig, get_model_config
from dcgan_lib.data import load_dataset, to_float
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.step import make_optimizers, train_step
from dcgan_lib.train import train

LOOP = run_yourself.MINIMAL_LOOP


def _load(source: str | None = None, name: str = "dcgan_minimal"):
    """The loop file as a module (``source``: a changed copy of its text)."""
    if source is None:
        spec = importlib.util.spec_from_file_location(name, LOOP)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    module = type(sys)(name)
    exec(compile(source, f"<changed {LOOP.name}>", "exec"), module.__dict__)
    return module


def _differences(a: dict, b: dict) -> list[str]:
    """Names of the tensors that differ between two {G, D, opt_g, opt_d} state dicts."""
    out = []
    for net in ("G", "D"):
        out += [f"{net}.{k}" for k, t in a[net].items() if not torch.equal(t, b[net][k])]
    for opt in ("opt_g", "opt_d"):
        for i, st in a[opt]["state"].items():
            out += [f"{opt}[{i}].{k}" for k, t in st.items() if not torch.equal(t, b[opt]["state"][i][k])]  # fmt: skip
    return out


def _state(G, D, opt_g, opt_d) -> dict:
    return {"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict()}  # fmt: skip


def _two_copies(seed: int = 0):
    """Two identical (G, D, opt_g, opt_d) of smoke32 with the paper's Adam."""
    cfg = TrainConfig(model=get_model_config("smoke32"))
    torch.manual_seed(seed)
    G, D = Generator(cfg.model), Discriminator(cfg.model)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    return (G, D, *make_optimizers(G, D, cfg)), (G2, D2, *make_optimizers(G2, D2, cfg))


def _batches(n_steps: int, batch: int = 32):
    images = torch.tensor(load_dataset("synthetic", image_size=32, limit=n_steps * batch).images)
    g = torch.Generator().manual_seed(5)
    cfg = get_model_config("smoke32")
    return [
        (to_float(images[i * batch : (i + 1) * batch]), sample_z(batch, cfg, g))
        for i in range(n_steps)
    ]


def _steps(step_fn, nets, batches) -> list:
    return [step_fn(*nets, x, z) for x, z in batches]


def test_one_step_of_the_page_loop_is_train_step_bit_for_bit():
    loop = _load()
    ours, library = _two_copies()
    batches = _batches(3)  # three steps: Adam's moments are not at their first value any more
    losses = _steps(loop.step, ours, batches)
    stats = _steps(train_step, library, batches)
    assert _differences(_state(*ours), _state(*library)) == []
    for (loss_d, loss_g), s in zip(losses, stats, strict=True):
        assert (loss_d, loss_g) == (s[0].item(), s[1].item())  # the same losses, exactly
    # and the step did train: every weight moved
    fresh, _ = _two_copies()
    moved = zip(ours[0].parameters(), fresh[0].parameters(), strict=True)
    assert all(not torch.equal(p, q) for p, q in moved)


def test_a_changed_step_is_caught():
    """One line changed: D sees the generated batch before the real one. The losses are the same
    sums, but BatchNorm's running statistics update in another order: the check sees it."""
    text = LOOP.read_text()
    original = "bce(D(x_real), 1.0) + bce(D(x_fake.detach()), 0.0)"
    assert original in text
    swapped = text.replace(original, "bce(D(x_fake.detach()), 0.0) + bce(D(x_real), 1.0)")
    changed = _load(swapped, "dcgan_minimal_changed")
    ours, library = _two_copies()
    batches = _batches(1)
    _steps(changed.step, ours, batches)
    _steps(train_step, library, batches)
    assert any(".running_" in name for name in _differences(_state(*ours), _state(*library)))


def _library_run(out: Path) -> dict:
    """The library's training run of the loop's smoke settings (seed 1, 512 synthetic images at
    32 px, batch 128, one epoch), on the CPU."""
    cfg = TrainConfig(
        model=get_model_config("smoke32"), data="synthetic", limit=512, epochs=1, seed=1,
        out=str(out), device="cpu", engine="eager", sample_epochs=(), checkpoint_every=10**6,
    )  # fmt: skip
    result = train(cfg, progress=False)
    assert result.step == 4
    return load_checkpoint(out / "checkpoint.pt")


@pytest.fixture(scope="module")
def library_state(tmp_path_factory) -> dict:
    return _library_run(tmp_path_factory.mktemp("library") / "run")


def test_the_whole_smoke_loop_is_the_librarys_training_run(library_state, tmp_path):
    """Initialisation, data order, z stream, Adam settings: the loop's one epoch in smoke mode
    ends with the weights and Adam states of ``train`` with the same seed, bit for bit."""
    out = tmp_path / "samples"
    nets = _load().main(["--smoke", "--epochs", "1", "--out", str(out)])
    assert _differences(_state(*nets), library_state) == []
    assert (out / "epoch_001.png").is_file()


def test_another_beta1_in_the_loop_is_caught(library_state, tmp_path):
    nets = _load().main(["--smoke", "--epochs", "1", "--beta1", "0.9", "--out", str(tmp_path)])
    assert nets[2].param_groups[0]["betas"] == (0.9, 0.999)
    different = _differences(_state(*nets), library_state)
    assert any(name.startswith("G.") for name in different)
    assert any(name.startswith("D.") for name in different)


def test_the_file_runs_as_a_script_and_stays_short(tmp_path):
    done = subprocess.run(
        [sys.executable, str(LOOP), "--smoke", "--epochs", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == ["epoch 1", "epoch 2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_001.png", "epoch_002.png"]
    code = run_yourself.loop_code_lines()
    assert 30 <= code <= 60, code  # "about 40 lines": what a reader copies stays one screen
