"""ExplainCheck gates: a skipped exact reference does not decide the verdict; SHAP-LIME disagreement warns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from audit import Policy, audit, starter_policy, starter_thresholds
from audit.checks.explain import SHAP_LIME_AGREEMENT_MIN, ExplainCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter

SMALL = dict(n_rows=40, n_background=12, n_lime_rows=4, lime_samples=300, n_bootstrap=20)
WIDE = [f"x{i}" for i in range(14)]


def _wide():
    """14 continuous inputs (exact values need 2**14 model rows per row-background pair) and a sensitive
    column the model does not take, so the only starter gates that could be inconclusive are the explain ones."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(150, len(WIDE))), columns=WIDE)
    df["g"] = rng.choice(["a", "b"], len(df))
    df["y"] = (df["x0"] + df["x1"] * df["x2"] > 0).astype(int)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(len(WIDE), 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return ModelAdapter(net), df


def test_exact_reference_skipped_for_cost_is_not_computed_and_does_not_decide_the_verdict():
    model, df = _wide()
    check = ExplainCheck(**SMALL, max_model_rows=200_000)
    report = audit(model, df, target="y", sensitive=["g"], features=WIDE, checks=[check], progress=False)
    s = report.sections["explain"]
    corr = s.metric("explain.shap_exact_correlation")
    assert np.isnan(corr.value) and "over the budget" in corr.not_computed and "max_model_rows" in corr.not_computed
    # the starter policy's gate does not apply: an info finding with the reason, not an inconclusive verdict
    (f,) = [f for f in report.findings if f.metric == "explain.shap_exact_correlation"]
    assert (f.status, f.passed) == ("info", True)
    assert "was not computed" in f.message and "does not apply" in f.message and "over the budget" in f.message
    assert report.verdict == "pass", [(x.metric, x.status) for x in report.findings]
    # the SHAP values were sampled within the budget, with their standard errors in the table and notes
    comp = s.tables["SHAP computation"]["value"]
    assert comp["explainer"] == "permutation"
    assert int(comp["model rows evaluated"]) <= 1.5 * 200_000
    assert "of the output spread" in comp["largest standard error"] and "stopped:" in comp["largest standard error"]
    assert comp["correlation with exact values"].startswith("not computed: exact values for 5 reference row(s)")
    assert any("standard error" in n and "stopped because" in n for n in s.notes)
    assert any(n.startswith("explain.shap_exact_correlation was not computed: exact values for 5 reference row(s)")
               for n in s.notes)
    # a looser target ([checks.explain] target_se) stops sooner, on fewer model rows
    ctx = AuditContext(model=model, data=load_data(df, target="y", sensitive=["g"], features=WIDE), seed=0)
    loose = ExplainCheck(**SMALL, max_model_rows=200_000, target_se=0.05).run(ctx)
    lc = loose.tables["SHAP computation"]["value"]
    assert int(lc["model rows evaluated"]) < int(comp["model rows evaluated"])
    assert "stopped: target reached" in lc["largest standard error"]
    # a user who gates the metric by name is told it was not computed (inconclusive), with the reason,
    # also when the starter policy is merged in
    metrics = {m.name: m for m in s.metrics}
    check_of = dict.fromkeys(metrics, "explain")
    for pol in ({"explain.shap_exact_correlation": {"min": 0.9}},
                {"defaults": True, "explain.shap_exact_correlation": {"min": 0.9}}):
        (g,) = [x for x in Policy.from_dict(pol, starter=starter_thresholds()).evaluate(metrics, check_of)
                if x.metric == "explain.shap_exact_correlation"]
        assert g.status == "inconclusive" and "was not computed" in g.message and "over the budget" in g.message


def test_exact_values_still_report_correlation_one():
    model, df = _wide()
    check = ExplainCheck(n_rows=5, n_background=3, n_lime_rows=2, lime_samples=200, n_bootstrap=10,
                         max_model_rows=1_000_000)
    ctx = AuditContext(model=model, data=load_data(df, target="y", sensitive=["g"], features=WIDE), seed=0)
    s = check.run(ctx)
    assert s.tables["SHAP computation"]["value"]["explainer"] == "exact"
    m = s.metric("explain.shap_exact_correlation")
    assert m.value == 1.0 and m.not_computed == ""
    assert s.tables["SHAP computation"]["value"]["largest standard error"] == "0 (exact values)"


class _Wiggle(torch.nn.Module):
    """Class-1 logit 3 sin(12 x1) + x2: x1 dominates every Shapley value, but LIME's quartile bins average its
    fast oscillation away, so LIME ranks x1 low: the two explanations must disagree."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        s = 3 * torch.sin(12 * z[:, 0]) + z[:, 1]
        return torch.stack([torch.zeros_like(s), s], 1)


def _wiggle_ctx() -> AuditContext:
    rng = np.random.default_rng(0)
    n = 150
    df = pd.DataFrame({c: rng.normal(size=n) for c in ("x1", "x2", "n1", "n2")})
    df["g"] = rng.choice(["a", "b"], n)
    df["y"] = (3 * np.sin(12 * df["x1"]) + df["x2"] > 0).astype(int)
    data = load_data(df, target="y", sensitive=["g"], features=["x1", "x2", "n1", "n2"])
    return AuditContext(model=ModelAdapter(_Wiggle()), data=data, seed=0)


def test_shap_lime_disagreement_is_a_note_and_a_starter_policy_warning():
    s = ExplainCheck(**SMALL).run(_wiggle_ctx())
    agree = s.metric("explain.shap_lime_rank_agreement").value
    per_row = s.tables["Explained rows"]["SHAP-LIME spearman"]
    assert agree == np.mean(per_row) and agree < SHAP_LIME_AGREEMENT_MIN == 0.5
    (note,) = [n for n in s.notes if n.startswith("SHAP and LIME rank the columns differently")]
    assert f"mean Spearman {agree:.2f}, below 0.5" in note
    poor = int((s.tables["Explained rows"]["LIME R^2"] < 0.5).sum())
    assert f"{poor} of {len(per_row)} rows have LIME R^2 below 0.5" in note
    assert "exact (every coalition evaluated)" in note and "trust the SHAP values" in note  # exact SHAP here
    assert "below 0.5" in s.summary
    metrics = {m.name: m for m in s.metrics}
    (f,) = [f for f in starter_policy().evaluate(metrics, dict.fromkeys(metrics, "explain"))
            if f.metric == "explain.shap_lime_rank_agreement"]
    assert (f.status, f.passed, f.threshold) == ("warn", True, ">= 0.5")
    assert f"{agree:.4g} < min 0.5" in f.message


def _sensitive_only_ctx() -> AuditContext:
    """An MLP that sees only the one-hot columns of g (as in test_check.py): SHAP and LIME both rank g first."""
    from audit.transforms import TabularEncoder

    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({"x1": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
                       "x2": rng.integers(0, 5, n).astype(float)})
    df["y"] = ((df["x1"] + (df["g"] == "a")) > 0.5).astype(int)
    enc = TabularEncoder(columns=["x1", "g", "x2"]).fit(df)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        keep = torch.zeros(5, dtype=torch.bool)
        keep[enc.groups["g"]] = True
        net[0].weight[:, ~keep] = 0.0
    data = load_data(df, target="y", sensitive=["g"], features=["x1", "g", "x2"])
    return AuditContext(model=ModelAdapter(net, transform=enc), data=data, seed=0)


def test_agreeing_explanations_get_no_warning():
    s = ExplainCheck(n_rows=40, n_background=12, n_lime_rows=3, lime_samples=200, n_bootstrap=20).run(_sensitive_only_ctx())
    agree = s.metric("explain.shap_lime_rank_agreement").value
    assert agree >= SHAP_LIME_AGREEMENT_MIN
    assert not any("rank the columns differently" in n for n in s.notes)
    metrics = {m.name: m for m in s.metrics}
    (f,) = [f for f in starter_policy().evaluate(metrics, dict.fromkeys(metrics, "explain"))
            if f.metric == "explain.shap_lime_rank_agreement"]
    assert f.status == "pass"
