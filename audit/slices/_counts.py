"""Sufficient statistics per candidate slice: rows, sum and sum of squares of the loss, counted vectorised.

One ``np.bincount`` per statistic and column (singles) or column pair (pairs, on the combined code
``code_a * k_b + code_b``): no loop over rows and no boolean mask per slice. The table's rows are fixed by
the plan (every code and every allowed pair of codes, empty ones included), so tables counted on
partitions with one plan add up row by row (:func:`merge_counts`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit._inputs import to_numpy
from audit.errors import AuditInputError
from audit.slices._plan import SlicePlan, encode
from audit.slices._stats import welch

KEYS = ["column_a", "level_a", "column_b", "level_b"]
SUMS = ["n", "sum", "sumsq"]
BAD_LOSS = ("loss must be one finite number per row of frame ({n} rows); got {what}. Pass e.g. 0/1 errors, absolute "
            "errors or any per-row metric where higher is worse, with missing rows dropped from both")
MERGE_MISMATCH = "counts tables were made with different plans (their slice keys differ); count every part with one plan"


def check_loss(loss, n: int) -> np.ndarray:
    """``loss`` as a float array of ``n`` finite numbers, or :class:`AuditInputError`."""
    try:
        x = np.asarray(to_numpy(loss), dtype=float)
    except (TypeError, ValueError) as e:
        raise AuditInputError(BAD_LOSS.format(n=n, what=f"values that are not numbers ({e})")) from None
    if x.ndim != 1 or len(x) != n:
        raise AuditInputError(BAD_LOSS.format(n=n, what=f"shape {x.shape}"))
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise AuditInputError(BAD_LOSS.format(n=n, what=f"{bad} missing or infinite values"))
    return x


def _sums(code: np.ndarray, y: np.ndarray, y2: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.bincount(code, minlength=size).astype(float), np.bincount(code, y, size),
                     np.bincount(code, y2, size)], axis=1)


def count_codes(codes: list[np.ndarray], loss: np.ndarray, plan: SlicePlan) -> pd.DataFrame:
    """The counts table of already encoded rows (``codes`` from the plan's encoding, ``loss`` unshifted)."""
    y = loss - plan.shift
    y2 = y * y
    keys, sums = [np.array([[-1, -1, -1, -1]])], [np.array([[len(y), y.sum(), y2.sum()]])]
    for i, col in enumerate(plan.columns):
        k = col.n_codes
        keys.append(np.column_stack([np.full(k, i), np.arange(k), np.full(k, -1), np.full(k, -1)]))
        sums.append(_sums(codes[i], y, y2, k))
    for i, j in plan.pairs:
        ki, kj = plan.columns[i].n_codes, plan.columns[j].n_codes
        table = _sums(codes[i] * kj + codes[j], y, y2, ki * kj)
        a, b = plan.allowed(i), plan.allowed(j)
        cells = (a[:, None] * kj + b[None, :]).ravel()
        keys.append(np.column_stack([np.full(len(cells), i), cells // kj, np.full(len(cells), j), cells % kj]))
        sums.append(table[cells])
    out = pd.DataFrame(np.concatenate(keys), columns=KEYS)
    out[SUMS] = np.concatenate(sums)
    return out


def slice_counts(frame: pd.DataFrame, loss, plan: SlicePlan) -> pd.DataFrame:
    """Rows, sum and sum of squares of ``loss - plan.shift`` for every slice of the plan, and for all rows.

    Columns ``column_a, level_a, column_b, level_b`` (plan column index and level code; ``-1`` where
    absent: a single level has no ``b``, the first row, all rows, has neither) and ``n, sum, sumsq``.
    Tables of two parts of the rows, counted with one plan, add up to the table of all rows.

    Examples
    --------
    >>> from audit.slices import plan_slices
    >>> frame = pd.DataFrame({"color": ["red", "blue", "red"]})
    >>> slice_counts(frame, [1.0, 0.0, 1.0], plan_slices(frame))[["level_a", "n", "sum"]].head(3).values.tolist()
    [[-1.0, 3.0, 2.0], [0.0, 1.0, 0.0], [1.0, 2.0, 2.0]]
    """
    y = check_loss(loss, len(frame))
    return count_codes(encode(frame, plan), y, plan)


def all_pairs(plan: SlicePlan) -> SlicePlan:
    """The plan with every pair of columns and every level in pairs: its counts hold those of any pair choice
    :func:`plan_pairs` makes later (:func:`counts_for_plan`), so rows are counted once, before the choice."""
    n = len(plan.columns)
    return plan.with_pairs([(i, j) for i in range(n) for j in range(i + 1, n)], None)


def counts_for_plan(counts: pd.DataFrame, plan: SlicePlan) -> pd.DataFrame:
    """The rows of ``plan``'s counts table, in its order, taken from a table counted with more pairs
    (:func:`all_pairs`): what :func:`count_codes` would have counted with ``plan`` itself.

    Examples
    --------
    >>> from audit.slices import plan_slices
    >>> frame = pd.DataFrame({"a": ["x", "y", "x"], "b": ["u", "u", "v"]})
    >>> plan = plan_slices(frame)
    >>> wide = slice_counts(frame, [1.0, 0.0, 1.0], all_pairs(plan))
    >>> counts_for_plan(wide, plan).equals(slice_counts(frame, [1.0, 0.0, 1.0], plan))
    True
    """
    empty = count_codes([np.zeros(0, dtype=np.int64)] * len(plan.columns), np.zeros(0), plan)[KEYS]
    out = empty.merge(counts, on=KEYS, how="left", validate="one_to_one")
    if out[SUMS].isna().any().any():
        raise AuditInputError(MERGE_MISMATCH)
    return out


def merge_counts(*tables: pd.DataFrame) -> pd.DataFrame:
    """The sum of counts tables made with one plan (partitions of the rows), row by row.

    Examples
    --------
    >>> t = pd.DataFrame({"column_a": [-1], "level_a": [-1], "column_b": [-1], "level_b": [-1],
    ...                   "n": [2.0], "sum": [1.0], "sumsq": [1.0]})
    >>> merge_counts(t, t)["n"].tolist()
    [4.0]
    """
    first = tables[0]
    out = first.copy()
    for t in tables[1:]:
        if len(t) != len(first) or not np.array_equal(t[KEYS].to_numpy(), first[KEYS].to_numpy()):
            raise AuditInputError(MERGE_MISMATCH)
        out[SUMS] = out[SUMS].to_numpy() + t[SUMS].to_numpy()
    return out


def plan_pairs(plan: SlicePlan, counts: pd.DataFrame, *, max_candidates: int = 2000, min_rows: int = 30) -> SlicePlan:
    """The plan with the column pairs and pair levels to count, kept within ``max_candidates`` slices.

    Levels that are candidates themselves (at least ``min_rows`` rows in and out) enter pairs. When singles plus every pair of such levels
    (from different columns) would exceed ``max_candidates``, only the strongest single levels enter
    pairs: levels ranked by their one-sided Welch t statistic (worse than the rest) are added while
    singles plus the pairs among the chosen levels stay within ``max_candidates``. ``counts`` needs only
    the singles (a table counted with ``plan`` before pairs).
    """
    total = counts.iloc[0]
    single = counts[(counts.column_a >= 0) & (counts.column_b < 0)]
    # a level holding all but a few rows is left out of pairs: its pairs repeat the other level's single slice
    big = single[(single.n >= min_rows) & (single.n <= total.n - min_rows)]
    testable = len(big)
    per_col = big.groupby("column_a").size().reindex(range(len(plan.columns)), fill_value=0).to_numpy()
    all_pairs = (per_col.sum() ** 2 - (per_col ** 2).sum()) // 2
    if testable + all_pairs <= max_candidates:
        chosen = big
    else:
        t = welch(big.n, big["sum"], big.sumsq, total.n, total["sum"], total.sumsq)["t"]
        ranked = big.assign(t=np.nan_to_num(t, nan=-np.inf)).sort_values("t", ascending=False, kind="stable")
        count = np.zeros(len(plan.columns), dtype=int)
        for col in ranked.column_a.to_numpy():  # loop over levels (at most a few hundred), not rows
            count[col] += 1
            if testable + (count.sum() ** 2 - (count ** 2).sum()) // 2 > max_candidates:
                count[col] -= 1  # a column skipped once stays skipped: its cost only grows
        chosen = ranked[_mask_taken(ranked, count)]
    levels = [np.sort(chosen.level_a[chosen.column_a == i].to_numpy().astype(int)) for i in range(len(plan.columns))]
    pairs = [(i, j) for i in range(len(levels)) for j in range(i + 1, len(levels)) if len(levels[i]) and len(levels[j])]
    return plan.with_pairs(pairs, levels)


def _mask_taken(ranked: pd.DataFrame, count: np.ndarray) -> np.ndarray:
    """The first ``count[c]`` rows of each column ``c`` in rank order (the levels the greedy rule took)."""
    rank_in_col = ranked.groupby("column_a").cumcount().to_numpy()
    return rank_in_col < count[ranked.column_a.to_numpy()]
