"""Disparities against fairlearn's functions, best/worst groups, the intersection, small groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm

from audit.fairness import assess_fairness, disparities

REF = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
    "equal_opportunity_difference": flm.equal_opportunity_difference,
    "equal_opportunity_ratio": flm.equal_opportunity_ratio,
}


@pytest.mark.parametrize("weighted", [False, True])
def test_every_disparity_equals_fairlearn_per_column_and_intersection(data, weighted):
    w = data["w"] if weighted else None
    t = disparities(data["y"], data["pred"], data["sens"], sample_weight=w, min_group_size=0).table
    for feature, sens in (("race", data["sens"]["race"]), ("sex", data["sens"]["sex"]), ("intersection", data["sens"])):
        for name, fn in REF.items():
            ref = fn(data["y"], data["pred"], sensitive_features=sens, sample_weight=w)
            assert t.loc[(feature, name), "value"] == pytest.approx(ref, abs=1e-12), (feature, name)


def test_best_and_worst_group_are_named(data):
    t = disparities(data["y"], data["pred"], data["sens"]).table
    sr = data["sens"].assign(p=data["pred"]).groupby("race")["p"].mean()
    row = t.loc[("race", "demographic_parity_difference")]
    assert (row["best_group"], row["worst_group"]) == (sr.idxmax(), sr.idxmin())
    assert row["best_value"] - row["worst_value"] == pytest.approx(row["value"])
    # an unfavourable positive (a high-risk flag): the group selected least is best
    t2 = disparities(data["y"], data["pred"], data["sens"], positive_is_favorable=False).table
    assert t2.loc[("race", "demographic_parity_difference"), "best_group"] == sr.idxmin()
    # equalized odds names the groups of the component (TPR or FPR) with the larger gap
    eo = t.loc[("race", "equalized_odds_difference")]
    frame = data["sens"].assign(y=data["y"], p=data["pred"])
    tpr = frame[frame.y == 1].groupby("race")["p"].mean()
    fpr = frame[frame.y == 0].groupby("race")["p"].mean()
    if eo["metric"] == "true_positive_rate":
        assert (eo["best_group"], eo["worst_group"]) == (tpr.idxmax(), tpr.idxmin())
    else:
        assert (eo["best_group"], eo["worst_group"]) == (fpr.idxmin(), fpr.idxmax())


def test_small_groups_are_excluded_unless_included():
    rng = np.random.default_rng(3)
    n = 600
    g = np.array(["big1"] * 300 + ["big2"] * 290 + ["tiny"] * 10)
    y = rng.integers(0, 2, n)
    p = np.where(g == "tiny", 1, rng.integers(0, 2, n))  # the tiny group is always selected
    keep = g != "tiny"
    excluded = disparities(y, p, g).table
    ref_wo_tiny = flm.demographic_parity_difference(y[keep], p[keep], sensitive_features=g[keep])
    assert excluded.loc[("sensitive_feature_0", "demographic_parity_difference"), "value"] == pytest.approx(ref_wo_tiny)
    assert excluded.loc[("sensitive_feature_0", "demographic_parity_difference"), "n_groups"] == 2
    included = disparities(y, p, g, include_small_groups=True).table
    ref_all = flm.demographic_parity_difference(y, p, sensitive_features=g)
    assert included.loc[("sensitive_feature_0", "demographic_parity_difference"), "value"] == pytest.approx(ref_all)
    assert ref_all > ref_wo_tiny
    res = assess_fairness(y, p, g, n_boot=0)
    assert res.groups["sensitive_feature_0"]["small"].tolist() == [False, False, True]
    assert any("'tiny' (n=10)" in n and "excluded from disparities" in n for n in res.notes)


def test_single_eligible_group_gives_nan_not_zero():
    t = disparities([0, 1, 0, 1, 1], [0, 1, 1, 1, 0], ["a", "a", "a", "a", "b"], min_group_size=2).table
    assert np.isnan(t.loc[("sensitive_feature_0", "demographic_parity_difference"), "value"])


def test_overall_is_the_worst_column(data):
    res = assess_fairness(data["y"], data["pred"], data["sens"], n_boot=0)
    for name in REF:
        per_col = [res.disparities.loc[(c, name), "value"] for c in ("race", "sex")]
        expect = max(per_col) if name.endswith("difference") else min(per_col)
        assert res.overall.loc[name, "value"] == pytest.approx(expect)
    assert "intersection" in res.groups and isinstance(res.groups["intersection"].index, pd.MultiIndex)
