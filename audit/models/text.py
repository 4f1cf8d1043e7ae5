"""Two small text classifiers of COMPAS charge descriptions, trained in seconds on a CPU: a scikit-learn TF-IDF +
logistic regression pipeline (called on a list of strings) and a torch embedding bag with its word tokenizer
(called on the tokenizer's LongTensor of ids). Both are for demos and tests of text audits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.datasets import load_compas_charges
from audit.models.compas import split_frame

_WORD = re.compile(r"\w+")


@dataclass
class TrainedText:
    """A trained text model, its tokenizer (None for a model that reads strings) and its train/test frames."""

    model: Any
    tokenizer: Any
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    sensitive: list[str]


class WordTokenizer:
    """Lower-cased words to ids: 0 pads, 1 is a word not seen in training; ``length`` ids per text.

    >>> tok = WordTokenizer(["Grand Theft", "petit theft"], length=3)
    >>> tok(["theft of a car"]).tolist()
    [[4, 1, 1]]
    """

    def __init__(self, texts: list[str], length: int = 12) -> None:
        words = sorted({w for t in texts for w in _WORD.findall(t.lower())})
        self.vocabulary = {w: i + 2 for i, w in enumerate(words)}
        self.length = length
        self.pad_token_id = 0

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros((len(texts), self.length), dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.vocabulary.get(w, 1) for w in _WORD.findall(str(t).lower())[: self.length]]
            out[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        return out


class EmbeddingBag(torch.nn.Module):
    """Mean of the word embeddings (padding left out), then a linear layer to two logits."""

    def __init__(self, vocab_size: int, dim: int = 16) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab_size, dim, padding_idx=0)
        self.out = torch.nn.Linear(dim, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).float()[..., None]
        return self.out((self.emb(ids) * mask).sum(1) / mask.sum(1).clamp_min(1))


def _split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_frame(load_compas_charges().frame, seed=seed)


def train_charge_tfidf(seed: int = 0) -> TrainedText:
    """TF-IDF of words and word pairs + logistic regression on a seeded 70/30 split of the charges."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train, test = _split(seed)
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(train["charge"].tolist(), train["two_year_recid"])
    return TrainedText(model, None, train, test, "two_year_recid", ["race", "sex"])


def train_charge_embedding(seed: int = 0, epochs: int = 60) -> TrainedText:
    """The embedding bag on the same split, full-batch Adam (a couple of seconds on a CPU), deterministic by seed."""
    train, test = _split(seed)
    tok = WordTokenizer(train["charge"].tolist())
    torch.manual_seed(seed)
    net = EmbeddingBag(len(tok.vocabulary) + 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.05, weight_decay=1e-4)
    x, y = tok(train["charge"].tolist()), torch.as_tensor(train["two_year_recid"].to_numpy(np.int64).copy())
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return TrainedText(net.eval(), tok, train, test, "two_year_recid", ["race", "sex"])
