"""JUnit XML renderer: one test case per gated metric, readable by any CI.

ElementTree escapes markup, but it writes control characters as they are, which makes the file
malformed XML 1.0 and loses the results in CI: every value goes through :func:`audit.render.text.plain`
first (no control characters, one line, bounded length).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from audit.render.text import plain

if TYPE_CHECKING:
    from audit.report import Report

#: longest failure or error body (the full text is in audit.json)
_BODY_LIMIT = 4000


def render_junit(report: Report) -> str:
    """One ``<testsuite>`` per check; a failed gate is a ``<failure>``, a warning or inconclusive result a
    ``<system-out>`` note on a passing case, a check that raised an ``<error>``."""
    suites = ET.Element("testsuites", name="audit")
    by_check: dict[str, list] = {}
    for f in report.findings:
        by_check.setdefault(f.check, []).append(f)
    for name, s in report.sections.items():
        if s.status == "error":
            by_check.setdefault(name, [])
    total = failures = errors = 0
    for check, findings in by_check.items():
        suite = ET.SubElement(suites, "testsuite", name=plain(f"audit.{check}"))
        n_fail = n_err = 0
        for f in findings:
            case = ET.SubElement(suite, "testcase", classname=plain(f"audit.{check}"), name=plain(f.metric))
            value = "undefined" if f.value is None else f"{f.value:.6g}"
            if not f.passed:
                n_fail += 1
                base = "" if f.baseline is None else f"; baseline {f.baseline:.6g}"
                el = ET.SubElement(case, "failure", message=plain(f"{f.metric} = {value}{base}; threshold {f.threshold}"),
                                   type=plain(f.status))
                el.text = plain(f.message, _BODY_LIMIT)
            elif f.status != "pass":
                ET.SubElement(case, "system-out").text = plain(f"{f.status}: {f.message}", _BODY_LIMIT)
        sec = report.sections.get(check)
        if sec is not None and sec.status == "error":
            n_err += 1
            case = ET.SubElement(suite, "testcase", classname=plain(f"audit.{check}"), name="run")
            ET.SubElement(case, "error", message=plain(sec.reason, 500)).text = plain(sec.reason, _BODY_LIMIT)
        count = len(findings) + (1 if sec is not None and sec.status == "error" else 0)
        suite.set("tests", str(count))
        suite.set("failures", str(n_fail))
        suite.set("errors", str(n_err))
        total += count
        failures += n_fail
        errors += n_err
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", str(errors))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
