"""The figures of a tabular report: how many each section draws and how many panels each has (issue 18 cut the
panels that repeated a table), that captions name the table holding the values, and that the HTML embeds them."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
import torch

from audit import audit
from audit.checks.calibration import CalibrationCheck
from audit.checks.data_quality import DataQualityCheck
from audit.checks.explain import ExplainCheck
from audit.checks.fairness import FairnessCheck
from audit.checks.gradients import GradientHealthCheck
from audit.checks.overfitting import OverfittingCheck
from audit.checks.performance import PerformanceCheck
from audit.checks.robustness import RobustnessCheck
from audit.plots.explain import ROWS_TABLE
from audit.render.html import anchor

#: figure title -> panels (axes with their axes drawn), per section, as decided in issue 18: one set of group-bar
#: panels for every sensitive column, one heat-map panel when the 'Intersection' table lists the pair, and one
#: SHAP-vs-LIME panel for all chosen rows (it was one per row)
EXPECTED = {
    "performance": {"Confusion matrix": 1},
    "fairness": {"Disparities between groups": 1, "Group metrics by g, h": 3, "g x h": 1},
    "explain": {"Global importance (mean |SHAP|)": 1, "SHAP summary (beeswarm)": 1, "Chosen rows: SHAP vs LIME": 1},
    "data_quality": {"Label balance": 1, "Feature drift (train vs data)": 1},
    "overfitting": {"Training history": 1},
    "calibration": {"Reliability diagram": 2, "Reliability per group": 2},
    "robustness": {"Accuracy vs eps": 1},
    "gradients": {"Gradient norm per layer": 1},
}


def panels(svg: str) -> int:
    """Axes that draw their x and y axis (a legend-only cell has none) in a matplotlib SVG."""
    return len(re.findall(r'<g id="matplotlib\.axis_\d+"', svg)) // 2


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    n = 600
    g, h = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]), rng.choice(["p", "q"], n)
    x = rng.normal(size=(n, 3)) + (g == "a")[:, None] * 0.3
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    df = pd.DataFrame(x, columns=["x1", "x2", "x3"]).assign(g=g, h=h, y=y)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    history = pd.DataFrame({"train_loss": np.linspace(0.7, 0.3, 8), "val_loss": np.linspace(0.7, 0.4, 8)})
    checks = [PerformanceCheck(), FairnessCheck(n_boot=30, proxies=False), CalibrationCheck(n_boot=30),
              ExplainCheck(n_rows=40, n_background=20, n_lime_rows=3, lime_samples=200, n_bootstrap=10),
              DataQualityCheck(), OverfittingCheck(), RobustnessCheck(eps=[0.1, 0.3], n_boot=20), GradientHealthCheck()]
    return audit(net, df.iloc[300:], target="y", sensitive=["g", "h"], features=["x1", "x2", "x3"],
                 train=df.iloc[:300], history=history, checks=checks, progress=False)


def test_audit_draws_nothing_until_read(report):
    assert not any(getattr(s.figures, "drawn", True) for s in report.sections.values())


def test_each_section_draws_the_figures_and_panels_decided(report):
    got = {k: {f.title: panels(f.svg) for f in s.figures} for k, s in report.sections.items() if len(s.figures)}
    assert got == EXPECTED


def test_captions_name_the_tables_that_hold_what_was_cut(report):
    fair, expl = report.sections["fairness"], report.sections["explain"]
    caps = {f.title: f.caption for f in [*fair.figures, *expl.figures]}
    assert "'Groups by g', 'Groups by h'" in caps["Group metrics by g, h"]
    assert {"Groups by g", "Groups by h", "Intersection"} <= set(fair.tables)
    assert "'Intersection'" in caps["g x h"]
    assert ROWS_TABLE in expl.tables and ROWS_TABLE in caps["Chosen rows: SHAP vs LIME"]
    shap_lime = next(f for f in expl.figures if f.title == "Chosen rows: SHAP vs LIME")
    assert ROWS_TABLE in shap_lime.alt and "3 chosen rows" in shap_lime.alt


def test_html_embeds_each_sections_figures(report):
    html = report.to_html()
    for check, figures in EXPECTED.items():
        start = html.index(f'<section id="{anchor(check)}">')
        block = html[start : html.index("</section>", start)]
        imgs = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="[^"]+" title="([^"]+)"', block)
        assert [t for _, t in imgs] == [re.sub("&", "&amp;", t) for t in figures], check
        assert all(base64.b64decode(b).startswith(b"<svg") for b, _ in imgs)
