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
    row = r.gaps.loc[("g", "prediction_ks")]
    assert row["plug_in"] == pytest.approx(ks_2samp(a, b).statistic, rel=1e-12) and row["p_value"] < 0.01
    assert (row["max_group"], row["min_group"]) == ("b", "a")  # b's predictions are shifted up


def test_distributional_parity_of_three_groups_is_the_largest_pairwise_ks():
    """A brute-force loop over the pairs with scipy; the DKW interval holds the plug-in and reaches 0 for equal
    groups (the permutation test sees no gap)."""
    rng = np.random.default_rng(5)
    n = 1500
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    p = rng.normal(size=n) + np.where(g == "c", 0.4, 0.0)
    r = regression_fairness(p, p, pd.DataFrame({"g": g}), n_boot=100)
    pairs = {(i, j): ks_2samp(p[g == i], p[g == j]).statistic for i in "abc" for j in "abc" if i < j}
    row = r.gaps.loc[("g", "prediction_ks")]
    assert row["plug_in"] == pytest.approx(max(pairs.values()), rel=1e-12)
    assert {row["max_group"], row["min_group"]} == set(max(pairs, key=pairs.get)) and row["max_group"] == "c"
    counts = pd.Series(g).value_counts()
    eps = np.sqrt(np.log(2 * 3 / 0.05) / (2 * counts))  # DKW (Massart) band of each group at 0.05 / 3
    assert row["low"] == pytest.approx(row["plug_in"] - eps[row["max_group"]] - eps[row["min_group"]], rel=1e-12)
    assert row["high"] == pytest.approx(row["plug_in"] + eps.nlargest(2).sum(), rel=1e-12)
    same = regression_fairness(p, rng.normal(size=n), pd.DataFrame({"g": g}), n_boot=100).gaps.loc[("g", "prediction_ks")]
    assert same["p_value"] > 0.05 and same["low"] == 0.0


def test_weighted_values_equal_fairlearn_and_relative_mae_matches_the_bootstrap(unequal):
    fl = pytest.importorskip("fairlearn.metrics")
    y, p, s = unequal
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    r = regression_fairness(y, p, s, sample_weight=w, n_boot=100)
    mf = fl.MetricFrame(metrics={"mae": mean_absolute_error}, y_true=y, y_pred=p, sensitive_features=s["g"],
                        sample_params={"mae": {"sample_weight": w}})
    np.testing.assert_allclose(r.groups["g"]["mae"], mf.by_group.loc[r.groups["g"].index, "mae"], rtol=1e-12)
    row = r.gaps.loc[("g", "worst_group_relative_mae")]
    assert row["plug_in"] == pytest.approx(mf.group_max()["mae"] / mf.overall["mae"], rel=1e-12)
    # the delta-method standard error of MAE_b / MAE against a row bootstrap of the same ratio (2,000 resamples)
    rng = np.random.default_rng(8)
    b = (s["g"] == "b").to_numpy()
    a = np.abs(y - p)
    boot = []
    for _ in range(2000):
        i = rng.integers(0, len(y), len(y))
        boot.append(np.average(a[i][b[i]], weights=w[i][b[i]]) / np.average(a[i], weights=w[i]))
    z = (row["high"] - row["plug_in"]) / np.std(boot)
    assert 1.9 < z < 2.5  # the Bonferroni z for two groups, 2.24, up to the bootstrap's noise
    assert r.overall.loc["worst_group_relative_mae", "column"] == "g" and r.overall.loc["mae", "columns"] == 1


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


def test_intersection_labels_equal_a_row_wise_join():
    from audit.fairness import intersection_labels

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"race": rng.choice(["a", "b", None], 3000), "sex": rng.choice(["f", "m"], 3000),
                          "band": rng.integers(0, 4, 3000)})
    expected = np.array([", ".join(map(str, row)) for row in frame.astype(str).itertuples(index=False)])
    assert (intersection_labels(frame) == expected).all()
