"""The slice plan of a Dask DataFrame (interim: the sliced columns gathered on the client, then the in-memory plan;
being replaced by per-partition summaries so client memory does not grow with the rows)."""

from __future__ import annotations

from typing import Any

from audit.slices import SlicePlan, plan_slices


def dask_slice_plan(ddf: Any, columns: list[str], *, max_bins: int = 5, min_support: float = 0.01) -> SlicePlan:
    """:func:`audit.slices.plan_slices` of ``ddf[columns]`` (gathered: memory linear in rows)."""
    return plan_slices(ddf[list(columns)].compute(), list(columns), max_bins=max_bins, min_support=min_support)
