"""The slice plan: which levels each column is cut into, as integer codes, and how each level reads.

A plan is fixed before any loss is counted (quantile edges and kept levels come from the feature values,
never from the loss), so partitions of a Dask DataFrame encoded with one plan give counts that add up.
Every column has codes ``0 .. k-1`` for its levels, then ``k`` for "another level" (a categorical level
too rare to keep, or one the plan never saw) and ``k + 1`` for a missing value; codes with no rows simply
count zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from audit.errors import AuditInputError

#: a condition of a slice, read by :func:`slice_mask`: ``(column, op, value)`` with op one of
#: ``"<"``, ``">="``, ``"=="``, ``"in"``, ``"not in"`` (not missing either) and ``"isna"`` (value None)
Condition = tuple[str, str, object]

BAD_COLUMNS = "columns= names {missing} not in frame; columns are {columns}"
TIME_COLUMNS = ("columns= {columns} hold dates or durations, which slices cannot cut yet; pass a number (days since a "
                "date) or a label (month, weekday) computed from them instead")
NO_COLUMNS = "columns= is empty; pass at least one column of frame to search slices in"


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is cut: quantile ``edges`` (binned numbers) or kept ``levels`` (categories, few numbers)."""

    name: str
    kind: str  # "binned" or "levels"
    edges: tuple[float, ...] = ()
    levels: tuple = ()
    rare: tuple = ()  # the most frequent levels merged into "another level" (for the description; see shown_rare)

    @property
    def n_levels(self) -> int:
        """Levels proper (bins or kept values), without "another level" and "missing"."""
        return len(self.edges) + 1 if self.kind == "binned" else len(self.levels)

    @property
    def n_codes(self) -> int:
        return self.n_levels + 2

    def conditions(self, code: int) -> tuple[Condition, ...]:
        """The conditions that select the rows of level ``code`` (see :data:`Condition`)."""
        k = self.n_levels
        if code == k + 1:
            return ((self.name, "isna", None),)
        if code == k:
            return ((self.name, "not in", self.levels),) if self.kind == "levels" else ((self.name, "isna", None),)
        if self.kind == "levels":
            return ((self.name, "==", self.levels[code]),)
        out = []
        if code > 0:
            out.append((self.name, ">=", self.edges[code - 1]))
        if code < len(self.edges):
            out.append((self.name, "<", self.edges[code]))
        return tuple(out)

    def describe(self, code: int) -> str:
        """The level in the user's terms: ``age < 25``, ``25 <= age < 40``, ``color == 'red'``, ``age is missing``."""
        k, name = self.n_levels, self.name
        if code == k + 1:
            return f"{name} is missing"
        if code == k:
            shown = ", ".join(_show(v) for v in self.rare[:3]) + (", ..." if len(self.rare) > 3 else "")
            return f"{name} is another level ({shown})" if shown else f"{name} is another level"
        if self.kind == "levels":
            return f"{name} == {_show(self.levels[code])}"
        if code == 0:
            return f"{name} < {_show(self.edges[0])}"
        if code == len(self.edges):
            return f"{name} >= {_show(self.edges[-1])}"
        return f"{_show(self.edges[code - 1])} <= {name} < {_show(self.edges[code])}"


@dataclass(frozen=True)
class SlicePlan:
    """The columns' cuts, the column pairs counted, the levels allowed in pairs and the loss shift.

    ``pair_levels[i]`` is None (every level of column i enters pairs) or the codes allowed;
    ``shift`` is subtracted from the loss before sums of squares are taken, so they keep their precision
    when the loss is far from 0 (a regression's absolute errors in the millions).
    """

    columns: tuple[ColumnPlan, ...]
    pairs: tuple[tuple[int, int], ...] = ()
    pair_levels: tuple = field(default=())
    shift: float = 0.0

    def allowed(self, i: int) -> np.ndarray:
        """Codes of column ``i`` that enter pairs."""
        chosen = self.pair_levels[i] if self.pair_levels else None
        return np.arange(self.columns[i].n_codes) if chosen is None else np.asarray(chosen, dtype=int)

    def with_pairs(self, pairs, pair_levels=None) -> SlicePlan:
        levels = tuple(pair_levels) if pair_levels is not None else ()
        return replace(self, pairs=tuple(pairs), pair_levels=levels)


def _show(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.8g}"
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return str(v)
    return f'"{v}"'


def edge_candidates(q: float) -> list[float]:
    """The readable roundings of a quantile tried as its edge, fewest significant digits first."""
    return [float(f"{q:.{digits}g}") for digits in range(1, 9)]


def choose_edges(quantiles, below, n: int, lo: float, hi: float, max_bins: int) -> tuple[float, ...]:
    """Edges from the quantiles at ``k / max_bins``: each the first rounding (:func:`edge_candidates`) whose share
    of values below it (``below(r) / n``, ``below`` counting the non-missing values ``< r``) is within a tenth of a
    bin of its quantile's, else the quantile itself; repeated edges once, and only those in ``(lo, hi]`` (an edge
    at the minimum makes an empty bin). The one rule both engines apply (``24.75`` becomes ``25`` when that moves
    the bin by little), so ``age < 25`` in a description is exactly the rule applied."""
    probs = np.arange(1, max_bins) / max_bins
    tol = 0.1 / max_bins
    edges = []
    for p, q in zip(probs, quantiles):
        edges.append(next((r for r in edge_candidates(q) if abs(below(r) / n - p) <= tol), float(q)))
    return tuple(float(e) for e in np.unique(edges) if lo < e <= hi)


def _readable_edges(xs: np.ndarray, max_bins: int) -> tuple[float, ...]:
    """:func:`choose_edges` of the sorted values ``xs``."""
    quantiles = np.quantile(xs, np.arange(1, max_bins) / max_bins)
    return choose_edges(quantiles, lambda r: np.searchsorted(xs, r, side="left"), len(xs), xs[0], xs[-1], max_bins)


def is_binnable(dtype) -> bool:
    """Numbers (not booleans) may be cut in quantile bins."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def levels_plan(name: str, counts: pd.Series, total: int, min_support: float) -> ColumnPlan:
    """A column kept as levels: those holding at least ``min_support`` of ``total`` rows (missing ones counted in
    ``total``), by name; the others "another level". ``counts``: rows per present value."""
    total = max(int(total), 1)
    keep = counts[counts / total >= min_support]
    rare = counts[counts / total < min_support]
    levels = tuple(sorted(keep.index.tolist(), key=str))  # by name, so the plan does not depend on row order
    return ColumnPlan(name, "levels", levels=levels, rare=shown_rare(rare))


def _plan_column(name: str, values: pd.Series, max_bins: int, min_support: float) -> ColumnPlan:
    present = values.dropna()
    if is_binnable(values.dtype):
        xs = np.sort(present.to_numpy(dtype=float))
        if len(xs) and np.count_nonzero(xs[1:] != xs[:-1]) + 1 > max_bins:  # more than max_bins distinct values
            edges = _readable_edges(xs, max_bins)
            if edges:
                return ColumnPlan(name, "binned", edges=edges)
    return levels_plan(name, present.value_counts(sort=True), len(values), min_support)


def shown_rare(counts: pd.Series) -> tuple:
    """The rare levels a description names: the four most frequent (three shown, the fourth says there are more),
    ties by name, so every engine that counted them names the same ones."""
    top = counts[counts >= counts.nlargest(4).min()] if len(counts) > 4 else counts
    ranked = sorted(zip(top.index.tolist(), top.to_numpy().tolist()), key=lambda vc: (-vc[1], str(vc[0])))
    return tuple(v for v, _ in ranked[:4])


def _is_time(values: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype)


def plan_slices(frame: pd.DataFrame, columns=None, *, max_bins: int = 5, min_support: float = 0.01) -> SlicePlan:
    """Cut every column of ``frame`` (or ``columns``) into levels; no pairs yet (see :func:`plan_pairs`).

    Date and duration columns are left out unless named (then refused: pass a number or label made from them).
    Numeric columns with more than ``max_bins`` distinct values get up to ``max_bins`` quantile bins
    (edges rounded to readable values); other columns keep each level holding at least ``min_support``
    of the rows, the rest merged into "another level"; missing values are a level of their own.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": range(100), "color": ["red", "blue"] * 50})
    >>> plan = plan_slices(frame, max_bins=4)
    >>> [plan.columns[0].describe(c) for c in range(4)]
    ['age < 25', '25 <= age < 50', '50 <= age < 74', 'age >= 74']
    >>> plan.columns[1].describe(0)
    'color == "blue"'
    """
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise AuditInputError(f"frame has duplicate column(s) {dup[:5]}; pass each column once")
    if columns is None:  # dates and durations need cuts in their own units: not searched unless converted
        names = [c for c in frame.columns if not _is_time(frame[c])]
    else:
        names = list(columns)
        timed = [c for c in names if c in frame.columns and _is_time(frame[c])]
        if timed:
            raise AuditInputError(TIME_COLUMNS.format(columns=timed))
    if not names:
        raise AuditInputError(NO_COLUMNS)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise AuditInputError(BAD_COLUMNS.format(missing=missing, columns=list(frame.columns)))
    return SlicePlan(tuple(_plan_column(str(c), frame[c], max_bins, min_support) for c in names))


def encode(frame: pd.DataFrame, plan: SlicePlan) -> list[np.ndarray]:
    """One int64 code array per planned column (see the module docstring for the codes)."""
    codes = []
    for col in plan.columns:
        values = frame[col.name]
        missing = values.isna().to_numpy()
        k = col.n_levels
        if col.kind == "binned":
            x = values.to_numpy(dtype=float, na_value=np.nan)
            c = np.searchsorted(np.asarray(col.edges), x, side="right").astype(np.int64)
        else:
            c = pd.Categorical(values, categories=list(col.levels)).codes.astype(np.int64)
            c[c < 0] = k  # not a kept level: another level (missing ones are set below)
        c[missing] = k + 1
        codes.append(c)
    return codes


def slice_mask(frame: pd.DataFrame, conditions) -> np.ndarray:
    """Boolean mask of the rows meeting every condition (as stored in ``SliceResult.slices.conditions``).

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [20, 30, None], "color": ["red", "blue", "red"]})
    >>> slice_mask(frame, (("age", "<", 25.0), ("color", "==", "red"))).tolist()
    [True, False, False]
    """
    mask = np.ones(len(frame), dtype=bool)
    for name, op, value in conditions:
        v = frame[name]
        if op == "isna":
            m = v.isna()
        elif op == "not in":
            m = ~v.isin(list(value)) & v.notna()
        elif op == "in":
            m = v.isin(list(value))
        elif op == "==":
            m = v == value
        elif op == "<":
            m = v < value
        else:
            m = v >= value
        mask &= np.asarray(m.fillna(False), dtype=bool)
    return mask
