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
- ``current_mean`` in the drift table: the correctly rounded sum / n instead of numpy's pairwise
  sum: equal up to a few units in the last place.
- near duplicates: the grid mean is bit-for-bit :func:`data_quality`'s (``math.fsum``), the standard
  deviation is the exactly computed one, correctly rounded, while ``data_quality`` sums rounded
  squared deviations: they differ by a few units in the last place, which can move a value lying
  within that distance of a grid line into the next cell. Rows with a scaled value within
  ``GRID_MARGIN`` (1e-9, relative) of a grid line are counted; ``near_duplicate_rows`` is within
  plus or minus that count of ``data_quality``'s (in practice 0, and then exact).

Memory per part: 24 bytes per distinct row (row hash, feature hash, count; 16 without a target),
8 bytes per distinct near-duplicate key, ``8 * distinct_cap`` bytes per column, 16 bytes per leaked
row kept (at most ``leak_cap``), one count per category / group / label, and ``2 * drift_bins + 1``
counts per numeric feature. The train reference adds 16 bytes per distinct training feature row.

Hashing caveats shared with :func:`data_quality` (``hash_rows``): numbers compare as float64, other
values as text, so an integer beyond 2**53 and its float neighbour, or ``1`` and ``"1"`` in an object
column, count as one value; the text ``"<NA>"`` hashes like a missing value. ``n_unique`` inherits
them, and counts ``None`` and ``NaN`` in an object column as one missing value (pandas' ``nunique``
counts two). Hash collisions (64 bits) are as unlikely as in :func:`data_quality`.

The primitives (exact sums, the KMV sketch, KS from counts) live in :mod:`audit.health._mergeable`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from audit._inputs import missing_as_label
from audit.errors import UNKNOWN_COLUMN, AuditInputError
from audit.health._data_quality import OVERVIEW_COLUMNS, DataQualityResult, group_notes, hash_rows
from audit.health._drift import DRIFT_COLUMNS, _psi
from audit.health._mergeable import SCALE, edge_counts, exact_sums, kmv_count, ks_from_counts, ks_test, mix64

__all__ = [
    "ColumnMoments",
    "DataQualityPart",
    "DataQualityPlan",
    "column_moments",
    "data_quality_chunks",
    "data_quality_part",
    "drift_bounds",
    "finish",
    "merge_moments",
    "merge_parts",
    "plan_data_quality",
]

DISTINCT_CAP = 4096
LEAK_CAP = 10_000
DRIFT_BINS = 4096
GRID_MARGIN = 1e-9

NOT_A_FRAME = "{arg} must be a pandas DataFrame, got {got}"
COLUMNS_DIFFER = "{what} have different columns: {a} and {b}; every partition must have the same columns in the same order"
MIXED_KIND = (
    "column {name!r} is numeric in one partition and text in another ({dtypes}); give every partition the same dtypes"
)
NO_MOMENTS = (
    "feature {name!r} is not numeric ({dtype}) yet not listed in categorical; list it in categorical "
    "(near duplicates and drift need numbers for the other features)"
)
OVERLAP = (
    "parts overlap: rows {a} and rows {b}; pass data_quality_part(offset=) the position of each chunk's first row "
    "in the whole data (the cumulative sum of the previous chunks' lengths)"
)
GAPS = "parts cover rows {spans} of {rows}; every chunk needs its data_quality_part and the offsets must be consecutive"
NO_ROWS = "the merged parts hold 0 rows; data quality needs at least one row"
PLAN_MISMATCH = "parts were computed with different plans ({what} differ); compute every part with the same plan"

Kind = Literal["numeric", "text"]


def _finite(s: pd.Series) -> np.ndarray:
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return v[np.isfinite(v)]


def _kind(s: pd.Series) -> Kind:
    # hash_rows' rule: numbers (not booleans) hash as float64, everything else as text
    return "numeric" if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) else "text"


# ------------------------------------------------------------------ pass 1: column moments
@dataclass(frozen=True)
class ColumnMoments:
    """Pass 1's mergeable summary: columns, their dtypes, and exact sums of every numeric column.

    Attributes
    ----------
    rows : int
    columns : tuple
        Column names, in order.
    seen : dict
        Column -> frozenset of ``(dtype, kind, has_values)`` seen in the partitions; a partition
        where the column is all missing says little about its dtype (``has_values`` False).
    sums : dict
        Numeric column -> ``(finite count, sum * 2**1126, sum of squares * 2**2252)`` as integers.
    """

    rows: int
    columns: tuple[Any, ...]
    seen: dict[Any, frozenset[tuple[str, Kind, bool]]]
    sums: dict[Any, tuple[int, int, int]]

    def mean_std(self, column: Any) -> tuple[float, float]:
        """Mean (bit-for-bit ``math.fsum(values) / n``) and population std of the finite values of ``column``.

        The std is the exact ``sqrt(sum((x - mean)**2) / n)`` for that float ``mean``, correctly rounded.
        """
        n, s1, s2 = self.sums.get(column, (0, 0, 0))
        if n == 0:
            return math.nan, math.nan
        mean = (s1 / (1 << SCALE)) / n  # int / int is correctly rounded, as math.fsum is
        m = Fraction(mean)
        ss = Fraction(s2, 1 << (2 * SCALE)) - 2 * m * Fraction(s1, 1 << SCALE) + n * m * m
        try:
            return mean, math.sqrt(float(ss / n))
        except OverflowError:  # variance beyond float64, where _mean_std's squares overflow to inf too
            return mean, math.inf


def column_moments(chunk: pd.DataFrame) -> ColumnMoments:
    """Pass 1 on one partition: dtypes and exact sums of the numeric columns (see the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> m = merge_moments([column_moments(pd.DataFrame({"x": [1.0, 2.0]})), column_moments(pd.DataFrame({"x": [3.0]}))])
    >>> m.rows, m.mean_std("x")[0]
    (3, 2.0)
    """
    if not isinstance(chunk, pd.DataFrame):
        raise AuditInputError(NOT_A_FRAME.format(arg="chunk", got=type(chunk).__name__))
    seen, sums = {}, {}
    for c in chunk.columns:
        s = chunk[c]
        kind = _kind(s)
        seen[c] = frozenset({(str(s.dtype), kind, bool(s.notna().any()))})
        if kind == "numeric":
            f = _finite(s)
            s1, s2 = exact_sums(f)
            sums[c] = (len(f), s1, s2)
    return ColumnMoments(rows=len(chunk), columns=tuple(chunk.columns), seen=seen, sums=sums)


def merge_moments(parts: Iterable[ColumnMoments]) -> ColumnMoments:
    """Merge pass-1 summaries: exact (integer sums), associative and order-free.

    Examples
    --------
    >>> import pandas as pd
    >>> merge_moments([column_moments(pd.DataFrame({"x": [1, 2]}))] * 2).sums["x"][0]
    4
    """
    parts = list(parts)
    if not parts:
        raise AuditInputError("merge_moments needs at least one ColumnMoments")
    cols = parts[0].columns
    for p in parts[1:]:
        if p.columns != cols:
            raise AuditInputError(COLUMNS_DIFFER.format(what="partitions", a=list(cols), b=list(p.columns)))
    seen = {c: frozenset().union(*(p.seen[c] for p in parts)) for c in cols}
    sums: dict[Any, tuple[int, int, int]] = {}
    for p in parts:
        for c, (n, s1, s2) in p.sums.items():
            a = sums.get(c, (0, 0, 0))
            sums[c] = (a[0] + n, a[1] + s1, a[2] + s2)
    return ColumnMoments(rows=sum(p.rows for p in parts), columns=cols, seen=seen, sums=sums)


def _resolve(name: Any, seen: frozenset[tuple[str, Kind, bool]]) -> tuple[str, Kind]:
    """One dtype and hashing kind per column, trusting partitions where the column has values."""
    pool = {e for e in seen if e[2]} or set(seen)
    kinds = {e[1] for e in pool}
    dtypes = sorted({e[0] for e in pool})
    if len(kinds) > 1 and any(e[2] for e in pool):
        raise AuditInputError(MIXED_KIND.format(name=name, dtypes=dtypes))
    kind: Kind = "text" if "text" in kinds else "numeric"  # all missing everywhere: either hashes alike per row
    return (dtypes[0] if len(dtypes) == 1 else "|".join(dtypes)), kind


# ------------------------------------------------------------------ the plan (driver side, between the passes)
@dataclass(frozen=True)
class _NumericRef:
    """Train's side of one numeric feature's drift: counts at and between edges, PSI deciles, mean."""

    n: int
    edges: np.ndarray
    eq: np.ndarray  # train values equal to each edge
    gap: np.ndarray  # train values strictly between consecutive edges (len(edges) + 1)
    exact: bool  # edges are all of train's distinct values: the KS D from counts is ks_2samp's
    psi_edges: np.ndarray
    psi_share: np.ndarray
    mean: float


@dataclass(frozen=True)
class _TrainRef:
    part: DataQualityPart
    dtypes: dict[Any, str]
    keys: np.ndarray  # sorted distinct feature hashes of train rows
    first_row: np.ndarray  # first train row with each key
    numeric: dict[Any, _NumericRef | None]  # None: no finite training values
    categorical: dict[Any, dict[str, int]]


@dataclass(frozen=True)
class DataQualityPlan:
    """Everything pass 2 needs, fixed on the driver from pass 1 (and the training data); ship it to the workers once.

    Build it with :func:`plan_data_quality`; the fields mirror :func:`data_quality`'s arguments plus
    ``columns``/``dtypes``/``kinds`` (from pass 1), ``grid`` (mean and std per numeric feature, for
    near duplicates) and the caps ``distinct_cap``, ``leak_cap``, ``drift_bins``.
    """

    columns: tuple[Any, ...]
    dtypes: dict[Any, str]
    kinds: dict[Any, Kind]
    target: Any
    sensitive: tuple[Any, ...]
    features: tuple[Any, ...]
    categorical: tuple[Any, ...]
    numeric_key: tuple[Any, ...]
    grid: dict[Any, tuple[float, float]]
    min_group_size: int = 30
    near_tolerance: float = 0.1
    drift_alpha: float = 0.01
    drift_min_effect: float = 0.1
    distinct_cap: int = DISTINCT_CAP
    leak_cap: int = LEAK_CAP
    drift_bins: int = DRIFT_BINS
    train: _TrainRef | None = field(default=None, repr=False)


def _check_columns(columns: Sequence[Any], names: Sequence[Any], arg: str, where: str = "data") -> None:
    for name in names:
        if name not in columns:
            raise AuditInputError(UNKNOWN_COLUMN.format(arg=arg, name=name, where=where, columns=[str(c) for c in columns]))


def plan_data_quality(
    moments: ColumnMoments,
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
) -> DataQualityPlan:
    """Fix pass 2's settings from pass 1's merged moments: the arguments of :func:`data_quality`, plus three caps.

    Parameters
    ----------
    moments : ColumnMoments
        :func:`merge_moments` of every partition's :func:`column_moments`.
    target, sensitive, features, categorical, train_frame, min_group_size, near_tolerance, drift_alpha, drift_min_effect
        As in :func:`audit.health.data_quality`; ``train_frame`` is an in-memory DataFrame.
    distinct_cap : int
        ``n_unique`` is exact up to this many distinct values per column, then a KMV estimate with
        relative standard error ``1 / sqrt(distinct_cap - 2)``; costs ``8 * distinct_cap`` bytes a column.
    leak_cap : int
        Leaked rows listed in ``result.leakage`` (their count is always exact).
    drift_bins : int
        Numeric drift is exact when train has at most this many distinct values in the feature;
        otherwise this many edges at train's quantiles (see :func:`drift_bounds`).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 2.0], "y": [0, 1, 1]})
    >>> plan = plan_data_quality(column_moments(df), target="y")
    >>> plan.features, plan.numeric_key
    (('x',), ('x',))
    """
    if not isinstance(moments, ColumnMoments):
        raise AuditInputError(f"moments must be a ColumnMoments from merge_moments, got {type(moments).__name__}")
    if near_tolerance <= 0:
        raise AuditInputError(f"near_tolerance must be positive (standard deviations), got {near_tolerance!r}")
    if distinct_cap < 3:
        raise AuditInputError(f"distinct_cap must be at least 3 (the KMV sketch's k), got {distinct_cap!r}")
    if leak_cap < 0:
        raise AuditInputError(f"leak_cap must be 0 or more rows, got {leak_cap!r}")
    if drift_bins < 2:
        raise AuditInputError(f"drift_bins must be at least 2 edges, got {drift_bins!r}")
    if not 0 < drift_alpha < 1:
        raise AuditInputError(f"drift_alpha must be in (0, 1), got {drift_alpha!r}")
    cols = moments.columns
    sensitive = list(sensitive or [])
    _check_columns(cols, ([target] if target else []) + sensitive, "target/sensitive")
    features = [c for c in cols if c != target] if features is None else list(features)
    _check_columns(cols, features, "features")
    resolved = {c: _resolve(c, moments.seen[c]) for c in cols}
    if categorical is None:
        categorical = [c for c in features if resolved[c][1] == "text"]  # data_quality's rule: not numeric, or bool
    categorical = list(categorical)
    numeric_key = [c for c in features if c not in set(categorical)]
    for c in numeric_key:
        if resolved[c][1] != "numeric":
            raise AuditInputError(NO_MOMENTS.format(name=c, dtype=resolved[c][0]))
    plan = DataQualityPlan(
        columns=cols, dtypes={c: d for c, (d, _) in resolved.items()}, kinds={c: k for c, (_, k) in resolved.items()},
        target=target, sensitive=tuple(sensitive), features=tuple(features), categorical=tuple(categorical),
        numeric_key=tuple(numeric_key), grid={c: moments.mean_std(c) for c in numeric_key},
        min_group_size=min_group_size, near_tolerance=near_tolerance, drift_alpha=drift_alpha,
        drift_min_effect=drift_min_effect, distinct_cap=distinct_cap, leak_cap=leak_cap, drift_bins=drift_bins,
    )
    if train_frame is None:
        return plan
    return replace(plan, train=_train_reference(train_frame, plan))


def _train_reference(train_frame: pd.DataFrame, plan: DataQualityPlan) -> _TrainRef:
    if not isinstance(train_frame, pd.DataFrame) or len(train_frame) == 0:
        raise AuditInputError("train_frame must be a non-empty pandas DataFrame with the same feature columns as frame")
    train = train_frame.reset_index(drop=True)
    key_cols = list(plan.features) + ([plan.target] if plan.target else [])
    _check_columns(list(train.columns), key_cols, "train_frame")
    tm = column_moments(train)
    resolved = {c: _resolve(c, tm.seen[c]) for c in tm.columns}
    tplan = replace(
        plan, columns=tm.columns, dtypes={c: d for c, (d, _) in resolved.items()},
        kinds={c: k for c, (_, k) in resolved.items()}, sensitive=tuple(c for c in plan.sensitive if c in train.columns),
        grid={c: tm.mean_std(c) for c in plan.numeric_key}, train=None,
    )
    keys, first = np.unique(hash_rows(train[list(plan.features)]), return_index=True)  # first occurrences
    numeric: dict[Any, _NumericRef | None] = {}
    categorical: dict[Any, dict[str, int]] = {}
    for c in plan.features:
        if c in plan.categorical:
            categorical[c] = _category_counts(train[c])
            continue
        rv = _finite(train[c])
        if len(rv) == 0:
            numeric[c] = None
            continue
        edges = np.unique(rv)
        exact = len(edges) <= plan.drift_bins
        if not exact:  # edges at train's quantiles, taken from train's own values
            s = np.sort(rv)
            edges = np.unique(s[np.linspace(0, len(s) - 1, plan.drift_bins).round().astype(np.int64)])
        eq, gap = edge_counts(rv, edges)
        psi_edges = np.unique(np.quantile(rv, np.linspace(0, 1, 11)[1:-1]))  # as _drift._numeric
        psi_share = np.bincount(np.searchsorted(psi_edges, rv, side="right"), minlength=len(psi_edges) + 1) / len(rv)
        numeric[c] = _NumericRef(n=len(rv), edges=edges, eq=eq, gap=gap, exact=exact, psi_edges=psi_edges,
                                 psi_share=psi_share, mean=float(rv.mean()))
    return _TrainRef(part=data_quality_part(train, tplan), dtypes=tplan.dtypes, keys=keys,
                     first_row=first.astype(np.int64), numeric=numeric, categorical=categorical)


# ------------------------------------------------------------------ pass 2: one part per partition
@dataclass(frozen=True)
class DataQualityPart:
    """Sufficient statistics of data quality for one partition, or for several merged; picklable.

    Memory: see the module docstring (24 bytes per distinct row, ``8 * distinct_cap`` per column,
    at most ``leak_cap`` leaked rows, one count per category, group, label and histogram bin).
    """

    rows: int
    distinct_cap: int
    leak_cap: int
    spans: tuple[tuple[int, int], ...]  # (offset, rows) of each non-empty chunk: positions must not overlap
    columns: tuple[Any, ...]
    missing: np.ndarray
    sketches: tuple[np.ndarray, ...]  # per column: the smallest distinct value hashes, at most distinct_cap
    saturated: np.ndarray  # per column: more than distinct_cap distinct values seen
    row_keys: np.ndarray  # distinct hashes of (features, target), sorted
    feature_keys: np.ndarray | None  # feature hash of each distinct row (None without a target)
    row_counts: np.ndarray
    near_keys: np.ndarray  # distinct near-duplicate grid keys
    near_borderline: int  # rows with a scaled value within GRID_MARGIN of a grid line
    labels: dict[Any, int]
    groups: dict[Any, dict[str, int]]
    leak_rows: int | None
    leaked: np.ndarray  # (k, 2) int64: data row, first train row; the smallest rows, at most leak_cap
    categories: dict[Any, dict[str, int]]  # categorical drift: category -> count
    numeric: dict[Any, tuple[int, int, np.ndarray | None, np.ndarray | None, np.ndarray | None]]
    # numeric drift: (finite n, exact sum * 2**1126, counts at edges, counts between edges, PSI decile counts)


def _category_counts(s: pd.Series) -> dict[str, int]:
    vc = missing_as_label(s).astype(str).value_counts()  # as _drift._categorical and group_table
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


def _conform(chunk: pd.DataFrame, plan: DataQualityPlan) -> pd.DataFrame:
    """Give an all-missing column the plan's kind (a Parquet reader may hand a text column of NaNs as float64)."""
    out = chunk
    for c in plan.columns:
        s = chunk[c]
        if _kind(s) == plan.kinds[c]:
            continue
        if s.notna().any():
            raise AuditInputError(MIXED_KIND.format(name=c, dtypes=[str(s.dtype), plan.dtypes[c]]))
        if out is chunk:
            out = chunk.copy()
        out[c] = s.astype(object) if plan.kinds[c] == "text" else np.full(len(s), np.nan)
    return out


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
    sketches, saturated = [], []
    for c in plan.columns:
        u = np.unique(mix64(hash_rows(chunk[[c]])))  # one column: a bijection of its value hash
        sketches.append(u[:plan.distinct_cap])
        saturated.append(len(u) > plan.distinct_cap)

    feat_keys = hash_rows(chunk[features])
    row_keys = hash_rows(chunk[key_cols]) if target else feat_keys
    uk, first, counts = np.unique(row_keys, return_index=True, return_counts=True)
    near, border = _grid_keys(chunk[key_cols], plan.numeric_key, plan.near_tolerance, plan.grid)

    labels: dict[Any, int] = {}
    if target:
        labels = {k: int(v) for k, v in pd.Series(chunk[target].to_numpy()).value_counts().items()}
    groups = {c: _category_counts(chunk[c]) for c in plan.sensitive}

    leak_rows, leaked = None, np.zeros((0, 2), dtype=np.int64)
    categories: dict[Any, dict[str, int]] = {}
    numeric: dict[Any, tuple[int, int, np.ndarray | None, np.ndarray | None, np.ndarray | None]] = {}
    tr = plan.train
    if tr is not None:
        pos = np.minimum(np.searchsorted(tr.keys, feat_keys), max(len(tr.keys) - 1, 0))
        hit = np.flatnonzero(tr.keys[pos] == feat_keys) if len(tr.keys) else np.array([], dtype=np.int64)
        leak_rows = len(hit)
        keep = hit[:plan.leak_cap]
        leaked = np.column_stack([offset + keep, tr.first_row[pos[keep]]]).astype(np.int64)
        for c in features:
            if c in plan.categorical:
                categories[c] = _category_counts(chunk[c])
                continue
            cv = _finite(chunk[c])
            s1, _ = exact_sums(cv, squares=False)
            ref = tr.numeric[c]
            if ref is None:
                numeric[c] = (len(cv), s1, None, None, None)
                continue
            eq, gap = edge_counts(cv, ref.edges)
            psi = np.bincount(np.searchsorted(ref.psi_edges, cv, side="right"), minlength=len(ref.psi_edges) + 1)
            numeric[c] = (len(cv), s1, eq, gap, psi.astype(np.int64))

    return DataQualityPart(
        rows=n, distinct_cap=plan.distinct_cap, leak_cap=plan.leak_cap, spans=((int(offset), n),) if n else (),
        columns=plan.columns, missing=missing,
        sketches=tuple(sketches), saturated=np.asarray(saturated, dtype=bool), row_keys=uk,
        feature_keys=feat_keys[first] if target else None, row_counts=counts.astype(np.int64),
        near_keys=np.unique(near), near_borderline=border, labels=labels, groups=groups,
        leak_rows=leak_rows, leaked=leaked, categories=categories, numeric=numeric,
    )


# ------------------------------------------------------------------ merge
def _add_counts(dicts: Iterable[Mapping[Any, int]]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def merge_parts(parts: Iterable[DataQualityPart]) -> DataQualityPart:
    """Merge parts of disjoint row ranges: exact, associative and order-free (the result does not depend on the order).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0]})
    >>> plan = plan_data_quality(column_moments(df))
    >>> merge_parts([data_quality_part(df[:1], plan), data_quality_part(df[1:], plan, offset=1)]).rows
    3
    """
    parts = list(parts)
    if not parts:
        raise AuditInputError("merge_parts needs at least one DataQualityPart")
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
    cap = p0.distinct_cap
    sketches, saturated = [], []
    for j in range(len(p0.columns)):
        u = np.unique(np.concatenate([p.sketches[j] for p in parts]))
        saturated.append(any(bool(p.saturated[j]) for p in parts) or len(u) > cap)
        sketches.append(u[:cap])  # the cap smallest of the union: the whole data's sketch, whatever the split
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
    numeric = {}
    for c in p0.numeric:
        vals = [p.numeric[c] for p in parts]
        hist = [sum(v[i] for v in vals) if vals[0][i] is not None else None for i in (2, 3, 4)]
        numeric[c] = (sum(v[0] for v in vals), sum(v[1] for v in vals), *hist)
    return DataQualityPart(
        rows=sum(p.rows for p in parts), distinct_cap=cap, leak_cap=p0.leak_cap, spans=spans, columns=p0.columns,
        missing=np.sum([p.missing for p in parts], axis=0).astype(np.int64),
        sketches=tuple(sketches), saturated=np.asarray(saturated, dtype=bool),
        row_keys=keys[starts], feature_keys=fkeys,
        row_counts=np.add.reduceat(counts, starts) if len(starts) else counts,
        near_keys=np.unique(np.concatenate([p.near_keys for p in parts])),
        near_borderline=sum(p.near_borderline for p in parts),
        labels=_add_counts(p.labels for p in parts),
        groups={c: _add_counts(p.groups[c] for p in parts) for c in p0.groups},
        leak_rows=None if p0.leak_rows is None else sum(p.leak_rows or 0 for p in parts),
        leaked=leaked[:p0.leak_cap],  # each part kept its leak_cap smallest rows: the merged smallest are among them
        categories={c: _add_counts(p.categories[c] for p in parts) for c in p0.categories},
        numeric=numeric,
    )


# ------------------------------------------------------------------ finish: merged part -> DataQualityResult
def _stats(part: DataQualityPart, dtypes: Mapping[Any, str], has_target: bool) -> tuple[dict[str, Any], pd.DataFrame, float]:
    """``_data_quality._split_stats`` from counts; also the share of rows repeating another row's features."""
    n = part.rows
    index = pd.Index(list(part.columns))
    miss = pd.Series(part.missing, index=index)
    nunique = pd.Series([kmv_count(sk, bool(sat), part.distinct_cap) for sk, sat in zip(part.sketches, part.saturated)],
                        index=index)
    cols = pd.DataFrame(
        {"dtype": pd.Series([dtypes[c] for c in part.columns], index=index).astype(str), "missing": miss.astype(int),
         "missing_share": miss / n, "n_unique": nunique.astype(int), "constant": nunique <= 1}
    )
    dup = n - len(part.row_keys)
    near = n - len(part.near_keys)
    fk = part.feature_keys if part.feature_keys is not None else part.row_keys
    fk_sorted, fk_first, fk_rows = np.unique(fk, return_index=True, return_counts=True)
    feat_dup = (n - len(fk_sorted)) / n
    conflict = None
    if has_target and part.feature_keys is not None:
        # distinct rows that share a feature hash differ only in the label: a conflict
        order = np.argsort(part.feature_keys, kind="stable")
        inv = np.searchsorted(fk_sorted, part.feature_keys[order])
        conflict = int(part.row_counts[order][fk_rows[inv] > 1].sum())
    minority, ratio = _balance(part.labels if has_target else None)
    stats = {
        "rows": n,
        "max_missing_share": float(cols["missing_share"].max()) if len(cols) else 0.0,
        "constant_columns": int(cols["constant"].sum()),
        "duplicate_rows": int(dup),
        "duplicate_share": dup / n,
        "near_duplicate_rows": int(near),
        "near_duplicate_share": near / n,
        "label_conflict_rows": conflict if conflict is not None else np.nan,
        "label_conflict_share": conflict / n if conflict is not None else np.nan,
        "minority_class_share": minority,
        "imbalance_ratio": ratio,
    }
    return stats, cols, feat_dup


def _balance(labels: Mapping[Any, int] | None) -> tuple[float, float]:
    if not labels:
        return float("nan"), float("nan")
    counts = np.asarray(list(labels.values()), dtype=np.int64)
    return float(counts.min() / counts.sum()), float(counts.max() / counts.min())


def _counts_series(d: Mapping[Any, int]) -> pd.Series:
    return pd.Series(list(d.values()), index=pd.Index(list(d.keys())), dtype=np.int64)


def _label_table(labels: Mapping[Any, int] | None, n: int, tlabels: Mapping[Any, int] | None, tn: int) -> pd.DataFrame:
    """``_data_quality.label_table`` from counts."""
    if labels is None and tlabels is None:
        return pd.DataFrame(columns=["count", "share"])
    parts = {}
    for prefix, d, m in (("", labels, n), ("train_", tlabels, tn)):
        if d is None:
            continue
        vc = _counts_series(d)
        parts[f"{prefix}count"] = vc
        parts[f"{prefix}share"] = vc / m
    out = pd.DataFrame(parts)
    out.index = out.index.map(str)
    out = out.sort_index()
    for c in out.columns:
        out[c] = out[c].fillna(0)
        if c.endswith("count"):
            out[c] = out[c].astype(int)
    out.index.name = "class"
    return out


def _group_table(plan: DataQualityPlan, part: DataQualityPart, tpart: DataQualityPart | None) -> pd.DataFrame:
    """``_data_quality.group_table`` from counts."""
    rows = []
    for col in plan.sensitive:
        vc = part.groups[col]
        tc = tpart.groups.get(col) if tpart is not None else None
        for g in sorted(set(vc) | (set(tc) if tc is not None else set())):
            row: dict[str, Any] = {"column": str(col), "group": g, "count": int(vc.get(g, 0))}
            row["share"] = row["count"] / part.rows
            row["small"] = row["count"] < plan.min_group_size
            if tc is not None and tpart is not None:
                row["train_count"] = int(tc.get(g, 0))
                row["train_share"] = row["train_count"] / tpart.rows
                row["train_small"] = row["train_count"] < plan.min_group_size
            rows.append(row)
    if not rows:
        empty = pd.MultiIndex.from_tuples([], names=["column", "group"])
        return pd.DataFrame(columns=["count", "share", "small"], index=empty)
    return pd.DataFrame(rows).set_index(["column", "group"])


def _drift_row(
    col: Any, plan: DataQualityPlan, part: DataQualityPart
) -> tuple[dict[str, Any], tuple[float, float, float, bool] | None]:
    """One row of the drift table (as ``_drift._categorical`` / ``_numeric``), and for numeric ones (D, upper, bin mass, exact)."""
    tr = plan.train
    assert tr is not None
    if col in plan.categorical:
        r, c = _counts_series(tr.categorical[col]), _counts_series(part.categories[col])
        cats = sorted(set(r.index) | set(c.index))
        table = np.vstack([r.reindex(cats, fill_value=0).to_numpy(), c.reindex(cats, fill_value=0).to_numpy()]).astype(float)
        out: dict[str, Any] = {"kind": "categorical", "test": "chi2", "reference_mean": np.nan, "current_mean": np.nan}
        if len(cats) < 2:
            out.update(statistic=0.0, p_value=1.0, effect=0.0, psi=0.0)
            return out, None
        chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
        out.update(statistic=float(chi2), p_value=float(p), effect=float(np.sqrt(chi2 / table.sum())),
                   psi=_psi(table[0] / table[0].sum(), table[1] / table[1].sum()))
        return out, None
    n2, s1, eq, gap, psi = part.numeric[col]
    ref = tr.numeric[col]
    if ref is None or n2 == 0 or eq is None or gap is None or psi is None:
        return {"kind": "numeric", "test": "ks", "statistic": np.nan, "p_value": np.nan, "effect": np.nan, "psi": np.nan,
                "reference_mean": np.nan, "current_mean": np.nan}, None
    d, up, i, j, mass = ks_from_counts(ref.eq, ref.gap, eq, gap)
    d, p = ks_test(d, ref.n, n2, i, j)
    row = {"kind": "numeric", "test": "ks", "statistic": d, "p_value": p, "effect": d,
           "psi": _psi(ref.psi_share, psi / n2), "reference_mean": ref.mean, "current_mean": (s1 / (1 << SCALE)) / n2}
    return row, (d, max(up, d), mass, ref.exact)


def drift_bounds(part: DataQualityPart, plan: DataQualityPlan) -> pd.DataFrame:
    """Per numeric feature: the reported KS D, an upper bound on the true D, the largest bin mass, and whether D is exact.

    ``statistic <= true D <= upper <= statistic + max_bin_mass``; ``exact`` when train had at most
    ``plan.drift_bins`` distinct values in the feature (then ``upper == statistic``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> plan = plan_data_quality(column_moments(df), train_frame=pd.DataFrame({"x": [1.0, 5.0]}))
    >>> drift_bounds(data_quality_part(df, plan), plan).loc["x", "exact"]
    np.True_
    """
    if plan.train is None:
        return pd.DataFrame(columns=["statistic", "upper", "max_bin_mass", "exact"])
    rows = {}
    for col in plan.features:
        if col not in plan.categorical:
            b = _drift_row(col, plan, part)[1]
            if b is not None:
                rows[col] = dict(zip(["statistic", "upper", "max_bin_mass", "exact"], b))
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["statistic", "upper", "max_bin_mass", "exact"])
    out.index.name = "feature"
    return out


def _check_spans(part: DataQualityPart) -> None:
    end = 0
    for start, n in part.spans:
        if start != end:
            raise AuditInputError(GAPS.format(spans=[f"{a}-{a + m - 1}" for a, m in part.spans], rows=part.rows))
        end = start + n


def finish(part: DataQualityPart, plan: DataQualityPlan) -> DataQualityResult:
    """The merged part as :func:`data_quality`'s result; what is approximate says so in ``notes`` (module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    >>> plan = plan_data_quality(column_moments(df), target="y", train_frame=df.iloc[2:])
    >>> r = finish(merge_parts([data_quality_part(df, plan)]), plan)
    >>> r.leakage_rows, r.leakage["row"].tolist()
    (2, [2, 3])
    """
    if not isinstance(part, DataQualityPart):
        raise AuditInputError(f"part must be a DataQualityPart from merge_parts, got {type(part).__name__}")
    if part.rows == 0:
        raise AuditInputError(NO_ROWS)
    if part.columns != plan.columns:
        raise AuditInputError(PLAN_MISMATCH.format(what="columns"))
    _check_spans(part)
    has_target = plan.target is not None
    stats_, cols, feat_dup = _stats(part, plan.dtypes, has_target)
    overview = {"data": stats_}
    notes: list[str] = []
    approx: list[str] = []
    leak = pd.DataFrame({"row": np.array([], dtype=int), "train_row": np.array([], dtype=int)})
    leak_rows: int | None = None
    leak_share = float("nan")
    drift = pd.DataFrame(columns=DRIFT_COLUMNS)
    tr = plan.train
    tpart = tr.part if tr is not None else None
    if tr is not None and tpart is not None:
        tstats, tcols, _ = _stats(tpart, tr.dtypes, has_target)
        overview["train"] = tstats
        cols = cols.join(tcols[["missing", "missing_share", "constant"]].add_prefix("train_"), how="outer")
        leak = pd.DataFrame({"row": part.leaked[:, 0], "train_row": part.leaked[:, 1]})
        leak_rows = int(part.leak_rows or 0)
        leak_share = leak_rows / part.rows
        rows: dict[str, dict[str, Any]] = {}
        binned = []
        for col in plan.features:
            row, bounds = _drift_row(col, plan, part)
            rows[str(col)] = row
            if row["kind"] == "numeric" and np.isnan(row["statistic"]):
                notes.append(f"{col}: no finite values in one sample; drift is undefined (NaN).")
            if bounds is not None and not bounds[3]:
                binned.append(f"{col} D in [{bounds[0]:.4f}, {bounds[1]:.4f}]")
        drift = pd.DataFrame.from_dict(rows, orient="index")
        if len(drift) == 0:
            drift = pd.DataFrame(columns=DRIFT_COLUMNS)
        drift["drifted"] = (drift["p_value"] < plan.drift_alpha) & (drift["effect"] >= plan.drift_min_effect)
        drift = drift[DRIFT_COLUMNS].sort_values("effect", ascending=False, kind="stable")
        drift.index.name = "feature"
        if leak_rows and feat_dup > 0.1:
            notes.append(
                f"{feat_dup:.0%} of data rows repeat another data row's features: the feature space is coarse, so part of "
                "the train/test overlap may be natural rather than leaked records."
            )
        if binned:
            approx.append(
                f"KS drift of feature(s) with more than {plan.drift_bins} distinct training values is computed from "
                f"counts on {plan.drift_bins} edges at train's quantiles; the true D lies in the range shown, whose width "
                f"is at most the largest bin's mass: {'; '.join(binned)}."
            )
        if any(c not in plan.categorical for c in plan.features):
            approx.append(
                "Drift current_mean is the correctly rounded mean; an in-memory mean may differ in the last digits."
            )
        if leak_rows > len(part.leaked):
            approx.append(f"leakage lists the first {len(part.leaked)} of {leak_rows} leaked rows (leak_cap).")
    labels = part.labels if has_target else None
    tlabels = tpart.labels if (has_target and tpart is not None) else None
    groups = _group_table(plan, part, tpart)
    notes += group_notes(groups, plan.min_group_size)
    const = cols.index[cols["constant"].astype(bool)].tolist()
    if const:
        notes.append(f"Constant column(s) in data: {const}; they carry no information.")
    for name, p in (("data", part), ("train", tpart)):
        if p is None:
            continue
        big = [str(c) for c, sat in zip(p.columns, p.saturated) if sat]
        if big:
            approx.append(
                f"n_unique of {name} column(s) {big} is a KMV-sketch estimate (more than {p.distinct_cap} distinct values): "
                f"relative standard error {1 / math.sqrt(p.distinct_cap - 2):.1%}."
            )
        if p.near_borderline:
            approx.append(
                f"{p.near_borderline} {name} row(s) lie within {GRID_MARGIN:g} of a near-duplicate grid line; "
                f"near_duplicate_rows is within +/-{p.near_borderline} of the in-memory count."
            )
    return DataQualityResult(
        modality="tabular",
        overview=pd.DataFrame.from_dict(overview, orient="index")[OVERVIEW_COLUMNS],
        columns=cols,
        labels=_label_table(labels, part.rows, tlabels, tpart.rows if tpart is not None else 0),
        groups=groups,
        leakage_rows=leak_rows,
        leakage_share=leak_share,
        leakage=leak,
        drift=drift,
        min_group_size=plan.min_group_size,
        drift_alpha=plan.drift_alpha,
        drift_min_effect=plan.drift_min_effect,
        notes=notes + approx,
    )


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
) -> DataQualityResult:
    """:func:`data_quality` of the concatenation of ``chunks``, by the two-pass protocol (the reference for an engine).

    Chunks are taken in order: a leaked row's position counts the rows of the chunks before it.
    Arguments as in :func:`plan_data_quality`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    >>> r = data_quality_chunks([df.iloc[:1], df.iloc[1:]], target="y")
    >>> int(r.overview.loc["data", "duplicate_rows"])
    1
    """
    chunks = list(chunks)
    if not chunks:
        raise AuditInputError("chunks must hold at least one DataFrame")
    plan = plan_data_quality(
        merge_moments(column_moments(c) for c in chunks), target=target, sensitive=sensitive, features=features,
        categorical=categorical, train_frame=train_frame, min_group_size=min_group_size, near_tolerance=near_tolerance,
        drift_alpha=drift_alpha, drift_min_effect=drift_min_effect, distinct_cap=distinct_cap, leak_cap=leak_cap,
        drift_bins=drift_bins,
    )
    offsets = np.cumsum([0] + [len(c) for c in chunks[:-1]])
    return finish(merge_parts(data_quality_part(c, plan, offset=int(o)) for c, o in zip(chunks, offsets)), plan)
