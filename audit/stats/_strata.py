"""Stratified sampling quotas: small groups kept whole, the rest sharing what is left equally."""

from __future__ import annotations

import numpy as np


def stratified_quotas(sizes: np.ndarray, cap: int) -> np.ndarray:
    """Rows to take from each group so that at most ``cap`` are taken in all (water-filling).

    Every group gets ``min(size, share)``, where the share is what the smaller groups leave, split
    equally; when fewer rows are left than open groups, the first groups get one row each.

    Examples
    --------
    >>> stratified_quotas(np.array([9000, 900, 40]), 3000).tolist()
    [2060, 900, 40]
    >>> int(stratified_quotas(np.ones(10, dtype=int) * 5, 3).sum())
    3
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    quota = np.zeros_like(sizes)
    left, open_ = int(cap), np.flatnonzero(sizes > 0)
    while left > 0 and len(open_):
        if left < len(open_):  # one row each for as many groups as rows are left
            quota[open_[:left]] += 1
            break
        take = np.minimum(sizes[open_] - quota[open_], left // len(open_))
        quota[open_] += take
        left -= int(take.sum())
        open_ = open_[quota[open_] < sizes[open_]]
    return quota


def stratified_rows(groups: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` row positions, every group keeping ``min(size, fair share)`` rows (seeded, sorted).

    Examples
    --------
    >>> g = np.array([0] * 90 + [1] * 10)
    >>> np.bincount(g[stratified_rows(g, 20, 0)]).tolist()
    [10, 10]
    """
    n = len(groups)
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    quota = stratified_quotas(np.bincount(groups), cap)
    out = [rng.choice(np.flatnonzero(groups == g), size=q, replace=False) for g, q in enumerate(quota) if q]
    return np.sort(np.concatenate(out))
