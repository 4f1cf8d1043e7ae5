"""The performance check's regression branch: MAE, RMSE, R^2, median absolute error and mean residual with
intervals (:func:`audit.stats.regression_intervals`), train vs test, per period, and the residual figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from audit.context import AuditContext
from audit.plots.performance import regression_figures
from audit.section import DeferredFigures, Metric, Section
from audit.stats import REGRESSION_METRICS, regression_intervals, regression_metrics
from audit.text import units

#: lower is better for the errors, higher for R^2; the mean residual is best at 0 (no direction)
HIGHER: dict[str, bool | None] = {"mae": False, "rmse": False, "r2": True, "median_absolute_error": False,
                                  "mean_residual": None}
_NAMES = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "median_absolute_error": "median absolute error",
          "mean_residual": "mean residual (y - prediction)"}
PATTERNS = (
    *(f"performance.{m}" for m in REGRESSION_METRICS),
    *(f"performance.train.{m}" for m in REGRESSION_METRICS),
    *(f"performance.train_test_gap.{m}" for m in REGRESSION_METRICS),
)
DOCS = {
    "performance.mae": "regressors: mean absolute error in the target's units (scikit-learn's, weighted by sample_weight)",
    "performance.rmse": "regressors: root mean squared error in the target's units",
    "performance.r2": "regressors: coefficient of determination R² (undefined for a constant target)",
    "performance.median_absolute_error": "regressors: median absolute error (robust to outliers)",
    "performance.mean_residual": "regressors: mean of target - prediction (bias; positive: the model predicts too low)",
    **{f"performance.train.{m}": f"regressors: {_NAMES[m]} on the training data" for m in REGRESSION_METRICS},
    **{f"performance.train_test_gap.{m}": f"regressors: train minus test {_NAMES[m]} (overfitting: negative for the "
       "errors, positive for R²)" for m in REGRESSION_METRICS},
}
#: points drawn in the residual figures at most (a seeded sample beyond, said in the caption)
MAX_POINTS = 5000


def regression_by_period(y: np.ndarray, pred: np.ndarray, when: pd.Series, sensitive: pd.DataFrame, *,
                         period: str = "M", min_group_size: int = 30) -> pd.DataFrame:
    """Rows, mean target, mean prediction, MAE, RMSE, mean residual and R^2 per period, and for each sensitive
    column the MAE gap (max - min over groups with at least ``min_group_size`` rows in the period; NaN with fewer
    than two such groups).

    Examples
    --------
    >>> when = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-20", "2026-02-03", "2026-02-10"]))
    >>> t = regression_by_period(np.array([1.0, 2, 3, 4]), np.array([1.5, 2, 2, 4]), when, pd.DataFrame(index=range(4)))
    >>> t["mae"].tolist()
    [0.25, 0.5]
    """
    per = pd.to_datetime(when, errors="coerce").dt.to_period(period).reset_index(drop=True)
    r = y - pred
    frame = pd.DataFrame({"period": per, "y": y, "pred": pred, "abs": np.abs(r), "sq": r * r, "r": r})
    grouped = frame.groupby("period", sort=True)
    out = grouped.agg(rows=("y", "size"), mean_target=("y", "mean"), mean_prediction=("pred", "mean"),
                      mae=("abs", "mean"), mse=("sq", "mean"), mean_residual=("r", "mean"), var_y=("y", "var"))
    out["rmse"] = np.sqrt(out.pop("mse"))
    var_y = out.pop("var_y") * (out["rows"] - 1) / out["rows"]  # population variance, as r2_score
    out["r2"] = (1 - out["rmse"] ** 2 / var_y).where(var_y > 0)
    for col in sensitive.columns:
        g = pd.DataFrame({"period": per, "group": sensitive[col].astype(str).to_numpy(), "abs": frame["abs"]})
        mae = g.groupby(["period", "group"]).agg(n=("abs", "size"), mae=("abs", "mean"))
        mae = mae[mae["n"] >= min_group_size]["mae"].unstack()
        out[f"{col} MAE gap"] = (mae.max(axis=1) - mae.min(axis=1)).where(mae.notna().sum(axis=1) >= 2)
    out.index = out.index.astype(str)
    return out


def _figures(ctx: AuditContext, seed: int) -> DeferredFigures:
    y, pred, target = ctx.y, ctx.prediction, str(ctx.data.target or "target")
    n = len(y)
    caption = ""
    if n > MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))
        y, pred = y[keep], pred[keep]
        caption = f"A seeded random sample of {MAX_POINTS:,} of {n:,} rows is drawn; the metrics use every row."
    return DeferredFigures(lambda: regression_figures(y, pred, target, caption))


def regression_section(ctx: AuditContext, *, confidence: float, seed: int) -> Section:
    """The performance section of a regressor (see the module's docstring)."""
    w = ctx.weights
    ci = regression_intervals(ctx.y, ctx.prediction, sample_weight=w, confidence=confidence)
    pct = f"{confidence:.0%}"
    metrics = [Metric(f"performance.{m}", float(r["value"]), _finite(r["low"]), _finite(r["high"]),
                      higher_is_better=HIGHER[m]) for m, r in ci.iterrows()]
    table = pd.DataFrame({"test": ci["value"]})
    table[f"test {pct} CI"] = [_ci_text(r["low"], r["high"]) for _, r in ci.iterrows()]
    target = str(ctx.data.target or "the target")
    y = ctx.y
    summary = (f"MAE {units(ci.loc['mae', 'value'])} ({pct} CI {_ci_text(ci.loc['mae', 'low'], ci.loc['mae', 'high'])}) "
               f"and RMSE {units(ci.loc['rmse', 'value'])} in units of {target} (mean {units(float(np.average(y, weights=w)))}, "
               f"standard deviation {units(float(np.std(y)))}); R² {units(ci.loc['r2', 'value'], 3)}, mean residual "
               f"{units(ci.loc['mean_residual', 'value'])} on {ctx.n_rows:,} rows.")
    notes = [f"Intervals: {pct} influence-function (delta-method) intervals for MAE, RMSE (from the MSE's), R² and the mean "
             "residual, Woodruff's for the median absolute error (audit.stats.regression_intervals); values are "
             "scikit-learn's metrics. The mean residual is target - prediction: positive when the model predicts too low."]
    if w is not None:
        notes.append("Weighted by sample_weight: every metric is scikit-learn's weighted metric and the intervals use "
                     f"the weights (effective sample size {float(w.sum() ** 2 / (w * w).sum()):,.0f} rows). Training "
                     "metrics are unweighted (the weights belong to data).")
    if ctx.train is not None and ctx.train_y is not None:
        train = regression_metrics(ctx.train_y, ctx.train_prediction)
        table["train"] = pd.Series(train)
        table["train - test"] = table["train"] - table["test"]
        for m, v in train.items():
            metrics.append(Metric(f"performance.train.{m}", v, higher_is_better=HIGHER[m]))
            metrics.append(Metric(f"performance.train_test_gap.{m}", v - float(ci.loc[m, "value"]), higher_is_better=None,
                                  description="train minus test; a large gap suggests overfitting"))
        summary += (f" Train MAE {units(train['mae'])} (test - train {units(ci.loc['mae', 'value'] - train['mae'])}).")
    table.index.name = "metric"
    tables = {"Metrics": table}
    col, frame = ctx.options.time_column, ctx.data.frame
    if col is not None:
        if frame is None or col not in frame.columns:
            notes.append(f"time_column {col!r} is not a column of the data; no per-period breakdown.")
        else:
            mgs = ctx.options.min_group_size
            tables[f"By period ({ctx.options.period})"] = regression_by_period(
                ctx.y, ctx.prediction, frame[col], ctx.data.sensitive, period=ctx.options.period, min_group_size=mgs)
            notes.append(f"Per-period breakdown by {col} ('{ctx.options.period}'); MAE gaps use groups with at least "
                         f"{mgs} rows in the period.")
    return Section(check="performance", title="Performance", summary=summary, metrics=metrics, tables=tables,
                   figures=_figures(ctx, seed), notes=notes)


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _ci_text(low: float, high: float) -> str:
    return "" if not (math.isfinite(low) and math.isfinite(high)) else f"{units(low)} – {units(high)}"
