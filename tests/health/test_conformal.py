"""Split conformal: the half-width is the hand-computed quantile, coverage is nominal, the coverage gap is gated."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.health import conformal_quantile, split_conformal


def test_half_width_is_the_hand_computed_rank():
    rng = np.random.default_rng(0)
    scores = rng.exponential(size=199)
    # by hand: with n = 199 and level 0.9 the rank is ceil(200 * 0.9) = 180, the 180th smallest score
    assert conformal_quantile(scores, 0.9) == sorted(scores)[179]
    assert conformal_quantile(scores[:8], 0.9) == math.inf  # rank ceil(9 * 0.9) = 9 > 8


def test_coverage_is_nominal_within_two_points():
    """200 calibration / test splits of a heteroscedastic regression: the mean coverage is within 2 points of
    the nominal 90% (conformal guarantees >= 90%, and at most 90% + 1 / (n + 1) on average)."""
    rng = np.random.default_rng(11)
    cover = []
    for _ in range(200):
        x = rng.uniform(-2, 2, 1000)
        y = np.sin(x) + rng.normal(scale=0.2 + 0.3 * np.abs(x))
        pred = np.sin(x)
        r = split_conformal(y[:500], pred[:500], y[500:], pred[500:], level=0.9, n_boot=0)
        cover.append(r.coverage)
    assert abs(np.mean(cover) - 0.9) < 0.02, np.mean(cover)


def test_unequal_coverage_between_groups_is_found():
    """Noise three times larger in group b: one interval for everyone covers a far less often than b does not.
    Group coverage equals a hand count; the gap's interval excludes 0."""
    rng = np.random.default_rng(2)
    n = 4000
    g = np.where(rng.random(n) < 0.5, "a", "b")
    y = rng.normal(scale=np.where(g == "a", 0.5, 1.5))
    pred = np.zeros(n)
    sens = pd.DataFrame({"group": g[2000:]})
    r = split_conformal(y[:2000], pred[:2000], y[2000:], pred[2000:], sens, level=0.9, n_boot=500)
    covered_b = np.abs(y[2000:][g[2000:] == "b"]) <= r.half_width
    row = r.by_group.set_index("group").loc["b"]
    assert row["coverage"] == pytest.approx(covered_b.mean(), abs=1e-12) and row["n"] == covered_b.size
    gap = r.gaps.loc["group"]
    assert gap["best_group"] == "a" and gap["worst_group"] == "b"
    assert gap["low"] > 0.1 and gap["p_value"] < 0.01
    assert r.worst["column"] == "group"
