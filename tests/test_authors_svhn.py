"""The authors' SVHN G on the pages: the fixed-z grid and its BatchNorm policy (§5.2), the stored
walk study scored like the faces model's (§6.1), and the readers that show them."""

import torch

from dcgan_lib import authors
from dcgan_lib.book import NOT_PRODUCED
from dcgan_lib.features import bn_stats_of
from dcgan_lib.models import generate, sample_z
from dcgan_lib.studies import authors_svhn as S
from dcgan_lib.studies import report_walks
from dcgan_lib.studies.latent import SIZES, walk_points
from dcgan_lib.walks import step_changes, walk


def test_grid_is_fixed_and_each_sample_depends_on_its_own_z_only():
    G = S.svhn_generator()
    x = S.sample_grid(G, n=16)
    assert x.shape == (16, 3, 32, 32) and x.abs().max() <= 1
    assert torch.equal(S.grid_z(16), S.grid_z(16))  # fixed z
    assert torch.allclose(S.sample_grid(G, n=4), x[:4], atol=1e-5)  # alone or among 16: same
    batch = S.sample_grid(G, n=16, policy="batch")  # the authors' sampling: batch statistics
    assert batch.shape == x.shape and not torch.allclose(batch, x, atol=1e-3)
    assert not G.training  # the comparison leaves G in eval mode
    assert torch.equal(S.sample_grid(G, n=16), x)  # and its stored statistics unchanged
    fig = S.grid_figure(x)
    assert fig.axes


def test_stored_sampling_statistics_are_the_documented_policy():
    """The projection's stored statistics are the average of the batch statistics of the
    documented z batches (``G_BN_BATCHES`` of ``G_BN_BATCH_SIZE``, seed ``G_BN_SEED``); the
    deeper layers follow the same ``features.average_batch_stats`` (tested in test_authors)."""
    G = S.svhn_generator()
    g = torch.Generator().manual_seed(authors.G_BN_SEED)
    means, variances = [], []
    with torch.no_grad():
        for _ in range(authors.G_BN_BATCHES):
            h = G.project[0](sample_z(authors.G_BN_BATCH_SIZE, G.cfg, g)).double()
            means.append(h.mean(0))
            variances.append(h.var(0, unbiased=False))
    sm, sv = bn_stats_of(G)[0]
    assert torch.allclose(torch.stack(means).mean(0).float(), sm, atol=1e-5)
    assert torch.allclose(torch.stack(variances).mean(0).float(), sv, rtol=1e-4)
    assert len(bn_stats_of(G)) == 3 and str(authors.G_BN_BATCHES) in authors.G_BN_POLICY


def test_stored_walk_study_ran_on_the_committed_g_and_redraws():
    cfg = SIZES["book"]
    m = S.load_walks(cfg)  # sha256 of its files and of the G it read checked
    assert m["generator"] == "authors_svhn32" and m["walk_endpoints_exact"]
    s = m["smoothness"]
    assert s["n_segments"] == cfg.smooth_walks * (cfg.walk_points - 1)
    assert s["memorizer"]["bank"] == 2 * cfg.random_pairs
    assert m["batch_dependence"]["eval"] < 1e-4 < m["batch_dependence"]["train"]
    G = S.svhn_generator()  # the figure's walk again, on this CPU
    x = generate(G, walk(walk_points(G.cfg, cfg), cfg.walk_steps))
    assert torch.allclose(step_changes(x), torch.tensor(m["walk_step_changes"]), atol=1e-4)


def test_walk_readers_put_the_svhn_g_beside_the_faces_model():
    svhn = S.load_walks()["smoothness"]
    md = report_walks.smoothness_comparison({"faces": None, "authors' SVHN": svhn})
    lines = md.splitlines()
    assert lines[0].count("|") == 6 and "authors' SVHN: memorizer" in lines[0]
    assert NOT_PRODUCED in lines[2] and f"{svhn['random_pair_rms']:.3f}" in lines[-1]
    glue = report_walks.svhn_walk_glue(S.load_walks())
    assert glue["svhn_walk_share_median"] == f"{svhn['generator']['max_step_share']['median']:.3f}"
    assert "memorizer" in glue["svhn_walk_verdict"] and "CPU" in glue["svhn_cpu"]
    assert set(report_walks.svhn_walk_glue(None).values()) == {NOT_PRODUCED}
