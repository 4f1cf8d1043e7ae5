"""Weak slices: groups nobody named where the model does worse than on the rest, with false discoveries controlled.

The per-row loss (a classifier's error, a regressor's absolute error) is searched over single levels and pairs of
levels of the data's columns, sensitive columns included (:func:`audit.slices.find_weak_slices`): numeric columns in
quantile bins, rare categories merged, every candidate tested against the rest of the rows (one-sided Welch) and the
false discovery rate controlled over all of them (Benjamini-Yekutieli: slices overlap). Only slices that survive the
control reach the gate, so a model with no weak slice passes at the stated rate.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from audit.checks._base import Check
from audit.context import AuditContext
from audit.errors import AuditInputError
from audit.section import Metric, Section
from audit.slices import (
    LOSS_WORDS,
    RowLoss,
    SliceResult,
    check_losses,
    classification_losses,
    regression_losses,
    search_losses,
)

_SHOWN = ["description", "n", "support", "mean_in", "in_low", "in_high", "mean_out", "out_low", "out_high", "diff",
          "low", "high", "p_value", "q_value", "significant", "loss_share"]


class SlicesCheck(Check):
    """Search the evaluation data for slices with a worse loss than the rest.

    Parameters
    ----------
    columns : list of str, optional
        Columns to search; default every column of the data but the target, the text, the weights and the time
        column (features and sensitive columns alike).
    max_bins : int
        Quantile bins per numeric column.
    min_support : float
        Categories rarer than this share of rows are merged into "other".
    max_candidates : int
        Slices tested at most (pairs among the strongest single levels beyond it).
    alpha : float
        False discovery rate.
    holdout : bool
        Discover on a seeded half of the rows and confirm on the other (fewer false leads, less power).
    top : int
        Slices listed per loss.
    losses : list of str, optional
        Per-row losses searched, each under a share of the false-discovery budget (``alpha / len(losses)``); the
        first is the gated ``slices.worst_gap``. Default: a binary classifier's ``error_rate``, ``log_loss``,
        ``false_positive_rate`` and ``false_negative_rate`` (``unfavorable_rate``, the share of unfavourable
        predictions, only when named: a model is meant to predict differently across feature slices); a multiclass
        one's first two; a regressor's ``absolute_error``, ``under_prediction`` and ``over_prediction``.
    slice_columns : DataFrame, optional
        Columns to slice by, one row per evaluation row in order, for data without its own (image data: the
        camera, the hour, the site); for tabular and text data they are searched beside the data's columns.
    """

    name = "slices"
    title = "Weak slices"
    requires = ("labels",)
    tasks = ("binary", "multiclass", "regression")
    uses_weights = False
    metric_patterns: ClassVar[tuple[str, ...]] = ("slices.worst_gap", "slices.n_significant", "slices.n_candidates",
                                                  "slices.<loss>.worst_gap", "slices.<loss>.n_significant")
    metric_docs: ClassVar[dict[str, str]] = {
        "slices.worst_gap": "largest difference in mean loss (the first loss searched: error rate; a regressor's "
        "absolute error) between a slice and the rest of the rows, over the slices that survive the false-discovery "
        "control (0 when none does)",
        "slices.n_significant": "slices reported worse than the rest after the false-discovery control, all losses",
        "slices.n_candidates": "slices tested (single levels and pairs of levels), all losses",
        "slices.<loss>.worst_gap": "slices.worst_gap for one loss: error_rate, log_loss, false_positive_rate, "
        "false_negative_rate, unfavorable_rate (binary), absolute_error, under_prediction, over_prediction (regression)",
        "slices.<loss>.n_significant": "significant slices for one loss",
    }
    default_policy: ClassVar[dict[str, dict[str, Any]]] = {"slices.worst_gap": {"max": 0.1, "severity": "warn"}}

    def __init__(self, *, columns: list[str] | None = None, max_bins: int = 5, min_support: float = 0.01,
                 max_candidates: int = 2000, alpha: float = 0.05, holdout: bool = False, top: int = 20,
                 slice_columns: pd.DataFrame | None = None, losses: list[str] | None = None) -> None:
        unknown = [n for n in ([losses] if isinstance(losses, str) else losses or []) if n not in LOSS_WORDS]
        if unknown:
            raise AuditInputError(f"SlicesCheck(losses=) names {unknown}, which are not losses; choose from "
                                  f"{list(LOSS_WORDS)}")
        self.columns = columns
        self.losses = losses
        self.slice_columns = slice_columns
        self.max_bins = max_bins
        self.min_support = min_support
        self.max_candidates = max_candidates
        self.alpha = alpha
        self.holdout = holdout
        self.top = top

    def specific_skip_reason(self, ctx: AuditContext) -> str | None:
        check_losses(self.losses, ctx.task)  # a loss the task has not (absolute_error of a classifier): an error
        if self.slice_columns is not None and len(self.slice_columns) != ctx.n_rows:
            raise AuditInputError(f"SlicesCheck(slice_columns=) has {len(self.slice_columns):,} rows but the data has "
                                  f"{ctx.n_rows:,}; pass one row of slice columns per evaluation row, in order")
        if ctx.data.modality == "image" and self.slice_columns is None:
            return ("images have no columns to slice by: pass SlicesCheck(slice_columns=frame) with one row of metadata per "
                    "image (camera, hour, site)")
        return None if len(self._frame(ctx).columns) else "the data has no column to slice by (only the target)"

    def _frame(self, ctx: AuditContext) -> pd.DataFrame:
        meta = None if self.slice_columns is None else self.slice_columns.reset_index(drop=True)
        if ctx.data.modality == "image":
            return meta
        frame = self._data_frame(ctx)
        return frame if meta is None else pd.concat([frame.reset_index(drop=True), meta], axis=1)

    def _data_frame(self, ctx: AuditContext) -> pd.DataFrame:
        frame = ctx.data.frame if ctx.data.frame is not None else ctx.data.X
        if self.columns is not None:
            return frame[list(self.columns)]
        drop = {ctx.data.target, ctx.options.time_column, *stored_output_columns(ctx.model)}
        if ctx.data.modality == "text":
            drop |= set(ctx.data.X.columns)
        sens = ctx.data.sensitive
        out = frame[[c for c in frame.columns if c not in drop and str(c) not in drop]]
        extra = [c for c in sens.columns if c not in out.columns]  # sensitive columns given as arrays
        return pd.concat([out.reset_index(drop=True), sens[extra].reset_index(drop=True)], axis=1) if extra else out

    def _losses(self, ctx: AuditContext) -> list[RowLoss]:
        if ctx.is_regression:
            return regression_losses(ctx.y, ctx.prediction, check_losses(self.losses, "regression"))
        task = "binary" if ctx.is_binary else "multiclass"
        positive = 1
        if ctx.options.positive_class is not None:
            positive = list(ctx.classes).index(ctx.positive_class[0])
        return classification_losses(ctx.y, ctx.proba, check_losses(self.losses, task), positive=positive,
                                     favorable=ctx.options.positive_is_favorable)

    def run(self, ctx: AuditContext) -> Section:
        frame = self._frame(ctx).reset_index(drop=True)
        results = search_losses(frame, self._losses(ctx), max_bins=self.max_bins, min_support=self.min_support,
                                min_rows=ctx.options.min_group_size, max_candidates=self.max_candidates,
                                alpha=self.alpha, holdout=self.holdout, seed=ctx.torch_seed(self.name), top=self.top)
        return slices_section(results, n_columns=len(frame.columns), min_rows=ctx.options.min_group_size)


def stored_output_columns(adapter) -> list[str]:
    """The columns a prediction log's stored predictions are read from: the model's outputs, not slices of the
    data (a slice of a score's bins restates calibration)."""
    return [] if adapter.backend.calls_model else list(adapter.backend.model.columns)


def slices_section(results: dict[str, SliceResult], *, n_columns: int, min_rows: int) -> Section:
    """The section of the slices found for each loss (``results`` in search order; the first is the gated one)."""
    first = next(iter(results))
    metrics, tables = [], {}
    for name, r in results.items():
        worst = 0.0 if np.isnan(r.worst_gap) else float(r.worst_gap)
        metrics += [Metric(f"slices.{name}.worst_gap", worst, higher_is_better=False,
                           description=f"largest {LOSS_WORDS[name]} difference, slice minus rest, among significant "
                                       "slices"),
                    Metric(f"slices.{name}.n_significant", float(r.n_significant), higher_is_better=False)]
        shown = r.slices[[c for c in _SHOWN if c in r.slices.columns]]
        if len(shown):
            tables[f"Slices with a higher {LOSS_WORDS[name]}"] = shown
    main = results[first]
    n_sig = sum(r.n_significant for r in results.values())
    n_cand = sum(r.n_candidates for r in results.values())
    metrics = [Metric("slices.worst_gap", 0.0 if np.isnan(main.worst_gap) else float(main.worst_gap),
                      higher_is_better=False, description=f"largest {LOSS_WORDS[first]} difference, slice minus rest, "
                                                          "among significant slices"),
               Metric("slices.n_significant", float(n_sig), higher_is_better=False),
               Metric("slices.n_candidates", float(n_cand), higher_is_better=None), *metrics]
    words = ", ".join(LOSS_WORDS[n] for n in results)
    if n_sig:
        name, best = next((n, r.slices[r.slices["significant"]].iloc[0]) for n, r in results.items() if r.n_significant)
        summary = (f"{n_sig} slice(s) are significantly worse than the rest after the false-discovery control over "
                   f"{n_cand:,} candidates ({words}); the strongest on the {LOSS_WORDS[name]}: {best['description']} "
                   f"({int(best['n']):,} rows, {best['mean_in']:.3g} vs {best['mean_out']:.3g}).")
    else:
        summary = (f"No slice is significantly worse than the rest after the false-discovery control over "
                   f"{n_cand:,} candidates (single levels and pairs of {n_columns} columns; {words}).")
    notes = [f"Losses per row: {words}; the gate's slices.worst_gap reads the {LOSS_WORDS[first]}. Slices with at "
             f"least {min_rows} rows (min_group_size) in and out are tested.", *main.notes]
    return Section(check="slices", title=SlicesCheck.title, summary=summary, metrics=metrics, tables=tables,
                   notes=notes)
