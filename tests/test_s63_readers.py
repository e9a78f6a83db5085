"""§6.3's pages draw their figures again from the stored studies: what they draw is what the
study drew (the same samples, maps, random draws, z); and the sentences they glue say what the
numbers show, no more (forgetting: "mostly"; the turn: a cue that is noisy for one face)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan_lib import run_yourself, verdicts
from dcgan_lib.studies import forgetting as SF
from dcgan_lib.studies import latent as SL
from dcgan_lib.studies import report_arithmetic as RA
from dcgan_lib.studies import report_forgetting as RF

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def forgetting_smoke():
    cfg = SF.SIZES["smoke"]
    G, judge = SF.study_inputs("smoke")
    return cfg, G, judge, SF.run_forgetting_study(cfg, G, judge)


@pytest.fixture(scope="module")
def latent_smoke():
    cfg = SL.SIZES["smoke"]
    study = SL.run_job(cfg, ("arithmetic", "turn"), progress=False)
    stored = SL.FacesStudy(study.metrics, G=study.G, classifier=study.classifier)  # no figures
    return cfg, study, stored


def test_forgetting_figures_made_again_from_the_metrics_are_the_studys(forgetting_smoke):
    cfg, G, judge, result = forgetting_smoke
    again = SF.figures_again(cfg, G, judge, result.metrics, list(result.figures))
    for entry, figs in result.figures.items():
        for kind in ("before", "dropped", "random"):
            assert again[entry][kind].shape == figs[kind].shape, (entry, kind)
            # the same samples, the stored maps, the study's first random draw: to the last bit
            assert np.array_equal(again[entry][kind], figs[kind]), (entry, kind)
    # the random control is drawn from the stored sizes, in the stored order
    sizes = {
        t: (e["regression"]["n_maps"], e["regression"]["n_dropped"])
        for t, e in result.metrics["objects"].items()
    }
    draws = SF.random_map_draws(cfg, sizes)
    assert all(len(d) == cfg.n_random for d in draws.values())
    assert all(len(d[0]) == sizes[t][1] for t, d in draws.items())


def test_the_forgetting_page_orders_and_sizes_what_it_shows(forgetting_smoke):
    _, _, _, result = forgetting_smoke
    objects = RF.measured_entries(result.metrics)
    order = list(RF.ordered_entries(objects, 200))
    assert order[:2] == ["Red_Bar", "Red_Bar, contrast"]  # the main entry and its contrast fit
    table = RF.effects_table(objects).splitlines()
    assert table[0] == "|  | Red_Bar | Red_Bar, contrast |"  # entries are columns: it reads
    assert len(table) == 2 + 9  # one row per measure
    side = RF.side_effects_table(objects).splitlines()
    assert side[0] == "| attribute | before | Red_Bar | Red_Bar, contrast |"
    glue = RF.config_glue(SF.SIZES["book"])
    assert glue["min_shown"] == str(verdicts.MIN_SHOWN) and glue["mostly"] == "50%"
    assert glue["cfg_n_pool"] == f"{SF.SIZES['book'].n_pool:,}"
    assert glue["smoke_cost"] == run_yourself.cost_text("forgetting_smoke")
    assert "CPU time" in glue["book_cost"]  # the stored study's own measurement


def test_the_rare_objects_sentence_says_what_happened():
    m = json.loads((ROOT / "artifacts" / "forgetting_faces" / "metrics.json").read_text())
    glue = RF.forgetting_glue(m, m["config"]["n_eval"])
    rare = glue["rare_verdict"]
    assert "eyeglasses and wearing hat too rarely to measure" in rare
    eg = m["objects"]["Eyeglasses"]
    assert f"from {eg['rate_before']:.3f} to {eg['rate_dropped']:.3f}" in rare
    assert "the opposite of forgetting it" in rare
    assert glue["kept_dropped"] == f"{m['objects']['Smiling']['kept_dropped']:.0%}"


def test_the_bands_section_without_the_data_says_so_and_shows_the_stored_boxes(tmp_path):
    measured, fig, text = RF.bands("book", tmp_path / "nothing")
    assert measured == {} and fig is None
    assert "(23, 50, 40, 59)" in text and "never stored" in text
    measured, fig, text = RF.bands("smoke")
    assert measured == {} and fig is None and "red bar" in text


def test_fig7_and_fig8_made_again_from_the_metrics_are_the_studys(latent_smoke):
    cfg, study, stored = latent_smoke
    for key, ex in study.figures["arithmetic"].items():
        again = RA.example_again(stored, cfg, key)
        for name in ("exemplars", "means", "z_result", "pixel_result", "z"):
            assert torch.equal(again[name], ex[name]), (key, name)
        assert torch.allclose(again["y"], ex["z"][0], atol=1e-6)  # Y: the grid's centre
        assert torch.equal(RA.y_again(stored, cfg, key), again["y"])
    t = RA.turn_again(stored, cfg)
    assert torch.equal(t["turn"], study.figures["turn:turn"])
    assert torch.equal(t["control"], study.figures["turn:control"])
    assert torch.equal(t["exemplars"], study.figures["turn_exemplars"])
    inputs = RA.turn_inputs(stored, cfg)
    alphas = torch.tensor(cfg.turn_alphas)[None, :, None]
    moved = inputs["z"][:, None, :] + alphas * inputs["turn_vector"]
    assert float((moved.abs() > 1).float().mean()) == study.metrics["turn"]["z_outside_unit_box"]
    figs = RA.turn_figures(stored, cfg)  # drawn again, under the names the study stores
    assert set(figs) == {"turn_exemplars.png", "turn.png", "turn_control.png"}
    assert set(figs) <= set(SL.study_figures(study, cfg))
    assert RA.examples_to_show("book") == ["glasses"]  # the smile is the first screen's figure
    assert RA.examples_to_show("smoke") == ["smile", "glasses"]


def _turn(rise: float, rise_control: float, rho: float = 0.75, rho_control: float = 0.19) -> dict:
    def side(rho_, rose):
        return {"spearman": rho_, "rose": rose, "mean_score": [-0.2, 0.0, 0.2]}

    return {"turn": side(rho, rise), "control": side(rho_control, rise_control)}


def test_the_turn_sentence_claims_no_more_than_the_cue_allows():
    rel = {"threshold": 0.3, "frontal": {"above_threshold": 33, "n": 214}}
    text = RA._turn_verdict(_turn(0.98, 0.73), 64, (-1.0, 0.0, 1.0), rel)
    assert "rose for 98% of the 64 samples" in text and "rose for 73%" in text
    assert "the control's score rises too" in text and "33 of 214 frontal faces" in text
    assert "how reliably it turns one face, the cue cannot say" in text
    assert "as the paper" not in text and "turn towards the right" not in text
    weak = RA._turn_verdict(_turn(0.6, 0.7, 0.3, 0.2), 64, (-1.0, 0.0, 1.0), rel)
    assert "does not move the pose clearly more than the control" in weak
    assert RA.turns(_turn(0.98, 0.73)) and not RA.turns(_turn(0.6, 0.7, 0.3, 0.2))


def test_the_smile_sentence_leads_with_the_papers_contrast():
    m = json.loads((ROOT / "artifacts" / "vector_arithmetic" / "metrics.json").read_text())
    smile = RA.arithmetic_verdict(m, "smile")
    s = m["arithmetic"]["smile"]["success"]
    assert f"({s['pixel']:.0%}," in smile  # the pixel blend's rate, beside z's
    assert "does not appear here" in smile  # pixels score about the same: no z-vs-pixel contrast
    assert "removes the misalignment" not in smile  # a hypothesis is not stated as fact
    assert "0.2% for the third concept alone" in smile  # small rates are not rounded to 0%
    glue = RA.config_glue(SL.SIZES["book"])
    assert glue["clf_n_train"] == "8,000" and "smiling 0.9" in glue["clf_accuracy"]


def test_the_status_rows_say_which_objects_are_too_rare_and_how_the_turn_did():
    from dcgan_lib.status import status_rows

    rows = {r["row"].key: r["headline"] for r in status_rows()}
    assert "eyeglasses 0.013 -> 0.130 (random maps: 0.041), too rare to measure" in rows["s631"]
    assert "smiling 0.597 -> 0.405 (random maps: 0.403)" in rows["s631"]
    assert "smiling 0.597 -> 0.405 (random maps: 0.403), too rare" not in rows["s631"]
    assert "turn: a pose cue's score rose for 98% of samples" in rows["s632"]
    assert "(a random control direction: 73%)" in rows["s632"]
