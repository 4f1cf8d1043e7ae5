"""Input validation shared by the fairness functions: labels, sensitive features, weights, scores.

Every public fairness function goes through :func:`prepare`, so a bad argument fails early with a
message that names it and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit._inputs import LENGTH, missing_as_label, to_numpy
from audit.errors import AuditInputError


NOT_BINARY = (
    "{arg} must hold binary labels 0/1 (positive label 1); got values {values}. "
    "Binarise first, e.g. {arg}=(labels == positive_class).astype(int)"
)
BAD_WEIGHTS = "sample_weight must be finite and non-negative with a positive sum"
BAD_SCORES = "y_score must be a 1-D array of finite scores for the positive class (e.g. proba[:, 1])"
NO_SENSITIVE = "sensitive has no columns; pass at least one sensitive feature (Series, array or DataFrame)"


def binary_labels(v: Any, arg: str, n: int | None = None) -> np.ndarray:
    """``v`` as an int8 array of 0/1; raises :class:`AuditInputError` naming ``arg`` otherwise."""
    a = to_numpy(v)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise AuditInputError(f"{arg} must be 1-D, got shape {a.shape}")
    if n is not None and len(a) != n:
        raise AuditInputError(LENGTH.format(arg=arg, got=len(a), ref="y_true", expected=n))
    if a.dtype == bool:
        return a.astype(np.int8)
    try:
        uniq = pd.unique(pd.Series(a))
    except TypeError:  # unhashable
        uniq = np.array([None])
    bad = [u for u in uniq if not (isinstance(u, (int, float, np.integer, np.floating, np.bool_)) and u in (0, 1))]
    if bad:
        shown = sorted(map(str, uniq))[:6]
        raise AuditInputError(NOT_BINARY.format(arg=arg, values=shown))
    return a.astype(np.int8)


def sensitive_frame(sensitive: Any, n: int, ref: str = "y_true") -> pd.DataFrame:
    """Sensitive features as a DataFrame with one column per feature, missing values -> ``"<missing>"``.

    A Series keeps its name (``sensitive_feature_0`` when unnamed, like fairlearn); a 1-D array becomes
    ``sensitive_feature_0``; a 2-D array ``sensitive_feature_<i>``; a dict maps names to arrays.
    """
    if isinstance(sensitive, pd.DataFrame):
        df = sensitive.reset_index(drop=True).copy()
        df.columns = [str(c) for c in df.columns]
    elif isinstance(sensitive, pd.Series):
        name = "sensitive_feature_0" if sensitive.name is None else str(sensitive.name)
        df = pd.DataFrame({name: sensitive.to_numpy()})
    elif isinstance(sensitive, dict):
        df = pd.DataFrame({str(k): to_numpy(v) for k, v in sensitive.items()})
    else:
        a = to_numpy(sensitive)
        if a.ndim == 1:
            df = pd.DataFrame({"sensitive_feature_0": a})
        elif a.ndim == 2:
            df = pd.DataFrame({f"sensitive_feature_{i}": a[:, i] for i in range(a.shape[1])})
        else:
            raise AuditInputError(f"sensitive must be 1-D or 2-D, got shape {a.shape}")
    if df.shape[1] == 0:
        raise AuditInputError(NO_SENSITIVE)
    if len(df) != n:
        raise AuditInputError(LENGTH.format(arg="sensitive", got=len(df), ref=ref, expected=n))
    for c in df.columns:
        if df[c].isna().any():
            df[c] = missing_as_label(df[c])
    return df


def weights(sample_weight: Any, n: int) -> np.ndarray | None:
    """Validated float64 weights or None."""
    if sample_weight is None:
        return None
    w = to_numpy(sample_weight).astype(np.float64).reshape(-1)
    if len(w) != n:
        raise AuditInputError(LENGTH.format(arg="sample_weight", got=len(w), ref="y_true", expected=n))
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise AuditInputError(BAD_WEIGHTS)
    return w


def scores(y_score: Any, n: int) -> np.ndarray | None:
    """Validated float64 positive-class scores or None."""
    if y_score is None:
        return None
    s = to_numpy(y_score)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    if s.ndim != 1:
        raise AuditInputError(BAD_SCORES + f"; got shape {s.shape}")
    if len(s) != n:
        raise AuditInputError(LENGTH.format(arg="y_score", got=len(s), ref="y_true", expected=n))
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        raise AuditInputError(BAD_SCORES)
    return s


@dataclass
class Prepared:
    """Validated, aligned inputs."""

    y_true: np.ndarray
    y_pred: np.ndarray
    sensitive: pd.DataFrame
    y_score: np.ndarray | None
    sample_weight: np.ndarray | None


def prepare(y_true: Any, y_pred: Any, sensitive: Any, y_score: Any = None, sample_weight: Any = None) -> Prepared:
    """Validate every input against ``y_true``'s length; see the module docstring."""
    yt = binary_labels(y_true, "y_true")
    n = len(yt)
    if n == 0:
        raise AuditInputError("y_true is empty (0 rows); pass at least one row")
    yp = binary_labels(y_pred, "y_pred", n)
    return Prepared(yt, yp, sensitive_frame(sensitive, n), scores(y_score, n), weights(sample_weight, n))


def intersection_labels(frame: pd.DataFrame) -> np.ndarray:
    """Each row's intersection label, its columns' values as text joined by ``", "`` (as
    :func:`audit.fairness.group_label` writes a group), built per distinct combination rather than per row: a
    row-wise join of 1,000,000 rows took 80 s, this takes a fraction of one.

    Examples
    --------
    >>> intersection_labels(pd.DataFrame({"a": ["x", "y", "x"], "b": [1, 2, 1]})).tolist()
    ['x, 1', 'y, 2', 'x, 1']
    """
    n = len(frame)
    text = [frame[c].astype(str).to_numpy(dtype=object) for c in frame.columns]
    group = np.zeros(n, dtype=np.int64)
    for values in text:  # re-numbered after each column, so the combined code stays below n * levels
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        group, _ = pd.factorize(group * max(len(uniques), 1) + codes)
    first = np.empty(int(group.max()) + 1 if n else 0, dtype=np.int64)
    first[group[::-1]] = np.arange(n - 1, -1, -1)  # the last write wins: each group's first row
    labels = np.array([", ".join(str(values[i]) for values in text) for i in first], dtype=object)
    return labels[group] if n else np.array([], dtype=object)
