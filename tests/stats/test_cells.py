"""Prediction cells: partitions' cells add up to the cells of all rows; metrics from cells against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from audit.checks.performance import by_period
from audit.stats import (
    auc_error_bound,
    build_cells,
    cell_by_period,
    cell_intervals,
    cell_metrics,
    grid_index,
    merge_cells,
    metric_intervals,
)

KEYS = ("period", "group", "label", "pred", "score", "conf")
SUMS = ("count", "score_sum", "conf_sum", "conf_sq", "conf_min", "conf_max", "loss_sum", "loss_sq", "brier_sum")


def _rows(n=12_000, seed=0):
    rng = np.random.default_rng(seed)
    p1 = np.round(rng.beta(2, 5, n), 3)  # ties, few distinct values
    y = (rng.random(n) < p1).astype(int)
    sens = pd.DataFrame({"r": rng.choice(["a", "b", None, "d"], n), "s": rng.choice([2, 1], n)})
    when = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D")).dt.to_period("M")
    return y, np.column_stack([1 - p1, p1]), sens, when


def _assert_same(a, b):
    assert a.exact == b.exact and a.names == b.names and list(a.periods) == list(b.periods)
    assert [list(x) for x in a.levels] == [list(x) for x in b.levels]
    np.testing.assert_array_equal(a.group_codes, b.group_codes)
    for k in KEYS:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    for k in SUMS:
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-12, err_msg=k)


def test_partitions_add_up_to_the_cells_of_all_rows_exact_and_on_the_grid():
    y, p, sens, when = _rows()
    whole = build_cells(y, p, sens, periods=when)
    cuts = [0, 100, 4000, 4001, 9000, len(y)]
    parts = [build_cells(y[a:b], p[a:b], sens.iloc[a:b], periods=when.iloc[a:b]) for a, b in zip(cuts, cuts[1:])]
    merged = merge_cells(parts)
    assert whole.exact and whole.n == len(y) and whole.levels[0].tolist() == ["<missing>", "a", "b", "d"]
    _assert_same(merged, whole)
    # on the grid: parts that went to the grid themselves, or were moved there by the merge, give the grid of all rows
    grid_whole = build_cells(y, p, sens, periods=when, exact_limit=0)
    assert not grid_whole.exact
    _assert_same(merge_cells(parts, exact_limit=50), grid_whole)
    mixed = [build_cells(y[a:b], p[a:b], sens.iloc[a:b], periods=when.iloc[a:b], exact_limit=200) for a, b in zip(cuts, cuts[1:])]
    assert {m.exact for m in mixed} == {True, False}
    _assert_same(merge_cells(mixed), grid_whole)


def test_grid_cells_nest_in_the_equal_width_bins():
    v = np.r_[np.linspace(0, 1, 10_001), np.arange(16) / 15]
    cell = grid_index(v, 15)
    assert (np.diff(grid_index(np.sort(v), 15)) >= 0).all()  # monotone
    edges = np.linspace(0, 1, 16)
    np.testing.assert_array_equal(cell // 256, np.searchsorted(edges[1:-1], v, side="left"))


def test_metrics_from_cells_equal_scikit_learn_and_the_grid_auc_keeps_its_bound():
    rng = np.random.default_rng(1)
    p1 = rng.beta(2, 5, 20_000)
    y = (rng.random(20_000) < p1).astype(int)
    proba = np.column_stack([1 - p1, p1])
    m = cell_metrics(build_cells(y, proba))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)), abs=1e-15)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, proba.argmax(1)), abs=1e-15)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-12)
    grid = build_cells(y, proba, exact_limit=0)
    bound = auc_error_bound(grid)
    assert 0 < bound < 0.01 and auc_error_bound(build_cells(y, proba)) == 0
    assert abs(cell_metrics(grid)["roc_auc"] - skm.roc_auc_score(y, p1)) <= bound
    exact_ci, grid_ci = metric_intervals(y, proba, n_boot=300, seed=2), cell_intervals(grid, n_boot=300, seed=2)
    # the same draws: accuracy and log loss intervals equal, the AUC's shifts by the AUC's own difference
    pd.testing.assert_frame_equal(grid_ci.drop(index="roc_auc"), exact_ci.drop(index="roc_auc"), rtol=1e-12)
    shift = cell_metrics(grid)["roc_auc"] - skm.roc_auc_score(y, p1)
    np.testing.assert_allclose(grid_ci.loc["roc_auc"] - shift, exact_ci.loc["roc_auc"], atol=1e-12)


def test_per_period_table_from_cells_equals_the_row_table():
    y, p, sens, when = _rows(seed=4)
    sens = sens.fillna("none")  # the row table drops a missing group value; cells keep it as "<missing>", like fairness
    ts = when.dt.to_timestamp()
    rows = by_period(y, p.argmax(1), p, ts, sens, period="M", min_group_size=30)
    cells = cell_by_period(build_cells(y, p, sens, periods=when), min_group_size=30)
    pd.testing.assert_frame_equal(cells, rows, check_names=False, check_dtype=False, rtol=1e-12)
