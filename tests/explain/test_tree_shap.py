"""Native TreeSHAP against brute force: the path-dependent game of each tree, enumerated over every coalition.

``v(S)`` for one row is the tree's expected output when features in ``S`` take the row's values and the
others follow the training data down both branches in proportion to the node covers (the game
TreeSHAP solves exactly). Shapley values are then computed by enumerating all 2^d coalitions: an
independent reference that shares no code with XGBoost's or LightGBM's implementation.
"""

from __future__ import annotations

import json
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest

from audit.explain import shap_values
from audit.model import ModelAdapter


def _value(node: dict, x: np.ndarray, S: frozenset, rules) -> float:
    leaf, feature, go_left, children, cover = rules(node, x)
    if leaf is not None:
        return leaf
    left, right = children
    if feature in S:
        return _value(left if go_left else right, x, S, rules)
    cl, cr = cover(left), cover(right)
    return (cl * _value(left, x, S, rules) + cr * _value(right, x, S, rules)) / (cl + cr)


def brute_force_shapley(trees: list[dict], x: np.ndarray, rules) -> np.ndarray:
    d = len(x)
    v = {}
    for k in range(d + 1):
        for S in combinations(range(d), k):
            v[frozenset(S)] = sum(_value(t, x, frozenset(S), rules) for t in trees)
    phi = np.zeros(d)
    for i in range(d):
        for S, val in v.items():
            if i in S:
                continue
            w = factorial(len(S)) * factorial(d - len(S) - 1) / factorial(d)
            phi[i] += w * (v[S | {i}] - val)
    return phi


def _xgb_rules(node, x):
    if "leaf" in node:
        return node["leaf"], None, None, None, None
    f = int(node["split"][1:])
    kids = {c["nodeid"]: c for c in node["children"]}
    return None, f, x[f] < node["split_condition"], (kids[node["yes"]], kids[node["no"]]), lambda n: n["cover"]


def _lgb_rules(node, x):
    if "leaf_value" in node:
        return node["leaf_value"], None, None, None, None
    f = node["split_feature"]
    count = lambda n: n.get("internal_count", n.get("leaf_count"))  # noqa: E731
    return None, f, x[f] <= node["threshold"], (node["left_child"], node["right_child"]), count


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    y = ((X.a + X.b * X.c - 0.5 * X.d) > 0).astype(int)
    return X, y


def test_xgboost_tree_shap_is_exact_against_brute_force(data):
    xgb = pytest.importorskip("xgboost")
    X, y = data
    model = xgb.XGBClassifier(n_estimators=6, max_depth=3, learning_rate=0.5).fit(X.to_numpy(), y)
    trees = [json.loads(t) for t in model.get_booster().get_dump(dump_format="json", with_stats=True)]
    res = shap_values(model, X.iloc[:8])
    assert res.explainer == "tree" and res.output == "margin"
    for i in range(8):
        ref = brute_force_shapley(trees, X.iloc[i].to_numpy(), _xgb_rules)
        # XGBoost keeps leaves and sums in float32: 1e-5 is float32 rounding over six trees, not approximation
        np.testing.assert_allclose(res.for_class(1).iloc[i].to_numpy(), ref, atol=1e-5)
        np.testing.assert_allclose(res.for_class(0).iloc[i].to_numpy(), -ref, atol=1e-5)
    margin = model.get_booster().predict(__import__("xgboost").DMatrix(X.iloc[:8].to_numpy()), output_margin=True)
    np.testing.assert_allclose(res.model_output["1"].to_numpy(), margin, atol=1e-6)


def test_lightgbm_tree_shap_is_exact_against_brute_force(data):
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=6, min_child_samples=5, verbose=-1).fit(X, y)
    trees = [t["tree_structure"] for t in model.booster_.dump_model()["tree_info"]]
    res = shap_values(model, X.iloc[:8])
    for i in range(8):
        ref = brute_force_shapley(trees, X.iloc[i].to_numpy(), _lgb_rules)
        np.testing.assert_allclose(res.for_class(1).iloc[i].to_numpy(), ref, atol=1e-6)  # float64 throughout
    assert res.additivity_error < 1e-9


def test_every_tree_backend_is_additive_in_its_raw_output(data):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    X, y = data
    for model, output in ((RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0), "proba"),
                          (HistGradientBoostingClassifier(max_iter=10), "margin")):
        model.fit(X, y)
        res = shap_values(model, X.iloc[:50])
        assert (res.explainer, res.output) == ("tree", output)
        assert res.additivity_error < 1e-9
    cb = pytest.importorskip("catboost")
    model = cb.CatBoostClassifier(iterations=10, depth=3, verbose=False, allow_writing_files=False).fit(X, y)
    res = shap_values(model, X.iloc[:50])
    assert (res.explainer, res.output, ModelAdapter(model).kind) == ("tree", "margin", "catboost")
    assert res.additivity_error < 1e-9


def test_single_decision_tree_gets_native_path_dependent_tree_shap(data):
    """A lone DecisionTreeClassifier has no decision_function: native TreeSHAP used to crash on it, fall back to
    interventional values and still be labelled "tree". Its values are shap's path-dependent ones."""
    import shap
    from sklearn.tree import DecisionTreeClassifier

    X, y = data
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    res = shap_values(model, X.iloc[:60], background=X, exact_budget=1e3)  # too small a budget for exact values
    assert (res.explainer, res.output) == ("tree", "proba")
    ref = np.asarray(shap.TreeExplainer(model).shap_values(X.iloc[:60].to_numpy()))  # (rows, features, classes)
    for k in (0, 1):
        np.testing.assert_allclose(res.for_class(k).to_numpy(), ref[..., k], atol=1e-8)
    np.testing.assert_allclose(res.model_output.to_numpy(), model.predict_proba(X.iloc[:60]), atol=1e-12)


def test_interventional_tree_explainer_is_not_labelled_tree(data):
    """shap's interventional TreeExplainer (the fallback when native TreeSHAP is not tried) says what it is."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = data
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    res = shap_values(model, X.iloc[:10], background=X.iloc[100:140], n_background=40, exact_budget=1e3,
                      native_tree=False)
    assert res.explainer == "tree_interventional"
    assert res.additivity_error < 1e-6
