"""Data quality per partition, merged: equal to data_quality() on the whole frame, or within the stated bounds."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from audit.datasets import load_adult, load_compas
from audit.errors import AuditInputError
from audit.health import data_quality
from audit.health._data_quality import _mean_std
from audit.health._data_quality_parts import (
    DataQualityPart,
    column_moments,
    data_quality_chunks,
    data_quality_part,
    drift_bounds,
    finish,
    merge_moments,
    merge_parts,
    plan_data_quality,
)

APPROX_DRIFT = ["statistic", "p_value", "effect", "drifted"]


@pytest.fixture(scope="module")
def adult():
    a = load_adult()
    f = a.frame
    return f.iloc[30000:].reset_index(drop=True), f.iloc[:30000], a


@pytest.fixture(scope="module")
def compas():
    c = load_compas()
    f = c.frame
    return f.iloc[4000:].reset_index(drop=True), f.iloc[:4000], c


def split(frame: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """``n`` uneven chunks in order; with n > 1 the second one has zero rows."""
    if n == 1:
        return [frame]
    weights = np.arange(1, n + 1, dtype=float) ** 2
    weights[1] = 0.0
    cuts = np.round(np.cumsum(weights) / weights.sum() * len(frame)).astype(int)
    starts = np.r_[0, cuts[:-1]]
    chunks = [frame.iloc[s:e] for s, e in zip(starts, cuts)]
    assert sum(len(c) for c in chunks) == len(frame) and len(chunks[1]) == 0
    return chunks


def run(chunks, **kw):
    """The two-pass protocol by hand: (result, merged part, plan)."""
    plan = plan_data_quality(merge_moments(column_moments(c) for c in chunks), **kw)
    offsets = np.cumsum([0] + [len(c) for c in chunks[:-1]])
    part = merge_parts(data_quality_part(c, plan, offset=int(o)) for c, o in zip(chunks, offsets))
    return finish(part, plan), part, plan


def assert_matches(got, ref, part, plan):
    """Every exact field equal; n_unique, binned KS and current_mean within their stated bounds."""
    near = ["near_duplicate_rows", "near_duplicate_share"]
    pd.testing.assert_frame_equal(got.overview.drop(columns=near), ref.overview.drop(columns=near), check_exact=True)
    borderline = {"data": part.near_borderline, "train": plan.train.part.near_borderline if plan.train else 0}
    for split_name in ref.overview.index:
        diff = abs(int(got.overview.loc[split_name, near[0]]) - int(ref.overview.loc[split_name, near[0]]))
        assert diff <= borderline[split_name]
    for name in ["labels", "groups", "leakage"]:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), check_exact=True)
    assert (got.leakage_rows, got.leakage_share) == (ref.leakage_rows, ref.leakage_share) or (
        got.leakage_rows is None and ref.leakage_rows is None and math.isnan(got.leakage_share)
    )

    exact_cols = [c for c in ref.columns.columns if c != "n_unique"]
    pd.testing.assert_frame_equal(got.columns[exact_cols], ref.columns[exact_cols], check_exact=True)
    sketched = {c for c, sat in zip(part.columns, part.saturated) if sat}
    rse = 1 / math.sqrt(plan.distinct_cap - 2)
    for col, true in ref.columns["n_unique"].items():
        est = got.columns.loc[col, "n_unique"]
        if col in sketched:
            assert abs(est / true - 1) <= 4 * rse, (col, est, true)
        else:
            assert est == true, col

    if plan.train is None:
        assert len(got.drift) == 0 and len(ref.drift) == 0
    else:
        bounds = drift_bounds(part, plan)
        g, r = got.drift.sort_index(), ref.drift.sort_index()
        exact_rows = [f for f in r.index if f not in bounds.index or bool(bounds.loc[f, "exact"])]
        no_mean = [c for c in r.columns if c != "current_mean"]
        pd.testing.assert_frame_equal(g.loc[exact_rows, no_mean], r.loc[exact_rows, no_mean], check_exact=True)
        counted = [c for c in no_mean if c not in APPROX_DRIFT]  # exact for every feature: kind, test, psi, means
        pd.testing.assert_frame_equal(g[counted], r[counted], check_exact=True)
        np.testing.assert_allclose(g["current_mean"].astype(float), r["current_mean"].astype(float), rtol=1e-12)
        for f, b in bounds.iterrows():  # statistic <= true D <= upper <= statistic + largest bin mass
            true_d = r.loc[f, "statistic"]
            assert b["statistic"] <= true_d + 1e-15 and true_d <= b["upper"] + 1e-15, f
            assert b["upper"] - b["statistic"] <= b["max_bin_mass"] + 1e-15, f
    assert got.notes[: len(ref.notes)] == ref.notes


@pytest.mark.parametrize("n_chunks", [1, 3, 7])
def test_adult_with_train_equals_in_memory(adult, n_chunks):
    test, train, a = adult
    kw = dict(target=a.target, sensitive=a.sensitive)
    ref = data_quality(test, train_frame=train, **kw)
    got, part, plan = run(split(test, n_chunks), train_frame=train, **kw)
    assert_matches(got, ref, part, plan)
    assert got.leakage_rows > 0  # Adult repeats rows across the split: the leak path is exercised
    assert not drift_bounds(part, plan).loc["fnlwgt", "exact"]  # 28k distinct train values: binned
    assert drift_bounds(part, plan).loc["age", "exact"]
    assert part.saturated[list(part.columns).index("fnlwgt")]  # n_unique through the sketch


@pytest.mark.parametrize("n_chunks", [1, 3, 7])
def test_compas_without_train_equals_in_memory(compas, n_chunks):
    test, _, c = compas
    kw = dict(target=c.target, sensitive=c.sensitive, min_group_size=100)
    ref = data_quality(test, **kw)
    got, part, plan = run(split(test, n_chunks), **kw)
    assert_matches(got, ref, part, plan)
    assert got.leakage_rows is None and len(got.groups) == len(ref.groups) > 0


@pytest.mark.parametrize("n_chunks", [3, 7])
def test_compas_with_train_small_samples_use_scipys_exact_ks(compas, n_chunks):
    """Both samples under 10,000 rows: ks_2samp's exact p-value, reproduced from counts to the bit."""
    test, train, c = compas
    kw = dict(target=c.target, sensitive=c.sensitive)
    ref = data_quality(test, train_frame=train, **kw)
    got, part, plan = run(split(test, n_chunks), train_frame=train, **kw)
    assert_matches(got, ref, part, plan)
    assert drift_bounds(part, plan)["exact"].all()
    pd.testing.assert_series_equal(got.drift.sort_index()["p_value"], ref.drift.sort_index()["p_value"], check_exact=True)


def test_adult_without_target_and_with_few_drift_bins(adult):
    """No target (no conflicts, duplicates on features only); 64 drift edges make every numeric KS approximate."""
    test, train, a = adult
    test, train = test.drop(columns=a.target), train.drop(columns=a.target)
    ref = data_quality(test, sensitive=["sex"], train_frame=train)
    got, part, plan = run(split(test, 7), sensitive=["sex"], train_frame=train, drift_bins=64)
    assert_matches(got, ref, part, plan)
    assert math.isnan(got.overview.loc["data", "label_conflict_rows"]) and len(got.labels) == 0
    bounds = drift_bounds(part, plan)
    assert not bounds.loc["fnlwgt", "exact"] and (bounds["upper"] >= bounds["statistic"]).all()
    assert any("KS drift" in n for n in got.notes)


def test_column_all_missing_in_one_chunk(adult):
    """A text and a numeric column all-NaN in one chunk, the text one read back as float64 (as Parquet may)."""
    test, train, a = adult
    test = test.copy()
    chunks_at = split(test, 3)
    start, stop = len(chunks_at[0]), len(chunks_at[0]) + len(chunks_at[2])
    test.loc[start:stop - 1, ["workclass", "hours_per_week"]] = np.nan
    chunks = split(test, 3)
    chunks[2] = chunks[2].assign(workclass=np.full(len(chunks[2]), np.nan))
    assert chunks[2]["workclass"].dtype == np.float64 and test["workclass"].dtype != np.float64
    kw = dict(target=a.target, sensitive=a.sensitive)
    ref = data_quality(test, train_frame=train, **kw)
    got, part, plan = run(chunks, train_frame=train, **kw)
    assert_matches(got, ref, part, plan)
    assert got.columns.loc["workclass", "dtype"] == str(test["workclass"].dtype)


def test_hand_frame_in_one_row_chunks():
    """The hand-built frame of test_data_quality (None in a text column, int train vs float data), one row per chunk."""
    test = pd.DataFrame({
        "x": [1.0, 1.0, 1.0, 2.0, 2.001, 5.0], "c": ["a", "a", "a", "b", "b", None], "k": [7, 7, 7, 7, 7, 7],
        "s": ["m", "m", "m", "m", "f", "f"], "y": [0, 0, 1, 1, 1, 0],
    })
    train = pd.DataFrame({"x": [2, 9, 1, 5], "c": ["b", "a", "a", None], "k": [7, 7, 7, 7], "s": ["m", "f", "f", "m"],
                          "y": [0, 1, 1, 0]})
    kw = dict(target="y", sensitive=["s"], features=["x", "c", "k"], train_frame=train, min_group_size=3)
    ref = data_quality(test, **kw)
    got, part, plan = run([test.iloc[i:i + 1] for i in range(len(test))], **kw)
    assert_matches(got, ref, part, plan)
    assert got.overview.loc["data", "near_duplicate_rows"] == 2 and got.leakage["row"].tolist() == [0, 1, 2, 3, 5]


def test_merge_is_order_free_and_associative(compas):
    test, train, c = compas
    plan = plan_data_quality(column_moments(test), target=c.target, sensitive=c.sensitive, train_frame=train)
    chunks = split(test, 7)
    offsets = np.cumsum([0] + [len(x) for x in chunks[:-1]])
    parts = [data_quality_part(x, plan, offset=int(o)) for x, o in zip(chunks, offsets)]
    flat = finish(merge_parts(parts), plan)
    shuffled = finish(merge_parts([parts[i] for i in (4, 0, 6, 2, 1, 5, 3)]), plan)
    groups = [parts[5:], [parts[3], parts[0]], [parts[4], parts[1], parts[2]]]
    nested = finish(merge_parts([merge_parts(g) for g in groups]), plan)
    for other in (shuffled, nested):
        for name in ["overview", "columns", "labels", "groups", "leakage", "drift"]:
            pd.testing.assert_frame_equal(getattr(other, name), getattr(flat, name), check_exact=True)
        assert other.notes == flat.notes


def test_moments_are_exact_and_independent_of_the_split(adult):
    """The grid mean is fsum's to the bit; the std within a few ulps of _mean_std's; merged sums identical for any split."""
    test, _, _ = adult
    whole = column_moments(test)
    for n in (3, 7):
        assert merge_moments(column_moments(x) for x in split(test, n)).sums == whole.sums
    for col in whole.sums:
        mean, sd = whole.mean_std(col)
        ref_mean, ref_sd = _mean_std(test[col].to_numpy(dtype=np.float64))
        assert mean == ref_mean, col
        assert abs(sd - ref_sd) <= 8 * np.spacing(ref_sd), col
    awkward = np.array([1e8 + 1e-7, 1e8, 1e8 - 3e-7, 0.1, -2.5e-300, 5e-324, 1e300])  # cancellation, subnormals, range
    m = column_moments(pd.DataFrame({"v": awkward}))
    with np.errstate(over="ignore"):  # _mean_std's squares overflow to inf, as the merged std does
        assert m.mean_std("v") == _mean_std(awkward) == (m.mean_std("v")[0], math.inf)
    m = column_moments(pd.DataFrame({"v": awkward[:-1]}))
    assert m.mean_std("v")[0] == _mean_std(awkward[:-1])[0]
    assert abs(m.mean_std("v")[1] - _mean_std(awkward[:-1])[1]) <= 8 * np.spacing(_mean_std(awkward[:-1])[1])


def test_n_unique_sketch_within_its_bound_and_the_same_for_every_split():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": rng.permutation(200_000).astype(float), "few": rng.integers(0, 500, 200_000)})
    cap = 1024
    true = frame.nunique(dropna=False)
    estimates = set()
    for n in (1, 3, 7):
        got, part, plan = run(split(frame, n), distinct_cap=cap)
        est = got.columns.loc["id", "n_unique"]
        assert abs(est / true["id"] - 1) <= 4 / math.sqrt(cap - 2)  # four relative standard errors
        assert got.columns.loc["few", "n_unique"] == true["few"]  # 500 distinct < cap: exact
        estimates.add(est)
        assert any("KMV" in n_ for n_ in got.notes)
    assert len(estimates) == 1  # the merged sketch is the whole column's sketch


def test_leaked_rows_listed_up_to_the_cap(adult):
    test, train, a = adult
    ref = data_quality(test, target=a.target, train_frame=train)
    got, _, _ = run(split(test, 7), target=a.target, train_frame=train, leak_cap=5)
    assert got.leakage_rows == ref.leakage_rows > 5
    pd.testing.assert_frame_equal(got.leakage, ref.leakage.head(5), check_exact=True)
    assert any("first 5 of" in n for n in got.notes)


def test_rows_on_a_grid_line_are_counted_and_bound_the_near_duplicates():
    frame = pd.DataFrame({"x": [-2.0, 2.0, -2.0, 2.0]})  # mean 0, std 2: z / 0.4 = +-2.5, on a grid line
    ref = data_quality(frame, near_tolerance=0.4)
    got, part, plan = run(split(frame, 3), near_tolerance=0.4)
    assert part.near_borderline == 4  # every row: the bound on the difference from the oracle
    assert_matches(got, ref, part, plan)
    one, _, _ = run([frame], near_tolerance=0.4)  # the grid is exact, so the count does not depend on the split
    pd.testing.assert_frame_equal(got.overview, one.overview, check_exact=True)


def test_exact_caps_are_the_in_memory_audit_equal_to_the_oracle_past_every_default_cap(adult):
    """``exact=True`` (what DataQualityCheck runs) keeps every distinct value, drift edge and leaked row."""
    test, train, a = adult
    test = pd.concat([test, train.iloc[:20]], ignore_index=True)  # 20 leaked rows, more than leak_cap=5 below
    kw = dict(target=a.target, train_frame=train, sensitive=a.sensitive)
    ref = data_quality(test, **kw)
    capped = data_quality_chunks([test], distinct_cap=16, drift_bins=8, leak_cap=5, **kw)
    assert any("KMV" in n for n in capped.notes) and any("KS drift" in n for n in capped.notes)
    got = data_quality_chunks([test], exact=True, distinct_cap=16, drift_bins=8, leak_cap=5, **kw)
    for name in ["overview", "columns", "labels", "groups", "leakage"]:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), check_exact=True)
    assert got.leakage_rows == ref.leakage_rows >= 20
    g, r = got.drift.sort_index(), ref.drift.sort_index()
    no_mean = [c for c in r.columns if c != "current_mean"]
    pd.testing.assert_frame_equal(g[no_mean], r[no_mean], check_exact=True)  # KS D and p-value exact too
    np.testing.assert_allclose(g["current_mean"].astype(float), r["current_mean"].astype(float), rtol=1e-12)
    assert got.notes == ref.notes


def test_parts_and_plan_pickle(compas):
    test, train, c = compas
    plan = plan_data_quality(column_moments(test), target=c.target, train_frame=train)
    part = data_quality_part(test, plan)
    part2, plan2 = pickle.loads(pickle.dumps((part, plan)))
    assert isinstance(part2, DataQualityPart)
    pd.testing.assert_frame_equal(finish(part2, plan2).overview, finish(part, plan).overview, check_exact=True)


def test_clear_errors(compas):
    test, _, c = compas
    plan = plan_data_quality(column_moments(test), target=c.target)
    a, b = data_quality_part(test.iloc[:10], plan), data_quality_part(test.iloc[10:20], plan)  # both offset 0
    with pytest.raises(AuditInputError, match="offset"):
        merge_parts([a, b])
    with pytest.raises(AuditInputError, match="consecutive"):
        finish(data_quality_part(test.iloc[10:20], plan, offset=10), plan)
    with pytest.raises(AuditInputError, match="0 rows"):
        finish(data_quality_part(test.iloc[:0], plan), plan)
    with pytest.raises(AuditInputError, match="different columns"):
        data_quality_part(test.drop(columns="sex"), plan)
    with pytest.raises(AuditInputError, match="numeric in one partition and text"):
        data_quality_part(test.assign(priors_count="many"), plan)
    with pytest.raises(AuditInputError, match="categorical"):
        plan_data_quality(column_moments(test), categorical=[])
    with pytest.raises(AuditInputError, match="features column 'nope'"):
        plan_data_quality(column_moments(test), features=["nope"])
    with pytest.raises(AuditInputError, match="different columns"):
        merge_moments([column_moments(test), column_moments(test.drop(columns="sex"))])
    with pytest.raises(AuditInputError, match="numeric in one partition and text"):
        plan_data_quality(merge_moments([column_moments(test.iloc[:5]), column_moments(test.iloc[5:].assign(age="x"))]))
    with pytest.raises(AuditInputError, match="distinct_cap"):
        plan_data_quality(column_moments(test), distinct_cap=2)


def test_chunk_list_convenience_matches(compas):
    test, train, c = compas
    kw = dict(target=c.target, sensitive=c.sensitive, train_frame=train)
    got = data_quality_chunks(split(test, 3), **kw)
    ref = data_quality(test, **kw)
    pd.testing.assert_frame_equal(got.overview, ref.overview, check_exact=True)
    assert got.leakage_rows == ref.leakage_rows


def test_settings_object_plans_like_keywords_and_numeric_summaries_add_by_name():
    """One DataQualitySettings gives the plan the keywords give; per-feature drift counts merge field by field."""
    from audit.health import DataQualitySettings, plan_from_settings

    df = pd.DataFrame({"x": [1.0, 1.0, 2.0, 4.0], "c": ["a", "a", "b", "b"], "y": [0, 0, 1, 1]})
    train = pd.DataFrame({"x": [1.0, 3.0, 4.0], "c": ["a", "b", "b"], "y": [0, 1, 1]})
    kw = dict(target="y", near_tolerance=0.5, distinct_cap=8, drift_bins=2)
    settings = DataQualitySettings(target="y", near_tolerance=0.5, distinct_cap=8, drift_bins=2)
    a = plan_from_settings(column_moments(df), settings, train)
    b = plan_data_quality(column_moments(df), train_frame=train, **kw)
    assert (a.features, a.categorical, a.near_tolerance, a.distinct_cap, a.drift_bins) == (("x", "c"), ("c",), 0.5, 8, 2)
    assert a.settings == b.settings and a.grid == b.grid
    parts = [data_quality_part(df.iloc[:3], a), data_quality_part(df.iloc[3:], a, offset=3)]
    whole = merge_parts(parts).numeric["x"]
    # by hand: 4 finite values; the exact sum is 8 * 2**1126; the PSI deciles of train's x hold 4 data values
    assert whole.n == 4 and whole.sum == 8 << 1126 and int(whole.psi_counts.sum()) == 4
    assert whole.at_edges.tolist() == (parts[0].numeric["x"].at_edges + parts[1].numeric["x"].at_edges).tolist()
    with pytest.raises(AuditInputError, match="near_tolerance must be positive"):
        plan_from_settings(column_moments(df), DataQualitySettings(near_tolerance=0.0))


def test_dask_engine_imports_the_public_face_of_health():
    """audit.engines reaches data quality through audit.health's exports, never its private modules."""
    import ast
    from pathlib import Path

    import audit.engines._dask_quality as engine
    import audit.health as health

    tree = ast.parse(Path(engine.__file__).read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not [m for m in modules if m and m.startswith("audit.health._")]
    for name in ["column_moments", "merge_moments", "plan_data_quality", "data_quality_part", "merge_parts", "finish"]:
        assert name in health.__all__ and getattr(engine, name) is getattr(health, name)
