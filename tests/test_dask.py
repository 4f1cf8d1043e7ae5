"""Dask DataFrames on a 2-worker LocalCluster: every shared metric equals the pandas run."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.datasets import load_compas
from audit.errors import ModelCallError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
KW = dict(target="two_year_recid", sensitive=["race", "sex"], progress=False, seed=0, features=FEATURES)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def compas():
    d = load_compas().frame
    lr = LogisticRegression(max_iter=1000).fit(d[FEATURES].iloc[:3000], d["two_year_recid"].iloc[:3000])
    return lr, d.iloc[3000:].reset_index(drop=True)


def test_every_shared_metric_and_interval_equals_the_pandas_run(client, compas):
    lr, test = compas
    checks = ["performance", "fairness", "calibration", "data_quality"]
    mem = audit(lr, test, checks=checks, **KW)
    dk = audit(lr, dd.from_pandas(test, npartitions=4), checks=checks, **KW)
    assert dk.meta["engine"] == "dask" and dk.meta["rows"] == len(test)
    for check in ("performance", "fairness", "calibration"):
        a = {m.name: (m.value, m.low, m.high) for m in mem.sections[check].metrics if "proxy" not in m.name}
        b = {m.name: (m.value, m.low, m.high) for m in dk.sections[check].metrics}
        assert a and set(a) <= set(b)
        for k, v in a.items():  # counts are exact, so every float is the same computation
            np.testing.assert_allclose(np.array(b[k], dtype=float), np.array(v, dtype=float), rtol=1e-12, equal_nan=True,
                                       err_msg=k)
    assert dk.verdict == mem.verdict
    assert any("Dask DataFrame" in n for n in dk.sections["data_quality"].notes)  # said where it was computed


def test_a_partition_raising_in_the_model_is_named(client, compas):
    lr, test = compas

    class FailsOnOld:
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            if (X["age"] > 75).any():
                raise ValueError("age out of range")
            return lr.predict_proba(X)

    parts = dd.from_pandas(test.sort_values("age").reset_index(drop=True), npartitions=3)
    with pytest.raises(ModelCallError, match=r"model raised ValueError while predicting on partition 2: age out of range"):
        audit(FailsOnOld(), parts, checks=["performance"], **KW)


def test_example_prediction_log_config_runs_on_a_local_cluster(tmp_path):
    """examples/prediction_log.toml: a Parquet glob through a LocalCluster, the same numbers as pandas in memory."""
    import json
    from pathlib import Path

    import pandas as pd

    from audit import StoredPredictions
    from audit.cli import main

    root = Path(__file__).resolve().parents[1] / "examples"
    code = main(["run", str(root / "prediction_log.toml"), "--out", str(tmp_path), "--quiet",
                 "--checks", "performance,fairness"])
    assert code in (0, 1)  # ran (the gate's verdict is the policy's business)
    got = json.loads((tmp_path / "audit.json").read_text())["metrics"]
    log = pd.concat([pd.read_parquet(p) for p in sorted((root / "data" / "prediction_log").glob("part-*.parquet"))],
                    ignore_index=True)
    ref = audit(StoredPredictions(score="risk_score", classes=[0, 1]), log, target="two_year_recid",
                sensitive=["race", "sex"], checks=["performance", "fairness"], progress=False, seed=0)
    for m in ref.sections["performance"].metrics + ref.sections["fairness"].metrics:
        value = got[m.name]["value"] if isinstance(got[m.name], dict) else got[m.name]
        assert value == pytest.approx(m.value, rel=1e-9, abs=1e-12, nan_ok=True), m.name
