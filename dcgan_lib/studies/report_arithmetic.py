"""Page 09's reader (§6.3.2): how often the arithmetic meets its target, how the turn vector
moves the pose, how reliable the pose cue is, as tables and glued sentences; Fig. 7's example
drawn again from the stored study (its exemplar picks and z, the stored G), and the turn vector
made again, to check the stored study. Paper: §6.3.2."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from dcgan_lib import plotting, verdicts
from dcgan_lib.arithmetic import (
    EQUATIONS,
    METHODS,
    Concept,
    concept_mean,
    pixel_arithmetic,
    target_met,
    vector_arithmetic,
)
from dcgan_lib.attributes import predict_proba
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.data import to_uint8
from dcgan_lib.models import generate, sample_z
from dcgan_lib.studies.latent import SIZES, FacesStudy, LatentStudyConfig, load_stored, pool_z
from dcgan_lib.studies.report import markdown_table, model_glue, modes_glue

METHOD_LABELS = {
    "z": "z: mean a - mean b + mean c",
    "z_noise": "z + uniform noise (±0.25)",
    "pixel": "pixels: mean a - mean b + mean c",
    "c_only": "mean z of c alone",
    "random_z": "a random z",
}


def _describe(concept: Concept, hi: float, lo: float) -> str:
    return ", ".join(f"{a} {'>' if v else '<'} {hi if v else lo}" for a, v in concept.want)


def equations_table(hi: float, lo: float) -> str:
    """The two equations of Fig. 7 as classifier conditions (``arithmetic.EQUATIONS``)."""
    rows = [
        (
            f"`{key}`: {eq.name}",
            *(_describe(c, hi, lo) for c in (eq.a, eq.b, eq.c)),
            ", ".join(f"{a}: {'yes' if v else 'no'}" for a, v in eq.target),
        )
        for key, eq in EQUATIONS.items()
    ]
    return markdown_table(("equation", "a", "b", "c", "target"), rows)


def scores_table(entry: dict) -> str:
    """One equation's rates per method with their 95% intervals (``score_arithmetic``)."""
    cands = ", ".join(f"{r}: {n}" for r, n in entry["candidates"].items())
    if not entry["n_trials"]:
        return f"**{entry['equation']}**: not scored ({entry['skipped']}; candidates {cands})"
    attrs = list(entry["target"])
    rows = [
        (
            METHOD_LABELS[m],
            f"{entry['success'][m]:.3f}",
            "{:.2f}-{:.2f}".format(*entry["ci95"][m]),
            *(f"{entry['attribute_rates'][m][a]:.2f}" for a in attrs),
        )
        for m in METHODS
    ]
    return (
        f"**{entry['equation']}** ({entry['n_trials']} trials; qualifying samples {cands}; "
        "attribute columns: share the classifier calls positive)\n\n"
        + markdown_table(("method", "target met", "95% interval", *attrs), rows)
    )


def reliability_table(rel: dict) -> str:
    """The pose cue against the labels by eye (``studies.pose.load_reliability``: the counts of
    ``pose_cue_reliability`` and the labels' protocol)."""
    t, f = rel["turned"], rel["frontal"]
    nz, above = t["nonzero"], t["above_threshold"]
    rows = [
        ("turned (by eye)", t["n"], nz["decided"])
        + (f"{nz['sign_correct']} ({nz['ci95'][0]:.2f}-{nz['ci95'][1]:.2f})",)
        + (above["decided"], above["sign_correct"]),
        ("frontal (by eye)", f["n"], "-", "-", f["above_threshold"], "-"),
    ]
    head = ("faces", "n", "cue non-zero", "sign = labelled side", "with abs(score) > 0.3")
    return (
        markdown_table(head + ("sign = labelled side",), rows)
        + f"\n\nMedian abs(score): turned {rel['median_abs_score']['turned']:.2f}, frontal "
        f"{rel['median_abs_score']['frontal']:.2f}. Protocol: " + " ".join(rel["protocol"][:2])
    )


def turn_table(turn: dict, n_samples: int, alphas: Sequence[float]) -> str:
    """The pose along the turn vector and along the control direction (``pose_change``)."""
    rows = []
    for name in ("turn", "control"):
        c = turn[name]
        rho = "-" if c["spearman"] is None else f"{c['spearman']:.3f}"
        means = " ".join(f"{v:+.2f}" for v in c["mean_score"])
        rows.append((name, means, rho, f"{c['rose']:.2f}", f"{c['fell']:.2f}"))
    head = ("direction", "mean score at each α", "Spearman (α, score)", "samples whose score rose")
    return (
        f"{n_samples} random samples, α = {', '.join(f'{a:g}' for a in alphas)}; "
        f"|turn| = {turn['turn_norm']:.2f}, |control| = {turn['control_norm']:.2f}; "
        f"{turn['z_outside_unit_box']:.0%} of the moved coordinates leave [-1, 1].\n\n"
        + markdown_table(head + ("fell",), rows)
    )


def arithmetic_verdict(m: dict, key: str) -> str:
    """One equation's result in words: against the third concept alone and chance, then against
    the same arithmetic on pixels (the paper's contrast)."""
    entry = m.get("arithmetic", {}).get(key)
    if not entry:
        return ""
    eq = EQUATIONS[key]
    if not entry["n_trials"]:
        return f"{eq.name}: not scored ({entry['skipped']})."
    s, ci = entry["success"], entry["ci95"]
    text = (
        f"{eq.name}: the target in {verdicts.pct(s['z'])} of {entry['n_trials']} trials "
        f"({verdicts.pct(ci['z'][0])}-{verdicts.pct(ci['z'][1])}), against {verdicts.pct(s['c_only'])} for the third "
        f"concept alone and {verdicts.pct(s['random_z'])} for a random z. "
    )
    beats = len([n for n in ("c_only", "random_z") if ci["z"][0] > ci[n][1]]) == 2
    if beats:
        text += (
            "The arithmetic in z adds the attribute: it beats the third concept alone and chance"
        )
    elif s["z"] == 0:
        text += "The arithmetic in z never gives the target on this model"
    else:
        text += "The arithmetic in z does not clearly beat the third concept alone and chance"
    pixels = f"the same arithmetic on the exemplars' pixels ({verdicts.pct(s['pixel'])}, "
    pixels += f"{verdicts.pct(ci['pixel'][0])}-{verdicts.pct(ci['pixel'][1])})"
    if ci["pixel"][1] < ci["z"][0]:
        text += f", and it beats {pixels}, as the paper's Fig. 7 contrasts them. "
    else:
        more = "higher" if ci["pixel"][0] > ci["z"][1] else "about the same"
        text += (
            f"{'; but' if beats else ', and'} {pixels} scores {more} by the classifier: the "
            "paper's contrast of z against pixels does not appear here. "
        )
    return text.rstrip()  # the qualifying exemplars per concept: the scores table's header


def turns(turn: dict) -> bool:
    """The turn part of the §6.3.2 rule (``verdicts.arithmetic_rule``): along the turn vector
    the pose cue follows α over twice as closely (Spearman) as along the control direction,
    and rises for more samples."""
    return verdicts.turn_rule(turn)


def _turn_verdict(
    turn: dict, n_samples: int, alphas: Sequence[float], rel: dict | None = None
) -> str:
    tt, tc = turn["turn"], turn["control"]
    if tt["spearman"] is None:
        return ""
    rho_c = (
        "undefined (the cue never varied)" if tc["spearman"] is None else f"{tc['spearman']:.2f}"
    )
    text = (
        f"Along the turn vector the pose cue's mean score goes from {tt['mean_score'][0]:+.2f} "
        f"at α = {alphas[0]:g} to {tt['mean_score'][-1]:+.2f} at α = {alphas[-1]:g} (Spearman "
        f"{tt['spearman']:.2f}), and the score rose for {tt['rose']:.0%} of the {n_samples} "
        f"samples; along the control direction it goes from {tc['mean_score'][0]:+.2f} to "
        f"{tc['mean_score'][-1]:+.2f} (Spearman {rho_c}) and rose for {tc['rose']:.0%}. "
    )
    if not turns(turn):
        return (
            text
            + "By this cue the turn vector does not move the pose clearly more than the control."
        )
    text += (
        "By this cue the turn vector moves the pose far more than a direction of the same kind "
        "does, though the control's score rises too"
    )
    if rel:
        f = rel["frontal"]
        text += (
            f"; and the cue is noisy for one image (it scores {f['above_threshold']} of "
            f"{f['n']} frontal faces above {rel['threshold']:g} in size)"
        )
    return text + (
        ". The numbers show the pose shifting on average along the vector; how reliably it "
        "turns one face, the cue cannot say."
    )


def arithmetic_glue(
    m: dict, rel: dict | None, n_samples: int, alphas: Sequence[float]
) -> dict[str, str]:
    """Page 09's glued numbers and sentences: the rates per equation and method, the turn and
    its control (``n_samples`` moved along ``alphas``), the pose cue's reliability ``rel``."""
    out = model_glue(m.get("run"))
    for key in EQUATIONS:
        entry = m.get("arithmetic", {}).get(key)
        for method in METHODS:
            ok = entry and entry["n_trials"]
            out[f"{key}_{method}"] = f"{entry['success'][method]:.2f}" if ok else NOT_PRODUCED
        out[f"{key}_verdict"] = arithmetic_verdict(m, key)
    turn = m.get("turn")
    for name in ("turn", "control"):
        r = turn[name]["spearman"] if turn else None
        rho = "undefined (the cue never varied)" if r is None else f"{r:.2f}"
        out[f"{name}_rho"] = rho if turn else NOT_PRODUCED
        out[f"{name}_rose"] = f"{turn[name]['rose']:.2f}" if turn else NOT_PRODUCED
    out["turn_verdict"] = _turn_verdict(turn, n_samples, alphas, rel) if turn else ""
    out.update(
        dict.fromkeys(("cue_correct", "cue_turned_n", "cue_frontal", "cue_threshold"), NOT_PRODUCED)
    )
    if rel:
        t = rel["turned"]
        out["cue_correct"] = f"{t['nonzero']['sign_correct']} of {t['nonzero']['decided']}"
        out["cue_turned_n"] = f"{t['n']}"
        out["cue_frontal"] = f"{rel['frontal']['above_threshold']} of {rel['frontal']['n']}"
        out["cue_threshold"] = f"{rel['threshold']:g}"
    return out


# ---------------------------------------------------------------------------------------------
# What the page checks again


def judged_again(study: FacesStudy, key: str) -> list[bool]:
    """An equation's example (its result and noisy neighbours, ``z`` as stored) drawn and judged
    again here: whether each image meets the target, as the study stored it. Paper: §6.3.2."""
    assert study.G is not None and study.classifier is not None
    z = torch.tensor(study.metrics["arithmetic"][key]["example"]["z"])
    p = predict_proba(study.classifier, generate(study.G, z))
    return target_met(p, study.classifier.cfg.attributes, EQUATIONS[key].target).tolist()


def turn_norm_again(study: FacesStudy, cfg: LatentStudyConfig) -> float:
    """The turn vector's length, rebuilt from the stored left and right pool indices and the
    pool's z (``studies.latent.pool_z``). Paper: §6.3.2."""
    assert study.G is not None
    z, turn = pool_z(study.G.cfg, cfg), study.metrics["turn"]
    return float((concept_mean(z, turn["right"]) - concept_mean(z, turn["left"])).norm())


# ---------------------------------------------------------------------------------------------
# Fig. 7, drawn from the stored study


def example_again(study: FacesStudy, cfg: LatentStudyConfig, key: str) -> dict[str, torch.Tensor]:
    """An equation's stored example drawn again with the study's G: the tensors of
    ``arithmetic.arithmetic_example`` ("exemplars" (3, k, 3, S, S), "means" (3, 3, S, S),
    "z_result" (9, 3, S, S), the result Y first, "pixel_result" (3, S, S), "z" (9, nz)), from
    the stored exemplar picks (indices into the pool, ``studies.latent.pool_z``) and the stored
    z of Y and its noisy neighbours. Exemplars are rounded to 8 bits, as the pool holds them.
    Paper: §6.3.2, Fig. 7."""
    G = study.G
    assert G is not None
    ex = study.metrics["arithmetic"][key]["example"]
    z_pool = pool_z(G.cfg, cfg)  # type: ignore[arg-type]

    def images(idx: Sequence[int]) -> torch.Tensor:
        x = generate(G, z_pool[torch.as_tensor(np.asarray(idx, dtype=np.int64))])
        return to_uint8(x).float() / 127.5 - 1

    picks = [ex["picks"][r] for r in "abc"]
    exemplars = [images(i) for i in picks]
    means = torch.stack([concept_mean(z_pool, i) for i in picks])
    z = torch.tensor(ex["z"])
    return {
        "exemplars": torch.stack(exemplars),
        "means": generate(G, means),
        "z_result": generate(G, z),
        "pixel_result": pixel_arithmetic(*exemplars),
        "z": z,
        "y": vector_arithmetic(*means),  # Y = mean a - mean b + mean c: z[0], as stored
    }


def y_again(study: FacesStudy, cfg: LatentStudyConfig, key: str) -> torch.Tensor:
    """Y of an equation's stored example, made again without drawing: the arithmetic on the
    mean z of the stored exemplar picks (nz,); the stored example's first z must equal it."""
    G = study.G
    assert G is not None
    z_pool = pool_z(G.cfg, cfg)  # type: ignore[arg-type]
    picks = study.metrics["arithmetic"][key]["example"]["picks"]
    return vector_arithmetic(*(concept_mean(z_pool, picks[r]) for r in "abc"))


def example_figure(study: FacesStudy, cfg: LatentStudyConfig, key: str) -> Figure:
    """Fig. 7 for one equation (``plotting.equation_figure``: Y at the centre of the 3 x 3 grid):
    from the study's own tensors when it ran on the page (smoke and full modes), else drawn
    again from the stored study (``example_again``). Paper: §6.3.2, Fig. 7."""
    eq, e = EQUATIONS[key], study.metrics["arithmetic"][key]["example"]
    ex = study.figures.get("arithmetic", {}).get(key) or example_again(study, cfg, key)
    names = [eq.a.name, eq.b.name, eq.c.name]
    return plotting.equation_figure(
        eq.name, names, ex, e["z_result_target_met"], e["pixel_result_target_met"]
    )


FIG7_CAPTION = (
    "{n}. Fig. 7 on our faces model, {eq}: the three exemplars of each concept (columns) and "
    "the image of their mean z below them; Y, the arithmetic on the mean z's, at the centre of "
    "the 3 x 3 grid (framed) with its 8 neighbours at ±{scale:g} uniform noise around it, as in "
    "the paper; on the right the same arithmetic on the exemplars' pixels. ✓ / ✗: whether the "
    "attribute classifier finds the target ({target})."
)


def show_example(
    study: FacesStudy | None, cfg: LatentStudyConfig, key: str, number: str = "Figure"
) -> None:
    """Display Fig. 7 for equation ``key`` with its numbered caption; without a stored study,
    or with an example the study skipped, say so instead."""
    from IPython.display import Markdown, display

    entry = (study.metrics if study else {}).get("arithmetic", {}).get(key, {})
    example = entry.get("example", {})
    if study is None or not entry:
        return
    if "skipped" in example:
        display(Markdown(f"> **No example for `{key}`:** {example['skipped']}"))
        return
    eq = EQUATIONS[key]
    target = ", ".join(f"{a}: {'yes' if v else 'no'}" for a, v in eq.target)
    caption = FIG7_CAPTION.format(n=number, eq=eq.name, scale=cfg.noise_scale, target=target)
    plotting.show(example_figure(study, cfg, key))
    display(Markdown(f"*{caption}*"))


def examples_to_show(mode: str) -> list[str]:
    """The equations a page shows in its Fig. 7 section: all of them, but in book mode not the
    one its first screen shows already (``KEY_EQUATION``, from the same stored study)."""
    return [k for k in EQUATIONS if not (mode == "book" and k == KEY_EQUATION)]


KEY_EQUATION = "smile"  # the chapter's key figure: the paper's first row of Fig. 7


@functools.cache
def stored_study() -> FacesStudy:
    """The stored study (``artifacts/vector_arithmetic``, book sizes) with the G and judge it ran
    on, loaded once a page; raises ArtifactMissing (naming the command) when it is missing."""
    return load_stored("vector_arithmetic", SIZES["book"])


def show_key_figure(number: str = "Figure 1") -> None:
    """The chapter's key figure: Fig. 7's first equation (``KEY_EQUATION``) of the stored study,
    drawn again from it (Y at the centre), or the not-produced message naming its command."""
    from dcgan_lib.artifacts import ArtifactMissing
    from dcgan_lib.book import not_produced

    try:
        study = stored_study()
    except ArtifactMissing as err:
        not_produced(err)
        return
    show_example(study, SIZES["book"], KEY_EQUATION, number)


# ---------------------------------------------------------------------------------------------
# Fig. 8, drawn from the stored study


def turn_inputs(study: FacesStudy, cfg: LatentStudyConfig) -> dict[str, torch.Tensor]:
    """The turn part's inputs made again from a stored study, without drawing: the turn vector
    and the control direction (nz,) from the stored pool indices, and the z of the random
    samples moved along them (turn_samples, nz), from the same seeded generator (``seed + 9``:
    the control's draw, then the samples' z). Paper: §6.3.2, Fig. 8."""
    G, t = study.G, study.metrics["turn"]
    assert G is not None
    z_pool = pool_z(G.cfg, cfg)  # type: ignore[arg-type]
    turn = concept_mean(z_pool, t["right"]) - concept_mean(z_pool, t["left"])
    ctrl = np.asarray(t["control_indices"])
    control = concept_mean(z_pool, ctrl[: cfg.k_turn]) - concept_mean(z_pool, ctrl[cfg.k_turn :])
    g = torch.Generator().manual_seed(cfg.seed + 9)
    torch.randperm(t["n_scored"], generator=g)  # the control's draw comes first, as in the study
    z = sample_z(cfg.turn_samples, G.cfg, g)  # type: ignore[arg-type]
    return {"z": z, "turn_vector": turn, "control_vector": control, "z_pool": z_pool}


def turn_again(study: FacesStudy, cfg: LatentStudyConfig) -> dict[str, torch.Tensor]:
    """The turn part of a stored study drawn again with its G (``turn_inputs``): the first
    ``turn_shown`` random samples moved along the turn vector and along the control ("turn",
    "control": (n, len(alphas), 3, S, S)) and the samples that make the turn vector
    ("exemplars" (2k, 3, S, S), left then right, 8-bit as the pool holds them); also the inputs
    ("z", "turn_vector", "control_vector"). Paper: §6.3.2, Fig. 8."""
    G, t = study.G, study.metrics["turn"]
    assert G is not None
    out = turn_inputs(study, cfg)
    z, alphas = out["z"], torch.tensor(cfg.turn_alphas)
    for name in ("turn", "control"):
        moved = z[: cfg.turn_shown, None, :] + alphas[None, :, None] * out[f"{name}_vector"]
        x = generate(G, moved.flatten(0, 1))
        out[name] = x.view(cfg.turn_shown, len(alphas), *x.shape[1:])
    idx = torch.as_tensor(np.concatenate([t["left"], t["right"]]), dtype=torch.long)
    out["exemplars"] = to_uint8(generate(G, out.pop("z_pool")[idx])).float() / 127.5 - 1
    return out


def turn_figures(study: FacesStudy, cfg: LatentStudyConfig) -> dict[str, Figure]:
    """Fig. 8's pictures (``studies.latent.study_figures``' names): from the study's own tensors
    when it ran on the page, else drawn again from the stored study (``turn_again``)."""
    f, t = study.figures, study.metrics["turn"]
    if "turn:turn" in f:
        x = {"turn": f["turn:turn"], "control": f["turn:control"],
             "exemplars": f["turn_exemplars"]}  # fmt: skip
    else:
        x = turn_again(study, cfg)
    scores = t["left_scores"] + t["right_scores"]
    side = ["left"] * len(t["left"]) + ["right"] * len(t["right"])
    return {
        "turn_exemplars.png": plotting.labelled_row(
            list(x["exemplars"]),
            [f"{w} {v:+.2f}" for w, v in zip(side, scores, strict=True)],
            "the samples that make the turn vector, with their pose scores",
        ),
        "turn.png": plotting.direction_figure(x["turn"], cfg.turn_alphas, "z + α · turn vector"),
        "turn_control.png": plotting.direction_figure(
            x["control"],
            cfg.turn_alphas,
            f"z + α · control ({cfg.k_turn} random minus {cfg.k_turn} random samples)",
        ),
    }


def config_glue(cfg: LatentStudyConfig) -> dict[str, str]:
    """Page 09's settings as glued text: this mode's sizes (``cfg``), what each of ``SIZES``
    runs, measured costs (the smoke command's, ``run_yourself.cost_text``, and the stored
    study's own, ``chapter.measured_costs``), and the stored classifier's training size and
    held-out accuracy on the attributes of Fig. 7 (``artifacts/celeba_attributes``)."""
    from dcgan_lib.artifacts import ArtifactMissing, require_json

    try:
        clf = require_json("celeba_attributes")
    except ArtifactMissing:
        clf = {}

    def runs(c: LatentStudyConfig) -> str:
        return (
            f"{c.pool:,} samples to pick exemplars from, {c.n_trials:,} random exemplar triples "
            f"per equation, the pose cue on {c.turn_pool:,} samples and {c.turn_samples} samples "
            "moved along each direction"
        )

    used = dict.fromkeys(a for eq in EQUATIONS.values() for a, _ in eq.target)
    held = clf.get("heldout", {})
    acc = ", ".join(
        f"{a.lower()} {held[a]['accuracy']:.2f} (the commoner answer alone: "
        f"{held[a]['majority_baseline']:.2f})"
        for a in used
        if a in held
    )
    return {
        "cfg_pool": f"{cfg.pool:,}",
        "cfg_hi": f"{cfg.hi:g}",
        "cfg_lo": f"{cfg.lo:g}",
        "cfg_n_trials": f"{cfg.n_trials:,}",
        "cfg_turn_pool": f"{cfg.turn_pool:,}",
        "cfg_turn_samples": f"{cfg.turn_samples}",
        **modes_glue(runs, SIZES, "arithmetic_smoke", "vector_arithmetic"),
        "clf_n_train": f"{clf['n_train']:,}" if "n_train" in clf else NOT_PRODUCED,
        "clf_accuracy": acc or NOT_PRODUCED,
    }


def show_turn(
    figures: dict[str, Figure], turn: dict, cfg: LatentStudyConfig, number: str = "Figure 3"
) -> None:
    """Fig. 8 on the page: the samples moved along the turn vector (``figures["turn.png"]``,
    shown with its numbered caption) and the pose along both directions (``turn_table``); the
    turn's exemplars and the control's pictures glued (``turn_exemplars_figure``,
    ``turn_control_figure``) for a dropdown. Paper: §6.3.2, Fig. 8."""
    from IPython.display import Image, Markdown, display
    from myst_nb import glue

    plotting.show(figures["turn.png"])
    display(Markdown(
        f"*{number}. Fig. 8 on our faces model: {cfg.turn_shown} of the {cfg.turn_samples} random "
        "samples (rows), each moved along the turn vector from α = "
        f"{cfg.turn_alphas[0]:g} to {cfg.turn_alphas[-1]:g} (columns). In the paper the faces "
        "turn from one side to the other; look for the nose and the face's outline moving "
        "across, and compare with the control direction in the dropdown below.*"
    ))  # fmt: skip
    display(Markdown(turn_table(turn, cfg.turn_samples, cfg.turn_alphas)))
    for name in ("turn_exemplars", "turn_control"):
        glue(
            f"{name}_figure", Image(data=plotting.png_bytes(figures[f"{name}.png"])), display=False
        )
