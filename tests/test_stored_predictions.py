"""Prediction-log audits: stored scores or labels, no model; the same metric names and values as the live model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit import StoredPredictions, audit
from audit.datasets import load_compas
from audit.errors import AuditInputError

FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
CHECKS = ["performance", "fairness", "calibration", "explain", "robustness"]


@pytest.fixture(scope="module")
def live_and_log():
    d = load_compas().frame
    train, test = d.iloc[:4000], d.iloc[4000:].reset_index(drop=True)
    lr = LogisticRegression(max_iter=1000).fit(train[FEATURES], train["two_year_recid"])
    log = test[["race", "sex", "two_year_recid"]].assign(score=lr.predict_proba(test[FEATURES])[:, 1],
                                                         pred=lr.predict(test[FEATURES]))
    return lr, test, log


def _metrics(report, check):
    return {m.name: m.value for m in report.sections[check].metrics}


def test_log_audit_equals_the_live_model_audit(live_and_log):
    lr, test, log = live_and_log
    live = audit(lr, test, target="two_year_recid", sensitive=["race", "sex"], features=FEATURES, checks=CHECKS,
                 progress=False, seed=0)
    stored = audit(StoredPredictions(score="score"), log, target="two_year_recid", sensitive=["race", "sex"],
                   checks=CHECKS, progress=False, seed=0)
    for check in ("performance", "fairness", "calibration"):
        a, b = _metrics(live, check), _metrics(stored, check)
        shared = [k for k in a if "proxy" not in k]  # proxies need features; the log has none
        assert shared and all(k in b for k in shared)
        np.testing.assert_allclose([b[k] for k in shared], [a[k] for k in shared], rtol=1e-12, atol=1e-12)
    for check in ("explain", "robustness"):
        assert stored.sections[check].status == "skipped"
        assert "stored predictions" in stored.sections[check].reason
    assert stored.meta["model_kind"] == "stored predictions"


def test_label_only_log_and_bad_logs(live_and_log):
    _, _, log = live_and_log
    r = audit(StoredPredictions(pred="pred", classes=[0, 1]), log, target="two_year_recid", sensitive=["race"],
              checks=["performance", "calibration"], progress=False)
    acc = _metrics(r, "performance")["performance.accuracy"]
    assert acc == pytest.approx(float((log["pred"] == log["two_year_recid"]).mean()))
    assert r.sections["calibration"].status == "skipped"  # labels only: nothing to calibrate
    with pytest.raises(AuditInputError, match="must be probabilities in \\[0, 1\\]"):
        audit(StoredPredictions(score="score"), log.assign(score=log["score"] * 3), target="two_year_recid",
              progress=False, checks=["performance"])
    with pytest.raises(AuditInputError, match="needs score="):
        StoredPredictions()
    with pytest.raises(AuditInputError, match=r"data lacks column\(s\) \['p'\]"):
        audit(StoredPredictions(score="p"), log, target="two_year_recid", progress=False)
    assert not isinstance(pd.DataFrame(), StoredPredictions)


def test_per_period_breakdown_of_a_log(live_and_log):
    _, _, log = live_and_log
    log = log.assign(scored_at=pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(log)) % 90, unit="D"))
    r = audit(StoredPredictions(score="score"), log, target="two_year_recid", sensitive=["race"],
              checks=["performance"], progress=False, time_column="scored_at", period="M")
    table = r.sections["performance"].tables["By period (M)"]
    month = log["scored_at"].dt.strftime("%Y-%m")
    pred = (log["score"] > 0.5).astype(int)
    ref_acc = (pred == log["two_year_recid"]).groupby(month).mean()
    assert table.index.tolist() == ref_acc.index.tolist() == ["2026-01", "2026-02", "2026-03"]
    np.testing.assert_allclose(table["accuracy"].to_numpy(), ref_acc.to_numpy(), rtol=1e-12)
    jan = month == "2026-01"
    rates = pred[jan].groupby(log["race"][jan]).agg(["mean", "size"])
    rates = rates[rates["size"] >= 30]["mean"]
    assert table.loc["2026-01", "race selection-rate gap"] == pytest.approx(rates.max() - rates.min())
    with pytest.raises(AuditInputError, match="period must be a pandas period frequency"):
        audit(StoredPredictions(score="score"), log, target="two_year_recid", progress=False, time_column="scored_at",
              period="fortnight")


def test_multiclass_scores_that_do_not_sum_to_one_are_refused_naming_the_fix(live_and_log):
    """Three score columns summing to 0.7 per row were gated as real numbers (ECE 0.03, or a raising ROC AUC); the
    same log with the columns renormalised audits, with the log loss scikit-learn gives."""
    from sklearn.metrics import log_loss

    _, _, log = live_and_log
    y3 = np.digitize(log["score"], [0.33, 0.66])
    three = log.assign(y3=y3, p0=0.2, p1=0.3, p2=0.2)
    kw = dict(target="y3", sensitive=["race"], checks=["performance", "calibration"], progress=False)
    with pytest.raises(AuditInputError, match=r"stored predictions returned 3 scores per row that are not probabilities "
                                              r"for \d+ of \d+ rows \(row sums 0\.7 to 0\.7.*summing to 1 in every row"):
        audit(StoredPredictions(score=["p0", "p1", "p2"], classes=[0, 1, 2]), three, **kw)
    fixed = three.assign(p0=2 / 7, p1=3 / 7, p2=2 / 7)
    r = audit(StoredPredictions(score=["p0", "p1", "p2"], classes=[0, 1, 2]), fixed, **kw)
    ref = log_loss(y3, fixed[["p0", "p1", "p2"]].to_numpy(), labels=[0, 1, 2])
    assert _metrics(r, "performance")["performance.log_loss"] == pytest.approx(ref, rel=1e-12)
