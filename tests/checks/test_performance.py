from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from audit.checks.performance import PerformanceCheck, classification_metrics
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter


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


def test_confusion_matrix_by_hand_and_train_gap(tabular_frame):
    # hand-made labels-only model: predicts 1 exactly when x1 > 0
    y = tabular_frame["y"].to_numpy()
    pred = (tabular_frame["x1"].to_numpy() > 0).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    model = lambda X: (X["x1"].to_numpy() > 0).astype(int)  # noqa: E731
    train = tabular_frame.sample(frac=0.5, random_state=0)
    ctx = AuditContext(
        model=ModelAdapter(model),
        data=load_data(tabular_frame, target="y", features=["x1", "x2"]),
        train=load_data(train, target="y", features=["x1", "x2"]),
    )
    s = PerformanceCheck().run(ctx)
    cm = s.tables["Confusion matrix"].to_numpy()
    assert cm.tolist() == [[tn, fp], [fn, tp]]
    assert s.metric("performance.accuracy").value == pytest.approx((tp + tn) / len(y))
    train_acc = ((train["x1"] > 0).astype(int) == train["y"]).mean()
    assert s.metric("performance.train_test_gap.accuracy").value == pytest.approx(train_acc - (tp + tn) / len(y))
    assert any("hard labels" in n for n in s.notes)


def test_skipped_without_labels(tabular_frame):
    clf = LogisticRegression().fit(tabular_frame[["x1", "x2"]], tabular_frame["y"])
    ctx = AuditContext(model=ModelAdapter(clf), data=load_data((tabular_frame[["x1", "x2"]], None)))
    assert PerformanceCheck().skip_reason(ctx) == "the data has no labels"
