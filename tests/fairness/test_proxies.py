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
