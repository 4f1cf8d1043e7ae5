"""Issue 27 item 2 through the audit: a text classifier's explanation section (word SHAP, LIME on the same chosen
texts, top words per class, highlighted texts), checked against the model called directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from audit import audit

RNG = np.random.default_rng(2)
WORDS = ["theft", "battery", "grand", "petit", "driving", "license", "possession", "cocaine", "assault", "burglary"]
N = 400
TEXTS = [" ".join(RNG.choice(WORDS, size=RNG.integers(3, 7))) for _ in range(N)]
Y = np.array([int(("battery" in t) or ("cocaine" in t and RNG.random() < 0.8)) for t in TEXTS])
FRAME = pd.DataFrame({"charge": TEXTS, "recid": Y, "race": RNG.choice(["a", "b"], N)})


@pytest.fixture(scope="module")
def run():
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(C=5)).fit(FRAME["charge"][:250], Y[:250])
    test = FRAME.iloc[250:].reset_index(drop=True)
    report = audit(model, test, target="recid", sensitive=["race"], checks=["explain"], progress=False)
    return model, test, report


def test_word_shap_of_the_chosen_texts_adds_up_to_the_models_own_output(run):
    model, test, report = run
    section = report.sections["explain"]
    assert section.status == "ok", section.reason
    shap = section.tables["Word SHAP (chosen texts)"]
    empty = model.predict_proba([""])[0]
    for row, words in shap.groupby("row"):
        text = test["charge"][row]
        p = model.predict_proba([text])[0]
        c = int(np.argmax(p))  # the predicted class is explained
        total = words.drop_duplicates("feature")["value"].sum()
        assert total == pytest.approx(p[c] - empty[c], abs=1e-9)
        assert all(text[s:e] == w for s, e, w in zip(words["start"], words["end"], words["word"]))
    assert report.metrics["explain.additivity_error"].value < 1e-9


def test_lime_explains_the_same_texts_and_agrees_with_shap(run):
    _, _, report = run
    section = report.sections["explain"]
    chosen = set(section.tables["Chosen texts"]["row"])
    assert set(section.tables["LIME weights (chosen texts)"]["row"]) == chosen
    assert set(section.tables["Word SHAP (chosen texts)"]["row"]) == chosen
    assert report.metrics["explain.text.shap_lime_rank_agreement"].value > 0.5
    top = section.tables["Top words per class (mean |SHAP|)"]
    assert top.groupby("class")["word"].first().isin(["battery", "cocaine"]).any()  # the words the label is made of
    shap_svg, lime_svg = (f.svg for f in section.figures)
    first = section.tables["Chosen texts"]["text"].iloc[0].split()[0]
    assert first in shap_svg and first in lime_svg
