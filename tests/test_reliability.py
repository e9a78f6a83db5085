"""Survive interruption and bad input, lose no completed work (the reliability issue)."""

import fcntl
import hashlib
import importlib.util
import io
import json
import multiprocessing
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _smoke import DATA, smoke_cfg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import dcgan_lib.engine as E
import dcgan_lib.train as T
from dcgan_lib.__main__ import main
from dcgan_lib.artifacts import ArtifactMissing, load_generator, require
from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.config import RESUME_KEEPS, RESUME_MAY_CHANGE, ConfigError, get_model_config
from dcgan_lib.data import decode, load_dataset
from dcgan_lib.datasets import DataError
from dcgan_lib.experiments import Experiment
from dcgan_lib.storage import read_jsonl
from dcgan_lib.studies.experiments import run_experiment
from dcgan_lib.train import TrainingDiverged, train

_spec = importlib.util.spec_from_file_location(
    "reliability", Path(__file__).parent.parent / "benchmarks" / "reliability.py"
)
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

# --- interruption --------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_bit_identical(tmp_path):
    report = R.kill_trials(tmp_path, n_kills=20, seed=1)
    assert report["kills"] >= 20
    assert report["kills_in_checkpoint_write"] >= 3  # every third kill waits for a write
    assert report["max_steps_redone"] <= report["checkpoint_every"]
    assert report["bit_identical_to_uninterrupted"]
    assert report["metrics_identical"]
    assert report["temp_files_left"] == []


def test_a_second_run_in_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="another training process is using the run folder"):
            train(smoke_cfg(out), data=DATA, progress=False)


def test_stale_temp_files_from_a_killed_write_are_removed(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    stale = out / ".checkpoint.pt.12345.1.tmp"
    stale.write_bytes(b"half a checkpoint")
    train(smoke_cfg(out, max_steps=4), data=DATA, progress=False)
    assert not stale.exists() and load_checkpoint(out / "checkpoint.pt")["step"] == 4


def _final_lines(out):
    return [r for r in read_jsonl(out / "diagnostics.jsonl") if r["samples"] == "final"]


def test_a_finished_run_started_again_changes_nothing(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out), data=DATA, progress=False)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}
    result = train(smoke_cfg(out), data=DATA, progress=False)
    assert result.status == "done" and result.step == 12
    assert len(_final_lines(out)) == 1  # one "final" line, not one per start
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}
    assert after["checkpoint.pt"] == before["checkpoint.pt"]  # not even rewritten
    assert after["diagnostics.jsonl"] == before["diagnostics.jsonl"]


def test_a_kill_while_the_final_grid_is_written_leaves_one_final_line(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = T.atomic_write

    def killed_at_final_png(path, write):
        if path.name == "final.png":
            raise KeyboardInterrupt  # the process dies inside this write
        real(path, write)

    monkeypatch.setattr(T, "atomic_write", killed_at_final_png)
    with pytest.raises(KeyboardInterrupt):
        train(smoke_cfg(out), data=DATA, progress=False)
    monkeypatch.setattr(T, "atomic_write", real)
    train(smoke_cfg(out), data=DATA, progress=False)  # the same command again
    assert [r["step"] for r in _final_lines(out)] == [12]
    assert (out / "samples" / "final.png").exists()


def _cli_train(out, data_root, *extra):
    argv = ["train", "--config", "smoke32", "--data", "imagefolder", "--data-root", str(data_root)]
    argv += ["--out", str(out), "--no-progress", "--device", "cpu", *extra]
    return main(argv)


@pytest.mark.parametrize("case", ["missing data root", "empty image folder"])
def test_a_refused_start_leaves_no_run_folder(case, tmp_path, capsys):
    root = tmp_path / "missing"
    if case == "empty image folder":
        root.mkdir()
    out = tmp_path / "runs" / "new"  # its parent does not exist either
    assert _cli_train(out, root) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "runs").exists()


def test_a_refused_start_in_an_existing_empty_folder_leaves_it_empty(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    assert _cli_train(out, tmp_path / "missing") == 2
    assert list(out.iterdir()) == []


def test_a_refused_resume_leaves_the_run_as_it_was(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="batch_size: the run has 16, asked 8"):
        train(smoke_cfg(out, batch_size=8), data=DATA, progress=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_too_few_images_after_skipping_says_the_error_first_then_the_files(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(15):
        Image.fromarray(
            np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        ).save(folder / f"{i}.png")
    for i in range(3):
        (folder / f"broken{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dcgan_lib", "train", "--config", "smoke32"]
    cmd += ["--data", "imagefolder", "--data-root", str(folder), "--batch-size", "16"]
    cmd += ["--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--device", "cpu"]
    proc = subprocess.run([*cmd, "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(
        "error: the dataset has 15 usable images, fewer than one batch of 16: 3 files were "
        "unreadable and skipped"
    )
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == [f"broken{i}.png" for i in range(3)]
    assert "Warning" not in proc.stderr and ".py:" not in proc.stderr
    assert not out.exists()


def test_cli_warnings_are_one_line(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(16):
        Image.fromarray(np.full((32, 32, 3), i * 8, np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"")
    rc = _cli_train(tmp_path / "run", folder, "--batch-size", "16", "--max-steps", "1")
    assert rc == 0
    err = capsys.readouterr().err
    assert "warning: imagefolder: skipped 1 unreadable image (first: broken.png" in err
    assert ".py:" not in err


def test_fid_on_a_missing_generator_says_what_it_expected(tmp_path, capsys):
    assert main(["fid", str(tmp_path / "G.pt"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no generator at {tmp_path / 'G.pt'}: give an exported G.pt")
    assert "python -m dcgan_lib export RUN --name NAME" in err and "checkpoint.pt" in err
    assert err.count("\n") == 1


def test_a_run_folder_stands_for_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=1), data=DATA, progress=False)
    G = load_generator(out)
    saved = load_checkpoint(out / "checkpoint.pt")["G"]
    assert all(torch.equal(t, saved[k]) for k, t in G.state_dict().items())


def test_an_experiment_resumed_with_a_new_time_budget_is_accepted(tmp_path):
    tiny = Experiment(
        name="tiny",
        config="smoke32",
        data="synthetic",
        image_size=32,
        epochs=1,
        references=(("synthetic", "test"),),
        stands_in_for="a test",
        batch_size=16,
    )
    kw = dict(
        runs_dir=tmp_path / "runs",
        root=tmp_path / "artifacts",
        progress=False,
        experiment=tiny,
        limit=64,
        device="cpu",
        log_every=1,
    )
    part = run_experiment("tiny", max_minutes=1e-9, **kw)
    assert part["status"] == "incomplete" and part["train_status"] == "time budget"
    # the next call brings another budget (each call of a job is given what is left)
    again = run_experiment("tiny", max_minutes=2e-9, **kw)
    assert again["status"] == "incomplete" and again["step"] == 2
    info = json.loads((tmp_path / "runs" / "tiny-s1" / "run.json").read_text())
    assert info["resumes"] == [{"step": 1, "changed": {"max_minutes": {"from": 1e-9, "to": 2e-9}}}]


# --- bad data ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", R.BAD_INPUTS, ids=[c[0] for c in R.BAD_INPUTS])
def test_bad_input_is_handled_or_stopped_with_a_clear_error(case, tmp_path):
    row = R.try_bad_input(*case, tmp_path)
    assert row["ok"], row


def test_skipped_files_are_listed_in_the_run_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        img = Image.fromarray(
            np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        )
        img.save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        train(
            smoke_cfg(
                tmp_path / "run",
                data="imagefolder",
                data_root=str(folder),
                cache_dir=str(tmp_path / "c"),
                max_steps=1,
            ),
            progress=False,
        )
    listed = (tmp_path / "run" / "skipped_images.txt").read_text()
    assert listed.startswith("broken.png\t")


_png = io.BytesIO()
Image.fromarray(np.arange(48 * 3, dtype=np.uint8).reshape(4, 12, 3).repeat(4, 0)).save(_png, "PNG")
_jpg = io.BytesIO()
Image.new("RGB", (24, 20), (200, 30, 60)).save(_jpg, "JPEG")
VALID = [_png.getvalue(), _jpg.getvalue()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.tuples(
            st.sampled_from(VALID), st.integers(0, 400), st.binary(min_size=1, max_size=8)
        ).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]  # overwrite a few bytes
        ),
        st.tuples(st.sampled_from(VALID), st.integers(0, 400)).map(lambda t: t[0][: t[1]]),  # cut
    )
)
def test_fuzz_decode_never_raises(payload):
    out = decode(payload, 16)
    assert isinstance(out, str) or (out.shape == (16, 16, 3) and out.dtype == np.uint8)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(VALID)), min_size=1, max_size=6))
def test_fuzz_image_folder_pack_accounts_for_every_file(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "imgs"
    folder.mkdir()
    for i, payload in enumerate(files):
        (folder / f"{i}.png").write_bytes(payload)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = load_dataset(
                "imagefolder", folder, image_size=16, cache_dir=root / "c", progress=False
            )
        except DataError as e:
            assert "no usable image" in str(e)
            return
    assert len(p) + len(p.skipped) == len(files)
    assert p.images.shape == (len(p), 16, 16, 3)


# --- bad configuration and checkpoints -----------------------------------------------------


def _as_if_saved_on_gpu(src: Path, dst: Path) -> None:
    """Rewrite a torch checkpoint so that every storage says it lives on cuda:0.

    torch.save pickles with protocol 2 (no frames, no offsets), where each storage's location
    is the memoized string 'cpu'; replacing that string retargets every storage."""
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                assert cpu in data
                data = data.replace(cpu, cuda)
            zout.writestr(item, data)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks loading a GPU checkpoint without CUDA"
)
def test_gpu_checkpoint_loads_on_a_cpu_only_machine(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=2), data=DATA, progress=False)
    gpu = tmp_path / "gpu_checkpoint.pt"
    _as_if_saved_on_gpu(out / "checkpoint.pt", gpu)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(gpu, weights_only=True)  # what a naive loader does on this machine
    ckpt = load_checkpoint(gpu)
    assert ckpt["step"] == 2 and all(t.device.type == "cpu" for t in ckpt["G"].values())
    (out / "checkpoint.pt").write_bytes(gpu.read_bytes())
    assert train(smoke_cfg(out, max_steps=4), data=DATA, progress=False).step == 4  # and resumes


def test_damaged_checkpoint_says_what_to_do(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ConfigError, match="not a readable checkpoint .* Delete it to start over"):
        load_checkpoint(bad)


def test_missing_artifact_names_the_command(tmp_path):
    with pytest.raises(
        ArtifactMissing,
        match=r"not produced yet: run python -m dcgan_lib experiment celeba_dcgan64",
    ):
        require("celeba_dcgan64", "G.pt", root=tmp_path)


def test_nz_mismatch_is_reported():
    from dcgan_lib.models import Generator

    with pytest.raises(ValueError, match=r"z must have shape \(batch, 100\)"):
        Generator(get_model_config("dcgan64"))(torch.zeros(4, 256))


# --- divergence and collapse ----------------------------------------------------------------


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real, calls = E.train_step, []

    def poisoned(G, D, *a):
        stats = real(G, D, *a)
        calls.append(1)
        if len(calls) == 6:
            with torch.no_grad():
                for p in G.parameters():
                    p.fill_(float("nan"))
        return stats

    monkeypatch.setattr(E, "train_step", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="NaN or Inf at step 7; stopped at step 8"):
        train(smoke_cfg(out), data=DATA, progress=False)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 4 and all(torch.isfinite(t).all() for t in ckpt["G"].values())
    import json

    assert json.loads((out / "run.json").read_text())["status"] == "diverged"


def test_collapse_warning_is_logged(tmp_path, monkeypatch):
    real = E.train_step

    def collapsing(G, D, *a):
        stats = real(G, D, *a)
        with torch.no_grad():
            G.blocks[-1][0].weight.zero_()  # every z now gives the same (grey) image
        return stats

    monkeypatch.setattr(E, "train_step", collapsing)
    monkeypatch.setattr(T, "COLLAPSE_MIN_STEP", 4)
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="possible mode collapse at step 4"):
        train(
            smoke_cfg(out, max_steps=4, sample_every=4, sample_epochs=()), data=DATA, progress=False
        )
    rows = read_jsonl(out / "diagnostics.jsonl")
    assert rows[0]["collapse_warning"] and rows[0]["sample_diversity"] < 1e-6


def test_healthy_samples_raise_no_collapse_warning(tmp_path):
    out = tmp_path / "run"
    train(smoke_cfg(out, max_steps=4, sample_every=4, sample_epochs=()), data=DATA, progress=False)
    rows = read_jsonl(out / "diagnostics.jsonl")
    assert [r["samples"] for r in rows] == ["step_0000004", "final"]
    assert not any(r["collapse_warning"] for r in rows)


# --- the packed cache -----------------------------------------------------------------------


def _pack_digest(args):
    folder, cache = args
    p = load_dataset("imagefolder", folder, image_size=32, cache_dir=cache, progress=False)
    return hashlib.sha256(np.ascontiguousarray(p.images).tobytes()).hexdigest(), len(p)


def test_concurrent_builds_do_not_corrupt_the_cache(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(200):
        Image.fromarray(
            np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)
        ).save(folder / f"{i:03d}.png")
    cache = tmp_path / "cache"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.map(_pack_digest, [(folder, cache)] * 3)
    assert len(set(results)) == 1 and results[0][1] == 200
    assert len(list(cache.glob("*.u8"))) == 1 and not list(cache.glob("*.tmp"))
    assert _pack_digest((folder, cache)) == results[0]


def _page_glue(page: str) -> dict:
    """What the page's code cells glue, run as the build runs them (IPython's Markdown as text)."""
    glued: dict = {}
    namespace: dict = {}
    for cell in re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", page, re.S | re.M):
        code = "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
        code = code.replace("from myst_nb import glue", "")
        namespace["glue"] = lambda name, value, display=True: glued.__setitem__(
            name, getattr(value, "data", value)
        )
        exec(compile(code, "how_to_run.md", "exec"), namespace)  # noqa: S102
    return glued


def test_how_to_run_quotes_the_stored_report():
    import json

    root = Path(__file__).parent.parent
    report = json.loads((root / "artifacts/reliability/report.json").read_text())
    page = (root / "book/how_to_run.md").read_text()
    glued = _page_glue(page)
    k = report["interruptions"]
    # the numbers are glued from the stored report, never typed
    assert "**Interruptions survived: {glue:text}`rel_kills`.**" in page
    assert glued["rel_kills"] == str(k["kills"])
    assert "{glue:text}`rel_kills_in_write` of them while a" in page
    assert glued["rel_kills_in_write"] == str(k["kills_in_checkpoint_write"])
    assert k["bit_identical_to_uninterrupted"] and k["metrics_identical"]
    assert "**{glue:text}`rel_identical`**" in page and glued["rel_identical"] == "bit-identical"
    assert "at most\n{glue:text}`rel_max_redone` steps" in page
    assert glued["rel_max_redone"] == str(k["max_steps_redone"])
    assert "Bad inputs tried: {glue:text}`rel_bad_tried`" in page
    assert glued["rel_bad_tried"] == str(report["bad_inputs_tried"])
    assert report["bad_inputs_handled"] == report["bad_inputs_tried"]
    assert glued["rel_bad_handled"] == str(report["bad_inputs_handled"])
    for row in report["bad_inputs"]:
        assert f"| {row['input']} |" in page
    assert glued["rel_command"] == f"`{report['command']}`"
    assert not re.search(r"\b(?:40|13|16) (?:kills|times|of them)", page)  # no typed copy left


def _listed(page: str, start: str, end: str) -> list[str]:
    """The `names` the page lists between ``start`` and ``end``, parenthetical remarks aside."""
    text = " ".join(page[page.index(start) + len(start) :].split(end)[0].split())
    return re.findall(r"`(\w+)`", re.sub(r"\([^()]*\)", "", text))


def test_how_to_run_lists_exactly_the_settings_a_resume_checks():
    page = (Path(__file__).parent.parent / "book/how_to_run.md").read_text()
    keeps = _listed(page, "(`dcgan_lib.config.RESUME_KEEPS`):", "; the images")
    assert keeps == list(RESUME_KEEPS)
    may_change = _listed(page, "(`RESUME_MAY_CHANGE`):", ". Each")
    assert may_change == list(RESUME_MAY_CHANGE)
