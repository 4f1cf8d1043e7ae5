"""The fairness check's regression branch: per-group errors and predictions, the gaps between groups, the worst
group's loss and distributional parity, from :func:`audit.fairness.regression_fairness`.

What is unit-free and what is not decides the starter thresholds. A KS distance (``ks_parity``, 0 to 1) and the
worst group's MAE relative to every row's (``worst_group_relative_mae``, 1 = as well served as everyone) mean the
same for any target, so they get starter thresholds. Gaps in mean prediction, MAE, RMSE and mean residual are in the
target's units (dollars, days, mmol/L): a number that suits one model is meaningless for the next, so they have
none; set them in a policy (``fairness.*.mae_gap: {max: 5.0}``). The R^2 gap is unit-free but a difference of R^2
between groups with different target spreads says little about who is served worse, so it has none either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.context import AuditContext
from audit.fairness import INTERSECTION, RegressionFairness, intersection_labels, regression_fairness
from audit.plots.fairness import group_bars
from audit.section import DeferredFigures, Metric, metric_parts
from audit.text import short_label

#: regression_fairness's metric -> the metric name's last part
NAMES = {"mean_prediction": "mean_prediction_gap", "mae": "mae_gap", "rmse": "rmse_gap",
         "mean_residual": "mean_residual_gap", "r2": "r2_gap", "prediction_ks": "ks_parity",
         "worst_group_mae": "worst_group_mae", "worst_group_rmse": "worst_group_rmse",
         "worst_group_relative_mae": "worst_group_relative_mae"}
_WHAT = {
    "mean_prediction": "max - min mean prediction over groups (demographic parity of a regressor; target units)",
    "mae": "max - min mean absolute error over groups (target units)",
    "rmse": "max - min root mean squared error over groups (target units)",
    "mean_residual": "max - min mean residual (y - prediction) over groups: one group under-predicted relative to another "
                     "(target units)",
    "r2": "max - min R^2 over groups",
    "prediction_ks": "largest Kolmogorov-Smirnov distance between two groups' distributions of predictions (0: the same "
                     "distribution; two groups: scipy's ks_2samp statistic); DKW interval",
    "worst_group_mae": "largest group mean absolute error (fairlearn's bounded group loss; target units)",
    "worst_group_rmse": "largest group root mean squared error (target units)",
    "worst_group_relative_mae": "largest group MAE divided by the MAE of every row (1: the worst group is served as "
                                "well as everyone; unit-free)",
}
PATTERNS = (tuple(f"fairness.{n}" for n in NAMES.values()) + tuple(f"fairness.<column>.{n}" for n in NAMES.values()))
#: in the target's units: no threshold suits every model (see the module's docstring)
_UNITS = ("mean_prediction", "mae", "rmse", "mean_residual", "worst_group_mae", "worst_group_rmse")
_NO_GATE = "; no default threshold: in the target's units, set one in a policy"
DOCS = {
    **{f"fairness.{NAMES[m]}": f"regressors: {doc}; worst over the sensitive columns" + (_NO_GATE if m in _UNITS else "")
       for m, doc in _WHAT.items()},
    **{f"fairness.<column>.{NAMES[m]}": f"regressors: {doc}, for one sensitive column (or 'intersection')"
       for m, doc in _WHAT.items()},
}
#: unit-free numbers only (see the module's docstring); both warn: a regressor's groups may differ for a reason
POLICY: dict[str, dict[str, Any]] = {
    "fairness.ks_parity": {"max": 0.1, "severity": "warn"},
    "fairness.worst_group_relative_mae": {"max": 1.25, "severity": "warn"},
}
#: group metrics drawn as bars
BARS = ("mean_prediction", "mae", "rmse")


@dataclass
class RegressionParts:
    """What the fairness section of a regressor holds; the check adds proxies and builds the section."""

    result: RegressionFairness
    intersection: RegressionFairness | None
    metrics: list[Metric]
    tables: dict[str, pd.DataFrame]
    notes: list[str]
    summary: str
    figures: DeferredFigures


def _describe(metric: str, view: str, row: pd.Series, n_perm: int) -> str:
    """A metric's description, naming the groups (a gap's finding quotes it).

    >>> row = pd.Series({"max_group": "b", "max_value": 52.0, "min_group": "a", "min_value": 46.5, "plug_in": 5.5,
    ...                  "p_value": 0.03})
    >>> _describe("mae", "sex", row, 1000)
    'max - min mean absolute error over groups (target units) (sex): 52 for b vs 46.5 for a; bias-corrected (plug-in 5.5); permutation test of no gap: p = 0.03 (1,000 permutations)'
    """
    text = f"{_WHAT[metric]} ({short_label(view)})"
    if metric == "prediction_ks":
        text += f": higher predictions for {short_label(row['max_group'])} than {short_label(row['min_group'])}"
    elif pd.isna(row.get("min_group")):  # the worst group's loss names one group
        text += f": {short_label(row['max_group'])}, {row['max_value']:.4g}"
    else:
        text += (f": {row['max_value']:.4g} for {short_label(row['max_group'])} vs {row['min_value']:.4g} for "
                 f"{short_label(row['min_group'])}; bias-corrected (plug-in {row['plug_in']:.4g})")
    if not pd.isna(row["p_value"]):
        text += f"; permutation test of no gap: p = {row['p_value']:.2g} ({n_perm:,} permutations)"
    return text


def _metric(name: str, row: pd.Series, description: str) -> Metric:
    low, high = row["low"], row["high"]
    return Metric(name, float(row["gap"]), None if pd.isna(low) else float(low), None if pd.isna(high) else float(high),
                  higher_is_better=False, description=description)


def _metrics(result: RegressionFairness, views: dict[str, RegressionFairness], keys: dict[str, str]) -> list[Metric]:
    out = []
    for metric, row in result.overall.iterrows():
        if row["column"] is not None:
            out.append(_metric(f"fairness.{NAMES[str(metric)]}", row,
                               _describe(str(metric), str(row["column"]), row, result.n_perm) + "; worst over columns"))
    for view, res in views.items():
        if view not in res.gaps.index.get_level_values(0):
            continue
        for metric, row in res.gaps.loc[view].iterrows():
            out.append(_metric(f"fairness.{keys[view]}.{NAMES[str(metric)]}", row,
                               _describe(str(metric), view, row, res.n_perm)))
    return out


def _findings(views: dict[str, RegressionFairness]) -> pd.DataFrame:
    """One sentence per gap with a test, the strongest evidence (smallest p-value) first."""
    rows = []
    for view, res in views.items():
        if view not in res.gaps.index.get_level_values(0):
            continue
        pct = f"{res.confidence:.0%}"
        for metric, g in res.gaps.loc[view].iterrows():
            if str(metric).startswith("worst_group") or pd.isna(g["plug_in"]):
                continue
            what = str(metric).replace("_", " ")
            if metric == "prediction_ks":
                text = (f"predictions for {g['max_group']} are higher than for {g['min_group']}: KS distance "
                        f"{g['plug_in']:.2f}")
            else:
                text = f"{what} for {g['max_group']} is {g['max_value']:.4g} vs {g['min_value']:.4g} for {g['min_group']}"
            if not pd.isna(g["low"]):
                text += f" (gap {g['gap']:.4g}, {pct} CI {g['low']:.4g} to {g['high']:.4g}"
                text += f"; p = {g['p_value']:.2g} for no gap)" if not pd.isna(g["p_value"]) else ")"
            rows.append({"feature": view, "metric": str(metric), "finding": text, "gap": g["gap"], "low": g["low"],
                         "high": g["high"], "p_value": g["p_value"]})
    cols = ["feature", "metric", "finding", "gap", "low", "high", "p_value"]
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows, columns=cols).sort_values("p_value", kind="stable").reset_index(drop=True)


def _notes(result: RegressionFairness, weighted: bool) -> list[str]:
    level = float(result.overall["column_confidence"].iloc[0]) if len(result.overall) else result.confidence
    notes = [
        ("Regressor: per-group mean prediction, MAE, RMSE, R^2 and mean residual (y - prediction), with "
         f"{result.confidence:.0%} influence-function intervals (audit.stats.group_regression_metrics; values as "
         "fairlearn's MetricFrame with scikit-learn's metrics)."),
        ("Gaps between groups (max - min over groups with min_group_size rows) follow the gap rule: bias-corrected, an "
         "interval that bounds every pairwise contrast at once, a permutation p-value for 'no gap' "
         f"({result.n_perm:,} permutations of the group labels); when p >= {1 - result.confidence:.2g} the interval "
         "reaches 0. Gaps in mean prediction, MAE, RMSE and mean residual are in the target's units: they have no "
         "starter threshold (set one in a policy, e.g. fairness.*.mae_gap); the unit-free ks_parity and "
         "worst_group_relative_mae have one."),
        ("ks_parity: the largest distance between two groups' prediction CDFs; its interval is the "
         "Dvoretzky-Kiefer-Wolfowitz band of each group (valid for any distribution, conservative)."),
        ("Top-level metrics are the worst over the single sensitive columns, each column at the Bonferroni level "
         f"{level:.4g} (audit.stats.worst_of); the intersection is gated separately as fairness.intersection.*."),
    ]
    if weighted:
        notes.append("Weighted by sample_weight: every group value, interval, permutation test and KS distance weighs "
                     "rows (as fairlearn's MetricFrame with sample_params); group sizes (min_group_size, 'count') are rows.")
    return notes + result.notes


def regression_parts(ctx: AuditContext, names: list[str], *, n_boot: int, confidence: float, min_group_size: int,
                     rng: np.random.Generator) -> RegressionParts:
    """The fairness section's parts for a regressor: metrics, tables, notes, summary and figures."""
    sens = ctx.data.sensitive
    settings = {"sample_weight": ctx.weights, "min_group_size": min_group_size, "n_boot": n_boot,
                "confidence": confidence}
    result = regression_fairness(ctx.y, ctx.prediction, sens, seed=int(rng.integers(2**31 - 1)), **settings)
    views = {n: result for n in names}
    inter = None
    if len(names) > 1:
        inter = regression_fairness(ctx.y, ctx.prediction, pd.DataFrame({INTERSECTION: intersection_labels(sens)}),
                                    seed=int(rng.integers(2**31 - 1)), **settings)
        views[INTERSECTION] = inter
    keys = metric_parts([INTERSECTION, *names])
    drop = [c for c in next(iter(result.groups.values())).columns if c.endswith("_se")]
    tables = {"Findings": _findings(views)}
    for view, res in views.items():
        tables["Intersection" if view == INTERSECTION else f"Groups by {view}"] = res.groups[view].drop(columns=drop)
    tables["Metric gaps"] = pd.concat([r.gaps for r in {id(r): r for r in views.values()}.values()])
    tables["Worst over columns"] = result.overall
    notes = _notes(result, ctx.weights is not None)
    if inter is not None:
        notes += inter.notes
    summary = _summary(ctx, result, names, tables["Findings"])
    figures = DeferredFigures(lambda: group_bars({n: result.groups[n] for n in names}, confidence, BARS, rates=False,
                                                 interval="influence-function"))
    return RegressionParts(result=result, intersection=inter, metrics=_metrics(result, views, keys), tables=tables,
                           notes=notes, summary=summary, figures=figures)


def _summary(ctx: AuditContext, result: RegressionFairness, names: list[str], findings: pd.DataFrame) -> str:
    s = f"Fairness of a regressor across {', '.join(names)} on {ctx.n_rows:,} rows"
    parts = []
    for metric in ("mae", "prediction_ks"):
        if metric in result.overall.index and result.overall.loc[metric, "column"] is not None:
            o = result.overall.loc[metric]
            ci = "" if pd.isna(o["low"]) else f" [{o['low']:.3g}, {o['high']:.3g}]"
            pv = "" if pd.isna(o["p_value"]) else f", p = {o['p_value']:.2g}"
            label = "MAE gap" if metric == "mae" else "KS distance of predictions"
            parts.append(f"{label} {o['gap']:.3g}{ci} ({o['column']}{pv})")
    s += (": largest " + " and ".join(parts) + ".") if parts else "."
    single = findings[findings["feature"] != INTERSECTION]
    if len(single):
        top = single.iloc[0]["finding"]
        s += " " + top[0].upper() + top[1:] + "."
    return s
