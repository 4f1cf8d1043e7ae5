"""Overfitting check: train-versus-test gaps as findings, and the per-epoch history when one is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from audit.checks._base import Check
from audit.context import AuditContext
from audit.health import OverfittingResult, overfitting, regression_overfitting
from audit.plots.overfitting import history_curves
from audit.section import DeferredFigures, Figure, Metric, Section
from audit.text import units


@dataclass
class OverfittingSection(Section):
    """The overfitting section; ``result`` holds the full :class:`~audit.health.OverfittingResult`."""

    result: OverfittingResult | None = None


class OverfittingCheck(Check):
    """Does the model do better on its training data than on held-out data? Gaps, thresholds, the loss curves.

    Parameters
    ----------
    k : int
        Final epochs of the history looked at for divergence.
    """

    name = "overfitting"
    requires = ("train_or_history",)
    tasks = ("binary", "multiclass", "regression")
    title = "Overfitting"
    metric_patterns = (
        "overfitting.accuracy_gap",
        "overfitting.log_loss_gap",
        "overfitting.r2_gap",
        "overfitting.mae_gap",
        "overfitting.rmse_gap",
        "overfitting.history_diverging",
        "overfitting.epochs_since_best_val",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "overfitting.accuracy_gap": "train accuracy minus test accuracy; positive = better on train (overfitting)",
        "overfitting.log_loss_gap": "test log loss minus train log loss (sign flipped so that positive = overfitting, "
        "like the accuracy gap); needs scores",
        "overfitting.r2_gap": "regressors: train R² minus test R²; positive = better on train (overfitting)",
        "overfitting.mae_gap": "regressors: test MAE minus train MAE, in the target's units (positive = overfitting)",
        "overfitting.rmse_gap": "regressors: test RMSE minus train RMSE, in the target's units (positive = overfitting)",
        "overfitting.history_diverging": "1 when, over the last 3 epochs of the given history, validation loss rose "
        "while training loss fell; else 0",
        "overfitting.epochs_since_best_val": "epochs trained after the lowest validation loss (early stopping missed)",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "overfitting.accuracy_gap": {"max": 0.05, "severity": "warn"},
        "overfitting.log_loss_gap": {"max": 0.1, "severity": "warn"},
        "overfitting.r2_gap": {"max": 0.1, "severity": "warn"},
        "overfitting.history_diverging": {"max": 0, "severity": "warn"},
    }

    def __init__(self, *, k: int = 3) -> None:
        self.k = k

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        if ctx.train is not None and ctx.train_y is not None and ctx.y is not None:
            return f"all {len(ctx.data):,} test rows and all {len(ctx.train):,} training rows (no cap: counts)"
        return "no rows: the per-epoch training history only"

    @staticmethod
    def _regression_gaps(ctx: AuditContext, r: OverfittingResult, metrics: list[Metric], parts: list[str]) -> None:
        target = ctx.data.target or "the target"
        metrics.append(Metric("overfitting.r2_gap", r.r2_gap, higher_is_better=False, description="train minus test R²"))
        metrics.append(Metric("overfitting.mae_gap", r.mae_gap, higher_is_better=False,
                              description=f"test minus train MAE, in units of {target}"))
        metrics.append(Metric("overfitting.rmse_gap", r.rmse_gap, higher_is_better=False,
                              description=f"test minus train RMSE, in units of {target}"))
        mae = r.table["train"]["mae"], r.table["test"]["mae"]
        parts.append(f"Train MAE {units(mae[0])} vs test {units(mae[1])} (units of {target}; gap {units(r.mae_gap)}); R² "
                     f"{r.table['train']['r2']:.3f} on train vs {r.table['test']['r2']:.3f} on test (gap {r.r2_gap:+.3f})")

    def run(self, ctx: AuditContext) -> Section:
        has_train = ctx.train is not None and ctx.train_y is not None and ctx.y is not None
        metrics: list[Metric] = []
        tables = {}
        parts: list[str] = []
        if ctx.is_regression:
            args = (ctx.train_y, ctx.train_prediction, ctx.y, ctx.prediction) if has_train else (None,) * 4
            r = regression_overfitting(*args, history=ctx.options.history, k=self.k)
            if has_train:
                self._regression_gaps(ctx, r, metrics, parts)
                tables["Train vs test"] = r.table
        else:
            args = (ctx.train_y, ctx.train_proba, ctx.y, ctx.proba) if has_train else (None, None, None, None)
            r = overfitting(*args, history=ctx.options.history, k=self.k, has_scores=ctx.model.has_scores)
        if has_train and not ctx.is_regression:
            metrics.append(Metric("overfitting.accuracy_gap", r.accuracy_gap, higher_is_better=False,
                                  description="train minus test accuracy"))
            if ctx.model.has_scores:
                metrics.append(Metric("overfitting.log_loss_gap", r.log_loss_gap, higher_is_better=False,
                                      description="test minus train log loss"))
            tables["Train vs test"] = r.table
            acc = r.table["train"]["accuracy"], r.table["test"]["accuracy"]
            parts.append(f"Train accuracy {acc[0]:.3f} vs test {acc[1]:.3f} (gap {r.accuracy_gap:+.3f})")
            if ctx.model.has_scores:
                parts.append(f"log loss gap {r.log_loss_gap:+.3f} (test - train)")
        figs: list[Figure] = []
        if r.history is not None:
            if r.diverging is not None:
                metrics.append(Metric("overfitting.history_diverging", float(r.diverging), higher_is_better=False))
            if np.isfinite(r.epochs_since_best):
                metrics.append(Metric("overfitting.epochs_since_best_val", r.epochs_since_best, higher_is_better=False))
            tables["Training history"] = r.history
            figs = DeferredFigures(lambda: history_curves(r))
            if r.diverging:
                parts.append(f"validation loss rose while training loss fell over the last {r.k} epochs")
            if r.best_epoch is not None:
                parts.append(f"lowest validation loss at epoch {r.best_epoch} ({r.epochs_since_best:.0f} epochs before the end)")
        if not has_train:
            r.notes.append("No labelled training data was given: train/test gaps are not computed.")
        signs = r.r2_gap > 0.1 if ctx.is_regression else r.accuracy_gap > 0.05
        verdict = "Signs of overfitting" if (signs or r.diverging) else "No strong sign of overfitting"
        summary = f"{verdict}. " + "; ".join(parts) + "." if parts else verdict + "."
        return OverfittingSection(
            check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables, figures=figs,
            notes=list(r.notes), result=r,
        )
