"""Text fairness: identity groups in text, subgroup / BPSN / BNSP AUCs (Borkan et al., 2019) and identity swaps.

References: scikit-learn's ``roc_auc_score`` on hand-built subsets, a brute-force row bootstrap, scipy's Wilson
interval, word-by-word swaps on space-separated texts and a model called text by text.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from audit.errors import AuditInputError
from audit.fairness import (
    BIAS_AUC_METRICS,
    bias_aucs,
    default_identity_terms,
    identity_groups,
    identity_swaps,
    swap_terms,
)

GENDER = {"gender": {"female": ["she", "her", "woman"], "male": ["he", "his", "man"]}}


def _aucs_data(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = rng.random(n) < 0.3
    b = rng.random(n) < 0.2  # overlaps a
    score = np.round(y + rng.normal(0, 0.8, n) + np.where(a & (y == 0), 0.6, 0.0), 1)  # rounded: many ties
    return y, score, {"a": a, "b": b}


def _reference(y, score, s):
    """The three AUCs by their definitions, with scikit-learn."""
    sets = {"subgroup_auc": s, "bpsn_auc": (~s & (y == 1)) | (s & (y == 0)),
            "bnsp_auc": (~s & (y == 0)) | (s & (y == 1))}
    return {m: roc_auc_score(y[rows], score[rows]) for m, rows in sets.items()}


# --------------------------------------------------------------------------------------------- identity groups
def test_default_terms_cover_six_families_and_a_dozen_groups():
    terms = default_identity_terms()
    assert set(terms) == {"gender", "religion", "race_ethnicity", "nationality", "sexual_orientation", "age"}
    groups = [g for fam in terms.values() for g in fam]
    assert len(groups) >= 12 and len(set(groups)) == len(groups)
    assert all(len(fam) >= 2 for fam in terms.values())


def test_identity_groups_match_a_word_by_word_reference():
    terms = default_identity_terms()
    single = {f: {g: [w for w in ws if " " not in w] for g, ws in fam.items()} for f, fam in terms.items()}
    vocab = [w for fam in single.values() for ws in fam.values() for w in ws] + ["shepherd", "he's", "mankind", "the"]
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(vocab, 4)).capitalize() + "." for _ in range(300)]
    got = identity_groups(texts, single)
    for fam in single.values():
        for g, ws in fam.items():
            ref = [bool(set(re.findall(r"\w+", t.lower())) & set(ws)) for t in texts]
            assert got[g].tolist() == ref, g
    assert got.attrs["families"]["female"] == "gender"


def test_identity_groups_whole_words_any_case_and_multiword_terms():
    got = identity_groups(["An African-American woman", "african  american", "Africans", "SHE", "shepherd's"])
    assert got["black"].tolist() == [True, True, False, False, False]
    assert got["female"].tolist() == [True, False, False, True, False]
    assert got.dtypes.eq(bool).all() and len(got.columns) == 17


def test_bad_terms_and_texts_fail_early():
    with pytest.raises(AuditInputError, match="family -> group -> list"):
        identity_groups(["x"], {"gender": ["woman"]})
    with pytest.raises(AuditInputError, match="unique across families"):
        identity_groups(["x"], {"a": {"g": ["x"], "h": ["y"]}, "b": {"g": ["z"]}})
    with pytest.raises(AuditInputError, match="row 1"):
        identity_groups(["x", None], GENDER)
    with pytest.raises(AuditInputError, match="single string"):
        identity_groups("she", GENDER)


# --------------------------------------------------------------------------------------------------- bias AUCs
def test_bias_aucs_equal_sklearn_on_hand_built_subsets():
    y, score, groups = _aucs_data()
    r = bias_aucs(y, score, pd.DataFrame(groups), n_boot=50)
    for g, s in groups.items():
        ref = _reference(y, score, s)
        for m in BIAS_AUC_METRICS:
            assert r.aucs.loc[(g, m), "auc"] == pytest.approx(ref[m], abs=1e-12)
    assert r.summary.loc["overall_auc", "value"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    a = groups["a"]
    assert r.aucs.loc[("a", "bpsn_auc"), ["n_pos", "n_neg"]].tolist() == [int((~a & (y == 1)).sum()),
                                                                          int((a & (y == 0)).sum())]
    assert r.aucs.loc[("a", "bpsn_auc"), "auc"] < 0.75 < r.aucs.loc[("a", "bnsp_auc"), "auc"]  # the planted bias
    # (n, 2) probabilities are read as their positive column
    r2 = bias_aucs(y, np.c_[1 - score, score], groups, n_boot=0)
    assert np.allclose(r2.aucs["auc"], r.aucs["auc"]) and r2.aucs["low"].isna().all()


def test_bias_auc_intervals_agree_with_a_brute_force_row_bootstrap():
    y, score, groups = _aucs_data(n=500, seed=3)
    s = groups["a"]
    r = bias_aucs(y, score, groups, n_boot=1000, seed=0)
    rng = np.random.default_rng(7)
    draws = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        draws.append(list(_reference(y[i], score[i], s[i]).values()))
    lo, hi = np.quantile(np.array(draws), [0.025, 0.975], axis=0)
    for j, m in enumerate(BIAS_AUC_METRICS):
        row = r.aucs.loc[("a", m)]
        assert row["low"] == pytest.approx(lo[j], abs=0.02) and row["high"] == pytest.approx(hi[j], abs=0.02), m
        assert row["low"] < row["auc"] < row["high"]
    again = bias_aucs(y, score, groups, n_boot=1000, seed=0)
    pd.testing.assert_frame_equal(r.aucs, again.aucs)  # seeded


def test_undefined_aucs_small_groups_and_the_power_mean():
    y, score, groups = _aucs_data()
    only_pos = (y == 1) & (np.arange(len(y)) < 100)
    tiny = np.arange(len(y)) < 10
    r = bias_aucs(y, score, {**groups, "only_pos": only_pos, "tiny": tiny}, n_boot=100)
    row = r.aucs.loc[("only_pos", "subgroup_auc")]
    assert math.isnan(row["auc"]) and math.isnan(row["low"]) and "no subgroup negatives" in row["note"]
    assert math.isnan(r.aucs.loc[("only_pos", "bpsn_auc"), "auc"])
    bnsp = (~only_pos & (y == 0)) | only_pos
    assert r.aucs.loc[("only_pos", "bnsp_auc"), "auc"] == pytest.approx(roc_auc_score(y[bnsp], score[bnsp]), abs=1e-12)
    assert any("only_pos: subgroup_auc undefined" in n for n in r.notes)
    assert r.groups.loc["tiny", "small"] and not r.groups.loc["a", "small"]
    for m in BIAS_AUC_METRICS:  # over a, b and (where defined) only_pos; never tiny
        vals = r.aucs.xs(m, level="metric").drop("tiny")["auc"].dropna().to_numpy()
        pm = r.summary.loc[f"power_mean_{m}"]
        assert pm["value"] == pytest.approx(np.mean(vals ** -5.0) ** (-1 / 5), abs=1e-12)
        assert pm["n_groups"] == len(vals) and pm["low"] <= pm["value"] <= pm["high"]
        assert r.summary.loc[f"min_{m}", "value"] == pytest.approx(vals.min(), abs=1e-12)


def test_bias_aucs_bad_groups_fail_early():
    y, score, groups = _aucs_data()
    with pytest.raises(AuditInputError, match=r"groups\['a'\] has 5 rows"):
        bias_aucs(y, score, {"a": groups["a"][:5]})
    with pytest.raises(AuditInputError, match="True/False"):
        bias_aucs(y, score, {"a": np.where(groups["a"], "yes", "no")})
    with pytest.raises(AuditInputError, match="dict of group name"):
        bias_aucs(y, score, groups["a"])


# ------------------------------------------------------------------------------------------------------- swaps
def _she_model(batch):
    p = np.array([0.7 if "she" in re.findall(r"\w+", t.lower()) else 0.4 for t in batch])
    return np.c_[1 - p, p]


def test_swap_terms_keeps_case_and_pairs_by_position():
    assert swap_terms("She saw HER Woman; shed", *GENDER["gender"].values()) == "He saw HIS Man; shed"
    terms = default_identity_terms()["race_ethnicity"]
    assert swap_terms("An African-American man", terms["black"], terms["white"]) == "An Caucasian man"
    assert swap_terms("gay lesbian", ["gay", "homosexual", "lesbian"], ["straight", "heterosexual"]) == \
        "straight straight"  # the 3rd term -> the (2 mod 2) = 1st


def test_identity_swaps_hand_computed_on_a_tiny_model():
    texts = ["she is here", "She left", "her cat", "he is here", "his dog", "nothing"]
    r = identity_swaps(_she_model, texts, GENDER, n_boot=200)
    fm, mf = r.pairs.loc[("gender", "female", "male")], r.pairs.loc[("gender", "male", "female")]
    # female -> male: two 'she' texts fall 0.7 -> 0.4 (both flip at 0.5), 'her cat' stays at 0.4
    assert fm["n_texts"] == 3 and fm["flips"] == 2
    assert fm["mean_change"] == pytest.approx(-0.2, abs=1e-12) and fm["mean_abs_change"] == pytest.approx(0.2)
    # male -> female: 'he is here' -> 'she is here' rises 0.3 and flips, 'his dog' -> 'her dog' does not
    assert mf["n_texts"] == 2 and mf["flips"] == 1 and mf["mean_change"] == pytest.approx(0.15, abs=1e-12)
    lo, hi = binomtest(2, 3).proportion_ci(0.95, method="wilson")
    assert (fm["flip_low"], fm["flip_high"]) == pytest.approx((lo, hi), abs=1e-5)
    fam = r.families.loc["gender"]
    assert fam["max_flip_rate"] == pytest.approx(2 / 3) and (fam["flip_from"], fam["flip_to"]) == ("female", "male")
    assert fam["max_abs_score_change"] == pytest.approx(0.2) and fam["n_texts"] == 5 and r.n_texts == 5
    assert r.variants.set_index("text").loc["She left", "swapped"] == "He left"
    # 5 originals and 3 new variants ('he is here' -> 'she is here' is an original, scored once)
    assert r.n_queries == 8 and r.n_calls == 1


def test_identity_swaps_equal_a_text_by_text_loop_on_a_fitted_pipeline():
    rng = np.random.default_rng(0)
    words = ["she", "he", "her", "his", "woman", "man", "good", "bad", "fine", "work", "late", "kind"]
    texts = [" ".join(rng.choice(words, 5)) for _ in range(300)]
    y = [int(("she" in t.split()) + ("good" in t.split()) + rng.random() > 1) for t in texts]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, y)
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return model.predict_proba(batch)

    r = identity_swaps(predict, texts, GENDER, n_boot=300, batch_size=64)
    assert max(calls) <= 64 and r.n_calls == len(calls) == math.ceil(r.n_queries / 64)
    f, m = GENDER["gender"]["female"], GENDER["gender"]["male"]
    for a, b, mapping in (("female", "male", dict(zip(f, m))), ("male", "female", dict(zip(m, f)))):
        hit = [t for t in texts if set(t.split()) & set(mapping)]
        swapped = [" ".join(mapping.get(w, w) for w in t.split()) for t in hit]
        p0 = np.array([model.predict_proba([t])[0, 1] for t in hit])
        p1 = np.array([model.predict_proba([t])[0, 1] for t in swapped])
        row = r.pairs.loc[("gender", a, b)]
        assert row["n_texts"] == len(hit) and row["flips"] == int(((p0 > 0.5) != (p1 > 0.5)).sum())
        d = p1 - p0
        assert row["mean_change"] == pytest.approx(d.mean(), abs=1e-9)
        assert row["mean_abs_change"] == pytest.approx(np.abs(d).mean(), abs=1e-9)
        half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))  # the bootstrap interval is close to the normal one
        assert row["change_low"] == pytest.approx(d.mean() - half, abs=0.3 * half)
        assert row["change_high"] == pytest.approx(d.mean() + half, abs=0.3 * half)
    assert r.pairs.loc[("gender", "female", "male"), "mean_change"] < 0  # 'she' raises the score


def test_identity_swaps_max_texts_sample_and_bad_output():
    texts = [f"she said {i}" for i in range(50)] + ["he said"]
    r = identity_swaps(_she_model, texts, GENDER, n_boot=50, max_texts=20, seed=1)
    assert r.n_texts == 20 and r.pairs["n_texts"].sum() == 20 and any("seeded sample of 20" in n for n in r.notes)
    again = identity_swaps(_she_model, texts, GENDER, n_boot=50, max_texts=20, seed=1)
    pd.testing.assert_frame_equal(r.variants, again.variants)
    with pytest.raises(AuditInputError, match="predict_proba returned shape"):
        identity_swaps(lambda b: np.ones((len(b) + 1, 2)), texts, GENDER)
    with pytest.raises(AuditInputError, match="positive_class=3"):
        identity_swaps(_she_model, texts, GENDER, positive_class=3)
