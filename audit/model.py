"""Model adapters: one interface over torch modules, scikit-learn estimators and callables.

Every check talks to a :class:`ModelAdapter`: ``predict_proba(X)`` returns an ``(n, n_classes)``
array of class probabilities (binary models get two columns, the positive class last), and for
torch models ``to_tensor(X)`` plus ``logits(tensor)`` give a differentiable forward on the device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit._batching import concat, run_batched
from audit.errors import (
    BAD_OUTPUT_SHAPE,
    MODEL_RAISED,
    NAN_OUTPUT,
    AuditInputError,
    ModelCallError,
)

log = logging.getLogger(__name__)

ModelKind = Literal["torch", "sklearn", "callable"]
OutputKind = Literal["auto", "logits", "proba", "labels"]
_PROBA_LAYERS = (torch.nn.Sigmoid, torch.nn.Softmax)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise AuditInputError(f"device {device!r} is not valid; use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AuditInputError(f"device {device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise AuditInputError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise AuditInputError(f"device {device!r} requested but MPS is not available; use device='auto' or 'cpu'")
    return dev


def _last_leaf(module: torch.nn.Module) -> torch.nn.Module | None:
    leaves = [m for m in module.modules() if not list(m.children())]
    return leaves[-1] if leaves else None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _binary(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


def set_training(module: torch.nn.Module, training: bool) -> None:
    """``module.train(training)``, tolerating ``torch.export`` programs, whose mode is fixed when exported
    (their ``.eval()``/``.train()`` raise NotImplementedError)."""
    try:
        module.train(training)
    except NotImplementedError:
        pass


def try_forward_hook(module: torch.nn.Module, fn: Callable[..., Any]) -> torch.utils.hooks.RemovableHandle | None:
    """``module.register_forward_hook(fn)``, or None for a TorchScript module, which takes no Python hooks.

    (A torch.export program accepts hooks on its submodules but never calls them: callers that need the hook
    to fire check that it did.)
    """
    try:
        return module.register_forward_hook(fn)
    except RuntimeError:
        return None


class ModelAdapter:
    """Wrap a model so that every check sees the same interface.

    Parameters
    ----------
    model : torch.nn.Module | scikit-learn estimator | callable
        A torch module returning logits or probabilities, an estimator with ``predict_proba``,
        ``decision_function`` or ``predict``, or a callable returning scores or labels.
    transform : callable, optional
        For torch models fed a DataFrame: turns the DataFrame into a tensor or array.
    output : {"auto", "logits", "proba", "labels"}
        What a torch module or callable returns. ``"auto"`` treats a torch module as returning
        probabilities when its last layer is Sigmoid/Softmax, logits otherwise.
    device : str or torch.device
        Where torch models run.
    batch_size : int
        Rows per forward pass for torch models; halved automatically on out-of-memory.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> m = ModelAdapter(net)
    >>> m.predict_proba(torch.zeros(4, 3)).shape
    (4, 2)
    """

    def __init__(
        self,
        model: Any,
        *,
        transform: Callable[[Any], Any] | None = None,
        output: OutputKind = "auto",
        device: str | torch.device = "cpu",
        batch_size: int = 4096,
    ) -> None:
        if output not in ("auto", "logits", "proba", "labels"):
            raise AuditInputError(f"output must be 'auto', 'logits', 'proba' or 'labels', got {output!r}")
        self.model = model
        self.transform = transform
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.kind: ModelKind
        if isinstance(model, torch.nn.Module):
            self.kind = "torch"
            set_training(model, False)
            model.to(self.device)
            if output == "auto":
                output = "proba" if isinstance(_last_leaf(model), _PROBA_LAYERS) else "logits"
            if output == "labels":
                raise AuditInputError("output='labels' is not valid for a torch model; it must return scores")
        elif hasattr(model, "predict_proba") or hasattr(model, "decision_function") or hasattr(model, "predict"):
            self.kind = "sklearn"
            from sklearn.base import is_regressor

            if is_regressor(model):
                raise AuditInputError(
                    f"model is a regressor ({type(model).__name__}); audit checks classifiers: pass a classifier, or "
                    "wrap the regressor in a callable that returns class scores or labels"
                )
        elif callable(model):
            self.kind = "callable"
        else:
            raise AuditInputError(
                f"model of type {type(model).__name__} is not supported; pass a torch.nn.Module, a scikit-learn "
                "estimator/Pipeline or a callable returning scores"
            )
        self.output: OutputKind = output
        self.has_scores = True  # False once a model is seen to return hard labels only
        self.n_classes: int | None = None
        self.classes: np.ndarray | None = None
        if self.kind == "sklearn" and hasattr(model, "classes_"):
            self.classes = np.asarray(model.classes_)
            self.n_classes = len(self.classes)

    # ------------------------------------------------------------------ info
    @property
    def differentiable(self) -> bool:
        """True for torch modules: gradients, attacks and saliency apply."""
        return self.kind == "torch"

    @property
    def module(self) -> torch.nn.Module:
        if self.kind != "torch":
            raise AuditInputError("this check needs a torch.nn.Module model")
        return self.model

    @property
    def name(self) -> str:
        return type(self.model).__name__ if self.kind != "callable" else getattr(self.model, "__name__", "callable")

    @property
    def feature_names_in(self) -> list[str] | None:
        """Columns a fitted scikit-learn model was trained on, when it recorded them."""
        names = getattr(self.model, "feature_names_in_", None)
        return [str(c) for c in names] if names is not None else None

    # ------------------------------------------------------------ torch path
    def to_tensor(self, X: Any) -> torch.Tensor:
        """Model-input tensor on the device (applies ``transform`` to DataFrames)."""
        if self.transform is not None and isinstance(X, pd.DataFrame):
            X = self.transform(X)
        if isinstance(X, pd.DataFrame):
            bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
            if bad:
                raise AuditInputError(
                    f"torch model received non-numeric column(s) {bad}; pass transform= to turn the DataFrame into a tensor"
                )
            X = X.to_numpy(dtype=np.float32)
        t = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.array(X))  # copy: inputs may be read-only
        return t.to(device=self.device, dtype=self._input_dtype())

    def _input_dtype(self) -> torch.dtype:
        """The floating dtype of the module's parameters (float32 without any): a ``.double()`` model gets float64."""
        if self.kind == "torch":
            for p in self.module.parameters():
                if p.is_floating_point():
                    return p.dtype
        return torch.float32

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable ``(n, n_classes)`` logits (log-probabilities when the model outputs probabilities).

        A single-output binary model returning ``z`` becomes ``[0, z]`` so that softmax gives
        ``sigmoid(z)`` for the positive class.
        """
        out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
            z = out.reshape(-1)
            if self.output == "proba":
                p = z.clamp(1e-7, 1 - 1e-7)
                return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)
            return torch.stack([torch.zeros_like(z), z], dim=1)
        if out.ndim != 2:
            raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=tuple(out.shape), n=x.shape[0]))
        if self.output == "proba":
            return torch.log(out.clamp_min(1e-12))
        return out

    # --------------------------------------------------------------- generic
    def predict_proba(self, X: Any, *, what: str = "data") -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``; validated for shape and NaN."""
        n = len(X)
        try:
            if self.kind == "torch":
                proba = self._torch_proba(X)
            elif self.kind == "sklearn":
                proba = self._sklearn_proba(X)
            else:
                proba = self._scores_to_proba(np.asarray(self.model(X)), n)
        except (AuditInputError, ModelCallError):
            raise
        except Exception as exc:  # noqa: BLE001 - wrapped with context for the user
            msg = MODEL_RAISED.format(exc_type=type(exc).__name__, what=what, exc=exc)
            shape = getattr(X, "shape", None)
            if self.kind == "torch" and "Guard failed" in str(exc) and "size()[0]" in str(exc):
                msg += (" (a torch.export program with a fixed batch size: export it with dynamic_shapes="
                        "({0: torch.export.Dim('batch')},) so the audit can batch its calls)")
            elif self.kind == "torch" and shape is not None and any(w in str(exc) for w in ("shape", "size", "mat1")):
                msg += (f" (it was given {what} of shape {tuple(shape)}; check the model's input size, or pass "
                        "transform= to build its input from the data)")
            raise ModelCallError(msg) from exc
        if proba.ndim != 2 or proba.shape[0] != n:
            raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=proba.shape, n=n))
        bad = ~np.isfinite(proba).all(axis=1)
        if bad.any():
            raise AuditInputError(NAN_OUTPUT.format(count=int(bad.sum()), n=n))
        if self.n_classes is None:
            self.n_classes = proba.shape[1]
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class index (column of ``predict_proba``)."""
        return self.predict_proba(X).argmax(axis=1)

    def _torch_proba(self, X: Any) -> np.ndarray:
        x = X if isinstance(X, torch.Tensor) else None
        if x is None:
            x = self.to_tensor(X)
        n = x.shape[0]

        def step(a: int, b: int) -> torch.Tensor:
            with torch.no_grad():
                return torch.softmax(self.logits(x[a:b].to(self.device)).double(), dim=1).cpu()

        parts, self.batch_size = run_batched(step, n, self.batch_size)
        return concat(parts).numpy()

    def _sklearn_proba(self, X: Any) -> np.ndarray:
        m = self.model
        if self.output in ("auto", "proba") and hasattr(m, "predict_proba"):
            return np.asarray(m.predict_proba(X), dtype=np.float64)
        if self.output in ("auto", "logits") and hasattr(m, "decision_function"):
            d = np.asarray(m.decision_function(X), dtype=np.float64)
            return _binary(1 / (1 + np.exp(-d))) if d.ndim == 1 else _softmax(d)
        labels = np.asarray(m.predict(X))
        self.has_scores = False
        classes = self.classes if self.classes is not None else np.unique(labels)
        return (labels[:, None] == classes[None, :]).astype(np.float64)

    def _scores_to_proba(self, out: np.ndarray, n: int) -> np.ndarray:
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim == 1:
            if out.shape[0] != n:
                raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=out.shape, n=n))
            if self.output == "labels" or (
                self.output == "auto" and np.isfinite(out).all() and np.all(np.mod(out, 1) == 0) and out.min() >= 0
            ):
                self.has_scores = False
                k = max(int(out.max()) + 1 if out.size else 2, 2, self.n_classes or 0)
                return np.eye(k)[out.astype(int)]
            if self.output == "logits" or (self.output == "auto" and (out.min() < 0 or out.max() > 1)):
                return _binary(1 / (1 + np.exp(-out.astype(np.float64))))
            return _binary(out.astype(np.float64))
        if out.ndim == 2:
            out = out.astype(np.float64)
            if self.output == "logits" or (
                self.output == "auto" and not np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
            ):
                return _softmax(out)
            return out
        raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=out.shape, n=n))
