"""Text attributions: LIME equal to lime's LimeTextExplainer, Shapley values equal to a brute-force loop, the
permutation estimator within its standard errors, offsets, batching and bad input."""

from __future__ import annotations

import itertools
import math
import re
import zlib

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from audit.errors import AuditInputError, ModelCallError
from audit.explain import TEXT_EXACT_MAX_WORDS, text_lime, text_shap, top_words

GOOD = ["great", "fine", "lovely", "superb", "happy", "calm"]
BAD = ["awful", "poor", "sad", "broken", "angry", "dull"]
FILLER = ["the", "a", "film", "day", "was", "very", "and", "it", "we", "this", "food", "place", "staff", "room"]


@pytest.fixture(scope="module")
def clf():
    rng = np.random.default_rng(0)
    docs, y = [], []
    for _ in range(400):
        words = list(rng.choice(FILLER, 6))
        good, bad = rng.integers(0, 3), rng.integers(0, 3)
        words += list(rng.choice(GOOD, good)) + list(rng.choice(BAD, bad))
        rng.shuffle(words)
        docs.append(" ".join(words))
        y.append(int(good > bad) if good != bad else int(rng.integers(0, 2)))
    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10)).fit(docs, y)


TEXTS = [
    "The film was great, and the staff: lovely! The room was awful.",
    "awful awful food; the place was very dull and sad",
    "a calm day",
    "!!!",  # no words: no attributions
]


def _lime_reference(predict, text, label, seed, row, **kw):
    from lime.lime_text import LimeTextExplainer

    ex = LimeTextExplainer(random_state=zlib.crc32(f"{seed}:{row}".encode()), bow=kw.pop("bow", True))
    return ex.explain_instance(text, predict, labels=(label,), **kw)


@pytest.mark.parametrize("num_features, bow", [(10, True), (3, True), (10, False)])
def test_lime_equals_lime_text_explainer(clf, num_features, bow):
    res = text_lime(clf.predict_proba, TEXTS[:3], num_features=num_features, num_samples=300, seed=7, bow=bow)
    for row in range(3):
        label = int(res.rows.loc[row, "class_index"])
        assert label == int(np.argmax(clf.predict_proba([TEXTS[row]])[0]))  # default: the predicted class
        exp = _lime_reference(clf.predict_proba, TEXTS[row], label, 7, row, num_features=num_features,
                              num_samples=300, bow=bow)
        ref = dict(exp.as_map()[label])
        got = res.for_row(row).drop_duplicates("feature").set_index("feature")
        assert set(got.index[got["selected"]]) == set(ref)
        # same tokenization: lime's word of each feature
        assert [exp.domain_mapper.indexed_string.word(j) for j in got.index] == got["word"].tolist()
        np.testing.assert_allclose([got.loc[j, "value"] for j in ref], list(ref.values()), rtol=0, atol=1e-10)
        assert (got.loc[~got["selected"], "value"] == 0).all()
        np.testing.assert_allclose(res.rows.loc[row, ["base_value", "score", "local_prediction"]].astype(float),
                                   [exp.intercept[label], exp.score, float(np.ravel(exp.local_pred)[0])],
                                   rtol=0, atol=1e-10)
        assert res.rows.loc[row, "prediction"] == pytest.approx(exp.predict_proba[label], abs=1e-12)


def test_lime_as_list_and_explicit_class(clf):
    res = text_lime(clf.predict_proba, TEXTS[:2], class_index=[1, 0], num_samples=200, seed=1,
                    feature_selection="none")
    for row, label in [(0, 1), (1, 0)]:
        exp = _lime_reference(clf.predict_proba, TEXTS[row], label, 1, row, num_features=50, num_samples=200)
        mine = res.for_row(row).drop_duplicates("feature")
        assert mine["selected"].all()
        ref = dict(exp.as_list(label=label))  # word -> weight (bow: one weight per distinct word)
        np.testing.assert_allclose(mine.set_index("word").loc[list(ref), "value"], list(ref.values()), atol=1e-10)


def _brute_shapley(f, text, label):
    """Textbook Shapley values of v(S) = f(text with only the distinct words in S), by lime's word splitting."""
    pieces = [p for p in re.split(r"(\W+)", text) if p]
    words = list(dict.fromkeys(p for p in pieces if re.fullmatch(r"\w+", p)))
    n = len(words)

    def build(S):
        keep = {words[j] for j in S}
        return "".join(p for p in pieces if not re.fullmatch(r"\w+", p) or p in keep)

    subsets = [S for k in range(n + 1) for S in itertools.combinations(range(n), k)]
    value = dict(zip(subsets, f([build(S) for S in subsets])[:, label]))
    phi = np.zeros(n)
    for j in range(n):
        for S in subsets:
            if j in S:
                continue
            with_j = tuple(sorted(S + (j,)))
            phi[j] += math.factorial(len(S)) * math.factorial(n - len(S) - 1) / math.factorial(n) * (
                value[with_j] - value[S])
    return words, phi, value[()], value[tuple(range(n))]


def test_exact_shap_equals_brute_force_and_adds_up(clf):
    res = text_shap(clf.predict_proba, TEXTS, seed=0)
    for row in range(3):
        label = int(res.rows.loc[row, "class_index"])
        words, phi, empty, full = _brute_shapley(clf.predict_proba, TEXTS[row], label)
        got = res.for_row(row).drop_duplicates("feature")
        assert got["word"].tolist() == words and res.rows.loc[row, "estimator"] == "exact"
        np.testing.assert_allclose(got["value"], phi, rtol=0, atol=1e-12)
        assert (got["se"] == 0).all()
        assert res.rows.loc[row, "base_value"] == pytest.approx(empty, abs=1e-12)
        assert res.rows.loc[row, "prediction"] == pytest.approx(full, abs=1e-12)
        assert got["value"].sum() == pytest.approx(full - empty, abs=1e-12)  # additivity
    assert res.rows.loc[3, "estimator"] == "none" and len(res.for_row(3)) == 0 and res.notes


def test_permutation_within_three_standard_errors_of_exact(clf):
    text = "great staff, awful room; the food was fine and calm but dull"
    words, phi, empty, full = _brute_shapley(clf.predict_proba, text, 1)
    assert len(words) == 12 > TEXT_EXACT_MAX_WORDS
    res = text_shap(clf.predict_proba, [text], class_index=1, max_evals=1200, seed=3)
    got = res.for_row(0).drop_duplicates("feature")
    assert got["word"].tolist() == words and res.rows.loc[0, "estimator"] == "permutation"
    se = got["se"].to_numpy()
    known = got["word"].isin(clf[0].vocabulary_).to_numpy()  # "but" is not: a null player, 0 with 0 error
    assert (se[known] > 0).all() and se.max() < 0.05 and known.sum() == 11
    assert np.all(np.abs(got["value"].to_numpy() - phi) <= 3 * se + 1e-12), (got["value"].to_numpy() - phi) / se
    # within the budget: (1200 - 2) // 22 = 54 pairs, 2 * 54 * 11 + 2 = 1190 evaluations; still additive
    assert res.rows.loc[0, "n_evals"] == 1190 <= 1200 and res.n_model_texts == 1190
    assert got["value"].sum() == pytest.approx(full - empty, abs=1e-12)
    # seeded per (seed, position): the other texts explained with it change nothing
    again = text_shap(clf.predict_proba, [text, "a calm day"], class_index=1, max_evals=1200, seed=3)
    np.testing.assert_array_equal(again.for_row(0)["value"], res.for_row(0)["value"])


def test_offsets_reproduce_words_and_bow_false_positions(clf):
    for bow in (True, False):
        res = text_shap(clf.predict_proba, TEXTS, bow=bow)
        for row, text in enumerate(TEXTS):
            w = res.for_row(row)
            assert [text[s:e] for s, e in zip(w["start"], w["end"])] == w["word"].tolist()
            assert w["word"].tolist() == re.findall(r"\w+", text)
            assert w["position"].tolist() == list(range(len(w)))
    # bow=True: the repeated "awful" is one feature with one value; bow=False: two occurrences, two values
    first = text_shap(clf.predict_proba, [TEXTS[1]], bow=True).for_row(0)
    assert first.loc[0, "feature"] == first.loc[1, "feature"] and first.loc[0, "value"] == first.loc[1, "value"]
    second = text_shap(clf.predict_proba, [TEXTS[1]], bow=False).for_row(0)
    assert second["feature"].tolist() == list(range(len(second)))


def test_model_calls_are_batched():
    calls = []

    def f(texts):
        calls.append(len(texts))
        good = np.array([t.count("good") for t in texts], dtype=float)
        p = 1 / (1 + np.exp(-(good - 0.5)))
        return np.column_stack([1 - p, p])

    texts = ["a good film with good music", "the day was good", "nothing here at all"] * 4
    res = text_lime(f, texts, num_samples=500, batch_size=512)
    assert sum(calls) == res.n_model_texts == 12 * 500 and len(calls) == res.n_model_calls == 12
    assert max(calls) <= 512
    calls.clear()
    res = text_shap(f, texts, batch_size=100)
    # 2^5 + 2^4 + 2^4 per group of three texts
    assert sum(calls) == res.n_model_texts == 4 * (32 + 16 + 16) and len(calls) == math.ceil(256 / 100)
    for row in range(0, 12, 3):
        w = res.for_row(row).drop_duplicates("feature").set_index("word")["value"]
        assert w.idxmax() == "good" and w.drop("good").abs().max() < 1e-12


def test_memory_groups_change_no_number(clf, monkeypatch):
    texts = [TEXTS[0], "great staff, awful room; the food was fine and calm but dull", TEXTS[2], TEXTS[1]]
    whole = text_shap(clf.predict_proba, texts, max_evals=600, batch_size=50)
    lime = text_lime(clf.predict_proba, texts, num_samples=120, batch_size=50)
    # texts gathered per round of calls, on the class text_shap and text_lime really use (pytest's importlib mode
    # with --doctest-modules may load a second copy of the private module, so no patching by module name)
    monkeypatch.setattr(text_shap.__globals__["Model"], "group_texts", 200)
    assert text_lime.__globals__["Model"] is text_shap.__globals__["Model"]
    grouped = text_shap(clf.predict_proba, texts, max_evals=600, batch_size=50)
    lime_grouped = text_lime(clf.predict_proba, texts, num_samples=120, batch_size=50)
    np.testing.assert_array_equal(grouped.words["value"], whole.words["value"])
    np.testing.assert_array_equal(lime_grouped.words["value"], lime.words["value"])
    # costs 2^10, 2 + 2 * 11 * 27, 2^3, 2^9: one text per group of at most 200 (or alone) -> 21 + 12 + 1 + 11 calls
    assert grouped.rows["n_evals"].tolist() == [1024, 596, 8, 512]
    assert grouped.n_model_calls == 21 + 12 + 1 + 11 and whole.n_model_calls == math.ceil(2140 / 50)
    assert lime_grouped.n_model_calls == 4 * 3 and lime.n_model_calls == math.ceil(4 * 120 / 50)


def test_top_words_rank_by_mean_absolute_value(clf):
    res = text_shap(clf.predict_proba, TEXTS[:3], class_index=1)
    table = top_words(res, k=3)
    per = res.words.drop_duplicates(["row", "feature"])
    mean_abs = per.assign(a=per["value"].abs()).groupby("word")["a"].mean().sort_values(ascending=False)
    assert table["word"].tolist() == mean_abs.index[:3].tolist()
    np.testing.assert_allclose(table["mean_abs"], mean_abs.iloc[:3], atol=1e-15)
    the = top_words(res, k=100, lowercase=True).set_index("word").loc["the"]
    # lime's words are case-sensitive: "The" and "the" are two features of text 0, pooled here with text 1's "the"
    assert the["n_texts"] == 2 and the["count"] == 3
    lime = text_lime(clf.predict_proba, TEXTS[:3], num_features=2, num_samples=100)
    counted = top_words(lime, k=100, by_class=False)["count"].sum()
    assert counted == 6  # only the two selected words of each text


def test_bad_input():
    def f(texts):
        return np.full((len(texts), 2), 0.5)

    with pytest.raises(AuditInputError, match="texts is empty"):
        text_lime(f, [])
    with pytest.raises(AuditInputError, match=r"wrap one text in a list"):
        text_shap(f, "a single text")
    with pytest.raises(AuditInputError, match=r"texts\[1\] is float"):
        text_shap(f, ["ok", float("nan")])
    with pytest.raises(AuditInputError, match=r"predict_proba returned shape \(2,\)"):
        text_shap(lambda t: np.full(len(t), 0.5), ["a b"], batch_size=2)
    with pytest.raises(AuditInputError, match=r"predict_proba returned shape \(1, 2\) for a list of 4"):
        text_shap(lambda t: np.full((1, 2), 0.5), ["a b"])
    with pytest.raises(AuditInputError, match="NaN or infinite"):
        text_lime(lambda t: np.full((len(t), 2), np.nan), ["a b"], num_samples=20)
    with pytest.raises(AuditInputError, match=r"class_index must be class positions 0\.\.1"):
        text_shap(f, ["a b"], class_index=2)
    with pytest.raises(AuditInputError, match="one per text"):
        text_lime(f, ["a b", "c"], class_index=[0])
    with pytest.raises(AuditInputError, match="batch_size must be an integer >= 1"):
        text_shap(f, ["a b"], batch_size=0)
    with pytest.raises(AuditInputError, match="num_samples"):
        text_lime(f, ["a b"], num_samples=1)
    with pytest.raises(ModelCallError, match="predict_proba raised ZeroDivisionError"):
        text_shap(lambda t: 1 / 0, ["a b"])
