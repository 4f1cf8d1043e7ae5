"""Estimators with predict_proba / decision_function / predict: scikit-learn and any duck-typed object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.backends._base import ModelBackend, ModelFile, ModelFileError
from audit.backends._scores import OutputKind, binary, one_hot, sigmoid, softmax
from audit.errors import AuditInputError

_METHODS = ("predict_proba", "decision_function", "predict")
#: attributes of scikit-learn composites (Pipeline, ColumnTransformer, meta-estimators) whose tags do not say
#: whether an imputer inside handles missing values (a Pipeline(SimpleImputer(), LogisticRegression()) is tagged
#: allow_nan=False)
_COMPOSITE = ("steps", "transformers", "estimators", "estimator", "base_estimator")

#: Types skops does not trust by default (``skops.io.get_untrusted_types``) that we accept anyway, one by
#: one: each is a scikit-learn/numpy container of fitted arrays that skops rebuilds from those arrays, holds no
#: callable and imports nothing else. Anything else (``builtins.eval``, a user function, a custom class) must
#: be listed in ``[model] trusted_types``. No prefixes: a prefix such as ``builtins.`` or ``numpy.`` would also
#: trust functions (``builtins.eval``, ``builtins.exec``, ``numpy.load``) a FunctionTransformer can call.
SKOPS_TRUSTED = frozenset({
    "sklearn.tree._tree.Tree",  # fitted nodes of every tree model (DecisionTree, RandomForest, GradientBoosting, ...)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # the same for HistGradientBoosting
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",  # MLP solver state: learning rate, moment arrays
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",  # MLP solver state: learning rate, velocities
    "sklearn.neighbors._kd_tree.KDTree",  # nearest-neighbour index of KNeighbors*: arrays of points and bounds
    "sklearn.neighbors._ball_tree.BallTree",  # the same, ball-tree layout
    # the built-in distances those indexes hold (a user-supplied metric is PyFuncDistance64, not listed)
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.calibration._CalibratedClassifier",  # CalibratedClassifierCV's fitted (estimator, calibrators) pairs
    "sklearn.calibration._SigmoidCalibration",  # two fitted floats a and b
    "sklearn.utils._bunch.Bunch",  # a dict with attribute access (StackingClassifier.named_estimators_)
    "numpy.dtype",  # a dtype descriptor such as float64 (KBinsDiscretizer(dtype=...)); no code
})


def load_skops(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """A skops file: skops' own trusted types, :data:`SKOPS_TRUSTED` and ``trusted_types`` load, nothing else."""
    import skops.io as sio

    # skops already trusts its own defaults; of the rest only our reviewed list and the caller's names load
    untrusted = sio.get_untrusted_types(file=str(path))
    allowed = SKOPS_TRUSTED | set(trusted_types)
    unsafe = [t for t in untrusted if t not in allowed]
    if unsafe:
        raise ModelFileError(
            f"{path.name} contains types that skops does not trust and that can run code when loaded: {unsafe}; "
            "list them in [model] trusted_types = [...] only if you trust the file"
        )
    return sio.load(str(path), trusted=untrusted)


def load_pickle(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """A pickle (``joblib.dump``, scikit-learn's documented way to save a model): code, it runs on load."""
    import joblib

    return joblib.load(path)


def allow_nan_tag(model: Any) -> bool | None:
    """The scikit-learn ``allow_nan`` tag of ``model`` (``__sklearn_tags__`` from scikit-learn 1.6, ``_get_tags``
    before), or None when it has no tags.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> allow_nan_tag(HistGradientBoostingClassifier()), allow_nan_tag(LogisticRegression()), allow_nan_tag(object())
    (True, False, None)
    """
    try:
        if hasattr(model, "__sklearn_tags__"):
            return bool(model.__sklearn_tags__().input_tags.allow_nan)
        if hasattr(model, "_get_tags"):
            return bool(model._get_tags().get("allow_nan", False))
    except Exception:  # noqa: BLE001 - a third-party estimator with broken tags: unknown, so the audit tries
        return None
    return None


class EstimatorBackend(ModelBackend):
    """Any object with ``predict_proba``, ``decision_function`` or ``predict`` (in that order of preference).

    ``model_output="logits"`` uses ``decision_function`` even when ``predict_proba`` exists, and
    applies softmax to ``predict_proba``'s scores when there is no ``decision_function``;
    ``"labels"`` uses ``predict``. Models that only predict labels get one-hot probabilities and
    ``has_scores`` False.
    """

    kind = "estimator"

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        super().__init__(model, output=output, device=device)
        self.method = self._pick_method(model, output)
        self._has_scores = self.method != "predict"

    @staticmethod
    def _pick_method(model: Any, output: OutputKind) -> str:
        has = {m: callable(getattr(model, m, None)) for m in _METHODS}
        if output in ("auto", "proba") and has["predict_proba"]:
            return "predict_proba"
        if output in ("auto", "logits") and has["decision_function"]:
            return "decision_function"
        if output == "logits" and has["predict_proba"]:
            return "predict_proba"  # its scores are logits: softmax applies (predict() would drop them for labels)
        if output == "proba" and not has["predict_proba"]:
            raise AuditInputError(f"model_output='proba' but {type(model).__name__} has no predict_proba")
        if has["predict"]:
            return "predict"
        raise AuditInputError(
            f"model {type(model).__name__} has no {' / '.join(_METHODS)} method usable with model_output={output!r}"
        )

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return any(callable(getattr(model, m, None)) for m in _METHODS)

    @property
    def feature_names(self) -> list[str] | None:
        names = getattr(self.model, "feature_names_in_", None)
        return [str(c) for c in names] if names is not None else None

    @property
    def accepts_missing(self) -> bool | None:
        """The estimator's ``allow_nan`` tag; None (try it) for composites, whose tags ignore the imputers inside."""
        tag = allow_nan_tag(self.model)
        if tag is True:
            return True
        if any(hasattr(self.model, a) for a in _COMPOSITE):
            return None
        return tag

    @property
    def missing_reason(self) -> str:  # type: ignore[override]
        return (f"{type(self.model).__name__} does not accept NaN (its scikit-learn tag allow_nan is False); "
                "scikit-learn would raise 'Input X contains NaN'")

    @property
    def tree_ensemble(self) -> bool:
        """A scikit-learn tree or tree ensemble: a classifier scored by ``predict_proba``, or a regressor."""
        mod = type(self.model).__module__
        return mod.startswith(("sklearn.ensemble", "sklearn.tree")) and (
            self.method == "predict_proba" or self.task == "regression")

    def tree_shap(self, X: Any) -> Any:
        if not self.tree_ensemble or (isinstance(X, pd.DataFrame) and not all(
                pd.api.types.is_numeric_dtype(X[c]) for c in X.columns)):
            return None
        from audit.backends._treeshap import sklearn_tree_shap

        k = 0 if self.task == "regression" else (len(self.classes) if self.classes is not None else 2)
        return sklearn_tree_shap(self.model, X, k)

    @property
    def n_features(self) -> int | None:
        n = getattr(self.model, "n_features_in_", None)
        return int(n) if isinstance(n, (int, np.integer)) else super().n_features

    def predict_proba(self, X: Any) -> np.ndarray:
        m = self.model
        if self.method == "predict_proba" and self.output != "logits":
            return np.asarray(m.predict_proba(X), dtype=np.float64)
        if self.method in ("predict_proba", "decision_function"):
            d = np.asarray(getattr(m, self.method)(X), dtype=np.float64)
            return binary(sigmoid(d.reshape(-1))) if d.ndim == 1 or d.shape[1] == 1 else softmax(d)
        labels = np.asarray(m.predict(X)).reshape(-1)
        classes = self.classes
        if classes is None:
            raise AuditInputError(
                f"{type(m).__name__} predicts labels only and has no classes_; give it a classes_ attribute "
                "(the class values in a fixed order) or pass a callable returning scores"
            )
        return one_hot(labels, classes)


class SklearnBackend(EstimatorBackend):
    """A scikit-learn estimator or Pipeline (anything deriving from ``sklearn.base.BaseEstimator``).

    Its files: skops (data, with the trusted-types check) and pickles (code; any pickled object, which then
    finds its own backend).
    """

    kind = "sklearn"
    file_formats = (
        ModelFile((".skops",), load_skops, runs_code=False),
        ModelFile((".pkl", ".pickle", ".joblib"), load_pickle, runs_code=True, what="a pickle"),
    )

    @classmethod
    def accepts(cls, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover - scikit-learn is a core dependency
            return False
        return isinstance(model, BaseEstimator) and super().accepts(model)


class DuckBackend(EstimatorBackend):
    """Any other object with ``predict_proba`` / ``decision_function`` / ``predict`` (a user's wrapper class)."""

    kind = "duck-typed"
