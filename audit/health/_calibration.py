"""Calibration: expected / maximum calibration error, Brier score and reliability tables, per group too.

A model is calibrated when, among the rows it gives confidence ``c``, a share ``c`` is right.
Miscalibration that differs between groups is a fairness problem of its own: the same score means
a different risk for different people.

Binning. The overall ECE uses ``n_bins`` equal-width bins (Guo et al. 2017), the number everyone
quotes. Per group the ECE uses equal-mass bins by default: ``n_g // min_bin_count`` bins (at least
1, at most ``n_bins``) holding about equally many of the group's rows, so no bin has fewer than
``min_bin_count`` rows unless the whole group does. A 15-bin equal-width ECE of an 80-row group
averages ``|accuracy - confidence|`` over bins of 2 to 10 rows: its expected value for a perfectly
calibrated model is about 0.10, which is noise, not miscalibration (Roelofs et al. 2022 show
equal-mass bins reduce this bias). What is left of the bias is removed from the ECE gap by
:func:`audit.health.ece_intervals` (bootstrap bias correction), which also tests it.

Every number comes from prediction cells (:func:`audit.stats.build_cells`): :func:`calibration` summarises
its rows into exact cells, a Dask audit merges its partitions' cells (:func:`calibration_of_cells`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.health._common import as_labels, as_proba, as_sensitive_frame
from audit.health._ece_cells import HitCells, bin_sums, ece_grid_bound, hit_cells_of, mass_bins, width_bins
from audit.stats import PredictionCells, bound_text, build_cells
from audit.text import short_label

_RELIABILITY_COLUMNS = ["lower", "upper", "count", "confidence", "accuracy", "gap"]
GroupBinning = Literal["equal_mass", "equal_width"]
#: rows per equal-mass bin at least (a group with fewer rows gets one bin): with 100 rows the noise in one
#: bin's accuracy is at most 0.5 / sqrt(100) = 0.05, against 0.5 / sqrt(5) = 0.22 in a 5-row bin. Fewer rows
#: per bin (40) kept the ECE gap's interval valid but wider: in bench/gap_simulation.py a calibrated pair of
#: 300-row groups passed the ECE gap gate 13% of the time with 40, 65% with 100
MIN_BIN_COUNT = 100
#: group names a note lists before "and N more"
_LISTED = 8


@dataclass
class CalibrationResult:
    """Calibration of class probabilities, overall and per sensitive group.

    Attributes
    ----------
    ece : float
        Top-label expected calibration error: equal-width bins on the confidence ``max_k p_k``,
        ``sum_b n_b / n * |accuracy_b - confidence_b|`` (Guo et al. 2017).
    mce : float
        Maximum calibration error: the largest ``|accuracy_b - confidence_b|`` over non-empty bins.
    brier : float
        Binary: ``mean((p_1 - y)^2)`` (``sklearn.metrics.brier_score_loss``, range 0-1). Multi-class:
        ``mean(sum_k (p_k - [y = k])^2)`` (range 0-2, sklearn's multi-class Brier).
    positive_class_ece : float
        Binary only (NaN otherwise): ECE of the positive-class probability ``p_1`` against the
        frequency of ``y = 1``, on the same bins.
    n_bins : int
    reliability : DataFrame
        One row per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean), ``accuracy``,
        ``gap`` (accuracy - confidence); NaN for empty bins.
    by_group : DataFrame
        Index ``(column, group)``; columns ``n``, ``accuracy``, ``confidence``, ``ece``, ``mce``,
        ``brier``, ``positive_class_ece``, ``bins`` (bins behind the group's ECE), ``small`` (fewer
        than ``min_group_size`` rows). ECE, MCE and positive-class ECE per group use the group binning.
    gaps : DataFrame
        Index ``column``; ``ece_gap`` (plug-in max - min ECE over groups with at least
        ``min_group_size`` rows; NaN with fewer than two such groups), ``worst_group``, ``worst_ece``,
        ``best_group``, ``best_ece``, ``groups_compared``. Its bias correction, interval and test come
        from :func:`audit.health.ece_intervals`.
    group_reliability : DataFrame
        The reliability table per group, with ``column`` and ``group`` columns; with equal-mass bins
        ``lower``/``upper`` are the smallest and largest confidence in the bin.
    notes : list of str
    group_binning : {"equal_mass", "equal_width"}
    min_bin_count : int
        Rows per equal-mass bin at least.
    """

    ece: float
    mce: float
    brier: float
    positive_class_ece: float
    n_bins: int
    reliability: pd.DataFrame
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    group_reliability: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    group_binning: GroupBinning = "equal_mass"
    min_bin_count: int = MIN_BIN_COUNT

    @property
    def binning(self) -> str:
        """The binning in words, for tables and notes.

        >>> from audit.health import calibration
        >>> calibration([0, 1], [[0.8, 0.2], [0.3, 0.7]]).binning
        'overall: 15 equal-width bins; per group: equal-mass bins, one per 100 rows (1 to 15)'
        """
        per = (f"equal-mass bins, one per {self.min_bin_count} rows (1 to {self.n_bins})" if self.group_binning == "equal_mass"
               else f"{self.n_bins} equal-width bins")
        return f"overall: {self.n_bins} equal-width bins; per group: {per}"


def equal_mass_bins(values: np.ndarray, codes: np.ndarray, n_groups: int, n_bins: int,
                    min_bin_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-mass bins within each group: ``(bin per row, bins per group)``.

    Group ``g`` with ``n_g`` rows gets ``k_g = clip(n_g // min_bin_count, 1, n_bins)`` bins; its rows,
    ordered by value, fill them in order, about ``n_g / k_g`` each. Tied values share a bin (the bin of
    their middle rank), so a bin can be larger, or one empty, when a score repeats. One sort for every
    group at once (by group, then value).

    Examples
    --------
    >>> v = np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6])
    >>> b, k = equal_mass_bins(v, np.zeros(8, int), 1, 15, 4)
    >>> k.tolist(), b.tolist()    # 8 rows, at least 4 per bin: 2 bins of the 4 lowest and 4 highest
    ([2], [1, 0, 0, 1, 0, 0, 1, 1])
    """
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    sizes = np.bincount(codes, minlength=n_groups)
    k = np.clip(sizes // max(int(min_bin_count), 1), 1, max(int(n_bins), 1))
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64), k
    order = np.lexsort((values, codes))
    cs, vs = codes[order], values[order]
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.arange(n) - starts[cs]
    new_run = np.r_[True, (cs[1:] != cs[:-1]) | (vs[1:] != vs[:-1])]
    run = np.cumsum(new_run) - 1
    run_first = rank[new_run][run]
    run_len = np.bincount(run)[run]
    mid = run_first + (run_len - 1) / 2.0  # ties: the middle rank of the run
    b = np.floor(k[cs] * (mid + 0.5) / sizes[cs]).astype(np.int64)
    out = np.empty(n, np.int64)
    out[order] = np.minimum(b, k[cs] - 1)
    return out, k


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Right-closed equal-width bins on [0, 1]: bin ``b`` holds ``(b / n_bins, (b + 1) / n_bins]`` (0 goes to bin 0)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], conf, side="left")


def reliability_table(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Per-bin count, mean confidence and accuracy (observed frequency) for equal-width bins.

    Examples
    --------
    >>> import numpy as np
    >>> t = reliability_table(np.array([0.9, 0.9, 0.3]), np.array([1, 0, 0]), n_bins=2)
    >>> t["count"].tolist(), t["accuracy"].tolist()
    ([1, 2], [0.0, 0.5])
    """
    idx = _bin_index(conf, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        acc = np.where(count > 0, acc_sum / count, np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = pd.DataFrame(
        {"lower": edges[:-1], "upper": edges[1:], "count": count, "confidence": mean_conf, "accuracy": acc, "gap": acc - mean_conf}
    )
    out.index.name = "bin"
    return out


def _ece_mce(table: pd.DataFrame) -> tuple[float, float]:
    n = table["count"].sum()
    if n == 0:
        return float("nan"), float("nan")
    full = table[table["count"] > 0]
    err = (full["accuracy"] - full["confidence"]).abs()
    return float((full["count"] / n * err).sum()), float(err.max())


def _counts(count: np.ndarray) -> np.ndarray:
    """Row counts as integers; weighted counts (cells built with sample weights) kept as they are, since the ECE
    weighs bins by them."""
    return count.astype(np.int64) if np.array_equal(count, np.round(count)) else count


def _width_table(hc: HitCells, n_bins: int) -> pd.DataFrame:
    """The equal-width reliability table of one group of hit cells (what :func:`reliability_table` gives on rows)."""
    s = bin_sums(hc, width_bins(hc, n_bins), n_bins)
    count = s["count"][0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, acc = np.where(count > 0, s["vsum"][0] / count, np.nan), np.where(count > 0, s["hits"][0] / count, np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": _counts(count), "confidence": mean,
                        "accuracy": acc, "gap": acc - mean})
    out.index.name = "bin"
    return out


def column_groups(cells: PredictionCells, column: str) -> tuple[np.ndarray, list[str]]:
    """Groups of one sensitive column as calibration reports them: ``(member, labels)``, the group of each
    intersection group and the groups' labels as text, in sorted order."""
    member, index = cells.view([column])
    # not a numpy text array: its fixed width is the longest label's, and one 1 MB label times 5,000 groups is 20 GB
    pos, uniq = pd.factorize(pd.Series([str(v) for v in index], dtype=object), sort=True)
    return pos[member], [str(u) for u in uniq]


def _group_stats(cells: PredictionCells, member: np.ndarray, G: int, binning: GroupBinning, n_bins: int,
                 min_bin_count: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Per group of a column: the stats of ``by_group``, the (group, bin) sums and the ECE's grid bound."""
    hc = hit_cells_of(cells, member, G, "conf")
    if binning == "equal_width":
        bins, k = width_bins(hc, n_bins), np.full(G, n_bins, dtype=np.int64)
        bound = np.zeros(G)
    else:
        bins, k = mass_bins(hc, n_bins, min_bin_count)
        bound = ece_grid_bound(hc, n_bins, min_bin_count)
    s = bin_sums(hc, bins, n_bins)
    g = member[cells.group]
    with np.errstate(invalid="ignore", divide="ignore"):
        n = s["count"].sum(axis=1)
        err = np.abs(s["hits"] / s["count"] - s["vsum"] / s["count"])  # NaN in empty bins
        ece = np.where(s["count"] > 0, s["count"] / n[:, None] * err, 0.0).sum(axis=1)
        mce = np.where(s["count"] > 0, err, -np.inf).max(axis=1)
        brier = np.bincount(g, weights=cells.brier_sum, minlength=G) / n
        pos_ece = np.full(G, np.nan)
        if cells.n_classes == 2:
            ps = hit_cells_of(cells, member, G, "score")
            pb = width_bins(ps, n_bins) if binning == "equal_width" else mass_bins(ps, n_bins, min_bin_count)[0]
            t = bin_sums(ps, pb, n_bins)
            pos_ece = np.where(t["count"] > 0, np.abs(t["hits"] - t["vsum"]), 0.0).sum(axis=1) / n
            if binning == "equal_mass":
                bound = np.maximum(bound, ece_grid_bound(ps, n_bins, min_bin_count))
        stats = {
            "n": _counts(n),
            "accuracy": s["hits"].sum(axis=1) / n,
            "confidence": s["vsum"].sum(axis=1) / n,
            "ece": ece,
            "mce": mce,
            "brier": brier / 2 if cells.n_classes == 2 else brier,
            "positive_class_ece": pos_ece,
            "bins": k.astype(np.int64),
        }
    return stats, s, bound


def _column(col: str, cells: PredictionCells, n_bins: int, min_group_size: int, binning: GroupBinning,
            min_bin_count: int) -> tuple[list[dict[str, Any]], pd.DataFrame, list[tuple[Any, float]], list[Any], float]:
    """Rows of ``by_group``, the group reliability frame, eligible (group, ECE), all groups of one column, and the
    most a group's ECE can be off on grid cells."""
    member, uniques = column_groups(cells, col)
    G = len(uniques)
    stats, s, bound = _group_stats(cells, member, G, binning, n_bins, min_bin_count)
    small = stats["n"] < min_group_size
    rows = [{"column": col, "group": uniques[g], **{k: (int(v[g]) if k in ("n", "bins") else float(v[g])) for k, v in stats.items()},
             "small": bool(small[g])} for g in range(G)]
    count = s["count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, acc = s["vsum"] / count, s["hits"] / count
    if binning == "equal_width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lo, hi = np.tile(edges[:-1], (G, 1)), np.tile(edges[1:], (G, 1))
        real = np.ones((G, n_bins), bool)
    else:  # equal-mass: a group has only its own k_g bins; lower/upper are the bin's smallest and largest value
        lo, hi = s["vmin"], s["vmax"]
        real = np.arange(n_bins)[None, :] < stats["bins"][:, None]
    rel = pd.DataFrame({
        "column": col, "group": np.repeat(np.asarray(uniques, dtype=object), n_bins)[real.reshape(-1)],
        "bin": np.tile(np.arange(n_bins), G)[real.reshape(-1)], "lower": lo[real], "upper": hi[real],
        "count": _counts(count[real]), "confidence": mean_conf[real], "accuracy": acc[real],
        "gap": (acc - mean_conf)[real],
    })
    eligible = [(uniques[g], float(stats["ece"][g])) for g in np.flatnonzero(~small)]
    return rows, rel, eligible, list(uniques), float(np.max(bound[~small], initial=0.0))


def calibration(
    y: Any,
    proba: Any,
    *,
    n_bins: int = 15,
    sensitive: Any = None,
    min_group_size: int = 30,
    group_binning: GroupBinning = "equal_mass",
    min_bin_count: int = MIN_BIN_COUNT,
) -> CalibrationResult:
    """Expected and maximum calibration error, Brier score and reliability tables, overall and per group.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        True labels as class indices (columns of ``proba``).
    proba : array-like, shape (n, n_classes) or (n,)
        Predicted probabilities; a 1-D array is the positive-class probability of a binary model.
    n_bins : int
        Number of equal-width confidence bins on [0, 1] (right-closed) for the overall ECE; the most
        bins a group gets.
    sensitive : DataFrame, Series, dict of arrays or array, optional
        Sensitive attributes aligned with ``y``: ECE, MCE and Brier per group, and the ECE gap.
    min_group_size : int
        Groups with fewer rows are reported but left out of the ECE gap (ECE is biased upward on
        small samples, so tiny groups would inflate the gap).
    group_binning : {"equal_mass", "equal_width"}
        Bins of the per-group ECE: equal-mass with at least ``min_bin_count`` rows per bin (default),
        or the overall ECE's ``n_bins`` equal-width bins (the behaviour before equal-mass bins; on small
        groups mostly noise, see the module docstring).
    min_bin_count : int
        Rows per equal-mass bin at least (``n_g // min_bin_count`` bins, 1 to ``n_bins``).

    Returns
    -------
    CalibrationResult

    Notes
    -----
    ``ece`` is the top-label ECE of Guo et al., "On Calibration of Modern Neural Networks" (ICML
    2017, https://arxiv.org/abs/1706.04599); for binary models ``positive_class_ece`` also bins the
    positive-class probability.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 0, 1, 1])
    >>> proba = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.1, 0.9]])
    >>> r = calibration(y, proba, n_bins=5)
    >>> round(r.brier, 4)
    0.075
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise AuditInputError(f"n_bins must be a positive integer, got {n_bins!r}")
    _check_binning(group_binning, min_bin_count)
    p = as_proba(proba)
    n, k = p.shape
    yi = as_labels(y, n, k)
    groups = as_sensitive_frame(sensitive, n)
    cells = build_cells(yi, p, groups, n_bins=int(n_bins))
    return calibration_of_cells(cells, min_group_size=min_group_size, group_binning=group_binning,
                                min_bin_count=min_bin_count)


def _check_binning(group_binning: str, min_bin_count: int) -> None:
    if group_binning not in ("equal_mass", "equal_width"):
        raise AuditInputError(f"group_binning must be 'equal_mass' or 'equal_width', got {group_binning!r}")
    if isinstance(min_bin_count, bool) or not isinstance(min_bin_count, (int, np.integer)) or min_bin_count < 1:
        raise AuditInputError(f"min_bin_count must be a positive integer, got {min_bin_count!r}")


def calibration_of_cells(cells: PredictionCells, *, min_group_size: int = 30, group_binning: GroupBinning = "equal_mass",
                         min_bin_count: int = MIN_BIN_COUNT) -> CalibrationResult:
    """:func:`calibration` from prediction cells (:func:`audit.stats.build_cells`, or a Dask audit's merged cells),
    per group for each sensitive column of the cells; ``n_bins`` is the cells' own.

    Every number is exact on exact cells. On grid cells the overall ECE, MCE, Brier score, reliability table and
    the per-group accuracy, confidence and Brier score stay exact (sums over whole equal-width bins); a group's
    equal-mass ECE is off by at most :func:`audit.health._ece_cells.ece_grid_bound` (the note says how much at
    most), its MCE and reliability rows by a cell's rows moving between neighbouring bins.

    >>> from audit.stats import build_cells
    >>> y, p1 = np.array([1, 0, 1, 1]), np.array([0.8, 0.3, 0.6, 0.9])
    >>> r = calibration_of_cells(build_cells(y, np.column_stack([1 - p1, p1]), pd.DataFrame({"g": ["a", "a", "b", "b"]})))
    >>> round(r.brier, 4), r.by_group["n"].tolist()
    (0.075, [2, 2])
    """
    _check_binning(group_binning, min_bin_count)
    n_bins = cells.n_bins
    hc = hit_cells_of(cells, np.zeros(cells.n_groups, np.int64), 1, "conf")
    table = _width_table(hc, n_bins)
    ece, mce = _ece_mce(table)
    brier = float(cells.brier_sum.sum() / cells.n)
    brier = brier / 2 if cells.n_classes == 2 else brier
    pos_ece = float("nan")
    if cells.n_classes == 2:
        pos_ece, _ = _ece_mce(_width_table(hit_cells_of(cells, np.zeros(cells.n_groups, np.int64), 1, "score"), n_bins))
    stats = {"ece": ece, "mce": mce, "brier": brier, "positive_class_ece": pos_ece}
    notes: list[str] = []

    rows, rel_parts, gap_rows = [], [], []
    worst_bound = 0.0
    for col in cells.names:
        col_rows, rel, eligible, all_groups, bound = _column(col, cells, n_bins, min_group_size, group_binning,
                                                             int(min_bin_count))
        worst_bound = max(worst_bound, bound)
        rows += col_rows
        rel_parts.append(rel)
        if len(eligible) < len(all_groups):
            big = {g for g, _ in eligible}
            left = [short_label(g) for g in all_groups if g not in big]
            more = f" and {len(left) - _LISTED} more" if len(left) > _LISTED else ""
            notes.append(
                f"{col}: {len(left)} group(s) have fewer than {min_group_size} rows; their ECE is shown but left out of "
                f"the gap: {left[:_LISTED]}{more}."
            )
        if len(eligible) >= 2:
            worst = max(eligible, key=lambda t: t[1])
            best = min(eligible, key=lambda t: t[1])
            gap_rows.append(
                {"column": col, "ece_gap": worst[1] - best[1], "worst_group": worst[0], "worst_ece": worst[1],
                 "best_group": best[0], "best_ece": best[1], "groups_compared": len(eligible)}
            )
        else:
            notes.append(f"{col}: fewer than two groups with {min_group_size}+ rows; the ECE gap is undefined (NaN).")
            gap_rows.append(
                {"column": col, "ece_gap": float("nan"), "worst_group": None, "worst_ece": float("nan"),
                 "best_group": None, "best_ece": float("nan"), "groups_compared": len(eligible)}
            )
    if worst_bound > 0:
        notes.append(f"Per-group ECE on grid cells (the rows' scores were summarised in {cells.n_cells:,} cells on [0, 1]): "
                     f"each group's ECE is within {bound_text(worst_bound)} of the ECE on the exact values, the ECE gap "
                     f"within {bound_text(2 * worst_bound)}.")
    by_group = (
        pd.DataFrame(rows).set_index(["column", "group"])
        if rows
        else pd.DataFrame(columns=["n", "accuracy", "confidence", "ece", "mce", "brier", "positive_class_ece", "bins", "small"])
    )
    gaps = pd.DataFrame(gap_rows).set_index("column") if gap_rows else pd.DataFrame(
        columns=["ece_gap", "worst_group", "worst_ece", "best_group", "best_ece", "groups_compared"]
    )
    group_rel = (
        pd.concat(rel_parts, ignore_index=True)[["column", "group", "bin", *_RELIABILITY_COLUMNS]]
        if rel_parts
        else pd.DataFrame(columns=["column", "group", "bin", *_RELIABILITY_COLUMNS])
    )
    return CalibrationResult(
        ece=stats["ece"],
        mce=stats["mce"],
        brier=stats["brier"],
        positive_class_ece=stats["positive_class_ece"],
        n_bins=int(n_bins),
        reliability=table,
        by_group=by_group,
        gaps=gaps,
        group_reliability=group_rel,
        notes=notes,
        group_binning=group_binning,
        min_bin_count=int(min_bin_count),
    )
