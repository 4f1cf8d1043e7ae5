"""The headline classification metrics against scikit-learn, and their intervals against a plain row-resampling
bootstrap with scikit-learn's metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from audit.stats import classification_metrics, metric_intervals


def test_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.uniform(0, 0.4, 200), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    m = classification_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, proba.argmax(1)))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_multiclass_auc_is_one_vs_rest():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet(np.ones(3), 300)
    m = classification_metrics(y, proba)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))


def test_labels_only_model_has_undefined_auc():
    m = classification_metrics(np.array([0, 1, 1, 0]), np.eye(2)[[0, 1, 0, 0]], has_scores=False)
    assert m["accuracy"] == 0.75 and np.isnan(m["roc_auc"]) and np.isnan(m["log_loss"])


def _data(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def _loop(y, p, n_boot, seed):
    rng = np.random.default_rng(seed)
    n, k = p.shape
    out = {m: [] for m in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss")}
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        yy, pp = y[i], p[i]
        out["accuracy"].append(skm.accuracy_score(yy, pp.argmax(1)))
        out["balanced_accuracy"].append(skm.balanced_accuracy_score(yy, pp.argmax(1)))
        if k == 2:
            out["roc_auc"].append(skm.roc_auc_score(yy, pp[:, 1]))
        out["log_loss"].append(skm.log_loss(yy, pp, labels=np.arange(k)))
    return {m: np.quantile(v, [0.025, 0.975]) for m, v in out.items() if v}


@pytest.mark.parametrize("k", [2, 3])
def test_intervals_match_a_row_bootstrap_loop(k):
    y, p = _data(600, k, seed=k)
    ours = metric_intervals(y, p, n_boot=2000, seed=0)
    ref = _loop(y, p, 800, seed=1)
    for m, (lo, hi) in ref.items():
        half = (hi - lo) / 2
        # two independent bootstraps: bounds agree within sampling noise (a fraction of the half-width)
        assert abs(ours.loc[m, "low"] - lo) < 0.25 * half and abs(ours.loc[m, "high"] - hi) < 0.25 * half, (m, ours.loc[m].tolist(), lo, hi)
    if k == 3:
        assert ours.loc["roc_auc"].isna().all()  # multiclass AUC: no interval, said in the docs


def test_seeded_and_label_only_and_undefined():
    y, p = _data(300, 2, seed=5)
    a, b = metric_intervals(y, p, seed=3), metric_intervals(y, p, seed=3)
    assert a.equals(b) and not a.equals(metric_intervals(y, p, seed=4))
    labels_only = metric_intervals(y, p, has_scores=False)
    assert labels_only.loc[["roc_auc", "log_loss"]].isna().all().all() and labels_only.loc["accuracy"].notna().all()
    one_class = metric_intervals(np.ones(50, int), p[:50])
    assert one_class.loc["roc_auc"].isna().all()


def test_performance_metrics_carry_the_intervals():
    from sklearn.linear_model import LogisticRegression

    from audit import audit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.normal(scale=1.0, size=400) > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    rep = audit(clf, (X, y), checks=["performance"], progress=False,
                policy={"performance.accuracy": {"min": float(clf.score(X, y)) - 0.01}})
    m = rep.sections["performance"].metric("performance.accuracy")
    assert m.low < m.value < m.high
    # the bound lies inside the interval: not a pass, not a fail
    assert rep.findings[0].status == "inconclusive" and "straddles" in rep.findings[0].message
