"""Resampled and permuted group metrics of the fairness engine, computed once and shared by every view.

The groups of each view (:func:`view_layout`), the score cells of the ROC AUC (:func:`auc_parts`), the
bootstrap AUC per view group (:func:`auc_draws`), the joint permutation of every view's group labels
(:func:`permuted_views`) and the ROC AUC permutation test (:func:`auc_test`) of
:func:`audit.fairness.assess_fairness`; the draws themselves come from :mod:`audit.stats._permutations`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.fairness._counts import FN, TP, GroupCounts, ScoreCells, aggregate
from audit.fairness._spread import spread
from audit.stats import auc_bins as cell_bins
from audit.stats import auc_from_bins, bootstrap_auc
from audit.stats import AUC_TEST_GROUPS, permuted_auc, permuted_rates


def auc_parts(gc: GroupCounts, auc: ScoreCells, max_bins: int) -> tuple[np.ndarray, np.ndarray, bool]:
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


def view_layout(gc: GroupCounts, feats: tuple[str, ...], min_group_size: int,
                 include_small_groups: bool) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]:
    """Group of each intersection cell in the view, the view's group index, rows per group, which groups are eligible."""
    member, index = gc.view(feats)
    count = aggregate(gc.rows, member, len(index)).sum(-1)
    eligible = np.ones(len(index), bool) if include_small_groups else count >= min_group_size
    return member, index, count, eligible


def permuted_views(rng: np.random.Generator, gc: GroupCounts,
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


def auc_test(rng: np.random.Generator, auc_rows: np.ndarray, member: np.ndarray, eligible: np.ndarray, P: int,
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


def auc_draws(
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
