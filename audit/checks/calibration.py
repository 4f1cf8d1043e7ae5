"""Calibration check: ECE, MCE, Brier score and reliability diagrams, overall and per sensitive group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from audit.checks._base import Check
from audit.context import AuditContext
from audit.errors import AuditInputError
from audit.health import CalibrationResult, calibration_of_cells, ece_intervals_of_cells
from audit.plots.calibration import reliability
from audit.section import DeferredFigures, Metric, Section, metric_parts
from audit.stats import build_cells, interval_bounds


@dataclass
class CalibrationSection(Section):
    """The calibration section; ``result`` holds the full :class:`~audit.health.CalibrationResult`."""

    result: CalibrationResult | None = None


class CalibrationCheck(Check):
    """Are predicted probabilities trustworthy, for everyone? ECE, MCE, Brier, reliability diagrams per group.

    Parameters
    ----------
    n_bins : int
        Equal-width confidence bins of the overall ECE; the most bins a group's ECE gets.
    min_group_size : int
        Groups with fewer rows are shown but left out of the ECE gap (the audit-wide ``min_group_size`` when None;
        overrides it).
    n_boot : int
        Bootstrap resamples (ECE interval, the gap's bias correction and interval) and permutations (the
        gap's test of "no gap").
    group_binning : {"equal_mass", "equal_width"}
        Bins of each group's ECE: equal-mass, one bin per ``min_bin_count`` rows (default), or ``n_bins``
        equal-width bins. See :func:`audit.health.calibration`.
    min_bin_count : int
        Rows per equal-mass bin at least.

    The gated ``calibration.<column>.ece_gap`` is the bias-corrected gap with the interval and permutation
    p-value of :func:`audit.health.ece_intervals`; the plug-in gap (the plain max - min) is in the table.
    """

    name = "calibration"
    requires = ("labels", "scores")
    title = "Calibration"
    task_reasons: ClassVar[dict[str, str]] = {
        "regression": "calibration compares class probabilities with outcomes; a regressor predicts a number (the "
                      "uncertainty section checks its prediction intervals' coverage)"}
    uses_weights = True
    metric_patterns = (
        "calibration.ece",
        "calibration.mce",
        "calibration.brier",
        "calibration.positive_class_ece",
        "calibration.<column>.ece_gap",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "calibration.ece": "top-label expected calibration error: equal-width bins (15) on the top-class probability, "
        "weighted mean |accuracy - confidence|; 0 is perfect",
        "calibration.mce": "maximum calibration error: largest |accuracy - confidence| over non-empty bins",
        "calibration.brier": "Brier score: binary mean (p1 - y)^2 (sklearn brier_score_loss, 0-1); multi-class "
        "mean sum_k (p_k - [y=k])^2 (0-2); lower is better",
        "calibration.positive_class_ece": "binary models only: ECE of the positive-class probability against the positive rate",
        "calibration.<column>.ece_gap": "largest minus smallest per-group ECE over groups of the sensitive column with at "
        "least min_group_size rows (miscalibration for one group is a fairness problem); per-group ECE on equal-mass bins "
        "(one per 100 rows, 1 to 15); bias-corrected, with an interval that covers a gap of 0 and a permutation p-value "
        "for 'no gap'",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "calibration.ece": {"max": 0.1, "severity": "warn"},
        "calibration.*.ece_gap": {"max": 0.1, "severity": "warn"},
    }

    def __init__(self, *, n_bins: int = 15, min_group_size: int | None = None, n_boot: int = 1000,
                 group_binning: str = "equal_mass", min_bin_count: int = 100) -> None:
        self.n_bins = n_bins
        self.min_group_size = min_group_size
        self.n_boot = n_boot
        self.group_binning = group_binning
        self.min_bin_count = min_bin_count

    def run(self, ctx: AuditContext) -> Section:
        mgs = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
        binning = dict(group_binning=self.group_binning, min_bin_count=self.min_bin_count)
        if not isinstance(self.n_bins, (int, np.integer)) or isinstance(self.n_bins, bool) or self.n_bins < 1:
            raise AuditInputError(f"n_bins must be a positive integer, got {self.n_bins!r}")
        w = ctx.weights
        if w is None:
            cells = ctx.cells(int(self.n_bins))  # exact cells of the rows, or a Dask audit's merged cells
        else:  # each row counts as its weight: every bin's accuracy and confidence, and the ECE, are weighted
            cells = build_cells(ctx.y, ctx.proba, ctx.data.sensitive, n_bins=int(self.n_bins),
                                has_scores=ctx.model.has_scores, sample_weight=w)
        r = calibration_of_cells(cells, min_group_size=mgs, **binning)
        # resampling weighted cells as if they were rows would understate the spread of unequal weights
        ci = ece_intervals_of_cells(cells, min_group_size=mgs, n_boot=self.n_boot, seed=ctx.torch_seed(self.name),
                                    **binning) if self.n_boot > 0 and w is None else None
        gaps = _gap_table(r, ci)

        metrics = [
            Metric("calibration.ece", r.ece, *interval_bounds(ci, "ece", r.ece), higher_is_better=False,
                   description="top-label expected calibration error"),
            Metric("calibration.mce", r.mce, higher_is_better=False, description="maximum calibration error"),
            Metric("calibration.brier", r.brier, higher_is_better=False, description="Brier score"),
        ]
        if ctx.is_binary:
            metrics.append(Metric("calibration.positive_class_ece", r.positive_class_ece, higher_is_better=False,
                                  description="ECE of the positive-class probability"))
        parts = metric_parts(gaps.index)  # 'home zip' -> calibration.home_zip.ece_gap, like every check
        for col, row in gaps.iterrows():
            value = float(row["ece_gap_corrected"])
            low, high = (None, None) if pd.isna(value) or pd.isna(row["low"]) else (float(row["low"]), float(row["high"]))
            metrics.append(Metric(f"calibration.{parts[str(col)]}.ece_gap", value, low, high, higher_is_better=False,
                                  description=_gap_description(col, row, self.n_boot)))
        overall = pd.DataFrame(
            {"value": {"ECE (top-label)": r.ece, "MCE": r.mce, "Brier": r.brier,
                       **({"ECE (positive class)": r.positive_class_ece} if ctx.is_binary else {})}}
        )
        overall.index.name = "metric"
        tables = {"Calibration": overall, "Reliability bins": r.reliability[r.reliability["count"] > 0]}
        if len(r.by_group):
            tables["Calibration by group"] = r.by_group
            tables["ECE gap by sensitive column"] = gaps
        verdict = "well calibrated" if r.ece <= 0.05 else "somewhat miscalibrated" if r.ece <= 0.1 else "miscalibrated"
        mean_conf = float(cells.conf_sum.sum() / cells.n)
        acc = float(cells.count[cells.label == cells.pred].sum() / cells.n)
        direction = "over-confident" if mean_conf > acc else "under-confident"
        summary = (
            f"The model is {verdict}: ECE {r.ece:.3f}, Brier {r.brier:.3f}; on average {direction} "
            f"(mean confidence {mean_conf:.3f}, accuracy {acc:.3f})."
        )
        defined = gaps.dropna(subset=["ece_gap"])
        if len(defined):
            worst = defined["ece_gap_corrected"].astype(float).idxmax()
            g = defined.loc[worst]
            ci_text = "" if pd.isna(g["low"]) else f" [{g['low']:.3f}, {g['high']:.3f}]"
            p_text = "" if pd.isna(g["p_value"]) else f", p = {g['p_value']:.3g} for no gap"
            summary += (f" Largest gap between groups: {g['ece_gap_corrected']:.3f}{ci_text} in {worst} "
                        f"({g['worst_group']} vs {g['best_group']}{p_text}).")
        notes = [*r.notes, f"ECE binning: {r.binning}. Per-group ECE on fewer than {self.min_bin_count} rows per bin "
                 "would be mostly noise (a 15-bin ECE of 80 calibrated rows averages about 0.10)."]
        if ci is not None and len(defined):
            notes.append("ECE gap: bias-corrected (2 x plug-in - mean of the bootstrap gaps); its interval bounds every "
                         "pairwise ECE difference at once and reaches 0 whenever the permutation test of 'no gap' "
                         f"(group labels permuted, {self.n_boot:,} permutations) has p >= 0.05.")
        if w is not None:
            notes.append("Weighted by sample_weight (scaled to sum to the rows): ECE, MCE, Brier score, reliability bins "
                         "and per-group ECE weigh each row by its weight, and so do group sizes, equal-mass bins and the "
                         "'count' columns. No intervals or permutation p-values are computed with weights, so the ECE "
                         "gap is judged on its estimate.")
        return CalibrationSection(
            check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables,
            figures=DeferredFigures(lambda: reliability(r, mgs)), notes=notes, result=r,
        )


def _gap_table(r: CalibrationResult, ci: pd.DataFrame | None) -> pd.DataFrame:
    """The ECE gap per column: plug-in, bias-corrected, interval, permutation p-value and the binning."""
    gaps = r.gaps.copy()
    cols = ["ece_gap_corrected", "low", "high", "p_value"]
    if ci is None:
        gaps["ece_gap_corrected"] = gaps["ece_gap"].astype(float)
        gaps["low"] = gaps["high"] = gaps["p_value"] = float("nan")
    else:
        keyed = ci.rename(columns={"corrected": "ece_gap_corrected"})
        for c in cols:
            gaps[c] = [float(keyed.loc[f"{col}.ece_gap", c]) if f"{col}.ece_gap" in keyed.index else float("nan") for col in gaps.index]
    gaps["binning"] = r.binning.split("per group: ")[-1]
    order = ["ece_gap", *cols, "worst_group", "worst_ece", "best_group", "best_ece", "groups_compared", "binning"]
    return gaps[[c for c in order if c in gaps.columns]]


def _gap_description(col: str, row: pd.Series, n_perm: int) -> str:
    """What the gated ECE gap is, with its plug-in value and test (the policy's finding quotes it)."""
    text = f"max - min ECE over groups of {col} ({row['binning']}); bias-corrected, plug-in {row['ece_gap']:.4g}"
    if not pd.isna(row["p_value"]):
        text += f"; permutation test of no gap: p = {row['p_value']:.3g} ({n_perm:,} permutations)"
    return text
