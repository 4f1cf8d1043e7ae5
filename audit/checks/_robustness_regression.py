"""The robustness check's regression branch: attacks that maximise a regressor's squared error against the true
target, its robust MAE and RMSE at each eps, and per sensitive group with the gap between groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit._inputs import to_numpy
from audit.checks._robustness_parts import gap_text, inputs_table
from audit.context import AuditContext
from audit.plots.robustness import error_vs_eps
from audit.robustness import (
    NORM_LABELS,
    Constraints,
    RegressionCurve,
    RegressionGroupRobustness,
    attack_label,
    regression_curve,
    regression_group_robustness,
    regression_key,
    regression_random_search_curve,
)
from audit.section import DeferredFigures, Metric, Section, metric_parts

_ATTACK_NORMS = (("fgsm", "linf"), ("fgsm", "l2"), ("pgd", "linf"), ("pgd", "l2"), ("random_search", "linf"))
#: the regression metric names, next to the classification ones: robust errors and their gaps, per attack and norm
REGRESSION_PATTERNS: tuple[str, ...] = tuple(
    f"robustness.{a}.{n}.{m}" for a, n in _ATTACK_NORMS
    for m in ("mae@<eps>", "rmse@<eps>", "mae_group_gap@<eps>", "rmse_group_gap@<eps>",
              "<column>.mae_group_gap@<eps>", "<column>.rmse_group_gap@<eps>")
)
_ATTACK_WORDS = {"fgsm": "a one-step FGSM attack", "pgd": "a PGD attack", "random_search": "the black-box random search"}
_METRIC_WORDS = {
    "mae@<eps>": "regressors: mean absolute error after {attack} of size eps ({norm}) that maximises the squared "
                 "error against the true target (target units)",
    "rmse@<eps>": "regressors: root mean squared error after {attack} of size eps ({norm}; target units)",
    "mae_group_gap@<eps>": "regressors: largest gap in robust MAE between sensitive groups after {attack} ({norm})",
    "rmse_group_gap@<eps>": "regressors: largest gap in robust RMSE between sensitive groups after {attack} ({norm})",
    "<column>.mae_group_gap@<eps>": "regressors: gap in robust MAE between the groups of one column ({attack}, {norm})",
    "<column>.rmse_group_gap@<eps>": "regressors: gap in robust RMSE between the groups of one column ({attack}, "
                                     "{norm})",
}
REGRESSION_DOCS: dict[str, str] = {
    f"robustness.{a}.{n}.{m}": text.format(attack=_ATTACK_WORDS[a], norm=n)
    for a, n in _ATTACK_NORMS for m, text in _METRIC_WORDS.items()
}
_GRADIENT_NOTE = (
    "The model is a regressor: each attack moves the inputs inside the eps ball to make the prediction as wrong as it "
    "can (it maximises the squared error against the true target), and each row keeps the input with the largest "
    "error found, its clean input and its input at a smaller eps included, so robust errors never fall below clean "
    "ones nor as eps grows. MAE, RMSE and their group gaps are in the target's units."
)
_BLACKBOX_NOTE = (
    "This {kind} regressor has no input gradients, so FGSM and PGD do not apply: a score-based black-box random search "
    "(up to {queries} model calls per row and eps) searched each eps ball for the change that most increases the "
    "squared error against the true target. Its robust error is a lower bound: a stronger attacker may do more harm."
)


@dataclass
class RegressionRobustnessSection(Section):
    """The robustness section of a regressor plus the typed results behind its tables: one
    :class:`~audit.robustness.RegressionCurve` per attack, the constraints, the per-group breakdown (None without
    sensitive columns) and the attacked rows."""

    curves: list[RegressionCurve] = field(default_factory=list)
    constraints: Constraints | None = None
    groups: RegressionGroupRobustness | None = None
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def regression_gradient(check: Any, ctx: AuditContext, x: torch.Tensor, idx: np.ndarray, eps: tuple[float, ...],
                        cons: Constraints, notes: list[str], unit: str) -> RegressionRobustnessSection:
    """FGSM / PGD sweeps of a differentiable regressor (``check``: the :class:`RobustnessCheck` and its settings)."""
    y, seed = ctx.y[idx], ctx.torch_seed(check.name)
    curves = [regression_curve(ctx.model, x, y, eps, attack=a, norm=check.norm, steps=check.steps,
                               step_size=check.step_size, random_start=check.random_start, restarts=check.restarts,
                               bounds=cons.bounds, mask=cons.mask, scale=cons.scale, seed=seed,
                               batch_size=check.batch_size) for a in check.attacks]
    return _section(check, ctx, curves, cons, idx, notes + [_GRADIENT_NOTE], unit)


def regression_blackbox(check: Any, ctx: AuditContext, eps: tuple[float, ...], zn: np.ndarray, cons: Constraints,
                        integer: np.ndarray, idx: np.ndarray, notes: list[str], predict: Any) -> RegressionRobustnessSection:
    """The black-box search on a regressor without input gradients (the check's encoded rows and constraints)."""
    notes.insert(len(cons.notes), _BLACKBOX_NOTE.format(kind=ctx.model.kind, queries=check.queries))
    curve = regression_random_search_curve(
        predict, zn[idx], ctx.y[idx], eps, queries=check.queries,
        bounds=(to_numpy(cons.bounds[0]), to_numpy(cons.bounds[1])), mask=to_numpy(cons.mask),
        scale=to_numpy(cons.scale), integer=integer, seed=ctx.torch_seed(check.name),
        clean_prediction=ctx.prediction[idx],  # cached: the data is never re-predicted
    )
    return _section(check, ctx, [curve], cons, idx, notes, "feature standard deviations")


def _section(check: Any, ctx: AuditContext, curves: list[RegressionCurve], cons: Constraints, idx: np.ndarray,
             notes: list[str], unit: str) -> RegressionRobustnessSection:
    results = [r for c in curves for r in c.results]
    min_size = int(ctx.options.resolve(check.min_group_size, "min_group_size"))
    sens = ctx.data.sensitive.iloc[idx].reset_index(drop=True)
    groups = None
    if sens.shape[1]:
        groups = regression_group_robustness(results, sens, min_group_size=min_size, n_boot=check.n_boot,
                                             seed=ctx.torch_seed(check.name))
        notes.extend(groups.notes)
        notes.append("Group gaps: 'gap' is the bias-corrected max - min of the groups' robust MAE or RMSE (target "
                     "units), its interval bounds every pairwise contrast at once from the groups' standard errors, and "
                     "p_value is a permutation test of 'no gap' (the fairness check's rule for regression errors).")
    elif ctx.data.sensitive.shape[1] == 0:
        notes.append("No sensitive columns were given: robustness is not broken down by group.")
    table = pd.concat([c.table.assign(attack=c.attack, norm=c.norm) for c in curves], ignore_index=True)[
        ["attack", "norm", "eps", "clean_mae", "robust_mae", "clean_rmse", "robust_rmse", "n_rows", "n_worse",
         "duration_s"]]
    tables: dict[str, pd.DataFrame] = {"Error vs eps": table}
    if groups is not None:
        tables["Robust error by group"] = groups.table
        tables["Group gaps"] = groups.gaps
    if not cons.features.empty:
        tables["Perturbed inputs"] = inputs_table(cons)
    return RegressionRobustnessSection(
        check=check.name, title=check.title, summary=_summary(curves, groups, unit, len(idx), check.steps),
        metrics=_metrics(curves, groups, check.n_boot), tables=tables,
        figures=DeferredFigures(lambda: error_vs_eps(curves, unit, check.steps)), notes=notes, curves=curves,
        constraints=cons, groups=groups, rows=idx,
    )


def _metrics(curves: list[RegressionCurve], groups: RegressionGroupRobustness | None, n_boot: int) -> list[Metric]:
    out: list[Metric] = []
    parts = metric_parts(groups.gaps["column"].unique()) if groups is not None else {}
    for c in curves:
        for r in c.results:
            base, e, key = f"robustness.{r.attack}.{r.norm}", f"{r.eps:g}", regression_key(r)
            out.append(Metric(f"{base}.mae@{e}", r.robust_mae, higher_is_better=False,
                              description=f"MAE under {r.attack.upper()} at eps={e} (clean {r.clean_mae:.4g})"))
            out.append(Metric(f"{base}.rmse@{e}", r.robust_rmse, higher_is_better=False,
                              description=f"RMSE under {r.attack.upper()} at eps={e} (clean {r.clean_rmse:.4g})"))
            if groups is None:
                continue
            for m in ("mae", "rmse"):
                gap, lo, hi = groups.max_gap(key, m)
                worst = groups.overall.loc[(key, m)] if (key, m) in groups.overall.index else None
                out.append(Metric(f"{base}.{m}_group_gap@{e}", gap, lo, hi, higher_is_better=False,
                                  description=gap_text(f"largest robust-{m.upper()} gap between sensitive groups",
                                                       worst, n_boot, name_column=True)))
                rows = groups.gaps[(groups.gaps["key"] == key) & (groups.gaps["metric"] == m)]
                for _, row in rows.iterrows():
                    out.append(Metric(f"{base}.{parts[str(row['column'])]}.{m}_group_gap@{e}", float(row["gap"]),
                                      None if pd.isna(row["low"]) else float(row["low"]),
                                      None if pd.isna(row["high"]) else float(row["high"]), higher_is_better=False,
                                      description=gap_text(f"robust-{m.upper()} gap between {row['column']} groups",
                                                           row, n_boot)))
    return out


def _summary(curves: list[RegressionCurve], groups: RegressionGroupRobustness | None, unit: str, n_rows: int,
             steps: int) -> str:
    c = curves[-1]
    mid, last = c.results[len(c.results) // 2], c.results[-1]
    s = (f"{attack_label(c.attack, steps)} ({NORM_LABELS[c.norm]}) at eps={mid.eps:g} ({unit}) raises the RMSE from "
         f"{mid.clean_rmse:.4g} to {mid.robust_rmse:.4g} (MAE {mid.clean_mae:.4g} to {mid.robust_mae:.4g}, target "
         f"units) on {n_rows:,} rows; at eps={last.eps:g} the RMSE is {last.robust_rmse:.4g}.")
    if groups is not None:
        g = groups.gaps[(groups.gaps["key"] == regression_key(mid)) & (groups.gaps["metric"] == "rmse")
                        & groups.gaps["gap"].notna()]
        if not g.empty:
            row = g.loc[g["gap"].idxmax()]
            ci = "" if pd.isna(row["low"]) else f" [{row['low']:.4g}, {row['high']:.4g}]"
            p = "" if pd.isna(row["p_value"]) else f", p = {row['p_value']:.2g} for no gap"
            s += (f" The largest robust-RMSE gap between groups is {row['gap']:.4g}{ci} (bias-corrected; "
                  f"{row['column']}: {row['worst_group']} worst, {row['best_group']} best{p}).")
    return s
