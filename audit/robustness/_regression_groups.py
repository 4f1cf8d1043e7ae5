"""A regressor's robust error per sensitive group and the gap between groups, under the gap rule.

The groups' MAE and RMSE on the adversarial inputs, and their max - min gap, computed by
:func:`audit.fairness.regression_fairness` on the adversarial predictions: the fairness check's gap rule for
regression errors (bias-corrected estimate, an interval over every pairwise contrast from the groups'
influence-function standard errors, a permutation p-value of "no gap"). The gap over several sensitive
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
from audit.fairness import regression_fairness
from audit.robustness._regression_result import RegressionAttackResult
from audit.stats import GapEvidence, family_confidence, worst_of

#: the errors whose gaps between groups are reported
ERROR_METRICS = ("mae", "rmse")


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
    k = sens.shape[1]
    level = family_confidence(confidence, k)
    gaps, overall, notes = [], [], []
    for i, r in enumerate(results):
        head = {"key": regression_key(r), "attack": r.attack, "norm": r.norm, "eps": r.eps}
        fair = regression_fairness(r.y, r.pred_adv, sens, min_group_size=min_group_size, n_boot=n_boot,
                                   confidence=confidence, seed=seed + i)
        family = fair if k == 1 else regression_fairness(r.y, r.pred_adv, sens, min_group_size=min_group_size,
                                                         n_boot=n_boot, confidence=level, seed=seed + i)
        if i == 0:
            notes = list(fair.notes)
        for m in ERROR_METRICS:
            evidence = []
            for col in sens.columns:
                row = _gap_row(fair.gaps, col, m)
                gaps.append({"column": col, **head, "metric": m, **row})
                fam = _gap_row(family.gaps, col, m)
                evidence.append(GapEvidence(fam["plug_in"], fam["gap"], fam["low"], fam["high"], fam["p_value"]))
            pick, ev = worst_of(evidence, "difference")
            worst = gaps[len(gaps) - k + pick] if pick >= 0 else {}
            overall.append({**head, "metric": m, "column": worst.get("column"), "gap": ev.corrected,
                            "plug_in": ev.plug_in, "low": ev.low, "high": ev.high, "p_value": ev.p_value,
                            "worst_group": worst.get("worst_group"), "best_group": worst.get("best_group")})
    cols = ["column", "key", "attack", "norm", "eps", "metric", "gap", "plug_in", "low", "high", "p_value",
            "worst_group", "best_group", "n_groups"]
    over = pd.DataFrame(overall, columns=["key", "attack", "norm", "eps", "metric", "column", "gap", "plug_in", "low",
                                          "high", "p_value", "worst_group", "best_group"]).set_index(["key", "metric"])
    return pd.DataFrame(gaps, columns=cols), over, notes


def _gap_row(table: pd.DataFrame, column: str, metric: str) -> dict[str, object]:
    """One column's gap in ``metric`` from :func:`regression_fairness`'s table (NaN when it has none)."""
    if (column, metric) not in table.index:
        return {"gap": math.nan, "plug_in": math.nan, "low": math.nan, "high": math.nan, "p_value": math.nan,
                "worst_group": "", "best_group": "", "n_groups": 0}
    t = table.loc[(column, metric)]
    return {"gap": float(t["gap"]), "plug_in": float(t["plug_in"]), "low": float(t["low"]), "high": float(t["high"]),
            "p_value": float(t["p_value"]), "worst_group": str(t["max_group"]), "best_group": str(t["min_group"]),
            "n_groups": int(t["n_groups"])}
