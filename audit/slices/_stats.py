"""Welch statistics of a slice against the rest from sufficient statistics, and false-discovery control.

Everything is computed from ``(n, sum, sum of squares)`` of the shifted loss in the slice and in all rows:
the rest is ``all - slice``, so one pass of counts serves every candidate, and counts of partitions add.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

FDR_METHODS = ("by", "bh")


def welch(n_in, s_in, q_in, n_all, s_all, q_all, *, shift: float = 0.0, confidence: float = 0.95) -> dict:
    """Mean loss in and out with their t intervals, difference in - out, its Welch interval and the one-sided
    Welch p-value.

    ``s`` and ``q`` are sums and sums of squares of ``loss - shift``. The p-value is that of
    ``scipy.stats.ttest_ind(inside, outside, equal_var=False, alternative="greater")``. Where both sides
    have zero variance (within rounding) the test is degenerate: p is 0 for a difference beyond rounding of the
    means, 1 otherwise.

    Examples
    --------
    >>> r = welch(np.array([3.0]), np.array([3.0]), np.array([3.0]), 6.0, 4.0, 4.0)
    >>> round(float(r["diff"][0]), 3), round(float(r["p_value"][0]), 3)
    (0.667, 0.092)
    """
    n_in, s_in, q_in = (np.asarray(a, dtype=float) for a in (n_in, s_in, q_in))
    n_out, s_out, q_out = n_all - n_in, s_all - s_in, q_all - q_in
    with np.errstate(divide="ignore", invalid="ignore"):
        m_in, m_out = s_in / n_in, s_out / n_out
        # sums of squares about the mean; a constant loss leaves only rounding (about eps x the rows x q), which is
        # set to 0 so a constant slice is degenerate whatever the shift (both engines, any partitioning)
        v_in = _about_mean(q_in, s_in * m_in, n_in) / (n_in - 1)
        v_out = _about_mean(q_out, s_out * m_out, n_out) / (n_out - 1)
        a, b = v_in / n_in, v_out / n_out
        se = np.sqrt(a + b)
        diff = m_in - m_out
        df = (a + b) ** 2 / (a ** 2 / (n_in - 1) + b ** 2 / (n_out - 1))
        t = diff / se
        p = stats.t.sf(t, df)
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
    degenerate = ~(se > 0)
    # two constant sides: worse only if their difference is more than rounding of the means
    worse = diff > 1e-9 * np.maximum(np.abs(m_in), np.abs(m_out))
    p = np.where(degenerate, np.where(worse, 0.0, 1.0), p)
    half = np.where(degenerate, 0.0, half)
    with np.errstate(divide="ignore", invalid="ignore"):  # each side's own t interval (n - 1 degrees of freedom)
        q = 0.5 + confidence / 2
        half_in = np.where(n_in > 1, stats.t.ppf(q, n_in - 1) * np.sqrt(v_in / n_in), np.nan)
        half_out = np.where(n_out > 1, stats.t.ppf(q, n_out - 1) * np.sqrt(v_out / n_out), np.nan)
    return {"mean_in": m_in + shift, "in_low": m_in + shift - half_in, "in_high": m_in + shift + half_in,
            "mean_out": m_out + shift, "out_low": m_out + shift - half_out, "out_high": m_out + shift + half_out,
            "diff": diff, "low": diff - half,
            "high": diff + half, "se": se, "df": df, "t": np.where(degenerate, np.where(worse, np.inf, -np.inf), t),
            "p_value": p}


def _about_mean(q: np.ndarray, sm: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``q - s m`` (the sum of squares about the mean from raw sums), 0 where it is within rounding of 0."""
    ss = q - sm
    return np.where(ss > 1e-9 * np.abs(q), ss, 0.0)


def fdr_adjust(p: np.ndarray, method: str = "by") -> np.ndarray:
    """Benjamini-Hochberg (``"bh"``) or Benjamini-Yekutieli (``"by"``) adjusted p-values (q-values).

    BH: ``q_(i) = min_{k >= i} m p_(k) / k``; BY multiplies by ``sum_{j<=m} 1/j``, which keeps the false
    discovery rate at ``alpha`` under any dependence (overlapping slices are dependent). Equal to
    statsmodels' ``multipletests(p, method="fdr_bh" / "fdr_by")[1]``.

    Examples
    --------
    >>> fdr_adjust(np.array([0.01, 0.04, 0.03]), "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scale = m / np.arange(1, m + 1)
    if method == "by":
        scale = scale * np.sum(1.0 / np.arange(1, m + 1))
    q_sorted = np.minimum.accumulate((p[order] * scale)[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q
