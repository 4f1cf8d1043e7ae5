"""Data adapters: any supported data becomes features, target, sensitive columns and a modality.

All shape and type validation happens here, once, with errors that name the argument and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit._inputs import missing_as_label
from audit.errors import (
    EMPTY_DATA,
    LENGTH_MISMATCH,
    NON_FINITE,
    ONE_CLASS,
    TOO_LARGE,
    UNKNOWN_COLUMN,
    AuditInputError,
)

Modality = Literal["tabular", "image"]
#: the largest feature magnitude an audit accepts: float32's range. Many models and libraries compute in float32
#: (scikit-learn trees, XGBoost, LightGBM, torch), so a larger value is infinite there; fairness's proxy models,
#: LIME's sampling and the attacks' steps broke on such values
MAX_FEATURE_ABS = float(np.finfo(np.float32).max)


@dataclass
class AuditData:
    """Validated data for an audit.

    Attributes
    ----------
    X : DataFrame or Tensor
        Model features: a DataFrame for tabular data, a float tensor ``(n, c, h, w)`` for images.
    y : ndarray or None
        Labels, as given (class values, not indices).
    sensitive : DataFrame
        One column per sensitive attribute, aligned with ``X`` (may have no columns).
    modality : {"tabular", "image"}
    frame : DataFrame or None
        The full tabular frame as given (features plus any other columns), for data-quality checks.
    target : str
        Name of the label column (``"y"`` when labels came as an array).
    column_labels : dict
        The original label of each column whose name was not a string (``pd.DataFrame(X)`` gives integers), keyed
        by the string name the audit uses: the model is handed its frames under the original labels.
    notes : list of str
        What loading changed about the data, said in the report.
    """

    X: Any
    y: np.ndarray | None
    sensitive: pd.DataFrame
    modality: Modality
    frame: pd.DataFrame | None = None
    target: str = "y"
    categorical: list[str] = field(default_factory=list)
    column_labels: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def feature_names(self) -> list[str]:
        if isinstance(self.X, pd.DataFrame):
            return [str(c) for c in self.X.columns]
        return []

    @property
    def sensitive_names(self) -> list[str]:
        return [str(c) for c in self.sensitive.columns]


def _as_tensor_images(X: Any) -> torch.Tensor:
    t = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
    t = t.detach().cpu()
    if not torch.is_floating_point(t):
        t = t.float()
    if t.ndim == 3:
        t = t.unsqueeze(1)
    return t.float()


def _from_torch(data: Any) -> tuple[Any, np.ndarray | None]:
    loader = data
    if isinstance(data, torch.utils.data.Dataset):
        loader = torch.utils.data.DataLoader(data, batch_size=512, shuffle=False)
    xs, ys = [], []
    for batch in loader:
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
        else:
            xs.append(torch.as_tensor(batch[0] if isinstance(batch, (list, tuple)) else batch))
    if not xs:
        raise AuditInputError(EMPTY_DATA.format(arg="data"))
    X = torch.cat(xs)
    y = torch.cat(ys).cpu().numpy() if ys else None
    return X, y


def _check_length(arg: str, got: int, expected: int) -> None:
    if got != expected:
        raise AuditInputError(LENGTH_MISMATCH.format(arg=arg, got=got, expected=expected))


def _check_finite(arg: str, X: pd.DataFrame) -> None:
    num = X.select_dtypes(include=[np.number, "bool"])
    if num.shape[1] == 0:
        return
    arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arr).all(axis=0)
    if bad.any():
        raise AuditInputError(NON_FINITE.format(arg=arg, columns=[str(c) for c in num.columns[bad]]))


def string_columns(frame: pd.DataFrame, arg: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with every column name a string, and the original label of each renamed one.

    Integer and tuple names (``pd.DataFrame(X)`` gives ``0, 1, ...``) would break every check that names a column
    by string (metric names, tables, explanations, attacks), so they become ``str(label)``; the model still gets
    its frames under the original labels (:meth:`audit.model.ModelAdapter.use_column_labels`). Two names that read
    the same as strings (``0`` and ``"0"``) are an error.

    Examples
    --------
    >>> f, labels = string_columns(pd.DataFrame([[1.0, 2.0]]), "data")
    >>> list(f.columns), labels
    (['0', '1'], {'0': 0, '1': 1})
    """
    labels = {str(c): c for c in frame.columns if not isinstance(c, str)}
    if not labels:
        return frame, {}
    names = [str(c) for c in frame.columns]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise AuditInputError(
            f"{arg} has columns whose names read the same as strings ({clash}, e.g. 0 and '0'); give every column a "
            "unique string name, e.g. df.columns = [f'x{i}' for i in range(df.shape[1])]"
        )
    return frame.set_axis(names, axis=1), labels


def _label_note(labels: dict[str, Any], arg: str) -> str:
    shown = ", ".join(f"{v!r} -> {k!r}" for k, v in list(labels.items())[:5])
    more = f" and {len(labels) - 5} more" if len(labels) > 5 else ""
    return (f"{len(labels)} column name(s) of {arg} were not strings ({shown}{more}); the report names them as "
            "strings, and the model is still handed its original column labels. To silence this, set "
            "df.columns = df.columns.astype(str) before fitting and auditing.")


def check_features(X: pd.DataFrame, arg: str = "data") -> None:
    """The rule every path applies to tabular features (in memory in :func:`load_data`, per partition in the Dask
    engine), so a value refused in one is refused in all: an :class:`AuditInputError` naming ``arg`` and the columns.

    Examples
    --------
    >>> check_features(pd.DataFrame({"a": [1.0, float("nan")]}), "partition 3")
    Traceback (most recent call last):
    ...
    audit.errors.AuditInputError: partition 3 has NaN or infinite values in numeric column(s) ['a']; impute or drop them before auditing
    """
    _check_finite(arg, X)
    _check_magnitude(arg, X)


def _check_magnitude(arg: str, X: pd.DataFrame) -> None:
    """Numeric columns within :data:`MAX_FEATURE_ABS` (column by column: no copy of the whole frame)."""
    largest = {}
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) and len(col):
            top = np.fmax.reduce(np.abs(col.to_numpy(dtype=np.float64, na_value=np.nan)))  # NaN ignored
            if top > MAX_FEATURE_ABS:
                largest[str(c)] = float(top)
    if largest:
        raise AuditInputError(TOO_LARGE.format(arg=arg, limit=MAX_FEATURE_ABS, columns=list(largest),
                                               value=max(largest.values())))


def _resolve_sensitive(
    sensitive: Sequence[Any] | Any | None, frame: pd.DataFrame | None, n: int, arg: str
) -> pd.DataFrame:
    if sensitive is None:
        return pd.DataFrame(index=pd.RangeIndex(n))
    if isinstance(sensitive, str) or not isinstance(sensitive, (list, tuple, dict, pd.DataFrame)):
        sensitive = [sensitive]
    if isinstance(sensitive, pd.DataFrame):
        _check_length(f"{arg} (sensitive)", len(sensitive), n)
        return sensitive.reset_index(drop=True).copy()
    items = sensitive.items() if isinstance(sensitive, dict) else enumerate(sensitive)
    cols: dict[str, Any] = {}
    for key, item in items:
        if isinstance(item, str):
            if frame is None or item not in frame.columns:
                columns = [] if frame is None else [str(c) for c in frame.columns]
                raise AuditInputError(UNKNOWN_COLUMN.format(arg="sensitive", name=item, where=arg, columns=columns))
            cols[item] = frame[item].reset_index(drop=True)  # a Series: a categorical keeps its category order
        else:
            values = item.to_numpy() if isinstance(item, pd.Series) else np.asarray(item)
            if values.ndim != 1:
                raise AuditInputError(
                    f"sensitive[{key!r}] must be a column name or an array with one value per row, e.g. "
                    f"sensitive=['race']; got {type(item).__name__} {str(item)[:40]!r}"
                )
            name = str(key) if isinstance(key, str) else (item.name if isinstance(item, pd.Series) and item.name else f"sensitive_{key}")
            _check_length(f"sensitive[{key!r}]", len(values), n)
            cols[str(name)] = item.reset_index(drop=True) if isinstance(item, pd.Series) else values
    out = pd.DataFrame(cols)
    for c in out.columns:
        if out[c].isna().any():
            out[c] = missing_as_label(out[c])
    return out


def load_data(
    data: Any,
    *,
    target: str | None = None,
    sensitive: Sequence[Any] | Any | None = None,
    features: Sequence[str] | None = None,
    modality: Modality | None = None,
    arg: str = "data",
) -> AuditData:
    """Turn a DataFrame, an ``(X, y)`` pair or a torch Dataset/DataLoader into :class:`AuditData`.

    Parameters
    ----------
    data : DataFrame | (X, y) | torch Dataset | torch DataLoader
    target : str, optional
        Label column when ``data`` is a DataFrame.
    sensitive : list of column names or arrays, optional
        Sensitive attributes; names refer to columns of the DataFrame (they need not be features).
    features : list of str, optional
        Columns the model takes. Default: all columns but the target.
    modality : {"tabular", "image"}, optional
        Forced modality; detected from the shape otherwise (arrays of 3 or 4 dims are images).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "g": ["x", "y", "x"], "label": [0, 1, 0]})
    >>> d = load_data(df, target="label", sensitive=["g"])
    >>> d.feature_names, d.sensitive_names, d.modality
    (['a', 'g'], ['g'], 'tabular')
    """
    if modality not in (None, "tabular", "image"):
        raise AuditInputError(f"modality must be 'tabular' or 'image', got {modality!r}")
    frame: pd.DataFrame | None = None
    y: np.ndarray | None
    labels: dict[str, Any] = {}
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True)
        if len(frame) == 0:
            raise AuditInputError(EMPTY_DATA.format(arg=arg))
        if isinstance(frame.columns, pd.MultiIndex):
            raise AuditInputError(
                f"{arg} has MultiIndex columns {list(frame.columns[:3])}...; flatten them first, e.g. "
                "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
            )
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        if dup:
            raise AuditInputError(f"{arg} has duplicate column names {dup}; give every column a unique name")
        frame, labels = string_columns(frame, arg)
        if target is not None and not isinstance(target, str) and str(target) in labels:
            target = str(target)  # named by its original label (target=0)
        if target is not None and target not in frame.columns:
            raise AuditInputError(UNKNOWN_COLUMN.format(arg="target", name=target, where=arg, columns=[str(c) for c in frame.columns]))
        y = frame[target].to_numpy() if target is not None else None
        if features is not None:
            missing = [f for f in features if f not in frame.columns]
            if missing:
                raise AuditInputError(UNKNOWN_COLUMN.format(arg="features", name=missing[0], where=arg, columns=[str(c) for c in frame.columns]))
            X: Any = frame[list(features)]
        else:
            X = frame.drop(columns=[target]) if target is not None else frame
        if target is None:
            raise AuditInputError(f"{arg} is a DataFrame but target= is missing; name the label column, e.g. target='label'")
    elif isinstance(data, (torch.utils.data.Dataset, torch.utils.data.DataLoader)):
        X, y = _from_torch(data)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        if isinstance(y, (pd.Series, pd.DataFrame)):
            y = np.asarray(y).reshape(-1)
        elif isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        elif y is not None:
            y = np.asarray(y)
        if isinstance(X, pd.DataFrame):
            frame, labels = string_columns(X.reset_index(drop=True), f"X in {arg}")
            X = frame
        if y is not None and y.ndim != 1:
            raise AuditInputError(f"y must be one-dimensional labels, got shape {y.shape}")
    else:
        raise AuditInputError(
            f"{arg} of type {type(data).__name__} is not supported; pass a pandas DataFrame with target=, "
            "an (X, y) tuple, or a torch Dataset/DataLoader"
        )

    if not isinstance(X, pd.DataFrame):
        arr = X if isinstance(X, torch.Tensor) else np.asarray(X)
        if arr.ndim == 1:
            raise AuditInputError(f"X in {arg} must be 2-D (rows x features) or an image batch; got shape {tuple(arr.shape)}")
        detected: Modality = "image" if arr.ndim >= 3 else "tabular"
        mod = modality or detected
        if mod == "image":
            X = _as_tensor_images(arr)
        else:
            a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else arr
            X = pd.DataFrame(a.reshape(len(a), -1), columns=[f"x{i}" for i in range(int(np.prod(a.shape[1:])))])
            frame = X
    else:
        mod = modality or "tabular"
        if mod == "image":
            raise AuditInputError("modality='image' needs image arrays (n, c, h, w), not a DataFrame")

    n = len(X)
    if n == 0:
        raise AuditInputError(EMPTY_DATA.format(arg=arg))
    if y is not None:
        _check_length(f"{arg} labels (y)", len(y), n)
        uniq = pd.unique(pd.Series(y).dropna())
        if len(uniq) < 2:
            raise AuditInputError(ONE_CLASS.format(name=target or "y", value=uniq[0] if len(uniq) else None))
        if pd.isna(pd.Series(y)).any():
            raise AuditInputError(f"target {target or 'y'!r} has missing values; drop those rows before auditing")
    if isinstance(X, pd.DataFrame):
        X = X.reset_index(drop=True)
        check_features(X, arg)
    else:
        if not torch.isfinite(X).all():
            raise AuditInputError(f"{arg} images contain NaN or infinite values")
    sens = _resolve_sensitive(sensitive, frame, n, arg)
    categorical = (
        [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])]
        if isinstance(X, pd.DataFrame)
        else []
    )
    return AuditData(X=X, y=y, sensitive=sens, modality=mod, frame=frame, target=target or "y", categorical=categorical,
                     column_labels=labels, notes=[_label_note(labels, arg)] if labels else [])


def take(data: AuditData, idx: np.ndarray) -> AuditData:
    """Rows ``idx`` of ``data`` (positional)."""
    X = data.X.iloc[idx].reset_index(drop=True) if isinstance(data.X, pd.DataFrame) else data.X[torch.as_tensor(idx)]
    return AuditData(
        X=X,
        y=None if data.y is None else data.y[idx],
        sensitive=data.sensitive.iloc[idx].reset_index(drop=True),
        modality=data.modality,
        frame=None if data.frame is None else data.frame.iloc[idx].reset_index(drop=True),
        target=data.target,
        categorical=list(data.categorical),
        column_labels=dict(data.column_labels),
        notes=list(data.notes),
    )
