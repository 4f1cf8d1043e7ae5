"""The black-box random-search attack: exact on linear models, valid rows on trees, wired into the check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from audit import audit
from audit.errors import AuditInputError
from audit.robustness import random_search, random_search_curve


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (x @ np.array([1.0, -0.5, 0.8, 0.3]) + rng.normal(scale=0.5, size=400) > 0).astype(int)
    return LogisticRegression().fit(x, y), x, y


def test_linear_model_robust_accuracy_is_the_analytic_one(linear):
    """For a linear classifier the smallest L-inf change that flips a row is |w.x + b| / ||w||_1; the attack
    must find every such flip inside eps and can find no other."""
    clf, x, y = linear
    w, b = clf.coef_[0], clf.intercept_[0]
    dist = np.abs(x @ w + b) / np.abs(w).sum()
    correct = clf.predict(x) == y
    eps = [0.05, 0.1, 0.3]
    curve = random_search_curve(clf.predict_proba, x, y, eps, queries=200, seed=0)
    for e, r in zip(eps, curve.results):
        expected = np.mean(correct & (dist > e))
        assert r.robust_accuracy == pytest.approx(expected, abs=1 / len(y)), e
        assert (r.perturbation <= e + 1e-12).all()
    assert curve.table["robust_accuracy"].is_monotonic_decreasing


def test_tree_attack_gives_valid_rows_the_model_really_misclassifies():
    rng = np.random.default_rng(1)
    n = 500
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 10, n).astype(float), rng.uniform(0, 1, n), rng.normal(size=n)])
    y = ((x[:, 0] + 0.3 * x[:, 1] - 2 * x[:, 2]) > 0.8).astype(int)
    clf = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(x, y)
    lo, hi = x.min(axis=0), x.max(axis=0)
    scale = x.std(axis=0)
    mask = np.array([1.0, 1.0, 1.0, 0.0])  # the last feature is frozen (e.g. sensitive)
    integer = np.array([False, True, False, False])
    r = random_search(clf.predict_proba, x, y, eps=0.5, bounds=(lo, hi), mask=mask, scale=scale, integer=integer, seed=3)
    xa = r.x_adv.numpy()
    assert r.robust_accuracy < r.clean_accuracy
    np.testing.assert_array_equal(clf.predict(xa), r.pred_adv)
    assert (r.success == (clf.predict(xa) != y)).all()
    assert (np.abs(xa - x) <= 0.5 * scale + 1e-9).all()
    assert ((xa >= lo - 1e-12) & (xa <= hi + 1e-12)).all()
    np.testing.assert_array_equal(xa[:, 3], x[:, 3])
    np.testing.assert_array_equal(xa[:, 1], np.round(xa[:, 1]))
    again = random_search(clf.predict_proba, x, y, eps=0.5, bounds=(lo, hi), mask=mask, scale=scale, integer=integer, seed=3)
    np.testing.assert_array_equal(again.x_adv.numpy(), xa)


def test_bad_input_is_named():
    f = lambda z: np.tile([0.5, 0.5], (len(z), 1))  # noqa: E731
    with pytest.raises(AuditInputError, match="y must have one label per row of x: x has 3 rows"):
        random_search(f, np.zeros((3, 2)), [0, 1], eps=0.1)
    with pytest.raises(AuditInputError, match="eps must be a finite number >= 0"):
        random_search(f, np.zeros((3, 2)), [0, 1, 0], eps=-1)
    with pytest.raises(AuditInputError, match="mask must be a scalar or have one value per feature"):
        random_search(f, np.zeros((3, 2)), [0, 1, 0], eps=0.1, mask=[1, 0, 1])


def test_check_attacks_a_dataframe_pipeline_and_keeps_categorical_and_sensitive_columns():
    rng = np.random.default_rng(2)
    n = 600
    df = pd.DataFrame({
        "income": rng.normal(50, 15, n).round(1),
        "years": rng.integers(0, 30, n),
        "kind": rng.choice(["a", "b", "c"], n),
        "group": rng.choice(["g1", "g2"], n),
    })
    df["y"] = ((df["income"] - 50) / 15 + 0.05 * df["years"] + (df["kind"] == "a") + rng.normal(scale=0.5, size=n) > 0.8).astype(int)
    feats = ["income", "years", "kind", "group"]
    pre = ColumnTransformer([("cat", OneHotEncoder(), ["kind", "group"])], remainder="passthrough")
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(df[feats], df["y"])
    rep = audit(model, df, target="y", sensitive=["group"], features=feats, checks=["robustness"], progress=False,
                policy={"robustness.random_search.linf.accuracy@0.5": {"min": 0.0}})
    sec = rep.sections["robustness"]
    assert sec.status == "ok", sec.reason
    curve = sec.curves[0]
    assert curve.attack == "random_search"
    acc = sec.metric("robustness.random_search.linf.accuracy@0.5").value
    assert acc == pytest.approx(curve.result(0.5).robust_accuracy) and acc < curve.result(0.5).clean_accuracy
    # the group gap is the spread of robust accuracy between the two groups of the attacked rows
    robust = pd.Series(~curve.result(0.1).success).groupby(df["group"].to_numpy()[sec.rows]).mean()
    gap = sec.metric("robustness.random_search.linf.group_gap@0.1")
    worst = sec.groups.overall.loc["random_search.linf@0.1"]
    assert worst["plug_in"] == pytest.approx(robust.max() - robust.min())
    assert gap.low <= gap.value <= gap.high and f"plug-in max - min: {worst['plug_in']:.4g}" in gap.description
    perturbed = sec.tables["Perturbed inputs"].set_index("column")["perturbed"].to_dict()
    assert perturbed == {"income": True, "years": True, "kind": False, "group": False}
    # decoded adversarial rows: categorical and sensitive columns untouched, integers still integers, and the
    # Pipeline's own predictions on them are what the attack reported
    from audit.space import FrameCodec

    codec = FrameCodec.fit([df[feats]])
    adv = codec.decode(curve.result(0.5).x_adv.numpy())
    rows = df[feats].iloc[sec.rows].reset_index(drop=True)
    assert (adv["kind"] == rows["kind"]).all() and (adv["group"] == rows["group"]).all()
    assert (adv["years"] == adv["years"].round()).all()
    assert (np.abs(adv["years"] - rows["years"]) <= 0.5 * df["years"].std(ddof=0) + 1e-9).all()
    np.testing.assert_array_equal(model.predict(adv), curve.result(0.5).pred_adv)
    assert [f.metric for f in rep.findings] == ["robustness.random_search.linf.accuracy@0.5"]


def test_black_box_is_as_strong_as_white_box_pgd_on_an_mlp(mlp, blobs):
    """Without gradients, the search should still find about what PGD-20 finds on the same model and eps."""
    import torch

    from audit.model import ModelAdapter
    from audit.robustness import robustness_curve

    x, y = blobs
    adapter = ModelAdapter(mlp)
    eps = [0.05, 0.1, 0.2]
    white = robustness_curve(adapter, x, y, eps, steps=20, bounds=(torch.tensor(0.0), torch.tensor(1.0)))
    black = random_search_curve(adapter.predict_proba, x.numpy(), y.numpy(), eps, bounds=(0.0, 1.0), queries=200)
    for w, b in zip(white.results, black.results):
        assert b.clean_accuracy == w.clean_accuracy
        assert abs(b.robust_accuracy - w.robust_accuracy) <= 0.05, (w.eps, w.robust_accuracy, b.robust_accuracy)
    assert black.results[-1].robust_accuracy < black.results[0].clean_accuracy


def test_missing_cells_stay_missing_and_count_as_no_change():
    """A missing cell (NaN, for a model that takes it) is never moved: x_adv keeps NaN exactly there, the other
    cells of the row still move, and the perturbation size (in the other cells) stays finite and within eps."""
    w = np.array([1.0, -2.0])

    def f(z):  # a model that reads a missing first feature as 0 (as an imputer would)
        s = np.nan_to_num(z[:, 0], nan=0.0) * w[0] + z[:, 1] * w[1]
        return np.stack([1 / (1 + np.exp(s)), 1 / (1 + np.exp(-s))], axis=1)

    x = np.array([[np.nan, -0.05], [0.3, 0.0], [np.nan, -0.5]])
    r = random_search(f, x, [1, 1, 1], eps=0.1)
    x_adv = r.x_adv.numpy()
    assert np.array_equal(np.isnan(x_adv), np.isnan(x))
    assert np.isfinite(r.perturbation).all() and (r.perturbation <= 0.1 + 1e-12).all()
    # row 0: margin 0.1 flips by moving the observed feature alone (|0.1| / |w_1| = 0.05 <= eps);
    # row 2: margin 1.0 needs 0.5 > eps: it stands
    assert r.success.tolist() == [True, True, False]
