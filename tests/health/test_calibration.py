from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss

from audit.checks.calibration import CalibrationCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.errors import AuditInputError
from audit.health import calibration, reliability_table
from audit.model import ModelAdapter

# 8 rows, 5 bins (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]
P1 = np.array([0.9, 0.85, 0.7, 0.65, 0.3, 0.1, 0.55, 0.45])
Y = np.array([1, 0, 1, 1, 0, 0, 0, 1])


def test_ece_and_mce_by_hand():
    r = calibration(Y, np.column_stack([1 - P1, P1]), n_bins=5)
    # top-label confidence 0.9 .85 .7 .65 .7 .9 .55 .55, correct 1 0 1 1 1 1 0 0
    hi = abs((0.9 + 0.85 + 0.9) / 3 - 2 / 3)  # bin (.8, 1]: rows 0, 1, 5
    mid = abs((0.7 + 0.65 + 0.7) / 3 - 1.0)  # bin (.6, .8]: rows 2, 3, 4
    lo = abs(0.55 - 0.0)  # bin (.4, .6]: rows 6, 7
    assert r.ece == pytest.approx(3 / 8 * hi + 3 / 8 * mid + 2 / 8 * lo)
    assert r.ece == pytest.approx(0.3375)
    assert r.mce == pytest.approx(0.55)
    # positive-class ECE bins p1 against the frequency of y = 1
    pos = 2 / 8 * abs(0.875 - 0.5) + 2 / 8 * abs(0.675 - 1) + 2 / 8 * abs(0.5 - 0.5) + 1 / 8 * 0.3 + 1 / 8 * 0.1
    assert r.positive_class_ece == pytest.approx(pos)
    assert r.reliability["count"].tolist() == [0, 0, 2, 3, 3]


def test_one_dimensional_proba_is_positive_class():
    a = calibration(Y, P1, n_bins=5)
    b = calibration(Y, np.column_stack([1 - P1, P1]), n_bins=5)
    assert (a.ece, a.brier) == (b.ece, b.brier)


def test_brier_matches_sklearn_binary_and_multiclass():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 300), 0, 1)
    r = calibration(y, np.column_stack([1 - p1, p1]))
    assert r.brier == pytest.approx(brier_score_loss(y, p1))
    y3 = rng.integers(0, 3, 300)
    p3 = rng.dirichlet(np.ones(3), 300)
    r3 = calibration(y3, p3)
    assert r3.brier == pytest.approx(brier_score_loss(y3, p3, labels=[0, 1, 2]))
    assert np.isnan(r3.positive_class_ece)


def test_multiclass_ece_against_loop():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 500)
    p = rng.dirichlet(np.ones(4) * 0.5, 500)
    r = calibration(y, p, n_bins=10)
    conf, correct = p.max(1), p.argmax(1) == y
    ece = 0.0
    for b in range(10):
        m = (conf > b / 10) & (conf <= (b + 1) / 10)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    assert r.ece == pytest.approx(ece)


def test_per_group_ece_and_gap():
    rng = np.random.default_rng(5)
    n = 2000
    g = np.where(rng.random(n) < 0.5, "a", "b")
    true_p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < true_p).astype(int)
    # group a gets its true probability (calibrated), group b an over-confident one
    p1 = np.where(g == "a", true_p, np.clip(0.5 + 1.8 * (true_p - 0.5), 0, 1))
    proba = np.column_stack([1 - p1, p1])
    tiny = np.where(np.arange(n) < 10, "x", "y")
    r = calibration(y, proba, sensitive=pd.DataFrame({"g": g, "tiny": tiny}))
    ea = calibration(y[g == "a"], proba[g == "a"]).ece
    eb = calibration(y[g == "b"], proba[g == "b"]).ece
    assert r.by_group.loc[("g", "a"), "ece"] == pytest.approx(ea)
    assert r.by_group.loc[("g", "b"), "ece"] == pytest.approx(eb)
    assert r.gaps.loc["g", "ece_gap"] == pytest.approx(eb - ea)
    assert eb - ea > 0.1 and r.gaps.loc["g", "worst_group"] == "b"
    # the 10-row group is shown, flagged small, and the gap over one eligible group is undefined
    assert bool(r.by_group.loc[("tiny", "x"), "small"]) and np.isnan(r.gaps.loc["tiny", "ece_gap"])
    assert any("tiny" in n for n in r.notes)


def test_reliability_table_counts():
    t = reliability_table(np.array([0.05, 0.2, 0.21, 1.0]), np.array([1, 0, 1, 1]), n_bins=5)
    assert t["count"].tolist() == [2, 1, 0, 0, 1]  # right-closed: 0.2 falls in the first bin
    assert t["accuracy"].iloc[0] == 0.5


def test_bad_inputs_raise():
    with pytest.raises(AuditInputError, match="y must hold class indices"):
        calibration(np.array([0, 2]), np.array([[0.5, 0.5], [0.1, 0.9]]))
    with pytest.raises(AuditInputError, match="proba"):
        calibration(np.array([0, 1]), np.array([[1.5, -0.5], [0.1, 0.9]]))
    with pytest.raises(AuditInputError, match="n_bins"):
        calibration(Y, P1, n_bins=0)


def _ctx(p1_fn, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    g = np.where(rng.random(n) < 0.5, "a", "b")
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    df = pd.DataFrame({"x": x, "g": g, "y": y})

    def model(X):
        p = p1_fn(X["x"].to_numpy())
        return np.column_stack([1 - p, p])

    return AuditContext(model=ModelAdapter(model), data=load_data(df, target="y", sensitive=["g"], features=["x"]))


def test_check_flags_overconfident_model_and_passes_calibrated_one(judge):
    good = CalibrationCheck().run(_ctx(lambda x: 1 / (1 + np.exp(-x))))
    assert good.metric("calibration.ece").value < 0.05
    assert judge(CalibrationCheck, good) == set()
    bad = CalibrationCheck().run(_ctx(lambda x: 1 / (1 + np.exp(-6 * x))))  # 6x sharper than the truth
    assert bad.metric("calibration.ece").value > 0.1
    assert "calibration.ece" in judge(CalibrationCheck, bad)
    assert {f.title for f in bad.figures} == {"Reliability diagram", "Reliability per group"}
    assert "calibration.g.ece_gap" in {m.name for m in bad.metrics}
    assert "over-confident" in bad.summary


def test_check_skips_label_only_model(tabular_frame):
    ctx = AuditContext(
        model=ModelAdapter(lambda X: (X["x1"].to_numpy() > 0).astype(int)),
        data=load_data(tabular_frame, target="y", features=["x1", "x2"]),
    )
    assert "hard labels" in CalibrationCheck().skip_reason(ctx)


def _row_bootstrap_ece(y, p, groups, n_boot, seed, n_bins=15, min_group_size=30):
    """Reference: resample rows, recompute with audit.health.calibration (itself tested by hand above)."""
    rng = np.random.default_rng(seed)
    ece, gap = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        r = calibration(y[i], p[i], n_bins=n_bins, sensitive=pd.DataFrame({"g": groups[i]}), min_group_size=min_group_size)
        ece.append(r.ece)
        gap.append(float(r.gaps.loc["g", "ece_gap"]))
    return np.quantile(ece, [0.025, 0.975]), np.nanquantile(gap, [0.025, 0.975])


def test_ece_intervals_match_a_row_bootstrap_loop():
    from audit.health import ece_intervals

    rng = np.random.default_rng(7)
    n = 1500
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    p1 = rng.uniform(0.05, 0.95, n)
    truth = np.clip(p1 + np.where(groups == "b", 0.15, 0.0), 0, 1)  # group b is under-confident
    y = (rng.random(n) < truth).astype(int)
    p = np.column_stack([1 - p1, p1])
    ours = ece_intervals(y, p, sensitive=pd.DataFrame({"g": groups}), n_boot=2000, seed=0)
    (elo, ehi), (glo, ghi) = _row_bootstrap_ece(y, p, groups, 400, seed=1)
    for (lo, hi), key in (((elo, ehi), "ece"), ((glo, ghi), "g.ece_gap")):
        half = (hi - lo) / 2
        assert abs(ours.loc[key, "low"] - lo) < 0.3 * half and abs(ours.loc[key, "high"] - hi) < 0.3 * half, (key, ours.loc[key].tolist(), lo, hi)
    point = calibration(y, p, sensitive=pd.DataFrame({"g": groups}))
    assert ours.loc["ece", "low"] < point.ece < ours.loc["ece", "high"]
    assert ours.loc["g.ece_gap", "low"] < point.gaps.loc["g", "ece_gap"] < ours.loc["g.ece_gap", "high"]
