"""Data adapters: any supported data becomes features, target, sensitive columns and a modality.

All shape and type validation happens here, once, with errors that name the argument and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch

from audit._inputs import missing_as_label
from audit._text_inputs import TEXT_COLUMN, is_text_array
from audit.errors import (EMPTY_DATA, LENGTH_MISMATCH, MISSING_REFUSED, NON_FINITE, NOT_UNICODE, ONE_CLASS, TOO_LARGE,
                          UNKNOWN_COLUMN, AuditInputError)
from audit.text import has_surrogate

if TYPE_CHECKING:
    from audit.model import ModelAdapter

#: rows with missing values the model is tried on when its backend cannot say whether it takes them
MISSING_PROBE_ROWS = 64

Modality = Literal["tabular", "image", "text"]
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
    modality : {"tabular", "image", "text"}
        ``"text"``: ``X`` is a one-column frame of strings (:mod:`audit._text_inputs`).
    frame : DataFrame or None
        The full tabular frame as given (features plus any other columns), for data-quality checks.
    target : str
        Name of the label column (``"y"`` when labels came as an array).
    weight : ndarray or None
        Row weights (``sample_weight=``): finite, non-negative, with a positive sum; None for equal weights.
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
    weight: np.ndarray | None = None
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


def validate_missing(arg: str, X: pd.DataFrame, model: ModelAdapter | None = None) -> pd.Series:
    """The missing-value rule of every tabular audit (in memory and per Dask partition): the count of missing
    values per feature column, after refusing what cannot be audited.

    Infinite values are always refused (they are not missing: no model reads them as such). Missing values
    (NaN, None, NaT) pass through to a model that takes them: ``model.missing_refusal`` says, from the backend
    (a scikit-learn ``allow_nan`` tag, XGBoost, LightGBM) or by predicting a few of the rows with missing values
    and the same rows filled with column medians / most common values. Where the model cannot take them the
    error names the columns, the reason and the fix. Without ``model`` (data loaded on its own) missing values
    are counted, not judged.

    Examples
    --------
    >>> validate_missing("data", pd.DataFrame({"a": [1.0, None], "b": ["x", None]})).to_dict()
    {'a': 1, 'b': 1}
    """
    num = X.select_dtypes(include=[np.number, "bool"])
    if num.shape[1]:
        arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(arr).any(axis=0)
        if inf.any():
            raise AuditInputError(NON_FINITE.format(arg=arg, columns=[str(c) for c in num.columns[inf]]))
    isna = X.isna()
    counts = isna.sum()
    if model is None or not counts.any():
        return counts
    rows = isna.any(axis=1).to_numpy()
    probe = X.loc[rows].head(MISSING_PROBE_ROWS)
    reason = model.missing_refusal(probe, fill_missing(probe, X))
    if reason is None:
        return counts
    columns = [str(c) for c in counts.index[counts.to_numpy() > 0]]
    raise AuditInputError(MISSING_REFUSED.format(arg=arg, columns=columns, rows=int(rows.sum()), n=len(X),
                                                 reason=reason))


def fill_missing(rows: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each missing cell set to its column's median in ``reference`` (numeric) or most common value.

    Examples
    --------
    >>> ref = pd.DataFrame({"a": [1.0, 3.0, None], "b": ["x", "x", None]})
    >>> fill_missing(ref.tail(1), ref).to_dict("list")
    {'a': [2.0], 'b': ['x']}
    """
    out = rows.copy()
    for c in out.columns:
        if not out[c].isna().any():
            continue
        col = reference[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            fill = col.median()
            out[c] = out[c].fillna(0.0 if pd.isna(fill) else fill)
        else:
            mode = col.mode()
            if len(mode):
                out[c] = out[c].fillna(mode.iloc[0])
    return out


def _check_unicode(what: str, values: Any) -> None:
    """Raise :data:`NOT_UNICODE` when a group or class value holds a surrogate: no output can write it (it
    crashed save_html), and replacing it would merge groups that differ only in the lost bytes."""
    if getattr(values, "dtype", None) is not None and values.dtype.kind not in "OUS":
        return  # numbers, categories of numbers, booleans: no text
    for v in pd.unique(np.asarray(values, dtype=object).ravel()):
        if isinstance(v, str) and has_surrogate(v):
            at = next(i for i, ch in enumerate(v) if has_surrogate(ch))
            raise AuditInputError(NOT_UNICODE.format(what=what, value=v[max(0, at - 20): at + 20]))


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


def check_features(X: pd.DataFrame, arg: str = "data", model: ModelAdapter | None = None) -> pd.Series:
    """The rule every path applies to tabular features (in memory in :func:`load_data`, per partition and on the
    sample in the Dask engine), so a value refused in one is refused in all: missing values judged against
    ``model`` (:func:`validate_missing`), no infinite values, magnitudes within float32's range. Returns the
    missing count per column; a refusal is an :class:`AuditInputError` naming ``arg`` and the columns.

    Examples
    --------
    >>> check_features(pd.DataFrame({"a": [1.0, float("inf")]}), "partition 3")
    Traceback (most recent call last):
    ...
    audit.errors.AuditInputError: partition 3 has infinite values in numeric column(s) ['a']; replace them (with NaN where the model takes missing values) or drop those rows
    """
    counts = validate_missing(arg, X, model)
    _check_magnitude(arg, X)
    return counts


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


def _resolve_sensitive(sensitive: Sequence[Any] | Any | None, frame: pd.DataFrame | None, n: int, arg: str) -> pd.DataFrame:
    if sensitive is None:
        return pd.DataFrame(index=pd.RangeIndex(n))
    if isinstance(sensitive, str) or not isinstance(sensitive, (list, tuple, dict, pd.DataFrame)):
        sensitive = [sensitive]
    if isinstance(sensitive, pd.DataFrame):
        _check_length(f"{arg} (sensitive)", len(sensitive), n)
        for c in sensitive.columns:
            _check_unicode(f"sensitive column {str(c)!r}", sensitive[c])
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
    for name, values in cols.items():  # before the frame: pandas' Arrow strings raise on a surrogate
        _check_unicode(f"sensitive column {name!r}", values)
    out = pd.DataFrame(cols)
    for c in out.columns:
        if out[c].isna().any():
            out[c] = missing_as_label(out[c])
    return out


BAD_SAMPLE_WEIGHT = ("sample_weight{where} must be finite, non-negative numbers with a positive sum ({problem}); "
                     "pass one weight per row, e.g. a survey's sampling weights")


def _resolve_weight(sample_weight: Any, frame: pd.DataFrame | None, n: int, arg: str) -> np.ndarray | None:
    """Row weights from a column name of ``frame`` or an array, validated (finite, >= 0, positive sum, length)."""
    if sample_weight is None:
        return None
    where = ""
    if isinstance(sample_weight, str):
        if frame is None or sample_weight not in frame.columns:
            columns = [] if frame is None else [str(c) for c in frame.columns]
            raise AuditInputError(UNKNOWN_COLUMN.format(arg="sample_weight", name=sample_weight, where=arg, columns=columns))
        where = f" column {sample_weight!r}"
        sample_weight = frame[sample_weight]
    values = sample_weight.to_numpy() if isinstance(sample_weight, pd.Series) else np.asarray(sample_weight)
    if values.ndim != 1:
        raise AuditInputError(f"sample_weight must be a column name or one weight per row; got shape {values.shape}")
    _check_length("sample_weight", len(values), n)
    try:
        w = values.astype(np.float64)
    except (TypeError, ValueError):
        raise AuditInputError(BAD_SAMPLE_WEIGHT.format(where=where, problem=f"got {values.dtype} values")) from None
    problem = ("NaN or infinite values" if not np.isfinite(w).all() else "negative values" if (w < 0).any()
               else "all weights are 0" if not w.sum() > 0 else "")
    if problem:
        raise AuditInputError(BAD_SAMPLE_WEIGHT.format(where=where, problem=problem))
    return w


def load_data(
    data: Any,
    *,
    target: str | None = None,
    sensitive: Sequence[Any] | Any | None = None,
    features: Sequence[str] | None = None,
    modality: Modality | None = None,
    arg: str = "data",
    sample_weight: Any = None,
    model: ModelAdapter | None = None,
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
    sample_weight : str or array-like, optional
        Row weights: a column of the DataFrame (not a feature unless ``features`` names it, like the
        target) or one value per row.
    model : ModelAdapter, optional
        The model the data is for: missing feature values are refused when it cannot take them
        (:func:`validate_missing`); infinite values are refused always.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "g": ["x", "y", "x"], "label": [0, 1, 0]})
    >>> d = load_data(df, target="label", sensitive=["g"])
    >>> d.feature_names, d.sensitive_names, d.modality
    (['a', 'g'], ['g'], 'tabular')
    """
    if modality not in (None, "tabular", "image", "text"):
        raise AuditInputError(f"modality must be 'tabular', 'image' or 'text', got {modality!r}")
    frame: pd.DataFrame | None = None
    labels: dict[str, Any] = {}
    if isinstance(data, pd.DataFrame):
        frame, X, y, target, labels = _from_frame(data, target, features, sample_weight, arg)
    elif isinstance(data, (torch.utils.data.Dataset, torch.utils.data.DataLoader)):
        X, y = _from_torch(data)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y, frame, labels = _from_pair(data, arg)
    else:
        raise AuditInputError(
            f"{arg} of type {type(data).__name__} is not supported; pass a pandas DataFrame with target=, "
            "an (X, y) tuple, or a torch Dataset/DataLoader"
        )
    X, frame, mod = _with_modality(X, frame, modality, arg)
    n = len(X)
    if n == 0:
        raise AuditInputError(EMPTY_DATA.format(arg=arg))
    if y is not None:
        _check_labels(y, n, target, arg, regression=getattr(model, "task", None) == "regression")
    if isinstance(X, pd.DataFrame):
        X = X.reset_index(drop=True)
        check_features(X, arg, model)
    elif not torch.isfinite(X).all():
        raise AuditInputError(f"{arg} images contain NaN or infinite values")
    sens = _resolve_sensitive(sensitive, frame, n, arg)
    categorical = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])
                   or pd.api.types.is_bool_dtype(X[c])] if isinstance(X, pd.DataFrame) else []
    weight = _resolve_weight(sample_weight, frame, n, arg)
    return AuditData(X=X, y=y, sensitive=sens, modality=mod, frame=frame, target=target or "y", categorical=categorical,
                     weight=weight, column_labels=labels, notes=[_label_note(labels, arg)] if labels else [])


def _from_frame(data: pd.DataFrame, target: Any, features: Sequence[str] | None, sample_weight: Any,
                arg: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, str, dict[str, Any]]:
    """A DataFrame's frame (string column names), features, labels, target name and renamed columns' labels."""
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
        X = frame[list(features)]
    else:
        weight_col = [sample_weight] if isinstance(sample_weight, str) and sample_weight in frame.columns else []
        X = frame.drop(columns=[c for c in [target, *weight_col] if c is not None])
    if target is None:
        raise AuditInputError(f"{arg} is a DataFrame but target= is missing; name the label column, e.g. target='label'")
    return frame, X, y, target, labels


def _from_pair(data: tuple | list, arg: str) -> tuple[Any, np.ndarray | None, pd.DataFrame | None, dict[str, Any]]:
    """An ``(X, y)`` pair's features, labels as a 1-D array, frame (when X is a DataFrame) and renamed columns' labels."""
    X, y = data
    if isinstance(y, (pd.Series, pd.DataFrame)):
        y = np.asarray(y).reshape(-1)
    elif isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    elif y is not None:
        y = np.asarray(y)
    X, labels = string_columns(X.reset_index(drop=True), f"X in {arg}") if isinstance(X, pd.DataFrame) else (X, {})
    if y is not None and y.ndim != 1:
        raise AuditInputError(f"y must be one-dimensional labels, got shape {y.shape}")
    return X, y, (X if isinstance(X, pd.DataFrame) else None), labels


def _with_modality(X: Any, frame: pd.DataFrame | None, modality: Modality | None,
                   arg: str) -> tuple[Any, pd.DataFrame | None, Modality]:
    """Features as a DataFrame (tabular; arrays get columns x0, x1, ... and become the frame) or an image tensor,
    the frame, and the modality: forced, else detected from the shape (3 or 4 dimensions are images)."""
    if isinstance(X, pd.DataFrame):
        mod = modality or "tabular"
        if mod == "image":
            raise AuditInputError("modality='image' needs image arrays (n, c, h, w), not a DataFrame")
        if mod == "text" and X.shape[1] != 1:
            raise AuditInputError(f"a text audit reads one text column; {arg} has {X.shape[1]}: pass features=[...]")
        return X, frame, mod
    if is_text_array(X):
        X = pd.DataFrame({TEXT_COLUMN: list(X)})
        return X, X, "text"
    arr = X if isinstance(X, torch.Tensor) else np.asarray(X)
    if arr.ndim == 1:
        raise AuditInputError(f"X in {arg} must be 2-D (rows x features) or an image batch; got shape {tuple(arr.shape)}")
    detected: Modality = "image" if arr.ndim >= 3 else "tabular"
    mod = modality or detected
    if mod == "image":
        return _as_tensor_images(arr), frame, mod
    a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else arr
    X = pd.DataFrame(a.reshape(len(a), -1), columns=[f"x{i}" for i in range(int(np.prod(a.shape[1:])))])
    return X, X, mod


def _check_labels(y: np.ndarray, n: int, target: str | None, arg: str, regression: bool = False) -> None:
    """Labels: one per row; class labels are valid text, two classes or more, none missing."""
    _check_length(f"{arg} labels (y)", len(y), n)
    if regression:
        return
    _check_unicode(f"target {target or 'y'!r}", y)
    uniq = pd.unique(pd.Series(y).dropna())
    if len(uniq) < 2:
        raise AuditInputError(ONE_CLASS.format(name=target or "y", value=uniq[0] if len(uniq) else None))
    if pd.isna(pd.Series(y)).any():
        raise AuditInputError(f"target {target or 'y'!r} has missing values; drop those rows before auditing")


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
        weight=None if data.weight is None else data.weight[idx],
        column_labels=dict(data.column_labels),
        notes=list(data.notes),
    )
