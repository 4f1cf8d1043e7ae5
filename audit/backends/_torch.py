"""Torch modules: eager, TorchScript and torch.export programs, on CPU, CUDA or MPS."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit._batching import concat, run_batched
from audit.backends._base import ModelBackend, ModelFile
from audit.backends._device import as_numpy, numeric_values, resolve_device
from audit.backends._scores import OutputKind
from audit.errors import BAD_OUTPUT_SHAPE, AuditInputError

_PROBA_LAYERS = (torch.nn.Sigmoid, torch.nn.Softmax)


def last_leaf(module: torch.nn.Module) -> torch.nn.Module | None:
    """The last module without children in registration order (the output layer of a Sequential)."""
    leaves = [m for m in module.modules() if not list(m.children())]
    return leaves[-1] if leaves else None


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


def n_rows(x: Any) -> int:
    """Rows of a model input: a tensor's first dimension, or a mapping's first tensor's."""
    if isinstance(x, Mapping):
        return int(next(iter(x.values())).shape[0]) if x else 0
    return int(x.shape[0])


def rows(x: Any, a: int, b: int, *, copy: bool = False) -> Any:
    """Rows ``a:b`` of a model input (every tensor of a mapping), cloned with ``copy``."""
    if isinstance(x, Mapping):
        return {k: rows(v, a, b, copy=copy) for k, v in x.items()}
    part = x[a:b]
    return part.clone() if copy else part


def _shares_storage(x: Any, X: Any) -> bool:
    """Whether the module's input tensor is the caller's own (so an in-place op would change it)."""
    if isinstance(x, Mapping) or not isinstance(X, torch.Tensor):
        return isinstance(x, Mapping)  # a mapping's tensors may be the caller's: copy them
    return x.untyped_storage().data_ptr() == X.untyped_storage().data_ptr()


def input_dtype(module: torch.nn.Module) -> torch.dtype:
    """The floating dtype of the module's parameters (float32 without any): a ``.double()`` model gets float64."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """torch's loaders warn about pickle protocols and file versions while they try one reader after another;
    whether the file loads is what the user hears (the warnings with --debug)."""
    with warnings.catch_warnings():
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            warnings.simplefilter("ignore")
        yield


def load_torchscript(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """A TorchScript program (``.pt``, ``.pth``, ``.ts``) or, failing that, a pickled module, on CPU.

    Code: TorchScript graphs can call any operator (``aten::from_file`` writes files) and ``torch.load`` unpickles.
    """
    with _quiet_loading():
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except RuntimeError:  # not TorchScript: a pickled module
            return torch.load(str(path), map_location="cpu", weights_only=False)


def load_exported(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """A ``torch.export`` program (``.pt2``) as a module; code: its graph and its pickled sample inputs."""
    with _quiet_loading():
        return torch.export.load(str(path)).module()


class TorchBackend(ModelBackend):
    """A ``torch.nn.Module`` (eager, ``torch.jit`` script/trace, or ``torch.export(...).module()``).

    The module is put in eval mode and moved to ``device`` once; ``logits`` is the differentiable
    forward the attacks, saliency and gradient checks use.
    """

    kind = "torch"
    isolate_input = False
    differentiable = True
    takes_frames = False
    file_formats = (
        ModelFile((".pt", ".pth", ".ts"), load_torchscript, runs_code=True,
                  what="a TorchScript program or a pickled torch model"),
        ModelFile((".pt2",), load_exported, runs_code=True, what="a torch.export program"),
    )

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        super().__init__(model, output=output, device=device)
        if output == "labels":
            raise AuditInputError("model_output='labels' is not valid for a torch model; it must return scores")
        self.device = resolve_device(device)
        set_training(model, False)
        model.to(self.device)
        if output == "auto":
            self.output = "proba" if isinstance(last_leaf(model), _PROBA_LAYERS) else "logits"
        self.dtype = input_dtype(model)
        self.batch_size = 4096

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return isinstance(model, torch.nn.Module)

    @property
    def feature_names(self) -> list[str] | None:
        return None

    def as_tensor(self, X: Any) -> Any:
        """A numeric frame, array or tensor -> the module's input tensor on its device and dtype; integer inputs
        (token ids, category codes) keep their integer type; a mapping of named inputs (``input_ids``,
        ``attention_mask``: a tokenizer's output) becomes a dict of such tensors, passed as keyword arguments."""
        if isinstance(X, Mapping):
            return {str(k): self.as_tensor(v) for k, v in X.items() if v is not None}
        if isinstance(X, torch.Tensor) and not torch.is_floating_point(X) and X.dtype != torch.bool:
            return X.to(device=self.device)  # ids stay integer: an embedding takes Long, never float
        if isinstance(X, np.ndarray) and np.issubdtype(X.dtype, np.integer):
            return torch.as_tensor(np.array(X)).to(device=self.device)
        if isinstance(X, pd.DataFrame):
            # a float64 module reads the frame in float64 (through float32 its inputs lost 7 digits)
            X = numeric_values(X, np.float64 if self.dtype == torch.float64 else np.float32, "a torch model")
        t = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.array(as_numpy(X)))  # copy: inputs may be read-only
        return t.to(device=self.device, dtype=self.dtype)

    def forward(self, x: Any) -> torch.Tensor:
        """The module's output for one batch: ``model(**x)`` for a mapping of named inputs, ``model(x)`` else; the
        first element of a tuple and the ``logits`` of an output object (a Hugging Face model's) are the output."""
        out = self.model(**x) if isinstance(x, Mapping) else self.model(x)
        if not isinstance(out, torch.Tensor) and isinstance(getattr(out, "logits", None), torch.Tensor):
            out = out.logits
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out

    def logits(self, x: Any) -> torch.Tensor:
        """Differentiable ``(n, n_classes)`` logits (log-probabilities when the model outputs probabilities).

        A single-output binary model returning ``z`` becomes ``[0, z]`` so that softmax gives
        ``sigmoid(z)`` for the positive class.
        """
        out = self.forward(x)
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
            z = out.reshape(-1)
            if self.output == "proba":
                p = z.clamp(1e-7, 1 - 1e-7)
                return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)
            return torch.stack([torch.zeros_like(z), z], dim=1)
        if out.ndim != 2:
            raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=tuple(out.shape), n=n_rows(x)))
        if self.output == "proba":
            return torch.log(out.clamp_min(1e-12))
        return out

    def values(self, x: Any) -> torch.Tensor:
        """Differentiable ``(n,)`` predicted values of a regression module (one output per row)."""
        out = self.forward(x)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1 or out.shape[0] != n_rows(x):
            raise AuditInputError(
                f"a regression model returns one number per row; this torch module returned shape {tuple(out.shape)} "
                f"for {n_rows(x)} rows (task='regression' audits one output: wrap the module to return one column)"
            )
        return out

    def predict_values(self, X: Any) -> np.ndarray:
        x = self.as_tensor(X)
        shared = _shares_storage(x, X)

        def step(a: int, b: int) -> torch.Tensor:
            with torch.no_grad():
                return self.values(rows(x, a, b, copy=shared)).cpu().double()

        parts, self.batch_size = run_batched(step, n_rows(x), self.batch_size)
        return concat(parts).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        x = self.as_tensor(X)
        # a module that writes into its input (an in-place first op) must not change the caller's tensor
        shared = _shares_storage(x, X)

        def step(a: int, b: int) -> torch.Tensor:
            with torch.no_grad():
                # softmax in float64 on the CPU: the same on every device (MPS has no float64)
                return torch.softmax(self.logits(rows(x, a, b, copy=shared)).cpu().double(), dim=1)

        parts, self.batch_size = run_batched(step, n_rows(x), self.batch_size)
        return concat(parts).numpy()
