"""Dask DataFrames on a 2-worker LocalCluster: every shared metric equals the pandas run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.datasets import load_compas
from audit.errors import ModelCallError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
# Partitions add the same exact counts, but float sums (weights x scores, squared errors) in another order: each
# sum is off by at most ~n ulp, and a gap (a difference of two such values) loses a few digits more. 1e-9 relative
# leaves three orders of magnitude above the 3.9e-11 seen on ECE gaps, and still fails any real disagreement.
SUM_ORDER_RTOL, SUM_ORDER_ATOL = 1e-9, 1e-14
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
    for check in ("performance", "fairness", "calibration", "data_quality"):
        a = {m.name: (m.value, m.low, m.high) for m in mem.sections[check].metrics if "proxy" not in m.name}
        b = {m.name: (m.value, m.low, m.high) for m in dk.sections[check].metrics}
        assert a and set(a) <= set(b)
        for k, v in a.items():  # counts are exact; float sums differ only in summation order across partitions
            np.testing.assert_allclose(np.array(b[k], dtype=float), np.array(v, dtype=float), rtol=SUM_ORDER_RTOL,
                                       atol=SUM_ORDER_ATOL, equal_nan=True, err_msg=k)
    assert dk.verdict == mem.verdict
    # data quality ran on every row, per partition, and says so
    assert any(n.startswith(f"Computed on all {len(test):,} rows of the Dask DataFrame") for n in dk.sections["data_quality"].notes)
    # (dask reads text columns as pyarrow strings: only the dtype's name differs)
    pd.testing.assert_frame_equal(dk.sections["data_quality"].result.columns.drop(columns="dtype"),
                                  mem.sections["data_quality"].result.columns.drop(columns="dtype"))


def test_data_quality_against_train_runs_on_every_partition(client, compas):
    """Leakage and drift against a pandas training frame: the same counts and tests as in memory (COMPAS's columns
    have few distinct values, so every drift test is exact here)."""
    lr, test = compas
    train = load_compas().frame.iloc[:3000]
    kw = {**KW, "checks": ["data_quality"], "train": train}
    mem = audit(lr, test, **kw).sections["data_quality"].result
    dk = audit(lr, dd.from_pandas(test, npartitions=3), **kw).sections["data_quality"].result
    assert dk.leakage_rows == mem.leakage_rows and dk.leakage_share == mem.leakage_share
    pd.testing.assert_frame_equal(dk.leakage, mem.leakage)
    pd.testing.assert_frame_equal(dk.drift, mem.drift, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(dk.overview, mem.overview)


def test_sampled_checks_run_as_tasks_on_the_workers_with_the_in_memory_numbers(client, compas):
    """Checks that need the model on rows run one task per check on the cluster; the sample here is every row,
    so their numbers equal an in-memory audit's."""
    lr, test = compas
    checks = ["explain", "robustness"]
    mem = audit(lr, test, checks=checks, **KW)
    dk = audit(lr, dd.from_pandas(test, npartitions=4), checks=checks, **KW)
    for check in checks:
        assert any("one task per check on the cluster's 2 workers" in n for n in dk.sections[check].notes), check
        a = {m.name: m.value for m in mem.sections[check].metrics}
        b = {m.name: m.value for m in dk.sections[check].metrics}
        assert a.keys() == b.keys()
        np.testing.assert_allclose([b[k] for k in a], [a[k] for k in a], rtol=1e-9, equal_nan=True)


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


def test_example_prediction_log_config_runs_on_a_local_cluster(tmp_path, caplog):
    """examples/prediction_log.toml: a Parquet glob through a LocalCluster, the same numbers as pandas in memory,
    and no cluster chatter (the scheduler's INFO lines about workers and clients) in the gate's output."""
    import json
    import logging
    from pathlib import Path

    import pandas as pd

    from audit import StoredPredictions
    from audit.cli import main

    root = Path(__file__).resolve().parents[1] / "examples"
    code = main(["run", str(root / "prediction_log.toml"), "--out", str(tmp_path), "--quiet",
                 "--checks", "performance,fairness"])
    assert code in (0, 1)  # ran (the gate's verdict is the policy's business)
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("distributed") and r.levelno < logging.ERROR]
    assert not chatter, chatter[:3]
    got = json.loads((tmp_path / "audit.json").read_text())["metrics"]
    log = pd.concat([pd.read_parquet(p) for p in sorted((root / "data" / "prediction_log").glob("part-*.parquet"))],
                    ignore_index=True)
    ref = audit(StoredPredictions(score="risk_score", classes=[0, 1]), log, target="two_year_recid",
                sensitive=["race", "sex"], checks=["performance", "fairness"], progress=False, seed=0)
    for m in ref.sections["performance"].metrics + ref.sections["fairness"].metrics:
        value = got[m.name]["value"] if isinstance(got[m.name], dict) else got[m.name]
        assert value == pytest.approx(m.value, rel=1e-9, abs=1e-12, nan_ok=True), m.name


# ------------------------------------------------------------------- partitions return cells, not rows
def _log(n: int = 40_000, seed: int = 3):
    import pandas as pd

    rng = np.random.default_rng(seed)
    score = rng.beta(2, 5, n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    label = (rng.random(n) < np.clip(score + 0.08 * (region == "west"), 0, 1)).astype(int)  # west: under-confident
    when = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D")
    return pd.DataFrame({"score": score, "label": label, "region": region, "sex": rng.choice(["f", "m"], n),
                         "scored_at": when})


def _tie_bound(y, score, mask=None):
    """sum_c pos_c neg_c / (2 P N) over the grid cells of the scores: the most a grid AUC can move."""
    from audit.stats import grid_index

    m = slice(None) if mask is None else mask
    cell = grid_index(score[m], 15)
    pos = np.bincount(cell, weights=y[m] == 1, minlength=3840)
    neg = np.bincount(cell, weights=y[m] == 0, minlength=3840)
    return (pos * neg).sum() / (2 * pos.sum() * neg.sum())


def test_grid_cells_keep_every_count_exact_and_auc_and_ece_within_their_bounds(client, monkeypatch):
    """More distinct scores than EXACT_LIMIT: the partitions' cells go on the grid. Counts and sums stay the
    pandas numbers to 1e-12; ROC AUC (overall, per group, per period) within the tie bound, group ECEs within theirs."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    import audit.engines.dask as engine
    from audit import StoredPredictions
    from audit.health._calibration import column_groups
    from audit.health._ece_cells import ece_grid_bound, hit_cells_of
    from audit.stats import build_cells

    monkeypatch.setattr(engine, "EXACT_LIMIT", 1_000)
    log = _log()
    kw = dict(target="label", sensitive=["region", "sex"], progress=False, seed=0, time_column="scored_at",
              checks=["performance", "fairness", "calibration"])
    mem = audit(StoredPredictions(score="score"), log, **kw)
    dk = audit(StoredPredictions(score="score"), dd.from_pandas(log, npartitions=4), **kw)
    assert any("grid of 3,840 cells" in n for n in dk.sections["performance"].notes)
    y, s = log["label"].to_numpy(), log["score"].to_numpy()
    bound = _tie_bound(y, s)
    assert 0 < bound < 1e-3
    for check in ("performance", "fairness", "calibration"):
        a = {m.name: (m.value, m.low, m.high) for m in mem.sections[check].metrics}
        b = {m.name: (m.value, m.low, m.high) for m in dk.sections[check].metrics}
        assert set(a) == set(b)
        for k, v in a.items():
            if "roc_auc" in k or k.endswith("ece_gap"):
                continue
            np.testing.assert_allclose(np.array(b[k], dtype=float), np.array(v, dtype=float), rtol=SUM_ORDER_RTOL,
                                       atol=SUM_ORDER_ATOL, equal_nan=True, err_msg=k)
    auc = dk.sections["performance"].metric("performance.roc_auc")
    assert abs(auc.value - roc_auc_score(y, s)) <= bound
    ref = mem.sections["performance"].metric("performance.roc_auc")
    assert abs(auc.low - ref.low) <= bound and abs(auc.high - ref.high) <= bound  # the same draws, re-centred
    stated = next(n for n in dk.sections["fairness"].notes if "each group's ROC AUC is within" in n)
    stated = float(stated.split("each group's ROC AUC is within ")[1].split(" of")[0])
    for col in ("region", "sex"):  # per-group AUC within each group's own bound, and within the one the section states
        t_mem, t_dk = mem.sections["fairness"].tables[f"Groups by {col}"], dk.sections["fairness"].tables[f"Groups by {col}"]
        for g in t_mem.index:
            m = (log[col] == g).to_numpy()
            assert abs(t_dk.loc[g, "roc_auc"] - roc_auc_score(y[m], s[m])) <= min(_tie_bound(y, s, m), stated), (col, g)
    per_mem = mem.sections["performance"].tables["By period (M)"]
    per_dk = dk.sections["performance"].tables["By period (M)"]
    pd.testing.assert_frame_equal(per_dk.drop(columns="roc_auc"), per_mem.drop(columns="roc_auc"), rtol=1e-12)
    month = log["scored_at"].dt.strftime("%Y-%m").to_numpy()
    for p in per_mem.index:
        assert abs(per_dk.loc[p, "roc_auc"] - per_mem.loc[p, "roc_auc"]) <= _tie_bound(y, s, month == p)
    # group ECEs: each within the bound of grid cells of the same rows; the gap within twice the largest
    grid = build_cells(y, np.column_stack([1 - s, s]), log[["region", "sex"]], exact_limit=0)
    by_mem, by_dk = mem.sections["calibration"].tables["Calibration by group"], dk.sections["calibration"].tables["Calibration by group"]
    worst = 0.0
    for col in ("region", "sex"):
        member, labels = column_groups(grid, col)
        b_g = ece_grid_bound(hit_cells_of(grid, member, len(labels)), 15, 100)
        for g, bg in zip(labels, b_g):
            assert abs(by_dk.loc[(col, g), "ece"] - by_mem.loc[(col, g), "ece"]) <= bg, (col, g)
            worst = max(worst, bg)
        gap_mem = mem.sections["calibration"].tables["ECE gap by sensitive column"].loc[col, "ece_gap"]
        gap_dk = dk.sections["calibration"].tables["ECE gap by sensitive column"].loc[col, "ece_gap"]
        assert abs(gap_dk - gap_mem) <= 2 * worst
    assert 0 < worst < 0.05
    assert any("within" in n and "of the ECE on the exact values" in n for n in dk.sections["calibration"].notes)


def test_exact_cells_say_so_and_multiclass_falls_back_to_rows(client, compas):
    lr, test = compas
    dk = audit(lr, dd.from_pandas(test, npartitions=3), checks=["performance"], **KW)
    assert any("one cell per distinct score" in n for n in dk.sections["performance"].notes)
    three = test.assign(y3=np.digitize(test["priors_count"], [0.5, 3.5]))
    lr3 = LogisticRegression(max_iter=1000).fit(three[FEATURES[:4]], three["y3"])
    kw = dict(target="y3", sensitive=["race", "sex"], progress=False, seed=0, features=FEATURES[:4],
              checks=["performance", "fairness", "calibration"])
    mem = audit(lr3, three, **kw)
    dk = audit(lr3, dd.from_pandas(three, npartitions=3), **kw)
    for check in ("performance", "fairness", "calibration"):
        assert any("gathered on the client" in n for n in dk.sections[check].notes)
        a = {m.name: (m.value, m.low, m.high) for m in mem.sections[check].metrics if "proxy" not in m.name}
        b = {m.name: (m.value, m.low, m.high) for m in dk.sections[check].metrics}
        for k, v in a.items():
            np.testing.assert_allclose(np.array(b[k], dtype=float), np.array(v, dtype=float), rtol=SUM_ORDER_RTOL,
                                       atol=SUM_ORDER_ATOL, equal_nan=True, err_msg=k)


def test_a_skipped_sampled_check_claims_no_rows(client, compas):
    """A prediction log has no model to explain: the explain section is skipped with its reason, and says nothing
    about rows it computed on."""
    from audit import StoredPredictions

    lr, test = compas
    log = test.assign(p=lr.predict_proba(test[FEATURES])[:, 1])
    rep = audit(StoredPredictions(score="p"), dd.from_pandas(log, npartitions=2), target="two_year_recid",
                sensitive=["race"], checks=["performance", "explain", "robustness"], progress=False, seed=0)
    assert rep.sections["performance"].status == "ok"
    for name in ("explain", "robustness"):
        s = rep.sections[name]
        assert s.status == "skipped" and "stored predictions" in s.reason, (name, s.reason)
        assert not any(n.startswith("Computed on") for n in s.notes), s.notes


def test_a_bad_policy_or_baseline_fails_before_any_pass_over_the_data(compas, tmp_path):
    """Issue 25: the policy, check names and baseline are validated before the engine touches a partition."""
    lr, test = compas

    def explode(part):
        raise AssertionError("a partition was computed")

    frame = dd.from_pandas(test, npartitions=2).map_partitions(explode, meta=test.iloc[:0])
    with pytest.raises(Exception, match="unknown metric 'performance.acuracy'"):
        audit(lr, frame, policy={"performance.acuracy": {"min": 0.5}}, **KW)
    bad = tmp_path / "baseline.json"
    bad.write_text("{not json")
    with pytest.raises(Exception, match="baseline"):
        audit(lr, frame, baseline=bad, **KW)


@pytest.mark.parametrize("positive_class", [None, 0])  # 0: the first class, so the rows come back (no cells)
def test_train_metrics_are_produced_on_dask_and_equal_the_pandas_run(client, compas, positive_class):
    """train= used to be dropped on Dask: the eight performance.train* metrics were missing, so a policy gate on
    them passed in memory and failed on Dask ("was not produced"). They equal the in-memory ones (scikit-learn)."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    lr, test = compas
    train = load_compas().frame.iloc[:3000]
    kw = {**KW, "checks": ["performance"], "positive_class": positive_class,
          "policy": {"performance.train_test_gap.accuracy": {"max": 0.2}}}
    mem = audit(lr, test, train=train, **kw)
    for train_arg in (train, dd.from_pandas(train, npartitions=3)):
        dk = audit(lr, dd.from_pandas(test, npartitions=4), train=train_arg, **kw)
        a = {m.name: m.value for m in mem.sections["performance"].metrics if "train" in m.name}
        b = {m.name: m.value for m in dk.sections["performance"].metrics if "train" in m.name}
        assert len(a) == 8 and set(a) == set(b)
        for k, v in a.items():
            np.testing.assert_allclose(b[k], v, rtol=1e-12, err_msg=k)
        p = lr.predict_proba(train[FEATURES])
        y = train["two_year_recid"].to_numpy()
        assert b["performance.train.accuracy"] == pytest.approx(accuracy_score(y, p.argmax(axis=1)), abs=1e-12)
        assert b["performance.train.roc_auc"] == pytest.approx(roc_auc_score(y, p[:, 1]), abs=1e-12)
        gate = [f for f in dk.findings if f.metric == "performance.train_test_gap.accuracy"]
        assert gate and gate[0].status == "pass"


def test_nan_features_outside_the_sample_are_refused_as_in_memory(client, compas, monkeypatch):
    """The pandas path refuses NaN features for a model that cannot take them; the Dask path checked only its
    sample, so a NaN in a row outside it passed. Every partition now applies the same rule
    (audit.data.check_features, with the model), with and without a full-data check."""
    import audit.engines.dask as engine
    from audit.errors import AuditInputError

    monkeypatch.setitem(engine.audit_dask.__kwdefaults__, "sample_rows", 200)
    lr, test = compas
    bad = test.copy()
    bad.loc[len(bad) - 3, "priors_count"] = np.nan
    with pytest.raises(AuditInputError, match=r"data has missing values in column\(s\) \['priors_count'\] .* cannot take"):
        audit(lr, bad, checks=["performance"], **KW)
    ddf = dd.from_pandas(bad, npartitions=4)
    for checks in (["performance"], ["explain"]):
        with pytest.raises(AuditInputError, match=r"data \(partition 3\) has missing values in column\(s\) "
                                                  r"\['priors_count'\] .* cannot take"):
            audit(lr, ddf, checks=checks, **KW)


def test_integer_column_names_audit_on_dask_like_pandas(client):
    from audit.checks.explain import ExplainCheck

    rng = np.random.default_rng(0)
    A = rng.normal(size=(600, 3))
    y = (A[:, 0] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    X = pd.DataFrame(A)
    lr = LogisticRegression().fit(X, y)  # fitted on integer names
    df = X.assign(label=y, g=rng.choice(["u", "v"], 600))
    kw = dict(target="label", sensitive=["g"], features=["0", "1", "2"], progress=False, seed=0,
              checks=["performance", "fairness", ExplainCheck(n_rows=30, n_background=10, n_lime_rows=2,
                                                               lime_samples=200)])
    mem = audit(lr, df, **kw)
    dk = audit(lr, dd.from_pandas(df, npartitions=3), **kw)
    assert all(s.status == "ok" for s in dk.sections.values()), {k: s.reason for k, s in dk.sections.items()}
    for check in ("performance", "fairness", "explain"):
        a = {m.name: m.value for m in mem.sections[check].metrics if "proxy" not in m.name}
        b = {m.name: m.value for m in dk.sections[check].metrics}
        for k, v in a.items():
            np.testing.assert_allclose(b[k], v, rtol=1e-9, equal_nan=True, err_msg=k)


def test_sample_proxies_report_as_the_fairness_check_does():
    """Proxy detection on the Dask sample goes through the check's own reporting (issue 25): the same metric,
    tables and notes (the model-feature note included, which the engine's copy used to drop)."""
    from sklearn.metrics import roc_auc_score

    from audit.engines.dask import _sample_proxies
    from audit.section import Section

    rng = np.random.default_rng(0)
    g = np.repeat([0, 1], 200)
    sample = pd.DataFrame({"copy": g.astype(float), "g": g, "noise": rng.normal(size=g.size)})
    skip = "Proxy detection needs the model's features; a prediction log has only its scores, so it was skipped."
    section = Section(check="fairness", title="Fairness", notes=["kept", skip])
    _sample_proxies(section, sample, "a sample of 400 rows", ["copy", "g", "noise"], ["g"], 0)
    (metric,) = section.metrics
    assert metric.name == "fairness.g.proxy_auc"
    assert metric.value == pytest.approx(roc_auc_score(g, g), abs=1e-12)  # "copy" is the column itself: AUC 1
    assert metric.description.endswith("(ROC AUC on the sample, 0.5 = not at all; 400 rows)")
    assert list(section.tables) == ["Proxies", "Proxy features"]
    assert section.notes[:2] == ["kept", "Proxy detection ran on a sample of 400 rows (it needs the features, "
                                         "which stay on the workers)."]
    assert "g is itself a model feature: the model sees it directly (proxy AUC uses the other features)." in section.notes


def test_dask_arguments_default_as_audit_does_and_refuse_unknown_names():
    """The Dask engine states each argument's default once (DaskAuditArgs); they must be audit()'s defaults, and
    a misspelt argument is an error, not a setting silently ignored."""
    import inspect

    from audit.engines._dask_options import DaskAuditArgs

    audit_defaults = {k: p.default for k, p in inspect.signature(audit).parameters.items()
                      if p.kind is p.KEYWORD_ONLY}
    args = DaskAuditArgs()
    for name in audit_defaults:
        if name != "checks":  # audit() resolves None to Check instances before the engine sees them
            assert getattr(args, name) == audit_defaults[name], name
    assert set(args.given()) == set(audit_defaults)
    with pytest.raises(TypeError, match="min_group_sise"):
        DaskAuditArgs(min_group_sise=50)
