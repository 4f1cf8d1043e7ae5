"""Attributions for a TabularEncoder model: model-input space and summed back to original columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from audit.explain import shap_values
from audit.model import ModelAdapter
from audit.transforms import TabularEncoder


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 70, n).astype(float),
        "race": rng.choice(["A", "B", "C"], n),
        "priors": rng.poisson(2, n).astype(float),
    })


def test_grouped_values_sum_encoded_features_and_match_brute_force(brute_force):
    df = _frame(120, 0)
    enc = TabularEncoder().fit(df)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(len(enc.feature_names_out), 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    X, bg = df.iloc[:6], df.iloc[60:80]
    res = shap_values(ModelAdapter(net, transform=enc), X, background=bg, n_background=20)
    assert res.features == ["age", "race=A", "race=B", "race=C", "priors"]
    assert res.columns == ["age", "race", "priors"]
    assert res.groups["race"] == ["race=A", "race=B", "race=C"]
    for c in res.classes:
        v, g = res.values[c], res.values_by_column[c]
        np.testing.assert_allclose(g["race"], v[["race=A", "race=B", "race=C"]].sum(axis=1), atol=1e-12)
        np.testing.assert_allclose(g["age"], v["age"], atol=1e-12)
        np.testing.assert_allclose(g.sum(axis=1), v.sum(axis=1), atol=1e-12)
    # the model-input values are the exact Shapley values of the encoded game
    f = lambda z: torch.softmax(net(torch.as_tensor(z, dtype=torch.float32)), 1).double().detach().numpy()  # noqa: E731
    ref = brute_force(f, enc.encode(X).astype(np.float64), enc.encode(bg).astype(np.float64))
    np.testing.assert_allclose(res.values["1"].to_numpy(), ref[:, :, 1], atol=1e-6)


def test_raw_module_with_transform_attribute_is_wrapped():
    df = _frame(50, 1)
    enc = TabularEncoder().fit(df)

    class WithTransform(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(len(enc.feature_names_out), 2)
            self.transform = enc

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    m = WithTransform()
    res = shap_values(m, df.iloc[:3], background=df, n_background=10, output="logit")
    assert res.columns == ["age", "race", "priors"]
    W = m.net.weight.detach().double().numpy()
    bgx = enc.encode(df.iloc[np.sort(np.random.default_rng(0).choice(50, 10, replace=False))]).astype(np.float64)
    expected = W[1][None, :] * (enc.encode(df.iloc[:3]) - bgx.mean(axis=0))
    np.testing.assert_allclose(res.values["1"].to_numpy(), expected, atol=1e-5)
