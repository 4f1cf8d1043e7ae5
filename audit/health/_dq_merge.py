"""Merging partitioned data-quality parts: exact, associative and order-free."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from audit._arrays import sorted_unique
from audit.errors import AuditInputError
from audit.health._dq_types import OVERLAP, PLAN_MISMATCH, DataQualityPart, NumericSummary, TargetSummary


def _add_counts(dicts: Iterable[Mapping[Any, int]]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _check_compatible(parts: list[DataQualityPart]) -> tuple[tuple[int, int], ...]:
    """Raise unless every part comes from the same plan and the row ranges are disjoint; the sorted spans."""
    p0 = parts[0]
    for p in parts[1:]:
        if p.columns != p0.columns:
            raise AuditInputError(PLAN_MISMATCH.format(what="columns"))
        if (p.feature_keys is None) != (p0.feature_keys is None) or (p.leak_rows is None) != (p0.leak_rows is None):
            raise AuditInputError(PLAN_MISMATCH.format(what="target or train"))
        if (p.distinct_cap, p.leak_cap, tuple(p.numeric)) != (p0.distinct_cap, p0.leak_cap, tuple(p0.numeric)):
            raise AuditInputError(PLAN_MISMATCH.format(what="caps or drift features"))
    spans = tuple(sorted(s for p in parts for s in p.spans))
    for (a0, an), (b0, bn) in zip(spans, spans[1:]):
        if b0 < a0 + an:
            raise AuditInputError(OVERLAP.format(a=f"{a0}-{a0 + an - 1}", b=f"{b0}-{b0 + bn - 1}"))
    return spans


def _merge_sketches(parts: list[DataQualityPart]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The ``distinct_cap`` smallest of the union per column: the whole data's sketch, whatever the split."""
    cap = parts[0].distinct_cap
    sketches, saturated = [], []
    for j in range(len(parts[0].columns)):
        u = sorted_unique(np.concatenate([p.sketches[j] for p in parts]))
        saturated.append(any(bool(p.saturated[j]) for p in parts) or len(u) > cap)
        sketches.append(u[:cap])
    return tuple(sketches), np.asarray(saturated, dtype=bool)


def merge_parts(parts: Iterable[DataQualityPart]) -> DataQualityPart:
    """Merge parts of disjoint row ranges: exact, associative and order-free (the result does not depend on the order).

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.health import column_moments, data_quality_part, plan_data_quality
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0]})
    >>> plan = plan_data_quality(column_moments(df))
    >>> merge_parts([data_quality_part(df[:1], plan), data_quality_part(df[1:], plan, offset=1)]).rows
    3
    """
    parts = list(parts)
    if not parts:
        raise AuditInputError("merge_parts needs at least one DataQualityPart")
    spans = _check_compatible(parts)
    p0 = parts[0]
    sketches, saturated = _merge_sketches(parts)
    keys = np.concatenate([p.row_keys for p in parts])
    counts = np.concatenate([p.row_counts for p in parts])
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([], dtype=np.int64)
    fkeys = None
    if p0.feature_keys is not None:
        fkeys = np.concatenate([p.feature_keys for p in parts])[order][starts]
    leaked = np.concatenate([p.leaked for p in parts])
    leaked = leaked[np.argsort(leaked[:, 0], kind="stable")]
    return DataQualityPart(
        rows=sum(p.rows for p in parts), distinct_cap=p0.distinct_cap, leak_cap=p0.leak_cap, spans=spans,
        columns=p0.columns, missing=np.sum([p.missing for p in parts], axis=0).astype(np.int64),
        sketches=sketches, saturated=saturated, row_keys=keys[starts], feature_keys=fkeys,
        row_counts=np.add.reduceat(counts, starts) if len(starts) else counts,
        near_keys=sorted_unique(np.concatenate([p.near_keys for p in parts])),
        near_borderline=sum(p.near_borderline for p in parts),
        labels=_add_counts(p.labels for p in parts),
        groups={c: _add_counts(p.groups[c] for p in parts) for c in p0.groups},
        leak_rows=None if p0.leak_rows is None else sum(p.leak_rows or 0 for p in parts),
        leaked=leaked[:p0.leak_cap],  # each part kept its leak_cap smallest rows: the merged smallest are among them
        categories={c: _add_counts(p.categories[c] for p in parts) for c in p0.categories},
        numeric={c: NumericSummary.add([p.numeric[c] for p in parts]) for c in p0.numeric},
        target=None if p0.target is None else TargetSummary.add([p.target for p in parts if p.target is not None]),
    )
