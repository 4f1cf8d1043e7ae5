"""Helpers for the health-check tests: judge a section against its check's starter policy."""

from __future__ import annotations

import pytest

from audit import Policy


def statuses(check_cls, section) -> dict[str, str]:
    """Metric name -> finding status under the check's own ``default_policy``."""
    policy = Policy(dict(check_cls.default_policy))
    policy.validate(list(check_cls.metric_patterns))
    found = policy.evaluate({m.name: m for m in section.metrics}, {m.name: section.check for m in section.metrics})
    return {f.metric: f.status for f in found}


def flagged(check_cls, section) -> set[str]:
    """Metrics whose finding is warn or fail under the starter policy."""
    return {k for k, v in statuses(check_cls, section).items() if v in ("warn", "fail")}


@pytest.fixture
def judge():
    return flagged
