"""Data quality of an image data set: label balance, duplicate images, train/test overlap, intensity drift.

Definitions
-----------
- *duplicate image*: the same bytes (float32 pixels) as an earlier image; found by hashing each
  image (BLAKE2b), so it costs one pass over the data.
- *near-duplicate image*: the same hash after every pixel is standardised with the data set's
  overall mean and standard deviation and rounded to a grid of ``near_tolerance`` standard
  deviations (includes exact duplicates).
- *label conflict*: identical images with different labels.
- *leakage*: an evaluation image whose bytes equal a training image.
- *drift*: the per-feature tests of :func:`audit.health.feature_drift` on two per-image summaries,
  ``mean_intensity`` and ``std_intensity`` (a proxy: it sees brightness and contrast shifts, not
  changes of content).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit._inputs import LENGTH, to_numpy
from audit.health._common import as_sensitive_frame
from audit.health._data_quality import (
    OVERVIEW_COLUMNS,
    DataQualityResult,
    balance,
    duplicated,
    group_notes,
    group_table,
    label_conflicts,
    label_table,
    leakage_table,
)
from audit.health._drift import DRIFT_COLUMNS, feature_drift


def _as_images(x: Any, arg: str) -> np.ndarray:
    a = to_numpy(x)
    if a.ndim < 3 or len(a) == 0:
        raise AuditInputError(f"{arg} must be a non-empty image batch (n, c, h, w) or (n, h, w); got shape {a.shape}")
    return np.ascontiguousarray(a.reshape(len(a), -1), dtype=np.float32)


def _hash_images(flat: np.ndarray) -> np.ndarray:
    out = np.empty(len(flat), dtype=object)
    for i, row in enumerate(flat):
        out[i] = hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest()
    return out


def _near_hash(flat: np.ndarray, tol: float) -> np.ndarray:
    finite = flat[np.isfinite(flat)]
    # accumulated in float64: a float32 sum's rounding depends on numpy's summation order (version, SIMD), and
    # the grid below is cut at these numbers
    mu, sd = (float(finite.mean(dtype=np.float64)), float(finite.std(dtype=np.float64))) if finite.size else (0.0, 0.0)
    sd = sd if sd > 0 else 1.0
    q = np.round((flat - mu) / (sd * tol)) + 0.0  # + 0.0: -0.0 (values just below the mean) hashes like 0.0
    return _hash_images(np.nan_to_num(q, nan=-1e9).astype(np.float32))


def _split(flat: np.ndarray, y: np.ndarray | None, tol: float) -> tuple[dict[str, float], np.ndarray]:
    keys = _hash_images(flat)
    key_y = keys if y is None else np.array([f"{k}|{v}" for k, v in zip(keys, y.tolist())], dtype=object)
    near = _near_hash(flat, tol)
    near_y = near if y is None else np.array([f"{k}|{v}" for k, v in zip(near, y.tolist())], dtype=object)
    dup, near_dup = duplicated(key_y), duplicated(near_y)
    conflict = label_conflicts(keys, y) if y is not None else None
    minority, ratio = balance(y)
    missing = float((~np.isfinite(flat)).any(axis=1).mean())
    return {
        "rows": len(flat),
        "max_missing_share": missing,
        "constant_columns": np.nan,
        "duplicate_rows": int(dup.sum()),
        "duplicate_share": float(dup.mean()),
        "near_duplicate_rows": int(near_dup.sum()),
        "near_duplicate_share": float(near_dup.mean()),
        "label_conflict_rows": int(conflict.sum()) if conflict is not None else np.nan,
        "label_conflict_share": float(conflict.mean()) if conflict is not None else np.nan,
        "minority_class_share": minority,
        "imbalance_ratio": ratio,
    }, keys


def _summaries(flat: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"mean_intensity": np.nanmean(flat, axis=1), "std_intensity": np.nanstd(flat, axis=1)})


def image_data_quality(
    images: Any,
    labels: Any = None,
    *,
    sensitive: Any = None,
    train_images: Any = None,
    train_labels: Any = None,
    train_sensitive: Any = None,
    min_group_size: int = 30,
    near_tolerance: float = 0.1,
    drift_alpha: float = 0.01,
    drift_min_effect: float = 0.1,
) -> DataQualityResult:
    """Label balance, duplicate and near-duplicate images, train/test overlap and intensity drift.

    Parameters
    ----------
    images : array or tensor, shape (n, c, h, w) or (n, h, w)
        The evaluation images.
    labels : array-like, optional
        Their labels.
    sensitive : DataFrame, Series, dict of arrays or array, optional
        Sensitive attributes aligned with ``images``: share of each group.
    train_images, train_labels, train_sensitive : optional
        The training set: the same checks, plus overlap (leakage) and drift against ``images``.
    min_group_size : int
        Groups with fewer images are flagged as too small to judge.
    near_tolerance : float
        Grid step, in standard deviations of the pixel values, for near duplicates.
    drift_alpha, drift_min_effect : float
        See :func:`audit.health.feature_drift`.

    Returns
    -------
    DataQualityResult
        ``columns`` is empty; ``overview.constant_columns`` is NaN (not defined for images).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((4, 1, 2, 2), dtype=np.float32); x[1:, 0, 0, 0] = [1, 2, 2]
    >>> r = image_data_quality(x, np.array([0, 1, 1, 0]), train_images=x[:1])
    >>> int(r.overview.loc["data", "label_conflict_rows"]), r.leakage_rows
    (2, 1)
    """
    if near_tolerance <= 0:
        raise AuditInputError(f"near_tolerance must be positive (standard deviations), got {near_tolerance!r}")
    flat = _as_images(images, "images")
    n = len(flat)
    y = None if labels is None else to_numpy(labels).reshape(-1)
    if y is not None and len(y) != n:
        raise AuditInputError(LENGTH.format(arg="labels", got=len(y), ref="images", expected=n))
    stats, keys = _split(flat, y, near_tolerance)
    overview = {"data": stats}
    notes: list[str] = []
    sens = as_sensitive_frame(sensitive, n)
    leak = pd.DataFrame({"row": np.array([], dtype=int), "train_row": np.array([], dtype=int)})
    leak_rows: int | None = None
    leak_share = float("nan")
    drift = pd.DataFrame(columns=DRIFT_COLUMNS)
    y_train, sens_train = None, None
    if train_images is not None:
        tflat = _as_images(train_images, "train_images")
        if tflat.shape[1] != flat.shape[1]:
            raise AuditInputError(f"train_images have {tflat.shape[1]} values per image but images have {flat.shape[1]}")
        y_train = None if train_labels is None else to_numpy(train_labels).reshape(-1)
        if y_train is not None and len(y_train) != len(tflat):
            raise AuditInputError(LENGTH.format(arg="train_labels", got=len(y_train), ref="train_images", expected=len(tflat)))
        overview["train"], tkeys = _split(tflat, y_train, near_tolerance)
        leak = leakage_table(keys, tkeys)
        leak_rows, leak_share = len(leak), len(leak) / n
        dr = feature_drift(_summaries(tflat), _summaries(flat), alpha=drift_alpha, min_effect=drift_min_effect)
        drift, notes = dr.table, notes + dr.notes
        if train_sensitive is not None:
            sens_train = as_sensitive_frame(train_sensitive, len(tflat), "train_sensitive")
    groups = group_table(sens, sens_train, min_group_size)
    notes += group_notes(groups, min_group_size)
    return DataQualityResult(
        modality="image",
        overview=pd.DataFrame.from_dict(overview, orient="index")[OVERVIEW_COLUMNS],
        columns=pd.DataFrame(),
        labels=label_table(y, y_train),
        groups=groups,
        leakage_rows=leak_rows,
        leakage_share=leak_share,
        leakage=leak,
        drift=drift,
        min_group_size=min_group_size,
        drift_alpha=drift_alpha,
        drift_min_effect=drift_min_effect,
        notes=notes,
    )
