"""Data quality computed per partition and merged: :func:`data_quality`'s result for data that does not fit in memory.

Each partition is reduced to a small, picklable :class:`DataQualityPart` of sufficient statistics;
parts merge associatively and in any order (every field is a sum, a union or a sorted list), and
:func:`finish` turns the merged part into the same :class:`DataQualityResult` that
:func:`audit.health.data_quality` returns, so the check and the report render it unchanged. Pure
pandas/numpy: an engine (Dask's ``map_partitions`` + a tree reduction) only has to call these.

The two-pass protocol
---------------------
1. **Moments** (cheap: one pass over the numeric columns) ::

       moments = merge_moments([column_moments(chunk) for chunk in chunks])

   Column names, dtypes and, for every numeric column, the finite count and the *exact* sums of
   values and squares (as integers, so the merge is exact and order-free). They fix what the second
   pass needs globally: the near-duplicate grid (mean/std per numeric feature), how each column is
   hashed (a column that is all-missing in one partition may come as ``float64`` there), and the
   defaults for ``features`` / ``categorical``.
2. **Plan** (on the driver): ``plan = plan_data_quality(moments, target=..., sensitive=...,
   train_frame=...)``. With a training frame (in memory: it is usually much smaller than the
   evaluation data; larger ones can be sampled) the plan holds its feature-hash set for leakage,
   its drift reference (histogram edges, decile edges, category counts) and its own quality part.
3. **Parts** (one pass): ``data_quality_part(chunk, plan, offset=start)`` per partition, where
   ``start`` is the position of the chunk's first row in the whole data (a cumulative sum of the
   partition lengths; pass 1's parts give them). Overlapping offsets are an error at merge time.
4. **Merge and finish**: ``finish(merge_parts(parts), plan)``.

:func:`data_quality_chunks` runs all four steps over a list of in-memory frames.

Exact and approximate
---------------------
Exact (equal to :func:`data_quality` on the concatenated frame): rows, missing counts and shares,
constant columns, ``n_unique`` up to ``distinct_cap`` distinct values, duplicate rows, label
conflicts, label and group counts and shares, leakage counts (and leaked row positions up to
``leak_cap``), categorical drift (chi-square, Cramér's V, PSI), numeric PSI, and numeric KS D and
p-value wherever train has at most ``drift_bins`` distinct values in that feature.

Approximate, with the bound in ``DataQualityResult.notes``:

- ``n_unique`` above ``distinct_cap`` (default 4096) distinct values: a K-minimum-values sketch of
  the ``k = distinct_cap`` smallest value hashes, relative standard error ``1 / sqrt(k - 2)``
  (1.6 % for k = 4096). The sketch of merged parts is the sketch of the whole column, so the
  estimate does not depend on the partitioning.
- numeric KS when train has more than ``drift_bins`` distinct values: the evaluation data is
  counted on ``drift_bins`` edges placed at train's quantiles (counts *at* each edge and strictly
  between edges). The reported D is attained by the data (a lower bound); the true D is at most the
  upper bound from the same counts, which exceeds it by at most the largest mass of one open bin in
  either sample (:func:`drift_bounds`). The p-value is computed from the reported D.

Independent of the partitioning, and different from :func:`data_quality` (the oracle) only in the
last digits: the drift ``current_mean`` is the correctly rounded sum / n where ``data_quality`` takes
numpy's pairwise sum; the near-duplicate grid's mean is bit-for-bit ``data_quality``'s
(``math.fsum``) and its standard deviation is computed exactly and correctly rounded, where
``data_quality`` sums rounded squared deviations. A last-digit change can move a value lying within
that distance of a grid line into the next cell; each part counts the rows whose scaled value lies
within ``GRID_MARGIN`` (1e-9, relative) of a grid line (``near_borderline``), and
``near_duplicate_rows`` is within plus or minus that count of ``data_quality``'s (in practice 0).

Memory per part: 24 bytes per distinct row (row hash, feature hash, count; 16 without a target),
8 bytes per distinct near-duplicate key, ``8 * distinct_cap`` bytes per column, 16 bytes per leaked
row kept (at most ``leak_cap``), one count per category / group / label, and ``2 * drift_bins + 1``
counts per numeric feature. The train reference adds 16 bytes per distinct training feature row.

Hashing caveats shared with :func:`data_quality` (``hash_rows``): numbers compare as float64, other
values as text, so an integer beyond 2**53 and its float neighbour, or ``1`` and ``"1"`` in an object
column, count as one value; the text ``"<NA>"`` hashes like a missing value. ``n_unique`` inherits
them, and counts ``None`` and ``NaN`` in an object column as one missing value (pandas' ``nunique``
counts two). Hash collisions (64 bits) are as unlikely as in :func:`data_quality`.

Modules: the value types (settings, plan, part, named summaries) in ``_dq_types``, pass 1 in
``_dq_moments``, the plan in ``_dq_plan``, pass 2 in ``_dq_part``, the merge in ``_dq_merge``, the
result in ``_dq_finish``; the primitives (exact sums, the KMV sketch, KS from counts) in
:mod:`audit.health._mergeable`. The public names are exported by :mod:`audit.health`.

One engine: the in-memory audit (``DataQualityCheck``) runs :func:`data_quality_chunks` on one chunk
with ``exact=True``, the Dask engine runs the same functions per partition with the default caps.
:func:`audit.health.data_quality` keeps its own one-pass implementation as the oracle the tests hold
this engine to (and for users who call it directly): its numbers equal this engine's with exact
caps, except the drift ``current_mean`` and the near-duplicate grid's std, which it sums in floating
point where this engine sums exactly (a few units in the last place; see above).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.health._data_quality import DataQualityResult
from audit.health._dq_finish import drift_bounds, finish
from audit.health._dq_merge import merge_parts
from audit.health._dq_moments import ColumnMoments, column_moments, merge_moments
from audit.health._dq_part import data_quality_part
from audit.health._dq_plan import plan_data_quality, plan_from_settings
from audit.health._dq_types import (
    DISTINCT_CAP,
    DRIFT_BINS,
    GRID_MARGIN,
    LEAK_CAP,
    DataQualityPart,
    DataQualityPlan,
    DataQualitySettings,
    ExactSums,
    NumericSummary,
)

__all__ = [
    "DISTINCT_CAP",
    "DRIFT_BINS",
    "GRID_MARGIN",
    "LEAK_CAP",
    "ColumnMoments",
    "DataQualityPart",
    "DataQualityPlan",
    "DataQualitySettings",
    "ExactSums",
    "NumericSummary",
    "column_moments",
    "data_quality_chunks",
    "data_quality_part",
    "drift_bounds",
    "finish",
    "merge_moments",
    "merge_parts",
    "plan_data_quality",
    "plan_from_settings",
]


def data_quality_chunks(
    chunks: Sequence[pd.DataFrame],
    *,
    target: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    train_frame: pd.DataFrame | None = None,
    min_group_size: int = 30,
    near_tolerance: float = 0.1,
    drift_alpha: float = 0.01,
    drift_min_effect: float = 0.1,
    distinct_cap: int = DISTINCT_CAP,
    leak_cap: int = LEAK_CAP,
    drift_bins: int = DRIFT_BINS,
    exact: bool = False,
    regression: bool = False,
) -> DataQualityResult:
    """:func:`data_quality` of the concatenation of ``chunks``, by the two-pass protocol (the in-memory audit's engine).

    Chunks are taken in order: a leaked row's position counts the rows of the chunks before it.
    Arguments as in :func:`plan_data_quality`; ``exact=True`` raises the three caps to the data's own
    size (every distinct value kept, every training value a drift edge, every leaked row listed), so
    nothing is approximate: what the in-memory audit runs, on one chunk. ``regression=True``: the target is a
    number, summarised in ``result.target`` (count, mean, std, min, max) and tested for drift in ``result.drift``
    like a numeric feature, instead of counted as labels.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    >>> r = data_quality_chunks([df.iloc[:1], df.iloc[1:]], target="y")
    >>> int(r.overview.loc["data", "duplicate_rows"]), r.notes
    (1, [])
    """
    chunks = list(chunks)
    if not chunks:
        raise AuditInputError("chunks must hold at least one DataFrame")
    if exact:
        rows = sum(len(c) for c in chunks) + (0 if train_frame is None else len(train_frame))
        distinct_cap = leak_cap = drift_bins = max(rows, 3)
    settings = DataQualitySettings(
        target=target, sensitive=tuple(sensitive or ()), features=None if features is None else tuple(features),
        categorical=None if categorical is None else tuple(categorical), min_group_size=min_group_size,
        near_tolerance=near_tolerance, drift_alpha=drift_alpha, drift_min_effect=drift_min_effect,
        distinct_cap=distinct_cap, leak_cap=leak_cap, drift_bins=drift_bins, regression=regression,
    )
    plan = plan_from_settings(merge_moments(column_moments(c) for c in chunks), settings, train_frame)
    offsets = np.cumsum([0] + [len(c) for c in chunks[:-1]])
    return finish(merge_parts(data_quality_part(c, plan, offset=int(o)) for c, o in zip(chunks, offsets)), plan)
