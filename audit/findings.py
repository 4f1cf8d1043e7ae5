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
    ``rule`` is the gap rule a gate on a gap between groups applies (empty for other metrics); the
    message quotes it too, and the HTML report states each rule once, in a legend under the gates.
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
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def why(self) -> str:
        """The message without the metric's name and value, and without the gap rule (what a gate table's
        "why" column shows beside the value and the rule's legend).

        >>> Finding("fairness", "fairness.x", 0.2, "<= 0.1", False, "fail",
        ...         "fairness.x = 0.2: 0.2 > max 0.1. gap rule: fail only when (sex, Male vs Female)",
        ...         rule="gap rule: fail only when").why
        '0.2 > max 0.1 (sex, Male vs Female)'
        """
        text = self.message.split(": ", 1)[-1]
        return text.replace(". " + self.rule, "") if self.rule else text
