"""Tabular and image constraints: which model inputs may move, their ranges and eps units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.robustness import image_constraints, tabular_constraints
from audit.transforms import TabularEncoder


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({
        "age": rng.uniform(18, 70, n),
        "sex": rng.choice(["F", "M"], n),
        "income": rng.normal(50, 10, n),
        "color": rng.choice(["red", "green", "blue"], n),
        "flag": rng.integers(0, 2, n).astype(float),
    })


def test_encoder_groups_freeze_sensitive_immutable_and_one_hot_blocks(frame):
    enc = TabularEncoder(categorical=["sex", "color"]).fit(frame)
    x = enc(frame)
    c = tabular_constraints(x, columns=list(frame.columns), transform=enc, sensitive=["sex"], immutable=["income"],
                            categorical=["sex", "color"])
    names = enc.feature_names_out
    # by hand from the encoder's output names: only age may move (flag is a 0/1 indicator)
    expected = [1.0 if n == "age" else 0.0 for n in names]
    assert c.mask.tolist() == expected
    assert c.mapping == "encoder"
    arr = enc.encode(frame).astype(np.float64)
    np.testing.assert_allclose(c.bounds[0].numpy(), arr.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(c.bounds[1].numpy(), arr.max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(c.scale.numpy(), arr.std(axis=0), rtol=1e-5)
    assert c.scale[names.index("age")].item() == pytest.approx(1.0, abs=1e-5)  # standardised by the encoder
    frozen = c.frozen_columns
    assert set(frozen) == {"sex", "income", "color", "flag"}
    assert "sensitive" in frozen["sex"] and frozen["income"] == "immutable" and frozen["color"] == "categorical"


def test_raw_numeric_frame_maps_columns_directly(frame):
    num = frame[["age", "income", "flag"]]
    x = torch.tensor(num.to_numpy(np.float32))
    c = tabular_constraints(x, columns=list(num.columns), sensitive=["age"])
    assert c.mapping == "columns"
    assert c.mask.tolist() == [0.0, 1.0, 0.0]  # age sensitive, flag binary
    np.testing.assert_allclose(c.scale.numpy(), num.to_numpy().std(axis=0), rtol=1e-5)
    assert not c.notes or all("two values" in n for n in c.notes)


def test_generic_transform_of_other_width_perturbs_all_and_says_so(frame):
    num = frame[["age", "income"]]
    x = torch.as_tensor(np.column_stack([num.to_numpy(), num.to_numpy() ** 2]).astype(np.float32))
    c = tabular_constraints(x, columns=list(num.columns), transform=lambda df: df, sensitive=["age"])
    assert c.mapping == "none"
    assert c.mask.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert any("every input may be perturbed" in n for n in c.notes)


def test_generic_transform_of_same_width_maps_by_position_with_a_note(frame):
    num = frame[["age", "income"]]
    x = torch.tensor(((num - num.mean()) / num.std()).to_numpy(np.float32))
    c = tabular_constraints(x, columns=list(num.columns), transform=lambda df: df, immutable=["income"])
    assert c.mapping == "positional"
    assert c.mask.tolist() == [1.0, 0.0]
    assert any("by position" in n for n in c.notes)


def test_image_bounds():
    c = image_constraints(torch.rand(3, 1, 4, 4))
    assert (float(c.bounds[0]), float(c.bounds[1])) == (0.0, 1.0) and not c.notes
    c = image_constraints(torch.randn(3, 1, 4, 4))
    assert float(c.bounds[0]) < 0 and c.notes


def test_missing_cells_take_no_part_in_bounds_and_scale():
    """Bounds and the eps unit (std) come from the observed cells: numpy's nanmin / nanmax / nanstd."""
    x = np.array([[1.0, 0.0], [np.nan, 1.0], [4.0, 2.0], [2.0, np.nan]])
    c = tabular_constraints(torch.tensor(x), columns=["a", "b"])
    np.testing.assert_allclose(c.bounds[0].numpy(), np.nanmin(x, axis=0))
    np.testing.assert_allclose(c.bounds[1].numpy(), np.nanmax(x, axis=0))
    np.testing.assert_allclose(c.scale.numpy(), np.nanstd(x, axis=0))
    assert c.mask.tolist() == [1.0, 1.0]  # three observed values each: neither binary nor constant
