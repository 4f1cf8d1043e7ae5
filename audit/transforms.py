"""A DataFrame -> tensor encoder for tabular torch models that remembers which output columns
come from which input column.

Explanations use ``groups`` to sum attributions back to the original columns (``race``, not
``race=Caucasian``); attacks use ``categorical_groups`` to leave one-hot blocks valid and
``groups`` to keep sensitive or immutable columns untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


class FittedTransform:
    """A fitted scikit-learn style transformer (``ColumnTransformer``, ``Pipeline``, ``OneHotEncoder``...) as a
    DataFrame -> array transform that knows, where it can, which outputs come from which input column.

    ``groups`` maps each input column to its output positions, read from ``get_feature_names_out()``
    (a ``ColumnTransformer``'s ``name__`` prefixes and each sub-transformer's columns); it is None
    when some output cannot be traced to exactly one input column (PCA, polynomial features), and
    explanations then stay in model-input space, labelled as such.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
    >>> df = pd.DataFrame({"age": [20.0, 40.0, 30.0], "sex": ["F", "M", "F"]})
    >>> ct = ColumnTransformer([("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(), ["sex"])]).fit(df)
    >>> t = FittedTransform(ct)
    >>> t.groups
    {'age': [0], 'sex': [1, 2]}
    >>> t(df).shape
    (3, 3)
    """

    def __init__(self, transformer: Any) -> None:
        self.transformer = transformer
        cols = getattr(transformer, "feature_names_in_", None)
        self.columns_: list[str] | None = [str(c) for c in cols] if cols is not None else None
        self.feature_names_out: list[str] = []
        self.groups: dict[str, list[int]] | None = None
        self.categorical_: list[str] = []
        self.categorical_groups: dict[str, list[int]] = {}
        try:
            self.feature_names_out = [str(n) for n in transformer.get_feature_names_out()]
        except Exception:  # noqa: BLE001 - not every transformer can name its outputs
            return
        self.groups = _trace_outputs(transformer, self.columns_ or [], self.feature_names_out)
        self.categorical_ = _categorical_inputs(transformer)
        if self.groups is not None:  # one-hot blocks stay valid under attack: they are left untouched
            self.categorical_groups = {c: self.groups[c] for c in self.categorical_ if c in self.groups}

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        out = self.transformer.transform(df)
        if hasattr(out, "toarray"):  # a sparse one-hot block
            out = out.toarray()
        return np.asarray(out.to_numpy() if hasattr(out, "to_numpy") else out, dtype=np.float32)


def _sub_transformers(transformer: Any) -> list[tuple[str, Any, list[str]]] | None:
    """``(name, fitted transformer, input columns)`` of a ColumnTransformer, also at the end of a Pipeline."""
    steps = getattr(transformer, "steps", None)
    if steps:  # a Pipeline: only its first step sees the original columns
        if len(steps) == 1:
            return _sub_transformers(steps[0][1])
        return None
    fitted = getattr(transformer, "transformers_", None)
    if fitted is None:
        return None
    out = []
    for name, trans, cols in fitted:
        if trans == "drop":
            continue
        names = getattr(transformer, "feature_names_in_", None)
        if isinstance(cols, slice) or (len(cols) and not isinstance(cols[0], str)):
            cols = [str(names[i]) for i in np.arange(len(names))[cols]] if names is not None else []
        out.append((str(name), trans, [str(c) for c in cols]))
    return out


def _trace_outputs(transformer: Any, columns: list[str], outputs: list[str]) -> dict[str, list[int]] | None:
    """Input column -> output positions, or None when an output depends on several columns or none."""
    subs = _sub_transformers(transformer)
    owner: list[str | None] = []
    for out in outputs:
        cands = columns
        name = out
        if subs is not None and "__" in out:
            prefix, name = out.split("__", 1)
            cands = next((cols for n, _, cols in subs if n == prefix), columns)
        if len(cands) == 1:
            owner.append(cands[0])
            continue
        # an output named after its column (age, sex_F, race=Black): the longest column name it starts with
        hits = [c for c in cands if name == c or name.startswith(c + "_") or name.startswith(c + "=")]
        owner.append(max(hits, key=len) if hits else None)
    if any(o is None for o in owner):
        return None
    groups: dict[str, list[int]] = {}
    for i, o in enumerate(owner):
        groups.setdefault(str(o), []).append(i)
    return groups


def _categorical_inputs(transformer: Any) -> list[str]:
    """Input columns that a one-hot or ordinal encoder encodes (kept as categories by attacks)."""
    subs = _sub_transformers(transformer) or []
    out: list[str] = []
    for _, trans, cols in subs:
        last = trans.steps[-1][1] if hasattr(trans, "steps") else trans
        if type(last).__name__ in ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder"):
            out.extend(cols)
    return out


def resolve_transform(transform: Any) -> Any:
    """``transform=`` as the audit uses it: None, a callable (a :class:`TabularEncoder` included) as it is,
    or a fitted object with ``.transform`` wrapped in :class:`FittedTransform`.

    Examples
    --------
    >>> resolve_transform(None) is None
    True
    >>> resolve_transform(5)
    Traceback (most recent call last):
    ...
    audit.errors.AuditInputError: transform must be a callable DataFrame -> array/tensor, a fitted TabularEncoder, or a fitted object with .transform (ColumnTransformer, Pipeline); got int
    """
    if transform is None or isinstance(transform, (TabularEncoder, FittedTransform)):
        return transform
    if callable(getattr(transform, "transform", None)) and not isinstance(transform, torch.nn.Module):
        try:
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(transform)
        except ImportError:  # pragma: no cover
            pass
        except Exception as exc:  # noqa: BLE001 - NotFittedError and estimators without fit state
            if type(exc).__name__ == "NotFittedError":
                raise AuditInputError(
                    f"transform {type(transform).__name__} is not fitted; fit it on the training frame first"
                ) from None
        return FittedTransform(transform)
    if callable(transform):
        return transform
    raise AuditInputError(
        "transform must be a callable DataFrame -> array/tensor, a fitted TabularEncoder, or a fitted object with "
        f".transform (ColumnTransformer, Pipeline); got {type(transform).__name__}"
    )
