from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from audit.checks.data_quality import DataQualityCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.errors import AuditInputError
from audit.health import data_quality, feature_drift, image_data_quality
from audit.model import ModelAdapter


@pytest.fixture
def hand_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    test = pd.DataFrame({
        "x": [1.0, 1.0, 1.0, 2.0, 2.001, 5.0],
        "c": ["a", "a", "a", "b", "b", None],
        "k": [7, 7, 7, 7, 7, 7],
        "s": ["m", "m", "m", "m", "f", "f"],
        "y": [0, 0, 1, 1, 1, 0],
    })
    train = pd.DataFrame({  # x as int on purpose: 2 == 2.0 across frames
        "x": [2, 9, 1, 5],
        "c": ["b", "a", "a", None],
        "k": [7, 7, 7, 7],
        "s": ["m", "f", "f", "m"],
        "y": [0, 1, 1, 0],
    })
    return test, train


def test_counts_on_hand_built_frame(hand_frames):
    test, train = hand_frames
    r = data_quality(test, target="y", sensitive=["s"], features=["x", "c", "k"], train_frame=train, min_group_size=3)
    ov = r.overview.loc["data"]
    assert ov["duplicate_rows"] == 1  # row 1 repeats row 0 on features and label
    assert ov["near_duplicate_rows"] == 2  # plus row 4 ~ row 3 (x differs by 0.001)
    assert ov["label_conflict_rows"] == 3  # rows 0-2: same features, labels 0 and 1
    assert ov["max_missing_share"] == pytest.approx(1 / 6)
    assert ov["constant_columns"] == 1  # k
    assert (ov["minority_class_share"], ov["imbalance_ratio"]) == (0.5, 1.0)
    assert r.columns.loc["c", "missing"] == 1 and bool(r.columns.loc["k", "constant"])
    # leakage: rows 0, 1, 2 equal train row 2; row 3 equals train row 0; row 5 (with its missing c) train row 3
    assert r.leakage_rows == 5 and r.leakage_share == pytest.approx(5 / 6)
    assert r.leakage["row"].tolist() == [0, 1, 2, 3, 5]
    assert r.leakage["train_row"].tolist() == [2, 2, 2, 0, 3]
    # groups: m 4/6, f 2/6 (small under min_group_size=3); train has m 2, f 2
    assert r.groups.loc[("s", "f"), "share"] == pytest.approx(2 / 6)
    assert bool(r.groups.loc[("s", "f"), "small"]) and not bool(r.groups.loc[("s", "m"), "small"])
    assert r.groups.loc[("s", "f"), "train_count"] == 2
    assert r.labels.loc["1", "train_count"] == 2
    assert r.overview.loc["train", "duplicate_rows"] == 0


def test_equal_numbers_hash_equal_whatever_their_bits():
    """-0.0 and 0.0 (which the near-duplicate grid produces for values just below the mean) and NaNs with other
    payloads are equal values: rows holding them must count as duplicates with any pandas version (up to 3.0
    pandas hashed the raw bits)."""
    from audit.health._data_quality import hash_rows

    other_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)[0]
    frame = pd.DataFrame({"x": [0.0, -0.0, np.nan, -np.nan, other_nan], "c": ["a"] * 5})
    keys = hash_rows(frame)
    assert keys[0] == keys[1] and keys[2] == keys[3] == keys[4] and keys[0] != keys[2]
    near = data_quality(pd.DataFrame({"x": [1.0, 2.0, 2.001, 3.0], "y": [0, 1, 1, 0]}), target="y", near_tolerance=0.1)
    assert near.overview.loc["data", "near_duplicate_rows"] == 1  # 2.001 ~ 2.0, which lands on -0.0 and 0.0


def test_ks_drift_matches_scipy_and_brute_force():
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"x": rng.normal(0, 1, 300), "z": rng.normal(0, 1, 300)})
    b = pd.DataFrame({"x": rng.normal(0.5, 1, 200), "z": rng.normal(0, 1, 200)})
    r = feature_drift(a, b)
    ref = stats.ks_2samp(a["x"], b["x"])
    assert r.table.loc["x", "p_value"] == pytest.approx(ref.pvalue)
    grid = np.sort(np.concatenate([a["x"], b["x"]]))
    ecdf = lambda s: np.searchsorted(np.sort(s), grid, side="right") / len(s)  # noqa: E731
    assert r.table.loc["x", "effect"] == pytest.approx(np.abs(ecdf(a["x"]) - ecdf(b["x"])).max())
    assert r.drifted == ["x"]
    assert r.table.loc["x", "current_mean"] == pytest.approx(b["x"].mean())


def test_chi_square_drift_and_psi_by_hand():
    a = pd.DataFrame({"c": ["u"] * 50 + ["v"] * 50})
    b = pd.DataFrame({"c": ["u"] * 25 + ["v"] * 75})
    r = feature_drift(a, b)
    obs = np.array([[50, 50], [25, 75]], dtype=float)
    exp = obs.sum(1, keepdims=True) * obs.sum(0, keepdims=True) / obs.sum()
    chi2 = ((obs - exp) ** 2 / exp).sum()
    row = r.table.loc["c"]
    assert row["statistic"] == pytest.approx(chi2)
    assert row["p_value"] == pytest.approx(stats.chi2.sf(chi2, 1))
    assert row["effect"] == pytest.approx(np.sqrt(chi2 / 200))
    assert row["psi"] == pytest.approx((0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5))
    assert bool(row["drifted"])


def test_same_distribution_is_not_drift():
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(list("pqr"), 2000)})
    b = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(list("pqr"), 2000)})
    assert feature_drift(a, b).drifted == []


def test_images_duplicates_overlap_and_drift():
    rng = np.random.default_rng(2)
    x = rng.random((40, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    x[3] = x[0]
    y[3] = y[0]  # exact duplicate
    x[4] = x[0]
    y[4] = 1 - y[0]  # same image, other label
    x[5] = x[1] + 1e-6  # near duplicate of image 1
    y[5] = y[1]
    train = np.concatenate([x[[7, 9]], rng.random((30, 1, 4, 4)).astype(np.float32) + 0.5])
    r = image_data_quality(torch.as_tensor(x), y, train_images=train, train_labels=np.zeros(32, dtype=int))
    ov = r.overview.loc["data"]
    assert ov["duplicate_rows"] == 1 and ov["label_conflict_rows"] == 3  # images 0, 3, 4
    assert ov["near_duplicate_rows"] == 2
    assert np.isnan(ov["constant_columns"])
    assert r.leakage_rows == 2 and r.leakage["row"].tolist() == [7, 9] and r.leakage["train_row"].tolist() == [0, 1]
    assert "mean_intensity" in r.drifted  # train images are 0.5 brighter
    assert r.labels.loc["0", "train_share"] == 1.0


def test_bad_inputs_raise(hand_frames):
    test, train = hand_frames
    with pytest.raises(AuditInputError, match="'nope' not found"):
        data_quality(test, target="y", sensitive=["nope"])
    with pytest.raises(AuditInputError, match="train_frame"):
        data_quality(test, target="y", train_frame=train.drop(columns="c"))
    with pytest.raises(AuditInputError, match="image batch"):
        image_data_quality(np.zeros((3, 4)))


def _frames(seed: int, n: int = 400, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x1": rng.normal(shift, 1, n), "x2": rng.normal(0, 1, n), "cat": rng.choice(["p", "q"], n),
        "g": rng.choice(["a", "b"], n), "y": rng.integers(0, 2, n),
    })


def _ctx(test: pd.DataFrame, train: pd.DataFrame) -> AuditContext:
    feats = [c for c in test.columns if c not in ("y", "g")]
    model = lambda X: np.full(len(X), 0.5)  # noqa: E731 - data quality never looks at predictions
    return AuditContext(
        model=ModelAdapter(model),
        data=load_data(test, target="y", sensitive=["g"], features=feats),
        train=load_data(train, target="y", sensitive=["g"], features=feats),
    )


def test_check_passes_clean_data_and_flags_broken_data(judge):
    clean = DataQualityCheck().run(_ctx(_frames(0), _frames(1)))
    assert judge(DataQualityCheck, clean) == set()
    assert clean.metric("data_quality.leakage_rows").value == 0
    broken_test = _frames(0, shift=1.0)
    broken_test["const"] = 3.0
    broken_test.loc[:9, "g"] = "tiny"
    train = pd.concat([_frames(1), broken_test.iloc[:50].drop(columns="const").assign(x1=lambda d: d.x1)], ignore_index=True)
    train["const"] = 3.0
    s = DataQualityCheck().run(_ctx(broken_test, train))
    assert s.metric("data_quality.leakage_rows").value == 50
    assert judge(DataQualityCheck, s) >= {
        "data_quality.leakage_share", "data_quality.drift.n_drifted", "data_quality.constant_columns",
        "data_quality.g.small_groups",
    }
    assert s.result.drifted == ["x1"]
    assert {f.title for f in s.figures} == {"Label balance", "Feature drift (train vs data)"}
    assert "Rows also in train (first 10)" in s.tables


def test_check_on_images_and_determinism():
    rng = np.random.default_rng(3)
    x = rng.random((60, 1, 4, 4)).astype(np.float32)
    x[30] = x[5]
    y = rng.integers(0, 3, 60)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    ctx = AuditContext(model=ModelAdapter(net), data=load_data((x, y)), train=load_data((x[:20], y[:20])))
    a, b = DataQualityCheck().run(ctx), DataQualityCheck().run(ctx)
    assert [(m.name, m.value) for m in a.metrics] == [(m.name, m.value) for m in b.metrics]
    assert a.metric("data_quality.leakage_rows").value == 21  # rows 0-19, and row 30 (same bytes as 5)
    assert "data_quality.constant_columns" not in {m.name for m in a.metrics}
    pd.testing.assert_frame_equal(a.result.drift, b.result.drift)


def test_check_without_labels_or_train():
    df = _frames(4).drop(columns=["y", "g"])
    df = pd.concat([df, df.iloc[:5]], ignore_index=True)  # 5 exact duplicates
    ctx = AuditContext(model=ModelAdapter(lambda X: np.full(len(X), 0.5)), data=load_data((df, None)))
    s = DataQualityCheck().run(ctx)
    names = {m.name for m in s.metrics}
    assert s.metric("data_quality.duplicate_share").value == pytest.approx(5 / len(df))
    assert "data_quality.minority_class_share" not in names and "data_quality.leakage_share" not in names
    assert "Label balance" not in s.tables
