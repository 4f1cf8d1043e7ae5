"""The fairness check on a regressor (issue 26): group values equal fairlearn's MetricFrame, the KS parity equals
scipy's ks_2samp, gaps are gated by the gap rule and their findings name the column and the groups. Real data:
scikit-learn's bundled diabetes set (nothing is downloaded) with its ``sex`` column and a LinearRegression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from audit import audit
from audit.checks import FairnessCheck

fl = pytest.importorskip("fairlearn.metrics")


@pytest.fixture(scope="module")
def diabetes():
    d = load_diabetes(as_frame=True).frame
    d["sex"] = np.where(d["sex"] > 0, "m", "f")  # the data set's two standardised values, named
    d["age_band"] = np.where(d["age"] > 0, "older", "younger")
    feats = [c for c in d.columns if c not in ("target", "sex", "age_band")]
    model = LinearRegression().fit(d[feats].iloc[:200], d["target"].iloc[:200])
    test = d.iloc[200:].reset_index(drop=True)
    return model, test, feats


def _metrics(section) -> dict[str, object]:
    return {m.name: m for m in section.metrics}


def _mean(y_true, y_pred, sample_weight=None):
    return float(np.average(y_pred, weights=sample_weight))


def test_group_values_gaps_and_ks_equal_fairlearn_and_scipy(diabetes):
    model, test, feats = diabetes
    policy = {"defaults": True, "fairness.sex.mae_gap": {"max": 5.0}}
    r = audit(model, test, target="target", sensitive=["sex"], features=feats, checks=["fairness"], policy=policy,
              progress=False)
    s = r.sections["fairness"]
    assert s.status == "ok", s.reason
    y, p = test["target"].to_numpy(), model.predict(test[feats])
    mf = fl.MetricFrame(metrics={"mae": mean_absolute_error, "mse": mean_squared_error, "r2": r2_score,
                                 "mean_prediction": _mean}, y_true=y, y_pred=p, sensitive_features=test["sex"])
    groups = s.tables["Groups by sex"]
    for col in ("mae", "r2", "mean_prediction"):
        np.testing.assert_allclose(groups[col], mf.by_group.loc[groups.index, col], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(groups["rmse"], np.sqrt(mf.by_group.loc[groups.index, "mse"]), rtol=1e-12)
    gaps = s.tables["Metric gaps"].loc["sex"]
    # the plug-in gap is fairlearn's difference(); the bounded group loss its group_max()
    assert gaps.loc["mae", "plug_in"] == pytest.approx(mf.difference()["mae"], rel=1e-12, abs=1e-12)
    assert gaps.loc["mean_prediction", "plug_in"] == pytest.approx(mf.difference()["mean_prediction"], rel=1e-12)
    m = _metrics(s)
    assert m["fairness.sex.worst_group_mae"].value == pytest.approx(mf.group_max()["mae"], rel=1e-12)
    assert m["fairness.sex.worst_group_relative_mae"].value == pytest.approx(
        mf.group_max()["mae"] / mean_absolute_error(y, p), rel=1e-12)
    ks = ks_2samp(p[test["sex"] == "f"], p[test["sex"] == "m"]).statistic
    assert m["fairness.sex.ks_parity"].value == pytest.approx(ks, rel=1e-12)
    # one column: the worst over columns is that column, at the same confidence
    for name in ("mae_gap", "mean_prediction_gap", "ks_parity", "worst_group_relative_mae"):
        top, col = m[f"fairness.{name}"], m[f"fairness.sex.{name}"]
        assert (top.value, top.low) == pytest.approx((col.value, col.low), abs=1e-12)
        assert top.low <= top.value <= top.high
    # the gap's gate states the gap rule and its finding names the column and both groups
    (f,) = [f for f in r.findings if f.metric == "fairness.sex.mae_gap"]
    assert f.rule.startswith("gap rule") and "(sex)" in f.message
    assert " for m vs " in f.message or " for f vs " in f.message
    # starter gates on the unit-free numbers only; a gap in the target's units is gated only when a policy names it
    gated = {f.metric for f in r.findings}
    assert {"fairness.ks_parity", "fairness.worst_group_relative_mae"} <= gated
    assert not {"fairness.mae_gap", "fairness.mean_prediction_gap", "fairness.sex.mean_prediction_gap"} & gated
    assert set(s.tables["Findings"]["feature"]) == {"sex"} and s.figures


def test_two_columns_give_an_intersection_and_the_worst_column(diabetes):
    model, test, feats = diabetes
    r = audit(model, test, target="target", sensitive=["sex", "age_band"], features=feats,
              checks=[FairnessCheck(n_boot=200, proxies=False)], progress=False)
    s = r.sections["fairness"]
    m = _metrics(s)
    assert {"fairness.intersection.mae_gap", "fairness.age_band.ks_parity", "fairness.sex.r2_gap"} <= set(m)
    assert len(s.tables["Intersection"]) == 4 and s.regression_intersection is not None
    over = s.tables["Worst over columns"]
    assert np.allclose(over["column_confidence"], 0.975) and set(over["column"]) <= {"sex", "age_band"}
    # the mean prediction differs more between the sexes (16.4) than between the age bands (10.4): the top-level gap
    # is sex's, named in its description, and its interval (sex's at the Bonferroni level 0.975) excludes 0
    top = m["fairness.mean_prediction_gap"]
    gaps = s.tables["Metric gaps"]
    assert gaps.loc[("sex", "mean_prediction"), "plug_in"] > gaps.loc[("age_band", "mean_prediction"), "plug_in"]
    assert over.loc["mean_prediction", "column"] == "sex" and "(sex)" in top.description
    assert top.value == pytest.approx(over.loc["mean_prediction", "gap"], abs=1e-12) and top.low > 0
    # Bonferroni over the two columns: the worst's p-value is twice the smaller one
    p = min(gaps.loc[(c, "mean_prediction"), "p_value"] for c in ("sex", "age_band"))
    assert over.loc["mean_prediction", "p_value"] == pytest.approx(min(1.0, 2 * p), abs=1e-12)


def test_sample_weights_weigh_every_group_value(diabetes):
    model, test, feats = diabetes
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(test))
    r = audit(model, test, target="target", sensitive=["sex"], features=feats, sample_weight=w,
              checks=[FairnessCheck(n_boot=100, proxies=False)], progress=False)
    s = r.sections["fairness"]
    y, p = test["target"].to_numpy(), model.predict(test[feats])
    mf = fl.MetricFrame(metrics={"mae": mean_absolute_error}, y_true=y, y_pred=p, sensitive_features=test["sex"],
                        sample_params={"mae": {"sample_weight": w}})
    groups = s.tables["Groups by sex"]
    np.testing.assert_allclose(groups["mae"], mf.by_group.loc[groups.index, "mae"], rtol=1e-12)
    assert any(n.startswith("Weighted by sample_weight") for n in s.notes)


def test_a_real_gap_fails_its_gate_and_equal_groups_do_not():
    """Group b's predictions are 2 units too high: the mean-residual gap's interval lies above 1 and a policy of
    max 1 fails; with no shift, the gate is not failed."""
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b"], n)})
    frame["y"] = 3 * frame["x"] + rng.normal(size=n)

    def run(shift: float):
        def f(X):
            return 3 * X["x"].to_numpy() + shift * (X["g"].to_numpy() == "b")

        return audit(f, frame, target="y", sensitive=["g"], features=["x", "g"], task="regression",
                     checks=[FairnessCheck(n_boot=300, proxies=False)],
                     policy={"fairness.g.mean_residual_gap": {"max": 1.0}}, progress=False)

    (f,) = [f for f in run(2.0).findings if f.metric == "fairness.g.mean_residual_gap"]
    assert f.status == "fail" and f.low > 1.0 and "for a vs" in f.message and "for b" in f.message
    (f,) = [f for f in run(0.0).findings if f.metric == "fairness.g.mean_residual_gap"]
    assert f.status == "pass" and f.low == 0.0
