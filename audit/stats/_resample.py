"""Resampling: the vectorised bootstrap of cell counts, percentile intervals, and plain row bootstraps.

Cell counts
-----------
fairlearn's ``MetricFrame(n_boot=...)`` resamples all ``n`` rows with replacement and recomputes
every metric, once per resample. Every count-based group metric only depends on how many rows of
each (group, label, prediction) cell a resample holds, and under row resampling those cell counts
are jointly ``Multinomial(n, cell_count / n)``. Drawing them directly gives the same bootstrap
distribution in ``O(n_boot x n_cells)`` work, independent of ``n``, with no loop over resamples.

With sample weights a resampled cell holds ``k`` rows of that cell; its weighted total is drawn as
``k * mean_w + sqrt(k) * sd_w * Z`` (the normal approximation to a sum of ``k`` weights drawn from
the cell), which is exact when the weights inside a cell are equal. Cells of at most
:data:`EXACT_CELL_ROWS` rows draw their ``k`` weights exactly instead (:func:`small_weighted_cells`),
because a sum of a few unequal weights is far from normal.

Fairness (group x label x prediction cells), performance (label x prediction cells) and calibration
(group x confidence bin x correct cells) all draw their resamples this way.

Intervals are percentile intervals, like fairlearn's. For a max - min over groups the resampled
range is biased upward, so when groups hardly differ the interval can lie above the estimate.

Rows
----
:func:`bootstrap_mean` and :func:`bootstrap_shares` resample rows (images, explained rows) directly:
there are few of them, and their statistics are not functions of cell counts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def resample_counts(
    rng: np.random.Generator,
    rows: np.ndarray,
    weighted: np.ndarray,
    weight_sd: np.ndarray | None,
    n_boot: int,
    *,
    exact_cells: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_boot`` resamples of cell counts.

    Parameters
    ----------
    rng : numpy Generator
    rows : ndarray, shape (G, 4)
        Row counts per cell.
    weighted : ndarray, shape (G, 4)
        Weighted counts per cell (``rows`` when unweighted).
    weight_sd : ndarray or None
        Standard deviation of the weights per cell.
    n_boot : int
    exact_cells : dict, optional
        Flat cell index (into ``rows.reshape(-1)``) -> the weights of that cell's rows. These cells'
        resampled totals are sums of weights drawn with replacement from the cell (what a row
        bootstrap does), not the normal approximation; :func:`small_weighted_cells` picks the small
        cells, where the approximation is off (an 11-row group's lower bound 0.36 against 0.41).

    Returns
    -------
    (rows_b, weighted_b) : ndarrays, shape (n_boot, G, 4)

    Examples
    --------
    >>> rows = np.array([[5.0, 1, 2, 2]])
    >>> r, w = resample_counts(np.random.default_rng(0), rows, rows, None, 3)
    >>> r.shape, r.sum(axis=(1, 2)).tolist()
    ((3, 1, 4), [10.0, 10.0, 10.0])
    """
    flat = rows.reshape(-1)
    n = int(flat.sum())
    draws = rng.multinomial(n, flat / flat.sum(), size=n_boot).astype(np.float64).reshape((n_boot,) + rows.shape)
    if weight_sd is None:
        return draws, draws
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(rows > 0, weighted / np.where(rows > 0, rows, 1.0), 0.0)
    z = rng.standard_normal(draws.shape)
    w = np.clip(draws * mean + np.sqrt(draws) * weight_sd * z, 0.0, None)
    if exact_cells:
        flat_draws, flat_w = draws.reshape(n_boot, -1), w.reshape(n_boot, -1)
        for cell, values in exact_cells.items():
            values = np.asarray(values, dtype=np.float64)
            picks = rng.multinomial(flat_draws[:, cell].astype(np.int64), np.full(len(values), 1.0 / len(values)))
            flat_w[:, cell] = picks @ values
    return draws, w


#: cells with at most this many rows get exactly resampled weight totals (:func:`small_weighted_cells`)
EXACT_CELL_ROWS = 100
#: at most this many rows in all exactly resampled cells (each costs ``n_boot`` draws per row)
EXACT_ROWS_BUDGET = 20_000


def small_weighted_cells(cell_of_row: np.ndarray, weights: np.ndarray, n_cells: int, *,
                         max_rows: int = EXACT_CELL_ROWS, budget: int = EXACT_ROWS_BUDGET) -> dict[int, np.ndarray]:
    """The weights of every cell with ``1..max_rows`` rows, smallest cells first, within ``budget`` rows in all.

    For :func:`resample_counts` ``exact_cells``: a sum of few unequal weights is far from normal, so these
    cells are resampled exactly; larger cells keep the (then accurate) normal approximation.

    Examples
    --------
    >>> cells = small_weighted_cells(np.array([0, 0, 1, 2, 2, 2]), np.array([1., 2, 3, 4, 5, 6]), 3, max_rows=2)
    >>> {k: v.tolist() for k, v in cells.items()}
    {1: [3.0], 0: [1.0, 2.0]}
    """
    cell_of_row = np.asarray(cell_of_row, dtype=np.int64)
    sizes = np.bincount(cell_of_row, minlength=n_cells)
    small = np.flatnonzero((sizes > 0) & (sizes <= max_rows))
    small = small[np.argsort(sizes[small], kind="stable")]
    small = small[np.cumsum(sizes[small]) <= budget]
    if not len(small):
        return {}
    keep = np.isin(cell_of_row, small)
    order = np.argsort(cell_of_row[keep], kind="stable")
    c, w = cell_of_row[keep][order], np.asarray(weights, dtype=np.float64)[keep][order]
    starts = np.searchsorted(c, small)
    return {int(k): w[a:a + sizes[k]] for k, a in zip(small, starts)}


#: above this many columns (groups), :func:`percentile_interval` batches columns instead of letting
#: ``np.nanquantile`` call Python once per column (about 30 us each: 5,000 groups x 9 metrics x views)
LOOP_COLUMNS = 100


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring NaN resamples (like fairlearn's ``nanquantile``).

    With many columns the same numbers come from one sort: columns with the same number of defined
    resamples share one ``np.quantile`` call on their sorted, NaN-free leading rows (what
    ``np.nanquantile`` computes column by column).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 300))
    >>> x[rng.random(x.shape) < 0.2] = np.nan
    >>> ours = percentile_interval(x, 0.9)
    >>> ref = np.nanquantile(x, [(1 - 0.9) / 2, 1 - (1 - 0.9) / 2], axis=0)
    >>> bool(np.array_equal(ours[0], ref[0]) and np.array_equal(ours[1], ref[1]))
    True
    """
    alpha = 1.0 - confidence
    q = [alpha / 2, 1 - alpha / 2]
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim < 2 or int(np.prod(samples.shape[1:])) <= LOOP_COLUMNS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(samples, q, axis=0)
        return lo, hi
    flat = samples.reshape(len(samples), -1)
    valid = (~np.isnan(flat)).sum(axis=0)
    ordered = np.sort(flat, axis=0)  # NaN sorts last: the first `valid` rows of a column are its defined values
    lo, hi = np.full(flat.shape[1], np.nan), np.full(flat.shape[1], np.nan)
    for m in np.unique(valid[valid > 0]):
        cols = np.flatnonzero(valid == m)
        lo[cols], hi[cols] = np.quantile(ordered[:m, cols], q, axis=0)
    return lo.reshape(samples.shape[1:]), hi.reshape(samples.shape[1:])


def bootstrap_mean(values: np.ndarray, rng: np.random.Generator, *, n_boot: int = 1000) -> tuple[float, float | None, float | None]:
    """Mean of ``values`` (NaNs left out) with a 95% percentile-bootstrap interval over them.

    No interval (``None``) with fewer than 3 defined values; NaN and no interval with none.

    Examples
    --------
    >>> v, lo, hi = bootstrap_mean(np.array([0.2, 0.4, 0.5, np.nan, 0.9]), np.random.default_rng(0))
    >>> round(v, 3), lo <= v <= hi
    (0.5, True)
    >>> bootstrap_mean(np.array([1.0, 2.0]), np.random.default_rng(0))
    (1.5, None, None)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), None, None
    if len(v) < 3:
        return float(v.mean()), None, None
    boot = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    return float(v.mean()), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


#: key of :func:`bootstrap_shares`'s result that holds the share of all the chosen columns together
TOTAL_SHARE = "__direct__"


def bootstrap_shares(values: pd.DataFrame, columns: list, n_boot: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Bootstrap distribution (over rows) of each chosen column's share of the total mean ``|value|``.

    ``values`` holds one row per explained row and one column per feature (SHAP values). Returns one
    array of ``n_boot`` shares per chosen column present in ``values``, and under :data:`TOTAL_SHARE`
    the share of those columns together (NaN where a resample's total is 0).

    Examples
    --------
    >>> phi = pd.DataFrame({"a": [1.0, -1.0, 2.0], "b": [1.0, 3.0, 0.0]})
    >>> shares = bootstrap_shares(phi, ["a", "z"], 50, np.random.default_rng(0))
    >>> sorted(shares), shares["a"].shape, bool(np.all(shares["a"] == shares[TOTAL_SHARE]))
    (['__direct__', 'a'], (50,), True)
    """
    a = values.abs().to_numpy()
    cols = list(values.columns)
    idx = [cols.index(c) for c in columns if c in cols]
    out: dict[str, list[float]] = {c: [] for c in columns if c in cols}
    out[TOTAL_SHARE] = []
    for _ in range(n_boot):
        m = a[rng.integers(0, len(a), len(a))].mean(axis=0)
        tot = m.sum()
        for c, j in zip([c for c in columns if c in cols], idx):
            out[c].append(m[j] / tot if tot > 0 else np.nan)
        out[TOTAL_SHARE].append(m[idx].sum() / tot if tot > 0 else np.nan)
    return {k: np.asarray(v) for k, v in out.items()}
