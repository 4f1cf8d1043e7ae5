"""Pass 1 of partitioned data quality: column names, dtypes and exact sums of every numeric column."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pandas as pd

from audit.errors import AuditInputError
from audit.health._dq_types import COLUMNS_DIFFER, MIXED_KIND, NOT_A_FRAME, ExactSums, Kind, finite, kind_of
from audit.health._mergeable import SCALE, exact_sums


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
        Numeric column -> :class:`ExactSums` ``(finite count, sum * 2**1126, sum of squares * 2**2252)``.
    """

    rows: int
    columns: tuple[Any, ...]
    seen: dict[Any, frozenset[tuple[str, Kind, bool]]]
    sums: dict[Any, ExactSums]

    def mean_std(self, column: Any) -> tuple[float, float]:
        """Mean (bit-for-bit ``math.fsum(values) / n``) and population std of the finite values of ``column``.

        The std is the exact ``sqrt(sum((x - mean)**2) / n)`` for that float ``mean``, correctly rounded.
        """
        n, s1, s2 = self.sums.get(column, ExactSums(0, 0, 0))
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
    """Pass 1 on one partition: dtypes and exact sums of the numeric columns (see :mod:`audit.health._data_quality_parts`).

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
        kind = kind_of(s)
        seen[c] = frozenset({(str(s.dtype), kind, bool(s.notna().any()))})
        if kind == "numeric":
            f = finite(s)
            s1, s2 = exact_sums(f)
            sums[c] = ExactSums(len(f), s1, s2)
    return ColumnMoments(rows=len(chunk), columns=tuple(chunk.columns), seen=seen, sums=sums)


def merge_moments(parts: Iterable[ColumnMoments]) -> ColumnMoments:
    """Merge pass-1 summaries: exact (integer sums), associative and order-free.

    Examples
    --------
    >>> import pandas as pd
    >>> merge_moments([column_moments(pd.DataFrame({"x": [1, 2]}))] * 2).sums["x"].n
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
    sums: dict[Any, ExactSums] = {}
    for p in parts:
        for c, s in p.sums.items():
            a = sums.get(c, ExactSums(0, 0, 0))
            sums[c] = ExactSums(a.n + s.n, a.sum + s.sum, a.squares + s.squares)
    return ColumnMoments(rows=sum(p.rows for p in parts), columns=cols, seen=seen, sums=sums)


def resolve_kind(name: Any, seen: frozenset[tuple[str, Kind, bool]]) -> tuple[str, Kind]:
    """One dtype and hashing kind per column, trusting partitions where the column has values."""
    pool = {e for e in seen if e[2]} or set(seen)
    kinds = {e[1] for e in pool}
    dtypes = sorted({e[0] for e in pool})
    if len(kinds) > 1 and any(e[2] for e in pool):
        raise AuditInputError(MIXED_KIND.format(name=name, dtypes=dtypes))
    kind: Kind = "text" if "text" in kinds else "numeric"  # all missing everywhere: either hashes alike per row
    return (dtypes[0] if len(dtypes) == 1 else "|".join(dtypes)), kind
