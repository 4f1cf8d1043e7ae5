"""Binary classification metrics, their intervals and the per-period table, from prediction cells.

What :func:`audit.stats.classification_metrics` and :func:`audit.stats.metric_intervals` compute from rows,
computed from :class:`audit.stats.PredictionCells` (in memory: one cell per distinct score; on Dask: the
partitions' cells added up). Accuracy, balanced accuracy, log loss and their intervals are exact on any
cells. ROC AUC is the Mann-Whitney statistic over score cells (ties one half): scikit-learn's number on exact
cells; on grid cells it is off by at most :func:`audit.stats.auc_tie_bound`, and so is its interval (whose
resampling bins are the same grid-cell bins on both).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from audit.stats._auc import auc_from_bins, bootstrap_auc
from audit.stats._cells import PredictionCells, auc_tie_bound, equal_mass, grid_index
from audit.stats._confusion import INTERVAL_METRICS, confusion_draws
from audit.stats._resample import percentile_interval


def score_counts(cells: PredictionCells, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(keys, pos, neg)``: distinct score keys in order and the positive / negative rows on each."""
    sel = slice(None) if mask is None else mask
    keys, inv = np.unique(cells.score[sel], return_inverse=True)
    inv = inv.reshape(-1)
    w, lab = cells.count[sel], cells.label[sel]
    return (keys, np.bincount(inv, weights=w * (lab == 1), minlength=len(keys)),
            np.bincount(inv, weights=w * (lab != 1), minlength=len(keys)))


def auc_bins(keys: np.ndarray, rows: np.ndarray, *, exact: bool, n_bins: int, max_bins: int) -> np.ndarray:
    """Resampling bin of each score key: the key itself with at most ``max_bins`` keys, else ``max_bins``
    equal-mass bins of grid cells (whole cells per bin), so exact and grid cells give the same bins.

    >>> auc_bins(np.array([0.1, 0.2, 0.9]), np.array([5.0, 1, 4]), exact=True, n_bins=15, max_bins=8).tolist()
    [0, 1, 2]
    """
    if len(keys) <= max_bins:
        return np.arange(len(keys))
    grid = grid_index(keys, n_bins) if exact else keys.astype(np.int64)
    cells, inv = np.unique(grid, return_inverse=True)
    per_cell = np.bincount(inv.reshape(-1), weights=rows, minlength=len(cells))
    return equal_mass(per_cell[None, :], np.array([max_bins]))[0][inv.reshape(-1)]


def cell_metrics(cells: PredictionCells) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC and log loss of a binary model from its cells (see the module docstring).

    Examples
    --------
    >>> from audit.stats import build_cells
    >>> y, proba = np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]])
    >>> {k: round(v, 3) for k, v in cell_metrics(build_cells(y, proba)).items()}
    {'accuracy': 0.667, 'balanced_accuracy': 0.75, 'roc_auc': 1.0, 'log_loss': 0.415}
    """
    cm = cells.confusion()
    n = cm.sum()
    support = cm.sum(axis=1)
    present = support > 0
    out = {"accuracy": float(np.trace(cm) / n), "balanced_accuracy": float(np.mean(np.diag(cm)[present] / support[present])),
           "roc_auc": float("nan"), "log_loss": float("nan")}
    if cells.has_scores and present.sum() > 1:
        _, pos, neg = score_counts(cells)
        out["roc_auc"] = float(auc_from_bins(pos, neg))
        out["log_loss"] = float(cells.loss_sum.sum() / n)
    return out


def cell_intervals(cells: PredictionCells, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                   max_bins: int = 512) -> pd.DataFrame:
    """:func:`audit.stats.metric_intervals` of a binary model from its cells (the same draws as from its rows).

    Accuracy and balanced accuracy resample the confusion cells; ROC AUC resamples positives and negatives
    over :func:`auc_bins` and is re-centred on the AUC of the cells; log loss gets mean +- z sd / sqrt(n)
    from the cells' sums of losses and squared losses.

    >>> from audit.stats import build_cells
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(0, 1, 500); y = (rng.random(500) < p1).astype(int)
    >>> ci = cell_intervals(build_cells(y, np.column_stack([1 - p1, p1])), n_boot=200)
    >>> bool(ci.loc["roc_auc", "low"] < cell_metrics(build_cells(y, np.column_stack([1 - p1, p1])))["roc_auc"] < ci.loc["roc_auc", "high"])
    True
    """
    out = pd.DataFrame(np.nan, index=list(INTERVAL_METRICS), columns=["low", "high"])
    n, k = cells.n, cells.n_classes
    if n == 0 or n_boot < 1:
        return out
    rng = np.random.default_rng(seed)
    cm = cells.confusion().reshape(-1)
    cell_ids = np.flatnonzero(cm > 0)
    acc_b, rec_b, n_pos, n_neg = confusion_draws(rng, cell_ids, cm[cell_ids], k, n_boot)
    out.loc["accuracy"] = percentile_interval(acc_b, confidence)
    out.loc["balanced_accuracy"] = percentile_interval(rec_b, confidence)
    if not cells.has_scores:
        return out
    keys, pos, neg = score_counts(cells)
    if k == 2 and pos.sum() > 0 and neg.sum() > 0:
        b = auc_bins(keys, pos + neg, exact=cells.exact, n_bins=cells.n_bins, max_bins=max_bins)
        nb = int(b.max()) + 1
        pb, qb = np.bincount(b, weights=pos, minlength=nb), np.bincount(b, weights=neg, minlength=nb)
        aucs = bootstrap_auc(rng, pb, qb, n_pos, n_neg)
        shift = float(auc_from_bins(pos, neg)) - float(auc_from_bins(pb, qb))  # binning bias, 0 when exact
        out.loc["roc_auc"] = percentile_interval(aucs + shift, confidence)
    if n > 1:
        s1, s2 = float(cells.loss_sum.sum()), float(cells.loss_sq.sum())
        mean = s1 / n
        sd = math.sqrt(max(s2 - s1 * mean, 0.0) / (n - 1))
        half = float(norm.ppf(0.5 + confidence / 2)) * sd / math.sqrt(n)
        out.loc["log_loss"] = (mean - half, mean + half)
    return out


def auc_error_bound(cells: PredictionCells) -> float:
    """Largest difference between the cells' ROC AUC and the exact one: 0 on exact cells, else the tie bound."""
    if cells.exact:
        return 0.0
    _, pos, neg = score_counts(cells)
    return float(auc_tie_bound(pos, neg))


def cell_by_period(cells: PredictionCells, *, min_group_size: int = 30) -> pd.DataFrame:
    """:func:`audit.checks.performance.by_period` from cells: rows, accuracy, positive rate, ROC AUC (binary) and
    each sensitive column's selection-rate gap per period (groups of at least ``min_group_size`` rows)."""
    P = len(cells.periods)
    k = cells.n_classes
    in_period = cells.period < P
    per, w = cells.period[in_period], cells.count[in_period]
    rows = np.bincount(per, weights=w, minlength=P)
    correct = np.bincount(per, weights=w * (cells.label == cells.pred)[in_period], minlength=P)
    positive = np.bincount(per, weights=w * (cells.pred == k - 1)[in_period], minlength=P)
    seen = rows > 0
    out = pd.DataFrame({"rows": rows.astype(np.int64), "accuracy": correct / np.where(seen, rows, 1),
                        "positive_rate": positive / np.where(seen, rows, 1)}, index=cells.periods)[seen]
    if k == 2:
        auc = np.full(P, np.nan)
        for p in np.flatnonzero(seen):
            _, pos, neg = score_counts(cells, cells.period == p)
            auc[p] = auc_from_bins(pos, neg)
        out["roc_auc"] = auc[seen]
    for j, col in enumerate(cells.names):
        member, index = cells.view([col])
        V = len(index)
        key = per * V + member[cells.group[in_period]]
        n_g = np.bincount(key, weights=w, minlength=P * V).reshape(P, V)
        pos_g = np.bincount(key, weights=w * (cells.pred == k - 1)[in_period], minlength=P * V).reshape(P, V)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n_g >= min_group_size, pos_g / n_g, np.nan)
        enough = (~np.isnan(rate)).sum(axis=1) >= 2
        with np.errstate(invalid="ignore"):
            spread = np.where(enough, np.nanmax(np.where(enough[:, None], rate, 0.0), axis=1)
                              - np.nanmin(np.where(enough[:, None], rate, 0.0), axis=1), np.nan)
        out[f"{col} selection-rate gap"] = spread[seen]
    out.index = out.index.astype(str)
    out.index.name = "period"
    return out
