"""The one device rule: where torch work runs, and how tensors come back to numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audit.errors import AuditInputError


def resolve_device(device: str | torch.device | None, *, default: torch.device | None = None) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; None -> ``default`` (CPU without one); else ``torch.device``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return default if default is not None else torch.device("cpu")
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


def module_device(module: torch.nn.Module) -> torch.device:
    """Where a module's parameters (or buffers) live; CPU for a module with neither."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def numeric_values(frame: Any, dtype: Any, who: str) -> np.ndarray:
    """A DataFrame's values as a ``dtype`` matrix, or an error naming its non-numeric columns and the fix.

    >>> import pandas as pd
    >>> numeric_values(pd.DataFrame({"a": [1, 2]}), np.float64, "a torch model").tolist()
    [[1.0], [2.0]]
    """
    import pandas as pd

    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise AuditInputError(f"{who} received non-numeric column(s) {bad}; pass transform= (a TabularEncoder or "
                              "a fitted ColumnTransformer) to turn the DataFrame into numbers")
    return frame.to_numpy(dtype=dtype)


def as_numpy(x: Any) -> np.ndarray:
    """A tensor on any device, a sparse matrix, a frame or a list -> a numpy array (tensors: detached, on CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, "toarray") and not isinstance(x, np.ndarray):  # scipy.sparse output of an encoder
        return np.asarray(x.toarray())
    if hasattr(x, "to_numpy"):
        return x.to_numpy()
    return np.asarray(x)
