"""Data quality of a regression target (issue 26 item 7): its distribution and drift from train, against pandas and
scipy, the same from any partitioning; the check serves regressors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audit import audit
from audit.errors import AuditInputError
from audit.health import data_quality_chunks


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    f = load_diabetes(as_frame=True).frame
    f["sex"] = np.where(f["sex"] > 0, "a", "b")  # scikit-learn ships it standardised: two values
    return f.iloc[:300].reset_index(drop=True), f.iloc[300:].reset_index(drop=True)


def test_target_moments_and_drift_equal_pandas_and_scipy(diabetes):
    train, test = diabetes
    r = data_quality_chunks([test], target="target", train_frame=train, exact=True, regression=True, sensitive=["sex"])
    for split, frame in (("data", test), ("train", train)):
        y = frame["target"]
        got = r.target.loc[split]
        assert got["count"] == len(y)
        np.testing.assert_allclose([got["mean"], got["std"], got["min"], got["max"]],
                                   [y.mean(), y.std(ddof=0), y.min(), y.max()], rtol=1e-12)
    ks = stats.ks_2samp(train["target"], test["target"])
    td = r.target_drift.loc["target"]
    assert td["statistic"] == pytest.approx(ks.statistic, abs=1e-15)
    assert td["p_value"] == pytest.approx(ks.pvalue, rel=1e-9)
    assert "target" not in r.drift.index and len(r.labels) == 0  # a number: not a feature, not labels
    assert np.isnan(r.overview.loc["data", "minority_class_share"])


def test_target_summary_does_not_depend_on_the_partitioning(diabetes):
    train, test = diabetes
    one = data_quality_chunks([test], target="target", train_frame=train, regression=True)
    three = data_quality_chunks([test.iloc[:50], test.iloc[50:51], test.iloc[51:]], target="target",
                                train_frame=train, regression=True)
    pd.testing.assert_frame_equal(one.target, three.target, check_exact=True)
    pd.testing.assert_frame_equal(one.target_drift, three.target_drift, check_exact=True)


def test_a_text_regression_target_is_refused_naming_it(diabetes):
    _, test = diabetes
    with pytest.raises(AuditInputError, match="regression target 'target' is not numeric"):
        data_quality_chunks([test.assign(target="high")], target="target", regression=True)


def test_the_check_reports_the_target_and_gates_its_drift(diabetes):
    from sklearn.linear_model import LinearRegression

    train, test = diabetes
    features = [c for c in test.columns if c not in ("target", "sex")]
    model = LinearRegression().fit(train[features], train["target"])
    shifted = test.assign(target=test["target"] + 60.0)  # label shift: the same rows, a larger target
    r = audit(model, shifted, target="target", train=train, features=features, checks=["data_quality"],
              progress=False)
    s = r.sections["data_quality"]
    assert s.status == "ok" and "Target (regression)" in s.tables and "Label balance" not in s.tables
    m = {x.name: x.value for x in s.metrics}
    ks = stats.ks_2samp(train["target"], shifted["target"]).statistic
    assert m["data_quality.target_drift.effect"] == pytest.approx(ks, abs=1e-15)
    assert m["data_quality.target_drift.drifted"] == 1.0
    assert "data_quality.minority_class_share" not in m
    assert any(f.metric == "data_quality.target_drift.drifted" for f in r.findings)
