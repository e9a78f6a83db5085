"""Page 06's reader (§6.1): how smooth the walks are and how near the samples lie to the training
images, as tables and the sentences the page glues; the galleries of nearest training images,
drawn from the data; the BatchNorm check. Paper: §6.1."""

from __future__ import annotations

from dcgan_lib import plotting
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.data import Packed
from dcgan_lib.models import generate
from dcgan_lib.neighbours import Neighbours
from dcgan_lib.studies.latent import FacesStudy, LatentStudyConfig, neighbour_z, walk_points
from dcgan_lib.studies.report import faces_data, markdown_table, model_glue
from dcgan_lib.toys import batchnorm_generator
from dcgan_lib.walks import batch_dependence, walk

_SMOOTH_ROWS = [
    ("largest step's share of a segment (median)", "max_step_share", "median"),
    ("largest step's share of a segment (90th percentile)", "max_step_share", "p90"),
    ("largest step's share of a segment (max)", "max_step_share", "max"),
    ("sharp segments (share > 0.5)", "sharp_segments", None),
    ("mean step / random-pair change", "mean_step_vs_random", None),
    ("largest step / random-pair change (median)", "max_step_vs_random", "median"),
    ("segment endpoints' change / random-pair change", "endpoint_vs_random", None),
]


def smoothness_table(smooth: dict) -> str:
    """The smoothness of G's walks next to the memorizer's (``walks.walk_smoothness``)."""
    rows = []
    for label, key, sub in _SMOOTH_ROWS:
        g, m = smooth["generator"][key], smooth["memorizer"][key]
        g, m = (g[sub], m[sub]) if sub else (g, m)
        rows.append((label, f"{g:.3f}", f"{m:.3f}"))
    return (
        f"{smooth['n_segments']} segments of {smooth['steps']} steps; random-pair RMS change "
        f"{smooth['random_pair_rms']:.3g}; memorizer bank {smooth['memorizer']['bank']} samples; "
        f"an even change would give a share of {1 / smooth['steps']:.3f}.\n\n"
        + markdown_table(("per segment", "G", "memorizer"), rows)
    )


def neighbours_table(nb: dict, loo_images: int) -> str:
    """Samples' distances to their nearest training image next to real images' to their nearest
    other one, per space (``studies.latent``'s ``neighbours`` part)."""
    rows = [
        (
            name,
            f"{s['sample_nearest']['median']:.3f}",
            f"{s['real_nearest_other']['median']:.3f}",
            f"{s['share_closer_than_real_p01']:.3f}",
        )
        for name, s in nb["spaces"].items()
    ]
    head = (
        "space",
        "sample to nearest training image (median)",
        "real image to nearest other (median)",
        "samples closer than 99% of real pairs",
    )
    return (
        f"{nb['n_samples']} samples against {nb['n_reference']:,} training images; the real "
        f"images' distances are for {loo_images} training images to their nearest *other* "
        "training image.\n\n" + markdown_table(head, rows)
    )


def _walk_verdict(smooth: dict) -> str:
    g, mem, steps = smooth["generator"], smooth["memorizer"], smooth["steps"]
    smooth_walk = (
        g["sharp_segments"] == 0
        and g["max_step_share"]["median"] < mem["max_step_share"]["median"] / 2
    )
    return (
        f"Over {smooth['n_segments']} segments of {smooth['n_walks']} walks, the largest step "
        f"carries a median {g['max_step_share']['median']:.3f} of its segment's change (an even "
        f"change: {1 / steps:.3f}; a jump: 1) and at most {g['max_step_share']['max']:.3f}; "
        f"{g['sharp_segments']:.0%} of the segments are sharp (one step over half the change). "
        f"The memorizer, along the same paths, puts a median "
        f"{mem['max_step_share']['median']:.3f} of a segment's change into one step, and "
        f"{mem['sharp_segments']:.0%} of its segments are sharp. "
        + (
            "By this measure the walks have no sharp transitions, the sign of memorization the "
            "paper names: they change close to evenly, and far more evenly than a lookup of "
            "stored samples. It does not say whether every image along them is plausible, nor "
            "what changes: that is judged by eye, and the paper judged its own walks by eye."
            if smooth_walk
            else "By this measure the model's walks are not clearly smoother than a lookup of "
            "stored images."
        )
    )


def _nn_verdict(nb: dict) -> str:
    pix = nb.get("spaces", {}).get("pixel")
    feat = nb.get("spaces", {}).get("attribute classifier features")
    if not (pix and feat):
        return ""
    n_close = [round(s["share_closer_than_real_p01"] * nb["n_samples"]) for s in (pix, feat)]
    closer = pix["sample_nearest"]["median"] < pix["real_nearest_other"]["median"]
    return (
        f"Here a sample's nearest training image lies at a median "
        f"{pix['sample_nearest']['median']:.3f} in pixels ({'closer' if closer else 'farther'} "
        f"than a real image's nearest other real image, {pix['real_nearest_other']['median']:.3f})"
        f" and {feat['sample_nearest']['median']:.3f} in features (real: "
        f"{feat['real_nearest_other']['median']:.3f}). "
        + (
            f"None of the {nb['n_samples']} samples, in either space, is closer to a training "
            "image than 99% of real images are to their nearest other one: no sample is a "
            "near-exact copy. A shifted, flipped or recoloured copy would not be found this way "
            "(the paper's caveat), so this rules out near-exact copies only."
            if n_close == [0, 0]
            else f"{n_close[0]} (pixels) and {n_close[1]} (features) of the {nb['n_samples']} "
            "samples are closer to a training image than 99% of real images are to their "
            "nearest other one: those are the ones to look at in the gallery; they may be copies."
        )
    )


def walks_glue(m: dict, bn: dict | None) -> dict[str, str]:
    """Page 06's glued numbers and sentences, from the study's metrics ``m`` and the BatchNorm
    check ``bn`` (``walks.batch_dependence``)."""
    out = model_glue(m.get("run"))
    smooth = m.get("smoothness")
    out["walk_shown"] = "9 random points, shown above" if m else NOT_PRODUCED
    keys = ["walk_share_median", "walk_share_max", "walk_sharp", "mem_share_median", "mem_sharp"]
    keys += ["bn_eval", "bn_train", "walk_verdict"]
    out.update(dict.fromkeys(keys, NOT_PRODUCED))
    if smooth:
        g, mem = smooth["generator"], smooth["memorizer"]
        out["walk_share_median"] = f"{g['max_step_share']['median']:.3f}"
        out["walk_share_max"] = f"{g['max_step_share']['max']:.3f}"
        out["walk_sharp"] = f"{g['sharp_segments']:.0%}"
        out["mem_share_median"] = f"{mem['max_step_share']['median']:.3f}"
        out["mem_sharp"] = f"{mem['sharp_segments']:.0%}"
        out["walk_verdict"] = _walk_verdict(smooth)
    if bn:
        out["bn_eval"], out["bn_train"] = f"{bn['eval']:.1e}", f"{bn['train']:.3f}"
    nb = m.get("neighbours", {})
    pix = nb.get("spaces", {}).get("pixel")
    out["nn_pixel"] = f"{pix['sample_nearest']['median']:.3f}" if pix else NOT_PRODUCED
    out["nn_pixel_real"] = f"{pix['real_nearest_other']['median']:.3f}" if pix else NOT_PRODUCED
    out["nn_pixel_close"] = f"{pix['share_closer_than_real_p01']:.3f}" if pix else NOT_PRODUCED
    out["nn_verdict"] = _nn_verdict(nb)
    return out


# ---------------------------------------------------------------------------------------------
# What the page draws or measures itself


def batch_check(metrics: dict, cfg: LatentStudyConfig) -> dict | None:
    """The BatchNorm check the page shows (``walks.batch_dependence`` on the figure's walk): the
    study's; at smoke size, where the toy has no BatchNorm, the same check on an untrained
    ``smoke64`` G (``toys.batchnorm_generator``). Paper: §6.1."""
    if cfg.mode != "smoke":
        return metrics.get("batch_dependence")
    G = batchnorm_generator(cfg.seed)
    path = walk(walk_points(G.cfg, cfg), cfg.walk_steps)
    return batch_dependence(G, path, n_others=64, seed=cfg.seed + 1)


def neighbour_galleries(
    study: FacesStudy, cfg: LatentStudyConfig, data: Packed, rows: int = 6
) -> list:
    """One gallery per space of the study's nearest training images: its first ``rows`` samples
    drawn again (``neighbour_z``) beside their neighbours, read from ``data``. Paper: §6.1."""
    assert study.G is not None
    samples = generate(study.G, neighbour_z(study.G.cfg, cfg))
    return [
        plotting.neighbours_figure(samples, Neighbours.from_json(s["samples"]), data.images, rows)
        for s in study.metrics["neighbours"]["spaces"].values()
    ]


def show_neighbours(study: FacesStudy, cfg: LatentStudyConfig, data_root=None) -> Packed | None:
    """Show the galleries (``neighbour_galleries``) and return the training set they read: the
    study's own where it ran here, else CelebA-10k from ``data_root`` (without it, the
    data-missing message and None). A gallery shows training images: it is drawn where the data
    is, never stored. Paper: §6.1."""
    data = study.data if study.data is not None else faces_data(data_root)
    for fig in neighbour_galleries(study, cfg, data) if data is not None else []:
        plotting.show(fig)
    return data


# ---------------------------------------------------------------------------------------------
# The authors' SVHN G beside the faces model (studies.authors_svhn)


def smoothness_comparison(models: dict[str, dict | None]) -> str:
    """Several generators' walk smoothness side by side, each next to its memorizer (a lookup of
    stored samples along the same paths) and with its random-pair scale: ``{name: the study's
    "smoothness" (walks.walk_smoothness), or None when not produced}``. Paper: §6.1."""
    present = {k: v for k, v in models.items() if v}
    head = ["per segment"]
    for name in models:
        head += [f"{name}: G", f"{name}: memorizer"]
    rows = []
    for label, key, sub in _SMOOTH_ROWS:
        row = [label]
        for name in models:
            s = present.get(name)
            if s is None:
                row += [NOT_PRODUCED, NOT_PRODUCED]
                continue
            g, m = s["generator"][key], s["memorizer"][key]
            g, m = (g[sub], m[sub]) if sub else (g, m)
            row += [f"{g:.3f}", f"{m:.3f}"]
        rows.append(row)
    scale = ["random-pair RMS change (the scale)"]
    for name in models:
        s = present.get(name)
        scale += [f"{s['random_pair_rms']:.3f}", ""] if s else [NOT_PRODUCED, ""]
    return markdown_table(head, rows + [scale])


def svhn_walk_glue(m: dict | None) -> dict[str, str]:
    """The glued numbers and sentence of the authors' SVHN G's walk (``authors_svhn.load_walks``
    or ``walk_study(...).metrics``), "not produced yet" for each when ``m`` is None."""
    keys = ["svhn_walk_share_median", "svhn_walk_share_max", "svhn_walk_sharp"]
    keys += ["svhn_mem_share_median", "svhn_mem_sharp", "svhn_walk_verdict"]
    keys += ["svhn_bn_eval", "svhn_bn_train", "svhn_cpu"]
    out = dict.fromkeys(keys, NOT_PRODUCED)
    smooth = (m or {}).get("smoothness")
    if smooth:
        g, mem = smooth["generator"], smooth["memorizer"]
        out["svhn_walk_share_median"] = f"{g['max_step_share']['median']:.3f}"
        out["svhn_walk_share_max"] = f"{g['max_step_share']['max']:.3f}"
        out["svhn_walk_sharp"] = f"{g['sharp_segments']:.0%}"  # as walks_glue writes it
        out["svhn_mem_share_median"] = f"{mem['max_step_share']['median']:.3f}"
        out["svhn_mem_sharp"] = f"{mem['sharp_segments']:.0%}"
        out["svhn_walk_verdict"] = _walk_verdict(smooth)
    bn = (m or {}).get("batch_dependence")
    if bn:
        out["svhn_bn_eval"], out["svhn_bn_train"] = f"{bn['eval']:.1e}", f"{bn['train']:.3f}"
    run = (m or {}).get("run")
    if run:
        out["svhn_cpu"] = f"{run['cpu_seconds']:.0f} s of CPU on {run['machine']}"
    return out
