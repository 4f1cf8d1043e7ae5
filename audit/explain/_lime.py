"""``lime_explanations``: LIME local surrogates for tabular rows (categorical-aware) and images (segments).

LIME: Ribeiro, Singh & Guestrin 2016, "Why Should I Trust You?", https://arxiv.org/abs/1602.04938.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError
from audit.model import as_adapter
from audit.space import FrameCodec
from audit.model import ModelAdapter

log = logging.getLogger(__name__)


@dataclass
class LimeResult:
    """LIME explanations of some rows, one explained class per row.

    Attributes
    ----------
    weights : DataFrame
        ``rows x features`` (tabular: original columns; images: segments ``s0, s1, ...``): the local
        linear model's coefficient for each feature, 0 where LIME did not select the feature.
    descriptions : DataFrame
        ``rows x features``: LIME's readable condition for each feature (``priors_count > 4.00``,
        ``sex=Male``); empty for images.
    explained_class : Series
        Class (output column) explained for each row (0 for a regressor: its one output).
    model_prediction : Series
        The model's probability of the explained class on the row (a regressor: its predicted value).
    local_prediction : Series
        The surrogate's prediction on the row.
    intercept : Series
    score : Series
        R^2 of the weighted local linear fit (low: the surrogate explains the model poorly there).
    mode : {"tabular", "image"}
    segments : dict of row label to ndarray
        Image segmentation per row (images only).
    num_samples : int
    seconds : float
    """

    weights: pd.DataFrame
    descriptions: pd.DataFrame
    explained_class: pd.Series
    model_prediction: pd.Series
    local_prediction: pd.Series
    intercept: pd.Series
    score: pd.Series
    mode: Literal["tabular", "image"]
    segments: dict[Any, np.ndarray] = field(default_factory=dict)
    num_samples: int = 0
    seconds: float = 0.0

    def top_features(self, row: Any, k: int = 5) -> pd.Series:
        """The ``k`` largest-magnitude weights of ``row``."""
        w = self.weights.loc[row]
        return w.reindex(w.abs().sort_values(ascending=False).index[:k])


def _row_seed(seed: int, row: Any) -> int:
    return int(zlib.crc32(f"{seed}:{row}".encode()))


def grid_segmentation(cell: int) -> Callable[[np.ndarray], np.ndarray]:
    """A segmentation function cutting an image into ``cell x cell`` squares (for tiny images such as 8x8 digits)."""

    def seg(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        rows = np.arange(h) // cell
        cols = np.arange(w) // cell
        n_cols = int(cols.max()) + 1
        return rows[:, None] * n_cols + cols[None, :]

    return seg


def lime_explanations(
    model: Any,
    X: Any,
    rows: Sequence[int],
    *,
    categorical: Sequence[str] | None = None,
    num_features: int | None = None,
    num_samples: int = 1000,
    training_data: Any = None,
    labels: Sequence[int] | int | None = None,
    segmentation: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> LimeResult:
    """LIME explanations for the rows at positions ``rows`` of ``X``.

    Tabular data uses lime's ``LimeTabularExplainer``: categorical columns are label-encoded for
    lime, treated as categorical (sampled from their training frequencies), and decoded back to
    their values before each model call, so a Pipeline or a ``transform`` sees real categories.
    Images use ``LimeImageExplainer`` over segments (a grid of squares by default; pass
    ``segmentation`` for another). Each row's samples go to the model in one batched call, and each
    row is seeded from ``seed`` and its position (lime's ``random_state`` for the row at position ``r`` is
    ``zlib.crc32(f"{seed}:{r}".encode())``), so a row's explanation does not depend on which other rows are
    explained.

    A regressor (``ModelAdapter.task == "regression"``) is explained in lime's regression mode: the surrogate
    fits the predicted value (:meth:`ModelAdapter.predict_values`), so weights are in the target's units.

    A missing value (NaN in a numeric column, for a model that takes missing values) is a value of
    its own. lime's statistics (quartiles, frequencies) come from the training data with missing
    cells set to the column median; in a row with a missing cell, LIME's "same as the row" for that
    column means missing: every sample that LIME draws in the row's quartile of that column (the
    row itself among them) reaches the model with the cell missing, other samples with an observed
    value, and the condition reads ``<column> is missing``. A missing category is one more category.

    Parameters
    ----------
    model : ModelAdapter | torch.nn.Module | scikit-learn estimator | callable
    X : DataFrame | ndarray | Tensor
        Tabular rows, or images ``(n, c, h, w)`` / ``(n, h, w)``.
    rows : sequence of int
        Positions in ``X`` to explain.
    categorical : list of str, optional
        Categorical columns (default: non-numeric columns and the transform's categorical columns).
    num_features : int, optional
        Features (segments) in each explanation; default all.
    num_samples : int
        Perturbed samples per row.
    training_data : same kind as ``X``, optional
        Data lime takes feature statistics from (default ``X``); up to 2,000 rows are sampled.
    labels : int or sequence of int, optional
        Class to explain per row (one for all rows or one per row). Default: the positive class
        (column 1) for binary models, else the predicted class. A regressor has one output (0).
    segmentation : callable, optional
        Image -> integer segment map, for images.
    seed : int
    device : str or torch.device, optional
        Device for a raw torch model.

    Returns
    -------
    LimeResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"a": np.arange(40.0) % 7, "b": np.arange(40.0) % 3})
    >>> clf = LogisticRegression().fit(X, X["a"] > 3)
    >>> res = lime_explanations(clf, X, [0, 5], num_samples=200)
    >>> res.top_features(5, k=1).index[0]
    'a'
    """
    t0 = time.perf_counter()
    adapter = as_adapter(model, device)
    if num_samples < 10:
        raise AuditInputError(f"num_samples must be at least 10, got {num_samples}")
    n = len(X)
    rows = [int(r) for r in rows]
    bad = [r for r in rows if not 0 <= r < n]
    if bad:
        raise AuditInputError(f"rows must be positions 0..{n - 1} in X; got {bad[:3]}")
    image = isinstance(X, (torch.Tensor, np.ndarray)) and X.ndim >= 3
    if image:
        out = _images(adapter, X, rows, num_features, num_samples, labels, segmentation, seed)
    else:
        out = _tabular(adapter, X, rows, categorical, num_features, num_samples, training_data, labels, seed)
    out.seconds = time.perf_counter() - t0
    return out


def _outputs(adapter: ModelAdapter, X: Any, what: str) -> np.ndarray:
    """``(m, K)`` outputs LIME explains: class probabilities, or a regressor's predicted value as one column."""
    if adapter.task == "regression":
        return adapter.predict_values(X, what=what)[:, None]
    return adapter.predict_proba(X, what=what)


def _labels_for(adapter: ModelAdapter, proba: np.ndarray, labels: Sequence[int] | int | None, n: int) -> list[int]:
    if labels is None and proba.shape[1] == 1:  # a regressor's one output
        return [0] * n
    if labels is None:
        return [1] * n if proba.shape[1] == 2 else proba.argmax(axis=1).tolist()
    lab = [int(labels)] * n if np.isscalar(labels) else [int(v) for v in labels]  # type: ignore[arg-type]
    if len(lab) != n:
        raise AuditInputError(f"labels has {len(lab)} entries for {n} rows; pass one label or one per row")
    if any(not 0 <= v < proba.shape[1] for v in lab):
        raise AuditInputError(f"labels must be class positions 0..{proba.shape[1] - 1}, got {lab}")
    return lab


def _tabular(adapter: ModelAdapter, X: Any, rows: list[int], categorical: Sequence[str] | None,
             num_features: int | None, num_samples: int, training_data: Any, labels: Any, seed: int) -> LimeResult:
    from lime.lime_tabular import LimeTabularExplainer
    from sklearn.utils import check_random_state

    frame = isinstance(X, pd.DataFrame)
    train = X if training_data is None else training_data
    if frame != isinstance(train, pd.DataFrame):
        raise AuditInputError("training_data must be the same kind as X (both DataFrames or both arrays)")
    if frame:
        cat = list(categorical) if categorical is not None else None
        if cat is None:
            enc_cat = getattr(adapter.transform, "categorical_", None)
            cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or c in (enc_cat or [])]
        unknown = [c for c in cat if c not in X.columns]
        if unknown:
            raise AuditInputError(f"categorical column {unknown[0]!r} not in X; columns are {list(X.columns)}")
        codec = FrameCodec.fit([X, train], cat)
        names = codec.columns
        Xe, Te = codec.encode(X.iloc[rows]), codec.encode(train)
        index = X.index[rows]

        def predict(Z: np.ndarray) -> np.ndarray:
            return _outputs(adapter, codec.decode(Z), "LIME samples")

        cat_idx = [names.index(c) for c in codec.categorical]
        cat_names = {names.index(c): [str(v) for v in codec.levels[c]] for c in codec.categorical}
    else:
        arr = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float64)
        tr = np.asarray(train.detach().cpu() if isinstance(train, torch.Tensor) else train, dtype=np.float64)
        names = [f"x{i}" for i in range(arr.shape[1])]
        Xe, Te, index = arr[rows], tr, pd.Index(rows)
        cat_idx, cat_names = [], {}

        def predict(Z: np.ndarray) -> np.ndarray:
            return _outputs(adapter, Z, "LIME samples")

    if len(Te) > 2000:
        Te = Te[np.sort(np.random.default_rng(seed).choice(len(Te), 2000, replace=False))]
    numeric = np.array([j not in set(cat_idx) for j in range(len(names))])
    Te, fills = _median_filled(Te, numeric)  # lime's quartiles and scaler cannot take NaN
    d = len(names)
    k = d if num_features is None else max(1, min(int(num_features), d))
    proba = predict(Xe)
    lab = _labels_for(adapter, proba, labels, len(rows))
    regression = adapter.task == "regression"
    # lime's regression mode takes one prediction per row, and files the weights of the value under key 1
    fn, key = ((lambda Z: predict(Z)[:, 0]), 1) if regression else (predict, None)
    explainer = LimeTabularExplainer(
        Te, mode="regression" if regression else "classification", feature_names=names,
        categorical_features=cat_idx, categorical_names=cat_names, discretize_continuous=True, random_state=seed, feature_selection="none" if k >= d else "auto",
    )
    W = np.zeros((len(rows), d))
    desc = np.empty((len(rows), d), dtype=object)
    inter, score, local = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
    for i, (r, label) in enumerate(zip(rows, lab)):
        rs = check_random_state(_row_seed(seed, r))
        explainer.random_state = explainer.base.random_state = rs
        if explainer.discretizer is not None:
            explainer.discretizer.random_state = rs
        missing = np.flatnonzero(numeric & np.isnan(Xe[i]))
        row = np.where(np.isnan(Xe[i]) & numeric, fills, Xe[i])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = explainer.explain_instance(row, _missing_kept(fn, explainer.discretizer, row, missing),
                                             labels=(label,), num_features=k, num_samples=num_samples)
        got = label if key is None else key
        for j, wt in exp.local_exp[got]:
            W[i, j] = wt
        mapper = exp.domain_mapper
        desc[i] = mapper.discretized_feature_names or mapper.feature_names
        for j in missing:
            desc[i, j] = f"{names[j]} is missing"
        inter[i], score[i], local[i] = exp.intercept[got], exp.score, float(np.ravel(exp.local_pred)[0])
    return LimeResult(
        weights=pd.DataFrame(W, index=index, columns=names),
        descriptions=pd.DataFrame(desc, index=index, columns=names),
        explained_class=pd.Series(lab, index=index, name="class"),
        model_prediction=pd.Series(proba[np.arange(len(rows)), lab], index=index, name="model"),
        local_prediction=pd.Series(local, index=index, name="local"),
        intercept=pd.Series(inter, index=index, name="intercept"),
        score=pd.Series(score, index=index, name="score"),
        mode="tabular",
        num_samples=num_samples,
    )


def _median_filled(T: np.ndarray, numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``T`` with NaN cells of numeric columns set to the column median (0 for a column with none observed),
    and those medians."""
    T = np.array(T, dtype=np.float64)
    nan = np.isnan(T) & numeric[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an all-NaN column: its median is NaN, replaced below
        med = np.nanmedian(np.where(numeric[None, :], T, 0.0), axis=0) if len(T) else np.zeros(T.shape[1])
    fills = np.where(np.isfinite(med), med, 0.0)
    T[nan] = np.broadcast_to(fills, T.shape)[nan]
    return T, fills


def _missing_kept(predict: Callable[[np.ndarray], np.ndarray], discretizer: Any, row: np.ndarray,
                  missing: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``predict`` for LIME's samples around ``row`` whose cells ``missing`` were NaN: a sample in the row's
    quartile of such a column (what LIME counts as "same as the row") gets the cell back as NaN."""
    if not len(missing) or discretizer is None:
        return predict
    own = discretizer.discretize(row[None, :])[0, missing]

    def fn(Z: np.ndarray) -> np.ndarray:
        Z = np.array(Z, dtype=np.float64)
        same = discretizer.discretize(Z)[:, missing] == own[None, :]
        Z[:, missing] = np.where(same, np.nan, Z[:, missing])
        return predict(Z)

    return fn


@contextlib.contextmanager
def _quiet_lime_image() -> Iterator[None]:
    """lime's image explainer draws a tqdm bar per row; silence it for the call."""
    import lime.lime_image as li

    orig = li.tqdm
    li.tqdm = lambda it, *a, **k: it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        li.tqdm = orig


def _images(adapter: ModelAdapter, X: Any, rows: list[int], num_features: int | None, num_samples: int,
            labels: Any, segmentation: Callable[[np.ndarray], np.ndarray] | None, seed: int) -> LimeResult:
    from lime.lime_image import LimeImageExplainer

    imgs = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).detach().cpu().float()
    if imgs.ndim == 3:
        imgs = imgs[:, None]
    c, h, w = imgs.shape[1:]
    if c not in (1, 3):
        raise AuditInputError(f"LIME images need 1 or 3 channels, got {c}; pass (n, 1|3, h, w) images")
    seg = segmentation or grid_segmentation(max(1, min(h, w) // 4))
    sel = imgs[rows]

    def predict(batch: np.ndarray) -> np.ndarray:  # (m, h, w, 3) -> (m, K)
        t = torch.as_tensor(batch, dtype=torch.float32).permute(0, 3, 1, 2)
        return _outputs(adapter, t[:, :1] if c == 1 else t, "LIME samples")

    proba = _outputs(adapter, sel, "LIME rows")
    lab = _labels_for(adapter, proba, labels, len(rows))
    weights: list[dict[int, float]] = []
    segments: dict[Any, np.ndarray] = {}
    inter, score, local = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
    for i, (r, label) in enumerate(zip(rows, lab)):
        img = sel[i].permute(1, 2, 0).double().numpy()
        img = np.repeat(img, 3, axis=2) if c == 1 else img
        s = int(_row_seed(seed, r))
        ex = LimeImageExplainer(random_state=s)
        with _quiet_lime_image():
            exp = ex.explain_instance(
                img, predict, labels=(label,), top_labels=None, hide_color=0.0, num_features=num_features or 10**6,
                num_samples=num_samples, batch_size=num_samples, segmentation_fn=seg, random_seed=s,
            )
        weights.append(dict(exp.local_exp[label]))
        segments[r] = np.asarray(exp.segments)
        inter[i], score[i], local[i] = exp.intercept[label], exp.score, float(np.ravel(exp.local_pred)[0])
    n_seg = max(int(s.max()) + 1 for s in segments.values())
    W = np.zeros((len(rows), n_seg))
    for i, wd in enumerate(weights):
        for j, v in wd.items():
            W[i, j] = v
    index = pd.Index(rows)
    return LimeResult(
        weights=pd.DataFrame(W, index=index, columns=[f"s{j}" for j in range(n_seg)]),
        descriptions=pd.DataFrame(index=index),
        explained_class=pd.Series(lab, index=index, name="class"),
        model_prediction=pd.Series(proba[np.arange(len(rows)), lab], index=index, name="model"),
        local_prediction=pd.Series(local, index=index, name="local"),
        intercept=pd.Series(inter, index=index, name="intercept"),
        score=pd.Series(score, index=index, name="score"),
        mode="image",
        segments=segments,
        num_samples=num_samples,
    )
