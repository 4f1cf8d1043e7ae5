"""AuditContext: the model, the data and everything computed once and shared by checks."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.data import AuditData
from audit.errors import AuditInputError
from audit.model import ModelAdapter
from audit.space import ModelSpace, build_space
from audit.stats import PredictionCells, build_cells


def positive_class_of(classes: Sequence[Any], positive_class: Any) -> tuple[Any, str] | None:
    """The class a binary audit treats as positive, and where that choice came from; None for multiclass
    models without ``positive_class`` (one-vs-rest for every class).

    A ``positive_class`` the model does not predict is an error naming the classes (a string ``"1"`` matches
    the integer class 1, as in a TOML file); :attr:`AuditContext.positive_class` applies it once per audit.

    >>> positive_class_of(["approved", "rejected"], None)
    ('rejected', "the model's second class (sorted: ['approved', 'rejected']); set positive_class= to choose")
    >>> positive_class_of([0, 1], "1")[0]
    1
    """
    classes = list(classes)
    if positive_class is not None:
        match = [c for c in classes if c == positive_class or str(c) == str(positive_class)]
        if not match:
            raise AuditInputError(
                f"positive_class={positive_class!r} is not one of the model's classes {[_plain(c) for c in classes][:20]}; "
                "pass one of them (audit(positive_class=...) or [audit] positive_class in the config)"
            )
        return match[0], "positive_class="
    if len(classes) != 2:
        return None
    return classes[1], (f"the model's second class (sorted: {[_plain(c) for c in classes]}); set positive_class= to "
                        "choose")


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, for messages (``1`` rather than ``np.int64(1)``)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class AuditOptions:
    """Audit-wide settings every check reads, with one precedence rule.

    A setting given on a check instance (``FairnessCheck(min_group_size=50)``) wins; otherwise
    the audit-wide value here applies (set from ``audit(..., min_group_size=...)`` or the config's
    ``[audit]`` table); otherwise the default below.

    Attributes
    ----------
    immutable : tuple of str
        Columns attacks must never change (sensitive columns never change either).
    history : DataFrame or dict, optional
        Per-epoch training history for the overfitting check.
    min_group_size : int
        Groups with fewer rows are shown but left out of gap gates (fairness, calibration, robustness).
    positive_class : class value, optional
        The class fairness treats as the positive outcome (any model: that class against the rest).
    positive_is_favorable : bool
        Whether the positive class is good for the person (names the best and worst group).
    time_column : str, optional
        A timestamp column of the data (a prediction log's scoring time): the performance check adds
        a per-period breakdown.
    period : str
        The breakdown's period, a pandas frequency: ``"D"``, ``"W"``, ``"M"`` (default), ``"Q"``.

    Examples
    --------
    >>> AuditOptions(min_group_size=50).resolve(None, "min_group_size")
    50
    >>> AuditOptions(min_group_size=50).resolve(10, "min_group_size")
    10
    """

    immutable: tuple[str, ...] = ()
    history: Any = None
    min_group_size: int = 30
    positive_class: Any = None
    positive_is_favorable: bool = True
    time_column: str | None = None
    period: str = "M"

    def __post_init__(self) -> None:
        if self.time_column is not None and not isinstance(self.time_column, str):
            raise AuditInputError(f"time_column must be a column name, got {self.time_column!r}")
        try:
            pd.Period("2026-01-01", freq=self.period)
        except (ValueError, TypeError):
            raise AuditInputError(f"period must be a pandas period frequency such as 'D', 'W', 'M' or 'Q', "
                                  f"got {self.period!r}") from None
        if isinstance(self.immutable, str) or not isinstance(self.immutable, Sequence):
            raise AuditInputError(f"immutable must be a list of column names, got {self.immutable!r}")
        object.__setattr__(self, "immutable", tuple(str(c) for c in self.immutable))
        mgs = self.min_group_size
        if isinstance(mgs, bool) or not isinstance(mgs, (int, np.integer)) or mgs < 1:
            raise AuditInputError(f"min_group_size must be a positive integer, got {mgs!r}")
        if not isinstance(self.positive_is_favorable, (bool, np.bool_)):
            raise AuditInputError(f"positive_is_favorable must be True or False, got {self.positive_is_favorable!r}")

    def resolve(self, check_value: Any, name: str) -> Any:
        """The check's own setting when it has one (not None), else this audit-wide option."""
        if name not in {f.name for f in fields(self)}:
            raise KeyError(name)
        return check_value if check_value is not None else getattr(self, name)


@dataclass
class AuditContext:
    """Shared state for one audit run.

    Predictions on ``data`` (and ``train``) are computed on first use and cached, so no check
    re-runs the model on the full data for something another check already has.

    Attributes
    ----------
    model : ModelAdapter
    data : AuditData
        The evaluation data.
    train : AuditData or None
        Optional training data (overfitting, drift, leakage checks).
    seed : int
        Base seed; :meth:`rng` derives an independent, reproducible stream per check.
    options : AuditOptions
        Audit-wide settings (see :class:`AuditOptions` for the precedence rule).
    summary : PredictionCells or None
        The predictions already summarised as cells (a Dask audit's merged partitions): ``data`` then holds no
        rows, and :meth:`cells` returns these.
    """

    model: ModelAdapter
    data: AuditData
    train: AuditData | None = None
    seed: int = 0
    progress: bool = True
    options: AuditOptions = field(default_factory=AuditOptions)
    summary: PredictionCells | None = None

    def __post_init__(self) -> None:
        if isinstance(self.options, dict):  # a plain mapping from older callers
            self.options = AuditOptions(**self.options)

    @property
    def device(self) -> torch.device:
        return self.model.device

    # --------------------------------------------------------------- seeding
    def rng(self, salt: str) -> np.random.Generator:
        """A numpy generator seeded from ``seed`` and ``salt`` (a check's name): independent of check order."""
        return np.random.default_rng([self.seed, zlib.crc32(salt.encode())])

    def torch_seed(self, salt: str) -> int:
        """A torch seed derived like :meth:`rng`; use with ``torch.Generator().manual_seed``."""
        return int(self.rng(salt).integers(0, 2**31 - 1))

    # ----------------------------------------------------------- predictions
    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` or ``"regression"``: decided once by the model layer
        (:attr:`ModelAdapter.task`), binary against multiclass by the model's classes. Checks declare the tasks
        they serve (``Check.tasks``); none tests the model itself."""
        if self.model.task == "regression":
            return "regression"
        return "binary" if self.n_classes == 2 else "multiclass"

    @property
    def is_regression(self) -> bool:
        return self.model.task == "regression"

    @cached_property
    def prediction(self) -> np.ndarray:
        """A regression model's predicted values on ``data``, ``(n,)`` float64; computed once."""
        return self.model.predict_values(self.data.X, what="data")

    @cached_property
    def prediction_interval(self) -> np.ndarray | None:
        """A regressor's own ``(n, 2)`` prediction bounds on ``data`` when it gives them, else None; computed once."""
        if not self.is_regression or not self.model.has_intervals:
            return None
        return self.model.predict_interval(self.data.X, what="data")

    @cached_property
    def train_prediction(self) -> np.ndarray | None:
        """Predicted values on ``train`` (regression) or None; computed once."""
        if self.train is None:
            return None
        return self.model.predict_values(self.train.X, what="train")

    @cached_property
    def proba(self) -> np.ndarray:
        """Class probabilities on ``data``, ``(n, n_classes)``; computed once."""
        return self.model.predict_proba(self.data.X, what="data")

    @cached_property
    def train_proba(self) -> np.ndarray | None:
        """Class probabilities on ``train`` or None; computed once."""
        if self.train is None:
            return None
        return self.model.predict_proba(self.train.X, what="train")

    def repeat_difference(self, rows: int = 64) -> tuple[int, float] | None:
        """Predict the first ``rows`` rows of ``data`` again: ``(rows predicted, largest absolute difference from
        the cached probabilities)``, or None when the model is not called (stored predictions).

        Every check reads :attr:`proba` and many call the model again on the same rows; a model whose scores
        change between calls (dropout left on, random noise) makes those numbers disagree, so the audit says so.
        """
        if self.summary is not None or not self.model.backend.calls_model or len(self.data) == 0:
            return None
        k = min(rows, len(self.data))
        X = self.data.X
        head = X.iloc[:k] if isinstance(X, pd.DataFrame) else X[:k]
        what = f"data (the first {k} rows, predicted again)"
        if self.is_regression:  # relative to the predictions' scale: a price model differs in dollars, not 1e-6
            again = self.model.predict_values(head, what=what)
            scale = max(float(np.std(self.prediction)), float(np.max(np.abs(self.prediction[:k]))), 1e-12)
            return k, float(np.max(np.abs(again - self.prediction[:k]))) / scale
        again = self.model.predict_proba(head, what=what)
        return k, float(np.max(np.abs(again - self.proba[:k])))

    @cached_property
    def positive_class(self) -> tuple[Any, str] | None:
        """``(class, why it is the one)`` a binary audit treats as positive (:func:`positive_class_of`); None for a
        multiclass model without ``positive_class``. Read once before any check runs, so a bad one fails early."""
        if self.is_regression:
            if self.options.positive_class is not None:
                raise AuditInputError(f"positive_class={self.options.positive_class!r} but the model is a regressor: "
                                      "it predicts a number, not classes; drop positive_class")
            return None
        return positive_class_of(self.classes, self.options.positive_class)

    @cached_property
    def classes(self) -> np.ndarray:
        """Class values, in the order of ``proba`` columns (none for a regressor)."""
        if self.is_regression:
            return np.array([])
        if self.model.classes is not None:
            return self.model.classes
        k = self.proba.shape[1]
        if self.data.y is not None:
            uniq = np.unique(self.data.y)
            if len(uniq) == k and not np.issubdtype(uniq.dtype, np.number):
                return uniq
        return np.arange(k)

    @property
    def n_classes(self) -> int:
        """Columns of ``proba`` (0 for a regressor)."""
        if self.is_regression:
            return 0
        return self.summary.n_classes if self.summary is not None else int(self.proba.shape[1])

    @property
    def n_rows(self) -> int:
        """Rows of ``data`` (of the summarised rows when :attr:`summary` is given)."""
        return self.summary.n if self.summary is not None else len(self.data)

    def cells(self, n_bins: int = 15) -> PredictionCells:
        """Predictions on ``data`` as cells (:func:`audit.stats.build_cells`): the statistic performance, fairness and
        calibration compute from; exact cells of the rows, or :attr:`summary`. Per period of ``time_column`` when
        set; ``n_bins`` equal-width calibration bins (a check's ``n_bins``). Built once per ``n_bins``."""
        if self.summary is not None:
            if self.summary.n_bins != n_bins:
                raise AuditInputError(f"the summarised predictions nest in {self.summary.n_bins} calibration bins, not "
                                      f"{n_bins}; audit with CalibrationCheck(n_bins={self.summary.n_bins})")
            return self.summary
        cache = self.__dict__.setdefault("_cells", {})
        if n_bins not in cache:
            col, frame = self.options.time_column, self.data.frame
            periods = None
            if col is not None and frame is not None and col in frame.columns:
                periods = pd.to_datetime(frame[col], errors="coerce").dt.to_period(self.options.period)
            cache[n_bins] = build_cells(self.y, self.proba, self.data.sensitive, periods=periods, n_bins=n_bins,
                                        has_scores=self.model.has_scores)
        return cache[n_bins]

    @property
    def weights(self) -> np.ndarray | None:
        """Row weights of ``data`` (``sample_weight=``), or None when every row counts once."""
        return self.data.weight

    @property
    def is_binary(self) -> bool:
        return self.n_classes == 2

    def _encode(self, y: np.ndarray | None, what: str) -> np.ndarray | None:
        if y is None:
            return None
        classes = self.classes
        try:  # vectorised first (10M labels in well under a second); the exact Python lookup decides the rest
            codes = pd.Index(classes).get_indexer(y)
            if (codes >= 0).all():
                return codes.astype(np.int64)
        except (TypeError, ValueError):
            pass
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        try:
            return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=len(y))
        except KeyError as exc:
            raise AuditInputError(
                f"{what} labels contain {exc.args[0]!r}, which is not one of the model's classes {classes.tolist()}; "
                "encode labels like the model's output columns" + (
                    " (or, if the model predicts a number, pass task='regression')"
                    if isinstance(exc.args[0], (float, np.floating)) and not float(exc.args[0]).is_integer() else "")
            ) from None

    def _target_values(self, y: np.ndarray | None, what: str) -> np.ndarray | None:
        """A regression target as finite float64 values; an error naming the column otherwise."""
        if y is None:
            return None
        name = self.data.target
        try:
            v = np.asarray(pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="raise"), dtype=np.float64)
        except (TypeError, ValueError):
            sample = pd.Series(np.asarray(y).ravel()).head(3).tolist()
            raise AuditInputError(f"{what} target {name!r} holds values that are not numbers (e.g. {sample}); a "
                                  "regression audit compares predicted numbers with a numeric target") from None
        bad = ~np.isfinite(v)
        if bad.any():
            raise AuditInputError(f"{what} target {name!r} has {int(bad.sum())} missing or infinite value(s) of "
                                  f"{len(v)}; drop those rows (a regression metric needs the true value of every row)")
        return v

    @cached_property
    def y(self) -> np.ndarray | None:
        """Labels of ``data`` as class indices (columns of ``proba``), or None without labels; a regressor's
        target values as float64."""
        if self.is_regression:
            return self._target_values(self.data.y, "data")
        return self._encode(self.data.y, "data")

    @cached_property
    def train_y(self) -> np.ndarray | None:
        if self.train is None:
            return None
        if self.is_regression:
            return self._target_values(self.train.y, "train")
        return self._encode(self.train.y, "train")

    @cached_property
    def pred(self) -> np.ndarray:
        """Predicted class index on ``data``."""
        return self.proba.argmax(axis=1)

    @cached_property
    def train_pred(self) -> np.ndarray | None:
        return None if self.train_proba is None else self.train_proba.argmax(axis=1)

    @cached_property
    def x_tensor(self) -> torch.Tensor:
        """Model-input tensor of ``data`` on the device (torch models only); computed once."""
        return self.model.to_tensor(self.data.X)

    @cached_property
    def gradient_input(self) -> bool:
        """True for a differentiable model whose input is one float tensor, which attacks can move; False for
        integer ids or a mapping of named inputs (an embedding of category codes), attacked as a black box."""
        if not self.model.differentiable:
            return False
        x = self.x_tensor
        return isinstance(x, torch.Tensor) and torch.is_floating_point(x)

    @cached_property
    def space(self) -> ModelSpace:
        """The numeric feature space explanations and black-box attacks share (tabular data); built once.

        Category levels come from ``data`` and ``train`` together, so every row of either encodes. It returns class
        probabilities for a classifier and the predicted value for a regressor.
        """
        X = self.data.X
        extra = [self.train.X] if self.train is not None else []
        # the codec's own rule for categorical columns (non-numeric or boolean) is the one data.categorical uses
        return build_space(self.model, X, extra)  # the task's output: probabilities, or a regressor's value

    def fingerprint(self) -> str:
        """Short hash of the data and seed, shown in the report to identify a run."""
        h = hashlib.sha256(str(self.seed).encode())
        X = self.data.X
        if isinstance(X, torch.Tensor):
            h.update(X.detach().cpu().numpy().tobytes()[:10_000_000])
        else:
            h.update(str(X.shape).encode())
            h.update(np.ascontiguousarray(X.head(2000).to_numpy(dtype=str)).tobytes())
        return h.hexdigest()[:12]
