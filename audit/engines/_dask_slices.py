"""The slice plan of a Dask DataFrame from per-partition summaries: :func:`audit.slices.plan_slices` of every row,
without gathering a column.

A few passes over the sliced columns, each returning small summaries per partition: (1) rows, missing values,
minimum, maximum, the first distinct values of numeric columns and value counts of the others; (2) exact order
statistics of the columns cut in quantile bins, by histograms that narrow until the ranks needed sit in bins of
few rows, whose values are then counted; (3) how many values lie below each readable rounding of each quantile.
The rules (which edges, which levels, their order) are :mod:`audit.slices`' own (``choose_edges``,
``levels_plan``), so the plan equals the in-memory one exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.slices import ColumnPlan, SlicePlan, choose_edges, edge_candidates, is_binnable, levels_plan, plan_slices

#: histogram bins per pass, and the rows a bin may hold before its values are counted rather than narrowed
BINS = 4096
GATHER_ROWS = 200_000
MAX_PASSES = 8


def _counts(values: pd.Series) -> pd.Series:
    return values.dropna().value_counts(sort=False)


def _first_pass(df: pd.DataFrame, columns: list[str], max_bins: int) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": len(df)}
    for c in columns:
        v = df[c]
        if is_binnable(v.dtype):
            x = v.dropna().to_numpy(dtype=float)
            distinct = np.unique(x)
            out[c] = {"n": len(x), "min": float(x.min()) if len(x) else np.inf,
                      "max": float(x.max()) if len(x) else -np.inf, "first": distinct[: max_bins + 1],
                      "counts": _counts(v) if len(distinct) <= max_bins + 1 else None,
                      "finite": bool(np.isfinite(x).all())}
        else:
            out[c] = {"counts": _counts(v)}
    return out


def _add_counts(parts: list[pd.Series]) -> pd.Series:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.Series(dtype=np.int64)
    return pd.concat(parts).groupby(level=0, sort=False, observed=False).sum()


def _each(ddf: Any, fn, *args) -> list[Any]:
    """``fn(partition, *args)`` of every partition, gathered (each result small: summaries, not rows)."""
    import dask

    return list(dask.compute(*[dask.delayed(fn, pure=True)(p, *args) for p in ddf.to_delayed()]))


def _in_window(df: pd.DataFrame, column: str, window: tuple[float, float, bool]) -> np.ndarray:
    lo, hi, closed = window
    x = df[column].dropna().to_numpy(dtype=float)
    return x[(x >= lo) & ((x <= hi) if closed else (x < hi))]


def _histograms(df: pd.DataFrame, windows: dict) -> dict:
    """Per (column, rank): counts of the values in its window on BINS equal-width bins (numpy's own edges), and
    their smallest and largest (equal ones: the window holds one value, whatever its rows)."""
    out = {}
    for k, (lo, hi, closed) in windows.items():
        x = _in_window(df, k[0], (lo, hi, closed))
        hist = np.histogram(x, bins=BINS, range=(lo, hi))[0] if hi > lo else np.array([len(x)])
        out[k] = (hist, float(x.min()) if len(x) else np.inf, float(x.max()) if len(x) else -np.inf)
    return out


def _merge_histograms(parts: list[dict]) -> dict:
    out: dict = {}
    for part in parts:
        for k, (h, mn, mx) in part.items():
            if k in out:
                h0, mn0, mx0 = out[k]
                out[k] = (h0 + h, min(mn0, mn), max(mx0, mx))
            else:
                out[k] = (h, mn, mx)
    return out


def _window_counts(df: pd.DataFrame, windows: dict) -> dict:
    """Per (column, rank): value counts of the values in its window."""
    return {k: pd.Series(_in_window(df, k[0], w)).value_counts(sort=False) for k, w in windows.items()}


def _below(df: pd.DataFrame, cuts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per column: how many non-missing values lie below each of its (sorted) cuts."""
    out = {}
    for c, cut in cuts.items():
        x = df[c].dropna().to_numpy(dtype=float)
        at = np.bincount(np.searchsorted(cut, x, side="right"), minlength=len(cut) + 1)
        out[c] = np.cumsum(at)[: len(cut)]  # at[j]: values with j cuts at or below them, so below cut j if <= j
    return out


def _add(parts: list[dict]) -> dict:
    """Per key, the sum of the parts' arrays or value counts."""
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            out.setdefault(k, []).append(v)
    return {k: _add_counts(v) if isinstance(v[0], pd.Series) else np.sum(v, axis=0) for k, v in out.items()}


def order_statistics(ddf: Any, want: dict[str, list[int]], lo_hi: dict[str, tuple[float, float]]) -> dict:
    """The ``r``-th smallest non-missing value (0-based) of each column for each rank in ``want``, exactly: a
    histogram pass narrows each rank's window to the bin holding it until the bin has few rows, then one pass
    counts the values inside."""
    # per (column, rank): its window (lo, hi, upper bound included) and the rank within the window
    state = {(c, r): ((*lo_hi[c], True), r) for c, ranks in want.items() for r in ranks}
    settled: set = set()
    for _ in range(MAX_PASSES):
        wide = {k: w for k, (w, _) in state.items() if k not in settled}
        merged = _merge_histograms(_each(ddf, _histograms, wide)) if wide else {}
        moved = False
        for k, ((lo, hi, closed), r) in list(state.items()):
            if k not in merged:
                continue
            h, mn, mx = merged[k]
            if h.sum() <= GATHER_ROWS or mn == mx or hi <= lo:  # few rows, or one value however many rows
                settled.add(k)
                continue
            edges = np.linspace(lo, hi, BINS + 1)  # np.histogram's own edges: its bins are [e_b, e_b+1)
            b = int(np.searchsorted(np.cumsum(h), r, side="right"))
            last = b == BINS - 1
            state[k] = ((float(edges[b]), float(hi if last else edges[b + 1]), closed if last else False),
                        r - int(h[:b].sum()))
            moved = True
        if not moved:
            break
    counts = _add(_each(ddf, _window_counts, {k: w for k, (w, _) in state.items()}))
    out: dict[str, dict[int, float]] = {}
    for (c, r), (_, start) in state.items():
        vc = counts[(c, r)].sort_index()
        at = int(np.searchsorted(np.cumsum(vc.to_numpy()), start, side="right"))
        out.setdefault(c, {})[r] = float(vc.index[at])
    return out


def _quantiles(stats: dict[int, float], n: int, max_bins: int) -> np.ndarray:
    """``np.quantile`` (linear) at ``k / max_bins`` from the order statistics it reads, with numpy's own arithmetic:
    the quantile of the two values around it at the fraction between them."""
    out = []
    for p in np.arange(1, max_bins) / max_bins:
        h = (n - 1) * p
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        out.append(float(np.quantile(np.array([stats[lo], stats[hi]]), h - lo)))
    return np.array(out)


def _ranks(n: int, max_bins: int) -> list[int]:
    ranks = set()
    for p in np.arange(1, max_bins) / max_bins:
        lo = int(np.floor((n - 1) * p))
        ranks |= {lo, min(lo + 1, n - 1)}
    return sorted(ranks)


def dask_slice_plan(ddf: Any, columns: list[str] | None = None, *, max_bins: int = 5,
                    min_support: float = 0.01) -> SlicePlan:
    """:func:`audit.slices.plan_slices` of ``ddf`` (the same plan, exactly), from per-partition summaries: client
    memory bounded by the distinct values of the columns kept as levels, never by the rows.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> frame = pd.DataFrame({"age": range(100), "color": ["red", "blue"] * 50})
    >>> dask_slice_plan(dd.from_pandas(frame, npartitions=3), max_bins=4) == plan_slices(frame, max_bins=4)
    True
    """
    names = [c.name for c in plan_slices(ddf._meta, columns, max_bins=max_bins, min_support=min_support).columns]
    first = _each(ddf[names], _first_pass, names, max_bins)
    rows = sum(f["rows"] for f in first)
    plans: dict[str, ColumnPlan] = {}
    binned: dict[str, dict] = {}
    for c in names:
        parts = [f[c] for f in first]
        if "n" not in parts[0]:
            plans[c] = levels_plan(c, _add_counts([p["counts"] for p in parts]), rows, min_support)
            continue
        n = sum(p["n"] for p in parts)
        distinct = np.unique(np.concatenate([p["first"] for p in parts])) if n else np.array([])
        if len(distinct) > max_bins and all(p["finite"] for p in parts):
            binned[c] = {"n": n, "lo": min(p["min"] for p in parts), "hi": max(p["max"] for p in parts)}
        elif len(distinct) > max_bins:  # infinite values: the in-memory rule on the gathered column
            plans[c] = plan_slices(ddf[[c]].compute(), [c], max_bins=max_bins, min_support=min_support).columns[0]
        else:
            plans[c] = levels_plan(c, _add_counts([p["counts"] for p in parts]), rows, min_support)
    _plan_binned(ddf, binned, plans, rows, max_bins, min_support)
    return SlicePlan(tuple(plans[c] for c in names))


def _plan_binned(ddf: Any, binned: dict[str, dict], plans: dict[str, ColumnPlan], rows: int, max_bins: int,
                 min_support: float) -> None:
    """Edges of the numeric columns with more than ``max_bins`` distinct values (levels where none is left)."""
    if not binned:
        return
    stats = order_statistics(ddf, {c: _ranks(b["n"], max_bins) for c, b in binned.items()},
                             {c: (b["lo"], b["hi"]) for c, b in binned.items()})
    quantiles = {c: _quantiles(stats[c], b["n"], max_bins) for c, b in binned.items()}
    cuts = {c: np.unique([r for q in quantiles[c] for r in edge_candidates(q)]) for c in binned}
    below = _add(_each(ddf, _below, cuts))
    level_columns = []
    for c, b in binned.items():
        count_below = dict(zip(cuts[c].tolist(), below[c].tolist()))
        edges = choose_edges(quantiles[c], count_below.__getitem__, b["n"], b["lo"], b["hi"], max_bins)
        if edges:
            plans[c] = ColumnPlan(c, "binned", edges=edges)
        else:
            level_columns.append(c)
    if level_columns:  # every edge fell on the minimum (a column mostly one value): its values are its levels
        counts = _add(_each(ddf, lambda df: {c: _counts(df[c]) for c in level_columns}))
        for c in level_columns:
            plans[c] = levels_plan(c, counts[c], rows, min_support)
