"""Calibration: expected / maximum calibration error, Brier score and reliability tables, per group too.

A model is calibrated when, among the rows it gives confidence ``c``, a share ``c`` is right.
Miscalibration that differs between groups is a fairness problem of its own: the same score means
a different risk for different people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.health._common import as_labels, as_proba, as_sensitive_frame

_RELIABILITY_COLUMNS = ["lower", "upper", "count", "confidence", "accuracy", "gap"]


@dataclass
class CalibrationResult:
    """Calibration of class probabilities, overall and per sensitive group.

    Attributes
    ----------
    ece : float
        Top-label expected calibration error: equal-width bins on the confidence ``max_k p_k``,
        ``sum_b n_b / n * |accuracy_b - confidence_b|`` (Guo et al. 2017).
    mce : float
        Maximum calibration error: the largest ``|accuracy_b - confidence_b|`` over non-empty bins.
    brier : float
        Binary: ``mean((p_1 - y)^2)`` (``sklearn.metrics.brier_score_loss``, range 0-1). Multi-class:
        ``mean(sum_k (p_k - [y = k])^2)`` (range 0-2, sklearn's multi-class Brier).
    positive_class_ece : float
        Binary only (NaN otherwise): ECE of the positive-class probability ``p_1`` against the
        frequency of ``y = 1``, on the same bins.
    n_bins : int
    reliability : DataFrame
        One row per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean), ``accuracy``,
        ``gap`` (accuracy - confidence); NaN for empty bins.
    by_group : DataFrame
        Index ``(column, group)``; columns ``n``, ``accuracy``, ``confidence``, ``ece``, ``mce``,
        ``brier``, ``positive_class_ece``, ``small`` (fewer than ``min_group_size`` rows).
    gaps : DataFrame
        Index ``column``; ``ece_gap`` (max - min ECE over groups with at least ``min_group_size``
        rows; NaN with fewer than two such groups), ``worst_group``, ``worst_ece``, ``best_group``,
        ``best_ece``, ``groups_compared``.
    group_reliability : DataFrame
        The reliability table per group, with ``column`` and ``group`` columns.
    notes : list of str
    """

    ece: float
    mce: float
    brier: float
    positive_class_ece: float
    n_bins: int
    reliability: pd.DataFrame
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    group_reliability: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Right-closed equal-width bins on [0, 1]: bin ``b`` holds ``(b / n_bins, (b + 1) / n_bins]`` (0 goes to bin 0)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], conf, side="left")


def reliability_table(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Per-bin count, mean confidence and accuracy (observed frequency) for equal-width bins.

    Examples
    --------
    >>> import numpy as np
    >>> t = reliability_table(np.array([0.9, 0.9, 0.3]), np.array([1, 0, 0]), n_bins=2)
    >>> t["count"].tolist(), t["accuracy"].tolist()
    ([1, 2], [0.0, 0.5])
    """
    idx = _bin_index(conf, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        acc = np.where(count > 0, acc_sum / count, np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = pd.DataFrame(
        {"lower": edges[:-1], "upper": edges[1:], "count": count, "confidence": mean_conf, "accuracy": acc, "gap": acc - mean_conf}
    )
    out.index.name = "bin"
    return out


def _ece_mce(table: pd.DataFrame) -> tuple[float, float]:
    n = table["count"].sum()
    if n == 0:
        return float("nan"), float("nan")
    full = table[table["count"] > 0]
    err = (full["accuracy"] - full["confidence"]).abs()
    return float((full["count"] / n * err).sum()), float(err.max())


def _summary(y: np.ndarray, p: np.ndarray, n_bins: int) -> tuple[dict[str, float], pd.DataFrame]:
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    table = reliability_table(conf, correct, n_bins)
    ece, mce = _ece_mce(table)
    # sum_k (p_k - [y = k])^2 = sum_k p_k^2 - 2 p_y + 1, without an (n, k) one-hot temporary
    sq = np.einsum("ij,ij->i", p, p) - 2.0 * p[np.arange(len(y)), y] + 1.0
    brier = float(sq.mean() / 2) if p.shape[1] == 2 else float(sq.mean())
    pos_ece = float("nan")
    if p.shape[1] == 2:
        pos_ece, _ = _ece_mce(reliability_table(p[:, 1], y == 1, n_bins))
    stats = {
        "n": int(len(y)),
        "accuracy": float(correct.mean()),
        "confidence": float(conf.mean()),
        "ece": ece,
        "mce": mce,
        "brier": brier,
        "positive_class_ece": pos_ece,
    }
    return stats, table


def calibration(
    y: Any,
    proba: Any,
    *,
    n_bins: int = 15,
    sensitive: Any = None,
    min_group_size: int = 30,
) -> CalibrationResult:
    """Expected and maximum calibration error, Brier score and reliability tables, overall and per group.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        True labels as class indices (columns of ``proba``).
    proba : array-like, shape (n, n_classes) or (n,)
        Predicted probabilities; a 1-D array is the positive-class probability of a binary model.
    n_bins : int
        Number of equal-width confidence bins on [0, 1] (right-closed).
    sensitive : DataFrame, Series, dict of arrays or array, optional
        Sensitive attributes aligned with ``y``: ECE, MCE and Brier per group, and the ECE gap.
    min_group_size : int
        Groups with fewer rows are reported but left out of the ECE gap (ECE is biased upward on
        small samples, so tiny groups would inflate the gap).

    Returns
    -------
    CalibrationResult

    Notes
    -----
    ``ece`` is the top-label ECE of Guo et al., "On Calibration of Modern Neural Networks" (ICML
    2017, https://arxiv.org/abs/1706.04599); for binary models ``positive_class_ece`` also bins the
    positive-class probability.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 0, 1, 1])
    >>> proba = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.1, 0.9]])
    >>> r = calibration(y, proba, n_bins=5)
    >>> round(r.brier, 4)
    0.075
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise AuditInputError(f"n_bins must be a positive integer, got {n_bins!r}")
    p = as_proba(proba)
    n, k = p.shape
    yi = as_labels(y, n, k)
    groups = as_sensitive_frame(sensitive, n)
    stats, table = _summary(yi, p, int(n_bins))
    notes: list[str] = []

    rows, rel_parts, gap_rows = [], [], []
    for col in groups.columns:
        values = groups[col].to_numpy()
        eligible: list[tuple[str, float]] = []
        for g in sorted(pd.unique(values)):
            m = values == g
            s, t = _summary(yi[m], p[m], int(n_bins))
            small = s["n"] < min_group_size
            rows.append({"column": col, "group": g, **s, "small": small})
            rel_parts.append(t.reset_index().assign(column=col, group=g))
            if not small:
                eligible.append((g, s["ece"]))
        if len(eligible) < len(pd.unique(values)):
            left = sorted(set(pd.unique(values)) - {g for g, _ in eligible})
            notes.append(
                f"{col}: group(s) {left} have fewer than {min_group_size} rows; their ECE is shown but left out of the gap."
            )
        if len(eligible) >= 2:
            worst = max(eligible, key=lambda t: t[1])
            best = min(eligible, key=lambda t: t[1])
            gap_rows.append(
                {"column": col, "ece_gap": worst[1] - best[1], "worst_group": worst[0], "worst_ece": worst[1],
                 "best_group": best[0], "best_ece": best[1], "groups_compared": len(eligible)}
            )
        else:
            notes.append(f"{col}: fewer than two groups with {min_group_size}+ rows; the ECE gap is undefined (NaN).")
            gap_rows.append(
                {"column": col, "ece_gap": float("nan"), "worst_group": None, "worst_ece": float("nan"),
                 "best_group": None, "best_ece": float("nan"), "groups_compared": len(eligible)}
            )
    by_group = (
        pd.DataFrame(rows).set_index(["column", "group"])
        if rows
        else pd.DataFrame(columns=["n", "accuracy", "confidence", "ece", "mce", "brier", "positive_class_ece", "small"])
    )
    gaps = pd.DataFrame(gap_rows).set_index("column") if gap_rows else pd.DataFrame(
        columns=["ece_gap", "worst_group", "worst_ece", "best_group", "best_ece", "groups_compared"]
    )
    group_rel = (
        pd.concat(rel_parts, ignore_index=True)[["column", "group", "bin", *_RELIABILITY_COLUMNS]]
        if rel_parts
        else pd.DataFrame(columns=["column", "group", "bin", *_RELIABILITY_COLUMNS])
    )
    return CalibrationResult(
        ece=stats["ece"],
        mce=stats["mce"],
        brier=stats["brier"],
        positive_class_ece=stats["positive_class_ece"],
        n_bins=int(n_bins),
        reliability=table,
        by_group=by_group,
        gaps=gaps,
        group_reliability=group_rel,
        notes=notes,
    )
