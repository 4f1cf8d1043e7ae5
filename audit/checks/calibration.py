"""Calibration check: ECE, MCE, Brier score and reliability diagrams, overall and per sensitive group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from audit.checks._base import Check
from audit.context import AuditContext
from audit.health import CalibrationResult, calibration, ece_intervals
from audit.plots.calibration import reliability
from audit.section import Metric, Section, metric_parts
from audit.stats import interval_bounds


@dataclass
class CalibrationSection(Section):
    """The calibration section; ``result`` holds the full :class:`~audit.health.CalibrationResult`."""

    result: CalibrationResult | None = None


class CalibrationCheck(Check):
    """Are predicted probabilities trustworthy, for everyone? ECE, MCE, Brier, reliability diagrams per group.

    Parameters
    ----------
    n_bins : int
        Equal-width confidence bins.
    min_group_size : int
        Groups with fewer rows are shown but left out of the ECE gap (the audit-wide ``min_group_size`` when None;
        overrides it).
    """

    name = "calibration"
    requires = ("labels", "scores")
    title = "Calibration"
    metric_patterns = (
        "calibration.ece",
        "calibration.mce",
        "calibration.brier",
        "calibration.positive_class_ece",
        "calibration.<column>.ece_gap",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "calibration.ece": "top-label expected calibration error: equal-width bins (15) on the top-class probability, "
        "weighted mean |accuracy - confidence|; 0 is perfect. Starter policy: warn above 0.1",
        "calibration.mce": "maximum calibration error: largest |accuracy - confidence| over non-empty bins",
        "calibration.brier": "Brier score: binary mean (p1 - y)^2 (sklearn brier_score_loss, 0-1); multi-class "
        "mean sum_k (p_k - [y=k])^2 (0-2); lower is better",
        "calibration.positive_class_ece": "binary models only: ECE of the positive-class probability against the positive rate",
        "calibration.<column>.ece_gap": "largest minus smallest per-group ECE over groups of the sensitive column with at "
        "least min_group_size rows (miscalibration for one group is a fairness problem). Starter policy: warn above 0.1",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "calibration.ece": {"max": 0.1, "severity": "warn"},
        "calibration.*.ece_gap": {"max": 0.1, "severity": "warn"},
    }

    def __init__(self, *, n_bins: int = 15, min_group_size: int | None = None, n_boot: int = 1000) -> None:
        self.n_bins = n_bins
        self.min_group_size = min_group_size
        self.n_boot = n_boot

    def run(self, ctx: AuditContext) -> Section:
        mgs = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
        r = calibration(ctx.y, ctx.proba, n_bins=self.n_bins, sensitive=ctx.data.sensitive, min_group_size=mgs)
        ci = ece_intervals(ctx.y, ctx.proba, n_bins=self.n_bins, sensitive=ctx.data.sensitive, min_group_size=mgs,
                           n_boot=self.n_boot, seed=ctx.torch_seed(self.name)) if self.n_boot > 0 else None

        metrics = [
            Metric("calibration.ece", r.ece, *interval_bounds(ci, "ece", r.ece), higher_is_better=False,
                   description="top-label expected calibration error"),
            Metric("calibration.mce", r.mce, higher_is_better=False, description="maximum calibration error"),
            Metric("calibration.brier", r.brier, higher_is_better=False, description="Brier score"),
        ]
        if ctx.is_binary:
            metrics.append(Metric("calibration.positive_class_ece", r.positive_class_ece, higher_is_better=False,
                                  description="ECE of the positive-class probability"))
        parts = metric_parts(r.gaps.index)  # 'home zip' -> calibration.home_zip.ece_gap, like every check
        for col, row in r.gaps.iterrows():
            metrics.append(Metric(f"calibration.{parts[str(col)]}.ece_gap", float(row["ece_gap"]),
                                  *interval_bounds(ci, f"{col}.ece_gap", float(row["ece_gap"])), higher_is_better=False,
                                  description=f"max - min ECE over groups of {col}"))
        overall = pd.DataFrame(
            {"value": {"ECE (top-label)": r.ece, "MCE": r.mce, "Brier": r.brier,
                       **({"ECE (positive class)": r.positive_class_ece} if ctx.is_binary else {})}}
        )
        overall.index.name = "metric"
        tables = {"Calibration": overall, "Reliability bins": r.reliability[r.reliability["count"] > 0]}
        if len(r.by_group):
            tables["Calibration by group"] = r.by_group
            tables["ECE gap by sensitive column"] = r.gaps
        verdict = "well calibrated" if r.ece <= 0.05 else "somewhat miscalibrated" if r.ece <= 0.1 else "miscalibrated"
        mean_conf = float(ctx.proba.max(axis=1).mean())
        acc = float((ctx.pred == ctx.y).mean())
        direction = "over-confident" if mean_conf > acc else "under-confident"
        summary = (
            f"The model is {verdict}: ECE {r.ece:.3f}, Brier {r.brier:.3f}; on average {direction} "
            f"(mean confidence {mean_conf:.3f}, accuracy {acc:.3f})."
        )
        gaps = r.gaps.dropna(subset=["ece_gap"])
        if len(gaps):
            worst = gaps["ece_gap"].astype(float).idxmax()
            g = gaps.loc[worst]
            summary += f" Largest gap between groups: {g['ece_gap']:.3f} in {worst} ({g['worst_group']} vs {g['best_group']})."
        return CalibrationSection(
            check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables,
            figures=reliability(r, mgs), notes=list(r.notes), result=r,
        )
