from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from audit.checks.overfitting import OverfittingCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.errors import AuditInputError
from audit.health import overfitting, training_history
from audit.model import ModelAdapter


def test_gaps_match_sklearn_and_are_positive_when_train_is_better():
    rng = np.random.default_rng(0)
    yt, yv = rng.integers(0, 3, 200), rng.integers(0, 3, 150)
    pt = np.eye(3)[yt] * 0.7 + 0.1  # confident and right on train
    pv = rng.dirichlet(np.ones(3), 150)  # noise on test
    r = overfitting(yt, pt, yv, pv)
    acc_t, acc_v = skm.accuracy_score(yt, pt.argmax(1)), skm.accuracy_score(yv, pv.argmax(1))
    assert r.accuracy_gap == pytest.approx(acc_t - acc_v) and r.accuracy_gap > 0
    ll = skm.log_loss(yv, pv, labels=[0, 1, 2]) - skm.log_loss(yt, pt, labels=[0, 1, 2])
    assert r.log_loss_gap == pytest.approx(ll) and r.log_loss_gap > 0
    assert r.table.loc["balanced_accuracy", "train"] == pytest.approx(skm.balanced_accuracy_score(yt, pt.argmax(1)))


def test_history_divergence_and_best_epoch():
    diverging = {"loss": [1.0, 0.8, 0.6, 0.5, 0.4, 0.3], "val_loss": [1.0, 0.8, 0.7, 0.72, 0.75, 0.8]}
    r = overfitting(history=diverging)
    assert r.diverging is True and r.best_epoch == 3 and r.epochs_since_best == 3
    healthy = pd.DataFrame({"epoch": [10, 20, 30, 40], "train_loss": [1.0, 0.8, 0.7, 0.65], "valid_loss": [1.1, 0.9, 0.8, 0.78]})
    h = overfitting(history=healthy)
    assert h.diverging is False and h.best_epoch == 40 and h.epochs_since_best == 0
    assert list(h.history.index) == [10, 20, 30, 40]
    # a noisy plateau (val ends where it started) is not divergence
    flat = {"train_loss": [0.5, 0.45, 0.44, 0.43], "val_loss": [0.60, 0.59, 0.61, 0.60]}
    assert overfitting(history=flat).diverging is False
    short = overfitting(history={"loss": [1.0, 0.9], "val_loss": [1.0, 1.1]})
    assert short.diverging is None and any("fewer than 4 epochs" in n for n in short.notes)


def test_history_aliases_and_errors():
    assert training_history({"training_loss": [1, 2], "eval_loss": [1, 2], "acc": [0.5, 0.6]}).columns.tolist() == [
        "train_loss", "val_loss", "acc"]
    with pytest.raises(AuditInputError, match="validation loss column"):
        training_history({"accuracy": [0.5, 0.6]})
    with pytest.raises(AuditInputError, match="one value per epoch"):
        training_history({"loss": [1, 2], "val_loss": [1]})
    with pytest.raises(AuditInputError, match="all of"):
        overfitting(np.array([0, 1]), None, None, None)


def _frames(seed: int = 0, n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, 2))
    y = (x[:, 0] + rng.normal(0, 1.0, 2 * n) > 0).astype(int)  # noisy labels: memorising them overfits
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y})
    return df.iloc[:n].reset_index(drop=True), df.iloc[n:].reset_index(drop=True)


def _ctx(model, train, test, **options) -> AuditContext:
    model.fit(train[["a", "b"]], train["y"])
    return AuditContext(model=ModelAdapter(model), data=load_data(test, target="y"), train=load_data(train, target="y"),
                        options=options)


def test_check_flags_memorising_model_and_passes_simple_one(judge):
    train, test = _frames()
    s = OverfittingCheck().run(_ctx(KNeighborsClassifier(n_neighbors=1), train, test))
    assert s.result.table.loc["accuracy", "train"] == 1.0
    assert {"overfitting.accuracy_gap", "overfitting.log_loss_gap"} <= judge(OverfittingCheck, s)
    good = OverfittingCheck().run(_ctx(LogisticRegression(), train, test))
    assert judge(OverfittingCheck, good) == set()
    assert "No strong sign" in good.summary and not good.figures


def test_check_with_history_plots_it_and_skips_without_anything(tabular_frame, judge):
    train, test = _frames()
    hist = {"loss": [1.0, 0.8, 0.6, 0.5, 0.4], "val_loss": [1.0, 0.8, 0.82, 0.85, 0.9], "val_accuracy": [0.5, 0.6, 0.6, 0.6, 0.59]}
    s = OverfittingCheck().run(_ctx(LogisticRegression(), train, test, history=hist))
    assert s.metric("overfitting.history_diverging").value == 1.0
    assert "overfitting.history_diverging" in judge(OverfittingCheck, s)
    assert s.figures[0].title == "Training history" and "Training history" in s.tables
    ctx = AuditContext(model=ModelAdapter(lambda X: np.full(len(X), 0.4)), data=load_data(tabular_frame, target="y"))
    assert "train" in OverfittingCheck().skip_reason(ctx)
