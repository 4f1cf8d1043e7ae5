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
from audit.slices import find_weak_slices

_SHOWN = ["description", "n", "support", "mean_in", "mean_out", "diff", "low", "high", "p_value", "q_value",
          "significant", "loss_share"]


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
        Slices listed.
    metadata : DataFrame, optional
        Columns to slice by, one row per evaluation row in order, for data without its own (image data: the
        camera, the hour, the site); for tabular and text data they are searched beside the data's columns.
    """

    name = "slices"
    title = "Weak slices"
    requires = ("labels",)
    tasks = ("binary", "multiclass", "regression")
    uses_weights = False
    metric_patterns: ClassVar[tuple[str, ...]] = ("slices.worst_gap", "slices.n_significant", "slices.n_candidates")
    metric_docs: ClassVar[dict[str, str]] = {
        "slices.worst_gap": "largest difference in mean loss (error rate; a regressor's absolute error) between a slice "
        "and the rest of the rows, over the slices that survive the false-discovery control (0 when none does)",
        "slices.n_significant": "slices reported worse than the rest after the false-discovery control",
        "slices.n_candidates": "slices tested (single levels and pairs of levels)",
    }
    default_policy: ClassVar[dict[str, dict[str, Any]]] = {"slices.worst_gap": {"max": 0.1, "severity": "warn"}}

    def __init__(self, *, columns: list[str] | None = None, max_bins: int = 5, min_support: float = 0.01,
                 max_candidates: int = 2000, alpha: float = 0.05, holdout: bool = False, top: int = 20,
                 metadata: pd.DataFrame | None = None) -> None:
        self.columns = columns
        self.metadata = metadata
        self.max_bins = max_bins
        self.min_support = min_support
        self.max_candidates = max_candidates
        self.alpha = alpha
        self.holdout = holdout
        self.top = top

    def specific_skip_reason(self, ctx: AuditContext) -> str | None:
        if self.metadata is not None and len(self.metadata) != ctx.n_rows:
            raise AuditInputError(f"SlicesCheck(metadata=) has {len(self.metadata):,} rows but the data has "
                                  f"{ctx.n_rows:,}; pass one metadata row per evaluation row, in order")
        if ctx.data.modality == "image" and self.metadata is None:
            return ("images have no columns to slice by: pass SlicesCheck(metadata=frame) with one row of metadata per "
                    "image (camera, hour, site)")
        return None if len(self._frame(ctx).columns) else "the data has no column to slice by (only the target)"

    def _frame(self, ctx: AuditContext) -> pd.DataFrame:
        meta = None if self.metadata is None else self.metadata.reset_index(drop=True)
        if ctx.data.modality == "image":
            return meta
        frame = self._data_frame(ctx)
        return frame if meta is None else pd.concat([frame.reset_index(drop=True), meta], axis=1)

    def _data_frame(self, ctx: AuditContext) -> pd.DataFrame:
        frame = ctx.data.frame if ctx.data.frame is not None else ctx.data.X
        if self.columns is not None:
            return frame[list(self.columns)]
        drop = {ctx.data.target, ctx.options.time_column}
        if ctx.data.modality == "text":
            drop |= set(ctx.data.X.columns)
        sens = ctx.data.sensitive
        out = frame[[c for c in frame.columns if c not in drop and str(c) not in drop]]
        extra = [c for c in sens.columns if c not in out.columns]  # sensitive columns given as arrays
        return pd.concat([out.reset_index(drop=True), sens[extra].reset_index(drop=True)], axis=1) if extra else out

    def _loss(self, ctx: AuditContext) -> tuple[np.ndarray, str]:
        if ctx.is_regression:
            return np.abs(ctx.y - ctx.prediction), "absolute error"
        return (ctx.pred != ctx.y).astype(np.float64), "error rate"

    def run(self, ctx: AuditContext) -> Section:
        loss, what = self._loss(ctx)
        r = find_weak_slices(self._frame(ctx).reset_index(drop=True), loss, max_bins=self.max_bins,
                             min_support=self.min_support, min_rows=ctx.options.min_group_size,
                             max_candidates=self.max_candidates, alpha=self.alpha, holdout=self.holdout,
                             seed=ctx.torch_seed(self.name), top=self.top)
        worst = 0.0 if np.isnan(r.worst_gap) else float(r.worst_gap)
        metrics = [
            Metric("slices.worst_gap", worst, higher_is_better=False,
                   description=f"largest {what} difference, slice minus rest, among significant slices"),
            Metric("slices.n_significant", float(r.n_significant), higher_is_better=False),
            Metric("slices.n_candidates", float(r.n_candidates), higher_is_better=None),
        ]
        shown = r.slices[[c for c in _SHOWN if c in r.slices.columns]]
        tables = {f"Slices with a higher {what}": shown} if len(shown) else {}
        if r.n_significant:
            best = r.slices[r.slices["significant"]].iloc[0]
            summary = (f"{r.n_significant} slice(s) have a significantly higher {what} than the rest after the "
                       f"false-discovery control over {r.n_candidates:,} candidates; the strongest: {best['description']} "
                       f"({int(best['n']):,} rows, {best['mean_in']:.3g} vs {best['mean_out']:.3g}).")
        else:
            summary = (f"No slice has a significantly higher {what} than the rest after the false-discovery control "
                       f"over {r.n_candidates:,} candidates (single levels and pairs of {len(self._frame(ctx).columns)} "
                       "columns).")
        notes = [f"Loss per row: the {what}; slices with at least {ctx.options.min_group_size} rows (min_group_size) in "
                 "and out are tested.", *r.notes]
        return Section(check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables, notes=notes)
