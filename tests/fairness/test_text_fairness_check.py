"""Issue 27 item 3 through the audit: the text_fairness check's bias AUCs equal scikit-learn's roc_auc_score on the
subgroup definitions, and its identity-term swaps are recounted by calling the model on the swapped texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from audit import audit

RNG = np.random.default_rng(4)
N = 600
SUBJECT = RNG.choice(["she", "he", "the driver"], N)
ACT = RNG.choice(["stole a car", "hit a man", "sold drugs", "drove fast"], N)
TEXTS = [f"{s} {a}" for s, a in zip(SUBJECT, ACT)]
Y = (RNG.random(N) < np.where(np.char.find(ACT.astype(str), "hit") >= 0, 0.7, 0.3)).astype(int)
FRAME = pd.DataFrame({"text": TEXTS, "y": Y, "race": RNG.choice(["a", "b"], N)})


def model(texts):
    """Scores 'hit' high, and adds 0.2 to texts saying 'she': a gender bias the swap test must see."""
    p = np.array([0.35 + 0.3 * ("hit" in t) + 0.2 * t.startswith("she") for t in texts])
    return np.c_[1 - p, p]


@pytest.fixture(scope="module")
def report():
    return audit(model, FRAME, target="y", sensitive=["race"], modality="text", checks=["text_fairness"],
                 progress=False)


def test_bias_aucs_equal_roc_auc_score_on_the_subgroup_definitions(report):
    score = model(TEXTS)[:, 1]
    for group, mask in {"race_a": FRAME["race"] == "a", "female": np.char.startswith(SUBJECT.astype(str), "she")}.items():
        m = np.asarray(mask)
        assert report.metrics[f"text_fairness.{group}.subgroup_auc"].value == pytest.approx(roc_auc_score(Y[m], score[m]))
        bpsn = (m & (Y == 0)) | (~m & (Y == 1))
        assert report.metrics[f"text_fairness.{group}.bpsn_auc"].value == pytest.approx(roc_auc_score(Y[bpsn], score[bpsn]))
        bnsp = (m & (Y == 1)) | (~m & (Y == 0))
        assert report.metrics[f"text_fairness.{group}.bnsp_auc"].value == pytest.approx(roc_auc_score(Y[bnsp], score[bnsp]))


def test_swaps_are_recounted_with_the_model(report):
    section = report.sections["text_fairness"]
    pairs = section.tables["Identity-term swaps"].set_index(["family", "from_group", "to_group"])
    she = [t for t in TEXTS if t.startswith("she ")]
    swapped = ["he " + t[4:] for t in she]  # the bundled list pairs 'she' with 'he'
    before, after = model(she)[:, 1], model(swapped)[:, 1]
    row = pairs.loc[("gender", "female", "male")]
    assert row["n_texts"] == len(she)
    assert row["mean_change"] == pytest.approx(np.mean(after - before))
    assert row["flip_rate"] == pytest.approx(np.mean((before > 0.5) != (after > 0.5)))
    assert report.metrics["text_fairness.swap.gender.max_flip_rate"].value >= row["flip_rate"]
    gate = {f.metric: f for f in report.findings}["text_fairness.swap.gender.max_flip_rate"]
    assert gate.status in ("warn", "inconclusive")  # a 0.2 score shift flips 'hit' texts: far above 5%


def test_template_sentences_probe_the_identity_itself(report):
    from audit.fairness import template_texts

    texts = template_texts()
    she = [t for t in texts if t.split()[0] == "she" or " she " in f" {t} "]
    assert she  # the bundled gender terms include 'she'
    # the model adds 0.2 only to texts that start with 'she'; their swap to 'he' moves the score by exactly 0.2
    change = report.metrics["text_fairness.template_swap.gender.max_abs_score_change"].value
    starts = [t for t in texts if t.startswith("she")]
    assert change == pytest.approx(0.2 * len(starts) / len(texts_with_female(texts)), abs=1e-9)


def texts_with_female(texts):
    from audit.fairness import default_identity_terms, identity_groups

    terms = default_identity_terms()
    return [t for t, hit in zip(texts, identity_groups(texts, terms)["female"]) if hit]
