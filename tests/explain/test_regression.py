"""Explanations of regressors: one output, the predicted value, attributions in the target's units.

References are independent of the audit's code: shap's TreeExplainer (path-dependent) for the tree libraries,
the textbook Shapley formula over every coalition (``brute_force`` fixture) and the closed form of a linear
model, and lime's own ``LimeTabularExplainer`` in regression mode with the same seed.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from audit.errors import AuditInputError
from audit.explain import REGRESSION_OUTPUT, global_explanation, lime_explanations, shap_values
from audit.model import ModelAdapter

RNG = np.random.default_rng(0)
X = pd.DataFrame(RNG.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
Y = 3 * X.a - 2 * X.b + X.b * X.c - 0.5 * X.d + 50 + RNG.normal(0, 0.1, 300)


def _tree_regressors():
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    cb = pytest.importorskip("catboost")
    return [
        xgb.XGBRegressor(n_estimators=8, max_depth=3),
        lgb.LGBMRegressor(n_estimators=8, num_leaves=6, min_child_samples=5, verbose=-1),
        cb.CatBoostRegressor(iterations=8, depth=3, verbose=False, allow_writing_files=False),
        RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0),
        GradientBoostingRegressor(n_estimators=8, max_depth=2, random_state=0),
    ]


@pytest.mark.parametrize("index", range(5), ids=["xgboost", "lightgbm", "catboost", "random_forest", "gradient_boosting"])
def test_native_tree_shap_of_a_regressor_equals_shap_tree_explainer(index):
    import shap

    model = _tree_regressors()[index].fit(X, Y)
    rows = X.iloc[:40]
    res = shap_values(model, rows)
    assert (res.explainer, res.output, res.classes) == ("tree", "value", [REGRESSION_OUTPUT])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = shap.TreeExplainer(model)
        ref = np.asarray(ex.shap_values(rows), dtype=np.float64)
    # XGBoost sums float32 leaves: rtol 1e-5 is that rounding; the others agree to float64 rounding
    np.testing.assert_allclose(res.for_class(0).to_numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.base_values.iloc[0], float(np.ravel(ex.expected_value)[0]), rtol=1e-5)
    # the explained output is the prediction itself, in the target's units
    np.testing.assert_allclose(res.model_output[REGRESSION_OUTPUT].to_numpy(), model.predict(rows), rtol=1e-5)
    assert res.additivity_error < 1e-4


def test_a_log_link_regressor_is_explained_in_its_raw_score_and_says_so():
    """A Poisson booster's trees add up to log(prediction): that is what TreeSHAP explains ("margin"), not the
    predicted value, and the note says so."""
    xgb = pytest.importorskip("xgboost")
    model = xgb.XGBRegressor(n_estimators=8, max_depth=3, objective="count:poisson").fit(X, np.exp(Y / 20))
    res = shap_values(model, X.iloc[:20])
    assert (res.explainer, res.output) == ("tree", "margin")
    total = res.for_class(0).sum(axis=1).to_numpy() + res.base_values.iloc[0]
    np.testing.assert_allclose(np.exp(total), model.predict(X.iloc[:20]), rtol=1e-5)
    assert any("link function" in n for n in res.notes)


def _linear():
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(X, Y)


@pytest.mark.parametrize("explainer", ["exact", "permutation"])
def test_linear_regression_shap_is_coef_times_distance_from_the_background_mean(explainer, brute_force):
    """Interventional SHAP of a linear model: phi_j = coef_j * (x_j - mean of the background's x_j), exactly; every
    order of a permutation gives the same marginal contributions for an additive model, so sampling is exact too."""
    reg = _linear()
    x, bg = X.iloc[:6], X.iloc[100:130]
    res = shap_values(reg, x, background=bg, n_background=30, explainer=explainer)
    closed = reg.coef_[None, :] * (x.to_numpy() - bg.to_numpy().mean(axis=0))
    np.testing.assert_allclose(res.for_class(0).to_numpy(), closed, rtol=1e-9, atol=1e-9)
    brute = brute_force(lambda z: reg.predict(pd.DataFrame(z, columns=X.columns))[:, None], x.to_numpy(), bg.to_numpy())
    np.testing.assert_allclose(res.for_class(REGRESSION_OUTPUT).to_numpy(), brute[:, :, 0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.base_values.iloc[0], reg.predict(bg).mean(), rtol=1e-12)
    assert res.additivity_error < 1e-9


def test_torch_regressor_exact_shap_equals_brute_force(brute_force):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double().eval()
    x, bg = torch.randn(5, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64)
    res = shap_values(ModelAdapter(net, task="regression"), x, background=bg, n_background=10)
    assert (res.explainer, res.output) == ("exact", "value")

    def f(z):
        with torch.no_grad():
            return net(torch.as_tensor(z)).numpy()

    np.testing.assert_allclose(res.for_class(0).to_numpy(), brute_force(f, x.numpy(), bg.numpy())[:, :, 0],
                               rtol=1e-9, atol=1e-12)


def test_a_regressor_has_no_class_outputs():
    with pytest.raises(AuditInputError, match="regressor"):
        shap_values(_linear(), X.iloc[:3], output="proba")
    with pytest.raises(AuditInputError, match="one output"):
        shap_values(_linear(), X.iloc[:3], outputs=[0])


def test_sensitive_share_of_a_regressor_is_the_share_of_mean_abs_shap():
    reg = _linear()
    res = shap_values(reg, X.iloc[:50], background=X.iloc[:50], n_background=50)
    g = global_explanation(res, pd.DataFrame({"b": (X.b.iloc[:50] > 0).astype(int)}))
    assert g.explained == "predicted value"
    mean_abs = np.abs(reg.coef_ * (X.iloc[:50].to_numpy() - X.iloc[:50].to_numpy().mean(axis=0))).mean(axis=0)
    assert g.sensitive_share == pytest.approx(mean_abs[1] / mean_abs.sum(), rel=1e-9)


def test_lime_regression_mode_equals_lime_itself():
    """lime_explanations on a regressor is lime's LimeTabularExplainer(mode="regression") with the row's seed
    (crc32 of "seed:row") and the same kernel, discretizer and samples: identical weights, intercept, fit."""
    from lime.lime_tabular import LimeTabularExplainer
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, Y)
    rows, seed = [0, 7, 42], 3
    res = lime_explanations(model, X, rows, num_samples=400, seed=seed)
    assert res.explained_class.tolist() == [0, 0, 0]
    np.testing.assert_allclose(res.model_prediction.to_numpy(), model.predict(X.iloc[rows]), rtol=1e-12)
    for r in rows:
        ref = LimeTabularExplainer(X.to_numpy(), mode="regression", feature_names=list(X.columns),
                                   discretize_continuous=True, random_state=zlib.crc32(f"{seed}:{r}".encode()),
                                   feature_selection="none")
        exp = ref.explain_instance(X.to_numpy()[r], lambda z: model.predict(pd.DataFrame(z, columns=X.columns)),
                                   num_features=4, num_samples=400)
        w = np.zeros(4)
        for j, v in exp.as_map()[1]:
            w[j] = v
        np.testing.assert_allclose(res.weights.loc[r].to_numpy(), w, rtol=1e-12, atol=1e-12)
        assert res.intercept.loc[r] == pytest.approx(exp.intercept[1], rel=1e-12)
        assert res.score.loc[r] == pytest.approx(exp.score, rel=1e-12)
        assert res.local_prediction.loc[r] == pytest.approx(float(np.ravel(exp.local_pred)[0]), rel=1e-12)


def test_interventional_tree_explainer_of_a_regressor_is_exact_for_its_background(brute_force):
    """Over the exact budget with native TreeSHAP off, shap's interventional TreeExplainer explains the raw output,
    which for a squared-error forest is the prediction: equal to the brute-force game on the same background. A log
    link (Poisson) does not add up to the prediction, so permutation sampling takes over and says why."""
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X, Y)
    x, bg = X.iloc[:5], X.iloc[50:90]
    res = shap_values(model, x, background=bg, n_background=40, exact_budget=1e3, native_tree=False)
    assert (res.explainer, res.output) == ("tree_interventional", "value")
    ref = brute_force(lambda z: model.predict(pd.DataFrame(z, columns=X.columns))[:, None], x.to_numpy(), bg.to_numpy())
    # shap's tree code sums in float32: 1e-6 absolute on values of order 1 is that rounding
    np.testing.assert_allclose(res.for_class(0).to_numpy(), ref[:, :, 0], rtol=1e-5, atol=1e-6)
    xgb = pytest.importorskip("xgboost")
    poisson = xgb.XGBRegressor(n_estimators=8, max_depth=3, objective="count:poisson").fit(X, np.exp(Y / 20))
    res = shap_values(poisson, x, background=bg, n_background=40, exact_budget=1e3, native_tree=False)
    assert res.explainer == "permutation" and any("did not match the model's predictions" in n for n in res.notes)
