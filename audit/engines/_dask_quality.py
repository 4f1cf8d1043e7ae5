"""Data quality of a Dask DataFrame: every partition summarised on the workers, the summaries merged.

Two passes over the partitions (:func:`audit.health.plan_data_quality` and friends): the first returns each
partition's row count and column moments (the near-duplicate grid needs the global mean and standard
deviation), the second each partition's sufficient statistics under the plan built from them. Both
are added up pairwise on the workers, so the client receives one moments object and one part, whose
size grows with the distinct rows (8-24 bytes each, for exact duplicate and label-conflict counts)
and the categories, not with the columns' raw values. What is exact and what is approximate (distinct
counts above a cap, numeric drift on fine histograms) is stated in the result's notes.

The training data is read in memory (its hash set and quantiles are the plan's reference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit.health import (
    DataQualityResult,
    column_moments,
    data_quality_part,
    finish,
    merge_moments,
    merge_parts,
    plan_data_quality,
)


def _pair(merge: Callable[[list[Any]], Any], a: Any, b: Any) -> Any:
    return merge([a, b])


def _tree(level: list[Any], merge: Callable[[list[Any]], Any]) -> Any:
    """Delayed pairwise merges of ``level`` down to one delayed value (a tree: depth log2 of the partitions)."""
    import dask

    while len(level) > 1:
        level = [dask.delayed(_pair, pure=True)(merge, *level[i:i + 2]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def _moments_and_length(df: pd.DataFrame) -> tuple[Any, int]:
    return column_moments(df), len(df)


def dask_data_quality(ddf: Any, *, target: str | None, sensitive: Sequence[str], features: Sequence[str],
                      categorical: Sequence[str] | None = None, train_frame: pd.DataFrame | None = None,
                      **options: Any) -> DataQualityResult:
    """:func:`audit.health.data_quality` of every row of ``ddf``, partition by partition.

    ``options`` are :func:`audit.health.plan_data_quality`'s (``min_group_size``,
    ``near_tolerance``, ``drift_alpha``, ``drift_min_effect``, ...). ``train_frame`` must be a pandas frame.

    Examples
    --------
    >>> import dask.dataframe as dd  # doctest: +SKIP
    >>> frame = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    >>> r = dask_data_quality(dd.from_pandas(frame, npartitions=2), target="y", sensitive=[], features=["x"])  # doctest: +SKIP
    >>> int(r.overview.loc["data", "duplicate_rows"])  # doctest: +SKIP
    1
    """
    import dask

    parts = ddf.to_delayed()
    first = [dask.delayed(_moments_and_length, pure=True)(p) for p in parts]
    # one computation: each partition is read once for its length and its moments
    lengths, moments = dask.compute([f[1] for f in first], _tree([f[0] for f in first], merge_moments))
    plan = plan_data_quality(moments, target=target, sensitive=list(sensitive), features=list(features),
                             categorical=None if categorical is None else list(categorical), train_frame=train_frame,
                             **options)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    shared = dask.delayed(plan, pure=True)  # one key: the plan (with train's hash set) travels to each worker once
    second = [dask.delayed(data_quality_part, pure=True)(p, shared, offset=int(o)) for p, o in zip(parts, offsets)]
    return finish(_tree(second, merge_parts).compute(), plan)
