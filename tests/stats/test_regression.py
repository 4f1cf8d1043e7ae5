"""Regression metrics: values equal scikit-learn and fairlearn; intervals cover at their stated level."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, median_absolute_error, r2_score

from audit.errors import AuditInputError
from audit.stats import group_regression_metrics, regression_intervals, regression_metrics


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(1)
    n = 500
    y = rng.gamma(2.0, 3.0, n)
    p = 0.9 * y + rng.normal(scale=1.5, size=n) + 0.3
    w = rng.uniform(0.2, 3.0, n)
    g = rng.choice(["a", "b", "c"], n)
    return y, p, w, g


@pytest.mark.parametrize("weighted", [False, True])
def test_values_equal_scikit_learn(rows, weighted):
    y, p, w, _ = rows
    w = w if weighted else None
    m = regression_metrics(y, p, w)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, p, sample_weight=w), rel=1e-12)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, p, sample_weight=w)), rel=1e-12)
    assert m["r2"] == pytest.approx(r2_score(y, p, sample_weight=w), rel=1e-12)
    assert m["median_absolute_error"] == pytest.approx(median_absolute_error(y, p, sample_weight=w), rel=1e-12)
    assert m["mean_residual"] == pytest.approx(np.average(y - p, weights=w), rel=1e-12)
    ci = regression_intervals(y, p, w)
    assert (ci["low"] <= ci["value"]).all() and (ci["value"] <= ci["high"]).all()


def test_group_values_equal_fairlearn(rows):
    fairlearn = pytest.importorskip("fairlearn.metrics")
    y, p, w, g = rows
    mf = fairlearn.MetricFrame(
        metrics={"mae": mean_absolute_error, "r2": r2_score, "median_absolute_error": median_absolute_error,
                 "mse": mean_squared_error},
        y_true=y, y_pred=p, sensitive_features=g,
        sample_params={k: {"sample_weight": w} for k in ("mae", "r2", "median_absolute_error", "mse")})
    ours = group_regression_metrics(y, p, g, sample_weight=w)
    by = mf.by_group
    for col in ("mae", "r2", "median_absolute_error"):
        np.testing.assert_allclose(ours[col].to_numpy(), by.loc[ours.index, col].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours["rmse"].to_numpy() ** 2, by.loc[ours.index, "mse"].to_numpy(), rtol=1e-12)
    assert ours["count"].sum() == len(y)


def test_intervals_cover_at_their_level():
    """400 samples of 300 rows with known population values: each interval covers 92-98% of the time
    (95% nominal; the Monte-Carlo sd of a coverage is 1.1 points)."""
    s2 = 0.2**2 + 0.5**2  # residual y - p = 0.2 y - e, y ~ N(0, 1), e ~ N(0, 0.5^2)
    truth = {"mae": math.sqrt(s2 * 2 / math.pi), "rmse": math.sqrt(s2), "r2": 1 - s2,
             "median_absolute_error": math.sqrt(s2) * 0.6744897501960817, "mean_residual": 0.0}
    rng = np.random.default_rng(7)
    hits = {k: 0 for k in truth}
    reps = 400
    for _ in range(reps):
        y = rng.normal(size=300)
        p = 0.8 * y + rng.normal(scale=0.5, size=300)
        ci = regression_intervals(y, p)
        for k, v in truth.items():
            hits[k] += ci.loc[k, "low"] <= v <= ci.loc[k, "high"]
    coverage = {k: h / reps for k, h in hits.items()}
    assert all(0.92 <= c <= 0.98 for c in coverage.values()), coverage


def test_bad_input_is_named():
    with pytest.raises(AuditInputError, match="y_pred holds 1 NaN"):
        regression_metrics([1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(AuditInputError, match="y_true has 2 rows but y_pred has 3"):
        regression_metrics([1.0, 2.0], [1.0, 2.0, 3.0])
    assert math.isnan(regression_metrics([2.0, 2.0], [1.0, 2.0])["r2"])  # constant target: undefined, not 0 or 1
