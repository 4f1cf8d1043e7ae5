"""Overfitting: the train-versus-test gap of accuracy and log loss (a regressor's: MAE, RMSE and R²), and
divergence in a training history.

Both gaps are signed so that a *positive* gap means the model does better on its training data
than on held-out data (overfitting): ``accuracy_gap = train - test`` and
``log_loss_gap = test - train``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from audit.errors import AuditInputError
from audit.health._common import as_labels, as_proba

TRAIN_LOSS_NAMES = ("train_loss", "loss", "training_loss")
VAL_LOSS_NAMES = ("val_loss", "valid_loss", "validation_loss", "eval_loss", "test_loss")
BAD_HISTORY = (
    "history must be a DataFrame or a dict of per-epoch lists with a training loss column (one of {train}) "
    "and/or a validation loss column (one of {val}); got columns {got}"
)


@dataclass
class OverfittingResult:
    """Train/test gaps and, when a history was given, its per-epoch curves and divergence.

    Attributes
    ----------
    table : DataFrame
        Index ``metric`` (accuracy, balanced_accuracy, log_loss); columns ``train``, ``test`` and
        ``gap`` (positive = better on train). Empty without train and test predictions.
    accuracy_gap : float
        Train accuracy minus test accuracy (NaN without both).
    log_loss_gap : float
        Test log loss minus train log loss (NaN without both, or for label-only models).
    history : DataFrame or None
        The history with an ``epoch`` index and columns ``train_loss`` / ``val_loss`` (renamed from
        the aliases found) plus any other columns given.
    best_epoch : int or None
        Epoch of the lowest validation loss.
    epochs_since_best : float
        Epochs after ``best_epoch`` (NaN without a validation loss).
    diverging : bool or None
        Over the last ``k`` epochs the validation loss rose (end value above the start value and a
        positive least-squares slope) while the training loss fell (negative slope). None without
        both losses or with fewer than ``k + 1`` epochs.
    k : int
    notes : list of str
    """

    table: pd.DataFrame
    accuracy_gap: float
    log_loss_gap: float
    history: pd.DataFrame | None
    best_epoch: int | None
    epochs_since_best: float
    diverging: bool | None
    k: int
    notes: list[str] = field(default_factory=list)
    #: regressors (:func:`regression_overfitting`): test minus train MAE and RMSE (target units), train minus test R²
    mae_gap: float = float("nan")
    rmse_gap: float = float("nan")
    r2_gap: float = float("nan")


def _metrics(y: np.ndarray, p: np.ndarray, has_scores: bool) -> dict[str, float]:
    pred = p.argmax(axis=1)
    out = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
        "log_loss": float("nan"),
    }
    if has_scores:
        out["log_loss"] = float(skm.log_loss(y, np.clip(p, 1e-15, 1), labels=np.arange(p.shape[1])))
    return out


def training_history(history: Any) -> pd.DataFrame:
    """Normalise a per-epoch history (DataFrame, or dict of lists such as Keras ``History.history``).

    Returns a DataFrame indexed by ``epoch`` (from an ``epoch`` column, else 1, 2, ...) with the
    training loss as ``train_loss`` and the validation loss as ``val_loss``.

    Examples
    --------
    >>> training_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}).columns.tolist()
    ['train_loss', 'val_loss']
    """
    if isinstance(history, pd.DataFrame):
        df = history.copy()
    elif isinstance(history, Mapping):
        try:
            df = pd.DataFrame({str(k): list(v) for k, v in history.items()})
        except ValueError as exc:
            raise AuditInputError(f"history lists must all have one value per epoch: {exc}") from None
    else:
        raise AuditInputError(f"history must be a DataFrame or a dict of lists, got {type(history).__name__}")
    df.columns = [str(c) for c in df.columns]
    rename = {}
    for target, names in (("train_loss", TRAIN_LOSS_NAMES), ("val_loss", VAL_LOSS_NAMES)):
        found = next((c for c in names if c in df.columns), None)
        if found is not None:
            rename[found] = target
    if not rename or len(df) == 0:
        raise AuditInputError(BAD_HISTORY.format(train=list(TRAIN_LOSS_NAMES), val=list(VAL_LOSS_NAMES), got=list(df.columns)))
    df = df.rename(columns=rename)
    if "epoch" in df.columns:
        df = df.set_index("epoch")
    else:
        df.index = pd.RangeIndex(1, len(df) + 1, name="epoch")
    for c in ("train_loss", "val_loss"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def _slope(v: np.ndarray) -> float:
    return float(np.polyfit(np.arange(len(v), dtype=float), v, 1)[0])


def _history(history: Any, k: int, notes: list[str]) -> tuple[pd.DataFrame | None, Any, float, bool | None]:
    """The history's frame, best epoch, epochs since it and divergence over the last ``k`` epochs."""
    hist, best, since, diverging = None, None, float("nan"), None
    if history is None:
        return hist, best, since, diverging
    hist = training_history(history)
    if "val_loss" in hist.columns and hist["val_loss"].notna().any():
        pos = int(np.nanargmin(hist["val_loss"].to_numpy()))
        best = hist.index[pos].item() if hasattr(hist.index[pos], "item") else hist.index[pos]
        since = float(len(hist) - 1 - pos)
    if {"train_loss", "val_loss"} <= set(hist.columns):
        tail = hist[["train_loss", "val_loss"]].dropna().tail(int(k) + 1)
        if len(tail) >= int(k) + 1:
            val, trn = tail["val_loss"].to_numpy(), tail["train_loss"].to_numpy()
            diverging = bool(val[-1] > val[0] and _slope(val) > 0 and _slope(trn) < 0)
        else:
            notes.append(f"The history has fewer than {int(k) + 1} epochs with both losses: divergence is undefined.")
    else:
        notes.append("The history lacks a training or a validation loss: divergence is undefined.")
    return hist, best, since, diverging


def overfitting(
    y_train: Any = None,
    proba_train: Any = None,
    y_test: Any = None,
    proba_test: Any = None,
    *,
    history: Any = None,
    k: int = 3,
    has_scores: bool = True,
) -> OverfittingResult:
    """Train-versus-test gaps of accuracy and log loss, and divergence in a per-epoch history.

    Parameters
    ----------
    y_train, y_test : array-like of int, optional
        Labels as class indices (columns of the probabilities).
    proba_train, proba_test : array-like, shape (n, n_classes), optional
        Predicted probabilities on train and test.
    history : DataFrame or dict of lists, optional
        Per-epoch ``train_loss`` (or ``loss``) and ``val_loss`` (see :func:`training_history`).
    k : int
        Number of final epochs looked at for divergence.
    has_scores : bool
        False for label-only models: log loss is then undefined (NaN).

    Returns
    -------
    OverfittingResult

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> r = overfitting(np.array([0, 1]), p, np.array([1, 1]), p)
    >>> r.accuracy_gap
    0.5
    """
    if int(k) < 1:
        raise AuditInputError(f"k must be a positive number of epochs, got {k!r}")
    notes: list[str] = []
    table = pd.DataFrame(columns=["train", "test", "gap"])
    acc_gap = ll_gap = float("nan")
    if all(v is not None for v in (y_train, proba_train, y_test, proba_test)):
        pt, pv = as_proba(proba_train, "proba_train"), as_proba(proba_test, "proba_test")
        if pt.shape[1] != pv.shape[1]:
            raise AuditInputError(f"proba_train has {pt.shape[1]} classes but proba_test has {pv.shape[1]}")
        yt = as_labels(y_train, len(pt), pt.shape[1], "y_train", "proba_train")
        yv = as_labels(y_test, len(pv), pv.shape[1], "y_test", "proba_test")
        tr, te = _metrics(yt, pt, has_scores), _metrics(yv, pv, has_scores)
        table = pd.DataFrame({"train": tr, "test": te})
        table["gap"] = table["train"] - table["test"]
        table.loc["log_loss", "gap"] = -table.loc["log_loss", "gap"]  # positive = worse on test
        acc_gap, ll_gap = float(table.loc["accuracy", "gap"]), float(table.loc["log_loss", "gap"])
        if not has_scores:
            notes.append("The model returns hard labels only: log loss and its gap are undefined.")
    elif any(v is not None for v in (y_train, proba_train, y_test, proba_test)):
        raise AuditInputError("pass all of y_train, proba_train, y_test and proba_test, or none of them")
    table.index.name = "metric"

    hist, best, since, diverging = _history(history, int(k), notes)
    return OverfittingResult(
        table=table, accuracy_gap=acc_gap, log_loss_gap=ll_gap, history=hist, best_epoch=best,
        epochs_since_best=since, diverging=diverging, k=int(k), notes=notes,
    )


def regression_overfitting(
    y_train: Any = None,
    pred_train: Any = None,
    y_test: Any = None,
    pred_test: Any = None,
    *,
    history: Any = None,
    k: int = 3,
) -> OverfittingResult:
    """Train-versus-test gaps of a regressor's MAE, RMSE and R² (scikit-learn's metrics), and history divergence.

    Every gap is signed so that positive means better on train (overfitting): ``mae_gap = test - train`` (likewise
    RMSE, in the target's units) and ``r2_gap = train - test`` (scale-free, what a threshold can share across
    targets). ``accuracy_gap`` and ``log_loss_gap`` are NaN.

    Examples
    --------
    >>> r = regression_overfitting([1.0, 2, 3], [1.0, 2, 3], [1.0, 2, 3], [2.0, 2, 2])
    >>> r.mae_gap, r.r2_gap
    (0.6666666666666666, 1.0)
    """
    from audit.stats import regression_metrics

    if int(k) < 1:
        raise AuditInputError(f"k must be a positive number of epochs, got {k!r}")
    notes: list[str] = []
    table = pd.DataFrame(columns=["train", "test", "gap"])
    gaps = {"mae": float("nan"), "rmse": float("nan"), "r2": float("nan")}
    given = [v is not None for v in (y_train, pred_train, y_test, pred_test)]
    if all(given):
        tr, te = regression_metrics(y_train, pred_train), regression_metrics(y_test, pred_test)
        table = pd.DataFrame({"train": tr, "test": te})
        table["gap"] = table["test"] - table["train"]  # positive = larger error on test
        table.loc["r2", "gap"] = -table.loc["r2", "gap"]  # positive = lower R² on test
        table.loc["mean_residual", "gap"] = float("nan")  # a bias has no better side
        gaps = {m: float(table.loc[m, "gap"]) for m in gaps}
    elif any(given):
        raise AuditInputError("pass all of y_train, pred_train, y_test and pred_test, or none of them")
    table.index.name = "metric"
    hist, best, since, diverging = _history(history, int(k), notes)
    return OverfittingResult(
        table=table, accuracy_gap=float("nan"), log_loss_gap=float("nan"), history=hist, best_epoch=best,
        epochs_since_best=since, diverging=diverging, k=int(k), notes=notes, mae_gap=gaps["mae"],
        rmse_gap=gaps["rmse"], r2_gap=gaps["r2"],
    )
