"""Intervals for the ECE, and the evidence about the ECE gap between groups, without a loop over resamples.

The top-label ECE only needs, per (group, confidence bin, correct) cell, how many rows a resample holds
and the sum of their confidences. Cell counts under row resampling are jointly multinomial (drawn
directly, as in :mod:`audit.stats`); the confidence sum of ``k`` rows drawn from a cell
is ``k * mean + sqrt(k) * sd * Z``, the normal approximation to a sum of ``k`` draws from that cell,
exact in mean and variance. The overall ECE gets the interval the per-group ECEs get below
(:func:`ece_bounds`), not a percentile interval: the ECE is biased upward and not smooth at 0, so the
percentile interval of a well-calibrated model lay above the ECE itself.

The ECE gap (max - min ECE over groups) gets what every gap gets (:mod:`audit.stats._gaps`):

- a bias-corrected estimate. The ECE of a perfectly calibrated group is above 0 by noise alone, more
  so the smaller the group, so the plug-in gap between a 30-row and a 10,000-row group measures group
  size. Each resample's gap is recomputed on the groups' fixed bins and ``2 * gap - mean(resampled
  gaps)`` removes the bias the bootstrap sees;
- an interval from bounds on every group's true ECE that hold whatever the truth is, 0 included
  (:func:`_noise_interval`: the triangle inequality against the ECE of pure noise from below, a signed
  noise sum from above). Bias correction alone cannot give one: a calibrated group's ECE is all noise,
  and ``|.|`` at 0 hides from the bootstrap how much;
- a permutation test of "no gap" (group labels permuted over the rows, the groups' binning redone on
  each permuted group): rows are pooled into fine equal-mass confidence cells x correct, a
  permutation is drawn as cell counts per group (:func:`audit.stats._gaps.split_cells`), and
  each permuted group's equal-mass bins are rebuilt from its cell counts. The observed statistic is
  computed the same way, so the test is exact for that statistic (it differs from the reported gap
  only by the cell resolution).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.health._calibration import MIN_BIN_COUNT, GroupBinning, _bin_index, column_groups
from audit.health._common import as_labels, as_proba, as_sensitive_frame
from audit.health._ece_cells import HitCells, bin_sums, hit_cells, hit_cells_of, mass_bins, width_bins
from audit.stats import PredictionCells, apply_test, build_cells, permutation_p_value, resample_counts, split_cells

#: fine equal-mass confidence cells of the ECE permutation test (fewer with many groups: the test costs
#: (groups - 1) x (2 cells - 1) hypergeometric draws, each vectorised over the permutations)
TEST_CELLS = 100
#: groups x cells an ECE permutation test draws per permutation; beyond it the cells get coarser (8 at
#: least): 150 groups at 100 cells took 8 s and 300 MB, at 13 cells 1 s
TEST_GROUP_CELLS = 4_000
#: most groups (eligible ones plus one for the rest) an ECE permutation test handles
TEST_GROUPS = 200


def _ece_samples(conf: np.ndarray, correct: np.ndarray, codes: np.ndarray, n_groups: int, n_bins: int,
                 n_boot: int, rng: np.random.Generator, bins: np.ndarray | None = None,
                 noise: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_boot, n_groups) ECE of each group in each resample (NaN where a resample leaves a group empty), from rows.

    ``bins`` is each row's bin (0 .. n_bins - 1) within its group; default: equal-width bins on [0, 1].
    See :func:`_ece_draws` (what the audit calls, on cells).
    """
    if bins is None:
        bins = _bin_index(conf, n_bins)
    cells = (codes * n_bins + bins) * 2 + correct.astype(np.int64)
    size = n_groups * n_bins * 2
    count = np.bincount(cells, minlength=size).astype(np.float64)
    s1 = np.bincount(cells, weights=conf, minlength=size)
    s2 = np.bincount(cells, weights=conf * conf, minlength=size)
    return _ece_draws(count, s1, s2, n_groups, n_bins, n_boot, rng, noise)


def _cell_sums(hc: HitCells, bins: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, sum and sum of squares of the values per (group, bin, hit), flat in that order."""
    cells = (hc.group * n_bins + bins) * 2 + hc.hit
    size = hc.n_groups * n_bins * 2
    return (np.bincount(cells, weights=hc.count, minlength=size), np.bincount(cells, weights=hc.vsum, minlength=size),
            np.bincount(cells, weights=hc.vsq, minlength=size))


def _ece_draws(count: np.ndarray, s1: np.ndarray, s2: np.ndarray, n_groups: int, n_bins: int, n_boot: int,
               rng: np.random.Generator, noise: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_boot, n_groups) resampled ECE per group from the rows, sum and sum of squares of the confidences per
    (group, bin, correct) cell.

    With ``noise`` also the resampled *noise ECE* ``sum_b n*_b / n*_g |d*_b - d_b|``, where ``d_b`` is bin
    ``b``'s accuracy minus confidence and ``d*_b`` the same in the resample: the ECE that the sampling
    error alone would show, and the signed noise ``-sum_b n*_b / n*_g sign(d_b) (d*_b - d_b)`` (what
    :func:`_noise_interval` bounds the true ECE with, from below and from above).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, s1 / np.where(count > 0, count, 1.0), 0.0)
        sd = np.sqrt(np.clip(np.where(count > 0, s2 / np.where(count > 0, count, 1.0), 0.0) - mean**2, 0.0, None))
    # the same draw as the fairness bootstrap: multinomial cell counts, normal sums of the cell's values
    draws, conf_sum = resample_counts(rng, count, s1, sd, n_boot)
    draws = draws.reshape(n_boot, n_groups, n_bins, 2)
    conf_sum = conf_sum.reshape(n_boot, n_groups, n_bins, 2).sum(axis=3)
    hits = draws[..., 1]
    total = draws.sum(axis=(2, 3))
    err = np.abs(hits - conf_sum).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ece = np.where(total > 0, err / np.where(total > 0, total, 1.0), np.nan)
        if not noise:
            return ece
        cells3 = count.reshape(n_groups, n_bins, 2)
        n_b = cells3.sum(axis=2)
        # each bin's accuracy minus confidence on the data: (correct rows - sum of confidences) / rows
        d = np.where(n_b > 0, (cells3[..., 1] - s1.reshape(n_groups, n_bins, 2).sum(axis=2)) / np.where(n_b > 0, n_b, 1.0), 0.0)
        nb_star = draws.sum(axis=3)
        e_star = (hits - conf_sum) / np.where(nb_star > 0, nb_star, 1.0) - d
        dev = np.where(nb_star > 0, np.abs(e_star) * nb_star, 0.0).sum(axis=2)
        # the signed noise against each bin's observed direction: what can push the true ECE above the plug-in
        sign = np.where(d < 0, -1.0, 1.0)
        lin = np.where(nb_star > 0, -sign * e_star * nb_star, 0.0).sum(axis=2)
        per_row = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), np.nan)
        return ece, dev * per_row, lin * per_row


def _cell_ece(counts: np.ndarray, cell_micro: np.ndarray, cell_hit: np.ndarray, cell_conf: np.ndarray,
              n_micro: int, k: np.ndarray) -> np.ndarray:
    """ECE per (permutation, group) from counts ``(P, G, C)`` over (fine cell, correct) cells.

    A group's ``k_g`` equal-mass bins are rebuilt from its counts: each fine cell goes to the bin that
    holds the middle of its rows in the group's cumulative count (what :func:`equal_mass_bins` does
    row by row, at the resolution of the cells); a cell's rows all carry the cell's mean confidence.
    """
    onehot = np.zeros((len(cell_micro), n_micro))
    onehot[np.arange(len(cell_micro)), cell_micro] = 1.0
    c = counts.astype(np.float64)
    n_m = c @ onehot
    hit_m = c @ (onehot * cell_hit[:, None])
    conf_m = c @ (onehot * cell_conf[:, None])
    size = n_m.sum(axis=-1, keepdims=True)
    mid = np.cumsum(n_m, axis=-1) - n_m / 2
    kk = np.broadcast_to(k[None, :, None], n_m.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.minimum(np.floor(kk * mid / np.where(size > 0, size, 1.0)), kk - 1).astype(np.int64)
    err = np.zeros(n_m.shape[:-1])
    for j in range(int(k.max())):
        m = b == j
        err += np.abs((hit_m * m).sum(-1) - (conf_m * m).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size[..., 0] > 0, err / np.where(size[..., 0] > 0, size[..., 0], 1.0), np.nan)


def ece_gap_permutations(hc: HitCells, eligible: np.ndarray, k: np.ndarray, n_perm: int,
                         rng: np.random.Generator) -> tuple[float, np.ndarray] | None:
    """Observed ECE gap and its distribution under ``n_perm`` permutations of the group labels.

    ``hc`` holds the hit cells of the confidence per group (:func:`audit.health._ece_cells.hit_cells`),
    ``eligible`` marks the groups compared, ``k`` their bins. Groups left out are pooled into one (what the
    compared groups receive does not depend on how the other rows are split). Returns None when the test
    would need more than :data:`TEST_GROUPS` groups.

    Examples
    --------
    >>> from audit.health._ece_cells import hit_cells
    >>> rng = np.random.default_rng(0)
    >>> conf = rng.uniform(0.5, 1, 400); correct = rng.random(400) < conf      # calibrated
    >>> hc = hit_cells(conf, correct, np.repeat([0, 1], 200), 2, 15)
    >>> obs, perm = ece_gap_permutations(hc, np.array([True, True]), np.array([5, 5]), 500, rng)
    >>> perm.shape, bool(0.05 < (1 + (perm >= obs).sum()) / 501 < 1)
    ((500,), True)
    """
    E = int(eligible.sum())
    pos = np.cumsum(eligible) - 1
    grp = np.where(eligible[hc.group], pos[hc.group], E)
    n_test = E + int((grp == E).any())
    if E < 2 or n_test > TEST_GROUPS:
        return None
    N = int(hc.count.sum())
    M = int(np.clip(N // 5, 8, TEST_CELLS))
    M = int(max(8, min(M, TEST_GROUP_CELLS // (2 * n_test))))
    # fine equal-mass cells of every row's confidence (one group): the groups' bins are rebuilt from them
    pooled = HitCells(np.zeros(len(hc.count), np.int64), hc.hit, hc.key, hc.count, hc.vsum, hc.vsq, hc.vmin, hc.vmax, 1,
                      hc.exact, hc.n_bins)
    order = np.argsort(pooled.key, kind="stable")  # mass_bins needs the cells in key order
    micro = np.empty(len(order), np.int64)
    micro[order] = mass_bins(HitCells(pooled.group, hc.hit[order], hc.key[order], hc.count[order], hc.vsum[order],
                                      hc.vsq[order], hc.vmin[order], hc.vmax[order], 1, hc.exact, hc.n_bins), M, 1)[0]
    cell = micro * 2 + hc.hit
    counts = np.bincount(grp * 2 * M + cell, weights=hc.count, minlength=n_test * 2 * M).reshape(n_test, 2 * M)
    total = counts.sum(axis=0)
    used = np.flatnonzero(total > 0)
    counts = counts[:, used].astype(np.int64)
    cell_conf = np.bincount(cell, weights=hc.vsum, minlength=2 * M)[used] / total[used]
    cell_micro, cell_hit = used // 2, (used % 2).astype(np.float64)
    kk = np.r_[k, 1][:n_test]
    observed = _cell_ece(counts[None], cell_micro, cell_hit, cell_conf, M, kk)[0, :E]
    drawn = split_cells(rng, counts, n_perm)
    # in blocks of permutations: (permutations x groups x cells) temporaries stay under ~2 million numbers
    step = max(1, 2_000_000 // max(n_test * M, 1))
    permuted = np.concatenate([_cell_ece(drawn[i:i + step], cell_micro, cell_hit, cell_conf, M, kk)[:, :E]
                               for i in range(0, n_perm, step)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gaps = np.nanmax(permuted, axis=1) - np.nanmin(permuted, axis=1)
    return float(observed.max() - observed.min()), gaps


def ece_intervals(
    y: Any,
    proba: Any,
    *,
    n_bins: int = 15,
    sensitive: Any = None,
    min_group_size: int = 30,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    group_binning: GroupBinning = "equal_mass",
    min_bin_count: int = MIN_BIN_COUNT,
    n_perm: int | None = None,
) -> pd.DataFrame:
    """An interval for the top-label ECE and, per sensitive column, the ECE gap's evidence.

    The gap is max - min ECE over the groups with at least ``min_group_size`` rows, each group's ECE on
    its own bins (``group_binning``, ``min_bin_count``), as in :func:`audit.health.calibration`.

    Returns
    -------
    DataFrame
        Index ``ece`` and ``<column>.ece_gap`` for each sensitive column; columns ``value`` (plug-in),
        ``low``, ``high``, and for gaps ``corrected`` (bias-corrected, inside ``[low, high]``) and
        ``p_value`` (permutation test of "no gap"; ``n_perm`` permutations, default ``n_boot``). The
        gap's interval reaches 0 whenever the test does not reject at ``1 - confidence``.

    Examples
    --------
    A model calibrated by construction, two groups of 80 rows: the plug-in gap is noise, the
    corrected gap is smaller, the interval reaches 0 and the test does not reject.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(0.05, 0.95, 160)
    >>> y = (rng.random(160) < p1).astype(int)          # calibrated by construction
    >>> ci = ece_intervals(y, np.column_stack([1 - p1, p1]), sensitive={"g": np.repeat(["a", "b"], 80)})
    >>> gap = ci.loc["g.ece_gap"]
    >>> bool(gap["low"] <= gap["corrected"] <= gap["high"]), float(gap["low"]), bool(gap["p_value"] > 0.05)
    (True, 0.0, True)
    """
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be between 0 and 1, got {confidence}")
    p = as_proba(proba)
    n, k = p.shape
    yi = as_labels(y, n, k)
    cells = build_cells(yi, p, as_sensitive_frame(sensitive, n), n_bins=int(n_bins))
    return ece_intervals_of_cells(cells, min_group_size=min_group_size, n_boot=n_boot, confidence=confidence, seed=seed,
                                  group_binning=group_binning, min_bin_count=min_bin_count, n_perm=n_perm)


def ece_intervals_of_cells(cells: PredictionCells, *, min_group_size: int = 30, n_boot: int = 1000,
                           confidence: float = 0.95, seed: int = 0, group_binning: GroupBinning = "equal_mass",
                           min_bin_count: int = MIN_BIN_COUNT, n_perm: int | None = None) -> pd.DataFrame:
    """:func:`ece_intervals` from prediction cells (per sensitive column of the cells; ``n_bins`` is theirs).

    The draws are those of the rows (the bootstrap and the permutations only need per-cell counts and sums).
    On grid cells the groups' equal-mass bins and the test's fine cells are made of whole grid cells, so the
    gap's plug-in is within twice :func:`audit.health._ece_cells.ece_grid_bound` of the exact one and its
    interval and p-value are those of that binning.

    >>> from audit.stats import build_cells
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(0.05, 0.95, 400); y = (rng.random(400) < p1).astype(int)
    >>> cells = build_cells(y, np.column_stack([1 - p1, p1]), pd.DataFrame({"g": np.repeat(["a", "b"], 200)}))
    >>> ci = ece_intervals_of_cells(cells, n_boot=200)
    >>> ci.index.tolist(), bool(ci.loc["ece", "low"] <= ci.loc["ece", "value"] <= ci.loc["ece", "high"])
    (['ece', 'g.ece_gap'], True)
    """
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be between 0 and 1, got {confidence}")
    if n_perm is None:
        n_perm = n_boot
    n_bins = cells.n_bins
    rng = np.random.default_rng(seed)
    nan = float("nan")
    rows: dict[str, dict[str, float]] = {}
    hc = hit_cells_of(cells, np.zeros(cells.n_groups, np.int64), 1, "conf")
    bins = width_bins(hc, n_bins)
    point = _ece_point(hc, bins, n_bins)
    # not a percentile interval: the resampled ECE of a model with an ECE near 0 (a tree's leaves on the data they
    # were fitted to) lies above it, so that interval excluded its own value; ece_bounds always holds it
    _, noise, lin = _ece_draws(*_cell_sums(hc, bins, n_bins), 1, n_bins, int(n_boot), rng, noise=True)
    lo, hi = ece_bounds(point, noise, lin, confidence)
    rows["ece"] = {"value": float(point[0]), "corrected": nan, "low": float(lo[0]), "high": float(hi[0]), "p_value": nan}
    # the permutations get a generator of their own, so adding them left every bootstrap draw as it was
    perm_rng = np.random.default_rng(rng.integers(2**63 - 1))
    for col in cells.names:
        member, labels = column_groups(cells, col)
        rows[f"{col}.ece_gap"] = ece_gap_evidence_of_cells(
            hit_cells_of(cells, member, len(labels), "conf"), min_group_size=min_group_size, n_bins=n_bins,
            group_binning=group_binning, min_bin_count=int(min_bin_count), n_boot=int(n_boot), n_perm=int(n_perm),
            confidence=confidence, rng=rng, perm_rng=perm_rng)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["value", "corrected", "low", "high", "p_value"])


def ece_gap_evidence(conf: np.ndarray, correct: np.ndarray, codes: np.ndarray, n_groups: int, *, min_group_size: int,
                     n_bins: int, group_binning: GroupBinning, min_bin_count: int, n_boot: int, n_perm: int,
                     confidence: float, rng: np.random.Generator, perm_rng: np.random.Generator) -> dict[str, float]:
    """The ECE gap of one grouping of rows (``codes`` 0 .. n_groups - 1): plug-in, corrected, interval, p-value.

    What :func:`ece_intervals` computes per sensitive column; ``bench/gap_simulation.py`` calls it on
    simulated rows, so the simulation measures this code.
    """
    return ece_gap_evidence_of_cells(
        hit_cells(conf, correct, codes, n_groups, n_bins), min_group_size=min_group_size, n_bins=n_bins,
        group_binning=group_binning, min_bin_count=min_bin_count, n_boot=n_boot, n_perm=n_perm, confidence=confidence,
        rng=rng, perm_rng=perm_rng)


def ece_gap_evidence_of_cells(hc: HitCells, *, min_group_size: int, n_bins: int, group_binning: GroupBinning,
                              min_bin_count: int, n_boot: int, n_perm: int, confidence: float, rng: np.random.Generator,
                              perm_rng: np.random.Generator) -> dict[str, float]:
    """:func:`ece_gap_evidence` from the hit cells of the confidence per group."""
    nan = float("nan")
    eligible = hc.n >= min_group_size
    keep = np.flatnonzero(eligible)
    if len(keep) < 2:
        return {"value": nan, "corrected": nan, "low": nan, "high": nan, "p_value": nan}
    if group_binning == "equal_width":
        bins, kb = width_bins(hc, n_bins), np.full(hc.n_groups, n_bins, dtype=np.int64)
    else:
        bins, kb = mass_bins(hc, n_bins, min_bin_count)
    point = _ece_point(hc, bins, n_bins)[keep]
    value = float(point.max() - point.min())
    dist, low, high = None, nan, nan
    if n_boot:
        per, noise, lin = _ece_draws(*_cell_sums(hc, bins, n_bins), hc.n_groups, n_bins, n_boot, rng, noise=True)
        per, noise, lin = per[:, keep], noise[:, keep], lin[:, keep]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            dist = np.nanmax(per, axis=1) - np.nanmin(per, axis=1)
        low, high = _noise_interval(point, noise, lin, confidence)
    test = ece_gap_permutations(hc, eligible, kb[keep], n_perm, perm_rng) if n_perm else None
    p_value = permutation_p_value(*test) if test is not None else nan
    ev = apply_test(value, dist, low, high, p_value, confidence, "difference")
    return {"value": value, "corrected": ev.corrected, "low": ev.low, "high": ev.high, "p_value": ev.p_value}


def _noise_interval(point: np.ndarray, noise: np.ndarray, lin: np.ndarray, confidence: float) -> tuple[float, float]:
    """Bounds on max - min of the groups' true ECEs that hold whatever the true ECEs are, 0 included.

    Bin ``b`` of group ``g`` shows ``d_b = delta_b + e_b``: true miscalibration plus sampling error. The true
    ECE is ``sum_b w_b |delta_b|``, the plug-in ``sum_b w_b |d_b|``. Two inequalities bound the difference for
    every ``delta``, so no bias has to be estimated (which a bootstrap cannot do where ``|.|`` is not smooth,
    at a calibrated bin):

    - from below, ``|delta| >= |d| - |e|``: true ECE ``>= plug-in - S_g`` with ``S_g = sum_b w_b |e_b|``, the ECE
      of pure noise (``noise``: its resampled values). ``L_g = ECE_g - T mean(S*_g)``; this keeps a calibrated
      group's lower end at 0, its plug-in ECE being noise;
    - from above, ``|delta| - |delta + e| <= -sign(delta) e``: true ECE ``<= plug-in + N_g`` with ``N_g`` a signed
      sum of the noise, normal with the variance of ``sum_b w_b e_b`` whatever the signs (``lin``: resampled
      with the observed signs). ``U_g = ECE_g + q sd(N*_g)``: as tight as a regular interval where the
      miscalibration is large, and still valid where it is not (the bootstrap spread of the ECE itself
      shrinks when a bin's deviation lands near 0 by chance, and an interval built on it missed).

    ``T`` and ``q`` are the quantiles of the largest standardised value over groups, each at half of
    ``1 - confidence``, so all groups' bounds hold at once; the gap then lies in
    ``[max_g L_g - min_h U_h, max_g U_g - min_h L_h]``. A band centred on bias-corrected ECE differences (as for
    rates) covered a true gap of 0.1 only 70-80% of the time in ``bench/gap_simulation.py``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = np.abs(rng.normal(0, 0.02, (2000, 2)))
    >>> lin = rng.normal(0, 0.01, (2000, 2))
    >>> lo, hi = _noise_interval(np.array([0.03, 0.15]), noise, lin, 0.95)
    >>> round(lo, 2), round(hi, 2)
    (0.05, 0.17)
    """
    lower, upper = ece_bounds(point, noise, lin, confidence)
    return max(float(lower.max() - upper.min()), 0.0), float(upper.max() - lower.min())


def ece_bounds(point: np.ndarray, noise: np.ndarray, lin: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """``(L_g, U_g)``: bounds on every group's true ECE at once (see :func:`_noise_interval`), each end at half of
    ``1 - confidence``. They always hold the plug-in ECE; for one group this is the overall ECE's interval.

    >>> rng = np.random.default_rng(0)
    >>> lo, hi = ece_bounds(np.array([0.0]), np.abs(rng.normal(0, 0.01, (2000, 1))), rng.normal(0, 0.01, (2000, 1)), 0.95)
    >>> float(lo[0]), round(float(hi[0]), 3)   # an ECE of 0 (a calibrated tree's leaves): the interval starts at 0
    (0.0, 0.02)
    """
    half = 1.0 - (1.0 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tau = np.nanmean(noise, axis=0)
        spread = np.nanmax(noise / np.where(tau > 0, tau, np.nan), axis=1)
        sd = np.nanstd(lin, axis=0)
        up = np.nanmax(lin / np.where(sd > 0, sd, np.nan), axis=1)
    lower = np.maximum(point - _quantile(spread, half) * np.nan_to_num(tau), 0.0)
    upper = point + _quantile(up, half) * np.nan_to_num(sd)
    return lower, upper


def _quantile(x: np.ndarray, level: float) -> float:
    finite = x[np.isfinite(x)]
    return float(np.quantile(finite, level)) if len(finite) else 0.0


def _ece_point(hc: HitCells, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Plug-in ECE per group on the given bins (what :func:`audit.health.calibration` reports per group)."""
    sums = bin_sums(hc, bins, n_bins)
    n = sums["count"].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.abs(sums["hits"] - sums["vsum"]).sum(axis=1) / np.where(n > 0, n, 1), np.nan)
