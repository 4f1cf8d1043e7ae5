"""audit: a pre-deployment audit for trained models.

>>> from audit import audit, Policy
>>> report = audit(model, data, target="label", sensitive=["race"])  # doctest: +SKIP
>>> report.passed, report.save_html("reports/model.html")  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import metadata as _metadata

import audit.render  # noqa: F401 - registers the renderers behind report.save_html, to_json, ... (audit.formats)
from audit._api import audit, metric_patterns, resolve_checks, starter_policy, starter_thresholds
from audit.context import AuditContext
from audit.data import AuditData, load_data
from audit.errors import AuditInputError, ModelCallError
from audit.findings import Finding
from audit.backends import StoredPredictions
from audit.model import ModelAdapter
from audit.policy import Policy, Threshold
from audit.report import Report
from audit.section import Figure, Metric, Section

try:
    __version__ = _metadata.version("audit")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.1.0"

__all__ = [
    "AuditContext",
    "AuditData",
    "AuditInputError",
    "Figure",
    "Finding",
    "Metric",
    "ModelAdapter",
    "StoredPredictions",
    "ModelCallError",
    "Policy",
    "Report",
    "Section",
    "Threshold",
    "__version__",
    "audit",
    "load_data",
    "metric_patterns",
    "resolve_checks",
    "starter_policy",
    "starter_thresholds",
]
