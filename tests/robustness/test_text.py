"""Text robustness: invariance to small edits (flip rates, per group) and the greedy word substitution attack.

References: hand-counted flips of a rule model, brute-force sets of every possible edit, pandas groupby,
scikit-learn's accuracy_score, a counting wrapper around the model, and re-predicting the adversarial texts.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline

from audit.errors import AuditInputError
from audit.robustness import (
    load_synonyms,
    perturb_texts,
    split_words,
    text_perturbations,
    word_substitution_attack,
)

POS, NEG = ["good", "great", "excellent", "nice", "wonderful"], ["bad", "terrible", "awful", "poor", "horrible"]
NOUNS, LEAD = ["film", "movie", "story", "plot", "music", "actor"], ["the", "this", "that", "our", "a"]
SYN = {"good": ["fine", "decent", "great"], "great": ["fine", "superb"], "nice": ["pleasant", "fine"],
       "bad": ["lousy", "weak", "terrible"], "terrible": ["dreadful", "lousy"], "film": ["movie", "picture"],
       "story": ["tale", "plot"], "really": ["truly", "very"]}


def _rule(texts: list[str]) -> np.ndarray:
    """Class 1 when the text holds "bad" (case-sensitive) or ends with "!"."""
    p = np.array([0.9 if ("bad" in t or t.endswith("!")) else 0.1 for t in texts])
    return np.column_stack([1 - p, p])


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(0)
    texts, y = [], []
    for _ in range(300):
        label = int(rng.integers(2))
        adj = rng.choice(POS if label else NEG)
        words = [rng.choice(LEAD), rng.choice(NOUNS), "was", "really" if rng.random() < 0.5 else "so", adj]
        if rng.random() < 0.3:  # some noise words and an opposite adjective, so the model is not perfect
            words += ["but", "the", rng.choice(NOUNS), "was", rng.choice(NEG if label else POS)]
        texts.append(" ".join(words).capitalize() + rng.choice([".", "!", ""]))
        y.append(label)
    groups = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 300, p=[0.45, 0.45, 0.1]), "h": rng.choice(["u", "v"], 300)})
    return texts, np.array(y), groups


@pytest.fixture(scope="module")
def tfidf(corpus):
    texts, y, _ = corpus
    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=3.0)).fit(texts[:200], y[:200])


# ---- the edits -------------------------------------------------------------------------------------------------------

def test_each_edit_is_one_of_the_possible_edits():
    text = "The movie was really good, and so long"
    table = load_synonyms(SYN)
    words = [w for w in split_words(text)[1::2]]
    spans = [(m.start(), m.end()) for m in re.finditer(r"[A-Za-z]+", text)]
    typos = {text[:a] + w[:j] + w[j + 1] + w[j] + w[j + 2:] + text[b:]
             for (a, b), w in zip(spans, words) if len(w) >= 4 for j in range(1, len(w) - 2) if w[j] != w[j + 1]}
    spaces = [i for i, c in enumerate(text) if c == " "]
    whites = {text[:i] + " " + text[i:] for i in spaces} | {" " + text, text + " "}
    syns = {text[:a] + s + text[b:] for (a, b), w in zip(spans, words) for s in SYN.get(w.lower(), [])}
    seen = {k: set() for k in ("typo", "whitespace", "synonym", "punctuation", "case")}
    for seed in range(60):
        for kind, outs in seen.items():
            outs.update(perturb_texts([text], kind, seed=seed, synonyms=table))
    assert seen["typo"] <= typos and len(seen["typo"]) > 3
    assert seen["whitespace"] <= whites and len(seen["whitespace"]) > 3
    assert seen["synonym"] <= syns and len(seen["synonym"]) > 3
    assert seen["punctuation"] == {text + m for m in ".!?"}
    assert seen["case"] == {text.lower(), text.upper()}
    assert perturb_texts(["Good film!?"], "punctuation") == ["Good film"]
    assert perturb_texts(["GOOD film"], "synonym", synonyms={"good": ["fine"]}) == ["FINE film"]
    # nothing to change: not applicable (None), never the text itself
    assert perturb_texts(["a bad day", "  ", "42 7"], "typo") == [None, None, None]
    assert perturb_texts(["  "], "whitespace") == [None]
    assert perturb_texts(["  "], "punctuation") == [None]
    assert perturb_texts(["42 7"], "case") == [None]
    assert perturb_texts(["xyz qrs"], "synonym") == [None]


def test_edits_are_determined_by_the_seed_and_independent_of_other_kinds(corpus):
    texts = corpus[0]
    a = text_perturbations(_rule, texts, kinds=("typo", "synonym"), seed=3, n_boot=0)
    b = text_perturbations(_rule, texts, kinds=("synonym", "typo"), seed=3, n_boot=0)
    c = text_perturbations(_rule, texts, kinds=("typo",), seed=3, n_boot=0)
    d = text_perturbations(_rule, texts, kinds=("typo",), seed=4, n_boot=0)
    typo = lambda r: r.details[r.details["kind"] == "typo"]["perturbed"].tolist()
    assert typo(a) == typo(b) == typo(c)
    assert typo(a) != typo(d)
    pd.testing.assert_frame_equal(a.table.loc[["typo", "synonym"]], b.table.loc[["typo", "synonym"]])


# ---- flip rates ------------------------------------------------------------------------------------------------------

def test_flip_rate_counted_by_hand():
    texts = ["a bad film", "a good film!", "BAD MOVIE.", "ok.", "so bad!", "42."]
    y = [1, 1, 0, 0, 1, 0]
    r = text_perturbations(_rule, texts, y, kinds=("case", "punctuation"), n_boot=0)
    # case: "A BAD FILM" (1 -> 0) and "bad movie." (0 -> 1) flip; "42." has no letter (not applicable)
    case = r.table.loc["case"]
    assert (case["n"], case["n_applicable"], case["n_flipped"]) == (6, 5, 2)
    assert case["flip_rate"] == pytest.approx(0.4)
    assert (case["low"], case["high"]) == pytest.approx((0.1176, 0.7693), abs=1e-4)  # Wilson 2/5, 95%
    assert case["mean_abs_change"] == pytest.approx(2 * 0.8 / 5)
    assert case["accuracy_before"] == pytest.approx(1.0) and case["accuracy_after"] == pytest.approx(0.6)
    assert case["accuracy_change"] == pytest.approx(-0.4)
    # punctuation: only "a good film!" -> "a good film" flips; "a bad film" gains a mark but keeps "bad"
    punct = r.table.loc["punctuation"]
    assert (punct["n_applicable"], punct["n_flipped"]) == (6, 1)
    assert punct["mean_abs_change"] == pytest.approx(0.8 / 6)
    assert set(r.examples["original"]) == {"a bad film", "a good film!", "BAD MOVIE."}
    assert r.flip_rate("case")[0] == pytest.approx(0.4)
    # one call for the originals, one for the perturbed texts of both kinds together
    assert (r.n_calls, r.n_queries) == (2, 6 + 5 + 6)
    assert r.groups.empty and r.gaps.empty and math.isnan(r.max_gap("case")[0])


def test_not_applicable_is_not_unchanged():
    r = text_perturbations(_rule, ["xyz qrs", "abc"], kinds=("synonym",), n_boot=0)
    assert r.table.loc["synonym", "n_applicable"] == 0 and math.isnan(r.table.loc["synonym", "flip_rate"])
    assert any("no text could be edited" in n for n in r.notes)


def test_group_flip_rates_and_gap_match_pandas(corpus, tfidf):
    texts, y, groups = corpus
    r = text_perturbations(tfidf.predict_proba, texts, y, groups, synonyms=SYN, n_boot=200, min_group_size=40,
                           batch_size=64)
    d = r.details
    assert r.table.loc["case", "n_flipped"] == 0  # TfidfVectorizer lower-cases
    assert r.table.loc["whitespace", "n_flipped"] == 0  # and splits on non-word characters
    assert r.n_calls == math.ceil(300 / 64) + math.ceil((r.n_queries - 300) / 64)
    for kind in ("typo", "synonym"):
        ok = d[(d["kind"] == kind) & d["applicable"]]
        before = tfidf.predict(texts)[ok["row"]]
        after = tfidf.predict(ok["perturbed"].tolist())
        assert r.table.loc[kind, "n_flipped"] == (before != after).sum() > 0
        for col in groups.columns:
            ref = pd.Series(before != after).groupby(groups[col].to_numpy()[ok["row"]]).mean()
            got = r.groups[(r.groups["kind"] == kind) & (r.groups["column"] == col)].set_index("group")["flip_rate"]
            np.testing.assert_allclose(got.sort_index().to_numpy(), ref.sort_index().to_numpy())
            sizes = pd.Series(groups[col].to_numpy()[ok["row"]]).value_counts()
            big = ref[sizes[ref.index] >= 40]
            gap = r.gaps[(r.gaps["kind"] == kind) & (r.gaps["column"] == col)].iloc[0]
            assert gap["plug_in"] == pytest.approx(big.max() - big.min())
            assert gap["n_groups"] == len(big)
            assert gap["low"] <= gap["gap"] <= gap["high"]
            assert big[gap["worst_group"]] == big.max()  # worst: the highest flip rate
        assert r.overall.loc[kind, "column"] in groups.columns


def test_bad_input_is_refused_early():
    with pytest.raises(AuditInputError, match="kinds"):
        text_perturbations(_rule, ["a"], kinds=("emoji",))
    with pytest.raises(AuditInputError, match=r"texts\[1\]"):
        text_perturbations(_rule, ["a", None])
    with pytest.raises(AuditInputError, match="groups has 3 rows"):
        text_perturbations(_rule, ["a", "b"], groups=pd.DataFrame({"g": [1, 2, 3]}))
    with pytest.raises(AuditInputError, match="class indices"):
        text_perturbations(_rule, ["a", "b"], [0, 2])
    with pytest.raises(AuditInputError, match="synonyms"):
        word_substitution_attack(_rule, ["a"], [0], synonyms={"good": "fine"})
    with pytest.raises(AuditInputError, match="budgets"):
        word_substitution_attack(_rule, ["a"], [0], budgets=(0,))


# ---- the attack ------------------------------------------------------------------------------------------------------

class Counting:
    """A model that counts its calls and the texts it was given."""

    def __init__(self, fn):
        self.fn, self.calls, self.texts = fn, 0, 0

    def __call__(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return self.fn(texts)


def _good(texts: list[str]) -> np.ndarray:
    p = np.array([0.9 if "good" in t.lower().split() else 0.2 for t in texts])
    return np.column_stack([1 - p, p])


def test_one_deciding_word_is_found_at_budget_one_and_queries_are_counted():
    model = Counting(_good)
    syn = {"good": ["fine", "great"], "film": ["movie"]}
    texts, y = ["a good film", "a nice film", "a good film"], [1, 0, 0]
    r = word_substitution_attack(model, texts, y, budgets=(1, 2), synonyms=syn)
    d = r.details.set_index("row")
    assert d.loc[0, "adversarial"] == "a fine film" and d.loc[0, "words_changed"] == "good->fine"
    assert bool(d.loc[0, "success"]) and d.loc[0, "n_changed"] == 1 and d.loc[0, "pred_after"] == 0
    # text 0: 1 original + 2 deletions (good, film; deleting "good" drops p(1) most, so it goes first) + 2 candidates
    # text 1: correct (class 0), only "film" is substitutable: no ranking, 1 candidate that changes nothing
    # text 2: misclassified, not attacked
    assert d["queries"].tolist() == [5, 2, 1]
    assert r.n_queries == model.texts == 8 and r.n_calls == model.calls
    assert r.table.loc[1, "n_attacked"] == 2 and r.robust_accuracy(1)[0] == pytest.approx(0.5)
    assert r.table.loc[1, "accuracy_under_attack"] == pytest.approx(1 / 3)
    assert r.examples["adversarial"].tolist() == ["a fine film"]
    assert r.queries.tolist() == [5, 2]


def test_attack_on_a_fitted_model(corpus, tfidf):
    texts, y, _ = corpus
    test_x, test_y = texts[200:], y[200:]
    model = Counting(tfidf.predict_proba)
    r = word_substitution_attack(model, test_x, test_y, budgets=(1, 2, 3), synonyms=SYN, batch_size=50)
    assert r.clean_accuracy == pytest.approx(accuracy_score(test_y, tfidf.predict(test_x)))
    acc = r.table["robust_accuracy"].to_numpy()
    assert np.all(np.diff(acc) <= 0) and acc[-1] < acc[0] <= 1  # monotone, and the attack does something
    assert r.table.loc[1, "n_attacked"] == (tfidf.predict(test_x) == test_y).sum()
    assert r.n_queries == model.texts == r.details["queries"].sum() and r.n_calls == model.calls
    # the adversarial texts really are misclassified, and each changed word is a listed synonym
    ok = r.details[r.details["success"]]
    assert (tfidf.predict(ok["adversarial"].tolist()) != ok["y"].to_numpy()).all()
    assert 1 <= ok["n_changed"].min() and ok["n_changed"].max() <= 3
    for orig, adv in zip(ok["row"], ok["adversarial"]):
        a, b = split_words(test_x[orig])[1::2], split_words(adv)[1::2]
        changed = [(u, v) for u, v in zip(a, b) if u != v]
        assert 0 < len(changed) <= 3 and all(v.lower() in SYN[u.lower()] for u, v in changed)
    failed = r.details[r.details["correct"] & ~r.details["success"]]
    assert (tfidf.predict(failed["adversarial"].tolist()) == failed["y"].to_numpy()).all()
    # one greedy run serves every budget: the attack at budget 1 alone gives the same robust accuracy
    one = word_substitution_attack(tfidf.predict_proba, test_x, test_y, budgets=(1,), synonyms=SYN)
    assert one.robust_accuracy(1) == r.robust_accuracy(1)
    capped = word_substitution_attack(tfidf.predict_proba, test_x, test_y, synonyms=SYN, max_queries_per_text=3)
    assert capped.details["queries"].max() <= 3
    assert (capped.table["robust_accuracy"] >= r.table["robust_accuracy"]).all()


def test_similarity_floor_and_candidate_cap():
    syn = {"good": ["goad", "fine"]}
    r = word_substitution_attack(_good, ["a good film"], [1], synonyms=syn, min_similarity=0.7)
    assert r.details.loc[0, "adversarial"] == "a goad film"  # "fine" is below the floor (ratio 0.25)
    assert "character similarity >= 0.7" in r.constraint
    r = word_substitution_attack(_good, ["a good film"], [1], synonyms=syn, max_candidates=1, seed=0)
    assert r.details.loc[0, "queries"] == 2
