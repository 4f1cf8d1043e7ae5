"""Data-quality check: missing values, duplicates, leakage, label balance, group representation, drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from audit.checks._base import Check
from audit.context import AuditContext, AuditOptions
from audit.data import AuditData
from audit.health import DataQualityResult, data_quality_chunks, image_data_quality
from audit.plots.data_quality import feature_drift, label_balance
from audit.section import DeferredFigures, Metric, Section, metric_parts

_SPLIT_METRICS = (
    "max_missing_share", "constant_columns", "duplicate_share", "near_duplicate_share", "label_conflict_share",
    "minority_class_share", "imbalance_ratio",
)
_HIGHER = {"minority_class_share": True}


@dataclass
class DataQualitySection(Section):
    """The data-quality section; ``result`` holds the full :class:`~audit.health.DataQualityResult`."""

    result: DataQualityResult | None = None


def _target_summary(r: DataQualityResult) -> list[str]:
    """The summary's words on a regression target: its mean here and in train, and whether it drifted."""
    if not len(r.target):
        return []
    words = f"target mean {r.target.loc['data', 'mean']:.4g} (std {r.target.loc['data', 'std']:.4g})"
    if "train" in r.target.index:
        words += f", train {r.target.loc['train', 'mean']:.4g}"
    if len(r.target_drift) and bool(r.target_drift.iloc[0]["drifted"]):
        words += f"; the target drifted from train (KS {float(r.target_drift.iloc[0]['effect']):.3f})"
    return [words]


def _frame(d: AuditData) -> pd.DataFrame:
    """The tabular frame with the target and every sensitive column (added when given as arrays)."""
    frame = (d.frame if d.frame is not None else d.X).copy()
    if d.y is not None and d.target not in frame.columns:
        frame[d.target] = d.y
    for c in d.sensitive.columns:
        if c not in frame.columns:
            frame[c] = d.sensitive[c].to_numpy()
    return frame


class DataQualityCheck(Check):
    """Is the data fit to judge the model on? Missing values, duplicates, leakage, balance, groups, drift.

    Parameters
    ----------
    min_group_size : int
        Sensitive groups with fewer rows are flagged (None: the audit-wide ``min_group_size``, 30 by default).
    near_tolerance : float
        Grid step in standard deviations for near duplicates.
    drift_alpha, drift_min_effect : float
        A feature drifts when its p-value is below ``drift_alpha`` and its effect size is at least
        ``drift_min_effect``.
    """

    name = "data_quality"
    title = "Data quality"
    tasks = ("binary", "multiclass", "regression")
    metric_patterns = (
        *(f"data_quality.{m}" for m in _SPLIT_METRICS),
        *(f"data_quality.train.{m}" for m in _SPLIT_METRICS),
        "data_quality.leakage_rows",
        "data_quality.leakage_share",
        "data_quality.drift.n_drifted",
        "data_quality.drift.max_effect",
        "data_quality.target_drift.effect",
        "data_quality.target_drift.drifted",
        "data_quality.<column>.min_group_share",
        "data_quality.<column>.small_groups",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "data_quality.max_missing_share": "largest share of missing values in any column of the data",
        "data_quality.constant_columns": "columns with a single value (tabular only)",
        "data_quality.duplicate_share": "share of rows equal to an earlier row on features and target (images: same bytes)",
        "data_quality.near_duplicate_share": "share of rows equal to an earlier row after numeric features are standardised and "
        "rounded to 0.1 standard deviations (includes exact duplicates)",
        "data_quality.label_conflict_share": "share of rows whose features equal another row's with a different label",
        "data_quality.minority_class_share": "share of the rarest class",
        "data_quality.imbalance_ratio": "count of the largest class / count of the smallest",
        "data_quality.train.max_missing_share": "as data_quality.max_missing_share, on the training data (likewise for "
        "every data_quality.train.* metric)",
        "data_quality.leakage_rows": "rows of the data whose feature values exactly equal a training row (images: same bytes)",
        "data_quality.leakage_share": "leakage_rows / rows of the data",
        "data_quality.drift.n_drifted": "features whose train-vs-data test has p < 0.01 and effect size >= 0.1 "
        "(KS D for numeric, Cramér's V for categorical; images: mean/std pixel intensity)",
        "data_quality.drift.max_effect": "largest per-feature drift effect size (0-1)",
        "data_quality.target_drift.effect": "regression: KS distance between the train and data target distributions "
        "(0-1; label shift)",
        "data_quality.target_drift.drifted": "regression: 1 when the target drifted from train (p < 0.01 and KS "
        "distance >= 0.1, the features' rule), else 0",
        "data_quality.<column>.min_group_share": "share of the data held by the smallest group of the sensitive column",
        "data_quality.<column>.small_groups": "groups of the sensitive column with fewer than min_group_size (30) rows: "
        "too small to judge",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "data_quality.max_missing_share": {"max": 0.05, "severity": "warn"},
        "data_quality.constant_columns": {"max": 0, "severity": "warn"},
        "data_quality.minority_class_share": {"min": 0.05, "severity": "warn"},
        "data_quality.leakage_share": {"max": 0, "severity": "warn"},
        "data_quality.drift.n_drifted": {"max": 0, "severity": "warn"},
        "data_quality.target_drift.drifted": {"max": 0, "severity": "warn"},
        "data_quality.*.small_groups": {"max": 0, "severity": "warn"},
    }

    def __init__(
        self, *, min_group_size: int | None = None, near_tolerance: float = 0.1, drift_alpha: float = 0.01, drift_min_effect: float = 0.1
    ) -> None:
        self.min_group_size = min_group_size
        self.near_tolerance = near_tolerance
        self.drift_alpha = drift_alpha
        self.drift_min_effect = drift_min_effect

    def settings(self, options: AuditOptions) -> dict[str, Any]:
        """The engine's settings: this check's, with the audit-wide ``min_group_size`` when it sets none (in memory
        and per partition alike)."""
        return dict(min_group_size=int(options.resolve(self.min_group_size, "min_group_size")),
                    near_tolerance=self.near_tolerance, drift_alpha=self.drift_alpha, drift_min_effect=self.drift_min_effect)

    def _compute(self, ctx: AuditContext) -> DataQualityResult:
        d, t = ctx.data, ctx.train
        kw = self.settings(ctx.options)
        if d.modality == "image":
            return image_data_quality(
                d.X, d.y, sensitive=d.sensitive if d.sensitive.shape[1] else None,
                train_images=None if t is None else t.X, train_labels=None if t is None else t.y,
                train_sensitive=t.sensitive if t is not None and t.sensitive.shape[1] else None, **kw,
            )
        frame = _frame(d)
        train = _frame(t) if t is not None else None
        # the Dask engine's functions on one chunk, with caps at the data's size: exact, and one engine for both
        return data_quality_chunks(
            [frame], target=d.target if d.y is not None else None, sensitive=d.sensitive_names,
            features=d.feature_names, categorical=d.categorical, train_frame=train, exact=True,
            regression=ctx.is_regression, **kw,
        )

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        train = f" and all {len(ctx.train):,} training rows" if ctx.train is not None else ""
        return f"all {len(ctx.data):,} rows{train} (no cap: hashing and counting, linear in rows)"

    def run(self, ctx: AuditContext) -> Section:
        section = self.section(self._compute(ctx), ctx.data.X if ctx.data.modality == "tabular" else None)
        section.notes = [*ctx.data.notes, *section.notes]  # what loading changed (column names made strings)
        return section

    def section(self, r: DataQualityResult, features: pd.DataFrame | None = None) -> DataQualitySection:
        """The section for a computed result (in memory, or merged from a Dask audit's partitions); ``features``
        are the data's rows by position, for the table of leaked rows (None: positions only)."""
        metrics: list[Metric] = []
        for split, prefix in (("data", "data_quality."), ("train", "data_quality.train.")):
            if split not in r.overview.index:
                continue
            row = r.overview.loc[split]
            for m in _SPLIT_METRICS:
                v = float(row[m])
                if m == "constant_columns" and r.modality == "image":
                    continue
                if m in ("minority_class_share", "imbalance_ratio", "label_conflict_share") and np.isnan(v):
                    continue  # no labels: not applicable
                metrics.append(Metric(prefix + m, v, higher_is_better=_HIGHER.get(m, False)))
        if r.leakage_rows is not None:
            metrics.append(Metric("data_quality.leakage_rows", float(r.leakage_rows), higher_is_better=False))
            metrics.append(Metric("data_quality.leakage_share", r.leakage_share, higher_is_better=False))
        if len(r.drift):
            metrics.append(Metric("data_quality.drift.n_drifted", float(r.drift["drifted"].sum()), higher_is_better=False))
            metrics.append(Metric("data_quality.drift.max_effect", float(r.drift["effect"].max()), higher_is_better=False))
        if len(r.target_drift):
            td = r.target_drift.iloc[0]
            metrics.append(Metric("data_quality.target_drift.effect", float(td["effect"]), higher_is_better=False))
            metrics.append(Metric("data_quality.target_drift.drifted", float(bool(td["drifted"])), higher_is_better=False))
        if len(r.groups):
            cols = r.groups.index.get_level_values("column").unique()
            parts = metric_parts(cols)  # column names made safe for Markdown / XML / HTML, like every check
            for col in cols:
                g = r.groups.loc[col]
                metrics.append(Metric(f"data_quality.{parts[str(col)]}.min_group_share", float(g["share"].min())))
                metrics.append(Metric(f"data_quality.{parts[str(col)]}.small_groups", float(g["small"].astype(bool).sum()), higher_is_better=False))

        tables: dict[str, pd.DataFrame] = {"Overview": r.overview.T.rename_axis("measure")}
        if len(r.columns):
            tables["Columns"] = r.columns
        if len(r.labels):
            tables["Label balance"] = r.labels
        if len(r.target):
            tables["Target (regression)"] = r.target.rename_axis("split")
        if len(r.target_drift):
            tables["Target drift (train vs data)"] = r.target_drift
        if len(r.groups):
            tables["Group representation"] = r.groups
        if len(r.drift):
            tables["Feature drift (train vs data)"] = r.drift
        if r.leakage_rows:
            leak = r.leakage.head(10)
            if r.modality == "tabular" and features is not None:
                leak = leak.join(features.iloc[leak["row"].to_numpy()].reset_index(drop=True))
            tables["Rows also in train (first 10)"] = leak.set_index("row")

        ov = r.overview.loc["data"]
        parts = [f"{int(ov['rows']):,} rows; {ov['duplicate_share']:.1%} exact duplicates"]
        if len(r.columns) and "missing" in r.columns and (r.columns["missing"] > 0).any():
            miss = r.columns["missing"]
            worst = str(miss.idxmax())
            parts.append(f"missing values in {int((miss > 0).sum())} column(s), most in {worst} "
                         f"({float(r.columns.loc[worst, 'missing_share']):.1%} of rows)")
        if r.leakage_rows is not None:
            parts.append(f"{r.leakage_share:.1%} of rows also appear in train")
        if len(r.drift):
            what = "per-image intensity summaries (mean, std)" if r.modality == "image" else "features"
            parts.append(f"{len(r.drifted)} of {len(r.drift)} {what} drifted from train")
        if not np.isnan(ov["minority_class_share"]):
            parts.append(f"rarest class {ov['minority_class_share']:.1%} of rows")
        parts += _target_summary(r)
        if len(r.groups):
            small = int(r.groups["small"].astype(bool).sum())
            parts.append(f"{small} sensitive group(s) under {r.min_group_size} rows" if small else "every sensitive group has "
                         f"{r.min_group_size}+ rows")
        summary = "; ".join(parts) + "."
        return DataQualitySection(
            check=self.name, title=self.title, summary=summary[0].upper() + summary[1:], metrics=metrics, tables=tables,
            figures=DeferredFigures(lambda: [*label_balance(r), *feature_drift(r)]), notes=list(r.notes), result=r,
        )
