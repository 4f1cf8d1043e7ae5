"""Model and data files outside the config: each backend's formats, the trust rule of
:func:`audit.backends.load_model_file`, and :mod:`audit.data_files`."""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit.backends import (
    BACKENDS,
    ModelFileError,
    SklearnBackend,
    TorchBackend,
    XGBoostBackend,
    load_model_file,
    model_file_format,
    model_suffixes,
)
from audit.data_files import DataFileError, read_frame, regular_path
from audit.errors import AuditInputError


def _fitted() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X


def test_every_suffix_has_one_backend_and_the_code_formats_are_the_reviewed_ones():
    suffixes = [s for b in BACKENDS for fmt in b.file_formats for s in fmt.suffixes]
    assert len(suffixes) == len(set(suffixes))
    # the lists config.py held before the loaders moved to the backends
    assert set(model_suffixes(runs_code=True)) == {".pt", ".pth", ".ts", ".pt2", ".pkl", ".pickle", ".joblib"}
    assert set(model_suffixes(runs_code=False)) == {".onnx", ".ubj", ".json", ".txt", ".cbm", ".skops"}
    assert model_file_format("m.UBJ")[0] is XGBoostBackend  # case-insensitive
    assert model_file_format("m.pt2")[0] is TorchBackend
    assert model_file_format("m.joblib")[0] is SklearnBackend
    assert model_file_format("m.h5") is None


def test_a_pickle_loads_only_when_code_is_trusted(tmp_path):
    model, X = _fitted()
    joblib.dump(model, tmp_path / "m.pkl")
    with pytest.raises(ModelFileError, match=r"^m\.pkl is a pickle, which runs arbitrary code.*trust_code = true"):
        load_model_file(tmp_path / "m.pkl")
    loaded = load_model_file(tmp_path / "m.pkl", trust_code=True)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0, atol=0)


def test_unknown_suffix_and_unreadable_file_are_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError, match=r"^unsupported model file type '\.h5'"):
        load_model_file(tmp_path / "m.h5")
    (tmp_path / "m.ubj").write_bytes(b"not a model")
    with pytest.raises(AuditInputError, match=r"^cannot load m\.ubj: XGBoostError"):
        load_model_file(tmp_path / "m.ubj")


def test_xgboost_file_loads_as_data_with_the_same_predictions(tmp_path):
    xgb = pytest.importorskip("xgboost")
    _, X = _fitted()
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=(X[:, 1] > 0).astype(int)), 3)
    booster.save_model(str(tmp_path / "m.ubj"))
    loaded = load_model_file(tmp_path / "m.ubj")  # no trust needed
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X)), booster.predict(xgb.DMatrix(X)), rtol=0, atol=0)


def test_data_files_refuse_a_fifo_and_read_csv_as_pandas(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataFileError, match=r"is a FIFO \(named pipe\), not a regular file"):
        regular_path(tmp_path, "pipe.csv")
    with pytest.raises(DataFileError, match=r"^file '.*missing\.csv' not found"):
        regular_path(tmp_path, "missing.csv")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    pd.testing.assert_frame_equal(read_frame(regular_path(tmp_path, "d.csv")), pd.read_csv(tmp_path / "d.csv"))
