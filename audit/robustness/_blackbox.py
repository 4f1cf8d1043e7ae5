"""A score-based black-box attack for models without input gradients (trees, Pipelines, callables).

Random search inside the L-inf ball, in the spirit of SimBA (Guo et al. 2019, https://arxiv.org/abs/1905.07121)
and the Square Attack (Andriushchenko et al. 2020, https://arxiv.org/abs/1912.00049): each round proposes
a few candidates per row that re-draw a random subset of the free features from {-1, -1/2, 0, 1/2, 1} x eps,
and keeps a candidate when it lowers the margin ``p[y] - max_{k != y} p[k]``. It only needs
``predict_proba``, works on piecewise-constant models (gradient estimates are zero there), keeps integer
features integer and respects the same bounds and frozen features as the gradient attacks. A missing cell
(NaN, for a model that takes missing values) keeps its value: it is not a point the ball can move.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError
from audit.robustness._result import AttackResult, RobustnessCurve

#: the values (in units of eps x scale) a re-drawn feature takes, and their probabilities
_LEVELS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
_LEVEL_P = np.array([0.3, 0.1, 0.2, 0.1, 0.3])
_LEVEL_CUT = np.cumsum(_LEVEL_P)[:-1]


def _as_2d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if arr.ndim != 2:
        raise AuditInputError(f"{name} must be a (rows, features) matrix for the black-box attack, got shape {arr.shape}")
    return arr


def _per_feature(v: Any, d: int, name: str, default: float) -> np.ndarray:
    if v is None:
        return np.full(d, default)
    arr = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)
    arr = np.broadcast_to(arr, (d,)).copy() if arr.ndim <= 1 and arr.size in (1, d) else None
    if arr is None:
        raise AuditInputError(f"{name} must be a scalar or have one value per feature ({d})")
    return arr


class _Problem:
    """Inputs, labels and limits of one black-box attack, shared by the rows and eps values of a sweep."""

    def __init__(self, predict_proba: Any, x: Any, y: Any, *, bounds: Any, mask: Any, scale: Any, integer: Any,
                 batch_rows: int) -> None:
        if not callable(predict_proba):
            raise AuditInputError("predict_proba must be a callable mapping a (rows, features) array to class probabilities")
        self.f = predict_proba
        self.x = _as_2d(x, "x")
        n, d = self.x.shape
        yy = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
        if yy.shape != (n,):
            raise AuditInputError(f"y must have one label per row of x: x has {n} rows, y has shape {yy.shape}")
        self.y = self.targets(yy)
        lo, hi = (None, None) if bounds is None else bounds
        self.lo = _per_feature(lo, d, "bounds[0]", -np.inf)
        self.hi = _per_feature(hi, d, "bounds[1]", np.inf)
        self.mask = _per_feature(mask, d, "mask", 1.0) > 0
        self.scale = _per_feature(scale, d, "scale", 1.0)
        self.integer = _per_feature(integer, d, "integer", 0.0) > 0
        self.batch_rows = max(1, int(batch_rows))
        self.queries = 0
        # missing cells (NaN) are values of their own: never moved, and never part of a distance
        self.missing = np.isnan(self.x)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """The true values the attack works against: class indices here."""
        return y.astype(np.int64)

    def checked(self, p: np.ndarray, rows: int) -> np.ndarray:
        """One batch of model outputs, validated: ``(rows, classes)`` probabilities here."""
        if p.ndim != 2 or p.shape[0] != rows:
            raise AuditInputError(f"predict_proba must return (rows, classes) probabilities, got shape {p.shape}")
        return p

    def outputs(self, z: np.ndarray) -> np.ndarray:
        """The model's outputs on ``z``, batched (the number of rows is counted in ``queries``)."""
        parts = []
        for a in range(0, len(z), self.batch_rows):
            p = np.asarray(self.f(z[a : a + self.batch_rows]), dtype=np.float64)
            parts.append(self.checked(p, min(self.batch_rows, len(z) - a)))
        self.queries += len(z)
        return np.concatenate(parts) if parts else np.zeros((0, 0))

    def objective(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What the search lowers: the margin of the true class here."""
        return self.margin(p, y)

    def predicted(self, p: np.ndarray) -> np.ndarray:
        """The prediction read off outputs ``p``: the class here."""
        return p.argmax(axis=1)

    def standing(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Rows the search still attacks: those still classified correctly here."""
        return pred == y

    def margin(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``p[y] - max_{k != y} p[k]``; the row is misclassified once argmax moves away from y."""
        idx = np.arange(len(y))
        py = p[idx, y]
        other = p.copy()
        other[idx, y] = -np.inf
        return py - other.max(axis=1)

    def apply(self, rows: np.ndarray, s: np.ndarray, eps: float) -> np.ndarray:
        """Inputs for ``rows`` moved by ``s`` (units of eps x scale), integer features truncated toward the
        original value (so rounding never leaves the ball), clipped to the bounds."""
        delta = s * (eps * self.scale)[None, :] * self.mask[None, :]
        if self.integer.any():
            delta[:, self.integer] = np.trunc(delta[:, self.integer])
        x = self.x[rows]
        return np.where(self.missing[rows], x, np.clip(x + delta, self.lo, self.hi))


def _search(prob: _Problem, rows: np.ndarray, s: np.ndarray, eps: float, queries: int, candidates: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random search for ``rows`` starting from directions ``s``; returns (s, x_adv, pred) for those rows.

    The problem says what is lowered (:meth:`_Problem.objective`: the true class's margin, or a regressor's
    negated squared error) and which rows are still attacked (:meth:`_Problem.standing`)."""
    free = np.flatnonzero(prob.mask & (prob.scale > 0))
    x_cur = prob.apply(rows, s, eps)
    p = prob.outputs(x_cur)
    y = prob.y[rows]
    m = prob.objective(p, y)
    pred = prob.predicted(p)
    if len(free) == 0:
        return s, x_cur, pred
    rounds = max(1, (queries - 1) // max(1, candidates))
    for r in range(rounds):
        act = np.flatnonzero(prob.standing(pred, y))
        if len(act) == 0:
            break
        # re-draw many features early, one at a time late (the Square Attack's shrinking schedule)
        k = max(1, int(round(len(free) * 0.5 * (1 - r / rounds))))
        a = len(act)
        cand = np.repeat(s[act], candidates, axis=0)
        m_c = a * candidates
        if k == 1:
            pick = rng.integers(0, len(free), (m_c, 1))
        else:  # k distinct features per candidate: the k smallest of random keys
            pick = np.argpartition(rng.random((m_c, len(free))), k - 1, axis=1)[:, :k]
        vals = _LEVELS[np.searchsorted(_LEVEL_CUT, rng.random((m_c, k)), side="right")]
        cols = free[pick]
        cand[np.arange(m_c)[:, None], cols] = vals
        rr = np.repeat(rows[act], candidates)
        xc = prob.apply(rr, cand, eps)
        pc = prob.outputs(xc)
        mc = prob.objective(pc, prob.y[rr]).reshape(a, candidates)
        best = mc.argmin(axis=1)
        better = mc[np.arange(a), best] < m[act]
        if not better.any():
            continue
        win = act[better]
        j = np.arange(a)[better] * candidates + best[better]
        s[win] = cand[j]
        x_cur[win] = xc[j]
        m[win] = mc[np.arange(a)[better], best[better]]
        pred[win] = prob.predicted(pc[j])
    return s, x_cur, pred


def _result(prob: _Problem, eps: float, x_adv: np.ndarray, pred_clean: np.ndarray, pred_adv: np.ndarray,
            rounds: int, duration: float, notes: list[str]) -> AttackResult:
    diff = np.abs(np.where(prob.missing, 0.0, x_adv - prob.x)) / np.where(prob.scale > 0, prob.scale, 1.0)[None, :]
    return AttackResult(
        attack="random_search", norm="linf", eps=float(eps), x_adv=torch.from_numpy(x_adv.copy()), y=prob.y,
        pred_clean=pred_clean, pred_adv=pred_adv, clean_correct=pred_clean == prob.y, success=pred_adv != prob.y,
        perturbation=diff.max(axis=1) if diff.shape[1] else np.zeros(len(diff)), steps=rounds, step_size=float("nan"),
        batch_size=prob.batch_rows, duration_s=duration, notes=list(notes),
    )


def random_search(
    predict_proba: Any,
    x: Any,
    y: Any,
    eps: float,
    *,
    queries: int = 100,
    candidates: int = 4,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    integer: Any = None,
    seed: int = 0,
    batch_rows: int = 65536,
) -> AttackResult:
    """Score-based L-inf black-box attack: needs only class probabilities, no gradients.

    Parameters
    ----------
    predict_proba : callable
        ``(rows, features) array -> (rows, classes)`` probabilities, e.g. ``clf.predict_proba``.
    x : array or Tensor, shape (n, d)
        Numeric inputs (for a DataFrame Pipeline, an encoding the callable decodes).
    y : array of int
        True class indices.
    eps : float
        L-inf radius in units of ``scale`` (e.g. per-feature standard deviations).
    queries : int
        Model evaluations per row at most (``candidates`` per round).
    candidates : int
        Proposals per row evaluated together in one call.
    bounds, mask, scale : optional
        As for :func:`audit.robustness.pgd`: per-feature clip range, 1/0 may-change mask, eps unit.
    integer : array of bool, optional
        Features that must stay integers (their change is truncated toward zero, staying in the ball).
    seed : int
    batch_rows : int
        Rows per ``predict_proba`` call.

    Returns
    -------
    AttackResult
        With ``attack="random_search"``; ``steps`` is the number of search rounds.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([1.0, -2.0])
    >>> f = lambda z: np.stack([1 / (1 + np.exp(z @ w)), 1 / (1 + np.exp(-(z @ w)))], axis=1)
    >>> x = np.array([[0.3, 0.0], [2.0, 0.0]])
    >>> r = random_search(f, x, [1, 1], eps=0.2)   # |margin| / ||w||_1 is 0.1 and 0.67
    >>> r.success.tolist()
    [True, False]
    """
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise AuditInputError(f"eps must be a finite number >= 0, got {eps!r}")
    if int(queries) < 1 or int(candidates) < 1:
        raise AuditInputError(f"queries and candidates must be >= 1, got {queries} and {candidates}")
    curve = random_search_curve(predict_proba, x, y, [eps], queries=queries, candidates=candidates, bounds=bounds,
                                mask=mask, scale=scale, integer=integer, seed=seed, batch_rows=batch_rows)
    return curve.results[0]


def random_search_curve(
    predict_proba: Any,
    x: Any,
    y: Any,
    eps_list: Sequence[float],
    *,
    queries: int = 100,
    candidates: int = 4,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    integer: Any = None,
    seed: int = 0,
    batch_rows: int = 65536,
    clean_proba: Any = None,
) -> RobustnessCurve:
    """:func:`random_search` at each eps (ascending), attacking only rows still standing.

    A row fooled at a smaller eps keeps its adversarial input (it lies in every larger ball); rows still
    standing continue from the direction found at the previous eps, scaled to the new radius.
    ``clean_proba`` (the model's probabilities on ``x``, when already computed) saves one pass over the data.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda z: np.stack([1 / (1 + np.exp(z[:, 0])), 1 / (1 + np.exp(-z[:, 0]))], axis=1)
    >>> c = random_search_curve(f, np.linspace(0.05, 1, 20)[:, None], np.ones(20, int), [0.1, 0.5])
    >>> c.table["robust_accuracy"].tolist()
    [0.9, 0.5]
    """
    if isinstance(eps_list, (int, float)) or len(eps_list) == 0:
        raise AuditInputError(f"eps_list must be a non-empty sequence of eps values, got {eps_list!r}")
    eps_sorted = sorted({float(e) for e in eps_list})
    if any(not np.isfinite(e) or e < 0 for e in eps_sorted):
        raise AuditInputError(f"every eps must be a finite number >= 0, got {list(eps_list)}")
    prob = _Problem(predict_proba, x, y, bounds=bounds, mask=mask, scale=scale, integer=integer, batch_rows=batch_rows)
    n, d = prob.x.shape
    rng = np.random.default_rng(seed)
    if clean_proba is None:
        pred_clean = prob.predicted(prob.outputs(prob.x))
    else:
        cp = np.asarray(clean_proba, dtype=np.float64)
        if cp.ndim != 2 or cp.shape[0] != n:
            raise AuditInputError(f"clean_proba must be (rows, classes) for the {n} rows of x, got shape {cp.shape}")
        pred_clean = cp.argmax(axis=1)
    x_adv = prob.x.copy()
    pred_adv = pred_clean.copy()
    s = np.where(rng.random((n, d)) < 0.5, -1.0, 1.0)  # start from a random vertex of the ball
    rounds = max(1, (int(queries) - 1) // max(1, int(candidates)))
    notes = []
    if not (prob.mask & (prob.scale > 0)).any():
        notes.append("No feature may change (all frozen or constant): robust accuracy equals clean accuracy.")
    rows_out, results = [], []
    for e in eps_sorted:
        t0 = time.perf_counter()
        standing = np.flatnonzero(pred_adv == prob.y)
        if len(standing):
            s_new, xa, pa = _search(prob, standing, s[standing].copy(), e, int(queries), int(candidates), rng)
            s[standing] = s_new
            fooled = pa != prob.y[standing]
            x_adv[standing[fooled]] = xa[fooled]
            pred_adv[standing[fooled]] = pa[fooled]
        res = _result(prob, e, x_adv.copy(), pred_clean, pred_adv.copy(), rounds, time.perf_counter() - t0, notes)
        results.append(res)
        rows_out.append({**res.summary(), "n_attacked": int(len(standing)), "duration_s": res.duration_s})
    table = pd.DataFrame(rows_out)
    table["n_attacked"] = table["n_attacked"].astype(np.int64)
    return RobustnessCurve(attack="random_search", norm="linf", table=table, results=results)
