"""summary.md and junit.xml with hostile names: parsed as a CI would (CommonMark + GFM tables, XML 1.0),
they hold text only; every metric name built from a column is safe in Markdown, XML and HTML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.checks.calibration import CalibrationCheck
from audit.checks.data_quality import DataQualityCheck
from audit.checks.explain import ExplainCheck
from audit.checks.fairness import FairnessCheck
from audit.checks.robustness import RobustnessCheck
from audit.section import metric_part

HOSTILE = "`|![i](http://host/x.png)"
CONTROL = "bad\x01col\x1b[31m"
MODEL = "credit\r# injected heading\r![x](http://evil/y.png) <b>v2</b>"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.@+\-]+$")


@pytest.fixture(scope="module")
def hostile():
    rng = np.random.default_rng(0)
    n = 600
    g = rng.choice(["a", "b"], n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n) + (g == "a")
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.7, size=n) > 0).astype(int)
    df = pd.DataFrame({"x1": x1, "x2": x2, HOSTILE: g, "home zip": rng.choice(["p", "q"], n), CONTROL: g, "y": y})
    clf = LogisticRegression().fit(df[["x1", "x2"]], y)
    policy = {
        "calibration.*.ece_gap": {"max": 1e-6},
        "fairness.*.demographic_parity_difference": {"max": 0.05},
        "data_quality.*.min_group_share": {"min": 0.0},
        # a gate on a column that is not in the audit: its finding quotes the key as the user wrote it
        "fairness.`|![i](http://hostxpng).demographic_parity_difference": {"max": 0.1},
        f"fairness.{CONTROL}.equalized_odds_difference": {"max": 0.1},
    }
    checks = [CalibrationCheck(n_boot=50), FairnessCheck(n_boot=50, proxies=False), DataQualityCheck(),
              ExplainCheck(n_rows=40, n_background=20, n_lime_rows=2, lime_samples=200, n_bootstrap=10),
              RobustnessCheck(eps=[0.1], queries=10, max_rows_blackbox=100, n_boot=20)]
    return audit(clf, df, target="y", sensitive=[HOSTILE, "home zip", CONTROL], features=["x1", "x2"], checks=checks,
                 policy=policy, name=MODEL, progress=False)


def test_every_check_builds_names_from_columns_with_the_one_helper(hostile):
    names = list(hostile.metrics)
    assert all(SAFE_NAME.match(n) for n in names), [n for n in names if not SAFE_NAME.match(n)]
    hp, cp = metric_part(HOSTILE), metric_part(CONTROL)
    assert (hp, cp) == ("i_http_host_x_png", "bad_col_31m")
    for name in (f"calibration.{hp}.ece_gap", "calibration.home_zip.ece_gap", f"fairness.{hp}.demographic_parity_difference",
                 f"data_quality.{hp}.min_group_share", "data_quality.home_zip.small_groups",
                 f"explain.{hp}.attribution_share", f"robustness.random_search.linf.{cp}.group_gap@0.1"):
        assert name in names, name
    # ordinary column names are unchanged, so existing policies keep matching
    assert metric_part("race") == "race" and metric_part("age_group") == "age_group"


def _inline_types(tokens) -> set[str]:
    out = set()
    for t in tokens:
        out.add(t.type)
        out |= _inline_types(t.children or [])
    return out


def test_summary_md_renders_hostile_names_as_text(hostile):
    md = hostile.to_markdown()
    assert "\r" not in md and "\x01" not in md and "\x1b" not in md
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    types = _inline_types(tokens)
    assert not types & {"image", "link_open", "html_inline"}, types
    assert "html_block" not in types  # no check was skipped, so not even our own <details> block
    # one heading (ours); the \r in the model name did not start a new line or a heading
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h2"]
    para = next(t for t in tokens if t.type == "inline" and "credit" in t.content)
    text = "".join(c.content for c in para.children if c.type == "text")
    assert text.startswith("credit # injected heading ![x](http://evil/y.png) <b>v2</b> on 600 rows")
    # the table: every row has the header's 5 columns, the hostile names sit inside one cell
    rows, row = [], None
    for t in tokens:
        if t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append(t)
        elif t.type == "tr_close":
            rows.append(row)
            row = None
    assert len(rows) == len(hostile.findings) + 1 and {len(r) for r in rows} == {5}
    metric_cells = ["".join(c.content for c in r[1].children) for r in rows[1:]]
    assert "fairness.`|![i](http://hostxpng).demographic_parity_difference" in metric_cells
    assert f"fairness.{metric_part(HOSTILE)}.demographic_parity_difference" in metric_cells
    assert "fairness.bad" + "col[31m.equalized_odds_difference" in metric_cells  # control characters dropped


def test_junit_xml_parses_with_control_characters_in_names(hostile, tmp_path):
    path = tmp_path / "junit.xml"
    hostile.to_junit(path)
    root = ET.parse(path).getroot()  # malformed XML would raise here
    cases = root.findall(".//testcase")
    assert len(cases) == len(hostile.findings)
    names = [c.get("name") for c in cases]
    assert "fairness.badcol[31m.equalized_odds_difference" in names
    assert all(not re.search(r"[\x00-\x1f\x7f-\x9f]", n) for n in names)
    failure = next(c for c in cases if c.get("name") == "fairness.badcol[31m.equalized_odds_difference").find("failure")
    assert failure is not None and "was not produced by check 'fairness'" in failure.text
    assert int(root.get("tests")) == len(cases) and int(root.get("failures")) >= 2


def test_summary_md_skipped_reasons_and_undefined_baseline_stay_text():
    from audit import Policy
    from audit.findings import Finding
    from audit.report import Report
    from audit.section import Section

    sec = Section(check="fairness", title="Fairness", status="skipped", reason=f"column {HOSTILE} \r# h\n<script>x</script>")
    f = Finding(check="performance", metric="performance.accuracy", value=0.9, threshold=">= 0.5", passed=False,
                severity="fail", message="m", status="fail", baseline=float("nan"))
    md = Report(sections={"fairness": sec}, findings=[f], policy=Policy({}), meta={"model": "m"}).to_markdown()
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    assert not _inline_types(tokens) & {"image", "link_open", "html_inline"}
    assert [t.content.strip() for t in tokens if t.type == "html_block"] == ["<details><summary>Skipped or failed checks</summary>",
                                                                           "</details>"]
    item = next(t for t in tokens if t.type == "inline" and "column" in t.content)
    assert "".join(c.content for c in item.children if c.type == "text").endswith(f"column {HOSTILE}  # h <script>x</script>")  # the CR became a space
    cells = [t.content for t in tokens if t.type == "inline"][2:]
    header, body = cells[:7], cells[7:14]
    assert header[-2:] == ["baseline", "Δ"] and body[-2:] == ["undefined", ""]  # no "+nan" delta
