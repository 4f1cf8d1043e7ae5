"""Confidence intervals for the headline classification metrics, without a loop over resamples.

Accuracy and balanced accuracy depend only on the (label, prediction) cell counts, which under row
resampling are jointly ``Multinomial(n, cell / n)``: drawing them directly is the row bootstrap, in
``O(n_boot x k^2)``. Binary ROC AUC resamples positives and negatives over score bins the same way
(:mod:`audit.fairness._roc`). Log loss is a mean of per-row losses: its interval is the normal one
(mean +- z * sd / sqrt(n)), which the bootstrap of a mean converges to.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from audit.errors import AuditInputError
from audit.fairness._bootstrap import percentile_interval, resample_counts
from audit.fairness._roc import auc_from_bins, bootstrap_auc, score_bins

#: metrics :func:`metric_intervals` returns, in order
INTERVAL_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss")


def interval_bounds(ci: pd.DataFrame | None, key: str, value: float) -> tuple[float | None, float | None]:
    """``(low, high)`` of row ``key`` of an interval frame (``low``/``high`` columns), or ``(None, None)`` when
    there is no interval for it or the metric itself is undefined (what :class:`audit.section.Metric` takes).

    Examples
    --------
    >>> import pandas as pd
    >>> ci = pd.DataFrame({"low": [0.6, float("nan")], "high": [0.7, float("nan")]}, index=["accuracy", "roc_auc"])
    >>> interval_bounds(ci, "accuracy", 0.65), interval_bounds(ci, "roc_auc", 0.8), interval_bounds(None, "x", 1.0)
    ((0.6, 0.7), (None, None), (None, None))
    """
    if ci is None or key not in ci.index or math.isnan(value) or ci.loc[key, ["low", "high"]].isna().any():
        return None, None
    return float(ci.loc[key, "low"]), float(ci.loc[key, "high"])


def metric_intervals(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    has_scores: bool = True,
    max_bins: int = 512,
) -> pd.DataFrame:
    """Percentile-bootstrap intervals of accuracy, balanced accuracy and binary ROC AUC; a normal one for log loss.

    Parameters
    ----------
    y : array of int, shape (n,)
        Class indices (columns of ``proba``).
    proba : array, shape (n, k)
        Predicted probabilities; the prediction is their argmax.
    n_boot, confidence, seed
        Resamples, interval level and seed (same seed, same interval).
    has_scores : bool
        False for label-only models: ROC AUC and log loss get no interval.
    max_bins : int
        Score bins for the AUC resampling (exact with at most this many distinct scores).

    Returns
    -------
    DataFrame
        Index :data:`INTERVAL_METRICS`, columns ``low`` and ``high`` (NaN where undefined, e.g.
        multiclass ROC AUC, which has no interval here).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> p1 = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, 400), 0.01, 0.99)
    >>> ci = metric_intervals(y, np.column_stack([1 - p1, p1]))
    >>> bool(ci.loc["accuracy", "low"] < np.mean((p1 > 0.5) == y) < ci.loc["accuracy", "high"])
    True
    """
    y = np.asarray(y).astype(np.int64).reshape(-1)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(y):
        raise AuditInputError(f"proba must be (rows, classes) with one row per label: y has {len(y)}, proba {proba.shape}")
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be between 0 and 1, got {confidence}")
    n, k = proba.shape
    out = pd.DataFrame(np.nan, index=list(INTERVAL_METRICS), columns=["low", "high"])
    if n == 0 or n_boot < 1:
        return out
    rng = np.random.default_rng(seed)
    pred = proba.argmax(axis=1)
    cells = np.zeros((k, k))
    np.add.at(cells, (y, pred), 1.0)
    draws, _ = resample_counts(rng, cells, cells, None, n_boot)
    diag = np.einsum("bii->bi", draws)
    out.loc["accuracy"] = percentile_interval(diag.sum(axis=1) / n, confidence)
    support = draws.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, diag / np.where(support > 0, support, 1.0), np.nan)
    present = cells.sum(axis=1) > 0
    out.loc["balanced_accuracy"] = percentile_interval(np.nanmean(recall[:, present], axis=1), confidence)
    if not has_scores:
        return out
    if k == 2 and 0 < y.sum() < n:
        bins = score_bins(proba[:, 1], max_bins)
        nb = int(bins.max()) + 1
        pos = np.bincount(bins[y == 1], minlength=nb).astype(np.float64)
        neg = np.bincount(bins[y == 0], minlength=nb).astype(np.float64)
        n_pos, n_neg = draws[:, 1, :].sum(axis=1), draws[:, 0, :].sum(axis=1)
        aucs = bootstrap_auc(rng, pos, neg, n_pos, n_neg)
        shift = float(roc_auc_score(y, proba[:, 1])) - float(auc_from_bins(pos, neg))  # binning bias, 0 when exact
        out.loc["roc_auc"] = percentile_interval(aucs + shift, confidence)
    losses = -np.log(np.clip(proba[np.arange(n), y], 1e-15, 1.0))
    if n > 1:
        half = float(norm.ppf(0.5 + confidence / 2)) * float(losses.std(ddof=1)) / math.sqrt(n)
        out.loc["log_loss"] = (float(losses.mean()) - half, float(losses.mean()) + half)
    return out
