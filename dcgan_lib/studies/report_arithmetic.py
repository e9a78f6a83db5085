"""Page 09's reader (§6.3.2): how often the arithmetic meets its target, how the turn vector
moves the pose, how reliable the pose cue is, as tables and glued sentences; an example and the
turn vector made again to check the stored study. Paper: §6.3.2."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dcgan_lib.arithmetic import EQUATIONS, METHODS, Concept, concept_mean, target_met
from dcgan_lib.attributes import predict_proba
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.models import generate
from dcgan_lib.studies.latent import FacesStudy, LatentStudyConfig, pool_z
from dcgan_lib.studies.report import markdown_table, model_glue

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
    """One equation's result in words: against the third concept alone, chance and pixels."""
    entry = m.get("arithmetic", {}).get(key)
    if not entry:
        return ""
    eq, cands = EQUATIONS[key], entry["candidates"]
    if not entry["n_trials"]:
        return f"{eq.name}: not scored ({entry['skipped']})."
    s, ci = entry["success"], entry["ci95"]
    text = (
        f"{eq.name}: the target in {s['z']:.0%} of {entry['n_trials']} trials "
        f"({ci['z'][0]:.0%}-{ci['z'][1]:.0%}), against {s['c_only']:.0%} for the third concept "
        f"alone, {s['random_z']:.0%} for a random z and {s['pixel']:.0%} for the same arithmetic "
        "on pixels. "
    )
    beats = [n for n in ("c_only", "random_z") if ci["z"][0] > ci[n][1]]
    if len(beats) == 2:
        text += (
            "The arithmetic in z adds the attribute: it beats the third concept alone and chance. "
        )
    elif s["z"] == 0:
        text += "The arithmetic in z never gives the target on this model. "
    else:
        text += "The arithmetic in z does not clearly beat the third concept alone and chance. "
    if ci["pixel"][0] > ci["z"][1]:
        text += "Blending the exemplar images scores higher by the classifier"
    elif ci["pixel"][1] < ci["z"][0]:
        text += "Blending the exemplar images scores lower by the classifier"
    else:
        text += "Blending the exemplar images scores about the same by the classifier"
    text += (
        " (CelebA's faces are aligned, which removes the misalignment the paper blames for pixel "
        'arithmetic\'s "noisy overlap"; the figure shows what a blend looks like). '
    )
    return text + (
        f"Qualifying exemplars among {m['pool']['n']:,} samples: {cands['a']} for "
        f"{eq.a.name}, {cands['b']} for {eq.b.name}, {cands['c']} for {eq.c.name}."
    )


def _turn_verdict(turn: dict, n_samples: int, alphas: Sequence[float]) -> str:
    tt, tc = turn["turn"], turn["control"]
    if tt["spearman"] is None:
        return ""
    turns = tt["spearman"] > 2 * abs(tc["spearman"] or 0) and tt["rose"] > tc["rose"]
    rho_c = (
        "undefined (the cue never varied)" if tc["spearman"] is None else f"{tc['spearman']:.2f}"
    )
    return (
        f"Along the turn vector the mean pose score goes from {tt['mean_score'][0]:+.2f} at "
        f"α = {alphas[0]:g} to {tt['mean_score'][-1]:+.2f} at α = {alphas[-1]:g} (Spearman "
        f"{tt['spearman']:.2f}), and {tt['rose']:.0%} of the {n_samples} samples turn towards "
        f"the right; along the control direction {tc['mean_score'][0]:+.2f} to "
        f"{tc['mean_score'][-1]:+.2f} (Spearman {rho_c}), {tc['rose']:.0%}. "
        + (
            "By the pose cue, the turn vector moves the pose more consistently than the "
            "control direction does (the control moves it too, and the cue is imperfect: see "
            "its reliability below)."
            if turns
            else "The turn vector does not move the pose clearly more than the control."
        )
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
    out["turn_verdict"] = _turn_verdict(turn, n_samples, alphas) if turn else ""
    out.update(dict.fromkeys(("cue_correct", "cue_turned_n", "cue_frontal"), NOT_PRODUCED))
    if rel:
        t = rel["turned"]
        out["cue_correct"] = f"{t['nonzero']['sign_correct']} of {t['nonzero']['decided']}"
        out["cue_turned_n"] = f"{t['n']}"
        out["cue_frontal"] = f"{rel['frontal']['above_threshold']} of {rel['frontal']['n']}"
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
