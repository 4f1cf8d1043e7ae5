"""Typed results every check returns: a :class:`Section` of metrics, tables and figures.

A section holds values, never HTML. Renderers (``audit/render``) turn it into HTML, JSON,
JUnit or Markdown. Concrete checks subclass :class:`Section` to add typed fields (for example
``PerformanceSection.confusion_matrix``) and expose them to renderers through ``tables``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

SectionStatus = Literal["ok", "skipped", "error"]


@dataclass(frozen=True)
class Metric:
    """One named number a policy can gate on.

    ``name`` is a stable dotted string (``performance.accuracy``,
    ``fairness.race.false_positive_rate_ratio``). ``low``/``high`` are the bounds of a
    confidence interval when the check computed one. ``higher_is_better`` tells renderers and the
    baseline comparison which direction is a regression (``None``: neither).
    """

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    higher_is_better: bool | None = None
    description: str = ""

    @property
    def defined(self) -> bool:
        """False when the value is NaN (undefined, e.g. a group with no positives)."""
        return self.value is not None and not (isinstance(self.value, float) and math.isnan(self.value))


@dataclass(frozen=True)
class Figure:
    """A rendered figure: inline SVG text (preferred) or a base64 PNG, plus alt text."""

    title: str
    alt: str
    svg: str | None = None
    png_base64: str | None = None
    caption: str = ""


@dataclass
class Section:
    """What one check produced.

    Attributes
    ----------
    check : str
        The check's registered name (``"performance"``), also the key in ``Report.sections``.
    title : str
        Human title for the report.
    status : {"ok", "skipped", "error"}
        ``skipped`` carries the reason in ``reason``; ``error`` carries the exception text.
    summary : str
        One or two plain-language sentences for the report.
    metrics : list of Metric
        Gateable numbers with stable dotted names.
    tables : dict of str to DataFrame
        Every table a user gets back; renderers show them in insertion order.
    figures : list of Figure
        Inline figures.
    notes : list of str
        Warnings and caveats (small groups, undefined metrics, approximations).
    duration_s : float
        Wall time the check took.
    """

    check: str
    title: str
    status: SectionStatus = "ok"
    reason: str = ""
    summary: str = ""
    metrics: list[Metric] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def metric(self, name: str) -> Metric:
        """Return the metric called ``name``; KeyError lists the names this section has."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"metric {name!r} not in section {self.check!r}; it has {[m.name for m in self.metrics]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (JSON-ready) of the section; figures are left out."""
        from audit.render.json import section_to_dict

        return section_to_dict(self)


def skipped(check: str, title: str, reason: str) -> Section:
    """A section for a check that does not apply, with the reason shown in the report."""
    return Section(check=check, title=title, status="skipped", reason=reason)
