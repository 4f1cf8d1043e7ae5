"""Metrics of a model that predicts a number, with intervals that need one pass over the rows.

The values are scikit-learn's (``mean_absolute_error``, ``mean_squared_error``, ``r2_score``,
``median_absolute_error``, with ``sample_weight``); the mean residual is ``mean(y - prediction)``, so a
positive bias means the model predicts too low.

Intervals
---------
Every metric but the median is a smooth function of weighted means, so its sampling variance is that of
its influence function (the linearisation a bootstrap approximates, without resampling):
``var(theta) ~ sum w_i^2 phi_i^2 / (sum w_i)^2``. The influence ``phi_i`` of each row is

- mean residual ``r_i - mean(r)``; MAE ``|r_i| - MAE``; MSE ``r_i^2 - MSE`` (the RMSE interval is the
  square root of the MSE interval's ends, which keeps it above 0);
- R^2 ``= 1 - A / B`` with ``A`` the mean squared residual and ``B`` the (weighted) variance of ``y``:
  ``-(r_i^2 - A) / B + A ((y_i - ybar)^2 - B) / B^2`` (estimating ``ybar`` adds nothing at first order).

The median absolute error's interval is Woodruff's: the values of the (weighted) empirical distribution of
``|r|`` at ranks ``1/2 -+ z sqrt(1 / (4 n_eff))``, with Kish's effective size for weights; it needs no
density estimate. ``tests/stats/test_regression.py`` checks the values against scikit-learn and the
intervals' coverage by simulation.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from audit.errors import AuditInputError

#: the metrics :func:`regression_metrics` returns, in order
REGRESSION_METRICS = ("mae", "rmse", "r2", "median_absolute_error", "mean_residual")


def _arrays(y_true, y_pred, sample_weight) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if len(y) != len(p):
        raise AuditInputError(f"y_true has {len(y):,} rows but y_pred has {len(p):,}; pass one prediction per row")
    if not len(y):
        raise AuditInputError("y_true is empty: regression metrics need at least one row")
    bad = ~np.isfinite(y) | ~np.isfinite(p)
    if bad.any():
        which = "y_true" if not np.isfinite(y).all() else "y_pred"
        raise AuditInputError(f"{which} holds {int(bad.sum()):,} NaN or infinite value(s); drop those rows or fix the "
                              "model's output")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if len(w) != len(y) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise AuditInputError("sample_weight must hold one finite, non-negative weight per row, not all 0")
    return y, p, w


def weighted_median(values: np.ndarray, weights: np.ndarray | None = None, q: float = 0.5) -> float:
    """The ``q`` quantile of ``values`` as scikit-learn's ``median_absolute_error`` defines it with weights
    (the smallest value whose cumulative weight reaches ``q`` of the total); ``np.median`` without weights.

    >>> weighted_median(np.array([1.0, 2.0, 10.0]), np.array([1.0, 1.0, 3.0]))
    10.0
    """
    if weights is None and q == 0.5:
        return float(np.median(values))
    w = np.ones(len(values)) if weights is None else weights
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(values[order][min(i, len(values) - 1)])


def regression_metrics(y_true, y_pred, sample_weight=None) -> dict[str, float]:
    """MAE, RMSE, R^2, median absolute error and mean residual (``mean(y - prediction)``), as scikit-learn.

    R^2 is NaN when ``y_true`` is constant (scikit-learn's ``r2_score`` returns 0 or 1 there by convention;
    an undefined number is reported as undefined).

    Examples
    --------
    >>> m = regression_metrics([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    >>> {k: round(v, 4) for k, v in m.items()}
    {'mae': 0.5, 'rmse': 0.6124, 'r2': 0.9486, 'median_absolute_error': 0.5, 'mean_residual': -0.25}
    """
    from sklearn.metrics import mean_absolute_error, mean_squared_error, median_absolute_error, r2_score

    y, p, w = _arrays(y_true, y_pred, sample_weight)
    constant = np.ptp(y) == 0 if w is None else np.ptp(y[w > 0]) == 0
    return {
        "mae": float(mean_absolute_error(y, p, sample_weight=w)),
        "rmse": float(math.sqrt(mean_squared_error(y, p, sample_weight=w))),
        "r2": math.nan if constant else float(r2_score(y, p, sample_weight=w)),
        "median_absolute_error": float(median_absolute_error(y, p, sample_weight=w)),
        "mean_residual": float(np.average(y - p, weights=w)),
    }


def _se(phi: np.ndarray, w: np.ndarray | None) -> float:
    """Standard error of a weighted mean-type estimator from its rows' influence values."""
    if w is None:
        n = len(phi)
        return float(math.sqrt(np.sum(phi * phi)) / n) if n > 1 else math.nan
    return float(math.sqrt(np.sum(w * w * phi * phi)) / w.sum())


def regression_intervals(y_true, y_pred, sample_weight=None, confidence: float = 0.95) -> pd.DataFrame:
    """Every metric of :func:`regression_metrics` with a ``confidence`` interval (see the module's notes).

    Returns a frame indexed by metric with ``value``, ``low``, ``high`` and ``se`` (NaN for the median,
    whose interval is Woodruff's).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=2000); p = y + rng.normal(scale=0.5, size=2000)
    >>> ci = regression_intervals(y, p)
    >>> bool(ci.loc["mae", "low"] < 0.5 * np.sqrt(2 / np.pi) < ci.loc["mae", "high"])
    True
    """
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be in (0, 1), got {confidence!r}")
    y, p, w = _arrays(y_true, y_pred, sample_weight)
    m = regression_metrics(y, p, w)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    r = y - p
    a = np.abs(r)
    mse = m["rmse"] ** 2
    ybar = float(np.average(y, weights=w))
    dev2 = (y - ybar) ** 2
    var_y = float(np.average(dev2, weights=w))
    rows = {}

    def normal(name: str, value: float, phi: np.ndarray) -> None:
        se = _se(phi, w)
        rows[name] = {"value": value, "low": value - z * se, "high": value + z * se, "se": se}

    normal("mae", m["mae"], a - m["mae"])
    normal("mean_residual", m["mean_residual"], r - m["mean_residual"])
    se_mse = _se(r * r - mse, w)
    lo, hi = max(mse - z * se_mse, 0.0), mse + z * se_mse
    rows["rmse"] = {"value": m["rmse"], "low": math.sqrt(lo), "high": math.sqrt(hi),
                    "se": se_mse / (2 * m["rmse"]) if m["rmse"] > 0 else math.nan}
    if var_y > 0:
        normal("r2", m["r2"], -(r * r - mse) / var_y + mse * (dev2 - var_y) / var_y**2)
        rows["r2"]["high"] = min(rows["r2"]["high"], 1.0)
    else:
        rows["r2"] = {"value": math.nan, "low": math.nan, "high": math.nan, "se": math.nan}
    n_eff = len(y) if w is None else float(w.sum() ** 2 / np.sum(w * w))
    half = z * math.sqrt(0.25 / n_eff)
    rows["median_absolute_error"] = {"value": m["median_absolute_error"], "low": weighted_median(a, w, max(0.5 - half, 0.0)),
                                     "high": weighted_median(a, w, min(0.5 + half, 1.0)), "se": math.nan}
    out = pd.DataFrame.from_dict(rows, orient="index").loc[list(REGRESSION_METRICS)]
    out.index.name = "metric"
    return out


def group_regression_metrics(y_true, y_pred, groups, sample_weight=None, confidence: float = 0.95) -> pd.DataFrame:
    """Per group: ``count``, ``mean_prediction`` and every metric of :func:`regression_intervals` with its
    interval and standard error (``<metric>_low``, ``<metric>_high``, ``<metric>_se``; NaN for a one-row group
    and for the median's se); one row per group value, in sorted order.

    The values equal fairlearn's ``MetricFrame(metrics=..., ...).by_group`` with scikit-learn's functions.

    Examples
    --------
    >>> t = group_regression_metrics([1.0, 2, 3, 4], [1.5, 2, 2, 5], ["a", "a", "b", "b"])
    >>> t["mae"].tolist(), t["count"].tolist()
    ([0.25, 1.0], [2, 2])
    """
    y, p, w = _arrays(y_true, y_pred, sample_weight)
    g = np.asarray(groups).reshape(-1)
    if len(g) != len(y):
        raise AuditInputError(f"groups has {len(g):,} rows but y_true has {len(y):,}; pass one group per row")
    keys = pd.Index(pd.unique(g)).sort_values()
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rows = []
    for key in keys:
        sel = g == key
        ws = None if w is None else w[sel]
        ps = p[sel]
        mean_p = float(np.average(ps, weights=ws))
        se_p = _se(ps - mean_p, ws) if sel.sum() >= 2 else math.nan
        row: dict[str, float] = {"count": int(sel.sum()), "mean_prediction": mean_p,
                                 "mean_prediction_low": mean_p - z * se_p, "mean_prediction_high": mean_p + z * se_p,
                                 "mean_prediction_se": se_p}
        if sel.sum() >= 2:
            ci = regression_intervals(y[sel], ps, ws, confidence)
            for metric, r in ci.iterrows():
                row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = r["value"], r["low"], r["high"]
                row[f"{metric}_se"] = r["se"]
        else:
            m = regression_metrics(y[sel], ps, ws)
            for metric in REGRESSION_METRICS:
                row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = m[metric], math.nan, math.nan
                row[f"{metric}_se"] = math.nan
        rows.append(row)
    out = pd.DataFrame(rows, index=keys)
    out.index.name = "group"
    return out
