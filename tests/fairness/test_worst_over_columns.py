"""A worst-over-columns (or over-classes) gate is never weaker than the gate on any one of them.

Issue 23: on Adult, ``sensitive=["sex"]`` failed demographic parity while ``["sex", "race"]`` passed it, because
the top-level interval was one joint band over every column's contrasts, which race's small groups widened to
reach 0. Now each column's gap is computed at the Bonferroni level ``1 - 0.05 / k`` and the worst takes the
largest lower end (:func:`audit.stats.worst_of`).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from audit import StoredPredictions, audit
from audit.fairness import assess_fairness
from audit.stats import proportion_gaps
from audit.stats import GapEvidence, family_confidence, worst_of

DPD = "demographic_parity_difference"


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _newcombe(k1: int, n1: int, k2: int, n2: int, confidence: float) -> tuple[float, float]:
    """Newcombe's (1998) hybrid score interval for p1 - p2, written from the paper (method 10)."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = _wilson(k1, n1, z), _wilson(k2, n2, z)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


@pytest.fixture(scope="module")
def clear_and_noisy():
    """Column ``a``: two large groups with selection rates 0.25 and 0.09 (a clear gap of 0.16). Column ``b``: one
    large group and eleven groups of about 60 rows with the same rate (no real gap, a wide interval)."""
    rng = np.random.default_rng(3)
    n = 6000
    a = np.where(rng.random(n) < 0.5, "m", "f")
    b = rng.choice([f"g{i}" for i in range(12)], n, p=[0.89] + [0.01] * 11)
    y_pred = (rng.random(n) < np.where(a == "m", 0.25, 0.09)).astype(int)
    y_true = (rng.random(n) < 0.3).astype(int)
    return y_true, y_pred, pd.DataFrame({"a": a, "b": b})


def test_adding_a_noisy_column_keeps_the_clear_gap_lower_bound(clear_and_noisy):
    y, p, s = clear_and_noisy
    both = assess_fairness(y, p, s, seed=0)
    top = both.overall.loc[DPD]
    # the reference: Newcombe's interval for column a at the Bonferroni level for two columns
    k1, n1 = int(p[s["a"] == "m"].sum()), int((s["a"] == "m").sum())
    k2, n2 = int(p[s["a"] == "f"].sum()), int((s["a"] == "f").sum())
    lo, hi = _newcombe(k1, n1, k2, n2, family_confidence(0.95, 2))
    assert top["feature"] == "a" and top["columns"] == 2 and top["column_confidence"] == pytest.approx(0.975)
    # the band's critical value is the bootstrap quantile of |t| (one contrast: about z); 0.005 covers its noise
    assert top["low"] == pytest.approx(lo, abs=0.005)
    assert top["low"] >= lo - 0.005 > 0.1  # before: 0.0, and a max = 0.1 gate passed
    # every column's lower end at the same level is below the worst's
    for col in ("a", "b"):
        alone = assess_fairness(y, p, s[[col]], seed=0, confidence=0.975).overall.loc[DPD]
        assert top["low"] >= alone["low"] - 0.005
    # and the groups that decide it
    assert {top["best_group"], top["worst_group"]} == {"m", "f"}


def test_the_gate_fails_with_one_column_and_with_both(clear_and_noisy):
    y, p, s = clear_and_noisy
    log = s.assign(label=y, score=np.where(p == 1, 0.8, 0.2))
    for sensitive in (["a"], ["a", "b"]):
        report = audit(StoredPredictions(score="score"), log, target="label", sensitive=sensitive,
                       checks=["fairness"], progress=False)
        finding = next(f for f in report.findings if f.metric == f"fairness.{DPD}")
        assert finding.status == "fail" and not report.passed, (sensitive, finding.message)
        # the finding names the column, both groups and their selection rates
        assert "a, selection rate" in finding.message and "for m vs" in finding.message and "for f" in finding.message


def test_worst_of_equals_its_definition():
    ev = [GapEvidence(0.2, 0.15, 0.05, 0.3, 0.01), GapEvidence(0.1, 0.09, 0.07, 0.12, 0.0004),
          GapEvidence(float("nan"), float("nan"), float("nan"), float("nan"), float("nan"))]
    i, w = worst_of(ev, "difference")
    assert i == 0 and (w.corrected, w.low, w.high) == (0.15, 0.07, 0.3)
    assert w.p_value == pytest.approx(3 * 0.0004)
    ratios = [GapEvidence(0.7, 0.72, 0.6, 0.85, 0.01), GapEvidence(0.9, 0.9, 0.8, 1.0, 0.5)]
    i, w = worst_of(ratios, "ratio")
    assert i == 0 and (w.corrected, w.low, w.high) == (0.72, 0.6, 0.85)
    assert worst_of(ev[2:], "difference")[0] == -1


def test_robust_accuracy_gap_worst_column_keeps_the_clear_column():
    """The robustness gap over columns: a clear accuracy gap in one column, many small noisy groups in another."""
    rng = np.random.default_rng(5)
    n = 4000
    a = (rng.random(n) < 0.5).astype(int)
    b = rng.choice(12, n, p=[0.89] + [0.01] * 11)
    correct = rng.random(n) < np.where(a == 1, 0.8, 0.6)
    per_col, worst = proportion_gaps(correct, [a, b], [pd.Index(["x", "y"]), pd.Index([f"g{i}" for i in range(12)])],
                                   ["a", "b"], min_group_size=30, n_boot=1000, rng=np.random.default_rng(0))
    ka, na = int(correct[a == 1].sum()), int((a == 1).sum())
    kb, nb = int(correct[a == 0].sum()), int((a == 0).sum())
    lo, _ = _newcombe(ka, na, kb, nb, 0.975)
    assert worst["column"] == "a" and worst["best_group"] == "y" and worst["worst_group"] == "x"
    assert worst["low"] == pytest.approx(lo, abs=0.005) and worst["low"] > 0.15
    assert worst["low"] >= per_col[1]["low"]
