"""Uncertainty check: split-conformal prediction intervals for a regressor, and whether they cover every group.

Which rows calibrate
--------------------
``audit()`` takes the evaluation data and, optionally, the training data. The training rows cannot calibrate:
the model was fitted on them, so its residuals there are too small and intervals calibrated on them under-cover
new rows. The check therefore splits the evaluation rows (which the model never saw) at random, seeded, into two
halves: one calibrates the interval half-width (:func:`audit.health.split_conformal`), the other measures how
often the intervals hold the true value, overall and per group of each sensitive column.

What can fail
-------------
On a random split of exchangeable rows, marginal coverage is guaranteed (at least ``level`` on average, at most
``level + 1 / (n_calibration + 1)``): ``uncertainty.coverage`` confirms it and shows its spread. What the guarantee
does not give is coverage for every group: one interval width for everyone covers the groups the model predicts
well more often than the others. ``uncertainty.<column>.coverage_gap`` ("equalized coverage", Romano et al. 2020)
measures that, under the gap rule every gap follows.

The model's own intervals
-------------------------
A regressor that gives its own prediction intervals (a ``predict_interval(X)`` method returning each row's lower
and upper bound, or a stored log's ``StoredPredictions(prediction=..., interval=(lower, upper))`` columns) is
judged on those instead: their coverage on every evaluation row, per group and the gap, against the nominal
``level`` the check states (:func:`audit.health.interval_coverage`). No rows are spent calibrating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from audit.checks._base import Check
from audit.context import AuditContext
from audit.errors import AuditInputError
from audit.health import ConformalResult, interval_coverage, split_conformal
from audit.section import Metric, Section, metric_parts
from audit.text import short_label

#: the nominal coverage the starter threshold on ``uncertainty.coverage`` is written for
DEFAULT_LEVEL = 0.9


@dataclass
class UncertaintySection(Section):
    """The uncertainty section plus the typed result and which evaluation rows calibrated (the rest measured)."""

    result: ConformalResult | None = None
    calibration_rows: np.ndarray | None = None


def calibration_split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random half of ``n`` rows to calibrate and the other half to measure coverage on (sorted row numbers;
    the calibration half gets the smaller one when ``n`` is odd).

    >>> cal, test = calibration_split(5, np.random.default_rng(0))
    >>> len(cal), len(test), sorted(np.r_[cal, test].tolist())
    (2, 3, [0, 1, 2, 3, 4])
    """
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


class UncertaintyCheck(Check):
    """Split-conformal prediction intervals of a regressor: coverage overall and per group, and the coverage gap.

    Parameters
    ----------
    level : float
        Nominal coverage of the intervals (``1 - alpha``), in (0, 1).
    min_group_size : int, optional
        Groups with fewer rows in the measuring half are shown but left out of the coverage gap; default the
        audit-wide ``min_group_size``.
    n_boot : int
        Resamples of the coverage gap's interval and permutations of its test.
    confidence : float
        Coverage of the intervals around the measured coverage and the gap.
    """

    name = "uncertainty"
    title = "Uncertainty"
    requires = ("labels",)
    tasks = ("regression",)
    task_reasons: ClassVar[dict[str, str]] = {
        t: "a classifier's uncertainty is its class probabilities, which the calibration check audits (ECE and "
           "reliability, overall and per group); conformal intervals here are for regressors"
        for t in ("binary", "multiclass")
    }
    metric_patterns = ("uncertainty.coverage", "uncertainty.interval_width", "uncertainty.<column>.coverage_gap")
    metric_docs: ClassVar[dict[str, str]] = {
        "uncertainty.coverage": "share of held-out rows whose value lies in its split-conformal interval (prediction "
        "-+ the calibrated half-width; nominal: level, 0.9 unless set), with a Wilson interval; the calibration and "
        "measuring halves are a seeded random split of the evaluation rows",
        "uncertainty.interval_width": "full width of the conformal interval (2 x half-width), in the target's units",
        "uncertainty.<column>.coverage_gap": "largest minus smallest coverage over the column's groups with at least "
        "min_group_size rows in the measuring half (equalized coverage); bias-corrected, with an interval that covers "
        "a gap of 0 and a permutation p-value for 'no gap'",
    }
    #: coverage: 5 points below the default level 0.9 (set your own with another level=); the gap: 10 points
    default_policy: ClassVar[dict[str, dict[str, Any]]] = {
        "uncertainty.coverage": {"min": DEFAULT_LEVEL - 0.05, "severity": "warn"},
        "uncertainty.*.coverage_gap": {"max": 0.1, "severity": "warn"},
    }

    def __init__(self, *, level: float = DEFAULT_LEVEL, min_group_size: int | None = None, n_boot: int = 1000,
                 confidence: float = 0.95) -> None:
        self.level = level
        self.min_group_size = min_group_size
        self.n_boot = n_boot
        self.confidence = confidence

    def _rows_needed(self) -> int:
        """Evaluation rows for a finite interval: the calibration half needs ``level / (1 - level)`` rows."""
        return 2 * math.ceil(self.level / (1 - self.level) - 1e-9)  # 1e-9: 0.9 / 0.1 is 9.000000000000002

    def specific_skip_reason(self, ctx: AuditContext) -> str | None:
        if not isinstance(self.level, (int, float)) or not 0 < self.level < 1:
            raise AuditInputError(f"UncertaintyCheck(level=) must be in (0, 1), got {self.level!r}")
        if ctx.model.has_intervals:
            return None
        need = self._rows_needed()
        if ctx.n_rows < need:
            return (f"{ctx.n_rows} evaluation rows are too few for {self.level:.0%} conformal intervals: half of them "
                    f"calibrate, and that half needs {need // 2} rows (level / (1 - level)) for a finite interval")
        return None

    def run(self, ctx: AuditContext) -> Section:
        mgs = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
        if ctx.prediction_interval is not None:
            return self._run_model_intervals(ctx, mgs)
        cal, test = calibration_split(ctx.n_rows, ctx.rng(self.name))
        y, pred = ctx.y, ctx.prediction
        sens = ctx.data.sensitive
        r = split_conformal(y[cal], pred[cal], y[test], pred[test],
                            sens.iloc[test].reset_index(drop=True) if sens.shape[1] else None, level=self.level,
                            min_group_size=mgs, n_boot=self.n_boot, confidence=self.confidence,
                            seed=ctx.torch_seed(self.name))
        metrics = [
            Metric("uncertainty.coverage", r.coverage, r.low, r.high, description=(
                f"share of {len(test):,} held-out rows inside prediction -+ {r.half_width:.4g} (nominal {self.level:.0%}; "
                f"half-width calibrated on {len(cal):,} other rows)")),
            Metric("uncertainty.interval_width", 2 * r.half_width, higher_is_better=False,
                   description=f"full width of the {self.level:.0%} conformal interval, in the target's units"),
            *self._gap_metrics(r),
        ]
        overall = pd.DataFrame({"value": {
            "level": self.level, "half_width": r.half_width, "interval_width": 2 * r.half_width,
            "calibration_rows": len(cal), "measuring_rows": len(test), "coverage": r.coverage,
            "coverage_low": r.low, "coverage_high": r.high}})
        overall.index.name = "quantity"
        tables = {"Coverage": overall}
        if len(r.by_group):
            tables["Coverage by group"] = r.by_group
            tables["Coverage gaps"] = r.gaps
        return UncertaintySection(check=self.name, title=self.title, summary=self._summary(r, len(cal), len(test)),
                                  metrics=metrics, tables=tables, notes=self._notes(r), result=r,
                                  calibration_rows=cal)

    def _run_model_intervals(self, ctx: AuditContext, mgs: int) -> Section:
        bounds = ctx.prediction_interval
        sens = ctx.data.sensitive
        r = interval_coverage(ctx.y, bounds[:, 0], bounds[:, 1], sens if sens.shape[1] else None, level=self.level,
                              min_group_size=mgs, n_boot=self.n_boot, confidence=self.confidence,
                              seed=ctx.torch_seed(self.name))
        metrics = [
            Metric("uncertainty.coverage", r.coverage, r.low, r.high, description=(
                f"share of all {ctx.n_rows:,} rows inside the model's own intervals (nominal {self.level:.0%}, as "
                "UncertaintyCheck(level=) states)")),
            Metric("uncertainty.interval_width", r.mean_width, higher_is_better=False,
                   description="mean width of the model's own intervals, in the target's units"),
            *self._gap_metrics(r),
        ]
        overall = pd.DataFrame({"value": {
            "level": self.level, "mean_interval_width": r.mean_width, "measuring_rows": ctx.n_rows,
            "coverage": r.coverage, "coverage_low": r.low, "coverage_high": r.high}})
        overall.index.name = "quantity"
        tables = {"Coverage": overall}
        if len(r.by_group):
            tables["Coverage by group"] = r.by_group
            tables["Coverage gaps"] = r.gaps
        summary = (f"The model's own prediction intervals (mean width {r.mean_width:,.4g}) cover {r.coverage:.1%} "
                   f"[{r.low:.1%}, {r.high:.1%}] of {ctx.n_rows:,} rows, against a nominal {self.level:.0%}.")
        summary += self._gap_sentence(r)
        notes = [("The model gives its own prediction intervals, so they are audited as they are: no conformal "
                  "calibration, every evaluation row measures. Their nominal level is the one UncertaintyCheck(level=) "
                  f"states ({self.level:g}); set it to the level the model's intervals were built for."),
                 f"Coverage intervals: {self.confidence:.0%} Wilson on all rows. A model's own intervals carry no "
                 "coverage guarantee, marginal or per group: both are measured here."]
        if len(r.gaps):
            notes.append(f"Coverage gaps follow the gap rule (bias-corrected, an interval that bounds every pairwise "
                         f"contrast, {self.n_boot:,} permutations for the test of 'no gap'); groups under "
                         f"min_group_size={mgs} rows are shown but left out.")
        return UncertaintySection(check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables,
                                  notes=notes, result=r)

    def _gap_metrics(self, r: ConformalResult) -> list[Metric]:
        out: list[Metric] = []
        if not len(r.gaps):
            return out
        parts = metric_parts(r.gaps.index)
        cov = r.by_group.set_index(["column", "group"])["coverage"]
        for col, g in r.gaps.iterrows():
            if pd.isna(g["gap"]):
                continue
            text = (f"max - min coverage over {short_label(col)} groups: {cov[(str(col), g['best_group'])]:.3f} for "
                    f"{short_label(g['best_group'])} vs {cov[(str(col), g['worst_group'])]:.3f} for "
                    f"{short_label(g['worst_group'])}; bias-corrected (plug-in {g['plug_in']:.4g})")
            if not pd.isna(g["p_value"]):
                text += f"; permutation test of no gap: p = {g['p_value']:.2g} ({self.n_boot:,} permutations)"
            low, high = (None, None) if pd.isna(g["low"]) else (float(g["low"]), float(g["high"]))
            out.append(Metric(f"uncertainty.{parts[str(col)]}.coverage_gap", float(g["gap"]), low, high,
                              higher_is_better=False, description=text))
        return out

    def _summary(self, r: ConformalResult, n_cal: int, n_test: int) -> str:
        return (f"Split-conformal {self.level:.0%} intervals (prediction -+ {r.half_width:.4g}, calibrated on {n_cal:,} "
                f"held-out rows) cover {r.coverage:.1%} [{r.low:.1%}, {r.high:.1%}] of {n_test:,} other rows."
                + self._gap_sentence(r))

    @staticmethod
    def _gap_sentence(r: ConformalResult) -> str:
        """The largest coverage gap as a sentence (with a leading space), or "" without one."""
        if r.worst.get("column") is None or pd.isna(r.worst.get("gap")):
            return ""
        w = r.worst
        ci = "" if pd.isna(w["low"]) else f" [{w['low']:.3f}, {w['high']:.3f}]"
        p = "" if pd.isna(w["p_value"]) else f", p = {w['p_value']:.2g} for no gap"
        return (f" Largest coverage gap: {w['gap']:.3f}{ci} across {w['column']} ({w['best_group']} covered most, "
                f"{w['worst_group']} least{p}).")

    def _notes(self, r: ConformalResult) -> list[str]:
        notes = [
            ("Calibration: a seeded random half of the evaluation rows (the model never saw them) sets the half-width, "
             "the ceil((n + 1) level)-th smallest |y - prediction|; the other half measures coverage. The training "
             "rows are not used: the model was fitted on them, so their residuals are too small and intervals "
             "calibrated there would under-cover new rows."),
            ("Marginal coverage is guaranteed on a random split of exchangeable rows (at least the level on average); "
             "what it does not guarantee is coverage per group, which the coverage gaps measure (equalized coverage). "
             f"Coverage intervals: {self.confidence:.0%} Wilson on the measuring half."),
        ]
        if len(r.gaps):
            notes.append(f"Group sizes and min_group_size count rows of the measuring half; coverage gaps follow the gap "
                         f"rule (bias-corrected, an interval that bounds every pairwise contrast, {self.n_boot:,} "
                         "permutations for the test of 'no gap').")
            lacking = [str(c) for c, g in r.gaps.iterrows() if pd.isna(g["gap"])]
            if lacking:
                notes.append(f"{', '.join(lacking)}: fewer than two groups with min_group_size rows in the measuring "
                             "half; no coverage gap.")
        if self.level != DEFAULT_LEVEL:
            notes.append(f"The starter threshold on uncertainty.coverage ({DEFAULT_LEVEL - 0.05:g}) is written for level "
                         f"{DEFAULT_LEVEL:g}; with level={self.level:g} set your own in the policy.")
        return notes + r.notes

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        n = ctx.n_rows
        if isinstance(section, UncertaintySection) and section.result is not None and section.result.source == "model":
            return f"all {n:,} rows (the model's own intervals need no calibration rows)"
        return (f"all {n:,} rows: a seeded random half ({n // 2:,}) calibrates the intervals, the other half "
                f"({n - n // 2:,}) measures their coverage")
