"""sample_weight= in audit(): the counting checks weigh rows exactly as scikit-learn and fairlearn do with weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_difference, selection_rate, true_positive_rate
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.checks import REGISTRY
from audit.errors import AuditInputError

FEATURES = ["a", "b"]


@pytest.fixture(scope="module")
def weighted():
    """A model and data whose weights change every number: heavy weights on the rows the model gets wrong."""
    rng = np.random.default_rng(0)
    n = 1200
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "g": rng.choice(["m", "f", "x"], n)})
    df["y"] = ((df.a + 0.5 * (df.g == "m") + rng.normal(0, 1, n)) > 0).astype(int)
    model = LogisticRegression().fit(df[FEATURES], df.y)
    wrong = model.predict(df[FEATURES]) != df.y
    df["w"] = np.where(wrong, 4.0, 1.0) * rng.uniform(0.5, 1.5, n)
    return model, df


def _audit(model, df, checks, **kw):
    return audit(model, df, target="y", sensitive=["g"], checks=checks, progress=False, **kw)


def test_performance_is_scikit_learns_weighted_metrics(weighted):
    model, df = weighted
    r = _audit(model, df, ["performance"], sample_weight="w")
    got = {m.name: m for m in r.sections["performance"].metrics}
    p, y, w = model.predict_proba(df[FEATURES]), df.y.to_numpy(), df.w.to_numpy()
    ref = {"accuracy": skm.accuracy_score(y, p.argmax(1), sample_weight=w),
           "balanced_accuracy": skm.balanced_accuracy_score(y, p.argmax(1), sample_weight=w),
           "roc_auc": skm.roc_auc_score(y, p[:, 1], sample_weight=w),
           "log_loss": skm.log_loss(y, p, sample_weight=w)}
    for k, v in ref.items():
        assert got[f"performance.{k}"].value == pytest.approx(v, abs=1e-12), k
    assert ref["accuracy"] < skm.accuracy_score(y, p.argmax(1)) - 0.05  # the weights matter here
    acc = got["performance.accuracy"]
    assert acc.low < acc.value < acc.high  # an interval of the weighted accuracy, around it
    assert "features" not in r.meta or "w" not in r.meta.get("features", [])
    assert any(n.startswith("Weighted by sample_weight") for n in r.sections["performance"].notes)


def test_weights_as_an_array_equal_weights_as_a_column(weighted):
    model, df = weighted
    a = _audit(model, df, ["performance"], sample_weight="w", features=FEATURES)
    b = _audit(model, df.drop(columns="w"), ["performance"], sample_weight=df.w.to_numpy())
    assert [m.value for m in a.sections["performance"].metrics] == [m.value for m in b.sections["performance"].metrics]


def test_fairness_equals_fairlearn_with_sample_params(weighted):
    model, df = weighted
    r = _audit(model, df, ["fairness"], sample_weight="w")
    groups = r.sections["fairness"].tables["Groups by g"]
    pred = model.predict(df[FEATURES])
    sp = {"selection_rate": {"sample_weight": df.w}, "true_positive_rate": {"sample_weight": df.w}}
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate},
                     y_true=df.y, y_pred=pred, sensitive_features=df.g, sample_params=sp)
    for col in ("selection_rate", "true_positive_rate"):
        np.testing.assert_allclose(groups[col].to_numpy(float), mf.by_group[col].loc[groups.index].to_numpy(float),
                                   atol=1e-12, err_msg=col)
    assert groups["count"].tolist() == df.g.value_counts().loc[groups.index].tolist()  # sizes stay rows
    dp = r.sections["fairness"].tables["Disparities"].loc[("g", "demographic_parity_difference"), "value"]
    assert dp == pytest.approx(demographic_parity_difference(df.y, pred, sensitive_features=df.g, sample_weight=df.w),
                               abs=1e-12)


def test_calibration_ece_is_the_weighted_one(weighted):
    model, df = weighted
    r = _audit(model, df, ["calibration"], sample_weight="w")
    p = model.predict_proba(df[FEATURES])
    conf, correct, w = p.max(1), (p.argmax(1) == df.y.to_numpy()).astype(float), df.w.to_numpy()
    b = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)  # right-closed equal-width bins
    ece = sum(abs(np.average(correct[b == k], weights=w[b == k]) - np.average(conf[b == k], weights=w[b == k]))
              * w[b == k].sum() / w.sum() for k in range(15) if (b == k).any())
    got = {m.name: m.value for m in r.sections["calibration"].metrics}
    assert got["calibration.ece"] == pytest.approx(ece, abs=1e-9)
    brier = np.average(((p[:, 1] - df.y.to_numpy()) ** 2), weights=w)
    assert got["calibration.brier"] == pytest.approx(brier, abs=1e-9)
    unweighted = {m.name: m.value for m in _audit(model, df, ["calibration"], features=FEATURES).sections["calibration"].metrics}
    assert abs(unweighted["calibration.ece"] - ece) > 0.01


def test_checks_that_ignore_weights_say_so(weighted):
    model, df = weighted
    r = _audit(model, df, ["data_quality", "performance"], sample_weight="w")
    assert any("not used here" in n for n in r.sections["data_quality"].notes)
    assert not any("not used here" in n for n in r.sections["performance"].notes)
    assert {n for n, c in REGISTRY.items() if c.uses_weights} == {"performance", "fairness", "calibration"}
    assert not any("not used here" in n for n in _audit(model, df, ["data_quality"], features=FEATURES)
                   .sections["data_quality"].notes)


@pytest.mark.parametrize("bad, words", [
    ("nope", "sample_weight column 'nope' not found"),
    (np.ones(5), "sample_weight has 5 rows"),
    (np.r_[-1.0, np.ones(1199)], "negative values"),
    (np.r_[np.nan, np.ones(1199)], "NaN or infinite"),
    (np.zeros(1200), "all weights are 0"),
])
def test_bad_weights_fail_early_naming_the_argument(weighted, bad, words):
    model, df = weighted
    with pytest.raises(AuditInputError, match=words):
        _audit(model, df, ["performance"], sample_weight=bad, features=FEATURES)


def test_dask_refuses_weights_clearly(weighted):
    dd = pytest.importorskip("dask.dataframe")
    model, df = weighted
    with pytest.raises(AuditInputError, match="sample_weight= is not supported for a Dask DataFrame"):
        _audit(model, dd.from_pandas(df, npartitions=2), ["performance"], sample_weight="w", features=FEATURES)
