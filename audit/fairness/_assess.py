"""The fairness engine: group metrics, disparities and bootstrap intervals for every view at once.

One multinomial draw of the intersection cells per resample is shared by every view (each sensitive
column, the intersection, any extra view), so a resample is consistent across views and the
"worst over columns" statistics have a proper joint interval. Likewise one permutation of the
group labels (drawn as cell counts, :mod:`audit.stats._gaps`) is shared by every view, so the
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
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.fairness._counts import (
    FN,
    RATE_METRICS,
    TP,
    GroupCounts,
    ScoreCells,
    aggregate,
    cell_counts,
    group_counts,
    rates,
    score_cells,
)
from audit.stats import (
    AUC_TEST_GROUPS,
    PERMUTATION_SCHEMES,
    GapEvidence,
    apply_test,
    family_confidence,
    permutation_p_value,
    permuted_auc,
    permuted_rates,
    range_interval,
    worst_of,
)
from audit.fairness._inputs import prepare
from audit.fairness._spread import DISPARITIES, best_worst, direction, disparity, spread
from audit.stats import (
    PredictionCells,
    auc_from_bins,
    bootstrap_auc,
    group_auc_vectorised,
    EXACT_CELL_ROWS,
    percentile_interval,
    resample_counts,
    small_weighted_cells,
)
from audit.stats import auc_bins as cell_bins
from audit.text import short_label

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


def _auc_parts(gc: GroupCounts, auc: ScoreCells, max_bins: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row and weighted counts per (intersection group, label, score bin); bins from :func:`audit.stats.auc_bins`."""
    keys, inv = np.unique(auc.key, return_inverse=True)
    inv = inv.reshape(-1)
    bins = cell_bins(keys, np.bincount(inv, weights=auc.rows, minlength=len(keys)), exact=auc.exact, n_bins=auc.n_bins,
                    max_bins=max_bins)[inv]
    U = int(bins.max()) + 1
    cell = (auc.group * 2 + auc.label) * U + bins
    size = gc.n_groups * 2 * U
    rows = np.bincount(cell, weights=auc.rows, minlength=size).reshape(gc.n_groups, 2, U)
    wtd = rows if auc.weighted is auc.rows else np.bincount(cell, weights=auc.weighted, minlength=size).reshape(gc.n_groups, 2, U)
    return rows, wtd, len(keys) > max_bins


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
    level = family_confidence(confidence, int(family))  # every gap's interval; per-group intervals keep confidence
    if cells is None:
        prep = prepare(y_true, y_pred, sensitive, y_score, sample_weight)
        gc = group_counts(prep.y_true, prep.y_pred, prep.sensitive, prep.sample_weight)
        auc = None if prep.y_score is None else score_cells(gc, prep.y_true, prep.y_score, prep.sample_weight)
    else:
        gc, auc = cell_counts(cells)
    view_map = _views(views, gc.names)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    B, P = int(n_boot), int(n_perm)
    notes: list[str] = []
    if B:
        exact = None
        if gc.weight_sd is not None and cells is None:  # small cells: weights resampled exactly, not approximated
            cell_of_row = gc.row_group * 4 + 2 * prep.y_true.astype(np.int64) + prep.y_pred.astype(np.int64)
            exact = small_weighted_cells(cell_of_row, prep.sample_weight, gc.rows.size)
        rows_b, w_b = resample_counts(rng, gc.rows, gc.weighted, gc.weight_sd, B, exact_cells=exact)
        approx = gc.weight_sd is not None and (gc.weight_sd.reshape(-1) > 0)
        if exact:
            approx[list(exact)] = False
        if np.any(approx):
            notes.append(f"Intervals with unequal sample weights resample the weights of cells up to {EXACT_CELL_ROWS} rows "
                         "exactly and use a normal approximation to the resampled weight totals of larger cells.")
    # the permutations get a generator of their own, so adding them left every bootstrap draw as it was
    perm_rng = np.random.default_rng(rng.integers(2**63 - 1)) if P else None
    has_auc = auc is not None
    if has_auc:
        auc_rows, auc_w, binned = _auc_parts(gc, auc, auc_bins)
        if binned and B:
            notes.append(f"ROC AUC intervals resample scores in {auc_bins} equal-mass bins (whole grid cells), re-centred "
                         "on the AUC.")
    metric_names = list(RATE_METRICS) + (["roc_auc"] if has_auc else [])

    layout = {v: _view_layout(gc, feats, min_group_size, include_small_groups) for v, feats in view_map.items()}
    perm_views = _permuted_views(perm_rng, gc, layout, P) if P else {}
    if perm_views and gc.weight_sd is not None and (gc.weight_sd > 0).any():
        notes.append("Permutation tests with unequal sample weights draw permuted weight totals from a normal approximation.")

    groups: dict[str, pd.DataFrame] = {}
    disp_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    single_samples: dict[str, dict[str, _Stat]] = {}
    for vname, feats in view_map.items():
        member, index, count, eligible = layout[vname]
        V = len(index)
        r_pt = aggregate(gc.rows, member, V)
        m_pt = rates(aggregate(gc.weighted, member, V))
        floors = log_floors(r_pt)
        sizes = (rate_sizes(r_pt) if gc.weighted_sq is None
                 else rate_sizes(r_pt, aggregate(gc.weighted_sq, member, V), aggregate(gc.weighted, member, V)))
        m_b: dict[str, np.ndarray] = {}
        if B:
            r_bv = aggregate(rows_b, member, V)
            m_b = rates(aggregate(w_b, member, V)) if gc.weight_sd is not None else rates(r_bv)
            m_b["count"] = r_bv.sum(-1)
        m_p = perm_views.get(vname, {})
        if has_auc:
            m_pt["roc_auc"] = group_auc_vectorised(auc.label, auc.key, member[auc.group], V, auc.weighted)
            if B:
                m_b["roc_auc"] = _auc_draws(rng, auc_rows, auc_w, member, V, r_bv, m_pt["roc_auc"], weighted=gc.weight_sd is not None)
        auc_test = _auc_test(perm_rng, auc_rows, member, eligible, P, notes, vname) if has_auc and m_p else None

        table = pd.DataFrame({"count": count.astype(np.int64), "small": count < min_group_size}, index=index)
        samples = {"count": m_b.get("count"), **{m: m_b.get(m) for m in metric_names}}
        values = {"count": count, **m_pt}
        for m in ["count", *metric_names]:
            if m != "count":
                table[m] = values[m]
            lo, hi = percentile_interval(samples[m], confidence) if B else (np.full(V, np.nan),) * 2
            table[f"{m}_low"], table[f"{m}_high"] = lo, hi
        groups[vname] = table
        notes.extend(_undefined_notes(vname, index, {m: m_pt[m] for m in metric_names}, eligible))
        small = np.flatnonzero(count < min_group_size)
        if len(small):
            listed = ", ".join(f"{short_label(group_label(index[i]))!r} (n={int(count[i])})" for i in small[:8])
            more = f" and {len(small) - 8} more" if len(small) > 8 else ""
            how = "included in" if include_small_groups else "excluded from"
            notes.append(f"{vname}: {len(small)} group(s) under {min_group_size} rows, {how} disparities and gates: {listed}{more}.")

        labels = [group_label(v) for v in index]
        if len(feats) == 1:
            single_samples[vname] = {}
        for d, (kind, comps) in DISPARITIES.items():
            val, which = disparity(d, m_pt, eligible)
            comp = comps[int(which)]
            best, worst = best_worst(m_pt[comp], eligible, direction(comp, positive_is_favorable))
            stat = disparity_stat(d, m_pt, m_b, m_p, eligible, floors, sizes)
            ev = stat.evidence(level)
            disp_rows.append({
                "feature": vname, "disparity": d, "value": ev.plug_in, "corrected": ev.corrected, "low": ev.low,
                "high": ev.high, "p_value": ev.p_value, "metric": comp,
                "best_group": labels[best] if best >= 0 else None, "best_value": m_pt[comp][best] if best >= 0 else np.nan,
                "worst_group": labels[worst] if worst >= 0 else None, "worst_value": m_pt[comp][worst] if worst >= 0 else np.nan,
                "n_groups": int(eligible.sum()),
            })
            if len(feats) == 1:
                single_samples[vname][d] = stat
        for m in metric_names:
            diff, ratio = spread(m_pt[m], eligible)
            hi_g, lo_g = best_worst(m_pt[m], eligible, True)
            row: dict[str, Any] = {"feature": vname, "metric": m}
            dd, rr = spread(m_b[m], eligible) if B else (None, None)
            if m == "roc_auc":
                (pd_, pr_), obs = ((None, None), None) if auc_test is None else auc_test
            else:
                pd_, pr_ = spread(m_p[m], eligible) if m_p else (None, None)
                obs = None
            for k, val, dist, perm in (("difference", diff, dd, pd_), ("ratio", ratio, rr, pr_)):
                stat = _Stat(k, (m,), float(val), dist, perm, _blocks((m,), m_pt, m_b, eligible, floors, k, sizes),
                             observed=None if obs is None else obs[0 if k == "difference" else 1])
                ev = stat.evidence(level)
                row.update({k: ev.plug_in, f"{k}_corrected": ev.corrected, f"{k}_low": ev.low, f"{k}_high": ev.high,
                            f"{k}_p_value": ev.p_value})
            row["max_group"] = labels[hi_g] if hi_g >= 0 else None
            row["max_value"] = m_pt[m][hi_g] if hi_g >= 0 else np.nan
            row["min_group"] = labels[lo_g] if lo_g >= 0 else None
            row["min_value"] = m_pt[m][lo_g] if lo_g >= 0 else np.nan
            gap_rows.append(row)

    disparities = pd.DataFrame(disp_rows).set_index(["feature", "disparity"])
    gaps = pd.DataFrame(gap_rows).set_index(["feature", "metric"])
    for df in (disparities, gaps):
        for c in df.columns:
            if df[c].dtype == object and c not in ("metric", "best_group", "worst_group", "max_group", "min_group"):
                df[c] = df[c].astype(float)
    overall = _overall(single_samples, level, disparities)
    return FairnessAssessment(
        groups=groups, disparities=disparities, gaps=gaps, overall=overall, notes=notes, views=view_map,
        n_boot=B, confidence=confidence, min_group_size=min_group_size, include_small_groups=include_small_groups,
        n_perm=P if perm_views else 0,
    )


def disparity_stat(name: str, m_pt: dict[str, np.ndarray], m_b: dict[str, np.ndarray], m_p: dict[str, np.ndarray],
                   eligible: np.ndarray, floors: dict[str, np.ndarray], sizes: dict[str, np.ndarray] | None = None) -> _Stat:
    """Disparity ``name`` of one view from its group metrics: point ``(V,)``, bootstrap ``(B, V)`` and permuted
    ``(P, V)`` values per metric (empty dicts: none). ``.evidence(confidence)`` gives its :class:`GapEvidence`.
    ``sizes`` (:func:`rate_sizes`) gives the rows behind each rate, so the interval uses Wilson bounds per group.

    This is all :func:`assess_fairness` does per view and disparity; ``bench/gap_simulation.py`` calls it on
    simulated cell counts, so the simulation measures this code and not a copy of it.
    """
    kind, comps = DISPARITIES[name]
    val = disparity(name, m_pt, eligible)[0]
    return _Stat(kind, comps, float(val), disparity(name, m_b, eligible)[0] if m_b else None,
                 disparity(name, m_p, eligible)[0] if m_p else None, _blocks(comps, m_pt, m_b, eligible, floors, kind, sizes))


@dataclass
class _Stat:
    """One gap statistic: plug-in value, bootstrap and permutation distributions, contrast blocks."""

    kind: str  # "difference" or "ratio"
    comps: tuple[str, ...]
    value: float
    dist: np.ndarray | None
    perm: np.ndarray | None
    blocks: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]
    #: the statistic the permutations are compared with when it is not ``value`` (ROC AUC on coarse bins)
    observed: float | None = None

    def evidence(self, confidence: float) -> GapEvidence:
        p = permutation_p_value(self.value if self.observed is None else self.observed, self.perm,
                                larger_is_extreme=self.kind == "difference")
        low, high = _interval(self.kind, self.value, self.blocks, confidence)
        return apply_test(self.value, self.dist, low, high, p, confidence, self.kind)


def _interval(kind: str, value: float, blocks: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]], confidence: float) -> tuple[float, float]:
    """The gap's interval from the contrast band; a ratio's from the band on log values (min/max = exp(-range))."""
    if np.isnan(value) or not blocks or any(b[1] is None for b in blocks):
        return float("nan"), float("nan")
    if kind == "difference":
        return range_interval(blocks, confidence)
    lo_l, hi_l = range_interval(blocks, confidence, log=True)
    low, high = float(np.exp(-hi_l)), float(np.exp(-lo_l))
    return (0.0 if value == 0 else min(low, value)), high


def _blocks(comps: tuple[str, ...], m_pt: dict[str, np.ndarray], m_b: dict[str, np.ndarray], eligible: np.ndarray,
            floors: dict[str, np.ndarray], kind: str,
            sizes: dict[str, np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """(point, draws, rows) of the eligible groups per component metric; a ratio's values floored above 0 for logs.
    ``rows`` is None for a metric that is not a proportion (ROC AUC) or without ``sizes``."""
    out = []
    for c in comps:
        n = sizes[c][eligible] if sizes is not None and c in sizes else None
        pt = m_pt[c][eligible]
        dr = m_b[c][:, eligible] if c in m_b else None
        if kind == "ratio":
            f = floors.get(c, np.full(len(eligible), 1e-3))[eligible]
            pt = np.where(np.isnan(pt), np.nan, np.maximum(pt, f))
            dr = None if dr is None else np.where(np.isnan(dr), np.nan, np.maximum(dr, f))
        out.append((pt, dr, n))
    return out


def rate_sizes(rows: np.ndarray, sq_weights: np.ndarray | None = None, weighted: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Rows behind each rate per group (its stratum's cells, e.g. actual positives for the true positive rate).

    With weights (``weighted`` totals and ``sq_weights`` sums of squared weights per cell) it is Kish's
    effective number ``(sum w)^2 / sum w^2``, which equals the row count for equal weights.

    >>> rate_sizes(np.array([[10.0, 5, 5, 10]]))["true_positive_rate"].tolist()
    [15.0]
    """
    out = {}
    for m, (stratum, _) in PERMUTATION_SCHEMES.items():
        cols = list(stratum)
        if sq_weights is None or weighted is None:
            out[m] = rows[..., cols].sum(axis=-1)
        else:
            w, w2 = weighted[..., cols].sum(axis=-1), sq_weights[..., cols].sum(axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[m] = np.where(w2 > 0, w * w / np.where(w2 > 0, w2, 1.0), 0.0)
    return out


def log_floors(r_pt: np.ndarray) -> dict[str, np.ndarray]:
    """Half a row of each rate's denominator: a group with 0 of 40 positives selected has log rate log(0.5 / 40),
    not -inf, in the ratio's band (the plug-in ratio stays 0 and the interval's lower end is 0)."""
    return {m: 0.5 / np.maximum(den, 1.0) for m, den in rate_sizes(r_pt).items()}


def _view_layout(gc: GroupCounts, feats: tuple[str, ...], min_group_size: int,
                 include_small_groups: bool) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]:
    member, index = gc.view(feats)
    count = aggregate(gc.rows, member, len(index)).sum(-1)
    eligible = np.ones(len(index), bool) if include_small_groups else count >= min_group_size
    return member, index, count, eligible


def _permuted_views(rng: np.random.Generator, gc: GroupCounts,
                    layout: dict[str, tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]], P: int) -> dict[str, dict[str, np.ndarray]]:
    """Every rate of every view under ``P`` joint permutations of the group labels, ``(P, V)`` per metric.

    One permutation of the intersection labels permutes every view's labels at once (consistently, so
    the worst-over-columns statistic has a joint null distribution). Only eligible groups enter a
    statistic, and what they receive does not depend on how the other rows are split, so the draw is
    made on the coarsest partition that keeps every eligible group of every view apart (the other rows
    pooled): a column with 5,000 small groups costs no more than one with two.
    """
    tested = {v: lay for v, lay in layout.items() if lay[3].sum() >= 2}
    if not tested:
        return {}
    key = np.stack([np.where(lay[3][lay[0]], lay[0], -1) for lay in tested.values()], axis=1)
    uniq, part = np.unique(key, axis=0, return_inverse=True)
    part = part.reshape(-1)
    n_part = len(uniq)
    rows = aggregate(gc.rows, part, n_part)
    weighted = aggregate(gc.weighted, part, n_part)
    sd = None
    if gc.weight_sd is not None:  # pool the within-cell weight spread of the merged groups
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(gc.rows > 0, gc.weighted / np.where(gc.rows > 0, gc.rows, 1.0), 0.0)
            sq = aggregate(gc.rows * (gc.weight_sd**2 + mean**2), part, n_part)
            pm = np.where(rows > 0, weighted / np.where(rows > 0, rows, 1.0), 0.0)
            sd = np.sqrt(np.clip(np.where(rows > 0, sq / np.where(rows > 0, rows, 1.0), 0.0) - pm**2, 0.0, None))
    drawn = permuted_rates(rng, rows, weighted, sd, P)
    out: dict[str, dict[str, np.ndarray]] = {}
    for j, (v, (_, index, _, eligible)) in enumerate(tested.items()):
        V = len(index)
        to_view = np.where(uniq[:, j] >= 0, uniq[:, j], V)  # pooled rows go to a dummy group V
        view_rates = {}
        for m, nd in drawn.items():
            agg = aggregate(nd, to_view, V + 1)[:, :V]
            with np.errstate(invalid="ignore", divide="ignore"):
                view_rates[m] = np.where(agg[..., 1] > 0, agg[..., 0] / np.where(agg[..., 1] > 0, agg[..., 1], 1.0), np.nan)
        out[v] = view_rates
    return out


def _auc_test(rng: np.random.Generator, auc_rows: np.ndarray, member: np.ndarray, eligible: np.ndarray, P: int,
              notes: list[str], vname: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[float, float]] | None:
    """Permutation distributions of the ROC AUC difference and ratio of one view (eligible groups, the rest pooled)."""
    E = int(eligible.sum())
    pooled = ~eligible
    n_test = E + int(pooled[member].any())
    if n_test > AUC_TEST_GROUPS:
        notes.append(f"{vname}: no permutation test for the ROC AUC gap ({E} eligible groups; the test handles "
                     f"{AUC_TEST_GROUPS - 1}); its p-value is NaN.")
        return None
    pos_in = np.cumsum(eligible) - 1
    to_test = np.where(eligible[member], pos_in[member], E)
    G, _, U = auc_rows.shape
    counts = aggregate(auc_rows.reshape(G, 1, 2 * U)[:, 0], to_test, E + 1).reshape(E + 1, 2, U)[:n_test]
    observed, permuted = permuted_auc(rng, counts, P)
    keep = np.ones(E, bool)
    diff, ratio = spread(permuted[:, :E], keep)
    od, orat = spread(observed[None, :E], keep)
    return (diff, ratio), (float(od[0]), float(orat[0]))


def _auc_draws(
    rng: np.random.Generator, auc_rows: np.ndarray, auc_w: np.ndarray, member: np.ndarray, V: int,
    r_bv: np.ndarray, exact: np.ndarray, *, weighted: bool,
) -> np.ndarray:
    """Bootstrap AUC per view group, ``(B, V)``; loops over groups, never over resamples."""
    B = r_bv.shape[0]
    out = np.full((B, V), np.nan)
    for v in range(V):
        sel = member == v
        rows = auc_rows[sel].sum(0)  # (2, U)
        if np.isnan(exact[v]):
            continue
        pw = nw = None
        wt = auc_w[sel].sum(0)
        if weighted:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(rows > 0, wt / np.where(rows > 0, rows, 1.0), 0.0)
            pw, nw = mean[1], mean[0]
        n_pos = r_bv[:, v, TP] + r_bv[:, v, FN]
        n_neg = r_bv[:, v].sum(-1) - n_pos
        draws = bootstrap_auc(rng, rows[1], rows[0], n_pos, n_neg, pw, nw)
        out[:, v] = draws + (exact[v] - auc_from_bins(wt[1], wt[0]))
    return out


def _overall(single: dict[str, dict[str, _Stat]], confidence: float, disparities: pd.DataFrame) -> pd.DataFrame:
    """Worst disparity over the single columns (:func:`audit.stats.worst_of`): each column's gap at the
    Bonferroni-adjusted confidence for the number of columns, so the worst-over-columns gate is never weaker
    than the gate on any one column at that level; ``feature`` and the groups name the worst column."""
    feats = list(single)
    level = family_confidence(confidence, len(feats))
    rows = []
    for d, (kind, _) in DISPARITIES.items():
        pick, ev = worst_of([single[f][d].evidence(level) for f in feats], kind) if feats else (-1, None)
        row: dict[str, Any] = {"disparity": d, "value": np.nan, "corrected": np.nan, "low": np.nan, "high": np.nan,
                               "p_value": np.nan, "feature": None, "metric": None, "best_group": None,
                               "best_value": np.nan, "worst_group": None, "worst_value": np.nan, "columns": len(feats),
                               "column_confidence": level}
        if pick >= 0:
            at = disparities.loc[(feats[pick], d)]
            row.update(value=ev.plug_in, corrected=ev.corrected, low=ev.low, high=ev.high, p_value=ev.p_value,
                       feature=feats[pick], **{k: at[k] for k in ("metric", "best_group", "best_value", "worst_group",
                                                                    "worst_value")})
        rows.append(row)
    return pd.DataFrame(rows).set_index("disparity")
