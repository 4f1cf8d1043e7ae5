"""The fairness engine: group metrics, disparities and bootstrap intervals for every view at once.

One multinomial draw of the intersection cells per resample is shared by every view (each sensitive
column, the intersection, any extra view), so a resample is consistent across views and the
"worst over columns" statistics have a proper joint interval. Likewise one permutation of the
group labels (drawn as cell counts, :mod:`audit.stats._permutations`) is shared by every view, so the
worst-over-columns gap has a proper joint test.

Where the numbers differ from fairlearn, and why
------------------------------------------------
- ``value`` of a disparity or gap is fairlearn's plug-in number (``MetricFrame.difference()``,
  ``demographic_parity_difference`` ...), equal to within 1e-12. ``corrected`` is the same number
  with its upward bias removed (bootstrap bias correction); fairlearn reports only the plug-in.
- The interval of a gap (``low``/``high``) is **not** fairlearn's ``difference_ci``/``ratio_ci``
  (percentile interval of the resampled max - min). That interval is centred on a biased statistic:
  for equal groups it excludes 0 almost always. Ours bounds every pairwise contrast at once and so
  covers the true gap, 0 included (:func:`audit.stats._gaps.range_interval`); it reaches 0
  (a ratio: 1) whenever the permutation test does not reject "no gap". Per-group intervals are
  percentile intervals, as in fairlearn.
- A group metric that is undefined for a group is NaN here where fairlearn's ``MetricFrame`` gives 0
  (scikit-learn's ``zero_division`` default, with a warning): a group with no actual negatives has
  no false positive rate, and 0 would read as "never wrongly flagged" and drag a min/max ratio to 0.
  Disparities skip NaN groups; fairlearn's would count them as 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.fairness._counts import (
    RATE_METRICS,
    GroupCounts,
    ScoreCells,
    aggregate,
    cell_counts,
    group_counts,
    rates,
    score_cells,
)
from audit.fairness._draws import auc_draws, auc_parts, auc_test, permuted_views, view_layout
from audit.fairness._gap_stats import GapStat, disparity_stat, gap_blocks, log_floors, overall_table, rate_sizes
from audit.fairness._inputs import Prepared, prepare
from audit.fairness._spread import DISPARITIES, best_worst, direction, disparity, spread
from audit.stats import (
    EXACT_CELL_ROWS,
    PredictionCells,
    family_confidence,
    group_auc_vectorised,
    percentile_interval,
    resample_counts,
    small_weighted_cells,
)
from audit.text import short_label

# disparity_stat, log_floors and rate_sizes live in _gap_stats; bench/gap_simulation.py imports them from here
__all__ = ["INTERSECTION", "FairnessAssessment", "assess_fairness", "disparity_stat", "group_label", "log_floors",
           "rate_sizes"]


logger = logging.getLogger(__name__)

INTERSECTION = "intersection"
_WHY = {
    "true_positive_rate": "no actual positives",
    "false_negative_rate": "no actual positives",
    "false_positive_rate": "no actual negatives",
    "true_negative_rate": "no actual negatives",
    "precision": "no predicted positives",
    "roc_auc": "only one class present",
    "selection_rate": "zero total weight",
    "accuracy": "zero total weight",
}


@dataclass
class FairnessAssessment:
    """Group metrics, disparities and their bootstrap intervals for each view of the sensitive features.

    Attributes
    ----------
    groups : dict of str to DataFrame
        View name (a sensitive column, ``"intersection"``, or an extra view) -> one row per group with
        ``count``, ``small`` (fewer rows than ``min_group_size``) and, for every metric, the value and
        its interval (``<metric>_low``, ``<metric>_high``; NaN without bootstrap).
    disparities : DataFrame
        Index ``(feature, disparity)``: ``value`` (plug-in, fairlearn's number), ``corrected`` (bias
        corrected, inside the interval), ``low``, ``high`` (the gap's interval), ``p_value`` (permutation
        test of "no gap"), ``metric`` (the group metric that decides it), ``best_group``, ``best_value``,
        ``worst_group``, ``worst_value``, ``n_groups``.
    gaps : DataFrame
        Index ``(feature, metric)``: ``difference`` (max - min over groups) and ``ratio`` (min / max),
        each with ``_corrected``, ``_low``, ``_high`` and ``_p_value`` columns as above, and the groups
        with the highest and lowest value.
    overall : DataFrame
        Index ``disparity``: the worst over the single sensitive columns (:func:`audit.stats.worst_of`):
        ``value`` (plug-in) and ``corrected`` of the worst column, ``low``/``high`` the largest (a ratio:
        smallest) of the columns' bounds, each column's computed at ``column_confidence`` (Bonferroni
        over the ``columns``), so the lower end is at least every column's lower end at that level;
        ``p_value`` (Bonferroni over the columns' permutation tests), ``feature`` (the worst column) and
        its ``best_group`` / ``worst_group``.
    notes : list of str
        Small groups, undefined metrics, approximations.
    n_perm : int
        Permutations behind every ``p_value`` (0: no test).

    Notes
    -----
    How to read a gap: ``corrected`` is the best single number; ``[low, high]`` holds the true gap
    with probability ``confidence`` (checked by simulation: ``tests/test_gap_statistics.py``); ``p_value``
    is the chance of a plug-in gap at least this large if every group had the same rate. When
    ``p_value >= 1 - confidence`` the interval reaches "no gap" (``low`` 0, a ratio's ``high`` 1).
    """

    groups: dict[str, pd.DataFrame]
    disparities: pd.DataFrame
    gaps: pd.DataFrame
    overall: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    views: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_boot: int = 0
    confidence: float = 0.95
    min_group_size: int = 30
    include_small_groups: bool = False
    n_perm: int = 0


def group_label(value: Any) -> str:
    """A group's display label: ``"a"`` or ``"a, b"`` for an intersection.

    Examples
    --------
    >>> group_label("a"), group_label(("a", "b"))
    ('a', 'a, b')
    """
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _views(views: dict[str, tuple[str, ...]] | None, names: list[str]) -> dict[str, tuple[str, ...]]:
    if views is None:
        out = {n: (n,) for n in names}
        if len(names) > 1:
            out[INTERSECTION if INTERSECTION not in names else INTERSECTION + "_"] = tuple(names)
        return out
    for key, feats in views.items():
        unknown = [f for f in feats if f not in names]
        if not feats or unknown:
            raise AuditInputError(f"views[{key!r}] names unknown sensitive feature(s) {unknown}; features are {names}")
    return {k: tuple(v) for k, v in views.items()}



def _undefined_notes(view: str, index: pd.Index, metrics: dict[str, np.ndarray], eligible: np.ndarray) -> list[str]:
    """Say which groups have an undefined metric; small (ineligible) groups are counted, not listed."""
    notes = []
    for m, v in metrics.items():
        bad = np.isnan(v)
        listed = np.flatnonzero(bad & eligible)
        n_small = int((bad & ~eligible).sum())
        if not len(listed):
            continue
        shown = ", ".join(repr(short_label(group_label(index[i]))) for i in listed[:5])
        shown += f" and {len(listed) - 5} more" if len(listed) > 5 else ""
        shown += f" (and {n_small} small group(s))" if n_small else ""
        notes.append(f"{view}: {m} is undefined (NaN) for {shown}: {_WHY.get(m, 'undefined')}.")
    return notes


def assess_fairness(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    *,
    y_score: Any = None,
    sample_weight: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
    min_group_size: int = 30,
    include_small_groups: bool = False,
    positive_is_favorable: bool = True,
    views: dict[str, tuple[str, ...]] | None = None,
    auc_bins: int = 512,
    n_perm: int | None = None,
    cells: PredictionCells | None = None,
    family: int = 1,
) -> FairnessAssessment:
    """Group metrics, disparities and seeded bootstrap intervals per sensitive column and intersection.

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        Binary labels and predictions (positive label 1).
    sensitive : Series, array or DataFrame
        One or more sensitive features aligned with ``y_true``.
    y_score : array-like, optional
        Positive-class scores; adds ``roc_auc`` (its interval uses binned scores, see ``auc_bins``).
    sample_weight : array-like, optional
    n_boot : int
        Bootstrap resamples (0: no intervals). Drawn as multinomial confusion counts, no loop over
        resamples; equivalent to fairlearn's row resampling.
    confidence : float
        Interval coverage: percentile bootstrap for group metrics; simultaneous bounds on every
        pairwise contrast for gaps (see :mod:`audit.stats._gaps`); the permutation test's level
        is ``1 - confidence``.
    seed : int or Generator
        Same seed, same intervals and p-values.
    min_group_size : int
        Groups with fewer rows are flagged ``small`` and left out of disparities and gaps.
    include_small_groups : bool
        Keep small groups in disparities and gaps.
    positive_is_favorable : bool
        Whether a positive prediction benefits the person (a loan) or not (a high-risk flag); decides
        which group is "best" for the selection rate.
    views : dict, optional
        View name -> sensitive features; default: each column plus ``"intersection"`` of all.
    auc_bins : int
        Maximum number of score bins for the ROC AUC bootstrap (equal-mass bins of whole grid cells beyond it).
    n_perm : int, optional
        Permutations of the group labels behind each gap's p-value (default ``n_boot``; 0: no test).
    cells : PredictionCells, optional
        The rows already summarised (:func:`audit.stats.build_cells` of a binary model, positive class 1, or
        partitions' cells merged): used instead of ``y_true``, ``y_pred``, ``sensitive`` and ``y_score`` (pass
        None for those). Every number but ROC AUC is exact; ROC AUC is exact on exact cells and within
        :func:`audit.stats.auc_tie_bound` on grid cells.
    family : int
        How many assessments a caller takes the worst of (a multiclass model's classes): every gap's interval
        is computed at :func:`audit.stats.family_confidence` ``(confidence, family)`` so the worst over them
        keeps ``confidence`` (:func:`audit.stats.worst_of`). Per-group intervals stay at ``confidence``.

    Returns
    -------
    FairnessAssessment

    Examples
    --------
    Two groups with the same selection rate by construction: the plug-in gap is above 0 by chance,
    the corrected one is smaller, the interval reaches 0 and the test does not reject.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y, p = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    >>> g = np.where(rng.random(400) < 0.5, "a", "b")
    >>> res = assess_fairness(y, p, g, n_boot=200, seed=1)
    >>> row = res.disparities.loc[("sensitive_feature_0", "demographic_parity_difference")]
    >>> bool(row["low"] <= row["corrected"] <= row["value"] <= row["high"]), float(row["low"]), bool(row["p_value"] > 0.05)
    (True, 0.0, True)
    """
    B, P, level = _check_options(confidence, n_boot, n_perm, min_group_size, family)
    if cells is None:
        prep: Prepared | None = prepare(y_true, y_pred, sensitive, y_score, sample_weight)
        gc = group_counts(prep.y_true, prep.y_pred, prep.sensitive, prep.sample_weight)
        auc = None if prep.y_score is None else score_cells(gc, prep.y_true, prep.y_score, prep.sample_weight)
    else:
        prep, (gc, auc) = None, cell_counts(cells)
    view_map = _views(views, gc.names)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    notes: list[str] = []
    layout = {v: view_layout(gc, feats, min_group_size, include_small_groups) for v, feats in view_map.items()}
    draws = _draw(rng, gc, prep, auc, layout, B, P, auc_bins, notes)
    metric_names = list(RATE_METRICS) + (["roc_auc"] if auc is not None else [])

    groups: dict[str, pd.DataFrame] = {}
    disp_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    single_samples: dict[str, dict[str, GapStat]] = {}
    for vname, feats in view_map.items():
        view = _view_metrics(vname, layout[vname], gc, draws, notes)
        groups[vname] = _group_table(view, metric_names, B, confidence, min_group_size)
        notes.extend(_view_notes(view, metric_names, min_group_size, include_small_groups))
        stats = {d: disparity_stat(d, view.m_pt, view.m_b, view.m_p, view.eligible, view.floors, view.sizes)
                 for d in DISPARITIES}
        disp_rows.extend(_disparity_row(view, d, stats[d], level, positive_is_favorable) for d in DISPARITIES)
        gap_rows.extend(_gap_row(view, m, B, level) for m in metric_names)
        if len(feats) == 1:
            single_samples[vname] = stats

    disparities = _frame(disp_rows, "disparity")
    return FairnessAssessment(
        groups=groups, disparities=disparities, gaps=_frame(gap_rows, "metric"),
        overall=overall_table(single_samples, level, disparities), notes=notes, views=view_map, n_boot=B,
        confidence=confidence, min_group_size=min_group_size, include_small_groups=include_small_groups,
        n_perm=P if draws.perm_views else 0,
    )


def _check_options(confidence: float, n_boot: int, n_perm: int | None, min_group_size: int,
                   family: int) -> tuple[int, int, float]:
    """Validate the options: ``(resamples, permutations, the confidence of every gap's interval)``."""
    if not (0 < confidence < 1):
        raise AuditInputError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise AuditInputError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if n_perm is None:
        n_perm = n_boot
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 0:
        raise AuditInputError(f"n_perm must be a non-negative integer, got {n_perm!r}")
    if min_group_size < 0:
        raise AuditInputError(f"min_group_size must be >= 0, got {min_group_size!r}")
    if isinstance(family, bool) or not isinstance(family, (int, np.integer)) or family < 1:
        raise AuditInputError(f"family must be a positive integer, got {family!r}")
    # every gap's interval; per-group intervals keep confidence
    return int(n_boot), int(n_perm), family_confidence(confidence, int(family))


@dataclass
class _Draws:
    """What every view shares: the generators, the bootstrap cell counts, the permuted rates, the AUC cells."""

    rng: np.random.Generator
    perm_rng: np.random.Generator | None
    boot: tuple[np.ndarray, np.ndarray] | None  # resampled (rows, weighted) per resample and cell; None: no bootstrap
    perm_views: dict[str, dict[str, np.ndarray]]
    n_perm: int
    auc: ScoreCells | None
    auc_rows: np.ndarray | None = None
    auc_w: np.ndarray | None = None


def _draw(rng: np.random.Generator, gc: GroupCounts, prep: Prepared | None, auc: ScoreCells | None,
          layout: dict[str, tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]], B: int, P: int, auc_bins: int,
          notes: list[str]) -> _Draws:
    """The bootstrap and the joint permutations, in the order that keeps every seeded draw as it was."""
    boot = _bootstrap(rng, gc, prep, B, notes) if B else None
    # the permutations get a generator of their own, so adding them left every bootstrap draw as it was
    perm_rng = np.random.default_rng(rng.integers(2**63 - 1)) if P else None
    draws = _Draws(rng, perm_rng, boot, {}, P, auc)
    if auc is not None:
        draws.auc_rows, draws.auc_w, binned = auc_parts(gc, auc, auc_bins)
        if binned and B:
            notes.append(f"ROC AUC intervals resample scores in {auc_bins} equal-mass bins (whole grid cells), re-centred "
                         "on the AUC.")
    draws.perm_views = permuted_views(perm_rng, gc, layout, P) if P else {}
    if draws.perm_views and gc.weight_sd is not None and (gc.weight_sd > 0).any():
        notes.append("Permutation tests with unequal sample weights draw permuted weight totals from a normal approximation.")
    return draws


def _bootstrap(rng: np.random.Generator, gc: GroupCounts, prep: Prepared | None, B: int,
               notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``B`` resampled (rows, weighted) counts per cell; small weighted cells of raw rows resample their weights."""
    exact = None
    if gc.weight_sd is not None and prep is not None:  # small cells: weights resampled exactly, not approximated
        cell_of_row = gc.row_group * 4 + 2 * prep.y_true.astype(np.int64) + prep.y_pred.astype(np.int64)
        exact = small_weighted_cells(cell_of_row, prep.sample_weight, gc.rows.size)
    rows_b, w_b = resample_counts(rng, gc.rows, gc.weighted, gc.weight_sd, B, exact_cells=exact)
    approx = gc.weight_sd is not None and (gc.weight_sd.reshape(-1) > 0)
    if exact:
        approx[list(exact)] = False
    if np.any(approx):
        notes.append(f"Intervals with unequal sample weights resample the weights of cells up to {EXACT_CELL_ROWS} rows "
                     "exactly and use a normal approximation to the resampled weight totals of larger cells.")
    return rows_b, w_b


@dataclass
class _View:
    """One view's groups and metrics: point ``(V,)``, bootstrap ``(B, V)`` and permuted ``(P, V)`` per metric."""

    name: str
    index: pd.Index
    count: np.ndarray
    eligible: np.ndarray
    labels: list[str]
    m_pt: dict[str, np.ndarray]
    m_b: dict[str, np.ndarray]
    m_p: dict[str, np.ndarray]
    floors: dict[str, np.ndarray]
    sizes: dict[str, np.ndarray]
    #: ROC AUC permutation test: ((difference, ratio) draws, observed (difference, ratio)); None: no test
    auc_test: tuple[tuple[np.ndarray, np.ndarray], tuple[float, float]] | None


def _view_metrics(name: str, lay: tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray], gc: GroupCounts,
                  draws: _Draws, notes: list[str]) -> _View:
    """Aggregate the cells, the bootstrap and the permutations to the groups of one view."""
    member, index, count, eligible = lay
    V = len(index)
    r_pt = aggregate(gc.rows, member, V)
    m_pt = rates(aggregate(gc.weighted, member, V))
    sizes = (rate_sizes(r_pt) if gc.weighted_sq is None
             else rate_sizes(r_pt, aggregate(gc.weighted_sq, member, V), aggregate(gc.weighted, member, V)))
    m_b: dict[str, np.ndarray] = {}
    if draws.boot is not None:
        r_bv = aggregate(draws.boot[0], member, V)
        m_b = rates(aggregate(draws.boot[1], member, V)) if gc.weight_sd is not None else rates(r_bv)
        m_b["count"] = r_bv.sum(-1)
    m_p = draws.perm_views.get(name, {})
    test = None
    if draws.auc is not None:
        auc = draws.auc
        m_pt["roc_auc"] = group_auc_vectorised(auc.label, auc.key, member[auc.group], V, auc.weighted)
        if draws.boot is not None:
            m_b["roc_auc"] = auc_draws(draws.rng, draws.auc_rows, draws.auc_w, member, V, r_bv, m_pt["roc_auc"],
                                       weighted=gc.weight_sd is not None)
        if m_p:
            test = auc_test(draws.perm_rng, draws.auc_rows, member, eligible, draws.n_perm, notes, name)
    return _View(name, index, count, eligible, [group_label(v) for v in index], m_pt, m_b, m_p, log_floors(r_pt),
                 sizes, test)


def _group_table(view: _View, metric_names: list[str], B: int, confidence: float, min_group_size: int) -> pd.DataFrame:
    """One row per group: ``count``, ``small`` and each metric with its percentile interval."""
    V = len(view.index)
    table = pd.DataFrame({"count": view.count.astype(np.int64), "small": view.count < min_group_size}, index=view.index)
    samples = {"count": view.m_b.get("count"), **{m: view.m_b.get(m) for m in metric_names}}
    values = {"count": view.count, **view.m_pt}
    for m in ["count", *metric_names]:
        if m != "count":
            table[m] = values[m]
        lo, hi = percentile_interval(samples[m], confidence) if B else (np.full(V, np.nan),) * 2
        table[f"{m}_low"], table[f"{m}_high"] = lo, hi
    return table


def _view_notes(view: _View, metric_names: list[str], min_group_size: int, include_small_groups: bool) -> list[str]:
    """Undefined metrics and small groups of one view."""
    notes = _undefined_notes(view.name, view.index, {m: view.m_pt[m] for m in metric_names}, view.eligible)
    small = np.flatnonzero(view.count < min_group_size)
    if len(small):
        listed = ", ".join(f"{short_label(group_label(view.index[i]))!r} (n={int(view.count[i])})" for i in small[:8])
        more = f" and {len(small) - 8} more" if len(small) > 8 else ""
        how = "included in" if include_small_groups else "excluded from"
        notes.append(f"{view.name}: {len(small)} group(s) under {min_group_size} rows, {how} disparities and gates: "
                     f"{listed}{more}.")
    return notes


def _disparity_row(view: _View, d: str, stat: GapStat, level: float, positive_is_favorable: bool) -> dict[str, Any]:
    """Disparity ``d`` of one view: its evidence and the best and worst group of the metric that decides it."""
    m_pt, labels = view.m_pt, view.labels
    _, which = disparity(d, m_pt, view.eligible)
    comp = DISPARITIES[d][1][int(which)]
    best, worst = best_worst(m_pt[comp], view.eligible, direction(comp, positive_is_favorable))
    ev = stat.evidence(level)
    return {
        "feature": view.name, "disparity": d, "value": ev.plug_in, "corrected": ev.corrected, "low": ev.low,
        "high": ev.high, "p_value": ev.p_value, "metric": comp,
        "best_group": labels[best] if best >= 0 else None, "best_value": m_pt[comp][best] if best >= 0 else np.nan,
        "worst_group": labels[worst] if worst >= 0 else None, "worst_value": m_pt[comp][worst] if worst >= 0 else np.nan,
        "n_groups": int(view.eligible.sum()),
    }


def _gap_row(view: _View, m: str, B: int, level: float) -> dict[str, Any]:
    """Difference and ratio of metric ``m`` over one view's eligible groups, and its highest and lowest group."""
    m_pt, m_b, eligible = view.m_pt, view.m_b, view.eligible
    diff, ratio = spread(m_pt[m], eligible)
    hi_g, lo_g = best_worst(m_pt[m], eligible, True)
    row: dict[str, Any] = {"feature": view.name, "metric": m}
    dd, rr = spread(m_b[m], eligible) if B else (None, None)
    if m == "roc_auc":
        (pd_, pr_), obs = ((None, None), None) if view.auc_test is None else view.auc_test
    else:
        pd_, pr_ = spread(view.m_p[m], eligible) if view.m_p else (None, None)
        obs = None
    for k, val, dist, perm in (("difference", diff, dd, pd_), ("ratio", ratio, rr, pr_)):
        stat = GapStat(k, (m,), float(val), dist, perm, gap_blocks((m,), m_pt, m_b, eligible, view.floors, k, view.sizes),
                       observed=None if obs is None else obs[0 if k == "difference" else 1])
        ev = stat.evidence(level)
        row.update({k: ev.plug_in, f"{k}_corrected": ev.corrected, f"{k}_low": ev.low, f"{k}_high": ev.high,
                    f"{k}_p_value": ev.p_value})
    row["max_group"] = view.labels[hi_g] if hi_g >= 0 else None
    row["max_value"] = m_pt[m][hi_g] if hi_g >= 0 else np.nan
    row["min_group"] = view.labels[lo_g] if lo_g >= 0 else None
    row["min_value"] = m_pt[m][lo_g] if lo_g >= 0 else np.nan
    return row


def _frame(rows: list[dict[str, Any]], key: str) -> pd.DataFrame:
    """Rows indexed by ``(feature, key)``; every column but the metric and group names as float."""
    df = pd.DataFrame(rows).set_index(["feature", key])
    for c in df.columns:
        if df[c].dtype == object and c not in ("metric", "best_group", "worst_group", "max_group", "min_group"):
            df[c] = df[c].astype(float)
    return df
