"""Check registry: the one place that lists every check, in report order.

Adding a check means adding its module and one line here.
"""

from __future__ import annotations

from audit.checks._base import Check, pattern_regex
from audit.checks.performance import PerformanceCheck
from audit.checks.saliency import SaliencyCheck

REGISTRY: dict[str, type[Check]] = {
    cls.name: cls
    for cls in (
        PerformanceCheck,
        SaliencyCheck,
    )
}

__all__ = ["REGISTRY", "Check", "PerformanceCheck", "SaliencyCheck", "pattern_regex"]
