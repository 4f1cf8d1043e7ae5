"""The gap statistic of one view: plug-in value, bootstrap and permutation draws, and its interval and test.

:func:`disparity_stat` is all :func:`audit.fairness.assess_fairness` does per view and disparity, and
``bench/gap_simulation.py`` calls it on simulated cell counts; :func:`rate_sizes` and :func:`log_floors`
give the rows behind each rate (Wilson bounds) and the floors of a ratio's log band; :func:`overall_table`
takes the worst disparity over the single sensitive columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.fairness._spread import DISPARITIES, disparity
from audit.stats import GapEvidence, apply_test, family_confidence, permutation_p_value, range_interval, worst_of
from audit.stats import PERMUTATION_SCHEMES


def disparity_stat(name: str, m_pt: dict[str, np.ndarray], m_b: dict[str, np.ndarray], m_p: dict[str, np.ndarray],
                   eligible: np.ndarray, floors: dict[str, np.ndarray], sizes: dict[str, np.ndarray] | None = None) -> GapStat:
    """Disparity ``name`` of one view from its group metrics: point ``(V,)``, bootstrap ``(B, V)`` and permuted
    ``(P, V)`` values per metric (empty dicts: none). ``.evidence(confidence)`` gives its :class:`GapEvidence`.
    ``sizes`` (:func:`rate_sizes`) gives the rows behind each rate, so the interval uses Wilson bounds per group.

    This is all :func:`assess_fairness` does per view and disparity; ``bench/gap_simulation.py`` calls it on
    simulated cell counts, so the simulation measures this code and not a copy of it.
    """
    kind, comps = DISPARITIES[name]
    val = disparity(name, m_pt, eligible)[0]
    return GapStat(kind, comps, float(val), disparity(name, m_b, eligible)[0] if m_b else None,
                   disparity(name, m_p, eligible)[0] if m_p else None, gap_blocks(comps, m_pt, m_b, eligible, floors, kind, sizes))


@dataclass
class GapStat:
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
        low, high = gap_interval(self.kind, self.value, self.blocks, confidence)
        return apply_test(self.value, self.dist, low, high, p, confidence, self.kind)


def gap_interval(kind: str, value: float, blocks: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]], confidence: float) -> tuple[float, float]:
    """The gap's interval from the contrast band; a ratio's from the band on log values (min/max = exp(-range))."""
    if np.isnan(value) or not blocks or any(b[1] is None for b in blocks):
        return float("nan"), float("nan")
    if kind == "difference":
        return range_interval(blocks, confidence)
    lo_l, hi_l = range_interval(blocks, confidence, log=True)
    low, high = float(np.exp(-hi_l)), float(np.exp(-lo_l))
    return (0.0 if value == 0 else min(low, value)), high


def gap_blocks(comps: tuple[str, ...], m_pt: dict[str, np.ndarray], m_b: dict[str, np.ndarray], eligible: np.ndarray,
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


def overall_table(single: dict[str, dict[str, GapStat]], confidence: float, disparities: pd.DataFrame) -> pd.DataFrame:
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
