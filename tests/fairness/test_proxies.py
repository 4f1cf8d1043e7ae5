"""Proxy detection: a planted proxy is found, noise is not, the column itself is left out, seeds hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from audit.errors import AuditInputError
from audit.fairness import proxy_auc


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 1500
    race = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    sex = rng.choice(["F", "M"], n)
    zip_code = np.where(race == "a", rng.integers(0, 3, n), np.where(race == "b", rng.integers(3, 6, n), rng.integers(6, 9, n)))
    X = pd.DataFrame({"zip": zip_code.astype(str), "income": rng.normal(size=n), "sex": sex})
    return X, pd.DataFrame({"race": race, "sex": sex})


def test_planted_proxy_is_found_and_noise_is_not(frame):
    X, sens = frame
    res = proxy_auc(X, sens, seed=0)
    race = res.table.loc["race"]
    assert race["proxy_auc"] > 0.99 and race["strongest_feature"] == "zip"
    # sex is independent of the other features (zip, income): close to chance
    assert abs(res.table.loc["sex", "proxy_auc"] - 0.5) < 0.06
    assert bool(res.table.loc["sex", "is_model_feature"]) and not bool(race["is_model_feature"])
    assert res.table.loc["sex", "n_features"] == 2  # sex itself is left out
    # a feature that is a deterministic function of race scores a perfect single-feature AUC
    assert res.by_feature.loc[("race", "zip"), "auc"] == pytest.approx(1.0)
    assert abs(res.by_feature.loc[("race", "income"), "auc"] - 0.5) < 0.06


def test_binary_proxy_auc_matches_scikit_learn_on_a_perfect_score():
    # when the only feature equals the (binary) column, any model ranks perfectly: AUC = roc_auc_score(y, y) = 1
    rng = np.random.default_rng(1)
    g = rng.integers(0, 2, 300)
    res = proxy_auc(pd.DataFrame({"copy": g.astype(float)}), pd.Series(g, name="g"))
    assert res.table.loc["g", "proxy_auc"] == roc_auc_score(g, g)


def test_same_seed_same_result(frame):
    X, sens = frame
    a, b = proxy_auc(X, sens, seed=3), proxy_auc(X, sens, seed=3)
    assert a.table.equals(b.table) and a.by_feature.equals(b.by_feature)


def test_rare_groups_and_bad_inputs():
    X = pd.DataFrame({"x": np.arange(40.0)})
    s = pd.Series(["a"] * 20 + ["b"] * 19 + ["c"], name="s")
    res = proxy_auc(X, s)
    assert res.table.loc["s", "n_groups"] == 2 and any("'c'" in n for n in res.notes)
    with pytest.raises(AuditInputError, match="X must be a pandas DataFrame"):
        proxy_auc(X.to_numpy(), s)
    with pytest.raises(AuditInputError, match="sensitive has 3 rows but X has 40"):
        proxy_auc(X, ["a", "b", "a"])


def test_proxy_interval_covers_like_a_bootstrap_of_the_held_out_predictions():
    """The Hanley-McNeil interval of the cross-validated AUC against a percentile bootstrap of the same predictions."""
    from sklearn.metrics import roc_auc_score

    from audit.fairness._proxies import _auc_interval

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 800)
    score = y * 0.8 + rng.normal(size=800)
    proba = np.column_stack([1 - score, score])
    auc, lo, hi = _auc_interval(y, proba)
    boots = [roc_auc_score(y[i], score[i]) for i in (rng.integers(0, 800, 800) for _ in range(400))]
    blo, bhi = np.percentile(boots, [2.5, 97.5])
    assert auc == pytest.approx(roc_auc_score(y, score))
    assert lo == pytest.approx(blo, abs=0.012) and hi == pytest.approx(bhi, abs=0.012)  # ~ a quarter of the width


def test_proxy_sample_is_stratified_and_small_groups_stay_whole():
    from audit.stats import stratified_rows

    g = np.repeat([0, 1, 2], [9_000, 900, 40])
    idx = stratified_rows(g, 3_000, seed=0)
    counts = np.bincount(g[idx])
    assert len(idx) == 3_000 and counts[2] == 40 and counts[1] == 900 and counts[0] == 2_060
    assert np.array_equal(idx, stratified_rows(g, 3_000, seed=0))  # seeded
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"f": g + rng.normal(scale=0.3, size=len(g)), "n": rng.normal(size=len(g))})
    res = proxy_auc(X, pd.Series(g.astype(str), name="grp"), max_rows=3_000, per_feature=False)
    row = res.table.loc["grp"]
    assert row["rows"] == 3_000 and row["n_groups"] == 3
    assert row["proxy_auc_low"] < row["proxy_auc"] < row["proxy_auc_high"]
    assert any("stratified on grp" in n for n in res.notes)


def test_a_missing_value_is_not_merged_with_a_real_one():
    """Group a has the value -1, group b has it missing: the feature alone separates the groups (AUC 1), which a
    fill of -1 would have hidden (AUC 0.5)."""
    g = np.repeat(["a", "b"], 200)
    X = pd.DataFrame({"f": np.where(g == "a", -1.0, np.nan), "noise": np.random.default_rng(0).normal(size=400)})
    res = proxy_auc(X, pd.Series(g, name="g"), seed=0)
    assert res.by_feature.loc[("g", "f"), "auc"] == pytest.approx(1.0)
    assert res.table.loc["g", "proxy_auc"] == pytest.approx(1.0)
