"""SaliencyCheck: when it applies, which images it shows, what the section holds."""

from __future__ import annotations

import numpy as np
import pytest

from audit import audit
from audit.checks.saliency import SaliencyCheck, select_images
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter
from audit.policy import Policy


@pytest.fixture
def digits_ctx(digits) -> AuditContext:
    model, X, y = digits
    return AuditContext(model=ModelAdapter(model), data=load_data((X, y)), seed=0)


def test_skip_reasons(tabular_frame, linear_net, digits_ctx):
    ctx = AuditContext(model=ModelAdapter(linear_net), data=load_data(tabular_frame[["x1", "x2", "y"]], target="y"))
    assert "image" in SaliencyCheck().skip_reason(ctx)
    X, y = digits_ctx.data.X.numpy(), digits_ctx.data.y
    label_only = AuditContext(model=ModelAdapter(lambda x: np.zeros(len(x), dtype=int)), data=load_data((X, y)))
    assert "differentiable" in SaliencyCheck().skip_reason(label_only)
    assert SaliencyCheck().skip_reason(digits_ctx) is None


def test_select_images_one_per_class_then_misclassified():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 20)
    pred = y.copy()
    wrong_idx = rng.choice(200, 15, replace=False)
    pred[wrong_idx] = (y[wrong_idx] + 1) % 10
    idx, mis = select_images(y, pred, 10, np.random.default_rng(1), max_images=14, n_misclassified=3)
    assert len(idx) == 14 and len(set(idx.tolist())) == 14
    np.testing.assert_array_equal(mis, y[idx] != pred[idx])
    assert mis.sum() == 3
    assert set(y[idx[~mis]].tolist()) == set(range(10))  # every class shown correctly classified
    # fewer slots than classes: a subset of classes, still one misclassified image
    idx, mis = select_images(y, pred, 10, np.random.default_rng(1), max_images=5, n_misclassified=3)
    assert len(idx) == 5 and mis.sum() == 1 and len(set(y[idx[~mis]].tolist())) == 4
    # no labels: one per predicted class
    idx, mis = select_images(None, pred, 10, np.random.default_rng(1), max_images=10)
    assert sorted(pred[idx].tolist()) == list(range(10)) and not mis.any()


def test_run_on_digits(digits_ctx):
    check = SaliencyCheck(n_eval=24, steps=8, max_images=12, randomize_layers=1)
    section = check.run(digits_ctx)
    assert section.status == "ok"
    names = [m.name for m in section.metrics]  # that they match metric_patterns: tests/checks/test_conformance.py
    for m in ("saliency", "integrated_gradients", "smoothgrad", "gradcam"):
        for k in ("deletion_auc", "insertion_auc", "randomization_rank_corr"):
            assert f"saliency.{m}.{k}" in names
    faith = section.tables["Faithfulness (deletion / insertion AUC)"]
    sanity = section.tables["Sanity: rank correlation with a randomised model"]
    assert section.metric("saliency.saliency.deletion_auc").value == pytest.approx(faith.loc["Saliency", "deletion_auc"])
    assert section.metric("saliency.saliency.deletion_auc").value < section.metric("saliency.random.deletion_auc").value
    d = section.metric("saliency.saliency.deletion_gain")
    assert d.low <= d.value <= d.high
    assert set(sanity["flagged"]) <= {"yes", "no"}
    assert section.metric("saliency.smoothgrad.randomization_rank_corr").value == pytest.approx(sanity.loc["SmoothGrad", "rank_corr"])
    png, svg = section.figures
    assert png.png_base64 and len(png.png_base64) < 200_000
    assert svg.svg.startswith("<svg")
    # same inputs and seed, same numbers
    again = check.run(digits_ctx)
    assert [m.value for m in again.metrics] == [m.value for m in section.metrics]


def test_default_policy_names_valid_metrics_and_gates(digits_ctx):
    pol = Policy(SaliencyCheck.default_policy)
    pol.validate(list(SaliencyCheck.metric_patterns))
    section = SaliencyCheck(n_eval=16, steps=4, methods=("saliency",), randomize_layers=1).run(digits_ctx)
    metrics = {m.name: m for m in section.metrics}
    findings = pol.evaluate(metrics, {n: "saliency" for n in metrics})
    gated = {f.metric for f in findings}
    assert gated == {"saliency.saliency.randomization_rank_corr", "saliency.saliency.deletion_gain"}


def test_audit_end_to_end(digits, tmp_path):
    model, X, y = digits
    report = audit(model, (X, y), checks=[SaliencyCheck(n_eval=16, steps=4, randomize_layers=1)], seed=0, progress=False)
    assert report.sections["saliency"].status == "ok", report.sections["saliency"].reason
    html = report.save_html(tmp_path / "digits.html")
    text = html.read_text() if hasattr(html, "read_text") else open(html).read()
    assert "Saliency overlays" in text and "Deletion and insertion curves" in text
