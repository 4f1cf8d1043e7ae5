"""Permutation draws of group labels as cell counts: the null distributions behind every gap's test.

A uniformly random permutation of the group labels gives each group a uniformly random subset of rows,
so the rows a group receives in each cell are (multivariate) hypergeometric: :func:`split_counts` and
:func:`split_cells` draw them directly, with no loop over permutations or rows. :func:`permuted_rates`
(every confusion rate, stratified as :data:`PERMUTATION_SCHEMES` says) and :func:`permuted_auc` (ROC AUC
on coarse score bins) build on them; :func:`audit.stats._gaps.permutation_p_value` reads the result.
"""

from __future__ import annotations

import numpy as np

from audit.stats._auc import auc_from_bins


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
