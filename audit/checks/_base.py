"""The one small base every check derives from, and the registry that lists them."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

from audit.context import AuditContext
from audit.section import Section


class Check(ABC):
    """A unit of the audit: declares what it needs, computes in :meth:`run`, returns a Section.

    Constructors only store keyword-only settings; all work happens in ``run``.
    ``metric_patterns`` lists the metric names the check can produce; ``<...>`` stands for one
    dotted part (a column, a group) and ``<eps>`` for a number, so a policy can be validated
    before the audit runs.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    metric_patterns: ClassVar[tuple[str, ...]] = ()
    #: what ``audit run`` documents for each metric pattern
    metric_docs: ClassVar[dict[str, str]] = {}

    def skip_reason(self, ctx: AuditContext) -> str | None:
        """Why this check does not apply to ``ctx`` (None when it does)."""
        return None

    @abstractmethod
    def run(self, ctx: AuditContext) -> Section:
        """Compute the section for ``ctx``."""

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a metric pattern such as ``fairness.<column>.<metric>_ratio`` into a regex."""
    parts = re.split(r"(<[a-z_]+>)", pattern)
    rx = "".join(
        (r"[0-9.eE+-]+" if p == "<eps>" else r"[^.]+(?:\.[^.]+)*?" if p == "<group>" else r"[^.]+")
        if p.startswith("<")
        else re.escape(p)
        for p in parts
    )
    return re.compile(rf"^{rx}$")
