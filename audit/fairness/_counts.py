"""Per-group confusion counts: the sufficient statistics every group metric and its bootstrap use.

Rows are grouped by the intersection of all sensitive features (only observed combinations, in
sorted order like ``pandas.groupby``). A *view* is a subset of the sensitive features (one column,
the full intersection, a pair for a heat map); its counts are sums of intersection counts, so one
bootstrap draw of the intersection cells gives consistent resamples for every view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats import PredictionCells

#: index of the four confusion cells along the last axis of every counts array
TN, FP, FN, TP = 0, 1, 2, 3


def _factorize(col: pd.Series) -> tuple[np.ndarray, pd.Index]:
    try:
        codes, uniques = pd.factorize(col, sort=True)
    except TypeError:  # mixed types that cannot be ordered: order by their text
        codes, uniques = pd.factorize(col.astype(str), sort=True)
    return codes.astype(np.int64), pd.Index(uniques, name=col.name)


@dataclass
class GroupCounts:
    """Confusion counts per intersection group.

    Attributes
    ----------
    names : list of str
        Sensitive feature names.
    levels : list of Index
        Sorted distinct values of each sensitive feature.
    group_codes : ndarray, shape (G, n_features)
        Level codes of each observed intersection group.
    row_group : ndarray, shape (n,), or None
        Intersection group of each row (None when counted from prediction cells: :func:`cell_counts`).
    rows : ndarray, shape (G, 4)
        Unweighted row counts per cell (tn, fp, fn, tp).
    weighted : ndarray, shape (G, 4)
        Weighted counts per cell (equal to ``rows`` without weights).
    weight_sd : ndarray or None, shape (G, 4)
        Standard deviation of the weights inside each cell (None without weights).
    weighted_sq : ndarray or None, shape (G, 4)
        Sum of the squared weights per cell (None without weights).
    """

    names: list[str]
    levels: list[pd.Index]
    group_codes: np.ndarray
    row_group: np.ndarray | None
    rows: np.ndarray
    weighted: np.ndarray
    weight_sd: np.ndarray | None
    weighted_sq: np.ndarray | None = None

    @property
    def n_groups(self) -> int:
        return len(self.group_codes)

    def view(self, features: tuple[str, ...]) -> tuple[np.ndarray, pd.Index]:
        """Map intersection groups onto the groups of ``features``.

        Returns ``(member, index)``: ``member[g]`` is the view group of intersection group ``g``;
        ``index`` labels the view groups (a MultiIndex for several features).
        """
        pos = [self.names.index(f) for f in features]
        sub = self.group_codes[:, pos]
        uniq, member = np.unique(sub, axis=0, return_inverse=True)
        member = member.reshape(-1)
        if len(features) == 1:
            index = pd.Index(self.levels[pos[0]][uniq[:, 0]], name=features[0])
        else:
            arrays = [self.levels[p][uniq[:, j]] for j, p in enumerate(pos)]
            index = pd.MultiIndex.from_arrays(arrays, names=list(features))
        return member, index


def group_counts(y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.DataFrame, sample_weight: np.ndarray | None) -> GroupCounts:
    """Count (tn, fp, fn, tp) per intersection group of ``sensitive``; weighted when weights are given."""
    codes, levels = zip(*(_factorize(sensitive[c]) for c in sensitive.columns))
    dims = tuple(len(lv) for lv in levels)
    if float(np.prod(dims, dtype=np.float64)) < 2**62:
        flat = np.ravel_multi_index(codes, dims)  # one int per row: far faster than a row-wise unique
        uniq, row_group = np.unique(flat, return_inverse=True)
        group_codes = np.stack(np.unravel_index(uniq, dims), axis=1)
    else:  # astronomically many combinations: fall back to a row-wise unique
        group_codes, row_group = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    row_group = row_group.reshape(-1)
    G = len(group_codes)
    cell = row_group * 4 + 2 * y_true.astype(np.int64) + y_pred.astype(np.int64)
    rows = np.bincount(cell, minlength=4 * G).reshape(G, 4).astype(np.float64)
    if sample_weight is None:
        weighted, sd, sq = rows.copy(), None, None
    else:
        weighted = np.bincount(cell, weights=sample_weight, minlength=4 * G).reshape(G, 4)
        sq = np.bincount(cell, weights=sample_weight**2, minlength=4 * G).reshape(G, 4)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(rows > 0, weighted / rows, 0.0)
            var = np.where(rows > 0, sq / rows - mean**2, 0.0)
        sd = np.sqrt(np.clip(var, 0.0, None))
    return GroupCounts(
        names=[str(c) for c in sensitive.columns],
        levels=list(levels),
        group_codes=group_codes,
        row_group=row_group,
        rows=rows,
        weighted=weighted,
        weight_sd=sd,
        weighted_sq=sq,
    )


@dataclass
class ScoreCells:
    """Rows and weights per (intersection group, label, score key): what per-group ROC AUC and its resampling need.

    ``key`` is the score itself (``exact``) or its grid cell (:func:`audit.stats.grid_index`, ``n_bins`` bins).
    """

    group: np.ndarray
    label: np.ndarray
    key: np.ndarray
    rows: np.ndarray
    weighted: np.ndarray
    exact: bool
    n_bins: int = 15


def score_cells(gc: GroupCounts, y_true: np.ndarray, y_score: np.ndarray, sample_weight: np.ndarray | None) -> ScoreCells:
    """Exact score cells of rows (one per group, label and distinct score).

    >>> gc = group_counts(np.array([1, 0, 1]), np.array([1, 0, 0]), pd.DataFrame({"g": ["a", "a", "a"]}), None)
    >>> sc = score_cells(gc, np.array([1, 0, 1]), np.array([.9, .2, .9]), None)
    >>> sc.key.tolist(), sc.rows.tolist()
    ([0.2, 0.9], [1.0, 2.0])
    """
    assert gc.row_group is not None
    uniq, rank = np.unique(y_score, return_inverse=True)
    key = (gc.row_group * 2 + y_true.astype(np.int64)) * len(uniq) + rank.reshape(-1)
    cells, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1)
    rows = np.bincount(inv, minlength=len(cells)).astype(np.float64)
    weighted = rows if sample_weight is None else np.bincount(inv, weights=sample_weight, minlength=len(cells))
    return ScoreCells(group=cells // (2 * len(uniq)), label=(cells // len(uniq)) % 2, key=uniq[cells % len(uniq)],
                      rows=rows, weighted=weighted, exact=True)


def cell_counts(cells: PredictionCells) -> tuple[GroupCounts, ScoreCells | None]:
    """Confusion counts per intersection group and the score cells of a binary model's prediction cells
    (positive class 1): the same counts :func:`group_counts` gives on the rows."""
    if cells.n_classes != 2:
        raise ValueError("cell_counts needs the cells of a binary model")
    G = cells.n_groups
    rows = np.bincount(cells.group * 4 + 2 * cells.label + cells.pred, weights=cells.count, minlength=4 * G).reshape(G, 4)
    gc = GroupCounts(names=list(cells.names), levels=list(cells.levels), group_codes=cells.group_codes, row_group=None,
                     rows=rows, weighted=rows.copy(), weight_sd=None)
    if not cells.has_scores:
        return gc, None
    plain = cells.without_periods()
    # the score cells need (group, label, score) only: sum the prediction and confidence axes away
    key = np.unique(plain.score, return_inverse=True)[1].reshape(-1)
    _, first, inv = np.unique((plain.group * 2 + plain.label) * (int(key.max()) + 1) + key, return_index=True,
                              return_inverse=True)
    n = np.bincount(inv.reshape(-1), weights=plain.count)
    return gc, ScoreCells(group=plain.group[first], label=plain.label[first], key=plain.score[first], rows=n, weighted=n,
                          exact=plain.exact, n_bins=plain.n_bins)


def aggregate(counts: np.ndarray, member: np.ndarray, n_view: int) -> np.ndarray:
    """Sum ``counts[..., G, 4]`` over intersection groups into ``[..., n_view, 4]``.

    Linear in the number of groups: intersection groups are ordered by view group and each run is
    summed with ``np.add.reduceat`` (a dense ``n_view x G`` one-hot product was quadratic: 5,000 groups
    took minutes per view). A view that is the intersection itself (one sensitive column) is a copy.

    Examples
    --------
    >>> c = np.arange(12.0).reshape(3, 4)
    >>> aggregate(c, np.array([1, 0, 1]), 2).tolist()
    [[4.0, 5.0, 6.0, 7.0], [8.0, 10.0, 12.0, 14.0]]
    """
    member = np.asarray(member, dtype=np.int64)
    shape = counts.shape[:-2] + (n_view, counts.shape[-1])
    if len(member) == n_view and np.array_equal(member, np.arange(n_view)):
        return np.array(counts, dtype=np.float64)
    out = np.zeros(shape)
    if len(member) == 0:
        return out
    order = np.argsort(member, kind="stable")
    sorted_member = member[order]
    starts = np.flatnonzero(np.r_[True, sorted_member[1:] != sorted_member[:-1]])
    sums = np.add.reduceat(np.asarray(counts, dtype=np.float64)[..., order, :], starts, axis=-2)
    out[..., sorted_member[starts], :] = sums
    return out


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` where ``b > 0``, else NaN; divides only there (no temporaries: these arrays are resamples x groups)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b > 0)


#: group metrics computed from confusion counts, in table order (fairlearn / scikit-learn names)
RATE_METRICS = (
    "selection_rate",
    "accuracy",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "true_negative_rate",
    "precision",
)


def rates(c: np.ndarray) -> dict[str, np.ndarray]:
    """Every rate in :data:`RATE_METRICS` from weighted counts ``c[..., 4]``; NaN where undefined."""
    tn, fp, fn, tp = c[..., TN], c[..., FP], c[..., FN], c[..., TP]
    n = tn + fp + fn + tp
    pos, neg = tp + fn, fp + tn
    return {
        "selection_rate": _div(tp + fp, n),
        "accuracy": _div(tp + tn, n),
        "true_positive_rate": _div(tp, pos),
        "false_positive_rate": _div(fp, neg),
        "false_negative_rate": _div(fn, pos),
        "true_negative_rate": _div(tn, neg),
        "precision": _div(tp, tp + fp),
    }
