from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.data import load_data
from audit.errors import AuditInputError


def test_dataframe_target_and_sensitive(tabular_frame):
    d = load_data(tabular_frame, target="y", sensitive=["g"])
    assert d.feature_names == ["x1", "x2", "g"]
    assert d.sensitive_names == ["g"]
    assert d.modality == "tabular"
    np.testing.assert_array_equal(d.y, tabular_frame["y"].to_numpy())
    assert d.categorical == ["g"]


def test_sensitive_as_aligned_array_and_features(tabular_frame):
    race = np.where(np.arange(len(tabular_frame)) % 3 == 0, "r1", "r2")
    d = load_data(tabular_frame, target="y", sensitive={"race": race}, features=["x1", "x2"])
    assert d.feature_names == ["x1", "x2"]
    assert list(d.sensitive["race"][:3]) == ["r1", "r2", "r2"]


def test_xy_arrays_tensors_and_images():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    d = load_data((X, y))
    assert d.feature_names == ["x0", "x1", "x2"] and d.modality == "tabular"
    imgs = torch.rand(20, 1, 8, 8)
    d2 = load_data((imgs, torch.as_tensor(y)))
    assert d2.modality == "image" and tuple(d2.X.shape) == (20, 1, 8, 8)
    d3 = load_data((imgs[:, 0].numpy(), y))  # (n, h, w) gets a channel axis
    assert tuple(d3.X.shape) == (20, 1, 8, 8)
    d4 = load_data((X, y), modality="tabular")
    assert d4.modality == "tabular"


def test_torch_dataset_and_dataloader():
    ds = torch.utils.data.TensorDataset(torch.rand(30, 1, 8, 8), torch.arange(30) % 3)
    for data in (ds, torch.utils.data.DataLoader(ds, batch_size=7)):
        d = load_data(data)
        assert d.modality == "image" and len(d) == 30
        np.testing.assert_array_equal(d.y, np.arange(30) % 3)


def test_unknown_columns_list_existing(tabular_frame):
    with pytest.raises(AuditInputError, match=r"sensitive column 'race' not found in data; columns are \['x1', 'x2', 'g', 'y'\]"):
        load_data(tabular_frame, target="y", sensitive=["race"])
    with pytest.raises(AuditInputError, match=r"target column 'label' not found in data; columns are"):
        load_data(tabular_frame, target="label")


def test_length_mismatch_gives_both_lengths(tabular_frame):
    with pytest.raises(AuditInputError, match=r"sensitive\['race'\] has 3 rows but data has 400"):
        load_data(tabular_frame, target="y", sensitive={"race": ["a", "b", "c"]})
    with pytest.raises(AuditInputError, match=r"data labels \(y\) has 4 rows but data has 5"):
        load_data((np.zeros((5, 2)), np.array([0, 1, 0, 1])))


def test_empty_nan_inf_and_one_class(tabular_frame):
    with pytest.raises(AuditInputError, match=r"data is empty \(0 rows\)"):
        load_data(tabular_frame.iloc[:0], target="y")
    bad = tabular_frame.copy()
    bad.loc[3, "x2"] = np.inf
    bad.loc[5, "x1"] = np.nan
    # an infinite value is never a missing one: refused; NaN is judged against the model (tests/test_missing_values.py)
    with pytest.raises(AuditInputError, match=r"infinite values in numeric column\(s\) \['x2'\]"):
        load_data(bad, target="y")
    one = tabular_frame.assign(y=1)
    with pytest.raises(AuditInputError, match="target 'y' has a single class"):
        load_data(one, target="y")


def test_dataframe_without_target_and_unsupported_type(tabular_frame):
    with pytest.raises(AuditInputError, match="target= is missing"):
        load_data(tabular_frame)
    with pytest.raises(AuditInputError, match="data of type str is not supported"):
        load_data("data.csv")
    with pytest.raises(AuditInputError, match="modality must be 'tabular', 'image' or 'text'"):
        load_data(tabular_frame, target="y", modality="audio")
    with pytest.raises(AuditInputError, match="a text audit reads one text column"):
        load_data(tabular_frame, target="y", modality="text")


def test_a_categorical_sensitive_column_keeps_its_category_order_in_the_group_tables():
    """Age bands read young, middle, old (the categories' order, as pandas.factorize(sort=True) gives for a
    categorical), not alphabetically; the counts are pandas' own."""
    from sklearn.linear_model import LogisticRegression

    from audit import audit

    rng = np.random.default_rng(0)
    n = 600
    bands = pd.Categorical(rng.choice(["young", "middle", "old"], n), categories=["young", "middle", "old"], ordered=True)
    df = pd.DataFrame({"x": rng.normal(size=n), "age": bands})
    df["y"] = (df["x"] + rng.normal(size=n) > 0).astype(int)
    model = LogisticRegression().fit(df[["x"]], df["y"])
    rep = audit(model, df, target="y", sensitive=["age"], features=["x"], checks=["fairness"], progress=False)
    table = rep.sections["fairness"].tables["Groups by age"]
    assert list(table.index) == ["young", "middle", "old"]
    assert table["count"].tolist() == df["age"].value_counts(sort=False).loc[["young", "middle", "old"]].tolist()


# ------------------------------------------------------------- inputs that broke checks (issue item 6)
CHECKS6 = ["performance", "fairness", "explain", "data_quality", "robustness", "calibration"]
SMALL6 = dict(target="label", progress=False, seed=0)


def _xy(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, 3))
    y = (A[:, 0] + 0.5 * A[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return A, y, rng.choice(["u", "v"], n)


def _fast_checks():
    from audit.checks.explain import ExplainCheck
    from audit.checks.robustness import RobustnessCheck

    return ["performance", "fairness", ExplainCheck(n_rows=40, n_background=12, n_lime_rows=2, lime_samples=200),
            "data_quality", RobustnessCheck(max_rows_blackbox=60, queries=20, n_boot=50), "calibration"]


def test_integer_column_names_from_pd_dataframe_audit_like_string_names():
    """``pd.DataFrame(X)`` names columns 0, 1, 2: explain, data quality and robustness raised KeyError: '0'. The
    report now names them '0', '1', '2' (with a note) while the model, fitted on the integer-named frame, is still
    handed integer names (scikit-learn would warn otherwise); every number equals the audit of the same model fitted
    on string names."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from audit import audit

    A, y, g = _xy()
    X = pd.DataFrame(A)
    lr = LogisticRegression().fit(X, y)
    Xs = X.set_axis(["0", "1", "2"], axis=1)
    lr_s = LogisticRegression().fit(Xs, y)
    np.testing.assert_allclose(lr.coef_, lr_s.coef_, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names.*")  # the model must see the names it was fitted on
        got = audit(lr, X.assign(label=y), sensitive={"g": g}, checks=_fast_checks(), **SMALL6)
    ref = audit(lr_s, Xs.assign(label=y), sensitive={"g": g}, checks=_fast_checks(), **SMALL6)
    for name, section in got.sections.items():
        assert section.status == "ok", (name, section.reason)
        a = {m.name: m.value for m in section.metrics}
        b = {m.name: m.value for m in ref.sections[name].metrics}
        assert a.keys() == b.keys(), name
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)
    assert list(got.sections["explain"].tables["Global importance"].index) == \
        list(ref.sections["explain"].tables["Global importance"].index)
    assert any("were not strings (0 -> '0'" in n for n in got.sections["data_quality"].notes)
    assert got.meta["data_notes"] and not ref.meta["data_notes"]


def test_tuple_column_names_and_names_that_clash_as_strings():
    from audit import audit

    A, y, g = _xy()
    cols = pd.Index([("a", 1), ("b", 2), ("c",)], tupleize_cols=False)
    X = pd.DataFrame(A, columns=cols)

    def model(Z):  # a function that reads its columns by their tuple labels
        return 1.0 / (1.0 + np.exp(-(Z[("a", 1)].to_numpy() + 0.5 * Z[("b", 2)].to_numpy())))

    r = audit(model, X.assign(label=y), sensitive={"g": g}, checks=_fast_checks(), **SMALL6)
    assert all(s.status == "ok" for s in r.sections.values()), {k: s.reason for k, s in r.sections.items()}
    assert set(r.sections["explain"].tables["Global importance"].index) == {"('a', 1)", "('b', 2)", "('c',)"}
    p = model(X)
    acc = float(((p > 0.5).astype(int) == y).mean())
    assert r.sections["performance"].metric("performance.accuracy").value == pytest.approx(acc, abs=1e-12)
    d = load_data(X.assign(label=y), target="label")
    assert d.feature_names == ["('a', 1)", "('b', 2)", "('c',)"] and d.column_labels["('a', 1)"] == ("a", 1)
    with pytest.raises(AuditInputError, match=r"columns whose names read the same as strings \(\['0'\].*unique string"):
        load_data(pd.DataFrame({0: [1.0, 2.0], "0": [3.0, 4.0], "label": [0, 1]}), target="label")


def test_features_beyond_float32_range_are_a_named_error_and_values_within_it_audit():
    """Values near 1e308 broke fairness (float32 proxy models), explain (LIME's sampling), data quality and
    robustness with deep tracebacks; float32's range is the limit (3.4e38), and values just within it audit."""
    from audit import audit
    from audit.data import MAX_FEATURE_ABS

    A, y, g = _xy()
    assert MAX_FEATURE_ABS == pytest.approx(3.4028234663852886e38)

    def model(Z):
        z = np.asarray(Z, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z[:, 0] - np.sign(z[:, 2])))

    df = pd.DataFrame(A, columns=["a", "b", "c"]).assign(g=g, label=y)
    huge = df.assign(c=np.where(np.arange(len(df)) % 2, 1e308, -5e307))
    with pytest.raises(AuditInputError, match=r"data has values beyond \+-3\.4e\+38 \(float32's range.*\['c'\] "
                                              r"\(largest magnitude 1e\+308\); rescale"):
        audit(model, huge, sensitive=["g"], features=["a", "b", "c"], checks=_fast_checks(), **SMALL6)
    big = df.assign(c=A[:, 2] * 1e38)  # up to about 3e38: within float32
    r = audit(model, big, sensitive=["g"], features=["a", "b", "c"], checks=_fast_checks(), **SMALL6)
    assert all(s.status == "ok" for s in r.sections.values()), {k: s.reason for k, s in r.sections.items()}
    acc = float(((model(big[["a", "b", "c"]]) > 0.5).astype(int) == y).mean())
    assert r.sections["performance"].metric("performance.accuracy").value == pytest.approx(acc, abs=1e-12)


def test_a_group_value_of_only_a_nul_character_audits():
    """A sensitive group named "\\x00" (the issue reports it broke explain): every check runs and the report
    renders in every format."""
    from audit import audit

    A, y, _ = _xy()
    rng = np.random.default_rng(1)
    df = pd.DataFrame(A, columns=["a", "b", "c"]).assign(g=rng.choice(["\x00", "v"], len(y)), label=y)
    r = audit(lambda Z: 1.0 / (1.0 + np.exp(-Z["a"].to_numpy(dtype=float) - (Z["g"] == "v").to_numpy())), df,
              sensitive=["g"], checks=_fast_checks(), **SMALL6)
    assert all(s.status == "ok" for s in r.sections.values()), {k: s.reason for k, s in r.sections.items()}
    sizes = r.sections["fairness"].tables["Groups by g"]
    assert len(sizes) == 2
    for out in (r.to_html(), r.to_markdown(), r.to_junit(), r.to_json()):
        assert out
