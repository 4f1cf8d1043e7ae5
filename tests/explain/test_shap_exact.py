"""Default SHAP values against an independent brute-force Shapley computation and analytic cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.errors import AuditInputError
from audit.explain import EXACT_MAX_FEATURES, shap_values
from audit.explain._shap import GRADIENT_MIN_FEATURES
from audit.model import ModelAdapter



def _proba(net):
    return lambda z: torch.softmax(net(torch.as_tensor(z, dtype=torch.float32)), 1).double().detach().numpy()


@pytest.mark.parametrize("output", ["proba", "logit"])
def test_default_matches_brute_force(small_mlp, mixed_data, output, brute_force):
    x, bg = mixed_data
    res = shap_values(small_mlp, torch.as_tensor(x), background=torch.as_tensor(bg), n_background=len(bg), output=output)
    f = _proba(small_mlp) if output == "proba" else (lambda z: small_mlp(torch.as_tensor(z, dtype=torch.float32)).double().detach().numpy())
    ref = brute_force(f, x.astype(np.float64), bg.astype(np.float64))
    got = np.stack([res.values[c].to_numpy() for c in res.classes], axis=2)
    assert res.explainer == "exact" and res.output == output
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.98
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_additivity_against_model_output(small_mlp, mixed_data):
    x, bg = mixed_data
    res = shap_values(ModelAdapter(small_mlp), torch.as_tensor(x), background=torch.as_tensor(bg))
    p = _proba(small_mlp)(x)
    np.testing.assert_allclose(res.model_output.to_numpy(), p, atol=1e-6)
    np.testing.assert_allclose(res.base_values.to_numpy(), _proba(small_mlp)(bg).mean(axis=0), atol=1e-6)
    total = np.stack([res.values[c].sum(axis=1).to_numpy() for c in res.classes], axis=1) + res.base_values.to_numpy()
    np.testing.assert_allclose(total, p, atol=1e-6)
    assert res.additivity_error < 1e-6


def test_linear_model_is_w_times_centred_x():
    torch.manual_seed(3)
    lin = torch.nn.Linear(4, 2)
    rng = np.random.default_rng(0)
    x, bg = rng.normal(size=(7, 4)).astype(np.float32), rng.normal(size=(30, 4)).astype(np.float32)
    res = shap_values(lin, torch.as_tensor(x), background=torch.as_tensor(bg), n_background=30, output="logit")
    W = lin.weight.detach().double().numpy()
    for k, c in enumerate(res.classes):
        expected = W[k][None, :] * (x - bg.mean(axis=0))
        np.testing.assert_allclose(res.values[c].to_numpy(), expected, atol=1e-5)


def test_frame_pipeline_with_string_column_matches_brute_force(brute_force):
    """A DataFrame model with a string column: players are the columns, mixing happens on real values."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "a": rng.normal(size=200), "c": rng.choice(["x", "y", "z"], 200), "b": rng.integers(0, 4, 200),
    })
    y = ((df["a"] + (df["c"] == "y") * 1.5 - df["b"] * 0.3) > 0).astype(int)
    pre = ColumnTransformer([("oh", OneHotEncoder(), ["c"])], remainder="passthrough")
    clf = make_pipeline(pre, LogisticRegression()).fit(df, y)
    X, bg = df.iloc[:5], df.iloc[100:120]
    res = shap_values(clf, X, background=bg, n_background=20)
    inv = np.array(["x", "y", "z"], dtype=object)
    codes = {"x": 0, "y": 1, "z": 2}

    def f(z):
        frame = pd.DataFrame({"a": z[:, 0], "c": inv[z[:, 1].astype(int)], "b": z[:, 2].astype(int)})
        return clf.predict_proba(frame)

    enc = lambda d: np.column_stack([d["a"], d["c"].map(codes), d["b"]]).astype(float)  # noqa: E731
    ref = brute_force(f, enc(X), enc(bg))
    got = np.stack([res.values[c].to_numpy() for c in res.classes], axis=2)
    np.testing.assert_allclose(got, ref, atol=1e-8)
    assert list(res.values["1"].columns) == ["a", "c", "b"]


def test_exact_engine_matches_shap_kernel_full_enumeration(small_mlp, mixed_data):
    """The library on the same background: Kernel SHAP enumerating all 2**5 coalitions is exact."""
    shap = pytest.importorskip("shap")
    x, bg = mixed_data
    f = _proba(small_mlp)
    ref = np.asarray(shap.KernelExplainer(f, bg.astype(np.float64)).shap_values(
        x[:2].astype(np.float64), nsamples=2**5, silent=True
    ))
    res = shap_values(small_mlp, torch.as_tensor(x[:2]), background=torch.as_tensor(bg), n_background=len(bg))
    got = np.stack([res.values[c].to_numpy() for c in res.classes], axis=2)
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_kmeans_background_is_weighted_and_exact(small_mlp, mixed_data):
    x, _ = mixed_data
    rng = np.random.default_rng(4)
    src = rng.normal(size=(60, 5)).astype(np.float32)
    res = shap_values(small_mlp, torch.as_tensor(x), background=torch.as_tensor(src), n_background=5, summarize="kmeans")
    assert res.n_background == 5 and res.explainer == "exact"
    assert res.additivity_error < 1e-6  # base is the weighted mean over centres


def test_auto_above_threshold_uses_shap_and_reports_error():
    torch.manual_seed(0)
    d = GRADIENT_MIN_FEATURES + 1  # image-like width: auto falls back to GradientExplainer
    net = torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x, bg = torch.randn(2, d), torch.randn(4, d)
    cheap = shap_values(net, x, background=bg, n_background=4, exact_budget=1e3, n_reference=2)
    assert cheap.explainer == "gradient"
    assert cheap.reference_rows == 0 and np.isnan(cheap.reference_correlation)  # exact too expensive at this budget
    assert any("additivity" in n for n in cheap.notes)
    d = EXACT_MAX_FEATURES + 2
    net = torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x, bg = torch.randn(2, d), torch.randn(4, d)
    deep = shap_values(net, x, background=bg, n_background=4, explainer="deep", n_reference=2)
    exact = shap_values(net, x, background=bg, n_background=4, explainer="exact")
    got = np.stack([deep.values[c].to_numpy() for c in deep.classes])
    ref = np.stack([exact.values[c].to_numpy() for c in exact.classes])
    assert deep.reference_rows == 2
    assert deep.reference_correlation == pytest.approx(np.corrcoef(got.ravel(), ref.ravel())[0, 1], abs=1e-9)
    assert exact.additivity_error < 1e-5


def test_kernel_close_to_exact_and_reference_reported(small_mlp, mixed_data):
    # shap's PermutationExplainer shares this code path but pays a ~10 s numba compile per process,
    # so it is exercised in bench/explain.py rather than here.
    x, bg = mixed_data
    res = shap_values(small_mlp, x, background=bg, explainer="kernel", n_reference=3)
    exact = shap_values(small_mlp, x, background=bg)
    got = np.stack([res.values[c].to_numpy() for c in res.classes])
    ref = np.stack([exact.values[c].to_numpy() for c in exact.classes])
    assert res.explainer == "kernel" and res.reference_rows == 3
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.98
    assert res.additivity_error < 1e-5
    assert any("approximation" in n for n in res.notes)


def test_tree_explainer_is_native_tree_shap_in_the_raw_output():
    """explainer='tree' is the model's own exact TreeSHAP (brute-force checks in test_tree_shap.py): forests in
    their averaged probability, boosting in its margin; each adds up to the library's own raw prediction."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    rf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    a = shap_values(rf, X[:4], background=X[100:130], n_background=30, explainer="tree")
    assert (a.explainer, a.output) == ("tree", "proba")
    np.testing.assert_allclose(a.values["1"].sum(axis=1) + a.base_values["1"], rf.predict_proba(X[:4])[:, 1], atol=1e-12)
    gbm = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    g = shap_values(gbm, X[:4], explainer="tree")
    assert (g.explainer, g.output) == ("tree", "margin")
    np.testing.assert_allclose(g.values["1"].sum(axis=1) + g.base_values["1"], gbm.decision_function(X[:4]), atol=1e-12)
    np.testing.assert_allclose(g.values["0"].to_numpy(), -g.values["1"].to_numpy())  # log-odds of class 0


def test_same_seed_same_values_and_bad_input(small_mlp):
    x = torch.randn(5, 5)
    bg = torch.randn(50, 5)
    a = shap_values(small_mlp, x, background=bg, n_background=10, seed=1)
    b = shap_values(small_mlp, x, background=bg, n_background=10, seed=1)
    c = shap_values(small_mlp, x, background=bg, n_background=10, seed=2)
    assert a.values["0"].equals(b.values["0"]) and not a.values["0"].equals(c.values["0"])
    with pytest.raises(AuditInputError, match="explainer"):
        shap_values(small_mlp, x, explainer="magic")
    with pytest.raises(AuditInputError, match="output"):
        shap_values(small_mlp, x, output="odds")
    with pytest.raises(AuditInputError, match="torch model"):
        shap_values(lambda z: np.asarray(z)[:, :2], x.numpy(), explainer="deep")


def test_a_missing_value_shared_with_the_background_is_not_a_player():
    """Exact SHAP with NaN in the explained row and the background: a cell missing in both is the same value, so
    only truly differing features are enumerated (model rows = sum over background rows of 2**k), and the values
    equal the hand-computed Shapley values of a model that reads a missing ``a`` as 0."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100), "c": rng.normal(size=100)})
    clf = make_pipeline(SimpleImputer(strategy="constant", fill_value=0.0), LogisticRegression()).fit(
        X, (X.sum(axis=1) > 0).astype(int))
    row = pd.DataFrame({"a": [np.nan], "b": [0.5], "c": [0.2]})
    bg = pd.DataFrame({"a": [np.nan, 1.0], "b": [0.5, -1.0], "c": [0.0, 1.0]})
    res = shap_values(clf, row, background=bg, explainer="exact", n_background=2, output="logit", n_reference=0)
    # background row 0 differs in c only (2**1 rows), row 1 in all three (2**3); plus the row and background passes
    assert res.model_rows == 2 + 8 + 1 + 2
    # a linear model in log-odds: log p(class k) is not linear, so compare with Shapley values computed by hand
    def v(cells):
        frame = pd.DataFrame([{c: (row[c][0] if c in cells else b[c]) for c in X.columns} for _, b in bg.iterrows()])
        return np.log(clf.predict_proba(frame)).mean(axis=0)
    from itertools import combinations
    from math import factorial
    cols = list(X.columns)
    for j, c in enumerate(cols):
        others = [o for o in cols if o != c]
        phi = sum(factorial(len(s)) * factorial(len(cols) - len(s) - 1) / factorial(len(cols)) * (v({*s, c}) - v(set(s)))
                  for k in range(len(others) + 1) for s in combinations(others, k))
        np.testing.assert_allclose(res.for_class(res.classes[1])[c].iloc[0], phi[1], atol=1e-9)
