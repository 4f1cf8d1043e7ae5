"""Model adapters: one interface over every model kind (see :mod:`audit.backends`).

Every check talks to a :class:`ModelAdapter`: ``predict_proba(X)`` returns an ``(n, n_classes)``
array of class probabilities (binary models get two columns, the positive class last), and for
torch models ``to_tensor(X)`` plus ``logits(tensor)`` give a differentiable forward on the device.
The adapter applies ``transform`` (DataFrame -> model input) for every kind of model; the backend
does the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit._text_inputs import as_texts, tokenize
from audit.backends import (
    OUTPUT_KINDS,
    TASKS,
    ModelBackend,
    OutputKind,
    TorchBackend,
    as_numpy,
    backend_for,
    check_proba,
    module_device,
    numeric_values,
    resolve_device,
    set_training,
    try_forward_hook,
)
from audit.backends import Task as Task
from audit.errors import MODEL_RAISED, AuditInputError, ModelCallError
from audit.transforms import resolve_transform

log = logging.getLogger(__name__)

#: pandas 3 copies on write: a shallow copy of a frame is a private frame at no cost (pandas 2 needs a deep copy)
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def _private(X: Any) -> Any:
    """``X`` as a model may be handed it: a model that writes into its input, or drops a column of it, must not
    change the data every later check reads. Frames are copied (free under copy-on-write); arrays and tensors are
    copied too (a read-only view would break models that use their input as scratch, and makes torch warn)."""
    if isinstance(X, pd.DataFrame):
        return X.copy(deep=not _COPY_ON_WRITE)
    if isinstance(X, torch.Tensor):
        return np.array(as_numpy(X))
    if isinstance(X, np.ndarray):
        return X.copy()
    return X

__all__ = ["ModelAdapter", "OutputKind", "Task", "as_adapter", "resolve_device", "set_training", "try_forward_hook"]


class ModelAdapter:
    """Wrap a model so that every check sees the same interface.

    Parameters
    ----------
    model : torch.nn.Module | estimator | XGBoost/LightGBM/CatBoost model | ONNX session or path | callable
        Anything a registered backend accepts (:data:`audit.backends.BACKENDS`).
    transform : callable or fitted transformer, optional
        DataFrame -> model input, applied before every call: a function, an
        :class:`audit.transforms.TabularEncoder`, or a fitted object with ``.transform``
        (``ColumnTransformer``, ``Pipeline``).
    output : {"auto", "logits", "proba", "labels"}
        What the model returns, when the guess is wrong. ``"auto"`` treats a torch module as
        returning probabilities when its last layer is Sigmoid/Softmax, logits otherwise.
    device : str or torch.device
        Where torch models run (other models run where their library runs them).
    batch_size : int
        Rows per forward pass for torch models; halved automatically on out-of-memory.
    task : {"auto", "classification", "regression"}
        What the model does. ``"auto"`` takes what the model says (a regressor's type or tags, a booster's
        objective, an ONNX graph's outputs, ``StoredPredictions(prediction=...)``); a model that cannot say
        (a function, a torch module, an ONNX graph with one float output) is a classifier unless ``task``
        says ``"regression"``. A task that contradicts the model is an error.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> m = ModelAdapter(net)
    >>> m.predict_proba(torch.zeros(4, 3)).shape
    (4, 2)
    >>> m.kind, m.differentiable
    ('torch', True)
    """

    def __init__(
        self,
        model: Any,
        *,
        transform: Callable[[Any], Any] | Any | None = None,
        output: OutputKind = "auto",
        device: str | torch.device = "cpu",
        batch_size: int = 4096,
        task: str = "auto",
        tokenizer: Callable[[list[str]], Any] | None = None,
    ) -> None:
        if output not in OUTPUT_KINDS:
            raise AuditInputError(f"model_output must be 'auto', 'logits', 'proba' or 'labels', got {output!r}")
        if task not in TASKS:
            raise AuditInputError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
        self.backend: ModelBackend = backend_for(model, output=output, device=resolve_device(device))
        self.task: Task = _resolve_task(task, self.backend)
        self.model = self.backend.model
        self.transform = resolve_transform(transform)
        self.batch_size = batch_size
        if isinstance(self.backend, TorchBackend):
            self.backend.batch_size = batch_size
        self._n_classes: int | None = None
        self.column_labels: dict[str, Any] = {}
        #: True in a text audit: the model takes the text column as a list of strings (set by the audit's inputs)
        self.text_input = False
        if tokenizer is not None and not callable(tokenizer):
            raise AuditInputError(f"tokenizer must be a callable on a list of strings (or a Hugging Face tokenizer), "
                                  f"got {type(tokenizer).__name__}")
        #: a text model's tokenizer: the list of strings becomes its input (token ids, or a mapping of named tensors)
        self.tokenizer = tokenizer

    def use_column_labels(self, labels: dict[str, Any]) -> None:
        """Hand the model frames under its own column labels: ``labels`` maps the data's string column names to the
        labels the model was fitted with (integers from ``pd.DataFrame(X)``, tuples), which :func:`audit.data.load_data`
        turned into strings for the checks."""
        self.column_labels = dict(labels)

    # ------------------------------------------------------------------ info
    @property
    def kind(self) -> str:
        """The backend's label: "torch", "sklearn", "xgboost", "lightgbm", "catboost", "onnx", "duck-typed", "callable"."""
        return self.backend.kind

    @property
    def device(self) -> torch.device:
        return self.backend.device

    @property
    def output(self) -> OutputKind:
        return self.backend.output

    @property
    def differentiable(self) -> bool:
        """True when the model has a differentiable torch forward: gradients, attacks and saliency apply."""
        return self.backend.differentiable

    @property
    def has_scores(self) -> bool:
        """False for a classifier that returns hard labels only; True for a regressor (its predicted values are
        numbers, whichever method gives them)."""
        return self.task == "regression" or self.backend.has_scores

    @property
    def classes(self) -> np.ndarray | None:
        return self.backend.classes

    @property
    def n_classes(self) -> int | None:
        classes = self.classes
        return len(classes) if classes is not None else self._n_classes

    @property
    def module(self) -> torch.nn.Module:
        if not self.differentiable:
            raise AuditInputError(f"this check needs a torch.nn.Module model; this is a {self.kind} model")
        return self.model

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def accepts_missing(self) -> bool | None:
        """Whether the model takes missing values: the backend's answer (None: unknown, found by trying); always
        None with a ``transform``, which may impute or pass them on."""
        return None if self.transform is not None else self.backend.accepts_missing

    def missing_refusal(self, rows: pd.DataFrame, filled: pd.DataFrame) -> str | None:
        """Why the model cannot take the missing values in ``rows`` (a few data rows that have some), or None.

        A backend that knows answers; otherwise the model predicts ``rows`` as they are and ``filled`` (the
        same rows with the missing cells filled): it is refused only when the filled rows predict and the rows
        with missing values raise or give NaN scores, so an unrelated failure is left to the ordinary
        prediction and its own message.
        """
        known = self.accepts_missing
        if known is not None:
            return None if known else self.backend.missing_reason
        failure = self._try_predict(rows)
        if failure is None or self._try_predict(filled) is not None:
            return None
        return f"{self.name} ({self.kind}) {failure} on rows with missing values (the same rows with them filled predict)"

    def _try_predict(self, rows: pd.DataFrame) -> str | None:
        """What went wrong predicting ``rows`` ("raised ...", "returned NaN scores"), or None."""
        try:
            proba = np.asarray(self.backend.predict_proba(self.model_input(rows)), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - the reason the refusal states
            return f"raised {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return None if np.isfinite(proba).all() else "returned NaN or infinite scores"

    @property
    def feature_names_in(self) -> list[str] | None:
        """Data columns the model consumes: the transform's input columns, else the model's recorded feature names."""
        if self.transform is not None:
            cols = getattr(self.transform, "columns_", None)
            return [str(c) for c in cols] if cols else None
        return self.backend.feature_names

    # ------------------------------------------------------------ model input
    def model_input(self, X: Any) -> Any:
        """``X`` as the model takes it: a private copy under the model's own column labels, the transform applied to
        a DataFrame, then the backend's own form."""
        if self.text_input and isinstance(X, pd.DataFrame):
            texts = as_texts(X)  # a text model takes a list of strings (a fresh list: private)
            if self.tokenizer is None:
                return texts
            encoded = tokenize(self.tokenizer, texts)
            return self.backend.as_tensor(encoded) if isinstance(self.backend, TorchBackend) else encoded
        if isinstance(X, pd.DataFrame) and any(c in self.column_labels for c in X.columns):
            X = X.rename(columns=self.column_labels)  # a new frame: private like a copy
        elif self.transform is not None or self.backend.isolate_input:
            X = _private(X)
        if self.transform is not None and isinstance(X, pd.DataFrame):
            X = self.transform(X)
        if isinstance(self.backend, TorchBackend):
            return self.backend.as_tensor(X)
        if isinstance(X, torch.Tensor):
            return as_numpy(X)
        return X

    def to_tensor(self, X: Any) -> Any:
        """Model-input tensor (applies ``transform`` to DataFrames): on the device for torch models, CPU float64 else."""
        x = self.model_input(X)
        if isinstance(x, (torch.Tensor, Mapping)):
            return x  # a mapping of named tensors (a tokenizer's output) goes to the model as keyword arguments
        if isinstance(x, pd.DataFrame):
            x = numeric_values(x, np.float64, f"a {self.kind} model's tensor input")
        return torch.as_tensor(np.array(as_numpy(x), dtype=np.float64))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable ``(n, n_classes)`` logits of a torch model (see :meth:`TorchBackend.logits`)."""
        if not isinstance(self.backend, TorchBackend):
            raise AuditInputError(f"logits need a differentiable torch model; this is a {self.kind} model")
        return self.backend.logits(x)

    @property
    def _who(self) -> str:
        """The model as errors name it ("callable", "sklearn model Pipeline")."""
        return self.name if self.name == self.kind else f"{self.kind} model {self.name}"

    # --------------------------------------------------------------- generic
    def predict_proba(self, X: Any, *, what: str = "data") -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``; validated (:meth:`checked`)."""
        if self.task == "regression":
            raise AuditInputError(f"this {self.kind} model is a regressor: it has no class probabilities "
                                  "(predict_values gives its predictions)")
        return self.checked(self._call(self.backend.predict_proba, X, what), len(X))

    def _call(self, method: Callable[[Any], Any], X: Any, what: str) -> Any:
        """A backend's ``method`` on ``X`` as the model takes it; what the model raises, wrapped with context."""
        try:
            return method(self.model_input(X))
        except (AuditInputError, ModelCallError):
            raise
        except Exception as exc:  # noqa: BLE001 - wrapped with context for the user
            raise ModelCallError(self._call_error(exc, X, what)) from exc

    def checked(self, proba: Any, n: int) -> np.ndarray:
        """What the backend returned for ``n`` rows, validated once for every backend: ``(n, k)`` finite
        probabilities in [0, 1] whose rows sum to 1, one column per recorded class, no class twice
        (:func:`audit.backends._scores.check_proba`); an error names the model and the fix."""
        proba = check_proba(proba, n, model=self._who, classes=self.classes, fix=self.backend.output_fix)
        if self._n_classes is None:
            self._n_classes = proba.shape[1]
        if isinstance(self.backend, TorchBackend):
            self.batch_size = self.backend.batch_size
        return proba

    def predict_values(self, X: Any, *, what: str = "data") -> np.ndarray:
        """A regression model's predicted values, shape ``(n,)`` float64; validated (one finite number per row)."""
        if self.task != "regression":
            raise AuditInputError(f"predict_values is for regression models; this {self.kind} model classifies "
                                  "(predict_proba gives its class probabilities)")
        return self.checked_values(self._call(self.backend.predict_values, X, what), len(X))

    @property
    def has_intervals(self) -> bool:
        """True when a regressor gives its own prediction intervals (``predict_interval(X)``, or a stored log's
        ``interval=`` columns)."""
        return self.task == "regression" and self.backend.has_intervals

    def predict_interval(self, X: Any, *, what: str = "data") -> np.ndarray:
        """A regressor's own ``(n, 2)`` lower and upper prediction bounds, validated (finite, lower <= upper)."""
        bounds = self._call(self.backend.predict_interval, X, what)
        b = np.asarray(as_numpy(bounds), dtype=np.float64)
        n = len(X)
        if b.shape != (n, 2):
            raise AuditInputError(f"{self._who} returned prediction intervals of shape {b.shape} for {n} rows; "
                                  f"predict_interval must return ({n}, 2): each row's lower and upper bound")
        bad = ~np.isfinite(b).all(axis=1) | (b[:, 0] > b[:, 1])
        if bad.any():
            raise AuditInputError(f"{self._who} returned {int(bad.sum())} prediction interval(s) that are not finite "
                                  "or whose lower bound exceeds the upper one")
        return b

    def checked_values(self, values: Any, n: int) -> np.ndarray:
        """What a regression backend returned for ``n`` rows as ``(n,)`` finite float64 values, or an error naming
        the model and what was wrong."""
        who = self._who
        try:
            v = np.asarray(as_numpy(values), dtype=np.float64)
        except (TypeError, ValueError):
            raise AuditInputError(f"{who} returned predictions that are not numbers (dtype "
                                  f"{getattr(values, 'dtype', type(values).__name__)}); a regression model "
                                  "predicts one number per row") from None
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1 or v.shape[0] != n:
            raise AuditInputError(f"{who} returned predictions of shape {v.shape} for {n} rows; a regression model "
                                  f"predicts one number per row, shape ({n},) (multi-output models: audit one "
                                  "output at a time through a function that returns it)")
        bad = ~np.isfinite(v)
        if bad.any():
            raise AuditInputError(f"{who} returned NaN or infinite predictions for {int(bad.sum())} of {n} rows; "
                                  "every row needs a finite predicted value")
        if isinstance(self.backend, TorchBackend):
            self.batch_size = self.backend.batch_size
        return v

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable ``(n,)`` predicted values of a torch regression model (attacks, gradients)."""
        if not isinstance(self.backend, TorchBackend) or self.task != "regression":
            raise AuditInputError(f"values need a differentiable torch regression model; this is a {self.kind} "
                                  f"{self.task} model")
        return self.backend.values(x)

    def _call_error(self, exc: Exception, X: Any, what: str) -> str:
        msg = MODEL_RAISED.format(exc_type=type(exc).__name__, what=what, exc=exc)
        text = str(exc)
        shape = getattr(X, "shape", None)
        if "read-only" in text:
            msg += (" (the model wrote into a read-only view of its input, such as a DataFrame's to_numpy() under "
                    "pandas' copy-on-write: copy it inside the model before writing to it)")
        elif self.differentiable and "Guard failed" in text and "size()[0]" in text:
            msg += (" (a torch.export program with a fixed batch size: export it with dynamic_shapes="
                    "({0: torch.export.Dim('batch')},) so the audit can batch its calls)")
        elif self.differentiable and shape is not None and any(w in text for w in ("shape", "size", "mat1")):
            msg += (f" (it was given {what} of shape {tuple(shape)}; check the model's input size, or pass "
                    "transform= to build its input from the data)")
        elif not self.differentiable and isinstance(X, pd.DataFrame):
            names = self.backend.feature_names
            hint = f"the model was fitted on {names}; " if names else ""
            msg += (f" (it was given columns {list(map(str, X.columns))[:20]}; {hint}pass features= naming the "
                    "columns the model takes, or transform= to build its input)")
        return msg

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class index (column of ``predict_proba``)."""
        return self.predict_proba(X).argmax(axis=1)


def _resolve_task(task: str, backend: ModelBackend) -> Task:
    """The task, decided once: what the model says, ``task=`` where it cannot say, a classifier where neither
    does; ``task=`` contradicting the model is an error."""
    said = backend.task
    if task == "auto":
        return said or "classification"
    if said is not None and said != task:
        raise AuditInputError(
            f"task={task!r} but the model is a {'regressor' if said == 'regression' else 'classifier'} "
            f"({backend.name}, {backend.kind}); drop task= or pass the model that does {task}"
        )
    return task  # type: ignore[return-value]


def as_adapter(model: Any, device: str | torch.device | None = None, *, differentiable: bool = False,
               arg: str = "model", need: str = "this function") -> ModelAdapter:
    """The one rule for turning what a public function was given into a :class:`ModelAdapter`.

    An adapter is used as it is when ``device`` is None or its own device; asked for another device
    it is rebuilt there. A raw model is wrapped: a torch module on ``device``, or, with ``device``
    None, where its parameters already are (never moved behind the user's back); a torch module
    that carries a ``transform`` attribute keeps it. ``differentiable=True`` refuses models
    without a torch forward, naming ``arg`` and ``need``.

    Examples
    --------
    >>> import torch
    >>> as_adapter(torch.nn.Linear(2, 2)).device
    device(type='cpu')
    """
    if isinstance(model, ModelAdapter):
        adapter = model
        if device is not None and adapter.differentiable and resolve_device(device) != adapter.device:
            adapter = ModelAdapter(adapter.model, transform=adapter.transform, output=adapter.output,
                                   device=device, batch_size=adapter.batch_size, task=adapter.task)
    else:
        if isinstance(model, torch.nn.Module):
            dev = device if device is not None else module_device(model)
            transform = getattr(model, "transform", None)
            adapter = ModelAdapter(model, transform=transform if callable(transform) else None, device=dev)
        else:
            adapter = ModelAdapter(model)
    if differentiable and not adapter.differentiable:
        raise AuditInputError(
            f"{arg}: {need} needs a differentiable torch model (a torch.nn.Module or an audit ModelAdapter "
            f"wrapping one); got a {adapter.kind} model"
        )
    return adapter
