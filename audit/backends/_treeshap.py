"""Exact TreeSHAP through each library's native implementation, in the model's raw output.

Tree ensembles carry their own polynomial-time Shapley algorithm (Lundberg et al., "path-dependent"
TreeSHAP): XGBoost ``pred_contribs``, LightGBM ``pred_contrib``, CatBoost ``ShapValues`` and shap's
``TreeExplainer`` for scikit-learn trees. The game it solves is exact: ``v(S)`` is the tree's
expected output when the features outside ``S`` follow the training data's split proportions (the
cover recorded in each node); the values sum exactly to the raw output. That output is the margin
(log-odds per class) for boosted classifiers, and the (averaged) class probability for random forests and
single decision trees. A regressor has one raw output (``K = 1``): its predicted value in the target's units
(``"value"``) when the objective has no link function (squared or absolute error, quantile, Huber), else the
margin the link maps to the prediction (log for Poisson, Gamma, Tweedie; ``"margin"``).

Every function returns ``(values (n, d, K), base (K,), raw (m, K), output)`` where ``raw`` is the
library's own raw prediction on the first ``m = min(n, CHECK_ROWS)`` rows, so additivity is checked
against an independent call without paying a second full prediction pass.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

TreeOutput = Literal["margin", "proba", "value"]
#: rows on which the library's own raw prediction is computed to check that the values add up to it
CHECK_ROWS = 1000
TreeShap = tuple[np.ndarray, np.ndarray, np.ndarray, TreeOutput]


def _per_class(contrib: np.ndarray, raw: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``contrib`` (n, d+1) for one margin or (n, K, d+1) -> values (n, d, K), base (K,), raw (n, K).

    A binary model's single margin is the log-odds of the positive class; the negative class's
    log-odds is its negation, so both classes get values (negated for class 0).
    """
    if contrib.ndim == 2:
        phi, bias = contrib[:, :-1], contrib[:, -1]  # the bias column is the same on every row
        raw = raw.reshape(-1)
        if n_classes <= 2:
            return np.stack([-phi, phi], axis=2), np.array([-bias[0], bias[0]]), np.column_stack([-raw, raw])
        raise ValueError("one margin for a multiclass model")
    phi = np.transpose(contrib[:, :, :-1], (0, 2, 1))
    return phi, contrib[0, :, -1], raw.reshape(len(raw), -1)


def _one_output(contrib: np.ndarray, raw: np.ndarray, predicted: np.ndarray) -> TreeShap:
    """A regressor's ``contrib`` (n, d+1) -> values (n, d, 1), base (1,), raw (m, 1) and what the raw output is:
    ``"value"`` when it is the prediction itself (``predicted``, the model's own prediction on the same rows; equal
    up to float32 rounding), ``"margin"`` when a link function stands between them (log for Poisson)."""
    phi, bias = contrib[:, :-1], contrib[:, -1]  # the bias column is the same on every row
    raw, predicted = raw.reshape(-1), predicted.reshape(-1)
    scale = max(float(np.abs(predicted).max(initial=0.0)), 1.0)
    same = raw.shape == predicted.shape and bool(np.allclose(raw, predicted, rtol=1e-5, atol=1e-6 * scale))
    return phi[:, :, None], np.array([bias[0]]), raw[:, None], "value" if same else "margin"


def xgboost_tree_shap(model: Any, X: Any, n_classes: int) -> TreeShap:
    """``n_classes`` 0: a regressor (one raw output)."""
    import xgboost as xgb

    booster = model if type(model).__name__ == "Booster" else model.get_booster()
    contrib = np.asarray(booster.predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True), dtype=np.float64)
    head = xgb.DMatrix(X[:CHECK_ROWS], enable_categorical=True)
    raw = np.asarray(booster.predict(head, output_margin=True), dtype=np.float64)
    if n_classes == 0:
        return _one_output(contrib, raw, np.asarray(booster.predict(head), dtype=np.float64))
    return (*_per_class(contrib, raw, n_classes), "margin")


def lightgbm_tree_shap(model: Any, X: Any, n_classes: int) -> TreeShap:
    """``n_classes`` 0: a regressor (one raw output)."""
    booster = model if type(model).__name__ == "Booster" else model.booster_
    contrib = np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)
    raw = np.asarray(booster.predict(X[:CHECK_ROWS], raw_score=True), dtype=np.float64)
    if n_classes == 0:
        return _one_output(contrib, raw, np.asarray(booster.predict(X[:CHECK_ROWS]), dtype=np.float64))
    d1 = booster.num_feature() + 1
    if contrib.shape[1] != d1:  # multiclass: the classes' (d + 1) blocks side by side
        contrib = contrib.reshape(len(contrib), -1, d1)
    return (*_per_class(contrib, raw, n_classes), "margin")


def catboost_tree_shap(model: Any, X: Any, n_classes: int, cat_features: list[int]) -> TreeShap:
    """``n_classes`` 0: a regressor (one raw output)."""
    from catboost import Pool

    pool = Pool(X, cat_features=cat_features or None)
    contrib = np.asarray(model.get_feature_importance(pool, type="ShapValues"), dtype=np.float64)
    head = Pool(X[:CHECK_ROWS], cat_features=cat_features or None)
    raw = np.asarray(model.predict(head, prediction_type="RawFormulaVal"), dtype=np.float64)
    if n_classes == 0:
        return _one_output(contrib, raw, np.asarray(model.predict(head), dtype=np.float64))
    return (*_per_class(contrib, raw, n_classes), "margin")


def sklearn_tree_shap(model: Any, X: Any, n_classes: int) -> TreeShap:
    """shap's TreeExplainer (path-dependent) on a scikit-learn tree model's raw output (``n_classes`` 0: a
    regressor, one output)."""
    import shap

    Xn = np.asarray(X, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent", model_output="raw")
        vals = ex.shap_values(Xn, check_additivity=False)
    arr = np.stack(vals, axis=-1) if isinstance(vals, list) else np.asarray(vals, dtype=np.float64)
    base = np.atleast_1d(np.asarray(ex.expected_value, dtype=np.float64)).reshape(-1)
    if n_classes == 0:  # a regressor's raw output: its prediction, or the margin a link maps to it (log for Poisson)
        contrib = np.column_stack([arr.reshape(len(arr), -1), np.full(len(arr), base[0])])
        raw = contrib[:CHECK_ROWS].sum(axis=1)  # shap's own sum: predict() below is the independent check
        predicted = np.asarray(model.predict(X[:CHECK_ROWS]), dtype=np.float64)
        out = _one_output(contrib, raw, predicted)
        if out[3] == "value":
            return (*out[:2], predicted[:, None], "value")
        with np.errstate(divide="ignore", invalid="ignore"):  # a log link: the margin is log(prediction)
            return (*out[:2], np.log(predicted)[:, None], "margin")
    if arr.ndim == 2:  # one margin (binary boosting): log-odds of the positive class
        contrib = np.column_stack([arr, np.full(len(arr), base[0])])
        margin = np.asarray(model.decision_function(X[:CHECK_ROWS]), dtype=np.float64)  # X as fitted: names kept
        return (*_per_class(contrib, margin, n_classes), "margin")
    # forests and single trees (DecisionTreeClassifier, ExtraTreeClassifier) hold class probabilities in their
    # leaves and have no decision_function: their raw output is predict_proba; boosting's is the margin
    proba = not callable(getattr(model, "decision_function", None))
    head = X[:CHECK_ROWS]
    raw = np.asarray(model.predict_proba(head) if proba else model.decision_function(head), dtype=np.float64)
    return arr, base, raw.reshape(len(raw), -1), "proba" if proba else "margin"
