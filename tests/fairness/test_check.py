"""FairnessCheck on tiny synthetic contexts: metrics against fairlearn, names, policy, small groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn.linear_model import LogisticRegression

from audit.checks.fairness import FairnessCheck, FairnessSection
from audit.fairness import DISPARITIES
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter


def _frame(n: int = 500, seed: int = 0, k: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.where(np.arange(n) < 15, "tiny", rng.choice(["a", "b"], n))  # 15 rows: a small group
    h = rng.choice(["u", "v"], n)
    x1 = rng.normal(size=n) + (g == "a") * 0.8
    x2 = rng.normal(size=n) + (h == "u") * 0.5
    z = x1 + 0.5 * x2 + rng.normal(scale=0.7, size=n)
    y = np.digitize(z, np.quantile(z, np.linspace(0, 1, k + 1)[1:-1])) if k > 2 else (z > 0.3).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "g": g, "h": h, "y": y})


class CountingModel:
    """A fitted logistic regression behind a callable that counts how often it is asked to predict."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.lr = LogisticRegression().fit(df[["x1", "x2"]], df["y"])
        self.calls = 0

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        return self.lr.predict_proba(X[["x1", "x2"]])


def _ctx(df: pd.DataFrame, sensitive=("g", "h"), **options) -> tuple[AuditContext, CountingModel]:
    model = CountingModel(df)
    data = load_data(df, target="y", sensitive=list(sensitive), features=["x1", "x2"])
    return AuditContext(model=ModelAdapter(model), data=data, seed=0, options=options), model


@pytest.fixture(scope="module")
def run():
    df = _frame()
    ctx, model = _ctx(df)
    ctx.proba  # noqa: B018 - predictions computed once, up front
    calls = model.calls
    sec = FairnessCheck(n_boot=200).run(ctx)
    return df, ctx, sec, model.calls - calls


def _plug_in(sec, name: str, cls=None) -> tuple[float, float]:
    """(plug-in, corrected) of a gated fairness metric, read from the section's tables (assessment for top level)."""
    parts = name.split(".")
    pick = (lambda t: t) if cls is None else (lambda t: t.loc[cls])
    if len(parts) == 2:
        o = next(iter(sec.assessments.values())).overall.loc[parts[1]] if cls is None else sec.assessments[cls].overall.loc[parts[1]]
        return o["value"], o["corrected"]
    col, what = parts[1], parts[2]
    if what in DISPARITIES:
        row = pick(sec.tables["Disparities"]).loc[(col, what)]
        return row["value"], row["corrected"]
    metric, kind = what.rsplit("_", 1)
    row = pick(sec.tables["Metric gaps"]).loc[(col, metric)]
    return row[kind], row[f"{kind}_corrected"]


def test_metrics_equal_fairlearn_without_small_groups(run):
    """The plug-in of every gated disparity is fairlearn's number (tables' value); the gated value is its
    bias-corrected version (tables' corrected), inside its interval."""
    df, ctx, sec, _ = run
    y, p = ctx.y, ctx.pred
    big = (df["g"] != "tiny").to_numpy()
    per_col = {}
    for col, keep in (("g", big), ("h", np.ones(len(df), bool))):
        for name in ("demographic_parity_difference", "equalized_odds_difference", "equalized_odds_ratio",
                     "equal_opportunity_difference"):
            ref = getattr(flm, name)(y[keep], p[keep], sensitive_features=df[col][keep])
            plug, corrected = _plug_in(sec, f"fairness.{col}.{name}")
            assert plug == pytest.approx(ref, abs=1e-12)
            m = sec.metric(f"fairness.{col}.{name}")
            assert m.value == corrected and m.low <= m.value <= m.high
            assert f"plug-in, as fairlearn: {ref:.4g}" in m.description and "permutation test of no gap: p = " in m.description
            per_col.setdefault(name, []).append(ref)
        fpr = flm.MetricFrame(metrics=flm.false_positive_rate, y_true=y[keep], y_pred=p[keep], sensitive_features=df[col][keep])
        assert _plug_in(sec, f"fairness.{col}.false_positive_rate_ratio")[0] == pytest.approx(fpr.ratio())
        assert _plug_in(sec, f"fairness.{col}.false_positive_rate_difference")[0] == pytest.approx(fpr.difference())
    assert _plug_in(sec, "fairness.demographic_parity_difference")[0] == pytest.approx(max(per_col["demographic_parity_difference"]))
    assert _plug_in(sec, "fairness.equalized_odds_ratio")[0] == pytest.approx(min(per_col["equalized_odds_ratio"]))
    # the intersection, without its small cells
    inter = df["g"] + "|" + df["h"]
    sizes = inter.map(inter.value_counts())
    keep = (sizes >= 30).to_numpy()
    ref = flm.demographic_parity_difference(y[keep], p[keep], sensitive_features=inter[keep])
    assert _plug_in(sec, "fairness.intersection.demographic_parity_difference")[0] == pytest.approx(ref)


def test_names_intervals_tables_figures(run):
    _, _, sec, extra_calls = run
    assert extra_calls == 0  # the check never re-runs the model
    for m in sec.metrics:  # names against metric_patterns: tests/checks/test_conformance.py
        if m.low is not None:
            assert m.low <= m.value <= m.high, m.name
    assert sec.metric("fairness.demographic_parity_difference").low is not None
    assert {"Findings", "Disparities", "Groups by g", "Groups by h", "Intersection", "Metric gaps", "Proxies"} <= set(sec.tables)
    assert {"selection_rate_low", "selection_rate_high", "small"} <= set(sec.tables["Groups by g"].columns)
    assert bool(sec.tables["Groups by g"].loc["tiny", "small"])
    assert any("'tiny' (n=15)" in n for n in sec.notes)
    titles = [f.title for f in sec.figures]
    assert "Disparities between groups" in titles and "Group metrics by g, h" in titles and "g x h" in titles
    assert all(f.svg and f.svg.startswith("<svg") for f in sec.figures)
    assert ": ratio " in sec.summary and isinstance(sec, FairnessSection)
    assert sec.metric("fairness.g.proxy_auc").value > 0.6  # x1 is shifted for group a


def test_patterns_have_one_column_part_at_most():
    # docs and starter thresholds against the patterns: tests/checks/test_conformance.py
    patterns = list(FairnessCheck.metric_patterns)
    for p in patterns:
        assert p.count("<") <= 1 and ("<column>" in p or p.count(".") == 1)


def test_include_small_groups_uses_every_group(run):
    df, ctx, _, _ = run
    sec = FairnessCheck(n_boot=50, include_small_groups=True, proxies=False).run(ctx)
    ref = flm.demographic_parity_difference(ctx.y, ctx.pred, sensitive_features=df["g"])
    assert _plug_in(sec, "fairness.g.demographic_parity_difference")[0] == pytest.approx(ref)


def test_same_seed_same_metrics(run):
    _, ctx, sec, _ = run
    again = FairnessCheck(n_boot=200).run(ctx)
    assert [(m.name, m.value, m.low, m.high) for m in again.metrics] == [(m.name, m.value, m.low, m.high) for m in sec.metrics]


def test_skips_without_labels_or_sensitive_columns():
    df = _frame(100)
    ctx, _ = _ctx(df, sensitive=())
    assert "sensitive" in FairnessCheck().skip_reason(ctx)
    model = CountingModel(df)
    ctx = AuditContext(model=ModelAdapter(model), data=load_data((df[["x1", "x2"]], None)), seed=0)
    ctx.data.sensitive = df[["g"]]
    assert FairnessCheck().skip_reason(ctx) == "the data has no labels"


def test_multiclass_is_one_vs_rest_worst_class():
    df = _frame(600, seed=1, k=3)
    ctx, _ = _ctx(df, sensitive=("h",))
    sec = FairnessCheck(n_boot=50, proxies=False).run(ctx)
    refs = [flm.demographic_parity_difference(ctx.y == k, ctx.pred == k, sensitive_features=df["h"]) for k in range(3)]
    per_class = [_plug_in(sec, "fairness.h.demographic_parity_difference", cls=str(k)) for k in range(3)]
    assert [pc[0] for pc in per_class] == pytest.approx(refs)
    # the gate is the worst class by its corrected value
    assert sec.metric("fairness.h.demographic_parity_difference").value == pytest.approx(max(pc[1] for pc in per_class))
    assert sec.tables["Disparities"].index.names == ["class", "feature", "disparity"]
    # a named positive class binarises: that class against the rest
    ctx2, _ = _ctx(df, sensitive=("h",), positive_class=0)
    sec2 = FairnessCheck(n_boot=50, proxies=False).run(ctx2)
    assert _plug_in(sec2, "fairness.h.demographic_parity_difference")[0] == pytest.approx(refs[0])
