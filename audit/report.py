"""Report: the sections, the findings and the verdict of one audit."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audit.baseline import Baseline, baseline_findings, load_baseline
from audit.errors import AuditInputError
from audit.findings import Finding
from audit.formats import render
from audit.policy import Policy
from audit.section import Metric, Section
from audit.text import scrub

Verdict = Literal["pass", "fail", "inconclusive"]


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 through a temp file in the same folder and a rename, so readers
    never see half a file; a surrogate the renderers missed becomes U+FFFD (:func:`audit.text.scrub`)
    instead of failing the write. Every output of the library and the CLI is written here."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(scrub(text))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


@dataclass
class Report:
    """The result of :func:`audit.audit`.

    Attributes
    ----------
    sections : dict of str to Section
        Each check's result, keyed by check name, in report order.
    findings : list of Finding
        Every metric held against the policy.
    policy : Policy
    meta : dict
        What was audited: model, data shape, groups, device, seed, versions, run times.
    """

    sections: dict[str, Section]
    findings: list[Finding]
    policy: Policy
    meta: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, float] | None = None

    def __post_init__(self) -> None:
        # A baseline read from a previous audit.json knows its model and metric set: a mismatch with this
        # run is a warning finding, never a silent comparison of different things.
        if isinstance(self.baseline, Baseline) and not any(f.check == "baseline" for f in self.findings):
            check_of = {m.name: s.check for s in self.sections.values() for m in s.metrics}
            self.findings = [*self.findings, *baseline_findings(self.baseline, self.metrics, check_of,
                                                                 self.meta.get("model"), self.policy)]

    # ---------------------------------------------------------------- verdict
    @property
    def passed(self) -> bool:
        """True when every gate passed under the policy (errors in checks count as failures)."""
        return all(f.passed for f in self.findings) and not self.errors

    @property
    def errors(self) -> list[Section]:
        return [s for s in self.sections.values() if s.status == "error"]

    @property
    def verdict(self) -> Verdict:
        """``fail`` when a gate failed, ``inconclusive`` when none failed but some were inconclusive."""
        if not self.passed:
            return "fail"
        if any(f.status == "inconclusive" for f in self.findings):
            return "inconclusive"
        return "pass"

    @property
    def metrics(self) -> dict[str, Metric]:
        """Every metric of every section, by name."""
        return {m.name: m for s in self.sections.values() for m in s.metrics}

    # ---------------------------------------------------------------- outputs
    # Each output is written by the renderer registered for its format (audit.formats, filled by audit.render):
    # a report is a value and imports no renderer.
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with stable keys: verdict, passed, meta, metrics, findings, sections."""
        return render("json_dict", self)

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; also written to ``path`` when given."""
        text = render("json", self, indent=indent)
        if path is not None:
            write_atomic(path, text)
        return text

    def to_junit(self, path: str | Path | None = None) -> str:
        """JUnit XML: one test case per gated metric, failures carry value and threshold."""
        text = render("junit", self)
        if path is not None:
            write_atomic(path, text)
        return text

    def to_markdown(self) -> str:
        """A Markdown summary for a pull-request comment or a CI step summary."""
        return render("markdown", self)

    def to_html(self) -> str:
        """The full self-contained HTML report."""
        return render("html", self)

    def save_html(self, path: str | Path) -> Path:
        """Write the HTML report atomically and return the absolute path written.

        Examples
        --------
        >>> report.save_html("reports/model.html")  # doctest: +SKIP
        PosixPath('/home/me/project/reports/model.html')
        """
        return write_atomic(path, self.to_html()).resolve()

    def _repr_html_(self) -> str:
        return render("html_summary", self)

    def __repr__(self) -> str:
        failed = sum(1 for f in self.findings if not f.passed)
        return (
            f"<Report verdict={self.verdict!r} sections={list(self.sections)} "
            f"findings={len(self.findings)} failed={failed}>"
        )

    @staticmethod
    def load_metrics(path: str | Path) -> dict[str, float]:
        """Metric values from a saved ``audit.json`` (for baseline comparison), validated by
        :func:`audit.baseline.load_baseline` (NaN where the run had no value)."""
        if not isinstance(path, (str, Path)):
            raise AuditInputError(f"load_metrics takes the path of an audit.json, got {type(path).__name__}")
        return load_baseline(path)
