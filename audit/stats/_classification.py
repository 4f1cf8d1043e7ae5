"""The headline classification metrics (:func:`classification_metrics`) and their confidence intervals
without a loop over resamples (:func:`metric_intervals`).

Accuracy and balanced accuracy depend only on the (label, prediction) cell counts, which under row
resampling are jointly ``Multinomial(n, cell / n)``: drawing them directly is the row bootstrap, in
``O(n_boot x k^2)``. Binary ROC AUC resamples positives and negatives over score bins the same way
(:mod:`audit.stats._auc`). Log loss is a mean of per-row losses: its interval is the normal one
(mean +- z * sd / sqrt(n)), which the bootstrap of a mean converges to.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from sklearn import metrics as skm

from audit.errors import AuditInputError
from audit.stats._cell_metrics import cell_intervals
from audit.stats._cells import build_cells, row_log_loss
from audit.stats._confusion import INTERVAL_METRICS, confusion_draws
from audit.stats._resample import percentile_interval

#: above this many classes the metrics come from label/prediction counts and one ranking of the scores, not
#: scikit-learn's dense helpers (balanced_accuracy_score builds a classes x classes matrix, roc_auc_score
#: and log_loss a rows x classes indicator): the same numbers, without 800 MB per matrix at 10,000 classes
DENSE_CLASSES = 100


def _many_class_metrics(y: np.ndarray, proba: np.ndarray, pred: np.ndarray, has_scores: bool) -> dict[str, float]:
    """:func:`classification_metrics` for many classes in memory linear in rows x classes (no k x k matrix)."""
    n, k = proba.shape
    classes, support = np.unique(y, return_counts=True)
    hits = np.bincount(y[pred == y], minlength=k)[classes]
    out = {"accuracy": float(np.mean(pred == y)), "balanced_accuracy": float(np.mean(hits / support)),
           "roc_auc": float("nan"), "log_loss": float("nan")}
    if has_scores and len(classes) > 1:
        if len(classes) == k:  # one-vs-rest macro AUC: Mann-Whitney U of each class's own column, ties midranked
            rank_of_own = rankdata(proba, axis=0)[np.arange(n), y]
            u = np.bincount(y, weights=rank_of_own, minlength=k) - support * (support + 1) / 2
            out["roc_auc"] = float(np.mean(u / (support * (n - support))))
        out["log_loss"] = float(np.mean(row_log_loss(y, proba)))
    return out


def classification_metrics(y: np.ndarray, proba: np.ndarray, *, has_scores: bool = True,
                           sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC (one-vs-rest for multiclass) and log loss.

    ``y`` holds class indices (columns of ``proba``). ROC AUC and log loss are NaN when the model
    returns hard labels only (no scores) or when ``y`` has a single class. With ``sample_weight``
    every metric is scikit-learn's weighted one (its ``sample_weight=``).

    Examples
    --------
    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]))
    >>> round(m["accuracy"], 3)
    0.667
    """
    pred = proba.argmax(axis=1)
    k = proba.shape[1]
    if k > DENSE_CLASSES and sample_weight is None:
        return _many_class_metrics(np.asarray(y).astype(np.int64), proba, pred, has_scores)
    w = sample_weight
    out = {
        "accuracy": float(skm.accuracy_score(y, pred, sample_weight=w)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred, sample_weight=w)),
        "roc_auc": float("nan"),
        "log_loss": float("nan"),
    }
    if has_scores and len(np.unique(y)) > 1:
        if k == 2:
            out["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1], sample_weight=w))
        elif len(np.unique(y)) == k:
            out["roc_auc"] = float(skm.roc_auc_score(y, proba, multi_class="ovr", sample_weight=w))
        out["log_loss"] = float(skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=np.arange(k), sample_weight=w))
    return out


def weighted_metric_intervals(y: np.ndarray, proba: np.ndarray, sample_weight: np.ndarray, *, n_boot: int = 1000,
                              confidence: float = 0.95, seed: int = 0, has_scores: bool = True) -> pd.DataFrame:
    """Intervals of the weighted accuracy, balanced accuracy and log loss (:func:`classification_metrics` with
    ``sample_weight``); ROC AUC gets none (NaN).

    Accuracy and balanced accuracy resample the (label, prediction) cells as the fairness intervals do with
    weights (:func:`audit.stats.resample_counts`: row counts multinomial, each cell's weight total drawn exactly
    for small cells and from a normal approximation for large ones). Log loss: weighted mean +- z sd / sqrt(n_eff),
    ``n_eff`` Kish's effective sample size ``(sum w)^2 / sum w^2``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> p1 = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, 400), 0.01, 0.99)
    >>> ci = weighted_metric_intervals(y, np.column_stack([1 - p1, p1]), rng.uniform(0.5, 2, 400))
    >>> bool(ci.loc["accuracy", "low"] < ci.loc["accuracy", "high"]), bool(np.isnan(ci.loc["roc_auc", "low"]))
    (True, True)
    """
    from audit.stats._resample import resample_counts, small_weighted_cells

    y = np.asarray(y).astype(np.int64).reshape(-1)
    proba = np.asarray(proba, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be between 0 and 1, got {confidence}")
    n, k = proba.shape
    out = pd.DataFrame(np.nan, index=list(INTERVAL_METRICS), columns=["low", "high"])
    if n == 0 or n_boot < 1:
        return out
    rng = np.random.default_rng(seed)
    cell = y * k + proba.argmax(axis=1)
    rows = np.bincount(cell, minlength=k * k).astype(np.float64)
    wsum = np.bincount(cell, weights=w, minlength=k * k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(rows > 0, wsum / np.where(rows > 0, rows, 1.0), 0.0)
        var = np.bincount(cell, weights=w * w, minlength=k * k) / np.where(rows > 0, rows, 1.0) - mean**2
    sd = np.sqrt(np.clip(var, 0.0, None))
    _, wb = resample_counts(rng, rows, wsum, sd, n_boot, exact_cells=small_weighted_cells(cell, w, k * k))
    cm = wb.reshape(n_boot, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.trace(cm, axis1=1, axis2=2) / cm.sum(axis=(1, 2))
        support = cm.sum(axis=2)
        recall = np.where(support > 0, np.diagonal(cm, axis1=1, axis2=2) / np.where(support > 0, support, 1.0), np.nan)
    out.loc["accuracy"] = percentile_interval(acc, confidence)
    out.loc["balanced_accuracy"] = percentile_interval(np.nanmean(recall, axis=1), confidence)
    if has_scores and n > 1:
        own = np.clip(proba, 1e-15, 1.0)
        losses = -np.log(own[np.arange(n), y] / own.sum(axis=1))
        m = float(np.average(losses, weights=w))
        sd_loss = math.sqrt(float(np.average((losses - m) ** 2, weights=w)))
        n_eff = float(w.sum() ** 2 / (w * w).sum())
        half = float(norm.ppf(0.5 + confidence / 2)) * sd_loss / math.sqrt(n_eff)
        out.loc["log_loss"] = (m - half, m + half)
    return out




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
        Score bins for the AUC resampling (exact with at most this many distinct scores; otherwise equal-mass
        bins of grid cells, :func:`audit.stats.cell_intervals`).

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
    if k == 2:  # binary: from the prediction cells, the statistic the performance check and the Dask engine use
        return cell_intervals(build_cells(y, proba, has_scores=has_scores), n_boot=n_boot, confidence=confidence,
                              seed=seed, max_bins=max_bins)
    rng = np.random.default_rng(seed)
    pred = proba.argmax(axis=1)
    cell_ids, cell_rows = np.unique(y * k + pred, return_counts=True)
    acc_b, rec_b, n_pos, n_neg = confusion_draws(rng, cell_ids, cell_rows, k, n_boot)
    out.loc["accuracy"] = percentile_interval(acc_b, confidence)
    out.loc["balanced_accuracy"] = percentile_interval(rec_b, confidence)
    if not has_scores:
        return out
    losses = -np.log(np.clip(proba[np.arange(n), y], 1e-15, 1.0))
    if n > 1:
        half = float(norm.ppf(0.5 + confidence / 2)) * float(losses.std(ddof=1)) / math.sqrt(n)
        out.loc["log_loss"] = (float(losses.mean()) - half, float(losses.mean()) + half)
    return out
