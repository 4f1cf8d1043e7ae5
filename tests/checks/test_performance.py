from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from audit.checks.performance import PerformanceCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter


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
