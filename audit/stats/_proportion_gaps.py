"""Evidence about the gap in a share of rows (accuracy under attack, conformal coverage) between groups.

The share of rows that are "correct" (still classified correctly after an attack, inside their prediction
interval) per group of each sensitive column, and the gap between the largest and smallest share, under the
gap rule every gap follows (:mod:`audit.stats._gaps`): a bias-corrected estimate, an interval from the
groups' Wilson bounds that covers every pairwise contrast at once, and a permutation test of "no gap"; the
worst over columns by :func:`audit.stats.worst_of`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from audit.stats._gaps import (
    GapEvidence,
    apply_test,
    family_confidence,
    permutation_p_value,
    range_interval,
    worst_of,
)
from audit.stats._permutations import split_counts


def proportion_gaps(
    correct: np.ndarray,
    codes: list[np.ndarray],
    levels: list[pd.Index],
    columns: list[str],
    *,
    min_group_size: int,
    n_boot: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Evidence about the gap in the share of "correct" rows between the groups of each column, and the largest over
    columns.

    ``correct`` marks the rows that count (still classified correctly, inside their interval); ``codes[i]`` holds each row's group in column
    ``i`` (``levels[i]`` names them). Resamples redraw each intersection cell's correct rows as
    ``Binomial(n_cell, share)`` (group sizes fixed, the same draw for every column); permutations redraw
    which rows are correct within each column's large groups (hypergeometric counts, no loop over rows).

    Returns one dict per column (``gap``, ``plug_in``, ``low``, ``high``, ``p_value``, ``best_group``,
    ``worst_group``, ``n_groups``) and one for the largest gap over columns (with its ``column``).

    Examples
    --------
    Two groups of 200 rows with accuracies 0.70 and 0.55: the gap 0.15 is found and its interval excludes 0.

    >>> correct = np.r_[np.arange(200) < 140, np.arange(200) < 110]
    >>> per_col, worst = proportion_gaps(correct, [np.repeat([0, 1], 200)], [pd.Index(["a", "b"])], ["g"],
    ...                                min_group_size=30, n_boot=500, rng=np.random.default_rng(0))
    >>> round(per_col[0]["plug_in"], 2), per_col[0]["low"] > 0, per_col[0]["p_value"] < 0.05
    (0.15, True, True)
    """
    correct = np.asarray(correct, dtype=bool)
    B = int(n_boot)
    if not codes:  # no sensitive column: no groups, no gap
        return [], {"column": None, "gap": math.nan, "plug_in": math.nan, "low": math.nan, "high": math.nan,
                    "p_value": math.nan}
    # intersection cells: one binomial per cell and resample keeps every column's draws consistent
    cell, cell_index = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    cell_index = np.asarray(cell_index).reshape(-1)
    n_cell = np.bincount(cell_index, minlength=len(cell)).astype(np.int64)
    k_cell = np.bincount(cell_index, weights=correct.astype(float), minlength=len(cell))
    k_cell_b = rng.binomial(n_cell[None, :], np.where(n_cell > 0, k_cell / np.maximum(n_cell, 1), 0.0)[None, :],
                            size=(B, len(cell))) if B else None
    perm_rng = np.random.default_rng(rng.integers(2**63 - 1)) if B else None
    per_col: list[dict[str, object]] = []
    blocks, dists, perms, plugs, gapped = [], [], [], [], []
    for i, (lv, col) in enumerate(zip(levels, columns)):
        G = len(lv)
        n = np.bincount(cell[:, i], weights=n_cell, minlength=G)
        k = np.bincount(cell[:, i], weights=k_cell, minlength=G)
        big = n >= min_group_size
        entry: dict[str, object] = {"n_groups": int(big.sum())}
        if big.sum() < 2:
            entry.update(gap=math.nan, plug_in=math.nan, low=math.nan, high=math.nan, p_value=math.nan,
                         best_group="", worst_group="")
            per_col.append(entry)
            continue
        acc = k[big] / n[big]
        names = lv[big]
        plug = float(acc.max() - acc.min())
        dist = perm = draws = None
        if B:
            kb = np.zeros((B, G))
            for g in range(G):  # per-group totals of the resampled cells
                kb[:, g] = k_cell_b[:, cell[:, i] == g].sum(axis=1)
            draws = kb[:, big] / n[big]
            dist = draws.max(axis=1) - draws.min(axis=1)
            kp = split_counts(perm_rng, n[big].astype(np.int64), int(round(k[big].sum())), B) / n[big]
            perm = kp.max(axis=1) - kp.min(axis=1)
        low, high = range_interval([(acc, draws, n[big])], confidence) if B else (math.nan, math.nan)
        ev = apply_test(plug, dist, low, high, permutation_p_value(plug, perm), confidence, "difference")
        entry.update(_evidence(ev), best_group=str(names[acc.argmax()]), worst_group=str(names[acc.argmin()]))
        per_col.append(entry)
        blocks.append((acc, draws, n[big]))
        dists.append(dist)
        perms.append(perm)
        plugs.append(plug)
        gapped.append(col)
    if not plugs:
        return per_col, {"column": None, "gap": math.nan, "plug_in": math.nan, "low": math.nan, "high": math.nan,
                         "p_value": math.nan}
    if B:  # the worst column: each column's gap at the Bonferroni level for the columns (audit.stats.worst_of)
        level = family_confidence(confidence, len(plugs))
        evs = [apply_test(plug, dist, *range_interval([block], level), permutation_p_value(plug, perm), level, "difference")
               for plug, dist, perm, block in zip(plugs, dists, perms, blocks)]
        pick, ev = worst_of(evs, "difference")
        pick = pick if pick >= 0 else int(np.argmax(plugs))
    else:
        pick = int(np.argmax(plugs))
        ev = GapEvidence(plugs[pick], plugs[pick], math.nan, math.nan, math.nan)
    worst = per_col[columns.index(gapped[pick])]
    return per_col, {"column": gapped[pick], **_evidence(ev), "best_group": worst["best_group"],
                     "worst_group": worst["worst_group"]}


def _evidence(ev: GapEvidence) -> dict[str, float]:
    return {"gap": ev.corrected, "plug_in": ev.plug_in, "low": ev.low, "high": ev.high, "p_value": ev.p_value}
