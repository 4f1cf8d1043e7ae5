"""Global view: importance, per-group attributions, sensitive and proxy shares, associations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import chi2_contingency

from audit.explain import global_explanation, proxy_associations, shap_values


@pytest.fixture
def linear_case():
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame({"u": rng.normal(size=n), "s": rng.integers(0, 2, n).astype(float), "v": rng.normal(size=n)})
    X["p"] = X["s"] + rng.normal(scale=0.1, size=n)  # a proxy of s
    lin = torch.nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[0.0, 0.0, 0.0, 0.0], [2.0, 1.0, -0.5, 0.5]])
        lin.bias.zero_()
    res = shap_values(lin, X, background=X, n_background=n, output="logit")
    sens = pd.DataFrame({"s": np.where(X["s"] > 0, "yes", "no")})
    return X, lin, res, sens


def test_importance_and_shares_match_analytic_linear_shap(linear_case):
    X, lin, res, sens = linear_case
    g = global_explanation(res, sens, proxy_threshold=0.8)
    w = np.array([2.0, 1.0, -0.5, 0.5])
    phi = w[None, :] * (X.to_numpy() - X.to_numpy().mean(axis=0))  # analytic interventional SHAP, class 1
    mean_abs = np.abs(phi).mean(axis=0)
    expected = pd.Series(mean_abs / mean_abs.sum(), index=X.columns)
    np.testing.assert_allclose(g.importance["share"].reindex(X.columns), expected, atol=1e-6)
    assert list(g.importance.index) == list(expected.sort_values(ascending=False).index)
    assert g.explained == "class 1"
    assert g.sensitive_share == pytest.approx(expected["s"], abs=1e-6)
    assert g.column_share["s"] == pytest.approx(expected["s"], abs=1e-6)
    assert g.proxies["feature"].tolist() == ["p"]
    assert g.proxy_share["s"] == pytest.approx(expected["p"], abs=1e-6)
    # per-group mean |SHAP|, computed with a boolean mask
    yes = sens["s"].to_numpy() == "yes"
    np.testing.assert_allclose(g.by_group["s"]["yes"].reindex(X.columns), np.abs(phi[yes]).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(g.by_group_signed["s"]["no"].reindex(X.columns), phi[~yes].mean(axis=0), atol=1e-6)
    assert g.group_sizes["s"]["yes"] == yes.sum()


def test_small_groups_are_nan_with_a_note(linear_case):
    X, _, res, _ = linear_case
    sens = pd.DataFrame({"t": ["a"] * 57 + ["b"] * 3})
    g = global_explanation(res, sens, min_group_size=5)
    assert g.by_group["t"]["b"].isna().all() and g.by_group["t"]["a"].notna().all()
    assert any("fewer than 5" in n for n in g.notes)
    assert g.column_share["t"] == 0.0 and g.sensitive_share == 0.0  # t is not a model input


def test_constant_model_gives_nan_shares():
    X = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) % 3})
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.zero_()
    res = shap_values(lin, X)
    g = global_explanation(res, pd.DataFrame({"b": X["b"].astype(int).astype(str)}))
    assert np.isnan(g.sensitive_share) and np.isnan(g.column_share["b"])
    assert any("undefined" in n for n in g.notes)


def test_proxy_associations_against_hand_formulas():
    rng = np.random.default_rng(0)
    n = 400
    s = rng.choice(["x", "y", "z"], n)
    X = pd.DataFrame({
        "copy": pd.Series(s).map({"x": "p", "y": "q", "z": "r"}),  # a relabelled copy: Cramer's V = 1
        "cat": rng.choice(["a", "b"], n),
        "num": rng.normal(size=n) + (s == "x") * 2.0,
    })
    out = proxy_associations(X, pd.DataFrame({"s": s}))
    assert out.loc["copy", "s"] == pytest.approx(1.0)
    table = pd.crosstab(X["cat"], s).to_numpy()
    chi2 = chi2_contingency(table, correction=False)[0]
    assert out.loc["cat", "s"] == pytest.approx(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
    y = X["num"].to_numpy()
    between = sum((s == k).sum() * (y[s == k].mean() - y.mean()) ** 2 for k in "xyz")
    assert out.loc["num", "s"] == pytest.approx(np.sqrt(between / ((y - y.mean()) ** 2).sum()))


def test_proxy_associations_use_the_observed_cells():
    """A numeric column with missing cells: eta and |r| over the rows where it is observed (hand formulas), not NaN."""
    x = pd.Series(np.where(np.arange(40) % 3 == 0, np.nan, np.arange(40.0)))
    g = pd.Series(["p", "p", "q", "q", "q", "p", "q", "p"] * 5)
    z = pd.Series(np.sin(np.arange(40.0)))
    res = proxy_associations(pd.DataFrame({"x": x}), pd.DataFrame({"g": g, "z": z}))
    seen = x.notna()
    xs, gs = x[seen].to_numpy(), g[seen].to_numpy()
    between = sum((gs == k).sum() * (xs[gs == k].mean() - xs.mean()) ** 2 for k in ("p", "q"))
    eta = np.sqrt(between / ((xs - xs.mean()) ** 2).sum())
    assert res.loc["x", "g"] == pytest.approx(eta, abs=1e-12)
    assert res.loc["x", "z"] == pytest.approx(abs(np.corrcoef(xs, z[seen])[0, 1]), abs=1e-12)
