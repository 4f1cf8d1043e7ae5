"""Issue 27 item 4 through the audit: a text classifier's robustness section (edits that should not change the
answer, per group, and the word-substitution attack), its numbers recounted with the model itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from audit import audit
from audit.robustness import text_perturbations

RNG = np.random.default_rng(1)
WORDS = ["theft", "battery", "grand", "petit", "driving", "license", "possession", "cocaine", "assault", "burglary"]
N = 500
TEXTS = [" ".join(RNG.choice(WORDS, size=RNG.integers(2, 6))) for _ in range(N)]
Y = np.array([int(("battery" in t) or ("cocaine" in t)) for t in TEXTS])
FRAME = pd.DataFrame({"charge": TEXTS, "recid": Y, "race": RNG.choice(["a", "b"], N)})


@pytest.fixture(scope="module")
def run():
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10)).fit(FRAME["charge"][:300], Y[:300])
    test = FRAME.iloc[300:].reset_index(drop=True)
    report = audit(model, test, target="recid", sensitive=["race"], checks=["robustness"], progress=False)
    return model, test, report


def test_flip_rates_are_recounted_with_the_model(run):
    model, test, report = run
    section = report.sections["robustness"]
    assert section.status == "ok", section.reason
    seed = int(np.random.default_rng([0, __import__("zlib").crc32(b"robustness")]).integers(0, 2**31 - 1))
    pert = text_perturbations(model.predict_proba, test["charge"].tolist(), test["recid"].to_numpy(),
                              test[["race"]], seed=seed)
    for kind in ("typo", "synonym"):
        d = pert.details[(pert.details["kind"] == kind) & pert.details["applicable"]]
        before = model.predict(test["charge"].iloc[d["row"]].tolist())
        after = model.predict(d["perturbed"].tolist())
        assert report.metrics[f"robustness.text.{kind}.flip_rate"].value == pytest.approx(np.mean(before != after))
    assert report.metrics["robustness.text.case.flip_rate"].value == 0.0  # TF-IDF lower-cases: case cannot matter


def test_the_attack_flips_are_real_and_robust_accuracy_falls_with_the_budget(run):
    model, test, report = run
    acc = [report.metrics[f"robustness.word_substitution.robust_accuracy@{b}"].value for b in (1, 2, 3)]
    assert acc[0] >= acc[1] >= acc[2]
    examples = report.sections["robustness"].tables["Flipped by the attack (examples)"]
    assert len(examples)
    y = test["recid"].to_numpy()[examples["row"].to_numpy()]
    assert (model.predict(examples["adversarial"].tolist()) != y).all()  # every shown adversarial text is wrong
    clean = model.predict(test["charge"].tolist()) == test["recid"].to_numpy()
    assert report.metrics["robustness.word_substitution.clean_accuracy"].value == pytest.approx(clean.mean())
