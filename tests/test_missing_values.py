"""Missing values end to end: passed through to models that take them, refused with the reason where a model cannot.

Real data: UCI Adult, whose raw files write a missing ``workclass`` / ``occupation`` / ``native_country`` as
``?`` (``load_adult(keep_missing=True)`` keeps them missing), plus NaN injected into numeric columns.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from audit import audit
from audit.backends import backend_for
from audit.backends._estimators import allow_nan_tag
from audit.data import load_data, validate_missing
from audit.datasets import load_adult
from audit.errors import AuditInputError
from audit.model import ModelAdapter

NUM = ["age", "education_num", "hours_per_week", "capital_gain"]
FAST = dict(robustness=dict(max_rows_blackbox=300, queries=20), explain=dict(n_rows=60, lime_samples=300, n_lime_rows=3))


@pytest.fixture(scope="module")
def adult_nan() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Adult test rows with NaN injected into two numeric columns (20% and 10% of rows): (train, data)."""
    df = load_adult("test").frame.sample(1500, random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(0)
    df.loc[rng.random(len(df)) < 0.2, "age"] = np.nan
    df.loc[rng.random(len(df)) < 0.1, "hours_per_week"] = np.nan
    cols = NUM + ["sex", "income"]
    return df.iloc[:1000][cols].reset_index(drop=True), df.iloc[1000:][cols].reset_index(drop=True)


def _checks():
    from audit.checks import REGISTRY

    return [REGISTRY[name](**FAST.get(name, {})) for name in REGISTRY]


def _models():
    out = [
        ("hist_gradient_boosting", lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        ("imputer_pipeline", lambda: make_pipeline(SimpleImputer(), LogisticRegression(max_iter=1000))),
    ]
    for lib, make in (("lightgbm", lambda m: m.LGBMClassifier(n_estimators=20, verbose=-1)),
                      ("xgboost", lambda m: m.XGBClassifier(n_estimators=20))):
        out.append(pytest.param(lib, (lambda lib=lib, make=make: make(pytest.importorskip(lib))), id=lib))
    return out


@pytest.mark.parametrize(("kind", "make"), _models())
def test_models_that_take_missing_values_are_audited_on_every_row(adult_nan, kind, make):
    """Every section runs or skips with its reason; accuracy counts the rows with missing values (scikit-learn's
    accuracy on all rows is the reference); data quality counts the missing cells of each column."""
    train, data = adult_nan
    model = make().fit(train[NUM], train["income"])
    report = audit(model, data, target="income", sensitive=["sex"], features=NUM, train=train, checks=_checks(),
                   progress=False)
    for name, section in report.sections.items():
        assert section.status in ("ok", "skipped"), (name, section.reason)
        if section.status == "skipped":
            assert section.reason
    accuracy = next(m.value for m in report.sections["performance"].metrics if m.name == "performance.accuracy")
    assert accuracy == pytest.approx(accuracy_score(data["income"], model.predict(data[NUM])), abs=1e-12)
    quality = report.sections["data_quality"]
    columns = quality.tables["Columns"]
    assert columns.loc["age", "missing"] == int(data["age"].isna().sum()) > 0
    assert columns.loc["hours_per_week", "missing"] == int(data["hours_per_week"].isna().sum()) > 0
    share = next(m.value for m in quality.metrics if m.name == "data_quality.max_missing_share")
    assert share == pytest.approx(data["age"].isna().mean())
    assert "missing values in 2 column(s), most in age" in quality.summary


def test_model_that_cannot_take_missing_values_is_refused_naming_columns_and_fix(adult_nan):
    train, data = adult_nan
    lr = LogisticRegression(max_iter=1000).fit(train[NUM].fillna(0), train["income"])
    with pytest.raises(AuditInputError) as err:
        audit(lr, data, target="income", features=NUM, checks=["performance"], progress=False)
    msg = str(err.value)
    rows = int(data[NUM].isna().any(axis=1).sum())
    assert f"missing values in column(s) ['age', 'hours_per_week'] ({rows} of {len(data)} rows)" in msg
    assert "LogisticRegression does not accept NaN" in msg and "allow_nan" in msg
    assert "SimpleImputer" in msg and "drop those rows" in msg


def test_training_data_with_missing_values_is_refused_too(adult_nan):
    train, data = adult_nan
    lr = LogisticRegression(max_iter=1000).fit(train[NUM].fillna(0), train["income"])
    with pytest.raises(AuditInputError, match=r"^train has missing values in column\(s\) \['age', 'hours_per_week'\]"):
        audit(lr, data.dropna(), target="income", features=NUM, train=train, checks=["performance"], progress=False)


def test_adult_with_its_own_missing_categories_keeps_them_missing():
    """The raw test file's '?' occupations (counted in the file itself) reach the model and data quality as missing."""
    with gzip.open("audit/datasets/data/adult.test.gz", "rt") as fh:
        raw = sum(1 for line in fh if line.split(", ")[6:7] == ["?"])
    d = load_adult("test", keep_missing=True)
    frame = d.frame.sample(2000, random_state=1).reset_index(drop=True)
    cat = ["workclass", "occupation"]
    model = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)], remainder="passthrough"),
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
    ).fit(frame[cat + NUM], frame["income"])
    report = audit(model, frame[cat + NUM + ["sex", "income"]], target="income", sensitive=["sex"],
                   features=cat + NUM, checks=[c for c in _checks() if c.name in ("performance", "data_quality", "explain")],
                   progress=False)
    assert int(d.frame["occupation"].isna().sum()) == raw
    assert all(s.status == "ok" for s in report.sections.values()), {k: s.reason for k, s in report.sections.items()}
    columns = report.sections["data_quality"].tables["Columns"]
    assert columns.loc["occupation", "missing"] == int(frame["occupation"].isna().sum()) > 0


def _frame_with_nan() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    out = X.assign(y=(X["a"] + X["b"] > 0).astype(int))
    out.loc[::7, "a"] = np.nan
    return out


def test_models_of_unknown_support_are_tried_and_refused_with_their_own_reason():
    df = _frame_with_nan()
    lr = LogisticRegression().fit(df[["a", "b"]].fillna(0), df["y"])
    with pytest.raises(AuditInputError, match=r"Linear \(torch\) returned NaN or infinite scores on rows with missing"):
        audit(torch.nn.Linear(2, 2), df, target="y", checks=["performance"], progress=False)
    with pytest.raises(AuditInputError, match=r"\(callable\) raised ValueError: Input X contains NaN"):
        audit(lambda X: lr.predict_proba(X), df, target="y", checks=["performance"], progress=False)
    # a function that imputes inside takes them: audited on every row
    report = audit(lambda X: lr.predict_proba(X.fillna(0)), df, target="y", checks=["performance"], progress=False)
    acc = next(m.value for m in report.sections["performance"].metrics if m.name == "performance.accuracy")
    assert acc == pytest.approx(accuracy_score(df["y"], lr.predict(df[["a", "b"]].fillna(0))), abs=1e-12)


def test_an_unrelated_failure_is_not_called_a_missing_value_problem():
    """A model that fails on filled rows as well is not refused for its missing values: its own error surfaces."""
    df = _frame_with_nan()

    def broken(X):
        raise RuntimeError("model server down")

    with pytest.raises(Exception, match="model server down") as err:
        audit(broken, df, target="y", checks=["performance"], progress=False)
    assert "missing values" not in str(err.value)


def test_backends_answer_whether_they_take_missing_values():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    y = [0, 1, 0, 1]
    assert allow_nan_tag(HistGradientBoostingClassifier()) is True
    assert allow_nan_tag(LogisticRegression()) is False
    assert backend_for(HistGradientBoostingClassifier().fit(X, y)).accepts_missing is True
    assert backend_for(LogisticRegression().fit(X, y)).accepts_missing is False
    # a Pipeline is tagged allow_nan=False even with an imputer first: tried instead
    assert allow_nan_tag(make_pipeline(SimpleImputer(), LogisticRegression())) is False
    assert backend_for(make_pipeline(SimpleImputer(), LogisticRegression()).fit(X, y)).accepts_missing is None
    assert backend_for(lambda Z: Z).accepts_missing is None
    lgb = pytest.importorskip("lightgbm")
    assert backend_for(lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)).accepts_missing is True


def test_validate_missing_counts_missing_and_refuses_infinite_values():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": ["x", None, "y"], "c": [1.0, 2.0, 3.0]})
    assert validate_missing("data", X).to_dict() == {"a": 1, "b": 1, "c": 0}
    with pytest.raises(AuditInputError, match=r"data has infinite values in numeric column\(s\) \['c'\]"):
        validate_missing("data", X.assign(c=[1.0, np.inf, 3.0]))
    hgb = ModelAdapter(HistGradientBoostingClassifier(max_iter=5).fit(X[["a", "c"]], [0, 1, 0]))
    assert validate_missing("data", X[["a", "c"]], hgb).to_dict() == {"a": 1, "c": 0}
    # load_data without a model loads them; with one that cannot take them it refuses
    assert load_data(X.assign(y=[0, 1, 0]), target="y").X["a"].isna().sum() == 1
    lr = ModelAdapter(LogisticRegression().fit(X[["a", "c"]].fillna(0), [0, 1, 0]))
    with pytest.raises(AuditInputError, match=r"train has missing values in column\(s\) \['a'\] \(1 of 3 rows\)"):
        load_data(X[["a", "c"]].assign(y=[0, 1, 0]), target="y", model=lr, arg="train")


def test_feature_codec_keeps_a_missing_category_as_one_level():
    """None and NaN in a text column are one missing level with its own code, decoded back to missing (before, a
    None that the levels held as NaN could not be encoded)."""
    from audit.space import FrameCodec

    df = pd.DataFrame({"c": pd.Series(["a", None, "b", np.nan], dtype=object), "x": [1.0, np.nan, 2.0, 3.0]})
    codec = FrameCodec.fit([df])
    Z = codec.encode(df)
    assert Z[1, 0] == Z[3, 0] and len(codec.levels["c"]) == 3
    assert np.isnan(Z[1, 1])
    back = codec.decode(Z)
    assert back["c"].isna().tolist() == [False, True, False, True] and back["c"][0] == "a"
    assert back["x"].isna().tolist() == [False, True, False, False]
