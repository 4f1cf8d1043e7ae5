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


def _equal_mass_ece(conf, correct, k):
    """Reference: the rows ranked by confidence, rank r (0-based) in bin floor(k (r + 1/2) / n), weighted |acc - conf|."""
    n = len(conf)
    order = np.argsort(conf, kind="stable")
    chunks = [[] for _ in range(k)]
    for r, i in enumerate(order):
        chunks[int(k * (r + 0.5) // n)].append(i)
    assert min(map(len, chunks)) >= n // k  # equal mass: every bin holds n // k or n // k + 1 rows
    return sum(len(c) / n * abs(correct[c].mean() - conf[c].mean()) for c in chunks)


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
    conf, correct = proba.max(1), proba.argmax(1) == y
    for grp in ("a", "b"):
        m = g == grp
        k = min(15, m.sum() // 100)  # one equal-mass bin per 100 rows, at most 15 (about 1,000 rows: 10 bins)
        assert r.by_group.loc[("g", grp), "bins"] == k
        # ties at clipped probabilities (0 and 1 in group b) share a bin: compare on the untied group only
        if grp == "a":
            assert r.by_group.loc[("g", grp), "ece"] == pytest.approx(_equal_mass_ece(conf[m], correct[m], k), abs=1e-12)
    ea, eb = r.by_group.loc[("g", "a"), "ece"], r.by_group.loc[("g", "b"), "ece"]
    assert r.gaps.loc["g", "ece_gap"] == pytest.approx(eb - ea)
    assert eb - ea > 0.1 and r.gaps.loc["g", "worst_group"] == "b"
    # the equal-width binning is still there and gives the overall ECE of each group's rows
    w = calibration(y, proba, sensitive=pd.DataFrame({"g": g}), group_binning="equal_width")
    assert w.by_group.loc[("g", "a"), "ece"] == pytest.approx(calibration(y[g == "a"], proba[g == "a"]).ece)
    assert w.by_group.loc[("g", "b"), "bins"] == 15
    # the 10-row group is shown, flagged small, and the gap over one eligible group is undefined
    assert bool(r.by_group.loc[("tiny", "x"), "small"]) and np.isnan(r.gaps.loc["tiny", "ece_gap"])
    assert r.by_group.loc[("tiny", "x"), "bins"] == 1
    assert any("tiny" in n for n in r.notes)
    assert "equal-mass bins, one per 100 rows (1 to 15)" in r.binning


def test_equal_mass_bins_keep_ties_together_and_count_per_group():
    from audit.health._calibration import equal_mass_bins

    v = np.array([0.1, 0.2, 0.2, 0.2, 0.9, 0.5, 0.6, 0.7, 0.8, 0.3])
    codes = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    b, k = equal_mass_bins(v, codes, 2, 15, 2)
    assert k.tolist() == [2, 2]
    # group 0: ranks 0..4, the three tied 0.2 (ranks 1-3, middle 2) share the middle bin position -> bin 1
    assert b[:5].tolist() == [0, 1, 1, 1, 1]
    assert b[5:].tolist() == [0, 1, 1, 1, 0]  # group 1 sorted: .3 .5 | .6 .7 .8


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
        r = calibration(y[i], p[i], n_bins=n_bins, sensitive=pd.DataFrame({"g": groups[i]}), min_group_size=min_group_size,
                        group_binning="equal_width")
        ece.append(r.ece)
        gap.append(float(r.gaps.loc["g", "ece_gap"]))
    return np.quantile(ece, [0.025, 0.975]), np.nanquantile(gap, [0.025, 0.975])


def _data_for_intervals():
    rng = np.random.default_rng(7)
    n = 1500
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    p1 = rng.uniform(0.05, 0.95, n)
    truth = 0.5 + np.where(groups == "b", 0.4, 1.0) * (p1 - 0.5)  # group b is over-confident
    y = (rng.random(n) < truth).astype(int)
    return y, np.column_stack([1 - p1, p1]), groups


def test_ece_bootstrap_matches_a_row_bootstrap_loop():
    """The cell bootstrap of the ECE and of the gap's resampled distribution equal a row-resampling loop
    (equal-width bins, where re-binning a resample changes nothing)."""
    from audit.health import ece_intervals
    from audit.health._calibration import _bin_index
    from audit.health._calibration_ci import _ece_samples

    y, p, groups = _data_for_intervals()
    (elo, ehi), (glo, ghi) = _row_bootstrap_ece(y, p, groups, 400, seed=1)
    conf, correct = p.max(1), p.argmax(1) == y
    overall = _ece_samples(conf, correct, np.zeros(len(y), np.int64), 1, 15, 2000, np.random.default_rng(0))[:, 0]
    lo, hi = np.quantile(overall, [0.025, 0.975])
    half = (ehi - elo) / 2
    # a 2.5 % quantile of 400 resamples has a standard error of about 0.1 half-widths
    assert abs(lo - elo) < 0.3 * half and abs(hi - ehi) < 0.3 * half, (lo, hi, elo, ehi)
    codes = pd.factorize(groups, sort=True)[0]
    per = _ece_samples(conf, correct, codes, 3, 15, 2000, np.random.default_rng(0), _bin_index(conf, 15))
    lo, hi = np.quantile(per.max(1) - per.min(1), [0.025, 0.975])
    half = (ghi - glo) / 2
    assert abs(lo - glo) < 0.3 * half and abs(hi - ghi) < 0.3 * half, (lo, hi, glo, ghi)
    # the reported ECE interval is not that percentile interval (which can lie above the ECE): it holds the ECE
    ours = ece_intervals(y, p, sensitive=pd.DataFrame({"g": groups}), n_boot=2000, seed=0)
    point = calibration(y, p, sensitive=pd.DataFrame({"g": groups}))
    assert ours.loc["ece", "value"] == pytest.approx(point.ece, abs=1e-12)
    assert ours.loc["ece", "low"] <= point.ece <= ours.loc["ece", "high"]


def test_ece_interval_of_a_perfectly_fitted_model_holds_its_zero():
    """Leaves of a tree on their own data: every bin's accuracy equals its confidence, ECE 0; the resampled ECE is
    all above 0, so a percentile interval excluded 0. Ours starts at 0."""
    from audit.health import ece_intervals

    rng = np.random.default_rng(3)
    leaf = rng.integers(0, 6, 3000)
    y = np.zeros(3000, int)
    for k in range(6):  # exactly 10k % positives in leaf k, the leaf predicts that share
        m = np.flatnonzero(leaf == k)
        y[m[: int(round(len(m) * (0.1 + 0.15 * k)))]] = 1
    p1 = np.array([y[leaf == k].mean() for k in range(6)])[leaf]
    ci = ece_intervals(y, np.column_stack([1 - p1, p1]), n_boot=500)
    assert ci.loc["ece", "value"] == pytest.approx(0, abs=1e-12) and ci.loc["ece", "low"] == 0.0 < ci.loc["ece", "high"] < 0.05


def test_ece_gap_evidence_on_equal_mass_bins():
    """Reported gap = the plug-in of calibration(); corrected inside the interval; a real gap is detected."""
    from audit.health import ece_intervals

    y, p, groups = _data_for_intervals()
    ours = ece_intervals(y, p, sensitive=pd.DataFrame({"g": groups}), n_boot=1000, seed=0)
    point = calibration(y, p, sensitive=pd.DataFrame({"g": groups}))
    g = ours.loc["g.ece_gap"]
    assert g["value"] == pytest.approx(point.gaps.loc["g", "ece_gap"], abs=1e-12)
    assert g["low"] <= g["corrected"] <= g["high"] and g["low"] <= g["value"] <= g["high"]
    # group b's confidence overstates its accuracy by 0.6 |p - 0.5|: 0.135 on average (the true gap), the others are calibrated
    assert g["low"] <= 0.135 <= g["high"] and g["p_value"] < 0.01
    again = ece_intervals(y, p, sensitive=pd.DataFrame({"g": groups}), n_boot=1000, seed=0)
    pd.testing.assert_frame_equal(ours, again)
