"""Typed results every check returns: a :class:`Section` of metrics, tables and figures.

A section holds values, never HTML. Renderers (``audit/render``) turn it into HTML, JSON,
JUnit or Markdown. Concrete checks subclass :class:`Section` to add typed fields (for example
``PerformanceSection.confusion_matrix``) and expose them to renderers through ``tables``.
"""

from __future__ import annotations

import hashlib
import math
import re
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from audit.formats import render

SectionStatus = Literal["ok", "skipped", "error"]

#: longest dotted part a column or group value becomes in a metric name (longer ones end in a hash)
METRIC_PART_LIMIT = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def metric_part(value: object) -> str:
    """One dotted part of a metric name made from a user's column or group value.

    Every check builds names such as ``calibration.<column>.ece_gap`` through this helper, so a name
    holds only ASCII letters, digits, ``_`` and ``-``: nothing that ends a Markdown code span or splits
    a table (backtick, pipe), starts a link or image, is markup in XML or HTML, is a control character,
    or is a dot (which would shift the other parts). Runs of other characters become one ``_``;
    ordinary column names (``race``, ``age_group``) are unchanged, so policies keep working. Names
    longer than :data:`METRIC_PART_LIMIT` keep their start and end in a short hash of the full value,
    so two long names stay apart.

    Examples
    --------
    >>> metric_part("race"), metric_part("home zip"), metric_part("`|![i](http://host/x.png)"), metric_part("a.b")
    ('race', 'home_zip', 'i_http_host_x_png', 'a_b')
    >>> metric_part("..."), len(metric_part("x" * 10_000))
    ('column', 64)
    """
    text = str(value)
    part = _UNSAFE.sub("_", text).strip("_") or "column"
    if len(part) > METRIC_PART_LIMIT:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        part = part[: METRIC_PART_LIMIT - 9].rstrip("_") + "_" + digest
    return part


def metric_parts(values: Iterable[object]) -> dict[str, str]:
    """:func:`metric_part` for several columns at once, kept distinct: ``str(value)`` -> part.

    When two values give the same part (``"home zip"`` and ``"home_zip"``) the later ones get
    ``_2``, ``_3``, ... in the order given, so no metric silently replaces another.

    Examples
    --------
    >>> metric_parts(["home zip", "home_zip", "race"])
    {'home zip': 'home_zip', 'home_zip': 'home_zip_2', 'race': 'race'}
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for value in values:
        key = str(value)
        if key in out:
            continue
        part, n = metric_part(key), 1
        while (part if n == 1 else f"{part}_{n}") in taken:
            n += 1
        part = part if n == 1 else f"{part}_{n}"
        out[key] = part
        taken.add(part)
    return out


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a metric pattern such as ``fairness.<column>.<metric>_ratio`` into a regex.

    ``<eps>`` stands for a number, ``<group>`` for one or more dotted parts, any other ``<...>`` for one
    dotted part. Checks declare their names this way (``Check.metric_patterns``), so a policy can be
    validated before the audit runs.

    Examples
    --------
    >>> rx = pattern_regex("robustness.pgd.linf.accuracy@<eps>")
    >>> bool(rx.match("robustness.pgd.linf.accuracy@0.03")), bool(rx.match("robustness.pgd.linf.accuracy@x"))
    (True, False)
    """
    parts = re.split(r"(<[a-z_]+>)", pattern)
    rx = "".join(
        (r"[0-9.eE+-]+" if p == "<eps>" else r"[^.]+(?:\.[^.]+)*?" if p == "<group>" else r"[^.]+")
        if p.startswith("<")
        else re.escape(p)
        for p in parts
    )
    return re.compile(rf"^{rx}$")


@dataclass(frozen=True)
class Metric:
    """One named number a policy can gate on.

    ``name`` is a stable dotted string (``performance.accuracy``,
    ``fairness.race.false_positive_rate_ratio``). ``low``/``high`` are the bounds of a
    confidence interval when the check computed one. ``higher_is_better`` tells renderers and the
    baseline comparison which direction is a regression (``None``: neither).

    ``not_computed`` is set (to the reason) only for a metric that exists to check an approximation
    and that the audit chose not to compute, for cost (``explain.shap_exact_correlation`` when exact
    reference values are over the budget); its value is NaN. A starter-policy gate on it then does not
    apply (an ``info`` finding says why) instead of turning the verdict inconclusive; a gate the user
    named is still told it was not computed (inconclusive).

    >>> Metric("explain.shap_exact_correlation", float("nan"), not_computed="exact reference over budget").defined
    False
    """

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    higher_is_better: bool | None = None
    description: str = ""
    not_computed: str = ""

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
        Inline figures; checks pass a :class:`DeferredFigures`, drawn only when something reads them.
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
        """Plain-data view (JSON-ready) of the section, as audit.json holds it; figures are left out."""
        return render("json_section", self)


class DeferredFigures(list):
    """A section's figures, drawn the first time something reads them (the HTML renderer, a notebook, a test).

    Checks hand over the function that draws their figures from numbers they already computed, so
    ``audit()`` itself draws nothing: an audit that only writes audit.json, junit.xml or a summary, or
    gates in CI, never pays for matplotlib. A drawing error is logged and leaves the list empty, so one
    broken figure cannot stop a report from being written.

    Examples
    --------
    >>> calls = []
    >>> figs = DeferredFigures(lambda: calls.append(1) or ["fig"])
    >>> calls
    []
    >>> list(figs), len(figs), calls
    (['fig'], 1, [1])
    """

    def __init__(self, draw: Callable[[], Iterable[Figure]]) -> None:
        super().__init__()
        self._draw: Callable[[], Iterable[Figure]] | None = draw

    @property
    def drawn(self) -> bool:
        return self._draw is None

    def _ready(self) -> None:
        if self._draw is None:
            return
        draw, self._draw = self._draw, None
        try:
            super().extend(draw())
        except Exception:  # noqa: BLE001 - a figure must not sink the report
            logging.getLogger(__name__).exception("drawing a figure failed")

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._ready()
        return super().__iter__()

    def __len__(self) -> int:
        self._ready()
        return super().__len__()

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        self._ready()
        return super().__getitem__(i)

    def __contains__(self, x: object) -> bool:
        self._ready()
        return super().__contains__(x)

    def __eq__(self, other: object) -> bool:
        self._ready()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other):  # type: ignore[no-untyped-def]
        return list(self) + list(other)

    def __iadd__(self, other):  # type: ignore[no-untyped-def]
        self._ready()
        return super().__iadd__(other)

    def append(self, x: Figure) -> None:
        self._ready()
        super().append(x)

    def extend(self, xs: Iterable[Figure]) -> None:
        self._ready()
        super().extend(xs)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (list, (list(self),))

    def __repr__(self) -> str:
        return "DeferredFigures(not drawn yet)" if self._draw is not None else super().__repr__()


def skipped(check: str, title: str, reason: str) -> Section:
    """A section for a check that does not apply, with the reason shown in the report."""
    return Section(check=check, title=title, status="skipped", reason=reason)
