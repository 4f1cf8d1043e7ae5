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
    with pytest.raises(AuditInputError, match="modality must be"):
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
