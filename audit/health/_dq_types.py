"""The value types of partitioned data quality: settings, plan, per-partition part and their named summaries.

Everything here is a frozen, picklable value shared by the passes of :mod:`audit.health._data_quality_parts`
(pass 1 in ``_dq_moments``, the plan in ``_dq_plan``, pass 2 in ``_dq_part``, ``_dq_merge``, ``_dq_finish``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from audit.errors import UNKNOWN_COLUMN, AuditInputError

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


def finite(s: pd.Series) -> np.ndarray:
    """The finite values of ``s`` as float64 (text and missing values dropped)."""
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return v[np.isfinite(v)]


def kind_of(s: pd.Series) -> Kind:
    """How ``hash_rows`` hashes ``s``: numbers (not booleans) as float64, everything else as text."""
    return "numeric" if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) else "text"


def check_columns(columns: Sequence[Any], names: Sequence[Any], arg: str, where: str = "data") -> None:
    """Raise :class:`AuditInputError` naming ``arg`` for the first of ``names`` missing from ``columns``."""
    for name in names:
        if name not in columns:
            raise AuditInputError(UNKNOWN_COLUMN.format(arg=arg, name=name, where=where, columns=[str(c) for c in columns]))


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class DataQualitySettings:
    """The settings of one data-quality run: :func:`audit.health.data_quality`'s keywords plus three caps.

    ``features`` and ``categorical`` may be None (their defaults are resolved against the columns by
    the plan, whose own settings hold the resolved tuples). The caps: ``distinct_cap`` (``n_unique``
    exact up to it, then a KMV estimate), ``leak_cap`` (leaked rows listed), ``drift_bins`` (numeric
    drift exact up to that many distinct training values). ``regression``: the target is a number (a
    regressor's), summarised by its moments and tested for drift like a numeric feature instead of
    counted as labels.
    """

    target: Any = None
    sensitive: tuple[Any, ...] = ()
    features: tuple[Any, ...] | None = None
    categorical: tuple[Any, ...] | None = None
    min_group_size: int = 30
    near_tolerance: float = 0.1
    drift_alpha: float = 0.01
    drift_min_effect: float = 0.1
    distinct_cap: int = DISTINCT_CAP
    leak_cap: int = LEAK_CAP
    drift_bins: int = DRIFT_BINS
    regression: bool = False

    def check(self) -> None:
        """Raise :class:`AuditInputError` for a setting out of range, naming it and what it must be."""
        if self.near_tolerance <= 0:
            raise AuditInputError(f"near_tolerance must be positive (standard deviations), got {self.near_tolerance!r}")
        if self.distinct_cap < 3:
            raise AuditInputError(f"distinct_cap must be at least 3 (the KMV sketch's k), got {self.distinct_cap!r}")
        if self.leak_cap < 0:
            raise AuditInputError(f"leak_cap must be 0 or more rows, got {self.leak_cap!r}")
        if self.drift_bins < 2:
            raise AuditInputError(f"drift_bins must be at least 2 edges, got {self.drift_bins!r}")
        if not 0 < self.drift_alpha < 1:
            raise AuditInputError(f"drift_alpha must be in (0, 1), got {self.drift_alpha!r}")


# ------------------------------------------------------------------ named summaries
class ExactSums(NamedTuple):
    """Exact sums of one numeric column's finite values: count, sum * 2**1126, sum of squares * 2**2252 (integers)."""

    n: int
    sum: int
    squares: int


class TargetSummary(NamedTuple):
    """A numeric (regression) target of a part: its finite values' exact sums, minimum and maximum."""

    sums: ExactSums
    min: float
    max: float

    @staticmethod
    def add(summaries: Sequence[TargetSummary]) -> TargetSummary:
        """The summary of disjoint row sets together (exact)."""
        return TargetSummary(ExactSums(sum(s.sums.n for s in summaries), sum(s.sums.sum for s in summaries),
                                       sum(s.sums.squares for s in summaries)),
                             min(s.min for s in summaries), max(s.max for s in summaries))


class NumericSummary(NamedTuple):
    """One numeric feature of a part, for drift: finite count, exact sum * 2**1126 and the counts on train's edges.

    The three count arrays are None when train has no finite value in the feature.
    """

    n: int
    sum: int
    at_edges: np.ndarray | None  # values equal to each edge
    between_edges: np.ndarray | None  # values strictly between consecutive edges (len(edges) + 1)
    psi_counts: np.ndarray | None  # values per train decile bin

    @staticmethod
    def add(summaries: Sequence[NumericSummary]) -> NumericSummary:
        """Sum of the summaries of disjoint row sets (exact)."""
        first = summaries[0]

        def total(name: str) -> np.ndarray | None:
            return None if getattr(first, name) is None else sum(getattr(s, name) for s in summaries)

        return NumericSummary(n=sum(s.n for s in summaries), sum=sum(s.sum for s in summaries),
                              at_edges=total("at_edges"), between_edges=total("between_edges"),
                              psi_counts=total("psi_counts"))


@dataclass(frozen=True)
class NumericRef:
    """Train's side of one numeric feature's drift: counts at and between edges, PSI deciles, mean."""

    n: int
    edges: np.ndarray
    eq: np.ndarray  # train values equal to each edge
    gap: np.ndarray  # train values strictly between consecutive edges (len(edges) + 1)
    exact: bool  # edges are all of train's distinct values: the KS D from counts is ks_2samp's
    psi_edges: np.ndarray
    psi_share: np.ndarray
    mean: float


# ------------------------------------------------------------------ pass 2's summary
@dataclass(frozen=True)
class DataQualityPart:
    """Sufficient statistics of data quality for one partition, or for several merged; picklable.

    Memory: see :mod:`audit.health._data_quality_parts` (24 bytes per distinct row, ``8 * distinct_cap``
    per column, at most ``leak_cap`` leaked rows, one count per category, group, label and histogram bin).
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
    numeric: dict[Any, NumericSummary]  # numeric drift
    target: TargetSummary | None = None  # a regression target's moments (labels then stay empty)


@dataclass(frozen=True)
class TrainRef:
    """The training data as the plan holds it: its own part, feature-hash set for leakage and drift reference."""

    part: DataQualityPart
    dtypes: dict[Any, str]
    keys: np.ndarray  # sorted distinct feature hashes of train rows
    first_row: np.ndarray  # first train row with each key
    numeric: dict[Any, NumericRef | None]  # None: no finite training values
    categorical: dict[Any, dict[str, int]]


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class DataQualityPlan:
    """Everything pass 2 needs, fixed on the driver from pass 1 (and the training data); ship it to the workers once.

    Build it with :func:`plan_data_quality`. ``settings`` holds the run's settings with ``features`` and
    ``categorical`` resolved (read them also as ``plan.features``, ``plan.min_group_size``, ...);
    ``columns``/``dtypes``/``kinds`` come from pass 1, ``grid`` is the mean and std per numeric feature
    (for near duplicates).
    """

    columns: tuple[Any, ...]
    dtypes: dict[Any, str]
    kinds: dict[Any, Kind]
    numeric_key: tuple[Any, ...]
    grid: dict[Any, tuple[float, float]]
    settings: DataQualitySettings
    train: TrainRef | None = field(default=None, repr=False)

    @property
    def target(self) -> Any:
        """The label column, or None."""
        return self.settings.target

    @property
    def sensitive(self) -> tuple[Any, ...]:
        """The sensitive columns."""
        return self.settings.sensitive

    @property
    def regression(self) -> bool:
        """True when the target is a number (moments and drift, not label counts)."""
        return bool(self.settings.regression and self.settings.target is not None)

    @property
    def drift_columns(self) -> tuple[Any, ...]:
        """The columns tested for drift against train: the features, and a regression target."""
        return self.features + ((self.target,) if self.regression else ())

    @property
    def features(self) -> tuple[Any, ...]:
        """The feature columns (resolved: never None)."""
        return self.settings.features or ()

    @property
    def categorical(self) -> tuple[Any, ...]:
        """The features tested for drift as categorical (resolved: never None)."""
        return self.settings.categorical or ()

    @property
    def min_group_size(self) -> int:
        """Groups with fewer rows are flagged small."""
        return self.settings.min_group_size

    @property
    def near_tolerance(self) -> float:
        """Near-duplicate grid step, in standard deviations."""
        return self.settings.near_tolerance

    @property
    def drift_alpha(self) -> float:
        """Drift p-value threshold."""
        return self.settings.drift_alpha

    @property
    def drift_min_effect(self) -> float:
        """Drift effect-size threshold."""
        return self.settings.drift_min_effect

    @property
    def distinct_cap(self) -> int:
        """``n_unique`` is exact up to this many distinct values."""
        return self.settings.distinct_cap

    @property
    def leak_cap(self) -> int:
        """Leaked rows listed at most."""
        return self.settings.leak_cap

    @property
    def drift_bins(self) -> int:
        """Numeric drift edges."""
        return self.settings.drift_bins
