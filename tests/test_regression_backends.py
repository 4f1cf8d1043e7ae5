"""Issue 26 "done when": a regressor of every backend audits end to end with every default check, no error
section, and the same performance numbers as scikit-learn on its own predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression

from audit import StoredPredictions, audit

RNG = np.random.default_rng(11)
N = 240
FEATURES = ["a", "b", "c"]
X = RNG.normal(size=(N, 3))
Y = 50.0 + X @ np.array([3.0, -2.0, 1.0]) + RNG.normal(scale=0.7, size=N)
FRAME = pd.DataFrame(X, columns=FEATURES).assign(y=Y, g=np.where(RNG.random(N) < 0.5, "f", "m"))
TRAIN, TEST = FRAME.iloc[:140].reset_index(drop=True), FRAME.iloc[140:].reset_index(drop=True)
#: small settings so eight full audits stay a few seconds each; every check still runs
CHECKS = {"explain": {"n_rows": 40, "n_background": 20, "n_lime_rows": 2, "lime_samples": 300, "n_bootstrap": 20},
          "robustness": {"max_rows": 60}}


def _sklearn():
    m = LinearRegression().fit(TRAIN[FEATURES], TRAIN["y"])
    return m, m.predict(TEST[FEATURES]), {}


def _xgboost():
    xgb = pytest.importorskip("xgboost")
    m = xgb.XGBRegressor(n_estimators=20, max_depth=2).fit(TRAIN[FEATURES], TRAIN["y"])
    return m, m.predict(TEST[FEATURES]), {}


def _lightgbm():
    lgb = pytest.importorskip("lightgbm")
    m = lgb.LGBMRegressor(n_estimators=20, min_child_samples=5, verbose=-1).fit(TRAIN[FEATURES], TRAIN["y"])
    return m, m.predict(TEST[FEATURES]), {}


def _catboost():
    cb = pytest.importorskip("catboost")
    m = cb.CatBoostRegressor(iterations=20, depth=2, verbose=False, allow_writing_files=False)
    m.fit(TRAIN[FEATURES], TRAIN["y"])
    return m, m.predict(TEST[FEATURES]), {}


def _onnx(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    reg = LinearRegression().fit(TRAIN[FEATURES], TRAIN["y"])
    path = tmp_path / "reg.onnx"
    path.write_bytes(skl2onnx.to_onnx(reg, initial_types=[("X", FloatTensorType([None, 3]))]).SerializeToString())
    pred = reg.predict(TEST[FEATURES].astype(np.float32).astype(np.float64))
    return str(path), pred, {"task": "regression"}


def _torch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = torch.as_tensor(TRAIN[FEATURES].to_numpy().copy()), torch.as_tensor(TRAIN["y"].to_numpy().copy())
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(xt).reshape(-1), yt).backward()
        opt.step()
    with torch.no_grad():
        pred = net(torch.as_tensor(TEST[FEATURES].to_numpy().copy())).numpy().ravel()
    return net, pred, {"task": "regression"}


def _callable():
    coef = np.array([3.0, -2.0, 1.0])

    def predict(x):
        return 50.0 + np.asarray(x, dtype=float) @ coef

    return predict, predict(TEST[FEATURES]), {"task": "regression"}


BACKENDS = {"sklearn": _sklearn, "xgboost": _xgboost, "lightgbm": _lightgbm, "catboost": _catboost, "onnx": _onnx,
            "torch": _torch, "callable": _callable}


@pytest.mark.parametrize("backend", [*BACKENDS, "stored"])
def test_a_regressor_of_every_backend_audits_end_to_end(backend, tmp_path):
    from audit.checks import REGISTRY

    if backend == "stored":  # a prediction log: the model's outputs are a column, there is no model to call
        pred = _sklearn()[1]
        model, data, train, kw = StoredPredictions(prediction="pred"), TEST.assign(pred=pred), None, {"features": None}
    else:
        build = BACKENDS[backend]
        model, pred, kw = build(tmp_path) if backend == "onnx" else build()
        data, train = TEST, TRAIN
        kw["features"] = FEATURES
    checks = [cls(**CHECKS.get(name, {})) for name, cls in REGISTRY.items()]
    report = audit(model, data, target="y", sensitive=["g"], train=train, checks=checks,
                   progress=False, **kw)
    assert report.meta["task"] == "regression"
    errors = {k: s.reason for k, s in report.sections.items() if s.status == "error"}
    assert not errors
    ran = {k for k, s in report.sections.items() if s.status == "ok"}
    assert {"performance", "fairness", "uncertainty", "data_quality"} <= ran
    if backend != "stored":
        assert {"explain", "robustness", "overfitting"} <= ran
    if backend == "torch":
        assert "gradients" in ran
    y = TEST["y"].to_numpy()
    rtol = 1e-5 if backend == "onnx" else 1e-9  # ONNX computes in float32
    assert report.metrics["performance.mae"].value == pytest.approx(skm.mean_absolute_error(y, pred), rel=rtol)
    assert report.metrics["performance.r2"].value == pytest.approx(skm.r2_score(y, pred), rel=rtol)
    skipped = {k: s.reason for k, s in report.sections.items() if s.status == "skipped"}
    assert all(skipped.values())  # every skip says why
    html = report.to_html()
    assert "Predicted vs actual" in html and "a number (regression): mean " in html
