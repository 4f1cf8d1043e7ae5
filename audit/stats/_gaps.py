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

from audit.stats._auc import auc_from_bins

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


def split_counts(rng: np.random.Generator, colors: np.ndarray, hits: int, n_perm: int) -> np.ndarray:
    """How ``hits`` marked rows fall on groups of sizes ``colors`` when group labels are permuted.

    A uniformly random permutation of group labels over ``colors.sum()`` rows gives each group a
    uniformly random subset of rows, so the marked rows a group receives are jointly multivariate
    hypergeometric: ``(n_perm, G)`` counts in one C-level call, no loop over permutations.

    Examples
    --------
    >>> k = split_counts(np.random.default_rng(0), np.array([30, 70]), 40, 5000)
    >>> bool((k.sum(axis=1) == 40).all()), round(float(k[:, 0].mean()), 1)  # 40 * 30 / 100 on average
    (True, 12.0)
    """
    colors = np.asarray(colors, dtype=np.int64)
    out = np.zeros((n_perm, len(colors)), dtype=np.int64)
    if hits <= 0 or colors.sum() == 0:
        return out
    return rng.multivariate_hypergeometric(colors, int(hits), size=n_perm, method="marginals")


def split_cells(rng: np.random.Generator, counts: np.ndarray, n_perm: int) -> np.ndarray:
    """Permuted group x cell counts: ``counts`` ``(G, C)`` rows per group and cell -> ``(n_perm, G, C)``.

    Each group in turn draws its rows, without replacement, from what the earlier groups left: one
    hypergeometric draw per (group, cell) vectorised over permutations, ``(G - 1) (C - 1)`` calls in
    all. Row totals per group and per cell are kept exactly; this is a uniform random permutation of
    the group labels, expressed in cell counts.

    Examples
    --------
    >>> c = np.array([[5, 0, 3], [1, 4, 2]])
    >>> d = split_cells(np.random.default_rng(1), c, 4)
    >>> d.sum(axis=2).tolist() == [[8, 7]] * 4, d.sum(axis=1).tolist() == [[6, 4, 5]] * 4
    (True, True)
    """
    counts = np.asarray(counts, dtype=np.int64)
    G, C = counts.shape
    out = np.zeros((n_perm, G, C), dtype=np.int64)
    rem = np.broadcast_to(counts.sum(axis=0), (n_perm, C)).copy()
    for g in range(G - 1):
        need = np.full(n_perm, counts[g].sum(), dtype=np.int64)
        others = rem.sum(axis=1)
        for c in range(C - 1):
            others = others - rem[:, c]
            x = rng.hypergeometric(rem[:, c], others, need) if need.any() else np.zeros(n_perm, np.int64)
            out[:, g, c] = x
            need = need - x
        out[:, g, C - 1] = need
        rem -= out[:, g]
    out[:, G - 1] = rem
    return out


#: which rows each rate's permutation test moves between groups, as cells of (tn, fp, fn, tp):
#: metric -> (stratum cells: the rows the metric is computed on, hit cells: its numerator). The group
#: labels are permuted inside the stratum only, so a conditional rate (true positive rate among actual
#: positives) is compared with groups that keep their own numbers of positives; an unconditional
#: permutation would let a group with few positives look noisy by chance, and the test would be too
#: liberal when base rates differ.
PERMUTATION_SCHEMES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "selection_rate": ((0, 1, 2, 3), (1, 3)),
    "accuracy": ((0, 1, 2, 3), (0, 3)),
    "true_positive_rate": ((2, 3), (3,)),
    "false_negative_rate": ((2, 3), (2,)),
    "false_positive_rate": ((0, 1), (1,)),
    "true_negative_rate": ((0, 1), (0,)),
    "precision": ((1, 3), (3,)),
}
#: metrics read off the same permutation as another (the complement of its numerator in the same stratum)
_COMPLEMENT = {"false_negative_rate": "true_positive_rate", "true_negative_rate": "false_positive_rate"}


def permuted_rates(
    rng: np.random.Generator,
    rows: np.ndarray,
    weighted: np.ndarray,
    weight_sd: np.ndarray | None,
    n_perm: int,
) -> dict[str, np.ndarray]:
    """Numerator and denominator of every rate under ``n_perm`` permutations of the group labels.

    Parameters
    ----------
    rows, weighted : ndarray, shape (G, 4)
        Row and weighted counts of (tn, fp, fn, tp) per group.
    weight_sd : ndarray or None, shape (G, 4)
        Standard deviation of the weights per cell (None: unweighted).

    Returns
    -------
    dict
        Metric -> ``(n_perm, G, 2)`` array of (numerator, denominator); a rate is their ratio. The
        denominators of a stratified metric are fixed (row counts) or, with weights, redrawn.

    Notes
    -----
    With weights, ``k`` permuted rows of a pooled cell carry a weight total drawn as
    ``k * mean + sqrt(k * (N - k) / (N - 1)) * sd * Z`` (the normal approximation to a sum drawn
    without replacement, exact in mean and variance), as the bootstrap does for resampled totals.

    Examples
    --------
    >>> rows = np.array([[10.0, 5, 5, 10], [10, 5, 5, 10]])
    >>> out = permuted_rates(np.random.default_rng(0), rows, rows, None, 3)
    >>> out["true_positive_rate"][:, :, 1].tolist()  # positives per group never move
    [[15.0, 15.0], [15.0, 15.0], [15.0, 15.0]]
    """
    rows = np.asarray(rows, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for metric, (stratum, hit) in PERMUTATION_SCHEMES.items():
        if metric in _COMPLEMENT:
            continue
        colors = rows[:, list(stratum)].sum(axis=1)
        hits_total = rows[:, list(hit)].sum()
        k = split_counts(rng, np.rint(colors).astype(np.int64), int(round(hits_total)), n_perm).astype(np.float64)
        rest = colors - k
        if weight_sd is None:
            num, den = k, np.broadcast_to(colors, k.shape).astype(np.float64)
            rest_w = rest
        else:
            miss = tuple(c for c in stratum if c not in hit)
            num = _weighted_total(rng, k, rows, weighted, weight_sd, hit)
            rest_w = _weighted_total(rng, rest, rows, weighted, weight_sd, miss)
            den = num + rest_w
        out[metric] = np.stack([num, den], axis=-1)
        for comp, base in _COMPLEMENT.items():
            if base == metric:
                out[comp] = np.stack([rest_w if weight_sd is not None else rest, den], axis=-1)
    return {m: out[m] for m in PERMUTATION_SCHEMES}


def _weighted_total(rng: np.random.Generator, k: np.ndarray, rows: np.ndarray, weighted: np.ndarray,
                    weight_sd: np.ndarray, cells: tuple[int, ...]) -> np.ndarray:
    """Weight total of ``k`` rows drawn without replacement from the pooled ``cells`` of all groups."""
    cols = list(cells)
    N = rows[:, cols].sum()
    if N <= 0:
        return np.zeros_like(k)
    W = weighted[:, cols].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gc = np.where(rows[:, cols] > 0, weighted[:, cols] / np.where(rows[:, cols] > 0, rows[:, cols], 1.0), 0.0)
    W2 = (rows[:, cols] * (weight_sd[:, cols] ** 2 + mean_gc**2)).sum()
    m = W / N
    sd = float(np.sqrt(max(W2 / N - m * m, 0.0)))
    fpc = np.clip(k * (N - k) / max(N - 1.0, 1.0), 0.0, None)
    return np.clip(k * m + np.sqrt(fpc) * sd * rng.standard_normal(k.shape), 0.0, None)


#: score bins of the ROC AUC permutation test (pooled quantiles of the fine bootstrap bins): each
#: permutation costs (groups - 1) x (bins - 1) hypergeometric draws per label
AUC_TEST_BINS = 32
#: most groups (eligible ones plus one for the rest) a ROC AUC permutation test handles
AUC_TEST_GROUPS = 30


def permuted_auc(rng: np.random.Generator, counts: np.ndarray, n_perm: int,
                 max_bins: int = AUC_TEST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC per group on coarse score bins, observed and under ``n_perm`` label-stratified permutations.

    ``counts`` has shape ``(G, 2, U)``: rows per group, label (negative, positive) and ordered score
    bin. Bins are merged into at most ``max_bins`` of about equal pooled mass; group labels are
    permuted among the positives and, separately, among the negatives (:func:`split_cells`), so every
    group keeps its numbers of positives and negatives. Returns ``(observed (G,), permuted (n_perm, G))``;
    both use the same coarse bins, so comparing them is a valid test even though the reported AUC
    is exact.

    Examples
    --------
    >>> c = np.zeros((2, 2, 4)); c[:, 0] = [5, 4, 1, 0]; c[:, 1] = [0, 1, 4, 5]
    >>> obs, perm = permuted_auc(np.random.default_rng(0), c, 200)
    >>> obs.round(2).tolist(), perm.shape
    ([0.95, 0.95], (200, 2))
    """

    counts = np.asarray(counts, dtype=np.float64)
    mass = counts.sum(axis=(0, 1))
    keep = mass > 0
    counts, mass = counts[..., keep], mass[keep]
    U = len(mass)
    if U > max_bins:
        mid = np.cumsum(mass) - mass / 2
        coarse = np.minimum((mid / mass.sum() * max_bins).astype(np.int64), max_bins - 1)
        merged = np.zeros(counts.shape[:2] + (max_bins,))
        np.add.at(merged, (slice(None), slice(None), coarse), counts)
        counts = merged[..., merged.sum(axis=(0, 1)) > 0]
    observed = auc_from_bins(counts[:, 1], counts[:, 0])
    neg = split_cells(rng, np.rint(counts[:, 0]).astype(np.int64), n_perm).astype(np.float64)
    pos = split_cells(rng, np.rint(counts[:, 1]).astype(np.int64), n_perm).astype(np.float64)
    return observed, auc_from_bins(pos, neg)
