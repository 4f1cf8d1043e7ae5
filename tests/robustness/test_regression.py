"""Attacks on regressors: PGD / FGSM that maximise the squared error against a bare torch PGD loop, the black-box
search's guarantees, the per-group errors against scikit-learn, and the check's regression section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error

from audit import audit
from audit.checks.robustness import RobustnessCheck
from audit.fairness import regression_fairness
from audit.model import ModelAdapter
from audit.robustness import (
    regression_attack,
    regression_curve,
    regression_group_robustness,
    regression_random_search_curve,
)


@pytest.fixture(scope="module")
def regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    """160 rows, 3 features in [0, 1], a smooth target (float64)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(160, 3, generator=g, dtype=torch.float64)
    y = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2 - 0.5 * x[:, 2] + 0.05 * torch.randn(160, generator=g, dtype=torch.float64)
    return x, y


@pytest.fixture(scope="module")
def mlp_regressor(regression_data) -> torch.nn.Module:  # noqa: ANN001
    x, y = regression_data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(200):
        opt.zero_grad()
        ((net(x)[:, 0] - y) ** 2).mean().backward()
        opt.step()
    for p in net.parameters():
        p.grad = None
    return net.eval()


def _bare_pgd(net, x, y, eps, steps, step, scale, low, high):  # noqa: ANN001
    """Textbook L-inf PGD on the squared error from x (no random start): sign steps, projection onto the scaled
    ball, clip to the bounds; then each row keeps the final iterate, or its clean input when the final iterate's
    squared error is not larger."""
    x0, cur = x.clone(), x.clone()
    lo, hi = torch.maximum(x0 - eps * scale, low), torch.minimum(x0 + eps * scale, high)
    for _ in range(steps):
        cur = cur.detach().requires_grad_(True)
        loss = ((net(cur)[:, 0] - y) ** 2).sum()
        (g,) = torch.autograd.grad(loss, cur)
        cur = torch.clamp(cur.detach() + step * torch.sign(g) * scale, lo, hi)
    with torch.no_grad():
        clean, final = net(x0)[:, 0], net(cur)[:, 0]
    worse = (final - y) ** 2 > (clean - y) ** 2
    return torch.where(worse[:, None], cur, x0), torch.where(worse, final, clean), worse


def test_pgd_equals_a_bare_torch_loop_and_beats_clean_and_fgsm(mlp_regressor, regression_data):
    x, y = regression_data
    model = ModelAdapter(mlp_regressor, task="regression")
    scale = x.std(0, unbiased=False)
    eps, steps = 0.2, 12
    step = 2.5 * eps / steps
    r = regression_attack(model, x, y, eps, attack="pgd", steps=steps, random_start=False, scale=scale, bounds=(0, 1),
                          device="cpu")
    x_ref, v_ref, worse = _bare_pgd(mlp_regressor, x, y, eps, steps, step, scale, torch.zeros(3), torch.ones(3))
    assert worse.float().mean() > 0.9  # the loop itself raised nearly every row's error: the comparison is not idle
    np.testing.assert_allclose(r.x_adv.numpy(), x_ref.numpy(), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(r.pred_adv, v_ref.numpy(), rtol=1e-5)
    clean_mse = mean_squared_error(y.numpy(), r.pred_clean)
    fgsm = regression_attack(model, x, y, eps, attack="fgsm", scale=scale, bounds=(0, 1), device="cpu")
    robust_mse = mean_squared_error(y.numpy(), r.pred_adv)
    assert robust_mse >= clean_mse and robust_mse >= mean_squared_error(y.numpy(), fgsm.pred_adv)
    assert r.robust_rmse == pytest.approx(np.sqrt(robust_mse), rel=1e-12)
    assert r.robust_mae == pytest.approx(mean_absolute_error(y.numpy(), r.pred_adv), rel=1e-12)
    assert float(r.perturbation.max()) <= eps * (1 + 1e-9)
    # FGSM is one full step: the bare loop with one step of size eps
    x_f, v_f, _ = _bare_pgd(mlp_regressor, x, y, eps, 1, eps, scale, torch.zeros(3), torch.ones(3))
    np.testing.assert_allclose(fgsm.pred_adv, v_f.numpy(), rtol=1e-5)


def test_every_row_keeps_its_worst_error_and_the_curve_never_falls(mlp_regressor, regression_data):
    x, y = regression_data
    curve = regression_curve(ModelAdapter(mlp_regressor, task="regression"), x, y, [0.3, 0.0, 0.1], steps=8,
                             restarts=2, seed=4, device="cpu")
    assert curve.eps == [0.0, 0.1, 0.3]
    errs = [(r.pred_adv - r.y) ** 2 for r in curve.results]
    np.testing.assert_array_equal(errs[0], (curve.results[0].pred_clean - curve.results[0].y) ** 2)  # eps 0
    for a, b in zip(errs, errs[1:]):
        assert bool(np.all(b >= a))
    for r in curve.results:  # the reported predictions are the model's on the reported inputs
        with torch.no_grad():
            np.testing.assert_allclose(r.pred_adv, mlp_regressor(r.x_adv)[:, 0].numpy(), rtol=1e-12)
    assert list(curve.table["robust_rmse"]) == [r.robust_rmse for r in curve.results]


def test_a_classifier_and_bad_targets_are_refused(mlp_regressor, regression_data):
    from audit.errors import AuditInputError

    x, y = regression_data
    with pytest.raises(AuditInputError, match="task='regression'"):
        regression_attack(torch.nn.Linear(3, 2).double(), x, y, 0.1, device="cpu")
    with pytest.raises(AuditInputError, match="missing or infinite"):
        regression_attack(ModelAdapter(mlp_regressor, task="regression"), x, y.clone().fill_(np.nan), 0.1, device="cpu")


def test_black_box_never_lowers_the_squared_error_and_stays_in_the_ball():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(size=200), rng.integers(0, 6, 200).astype(float), rng.normal(size=200)])
    y = x[:, 0] * 2 + x[:, 1] - x[:, 2] + rng.normal(0, 0.2, 200)
    model = RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0).fit(x, y)
    scale, lo, hi = x.std(0), x.min(0), x.max(0)
    mask, integer = np.array([1.0, 1.0, 0.0]), np.array([False, True, False])
    curve = regression_random_search_curve(model.predict, x, y, [0.1, 0.5], queries=40, bounds=(lo, hi), mask=mask,
                                           scale=scale, integer=integer, seed=3)
    clean_sq = (model.predict(x) - y) ** 2
    prev = clean_sq
    for r in curve.results:
        xa = r.x_adv.numpy()
        np.testing.assert_allclose(r.pred_adv, model.predict(xa), rtol=1e-12)  # what the model really predicts there
        sq = (r.pred_adv - y) ** 2
        assert bool(np.all(sq >= prev)) and bool(np.all(sq >= clean_sq))
        assert bool(np.all(np.abs(xa - x) <= r.eps * scale * (1 + 1e-12)))
        assert bool(np.all((xa >= lo) & (xa <= hi)))
        np.testing.assert_array_equal(xa[:, 2], x[:, 2])  # frozen
        np.testing.assert_array_equal(xa[:, 1], np.round(xa[:, 1]))  # integer stays integer
        assert r.robust_rmse > r.clean_rmse
        prev = sq


def test_group_errors_equal_scikit_learn_per_group():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(240, 2))
    g = np.where(np.arange(240) < 120, "a", "b")
    y = x @ [1.0, -1.0] + np.where(g == "a", 0.1, 1.0) * rng.normal(size=240)
    curve = regression_random_search_curve(lambda z: z @ np.array([1.0, -1.0]), x, y, [0.2], queries=20, seed=0)
    res = regression_group_robustness(curve.results, pd.DataFrame({"g": g}), n_boot=200, seed=0)
    t = res.table.set_index("group")
    pred = curve.results[0].pred_adv
    for level in ("a", "b"):
        sel = g == level
        assert t.loc[level, "random_search.linf@0.2 mae"] == pytest.approx(mean_absolute_error(y[sel], pred[sel]))
        assert t.loc[level, "random_search.linf@0.2 rmse"] == pytest.approx(np.sqrt(mean_squared_error(y[sel], pred[sel])))
    row = res.gaps[res.gaps["metric"] == "mae"].iloc[0]
    assert row["plug_in"] == pytest.approx(abs(t.loc["a", "random_search.linf@0.2 mae"] - t.loc["b", "random_search.linf@0.2 mae"]))
    assert row["worst_group"] == "b" and row["low"] > 0 and row["p_value"] < 0.05  # b's noise is 10x a's
    gap, low, high = res.max_gap("random_search.linf@0.2", "mae")
    assert low <= gap <= high
    # the fairness check's rule for a regressor's error gaps, on the adversarial predictions: the same estimate and,
    # up to Monte Carlo error of the 2,000 normal draws each takes, the same interval
    big = regression_group_robustness(curve.results, pd.DataFrame({"g": g}), n_boot=2000, seed=1)
    fair = regression_fairness(y, pred, pd.DataFrame({"g": g}), n_boot=2000, seed=5).gaps
    for m in ("mae", "rmse"):
        ours = big.gaps[big.gaps["metric"] == m].iloc[0]
        assert ours["plug_in"] == pytest.approx(fair.loc[("g", m), "plug_in"], rel=1e-12)
        assert ours["worst_group"] == fair.loc[("g", m), "max_group"]
        for f in ("gap", "low", "high"):
            assert ours[f] == pytest.approx(fair.loc[("g", m), f], rel=0.05)


def test_check_reports_robust_errors_of_a_torch_regressor_per_group(mlp_regressor, regression_data):
    x, y = regression_data
    df = pd.DataFrame(x.numpy(), columns=["a", "b", "c"]).assign(y=y.numpy(), g=np.where(np.arange(160) % 3, "p", "q"))
    check = RobustnessCheck(eps=(0.1, 0.25), steps=6, n_boot=100, random_start=False)
    r = audit(mlp_regressor, df, target="y", sensitive=["g"], features=["a", "b", "c"], task="regression",
              checks=[check], progress=False)
    s = r.sections["robustness"]
    assert s.status == "ok"
    for curve in s.curves:
        for res in curve.results:
            with torch.no_grad():
                pred = mlp_regressor(res.x_adv)[:, 0].numpy()
            e = f"{res.eps:g}"
            assert s.metric(f"robustness.{res.attack}.linf.rmse@{e}").value == pytest.approx(
                np.sqrt(mean_squared_error(y.numpy(), pred)), rel=1e-9)
            assert s.metric(f"robustness.{res.attack}.linf.mae@{e}").value == pytest.approx(
                mean_absolute_error(y.numpy(), pred), rel=1e-9)
            gap = s.metric(f"robustness.{res.attack}.linf.rmse_group_gap@{e}")
            assert gap.low <= gap.value <= gap.high
            assert s.metric(f"robustness.{res.attack}.linf.g.mae_group_gap@{e}") is not None
    assert set(s.tables) >= {"Error vs eps", "Robust error by group", "Group gaps"}
    assert "raises the RMSE" in s.summary and any("target's units" in n for n in s.notes)
    assert s.figures[0].title == "RMSE vs eps"


def test_check_attacks_a_scikit_learn_regressor_black_box_and_keeps_the_sensitive_column():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150), "s": rng.integers(0, 2, 150)})
    df["y"] = 2 * df.a - df.b + df.s + rng.normal(0, 0.1, 150)
    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(df[["a", "b", "s"]], df.y)
    r = audit(model, df, target="y", sensitive=["s"], features=["a", "b", "s"], checks=[RobustnessCheck(
        eps=(0.1, 0.5), queries=20, n_boot=50)], progress=False)
    s = r.sections["robustness"]
    assert s.status == "ok" and [c.attack for c in s.curves] == ["random_search"]
    X = df[["a", "b", "s"]].to_numpy(dtype=float)
    for res in s.curves[0].results:
        xa = res.x_adv.numpy()
        np.testing.assert_array_equal(xa[:, 2], X[:, 2])  # the sensitive column never moves
        assert bool(np.all((res.pred_adv - res.y) ** 2 >= (res.pred_clean - res.y) ** 2))
        assert s.metric(f"robustness.random_search.linf.rmse@{res.eps:g}").value == pytest.approx(res.robust_rmse)
    assert any("lower bound" in n for n in s.notes)
