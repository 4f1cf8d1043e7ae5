"""Hit cells: what an expected calibration error needs, per group, from rows or from prediction cells.

An ECE bins rows by a value (the top-class confidence, or the positive-class probability) and compares,
per bin, the share of hits (right predictions, or positives) with the mean value. Its sufficient
statistic is, per (group, hit, value), the rows and the sum, sum of squares, smallest and largest of the
values: :class:`HitCells`. From rows the value axis is exact (one cell per distinct value); from the
merged cells of a Dask audit it can be the grid of :func:`audit.stats.grid_index`, where a cell goes
whole into one equal-mass bin, which moves a group's ECE by at most :func:`ece_grid_bound`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from audit.stats import GRID_SUB, PredictionCells, grid_index


@dataclass
class HitCells:
    """Rows per (group, hit, value key) with the values' sum, sum of squares, smallest and largest.

    ``key`` is the value itself (``exact``) or its grid cell (``n_bins`` equal-width bins, :data:`GRID_SUB`
    cells each).
    """

    group: np.ndarray
    hit: np.ndarray
    key: np.ndarray
    count: np.ndarray
    vsum: np.ndarray
    vsq: np.ndarray
    vmin: np.ndarray
    vmax: np.ndarray
    n_groups: int
    exact: bool
    n_bins: int

    @property
    def n(self) -> np.ndarray:
        """Rows per group."""
        return np.bincount(self.group, weights=self.count, minlength=self.n_groups)


def _reduce(group: np.ndarray, hit: np.ndarray, key: np.ndarray, count: np.ndarray, vsum: np.ndarray, vsq: np.ndarray,
            vmin: np.ndarray, vmax: np.ndarray, n_groups: int, exact: bool, n_bins: int) -> HitCells:
    """Add up entries with the same (group, hit, key), ordered by group, then key, then hit."""
    if len(count) == 0:
        return HitCells(group, hit, key, count, vsum, vsq, vmin, vmax, n_groups, exact, n_bins)
    order = np.lexsort((hit, key, group))
    g, h, k = group[order], hit[order], key[order]
    starts = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (h[1:] != h[:-1]) | (k[1:] != k[:-1])])
    return HitCells(
        group=g[starts], hit=h[starts], key=k[starts], count=np.add.reduceat(count[order], starts),
        vsum=np.add.reduceat(vsum[order], starts), vsq=np.add.reduceat(vsq[order], starts),
        vmin=np.minimum.reduceat(vmin[order], starts), vmax=np.maximum.reduceat(vmax[order], starts),
        n_groups=n_groups, exact=exact, n_bins=n_bins)


def hit_cells(values: np.ndarray, hit: np.ndarray, codes: np.ndarray, n_groups: int, n_bins: int) -> HitCells:
    """Exact hit cells of rows: ``values`` in [0, 1], ``hit`` 0/1, ``codes`` the group of each row (0 .. n_groups - 1).

    >>> hc = hit_cells(np.array([.9, .9, .4]), np.array([1, 0, 1]), np.zeros(3, int), 1, 15)
    >>> hc.key.tolist(), hc.count.tolist()
    ([0.4, 0.9, 0.9], [1.0, 1.0, 1.0])
    """
    v = np.asarray(values, dtype=np.float64)
    return _reduce(np.asarray(codes, np.int64), np.asarray(hit).astype(np.int64), v, np.ones(len(v)), v, v * v, v, v,
                   n_groups, True, n_bins)


def hit_cells_of(cells: PredictionCells, member: np.ndarray, n_groups: int,
                 value: Literal["conf", "score"] = "conf") -> HitCells:
    """Hit cells of prediction cells, groups ``member[intersection group]`` (-1: left out).

    ``value="conf"``: the top-class confidence, hit = right prediction; ``"score"``: the positive-class
    probability (binary), hit = positive label (no sums of squares or extremes: nothing needs them).
    """
    g = np.asarray(member, np.int64)[cells.group]
    keep = g >= 0
    if value == "conf":
        hit = (cells.label == cells.pred)
        parts = (cells.conf, cells.conf_sum, cells.conf_sq, cells.conf_min, cells.conf_max)
    else:
        hit = cells.label == 1
        nan = np.full(len(cells.count), np.nan)
        parts = (cells.score, cells.score_sum, nan, nan, nan)
    key, vsum, vsq, vmin, vmax = (a[keep] for a in parts)
    return _reduce(g[keep], hit[keep].astype(np.int64), key, cells.count[keep], vsum, vsq, vmin, vmax, n_groups,
                   cells.exact, cells.n_bins)


def width_bins(hc: HitCells, n_bins: int) -> np.ndarray:
    """Equal-width bin (right-closed, on [0, 1]) of each cell, as :func:`audit.health.reliability_table` bins rows."""
    if hc.exact:
        return grid_index(hc.key, n_bins) // GRID_SUB
    if hc.n_bins != n_bins:
        raise ValueError(f"grid cells nest in {hc.n_bins} equal-width bins, not {n_bins}: build the cells with n_bins={n_bins}")
    return hc.key.astype(np.int64) // GRID_SUB


def _runs(hc: HitCells) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells of one group and key taken together (ties): ``(run of each cell, run group, run rows, rows before the
    run in its group)``; the cells are ordered by group then key."""
    new = np.r_[True, (hc.group[1:] != hc.group[:-1]) | (hc.key[1:] != hc.key[:-1])]
    run = np.cumsum(new) - 1
    rows = np.bincount(run, weights=hc.count)
    rg = hc.group[new]
    cum = np.cumsum(rows)
    first = np.r_[True, rg[1:] != rg[:-1]]
    group_start = np.repeat((cum - rows)[first], np.diff(np.r_[np.flatnonzero(first), len(rows)]))
    return run, rg, rows, cum - rows - group_start


def mass_bins(hc: HitCells, n_bins: int, min_bin_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-mass bins within each group: ``(bin of each cell, bins per group)``.

    Group ``g`` gets ``k_g = clip(n_g // min_bin_count, 1, n_bins)`` bins; a run of tied cells (one key) goes
    whole into the bin holding the middle of its rows, which on exact cells is :func:`audit.health.equal_mass_bins`
    row by row.
    """
    sizes = hc.n
    k = np.clip(sizes // max(int(min_bin_count), 1), 1, max(int(n_bins), 1)).astype(np.int64)
    if len(hc.count) == 0:
        return np.zeros(0, np.int64), k
    run, rg, rows, before = _runs(hc)
    b = np.floor(k[rg] * (before + rows / 2.0) / sizes[rg]).astype(np.int64)
    return np.minimum(b, k[rg] - 1)[run], k


def ece_grid_bound(hc: HitCells, n_bins: int, min_bin_count: int) -> np.ndarray:
    """Per group, the most the equal-mass ECE on these cells can differ from the ECE on the rows' exact values.

    0 on exact cells. On grid cells only a cell whose rows would span a bin edge can be binned otherwise, and
    moving a row between bins changes ``sum_b |hits_b - values_b|`` by at most 2: the bound is
    ``2 x (rows in cells that span an edge) / n_g``.
    """
    if hc.exact or len(hc.count) == 0:
        return np.zeros(hc.n_groups)
    sizes = hc.n
    k = np.clip(sizes // max(int(min_bin_count), 1), 1, max(int(n_bins), 1))
    _, rg, rows, before = _runs(hc)
    lo = np.floor(k[rg] * (before + 0.5) / sizes[rg])
    hi = np.floor(k[rg] * (before + rows - 0.5) / sizes[rg])
    spans = np.minimum(lo, k[rg] - 1) != np.minimum(hi, k[rg] - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2.0 * np.bincount(rg, weights=rows * spans, minlength=hc.n_groups) / sizes


def bin_sums(hc: HitCells, bins: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    """Per (group, bin), ``(G, n_bins)``: rows, hits, sum of values, smallest and largest value (NaN where empty)."""
    G = hc.n_groups
    cell = hc.group * n_bins + bins
    size = G * n_bins
    out = {"count": np.bincount(cell, weights=hc.count, minlength=size),
           "hits": np.bincount(cell, weights=hc.count * hc.hit, minlength=size),
           "vsum": np.bincount(cell, weights=hc.vsum, minlength=size)}
    lo, hi = np.full(size, np.inf), np.full(size, -np.inf)
    np.fmin.at(lo, cell, hc.vmin)  # fmin: the score cells carry no extremes (NaN)
    np.fmax.at(hi, cell, hc.vmax)
    empty = (out["count"] == 0) | ~np.isfinite(lo)
    lo[empty], hi[empty] = np.nan, np.nan
    out["vmin"], out["vmax"] = lo, hi
    return {k: v.reshape(G, n_bins) for k, v in out.items()}
