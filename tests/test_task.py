"""The task seam (issue 26 item 1): the model layer decides classification or regression once, for every backend;
checks declare the tasks they serve and the orchestrator skips the others with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit import StoredPredictions, audit
from audit.checks import Check
from audit.errors import AuditInputError
from audit.model import ModelAdapter
from audit.section import Metric, Section

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 3))
Y = X @ np.array([3.0, -2.0, 1.0]) + 50.0 + RNG.normal(scale=0.5, size=200)
FRAME = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=Y, g=np.where(RNG.random(200) < 0.5, "f", "m"))


def _values(adapter: ModelAdapter, x) -> np.ndarray:
    assert adapter.task == "regression"
    v = adapter.predict_values(x)
    assert v.shape == (len(x),) and v.dtype == np.float64
    return v


def test_scikit_learn_regressors_and_tagless_wrappers_are_regression():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    reg = LinearRegression().fit(X, Y)
    np.testing.assert_allclose(_values(ModelAdapter(reg), X), reg.predict(X), rtol=1e-12)

    class Wrapper:  # no scikit-learn tags: the legacy attribute says it
        _estimator_type = "regressor"

        def predict(self, x):
            return reg.predict(x)

    np.testing.assert_allclose(_values(ModelAdapter(Wrapper()), X), reg.predict(X), rtol=1e-12)
    assert ModelAdapter(LogisticRegression().fit(X, Y > 50)).task == "classification"


def test_boosting_regressors_by_class_and_raw_boosters_by_objective():
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    cb = pytest.importorskip("catboost")
    for reg in (xgb.XGBRegressor(n_estimators=5, max_depth=2).fit(X, Y),
                lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, Y),
                cb.CatBoostRegressor(iterations=5, verbose=False, allow_writing_files=False).fit(X, Y)):
        np.testing.assert_allclose(_values(ModelAdapter(reg), X), reg.predict(X), rtol=1e-6)
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 2}, xgb.DMatrix(X, label=Y), 5)
    np.testing.assert_allclose(_values(ModelAdapter(booster), X), booster.predict(xgb.DMatrix(X)), rtol=1e-6)
    lbooster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=Y), 5)
    np.testing.assert_allclose(_values(ModelAdapter(lbooster), X), lbooster.predict(X), rtol=1e-12)
    clf = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=(Y > 50).astype(int)), 3)
    assert ModelAdapter(clf).task == "classification"
    ranker = xgb.train({"objective": "rank:pairwise"}, xgb.DMatrix(X, label=(Y > 50).astype(int), group=[200]), 2)
    with pytest.raises(AuditInputError, match="ranking objective 'rank:pairwise'"):
        ModelAdapter(ranker)


def test_onnx_one_float_output_needs_task_and_a_classifier_graph_says_so(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression, LogisticRegression

    types = [("X", FloatTensorType([None, 3]))]
    reg = LinearRegression().fit(X, Y)
    path = tmp_path / "reg.onnx"
    path.write_bytes(skl2onnx.to_onnx(reg, initial_types=types).SerializeToString())
    with pytest.raises(AuditInputError, match="task='regression'"):  # one column of values read as probabilities
        ModelAdapter(str(path)).predict_proba(X)
    np.testing.assert_allclose(_values(ModelAdapter(str(path), task="regression"), X), reg.predict(X), rtol=1e-5)
    clf_path = tmp_path / "clf.onnx"
    clf = LogisticRegression().fit(X, Y > 50)
    clf_path.write_bytes(skl2onnx.to_onnx(clf, initial_types=types, options={"zipmap": False}).SerializeToString())
    assert ModelAdapter(str(clf_path)).task == "classification"
    with pytest.raises(AuditInputError, match="task='regression' but the model is a classifier"):
        ModelAdapter(str(clf_path), task="regression")


def test_torch_and_callables_are_regression_by_task():
    net = torch.nn.Linear(3, 1).double()
    a = ModelAdapter(net, task="regression")
    with torch.no_grad():
        ref = net(torch.as_tensor(X)).numpy().ravel()
    np.testing.assert_allclose(_values(a, X), ref, rtol=1e-12)
    assert a.values(torch.as_tensor(X)).shape == (200,)  # the differentiable forward attacks use
    with pytest.raises(AuditInputError, match=r"returned shape \(200, 2\)"):
        ModelAdapter(torch.nn.Linear(3, 2).double(), task="regression").predict_values(X)
    assert ModelAdapter(net).task == "classification"  # width 1 without task=: a binary logit, as before

    def f(x):
        return np.asarray(x) @ np.array([3.0, -2.0, 1.0])

    np.testing.assert_allclose(_values(ModelAdapter(f, task="regression"), X), f(X))
    with pytest.raises(AuditInputError, match=r"model_output='logits'.*task='regression'"):
        ModelAdapter(f).predict_proba(X)


def test_stored_prediction_log_is_regression():
    log = FRAME.assign(pred=Y + 1.0)
    np.testing.assert_allclose(_values(ModelAdapter(StoredPredictions(prediction="pred")), log), Y + 1.0)
    with pytest.raises(AuditInputError, match="prediction= .* goes alone"):
        StoredPredictions("p", prediction="pred")


def test_task_contradicting_the_model_and_bad_predictions_are_clear_errors():
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(X, Y)
    with pytest.raises(AuditInputError, match="task='classification' but the model is a regressor"):
        ModelAdapter(reg, task="classification")
    with pytest.raises(AuditInputError, match="task must be 'auto', 'classification' or 'regression'"):
        ModelAdapter(reg, task="regresion")
    with pytest.raises(AuditInputError, match="NaN or infinite predictions for 1 of 3 rows"):
        ModelAdapter(lambda x: np.array([1.0, np.nan, 2.0]), task="regression").predict_values(X[:3])
    with pytest.raises(AuditInputError, match="is a regressor: it has no class probabilities"):
        ModelAdapter(reg).predict_proba(X)


class _MeanError(Check):
    """A check that serves regression only: the seam hands it the predictions and the numeric target."""

    name = "mean_error"
    title = "Mean error"
    tasks = ("regression",)
    task_reasons = {"binary": "mean error is for regressors", "multiclass": "mean error is for regressors"}

    def run(self, ctx):
        return Section(check=self.name, title=self.title,
                       metrics=[Metric("mean_error.value", float(np.mean(ctx.prediction - ctx.y)))])


def test_orchestrator_runs_checks_for_their_tasks_and_skips_the_rest_with_the_reason():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    reg = LinearRegression().fit(FRAME[["a", "b", "c"]], Y)
    r = audit(reg, FRAME, target="y", sensitive=["g"], checks=["calibration", _MeanError()], progress=False)
    assert r.meta["task"] == "regression" and r.meta["classes"] == []
    assert r.sections["mean_error"].metrics[0].value == pytest.approx(
        float(np.mean(reg.predict(FRAME[["a", "b", "c"]]) - Y)), abs=1e-12)
    assert r.sections["calibration"].status == "skipped" and "regressor" in r.sections["calibration"].reason
    clf = LogisticRegression().fit(FRAME[["a", "b", "c"]], Y > 50)
    r = audit(clf, FRAME.assign(y=Y > 50), target="y", checks=[_MeanError()], progress=False)
    assert r.meta["task"] == "binary" and r.sections["mean_error"].reason == "mean error is for regressors"


def test_regression_inputs_fail_early_naming_the_fix():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    reg = LinearRegression().fit(FRAME[["a", "b", "c"]], Y)
    with pytest.raises(AuditInputError, match="positive_class=1 but the model is a regressor"):
        audit(reg, FRAME, target="y", positive_class=1, checks=[_MeanError()], progress=False)
    with pytest.raises(AuditInputError, match="target 'y' holds values that are not numbers"):
        audit(reg, FRAME.assign(y="high"), target="y", checks=[_MeanError()], progress=False)
    with pytest.raises(AuditInputError, match="target 'y' has 1 missing or infinite value"):
        audit(reg, FRAME.assign(y=np.r_[np.nan, Y[1:]]), target="y", checks=[_MeanError()], progress=False)
    clf = LogisticRegression().fit(FRAME[["a", "b", "c"]], Y > 50)  # a classifier given the numeric target
    with pytest.raises(AuditInputError, match="pass task='regression'"):
        audit(clf, FRAME.assign(y=Y.round(3)), target="y", checks=["performance"], progress=False)


def test_audit_run_takes_a_regression_log_and_a_task(tmp_path):
    from audit.cli import main
    from audit.config import ConfigError, build_audit_kwargs, read_config

    FRAME.assign(pred=Y + 0.5).to_csv(tmp_path / "log.csv", index=False)
    cfg = tmp_path / "audit.toml"
    cfg.write_text('[model]\nprediction = "pred"\n[data]\npath = "log.csv"\ntarget = "y"\nsensitive = ["g"]\n'
                   '[audit]\nchecks = ["data_quality"]\n')
    kw = build_audit_kwargs(read_config(cfg))
    assert isinstance(kw["model"], StoredPredictions) and kw["model"].prediction == "pred"
    report = audit(**kw, progress=False)
    assert report.meta["task"] == "regression" and report.sections["data_quality"].status == "ok"
    assert main(["run", str(cfg), "--quiet"]) in (0, 1)  # the gate runs to a verdict
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nprediction = "pred"\ntask = "regresion"\n[data]\npath = "log.csv"\ntarget = "y"\n')
    with pytest.raises(ConfigError, match="'model.task' must be one of \\['auto', 'classification', 'regression'\\]"):
        read_config(bad)
