"""Input validation shared by the health functions: labels, probabilities, sensitive groups
(the helpers every layer shares are in :mod:`audit._inputs`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit._inputs import LENGTH, missing_as_label, to_numpy
from audit.errors import AuditInputError

BAD_PROBA = (
    "{arg} must be an (n, n_classes) array of finite probabilities in [0, 1] (or a 1-D array of positive-class "
    "probabilities); got {what}"
)
BAD_LABELS = "{arg} must hold class indices 0..{k_minus_1} (columns of proba); got values {values}"


def as_proba(proba: Any, arg: str = "proba") -> np.ndarray:
    """Validate probabilities; a 1-D array is taken as the positive-class probability of a binary model."""
    p = np.asarray(to_numpy(proba), dtype=np.float64)  # no copy when already float64
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] == 0:
        raise AuditInputError(BAD_PROBA.format(arg=arg, what=f"shape {p.shape}"))
    lo, hi = float(p.min()), float(p.max())  # NaN propagates into lo/hi
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-9 or hi > 1 + 1e-9:
        raise AuditInputError(BAD_PROBA.format(arg=arg, what="values outside [0, 1] or not finite"))
    return np.clip(p, 0.0, 1.0) if lo < 0 or hi > 1 else p


def as_labels(y: Any, n: int, k: int, arg: str = "y", ref: str = "proba") -> np.ndarray:
    """Validate class indices aligned with ``n`` rows of a ``k``-class probability array."""
    a = to_numpy(y).reshape(-1)
    if len(a) != n:
        raise AuditInputError(LENGTH.format(arg=arg, got=len(a), ref=ref, expected=n))
    try:
        ai = a.astype(np.int64)
        ok = np.array_equal(ai, a) if a.dtype.kind in "fiub" else False
    except (TypeError, ValueError):
        ok = False
    if not ok or (len(ai) and (ai.min() < 0 or ai.max() >= k)):
        values = sorted(map(str, pd.unique(pd.Series(a))))[:6]
        raise AuditInputError(BAD_LABELS.format(arg=arg, k_minus_1=k - 1, values=values))
    return ai


def as_sensitive_frame(sensitive: Any, n: int, arg: str = "sensitive") -> pd.DataFrame:
    """None, a DataFrame, a Series, a dict of arrays or one array -> DataFrame of group labels (as strings)."""
    if sensitive is None:
        return pd.DataFrame(index=pd.RangeIndex(n))
    if isinstance(sensitive, pd.DataFrame):
        df = sensitive.reset_index(drop=True)
    elif isinstance(sensitive, pd.Series):
        df = sensitive.reset_index(drop=True).to_frame(str(sensitive.name) if sensitive.name is not None else "sensitive")
    elif isinstance(sensitive, dict):
        df = pd.DataFrame({str(k): to_numpy(v).reshape(-1) for k, v in sensitive.items()})
    else:
        df = pd.DataFrame({"sensitive": to_numpy(sensitive).reshape(-1)})
    if len(df) != n:
        raise AuditInputError(LENGTH.format(arg=arg, got=len(df), ref="y", expected=n))
    out = pd.DataFrame(index=pd.RangeIndex(n))
    for c in df.columns:
        col = df[c]
        out[str(c)] = missing_as_label(col).astype(str).to_numpy()
    return out
