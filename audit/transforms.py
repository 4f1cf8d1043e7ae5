"""A DataFrame -> tensor encoder for tabular torch models that remembers which output columns
come from which input column.

Explanations use ``groups`` to sum attributions back to the original columns (``race``, not
``race=Caucasian``); attacks use ``categorical_groups`` to leave one-hot blocks valid and
``groups`` to keep sensitive or immutable columns untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError


class TabularEncoder:
    """Standardise numeric columns and one-hot encode categorical ones.

    Parameters
    ----------
    columns : list of str, optional
        Input columns to use, in order; default: every column seen in ``fit``.
    categorical : list of str, optional
        Columns to one-hot encode; default: non-numeric columns.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"age": [20.0, 40.0], "sex": ["F", "M"]})
    >>> enc = TabularEncoder().fit(df)
    >>> enc.feature_names_out
    ['age', 'sex=F', 'sex=M']
    >>> enc(df).shape
    torch.Size([2, 3])
    """

    def __init__(self, *, columns: Sequence[str] | None = None, categorical: Sequence[str] | None = None) -> None:
        self.columns = list(columns) if columns is not None else None
        self.categorical = list(categorical) if categorical is not None else None

    def fit(self, df: pd.DataFrame) -> TabularEncoder:
        """Learn means, scales and category levels from ``df``."""
        cols = self.columns or [str(c) for c in df.columns]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise AuditInputError(f"TabularEncoder column {missing[0]!r} not found; columns are {list(df.columns)}")
        cat = self.categorical if self.categorical is not None else [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
        self.columns_ = cols
        self.categorical_ = [c for c in cols if c in cat]
        self.levels_ = {c: sorted(df[c].astype(str).unique().tolist()) for c in self.categorical_}
        num = [c for c in cols if c not in self.categorical_]
        values = df[num].to_numpy(dtype=np.float64) if num else np.zeros((len(df), 0))
        self.mean_ = dict(zip(num, values.mean(axis=0)))
        self.scale_ = dict(zip(num, np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)))
        names: list[str] = []
        groups: dict[str, list[int]] = {}
        for c in cols:
            start = len(names)
            if c in self.categorical_:
                names.extend(f"{c}={v}" for v in self.levels_[c])
            else:
                names.append(c)
            groups[c] = list(range(start, len(names)))
        self.feature_names_out = names
        self.groups = groups
        self.categorical_groups = {c: groups[c] for c in self.categorical_}
        return self

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Encoded float32 array ``(n, len(feature_names_out))``; unseen categories encode as all zeros."""
        if not hasattr(self, "columns_"):
            raise AuditInputError("TabularEncoder is not fitted; call .fit(train_frame) first")
        missing = [c for c in self.columns_ if c not in df.columns]
        if missing:
            raise AuditInputError(f"TabularEncoder column {missing[0]!r} not found; columns are {list(df.columns)}")
        out = np.zeros((len(df), len(self.feature_names_out)), dtype=np.float32)
        for c in self.columns_:
            idx = self.groups[c]
            if c in self.categorical_:
                vals = df[c].astype(str).to_numpy()
                for j, level in zip(idx, self.levels_[c]):
                    out[:, j] = vals == level
            else:
                out[:, idx[0]] = (df[c].to_numpy(dtype=np.float64) - self.mean_[c]) / self.scale_[c]
        return out

    def __call__(self, df: pd.DataFrame) -> torch.Tensor:
        return torch.from_numpy(self.encode(df))
