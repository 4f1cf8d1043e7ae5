"""ExplainCheck on tiny contexts: shares of a sensitive column the model ignores / uses alone, metrics, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.checks.explain import ExplainCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter
from audit.transforms import TabularEncoder

SMALL = dict(n_rows=40, n_background=12, n_lime_rows=3, lime_samples=200, n_bootstrap=20)


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "x1": rng.normal(size=n),
        "g": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        "x2": rng.integers(0, 5, n).astype(float),
    })
    df["y"] = ((df["x1"] + (df["g"] == "a")) > 0.5).astype(int)
    return df


def _ctx(keep: str) -> AuditContext:
    """An MLP whose first layer only sees the inputs named by ``keep`` ("g" or "not g")."""
    df = _frame()
    enc = TabularEncoder(columns=["x1", "g", "x2"]).fit(df)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    g_idx = enc.groups["g"]
    with torch.no_grad():
        mask = torch.zeros(5, dtype=torch.bool)
        mask[g_idx] = True
        net[0].weight[:, ~mask if keep == "g" else mask] = 0.0
    data = load_data(df, target="y", sensitive=["g"], features=["x1", "g", "x2"])
    return AuditContext(model=ModelAdapter(net, transform=enc), data=data, seed=0)


def test_model_ignoring_sensitive_column_has_zero_share():
    s = ExplainCheck(**SMALL).run(_ctx("not g"))
    assert s.status == "ok"
    assert s.metric("explain.sensitive_attribution_share").value == pytest.approx(0.0, abs=1e-12)
    assert s.metric("explain.g.attribution_share").value == pytest.approx(0.0, abs=1e-12)
    assert s.metric("explain.additivity_error").value < 1e-6
    assert s.metric("explain.shap_exact_correlation").value == 1.0


def test_model_using_only_sensitive_column_has_full_share_and_consistent_tables():
    s = ExplainCheck(**SMALL).run(_ctx("g"))
    share = s.metric("explain.sensitive_attribution_share")
    assert share.value == pytest.approx(1.0, abs=1e-12)
    assert share.low == pytest.approx(1.0) and share.high == pytest.approx(1.0)
    imp = s.tables["Global importance"]
    assert imp.loc["g", "role"] == "sensitive" and imp.loc["g", "share"] == pytest.approx(1.0)
    rows = s.tables["Explained rows"]
    assert len(rows) == 3 and rows["reason"].iloc[0] == "highest risk"
    agree = s.metric("explain.shap_lime_rank_agreement").value
    per_row = rows["SHAP-LIME spearman"].dropna()
    assert agree == pytest.approx(per_row.mean()) and -1 <= agree <= 1
    assert "Mean |SHAP| by g" in s.tables and "Importance per model input" in s.tables


def test_figures_are_the_three_small_ones():
    s = ExplainCheck(**SMALL).run(_ctx("not g"))
    assert [f.title for f in s.figures] == [
        "Global importance (mean |SHAP|)", "SHAP summary (beeswarm)", "Chosen rows: SHAP vs LIME"
    ]
    assert all(len(f.svg) < 150_000 for f in s.figures)


def test_same_seed_same_section_and_budget_note():
    a = ExplainCheck(**SMALL).run(_ctx("not g"))
    b = ExplainCheck(**SMALL).run(_ctx("not g"))
    assert [m.value for m in a.metrics] == [m.value for m in b.metrics]
    pd.testing.assert_frame_equal(a.tables["Global importance"], b.tables["Global importance"])
    small = ExplainCheck(**{**SMALL, "n_rows": 100, "n_background": 60, "max_model_rows": 2000}).run(_ctx("not g"))
    assert any("compute budget" in n for n in small.notes)
    comp = small.tables["SHAP computation"]["value"]
    assert comp["background rows"] == 25 and comp["rows explained"] <= 60 + 3


def test_skips_images():
    X = torch.rand(10, 1, 8, 8)
    data = load_data((X, np.arange(10) % 2))
    ctx = AuditContext(model=ModelAdapter(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))), data=data)
    assert "saliency" in ExplainCheck().skip_reason(ctx)


def test_tree_model_without_native_tree_shap_keeps_the_stated_row_budget():
    """HistGradientBoosting on a pandas categorical column: scikit-learn's TreeSHAP cannot take the column, so the
    check must explain the n_rows sample sized to max_model_rows, not every row, and the model rows it really
    evaluated (counted by a wrapper around predict_proba) stay within the budget the section states."""
    import re

    from sklearn.ensemble import HistGradientBoostingClassifier

    from audit import audit
    from audit.checks.explain import ExplainCheck

    rng = np.random.default_rng(0)
    n = 1500
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": pd.Categorical(rng.choice(list("xyz"), n)), "g": rng.choice(["m", "f"], n)})
    df["y"] = ((df.a + (df.c == "x") + rng.normal(0, 0.5, n)) > 0.5).astype(int)
    model = HistGradientBoostingClassifier(max_iter=15, categorical_features="from_dtype").fit(df[["a", "b", "c"]], df.y)
    calls: list[int] = []
    inner = model.predict_proba

    def counting(X):
        calls.append(len(X))
        return inner(X)

    model.predict_proba = counting  # an instance attribute: the adapter still sees a scikit-learn tree model
    check = ExplainCheck(n_rows=200, max_model_rows=100_000, lime_samples=200, n_lime_rows=3)
    r = audit(model, df, target="y", sensitive=["g"], features=["a", "b", "c"], checks=[check], progress=False)
    s = r.sections["explain"]
    assert s.status == "ok"
    comp = s.tables["SHAP computation"]["value"]
    assert comp["explainer"] != "tree"
    budget_note = next(x for x in s.notes if x.startswith("Row budget:"))
    stated_rows = int(re.search(r"Row budget: ([\d,]+) of", budget_note).group(1).replace(",", ""))
    assert stated_rows <= 200 and comp["rows explained"] <= stated_rows + 3  # the sample plus chosen LIME rows
    assert any(x.startswith("Native TreeSHAP was not used") for x in s.notes)
    # every model row of the audit: one prediction pass on the data, LIME's samples, and SHAP within 1.5 x budget
    lime = 3 * 200
    assert sum(calls) <= n + lime + 1.5 * 100_000, (sum(calls), comp["model rows evaluated"])
    assert comp["model rows evaluated"] <= 1.5 * 100_000


def test_a_model_with_thousands_of_classes_is_explained_for_a_capped_few():
    """A 10,000-class model made explain allocate 9 GiB (every class's SHAP values on every coalition): it now
    explains the ``max_classes`` classes predicted most often (and the LIME rows' classes), on rows predicted as one
    of them, and each kept class's values equal those of the uncapped computation."""
    import tracemalloc

    from audit.explain import shap_values

    rng = np.random.default_rng(0)
    K, n = 10_000, 200
    W = rng.normal(size=(3, K))

    def model(X):
        z = np.asarray(X, dtype=np.float64) @ W
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    A = rng.normal(size=(n, 3))
    df = pd.DataFrame(A, columns=["a", "b", "c"]).assign(g=rng.choice(["u", "v"], n), y=model(A).argmax(axis=1))
    ctx = AuditContext(model=ModelAdapter(model), data=load_data(df, target="y", sensitive=["g"],
                                                                 features=["a", "b", "c"]), seed=0)
    _ = ctx.proba
    tracemalloc.start()
    s = ExplainCheck(**{**SMALL, "n_rows": 30}).run(ctx)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert s.status == "ok"
    assert peak < 200e6, peak  # uncapped: 30 rows x 12 background x 8 coalitions x 10,000 classes x 8 bytes alone
    assert any(n.startswith("The model has 10,000 classes: SHAP values are computed for the") for n in s.notes)
    assert s.metric("explain.additivity_error").value < 1e-9
    # the capped computation of a few classes is the uncapped one's, class by class
    small = ModelAdapter(lambda X: model(X)[:, :30] / model(X)[:, :30].sum(axis=1, keepdims=True))
    X = df[["a", "b", "c"]]
    full = shap_values(small, X.iloc[:5], background=X.iloc[5:15], explainer="exact")
    part = shap_values(small, X.iloc[:5], background=X.iloc[5:15], explainer="exact", outputs=[3, 17])
    assert part.classes == ["3", "17"]
    for c in ("3", "17"):
        np.testing.assert_allclose(part.for_class(c).to_numpy(), full.for_class(c).to_numpy(), rtol=1e-12, atol=1e-15)
