"""Gaps between groups: the simulation (false failures, coverage, bias), and every piece against an independent reference.

The simulation is the fast version of ``bench/gap_simulation.py`` (same code, fewer replicates and sizes);
``BENCHMARKS.md`` (Gap gates) has the full grid. Monte-Carlo tolerances are stated where a rate is
compared with a bound; every simulation is seeded, so the numbers are the same on every run.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from audit import audit
from audit.fairness import assess_fairness
from audit.stats._gaps import (
    apply_test,
    bias_corrected,
    permutation_p_value,
    permuted_rates,
    range_interval,
    split_cells,
    split_counts,
)
from audit.policy import Policy, gap_rule, is_gap
from audit.section import Metric

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("gap_simulation", ROOT / "bench" / "gap_simulation.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gap_simulation", mod)  # its dataclasses look their module up
    spec.loader.exec_module(sys.modules["gap_simulation"])
    return sys.modules["gap_simulation"]


@pytest.fixture(scope="module")
def sim():
    return _bench()


# ------------------------------------------------------------------------------------------ simulation
REPS = 200  # a rate's Monte-Carlo standard error is at most 0.035 (0.015 near 5%)


@pytest.fixture(scope="module")
def fair_runs(sim):
    """Fair, calibrated models: equal groups of 30 and of 1,000 rows, and 3,000 rows against 30."""
    return {(a, b): sim.simulate("fair", a, b, reps=REPS, n_boot=200) for a, b in ((30, 30), (1000, 1000), (3000, 30))}


def test_fair_models_rarely_fail_any_gap_gate_and_intervals_cover(fair_runs):
    for design, res in fair_runs.items():
        for gate, r in res.items():
            # every failure here is false (the true gap is 0): at most 5% at the 95% level
            assert r["fail"] <= 0.05, (design, gate, r)
            # the interval holds the true gap (0, ratios 1) at least 93% of the time
            assert r["cover"] >= 0.93, (design, gate, r)
            # the permutation test keeps its level: 5% plus three Monte-Carlo standard errors (0.015 each)
            assert r["reject"] <= 0.05 + 3 * 0.0155, (design, gate, r)


def test_bias_is_measured_and_reduced(fair_runs):
    """For equal groups of 30 rows the plug-in max - min is biased upward (0.1 for demographic parity);
    the gated, bias-corrected estimate is less biased for every difference and ratio gate."""
    res = fair_runs[(30, 30)]
    assert res["demographic_parity_difference"]["bias_plug_in"] == pytest.approx(0.10, abs=0.02)  # sqrt(2/pi) 0.129
    for gate, r in res.items():
        assert abs(r["bias_corrected"]) < abs(r["bias_plug_in"]), (gate, r)


def test_large_equal_groups_pass(fair_runs):
    """1,000 rows per group tell a fair model apart from a gap of 0.1 for the rate differences and the ECE."""
    res = fair_runs[(1000, 1000)]
    for gate in ("demographic_parity_difference", "demographic_parity_ratio", "ece_gap"):
        assert res[gate]["pass"] >= 0.95, (gate, res[gate])


@pytest.mark.parametrize(("scenario", "gate"), [("dp_at_threshold", "demographic_parity_difference"),
                                                  ("ece_at_threshold", "ece_gap")])
def test_a_gap_at_the_threshold_neither_fails_nor_passes_often(sim, scenario, gate):
    """True gap = the starter threshold (0.1): a failure or a pass would both be wrong; each stays under 5%
    (one-sided 2.5% nominal), and the interval covers the truth."""
    r = sim.simulate(scenario, 300, 300, reps=REPS, n_boot=200)[gate]
    assert sim.truths(sim.SCENARIOS[scenario])[gate] == pytest.approx(0.1, abs=1e-12)
    assert r["fail"] <= 0.05 and r["pass"] <= 0.05 and r["cover"] >= 0.93, r


def test_a_gap_twice_the_threshold_is_found(sim):
    """Power: a demographic parity gap of 0.2 fails the gate at 1,000 rows per group; the test rejects 'no gap'."""
    r = sim.simulate("dp_gap_0.2", 1000, 1000, reps=100, n_boot=200)["demographic_parity_difference"]
    assert r["fail"] >= 0.95 and r["reject"] == 1.0 and r["cover"] >= 0.9, r


def test_a_small_group_against_a_large_one_is_covered_under_a_large_gap(sim):
    """30 rows against 3,000 with a demographic parity gap of 0.2: the 30-row group's rates sit near 0 or 1,
    where a symmetric bootstrap band covered 83-92%; the Wilson (MOVER) bounds keep every gate at 93% or more."""
    res = sim.simulate("dp_gap_0.2", 3000, 30, reps=REPS, n_boot=200)
    for gate, r in res.items():
        assert r["cover"] >= 0.93, (gate, r)


@pytest.mark.parametrize(("a", "n1", "b", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (10, 10, 0, 20, 0.6791, 1.0),
    (10, 10, 0, 10, 0.6075, 1.0)])
def test_two_proportions_give_newcombes_interval(a, n1, b, n2, low, high):
    """Two groups of proportions and no bootstrap spread: the gap's bounds are Newcombe's hybrid score interval
    for a difference of proportions (Newcombe 1998, Stat Med 17:873, Table II, method 10), and the same as
    combining two Wilson intervals from audit.stats.wilson_interval by hand."""
    from audit.stats import wilson_interval

    p, n = np.array([a / n1, b / n2]), np.array([n1, n2], float)
    lo, hi = range_interval([(p, np.tile(p, (100, 1)), n)], 0.95)
    assert (round(lo, 4), round(hi, 4)) == (low, high)
    (l1, u1), (l2, u2) = wilson_interval(a, n1), wilson_interval(b, n2)
    d = p[0] - p[1]
    assert lo == pytest.approx(d - np.hypot(p[0] - l1, u2 - p[1]), abs=1e-6)
    assert hi == pytest.approx(d + np.hypot(u1 - p[0], p[1] - l2), abs=1e-6)


def _robustness_runs(acc_b: float, n_a: int, n_b: int, reps: int = REPS, n_boot: int = 200) -> dict[str, float]:
    """Robust-accuracy gap gate (max 0.1) on simulated attack outcomes: group A keeps 0.7 of its rows, B ``acc_b``."""
    from audit.stats import proportion_gaps

    name = "robustness.pgd.linf.group_gap@0.1"
    policy = Policy({name: {"max": 0.1}})
    rng = np.random.default_rng([7, n_a, n_b, int(acc_b * 1000)])
    g = np.repeat([0, 1], [n_a, n_b])
    truth = abs(0.7 - acc_b)
    fails = passes = covers = 0
    plug_bias = corr_bias = 0.0
    for _ in range(reps):
        correct = rng.random(n_a + n_b) < np.where(g == 0, 0.7, acc_b)
        (col,), _ = proportion_gaps(correct, [g], [pd.Index(["a", "b"])], ["g"], min_group_size=30, n_boot=n_boot, rng=rng)
        (f,) = policy.evaluate({name: Metric(name, col["gap"], col["low"], col["high"], higher_is_better=False)},
                               {name: "robustness"})
        fails += f.status == "fail"
        passes += f.status == "pass"
        covers += col["low"] - 1e-9 <= truth <= col["high"] + 1e-9
        plug_bias += (col["plug_in"] - truth) / reps
        corr_bias += (col["gap"] - truth) / reps
    return {"fail": fails / reps, "pass": passes / reps, "cover": covers / reps, "bias_plug_in": plug_bias,
            "bias_corrected": corr_bias}


@pytest.mark.parametrize(("n_a", "n_b"), [(30, 30), (1000, 1000), (3000, 30)])
def test_robustness_gap_gate_on_equal_groups_rarely_fails_and_covers(n_a, n_b):
    """Equal robust accuracy by construction: the gap gate fails at most 5%, the interval holds 0 at least 93%,
    and the gated estimate is less biased than the plug-in max - min."""
    r = _robustness_runs(0.7, n_a, n_b)
    assert r["fail"] <= 0.05 and r["cover"] >= 0.93, r
    assert abs(r["bias_corrected"]) < abs(r["bias_plug_in"]), r


def test_robustness_gap_of_0_2_is_covered_and_found():
    """A true robust-accuracy gap of 0.2 (0.7 vs 0.5): covered with 30 rows against 3,000, and failed at 1,000 each."""
    assert _robustness_runs(0.5, 3000, 30)["cover"] >= 0.93
    r = _robustness_runs(0.5, 1000, 1000)
    assert r["fail"] >= 0.95 and r["cover"] >= 0.93, r


def test_exact_truths():
    """The simulation's true values, by hand: group B predicted positive above 0.41 selects (0.95 - 0.41) / 0.9."""
    sim = _bench()
    t = sim.truths(sim.SCENARIOS["dp_at_threshold"])
    assert t["demographic_parity_difference"] == pytest.approx(0.6 - 0.5)
    assert t["demographic_parity_ratio"] == pytest.approx(0.5 / 0.6)
    # true positive rate above t: int_t^.95 q dq / int_.05^.95 q dq
    tpr = lambda th: (0.95**2 - th**2) / (0.95**2 - 0.05**2)  # noqa: E731
    assert t["equal_opportunity_difference"] == pytest.approx(tpr(0.41) - tpr(0.5))
    # a Monte-Carlo check of the ECE truth: confidence exceeds accuracy by (1 - rho) |q - 0.5| on average
    rng = np.random.default_rng(0)
    q = rng.uniform(0.05, 0.95, 2_000_000)
    assert sim.truths(sim.SCENARIOS["ece_gap_0.2"])["ece_gap"] == pytest.approx((8 / 9) * np.abs(q - 0.5).mean(), abs=1e-3)


# ----------------------------------------------------------------------------- pieces vs references
def test_band_equals_a_loop_over_pairs():
    """range_interval against an explicit loop: max-|t| quantile over all pairs, then max |c| -+ q s."""
    rng = np.random.default_rng(1)
    point = np.array([0.30, 0.42, 0.35, 0.50])
    draws = point + rng.normal(0, [0.02, 0.03, 0.025, 0.04], (3000, 4))
    lo, hi = range_interval([(point, draws)], 0.9)
    T, rows = np.zeros(3000), []
    for i in range(4):
        for j in range(i + 1, 4):
            c, cs = point[i] - point[j], draws[:, i] - draws[:, j]
            s = cs.std()
            T = np.maximum(T, np.abs(cs - cs.mean()) / s)
            rows.append((abs(c), s))
    q = np.quantile(T, 0.9)
    assert lo == pytest.approx(max(a - q * s for a, s in rows), abs=1e-12)
    assert hi == pytest.approx(max(a + q * s for a, s in rows), abs=1e-12)
    # the per-group fallback for many groups is wider and still holds the plug-in range
    import audit.stats._gaps as gt

    old, gt.MAX_PAIR_GROUPS = gt.MAX_PAIR_GROUPS, 2
    try:
        lo2, hi2 = range_interval([(point, draws)], 0.9)
    finally:
        gt.MAX_PAIR_GROUPS = old
    assert lo2 <= lo and hi2 >= hi and lo2 <= point.max() - point.min() <= hi2


def test_permutation_counts_have_hypergeometric_moments():
    """Group x cell counts of a label permutation: exact totals, hypergeometric mean and variance."""
    counts = np.array([[30, 10, 5], [12, 20, 8], [3, 6, 6]])
    d = split_cells(np.random.default_rng(2), counts, 40_000)
    assert (d.sum(axis=2) == counts.sum(axis=1)).all() and (d.sum(axis=1) == counts.sum(axis=0)).all()
    N, n_g, N_c = counts.sum(), counts.sum(axis=1)[:, None], counts.sum(axis=0)[None, :]
    mean = n_g * N_c / N
    var = n_g * (N_c / N) * (1 - N_c / N) * (N - n_g) / (N - 1)
    np.testing.assert_allclose(d.mean(0), mean, rtol=0.01)
    np.testing.assert_allclose(d.var(0), var, rtol=0.03)
    k = split_counts(np.random.default_rng(3), np.array([40, 60]), 30, 40_000)
    assert k[:, 0].mean() == pytest.approx(12, rel=0.01) and k[:, 0].var() == pytest.approx(30 * 0.4 * 0.6 * 70 / 99, rel=0.03)


def _range_of_rates(hit, g, rows):
    """max - min over groups of the share of ``hit`` among ``rows`` (a plain loop over group values)."""
    rates = [hit[rows & (g == v)].mean() for v in np.unique(g)]
    return max(rates) - min(rates)


def _row_permutation_p(hit, g, rows, n_perm, rng, strata):
    """Reference: permute the rows' group labels (within ``strata``), recompute the range, count the extreme ones."""
    obs = _range_of_rates(hit, g, rows)
    hits = 0
    for _ in range(n_perm):
        gp = g.copy()
        for v in np.unique(strata):
            m = strata == v
            gp[m] = rng.permutation(g[m])
        hits += _range_of_rates(hit, gp, rows) >= obs - 1e-12
    return obs, (1 + hits) / (1 + n_perm)


@pytest.mark.parametrize("kind", ["demographic_parity", "equal_opportunity"])
def test_p_value_matches_a_row_permutation_loop(kind):
    """Our p-value (cell counts, one call) against permuting the rows' group labels and recomputing the rates row by
    row; the true positive rate is permuted among actual positives only (each group keeps its positives)."""
    rng = np.random.default_rng(4)
    n = 240
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < np.where(g == "c", 0.2, 0.5)).astype(int)  # base rates differ: stratifying matters
    pred = (rng.random(n) < 0.45 + 0.08 * (g == "b")).astype(int)
    res = assess_fairness(y, pred, g, n_boot=0, n_perm=4000, seed=0, min_group_size=0)
    row = res.disparities.loc[("sensitive_feature_0", f"{kind}_difference")]
    if kind == "demographic_parity":
        obs, ref = _row_permutation_p(pred == 1, g, np.ones(n, bool), 2000, np.random.default_rng(5), np.zeros(n))
        assert obs == pytest.approx(flm.demographic_parity_difference(y, pred, sensitive_features=g), abs=1e-12)
    else:
        obs, ref = _row_permutation_p(pred == 1, g, y == 1, 2000, np.random.default_rng(5), y)
        assert obs == pytest.approx(flm.equal_opportunity_difference(y, pred, sensitive_features=g), abs=1e-12)
    assert row["value"] == pytest.approx(obs, abs=1e-12)
    # two Monte-Carlo estimates of the same p: 3 standard errors of the 2,000-permutation reference
    assert abs(row["p_value"] - ref) < 3 * np.sqrt(ref * (1 - ref) / 2000) + 0.003, (row["p_value"], ref)
    assert 0.002 < ref < 0.998


def test_permuted_rates_keep_strata_and_weights_in_expectation():
    rows = np.array([[40.0, 10, 5, 45], [20, 20, 10, 10]])
    out = permuted_rates(np.random.default_rng(6), rows, rows, None, 20_000)
    # positives and negatives per group never move for the error rates; predicted positives for precision
    assert (out["true_positive_rate"][..., 1] == rows[:, 2:].sum(1)).all()
    assert (out["precision"][..., 1] == rows[:, [1, 3]].sum(1)).all()
    # under permutation every group's expected rate is the pooled rate
    pooled_tpr = rows[:, 3].sum() / rows[:, 2:].sum()
    tpr = out["true_positive_rate"][..., 0] / out["true_positive_rate"][..., 1]
    np.testing.assert_allclose(tpr.mean(0), pooled_tpr, rtol=0.01)
    # weights: a weighted total of k permuted rows has the mean of k pooled weights
    w = rows * np.array([[1.0, 2.0, 1.0, 3.0], [1.0, 2.0, 1.0, 3.0]])
    sd = np.full_like(rows, 0.5)
    outw = permuted_rates(np.random.default_rng(7), rows, w, sd, 20_000)
    k = out["selection_rate"][..., 0]
    mean_sel_w = (w[:, 1].sum() + w[:, 3].sum()) / (rows[:, 1].sum() + rows[:, 3].sum())
    assert outw["selection_rate"][..., 0].mean() == pytest.approx(k.mean() * mean_sel_w, rel=0.01)


def test_bias_correction_matches_a_row_resampling_loop():
    """bias_corrected on our cell draws = 2 x plug-in - mean of a row-resampling loop (within noise)."""
    rng = np.random.default_rng(8)
    n = 200
    g = np.repeat(["a", "b"], n // 2)
    y = rng.integers(0, 2, n)
    pred = rng.integers(0, 2, n)
    res = assess_fairness(y, pred, g, n_boot=4000, n_perm=0, seed=1)
    row = res.disparities.loc[("sensitive_feature_0", "demographic_parity_difference")]
    loop = []
    for _ in range(3000):  # resample rows, recompute the selection rates row by row
        i = rng.integers(0, n, n)
        loop.append(_range_of_rates(pred[i] == 1, g[i], np.ones(n, bool)))
    ref = 2 * row["value"] - np.mean(loop)
    # standard error of the loop's mean: sd / sqrt(3000) ~ 0.001; ours ~ 0.0008
    assert row["corrected"] == pytest.approx(max(ref, row["low"]), abs=0.006)
    assert bias_corrected(0.1, np.array([0.12, 0.14, np.nan])) == pytest.approx(0.07)


def test_apply_test_rule():
    # not rejected: the interval reaches no gap, the estimate stays inside
    e = apply_test(0.12, np.array([0.15, 0.16]), 0.03, 0.2, 0.2, 0.95, "difference")
    assert (e.low, e.high) == (0.0, 0.2) and e.corrected == pytest.approx(0.085)
    # rejected: the band's lower end stands
    e = apply_test(0.12, np.array([0.15, 0.16]), 0.03, 0.2, 0.01, 0.95, "difference")
    assert e.low == 0.03 and e.corrected == pytest.approx(0.085)
    # a ratio reaches 1 when not rejected; the corrected value never leaves [low, high]
    e = apply_test(0.8, np.array([0.7, 0.72]), 0.6, 0.9, 0.5, 0.95, "ratio")
    assert e.high == 1.0 and e.corrected == pytest.approx(0.89)
    assert permutation_p_value(0.5, np.array([0.1, 0.2, 0.6]), larger_is_extreme=True) == 0.5
    assert permutation_p_value(0.5, np.array([0.1, 0.2, 0.6]), larger_is_extreme=False) == 0.75


# ------------------------------------------------------------------------------------------ the gate
def test_gap_gates_fail_only_on_evidence_and_say_the_rule():
    p = Policy({"fairness.*_difference": {"max": 0.1}, "fairness.*_ratio": {"min": 0.8}, "calibration.*.ece_gap": {"max": 0.1}})
    desc = "max - min selection rate over groups; bias-corrected (plug-in, as fairlearn: 0.15); permutation test of no gap: p = 0.03"
    cases = {
        ("fairness.race.demographic_parity_difference", 0.12, 0.0, 0.24): "inconclusive",  # plug-in above 0.1, not evidence
        ("fairness.race.equalized_odds_difference", 0.16, 0.11, 0.21): "fail",
        ("fairness.race.equal_opportunity_difference", 0.03, 0.0, 0.09): "pass",
        ("fairness.race.demographic_parity_ratio", 0.7, 0.55, 0.85): "inconclusive",
        ("fairness.race.equalized_odds_ratio", 0.6, 0.5, 0.75): "fail",
        ("calibration.sex.ece_gap", 0.05, 0.0, 0.099): "pass",
    }
    for (name, v, lo, hi), want in cases.items():
        assert is_gap(name)
        (f,) = p.evaluate({name: Metric(name, v, lo, hi, description=desc)}, {name: name.split(".")[0]})
        assert f.status == want, (name, f.message)
        assert "gap rule: fail only when the interval lies" in f.message and "p = 0.03" in f.message
    assert not is_gap("performance.accuracy") and not is_gap("calibration.ece")
    assert gap_rule(Policy({"x": {"max": 0.1}}).thresholds["x"], False).endswith("judged on the estimate alone")


# ------------------------------------------------------------------------------------ whole audits
def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c", "d"], n, p=[0.55, 0.3, 0.12, 0.03])  # d: a small group
    sex = rng.choice(["F", "M"], n)
    x1 = rng.normal(size=n) + 0.6 * (race == "b")
    x2 = rng.normal(size=n) + 0.3 * (sex == "M")
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.8, size=n) > 0.2).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "race": race, "sex": sex, "y": y})


@pytest.mark.parametrize("model", ["logistic", "tree", "threeclass"])
def test_no_reported_value_lies_outside_its_own_interval(model):
    """Audit several models; every metric that has an interval holds its value (gaps included)."""
    df = _frame(1500, seed={"logistic": 0, "tree": 1, "threeclass": 2}[model])
    if model == "threeclass":
        df["y"] = np.digitize(df["x1"] + df["x2"], [-0.5, 0.7])
    clf = (DecisionTreeClassifier(max_depth=4, random_state=0) if model == "tree" else LogisticRegression(max_iter=500))
    clf.fit(df[["x1", "x2"]], df["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = audit(clf, df, target="y", sensitive=["race", "sex"], features=["x1", "x2"],
                       checks=["performance", "fairness", "calibration"], progress=False)
    checked = 0
    for sec in report.sections.values():
        assert sec.status == "ok", (sec.check, sec.reason)
        for m in sec.metrics:
            if m.low is None or m.high is None or not m.defined:
                continue
            assert m.low - 1e-12 <= m.value <= m.high + 1e-12, (m.name, m.value, m.low, m.high)
            checked += 1
    assert checked >= 40
    fair = report.sections["fairness"]
    # the tables carry the plug-in (fairlearn's value) beside the gated, corrected one, the interval and the test
    assert {"value", "corrected", "low", "high", "p_value"} <= set(fair.tables["Disparities"].columns)
    cal = report.sections["calibration"]
    assert {"ece_gap", "ece_gap_corrected", "low", "high", "p_value", "binning"} <= set(cal.tables["ECE gap by sensitive column"].columns)
    assert "bins" in cal.tables["Calibration by group"].columns and any("ECE binning: " in n for n in cal.notes)
    gap = cal.metric("calibration.race.ece_gap")
    assert "equal-mass bins" in gap.description and "permutation test of no gap: p = " in gap.description


def test_same_seed_same_gap_numbers():
    df = _frame(800, seed=3)
    a = assess_fairness(df["y"], (df["x1"] > 0).astype(int), df[["race", "sex"]], n_boot=300, seed=5)
    b = assess_fairness(df["y"], (df["x1"] > 0).astype(int), df[["race", "sex"]], n_boot=300, seed=5)
    c = assess_fairness(df["y"], (df["x1"] > 0).astype(int), df[["race", "sex"]], n_boot=300, seed=6)
    pd.testing.assert_frame_equal(a.disparities, b.disparities)
    pd.testing.assert_frame_equal(a.overall, b.overall)
    assert not a.disparities["p_value"].equals(c.disparities["p_value"])
    assert a.disparities["value"].equals(c.disparities["value"])


def test_calibration_by_group_equals_each_group_alone_on_equal_mass_bins():
    """One pass over every group's cells gives the numbers, bins and reliability rows of each group's rows calibrated alone."""
    from audit.health import calibration

    rng = np.random.default_rng(9)
    n = 6000
    p = rng.dirichlet(np.ones(3), n)
    p[:300] = np.round(p[:300], 1) / np.round(p[:300], 1).sum(1, keepdims=True)  # ties
    y = rng.integers(0, 3, n)
    sens = pd.DataFrame({"g": rng.integers(0, 40, n).astype(str)})
    sens.loc[:500, "g"] = "big"
    fast = calibration(y, p, sensitive=sens)
    alone = [calibration(y[m], p[m], sensitive=pd.DataFrame({"g": sens["g"][m].to_numpy()}))
             for m in (sens["g"] == g for g in sorted(sens["g"].unique()))]
    slow_by_group = pd.concat([a.by_group for a in alone])
    np.testing.assert_allclose(fast.by_group.to_numpy(float), slow_by_group.to_numpy(float), rtol=0, atol=1e-12)
    assert list(fast.by_group.index) == list(slow_by_group.index)
    assert fast.by_group["bins"].max() == 5
    eces = slow_by_group["ece"][slow_by_group["n"] >= 30]
    assert fast.gaps["ece_gap"].iloc[0] == pytest.approx(eces.max() - eces.min(), abs=1e-12)
    f, s = fast.group_reliability, pd.concat([a.group_reliability for a in alone], ignore_index=True)
    assert len(f) == len(s) == fast.by_group["bins"].sum()
    assert f["group"].tolist() == s["group"].tolist() and f["bin"].tolist() == s["bin"].tolist()
    cols = ["lower", "upper", "count", "confidence", "accuracy"]
    np.testing.assert_allclose(f[cols].to_numpy(float), s[cols].to_numpy(float), atol=1e-12)
