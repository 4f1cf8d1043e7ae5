"""Fairness of a regressor: per-group errors and predictions, the gaps between groups, the worst group's loss,
and whether the groups get the same distribution of predictions.

Every gap follows the gap rule of :mod:`audit.stats._gaps`: a bias-corrected estimate, an interval that bounds
every pairwise contrast at once (a max-|t| band; the draws are normal around each group's value with its
influence-function standard error, :func:`audit.stats.regression_intervals`, since groups are independent),
and a permutation p-value for "no gap" (group labels permuted over the rows of the eligible groups, each row
keeping its weight; on a seeded subsample of :data:`PERMUTATION_ROWS` rows when there are more, which keeps the
test exact for the subsample). The worst group's loss (fairlearn's bounded group loss) is the largest group
MAE / RMSE with the interval :func:`audit.stats.worst_of` gives over the groups; ``worst_group_relative_mae``
divides the worst group's MAE by the MAE of every row, a unit-free number (1: the worst group is served as well
as everyone), its interval by the delta method (the group's rows are part of the whole).

Distributional parity is the largest Kolmogorov-Smirnov distance between two groups' prediction CDFs (for two
groups, ``scipy.stats.ks_2samp``'s statistic), tested by the same permutations. Its interval is the
Dvoretzky-Kiefer-Wolfowitz bound (Massart's constant): each group's empirical CDF lies within
``sqrt(log(2 / a) / (2 n))`` of its true CDF with probability ``1 - a`` whatever the distribution, so with
``a = (1 - confidence) / groups`` every pairwise distance is known to within the sum of its two groups' bands
at once (conservative; Kish's effective size with weights).

The worst over the columns (``overall``) takes each column's evidence at
:func:`audit.stats.family_confidence` ``(confidence, columns)`` and combines it with
:func:`audit.stats.worst_of`, as the classification disparities do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.stats import (
    GapEvidence,
    bias_corrected,
    family_confidence,
    group_regression_metrics,
    permutation_p_value,
    range_interval,
    worst_of,
)

#: group metrics whose max - min is gated
GAP_METRICS = ("mae", "rmse", "mean_residual", "mean_prediction", "r2")
#: the worst group's loss: in the target's units (mae, rmse) and relative to every row's MAE
LOSS_METRICS = ("worst_group_mae", "worst_group_rmse", "worst_group_relative_mae")
#: rows the permutation test works on (a seeded subsample beyond it)
PERMUTATION_ROWS = 20_000
_GAP_COLUMNS = ["plug_in", "gap", "low", "high", "p_value", "max_group", "max_value", "min_group", "min_value",
                "n_groups"]


@dataclass
class RegressionFairness:
    """Per-group regression metrics and gaps for each sensitive column.

    Attributes
    ----------
    groups : dict of str to DataFrame
        Column -> :func:`audit.stats.group_regression_metrics` (plus ``small``).
    gaps : DataFrame
        Index ``(column, metric)``: ``plug_in`` (max - min over eligible groups), ``gap`` (bias-corrected),
        ``low``, ``high``, ``p_value``, ``max_group`` / ``max_value``, ``min_group`` / ``min_value``,
        ``n_groups``. ``metric`` is a :data:`GAP_METRICS` name, a :data:`LOSS_METRICS` name (the largest group
        loss, its group in ``max_group``) or ``prediction_ks`` (distributional parity: ``max_group`` gets the
        higher predictions, ``min_group`` the lower, at the point where their CDFs differ most).
    overall : DataFrame
        Index ``metric``: the worst over the columns with a gap (``column`` says which), each column's evidence
        at ``column_confidence`` (Bonferroni for ``columns`` columns), combined by :func:`audit.stats.worst_of`.
    notes : list of str
    confidence : float
    n_boot, n_perm : int
    """

    groups: dict[str, pd.DataFrame]
    gaps: pd.DataFrame
    overall: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.95
    n_boot: int = 0
    n_perm: int = 0


# ------------------------------------------------------------------------------ group sums and CDF distances
def _stat_sums(stats: dict[str, np.ndarray], codes: np.ndarray, V: int, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every gap metric per group from weighted row statistics (one bincount each; ``stats`` already times ``w``)."""
    tot = np.bincount(codes, weights=w, minlength=V)
    s = {k: np.bincount(codes, weights=v, minlength=V) / tot for k, v in stats.items()}
    var_y = s["y2"] - s["y"] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(var_y > 0, 1 - s["sq"] / np.where(var_y > 0, var_y, 1.0), np.nan)
    return {"mae": s["abs"], "rmse": np.sqrt(s["sq"]), "mean_residual": s["res"], "mean_prediction": s["pred"], "r2": r2}


def _cdf_spread(codes_sorted: np.ndarray, w_sorted: np.ndarray, ends: np.ndarray, V: int) -> tuple[float, int, int]:
    """The largest distance between two groups' prediction CDFs, and the groups with the lower (higher predictions)
    and the higher CDF there. Rows are in prediction order; ``ends`` marks the last row of each run of equal
    predictions, where the CDFs are evaluated. One pass per group keeps memory at O(rows) (and was faster than
    one cumulative sum over a rows x groups block)."""
    top = np.full(int(ends.sum()), -np.inf)
    bottom = np.full_like(top, np.inf)
    arg_top = np.zeros(len(top), dtype=np.int64)
    arg_bottom = np.zeros(len(top), dtype=np.int64)
    for j in range(V):
        mass = np.where(codes_sorted == j, w_sorted, 0.0)
        cdf = np.cumsum(mass)[ends] / mass.sum()
        up, down = cdf > top, cdf < bottom
        top[up], arg_top[up] = cdf[up], j
        bottom[down], arg_bottom[down] = cdf[down], j
    spread = top - bottom
    i = int(np.argmax(spread))
    return float(spread[i]), int(arg_bottom[i]), int(arg_top[i])


def _order(pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(pred, kind="stable")
    s = pred[order]
    return order, np.r_[s[1:] != s[:-1], True]


def _permuted(y: np.ndarray, p: np.ndarray, w: np.ndarray, codes: np.ndarray, V: int, P: int,
              rng: np.random.Generator) -> dict[str, tuple[float, np.ndarray]]:
    """Each gap metric's max - min and the largest CDF distance on these rows, with its ``(P,)`` permutation
    distribution (group labels permuted; each row keeps its weight). The observed value is taken on the same rows
    as the permutations, so on a subsample the test is exact for the subsample."""
    r = y - p
    stats = {"abs": np.abs(r) * w, "sq": r * r * w, "res": r * w, "pred": p * w, "y": y * w, "y2": y * y * w}
    order, ends = _order(p)

    def gaps(c: np.ndarray) -> dict[str, float]:
        with np.errstate(invalid="ignore"):
            out = {m: float(np.nanmax(v) - np.nanmin(v)) if np.isfinite(v).any() else np.nan
                   for m, v in _stat_sums(stats, c, V, w).items()}
        return {**out, "prediction_ks": _cdf_spread(c[order], w[order], ends, V)[0]}

    seen = gaps(codes)
    draws = [gaps(rng.permutation(codes)) for _ in range(P)]
    return {m: (seen[m], np.array([d[m] for d in draws])) for m in seen}


# ------------------------------------------------------------------------------------------- the evidence
def _range_evidence(values: np.ndarray, draws: np.ndarray | None, p_value: float, confidence: float) -> GapEvidence:
    """The gap rule for a max - min in the target's units (not clipped to [0, 1] as rates are)."""
    plug = float(values.max() - values.min())
    if draws is None:
        return GapEvidence(plug, plug, math.nan, math.nan, p_value)
    low, high = range_interval([(values, draws)], confidence)
    corrected = max(bias_corrected(plug, draws.max(axis=1) - draws.min(axis=1)), 0.0)
    if not np.isnan(p_value) and p_value >= 1 - confidence:  # the test sees no gap: neither does the interval
        low = 0.0
    return GapEvidence(plug, min(max(corrected, low), high), low, high, p_value)


def _ks_evidence(d: float, pair: tuple[int, int], n_eff: np.ndarray, p_value: float, confidence: float) -> GapEvidence:
    """The KS distance with its DKW interval (every group's band at Bonferroni level ``confidence``)."""
    eps = np.sqrt(np.log(2 * len(n_eff) / (1 - confidence)) / (2 * n_eff))
    two = np.sort(eps)[-2:].sum()  # the upper end: any pair's distance is within its two bands
    low = max(d - eps[pair[0]] - eps[pair[1]], 0.0)  # the observed pair's true distance is at least this
    if not np.isnan(p_value) and p_value >= 1 - confidence:
        low = 0.0
    return GapEvidence(d, d, low, min(d + two, 1.0), p_value)


def _loss_evidence(values: np.ndarray, se: np.ndarray, confidence: float) -> tuple[int, GapEvidence]:
    """The largest group value with an interval over the groups (each group's at the Bonferroni level)."""
    z = NormalDist().inv_cdf(0.5 + family_confidence(confidence, len(values)) / 2)
    pick, ev = worst_of([GapEvidence(a, a, a - z * b, a + z * b, math.nan) for a, b in zip(values, se)], "difference")
    return pick, GapEvidence(ev.plug_in, ev.corrected, max(ev.low, 0.0), ev.high, math.nan)


def _relative_mae(a: np.ndarray, w: np.ndarray, codes: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray]:
    """Each group's MAE divided by every row's MAE, with its delta-method standard error.

    ``R_g = A_g / A``; linearised, row ``i`` adds ``w_i ([i in g] (a_i - A_g) / (W_g A) - R_g (a_i - A) / (W A))``,
    so ``var(R_g)`` is the sum of the squares (``codes`` -1 for rows in no compared group)."""
    W = w.sum()
    A = float(np.dot(w, a) / W)
    if A <= 0:
        return np.full(V, np.nan), np.full(V, np.nan)
    u = w * (a - A) / (W * A)
    total = float(np.dot(u, u))
    ratio, se = np.empty(V), np.empty(V)
    for j in range(V):
        sel = codes == j
        wg, ag, ug = w[sel], a[sel], u[sel]
        Ag = float(np.dot(wg, ag) / wg.sum())
        ratio[j] = Ag / A
        inside = wg * (ag - Ag) / (wg.sum() * A) - ratio[j] * ug
        se[j] = math.sqrt(float(np.dot(inside, inside)) + ratio[j] ** 2 * (total - float(np.dot(ug, ug))))
    return ratio, se


# -------------------------------------------------------------------------------------------- one column
Entry = tuple[str, list[GapEvidence], dict[str, object]]  # metric, its evidence at each level, the groups named


def _who(names: np.ndarray, values: np.ndarray, hi: int, lo: int | None) -> dict[str, object]:
    return {"max_group": str(names[hi]), "max_value": float(values[hi]) if len(values) else math.nan,
            "min_group": None if lo is None else str(names[lo]),
            "min_value": float(values[lo]) if lo is not None and len(values) else math.nan, "n_groups": len(names)}


def _gap_entries(ok: pd.DataFrame, names: np.ndarray, perm: dict[str, tuple[float, np.ndarray]] | None, B: int,
                 rng: np.random.Generator, levels: tuple[float, ...]) -> list[Entry]:
    out: list[Entry] = []
    for m in GAP_METRICS:
        values = ok[m].to_numpy(dtype=float)
        finite = ~np.isnan(values)
        if finite.sum() < 2:  # R^2 of groups whose target is constant is undefined
            nan = GapEvidence(*(math.nan,) * 5)
            out.append((m, [nan] * len(levels), _who(names, values, 0, 0)))
            continue
        v, se, kept = values[finite], ok[f"{m}_se"].to_numpy(dtype=float)[finite], names[finite]
        draws = v[None, :] + np.nan_to_num(se)[None, :] * rng.standard_normal((B, len(v))) if B else None
        p_value = math.nan if perm is None else permutation_p_value(*perm[m])
        out.append((m, [_range_evidence(v, draws, p_value, c) for c in levels],
                    _who(kept, v, int(v.argmax()), int(v.argmin()))))
    return out


def _loss_entries(ok: pd.DataFrame, names: np.ndarray, a: np.ndarray, w: np.ndarray, codes: np.ndarray,
                  levels: tuple[float, ...]) -> list[Entry]:
    ratio, ratio_se = _relative_mae(a, w, codes, len(names))
    out: list[Entry] = []
    for m, v, se in (("worst_group_mae", ok["mae"].to_numpy(dtype=float), ok["mae_se"].to_numpy(dtype=float)),
                     ("worst_group_rmse", ok["rmse"].to_numpy(dtype=float), ok["rmse_se"].to_numpy(dtype=float)),
                     ("worst_group_relative_mae", ratio, ratio_se)):
        picked = [_loss_evidence(v, se, c) for c in levels]
        out.append((m, [e for _, e in picked], _who(names, v, max(picked[0][0], 0), None)))
    return out


def _ks_entry(p: np.ndarray, w: np.ndarray, codes: np.ndarray, names: np.ndarray,
              perm: tuple[float, np.ndarray] | None, levels: tuple[float, ...]) -> Entry:
    order, ends = _order(p)
    V = len(names)
    d, higher, lower = _cdf_spread(codes[order], w[order], ends, V)
    n_eff = np.bincount(codes, weights=w, minlength=V) ** 2 / np.bincount(codes, weights=w * w, minlength=V)
    p_value = math.nan if perm is None else permutation_p_value(*perm)
    who = _who(names, np.full(V, math.nan), higher, lower)
    return "prediction_ks", [_ks_evidence(d, (higher, lower), n_eff, p_value, c) for c in levels], who


def _column(y: np.ndarray, p: np.ndarray, w: np.ndarray, g: np.ndarray, ok: pd.DataFrame, *, B: int, P: int,
            rng: np.random.Generator, levels: tuple[float, ...], col: str, notes: list[str]) -> list[Entry]:
    """Every gap, loss and distance of one column's eligible groups ``ok``, at each confidence of ``levels``."""
    names = ok.index.to_numpy()
    codes = pd.Index(names).get_indexer(g)  # -1: a row of a small group
    keep = codes >= 0
    perm = None
    if P:
        sub = np.flatnonzero(keep)
        if len(sub) > PERMUTATION_ROWS:
            sub = np.sort(rng.choice(sub, PERMUTATION_ROWS, replace=False))
            notes.append(f"{col}: permutation tests on a seeded sample of {PERMUTATION_ROWS:,} of the "
                         f"{int(keep.sum()):,} rows in compared groups.")
        perm = _permuted(y[sub], p[sub], w[sub], codes[sub], len(names), P, rng)
    out = _gap_entries(ok, names, perm, B, rng, levels)
    out.append(_ks_entry(p[keep], w[keep], codes[keep], names, None if perm is None else perm["prediction_ks"], levels))
    return out + _loss_entries(ok, names, np.abs(y - p), w, codes, levels)


def _fields(ev: GapEvidence) -> dict[str, float]:
    return {"plug_in": ev.plug_in, "gap": ev.corrected, "low": ev.low, "high": ev.high, "p_value": ev.p_value}


def _overall(family: dict[str, list[tuple[str, GapEvidence, dict[str, object]]]], level: float, k: int) -> pd.DataFrame:
    """The worst of each metric over the columns (each column's evidence at the Bonferroni ``level``)."""
    rows = {}
    for metric, entries in family.items():
        pick, ev = worst_of([e for _, e, _ in entries], "difference")
        col, _, who = entries[max(pick, 0)]
        rows[metric] = {"column": col if pick >= 0 else None, **_fields(ev), **who, "column_confidence": level,
                        "columns": k}
    out = pd.DataFrame.from_dict(rows, orient="index",
                                 columns=["column", *_GAP_COLUMNS, "column_confidence", "columns"])
    out.index.name = "metric"
    return out


# ---------------------------------------------------------------------------------------------- the API
def regression_fairness(
    y_true,
    y_pred,
    sensitive: pd.DataFrame,
    *,
    sample_weight=None,
    min_group_size: int = 30,
    n_boot: int = 1000,
    n_perm: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> RegressionFairness:
    """Group metrics and gaps of a regressor for each column of ``sensitive``, and the worst over the columns.

    Groups are compared when they have ``min_group_size`` rows (rows, also with ``sample_weight``, which weighs
    every value, interval and test as fairlearn's ``MetricFrame(sample_params=...)`` does).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.where(rng.random(2000) < 0.5, "a", "b")
    >>> y = rng.normal(size=2000)
    >>> p = y + rng.normal(scale=np.where(g == "a", 0.5, 1.0))
    >>> r = regression_fairness(y, p, pd.DataFrame({"g": g}), n_boot=300)
    >>> row = r.gaps.loc[("g", "mae")]
    >>> row["max_group"], bool(row["low"] > 0.2), bool(row["p_value"] < 0.01)
    ('b', True, True)
    >>> r.overall.loc["mae", "column"]
    'g'
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if not isinstance(sensitive, pd.DataFrame) or len(sensitive) != len(y):
        raise AuditInputError("sensitive must be a DataFrame with one row per label")
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be in (0, 1), got {confidence!r}")
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    B = int(n_boot)
    P = B if n_perm is None else int(n_perm)
    groups: dict[str, pd.DataFrame] = {}
    labels: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for col in sensitive.columns:
        labels[str(col)] = sensitive[col].astype(str).to_numpy()
        table = group_regression_metrics(y, p, labels[str(col)], sample_weight=sample_weight, confidence=confidence)
        table["small"] = table["count"] < min_group_size
        groups[str(col)] = table
    compared = [c for c, t in groups.items() if int((~t["small"]).sum()) >= 2]
    notes += [f"{c}: fewer than two groups with {min_group_size}+ rows; no gap between groups." for c in groups
              if c not in compared]
    levels = (confidence, family_confidence(confidence, len(compared)))
    rows: list[dict[str, object]] = []
    family: dict[str, list[tuple[str, GapEvidence, dict[str, object]]]] = {}
    for col in compared:
        ok = groups[col][~groups[col]["small"]]
        for metric, evs, who in _column(y, p, w, labels[col], ok, B=B, P=P, rng=rng, levels=levels, col=col, notes=notes):
            rows.append({"column": col, "metric": metric, **_fields(evs[0]), **who})
            family.setdefault(metric, []).append((col, evs[1], who))
    gaps = pd.DataFrame(rows, columns=["column", "metric", *_GAP_COLUMNS]).set_index(["column", "metric"])
    return RegressionFairness(groups=groups, gaps=gaps, overall=_overall(family, levels[1], len(compared)), notes=notes,
                              confidence=confidence, n_boot=B, n_perm=P)
