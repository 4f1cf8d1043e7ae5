"""Input helpers every layer shares: an array from any container, the label of a missing group value, and
the message for arrays of different lengths.

Fairness, health and the data adapter each validated their own inputs with their own copy of these;
one copy keeps the label (``"<missing>"``) and the message the same everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: label given to missing values of a sensitive (group) column, in every table and metric name
MISSING = "<missing>"
#: message for an array whose length differs from the one it must align with (tests assert on it)
LENGTH = "{arg} has {got} rows but {ref} has {expected}; pass arrays aligned row by row"


def to_numpy(v: Any) -> np.ndarray:
    """Series, DataFrame, tensor (on any device, with or without grad) or sequence -> numpy array.

    Examples
    --------
    >>> import torch
    >>> to_numpy(pd.Series([1, 2])), to_numpy(torch.ones(2, requires_grad=True)), to_numpy([0.5])
    (array([1, 2]), array([1., 1.], dtype=float32), array([0.5]))
    """
    if isinstance(v, (pd.Series, pd.DataFrame)):
        return v.to_numpy()
    if hasattr(v, "detach"):  # torch tensor: Tensor.numpy() only works on CPU tensors without grad
        return v.detach().cpu().numpy()
    return np.asarray(v)


def missing_as_label(values: pd.Series) -> pd.Series:
    """``values`` with missing entries (None, NaN, NaT) as the group :data:`MISSING` (object dtype).

    Examples
    --------
    >>> missing_as_label(pd.Series(["a", None, float("nan")])).tolist()
    ['a', '<missing>', '<missing>']
    """
    return values.astype(object).where(values.notna(), MISSING)
