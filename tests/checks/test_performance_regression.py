"""Issue 26 items 2 and 7: a regressor's performance (scikit-learn's metrics with intervals, train vs test, per
period, residual figures), overfitting (train vs test MAE, RMSE, R²) and gradient health (MSE loss)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from audit import audit
from audit.health import regression_overfitting

RNG = np.random.default_rng(3)
N = 1200
X = RNG.normal(size=(N, 3))
Y = 2000 + X @ np.array([600.0, -300.0, 150.0]) + RNG.normal(scale=400.0, size=N)
FRAME = pd.DataFrame(X, columns=["a", "b", "c"]).assign(
    amount=Y, g=np.where(RNG.random(N) < 0.4, "f", "m"),
    when=pd.Timestamp("2026-01-01") + pd.to_timedelta(RNG.integers(0, 180, N), unit="D"))
TRAIN, TEST = FRAME.iloc[:800].reset_index(drop=True), FRAME.iloc[800:].reset_index(drop=True)
FEATURES = ["a", "b", "c"]


def _metric(report, name):
    return report.metrics[name]


@pytest.fixture(scope="module")
def tree_report():
    model = DecisionTreeRegressor(max_depth=8, random_state=0).fit(TRAIN[FEATURES], TRAIN["amount"])
    report = audit(model, TEST, target="amount", sensitive=["g"], train=TRAIN, features=FEATURES,
                   checks=["performance", "overfitting"], time_column="when", period="M", progress=False)
    return model, report


def test_performance_equals_scikit_learn_with_intervals_that_cover_it(tree_report):
    model, report = tree_report
    p, y = model.predict(TEST[FEATURES]), TEST["amount"].to_numpy()
    expected = {"mae": skm.mean_absolute_error(y, p), "rmse": np.sqrt(skm.mean_squared_error(y, p)),
                "r2": skm.r2_score(y, p), "median_absolute_error": skm.median_absolute_error(y, p),
                "mean_residual": float(np.mean(y - p))}
    for name, value in expected.items():
        m = _metric(report, f"performance.{name}")
        assert m.value == pytest.approx(value, rel=1e-10, abs=1e-9), name
        assert m.low < m.value < m.high, name
    # the MAE's interval is the normal one on the rows' absolute errors (influence function of a mean)
    m = _metric(report, "performance.mae")
    se = np.std(np.abs(y - p), ddof=0) / np.sqrt(len(y))
    assert (m.high - m.low) / 2 == pytest.approx(1.959964 * se, rel=1e-5)
    section = report.sections["performance"]
    assert "in units of amount" in section.summary and "MAE" in section.summary


def test_train_metrics_gaps_and_overfitting_equal_scikit_learn(tree_report):
    model, report = tree_report
    pt, pv = model.predict(TRAIN[FEATURES]), model.predict(TEST[FEATURES])
    yt, yv = TRAIN["amount"].to_numpy(), TEST["amount"].to_numpy()
    assert _metric(report, "performance.train.mae").value == pytest.approx(skm.mean_absolute_error(yt, pt), rel=1e-12)
    assert _metric(report, "performance.train_test_gap.r2").value == pytest.approx(
        skm.r2_score(yt, pt) - skm.r2_score(yv, pv), rel=1e-10)
    assert _metric(report, "overfitting.r2_gap").value == pytest.approx(skm.r2_score(yt, pt) - skm.r2_score(yv, pv),
                                                                       rel=1e-10)
    assert _metric(report, "overfitting.mae_gap").value == pytest.approx(
        skm.mean_absolute_error(yv, pv) - skm.mean_absolute_error(yt, pt), rel=1e-10)
    assert _metric(report, "overfitting.rmse_gap").value == pytest.approx(
        np.sqrt(skm.mean_squared_error(yv, pv)) - np.sqrt(skm.mean_squared_error(yt, pt)), rel=1e-10)
    # a depth-8 tree on 800 rows fits its training data far better: the starter gate warns
    gate = {f.metric: f for f in report.findings}["overfitting.r2_gap"]
    assert gate.status == "warn" and "Signs of overfitting" in report.sections["overfitting"].summary


def test_per_period_table_equals_a_groupby_with_scikit_learn(tree_report):
    model, report = tree_report
    table = report.sections["performance"].tables["By period (M)"]
    p = model.predict(TEST[FEATURES])
    month = TEST["when"].dt.to_period("M").astype(str)
    for period, idx in TEST.groupby(month).indices.items():
        row = table.loc[period]
        y = TEST["amount"].to_numpy()[idx]
        assert row["rows"] == len(idx)
        assert row["mae"] == pytest.approx(skm.mean_absolute_error(y, p[idx]), rel=1e-10)
        assert row["r2"] == pytest.approx(skm.r2_score(y, p[idx]), rel=1e-9)
        assert row["mean_residual"] == pytest.approx(np.mean(y - p[idx]), rel=1e-9, abs=1e-9)
        g = TEST["g"].to_numpy()[idx]
        maes = [skm.mean_absolute_error(y[g == k], p[idx][g == k]) for k in ("f", "m") if (g == k).sum() >= 30]
        if len(maes) == 2:
            assert row["g MAE gap"] == pytest.approx(max(maes) - min(maes), rel=1e-9)


def test_weighted_metrics_are_scikit_learn_weighted():
    model = LinearRegression().fit(TRAIN[FEATURES], TRAIN["amount"])
    w = RNG.uniform(0.5, 2.0, len(TEST))
    report = audit(model, TEST, target="amount", features=FEATURES, sample_weight=w, checks=["performance"],
                   progress=False)
    p, y = model.predict(TEST[FEATURES]), TEST["amount"].to_numpy()
    assert _metric(report, "performance.mae").value == pytest.approx(skm.mean_absolute_error(y, p, sample_weight=w))
    assert _metric(report, "performance.r2").value == pytest.approx(skm.r2_score(y, p, sample_weight=w))
    assert _metric(report, "performance.median_absolute_error").value == pytest.approx(
        skm.median_absolute_error(y, p, sample_weight=w))


def test_residual_figures_sample_large_data_and_stay_small():
    n = 20_000
    x = RNG.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=FEATURES).assign(amount=x @ np.array([1.0, 2.0, 3.0]) + RNG.normal(size=n))
    model = LinearRegression().fit(frame[FEATURES], frame["amount"])
    section = audit(model, frame, target="amount", features=FEATURES, checks=["performance"],
                    progress=False).sections["performance"]
    (fig,) = section.figures
    assert "5,000 of 20,000 rows" in fig.caption
    assert len(fig.svg) < 150_000  # rasterised points, not 5,000 SVG markers


def test_regression_overfitting_function_by_hand():
    r = regression_overfitting([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 3.0])
    assert r.mae_gap == pytest.approx(0.5) and r.r2_gap == pytest.approx(1 - (1 - 2 / 5))
    assert np.isnan(r.accuracy_gap) and np.isnan(r.table.loc["mean_residual", "gap"])
    with pytest.raises(ValueError, match="pass all of y_train, pred_train, y_test and pred_test"):
        regression_overfitting([1.0], [1.0])


def test_gradient_health_of_a_torch_regressor_is_the_scaled_mse_gradient():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    frame = TEST.assign(amount=TEST["amount"] / 1000)
    report = audit(net, frame, target="amount", features=FEATURES, task="regression", checks=["gradients"],
                   progress=False)
    section = report.sections["gradients"]
    assert section.status == "ok", section.reason
    xt = torch.as_tensor(frame[FEATURES].to_numpy().copy())
    yt = torch.as_tensor(frame["amount"].to_numpy().copy())
    # batch_size 512 of 400 rows: every row; the reference is torch's own mse_loss over the target variance
    loss = torch.nn.functional.mse_loss(net(xt).reshape(-1), yt) / yt.var(unbiased=False)
    grads = torch.autograd.grad(loss, list(net[2].parameters()))
    expected = float(torch.sqrt(sum((g * g).sum() for g in grads)))
    assert section.result.layers.loc["2", "grad_norm"] == pytest.approx(expected, rel=1e-6)
    assert section.result.loss == pytest.approx(float(loss.detach()), rel=1e-9)
    assert "target variance" in " ".join(section.notes)
