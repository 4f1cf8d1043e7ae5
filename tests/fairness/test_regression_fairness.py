"""Fairness of a regressor: values equal fairlearn and scipy; gaps follow the gap rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import mean_absolute_error, mean_squared_error

from audit.fairness import regression_fairness


@pytest.fixture(scope="module")
def unequal():
    """Group b's predictions are twice as noisy and shifted up by 0.3."""
    rng = np.random.default_rng(4)
    n = 3000
    g = np.where(rng.random(n) < 0.4, "a", "b")
    y = rng.normal(10, 2, n)
    p = y + rng.normal(scale=np.where(g == "a", 0.5, 1.0)) + np.where(g == "b", 0.3, 0.0)
    return y, p, pd.DataFrame({"g": g})


def test_group_values_and_worst_group_loss_equal_fairlearn(unequal):
    fl = pytest.importorskip("fairlearn.metrics")
    y, p, s = unequal
    r = regression_fairness(y, p, s, n_boot=200)
    mf = fl.MetricFrame(metrics={"mae": mean_absolute_error, "mse": mean_squared_error}, y_true=y, y_pred=p,
                        sensitive_features=s["g"])
    t = r.groups["g"]
    np.testing.assert_allclose(t["mae"], mf.by_group.loc[t.index, "mae"], rtol=1e-12)
    gaps = r.gaps.loc["g"]
    # fairlearn's difference() is the plug-in max - min; group_max() the bounded group loss
    assert gaps.loc["mae", "plug_in"] == pytest.approx(mf.difference()["mae"], rel=1e-12)
    assert gaps.loc["worst_group_mae", "plug_in"] == pytest.approx(mf.group_max()["mae"], rel=1e-12)
    assert gaps.loc["worst_group_rmse", "plug_in"] == pytest.approx(np.sqrt(mf.group_max()["mse"]), rel=1e-12)
    assert gaps.loc["worst_group_mae", "max_group"] == "b"
    # the groups' mean residuals differ by the 0.3 shift: the interval holds it and excludes 0
    row = gaps.loc["mean_residual"]
    assert row["low"] <= 0.3 <= row["high"] and row["low"] > 0 and row["p_value"] < 0.01


def test_distributional_parity_equals_scipy_ks(unequal):
    y, p, s = unequal
    r = regression_fairness(y, p, s, n_boot=0, n_perm=200)
    a, b = p[s["g"] == "a"], p[s["g"] == "b"]
    # one group's CDF against the pooled CDF is n_other / n times the two-sample KS distance
    d = ks_2samp(a, b).statistic * max(len(a), len(b)) / len(p)
    row = r.gaps.loc[("g", "prediction_ks")]
    assert row["plug_in"] == pytest.approx(d, rel=1e-12) and row["p_value"] < 0.01


def test_equal_groups_show_no_gap():
    """Groups drawn from one distribution: no gap is claimed (every interval reaches 0, p-values large)."""
    rng = np.random.default_rng(9)
    n = 2000
    y = rng.normal(size=n)
    p = y + rng.normal(scale=0.5, size=n)
    s = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n)})
    r = regression_fairness(y, p, s, n_boot=500)
    for m in ("mae", "rmse", "mean_residual", "mean_prediction", "r2"):
        row = r.gaps.loc[("g", m)]
        assert row["low"] == 0.0 and row["gap"] <= row["plug_in"] and row["p_value"] > 0.05, m
