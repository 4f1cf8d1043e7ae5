"""The uncertainty check (issue 26 item 4): split-conformal intervals of a regressor, calibrated on a seeded random
half of the evaluation rows. The half-width is the hand-written order statistic, coverage overall and per group is a
hand count on the other half, the mean coverage over 200 small linear-Gaussian problems is nominal, and an unequal
coverage between groups is found and gated."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression

from audit import audit
from audit.checks import UncertaintyCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter


@pytest.fixture(scope="module")
def diabetes():
    d = load_diabetes(as_frame=True).frame
    d["sex"] = np.where(d["sex"] > 0, "m", "f")
    feats = [c for c in d.columns if c not in ("target", "sex")]
    model = LinearRegression().fit(d[feats].iloc[:200], d["target"].iloc[:200])
    return model, d.iloc[200:].reset_index(drop=True), feats


def test_half_width_and_coverage_equal_a_hand_computation(diabetes):
    model, test, feats = diabetes
    r = audit(model, test, target="target", sensitive=["sex"], features=feats, checks=["uncertainty"], progress=False)
    s = r.sections["uncertainty"]
    assert s.status == "ok", s.reason
    cal = s.calibration_rows
    rest = np.setdiff1d(np.arange(len(test)), cal)
    assert len(cal) == len(test) // 2 and len(rest) == len(test) - len(cal)
    resid = np.abs(test["target"].to_numpy() - model.predict(test[feats]))
    # by hand: with n calibration rows the half-width is the ceil((n + 1)(1 - alpha))-th smallest |residual|
    n = len(cal)
    q = sorted(resid[cal])[math.ceil((n + 1) * 0.9) - 1]
    m = {x.name: x for x in s.metrics}
    assert s.result.half_width == q and m["uncertainty.interval_width"].value == 2 * q
    inside = resid[rest] <= q
    assert m["uncertainty.coverage"].value == pytest.approx(inside.mean(), abs=1e-12)
    assert m["uncertainty.coverage"].low < inside.mean() < m["uncertainty.coverage"].high
    by_group = s.tables["Coverage by group"].set_index("group")
    sex = test["sex"].to_numpy()[rest]
    for g in ("f", "m"):
        assert by_group.loc[g, "coverage"] == pytest.approx(inside[sex == g].mean(), abs=1e-12)
        assert by_group.loc[g, "n"] == (sex == g).sum()
    gap = m["uncertainty.sex.coverage_gap"]
    assert gap.low <= gap.value <= gap.high and "sex" in gap.description
    assert {f.metric for f in r.findings} >= {"uncertainty.coverage", "uncertainty.sex.coverage_gap"}
    assert any("model was fitted on them" in n for n in s.notes)


def test_mean_coverage_over_200_linear_gaussian_problems_is_nominal():
    """y = 2 x1 - x2 + N(0, 1); a least-squares fit on 200 other rows; 200 audits of 120 fresh rows each (60
    calibrate, 60 measure). Conformal coverage averages between 0.9 and 0.9 + 1 / 61; the mean of 200 is within
    2 points of 0.9 (its Monte-Carlo sd is about 0.003)."""
    rng = np.random.default_rng(7)
    beta = np.array([2.0, -1.0])

    def draw(n):
        x = rng.normal(size=(n, 2))
        return pd.DataFrame(x, columns=["x1", "x2"]).assign(y=x @ beta + rng.normal(size=n))

    train = draw(200)
    model = ModelAdapter(LinearRegression().fit(train[["x1", "x2"]], train["y"]))
    check = UncertaintyCheck(n_boot=0)
    cover = []
    for i in range(200):
        ctx = AuditContext(model=model, data=load_data(draw(120), target="y", features=["x1", "x2"]), seed=i)
        cover.append(check.run(ctx).result.coverage)
    assert abs(np.mean(cover) - 0.9) < 0.02, np.mean(cover)
    assert 0.88 < np.mean(cover) < 0.9 + 1 / 61 + 0.01


def test_unequal_noise_between_groups_is_an_unequal_coverage_and_fails_a_gate():
    """Noise three times larger in group b: one width for everyone covers a more often than b."""
    rng = np.random.default_rng(2)
    n = 4000
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b"], n)})
    frame["y"] = frame["x"] + rng.normal(scale=np.where(frame["g"] == "a", 0.5, 1.5))
    r = audit(lambda X: X["x"].to_numpy(), frame, target="y", sensitive=["g"], features=["x", "g"], task="regression",
              checks=[UncertaintyCheck(n_boot=300)], policy={"uncertainty.g.coverage_gap": {"max": 0.1}}, progress=False)
    s = r.sections["uncertainty"]
    (f,) = r.findings
    assert f.status == "fail" and f.low > 0.1 and f.rule.startswith("gap rule")
    assert "over g groups" in f.message and "for a vs" in f.message and "for b;" in f.message
    assert s.result.gaps.loc["g", "worst_group"] == "b"


def test_classifiers_are_skipped_with_a_pointer_to_calibration_and_bad_settings_are_clear():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200)})
    frame["y"] = (frame["x"] + rng.normal(size=200) > 0).astype(int)
    clf = LogisticRegression().fit(frame[["x"]], frame["y"])
    r = audit(clf, frame, target="y", checks=["uncertainty"], progress=False)
    assert r.sections["uncertainty"].status == "skipped" and "calibration check" in r.sections["uncertainty"].reason
    reg = frame.assign(y=frame["x"] * 2.0)
    r = audit(lambda X: X["x"].to_numpy(), reg.iloc[:17], target="y", features=["x"], task="regression",
              checks=["uncertainty"], progress=False)
    assert r.sections["uncertainty"].status == "skipped" and "needs 9 rows" in r.sections["uncertainty"].reason
    r = audit(lambda X: X["x"].to_numpy(), reg, target="y", features=["x"], task="regression",
              checks=[UncertaintyCheck(level=1.5)], progress=False)
    assert r.sections["uncertainty"].status == "error" and "level=" in r.sections["uncertainty"].reason
    r = audit(lambda X: X["x"].to_numpy(), reg.assign(g="one"), target="y", features=["x"], sensitive=["g"],
              task="regression", checks=[UncertaintyCheck(level=0.8)], progress=False)
    s = r.sections["uncertainty"]
    assert any("written for level 0.9" in n for n in s.notes)
    assert any(n.startswith("g: fewer than two groups") for n in s.notes)
    assert not [m for m in s.metrics if m.name.endswith("coverage_gap")]


def _interval_log(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    y = rng.normal(size=n)
    g = np.where(np.arange(n) % 2 == 0, "a", "b")
    pred = y + rng.normal(size=n) * np.where(g == "a", 0.5, 1.5)
    return pd.DataFrame({"y": y, "pred": pred, "lo": pred - 1.645, "hi": pred + 1.645, "g": g})


def test_a_models_own_intervals_are_measured_per_group_by_hand():
    from audit import StoredPredictions

    log = _interval_log()
    r = audit(StoredPredictions(prediction="pred", interval=("lo", "hi")), log, target="y", sensitive=["g"],
              checks=["uncertainty"], progress=False)
    inside = (log["lo"] <= log["y"]) & (log["y"] <= log["hi"])
    assert r.metrics["uncertainty.coverage"].value == pytest.approx(inside.mean(), abs=1e-12)
    assert r.metrics["uncertainty.interval_width"].value == pytest.approx((log["hi"] - log["lo"]).mean())
    by_group = r.sections["uncertainty"].tables["Coverage by group"].set_index("group")["coverage"]
    hand = inside.groupby(log["g"]).mean()
    assert by_group.to_dict() == pytest.approx(hand.to_dict(), abs=1e-12)
    gap = r.sections["uncertainty"].tables["Coverage gaps"].loc["g"]
    assert gap["plug_in"] == pytest.approx(hand.max() - hand.min(), abs=1e-12)
    assert r.metrics["uncertainty.g.coverage_gap"].low > 0.2  # group b's wider errors are covered far less
    assert "own prediction intervals" in r.sections["uncertainty"].summary


def test_a_predict_interval_method_is_used_and_bad_bounds_are_named():
    log = _interval_log(400)

    class Quantiles:
        _estimator_type = "regressor"

        def __init__(self, flip=False):
            self.flip = flip

        def predict(self, X):
            return X["pred"].to_numpy()

        def predict_interval(self, X):
            b = np.c_[X["lo"], X["hi"]]
            return b[:, ::-1] if self.flip else b

    kw = dict(target="y", sensitive=["g"], features=["pred", "lo", "hi"], checks=["uncertainty"], progress=False)
    r = audit(Quantiles(), log, **kw)
    inside = (log["lo"] <= log["y"]) & (log["y"] <= log["hi"])
    assert r.metrics["uncertainty.coverage"].value == pytest.approx(inside.mean())
    bad = audit(Quantiles(flip=True), log, **kw).sections["uncertainty"]
    assert bad.status == "error" and "lower bound exceeds the upper one" in bad.reason


def test_audit_run_reads_interval_columns(tmp_path):
    from audit.config import build_audit_kwargs, read_config

    _interval_log(300).to_csv(tmp_path / "log.csv", index=False)
    cfg = tmp_path / "audit.toml"
    cfg.write_text('[model]\nprediction = "pred"\ninterval = ["lo", "hi"]\n[data]\npath = "log.csv"\ntarget = "y"\n'
                   'sensitive = ["g"]\n[audit]\nchecks = ["uncertainty"]\n')
    report = audit(**build_audit_kwargs(read_config(cfg)), progress=False)
    assert report.sections["uncertainty"].result.source == "model"
