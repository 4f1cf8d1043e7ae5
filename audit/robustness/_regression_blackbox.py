"""The black-box random search against a regressor without input gradients (trees, Pipelines, functions).

The search of :mod:`audit.robustness._blackbox` (random re-draws of a few free features inside the L-inf ball,
the same bounds, frozen and integer features and missing cells) with the squared error against the true target
as what it raises: a candidate is kept when it makes the prediction more wrong, every row is searched for the
whole query budget (there is no decision to flip), and a row keeps its clean input when no candidate beat it,
so no row's squared error ever falls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from audit.errors import AuditInputError
from audit.robustness._blackbox import _Problem, _search
from audit.robustness._regression_result import RegressionAttackResult, RegressionCurve, curve_table


class _ValueProblem(_Problem):
    """A regressor's black-box problem: target values, one prediction per row, the squared error raised."""

    def __init__(self, predict: Any, x: Any, y: Any, **limits: Any) -> None:
        if not callable(predict):
            raise AuditInputError("predict must be a callable mapping a (rows, features) array to predicted values")
        super().__init__(predict, x, y, **limits)

    def targets(self, y: np.ndarray) -> np.ndarray:
        if y.dtype.kind not in "iuf" or not np.isfinite(y.astype(np.float64)).all():
            raise AuditInputError("y must hold one finite target value per row of x")
        return y.astype(np.float64)

    def checked(self, p: np.ndarray, rows: int) -> np.ndarray:
        p = p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p
        if p.shape != (rows,):
            raise AuditInputError(f"predict must return one value per row, shape ({rows},); got shape {p.shape}")
        return p

    def objective(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        return -((p - y) ** 2)  # the search lowers it: the squared error goes up

    def predicted(self, p: np.ndarray) -> np.ndarray:
        return p.copy()

    def standing(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.ones(len(pred), dtype=bool)  # no decision to flip: every row is searched to the end


def regression_random_search_curve(
    predict: Any,
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
    clean_prediction: Any = None,
) -> RegressionCurve:
    """Score-based L-inf black-box attack on a regressor at each eps (ascending): robust MAE and RMSE.

    Parameters
    ----------
    predict : callable
        ``(rows, features) array -> (rows,)`` predicted values, e.g. ``reg.predict``.
    x : array or Tensor, shape (n, d)
    y : array of float
        True target values.
    eps_list : sequence of float
        L-inf radii in units of ``scale``.
    queries, candidates, bounds, mask, scale, integer, seed, batch_rows
        As in :func:`audit.robustness.random_search`.
    clean_prediction : array, optional
        The model's predictions on ``x`` when already computed (saves one pass).

    Returns
    -------
    RegressionCurve
        ``attack="random_search"``. A row keeps the input with the largest squared error among its clean input,
        its search at this eps and its input at the eps before.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda z: z @ np.array([2.0, -1.0])
    >>> x = np.zeros((4, 2)); y = np.array([0.5, -0.5, 0.0, 1.0])
    >>> c = regression_random_search_curve(f, x, y, [0.1])   # the worst change moves f by 0.3, away from y
    >>> np.abs(c.results[0].pred_adv - y).round(6).tolist()
    [0.8, 0.8, 0.3, 1.3]
    """
    if isinstance(eps_list, (int, float)) or len(eps_list) == 0:
        raise AuditInputError(f"eps_list must be a non-empty sequence of eps values, got {eps_list!r}")
    eps_sorted = sorted({float(e) for e in eps_list})
    if any(not np.isfinite(e) or e < 0 for e in eps_sorted):
        raise AuditInputError(f"every eps must be a finite number >= 0, got {list(eps_list)}")
    if int(queries) < 1 or int(candidates) < 1:
        raise AuditInputError(f"queries and candidates must be >= 1, got {queries} and {candidates}")
    prob = _ValueProblem(predict, x, y, bounds=bounds, mask=mask, scale=scale, integer=integer, batch_rows=batch_rows)
    n, d = prob.x.shape
    rng = np.random.default_rng(seed)
    clean = (prob.outputs(prob.x) if clean_prediction is None
             else prob.checked(np.asarray(clean_prediction, dtype=np.float64), n))
    x_adv, pred_adv = prob.x.copy(), clean.copy()
    s = np.where(rng.random((n, d)) < 0.5, -1.0, 1.0)  # start from a random vertex of the ball
    rounds = max(1, (int(queries) - 1) // max(1, int(candidates)))
    notes = [] if (prob.mask & (prob.scale > 0)).any() else [
        "No feature may change (all frozen or constant): the robust error equals the clean error."]
    rows, results = np.arange(n), []
    for e in eps_sorted:
        t0 = time.perf_counter()
        s, xa, pa = _search(prob, rows, s.copy(), e, int(queries), int(candidates), rng)
        better = (pa - prob.y) ** 2 > (pred_adv - prob.y) ** 2  # over the clean input and the eps before
        x_adv[better], pred_adv[better] = xa[better], pa[better]
        diff = np.abs(np.where(prob.missing, 0.0, x_adv - prob.x)) / np.where(prob.scale > 0, prob.scale, 1.0)[None, :]
        results.append(RegressionAttackResult(
            attack="random_search", norm="linf", eps=e, x_adv=torch.from_numpy(x_adv.copy()), y=prob.y,
            pred_clean=clean, pred_adv=pred_adv.copy(), perturbation=diff.max(axis=1) if d else np.zeros(n),
            steps=rounds, step_size=float("nan"), duration_s=time.perf_counter() - t0, notes=list(notes)))
    return RegressionCurve(attack="random_search", norm="linf", table=curve_table(results), results=results)
