"""Findings: a metric held against a threshold, with a status a CI gate acts on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "inconclusive", "error", "info"]
Severity = Literal["fail", "warn", "info"]


@dataclass(frozen=True)
class Finding:
    """One gate result.

    ``passed`` is False only for a status that blocks a release under the policy in force
    (``fail``, and ``inconclusive`` or ``warn`` when the policy says so). ``threshold`` is a
    human string such as ``">= 0.6"``; ``low``/``high`` are the metric's confidence interval.
    """

    check: str
    metric: str
    value: float | None
    threshold: str
    passed: bool
    severity: Severity
    message: str
    status: Status = "pass"
    low: float | None = None
    high: float | None = None
    baseline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
