"""Check registry: the one place that lists every check, in report order.

Adding a check means adding its module and one line here.
"""

from __future__ import annotations

from typing import Any

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
from audit.checks.slices import SlicesCheck
from audit.checks.text_fairness import TextFairnessCheck
from audit.checks.uncertainty import UncertaintyCheck

REGISTRY: dict[str, type[Check]] = {
    cls.name: cls
    for cls in (
        PerformanceCheck,
        FairnessCheck,
        TextFairnessCheck,
        UncertaintyCheck,
        SlicesCheck,
        ExplainCheck,
        DataQualityCheck,
        OverfittingCheck,
        CalibrationCheck,
        SaliencyCheck,
        RobustnessCheck,
        GradientHealthCheck,
    )
}



def starter_thresholds() -> dict[str, Any]:
    """Every registered check's ``default_policy`` merged: the thresholds of the starter policy.

    A :class:`~audit.policy.Policy` knows no check; this is what the orchestrator, the CLI and the Dask
    engine hand it.

    Examples
    --------
    >>> starter_thresholds()["fairness.demographic_parity_difference"]
    {'max': 0.1, 'severity': 'fail'}
    """
    merged: dict[str, Any] = {}
    for check in REGISTRY.values():
        merged.update(getattr(check, "default_policy", {}) or {})
    return merged


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
    "SlicesCheck",
    "TextFairnessCheck",
    "UncertaintyCheck",
    "pattern_regex",
    "starter_thresholds",
]
