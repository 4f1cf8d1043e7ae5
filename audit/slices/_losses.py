"""The per-row losses slices are searched on: one number per row, higher is worse, and the rows it is defined on.

A classifier is searched on its errors, its log loss and, when binary, the fairness rates: the false positive rate
(on the rows whose true class is negative) and the false negative rate (on the positive rows); the rate of the
unfavourable prediction (on all rows) when named. A regressor is searched on its absolute error and on its residual in each
direction (under-prediction ``target - prediction`` and over-prediction ``prediction - target``), so a slice the
model is biased on is found even when its absolute error is ordinary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.errors import AuditInputError
from audit.stats import row_log_loss

#: loss name -> what its mean is, in the section's words
LOSS_WORDS = {
    "error_rate": "error rate",
    "log_loss": "log loss",
    "false_positive_rate": "false positive rate",
    "false_negative_rate": "false negative rate",
    "unfavorable_rate": "rate of the unfavourable prediction",
    "absolute_error": "absolute error",
    "under_prediction": "under-prediction (target minus prediction)",
    "over_prediction": "over-prediction (prediction minus target)",
}
CLASSIFICATION_LOSSES = ("error_rate", "log_loss")
BINARY_LOSSES = ("error_rate", "log_loss", "false_positive_rate", "false_negative_rate")
#: searched when named: a model is meant to predict differently across feature slices, so a slice with more
#: unfavourable predictions is a finding only where a sensitive column defines it (read those slices)
BINARY_OPTIONAL = ("unfavorable_rate",)
REGRESSION_LOSSES = ("absolute_error", "under_prediction", "over_prediction")
BAD_LOSSES = "losses={losses!r} names {bad}, which a {task} model has no such loss for; choose from {allowed}"


@dataclass(frozen=True)
class RowLoss:
    """One loss of every row in ``rows`` (a boolean mask of the rows it is defined on; None: all rows)."""

    name: str
    values: np.ndarray
    rows: np.ndarray | None = None

    @property
    def words(self) -> str:
        return LOSS_WORDS[self.name]


def default_losses(task: str) -> tuple[str, ...]:
    """The losses searched by default for ``task`` ("binary", "multiclass" or "regression")."""
    return {"binary": BINARY_LOSSES, "multiclass": CLASSIFICATION_LOSSES, "regression": REGRESSION_LOSSES}[task]


def check_losses(losses, task: str) -> tuple[str, ...]:
    """``losses`` (None: the task's defaults) as a tuple of names valid for ``task``, or :class:`AuditInputError`."""
    if losses is None:
        return default_losses(task)
    allowed = default_losses(task) + (BINARY_OPTIONAL if task == "binary" else ())
    names = (losses,) if isinstance(losses, str) else tuple(losses)
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise AuditInputError(BAD_LOSSES.format(losses=losses, bad=bad or "nothing", task=task, allowed=list(allowed)))
    return tuple(dict.fromkeys(names))


def classification_losses(y: np.ndarray, proba: np.ndarray, names, *, positive: int = 1,
                          favorable: bool = True) -> list[RowLoss]:
    """The named losses of a classifier's rows: ``y`` class indices, ``proba`` (n, k) probabilities.

    ``positive`` is the column of the positive class (binary); ``favorable`` whether predicting it is the
    favourable outcome (then the unfavourable prediction is the other class).

    Examples
    --------
    >>> y, p = np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> [(r.name, r.values.tolist()) for r in classification_losses(y, p, ["error_rate", "false_negative_rate"])]
    [('error_rate', [0.0, 0.0, 1.0, 1.0]), ('false_negative_rate', [0.0, 1.0])]
    """
    pred = proba.argmax(axis=1)
    out = []
    for name in names:
        if name == "error_rate":
            out.append(RowLoss(name, (pred != y).astype(np.float64)))
        elif name == "log_loss":
            out.append(RowLoss(name, row_log_loss(y, proba)))
        elif name == "false_positive_rate":
            rows = y != positive
            out.append(RowLoss(name, (pred[rows] == positive).astype(np.float64), rows))
        elif name == "false_negative_rate":
            rows = y == positive
            out.append(RowLoss(name, (pred[rows] != positive).astype(np.float64), rows))
        elif name == "unfavorable_rate":
            out.append(RowLoss(name, ((pred == positive) != favorable).astype(np.float64)))
    return out


def regression_losses(y: np.ndarray, prediction: np.ndarray, names) -> list[RowLoss]:
    """The named losses of a regressor's rows.

    Examples
    --------
    >>> [(r.name, r.values.tolist()) for r in regression_losses(np.array([1.0, 3.0]), np.array([2.0, 2.0]),
    ...                                                        ["absolute_error", "under_prediction"])]
    [('absolute_error', [1.0, 1.0]), ('under_prediction', [-1.0, 1.0])]
    """
    residual = np.asarray(y, dtype=np.float64) - np.asarray(prediction, dtype=np.float64)
    values = {"absolute_error": np.abs(residual), "under_prediction": residual, "over_prediction": -residual}
    return [RowLoss(name, values[name]) for name in names]
