"""Weak slices of a Dask DataFrame read every row and equal the in-memory audit's (issue 28 item 5): per-partition
slice counts of every loss, merged, give the same slices, intervals, p-values and q-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit import audit
from audit.checks import SlicesCheck

dd = pytest.importorskip("dask.dataframe")

NUMBERS = ["n", "mean_in", "in_low", "in_high", "mean_out", "out_low", "out_high", "diff", "low", "high", "p_value",
           "q_value"]


def planted(n: int = 4000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "age": rng.integers(18, 80, n).astype(float),
                          "color": rng.choice(["red", "green", "blue", "gold"], n, p=[0.1, 0.4, 0.3, 0.2]),
                          "g": rng.choice(["a", "b"], n)})
    frame.loc[rng.random(n) < 0.05, "age"] = np.nan
    weak = ((frame.age < 30) & (frame.color == "red")).to_numpy()
    logit = 2 * frame.x.to_numpy()
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-np.where(weak, 0.2 * logit, logit)))).astype(int)
    frame["t"] = 3 * frame.x + rng.normal(size=n) * np.where(weak, 3.0, 1.0) + np.where(frame.g == "b", 0.5, 0.0)
    return frame


def assert_same_slices(memory, dask_report) -> None:
    a, b = memory.sections["slices"], dask_report.sections["slices"]
    assert a.status == b.status == "ok"
    assert set(a.tables) == set(b.tables) and len(a.tables) >= 2
    for title in a.tables:
        ta, tb = a.tables[title], b.tables[title]
        assert ta["description"].tolist() == tb["description"].tolist()
        assert ta["significant"].tolist() == tb["significant"].tolist()
        np.testing.assert_allclose(tb[NUMBERS].to_numpy(float), ta[NUMBERS].to_numpy(float), rtol=1e-9, atol=1e-12)
    for m in a.metrics:
        assert dask_report.metrics[m.name].value == pytest.approx(m.value, rel=1e-9, abs=1e-12), m.name
    assert any("all 4,000 rows of the Dask DataFrame" in note for note in b.notes)


@pytest.mark.parametrize("pairs_in_one_pass", [True, False])
def test_a_dask_classifier_audit_finds_the_in_memory_slices_on_every_row(pairs_in_one_pass, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from audit.engines import _dask_slice_counts

    if not pairs_in_one_pass:  # as with a wide frame: singles first, then a second pass for the chosen pairs
        monkeypatch.setattr(_dask_slice_counts, "MAX_COLUMN_PAIRS", 0)

    frame = planted()
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    kwargs = dict(target="y", sensitive=["g"], features=["x"], checks=["slices"], progress=False)
    memory = audit(model, frame.drop(columns="t"), **kwargs)
    on_dask = audit(model, dd.from_pandas(frame.drop(columns="t"), npartitions=5), **kwargs)
    assert_same_slices(memory, on_dask)
    assert memory.metrics["slices.n_significant"].value >= 1  # the planted slice is there to be found
    assert any("two passes" in note for note in on_dask.sections["slices"].notes) is not pairs_in_one_pass


def test_a_dask_regressor_audit_finds_the_in_memory_slices_on_every_row():
    from sklearn.linear_model import LinearRegression

    frame = planted().drop(columns="y")
    model = LinearRegression().fit(frame[["x"]], frame["t"])
    kwargs = dict(target="t", features=["x"], progress=False, checks=[SlicesCheck(max_candidates=40)])
    memory = audit(model, frame, **kwargs)
    on_dask = audit(model, dd.from_pandas(frame, npartitions=3), **kwargs)
    assert_same_slices(memory, on_dask)
    under = on_dask.sections["slices"].tables["Slices with a higher under-prediction (target minus prediction)"]
    assert under.iloc[0]["description"] == 'g == "b"' and under.iloc[0]["significant"]


def test_slice_columns_cannot_be_aligned_with_a_dask_frame():
    from sklearn.linear_model import LogisticRegression

    from audit.errors import AuditInputError

    frame = planted().drop(columns="t")
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    with pytest.raises(AuditInputError, match="add those columns to the Dask DataFrame"):
        audit(model, dd.from_pandas(frame, npartitions=2), target="y", features=["x"], progress=False,
              checks=[SlicesCheck(slice_columns=frame[["g"]])])
