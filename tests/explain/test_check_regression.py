"""ExplainCheck on regressors: the sensitive share against a hand computation, the chosen rows, units and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit import audit
from audit.checks.explain import ExplainCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter

SMALL = dict(n_lime_rows=4, lime_samples=200, n_bootstrap=20)


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "s": rng.integers(0, 2, n).astype(float)})
    df["y"] = 3 * df.x1 - df.x2 + 2 * df.s + rng.normal(0, 0.3, n) + 100
    return df


def _ctx(df: pd.DataFrame, features: list[str]) -> tuple[AuditContext, object]:
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(df[features], df.y)
    data = load_data(df, target="y", sensitive=["s"], features=features)
    return AuditContext(model=ModelAdapter(reg), data=data, seed=0), reg


def test_sensitive_share_of_a_linear_regressor_equals_the_hand_computed_share():
    """Every row explained against every row as background: exact SHAP is coef * (x - column mean), so the share of
    mean |SHAP| on the sensitive column is a closed form."""
    df = _frame()
    feats = ["x1", "x2", "s"]
    ctx, reg = _ctx(df, feats)
    assert ExplainCheck().skip_reason(ctx) is None
    s = ExplainCheck(n_rows=60, n_background=60, **SMALL).run(ctx)
    assert s.status == "ok"
    Xn = df[feats].to_numpy()
    mean_abs = np.abs(reg.coef_ * (Xn - Xn.mean(axis=0))).mean(axis=0)
    assert s.metric("explain.sensitive_attribution_share").value == pytest.approx(mean_abs[2] / mean_abs.sum(), rel=1e-9)
    assert s.metric("explain.s.attribution_share").value == pytest.approx(mean_abs[2] / mean_abs.sum(), rel=1e-9)
    imp = s.tables["Global importance"]
    np.testing.assert_allclose(imp.loc[feats, "mean |SHAP|"].to_numpy(), mean_abs, rtol=1e-9)  # target units
    assert s.metric("explain.relative_additivity_error").value < 1e-9
    assert s.metric("explain.shap_exact_correlation").value == 1.0
    assert not any(m.name == "explain.additivity_error" for m in s.metrics)
    assert s.tables["SHAP computation"]["value"]["explainer"] == "exact"
    assert "predictions lean most on x1" in s.summary
    assert any("target's units" in n for n in s.notes)


def test_a_regressor_ignoring_the_sensitive_column_has_zero_share_and_rows_show_prediction_and_error():
    df = _frame()
    ctx, reg = _ctx(df, ["x1", "x2"])
    s = ExplainCheck(n_rows=40, n_background=20, **SMALL).run(ctx)
    assert s.metric("explain.sensitive_attribution_share").value == 0.0
    rows = s.tables["Explained rows"]
    pred = reg.predict(df[["x1", "x2"]])
    worst = int(np.argmax(np.abs(df.y.to_numpy() - pred)))
    assert rows.index[0] == worst and rows["reason"].iloc[0] == "largest error"
    np.testing.assert_allclose(rows["prediction"].to_numpy(), pred[rows.index], rtol=1e-12)
    np.testing.assert_allclose(rows["error"].to_numpy(), pred[rows.index] - df.y.to_numpy()[rows.index], rtol=1e-12)
    assert set(rows["reason"]) >= {"largest error", "highest prediction"}
    agree = s.metric("explain.shap_lime_rank_agreement").value
    assert agree == pytest.approx(rows["SHAP-LIME spearman"].dropna().mean())


def test_audit_explains_a_tree_regressor_with_native_tree_shap():
    from sklearn.ensemble import RandomForestRegressor

    df = _frame(200)
    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(df[["x1", "x2", "s"]], df.y)
    check = ExplainCheck(**SMALL)
    r = audit(model, df, target="y", sensitive=["s"], features=["x1", "x2", "s"], checks=[check], progress=False)
    s = r.sections["explain"]
    assert s.status == "ok"
    comp = s.tables["SHAP computation"]["value"]
    assert comp["explainer"] == "tree" and comp["rows explained"] == 200
    assert "prediction" in comp["output explained"]
    assert s.metric("explain.relative_additivity_error").value < 1e-9
    assert [f.title for f in s.figures][-1] == "Chosen rows: SHAP vs LIME"
