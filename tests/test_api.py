from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

import audit as audit_pkg
from audit import Policy, audit
from audit.checks import Check
from audit.errors import AuditInputError
from audit.section import Section


class Boom(Check):
    name = "boom"
    title = "Boom"

    def run(self, ctx):
        raise RuntimeError("kaput")


def _fit(frame):
    return LogisticRegression().fit(frame[["x1", "x2"]], frame["y"])


def test_end_to_end_sklearn(tabular_frame):
    clf = _fit(tabular_frame)
    r = audit(clf, tabular_frame, target="y", sensitive=["g"], checks=["performance"], progress=False,
              policy={"performance.accuracy": {"min": 0.6}})
    assert r.passed and r.verdict == "pass"
    acc = (clf.predict(tabular_frame[["x1", "x2"]]) == tabular_frame["y"]).mean()
    assert r.sections["performance"].metric("performance.accuracy").value == pytest.approx(acc)
    assert r.meta["rows"] == 400 and r.meta["groups"] == {"g": ["a", "b"]}
    failing = audit(clf, tabular_frame, target="y", checks=["performance"], progress=False,
                    policy={"performance.accuracy": {"min": 0.99}})
    assert not failing.passed and failing.verdict == "fail"


def test_predictions_are_computed_once(tabular_frame):
    clf = _fit(tabular_frame)
    train = tabular_frame.iloc[:150].reset_index(drop=True)  # more rows than the SHAP background (100)
    full = {"data": tabular_frame.drop(columns="y"), "train": train.drop(columns="y")}
    calls = {"data": 0, "train": 0}

    def model(X):
        for k, ref in full.items():
            if len(X) == len(ref) and X.reset_index(drop=True).equals(ref):
                calls[k] += 1
        return clf.predict_proba(X[["x1", "x2"]])

    audit(model, tabular_frame, target="y", sensitive=["g"], progress=False, train=train)
    # once on data, once on train: no check re-predicts the full data (attacks and explainers
    # call the model on other inputs, which is expected)
    assert calls == {"data": 1, "train": 1}


def test_check_that_raises_becomes_error_section(tabular_frame):
    r = audit(_fit(tabular_frame), tabular_frame, target="y", checks=["performance", Boom()], progress=False)
    assert r.sections["boom"].status == "error" and "kaput" in r.sections["boom"].reason
    assert r.sections["performance"].status == "ok"
    assert r.passed is False
    assert "kaput" in r.to_html()


def test_unknown_check_and_bad_immutable(tabular_frame):
    with pytest.raises(AuditInputError, match=r"unknown check 'fairnes'; valid checks are \["):
        audit(_fit(tabular_frame), tabular_frame, target="y", checks=["fairnes"])
    with pytest.raises(AuditInputError, match="immutable column 'age' not found"):
        audit(_fit(tabular_frame), tabular_frame, target="y", immutable=["age"], checks=["performance"])


def test_labels_not_in_model_classes(tabular_frame):
    bad = tabular_frame.assign(y=tabular_frame["y"].map({0: "no", 1: "yes"}))
    with pytest.raises(AuditInputError, match=r"data labels contain 'no', which is not one of the model's classes \[0, 1\]"):
        audit(_fit(tabular_frame), bad, target="y", checks=["performance"], progress=False)


def test_same_seed_same_numbers_torch(tabular_frame):
    def run(seed):
        torch.manual_seed(0)
        net = torch.nn.Linear(2, 2)
        r = audit(net, tabular_frame, target="y", features=["x1", "x2"], sensitive=["g"], seed=seed, progress=False)
        d = r.to_dict()
        return d["metrics"]

    assert run(0) == run(0)


def test_json_round_trip_and_baseline(tabular_frame, tmp_path):
    r = audit(_fit(tabular_frame), tabular_frame, target="y", sensitive=["g"], progress=False)
    path = tmp_path / "audit.json"
    r.to_json(path)
    data = json.loads(path.read_text())
    assert data["verdict"] == r.verdict and data["schema"] == "audit.report/1"
    for name, m in r.metrics.items():
        v = data["metrics"][name]["value"]
        assert (v is None and np.isnan(m.value)) or v == pytest.approx(m.value)
    assert data["sections"]["performance"]["tables"]["Confusion matrix"]["data"] == (
        r.sections["performance"].tables["Confusion matrix"].to_numpy().tolist()
    )
    base = audit_pkg.Report.load_metrics(path)
    r2 = audit(_fit(tabular_frame), tabular_frame, target="y", progress=False, baseline=path,
               policy={"performance.accuracy": {"max_decrease": 0.0}})
    found = {f.metric: f for f in r2.findings}
    f = found["performance.accuracy"]
    assert f.baseline == pytest.approx(base["performance.accuracy"]) and f.passed
    # this run has no sensitive columns, the baseline had: its per-group metrics are missing, and the report says so
    assert set(found) == {"performance.accuracy", "baseline.metrics"}
    assert "were not produced by this run" in found["baseline.metrics"].message and found["baseline.metrics"].status == "warn"


def test_public_surface():
    import dataclasses
    import re

    from audit.checks import REGISTRY
    from audit.section import Metric

    assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", audit_pkg.__version__)
    assert all(hasattr(audit_pkg, name) for name in audit_pkg.__all__)
    # the starter policy: every check's default_policy, none of it the user's own
    starter = audit_pkg.starter_policy()
    assert isinstance(starter, Policy) and starter.explicit == frozenset()
    assert set(starter.thresholds) == {k for cls in REGISTRY.values() for k in getattr(cls, "default_policy", {})}
    # the value types users read: the package's names are the section module's, with the documented fields
    assert audit_pkg.Section is Section and audit_pkg.Metric is Metric
    assert [f.name for f in dataclasses.fields(Section)] == [
        "check", "title", "status", "reason", "summary", "metrics", "tables", "figures", "notes", "duration_s"]
    s = Section("performance", "Performance", metrics=[Metric("performance.accuracy", 0.9)])
    assert s.metric("performance.accuracy").value == 0.9
    with pytest.raises(KeyError, match="it has \\['performance.accuracy'\\]"):
        s.metric("performance.roc_auc")
    assert s.to_dict()["metrics"] == {"performance.accuracy": {"value": 0.9, "low": None, "high": None}}


def test_more_bad_input_names_the_argument():
    from sklearn.linear_model import LogisticRegression

    from audit.errors import ModelCallError

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "y": rng.integers(0, 2, 60)})
    clf = LogisticRegression().fit(df[["a", "b"]], df["y"])
    with pytest.raises(AuditInputError, match="seed must be a non-negative integer, got 'x'"):
        audit(clf, df, target="y", seed="x", progress=False)
    with pytest.raises(AuditInputError, match=r"target column 'y' not found in train; columns are \['a'\]"):
        audit(clf, df, target="y", train=df[["a"]], progress=False)
    # a name close to a real one gets a suggestion first (the regression gaps, e.g. 'fairness.r2_gap', are close)
    with pytest.raises(AuditInputError, match=r"unknown metric 'fairness\.dp'; (did you mean .*\? )?valid metric names are"):
        audit(clf, df, target="y", policy={"fairness.dp": {"max": 0.1}}, progress=False)
    with pytest.raises(ModelCallError, match=r"mat1 and mat2.*given data of shape \(60, 2\); check the model's input size"):
        audit(torch.nn.Linear(5, 2), (df[["a", "b"]].to_numpy(), df["y"].to_numpy()), progress=False)


@pytest.mark.parametrize("kind", ["export", "script"])
def test_compiled_models_run_every_check_like_their_module(tmp_path, kind):
    """A torch.export program cannot switch to eval mode and its submodules never fire hooks; a TorchScript
    module refuses Python hooks. Every check must still run and give the numbers of the original module."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    g = rng.choice(["a", "b"], 200)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    if kind == "export":
        ep = torch.export.export(net, (torch.zeros(3, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(ep, str(tmp_path / "m.pt2"))
        exported = torch.export.load(str(tmp_path / "m.pt2")).module()
    else:
        torch.jit.script(net).save(str(tmp_path / "m.pt"))
        exported = torch.jit.load(str(tmp_path / "m.pt"))
    kw = dict(sensitive=[g], progress=False, checks=["performance", "robustness", "gradients", "calibration"])
    got, ref = audit(exported, (X, y), **kw), audit(net, (X, y), **kw)
    assert all(s.status == "ok" for s in got.sections.values()), {n: s.reason for n, s in got.sections.items()}
    for name in ("performance.accuracy", "robustness.pgd.linf.accuracy@0.1", "gradients.max_grad_norm", "calibration.ece"):
        assert got.metrics[name].value == pytest.approx(ref.metrics[name].value, rel=1e-5), name
    assert any("registration order" in n for n in got.sections["gradients"].notes)


def test_audit_draws_no_figure_until_html_is_written():
    """Figures are drawn when something reads them (the HTML report), never inside audit() itself."""
    from audit.models.compas import train_compas_mlp
    from audit.section import DeferredFigures

    t = train_compas_mlp()
    report = audit(t.model, t.test, target="two_year_recid", sensitive=["race"], transform=t.transform,
                   features=t.transform.columns_, progress=False,
                   checks=["performance", "fairness", "calibration", "data_quality"])
    figs = {k: s.figures for k, s in report.sections.items()}
    assert all(isinstance(f, DeferredFigures) and not f.drawn for f in figs.values())
    report.to_dict()  # audit.json needs no figure
    assert not any(f.drawn for f in figs.values())
    html = report.to_html()
    assert all(f.drawn and len(f) > 0 for f in figs.values())
    assert html.count("data:image/svg+xml") >= sum(len(f) for f in figs.values())
