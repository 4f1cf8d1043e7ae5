"""A partition summarised in chunks gives the cells of the whole partition (issue 29: large partitions are cut
into chunks that stay fast per row), on the exact path and on the grid."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from audit import StoredPredictions
from audit.engines._dask_cells import partition_cells
from audit.model import ModelAdapter


def log(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = np.round(rng.beta(2, 5, n), 3)  # about 900 distinct scores: exact below the limit, grid above
    return pd.DataFrame({"score": score, "label": (rng.random(n) < score).astype(int),
                         "region": pd.Categorical(rng.choice(["n", "s", "e"], n)),
                         "sex": rng.choice(["f", "m", None], n, p=[0.5, 0.45, 0.05])})


@pytest.mark.parametrize("exact_limit", [100_000, 50])
def test_chunked_cells_equal_the_whole_partitions(exact_limit):
    df = log()
    adapter = ModelAdapter(StoredPredictions(score="score"))
    kw = dict(features=["score"], target="label", sensitive=["region", "sex"], classes=[0, 1], time_column=None,
              period="M", n_bins=15, exact_limit=exact_limit)
    whole = partition_cells(df, 0, adapter, **kw, chunk_rows=10**9)
    chunked = partition_cells(df, 0, adapter, **kw, chunk_rows=700)
    assert whole.exact == chunked.exact == (exact_limit > 1000)
    assert whole.names == chunked.names and all(a.equals(b) for a, b in zip(whole.levels, chunked.levels))
    for f in fields(whole):
        a, b = getattr(whole, f.name), getattr(chunked, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-9, err_msg=f.name)
    assert chunked.n == len(df)
    assert chunked.confusion().tolist() == pd.crosstab(df.label, (df.score > 0.5).astype(int)).to_numpy().tolist()


@pytest.mark.parametrize("exact_limit", [None, 50])
def test_hashed_and_sorted_reductions_give_the_same_cells(exact_limit, monkeypatch):
    """Past HASH_ROWS entries cells are added up by hashing their keys; the sorted path is the reference."""
    from audit.stats import _cells, build_cells

    df = log(20_000, seed=3)
    y, p1 = df.label.to_numpy(), df.score.to_numpy()
    proba, groups = np.column_stack([1 - p1, p1]), df[["region", "sex"]]
    monkeypatch.setattr(_cells, "HASH_ROWS", 10**9)
    ref = build_cells(y, proba, groups, exact_limit=exact_limit)
    monkeypatch.setattr(_cells, "HASH_ROWS", 0)
    hashed = build_cells(y, proba, groups, exact_limit=exact_limit)
    for f in fields(ref):
        a, b = getattr(ref, f.name), getattr(hashed, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-9, err_msg=f.name)
    assert len(ref.count) > 100 and ref.n == hashed.n == 20_000


def test_the_client_holds_one_summary_whatever_the_partitions(monkeypatch):
    """What reaches the client does not grow with partitions or rows: the summary merged on the workers (its
    cells bounded by the grid), a few head rows, and no stratified sample when every check reads every row."""
    import pickle

    dd = pytest.importorskip("dask.dataframe")
    import audit.engines.dask as engine
    from audit import audit
    from audit.engines import _dask_cells

    def refuse(*args, **kwargs):
        raise AssertionError("a sample was drawn though no check reads one")

    monkeypatch.setattr(engine, "stratified_sample", refuse)
    received = []
    real = _dask_cells.summarise

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        received.append(len(pickle.dumps(out)))
        return out

    monkeypatch.setattr(engine, "summarise", spy)
    monkeypatch.setattr(engine, "EXACT_LIMIT", 50, raising=False)
    df = log(40_000, seed=4)
    reports = [audit(StoredPredictions(score="score"), dd.from_pandas(df, npartitions=k), target="label",
                     sensitive=["region", "sex"], checks=["performance", "fairness", "calibration"], progress=False)
               for k in (2, 16)]
    assert reports[0].metrics["performance.accuracy"].value == pytest.approx(
        reports[1].metrics["performance.accuracy"].value, abs=1e-12)
    assert len(received) == 2 and abs(received[1] - received[0]) <= 0.01 * received[0]
