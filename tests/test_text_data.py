"""The bundled text data (COMPAS charge descriptions) and the two demo text models."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from audit.datasets import load_compas_charges
from audit.models.text import WordTokenizer, train_charge_embedding, train_charge_tfidf


def test_the_charges_are_the_filtered_compas_rows_with_a_description():
    raw = pd.read_csv(resources.files("audit.datasets").joinpath("data", "compas-scores-two-years.csv.gz"))
    keep = (raw["days_b_screening_arrest"].between(-30, 30) & (raw["is_recid"] != -1)
            & (raw["c_charge_degree"] != "O") & (raw["score_text"] != "N/A"))
    expected = raw[keep & raw["c_charge_desc"].notna() & (raw["c_charge_desc"].astype(str).str.strip() != "")]
    d = load_compas_charges()
    assert len(d.frame) == len(expected)
    assert d.frame["two_year_recid"].mean() == pytest.approx(expected["two_year_recid"].mean())
    assert (d.frame["charge"].str.len() > 0).all() and d.features == ["charge"]


def test_the_tokenizer_pads_and_maps_unknown_words():
    tok = WordTokenizer(["Grand Theft", "Battery"], length=4)
    ids = tok(["grand theft of battery car", ""])
    assert ids.dtype == torch.long and ids.shape == (2, 4)
    assert ids[0].tolist() == [tok.vocabulary["grand"], tok.vocabulary["theft"], 1, tok.vocabulary["battery"]]
    assert ids[1].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("trainer", [train_charge_tfidf, train_charge_embedding])
def test_the_demo_models_beat_chance_and_repeat_by_seed(trainer):
    a, b = trainer(0), trainer(0)
    texts = a.test["charge"].tolist()

    def proba(t):
        if t.tokenizer is None:
            return t.model.predict_proba(texts)[:, 1]
        with torch.no_grad():
            return torch.softmax(t.model(t.tokenizer(texts)), 1)[:, 1].numpy()

    p = proba(a)
    assert roc_auc_score(a.test["two_year_recid"], p) > 0.55
    np.testing.assert_allclose(p, proba(b), atol=1e-6)
