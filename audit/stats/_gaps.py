"""Evidence about a gap between groups: a bias-corrected estimate, an interval that covers, a permutation test.

A gap is the largest difference of one metric between groups (``max - min``, fairlearn's
``difference``), the smallest ratio (``min / max``), or the worst of several such gaps (equalized
odds, the worst sensitive column). Three things go wrong with the plain estimate and its percentile
interval, and this module fixes each:

Bias
    ``max - min`` of noisy group values is biased upward: with two equal groups of ``n`` rows and
    a rate near 0.5 the expected plug-in difference is ``sqrt(2 / pi) * sqrt(0.5 / n)``, 0.10 at
    ``n = 30``, although the true gap is 0. :func:`bias_corrected` subtracts the bias the bootstrap
    measures (``2 * plug_in - mean(bootstrap)``, Efron & Tibshirani 1993, 10.6); the simulation
    (``tests/test_gap_statistics.py``, ``bench/gap_simulation.py``) reports what is left.

An interval that covers
    A percentile interval of a biased statistic can lie above the estimate and excludes 0 for
    equal groups. :func:`range_interval` instead bounds every pairwise contrast ``m_g - m_h`` at
    once (a max-|t| band: the ``confidence`` quantile of the largest standardised bootstrap
    deviation over all contrasts), and turns the band into bounds on the gap: if every contrast
    lies in its band, then ``max_k |c_k|`` lies in ``[max_k (|c_k| - q s_k), max_k (|c_k| + q s_k)]``.
    That holds at a gap of 0, where the percentile interval fails. For rates (proportions of known
    row counts) each contrast's band is built from the two groups' Wilson score intervals at the
    band's critical value (MOVER: Newcombe's interval for a difference of proportions), because a
    symmetric ``c -+ q s`` band covered only 83-92% when a 30-row group with a rate near 0 or 1 was
    compared with a large one (``bench/gap_simulation.py --unequal``).

A test of "no gap"
    :func:`split_counts` redraws which rows belong to which group (group labels permuted, within
    strata where the metric is conditional: true positive rate among actual positives, precision
    among predicted positives) directly as cell counts: the number of "hits" a group receives under
    a random permutation is multivariate hypergeometric, so no loop over permutations or rows is
    needed. :func:`permutation_p_value` compares the observed gap with its permutation distribution.
    The test is exact for unweighted counts (up to the Monte-Carlo error of the permutations).
    The draws live in :mod:`audit.stats._permutations` (importable from here as before).

The gate reads the interval: :func:`apply_test` sets the lower end of a difference to 0 (the upper
end of a ratio to 1) when the permutation test does not reject "no gap" at ``1 - confidence``, so
the interval and the test never contradict each other, and the estimate is clipped into its own
interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from audit.stats._permutations import (  # noqa: F401  (moved there; importable here as before)
    AUC_TEST_BINS,
    AUC_TEST_GROUPS,
    PERMUTATION_SCHEMES,
    permuted_auc,
    permuted_rates,
    split_cells,
    split_counts,
)

#: up to this many groups the band covers every pairwise contrast (``G (G - 1) / 2`` of them); beyond
#: it each group gets its own band and the gap is bounded by ``max U - min L`` (wider, still valid),
#: so 5,000 groups cost ``O(G)`` instead of 12.5 million contrasts per resample
MAX_PAIR_GROUPS = 60
#: contrasts evaluated per chunk (bounds the ``resamples x contrasts`` temporaries to ~8 MB at 1,000 resamples)
_CHUNK = 1000


@dataclass(frozen=True)
class GapEvidence:
    """What is known about one gap.

    Attributes
    ----------
    plug_in : float
        The plain estimate (fairlearn's value for a disparity).
    corrected : float
        The bias-corrected estimate, clipped into ``[low, high]`` (a difference is never below 0, a
        ratio never above 1). Equal to ``plug_in`` without bootstrap resamples.
    low, high : float
        The interval (NaN without resamples).
    p_value : float
        Permutation test of "no gap" (NaN without permutations).
    """

    plug_in: float
    corrected: float
    low: float
    high: float
    p_value: float


def _nan_stats(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(draws, axis=0), np.nanstd(draws, axis=0)


def range_interval(
    blocks: list[tuple[np.ndarray, np.ndarray | None] | tuple[np.ndarray, np.ndarray | None, np.ndarray | None]],
    confidence: float,
    *,
    log: bool = False,
    debias: bool = False,
) -> tuple[float, float]:
    """Simultaneous bounds on the largest pairwise difference over several blocks of groups.

    Parameters
    ----------
    blocks : list of (point, draws) or (point, draws, n)
        ``point`` has shape ``(G,)`` (one value per eligible group, NaN where undefined) and
        ``draws`` shape ``(B, G)`` (bootstrap resamples of the same values). The gap bounded is
        ``max over blocks of (max - min over the block's groups)``: one block for a difference,
        two for equalized odds (true and false positive rates), one per column for the worst column.
        ``n`` (optional, shape ``(G,)``) marks the values as proportions of ``n`` rows (an effective
        number with weights): each group then gets a Wilson score interval at the band's critical
        value and a contrast's bounds are combined from them (MOVER, Newcombe 1998 / Zou & Donner
        2008) instead of ``contrast -+ q * bootstrap sd``. The symmetric band under-covers when a
        small group's rate is near 0 or 1 (a 30-row group with 15 of 15 positives found has a
        bootstrap sd of 0); the Wilson bounds do not.
    confidence : float
        Joint coverage of the band.
    log : bool
        Bound the range of ``log(value)``, i.e. a ratio ``min / max = exp(-range)``; values must be
        floored above 0 by the caller.
    debias : bool
        Centre each contrast on its bias-corrected value ``2 c - mean(c*)`` (for statistics that are
        biased group by group, like the ECE); rates are unbiased and use ``c`` itself.

    Returns
    -------
    (low, high) : floats
        Bounds on the range (of ``log`` values when ``log``); NaN when no block has two defined groups.

    Examples
    --------
    Two groups whose values are 0.1 apart, each known to about +-0.01:

    >>> rng = np.random.default_rng(0)
    >>> point = np.array([0.5, 0.4])
    >>> draws = point + rng.normal(0, 0.01, (4000, 2))
    >>> lo, hi = range_interval([(point, draws)], 0.95)
    >>> round(lo, 2), round(hi, 2)   # 0.1 -+ 1.96 * sqrt(2) * 0.01
    (0.07, 0.13)

    The same gap as proportions of 2,500 rows each (sd 0.01): Wilson bounds give nearly the same band.

    >>> lo, hi = range_interval([(point, draws, np.array([2500, 2500]))], 0.95)
    >>> round(lo, 2), round(hi, 2)
    (0.07, 0.13)
    """
    pieces: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # kind, centre, lower and upper half-widths
    T: np.ndarray | None = None
    wilson: list[tuple[int, np.ndarray, np.ndarray]] = []  # (piece index, point, n): bands set once q is known
    for block in blocks:
        point, draws = block[0], block[1]
        n = block[2] if len(block) > 2 else None
        point = np.asarray(point, dtype=np.float64)
        ok = ~np.isnan(point)
        if ok.sum() < 2 or draws is None:
            continue
        pt = point[ok]
        dr = np.asarray(draws, dtype=np.float64)[:, ok]
        raw = pt
        if log:
            pt, dr = np.log(pt), np.log(dr)
        if T is None:
            T = np.full(dr.shape[0], np.nan)
        if len(pt) <= MAX_PAIR_GROUPS:
            i, j = np.triu_indices(len(pt), 1)
            centres, scales = [], []
            for a in range(0, len(i), _CHUNK):
                ii, jj = i[a:a + _CHUNK], j[a:a + _CHUNK]
                c = pt[ii] - pt[jj]
                cs = dr[:, ii] - dr[:, jj]
                mean, sd = _nan_stats(cs)
                centre = 2 * c - mean if debias else c
                dev = _deviation(cs, mean, sd)
                T = np.fmax(T, dev)
                centres.append(centre)
                scales.append(np.where(sd > 0, sd, 0.0))
            s = np.concatenate(scales)
            pieces.append(("pair", np.concatenate(centres), s, s))
        else:
            mean, sd = _nan_stats(dr)
            centre = 2 * pt - mean if debias else pt
            T = np.fmax(T, _deviation(dr, mean, sd))
            s = np.where(sd > 0, sd, 0.0)
            pieces.append(("group", centre, s, s))
        if n is not None:
            wilson.append((len(pieces) - 1, raw, np.asarray(n, dtype=np.float64)[ok]))
    if not pieces or T is None:
        return float("nan"), float("nan")
    finite = T[~np.isnan(T)]
    q = float(np.quantile(finite, confidence)) if len(finite) else 0.0
    scale = [q] * len(pieces)  # sd half-widths are multiplied by q; Wilson half-widths are already at z
    if wilson:
        # resamples of groups whose rates are 0 or 1 have no spread, so q can be 0: the Wilson bounds take
        # at least the critical value of a single two-sided interval
        z = max(q, NormalDist().inv_cdf(0.5 + confidence / 2))
        for k, raw, n in wilson:
            pieces[k] = _mover_piece(pieces[k][0], raw, n, z, log)
            scale[k] = 1.0
    low, high = 0.0, 0.0
    for (kind, centre, down, up), f in zip(pieces, scale):
        good = ~np.isnan(centre) & ~np.isnan(down) & ~np.isnan(up)
        centre, down, up = centre[good], down[good] * f, up[good] * f
        if not len(centre):
            continue
        lo_c, hi_c = centre - down, centre + up
        if kind == "pair":  # the contrast lies in [lo_c, hi_c]: bound its absolute value
            low = max(low, float(np.max(np.maximum(lo_c, -hi_c))))
            high = max(high, float(np.max(np.maximum(hi_c, -lo_c))))
        else:  # per-group bands: every group inside its band bounds max - min from both sides
            low = max(low, float(lo_c.max() - hi_c.min()))
            high = max(high, float(hi_c.max() - lo_c.min()))
    return max(low, 0.0), high


def _wilson_bounds(p: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score bounds of proportions ``p`` of ``n`` rows at critical value ``z`` (vectorised)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        den = 1 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(np.clip(p * (1 - p), 0.0, None) / n + z * z / (4 * n * n)) / den
    return np.clip(mid - half, 0.0, 1.0), np.clip(mid + half, 0.0, 1.0)


def _mover_piece(kind: str, p: np.ndarray, n: np.ndarray, z: float,
                 log: bool) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Contrast (or per-group) bounds from Wilson intervals of each group (MOVER), as (centre, down, up).

    For ``c = a - b`` with group intervals ``[l_a, u_a]``, ``[l_b, u_b]``:
    ``down = sqrt((a - l_a)^2 + (u_b - b)^2)``, ``up = sqrt((u_a - a)^2 + (b - l_b)^2)``. On the log
    scale (ratios) the same is applied to ``log`` values and ``log`` bounds.
    """
    lo, hi = _wilson_bounds(p, n, z)
    t, tl, th = p, np.minimum(lo, p), np.maximum(hi, p)
    if log:  # p is floored above 0 by the caller, and a Wilson lower bound of p > 0 is > 0
        t, tl, th = np.log(p), np.log(np.maximum(tl, 1e-300)), np.log(th)
    if kind == "group":
        return kind, t, t - tl, th - t
    i, j = np.triu_indices(len(p), 1)
    centre = t[i] - t[j]
    down = np.sqrt((t[i] - tl[i]) ** 2 + (th[j] - t[j]) ** 2)
    up = np.sqrt((th[i] - t[i]) ** 2 + (t[j] - tl[j]) ** 2)
    return kind, centre, down, up


def _deviation(draws: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Largest standardised deviation ``|x* - mean| / sd`` per resample; contrasts without spread count 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, np.abs(draws - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    z = np.where(np.isnan(draws), np.nan, z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(z, axis=1) if z.shape[1] else np.full(z.shape[0], np.nan)


def bias_corrected(plug_in: float, draws: np.ndarray | None) -> float:
    """Bootstrap bias correction ``2 * plug_in - mean(draws)`` (NaN resamples ignored).

    The bootstrap measures the bias ``mean(draws) - plug_in`` of the statistic on resampled data and
    subtracts it once more from the plug-in value. Without draws the plug-in value is returned.

    Examples
    --------
    >>> bias_corrected(0.10, np.array([0.13, 0.15, 0.14]))
    0.06
    """
    if draws is None or np.isnan(plug_in):
        return float(plug_in)
    d = np.asarray(draws, dtype=np.float64)
    d = d[~np.isnan(d)]
    if not len(d):
        return float(plug_in)
    return round(float(2.0 * plug_in - d.mean()), 15)


def permutation_p_value(observed: float, permuted: np.ndarray | None, larger_is_extreme: bool = True) -> float:
    """``(1 + #{permuted at least as extreme}) / (1 + #defined permutations)``.

    The ``+1`` counts the observed labelling as one of the permutations, so the p-value is never 0
    and the test keeps its level exactly (Phipson & Smyth 2010). Ties count as extreme (within 1e-12,
    so a discrete statistic equal to the observed one is not lost to rounding).

    Examples
    --------
    >>> permutation_p_value(0.3, np.array([0.1, 0.3, 0.5, 0.2]))
    0.6
    """
    if permuted is None or np.isnan(observed):
        return float("nan")
    d = np.asarray(permuted, dtype=np.float64)
    d = d[~np.isnan(d)]
    if not len(d):
        return float("nan")
    tol = 1e-12 * max(1.0, abs(observed))
    hits = (d >= observed - tol).sum() if larger_is_extreme else (d <= observed + tol).sum()
    return float((1 + hits) / (1 + len(d)))


def apply_test(plug_in: float, draws: np.ndarray | None, low: float, high: float, p_value: float,
               confidence: float, kind: str) -> GapEvidence:
    """Combine estimate, interval and test into :class:`GapEvidence`.

    ``kind`` is ``"difference"`` (a gap in [0, 1], larger is worse) or ``"ratio"`` (in [0, 1], smaller is
    worse). When the test does not reject "no gap" at level ``1 - confidence`` the interval reaches
    "no gap" (0 for a difference, 1 for a ratio), so an interval never claims a gap the test cannot
    see. The bias-corrected estimate is clipped into the interval and into the statistic's range.

    Examples
    --------
    >>> e = apply_test(0.08, np.array([0.11, 0.12, 0.10]), 0.01, 0.15, p_value=0.3, confidence=0.95, kind="difference")
    >>> e.corrected, e.low, e.high
    (0.05, 0.0, 0.15)
    """
    corrected = bias_corrected(plug_in, draws)
    none_rejected = not (p_value < 1.0 - confidence)  # NaN (no permutations) keeps the band as it is
    # every gap here is a difference of rates, AUCs or ECEs (at most 1) or a ratio (at most 1): a band from a
    # normal approximation can reach past that for tiny groups
    high = min(high, 1.0) if not np.isnan(high) else high
    low = min(low, 1.0) if not np.isnan(low) else low
    if kind == "difference":
        if not np.isnan(p_value) and none_rejected and not np.isnan(low):
            low = 0.0
        corrected = max(corrected, 0.0)
    else:
        if not np.isnan(p_value) and none_rejected and not np.isnan(high):
            high = 1.0
        corrected = min(max(corrected, 0.0), 1.0)
    if not np.isnan(low) and not np.isnan(high):
        corrected = min(max(corrected, low), high)
    return GapEvidence(float(plug_in), float(corrected), float(low), float(high), float(p_value))


def family_confidence(confidence: float, k: int) -> float:
    """The confidence each of ``k`` gaps is computed at so that all ``k`` intervals hold at once (Bonferroni).

    >>> round(family_confidence(0.95, 2), 4), family_confidence(0.95, 1)
    (0.975, 0.95)
    """
    return 1.0 - (1.0 - confidence) / max(int(k), 1)


def worst_of(evidence: list[GapEvidence], kind: str) -> tuple[int, GapEvidence]:
    """The worst of ``k`` gaps (the worst sensitive column, the worst class) and which one it is.

    Each gap's evidence must have been computed at :func:`family_confidence` ``(confidence, k)``. Then
    with probability at least ``confidence`` every true gap lies in its interval, and because the
    largest of several numbers is monotone in each of them, the largest true gap lies in
    ``[max low, max high]`` (a ratio, smallest: ``[min low, min high]``). So the worst-over-``k`` gate
    is never weaker than the gate on any one of them at the adjusted level: its lower end is at least
    every one's lower end. The estimate is the largest (smallest) corrected value, which lies in that
    interval; the p-value of "no gap anywhere" is Bonferroni's ``min(1, k * min p)``. Gaps that are
    undefined (NaN) are left out; the returned index is -1 when every one is.

    Examples
    --------
    A clear gap in one column and a noisy one in another: the worst keeps the clear gap's lower end.

    >>> clear = GapEvidence(0.16, 0.16, 0.14, 0.19, 0.001)
    >>> noisy = GapEvidence(0.20, 0.14, 0.0, 0.31, 0.3)
    >>> i, w = worst_of([clear, noisy], "difference")
    >>> i, w.corrected, w.low, w.high, w.p_value
    (0, 0.16, 0.14, 0.31, 0.002)
    """
    ok = [i for i, e in enumerate(evidence) if not np.isnan(e.corrected)]
    if not ok:
        return -1, GapEvidence(*(float("nan"),) * 5)
    sign = 1.0 if kind == "difference" else -1.0
    pick = max(ok, key=lambda i: (sign * evidence[i].corrected, sign * evidence[i].low))
    pool = max if kind == "difference" else min
    lows = [evidence[i].low for i in ok if not np.isnan(evidence[i].low)]
    highs = [evidence[i].high for i in ok if not np.isnan(evidence[i].high)]
    ps = [evidence[i].p_value for i in ok if not np.isnan(evidence[i].p_value)]
    low = pool(lows) if len(lows) == len(ok) else float("nan")
    high = pool(highs) if len(highs) == len(ok) else float("nan")
    p = min(1.0, len(evidence) * min(ps)) if len(ps) == len(ok) else float("nan")
    return pick, GapEvidence(evidence[pick].plug_in, evidence[pick].corrected, float(low), float(high), float(p))
