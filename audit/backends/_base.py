"""The model protocol every backend implements, and the registry that picks one for a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from audit.backends._scores import OutputKind
from audit.errors import LOGITS_FIX, AuditInputError


#: what a model does: classify (binary or multiclass, told apart by its classes) or predict a number
Task = Literal["classification", "regression"]
#: what ``task=`` takes: a task, or "auto" (the model says; a model that cannot say is a classifier)
TASKS = ("auto", "classification", "regression")


class ModelFileError(AuditInputError):
    """A model file that cannot be loaded: an unknown format, code without trust, or a file its library refuses."""


@dataclass(frozen=True)
class ModelFile:
    """One model file format a backend loads.

    ``load(path, *, trusted_types)`` returns the model (``trusted_types``: type names the caller trusts beyond
    the format's own list; only skops reads it). ``runs_code`` is True when loading or calling the file can run
    anything it says (TorchScript, ``torch.export``, pickles): such a file loads only when the caller trusts code,
    and the refusal calls it ``what`` ("a pickle").
    """

    suffixes: tuple[str, ...]
    load: Callable[..., Any]
    runs_code: bool
    what: str = ""


class ModelBackend:
    """One kind of model behind one interface.

    A backend knows, before any prediction, its feature names, its classes (where the model
    records them), whether it returns scores, and its device. ``predict_proba`` takes the model's
    own input (a DataFrame for models fitted on frames, a numeric array or tensor otherwise) and
    returns an ``(n, n_classes)`` float64 array; the adapter validates it once for every backend
    (:func:`audit.backends._scores.check_proba`: shape, classes, finite probabilities summing to 1).

    Adding a model kind is one subclass with ``accepts`` and ``predict_proba``, and one
    :func:`register_backend` line; a model file format is one :class:`ModelFile` in its ``file_formats``.
    """

    #: short label shown in reports ("torch", "sklearn", "xgboost", ...)
    kind: ClassVar[str] = "model"
    #: True when the backend gives a differentiable torch forward (attacks, saliency, gradients)
    differentiable: ClassVar[bool] = False
    #: True when the model takes a DataFrame as it is (a Pipeline with its own encoders)
    takes_frames: ClassVar[bool] = True
    #: False for stored predictions: nothing can be called on new rows (explanations, attacks skip)
    calls_model: ClassVar[bool] = True
    #: True when the model runs code that could write into its input: the adapter hands it a private copy;
    #: False where the backend itself builds a fresh input (torch, ONNX) or only reads
    isolate_input: ClassVar[bool] = True
    #: the model files this backend loads, by suffix (:func:`audit.backends.load_model_file` picks one)
    file_formats: ClassVar[tuple[ModelFile, ...]] = ()

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        self.model = model
        self.output: OutputKind = output
        self.device = torch.device("cpu")
        self._has_scores = output != "labels"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        """True when this backend handles ``model``."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self.model).__name__

    @property
    def feature_names(self) -> list[str] | None:
        """Input columns the model was fitted on, when it recorded them."""
        return None

    @property
    def n_features(self) -> int | None:
        """Number of inputs the model expects, when it records it."""
        names = self.feature_names
        return len(names) if names is not None else None

    @property
    def classes(self) -> np.ndarray | None:
        """Class values in the order of ``predict_proba`` columns, when the model records them."""
        classes = getattr(self.model, "classes_", None)
        return np.asarray(classes) if classes is not None else None

    @property
    def accepts_missing(self) -> bool | None:
        """Whether the model takes missing values (NaN) in its input: True, False, or None when only trying tells
        (the audit then predicts a few rows with missing values and refuses with the reason if that fails)."""
        return None

    #: why :attr:`accepts_missing` is False, as the refusal states it
    missing_reason: str = "it does not take missing values"

    @property
    def tree_ensemble(self) -> bool:
        """True for tree models whose structure a tree explainer (TreeSHAP) reads."""
        return False

    #: whose implementation :meth:`tree_shap` calls, as the report names it
    tree_shap_source: str = "shap"

    def tree_shap(self, X: Any) -> Any:
        """Exact (path-dependent) TreeSHAP of the model's raw output through the library's own implementation:
        ``(values (n, d, K), base (K,), raw output (n, K), "margin" | "proba")``; None when the model has none."""
        return None

    @property
    def output_fix(self) -> str:
        """What to do when the model's scores are not probabilities (the end of the adapter's error)."""
        return LOGITS_FIX

    @property
    def has_scores(self) -> bool:
        """False for a model that returns hard labels only (a callable is known after its first call)."""
        return self._has_scores

    @property
    def task(self) -> Task | None:
        """What the model does, when it says so itself (a regressor's type or tags, a booster's objective, a
        stored prediction column); None when only ``task=`` can tell (a function, a torch module, an ONNX graph
        with one output column), and the audit then treats it as a classifier."""
        if is_regressor(self.model):
            return "regression"
        if getattr(self.model, "_estimator_type", None) == "classifier" or callable(getattr(self.model, "predict_proba", None)):
            return "classification"
        return None

    def predict_proba(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def predict_values(self, X: Any) -> np.ndarray:
        """A regressor's predictions for ``X``, one number per row (the adapter validates them once for every
        backend: shape, finite). The default calls ``predict``."""
        predict = getattr(self.model, "predict", None)
        if not callable(predict):
            raise AuditInputError(f"{self.name} has no predict method: a regression audit calls predict(X) for the "
                                  "predicted values")
        return np.asarray(predict(X))

    @property
    def has_intervals(self) -> bool:
        """True when the model gives its own prediction intervals (:meth:`predict_interval`): a model object with a
        ``predict_interval(X)`` method, or a stored log with ``interval=`` columns."""
        return callable(getattr(self.model, "predict_interval", None))

    def predict_interval(self, X: Any) -> np.ndarray:
        """The model's own ``(n, 2)`` lower and upper bounds for ``X`` (see :attr:`has_intervals`)."""
        method = getattr(self.model, "predict_interval", None)
        if not callable(method):
            raise AuditInputError(f"{self.name} gives no prediction intervals (no predict_interval method)")
        return np.asarray(method(X))


BACKENDS: list[type[ModelBackend]] = []


def register_backend(cls: type[ModelBackend], *, before: type[ModelBackend] | None = None) -> type[ModelBackend]:
    """Add a backend to the registry (tried in order; ``before`` puts it ahead of a more general one).

    Examples
    --------
    >>> from audit.backends import BACKENDS, CallableBackend
    >>> BACKENDS[-1] is CallableBackend    # the most general backend is tried last
    True
    """
    if cls in BACKENDS:
        BACKENDS.remove(cls)
    BACKENDS.insert(BACKENDS.index(before) if before in BACKENDS else len(BACKENDS), cls)
    return cls


def backend_for(model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> ModelBackend:
    """The first registered backend that accepts ``model``, constructed; a clear error when none does."""
    for cls in BACKENDS:
        if cls.accepts(model):
            return cls(model, output=output, device=device)
    raise AuditInputError(
        f"model of type {type(model).__name__} is not supported: it has none of predict_proba, decision_function "
        "or predict and is not callable. Pass a torch.nn.Module, a scikit-learn/XGBoost/LightGBM/CatBoost "
        "classifier, an ONNX model (onnxruntime.InferenceSession or a path ending in .onnx), an object with "
        "predict_proba, or a function X -> scores"
    )


def library_of(model: Any) -> str:
    """Top-level package that defines ``model``'s class or one of its bases ("" for builtins)."""
    for klass in type(model).__mro__:
        root = klass.__module__.split(".")[0]
        if root in ("xgboost", "lightgbm", "catboost", "onnxruntime", "sklearn", "torch"):
            return root
    return type(model).__module__.split(".")[0]


def is_regressor(model: Any) -> bool:
    """True for regressors, without assuming the object is a scikit-learn estimator.

    scikit-learn's own ``is_regressor`` raises on objects without ``__sklearn_tags__`` (wrapper
    classes, older third-party estimators), so the tags are read defensively and the legacy
    ``_estimator_type`` attribute is the fallback.
    """
    try:
        from sklearn.base import is_regressor as sk_is_regressor

        if sk_is_regressor(model):
            return True
    except Exception:  # noqa: BLE001 - duck-typed objects: fall back to the attribute
        pass
    if getattr(model, "_estimator_type", None) == "regressor":
        return True
    return type(model).__name__.endswith("Regressor") and not hasattr(model, "predict_proba")
