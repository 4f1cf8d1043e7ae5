"""LIME explanations: seeded determinism, the right top feature, categorical decoding, images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.errors import AuditInputError
from audit.explain import lime_explanations


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "a": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "b": rng.normal(size=n),
        "c": rng.integers(0, 5, n),
    })


def only_b(df: pd.DataFrame) -> np.ndarray:
    """A model that only looks at column b; fails loudly if LIME's samples were not decoded."""
    assert set(df["colour"]) <= {"red", "green", "blue"}
    p = 1 / (1 + np.exp(-3 * df["b"].to_numpy(dtype=float)))
    return np.column_stack([1 - p, p])


def test_top_feature_is_the_only_one_used():
    df = _frame()
    res = lime_explanations(only_b, df, [0, 1, 2, 3], num_samples=500, seed=0)
    for r in res.weights.index:
        assert res.top_features(r, k=1).index[0] == "b"
    assert res.weights.shape == (4, 4)
    assert set(res.descriptions.loc[0, "colour"].split("=")[1:]) <= {"red", "green", "blue"}
    np.testing.assert_allclose(res.model_prediction.to_numpy(), only_b(df.iloc[:4])[:, 1])


def test_seeded_and_row_independent():
    df = _frame()
    a = lime_explanations(only_b, df, [3, 7], num_samples=300, seed=5)
    b = lime_explanations(only_b, df, [3, 7], num_samples=300, seed=5)
    c = lime_explanations(only_b, df, [7], num_samples=300, seed=5)
    d = lime_explanations(only_b, df, [3, 7], num_samples=300, seed=6)
    pd.testing.assert_frame_equal(a.weights, b.weights)
    pd.testing.assert_series_equal(a.weights.loc[7], c.weights.loc[7])
    assert not np.allclose(a.weights.to_numpy(), d.weights.to_numpy())


def test_categorical_column_is_categorical_for_lime():
    df = _frame()

    def only_colour(frame: pd.DataFrame) -> np.ndarray:
        p = np.where(frame["colour"].to_numpy() == "red", 0.9, 0.1)
        return np.column_stack([1 - p, p])

    row = int(np.flatnonzero(df["colour"].to_numpy() == "red")[0])
    res = lime_explanations(only_colour, df, [row], num_samples=500)
    assert res.top_features(row, k=1).index[0] == "colour"
    assert res.descriptions.loc[row, "colour"] == "colour=red"
    assert res.weights.loc[row, "colour"] > 0.5  # being red adds about 0.8 to P(class 1)


def test_image_lime_finds_the_used_segment():
    X = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))

    def top_left(x) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        p = torch.sigmoid(8 * (t[:, 0, :2, :2].mean(dim=(1, 2)) - 0.25)).double().numpy()
        return np.column_stack([1 - p, p])

    res = lime_explanations(top_left, X, [0, 1], num_samples=300, seed=0)
    assert res.mode == "image" and res.weights.shape == (2, 16)
    assert res.segments[0].shape == (8, 8) and res.segments[0][0, 0] == 0
    for r in (0, 1):
        assert res.top_features(r, k=1).index[0] == "s0"


def test_bad_rows_and_labels():
    df = _frame(20)
    with pytest.raises(AuditInputError, match="rows"):
        lime_explanations(only_b, df, [25])
    with pytest.raises(AuditInputError, match="labels"):
        lime_explanations(only_b, df, [0], labels=[0, 1])


def test_a_missing_value_is_its_own_value():
    """A model that only reads whether ``a`` is missing: LIME on a row with ``a`` missing weighs ``a`` first, states
    the condition as missing, and the model sees the row itself (its prediction) with ``a`` missing."""
    df = _frame()
    df.loc[::5, "a"] = np.nan
    seen = []

    def missing_a(frame: pd.DataFrame) -> np.ndarray:
        seen.append(frame["a"].isna().mean())
        p = np.where(frame["a"].isna(), 0.9, 0.1)
        return np.column_stack([1 - p, p])

    res = lime_explanations(missing_a, df, [0, 5], num_samples=400, seed=0)
    for r in (0, 5):
        assert res.top_features(r, k=1).index[0] == "a"
        assert res.weights.loc[r, "a"] > 0.5  # missing raises p from 0.1 to 0.9
        assert res.descriptions.loc[r, "a"] == "a is missing"
    np.testing.assert_allclose(res.model_prediction.to_numpy(), [0.9, 0.9])
    assert 0 < max(seen[1:]) < 1  # LIME's samples: some keep a missing, some draw an observed value
