"""A Dask audit of a regressor equals the in-memory audit on every full-data number (issue 26 item 8)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audit import StoredPredictions, audit

dd = pytest.importorskip("dask.dataframe")

FULL = ("performance", "fairness", "uncertainty", "data_quality")


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    f = load_diabetes(as_frame=True).frame
    f["sex"] = np.where(f["sex"] > 0, "a", "b")
    features = [c for c in f.columns if c not in ("target", "sex")]
    model = LinearRegression().fit(f[features].iloc[:300], f["target"].iloc[:300])
    return model, f.iloc[:300].reset_index(drop=True), f.iloc[300:].reset_index(drop=True), features


def _full_metrics(report) -> dict[str, tuple[float, float | None, float | None]]:
    return {m.name: (m.value, m.low, m.high) for name in FULL if name in report.sections
            for m in report.sections[name].metrics}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12)


def test_dask_regression_audit_equals_the_in_memory_audit(diabetes):
    model, train, test, features = diabetes
    kw = dict(target="target", sensitive=["sex"], features=features, train=train, progress=False, seed=0)
    in_memory = audit(model, test, **kw)
    on_dask = audit(model, dd.from_pandas(test, npartitions=3), **kw)
    assert on_dask.meta["engine"] == "dask" and in_memory.meta["task"] == "regression"
    ran = [n for n in FULL if n in in_memory.sections and in_memory.sections[n].status == "ok"]
    assert "data_quality" in ran
    for name in ran:
        assert on_dask.sections[name].status == "ok", (name, on_dask.sections[name].reason)
    a, b = _full_metrics(in_memory), _full_metrics(on_dask)
    # proxies read the features, which a gathered prediction log does not carry (not yet sampled for regression)
    a = {k: v for k, v in a.items() if ".proxy_" not in k}
    assert set(a) == set(b)
    for name, (value, low, high) in a.items():
        got = b[name]
        assert _same(value, got[0]) and _same(low, got[1]) and _same(high, got[2]), (name, (value, low, high), got)


def test_dask_regression_log_with_stored_predictions(diabetes):
    model, _, test, features = diabetes
    log = test.assign(predicted=model.predict(test[features]))
    kw = dict(target="target", sensitive=["sex"], progress=False, seed=0, features=["predicted"])
    in_memory = audit(StoredPredictions(prediction="predicted"), log, **kw)
    on_dask = audit(StoredPredictions(prediction="predicted"), dd.from_pandas(log, npartitions=4), **kw)
    a, b = _full_metrics(in_memory), _full_metrics(on_dask)
    assert set(a) == set(b) and a
    for name, (value, _, _) in a.items():
        assert _same(value, b[name][0]), name
