"""Synthetic binary-classification data with two sensitive features and unequal groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_data(n: int = 2000, seed: int = 0) -> dict[str, object]:
    """Labels, predictions, scores, weights and two sensitive columns with real disparities."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    base = {"a": 0.0, "b": 0.4, "c": -0.3}
    shift = np.vectorize(base.get)(race) + (sex == "M") * 0.2
    y = (rng.random(n) < 0.4 + 0.1 * np.sign(shift)).astype(int)
    score = 1 / (1 + np.exp(-(1.5 * y - 0.75 + shift + rng.normal(scale=1.0, size=n))))
    pred = (score > 0.5).astype(int)
    w = rng.uniform(0.5, 2.0, n)
    return {"y": y, "pred": pred, "score": score, "w": w, "sens": pd.DataFrame({"race": race, "sex": sex})}


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    return make_data()


@pytest.fixture(scope="module")
def make():
    """The generator itself, for tests that need other sizes or seeds."""
    return make_data
