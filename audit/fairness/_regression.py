"""Fairness of a regressor: per-group errors and predictions, the gaps between groups, the worst group's loss,
and whether the groups get the same distribution of predictions.

Every gap follows the gap rule of :mod:`audit.stats._gaps`: a bias-corrected estimate, an interval that bounds
every pairwise contrast at once (a max-|t| band; the draws are normal around each group's value with its
influence-function standard error, :func:`audit.stats.regression_intervals`, since groups are independent),
and a permutation p-value for "no gap" (group labels permuted over the rows of the eligible groups; on a
seeded subsample of :data:`PERMUTATION_ROWS` rows when there are more, which keeps the test exact for the
subsample). The worst group's loss (fairlearn's bounded group loss) is the largest group MAE / RMSE with the
interval :func:`audit.stats.worst_of` gives over the groups. Distributional parity is the largest
Kolmogorov-Smirnov distance between one group's prediction CDF and the pooled CDF, tested by permutation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.stats import (
    GapEvidence,
    bias_corrected,
    family_confidence,
    group_regression_metrics,
    permutation_p_value,
    range_interval,
    worst_of,
)

#: group metrics whose max - min is gated
GAP_METRICS = ("mae", "rmse", "mean_residual", "mean_prediction", "r2")
#: rows the permutation test works on (a seeded subsample beyond it)
PERMUTATION_ROWS = 20_000


@dataclass
class RegressionFairness:
    """Per-group regression metrics and gaps for each sensitive column.

    Attributes
    ----------
    groups : dict of str to DataFrame
        Column -> :func:`audit.stats.group_regression_metrics` (plus ``small``).
    gaps : DataFrame
        Index ``(column, metric)``: ``plug_in`` (max - min over eligible groups), ``gap`` (bias-corrected),
        ``low``, ``high``, ``p_value``, ``max_group``, ``min_group``, ``n_groups``. ``metric`` is a
        :data:`GAP_METRICS` name, ``worst_group_mae`` / ``worst_group_rmse`` (the largest group loss, its
        group in ``max_group``) or ``prediction_ks`` (distributional parity).
    notes : list of str
    """

    groups: dict[str, pd.DataFrame]
    gaps: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _gap_row(values: np.ndarray, se: np.ndarray, names: np.ndarray, perm: np.ndarray | None, B: int,
             rng: np.random.Generator, confidence: float) -> dict[str, object]:
    """The gap rule for a max - min in the target's units (not clipped to [0, 1] as rates are)."""
    plug = float(values.max() - values.min())
    p = permutation_p_value(plug, perm)
    low = high = math.nan
    corrected = plug
    if B:
        draws = values[None, :] + se[None, :] * rng.standard_normal((B, len(values)))
        low, high = range_interval([(values, draws)], confidence)
        corrected = max(bias_corrected(plug, draws.max(axis=1) - draws.min(axis=1)), 0.0)
        if not np.isnan(p) and p >= 1 - confidence:  # the test sees no gap: neither does the interval
            low = 0.0
        corrected = min(max(corrected, low), high)
    return {"plug_in": plug, "gap": corrected, "low": low, "high": high, "p_value": p,
            "max_group": str(names[int(values.argmax())]), "min_group": str(names[int(values.argmin())]),
            "n_groups": len(values)}


def _stat_sums(stats: dict[str, np.ndarray], codes: np.ndarray, V: int, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every gap metric per group from row statistics (one bincount each)."""
    s = {k: np.bincount(codes, weights=v, minlength=V) / counts for k, v in stats.items()}
    var_y = s["y2"] - s["y"] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(var_y > 0, 1 - s["sq"] / np.where(var_y > 0, var_y, 1.0), np.nan)
    return {"mae": s["abs"], "rmse": np.sqrt(s["sq"]), "mean_residual": s["res"], "mean_prediction": s["pred"], "r2": r2}


def _cdf_distances(codes_sorted: np.ndarray, ends: np.ndarray, V: int, counts: np.ndarray) -> np.ndarray:
    """Each group's largest distance between its prediction CDF and the pooled one (rows in prediction order;
    ``ends`` marks the last row of each run of equal predictions, where both CDFs are evaluated)."""
    n = len(codes_sorted)
    onehot = np.zeros((n, V))
    onehot[np.arange(n), codes_sorted] = 1.0
    cdf_g = np.cumsum(onehot, axis=0)[ends] / counts[None, :]
    cdf = (np.flatnonzero(ends) + 1.0)[:, None] / n
    return np.abs(cdf_g - cdf).max(axis=0)


def _permuted(stats: dict[str, np.ndarray], codes: np.ndarray, V: int, P: int,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``(P,)`` permutation distributions of max - min of each gap metric and of the largest CDF distance."""
    counts = np.bincount(codes, minlength=V).astype(float)
    order = np.argsort(stats["pred"], kind="stable")
    sorted_pred = stats["pred"][order]
    ends = np.r_[sorted_pred[1:] != sorted_pred[:-1], True]
    out = {m: np.empty(P) for m in (*GAP_METRICS, "prediction_ks")}
    for i in range(P):
        c = rng.permutation(codes)
        for m, v in _stat_sums(stats, c, V, counts).items():
            out[m][i] = np.nanmax(v) - np.nanmin(v)
        out["prediction_ks"][i] = _cdf_distances(c[order], ends, V, counts).max()
    return out


def regression_fairness(
    y_true,
    y_pred,
    sensitive: pd.DataFrame,
    *,
    min_group_size: int = 30,
    n_boot: int = 1000,
    n_perm: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> RegressionFairness:
    """Group metrics and gaps of a regressor for each column of ``sensitive``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.where(rng.random(2000) < 0.5, "a", "b")
    >>> y = rng.normal(size=2000)
    >>> p = y + rng.normal(scale=np.where(g == "a", 0.5, 1.0))
    >>> r = regression_fairness(y, p, pd.DataFrame({"g": g}), n_boot=300)
    >>> row = r.gaps.loc[("g", "mae")]
    >>> row["max_group"], bool(row["low"] > 0.2), bool(row["p_value"] < 0.01)
    ('b', True, True)
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if not isinstance(sensitive, pd.DataFrame) or len(sensitive) != len(y):
        raise AuditInputError("sensitive must be a DataFrame with one row per label")
    rng = np.random.default_rng(seed)
    B = int(n_boot)
    P = B if n_perm is None else int(n_perm)
    groups: dict[str, pd.DataFrame] = {}
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    for col in sensitive.columns:
        g = sensitive[col].astype(str).to_numpy()
        table = group_regression_metrics(y, p, g, confidence=confidence)
        table["small"] = table["count"] < min_group_size
        groups[str(col)] = table
        ok = table[~table["small"]]
        if len(ok) < 2:
            notes.append(f"{col}: fewer than two groups with {min_group_size}+ rows; no gap between groups.")
            continue
        names = ok.index.to_numpy()
        keep = np.isin(g, names)
        codes = pd.Index(names).get_indexer(g[keep])
        perm = None
        if P:
            sub = np.flatnonzero(keep)
            if len(sub) > PERMUTATION_ROWS:
                sub = np.sort(rng.choice(sub, PERMUTATION_ROWS, replace=False))
                notes.append(f"{col}: permutation tests on a seeded sample of {PERMUTATION_ROWS:,} of the "
                             f"{int(keep.sum()):,} rows in compared groups.")
            ys, ps = y[sub], p[sub]
            r = ys - ps
            stats = {"abs": np.abs(r), "sq": r * r, "res": r, "pred": ps, "y": ys, "y2": ys * ys}
            perm = _permuted(stats, pd.Index(names).get_indexer(g[sub]), len(names), P, rng)
        for m in GAP_METRICS:
            vals = ok[m].to_numpy(dtype=float)
            se = ok[f"{m}_se"].to_numpy(dtype=float)
            row = _gap_row(vals, se, names, None if perm is None else perm[m], B, rng, confidence)
            rows.append({"column": str(col), "metric": m, **row})
        rows.append({"column": str(col), "metric": "prediction_ks",
                     **_ks_row(p[keep], codes, names, None if perm is None else perm["prediction_ks"])})
        z = NormalDist().inv_cdf(0.5 + family_confidence(confidence, len(names)) / 2)
        for loss in ("mae", "rmse"):  # bounded group loss: the worst group's loss, with an interval over the groups
            v, se = ok[loss].to_numpy(dtype=float), ok[f"{loss}_se"].to_numpy(dtype=float)
            pick, ev = worst_of([GapEvidence(a, a, a - z * b, a + z * b, math.nan) for a, b in zip(v, se)], "difference")
            rows.append({"column": str(col), "metric": f"worst_group_{loss}", "plug_in": ev.plug_in, "gap": ev.corrected,
                         "low": max(ev.low, 0.0), "high": ev.high, "p_value": math.nan, "max_group": str(names[pick]),
                         "min_group": None, "n_groups": len(names)})
    gaps = pd.DataFrame(rows, columns=["column", "metric", "plug_in", "gap", "low", "high", "p_value", "max_group",
                                       "min_group", "n_groups"]).set_index(["column", "metric"])
    return RegressionFairness(groups=groups, gaps=gaps, notes=notes)


def _ks_row(pred: np.ndarray, codes: np.ndarray, names: np.ndarray, perm: np.ndarray | None) -> dict[str, object]:
    """Distributional parity: the largest distance between a group's prediction CDF and the pooled CDF."""
    V = len(names)
    order = np.argsort(pred, kind="stable")
    sorted_pred = pred[order]
    ends = np.r_[sorted_pred[1:] != sorted_pred[:-1], True]
    dist = _cdf_distances(codes[order], ends, V, np.bincount(codes, minlength=V).astype(float))
    d = float(dist.max())
    return {"plug_in": d, "gap": d, "low": math.nan, "high": math.nan,
            "p_value": permutation_p_value(d, perm) if perm is not None else math.nan,
            "max_group": str(names[int(dist.argmax())]), "min_group": None, "n_groups": V}
