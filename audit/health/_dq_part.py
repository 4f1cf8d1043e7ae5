"""Pass 2 of partitioned data quality: one partition reduced to its :class:`DataQualityPart`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit._arrays import sorted_unique
from audit._inputs import missing_as_label
from audit.errors import AuditInputError
from audit.health._data_quality import hash_rows
from audit.health._dq_types import (
    COLUMNS_DIFFER,
    GRID_MARGIN,
    MIXED_KIND,
    NOT_A_FRAME,
    DataQualityPart,
    DataQualityPlan,
    ExactSums,
    NumericSummary,
    TargetSummary,
    TrainRef,
    finite,
    kind_of,
)
from audit.health._mergeable import edge_counts, exact_sums, mix64


def category_counts(s: pd.Series) -> dict[str, int]:
    """Count per category, missing values as one label (as ``_drift._categorical`` and ``group_table``)."""
    vc = missing_as_label(s).astype(str).value_counts()
    return {str(k): int(v) for k, v in vc.items()}


def _grid_keys(frame: pd.DataFrame, numeric: Sequence[Any], tol: float, grid: Mapping[Any, tuple[float, float]]
               ) -> tuple[np.ndarray, int]:
    """``_data_quality._near_keys`` with the global (merged) mean and std, plus the rows near a grid line."""
    q = frame.copy()
    border = np.zeros(len(q), dtype=bool)
    for c in numeric:
        v = pd.to_numeric(q[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        mean, sd = grid[c]
        z = (v - mean) / sd if sd > 0 and np.isfinite(sd) else v * 0.0
        s = z / tol
        with np.errstate(invalid="ignore"):
            border |= np.abs(s - np.floor(s) - 0.5) <= GRID_MARGIN * np.maximum(1.0, np.abs(s))
        q[c] = np.round(s)
    return hash_rows(q), int(border.sum())


def _target_summary(s: pd.Series) -> TargetSummary:
    """A regression target's exact sums, minimum and maximum (over its finite values)."""
    v = finite(s)
    s1, s2 = exact_sums(v)
    return TargetSummary(ExactSums(len(v), s1, s2), float(v.min()) if len(v) else math.inf,
                         float(v.max()) if len(v) else -math.inf)


def _conform(chunk: pd.DataFrame, plan: DataQualityPlan) -> pd.DataFrame:
    """Give an all-missing column the plan's kind (a Parquet reader may hand a text column of NaNs as float64)."""
    out = chunk
    for c in plan.columns:
        s = chunk[c]
        if kind_of(s) == plan.kinds[c]:
            continue
        if s.notna().any():
            raise AuditInputError(MIXED_KIND.format(name=c, dtypes=[str(s.dtype), plan.dtypes[c]]))
        if out is chunk:
            out = chunk.copy()
        out[c] = s.astype(object) if plan.kinds[c] == "text" else np.full(len(s), np.nan)
    return out


def _sketches(chunk: pd.DataFrame, plan: DataQualityPlan) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Per column: the ``distinct_cap`` smallest distinct value hashes, and whether there were more."""
    sketches, saturated = [], []
    for c in plan.columns:
        u = sorted_unique(mix64(hash_rows(chunk[[c]])))  # one column: a bijection of its value hash
        sketches.append(u[:plan.distinct_cap])
        saturated.append(len(u) > plan.distinct_cap)
    return tuple(sketches), np.asarray(saturated, dtype=bool)


def _against_train(chunk: pd.DataFrame, feat_keys: np.ndarray, plan: DataQualityPlan, tr: TrainRef, offset: int
                   ) -> tuple[int, np.ndarray, dict[Any, dict[str, int]], dict[Any, NumericSummary]]:
    """Leaked rows (count and the first ``leak_cap``) and the drift counts of one chunk against train."""
    pos = np.minimum(np.searchsorted(tr.keys, feat_keys), max(len(tr.keys) - 1, 0))
    hit = np.flatnonzero(tr.keys[pos] == feat_keys) if len(tr.keys) else np.array([], dtype=np.int64)
    keep = hit[:plan.leak_cap]
    leaked = np.column_stack([offset + keep, tr.first_row[pos[keep]]]).astype(np.int64)
    categories: dict[Any, dict[str, int]] = {}
    numeric: dict[Any, NumericSummary] = {}
    for c in plan.drift_columns:
        if c in plan.categorical:
            categories[c] = category_counts(chunk[c])
            continue
        cv = finite(chunk[c])
        s1, _ = exact_sums(cv, squares=False)
        ref = tr.numeric[c]
        if ref is None:
            numeric[c] = NumericSummary(len(cv), s1, None, None, None)
            continue
        eq, gap = edge_counts(cv, ref.edges)
        psi = np.bincount(np.searchsorted(ref.psi_edges, cv, side="right"), minlength=len(ref.psi_edges) + 1)
        numeric[c] = NumericSummary(len(cv), s1, eq, gap, psi.astype(np.int64))
    return len(hit), leaked, categories, numeric


def data_quality_part(chunk: pd.DataFrame, plan: DataQualityPlan, *, offset: int = 0) -> DataQualityPart:
    """Pass 2 on one partition: the sufficient statistics that :func:`merge_parts` adds up.

    Parameters
    ----------
    chunk : DataFrame
        One partition, with the plan's columns (any length, zero included).
    plan : DataQualityPlan
        From :func:`plan_data_quality`, the same for every partition.
    offset : int
        Position of the chunk's first row in the whole data: leaked rows are reported at
        ``offset + position``. Chunks must not overlap (checked when merging).

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.health import column_moments, finish, merge_parts, plan_data_quality
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0], "y": [0, 0, 1]})
    >>> plan = plan_data_quality(column_moments(df), target="y")
    >>> r = finish(merge_parts([data_quality_part(df[:2], plan), data_quality_part(df[2:], plan, offset=2)]), plan)
    >>> int(r.overview.loc["data", "duplicate_rows"])
    1
    """
    if not isinstance(chunk, pd.DataFrame):
        raise AuditInputError(NOT_A_FRAME.format(arg="chunk", got=type(chunk).__name__))
    if not isinstance(plan, DataQualityPlan):
        raise AuditInputError(f"plan must be a DataQualityPlan from plan_data_quality, got {type(plan).__name__}")
    if tuple(chunk.columns) != plan.columns:
        raise AuditInputError(COLUMNS_DIFFER.format(what="chunk and plan", a=list(chunk.columns), b=list(plan.columns)))
    if offset < 0:
        raise AuditInputError(f"offset must be the chunk's first row position (0 or more), got {offset!r}")
    chunk = _conform(chunk.reset_index(drop=True), plan)
    n = len(chunk)
    features, target = list(plan.features), plan.target
    key_cols = features + ([target] if target else [])

    missing = chunk.isna().sum().to_numpy(dtype=np.int64)
    sketches, saturated = _sketches(chunk, plan)
    feat_keys = hash_rows(chunk[features])
    row_keys = hash_rows(chunk[key_cols]) if target else feat_keys
    uk, first, counts = np.unique(row_keys, return_index=True, return_counts=True)
    near, border = _grid_keys(chunk[key_cols], plan.numeric_key, plan.near_tolerance, plan.grid)

    labels: dict[Any, int] = {}
    target_summary = _target_summary(chunk[target]) if plan.regression else None
    if target and not plan.regression:
        labels = {k: int(v) for k, v in pd.Series(chunk[target].to_numpy()).value_counts().items()}
    groups = {c: category_counts(chunk[c]) for c in plan.sensitive}

    leak_rows, leaked = None, np.zeros((0, 2), dtype=np.int64)
    categories: dict[Any, dict[str, int]] = {}
    numeric: dict[Any, NumericSummary] = {}
    if plan.train is not None:
        leak_rows, leaked, categories, numeric = _against_train(chunk, feat_keys, plan, plan.train, offset)

    return DataQualityPart(
        rows=n, distinct_cap=plan.distinct_cap, leak_cap=plan.leak_cap, spans=((int(offset), n),) if n else (),
        columns=plan.columns, missing=missing, sketches=sketches, saturated=saturated, row_keys=uk,
        feature_keys=feat_keys[first] if target else None, row_counts=counts.astype(np.int64),
        near_keys=sorted_unique(near), near_borderline=border, labels=labels, groups=groups,
        leak_rows=leak_rows, leaked=leaked, categories=categories, numeric=numeric, target=target_summary,
    )
