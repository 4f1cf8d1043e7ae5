"""group_metrics against fairlearn's MetricFrame, a hand-computed example, NaN and input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

from audit.errors import AuditInputError
from audit.fairness import GROUP_METRIC_COLUMNS, evaluate_groups, group_metrics

FNS = {
    "count": count,
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
    "precision": precision_score,
}


def _fairlearn(d, sens, weighted=False) -> pd.DataFrame:
    sp = {k: {"sample_weight": d["w"]} for k in FNS if k != "count"} if weighted else None
    mf = MetricFrame(metrics=FNS, y_true=d["y"], y_pred=d["pred"], sensitive_features=sens, sample_params=sp)
    auc = MetricFrame(metrics={"roc_auc": roc_auc_score}, y_true=d["y"], y_pred=d["score"], sensitive_features=sens,
                      sample_params={"roc_auc": {"sample_weight": d["w"]}} if weighted else None)
    return pd.concat([mf.by_group, auc.by_group], axis=1).astype(float)


@pytest.mark.parametrize("weighted", [False, True])
def test_every_metric_equals_fairlearn_on_two_columns(data, weighted):
    ours = group_metrics(data["y"], data["pred"], data["sens"], y_score=data["score"],
                         sample_weight=data["w"] if weighted else None)
    ref = _fairlearn(data, data["sens"], weighted)
    assert list(ours.columns) == list(GROUP_METRIC_COLUMNS)
    assert isinstance(ours.index, pd.MultiIndex) and list(ours.index.names) == ["race", "sex"]
    assert list(ours.index) == list(ref.index)
    np.testing.assert_allclose(ours.to_numpy(float), ref[list(GROUP_METRIC_COLUMNS)].to_numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["series", "array", "frame"])
def test_single_feature_inputs_equal_fairlearn(data, kind):
    race = data["sens"]["race"]
    sens = {"series": race, "array": race.to_numpy(), "frame": race.to_frame()}[kind]
    ours = group_metrics(data["y"], data["pred"], sens)
    ref = MetricFrame(metrics=FNS, y_true=data["y"], y_pred=data["pred"], sensitive_features=sens).by_group
    assert ours.index.name == ref.index.name
    np.testing.assert_allclose(ours.to_numpy(float), ref.to_numpy(float), atol=1e-12)


def test_hand_computed_confusion_matrix():
    # group a: y = 1 1 1 0 0, pred = 1 0 1 1 0 -> tp 2, fn 1, fp 1, tn 1
    # group b: y = 1 0 0 0,   pred = 0 0 0 1   -> tp 0, fn 1, fp 1, tn 2
    y = [1, 1, 1, 0, 0, 1, 0, 0, 0]
    p = [1, 0, 1, 1, 0, 0, 0, 0, 1]
    g = ["a"] * 5 + ["b"] * 4
    t = group_metrics(y, p, g)
    expect = {
        "a": [5, 3 / 5, 3 / 5, 2 / 3, 1 / 2, 1 / 3, 1 / 2, 2 / 3],
        "b": [4, 1 / 4, 2 / 4, 0 / 1, 1 / 3, 1 / 1, 2 / 3, 0 / 1],
    }
    for grp, vals in expect.items():
        np.testing.assert_allclose(t.loc[grp].to_numpy(float), vals, atol=1e-12)


def test_undefined_metrics_are_nan_with_notes():
    # group b has no actual positives and no predicted positives; group c has no negatives
    y = [1, 0, 1, 0, 0, 0, 1, 1]
    p = [1, 1, 0, 0, 0, 0, 1, 0]
    g = ["a", "a", "a", "a", "b", "b", "c", "c"]
    s = [0.9, 0.8, 0.2, 0.1, 0.3, 0.4, 0.7, 0.6]
    res = evaluate_groups(y, p, g, y_score=s)
    t = res.table
    assert np.isnan(t.loc["b", "true_positive_rate"]) and np.isnan(t.loc["b", "false_negative_rate"])
    assert np.isnan(t.loc["b", "precision"]) and np.isnan(t.loc["b", "roc_auc"])
    assert np.isnan(t.loc["c", "false_positive_rate"]) and np.isnan(t.loc["c", "true_negative_rate"])
    assert t.loc["b", "false_positive_rate"] == 0.0 and t.loc["c", "true_positive_rate"] == 0.5
    assert t.loc["a", "roc_auc"] == roc_auc_score([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1])
    joined = " ".join(res.notes)
    assert "true_positive_rate is undefined (NaN) for 'b': no actual positives" in joined
    assert "precision is undefined (NaN) for 'b': no predicted positives" in joined
    assert "false_positive_rate is undefined (NaN) for 'c': no actual negatives" in joined
    assert res.small.all() and "3 group(s) under 30 rows" in joined


def test_mismatched_lengths_name_the_argument():
    with pytest.raises(AuditInputError, match=r"y_pred has 3 rows but y_true has 4"):
        group_metrics([0, 1, 0, 1], [0, 1, 0], ["a", "a", "b", "b"])
    with pytest.raises(AuditInputError, match=r"sensitive has 5 rows but y_true has 4"):
        group_metrics([0, 1, 0, 1], [0, 1, 0, 1], ["a", "a", "b", "b", "b"])
    with pytest.raises(AuditInputError, match=r"y_score has 2 rows"):
        group_metrics([0, 1, 0, 1], [0, 1, 0, 1], ["a", "a", "b", "b"], y_score=[0.1, 0.2])
    with pytest.raises(AuditInputError, match=r"sample_weight has 1 rows"):
        group_metrics([0, 1, 0, 1], [0, 1, 0, 1], ["a", "a", "b", "b"], sample_weight=[1.0])


def test_non_binary_labels_are_rejected():
    with pytest.raises(AuditInputError, match=r"y_true must hold binary labels 0/1"):
        group_metrics([0, 1, 2], [0, 1, 1], ["a", "b", "b"])
    with pytest.raises(AuditInputError, match=r"y_pred must hold binary labels 0/1"):
        group_metrics([0, 1, 1], ["no", "yes", "yes"], ["a", "b", "b"])


def test_missing_sensitive_values_form_their_own_group():
    t = group_metrics([1, 0, 1, 0], [1, 0, 0, 0], pd.Series(["a", None, "a", None], name="g"))
    assert list(t.index) == ["<missing>", "a"]
    assert t.loc["<missing>", "count"] == 2
