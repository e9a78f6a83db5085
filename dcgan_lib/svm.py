"""The regularized linear L2-SVM on D's features, and the labelled-draw protocol (paper §5).

Paper §5.1: "a regularized linear L2-SVM classifier"; the authors' SVHN script uses sklearn's
``LinearSVC`` with its defaults: squared hinge loss, L2 penalty, one-vs-rest, an intercept
appended as a constant feature 1 whose weight is regularized too. Per class k it minimizes

    0.5 * (||w_k||^2 + b_k^2) + C * sum_i max(0, 1 - y_ik (w_k . x_i + b_k))^2,   y_ik in {-1, +1}.

``fit_linear_svc`` is that (liblinear on the CPU). ``TorchL2SVM`` minimizes the same objective
with full-batch L-BFGS in torch, on any device: the solver for 50,000 x 28,672 on a GPU, checked
against ``LinearSVC`` in the tests and in the full run.

The protocol (the authors' SVHN script, applied to CIFAR-10 too): shuffle the training set, the
first 10,000 images are the validation split used for all selection, the rest is the labelled
pool; for each C, 10 class-balanced draws from the pool, fit, mean validation error; best C; then
100 fresh draws, reporting mean +- 1.96 sd of train, validation and test error.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.device import resolve_device

# authors' SVHN script: cs = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01]
C_GRID = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)
# deviation: all 50,000 CIFAR-10 labels, where the best C is unknown (it falls as n grows):
# the authors' grid widened by two decades below and one above
C_GRID_WIDE = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5) + C_GRID + (2e-2, 5e-2, 1e-1)
# deviation: when the best C is the lowest tried, the grid goes on downward in the same 1-2-5
# steps (a best C at the edge is not an optimum), to this floor at most
C_FLOOR = 1e-8
SOLVERS = ("liblinear", "torch")


def next_lower_C(C: float) -> float:
    """The next value below ``C`` in the 1-2-5 sequence of the authors' grid (1e-4 -> 5e-5 ->
    2e-5 -> 1e-5). ``C`` must be a 1, 2 or 5 times a power of ten."""
    exponent = math.floor(math.log10(C) + 1e-9)
    mantissa = round(C / 10**exponent, 6)
    steps = {1.0: (5, -1), 2.0: (1, 0), 5.0: (2, 0)}
    if mantissa not in steps:
        raise ValueError(f"C = {C:g} is not 1, 2 or 5 times a power of ten")
    m, shift = steps[mantissa]
    return float(f"{m}e{exponent + shift}")


def next_higher_C(C: float) -> float:
    """The next value above ``C`` in the 1-2-5 sequence (1e-4 -> 2e-4 -> 5e-4 -> 1e-3)."""
    exponent = math.floor(math.log10(C) + 1e-9)
    mantissa = round(C / 10**exponent, 6)
    steps = {1.0: (2, 0), 2.0: (5, 0), 5.0: (1, 1)}
    if mantissa not in steps:
        raise ValueError(f"C = {C:g} is not 1, 2 or 5 times a power of ten")
    m, shift = steps[mantissa]
    return float(f"{m}e{exponent + shift}")


# ---------------------------------------------------------------------------------------------
# The validation split and the labelled draws


def split_validation(n: int, n_val: int = 10000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle 0..n-1 with ``seed``: the first ``n_val`` are the validation split, the rest the
    labelled pool. Returns (val_idx, pool_idx), disjoint and together all of 0..n-1. Paper: §5.2."""
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and n-1 = {n - 1}, got {n_val}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_val]), np.sort(order[n_val:])


def draw_balanced(
    labels: np.ndarray, pool_idx: np.ndarray, per_class: int, rng: np.random.Generator
) -> np.ndarray:
    """``per_class`` indices of every class, drawn without replacement from ``pool_idx`` only
    (never from the validation split). Returns (n_classes * per_class,) indices into ``labels``,
    grouped by class. Paper: §5.2 ("1000 uniformly class distributed training examples")."""
    labels = np.asarray(labels)
    pool_idx = np.asarray(pool_idx)
    pool_labels = labels[pool_idx]
    out = []
    for c in np.unique(labels):
        members = pool_idx[pool_labels == c]
        if len(members) < per_class:
            raise ValueError(
                f"class {c} has {len(members)} images in the labelled pool, fewer than the "
                f"{per_class} per class asked for"
            )
        out.append(rng.choice(members, per_class, replace=False))
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# The two solvers of the same objective


def fit_linear_svc(
    X: np.ndarray, y: np.ndarray, C: float, max_iter: int = 1000, tol: float = 1e-4
):  # -> sklearn.svm.LinearSVC
    """sklearn's LinearSVC as the authors used it (squared hinge, L2, one-vs-rest, intercept
    regularized with intercept_scaling=1). X (n, F) float, y (n,) int. Paper: §5.1."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    clf = LinearSVC(
        C=C,
        loss="squared_hinge",
        penalty="l2",
        multi_class="ovr",
        fit_intercept=True,
        intercept_scaling=1.0,
        tol=tol,
        max_iter=max_iter,
        dual=True,  # the authors' (2015 default): liblinear's dual coordinate descent
        random_state=0,  # liblinear shuffles its coordinates: fixed, so runs repeat exactly
    )
    with warnings.catch_warnings():
        # liblinear stops at max_iter like the authors' runs did; the tests check the accuracy
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.asarray(X), np.asarray(y))
    return clf


def _tensor(
    X: np.ndarray | torch.Tensor,
    device: torch.device,
    chunk: int = 8192,
    rows: np.ndarray | None = None,
) -> torch.Tensor:
    """float32 tensor on ``device`` of X (or of its ``rows``), copied in chunks: X may be a float16
    or on-disk memmap, never copied whole in host memory first."""
    if isinstance(X, torch.Tensor):
        X = X if rows is None else X[torch.as_tensor(rows)]
        return X.to(device=device, dtype=torch.float32)
    n = len(X) if rows is None else len(rows)
    out = torch.empty((n, *X.shape[1:]), dtype=torch.float32, device=device)
    for s in range(0, n, chunk):
        part = X[s : s + chunk] if rows is None else X[rows[s : s + chunk]]
        out[s : s + chunk] = torch.from_numpy(np.asarray(part, dtype=np.float32))
    return out


@dataclass
class TorchL2SVM:
    """One-vs-rest L2-SVM (squared hinge, bias regularized as liblinear's intercept_scaling=1),
    solved by full-batch L-BFGS in torch on ``device``. Same objective as ``fit_linear_svc``.

    ``tol``: stop when the gradient's max-norm falls below ``tol`` times its value at w = 0.
    After ``fit``: ``coef_`` (K, F), ``intercept_`` (K,), ``classes_``, ``n_iter_`` (as sklearn;
    K = 1 for two classes). Paper: §5.1 (the objective), deviation: the solver.
    """

    C: float
    device: str | torch.device = "auto"
    max_iter: int = 2000
    tol: float = 1e-4
    history_size: int = 20
    progress: bool = False
    init: tuple[np.ndarray, np.ndarray] | None = None  # warm start: (coef_, intercept_)
    classes_: np.ndarray = field(init=False, repr=False)
    coef_: np.ndarray = field(init=False, repr=False)
    intercept_: np.ndarray = field(init=False, repr=False)
    n_iter_: int = field(init=False, default=0)

    def _objective(self, X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        # W: (F + 1, K), last row the bias (its feature is the constant 1)
        scores = X @ W[:-1] + W[-1]
        slack = torch.clamp_min(1 - Y * scores, 0)  # (n, K)
        return 0.5 * (W * W).sum() + self.C * (slack * slack).sum()

    def fit(self, X: np.ndarray | torch.Tensor, y: np.ndarray) -> TorchL2SVM:
        """X (n, F) float (numpy, memmap or tensor), y (n,) int labels."""
        dev = resolve_device(self.device)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("the SVM needs at least two classes")
        Xt = _tensor(X, dev)
        y_idx = torch.from_numpy(np.searchsorted(self.classes_, y)).to(dev)
        if len(self.classes_) == 2:  # one machine, +1 for the second class (as liblinear)
            Y = (y_idx == 1).float().mul_(2).sub_(1)[:, None]
        else:
            Y = torch.full((len(y), len(self.classes_)), -1.0, device=dev)
            Y[torch.arange(len(y), device=dev), y_idx] = 1.0
        W = torch.zeros(Xt.shape[1] + 1, Y.shape[1], device=dev)
        if self.init is not None:  # e.g. the solution at the previous C of a grid
            W[:-1] = torch.as_tensor(np.asarray(self.init[0]).T, dtype=torch.float32, device=dev)
            W[-1] = torch.as_tensor(np.asarray(self.init[1]), dtype=torch.float32, device=dev)
        W.requires_grad_(True)
        opt = torch.optim.LBFGS(
            [W],
            lr=1,
            max_iter=self.max_iter,
            tolerance_grad=0.0,  # our own stopping rule below, relative to the gradient at 0
            tolerance_change=0.0,
            history_size=self.history_size,
            line_search_fn="strong_wolfe",
        )
        with torch.no_grad():  # the gradient at w = 0 (liblinear's reference for its tolerance)
            g0 = (2 * self.C * torch.cat([Xt.T @ Y, Y.sum(0, keepdim=True)])).abs().max().item()
        bar = tqdm(total=self.max_iter, desc=f"L2-SVM C={self.C:g}", disable=not self.progress)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = self._objective(Xt, Y, W)
            loss.backward()
            return loss

        def converged(loss: float) -> bool:
            g = W.grad.abs().max().item()
            bar.set_postfix(loss=f"{loss:.4g}", rel_grad=f"{g / max(g0, 1e-30):.1e}")
            return g <= self.tol * g0 or not math.isfinite(loss)

        # L-BFGS in short bursts, so that progress shows and the stopping rule is checked
        n_iter, last_loss = 0, float(closure().detach())
        while n_iter < self.max_iter and not converged(last_loss):
            burst = min(20, self.max_iter - n_iter)
            opt.param_groups[0]["max_iter"] = burst
            opt.param_groups[0]["max_eval"] = burst * 5 // 4 + 5
            opt.step(closure)
            n_now = opt.state[opt._params[0]]["n_iter"]
            bar.update(n_now - n_iter)
            n_iter = n_now
            loss = float(closure().detach())  # loss and gradient at the accepted point
            if loss >= last_loss:  # no progress in a whole burst: at the optimum (float32)
                break
            last_loss = loss
        bar.close()
        self.n_iter_ = n_iter
        Wn = W.detach().cpu().numpy()
        self.coef_, self.intercept_ = Wn[:-1].T.copy(), Wn[-1].copy()
        return self

    def decision_function(self, X: np.ndarray | torch.Tensor, chunk: int = 8192) -> np.ndarray:
        """(n, K) scores (n,) for two classes), as LinearSVC."""
        dev = resolve_device(self.device)
        W = torch.from_numpy(self.coef_.T).to(dev)
        b = torch.from_numpy(self.intercept_).to(dev)
        out = []
        for s in range(0, len(X), chunk):
            out.append((_tensor(X[s : s + chunk], dev) @ W + b).cpu().numpy())
        scores = np.concatenate(out) if out else np.zeros((0, W.shape[1]), np.float32)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(1)]


def fit_svm(
    X: np.ndarray | torch.Tensor,
    y: np.ndarray,
    C: float,
    solver: str = "liblinear",
    device: str | torch.device = "auto",
    progress: bool = False,
    init=None,
):
    """The L2-SVM fitted by ``solver``: "liblinear" (LinearSVC, CPU) or "torch" (any device).
    ``init``: a fitted classifier to warm-start the torch solver from (ignored by liblinear)."""
    if solver == "liblinear":
        Xn = X.cpu().numpy() if isinstance(X, torch.Tensor) else X
        return fit_linear_svc(Xn, y, C)
    if solver == "torch":
        start = None if init is None else (init.coef_, init.intercept_)
        return TorchL2SVM(C, device=device, progress=progress, init=start).fit(X, y)
    raise ValueError(f"solver must be one of {SOLVERS}, not {solver!r}")


def error_rate(clf, X: np.ndarray | torch.Tensor, y: np.ndarray) -> float:
    """Classification error in percent."""
    if isinstance(X, torch.Tensor) and not isinstance(clf, TorchL2SVM):
        X = X.cpu().numpy()
    return 100.0 * float(np.mean(clf.predict(X) != np.asarray(y)))


# ---------------------------------------------------------------------------------------------
# The protocol: C on the validation split, then repeated draws


def _mean_ci(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    # authors: np.mean, np.std(...) * 1.96 (population sd)
    return {"mean": float(v.mean()), "ci95": float(1.96 * v.std()), "n": len(v)}


def _device_copy(
    X, solver: str, device, rows: np.ndarray | None = None
) -> np.ndarray | torch.Tensor:
    # the torch solver keeps the evaluation sets on the device once, not once per draw
    if solver == "torch":
        return _tensor(X, resolve_device(device), rows=rows)
    return np.asarray(X if rows is None else X[rows])


@dataclass
class Selection:
    """Result of ``select_C``: the chosen C and, per C, the validation errors of its draws."""

    best_C: float
    table: list[dict]  # [{"C", "val_error_mean", "val_error_ci95", "val_errors"}], C ascending
    best_fit: object = None  # all labels: the classifier fitted at best_C (a warm start)
    extended_below: tuple[float, ...] = ()  # values added below the grid (``c_floor``)
    extended_above: tuple[float, ...] = ()  # values added above the grid (``c_ceiling``)


def select_C(
    X: np.ndarray,
    y: np.ndarray,
    val_idx: np.ndarray,
    pool_idx: np.ndarray,
    per_class: int | None,
    C_grid: tuple[float, ...] = C_GRID,
    n_draws: int = 10,
    rng: np.random.Generator | None = None,
    solver: str = "liblinear",
    device: str | torch.device = "auto",
    progress: bool = True,
    c_floor: float | None = None,
    c_ceiling: float | None = None,
) -> Selection:
    """For each C: ``n_draws`` fresh class-balanced draws of ``per_class`` from the pool (or the
    whole pool once, ``per_class=None``), fit, error on the validation split; the C with the
    lowest mean error wins. X (N, F) features of the training set, y (N,). Paper: §5.2.

    ``c_floor``: while the best C is the lowest tried and above ``c_floor``, try the next lower
    1-2-5 value too (deviation: the authors' grid stops at 1e-4). None: the grid as given.
    ``c_ceiling``: the same upward, while the best C is the highest tried (the grid's top is not
    an optimum either)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    X_val, y_val = _device_copy(X, solver, device, val_idx), y[val_idx]
    # all labels: one copy of the pool for every C (the torch solver's on its device)
    X_pool = _device_copy(X, solver, device, pool_idx) if per_class is None else None
    errors: dict[float, list[float]] = {}
    fits: dict[float, object] = {}
    n_fits = 1 if per_class is None else n_draws

    def try_C(C: float, init, bar) -> object:
        errors[C] = []
        for _ in range(n_fits):
            if per_class is None:
                clf = fit_svm(X_pool, y[pool_idx], C, solver, device, init=init)
                fits[C] = clf
            else:
                idx = draw_balanced(y, pool_idx, per_class, rng)
                clf = fit_svm(X[idx], y[idx], C, solver, device)
            errors[C].append(error_rate(clf, X_val, y_val))
            bar.update(1)
            bar.set_postfix(C=f"{C:g}", val_err=f"{errors[C][-1]:.2f}")
        return fits.get(C)

    def mean_error(C: float) -> float:
        return float(np.mean(errors[C]))

    desc = f"select C ({per_class or 'all'} per class)"
    with tqdm(total=len(C_grid) * n_fits, desc=desc, disable=not progress) as bar:
        previous = None
        for C in sorted(C_grid):  # all labels: each fit warm-started from the last
            previous = try_C(C, previous, bar)
        extended = []
        while c_floor is not None and min(errors) > c_floor:
            lowest = min(errors)
            if min(sorted(errors), key=mean_error) != lowest:
                break  # the best C has a lower neighbour: inside the grid
            lower = next_lower_C(lowest)
            if lower < c_floor:
                break
            bar.total += n_fits
            try_C(lower, fits.get(lowest), bar)
            extended.append(lower)
        above = []
        while c_ceiling is not None and max(errors) < c_ceiling:
            highest = max(errors)
            if min(sorted(errors), key=mean_error) != highest:
                break  # the best C has a higher neighbour: inside the grid
            higher = next_higher_C(highest)
            if higher > c_ceiling:
                break
            bar.total += n_fits
            try_C(higher, fits.get(highest), bar)
            above.append(higher)
    table = []
    for C in sorted(errors):
        s = _mean_ci(errors[C])
        table.append(
            {
                "C": C,
                "val_error_mean": s["mean"],
                "val_error_ci95": s["ci95"],
                "val_errors": errors[C],
            }
        )
    best = min(table, key=lambda r: r["val_error_mean"])
    return Selection(
        best_C=best["C"],
        table=table,
        best_fit=fits.get(best["C"]),
        extended_below=tuple(sorted(extended)),
        extended_above=tuple(sorted(above)),
    )


def evaluate_draws(
    X: np.ndarray,
    y: np.ndarray,
    val_idx: np.ndarray,
    pool_idx: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    per_class: int,
    C: float,
    n_draws: int = 100,
    rng: np.random.Generator | None = None,
    solver: str = "liblinear",
    device: str | torch.device = "auto",
    progress: bool = True,
) -> dict:
    """``n_draws`` fresh class-balanced draws of ``per_class`` from the pool, each fitted at C:
    train (on the draw), validation and test error in percent, each as mean and 1.96 sd over the
    draws, plus the per-draw values. Paper: §5.2 (22.48% test error at 1,000 SVHN labels)."""
    rng = rng if rng is not None else np.random.default_rng(1)
    X_val, y_val = _device_copy(X, solver, device, val_idx), y[val_idx]
    X_te = _device_copy(X_test, solver, device)
    per_draw: dict[str, list[float]] = {"train": [], "val": [], "test": []}
    started = time.time()
    bar = tqdm(range(n_draws), desc=f"draws of {per_class} per class", disable=not progress)
    for _ in bar:
        idx = draw_balanced(y, pool_idx, per_class, rng)
        X_tr = X[idx]
        clf = fit_svm(X_tr, y[idx], C, solver, device)
        per_draw["train"].append(error_rate(clf, X_tr, y[idx]))
        per_draw["val"].append(error_rate(clf, X_val, y_val))
        per_draw["test"].append(error_rate(clf, X_te, y_test))
        bar.set_postfix(test_err=f"{np.mean(per_draw['test']):.2f}")
    return {
        "C": C,
        "per_class": per_class,
        "n_labels": per_class * len(np.unique(y)),
        **{f"{k}_error": _mean_ci(v) for k, v in per_draw.items()},
        "per_draw": per_draw,
        "seconds": round(time.time() - started, 1),
        "solver": solver,
    }
