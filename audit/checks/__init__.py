"""Check registry: the one place that lists every check, in report order.

Adding a check means adding its module and one line here.
"""

from __future__ import annotations

from audit.checks._base import Check, pattern_regex
from audit.checks.calibration import CalibrationCheck
from audit.checks.data_quality import DataQualityCheck
from audit.checks.explain import ExplainCheck
from audit.checks.fairness import FairnessCheck
from audit.checks.gradients import GradientHealthCheck
from audit.checks.overfitting import OverfittingCheck
from audit.checks.performance import PerformanceCheck
from audit.checks.robustness import RobustnessCheck
from audit.checks.saliency import SaliencyCheck

REGISTRY: dict[str, type[Check]] = {
    cls.name: cls
    for cls in (
        PerformanceCheck,
        FairnessCheck,
        ExplainCheck,
        DataQualityCheck,
        OverfittingCheck,
        CalibrationCheck,
        SaliencyCheck,
        RobustnessCheck,
        GradientHealthCheck,
    )
}

__all__ = [
    "REGISTRY",
    "CalibrationCheck",
    "Check",
    "DataQualityCheck",
    "ExplainCheck",
    "FairnessCheck",
    "GradientHealthCheck",
    "OverfittingCheck",
    "PerformanceCheck",
    "RobustnessCheck",
    "SaliencyCheck",
    "pattern_regex",
]
