"""Bounded work: linear fairness counting, many groups and classes finish in seconds with capped figures,
long labels shortened for display and clipped in audit.json; every number unchanged for ordinary inputs."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.fairness._counts import aggregate
from audit.stats import group_auc, group_auc_vectorised, percentile_interval, resample_counts


def test_aggregate_is_the_one_hot_sum_without_the_dense_matrix():
    rng = np.random.default_rng(0)
    for G, V in ((7, 3), (50, 9), (12, 12)):
        member = rng.permutation(np.r_[np.arange(V), rng.integers(0, V, G - V)])
        counts = rng.integers(0, 40, (6, G, 4)).astype(float)
        onehot = np.zeros((V, G))
        onehot[member, np.arange(G)] = 1.0
        np.testing.assert_array_equal(aggregate(counts, member, V), np.einsum("vg,...gc->...vc", onehot, counts))
    # 20,000 groups into 10,000: the old (V x G) one-hot alone would be 1.6 GB
    G, V = 20_000, 10_000
    member = np.r_[np.arange(V), np.arange(V)]
    out = aggregate(np.ones((3, G, 4)), member, V)
    assert out.shape == (3, V, 4) and (out == 2).all()


def test_batched_percentiles_equal_nanquantile_exactly():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 9, (300, 700)) / 7.0
    x[rng.random(x.shape) < 0.4] = np.nan
    x[:, :5] = np.nan  # all-NaN columns stay NaN
    alpha = 1 - 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanquantile(x, [alpha / 2, 1 - alpha / 2], axis=0)
    lo, hi = percentile_interval(x, 0.95)
    np.testing.assert_array_equal(lo, ref[0])
    np.testing.assert_array_equal(hi, ref[1])


def test_vectorised_group_auc_equals_roc_auc_score():
    rng = np.random.default_rng(2)
    n, V = 4000, 150
    g = rng.integers(0, V, n)
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 2)  # ties
    y[g == 0] = 1  # one class only: NaN
    for w in (None, rng.random(n) * 3):
        ours = group_auc_vectorised(y, s, g, V, w)
        for v in range(V):
            m = g == v
            if v == 0:
                assert np.isnan(ours[v])
                continue
            assert ours[v] == pytest.approx(skm.roc_auc_score(y[m], s[m], sample_weight=None if w is None else w[m]), abs=1e-12)
    # above LOOP_GROUPS groups group_auc takes the vectorised pass
    np.testing.assert_array_equal(group_auc(y, s, g, V, None), group_auc_vectorised(y, s, g, V, None))


def _dense_metric_intervals(y, proba, n_boot, seed):
    """The former dense (k x k cells per resample) bootstrap of accuracy and balanced accuracy."""
    n, k = proba.shape
    rng = np.random.default_rng(seed)
    pred = proba.argmax(axis=1)
    cells = np.zeros((k, k))
    np.add.at(cells, (y, pred), 1.0)
    draws, _ = resample_counts(rng, cells, cells, None, n_boot)
    diag = np.einsum("bii->bi", draws)
    acc = percentile_interval(diag.sum(axis=1) / n, 0.95)
    support = draws.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, diag / np.where(support > 0, support, 1.0), np.nan)
    present = cells.sum(axis=1) > 0
    return acc, percentile_interval(np.nanmean(recall[:, present], axis=1), 0.95)


def test_performance_intervals_draw_only_observed_cells_with_identical_numbers():
    from audit.stats import metric_intervals

    rng = np.random.default_rng(3)
    for k, n in ((2, 300), (3, 50), (10, 900), (10, 40)):
        y = rng.integers(0, k, n)
        y = np.minimum(y, k - 2) if n < 100 else y  # a class without rows: the table ends in empty cells
        p = rng.dirichlet(np.ones(k), n)
        ci = metric_intervals(y, p, n_boot=300, seed=7)
        acc, bal = _dense_metric_intervals(y, p, 300, 7)
        assert (ci.loc["accuracy", "low"], ci.loc["accuracy", "high"]) == tuple(map(float, acc))
        assert (ci.loc["balanced_accuracy", "low"], ci.loc["balanced_accuracy", "high"]) == tuple(map(float, bal))


def test_many_class_metrics_equal_scikit_learn(monkeypatch):
    import audit.stats._classification as perf

    rng = np.random.default_rng(4)
    k, n = 12, 800
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    dense = perf.classification_metrics(y, p)
    monkeypatch.setattr(perf, "DENSE_CLASSES", 5)
    counted = perf.classification_metrics(y, p)
    assert counted == pytest.approx(dense, abs=1e-12) and counted["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr"), abs=1e-12)


def test_calibration_of_150_groups_equals_each_group_alone():
    from audit.health import calibration

    rng = np.random.default_rng(5)
    n = 5000
    p = rng.dirichlet(np.ones(2), n)
    y = rng.integers(0, 2, n)
    sens = pd.DataFrame({"g": rng.integers(0, 150, n).astype(str)})
    fast = calibration(y, p, sensitive=sens)
    slow = pd.concat([calibration(y[m], p[m], sensitive=pd.DataFrame({"g": sens["g"][m].to_numpy()}), min_group_size=0).by_group
                      for m in (sens["g"] == g for g in sorted(sens["g"].unique()))])
    assert list(fast.by_group.index) == list(slow.index)
    cols = [c for c in fast.by_group.columns if c != "small"]
    np.testing.assert_allclose(fast.by_group[cols].to_numpy(float), slow[cols].to_numpy(float), rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def many_groups():
    rng = np.random.default_rng(6)
    n = 10_000
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "g": rng.integers(0, 5000, n).astype(str)})
    df.loc[:40, "g"] = "Z" * 1_000_000  # one 1 MB group value
    df["y"] = (df.x1 + rng.normal(size=n) > 0).astype(int)
    clf = LogisticRegression().fit(df[["x1", "x2"]], df.y)
    t = time.perf_counter()
    report = audit(clf, df, target="y", sensitive=["g"], features=["x1", "x2"],
                   checks=["performance", "fairness", "calibration", "data_quality"], progress=False)
    return report, time.perf_counter() - t, df["g"].nunique()


def test_five_thousand_groups_finish_in_seconds_with_capped_figures(many_groups):
    report, seconds, n_groups = many_groups
    assert n_groups > 4000
    assert all(s.status == "ok" for s in report.sections.values()), {k: s.reason for k, s in report.sections.items()}
    assert seconds < 60, seconds  # about 6 s here; the dense counting alone took more than 10 minutes
    fair = report.sections["fairness"]
    assert len(fair.tables["Groups by g"]) == n_groups  # every group stays in the tables
    caption = next(f.caption for f in fair.figures if f.title.startswith("Group metrics by"))
    assert f"The 30 largest of {n_groups:,} groups are drawn (cap 30)" in caption
    proxy_note = next(n for n in fair.notes if "proxy model predicts" in n)
    assert "predicts the 19 largest and 'other'" in proxy_note


def test_a_one_megabyte_group_value_stays_small_in_every_output(many_groups, tmp_path):
    report = many_groups[0]
    html = report.to_html()
    assert len(html) < 3_000_000, len(html)  # was 45.6 MB with 3 groups, more with 5,000
    assert "Z" * 2001 not in html and "Z" * 59 + "…" in html  # labels shortened for display
    data = json.loads(report.to_json(tmp_path / "audit.json"))
    assert (tmp_path / "audit.json").stat().st_size < 8_000_000
    names = data["sections"]["fairness"]["tables"]["Groups by g"]["index"]
    long = [v for v in names if v.startswith("ZZZ")]
    assert long == ["Z" * (2000 - len("… (1000000 characters)")) + "… (1000000 characters)"]  # kept up to the limit
    assert all(len(v) <= 2000 for v in names)
    for fig in report.sections["fairness"].figures:
        assert "Z" * 81 not in (fig.svg or "")


def test_ten_thousand_classes_run_the_performance_check():
    k, n = 10_000, 2_000
    rng = np.random.default_rng(7)
    y = rng.integers(0, k, n)
    df = pd.DataFrame({"a": y + rng.normal(scale=0.3, size=n), "y": y})
    centers = np.arange(k, dtype=float)

    def model(d: pd.DataFrame) -> np.ndarray:
        logits = -((d["a"].to_numpy()[:, None] - centers[None, :]) ** 2)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    t = time.perf_counter()
    report = audit(model, df, target="y", features=["a"], checks=["performance"], progress=False)
    assert time.perf_counter() - t < 60
    sec = report.sections["performance"]
    assert sec.status == "ok", sec.reason
    acc = sec.metric("performance.accuracy")
    assert acc.value == pytest.approx(np.mean(model(df).argmax(axis=1) == y)) and acc.low <= acc.value <= acc.high
    cm = sec.tables["Confusion matrix"]
    assert cm.shape == (21, 21) and int(cm.to_numpy().sum()) == n
    assert cm.index[-1] == "other (9,980 classes)" and "20 most frequent of 10,000 classes" in sec.notes[0]
