"""The feature space every explainer and black-box attack works in, built once per audit.

Every explainer here (exact, shap, lime) and the black-box attack see a model as
``f(Z) -> (m, n_outputs)`` on a numeric matrix ``Z`` of model-input features:

- a model with a ``transform`` (an :class:`audit.transforms.TabularEncoder`, a fitted
  ``ColumnTransformer``, any function): ``Z`` is the transform's output (``race=African-American``
  is one feature) and ``groups`` maps each original column to its encoded features. When the
  outputs cannot be traced to columns (a plain function, PCA) ``groups`` is the identity over the
  model inputs and ``in_data_columns`` is False: attributions are labelled as model-input space;
- a torch model fed tensors or numeric frames: ``Z`` is the flattened input;
- any other model fed a DataFrame: ``Z`` holds the numeric columns as they are and the other
  columns as integer codes; ``f`` decodes the codes back into a DataFrame before calling the
  model, so a Pipeline with its own encoders sees the values it expects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit._batching import concat, run_batched
from audit.errors import AuditInputError
from audit.backends import input_dtype
from audit.model import ModelAdapter

log = logging.getLogger(__name__)

#: what a space returns per row: class probabilities or logits (classifiers), or the predicted value (regressors)
OutputSpace = Literal["proba", "logit", "value"]


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _one_missing(s: pd.Series) -> pd.Series:
    """``s`` as objects with every missing value (None, NaN, NA) as ``np.nan``: one level, its own code."""
    o = s.astype(object)
    return o.where(o.notna(), np.nan)


@dataclass
class FrameCodec:
    """Numeric matrix <-> DataFrame: numeric columns as floats, other columns as integer codes.

    A missing value keeps its meaning both ways: NaN in a numeric column stays NaN, and a missing
    category (None, NaN) is one more level with its own code, decoded back to NaN.
    """

    columns: list[str]
    levels: dict[str, np.ndarray]
    dtypes: dict[str, Any]

    @classmethod
    def fit(cls, frames: Sequence[pd.DataFrame], categorical: Sequence[str] | None = None) -> FrameCodec:
        first = frames[0]
        cols = [str(c) for c in first.columns]
        cat = set(categorical) if categorical is not None else {c for c in cols if _is_categorical(first[c])}
        cat |= {c for c in cols if not pd.api.types.is_numeric_dtype(first[c])}
        levels = {}
        for c in cols:
            if c in cat:
                vals = pd.concat([f[c] for f in frames], ignore_index=True)
                levels[c] = np.asarray(pd.unique(_one_missing(vals)), dtype=object)
        return cls(columns=cols, levels=levels, dtypes={c: first[c].dtype for c in cols})

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.columns if c in self.levels]

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(df), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            if c in self.levels:
                codes = pd.Index(self.levels[c]).get_indexer(_one_missing(df[c]))
                if (codes < 0).any():
                    raise AuditInputError(f"column {c!r} has values not seen when the encoder was built")
                out[:, j] = codes
            else:
                out[:, j] = df[c].to_numpy(dtype=np.float64)
        return out

    def decode(self, Z: np.ndarray) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for j, c in enumerate(self.columns):
            if c in self.levels:
                codes = np.clip(np.rint(Z[:, j]).astype(np.int64), 0, len(self.levels[c]) - 1)
                cols[c] = pd.Series(self.levels[c][codes]).astype(self.dtypes[c])
            else:
                v = Z[:, j]
                dt = self.dtypes[c]
                cols[c] = np.rint(v).astype(dt) if pd.api.types.is_integer_dtype(dt) else v.astype(dt, copy=False)
        return pd.DataFrame(cols)


@dataclass
class ModelSpace:
    """A model as a function of a numeric model-input matrix (see the module docstring).

    Attributes
    ----------
    names : list of str
        Model-input feature names (the players of the Shapley game).
    groups : dict of str to list of int
        Original column -> indices into ``names`` (identity when there is no transform).
    kind : {"torch", "frame", "array"}
        "torch": a differentiable forward on tensors; "frame": codes decoded into a DataFrame;
        "array": a numeric model input passed to the model as an array.
    output : {"proba", "logit", "value"}
        "value" for a regressor: one column, its predicted value (:meth:`ModelAdapter.predict_values`) in the
        target's units.
    in_data_columns : bool
        True when ``groups``' keys are columns of the data (False: model inputs a transform made
        that could not be traced back to columns).
    columns : tuple of int, optional
        The model's output columns (classes) this space returns, in this order; default all. A model with
        thousands of classes is explained for a few: every evaluation then holds ``len(columns)`` outputs per row.
    """

    adapter: ModelAdapter
    names: list[str]
    groups: dict[str, list[int]]
    kind: Literal["torch", "frame", "array"]
    output: OutputSpace
    input_shape: tuple[int, ...] = ()
    codec: FrameCodec | None = None
    in_data_columns: bool = True
    batch_size: int = 1 << 16
    columns: tuple[int, ...] | None = None
    n_calls: int = field(default=0, init=False)
    n_rows: int = field(default=0, init=False)

    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def device(self) -> torch.device:
        return self.adapter.device if self.kind == "torch" else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return input_dtype(self.adapter.module) if self.kind == "torch" else torch.float64

    # ------------------------------------------------------------ encoding
    def encode(self, X: Any) -> torch.Tensor:
        """Rows of ``X`` (as the user gives them) -> ``(n, d)`` tensor in model-input space."""
        if self.kind == "frame":
            assert self.codec is not None
            return torch.from_numpy(self.codec.encode(X))
        t = self.adapter.to_tensor(X)
        return t.reshape(t.shape[0], -1).to(self.dtype)

    # ---------------------------------------------------------- evaluation
    def module_fn(self) -> torch.nn.Module:
        """A torch module ``(m, d) -> (m, K)`` giving this space's output (for shap's Deep/Gradient explainers)."""
        return _OutputModule(self.adapter, self.input_shape, self.output, self.columns)

    def __call__(self, Z: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Model output for rows of ``Z``: ``(m, K)`` float64 tensor on CPU (``K = len(columns)`` when set)."""
        self.n_calls += 1
        self.n_rows += int(Z.shape[0])
        if self.kind == "torch":
            z = Z if isinstance(Z, torch.Tensor) else torch.as_tensor(Z)
            z = z.to(self.device, self.dtype)
            fn = _OutputModule(self.adapter, self.input_shape, self.output, self.columns)

            def step(a: int, b: int) -> torch.Tensor:
                with torch.no_grad():
                    return fn(z[a:b]).cpu().double()  # float64 on the CPU: MPS has none

            parts, batch = run_batched(step, z.shape[0], min(self.batch_size, self._rows_per_call()))
            self.batch_size = batch if batch < self.batch_size else self.batch_size
            return concat(parts)
        Zn = Z.detach().cpu().numpy() if isinstance(Z, torch.Tensor) else np.asarray(Z)
        step = self._rows_per_call()
        parts = [self._numpy_call(Zn[a:a + step]) for a in range(0, len(Zn), step)] or [self._numpy_call(Zn)]
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float64))

    def _rows_per_call(self) -> int:
        """Rows per model call: unbounded, except when ``columns`` picks a few of many classes: then the model's
        every-class output of one call stays under 2**22 values (32 MiB), whatever the rows asked for."""
        k = self.adapter.n_classes
        if self.columns is None or not k:
            return 1 << 62
        return max(1, (1 << 22) // k)

    def _numpy_call(self, Zn: np.ndarray) -> np.ndarray:
        if self.output == "value":
            return self._values_call(Zn)
        if self.codec is not None:
            p = self.adapter.predict_proba(self.codec.decode(Zn), what="explanation samples")
        else:  # already model input: the backend, not the transform, takes it
            p = self.adapter.backend.predict_proba(Zn.reshape(Zn.shape[0], *self.input_shape) if self.input_shape else Zn)
            p = self.adapter.checked(p, Zn.shape[0])
        if self.columns is not None:
            p = p[:, list(self.columns)]
        return np.log(np.clip(p, 1e-12, 1.0)) if self.output == "logit" else p

    def _values_call(self, Zn: np.ndarray) -> np.ndarray:
        """A regressor's predicted values for rows of ``Zn``, as one column ``(m, 1)``."""
        if self.codec is not None:
            v = self.adapter.predict_values(self.codec.decode(Zn), what="explanation samples")
        else:  # already model input: the backend, not the transform, takes it
            v = self.adapter.backend.predict_values(Zn.reshape(Zn.shape[0], *self.input_shape) if self.input_shape else Zn)
            v = self.adapter.checked_values(v, Zn.shape[0])
        return v[:, None]

    def numpy_fn(self, Z: np.ndarray) -> np.ndarray:
        """Same as calling the space, numpy in and out (for shap's model-agnostic explainers and lime)."""
        return self(torch.as_tensor(np.asarray(Z, dtype=np.float64))).numpy()


class _OutputModule(torch.nn.Module):
    """``(m, d)`` -> probabilities (``nn.Softmax``, which shap's DeepExplainer knows), logits, or a regressor's
    predicted value as one column."""

    def __init__(self, adapter: ModelAdapter, input_shape: tuple[int, ...], output: OutputSpace,
                 columns: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.net = adapter.module
        self._adapter = adapter
        self._shape = input_shape
        self.softmax = torch.nn.Softmax(dim=1) if output == "proba" else None
        self._value = output == "value"
        self._columns = list(columns) if columns is not None else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.reshape(z.shape[0], *self._shape) if self._shape else z
        if self._value:
            return self._adapter.values(x)[:, None]
        out = self._adapter.logits(x)
        out = self.softmax(out) if self.softmax is not None else out  # over every class, then the explained ones
        return out[:, self._columns] if self._columns is not None else out


def build_space(
    adapter: ModelAdapter,
    X: Any,
    extra: Sequence[Any] = (),
    *,
    output: OutputSpace | None = None,
    categorical: Sequence[str] | None = None,
) -> ModelSpace:
    """The :class:`ModelSpace` for ``adapter`` fed data like ``X`` (``extra``: background data, for category levels).

    ``output`` defaults to ``"proba"`` for a classifier and ``"value"`` (its predicted value) for a regressor.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> space = build_space(ModelAdapter(LinearRegression().fit(X, X @ [1.0, 2.0])), X)
    >>> space.output, space.numpy_fn(X[:2]).round(6).tolist()
    ('value', [[2.0], [8.0]])
    """
    output = check_output(adapter, output)
    transform = adapter.transform
    gradients = adapter.differentiable and float_input(adapter, X)
    kind: Literal["torch", "array"] = "torch" if gradients else "array"
    if isinstance(X, pd.DataFrame) and transform is not None and (gradients or not adapter.differentiable):
        t = adapter.to_tensor(X.iloc[:1])
        shape = tuple(t.shape[1:])
        d = int(np.prod(shape))
        names = [str(n) for n in (getattr(transform, "feature_names_out", None) or [])]
        if len(names) != d or len(set(names)) != d:
            names = [f"x{i}" for i in range(d)]
        groups = getattr(transform, "groups", None)
        mapped = isinstance(groups, dict) and sorted(i for v in groups.values() for i in v) == list(range(d))
        if not mapped:
            groups = {n: [i] for i, n in enumerate(names)}
        return ModelSpace(adapter, names, {str(k): list(v) for k, v in groups.items()}, kind, output, shape,
                          in_data_columns=mapped)
    if gradients:
        t = adapter.to_tensor(X[:1] if not isinstance(X, pd.DataFrame) else X.iloc[:1])
        shape = tuple(t.shape[1:])
        names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else _flat_names(shape)
        return ModelSpace(adapter, names, {n: [i] for i, n in enumerate(names)}, "torch", output, shape,
                          in_data_columns=isinstance(X, pd.DataFrame))
    if isinstance(X, pd.DataFrame):
        frames = [X] + [e for e in extra if isinstance(e, pd.DataFrame)]
        codec = FrameCodec.fit(frames, categorical)
        names = list(codec.columns)
        return ModelSpace(adapter, names, {n: [i] for i, n in enumerate(names)}, "frame", output, codec=codec)
    arr = adapter.to_tensor(X[:1]).numpy()
    shape = tuple(arr.shape[1:])
    names = _flat_names(shape)
    return ModelSpace(adapter, names, {n: [i] for i, n in enumerate(names)}, "array", output, shape,
                      in_data_columns=False)


def float_input(adapter: ModelAdapter, X: Any) -> bool:
    """Whether the model's input for ``X`` is one float tensor, the input gradients and attacks move; a mapping of
    named tensors or integer ids (token ids, category codes for an embedding) is not: such a model is explained and
    attacked through its predictions on frames, as a black box."""
    try:
        t = adapter.to_tensor(X[:1] if not isinstance(X, pd.DataFrame) else X.iloc[:1])
    except Exception:  # noqa: BLE001 - a model input that cannot be built as a tensor is not a float tensor
        return False
    return isinstance(t, torch.Tensor) and torch.is_floating_point(t)


def check_output(adapter: ModelAdapter, output: str | None) -> OutputSpace:
    """The output a space of ``adapter`` explains: ``output``, or the task's default (None: "proba" for a classifier,
    "value" for a regressor); an error when it does not fit the task."""
    regression = adapter.task == "regression"
    if output is None:
        return "value" if regression else "proba"
    if regression and output != "value":
        raise AuditInputError(f"output={output!r} but the model is a regressor: its output is the predicted value "
                              "(output='value', the default for regressors)")
    if not regression and output not in ("proba", "logit"):
        raise AuditInputError(f"output must be 'proba' or 'logit' for a classifier, got {output!r}")
    return output  # type: ignore[return-value]


def _flat_names(shape: tuple[int, ...]) -> list[str]:
    if len(shape) <= 1:
        return [f"x{i}" for i in range(int(np.prod(shape)) if shape else 1)]
    return ["_".join(str(i) for i in idx) for idx in np.ndindex(*shape)]


def pick_background(
    Zsource: torch.Tensor,
    *,
    n: int,
    method: Literal["sample", "kmeans"],
    seed: int,
    numeric: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` background rows of ``Zsource`` and their weights (summing to 1): a seeded sample or a k-means summary."""
    m = Zsource.shape[0]
    if m == 0:
        raise AuditInputError("background is empty; pass at least one background row")
    if method == "sample" or m <= n:
        idx = np.sort(np.random.default_rng(seed).choice(m, size=min(n, m), replace=False))
        bg = Zsource[torch.as_tensor(idx, device=Zsource.device)]
        return bg, torch.full((len(idx),), 1.0 / len(idx), dtype=torch.float64)
    if not numeric:
        raise AuditInputError(
            "background='kmeans' needs numeric model inputs (this model takes categorical columns); "
            "use background='sample' or pass background rows"
        )
    from sklearn.cluster import KMeans

    data = Zsource.detach().cpu().double().numpy()
    km = KMeans(n_clusters=n, random_state=seed, n_init=4).fit(data)
    centers = km.cluster_centers_.copy()
    for j in range(data.shape[1]):  # snap to observed values, as shap.kmeans does: one-hot stays one-hot-ish
        vals = np.unique(data[:, j])
        if len(vals) <= 64:
            centers[:, j] = vals[np.abs(centers[:, j][:, None] - vals[None, :]).argmin(axis=1)]
    counts = np.bincount(km.labels_, minlength=n).astype(np.float64)
    bg = torch.as_tensor(centers, dtype=Zsource.dtype, device=Zsource.device)
    return bg, torch.as_tensor(counts / counts.sum())
