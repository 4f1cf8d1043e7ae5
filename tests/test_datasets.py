"""Bundled data sets against their published row and label counts (ProPublica, UCI), read offline."""

from __future__ import annotations

import numpy as np
import pytest

from audit.datasets import load_adult, load_compas, load_digits, load_german

#: outcome and score columns a two_year_recid model must not see (shared/data/README.md)
COMPAS_LEAKAGE_PREFIXES = ("decile_score", "score_text", "v_", "is_recid", "r_", "vr_", "violent_recid", "event", "start", "end")


def test_compas_matches_propublica_filter_counts():
    d = load_compas()
    f = d.frame
    # ProPublica's analysis (2016): 6,172 defendants after the filter, 3,175 African-American and
    # 2,103 Caucasian, 2,809 recidivated within two years
    assert len(f) == 6172
    assert f["race"].value_counts()[["African-American", "Caucasian"]].tolist() == [3175, 2103]
    assert int(f["two_year_recid"].sum()) == 2809 and set(f["two_year_recid"].unique()) == {0, 1}
    assert not [c for c in d.features if c.startswith(COMPAS_LEAKAGE_PREFIXES)]
    assert d.target not in d.features and set(d.sensitive) <= set(f.columns)
    scored = load_compas(include_score=True).frame
    assert scored["decile_score"].between(1, 10).all() and "decile_score" not in d.frame.columns


def test_adult_matches_uci_counts_and_cleans_the_test_file():
    train, test = load_adult("train"), load_adult("test")
    # UCI: 32,561 + 16,281 rows; 7,841 and 3,846 earn >50K (the test file writes ">50K." with a dot)
    assert (len(train.frame), int(train.frame["income"].sum())) == (32561, 7841)
    assert (len(test.frame), int(test.frame["income"].sum())) == (16281, 3846)
    assert len(load_adult().frame) == 32561 + 16281
    # '?' marks 1,836 workclass, 1,843 occupation and 583 native_country values in the training file
    unknown = (train.frame[["workclass", "occupation", "native_country"]] == "Unknown").sum().tolist()
    assert unknown == [1836, 1843, 583]
    assert "fnlwgt" not in train.features and set(train.categorical) <= set(train.features)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        load_adult("validation")


def test_german_credit_maps_codes_and_derives_sensitive_columns():
    d = load_german()
    f = d.frame
    # UCI Statlog: 1,000 applicants, 700 good risks; attribute 9 code A92 (female) on 310 rows
    assert (len(f), int(f["good_credit"].sum())) == (1000, 700)
    assert (f["sex"] == "female").sum() == 310
    assert ((f["age"] < 25) == (f["age_group"] == "<25")).all()
    assert not f["status"].str.startswith("A1").any()  # codes like A11 are mapped to readable values
    assert d.target == "good_credit" and "good_credit" not in d.features


def test_digits_are_sklearn_digits_scaled_to_unit_range():
    from sklearn.datasets import load_digits as sk_digits

    X, y = load_digits()
    ref = sk_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 0] * 16.0, ref.images, atol=1e-5)
    np.testing.assert_array_equal(y, ref.target)
    assert X.min() == 0.0 and X.max() == 1.0
