"""Input checks and model preparation shared by the attacks: one validated bundle per call."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError
from audit.backends import input_dtype
from audit.model import ModelAdapter, set_training
from audit.model import as_adapter as model_adapter

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

BAD_EPS = "eps must be a finite number >= 0 (in units of scale, raw input units without one), got {eps!r}"
BAD_NORM = "norm must be 'linf' or 'l2', got {norm!r}"
BAD_Y = "y must hold {n} class indices in [0, {k}) (columns of the model's output), got {detail}"
BAD_BOUNDS = "bounds must be None or a (low, high) pair of numbers or per-feature arrays with low <= high; {detail}"
BAD_FEATURE_ARRAY = "{arg} must broadcast to one input row of shape {shape}; got shape {got}"


def check_eps(eps: Any) -> float:
    """``eps`` as a float, or AuditInputError when it is negative, NaN or not a number."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise AuditInputError(BAD_EPS.format(eps=eps))
    e = float(eps)
    if not math.isfinite(e) or e < 0:
        raise AuditInputError(BAD_EPS.format(eps=eps))
    return e


def check_norm(norm: Any) -> str:
    """``"linf"`` (also ``"inf"``, ``np.inf``) or ``"l2"`` (also ``2``)."""
    if norm in ("linf", "inf", "Linf", np.inf):
        return "linf"
    if norm in ("l2", "L2", 2):
        return "l2"
    raise AuditInputError(BAD_NORM.format(norm=norm))


def as_adapter(model: Any, device: str | torch.device | None) -> ModelAdapter:
    """A differentiable :class:`ModelAdapter` (the one rule in :func:`audit.model.as_adapter`)."""
    return model_adapter(model, device, differentiable=True, need="an attack")


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` on every parameter while attacking; flags restored after.

    The module stays in eval mode afterwards (an audited model is evaluated, never trained), and
    gradients are only ever taken with respect to the inputs, so ``param.grad`` is never touched.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    set_training(module, False)
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def as_inputs(adapter: ModelAdapter, x: Any) -> tuple[torch.Tensor, torch.device]:
    """Inputs as a floating tensor of the model's dtype, plus the device results go back to."""
    if isinstance(x, torch.Tensor):
        home = x.device
        t = x.detach()
    elif isinstance(x, pd.DataFrame):
        home = torch.device("cpu")
        t = adapter.to_tensor(x).cpu()
    else:
        home = torch.device("cpu")
        t = torch.as_tensor(np.array(x))
    if t.ndim < 2 or t.shape[0] == 0:
        raise AuditInputError(f"x must be a batch of at least one row (rows x features or images), got shape {tuple(t.shape)}")
    dtype = input_dtype(adapter.module)
    if t.dtype != dtype:
        t = t.to(dtype)
    return t, home


def as_labels(y: Any, n: int, k: int) -> torch.Tensor:
    """Labels as a CPU long tensor of class indices, validated against ``n`` rows and ``k`` classes."""
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    arr = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
    if arr.ndim != 1 or len(arr) != n:
        raise AuditInputError(BAD_Y.format(n=n, k=k, detail=f"shape {arr.shape}"))
    if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iub" or (len(arr) and (arr.min() < 0 or arr.max() >= k)):
        detail = f"dtype {arr.dtype}" if arr.dtype.kind not in "iub" else f"values in [{arr.min()}, {arr.max()}]"
        raise AuditInputError(BAD_Y.format(n=n, k=k, detail=detail))
    return torch.as_tensor(arr.astype(np.int64))


def feature_array(value: Any, arg: str, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A scalar or per-feature array as a tensor of shape ``(1, *shape)`` on ``device``."""
    t = torch.as_tensor(np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64))
    try:
        out = torch.broadcast_to(t, shape)
    except RuntimeError:
        raise AuditInputError(BAD_FEATURE_ARRAY.format(arg=arg, shape=shape, got=tuple(t.shape))) from None
    if not torch.isfinite(out).all() and arg != "bounds":
        raise AuditInputError(f"{arg} has NaN or infinite values")
    return out.to(dtype).to(device).unsqueeze(0).contiguous()  # cast on the CPU first: MPS takes no float64


@dataclass
class Prepared:
    """Everything an attack needs, validated once: model, inputs, labels and the constraint set."""

    adapter: ModelAdapter
    x: torch.Tensor
    home: torch.device
    y: torch.Tensor
    n_classes: int
    lo: torch.Tensor | None
    hi: torch.Tensor | None
    scale: torch.Tensor | None  # per-feature step/ball scale with the mask folded in (0 = frozen)
    loss: LossFn
    batch_size: int
    requested_batch_size: int = 0  # what the call started with; batch_size shrinks on out-of-memory

    @property
    def device(self) -> torch.device:
        return self.adapter.device

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter.logits(x)

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """A regressor's differentiable ``(n,)`` predicted values (:meth:`ModelAdapter.values`)."""
        return self.adapter.values(x)


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, y, reduction="none")


def auto_batch_size(x: torch.Tensor, device: torch.device) -> int:
    """Rows per batch from the input size and the device's memory; halved later on out-of-memory.

    From the total memory, not the free memory: free memory changes from run to run (the caching
    allocator keeps what earlier work used), and a different batch size regroups the rows, which
    changes CUDA results in the last bits and so, through gradient signs, the attack's outcome.
    """
    per_row = max(1, int(np.prod(x.shape[1:])))
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        budget = total // (per_row * x.element_size() * 256)  # room for activations and their gradients
    else:
        budget = 2**20 // per_row
    return int(max(1, min(len(x), budget)))


def constraint_tensors(bounds: Any, mask: Any, scale: Any, shape: tuple[int, ...], dev: torch.device,
                       dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``bounds``, ``mask`` and ``scale`` validated as ``(1, *shape)`` tensors: ``(low, high, scale with the mask
    folded in)``, each None when not given."""
    lo = hi = None
    if bounds is not None:
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise AuditInputError(BAD_BOUNDS.format(detail=f"got {type(bounds).__name__}"))
        lo = None if bounds[0] is None else feature_array(bounds[0], "bounds", shape, dev, dtype)
        hi = None if bounds[1] is None else feature_array(bounds[1], "bounds", shape, dev, dtype)
        if lo is not None and hi is not None and bool((lo > hi).any()):
            raise AuditInputError(BAD_BOUNDS.format(detail="some low values exceed high"))
    eff = None
    if scale is not None:
        eff = feature_array(scale, "scale", shape, dev, dtype)
        if bool((eff < 0).any()):
            raise AuditInputError("scale must be >= 0 per feature (0 freezes a feature)")
    if mask is not None:
        m = feature_array(mask, "mask", shape, dev, dtype)
        if not bool(((m == 0) | (m == 1)).all()):
            raise AuditInputError("mask must hold 0 (feature frozen) or 1 (feature may change) per feature")
        eff = m if eff is None else eff * m
    return lo, hi, eff


def prepare(
    model: Any,
    x: Any,
    y: Any,
    *,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    loss: LossFn | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> Prepared:
    """Validate the attack inputs and build the :class:`Prepared` bundle."""
    adapter = as_adapter(model, device)
    xt, home = as_inputs(adapter, x)
    dev = adapter.device
    with frozen(adapter.module), torch.no_grad():
        probe = adapter.logits(xt[:1].to(dev))
    k = int(probe.shape[1])
    yt = as_labels(y, len(xt), k)
    lo, hi, eff = constraint_tensors(bounds, mask, scale, tuple(xt.shape[1:]), dev, xt.dtype)
    bs = _batch_size(batch_size, xt, dev)
    return Prepared(
        adapter=adapter, x=xt, home=home, y=yt, n_classes=k, lo=lo, hi=hi, scale=eff,
        loss=loss if loss is not None else _cross_entropy, batch_size=bs, requested_batch_size=bs,
    )


def _batch_size(batch_size: Any, x: torch.Tensor, dev: torch.device) -> int:
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
        raise AuditInputError(f"batch_size must be a positive integer or None (automatic), got {batch_size!r}")
    return int(batch_size) if batch_size is not None else auto_batch_size(x, dev)


def as_targets(y: Any, n: int) -> torch.Tensor:
    """A regression target as a CPU float64 tensor of ``n`` finite values."""
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    arr = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
    if arr.ndim != 1 or len(arr) != n or arr.dtype.kind not in "iuf":
        raise AuditInputError(f"y must hold {n} target values (one number per row), got shape {arr.shape} and dtype "
                              f"{arr.dtype}")
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise AuditInputError(f"y has {int((~np.isfinite(out)).sum())} missing or infinite target value(s); every "
                              "attacked row needs its true value")
    return torch.as_tensor(out)


def _squared_error(values: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (values - y) ** 2


def prepare_values(
    model: Any,
    x: Any,
    y: Any,
    *,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> Prepared:
    """:func:`prepare` for a differentiable regressor: ``y`` holds target values, the loss is the squared error."""
    adapter = as_adapter(model, device)
    if adapter.task != "regression":
        raise AuditInputError("model: this attack maximises a regressor's squared error; this torch model classifies "
                              "(wrap a regression module as ModelAdapter(net, task='regression'))")
    xt, home = as_inputs(adapter, x)
    dev = adapter.device
    with frozen(adapter.module), torch.no_grad():
        adapter.values(xt[:1].to(dev))  # one value per row, or the adapter's error naming the shape
    yt = as_targets(y, len(xt)).to(xt.dtype)
    lo, hi, eff = constraint_tensors(bounds, mask, scale, tuple(xt.shape[1:]), dev, xt.dtype)
    bs = _batch_size(batch_size, xt, dev)
    return Prepared(adapter=adapter, x=xt, home=home, y=yt, n_classes=0, lo=lo, hi=hi, scale=eff,
                    loss=_squared_error, batch_size=bs, requested_batch_size=bs)
