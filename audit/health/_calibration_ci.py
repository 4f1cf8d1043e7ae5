"""Bootstrap intervals for the ECE and the ECE gap between groups, without a loop over resamples.

The top-label ECE only needs, per (group, confidence bin, correct) cell, how many rows a resample holds
and the sum of their confidences. Cell counts under row resampling are jointly multinomial (drawn
directly, as in :mod:`audit.stats`); the confidence sum of ``k`` rows drawn from a cell
is ``k * mean + sqrt(k) * sd * Z``, the normal approximation to a sum of ``k`` draws from that cell,
exact in mean and variance. Intervals are percentile intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.health._calibration import _bin_index
from audit.health._common import as_labels, as_proba, as_sensitive_frame
from audit.stats import percentile_interval, resample_counts


def _ece_samples(conf: np.ndarray, correct: np.ndarray, codes: np.ndarray, n_groups: int, n_bins: int,
                 n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_groups) ECE of each group in each resample (NaN where a resample leaves a group empty)."""
    cells = (codes * n_bins + _bin_index(conf, n_bins)) * 2 + correct.astype(np.int64)
    size = n_groups * n_bins * 2
    count = np.bincount(cells, minlength=size).astype(np.float64)
    s1 = np.bincount(cells, weights=conf, minlength=size)
    s2 = np.bincount(cells, weights=conf * conf, minlength=size)
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
        return np.where(total > 0, err / np.where(total > 0, total, 1.0), np.nan)


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
) -> pd.DataFrame:
    """Percentile-bootstrap intervals of the top-label ECE and, per sensitive column, of the ECE gap.

    The gap is max - min ECE over the groups with at least ``min_group_size`` rows, as in
    :func:`audit.health.calibration`, recomputed in every resample.

    Returns
    -------
    DataFrame
        Index ``ece`` and ``<column>.ece_gap`` for each sensitive column; columns ``low``, ``high``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(0.05, 0.95, 2000)
    >>> y = (rng.random(2000) < p1).astype(int)          # calibrated by construction
    >>> ci = ece_intervals(y, np.column_stack([1 - p1, p1]))
    >>> bool(ci.loc["ece", "low"] < 0.05)
    True
    """
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be between 0 and 1, got {confidence}")
    p = as_proba(proba)
    n, k = p.shape
    yi = as_labels(y, n, k)
    groups = as_sensitive_frame(sensitive, n)
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == yi
    rng = np.random.default_rng(seed)
    rows: dict[str, tuple[float, float]] = {}
    overall = _ece_samples(conf, correct, np.zeros(n, dtype=np.int64), 1, int(n_bins), int(n_boot), rng)[:, 0]
    rows["ece"] = tuple(float(v) for v in percentile_interval(overall, confidence))
    for col in groups.columns:
        codes, uniques = pd.factorize(groups[col], sort=True)
        n_groups = len(uniques) + int((codes < 0).any())
        codes = np.where(codes < 0, len(uniques), codes)  # missing values form a group of their own
        sizes = np.bincount(codes, minlength=n_groups)
        keep = np.flatnonzero(sizes >= min_group_size)
        if len(keep) < 2:
            rows[f"{col}.ece_gap"] = (float("nan"), float("nan"))
            continue
        per = _ece_samples(conf, correct, codes.astype(np.int64), n_groups, int(n_bins), int(n_boot), rng)[:, keep]
        gap = np.nanmax(per, axis=1) - np.nanmin(per, axis=1)
        rows[f"{col}.ece_gap"] = tuple(float(v) for v in percentile_interval(gap, confidence))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["low", "high"])
