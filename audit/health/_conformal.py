"""Split-conformal prediction intervals for a regressor, and whether they cover every group equally.

Split conformal (Vovk et al. 2005; Lei et al. 2018): on a calibration set the absolute residuals
``s_i = |y_i - f(x_i)|`` are sorted and the interval half-width is the ``ceil((n + 1) level)``-th smallest,
so for exchangeable rows ``P(|y - f(x)| <= q) >= level`` whatever the model. The guarantee is marginal:
one group can be covered 97% of the time and another 80%. "Equalized coverage" (Romano et al. 2020) asks
for the same coverage in every group; :func:`split_conformal` reports each group's coverage with its
Wilson interval and the coverage gap between groups under the gap rule every gap follows
(:func:`audit.stats.proportion_gaps`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.stats import proportion_gaps, wilson_interval


@dataclass
class ConformalResult:
    """Split-conformal intervals on the audited rows.

    Attributes
    ----------
    level : float
        The nominal coverage (``1 - alpha``).
    half_width : float
        The interval is ``prediction -+ half_width`` (inf when the calibration set is too small for ``level``).
    n_calibration : int
        Rows behind ``half_width``.
    coverage, low, high : float
        Share of audited rows whose label lies in its interval, with its Wilson interval.
    by_group : DataFrame
        One row per (``column``, ``group``): ``n``, ``coverage``, ``low``, ``high``.
    gaps : DataFrame
        One row per sensitive column: the coverage gap (max - min over groups with ``min_group_size`` rows)
        as :func:`audit.stats.proportion_gaps` gives it (``gap``, ``plug_in``, ``low``, ``high``, ``p_value``,
        ``best_group``, ``worst_group``, ``n_groups``).
    worst : dict
        The largest gap over columns, with its ``column``.
    notes : list of str
    source : str
        ``"conformal"``, or ``"model"`` for the model's own intervals (:func:`interval_coverage`; ``half_width`` is
        NaN and ``n_calibration`` 0 there).
    mean_width : float
        Mean interval width over the measured rows (``2 half_width`` for conformal intervals).
    """

    level: float
    half_width: float
    n_calibration: int
    coverage: float
    low: float
    high: float
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    worst: dict[str, object]
    notes: list[str] = field(default_factory=list)
    source: str = "conformal"
    mean_width: float = math.nan


def conformal_quantile(scores, level: float) -> float:
    """The split-conformal half-width: the ``ceil((n + 1) level)``-th smallest score (inf when that rank
    exceeds ``n``: too few calibration rows for ``level``).

    Examples
    --------
    >>> conformal_quantile([0.1, 0.4, 0.2, 0.3], 0.6)  # rank ceil(5 * 0.6) = 3
    0.3
    >>> conformal_quantile([0.1, 0.4], 0.9)
    inf
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    if not 0 < level < 1:
        raise AuditInputError(f"level must be in (0, 1), got {level!r}")
    if not len(s) or not np.isfinite(s).all():
        raise AuditInputError("conformal scores must be a non-empty array of finite numbers (|y - prediction| on the "
                              "calibration rows)")
    rank = math.ceil((len(s) + 1) * level)
    return float(s[rank - 1]) if rank <= len(s) else math.inf


def split_conformal(
    calibration_y,
    calibration_pred,
    y,
    pred,
    sensitive: pd.DataFrame | None = None,
    *,
    level: float = 0.9,
    min_group_size: int = 30,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConformalResult:
    """Calibrate absolute-residual intervals on ``calibration_*`` and measure their coverage on ``y``, overall
    and per group of each ``sensitive`` column.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=4000); y = 2 * x + rng.normal(size=4000)
    >>> r = split_conformal(y[:2000], 2 * x[:2000], y[2000:], 2 * x[2000:], level=0.9)
    >>> round(r.half_width, 1), bool(abs(r.coverage - 0.9) < 0.02)
    (1.6, True)
    """
    cy, cp = np.asarray(calibration_y, dtype=np.float64), np.asarray(calibration_pred, dtype=np.float64)
    ty, tp = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    if len(cy) != len(cp) or len(ty) != len(tp):
        raise AuditInputError("calibration and audited rows need one prediction per label")
    q = conformal_quantile(np.abs(cy - cp), level)
    covered = np.abs(ty - tp) <= q
    notes = []
    if not math.isfinite(q):
        notes.append(f"{len(cy)} calibration rows are too few for {level:.0%} intervals (they need at least "
                     f"{math.ceil(level / (1 - level))}): the interval is unbounded.")
    return _coverage(covered, sensitive, level=level, half_width=q, n_calibration=len(cy), notes=notes,
                     mean_width=2 * q, min_group_size=min_group_size, n_boot=n_boot, confidence=confidence, seed=seed)


def interval_coverage(y, lower, upper, sensitive: pd.DataFrame | None = None, *, level: float = 0.9,
                      min_group_size: int = 30, n_boot: int = 1000, confidence: float = 0.95,
                      seed: int = 0) -> ConformalResult:
    """The coverage of a model's own prediction intervals ``[lower, upper]`` on ``y``, overall and per group of each
    ``sensitive`` column, with the coverage gap under the gap rule; ``level`` is their stated nominal coverage.

    Examples
    --------
    >>> r = interval_coverage([1.0, 2.0, 3.0, 4.0], [0.5, 2.5, 2.0, 3.0], [1.5, 3.0, 3.5, 5.0], level=0.8)
    >>> r.coverage, r.mean_width, r.source
    (0.75, 1.25, 'model')
    """
    ty = np.asarray(y, dtype=np.float64).reshape(-1)
    lo, hi = np.asarray(lower, dtype=np.float64).reshape(-1), np.asarray(upper, dtype=np.float64).reshape(-1)
    if not (len(ty) == len(lo) == len(hi)) or not len(ty):
        raise AuditInputError("interval_coverage needs one lower and one upper bound per label (and at least one row)")
    if not 0 < level < 1:
        raise AuditInputError(f"level must be in (0, 1), got {level!r}")
    covered = (lo <= ty) & (ty <= hi)
    return _coverage(covered, sensitive, level=level, half_width=math.nan, n_calibration=0, notes=[],
                     mean_width=float(np.mean(hi - lo)), min_group_size=min_group_size, n_boot=n_boot,
                     confidence=confidence, seed=seed, source="model")


def _coverage(covered: np.ndarray, sensitive: pd.DataFrame | None, *, level: float, half_width: float,
              n_calibration: int, notes: list[str], mean_width: float, min_group_size: int, n_boot: int,
              confidence: float, seed: int, source: str = "conformal") -> ConformalResult:
    """Coverage of ``covered`` overall (Wilson) and per group, and the coverage gaps (gap rule)."""
    n = len(covered)
    k = int(covered.sum())
    low, high = wilson_interval(k, n, _z(confidence))
    rows, gaps = [], pd.DataFrame()
    worst: dict[str, object] = {"column": None, "gap": math.nan}
    if sensitive is not None and sensitive.shape[1]:
        codes, levels, columns = [], [], []
        for col in sensitive.columns:
            c, lv = pd.factorize(sensitive[col], sort=True)
            codes.append(c)
            levels.append(pd.Index(lv))
            columns.append(str(col))
            for g, name in enumerate(lv):
                sel = c == g
                kg, ng = int(covered[sel].sum()), int(sel.sum())
                lo, hi = wilson_interval(kg, ng, _z(confidence))
                rows.append({"column": str(col), "group": str(name), "n": ng, "coverage": kg / ng, "low": lo, "high": hi})
        per_col, worst = proportion_gaps(covered, codes, levels, columns, min_group_size=min_group_size, n_boot=n_boot,
                                         rng=np.random.default_rng(seed), confidence=confidence)
        gaps = pd.DataFrame(per_col, index=pd.Index(columns, name="column"))
    by_group = pd.DataFrame(rows, columns=["column", "group", "n", "coverage", "low", "high"])
    return ConformalResult(level=level, half_width=half_width, n_calibration=n_calibration, coverage=k / n, low=low,
                           high=high, by_group=by_group, gaps=gaps, worst=worst, notes=notes, source=source,
                           mean_width=mean_width)


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)
