"""A model zoo: one small real model per backend through ``audit()`` with every check that applies.

Each case trains on a bundled data set (Adult, German credit, COMPAS, digits) and asserts that no
section errors and that the audit's accuracy equals scikit-learn's ``accuracy_score`` of the
model's own predictions, computed here through the library's own API (the independent reference).
Optional libraries skip their cases when not installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit import audit
from audit.backends import BACKENDS, ModelBackend, backend_for, register_backend
from audit.checks import CalibrationCheck, ExplainCheck, FairnessCheck, PerformanceCheck, RobustnessCheck
from audit.datasets import load_adult, load_compas, load_german
from audit.errors import AuditInputError
from audit.model import ModelAdapter

COMPAS_NUM = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def fast_checks() -> list:
    """Every check, sized for a test (the defaults are sized for a real audit)."""
    return [
        PerformanceCheck(n_boot=50), FairnessCheck(n_boot=50), ExplainCheck(n_rows=40, n_background=20, n_lime_rows=2,
                                                                             lime_samples=100, n_bootstrap=20),
        "data_quality", "overfitting", CalibrationCheck(n_boot=50),
        RobustnessCheck(max_rows_blackbox=60, queries=20, n_boot=50, eps=(0.1,), steps=5), "gradients", "saliency",
    ]


def run(model, test, target, sensitive, **kw):
    report = audit(model, test, target=target, sensitive=sensitive, checks=fast_checks(), progress=False, seed=0, **kw)
    errors = {k: s.reason for k, s in report.sections.items() if s.status == "error"}
    assert not errors, errors
    return report


def accuracy(report) -> float:
    return next(m.value for m in report.sections["performance"].metrics if m.name == "performance.accuracy")


@pytest.fixture(scope="module")
def adult():
    d = load_adult("all").frame
    train = d.sample(3000, random_state=0)
    test = d.drop(train.index).sample(600, random_state=1)
    return train.reset_index(drop=True), test.reset_index(drop=True)


@pytest.fixture(scope="module")
def german():
    d = load_german().frame
    return d.iloc[:700].reset_index(drop=True), d.iloc[700:].reset_index(drop=True)


@pytest.fixture(scope="module")
def compas():
    d = load_compas().frame
    return d.iloc[:4000].reset_index(drop=True), d.iloc[4000:4600].reset_index(drop=True)


ADULT_FEATURES = ["age", "workclass", "education_num", "marital_status", "occupation", "capital_gain",
                  "hours_per_week"]
GERMAN_FEATURES = ["status", "duration", "credit_history", "purpose", "credit_amount", "savings", "age"]


def as_category(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame.assign(**{c: frame[c].astype("category") for c in columns if frame[c].dtype.kind not in "iuf"})


# ------------------------------------------------------------------ zoo
def test_sklearn_pipeline_on_adult(adult):
    train, test = adult
    cat = [c for c in ADULT_FEATURES if not pd.api.types.is_numeric_dtype(train[c])]
    pre = ColumnTransformer([("num", StandardScaler(), [c for c in ADULT_FEATURES if c not in cat]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    model = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(train[ADULT_FEATURES], train["income"])
    report = run(model, test, "income", ["sex", "race"], train=train)
    assert report.meta["model_kind"] == "sklearn"
    assert accuracy(report) == pytest.approx(accuracy_score(test["income"], model.predict(test[ADULT_FEATURES])), abs=1e-12)


def test_xgboost_classifier_with_categories_on_german(german):
    xgb = pytest.importorskip("xgboost")
    train, test = (as_category(f, GERMAN_FEATURES) for f in german)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True, tree_method="hist")
    model.fit(train[GERMAN_FEATURES], train["good_credit"])
    report = run(model, test, "good_credit", ["sex"])
    assert report.meta["model_kind"] == "xgboost"
    assert report.meta["n_features"] == len(GERMAN_FEATURES)  # from the booster's feature names, sex left out
    assert accuracy(report) == pytest.approx(accuracy_score(test["good_credit"], model.predict(test[GERMAN_FEATURES])))


def test_raw_xgboost_booster_on_compas(compas):
    xgb = pytest.importorskip("xgboost")
    train, test = compas
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(train[COMPAS_NUM],
                        label=train["two_year_recid"]), num_boost_round=20)
    report = run(booster, test, "two_year_recid", ["race"], train=train)
    assert report.meta["model_kind"] == "xgboost"
    ref = (booster.predict(xgb.DMatrix(test[COMPAS_NUM])) > 0.5).astype(int)
    assert accuracy(report) == pytest.approx(accuracy_score(test["two_year_recid"], ref))


def test_lightgbm_classifier_with_categories_on_adult(adult):
    lgb = pytest.importorskip("lightgbm")
    train, test = (as_category(f, ADULT_FEATURES) for f in adult)
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1).fit(train[ADULT_FEATURES], train["income"])
    report = run(model, test, "income", ["sex"], train=train)
    assert report.meta["model_kind"] == "lightgbm"
    assert accuracy(report) == pytest.approx(accuracy_score(test["income"], model.predict(test[ADULT_FEATURES])))


def test_raw_lightgbm_booster_on_compas(compas):
    lgb = pytest.importorskip("lightgbm")
    train, test = compas
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 8},
                        lgb.Dataset(train[COMPAS_NUM], label=train["two_year_recid"]), num_boost_round=20)
    report = run(booster, test, "two_year_recid", ["race", "sex"])
    assert report.meta["model_kind"] == "lightgbm"
    ref = (booster.predict(test[COMPAS_NUM]) > 0.5).astype(int)
    assert accuracy(report) == pytest.approx(accuracy_score(test["two_year_recid"], ref))


def test_catboost_takes_only_its_own_features(german):
    cb = pytest.importorskip("catboost")
    train, test = german
    cat = [c for c in GERMAN_FEATURES if not pd.api.types.is_numeric_dtype(train[c])]
    model = cb.CatBoostClassifier(iterations=30, depth=3, verbose=False, random_seed=0, thread_count=1,
                                  allow_writing_files=False)
    model.fit(train[GERMAN_FEATURES], train["good_credit"], cat_features=cat)
    # before: every non-target column (the sensitive-only 'sex' included) reached the model, which failed
    report = run(model, test, "good_credit", ["sex", "age_group"])
    assert report.meta["model_kind"] == "catboost"
    assert report.meta["n_features"] == len(GERMAN_FEATURES)
    assert accuracy(report) == pytest.approx(accuracy_score(test["good_credit"], model.predict(test[GERMAN_FEATURES])))


@pytest.fixture(scope="module")
def onnx_file(compas, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    train, _ = compas
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        train[COMPAS_NUM].to_numpy(np.float32), train["two_year_recid"])
    onx = skl2onnx.to_onnx(model, initial_types=[("X", FloatTensorType([None, len(COMPAS_NUM)]))],
                           options={id(model.steps[-1][1]): {"zipmap": False}})
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, model


def test_onnx_model_from_a_path_and_a_session(compas, onnx_file):
    import onnxruntime as ort

    _, test = compas
    path, sk = onnx_file
    ref = accuracy_score(test["two_year_recid"], sk.predict(test[COMPAS_NUM].to_numpy(np.float32)))
    for model in (str(path), ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])):
        report = run(model, test, "two_year_recid", ["race"], features=COMPAS_NUM)
        assert report.meta["model_kind"] == "onnx"
        assert accuracy(report) == pytest.approx(ref)


def test_onnx_model_that_takes_one_input_per_column(german, tmp_path):
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    train, test = german
    cols = ["status", "duration", "credit_amount"]
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["status"]),
                             ("num", StandardScaler(), ["duration", "credit_amount"])])
    model = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(train[cols], train["good_credit"])
    types = [("status", StringTensorType([None, 1])), ("duration", FloatTensorType([None, 1])),
             ("credit_amount", FloatTensorType([None, 1]))]
    path = tmp_path / "german.onnx"
    path.write_bytes(skl2onnx.to_onnx(model, initial_types=types).SerializeToString())  # ZipMap output kept
    report = run(str(path), test, "good_credit", ["sex"])
    assert report.meta["n_features"] == 3  # the input names are the model's feature names
    assert accuracy(report) == pytest.approx(accuracy_score(test["good_credit"], model.predict(test[cols])))


class Wrapper:
    """A user's wrapper class: predict_proba and classes_, no scikit-learn base class, no __sklearn_tags__."""

    def __init__(self, inner, columns):
        self.inner, self.columns = inner, columns
        self.classes_ = inner.classes_

    def predict_proba(self, X):
        return self.inner.predict_proba(X[self.columns].to_numpy())


def test_duck_typed_wrapper_is_audited(german):
    train, test = german
    cols = ["duration", "credit_amount", "age", "installment_rate"]
    inner = LogisticRegression(max_iter=1000).fit(train[cols].to_numpy(), train["good_credit"])
    report = run(Wrapper(inner, cols), test, "good_credit", ["sex"], features=cols)
    assert report.meta["model_kind"] == "duck-typed"
    assert accuracy(report) == pytest.approx(accuracy_score(test["good_credit"], inner.predict(test[cols].to_numpy())))


def test_plain_callable_on_compas(compas):
    train, test = compas
    lr = LogisticRegression(max_iter=1000).fit(train[COMPAS_NUM], train["two_year_recid"])

    def score(X):
        return lr.predict_proba(X[COMPAS_NUM])

    report = run(score, test, "two_year_recid", ["race"], features=COMPAS_NUM)
    assert report.meta["model_kind"] == "callable"
    assert accuracy(report) == pytest.approx(accuracy_score(test["two_year_recid"], lr.predict(test[COMPAS_NUM])))


def _mlp(d: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def _fit(net: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    return net.eval()


def test_torch_model_with_a_lambda_transform(adult):
    """Before: KeyError 'x3' in the explanations check after the full SHAP run, and a failed verdict."""
    train, test = adult
    num = ["age", "education_num", "capital_gain", "hours_per_week"]
    mu, sd = train[num].mean(), train[num].std()
    transform = lambda D: torch.tensor(((D[num] - mu) / sd).to_numpy(), dtype=torch.float32)  # noqa: E731
    y = (train["income"] == train["income"].max()).astype(int).to_numpy()
    net = _fit(_mlp(len(num)), transform(train).numpy(), y)
    test = test.assign(label=(test["income"] == train["income"].max()).astype(int))
    report = run(net, test.drop(columns="income"), "label", ["sex"], transform=transform, features=num)
    explain = report.sections["explain"]
    assert explain.status == "ok"
    with torch.no_grad():
        ref = net(transform(test)).argmax(1).numpy()
    assert accuracy(report) == pytest.approx(accuracy_score(test["label"], ref))


def test_torch_model_with_a_fitted_column_transformer(adult):
    """Before: 'transform is not callable', blaming the model. Now explanations come back per data column."""
    train, test = adult
    cat = ["workclass", "marital_status"]
    num = ["age", "education_num", "hours_per_week"]
    ct = ColumnTransformer([("num", StandardScaler(), num), ("cat", OneHotEncoder(handle_unknown="ignore",
                            sparse_output=False), cat)]).fit(train[num + cat])
    y = (train["income"] == train["income"].max()).astype(int).to_numpy()
    net = _fit(_mlp(ct.transform(train[num + cat]).shape[1]), ct.transform(train[num + cat]), y)
    test = test.assign(label=(test["income"] == train["income"].max()).astype(int)).drop(columns="income")
    report = run(net, test, "label", ["sex"], transform=ct)
    importance = report.sections["explain"].tables["Global importance"]
    assert set(importance.index) == set(num + cat)  # one-hot outputs summed back to their columns
    with torch.no_grad():
        ref = net(torch.as_tensor(ct.transform(test[num + cat]), dtype=torch.float32)).argmax(1).numpy()
    assert accuracy(report) == pytest.approx(accuracy_score(test["label"], ref))


def test_transform_applies_to_scikit_learn_models_too(german):
    train, test = german
    cols = ["duration", "credit_amount", "age"]
    ct = ColumnTransformer([("num", StandardScaler(), cols)]).fit(train[cols])
    lr = LogisticRegression().fit(ct.transform(train[cols]), train["good_credit"])
    report = run(lr, test, "good_credit", ["sex"], transform=ct)
    assert accuracy(report) == pytest.approx(accuracy_score(test["good_credit"], lr.predict(ct.transform(test[cols]))))


# ------------------------------------------------------------- bad input
def test_object_without_prediction_methods_is_refused_early():
    with pytest.raises(AuditInputError, match="has none of predict_proba, decision_function or predict"):
        audit(object(), pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}), target="y", progress=False)


def test_feature_names_that_do_not_match_the_data_name_the_fix(german):
    train, test = german
    cols = ["duration", "credit_amount", "age"]
    lr = LogisticRegression().fit(train[cols], train["good_credit"])
    renamed = test.rename(columns={"credit_amount": "amount"})
    with pytest.raises(AuditInputError, match=r"data lacks column\(s\) \['credit_amount'\].*pass features="):
        audit(lr, renamed, target="good_credit", progress=False)


def test_model_width_that_does_not_match_the_data_names_the_fix(german):
    train, test = german
    cols = ["duration", "credit_amount", "age"]
    lr = LogisticRegression().fit(train[cols].to_numpy(), train["good_credit"])  # no feature names recorded
    with pytest.raises(AuditInputError, match="the model takes 3 input features but data gives 4"):
        audit(lr, test[cols + ["installment_rate", "good_credit"]], target="good_credit", progress=False)


def test_features_must_be_a_list_not_a_string(german):
    _, test = german
    with pytest.raises(AuditInputError, match=r"features must be a list of column names, e.g. features=\['age'\]"):
        audit(lambda X: np.zeros(len(X)), test, target="good_credit", features="age", progress=False)


def test_transform_of_the_wrong_type_is_refused(german):
    _, test = german
    with pytest.raises(AuditInputError, match="transform must be a callable"):
        audit(LogisticRegression(), test, target="good_credit", transform=5, progress=False)


# ------------------------------------------------------------- the layer
def test_every_backend_is_registered_once_and_callables_come_last():
    assert len(BACKENDS) == len(set(BACKENDS))
    assert BACKENDS[-1].kind == "callable"


def test_a_new_model_kind_is_one_class_and_one_registration_line():
    class Scores:  # a model kind the audit has never seen: scores via .score_rows
        def score_rows(self, X):
            return np.column_stack([1 - X[:, 0], X[:, 0]])

    class ScoresBackend(ModelBackend):
        kind = "scores"

        @classmethod
        def accepts(cls, model):
            return isinstance(model, Scores)

        def predict_proba(self, X):
            return self.model.score_rows(np.asarray(X, dtype=float))

    register_backend(ScoresBackend, before=BACKENDS[-1])
    try:
        adapter = ModelAdapter(Scores())
        assert adapter.kind == "scores"
        np.testing.assert_allclose(adapter.predict_proba(np.array([[0.25], [1.0]])), [[0.75, 0.25], [0.0, 1.0]])
    finally:
        BACKENDS.remove(ScoresBackend)
    assert backend_for(Scores().score_rows).kind == "callable"


# ----------------------------------------------------------- audit run
def test_audit_run_loads_onnx_xgboost_and_catboost_model_files(compas, onnx_file, tmp_path):
    """`path = "model.onnx"` (and the boosters' own formats) in a config: audited, exit 0, accuracy as sklearn's."""
    import json

    from audit.cli import main

    xgb = pytest.importorskip("xgboost")
    cb = pytest.importorskip("catboost")
    train, test = compas
    test[COMPAS_NUM + ["race", "two_year_recid"]].to_csv(tmp_path / "test.csv", index=False)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                        xgb.DMatrix(train[COMPAS_NUM], label=train["two_year_recid"]), num_boost_round=10)
    booster.save_model(str(tmp_path / "model.ubj"))
    cat = cb.CatBoostClassifier(iterations=20, depth=2, verbose=False, random_seed=0, thread_count=1,
                                allow_writing_files=False).fit(train[COMPAS_NUM], train["two_year_recid"])
    cat.save_model(str(tmp_path / "model.cbm"))
    onnx_path, sk = onnx_file
    refs = {
        str(onnx_path): sk.predict(test[COMPAS_NUM].to_numpy(np.float32)),
        "model.ubj": (booster.predict(xgb.DMatrix(test[COMPAS_NUM])) > 0.5).astype(int),
        "model.cbm": cat.predict(test[COMPAS_NUM]),
    }
    for i, (path, pred) in enumerate(refs.items()):
        cfg = tmp_path / f"audit{i}.toml"
        cfg.write_text(f'[model]\npath = {json.dumps(path)}\n[data]\npath = "test.csv"\ntarget = "two_year_recid"\n'
                       f'sensitive = ["race"]\nfeatures = {json.dumps(COMPAS_NUM)}\n'
                       '[policy]\n"performance.accuracy" = {min = 0.5}\n')
        out = tmp_path / f"out{i}"
        assert main(["run", str(cfg), "--out", str(out), "--checks", "performance,fairness", "--quiet"]) == 0
        metrics = json.loads((out / "audit.json").read_text())["metrics"]
        acc = metrics["performance.accuracy"]
        acc = acc["value"] if isinstance(acc, dict) else acc
        assert acc == pytest.approx(accuracy_score(test["two_year_recid"], pred))


def test_scikit_learn_model_on_digits_images():
    """Images (n, 1, 8, 8) to a non-differentiable model: performance, fairness-free checks run, saliency skips."""
    from audit.datasets import load_digits

    X, y = load_digits()
    lr = LogisticRegression(max_iter=2000).fit(X[:1200].reshape(1200, -1), y[:1200])

    def classify(images):
        return lr.predict_proba(np.asarray(images).reshape(len(images), -1))

    report = audit(classify, (X[1200:], y[1200:]), checks=fast_checks(), progress=False)
    assert not [k for k, s in report.sections.items() if s.status == "error"]
    assert report.sections["saliency"].status == "skipped"
    assert accuracy(report) == pytest.approx(accuracy_score(y[1200:], lr.predict(X[1200:].reshape(len(X) - 1200, -1))))


# ------------------------------------------- bad input (issue 16's list)
@pytest.fixture
def small():
    df = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3, "y": np.arange(40) % 2, "g": ["x", "y"] * 20})

    def score(X):
        return np.column_stack([1 - X["a"].to_numpy() / 40, X["a"].to_numpy() / 40])

    return df, score


@pytest.mark.parametrize("kwargs, message", [
    ({"sensitive": 5}, r"sensitive\[0\] must be a column name or an array with one value per row"),
    ({"sensitive": {"g": 1}}, r"sensitive\['g'\] must be a column name or an array"),
    ({"checks": 5}, "checks must be None, a check name or a list"),
    ({"sensitive": ["y"]}, "'y' is both the target and a sensitive column"),
    ({"features": "a"}, "features must be a list of column names"),
    ({"immutable": "a"}, "immutable must be a list of column names"),
])
def test_bad_arguments_fail_early_naming_the_argument(small, kwargs, message):
    df, score = small
    with pytest.raises(AuditInputError, match=message):
        audit(score, df, target="y", progress=False, **kwargs)


def test_duplicate_and_multiindex_columns_are_refused(small):
    df, score = small
    with pytest.raises(AuditInputError, match=r"duplicate column names \['a'\]"):
        audit(score, df.set_axis(["a", "a", "y", "g"], axis=1), target="y", progress=False)
    multi = df.set_axis(pd.MultiIndex.from_tuples([("p", "a"), ("p", "b"), ("q", "y"), ("q", "g")]), axis=1)
    with pytest.raises(AuditInputError, match="MultiIndex columns.*flatten"):
        audit(score, multi, target="y", progress=False)


@pytest.mark.parametrize("scale, shift", [(2.0, 0.0), (0.5, 0.0), (1.0, -0.3)])
def test_scores_that_are_not_probabilities_are_refused_unless_declared(small, scale, shift):
    """Before: rows summing to 2 or 0.5, or holding negatives, were silently read as logits (ECE 0.026 -> 0.281)."""
    df, score = small

    def bad(X):
        return scale * score(X) + shift

    with pytest.raises(AuditInputError, match="not probabilities.*model_output='logits'"):
        audit(bad, df, target="y", progress=False, checks=["performance"])
    report = audit(bad, df, target="y", progress=False, checks=["performance"], model_output="logits")
    assert report.meta["model_output"] == "logits"  # the asserted output kind is on record in the report
    z = bad(df)
    ref = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert accuracy(report) == pytest.approx(accuracy_score(df["y"], ref.argmax(1)))
