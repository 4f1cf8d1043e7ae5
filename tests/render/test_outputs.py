from __future__ import annotations

import re
from html import unescape
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from audit import audit

HOSTILE_COL = '<img src=x onerror=alert(1)>'
HOSTILE_GROUP = '"><script>alert("g")</script>'


@pytest.fixture
def hostile_report(tabular_frame):
    df = tabular_frame.rename(columns={"x1": HOSTILE_COL})
    df["g"] = np.where(df["g"] == "a", HOSTILE_GROUP, "b&b")
    clf = LogisticRegression().fit(df[[HOSTILE_COL, "x2"]], df["y"])
    return audit(clf, df, target="y", sensitive=["g"], features=[HOSTILE_COL, "x2"], progress=False,
                 policy={"performance.accuracy": {"min": 0.99}})


def test_html_escapes_hostile_names_and_loads_nothing(hostile_report):
    html = hostile_report.to_html()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert" in html or "&#34;&gt;&lt;script&gt;" in html
    assert html.count("<script>") == 1  # only our table-sorting script, allowed by CSP hash
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert csp and "default-src 'none'" in unescape(csp.group(1))
    # no external resource: every src/href is a data: URI or an in-page anchor
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith(("data:", "#")), url
    assert "FAIL" in html


def test_summary_repr_html_is_light(hostile_report):
    frag = hostile_report._repr_html_()
    assert "<img" not in frag and "<script>alert" not in frag and len(frag) < 5000


def test_save_html_is_atomic_and_returns_path(hostile_report, tmp_path):
    p = hostile_report.save_html(tmp_path / "sub" / "r.html")
    assert p.is_absolute() and p.read_text().startswith("<!DOCTYPE html>")
    assert not list(p.parent.glob(".*.tmp"))
    assert p.stat().st_mode & 0o044  # readable by others, like any file the user writes


def test_junit_has_one_case_per_gate_with_failure(hostile_report, tmp_path):
    xml = hostile_report.to_junit(tmp_path / "junit.xml")
    root = ET.fromstring(xml)
    cases = root.findall(".//testcase")
    assert len(cases) == len(hostile_report.findings)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["performance.accuracy"]
    assert "threshold >= 0.99" in failed[0].find("failure").get("message")
    assert root.get("failures") == "1"


def test_markdown_summary_escapes_and_lists_gates(hostile_report):
    md = hostile_report.to_markdown()
    assert "**FAIL**" in md and "`performance.accuracy`" in md
    assert "<script>" not in md
