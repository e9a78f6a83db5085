"""The §6 pages' readers (dcgan_lib/studies/report*.py): every name a page glues is produced, from
a stored study and without one; the glued numbers are the study's; the sentences follow the
numbers; tables, box files and the BatchNorm check a page shows."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dcgan_lib import run_yourself
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.config import get_model_config
from dcgan_lib.forgetting import parse_boxes
from dcgan_lib.studies import latent as SL
from dcgan_lib.studies import report_arithmetic as RA
from dcgan_lib.studies import report_forgetting as RF
from dcgan_lib.studies import report_guided as RG
from dcgan_lib.studies import report_walks as RW
from dcgan_lib.studies.forgetting import SIZES as FORGETTING_SIZES
from dcgan_lib.studies.pose import load_reliability
from dcgan_lib.studies.report import markdown_table

ROOT = Path(__file__).resolve().parent.parent
CELEBA_ALPHAS = SL.SIZES["book"].turn_alphas


def _glued_names(page: str) -> set[str]:
    text = (ROOT / "notebooks" / page).read_text()
    return set(re.findall(r"\{glue:text\}`(\w+)`", text))


def _glued_by_the_page(page: str) -> set[str]:
    """Names a page glues itself, in a code cell (its own run time): ``glue_texts({"name": ...``."""
    text = (ROOT / "notebooks" / page).read_text()
    return set(re.findall(r'glue_texts\(\{\\"(\w+)\\":', text))


def _stored(name: str) -> dict:
    return json.loads((ROOT / "artifacts" / name / "metrics.json").read_text())  # committed


def _glues(stored: bool) -> dict[str, dict]:
    """Each page's glue, from its stored study (or from nothing)."""
    walks = _stored("latent_walks") if stored else {}
    guided = {"faces": _stored("guided_backprop_faces")} if stored else {}
    forgetting = _stored("forgetting_faces") if stored else {}
    arithmetic = _stored("vector_arithmetic") if stored else {}
    rel = load_reliability() if stored else None
    n_eval = FORGETTING_SIZES["book"].n_eval
    return {
        "06_latent_walks.ipynb": RW.walks_glue(walks, walks.get("batch_dependence"))
        | RW.svhn_walk_glue(_stored("authors_svhn_walks") if stored else None),
        "07_guided_backprop.ipynb": RG.guided_glue(guided),
        "08_forgetting_objects.ipynb": RF.forgetting_glue(forgetting, n_eval, 20, 200)
        | RF.config_glue(FORGETTING_SIZES["book"]),
        "09_vector_arithmetic.ipynb": RA.arithmetic_glue(arithmetic, rel, 64, CELEBA_ALPHAS)
        | RA.config_glue(SL.SIZES["book"]),
    }


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "missing"])
def test_every_name_a_page_glues_is_produced(stored):
    measured = set(run_yourself.costs()["commands"])
    for page, glued in _glues(stored).items():
        names = _glued_names(page)
        # an exercise's cost, cost_<command>, the page glues from run_yourself.cost_text
        costs = {n for n in names if n.startswith("cost_")}
        assert {n.removeprefix("cost_") for n in costs} <= measured, page
        missing = names - costs - _glued_by_the_page(page) - set(glued)
        assert not missing, f"{page}: {sorted(missing)}"
        assert all(isinstance(v, str) for v in glued.values()), page


def test_without_a_study_the_numbers_say_not_produced():
    glued = _glues(stored=False)
    assert glued["06_latent_walks.ipynb"]["walk_share_median"] == NOT_PRODUCED
    assert glued["07_guided_backprop.ipynb"]["zero_slope_cos"] == NOT_PRODUCED
    assert glued["08_forgetting_objects.ipynb"]["rate_dropped"] == NOT_PRODUCED
    assert glued["09_vector_arithmetic.ipynb"]["smile_z"] == NOT_PRODUCED
    assert glued["09_vector_arithmetic.ipynb"]["cue_correct"] == NOT_PRODUCED


def test_the_glued_numbers_are_the_stored_studys():
    glued = _glues(stored=True)
    walks = _stored("latent_walks")
    g = walks["smoothness"]["generator"]
    w = glued["06_latent_walks.ipynb"]
    assert w["walk_share_median"] == f"{g['max_step_share']['median']:.3f}"
    pixel = walks["neighbours"]["spaces"]["pixel"]
    assert w["nn_pixel"] == f"{pixel['sample_nearest']['median']:.3f}"
    faces = _stored("guided_backprop_faces")
    real = faces["real"]["trained"]
    cos = real["zero_vs_slope"]["cosine"]["mean"]
    assert glued["07_guided_backprop.ipynb"]["zero_slope_cos"] == f"{cos:.3f}"
    assert glued["07_guided_backprop.ipynb"]["n_searched"] == f"{faces['real']['n_searched']:,}"
    objects = RF.measured_entries(_stored("forgetting_faces"))
    f = glued["08_forgetting_objects.ipynb"]
    main = objects[f["main_obj"]]
    assert f["rate_before"] == f"{main['rate_before']:.3f}"
    assert f["rate_dropped_c"] == f"{objects[f['main_obj'] + ', contrast']['rate_dropped']:.3f}"
    arith = _stored("vector_arithmetic")
    a = glued["09_vector_arithmetic.ipynb"]
    assert a["smile_z"] == f"{arith['arithmetic']['smile']['success']['z']:.2f}"
    assert a["turn_rose"] == f"{arith['turn']['turn']['rose']:.2f}"
    for page in glued.values():  # the run's machine and CPU time are the stored study's own
        assert page["cpu"].endswith("s of CPU") and page["machine"] != "this machine"


def test_markdown_table():
    table = markdown_table(("a", "b"), [(1, 2), ("x", "y")])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |", "| x | y |"]


def _smooth(g_median: float, sharp: float, mem_median: float = 0.8) -> dict:
    def side(median, sharp_share):
        q = {"median": median, "p90": median, "max": median}
        return {"max_step_share": q, "sharp_segments": sharp_share, "mean_step_vs_random": 0.1}

    return {
        "generator": side(g_median, sharp),
        "memorizer": {**side(mem_median, 0.9), "bank": 64},
        "steps": 16,
        "n_segments": 8,
        "n_walks": 1,
        "random_pair_rms": 0.5,
    }


def test_the_walk_verdict_follows_the_numbers():
    smooth = RW.walks_glue({"smoothness": _smooth(0.07, 0.0)}, None)["walk_verdict"]
    assert "have no sharp transitions" in smooth and "as the paper" not in smooth
    jumpy = RW.walks_glue({"smoothness": _smooth(0.6, 0.5)}, None)["walk_verdict"]
    assert "not clearly smoother" in jumpy
    # the sentence states what the measure cannot say: plausibility is read by eye
    assert "judged by eye" in smooth and "plausible" in smooth


def _neighbours(share_pixel: float, share_features: float) -> dict:
    def space(share):
        q = {"median": 0.4}
        return {"sample_nearest": q, "real_nearest_other": q, "share_closer_than_real_p01": share}

    spaces = {"pixel": space(share_pixel), "attribute classifier features": space(share_features)}
    return {"neighbours": {"n_samples": 64, "n_reference": 100, "spaces": spaces}}


def test_the_nearest_neighbour_sentence_claims_no_more_than_the_search_can_see():
    none = RW.walks_glue(_neighbours(0.0, 0.0), None)["nn_verdict"]
    assert "None of the 64 samples" in none and "near-exact copies only" in none
    assert "shifted, flipped or recoloured" in none  # the paper's caveat: a transformed copy
    some = RW.walks_glue(_neighbours(2 / 64, 0.0), None)["nn_verdict"]
    assert "2 (pixels) and 0 (features) of the 64 samples" in some and "may be copies" in some


def test_the_guided_tables_name_the_model_only_when_there_are_several():
    stats = {"concentration": [0.4, 0.5], "agreement": [0.3, 0.5]}
    faces = {"real": {"trained": stats, "random": stats}}
    one = RG.maps_table({"faces": faces}).splitlines()
    assert one[0].startswith("| images | D |") and one[2].startswith("| real | trained | 0.450")
    two = RG.maps_table({"faces": faces, "scenes": faces}).splitlines()
    assert two[0].startswith("| model | images |") and len(two) == 2 + 4
    sim = {"cosine": {"mean": 0.9, "min": 0.8, "n_maps": 48}, "spearman": {"mean": 0.7, "min": 0.6}}
    rules = {"real": {"trained": {"zero_vs_slope": sim}}}
    table = RG.rules_table({"faces": rules}, ("zero", "slope")).splitlines()
    assert table[0].startswith("| images | D | compared |")
    assert table[2] == "| real | trained | zero vs slope | 48 | 0.900 | 0.800 | 0.700 | 0.600 |"


def _entry(before: float, dropped: float, random: list[float], negatives: str) -> dict:
    return {
        "object": "Eyeglasses",
        "negatives": negatives,
        "rate_before": before,
        "rate_dropped": dropped,
        "rate_random": random,
        "regression": {"n_dropped": 30, "n_maps": 64},
        "change_outside_dropped": 4.0,
        "change_outside_random": [3.0, 5.0],
        "kept_dropped": 0.05 if dropped < 0.05 else 0.8,  # of the samples with the object
        "kept_random": [0.7, 0.9],
    }


def test_the_forgetting_verdict_follows_the_numbers():
    paper = "other places in the same images (paper)"
    below = RF.forgetting_verdict("e", _entry(0.2, 0.01, [0.15, 0.2], paper), 1000, 20)
    assert "below every random draw" in below
    assert "5% still do (70%-90% with random maps): the model mostly forgets it" in below
    within = RF.forgetting_verdict("e", _entry(0.2, 0.17, [0.15, 0.2], paper), 1000, 20)
    assert "within the random draws" in within and "does not mostly forget it" in within
    rare = RF.forgetting_verdict("e", _entry(0.005, 0.0, [0.0, 0.01], paper), 1000, 20)
    assert "too few to measure" in rare and "below every" not in rare
    objects = {"a": _entry(0.1, 0, [0], paper), "b": _entry(0.3, 0, [0], paper)}
    objects["c"] = _entry(0.9, 0, [0], "the same cells of samples without it")
    assert RF.main_entry(objects) == "b"  # the paper's negatives, drawn most often


def test_an_entrys_box_file_reads_back_as_its_samples():
    entry = {"annotated_seeds": [4, 9, 11], "box": [19, 30, 45, 40], "object": "Eyeglasses"}
    cfg = get_model_config("dcgan64")
    boxes = RF.entry_boxes(entry, cfg)
    back = parse_boxes(boxes.to_json(), cfg)
    assert back.seeds == [4, 9, 11] and back.object == "Eyeglasses"
    assert back.boxes == [[(19.0, 30.0, 45.0, 40.0)]] * 3
    assert np.array_equal(back.z.numpy(), boxes.z.numpy())
    lines = RF.box_file_excerpt(boxes, n=2).splitlines()
    assert json.loads(lines[0])["format"] == "dcgan-object-boxes/1"
    assert json.loads(lines[1]) == {"seed": 4, "boxes": [[19.0, 30.0, 45.0, 40.0]]}
    assert lines[-1].strip() == "... 3 samples"


def _arith_entry(z: float, c_only: float, ci_z: tuple, ci_other: tuple) -> dict:
    success = {"z": z, "z_noise": z, "pixel": 0.1, "c_only": c_only, "random_z": 0.05}
    ci = {m: list(ci_other) for m in success} | {"z": list(ci_z)}
    return {
        "equation": "smiling woman - neutral woman + neutral man",
        "n_trials": 200,
        "success": success,
        "ci95": ci,
        "candidates": {"a": 30, "b": 40, "c": 50},
        "target": {"Smiling": True, "Male": True},
        "attribute_rates": {m: {"Smiling": 0.5, "Male": 0.5} for m in success},
    }


def test_the_arithmetic_verdict_follows_the_intervals():
    beats = {"arithmetic": {"smile": _arith_entry(0.6, 0.1, (0.5, 0.7), (0.05, 0.2))}}
    beats["pool"] = {"n": 2000}
    assert "adds the attribute" in RA.arithmetic_verdict(beats, "smile")
    same = {"arithmetic": {"smile": _arith_entry(0.2, 0.18, (0.15, 0.25), (0.12, 0.3))}}
    same["pool"] = {"n": 2000}
    assert "does not clearly beat" in RA.arithmetic_verdict(same, "smile")
    table = RA.scores_table(beats["arithmetic"]["smile"])
    assert table.count("\n| ") == 1 + 5  # the header's separator line, then one row per method


def test_the_smoke_batchnorm_check_uses_a_generator_with_batchnorm():
    bn = RW.batch_check({}, SL.SIZES["smoke"])
    assert bn["eval"] < 1e-4 and bn["train"] > 1e-3  # the policy holds; batch statistics would not
    assert RW.batch_check({"batch_dependence": {"eval": 0.0}}, SL.SIZES["book"]) == {"eval": 0.0}


def test_the_stored_reliability_carries_its_protocol():
    rel = load_reliability()  # committed in artifacts/celeba_pose
    table = RA.reliability_table(rel)
    assert "Protocol: " + rel["protocol"][0] in table
    assert f"| turned (by eye) | {rel['turned']['n']} |" in table


def test_the_forgetting_caption_names_the_entry_layer_and_rates_it_shows():
    from dcgan_lib.studies import report_forgetting as rf

    assert [rf.conv_name(i) for i in (-4, -3, -2, -1)] == ["CONV 1", "CONV 2", "CONV 3", "CONV 4"]
    text = rf.KEY_CAPTION.format(
        n="Figure 1", k=5, entry="Eyeglasses", layer="CONV 2", before="10.0%",
        dropped="2.0%", random="9.0%",
    )  # fmt: skip
    assert "Eyeglasses" in text and "CONV 2" in text and "2.0%" in text and "smile" not in text
