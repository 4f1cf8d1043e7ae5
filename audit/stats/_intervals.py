"""Intervals of proportions (Wilson's for one; the range of several is :func:`audit.stats.range_interval`),
and reading an interval frame into a metric's bounds."""

from __future__ import annotations

import math

import pandas as pd


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (NaN for ``n = 0``); ``z`` 1.96 gives 95%.

    Better than the normal interval near 0 and 1 and for small ``n`` (robust accuracy of a few
    hundred attacked rows).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n == 0:
        return math.nan, math.nan
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def interval_bounds(ci: pd.DataFrame | None, key: str, value: float) -> tuple[float | None, float | None]:
    """``(low, high)`` of row ``key`` of an interval frame (``low``/``high`` columns), or ``(None, None)`` when
    there is no interval for it or the metric itself is undefined (what :class:`audit.section.Metric` takes).

    Examples
    --------
    >>> ci = pd.DataFrame({"low": [0.6, float("nan")], "high": [0.7, float("nan")]}, index=["accuracy", "roc_auc"])
    >>> interval_bounds(ci, "accuracy", 0.65), interval_bounds(ci, "roc_auc", 0.8), interval_bounds(None, "x", 1.0)
    ((0.6, 0.7), (None, None), (None, None))
    """
    if ci is None or key not in ci.index or math.isnan(value) or ci.loc[key, ["low", "high"]].isna().any():
        return None, None
    return float(ci.loc[key, "low"]), float(ci.loc[key, "high"])
