"""The fairness engine: group metrics, disparities and bootstrap intervals for every view at once.

One multinomial draw of the intersection cells per resample is shared by every view (each sensitive
column, the intersection, any extra view), so a resample is consistent across views and the
"worst over columns" statistics have a proper joint interval.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.fairness._bootstrap import percentile_interval, resample_counts
from audit.fairness._counts import FN, RATE_METRICS, TP, GroupCounts, aggregate, group_counts, rates
from audit.fairness._inputs import prepare
from audit.fairness._roc import auc_from_bins, bootstrap_auc, group_auc, score_bins
from audit.fairness._spread import DISPARITIES, best_worst, direction, disparity, spread
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
        Index ``(feature, disparity)``: ``value``, ``low``, ``high``, ``metric`` (the group metric that
        decides it), ``best_group``, ``best_value``, ``worst_group``, ``worst_value``, ``n_groups``.
    gaps : DataFrame
        Index ``(feature, metric)``: ``difference`` (max - min over groups), ``ratio`` (min / max), their
        intervals, and the groups with the highest and lowest value.
    overall : DataFrame
        Index ``disparity``: the worst value over the single sensitive columns (largest difference,
        smallest ratio), its interval (the worst over columns in each resample) and ``feature``.
    notes : list of str
        Small groups, undefined metrics, approximations.
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


def group_label(value: Any) -> str:
    """A group's display label: ``"a"`` or ``"a, b"`` for an intersection."""
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


def _auc_parts(gc: GroupCounts, y: np.ndarray, score: np.ndarray, w: np.ndarray | None, max_bins: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row and weighted counts per (intersection group, label, score bin)."""
    bins = score_bins(score, max_bins)
    U = int(bins.max()) + 1
    cell = (gc.row_group * 2 + y) * U + bins
    size = gc.n_groups * 2 * U
    rows = np.bincount(cell, minlength=size).reshape(gc.n_groups, 2, U).astype(np.float64)
    wtd = rows if w is None else np.bincount(cell, weights=w, minlength=size).reshape(gc.n_groups, 2, U)
    return rows, wtd, len(np.unique(score)) > max_bins


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
        Interval coverage (percentile bootstrap).
    seed : int or Generator
        Same seed, same intervals.
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
        Maximum number of score bins for the ROC AUC bootstrap.

    Returns
    -------
    FairnessAssessment

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y, p = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    >>> g = np.where(rng.random(400) < 0.5, "a", "b")
    >>> res = assess_fairness(y, p, g, n_boot=200, seed=1)
    >>> row = res.disparities.loc[("sensitive_feature_0", "demographic_parity_difference")]
    >>> bool(row["low"] <= row["value"] <= row["high"])
    True
    """
    if not (0 < confidence < 1):
        raise AuditInputError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise AuditInputError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if min_group_size < 0:
        raise AuditInputError(f"min_group_size must be >= 0, got {min_group_size!r}")
    prep = prepare(y_true, y_pred, sensitive, y_score, sample_weight)
    gc = group_counts(prep.y_true, prep.y_pred, prep.sensitive, prep.sample_weight)
    view_map = _views(views, gc.names)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    B = int(n_boot)
    notes: list[str] = []
    if B:
        rows_b, w_b = resample_counts(rng, gc.rows, gc.weighted, gc.weight_sd, B)
        if gc.weight_sd is not None and (gc.weight_sd > 0).any():
            notes.append("Intervals with unequal sample weights use a normal approximation to resampled weight totals.")
    has_auc = prep.y_score is not None
    if has_auc:
        auc_rows, auc_w, binned = _auc_parts(gc, prep.y_true, prep.y_score, prep.sample_weight, auc_bins)
        if binned and B:
            notes.append(f"ROC AUC intervals resample scores in {auc_bins} quantile bins, re-centred on the exact AUC.")
    metric_names = list(RATE_METRICS) + (["roc_auc"] if has_auc else [])

    groups: dict[str, pd.DataFrame] = {}
    disp_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    single_samples: dict[str, dict[str, tuple[float, np.ndarray | None]]] = {}
    for vname, feats in view_map.items():
        member, index = gc.view(feats)
        V = len(index)
        r_pt = aggregate(gc.rows, member, V)
        count = r_pt.sum(-1)
        m_pt = rates(aggregate(gc.weighted, member, V))
        eligible = np.ones(V, bool) if include_small_groups else count >= min_group_size
        m_b: dict[str, np.ndarray] = {}
        if B:
            r_bv = aggregate(rows_b, member, V)
            m_b = rates(aggregate(w_b, member, V)) if gc.weight_sd is not None else rates(r_bv)
            m_b["count"] = r_bv.sum(-1)
        if has_auc:
            m_pt["roc_auc"] = group_auc(prep.y_true, prep.y_score, member[gc.row_group], V, prep.sample_weight)
            if B:
                m_b["roc_auc"] = _auc_draws(rng, auc_rows, auc_w, member, V, r_bv, m_pt["roc_auc"], weighted=gc.weight_sd is not None)

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
            dist = disparity(d, m_b, eligible)[0] if B else None
            lo, hi = percentile_interval(dist, confidence) if B else (np.nan, np.nan)
            disp_rows.append({
                "feature": vname, "disparity": d, "value": float(val), "low": float(lo), "high": float(hi), "metric": comp,
                "best_group": labels[best] if best >= 0 else None, "best_value": m_pt[comp][best] if best >= 0 else np.nan,
                "worst_group": labels[worst] if worst >= 0 else None, "worst_value": m_pt[comp][worst] if worst >= 0 else np.nan,
                "n_groups": int(eligible.sum()),
            })
            if len(feats) == 1:
                single_samples[vname][d] = (float(val), dist)
        for m in metric_names:
            diff, ratio = spread(m_pt[m], eligible)
            hi_g, lo_g = best_worst(m_pt[m], eligible, True)
            row: dict[str, Any] = {"feature": vname, "metric": m, "difference": float(diff)}
            dd, rr = spread(m_b[m], eligible) if B else (None, None)
            row["difference_low"], row["difference_high"] = percentile_interval(dd, confidence) if B else (np.nan, np.nan)
            row["ratio"] = float(ratio)
            row["ratio_low"], row["ratio_high"] = percentile_interval(rr, confidence) if B else (np.nan, np.nan)
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
    overall = _overall(single_samples, confidence, B)
    return FairnessAssessment(
        groups=groups, disparities=disparities, gaps=gaps, overall=overall, notes=notes, views=view_map,
        n_boot=B, confidence=confidence, min_group_size=min_group_size, include_small_groups=include_small_groups,
    )


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


def _overall(single: dict[str, dict[str, tuple[float, np.ndarray | None]]], confidence: float, B: int) -> pd.DataFrame:
    rows = []
    for d, (kind, _) in DISPARITIES.items():
        feats = list(single)
        vals = np.array([single[f][d][0] for f in feats])
        if not len(feats) or np.isnan(vals).all():
            rows.append({"disparity": d, "value": np.nan, "low": np.nan, "high": np.nan, "feature": None})
            continue
        pick = int(np.nanargmax(vals) if kind == "difference" else np.nanargmin(vals))
        lo = hi = np.nan
        if B:
            stack = np.stack([single[f][d][1] for f in feats])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                worst = np.nanmax(stack, axis=0) if kind == "difference" else np.nanmin(stack, axis=0)
            lo, hi = percentile_interval(worst, confidence)
        rows.append({"disparity": d, "value": float(vals[pick]), "low": float(lo), "high": float(hi), "feature": feats[pick]})
    return pd.DataFrame(rows).set_index("disparity")
