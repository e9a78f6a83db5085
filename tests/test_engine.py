"""The fast engine runs the paper's algorithm: same batches, same z, same updates (paper §4).

On the CPU the fast path runs without its CUDA graph; the tests marked ``gpu`` check the graph.
"""

import copy
import json

import numpy as np
import pytest
import torch
from _smoke import DATA, assert_same_training_state, smoke_cfg

import dcgan_lib.engine as E
import dcgan_lib.step as S
import dcgan_lib.train as T
from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.config import ConfigError, get_model_config
from dcgan_lib.data import epoch_order
from dcgan_lib.distributed import Dist
from dcgan_lib.models import Discriminator, Generator, sample_z
from dcgan_lib.storage import read_jsonl

CPU = torch.device("cpu")
OFF = E.FastOptions(amp=False, channels_last=False, fused_adam=False, cuda_graph=False)


def _nets(cfg, seed=0):
    torch.manual_seed(seed)
    return Generator(cfg.model), Discriminator(cfg.model)


def _runners(cfg, fast_options, optimizer="adam"):
    """An eager and a fast runner from the same weights, data order and z seed."""
    G, D = _nets(cfg)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    if optimizer == "adam":
        opt_g, opt_d = S.make_optimizers(G, D, cfg)
    else:  # plain SGD: an update is -lr times the gradient, so updates compare gradients
        opt_g, opt_d = (torch.optim.SGD(m.parameters(), lr=0.01) for m in (G, D))
    eager = E.EagerRunner(
        G, D, opt_g, opt_d, cfg, DATA, CPU, torch.Generator().manual_seed(5), Dist()
    )
    G2, D2 = fast_options.prepare(G2), fast_options.prepare(D2)
    if optimizer == "adam":
        opt_g2, opt_d2 = S.make_optimizers(G2, D2, cfg, **fast_options.adam_kwargs())
    else:
        opt_g2, opt_d2 = (torch.optim.SGD(m.parameters(), lr=0.01) for m in (G2, D2))
    fast = E.FastRunner(
        G2,
        D2,
        opt_g2,
        opt_d2,
        cfg,
        DATA.images,
        CPU,
        torch.Generator().manual_seed(5),
        fast_options,
    )
    order = epoch_order(len(DATA), 0, cfg.seed)
    eager.set_epoch(order)
    fast.set_epoch(order)
    return eager, fast


def _params(*modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


def test_fast_path_with_every_option_off_is_the_eager_engine_exactly():
    eager, fast = _runners(smoke_cfg("unused"), OFF)
    for it in range(3):
        eager.step(it)
        fast.step(it)
    for a, b in zip(_params(eager.G, eager.D), _params(fast.G, fast.D), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(eager.G.buffers(), fast.G.buffers(), strict=True):
        assert torch.equal(a, b)  # BatchNorm running statistics too
    assert eager.read_window() == fast.read_window()


def test_compiled_modules_inside_the_step_compute_the_eager_step():
    # torch.compile's graph capture (dynamo + AOTAutograd) without code generation: the traced
    # G and D run inside the same train_step and give the eager numbers bit for bit. (Inductor's
    # code generation takes minutes on a 2-core CPU; on a GPU, benchmarks/numerics.py compares.)
    options = E.FastOptions(
        amp=False, channels_last=False, fused_adam=False, cuda_graph=False, compile=True,
        compile_backend="aot_eager",
    )  # fmt: skip
    eager, fast = _runners(smoke_cfg("unused"), options)
    assert fast.G_step is not fast.G and fast.G_step._orig_mod is fast.G  # same weights
    for it in range(3):
        eager.step(it)
        fast.step(it)
    for a, b in zip(_params(eager.G, eager.D), _params(fast.G, fast.D), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(eager.D.buffers(), fast.D.buffers(), strict=True):
        assert torch.equal(a, b)
    assert eager.read_window() == fast.read_window()
    assert fast.options["compile"] is True and fast.options["compile_backend"] == "aot_eager"


def test_bf16_channels_last_step_matches_fp32_within_bf16_tolerance():
    cfg = smoke_cfg("unused")
    eager, fast = _runners(cfg, E.FastOptions(cuda_graph=False), optimizer="sgd")
    n_g = len(list(eager.G.parameters()))
    before = _params(eager.G, eager.D)
    eager.step(0)
    fast.step(0)
    assert all(
        p.is_contiguous(memory_format=torch.channels_last)
        for p in fast.D.parameters()
        if p.dim() == 4
    )
    # one SGD step: the update is the gradient times -lr. D's gradient comes from the D loss on
    # real and detached fake images, G's from the G loss through the updated D. At
    # initialisation G's gradient is ill-conditioned: rounding z alone to bf16 moves it by 4-9%
    # (relative norm), so the check is on direction. Measured here: cosine >= 0.996 (D) and
    # >= 0.98 (G); with another batch in place of the same one, 0.73-0.88 (D) and 0.92-0.97 (G).
    for i, (b, e, f) in enumerate(
        zip(before, _params(eager.G, eager.D), _params(fast.G, fast.D), strict=True)
    ):
        cos = torch.nn.functional.cosine_similarity((b - e).flatten(), (b - f).flatten(), 0)
        assert cos > (0.95 if i < n_g else 0.99), f"parameter {i}: cosine {cos:.4f}"
    se, _ = eager.read_window()
    sf, _ = fast.read_window()
    assert np.allclose(se, sf, rtol=0.03, atol=0.01), (se, sf)


def test_fast_adam_updates_follow_the_fp32_ones():
    eager, fast = _runners(smoke_cfg("unused"), E.FastOptions(cuda_graph=False))
    before = _params(eager.G, eager.D)
    for it in range(2):
        eager.step(it)
        fast.step(it)
    agree = total = 0
    for b, e, f in zip(before, _params(eager.G, eager.D), _params(fast.G, fast.D), strict=True):
        agree += int((torch.sign(e - b) == torch.sign(f - b)).sum())
        total += b.numel()
    assert agree / total > 0.9  # Adam's early updates are about ±lr: their signs must agree
    assert fast.opt_d.param_groups[0]["fused"] is True


def test_batches_drawn_on_the_device_are_the_eager_batches():
    order = epoch_order(len(DATA), 3, seed=1)
    expect = torch.from_numpy(np.array(DATA.images))
    for resident in (True, False):
        for rank in (0, 1):
            rows = Dist(rank=rank, world_size=2).batch_slice(16)
            batches = E.DeviceBatches(DATA.images, CPU, 16, rows, resident=resident)
            batches.set_epoch(order)
            out = torch.empty((8, 32, 32, 3), dtype=torch.uint8)
            for it in range(4):
                idx = order[it * 16 : (it + 1) * 16][rows]
                got = batches.fill(it, out)
                want = expect[idx if resident else np.sort(idx.numpy())]
                assert torch.equal(got, want), (resident, rank, it)


@pytest.mark.parametrize("config", ["smoke32", "examples64"])  # uniform and normal z
def test_z_drawn_into_the_static_buffer_is_sample_z(config):
    cfg = get_model_config(config)
    out = torch.empty(16, cfg.nz)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(2):
        assert torch.equal(E.sample_z_(out, cfg, g1), sample_z(16, cfg, g2))


def test_window_stats_mean_and_first_non_finite_step():
    w = S.WindowStats(CPU)
    w.add(torch.ones(6))
    w.add(3 * torch.ones(6))
    assert w.read(Dist()) == ([2.0] * 6, -1)
    w.add(torch.ones(6))
    w.add(torch.full((6,), float("nan")))
    w.add(torch.full((6,), float("inf")))
    mean, bad = w.read(Dist())
    assert bad == 2 and np.isnan(mean[0])  # the first bad step of the window, 1-based
    w.add(torch.ones(6))
    assert w.read(Dist()) == ([1.0] * 6, -1)  # reading starts a new window


def test_accuracy_stats_are_the_fractions_of_correct_decisions():
    cfg = smoke_cfg("unused")
    G, D = _nets(cfg)
    opt_g, opt_d = S.make_optimizers(G, D, cfg)
    x = torch.from_numpy(np.array(DATA.images[:16])).permute(0, 3, 1, 2).float() / 127.5 - 1
    z = sample_z(16, cfg.model, torch.Generator().manual_seed(0))
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    with torch.no_grad():  # the same forward passes, in training mode, before the update
        logits_real, logits_fake = D0(x), D0(G0(z))
    stats = S.train_step(G, D, opt_g, opt_d, x, z)
    assert stats[4] == (logits_real > 0).float().mean()  # D(x) > 0.5
    assert stats[5] == (logits_fake < 0).float().mean()  # D(G(z)) < 0.5
    assert torch.allclose(stats[2], torch.sigmoid(logits_real).mean())


def test_a_run_resumed_under_the_other_engine_is_the_same_run(tmp_path, monkeypatch):
    # with its options off, the fast engine computes exactly what eager does: a run cut at step 4
    # under eager and finished under fast must then equal the uninterrupted eager run, bit for
    # bit, which checks that the checkpoint (weights, Adam state, z stream, data position)
    # crosses engines intact
    monkeypatch.setattr(E.FastOptions, "for_device", classmethod(lambda cls, d, w=1: OFF))
    T.train(smoke_cfg(tmp_path / "full", engine="eager"), data=DATA, progress=False)
    T.train(smoke_cfg(tmp_path / "cut", engine="eager", max_steps=4), data=DATA, progress=False)
    T.train(smoke_cfg(tmp_path / "cut", engine="fast", max_steps=8), data=DATA, progress=False)
    assert json.loads((tmp_path / "cut/run.json").read_text())["engine"] == "fast"
    T.train(smoke_cfg(tmp_path / "cut", engine="eager"), data=DATA, progress=False)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("full", "cut"))
    assert a["step"] == b["step"] == 12
    assert_same_training_state(a, b)
    rows = [
        [
            {k: v for k, v in r.items() if k not in ("img_per_s", "time", "resumed")}
            for r in read_jsonl(p)
        ]
        for p in (tmp_path / "full/metrics.jsonl", tmp_path / "cut/metrics.jsonl")
    ]
    assert rows[0] == rows[1]


def test_fast_engine_on_cpu_resumes_eager_checkpoints_with_its_own_kernels(tmp_path):
    out = tmp_path / "run"
    T.train(smoke_cfg(out, max_steps=4), data=DATA, progress=False)
    assert json.loads((out / "run.json").read_text())["engine"] == "eager"  # auto on a CPU
    T.train(smoke_cfg(out, engine="fast", max_steps=8), data=DATA, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["engine"] == "fast" and info["engine_options"]["amp"] is True
    assert info["engine_options"]["cuda_graph"] is False  # no graph on a CPU
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 8 and ckpt["engine"] == "fast"
    opt = ckpt["opt_d"]
    assert opt["param_groups"][0]["fused"] is True
    assert all(float(st["step"]) == 8 for st in opt["state"].values())  # Adam kept counting
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl")]
    assert steps == [2, 4, 6, 8]
    T.train(smoke_cfg(out, engine="eager"), data=DATA, progress=False)  # and back
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 12 and not ckpt["opt_d"]["param_groups"][0]["fused"]
    assert all(float(st["step"]) == 12 for st in ckpt["opt_d"]["state"].values())


def test_fast_engine_resume_is_bit_identical_on_cpu(tmp_path):
    T.train(smoke_cfg(tmp_path / "full", engine="fast"), data=DATA, progress=False)
    T.train(smoke_cfg(tmp_path / "cut", engine="fast", max_steps=6), data=DATA, progress=False)
    T.train(smoke_cfg(tmp_path / "cut", engine="fast"), data=DATA, progress=False)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("full", "cut"))
    assert a["step"] == b["step"] == 12
    assert_same_training_state(a, b)


def test_engine_name_is_checked():
    with pytest.raises(ConfigError, match="engine must be"):
        smoke_cfg("x", engine="turbo")
    assert E.resolve_engine("auto", CPU) == "eager"
    assert E.resolve_engine("auto", torch.device("cuda")) == "fast"
    with pytest.raises(ValueError, match="CUDA graph needs a CUDA device"):
        E.FastRunner(
            *_nets(smoke_cfg("x")),
            None,
            None,
            smoke_cfg("x"),
            DATA.images,
            CPU,
            torch.Generator(),
            E.FastOptions(),
        )


# --- on a GPU --------------------------------------------------------------------------------


@pytest.mark.gpu
def test_graph_replay_matches_the_same_fast_path_without_a_graph():
    cuda = torch.device("cuda")
    cfg = smoke_cfg("unused", device="cuda")
    runs = []
    for graph in (False, True):
        options = E.FastOptions(cuda_graph=graph)
        G, D = (options.prepare(m.to(cuda)) for m in _nets(cfg))
        opt_g, opt_d = S.make_optimizers(G, D, cfg, **options.adam_kwargs())
        r = E.FastRunner(
            G,
            D,
            opt_g,
            opt_d,
            cfg,
            DATA.images,
            cuda,
            torch.Generator(cuda).manual_seed(5),
            options,
        )
        r.set_epoch(epoch_order(len(DATA), 0, cfg.seed))
        for it in range(4):  # 3 warm-up steps, then capture and the first replay
            r.step(it)
        after_capture = _params(G)
        r.set_epoch(epoch_order(len(DATA), 1, cfg.seed))
        for it in range(3):  # three more replays
            r.step(it)
        changed = not all(torch.equal(a, b) for a, b in zip(after_capture, _params(G), strict=True))
        runs.append((r, changed, _params(G, D), r.read_window()))
    (plain, _, final_p, win_p), (graphed, changed, final_g, win_g) = runs
    assert plain.graph is None and graphed.graph is not None
    assert changed  # the replays update the weights
    for a, b in zip(final_p, final_g, strict=True):
        assert torch.allclose(a, b, atol=5e-4), (a - b).abs().max()
    assert win_p[1] == win_g[1] == -1
    assert np.allclose(win_p[0], win_g[0], rtol=0.02, atol=0.02)


@pytest.mark.gpu
def test_compiled_modules_replay_in_the_graph_like_the_uncompiled_ones():
    cuda = torch.device("cuda")
    cfg = smoke_cfg("unused", device="cuda")
    runs = []
    for compile in (False, True):
        options = E.FastOptions(compile=compile)
        G, D = (options.prepare(m.to(cuda)) for m in _nets(cfg))
        opt_g, opt_d = S.make_optimizers(G, D, cfg, **options.adam_kwargs())
        r = E.FastRunner(
            G, D, opt_g, opt_d, cfg, DATA.images, cuda, torch.Generator(cuda).manual_seed(5),
            options,
        )  # fmt: skip
        r.set_epoch(epoch_order(len(DATA), 0, cfg.seed))
        for it in range(4):  # warm-up (compilation happens here), capture, first replay
            r.step(it)
        runs.append((r, _params(G, D), r.read_window()))
    (plain, p_plain, w_plain), (comp, p_comp, w_comp) = runs
    assert plain.graph is not None and comp.graph is not None
    for a, b in zip(p_plain, p_comp, strict=True):
        assert torch.allclose(a, b, atol=2e-3), (a - b).abs().max()
    assert w_comp[1] == -1 and np.allclose(w_plain[0], w_comp[0], rtol=0.05, atol=0.03)


@pytest.mark.gpu
def test_auto_uses_the_fast_engine_with_its_graph_on_cuda(tmp_path):
    out = tmp_path / "run"
    cfg = smoke_cfg(out, device="cuda", deterministic=False, max_steps=8)
    result = T.train(cfg, data=DATA, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert result.step == 8 and info["engine"] == "fast" and info["gpu"]
    assert info["engine_options"] == {
        "amp": True,
        "channels_last": True,
        "fused_adam": True,
        "cuda_graph": True,
        "compile": False,
        "data_on_device": True,
    }
    rows = read_jsonl(out / "metrics.jsonl")
    assert all(0 < r["d_real"] < 1 and 0 <= r["d_acc_fake"] <= 1 for r in rows)
    T.train(smoke_cfg(out, device="cuda", engine="eager", deterministic=False), data=DATA)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 12  # resumed by the other engine
