"""The §6.1 / §6.3.2 faces study (dcgan_lib/studies/latent.py) on the toy generator: what it
measures and draws, the job at smoke size with the nearest-neighbour search, the command and its
old spelling ``python -m dcgan_lib.latent``."""

import json
import runpy
import sys

import numpy as np
import pytest
import torch

from dcgan_lib import toys
from dcgan_lib.__main__ import main
from dcgan_lib.arithmetic import EQUATIONS, pose_change
from dcgan_lib.studies import latent as SL
from dcgan_lib.studies import report_arithmetic as RA
from dcgan_lib.walks import step_changes

G_TOY, CLF_TOY = toys.ToyFaces(), toys.ToyAttributeClassifier()


def test_faces_study_on_the_toy_in_smoke_size():
    cfg = SL.SIZES["smoke"]
    study = SL.run_faces_study(
        G_TOY, CLF_TOY, cfg, parts=("walks", "arithmetic", "turn"), pose_fn=toys.toy_pose_score
    )
    m = study.metrics
    json.dumps(m)
    assert m["walk_endpoints_exact"] and m["batch_dependence"]["eval"] == 0.0
    assert study.figures["walk"].shape == ((cfg.walk_points - 1) * cfg.walk_steps + 1, 3, 64, 64)
    for key in EQUATIONS:
        ex = study.figures["arithmetic"][key]
        assert ex["z_result"].shape == (1 + cfg.n_noise, 3, 64, 64)
        assert ex["exemplars"].shape == (3, cfg.k_exemplars, 3, 64, 64)
        assert ex["pixel_result"].shape == (3, 64, 64)
        assert m["arithmetic"][key]["n_trials"] == cfg.n_trials
    assert m["turn"]["turn"]["spearman"] > 0.9
    assert abs(m["turn"]["control"]["spearman"]) < m["turn"]["turn"]["spearman"]
    assert study.figures["turn:turn"].shape == (cfg.turn_shown, len(cfg.turn_alphas), 3, 64, 64)
    # what a page needs from the stored metrics: the figure walk's steps, the pose per sample
    assert len(m["walk_step_changes"]) == (cfg.walk_points - 1) * cfg.walk_steps
    assert np.allclose(m["walk_step_changes"], step_changes(study.figures["walk"]).numpy())
    scores = np.array(m["turn"]["turn"]["scores"])
    assert scores.shape == (cfg.turn_samples, len(cfg.turn_alphas))
    assert np.allclose(pose_change(scores, cfg.turn_alphas)["mean_score"], scores.mean(0))
    ex = m["arithmetic"]["smile"]["example"]
    assert np.allclose(ex["z"], study.figures["arithmetic"]["smile"]["z"].numpy())
    # what a page checks again: the example judged again, the turn vector rebuilt from the pool
    for key in EQUATIONS:
        want = m["arithmetic"][key]["example"]["z_result_target_met"]
        assert RA.judged_again(study, key) == want
    assert abs(RA.turn_norm_again(study, cfg) - m["turn"]["turn_norm"]) < 1e-5
    assert torch.equal(SL.pool_z(G_TOY.cfg, cfg), study.pool.z)
    figs = SL.study_figures(study, cfg)  # what --export stores, generated samples only
    assert sorted(figs) == sorted(
        ["walk.png", "arithmetic_smile.png", "arithmetic_glasses.png", "turn_exemplars.png"]
        + ["turn.png", "turn_control.png"]
    )
    with pytest.raises(ValueError):
        SL.run_faces_study(G_TOY, CLF_TOY, cfg, parts=("nope",))


def test_the_smoke_job_searches_the_toy_training_set():
    cfg = SL.SIZES["smoke"]
    study = SL.run_job(cfg, ("neighbours",), progress=False)
    nb = study.metrics["neighbours"]
    assert nb["n_samples"] == cfg.neighbour_samples and nb["n_reference"] == len(study.data) == 512
    assert set(nb["spaces"]) == {"pixel", "attribute classifier features"}
    pix = nb["spaces"]["pixel"]
    assert np.array(pix["samples"]["indices"]).shape == (cfg.neighbour_samples, cfg.k_neighbours)
    assert pix["sample_nearest"]["min"] <= pix["sample_nearest"]["median"]
    assert pix["samples"]["names"][0][0].startswith("toy/")
    json.dumps(study.metrics)


def test_cli_writes_the_metrics_as_json(tmp_path, capsys):
    out = tmp_path / "latent.json"
    args = ["latent", "--size", "smoke", "--parts", "walks", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    m = json.loads(out.read_text())
    assert m["mode"] == "smoke" and m["walk_endpoints_exact"] and "smoothness" in m
    assert "wrote" in capsys.readouterr().out
    # --export stores only the book's study of the stored model, one folder's parts at a time
    assert main(["latent", "--mode", "smoke", "--parts", "walks", "--export"]) == 2  # old flag
    assert "--size book" in capsys.readouterr().err
    assert main(["latent", "--parts", "walks", "turn", "--export"]) == 2


@pytest.mark.parametrize(
    "module, command",
    [
        ("latent", "latent"),
        ("guided_backprop", "guided-backprop"),
        ("forgetting", "forgetting"),
        ("attributes", "attributes"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # in-process only
def test_old_module_spellings_run_the_new_commands(module, command, monkeypatch, capsys):
    # `python -m dcgan_lib.<module> ...` (recorded in stored results) runs `python -m dcgan_lib
    # <command> ...`; run here as `python -m` runs it, without a new interpreter
    monkeypatch.setattr(sys, "argv", [f"dcgan_lib/{module}.py", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(f"dcgan_lib.{module}", run_name="__main__", alter_sys=True)
    assert done.value.code == 0
    assert f"python -m dcgan_lib {command} [-h]" in " ".join(capsys.readouterr().out.split())
