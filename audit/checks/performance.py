"""Performance check: accuracy, balanced accuracy, ROC AUC, log loss, confusion matrix; train vs test gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from audit.checks import _performance_regression as regression
from audit.checks._base import Check
from audit.context import AuditContext
from audit.plots.performance import confusion_matrix
from audit.section import DeferredFigures, Metric, Section
from audit.stats import (
    cell_by_period,
    cell_intervals,
    cell_metrics,
    classification_metrics,
    interval_bounds,
    metric_intervals,
    weighted_metric_intervals,
)


#: classes shown in the confusion matrix at most (the most frequent; the rest are summed into "other")
MAX_CONFUSION_CLASSES = 20


def confusion_table(y: np.ndarray, pred: np.ndarray, labels: list[str], cap: int = MAX_CONFUSION_CLASSES) -> tuple[pd.DataFrame, str]:
    """Confusion counts (rows: actual, columns: predicted); above ``cap`` classes the ``cap`` most frequent
    (by actual rows) and one "other" row and column for the rest, with a sentence saying so.

    Examples
    --------
    >>> cm, note = confusion_table(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), ["a", "b", "c"], cap=2)
    >>> cm.to_numpy().tolist(), note
    ([[1, 1, 0], [0, 1, 0], [1, 0, 0]], 'The confusion matrix shows the 2 most frequent of 3 classes; the other 1 are summed in "other (1 classes)".')
    """
    k = len(labels)
    if k <= cap:
        m = skm.confusion_matrix(y, pred, labels=np.arange(k))
        return pd.DataFrame(m, index=pd.Index(labels, name="actual"), columns=pd.Index(labels, name="predicted")), ""
    keep = np.sort(np.argsort(-np.bincount(y, minlength=k), kind="stable")[:cap])
    slot = np.full(k, cap)
    slot[keep] = np.arange(cap)
    m = np.zeros((cap + 1, cap + 1), dtype=np.int64)
    np.add.at(m, (slot[y], slot[pred]), 1)
    names = [labels[i] for i in keep] + [f"other ({k - cap:,} classes)"]
    note = (f"The confusion matrix shows the {cap} most frequent of {k:,} classes; the other {k - cap:,} are summed in "
            f"\"{names[-1]}\".")
    return pd.DataFrame(m, index=pd.Index(names, name="actual"), columns=pd.Index(names, name="predicted")), note


#: what a weighted performance section says about its numbers
_WEIGHTED_NOTE = (
    "Weighted by sample_weight: accuracy, balanced accuracy, ROC AUC and log loss are scikit-learn's weighted "
    "metrics (effective sample size {n_eff:,.0f} rows); the confusion matrix counts rows; accuracy intervals resample "
    "rows with their weights, the log loss interval is normal on the effective size, ROC AUC has no interval. "
    "Training metrics are unweighted (the weights belong to data)."
)
_HIGHER = {"accuracy": True, "balanced_accuracy": True, "roc_auc": True, "log_loss": False}


def by_period(y: np.ndarray, pred: np.ndarray, proba: np.ndarray, when: pd.Series, sensitive: pd.DataFrame,
              *, period: str = "M", min_group_size: int = 30) -> pd.DataFrame:
    """Rows, accuracy, ROC AUC (binary), positive rate and each sensitive column's selection-rate gap per period.

    The gap is max - min of the positive-prediction rate over groups with at least ``min_group_size``
    rows in that period (NaN when fewer than two such groups).

    Examples
    --------
    >>> when = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-20", "2026-02-03", "2026-02-10"]))
    >>> t = by_period(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0]), np.array([[.2, .8], [.4, .6], [.1, .9], [.7, .3]]),
    ...               when, pd.DataFrame(index=range(4)))
    >>> t["accuracy"].tolist()
    [0.5, 0.5]
    """
    per = pd.to_datetime(when, errors="coerce").dt.to_period(period).reset_index(drop=True)
    frame = pd.DataFrame({"period": per, "correct": y == pred, "positive": pred == (proba.shape[1] - 1)})
    out = frame.groupby("period", sort=True).agg(rows=("correct", "size"), accuracy=("correct", "mean"),
                                                 positive_rate=("positive", "mean"))
    if proba.shape[1] == 2:
        from sklearn.metrics import roc_auc_score

        auc = {}
        for p, idx in frame.groupby("period", sort=True).indices.items():
            yy = y[idx]
            auc[p] = float(roc_auc_score(yy, proba[idx, 1])) if 0 < yy.sum() < len(yy) else float("nan")
        out["roc_auc"] = pd.Series(auc)
    for col in sensitive.columns:
        g = pd.DataFrame({"period": per, "group": sensitive[col].astype(str).to_numpy(), "positive": frame["positive"]})
        rates = g.groupby(["period", "group"]).agg(n=("positive", "size"), rate=("positive", "mean"))
        rates = rates[rates["n"] >= min_group_size]["rate"].unstack()
        spread = rates.max(axis=1) - rates.min(axis=1)
        out[f"{col} selection-rate gap"] = spread.where(rates.notna().sum(axis=1) >= 2)
    out.index = out.index.astype(str)
    return out


def by_period_table(ctx: AuditContext) -> tuple[pd.DataFrame | None, str]:
    """The per-period breakdown of an audit with ``time_column`` set, and the note that says how it was cut."""
    col, frame = ctx.options.time_column, ctx.data.frame
    if ctx.is_binary and ctx.cells().periods is not None:  # the periods are an axis of the cells
        table = cell_by_period(ctx.cells(), min_group_size=ctx.options.min_group_size)
    elif ctx.summary is not None or frame is None or col not in frame.columns:
        return None, f"time_column {col!r} is not a column of the data; no per-period breakdown."
    else:
        table = by_period(ctx.y, ctx.pred, ctx.proba, frame[col], ctx.data.sensitive, period=ctx.options.period,
                          min_group_size=ctx.options.min_group_size)
    return table, (f"Per-period breakdown by {col} ({len(table)} periods of '{ctx.options.period}'); selection-rate "
                   f"gaps use groups with at least {ctx.options.min_group_size} rows in the period.")


class PerformanceCheck(Check):
    """Predictive performance on ``data`` with 95% intervals and, when ``train`` is given, on train with the gap.

    Classifiers: accuracy, balanced accuracy, ROC AUC, log loss and the confusion matrix. Regressors: MAE, RMSE,
    R², median absolute error and mean residual in the target's units, with predicted-vs-actual and residual
    figures (:mod:`audit.checks._performance_regression`).

    Parameters
    ----------
    n_boot : int
        Bootstrap resamples for the intervals of a classifier's test metrics (0: no intervals); a regressor's
        intervals are analytic (influence functions) and need none.
    confidence : float
        Interval level.
    """

    name = "performance"
    requires = ("labels",)
    tasks = ("binary", "multiclass", "regression")
    title = "Performance"
    uses_weights = True
    metric_patterns = (
        "performance.accuracy",
        "performance.balanced_accuracy",
        "performance.roc_auc",
        "performance.log_loss",
        "performance.train.accuracy",
        "performance.train.balanced_accuracy",
        "performance.train.roc_auc",
        "performance.train.log_loss",
        "performance.train_test_gap.accuracy",
        "performance.train_test_gap.balanced_accuracy",
        "performance.train_test_gap.roc_auc",
        "performance.train_test_gap.log_loss",
        *regression.PATTERNS,
    )
    metric_docs = {
        "performance.accuracy": "share of correct predictions on the evaluation data",
        "performance.balanced_accuracy": "mean recall over classes (robust to class imbalance)",
        "performance.roc_auc": "ROC AUC (one-vs-rest macro for multiclass); undefined for label-only models",
        "performance.log_loss": "cross-entropy of the predicted probabilities (lower is better)",
        "performance.train.accuracy": "accuracy on the training data (when train= is given)",
        "performance.train.balanced_accuracy": "balanced accuracy on the training data",
        "performance.train.roc_auc": "ROC AUC on the training data",
        "performance.train.log_loss": "log loss on the training data",
        "performance.train_test_gap.accuracy": "train accuracy minus test accuracy (overfitting)",
        "performance.train_test_gap.balanced_accuracy": "train minus test balanced accuracy",
        "performance.train_test_gap.roc_auc": "train minus test ROC AUC",
        "performance.train_test_gap.log_loss": "train minus test log loss (negative when the model overfits)",
        **regression.DOCS,
    }

    def __init__(self, *, n_boot: int = 1000, confidence: float = 0.95) -> None:
        self.n_boot = n_boot
        self.confidence = confidence

    def run(self, ctx: AuditContext) -> Section:
        seed = ctx.torch_seed(self.name)
        if ctx.is_regression:
            return regression.regression_section(ctx, confidence=self.confidence, seed=seed)
        w = ctx.weights
        # binary: from the cells (exact in memory, merged on Dask); cells count rows, so weighted rows take the rows
        cells = ctx.cells() if ctx.is_binary and w is None else None
        if w is not None:
            test = classification_metrics(ctx.y, ctx.proba, has_scores=ctx.model.has_scores, sample_weight=w)
            ci = weighted_metric_intervals(ctx.y, ctx.proba, w, n_boot=self.n_boot, confidence=self.confidence,
                                           seed=seed, has_scores=ctx.model.has_scores)
        elif cells is not None:
            test = cell_metrics(cells)
            ci = cell_intervals(cells, n_boot=self.n_boot, confidence=self.confidence, seed=seed)
            counts = cells.confusion().astype(np.int64)
        else:
            test = classification_metrics(ctx.y, ctx.proba, has_scores=ctx.model.has_scores)
            ci = metric_intervals(ctx.y, ctx.proba, n_boot=self.n_boot, confidence=self.confidence, seed=seed,
                                  has_scores=ctx.model.has_scores)
        bounds = {k: interval_bounds(ci, k, v) for k, v in test.items()}
        metrics = [Metric(f"performance.{k}", v, *bounds[k], higher_is_better=_HIGHER[k]) for k, v in test.items()]
        table = pd.DataFrame({"test": test})
        pct = f"{self.confidence:.0%}"
        table[f"test {pct} CI"] = ["" if bounds[k][0] is None else f"{bounds[k][0]:.3f} – {bounds[k][1]:.3f}" for k in table.index]
        labels = [str(c) for c in ctx.classes]
        if cells is not None:
            cm, capped = pd.DataFrame(counts, index=pd.Index(labels, name="actual"), columns=pd.Index(labels, name="predicted")), ""
        else:
            cm, capped = confusion_table(ctx.y, ctx.pred, labels)
        notes: list[str] = [capped] if capped else []
        if w is not None:
            notes.append(_WEIGHTED_NOTE.format(n_eff=float(w.sum() ** 2 / (w * w).sum())))
        if not ctx.model.has_scores:
            notes.append("The model returns hard labels only: ROC AUC and log loss are undefined.")
        lo, hi = bounds["accuracy"]
        acc_ci = "" if lo is None else f" ({pct} CI {lo:.3f}–{hi:.3f})"
        summary = f"Accuracy {test['accuracy']:.3f}{acc_ci}, balanced accuracy {test['balanced_accuracy']:.3f}"
        if not np.isnan(test["roc_auc"]):
            summary += f", ROC AUC {test['roc_auc']:.3f}"
        summary += f" on {ctx.n_rows:,} rows."
        if ctx.train is not None and ctx.train_y is not None:
            train = classification_metrics(ctx.train_y, ctx.train_proba, has_scores=ctx.model.has_scores)
            table["train"] = pd.Series(train)
            table["train - test"] = table["train"] - table["test"]
            for k, v in train.items():
                metrics.append(Metric(f"performance.train.{k}", v, higher_is_better=_HIGHER[k]))
                metrics.append(
                    Metric(
                        f"performance.train_test_gap.{k}",
                        v - test[k],
                        higher_is_better=None,
                        description="train minus test; a large gap suggests overfitting",
                    )
                )
            summary += f" Train accuracy {train['accuracy']:.3f} (gap {train['accuracy'] - test['accuracy']:+.3f})."
        table.index.name = "metric"
        tables = {"Metrics": table, "Confusion matrix": cm}
        if ctx.options.time_column is not None:
            by_period, note = by_period_table(ctx)
            notes.append(note)
            if by_period is not None:
                tables[f"By period ({ctx.options.period})"] = by_period
        return Section(
            check=self.name,
            title=self.title,
            summary=summary,
            metrics=metrics,
            tables=tables,
            figures=DeferredFigures(lambda: confusion_matrix(cm, capped)),
            notes=notes,
        )
