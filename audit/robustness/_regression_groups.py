"""A regressor's robust error per sensitive group and the gap between groups, under the gap rule.

The groups' MAE and RMSE on the adversarial inputs and their max - min gap, under the rule
:func:`audit.fairness.regression_fairness` applies to a regressor's errors: a bias-corrected estimate, an
interval over every pairwise contrast from the groups' influence-function standard errors, and a permutation
p-value of "no gap" (one set of permutations serves every attack result). The gap over several sensitive
columns is the worst of the columns' gaps, each at the Bonferroni level for the columns
(:func:`audit.stats.worst_of`), like the classification robustness gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.robustness._regression_result import RegressionAttackResult
from audit.stats import (
    GapEvidence,
    bias_corrected,
    family_confidence,
    group_regression_metrics,
    permutation_p_value,
    range_interval,
    worst_of,
)

#: the errors whose gaps between groups are reported
ERROR_METRICS = ("mae", "rmse")
#: rows the permutation test works on (a seeded subsample beyond it), as for the fairness check's regression gaps
PERMUTATION_ROWS = 20_000


def regression_key(r: RegressionAttackResult) -> str:
    """``"pgd.linf@0.1"``: how a result is named in tables and metric names."""
    return f"{r.attack}.{r.norm}@{r.eps:g}"


@dataclass
class RegressionGroupRobustness:
    """Per-group robust MAE and RMSE of several attacks on a regressor, and the gaps between groups.

    Attributes
    ----------
    table : DataFrame
        One row per (sensitive ``column``, ``group``): ``n``, ``clean_mae``, ``clean_rmse`` and, per attack result
        (``"pgd.linf@0.1"``), ``"<key> mae"`` and ``"<key> rmse"``: the group's error on the adversarial inputs.
    gaps : DataFrame
        One row per (``column``, ``key``, ``metric``): ``attack``, ``norm``, ``eps``, ``gap`` (bias-corrected max
        minus min of the groups' robust error, the gated value), ``plug_in``, ``low``, ``high``, ``p_value``,
        ``worst_group`` (largest error), ``best_group`` and ``n_groups``; NaN when fewer than two groups have
        ``min_group_size`` rows.
    overall : DataFrame
        Index ``(key, metric)``: the worst sensitive ``column`` and its gap over every column.
    notes : list of str
    """

    table: pd.DataFrame
    gaps: pd.DataFrame
    overall: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def max_gap(self, key: str, metric: str) -> tuple[float, float | None, float | None]:
        """Largest gap over sensitive columns of ``metric`` for ``key`` with its interval (NaN when undefined)."""
        if (key, metric) not in self.overall.index or pd.isna(self.overall.loc[(key, metric), "gap"]):
            return math.nan, None, None
        row = self.overall.loc[(key, metric)]
        lo, hi = row["low"], row["high"]
        return float(row["gap"]), None if pd.isna(lo) else float(lo), None if pd.isna(hi) else float(hi)


def _errors(y: np.ndarray, pred: np.ndarray, sel: np.ndarray) -> tuple[float, float]:
    e = pred[sel] - y[sel]
    return float(np.mean(np.abs(e))), float(np.sqrt(np.mean(e * e)))


def regression_group_robustness(
    results: Sequence[RegressionAttackResult],
    sensitive: pd.DataFrame,
    *,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> RegressionGroupRobustness:
    """Robust MAE and RMSE of each sensitive group after each attack on a regressor, and the gaps between groups.

    Examples
    --------
    >>> import torch
    >>> from audit.robustness import regression_random_search_curve
    >>> x, y = np.zeros((80, 1)), np.r_[np.zeros(40), np.ones(40)]
    >>> c = regression_random_search_curve(lambda z: z[:, 0], x, y, [0.1])
    >>> g = regression_group_robustness(c.results, pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40}), n_boot=50)
    >>> g.table[["group", "clean_mae", "random_search.linf@0.1 mae"]].round(3).values.tolist()
    [['a', 0.0, 0.1], ['b', 1.0, 1.1]]
    """
    if not results:
        raise AuditInputError("results is empty; pass at least one RegressionAttackResult")
    n = len(results[0].y)
    if any(len(r.y) != n for r in results) or len(sensitive) != n:
        raise AuditInputError(f"results and sensitive must cover the same {n} rows; got lengths "
                              f"{[len(r.y) for r in results]} and {len(sensitive)}")
    y, clean = results[0].y, results[0].pred_clean
    columns = [str(c) for c in sensitive.columns]
    sens = sensitive.set_axis(columns, axis=1).reset_index(drop=True)
    rows: list[dict[str, object]] = []
    for col in columns:
        g = sens[col].astype(str).to_numpy()
        for level in sorted(set(g.tolist())):
            sel = g == level
            mae, rmse = _errors(y, clean, sel)
            row: dict[str, object] = {"column": col, "group": level, "n": int(sel.sum()), "clean_mae": mae,
                                      "clean_rmse": rmse}
            for r in results:
                row[f"{regression_key(r)} mae"], row[f"{regression_key(r)} rmse"] = _errors(y, r.pred_adv, sel)
            rows.append(row)
    gaps, overall, notes = _gaps(results, sens, min_group_size, n_boot, seed, confidence)
    return RegressionGroupRobustness(table=pd.DataFrame(rows), gaps=gaps, overall=overall, notes=notes)


def _gaps(results: Sequence[RegressionAttackResult], sens: pd.DataFrame, min_group_size: int, n_boot: int,
          seed: int, confidence: float) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Per-column gaps of each result's robust MAE and RMSE, and the worst over columns at the family level."""
    rng = np.random.default_rng(seed)
    k = sens.shape[1]
    levels = (confidence, family_confidence(confidence, k))
    y = results[0].y
    preds = np.stack([r.pred_adv for r in results])
    per_col, notes = {}, []
    for col in sens.columns:
        per_col[col] = _column_gaps(y, preds, sens[col].astype(str).to_numpy(), min_group_size, n_boot, rng, levels)
        if per_col[col] is None:
            notes.append(f"{col}: fewer than two groups with {min_group_size}+ rows; no robust-error gap between groups.")
    gaps, overall = [], []
    for i, r in enumerate(results):
        head = {"key": regression_key(r), "attack": r.attack, "norm": r.norm, "eps": r.eps}
        for m in ERROR_METRICS:
            rows = [{"column": col, **head, "metric": m, **_row(per_col[col], i, m, 0)} for col in sens.columns]
            gaps.extend(rows)
            evidence = [GapEvidence(*(_row(per_col[col], i, m, 1)[f] for f in _EVIDENCE)) for col in sens.columns]
            pick, ev = worst_of(evidence, "difference")
            worst = rows[pick] if pick >= 0 else {}
            overall.append({**head, "metric": m, "column": worst.get("column"), "gap": ev.corrected,
                            "plug_in": ev.plug_in, "low": ev.low, "high": ev.high, "p_value": ev.p_value,
                            "worst_group": worst.get("worst_group"), "best_group": worst.get("best_group")})
    cols = ["column", "key", "attack", "norm", "eps", "metric", "gap", "plug_in", "low", "high", "p_value",
            "worst_group", "best_group", "n_groups"]
    over = pd.DataFrame(overall, columns=["key", "attack", "norm", "eps", "metric", "column", "gap", "plug_in", "low",
                                          "high", "p_value", "worst_group", "best_group"]).set_index(["key", "metric"])
    return pd.DataFrame(gaps, columns=cols), over, notes


#: the fields of :class:`audit.stats.GapEvidence`, in order, as the rows name them
_EVIDENCE = ("plug_in", "gap", "low", "high", "p_value")


def _row(column: dict | None, i: int, metric: str, level: int) -> dict[str, object]:
    """Result ``i``'s gap in ``metric`` at confidence level ``level`` (0: the column's own, 1: the family's)."""
    if column is None:
        return {"gap": math.nan, "plug_in": math.nan, "low": math.nan, "high": math.nan, "p_value": math.nan,
                "worst_group": "", "best_group": "", "n_groups": 0}
    return column[(i, metric, level)]


def _group_errors(abs_e: np.ndarray, sq_e: np.ndarray, codes: np.ndarray, G: int) -> dict[str, np.ndarray]:
    """Each result's (rows of ``abs_e``, ``sq_e``) MAE and RMSE per group: ``(R, G)`` each."""
    onehot = np.zeros((len(codes), G))
    onehot[np.arange(len(codes)), codes] = 1.0
    counts = onehot.sum(axis=0)
    return {"mae": abs_e @ onehot / counts, "rmse": np.sqrt(sq_e @ onehot / counts)}


def _column_gaps(y: np.ndarray, preds: np.ndarray, g: np.ndarray, min_group_size: int, n_boot: int,
                 rng: np.random.Generator, levels: tuple[float, float]) -> dict | None:
    """The gap rule for every result (rows of ``preds``) and error metric over the groups ``g`` of one column
    (None when fewer than two groups are large enough): the plug-in max - min, a permutation p-value (group labels
    permuted over the eligible rows, the same permutations for every result), and at each confidence of
    ``levels`` the max-|t| band from normal draws around each group's error with its influence-function standard
    error (:func:`audit.stats.group_regression_metrics`), the bias-corrected estimate clipped into it, and 0 as
    its lower end when the test sees no gap, as the fairness check's regression gaps are computed."""
    names, counts = np.unique(g, return_counts=True)
    names = names[counts >= min_group_size]
    if len(names) < 2:
        return None
    keep = np.isin(g, names)
    codes = np.searchsorted(names, g[keep])
    e = preds[:, keep] - y[None, keep]
    abs_e, sq_e = np.abs(e), e * e
    values = _group_errors(abs_e, sq_e, codes, len(names))
    sub = np.arange(len(codes))
    if len(sub) > PERMUTATION_ROWS:  # a seeded subsample keeps the test exact for it
        sub = np.sort(rng.choice(sub, PERMUTATION_ROWS, replace=False))
    perm = {m: np.empty((len(preds), n_boot)) for m in ERROR_METRICS}
    for b in range(n_boot):
        v = _group_errors(abs_e[:, sub], sq_e[:, sub], rng.permutation(codes[sub]), len(names))
        for m in ERROR_METRICS:
            perm[m][:, b] = v[m].max(axis=1) - v[m].min(axis=1)
    out = {}
    for i in range(len(preds)):
        table = group_regression_metrics(y[keep], preds[i, keep], g[keep])
        for m in ERROR_METRICS:
            vals, se = values[m][i], table[f"{m}_se"].to_numpy(dtype=float)
            plug = float(vals.max() - vals.min())
            p = permutation_p_value(plug, perm[m][i]) if n_boot else math.nan
            draws = vals[None, :] + se[None, :] * rng.standard_normal((n_boot, len(vals))) if n_boot else None
            for j, level in enumerate(levels):
                out[(i, m, j)] = {**_gap_rule(plug, vals, draws, p, level),
                                  "worst_group": str(names[vals.argmax()]), "best_group": str(names[vals.argmin()]),
                                  "n_groups": len(names)}
    return out


def _gap_rule(plug: float, vals: np.ndarray, draws: np.ndarray | None, p: float, level: float) -> dict[str, float]:
    """Estimate and interval of a max - min in the target's units (not clipped to [0, 1] as rates are)."""
    if draws is None:
        return {"gap": plug, "plug_in": plug, "low": math.nan, "high": math.nan, "p_value": p}
    low, high = range_interval([(vals, draws)], level)
    corrected = max(bias_corrected(plug, draws.max(axis=1) - draws.min(axis=1)), 0.0)
    if not np.isnan(p) and p >= 1 - level:  # the test sees no gap: neither does the interval
        low = 0.0
    return {"gap": min(max(corrected, low), high), "plug_in": plug, "low": low, "high": high, "p_value": p}
