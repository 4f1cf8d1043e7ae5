"""Prediction cells: the sufficient statistic of the performance, fairness and calibration checks.

Rows are summarised as counts and sums over cells: (period, intersection group, label, predicted class,
positive-class score, top-class confidence), each cell carrying its rows, the sums of positive-class scores, of top-class
confidences and their squares, the smallest and largest confidence, and the sums of per-row log loss
(and its square) and Brier terms. Cells of two summaries add up (:func:`merge_cells`), so partitions of
a Dask DataFrame summarise their rows independently and the client combines them exactly.

The score and confidence axes are *exact* (one cell per distinct value) in memory, and for any summary
whose distinct scores and confidences stay under ``exact_limit``. Beyond it both are put on a fixed
*grid*: :data:`GRID_SUB` cells inside each of the ``n_bins`` equal-width calibration bins (3,840 cells on
[0, 1] with 15 bins). What each check takes from the cells:

- counts (accuracy, balanced accuracy, every fairness rate, confusion matrices, their bootstrap draws)
  and sums (log loss, Brier score, equal-width ECE / MCE, reliability tables) are exact;
- the ROC AUC bootstrap's bins are equal-mass bins of whole grid cells on either axis, so they are the same;
- ROC AUC is exact on the exact axis; on the grid, positives and negatives in one cell count as tied
  (one half), which moves the AUC by at most :func:`auc_tie_bound` (``sum_c pos_c neg_c / (2 P N)``);
- equal-mass calibration bins per group are exact on the exact axis; on the grid a cell goes whole to one
  bin, which moves a group's ECE by at most :func:`audit.health.ece_grid_bound`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> p1 = np.array([0.9, 0.2, 0.7, 0.1]); y = np.array([1, 0, 0, 0])
>>> c = build_cells(y, np.column_stack([1 - p1, p1]), pd.DataFrame({"g": ["a", "a", "b", "b"]}))
>>> int(c.count.sum()), c.exact, c.confusion().tolist()
(4, True, [[2.0, 1.0], [0.0, 1.0]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from audit._arrays import sorted_unique
from audit._inputs import MISSING, missing_as_label
from audit.errors import AuditInputError

#: grid cells inside each equal-width calibration bin (3,840 cells on [0, 1] with 15 bins): the AUC's tie bound
#: is then about 1e-4 on a 10M-row log, and a summary holds at most groups x 2 x 2 x 3,840 cells
GRID_SUB = 256
#: distinct scores a summary keeps exactly before it moves its score axis to the grid
EXACT_LIMIT = 100_000
#: entries from which cells are added up by hashing their keys rather than sorting them (faster past ~1e5)
HASH_ROWS = 100_000
_SUMS = ("count", "score_sum", "conf_sum", "conf_sq", "loss_sum", "loss_sq", "brier_sum")
_KEYS = ("period", "group", "label", "pred", "score", "conf")


def row_log_loss(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Each row's log loss ``-log p(true class)``, probabilities clipped at 1e-15 and each row renormalised as
    scikit-learn's ``log_loss`` does (its mean is ``sklearn.metrics.log_loss``).

    Examples
    --------
    >>> row_log_loss(np.array([1, 0]), np.array([[0.2, 0.8], [0.5, 0.5]])).round(3).tolist()
    [0.223, 0.693]
    """
    p = np.clip(proba, 1e-15, 1.0)
    n = len(p)
    return -np.log(p[np.arange(n), y] / p.sum(axis=1))


def grid_index(v: np.ndarray, n_bins: int) -> np.ndarray:
    """Grid cell of each value in [0, 1]: ``GRID_SUB`` cells inside each right-closed equal-width bin.

    Monotone in ``v``, and cell ``c`` lies in the equal-width bin ``c // GRID_SUB`` that
    :func:`audit.health.reliability_table` puts the value in, so equal-width bins are unions of cells.

    >>> grid_index(np.array([0.0, 0.5, 1 / 15, 1.0]), 15).tolist()
    [0, 1919, 255, 3839]
    """
    v = np.asarray(v, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.searchsorted(edges[1:-1], v, side="left")  # the calibration bin, exactly as reliability_table
    sub = np.floor((v - edges[b]) * (n_bins * GRID_SUB)).astype(np.int64)
    return b * GRID_SUB + np.clip(sub, 0, GRID_SUB - 1)


@dataclass
class PredictionCells:
    """Counts and sums of predictions per cell; one entry per non-empty cell (see the module docstring).

    Attributes
    ----------
    names, levels : sensitive column names and their sorted values (a categorical's in category order)
    group_codes : ndarray (G, n_columns)
        Level codes of each observed intersection group (ordered like :func:`audit.fairness.group_counts`).
    periods : Index or None
        Sorted periods of the time column (``period`` codes index it; ``len(periods)`` marks no period).
    n_classes, n_bins : classes of the model; equal-width calibration bins the grid nests in
    exact : bool
        ``score`` and ``conf`` hold distinct values (True) or their grid cells.
    has_scores : bool
        False for label-only models (no AUC, log loss or calibration).
    period, group, label, pred, score, conf, count, ... : ndarray, one value per cell
    """

    names: list[str]
    levels: list[pd.Index]
    group_codes: np.ndarray
    periods: pd.Index | None
    n_classes: int
    n_bins: int
    exact: bool
    has_scores: bool
    period: np.ndarray
    group: np.ndarray
    label: np.ndarray
    pred: np.ndarray
    score: np.ndarray
    conf: np.ndarray
    count: np.ndarray
    score_sum: np.ndarray
    conf_sum: np.ndarray
    conf_sq: np.ndarray
    conf_min: np.ndarray
    conf_max: np.ndarray
    loss_sum: np.ndarray
    loss_sq: np.ndarray
    brier_sum: np.ndarray
    #: per sensitive column, its categories when it was a pandas Categorical (levels follow their order, as
    #: ``pandas.factorize(sort=True)`` does for a categorical: age bands stay young, middle, old), else None
    orders: list[tuple | None] = field(default_factory=list)

    @property
    def n(self) -> int:
        # rounded: weighted cells (build_cells' sample_weight, scaled to sum to the rows) add up to n in floats
        return int(round(float(self.count.sum())))

    @property
    def n_groups(self) -> int:
        return len(self.group_codes)

    @property
    def score_cell(self) -> np.ndarray:
        """Grid cell of each entry's score (the score axis itself on the grid)."""
        return grid_index(self.score, self.n_bins) if self.exact else self.score.astype(np.int64)

    @property
    def conf_cell(self) -> np.ndarray:
        """Grid cell of each entry's confidence."""
        return grid_index(self.conf, self.n_bins) if self.exact else self.conf.astype(np.int64)

    @property
    def n_cells(self) -> int:
        """Grid cells on [0, 1]."""
        return self.n_bins * GRID_SUB

    def confusion(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Rows per (label, predicted class), ``(k, k)``; of the entries in ``mask`` when given."""
        k = self.n_classes
        sel = slice(None) if mask is None else mask
        return np.bincount(self.label[sel] * k + self.pred[sel], weights=self.count[sel], minlength=k * k).reshape(k, k)

    def view(self, features: Sequence[str]) -> tuple[np.ndarray, pd.Index]:
        """``(member, index)``: the view group of each intersection group, and the view groups' labels."""
        pos = [self.names.index(f) for f in features]
        uniq, member = np.unique(self.group_codes[:, pos], axis=0, return_inverse=True)
        if len(features) == 1:
            return member.reshape(-1), pd.Index(self.levels[pos[0]][uniq[:, 0]], name=features[0])
        arrays = [self.levels[p][uniq[:, j]] for j, p in enumerate(pos)]
        return member.reshape(-1), pd.MultiIndex.from_arrays(arrays, names=list(features))

    def without_periods(self) -> PredictionCells:
        """The same cells summed over periods (smaller; what every check but the per-period table needs)."""
        if self.periods is None:
            return self
        return _reduce(replace(self, periods=None, period=np.zeros_like(self.period)))


def auc_tie_bound(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Largest change of a ROC AUC from counting positives and negatives in one cell as tied, along the last axis.

    >>> float(auc_tie_bound(np.array([2.0, 0.0]), np.array([1.0, 3.0])))
    0.125
    """
    den = pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (pos * neg).sum(axis=-1) / (2 * np.where(den > 0, den, 1.0)), np.nan)


def bound_text(x: float) -> str:
    """A bound for a note, rounded *up* to two significant digits (so the stated bound still holds).

    >>> bound_text(0.000200813), bound_text(0.0)
    ('0.00021', '0')
    """
    if not x > 0:
        return "0"
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return f"{math.ceil(x / step - 1e-9) * step:.2g}"


def _category_codes(raw: np.ndarray, order: tuple) -> tuple[np.ndarray, pd.Index]:
    """:func:`_factorize` of a categorical from its codes (``-1`` missing), without a value per row: the categories
    present in category order, then the missing label when a value is missing."""
    present = np.bincount(raw[raw >= 0], minlength=len(order)) > 0
    rank = np.cumsum(present) - 1
    missing = raw < 0
    codes = np.where(missing, int(present.sum()), rank[np.where(missing, 0, raw)]).astype(np.int64)
    levels = [order[i] for i in np.flatnonzero(present)] + ([MISSING] if missing.any() else [])
    return codes, pd.Index(levels)


def _factorize(values: pd.Series, order: tuple | None = None) -> tuple[np.ndarray, pd.Index]:
    """Codes of a column's values, sorted like :func:`audit.fairness.group_counts` sorts them: in ``order``
    (a categorical's categories; values outside it, such as the missing label, after them by their text), else
    by value; values that cannot be ordered are ordered by their text."""
    if order is not None and isinstance(values.dtype, pd.CategoricalDtype) and tuple(values.cat.categories) == order:
        return _category_codes(values.cat.codes.to_numpy(), order)
    values = missing_as_label(pd.Series(np.asarray(values, dtype=object)))
    if order is not None:
        rank = {v: i for i, v in enumerate(order)}
        seen = pd.unique(values)
        ordered = sorted(seen, key=lambda v: (rank.get(v, len(rank)), "" if v in rank else str(v)))
        index = pd.Index(ordered)
        return index.get_indexer(values).astype(np.int64), pd.Index(list(ordered))
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.int64), pd.Index(list(uniques))  # the values' own dtype again (int levels stay ints)


def _at_most_distinct(values: np.ndarray, limit: int) -> bool:
    """Whether ``values`` has at most ``limit`` distinct values; continuous scores are told from their first
    ``2 x limit`` rows (a hash pass) without sorting them all."""
    if len(values) > 2 * limit and len(pd.unique(values[: 2 * limit])) > limit:
        return False
    return len(sorted_unique(values)) <= limit


def build_cells(y: np.ndarray, proba: np.ndarray, sensitive: pd.DataFrame | None = None, *,
                periods: pd.Series | None = None, n_bins: int = 15, exact_limit: int | None = None,
                has_scores: bool = True, sample_weight: np.ndarray | None = None) -> PredictionCells:
    """Summarise rows: ``y`` class indices, ``proba`` ``(n, k)`` probabilities, ``sensitive`` group columns.

    ``periods`` (optional) gives each row's period (``pandas.Period``; missing ones are left out of the
    period axis). With ``exact_limit`` the score and confidence axes move to the grid when either has more
    distinct values. With ``sample_weight`` each row counts as its weight, scaled so the weights sum to the
    rows (``count`` and every sum are weighted, so every mean read off the cells is the weighted mean); the
    resampling built on counts (intervals, permutation tests) does not apply to such cells.

    >>> p1 = np.array([0.9, 0.2, 0.7, 0.7])
    >>> c = build_cells(np.array([1, 0, 0, 1]), np.column_stack([1 - p1, p1]))
    >>> c.score.tolist(), c.count.tolist()          # one cell per distinct score (and label)
    ([0.2, 0.7, 0.7, 0.9], [1.0, 1.0, 1.0, 1.0])
    """
    y = np.asarray(y).astype(np.int64).reshape(-1)
    proba = np.asarray(proba, dtype=np.float64)
    n, k = proba.shape
    if len(y) != n:
        raise AuditInputError(f"y has {len(y)} rows but proba has {n}; pass arrays aligned row by row")
    sensitive = pd.DataFrame(index=pd.RangeIndex(n)) if sensitive is None else sensitive
    names = [str(c) for c in sensitive.columns]
    codes, levels = [], []
    orders = [tuple(sensitive[c].cat.categories) if isinstance(sensitive[c].dtype, pd.CategoricalDtype) else None
              for c in sensitive.columns]
    for c, order in zip(sensitive.columns, orders):
        cd, lv = _factorize(sensitive[c], order)
        codes.append(cd)
        levels.append(lv)
    dims = [len(lv) for lv in levels]
    size = float(np.prod(dims, dtype=np.float64))
    if names and size <= 4 * n + 1024:  # few combinations: present ones by counting, not by sorting every row
        key = np.ravel_multi_index(codes, dims)
        present = np.bincount(key, minlength=int(size)) > 0
        uniq = np.flatnonzero(present)
        group = (np.cumsum(present) - 1)[key]
        group_codes = np.stack(np.unravel_index(uniq, dims), axis=1)
    elif names and size < 2**62:
        uniq, group = np.unique(np.ravel_multi_index(codes, dims), return_inverse=True)
        group_codes = np.stack(np.unravel_index(uniq, dims), axis=1)
    elif names:
        group_codes, group = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    else:
        group_codes, group = np.zeros((1, 0), np.int64), np.zeros(n, np.int64)
    per_index, period = None, np.zeros(n, np.int64)
    if periods is not None:
        per = pd.Series(periods).reset_index(drop=True)
        ok = per.notna().to_numpy()
        per_index = pd.Index(pd.unique(per[ok])).sort_values() if ok.any() else pd.Index([])
        period = np.where(ok, per_index.get_indexer(per.where(ok, per[ok].iloc[0] if ok.any() else None)), len(per_index))
    pred = proba.argmax(axis=1)
    conf = proba[np.arange(n), pred]
    loss = row_log_loss(y, proba)
    brier = np.einsum("ij,ij->i", proba, proba) - 2.0 * proba[np.arange(n), y] + 1.0
    score = proba[:, 1] if k == 2 else np.zeros(n)
    exact = exact_limit is None or (_at_most_distinct(score, exact_limit) and _at_most_distinct(conf, exact_limit))
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise AuditInputError(f"sample_weight has {len(w)} values but proba has {n} rows; pass one weight per row")
    if sample_weight is not None:
        w = w * (n / w.sum())
    cells = PredictionCells(
        names=names, levels=levels, group_codes=np.asarray(group_codes, np.int64), periods=per_index, n_classes=k,
        n_bins=int(n_bins), exact=exact, has_scores=has_scores, period=period.astype(np.int64),
        group=np.asarray(group, np.int64).reshape(-1), label=y, pred=pred.astype(np.int64),
        score=score if exact else grid_index(score, n_bins).astype(np.float64),
        conf=conf if exact else grid_index(conf, n_bins).astype(np.float64),
        count=w, score_sum=w * score, conf_sum=w * conf, conf_sq=w * conf * conf, conf_min=conf, conf_max=conf,
        loss_sum=w * loss, loss_sq=w * loss * loss, brier_sum=w * brier, orders=orders)
    return _reduce(cells)


def _reduce(c: PredictionCells) -> PredictionCells:
    """Add up entries with the same key (sums, and the smallest / largest confidence)."""
    if len(c.count) == 0:
        return c
    if c.exact:  # (score, confidence) pairs first: their codes stay below the rows, so the key fits in 64 bits
        s_code = np.unique(c.score, return_inverse=True)[1].reshape(-1)
        c_uniq, c_code = np.unique(c.conf, return_inverse=True)
        pair = np.unique(s_code * len(c_uniq) + c_code.reshape(-1), return_inverse=True)[1].reshape(-1)
    else:  # grid cells are already small integers in value order: three sorts of every row saved
        pair = c.score.astype(np.int64) * c.n_cells + c.conf.astype(np.int64)
    cols = [c.period, c.group, c.label, c.pred, pair]
    dims = [int(a.max()) + 1 for a in cols]
    if float(np.prod(dims, dtype=np.float64)) < 2**62 and len(c.count) >= HASH_ROWS:
        return _reduce_hashed(c, np.ravel_multi_index(cols, dims))
    if float(np.prod(dims, dtype=np.float64)) < 2**62:
        key = np.ravel_multi_index(cols, dims)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    else:  # astronomically many combinations: sort on the columns
        order = np.lexsort(cols[::-1])
        stacked = np.stack([a[order] for a in cols], axis=1)
        starts = np.flatnonzero(np.r_[True, (stacked[1:] != stacked[:-1]).any(axis=1)])
    first = order[starts]
    out = {f.name: getattr(c, f.name) for f in fields(c)}
    for name in _KEYS:
        out[name] = getattr(c, name)[first]
    for name in _SUMS:
        out[name] = np.add.reduceat(getattr(c, name)[order], starts)
    out["conf_min"] = np.minimum.reduceat(c.conf_min[order], starts)
    out["conf_max"] = np.maximum.reduceat(c.conf_max[order], starts)
    return PredictionCells(**out)


def _reduce_hashed(c: PredictionCells, key: np.ndarray) -> PredictionCells:
    """:func:`_reduce` of many rows by hashing their keys (no sort of the rows): the cells come out in key order
    and each sum adds its rows in row order, as the sorted path does."""
    codes, uniq = pd.factorize(key)  # codes in order of first appearance
    m = len(uniq)
    by_key = np.argsort(uniq, kind="stable")
    rank = np.empty(m, dtype=np.int64)
    rank[by_key] = np.arange(m)
    cell = rank[codes]
    # a code's first row is where the codes first exceed every earlier one
    first = np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])[by_key]
    out = {f.name: getattr(c, f.name) for f in fields(c)}
    for name in _KEYS:
        out[name] = getattr(c, name)[first]
    for name in _SUMS:
        out[name] = np.bincount(cell, weights=getattr(c, name), minlength=m)
    lo, hi = np.full(m, np.inf), np.full(m, -np.inf)
    np.minimum.at(lo, cell, c.conf_min)
    np.maximum.at(hi, cell, c.conf_max)
    out["conf_min"], out["conf_max"] = lo, hi
    return PredictionCells(**out)


def merge_cells(parts: Sequence[PredictionCells], exact_limit: int | None = EXACT_LIMIT) -> PredictionCells:
    """One summary of the rows of several: groups, periods and scores matched by value, cells added up.

    Exact when every part is and the merged scores stay under ``exact_limit`` distinct values; otherwise
    every part's scores move to the grid first. The result equals :func:`build_cells` on all the rows
    (up to the order floating-point sums are added in).

    >>> y, p1 = np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.6, 0.6])
    >>> proba, g = np.column_stack([1 - p1, p1]), pd.DataFrame({"g": ["a", "b", "b", "a"]})
    >>> m = merge_cells([build_cells(y[:2], proba[:2], g[:2]), build_cells(y[2:], proba[2:], g.iloc[2:])])
    >>> m.n, m.levels[0].tolist(), m.confusion().tolist()
    (4, ['a', 'b'], [[1.0, 1.0], [0.0, 2.0]])
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        raise AuditInputError("merge_cells needs at least one summary")
    head = parts[0]
    if len(parts) == 1:
        return head
    if any(p.names != head.names or p.n_classes != head.n_classes or p.n_bins != head.n_bins for p in parts):
        raise AuditInputError("summaries to merge must have the same sensitive columns, classes and bins")
    levels, remap = [], []
    # a categorical keeps its category order when every part agrees on the categories (one Dask dtype)
    orders = [head.orders[j] if head.orders and all(p.orders and p.orders[j] == head.orders[j] for p in parts) else None
              for j in range(len(head.names))]
    for j in range(len(head.names)):
        codes, lv = _factorize(pd.Series(np.concatenate([np.asarray(p.levels[j], dtype=object) for p in parts])),
                               orders[j])
        levels.append(lv)
        bounds = np.cumsum([0] + [len(p.levels[j]) for p in parts])
        remap.append([codes[bounds[i]:bounds[i + 1]] for i in range(len(parts))])
    dims = [len(lv) for lv in levels]
    global_codes = [np.stack([remap[j][i][p.group_codes[:, j]] for j in range(len(dims))], axis=1)
                    if dims else np.zeros((1, 0), np.int64) for i, p in enumerate(parts)]
    flat = [np.ravel_multi_index(g.T, dims) if dims else np.zeros(1, np.int64) for g in global_codes]
    uniq = sorted_unique(np.concatenate(flat))
    group_codes = np.stack(np.unravel_index(uniq, dims), axis=1) if dims else np.zeros((1, 0), np.int64)
    periods = None
    if head.periods is not None:
        periods = pd.Index(pd.unique(np.concatenate([np.asarray(p.periods, dtype=object) for p in parts]))).sort_values()
    exact = all(p.exact for p in parts)
    if exact and exact_limit is not None and max(len(sorted_unique(np.concatenate([getattr(p, a) for p in parts])))
                                                  for a in ("score", "conf")) > exact_limit:
        exact = False
    pieces = []
    for i, p in enumerate(parts):
        per = p.period
        if periods is not None:  # the part's period codes, and its 'no period' code, onto the merged ones
            per = np.r_[periods.get_indexer(p.periods), len(periods)][p.period]
        pieces.append(replace(p, period=per.astype(np.int64), group=np.searchsorted(uniq, flat[i])[p.group],
                              score=p.score if exact or not p.exact else grid_index(p.score, p.n_bins).astype(np.float64),
                              conf=p.conf if exact or not p.exact else grid_index(p.conf, p.n_bins).astype(np.float64)))
    joined = {f.name: getattr(head, f.name) for f in fields(head)}
    for name in (*_KEYS, *_SUMS, "conf_min", "conf_max"):
        joined[name] = np.concatenate([getattr(p, name) for p in pieces])
    joined.update(levels=levels, group_codes=group_codes, periods=periods, exact=exact,
                  has_scores=all(p.has_scores for p in parts), orders=orders)
    return _reduce(PredictionCells(**joined))


def equal_mass(counts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Equal-mass bin of each cell, along the last axis of ``counts`` (``(..., cells)``, in score order).

    Each cell goes whole to the bin holding the middle of its rows in the cumulative count, the rule
    :func:`audit.health.equal_mass_bins` applies to tied rows: ``k`` bins per leading index.

    >>> equal_mass(np.array([[3.0, 0, 1, 4]]), np.array([2])).tolist()
    [[0, 0, 0, 1]]
    """
    size = counts.sum(axis=-1, keepdims=True)
    mid = np.cumsum(counts, axis=-1) - counts / 2.0
    kk = np.asarray(k)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.floor(kk * mid / np.where(size > 0, size, 1.0))
    return np.minimum(np.nan_to_num(b), kk - 1).astype(np.int64)
