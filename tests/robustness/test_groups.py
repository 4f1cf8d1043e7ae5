"""Per-group robust accuracy and the gap between groups, against pandas groupby."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.robustness import group_robustness, pgd


def test_group_table_and_gap_match_pandas(mlp, blobs):
    x, y = blobs
    rng = np.random.default_rng(1)
    sens = pd.DataFrame({"g": rng.choice(["a", "b", "c"], len(y), p=[0.45, 0.45, 0.1]),
                         "h": rng.choice(["u", "v"], len(y))})
    r1 = pgd(mlp, x, y, 0.08, steps=5, device="cpu")
    r2 = pgd(mlp, x, y, 0.2, steps=5, device="cpu")
    out = group_robustness([r1, r2], sens, min_group_size=20, n_boot=200, seed=0)
    for r in (r1, r2):
        key = f"pgd.linf@{r.eps:g}"
        for col in sens.columns:
            ref = pd.Series(~r.success).groupby(sens[col]).mean()
            got = out.table[out.table["column"] == col].set_index("group")[key]
            pd.testing.assert_series_equal(got.sort_index(), ref.sort_index(), check_names=False)
            sizes = sens[col].value_counts()
            big = ref[sizes[ref.index] >= 20]
            row = out.gaps[(out.gaps["column"] == col) & (out.gaps["key"] == key)].iloc[0]
            assert row["plug_in"] == pytest.approx(big.max() - big.min())
            assert row["n_groups"] == len(big)
            # the gated gap is the bias-corrected one, inside its own interval
            assert row["low"] <= row["gap"] <= row["high"]
            assert 0 < row["p_value"] <= 1
        worst = out.gaps[out.gaps["key"] == key].sort_values("plug_in").iloc[-1]
        gap, lo, hi = out.max_gap(key)
        assert out.overall.loc[key, "column"] == worst["column"]
        assert out.overall.loc[key, "plug_in"] == pytest.approx(worst["plug_in"])
        assert lo <= gap <= hi
    assert any("fewer than 20 rows" in n for n in out.notes)  # group c is small
    clean = pd.Series(r1.clean_correct).groupby(sens["g"]).mean()
    np.testing.assert_allclose(out.table[out.table["column"] == "g"]["clean_accuracy"].to_numpy(), clean.to_numpy())


def test_gap_is_nan_with_a_note_when_fewer_than_two_groups_are_large(mlp, blobs):
    x, y = blobs
    sens = pd.DataFrame({"g": ["a"] * (len(y) - 5) + ["b"] * 5})
    r = pgd(mlp, x, y, 0.1, steps=3, device="cpu")
    out = group_robustness([r], sens, min_group_size=10)
    assert math.isnan(out.gaps["gap"].iloc[0])
    assert math.isnan(out.max_gap("pgd.linf@0.1")[0])
    assert any("undefined" in n for n in out.notes)
