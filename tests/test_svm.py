"""Paper §5: the L2-SVM (two solvers of one objective), the labelled-draw protocol, the SVHN path
on small .mat files, and the purely supervised baseline."""

import json

import numpy as np
import pytest
import scipy.io
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dcgan_lib import svm
from dcgan_lib.config import get_model_config
from dcgan_lib.studies.features import GRID_RULE, ProtocolSize, random_d, run_protocol
from dcgan_lib.supervised import (
    SEARCH_SPACE,
    SupervisedD,
    random_search,
    sample_hyperparameters,
    train_supervised,
)


def _blobs(n, f=20, k=3, sep=3.0, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, sep, (k, f))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(0, noise, (n, f))).astype(np.float32), y


def _objective(clf, X, y, C):
    classes = np.unique(y)
    Y = np.where(y[:, None] == classes[None], 1.0, -1.0)
    if len(classes) == 2:
        Y = Y[:, 1:]
    W, b = np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_)
    slack = np.clip(1 - Y * (X.astype(np.float64) @ W.T + b), 0, None)
    return 0.5 * ((W**2).sum() + (b**2).sum()) + C * (slack**2).sum()


# --- the solvers ---------------------------------------------------------------------------


def test_solvers_agree_on_separable_data():
    X, y = _blobs(300, sep=4.0, noise=0.5)
    Xt, yt = _blobs(300, sep=4.0, noise=0.5, seed=0)
    a = svm.fit_linear_svc(X, y, C=1e-2)
    b = svm.TorchL2SVM(1e-2, device="cpu").fit(X, y)
    assert svm.error_rate(a, X, y) == svm.error_rate(b, X, y) == 0.0
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))
    assert _objective(b, X, y, 1e-2) == pytest.approx(_objective(a, X, y, 1e-2), rel=1e-3)
    np.testing.assert_allclose(b.coef_, a.coef_, atol=5e-3)
    np.testing.assert_allclose(b.intercept_, a.intercept_, atol=5e-3)  # bias regularized alike


@pytest.mark.parametrize("C", [1e-4, 1e-3, 1e-2])
def test_solvers_reach_the_same_accuracy_on_overlapping_classes(C):
    X, y = _blobs(600, f=60, k=10, sep=0.6, seed=1)
    X = np.abs(X)  # non-negative, like pooled LeakyReLU features
    Xt, yt = _blobs(2000, f=60, k=10, sep=0.6, seed=1)
    Xt = np.abs(Xt)
    a = svm.fit_linear_svc(X, y, C)
    b = svm.TorchL2SVM(C, device="cpu").fit(X, y)
    acc_a, acc_b = 100 - svm.error_rate(a, Xt, yt), 100 - svm.error_rate(b, Xt, yt)
    assert abs(acc_a - acc_b) <= 0.5  # the bar: within half a point
    assert _objective(b, X, y, C) <= _objective(a, X, y, C) * (1 + 1e-3)


def test_torch_solver_two_classes_and_tensor_input():
    X, y = _blobs(200, k=2, sep=2.0)
    a = svm.fit_linear_svc(X, y + 5, 1e-2)
    b = svm.TorchL2SVM(1e-2, device="cpu").fit(torch.from_numpy(X), y + 5)
    assert b.coef_.shape == a.coef_.shape == (1, X.shape[1])
    assert set(b.classes_) == {5, 6}
    assert np.mean(a.predict(X) == b.predict(X)) >= 0.99
    with pytest.raises(ValueError, match="two classes"):
        svm.TorchL2SVM(1.0, device="cpu").fit(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match="solver"):
        svm.fit_svm(X, y, 1.0, solver="sgd")


# --- the protocol --------------------------------------------------------------------------


def test_split_validation_is_a_seeded_partition():
    val, pool = svm.split_validation(1000, 100, seed=3)
    assert len(val) == 100 and len(pool) == 900
    assert np.intersect1d(val, pool).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([val, pool])), np.arange(1000))
    np.testing.assert_array_equal(val, svm.split_validation(1000, 100, seed=3)[0])
    assert not np.array_equal(val, svm.split_validation(1000, 100, seed=4)[0])
    with pytest.raises(ValueError):
        svm.split_validation(100, 100)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(200, 2000),
    n_val=st.integers(1, 150),
    per_class=st.integers(1, 8),
    seed=st.integers(0, 2**31),
)
def test_draws_are_balanced_and_never_touch_the_validation_split(n, n_val, per_class, seed):
    labels = np.arange(n) % 10
    val, pool = svm.split_validation(n, n_val, seed)
    if np.bincount(labels[pool], minlength=10).min() < per_class:
        with pytest.raises(ValueError, match="fewer than"):
            svm.draw_balanced(labels, pool, per_class, np.random.default_rng(seed))
        return
    idx = svm.draw_balanced(labels, pool, per_class, np.random.default_rng(seed))
    assert len(idx) == len(np.unique(idx)) == 10 * per_class
    assert np.isin(idx, pool).all() and not np.isin(idx, val).any()
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=10), per_class)


def test_draw_balanced_says_when_a_class_is_too_small():
    labels = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ValueError, match="class 1 has 3"):
        svm.draw_balanced(labels, np.arange(13), 5, np.random.default_rng(0))


def test_selection_and_draws_fit_only_on_the_pool(monkeypatch):
    X, y = _blobs(400, f=10, k=4, sep=2.0)
    ids = np.arange(len(y), dtype=np.float32)[:, None]
    X = np.hstack([X, ids])  # last column: the row's index, to see what each fit receives
    val, pool = svm.split_validation(len(y), 100, seed=0)
    fitted_rows = []
    real_fit = svm.fit_svm

    def spy(Xf, yf, C, *a, **k):
        fitted_rows.append(np.asarray(Xf)[:, -1].astype(int))
        return real_fit(Xf, yf, C, *a, **k)

    monkeypatch.setattr(svm, "fit_svm", spy)
    sel = svm.select_C(X, y, val, pool, 5, (1e-3, 1e-2), n_draws=3, progress=False)
    assert sel.best_C in (1e-3, 1e-2) and len(sel.table) == 2
    assert all(len(r["val_errors"]) == 3 for r in sel.table)
    res = svm.evaluate_draws(X, y, val, pool, X[:50], y[:50], 5, sel.best_C, 4, progress=False)
    sel_all = svm.select_C(X, y, val, pool, None, (1e-2,), progress=False)
    assert len(sel_all.table[0]["val_errors"]) == 1  # all labels: one fit on the whole pool
    assert len(fitted_rows) == 6 + 4 + 1
    for rows in fitted_rows:
        assert not np.isin(rows, val).any()
    np.testing.assert_array_equal(np.sort(fitted_rows[-1]), pool)
    for part in ("train", "val", "test"):
        v = np.array(res["per_draw"][part])
        assert res[f"{part}_error"]["mean"] == pytest.approx(v.mean())
        assert res[f"{part}_error"]["ci95"] == pytest.approx(1.96 * v.std())  # authors: np.std
        assert res[f"{part}_error"]["n"] == 4
    assert res["n_labels"] == 20


# --- C beyond the authors' grid -----------------------------------------------------------


def test_next_lower_C_walks_the_1_2_5_sequence():
    seq = [1e-2]
    for _ in range(7):
        seq.append(svm.next_lower_C(seq[-1]))
    assert seq == [1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5]
    with pytest.raises(ValueError, match="1, 2 or 5"):
        svm.next_lower_C(3e-4)


class _FakeFit:
    def __init__(self, C):
        self.C = C


def _fake_selection(monkeypatch, best: float, c_floor, grid=svm.C_GRID, c_ceiling=None):
    """select_C with a validation error that is a V in log10(C) around ``best``."""
    fitted = []

    def fake_fit(X, y, C, *a, **k):
        fitted.append(C)
        return _FakeFit(C)

    monkeypatch.setattr(svm, "fit_svm", fake_fit)
    monkeypatch.setattr(svm, "error_rate", lambda clf, X, y: abs(np.log10(clf.C / best)))
    y = np.arange(200) % 4
    X = np.zeros((200, 2), np.float32)
    val, pool = svm.split_validation(200, 40, seed=0)
    sel = svm.select_C(X, y, val, pool, 5, grid, 2, progress=False, c_floor=c_floor,
                       c_ceiling=c_ceiling)  # fmt: skip
    return sel, fitted


def test_grid_extends_downward_until_the_best_C_is_inside(monkeypatch):
    sel, fitted = _fake_selection(monkeypatch, best=5e-6, c_floor=1e-8)
    assert sel.best_C == pytest.approx(5e-6)
    assert sel.extended_below == pytest.approx((2e-6, 5e-6, 1e-5, 2e-5, 5e-5))
    cs = [r["C"] for r in sel.table]
    assert cs == sorted(cs) and len(cs) == len(svm.C_GRID) + 5
    assert cs[0] < sel.best_C < cs[-1]  # the optimum now has a neighbour on each side
    assert len(fitted) == 2 * len(cs)  # n_draws fits at every C, the added ones too


def test_grid_stays_as_given_when_the_best_C_is_inside_or_no_floor(monkeypatch):
    sel, _ = _fake_selection(monkeypatch, best=1e-3, c_floor=1e-8)
    assert sel.best_C == pytest.approx(1e-3) and sel.extended_below == ()
    sel, _ = _fake_selection(monkeypatch, best=1e-6, c_floor=None)
    assert sel.best_C == pytest.approx(1e-4) and sel.extended_below == ()


def test_grid_extension_stops_at_the_floor(monkeypatch):
    sel, _ = _fake_selection(monkeypatch, best=1e-9, c_floor=1e-5)
    assert sel.extended_below == pytest.approx((1e-5, 2e-5, 5e-5))
    assert sel.best_C == pytest.approx(1e-5)  # at the floor: reported, not hidden


def test_next_higher_C_walks_the_1_2_5_sequence_up():
    seq = [5e-5]
    for _ in range(5):
        seq.append(svm.next_higher_C(seq[-1]))
    assert seq == pytest.approx([5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3])
    assert all(svm.next_lower_C(svm.next_higher_C(c)) == pytest.approx(c) for c in svm.C_GRID)


def test_grid_extends_upward_until_the_best_C_is_inside(monkeypatch):
    sel, fitted = _fake_selection(monkeypatch, best=5e-2, c_floor=1e-8, c_ceiling=10.0)
    assert sel.best_C == pytest.approx(5e-2) and sel.extended_below == ()
    assert sel.extended_above == pytest.approx((2e-2, 5e-2, 1e-1))
    cs = [r["C"] for r in sel.table]
    assert cs[0] < sel.best_C < cs[-1] and len(fitted) == 2 * len(cs)
    sel, _ = _fake_selection(monkeypatch, best=5e-2, c_floor=1e-8, c_ceiling=2e-2)
    assert sel.extended_above == pytest.approx((2e-2,)) and sel.best_C == pytest.approx(2e-2)
    sel, _ = _fake_selection(monkeypatch, best=5e-2, c_floor=1e-8)  # no ceiling: as before
    assert sel.extended_above == () and sel.best_C == pytest.approx(1e-2)


def test_a_result_chosen_by_another_grid_rule_is_measured_again(tmp_path):
    size = ProtocolSize(
        "test",
        n_val=100,
        baseline_select_draws=1,
        baseline_eval_draws=2,
        variants=("pixels",),
        regimes=(5, 10),
        c_grid=(1e-3, 1e-2),
        c_floor=1e-4,
        supervised_trials=0,
        synthetic_n=(300, 60),
    )
    first = run_protocol("synthetic", size, tmp_path, progress=False)
    assert first["complete"]
    for r in first["results"].values():
        assert r["grid_rule"] == GRID_RULE
        grid = {s["C"] for s in r["selection"]}
        assert grid == {1e-3, 1e-2} | set(r["c_extended_below"]) and r["C"] in grid
    stored = json.loads((tmp_path / "metrics.json").read_text())
    stored["results"]["pixels/5"]["grid_rule"] = "the authors' grid"  # an older run's rule
    stored["results"]["pixels/5"]["test_error"]["mean"] = -1.0  # to see it replaced
    (tmp_path / "metrics.json").write_text(json.dumps(stored))
    again = run_protocol("synthetic", size, tmp_path, progress=False)
    assert again["results"]["pixels/5"]["test_error"]["mean"] >= 0  # measured again
    assert again["results"]["pixels/10"] == json.loads(json.dumps(first["results"]["pixels/10"]))


# --- SVHN: the real loader on .mat files written here ------------------------------------


def _write_svhn(folder, n, seed):
    templates = np.random.default_rng(99).uniform(40, 220, (10, 32, 32, 3))  # one per digit
    digits = np.arange(n) % 10
    noise = np.random.default_rng(seed).normal(0, 30, (n, 32, 32, 3))
    imgs = np.clip(templates[digits] + noise, 0, 255)  # linearly separable classes
    y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]  # SVHN stores 0 as 10
    name = "train_32x32.mat" if seed == 0 else "test_32x32.mat"
    scipy.io.savemat(folder / name, {"X": imgs.astype(np.uint8).transpose(1, 2, 3, 0), "y": y})


def test_svhn_protocol_on_small_mat_files(tmp_path, monkeypatch):
    _write_svhn(tmp_path, 300, seed=0)
    _write_svhn(tmp_path, 60, seed=1)
    monkeypatch.setattr("torchvision.datasets.svhn.check_integrity", lambda *a, **k: True)
    size = ProtocolSize(
        "test",
        n_val=100,
        n_select_draws=2,
        n_eval_draws=3,
        variants=("dcgan", "pixels"),
        regimes=(5,),
        c_grid=(1e-3, 1e-2),
        c_floor=1e-4,
        supervised_trials=1,
        supervised_max_steps=2,
    )
    D = random_d("smoke32", 0)
    out = tmp_path / "out"
    m = run_protocol(
        "svhn", size, out, D=D, data_root=tmp_path, cache_dir=tmp_path / "cache", progress=False
    )
    assert m["data"].startswith("SVHN") and m["n_train"] == 300 and m["n_test"] == 60
    assert m["complete"] and set(m["results"]) == {"dcgan/5", "pixels/5"}
    r = m["results"]["dcgan/5"]
    assert r["n_labels"] == 50 and r["test_error"]["n"] == 3
    assert r["C"] in (1e-4, 2e-4, 5e-4, 1e-3, 1e-2)  # the grid, or its extension to the floor
    assert m["results"]["pixels/5"]["test_error"]["mean"] < 20  # the templates separate classes
    sup = m["supervised"]
    assert sup["complete"] and len(sup["trials"]) == 1 and "test_error" in sup["best"]
    again = run_protocol(  # resume: everything is done, nothing is refitted
        "svhn", size, out, D=D, data_root=tmp_path, cache_dir=tmp_path / "cache", progress=False
    )
    assert again["results"] == m["results"]


# --- the supervised baseline ---------------------------------------------------------------


def test_search_space_samples_stay_inside():
    rng = np.random.default_rng(0)
    for _ in range(50):
        hp = sample_hyperparameters(rng)
        assert SEARCH_SPACE["lr"][1] <= hp.lr <= SEARCH_SPACE["lr"][2]
        assert SEARCH_SPACE["weight_decay"][1] <= hp.weight_decay <= SEARCH_SPACE["weight_decay"][2]
        assert 0 <= hp.dropout <= SEARCH_SPACE["dropout"][2]
        assert hp.epochs in SEARCH_SPACE["epochs"][1:] and hp.batch_size in (32, 64, 128)


def test_supervised_d_has_ds_conv_stack_and_a_10_way_head():
    cfg = get_model_config("imagenet32")
    model = SupervisedD(cfg, 10, dropout=0.3)
    assert len(model.blocks) == 6
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_supervised_training_learns_and_the_search_resumes():
    cfg = get_model_config("smoke32")
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = np.where(y[:, None, None, None] == 1, 200, 40) + rng.integers(0, 30, (40, 32, 32, 3))
    x = x.astype(np.uint8)
    hp = sample_hyperparameters(np.random.default_rng(1))
    hp = type(hp)(**{**hp.__dict__, "lr": 2e-3, "epochs": 10, "batch_size": 20, "dropout": 0.0})
    model = train_supervised(cfg, hp, x, y, seed=0)
    from dcgan_lib.supervised import predict

    assert np.mean(predict(model, x, "cpu") == y) >= 0.9
    first = random_search(cfg, x, y, x, y, n_trials=2, max_steps=1, progress=False)
    assert len(first["trials"]) == 2 and first["complete"]
    more = random_search(
        cfg, x, y, x, y, n_trials=3, max_steps=1, done=first["trials"], progress=False
    )
    assert more["trials"][:2] == first["trials"] and len(more["trials"]) == 3
    assert more["best"]["val_error"] == min(t["val_error"] for t in more["trials"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_solver_on_the_gpu_matches_the_cpu():
    X, y = _blobs(2000, f=200, k=10, sep=0.6, seed=2)
    X = np.abs(X)
    cpu = svm.TorchL2SVM(1e-3, device="cpu").fit(X, y)
    gpu = svm.TorchL2SVM(1e-3, device="cuda").fit(X, y)
    assert np.mean(cpu.predict(X) == gpu.predict(X)) >= 0.995
    assert _objective(gpu, X, y, 1e-3) == pytest.approx(_objective(cpu, X, y, 1e-3), rel=1e-3)


def test_warm_start_reaches_the_same_solution_in_fewer_iterations():
    X, y = _blobs(500, f=40, k=5, sep=0.8, seed=3)
    X = np.abs(X)
    low = svm.TorchL2SVM(1e-3, device="cpu").fit(X, y)
    cold = svm.TorchL2SVM(2e-3, device="cpu").fit(X, y)
    warm = svm.TorchL2SVM(2e-3, device="cpu", init=(low.coef_, low.intercept_)).fit(X, y)
    assert warm.n_iter_ < cold.n_iter_
    assert _objective(warm, X, y, 2e-3) == pytest.approx(_objective(cold, X, y, 2e-3), rel=1e-4)
