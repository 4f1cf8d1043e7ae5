"""The slice plan of a Dask DataFrame equals the in-memory plan exactly (issue 28 item 5): the Dask engine's
slice counts can only equal the in-memory ones if both cut the rows at the same edges and levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.slices import plan_slices

dd = pytest.importorskip("dask.dataframe")


def synthetic(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "mostly_zero": np.where(rng.random(n) < 0.9, 0.0, rng.exponential(5, n)),  # every quantile edge at 0
        "few": rng.integers(0, 4, n),  # at most max_bins distinct numbers: levels
        "flag": rng.random(n) < 0.3,
        "color": rng.choice(["a", "b", "c", "rare1", "rare2", "rare3"], n, p=[.5, .3, .194, .002, .002, .002]),
        "holes": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 100, n)),
        "age": rng.integers(18, 90, n),
        "when": pd.date_range("2024-01-01", periods=n, freq="h"),  # dates are left out unless named
    })


def assert_same_plan(frame: pd.DataFrame, npartitions: int, **kwargs) -> None:
    from audit.engines._dask_slices import dask_slice_plan

    expected = plan_slices(frame, **kwargs)
    got = dask_slice_plan(dd.from_pandas(frame, npartitions=npartitions), **kwargs)
    for a, b in zip(expected.columns, got.columns):
        assert a == b, a.name
    assert got == expected


@pytest.mark.parametrize("npartitions", [1, 3, 7])
@pytest.mark.parametrize("settings", [{}, {"max_bins": 4, "min_support": 0.05}])
def test_synthetic_columns_of_every_kind(npartitions, settings):
    assert_same_plan(synthetic(), npartitions, **settings)


def test_narrowing_histograms_find_the_exact_order_statistics(monkeypatch):
    """With a bin allowed only 50 rows the order statistics take several narrowing passes (ties in the mostly-zero
    column settle at once: one value, however many rows)."""
    from audit.engines import _dask_slices

    monkeypatch.setattr(_dask_slices, "GATHER_ROWS", 50)
    monkeypatch.setattr(_dask_slices, "BINS", 16)
    assert_same_plan(synthetic(seed=1), 5)


def test_uneven_and_empty_partitions_and_named_columns():
    frame = synthetic(3000, seed=2)
    ddf = dd.from_pandas(frame, npartitions=4)
    ddf = dd.concat([ddf, ddf.head(0, compute=False), dd.from_pandas(frame.iloc[:7], npartitions=1)])
    from audit.engines._dask_slices import dask_slice_plan

    whole = pd.concat([frame, frame.iloc[:7]], ignore_index=True)
    assert dask_slice_plan(ddf, ["x", "color", "holes"]) == plan_slices(whole, ["x", "color", "holes"])


def test_nullable_integers_unused_categories_and_infinities():
    rng = np.random.default_rng(5)
    n = 2000
    frame = pd.DataFrame({
        "count": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 50, n)), dtype="Int64"),
        "kind": pd.Categorical(rng.choice(["a", "b"], n), categories=["a", "b", "never"]),
        "ratio": np.where(rng.random(n) < 0.01, np.inf, rng.normal(size=n)),
    })
    assert_same_plan(frame, 4)


def test_rare_levels_tied_across_partitions_are_named_in_the_same_order():
    frame = pd.DataFrame({"c": ["common"] * 980 + ["r1", "r2", "r3", "r4", "r5"] * 4})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert_same_plan(frame, 6)


def test_adult_and_compas():
    from audit.datasets import load_adult, load_compas

    assert_same_plan(load_adult("test", keep_missing=True).frame, 4)
    assert_same_plan(load_compas().frame, 3)


def test_bad_columns_fail_as_in_memory():
    from audit.engines._dask_slices import dask_slice_plan
    from audit.errors import AuditInputError

    ddf = dd.from_pandas(synthetic(100), npartitions=2)
    with pytest.raises(AuditInputError, match="not in frame"):
        dask_slice_plan(ddf, ["nope"])
    with pytest.raises(AuditInputError, match="dates or durations"):
        dask_slice_plan(ddf, ["when"])
