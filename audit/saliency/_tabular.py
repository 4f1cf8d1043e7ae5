"""Integrated gradients per feature for tabular torch models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients

from audit._batching import run_batched
from audit.errors import AuditInputError
from audit.saliency._common import as_adapter, resolve_targets


def feature_attributions(
    model: Any,
    x: Any,
    target: Any = None,
    *,
    baseline: float | Sequence[float] | torch.Tensor | np.ndarray = 0.0,
    n_steps: int = 32,
    feature_names: Sequence[str] | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> pd.DataFrame:
    """Integrated gradients (captum) of a tabular torch model, one column per model-input feature.

    Completeness holds per row: the attributions sum to ``logit(x) - logit(baseline)`` of the
    target class, up to the integral's approximation error (exact for linear models).

    Parameters
    ----------
    model : torch.nn.Module or audit.ModelAdapter
        With an adapter holding a ``TabularEncoder`` transform, ``x`` may be a DataFrame and the
        columns are named after the encoder's ``feature_names_out``.
    x : tensor, array or DataFrame, shape (n, n_features)
    target : None, int or array of n ints
        Class explained per row; None explains the predicted class.
    baseline : float or vector of n_features
        Reference input (zeros by default; the training mean is a common choice).
    n_steps : int
        Integral steps.
    feature_names : list of str, optional
        Column names; default the encoder's output names or ``x0, x1, ...``.
    batch_size : int
        Rows per batch; halved automatically on out-of-memory.
    device : str or torch.device, optional
        Where to compute; None keeps the model's device.

    Returns
    -------
    DataFrame
        ``(n, n_features)`` attributions in the logit of the target class.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> feature_attributions(net, torch.ones(4, 3)).shape
    (4, 3)
    """
    adapter = as_adapter(model, device)
    dev = adapter.device
    t = adapter.to_tensor(x).detach()
    if t.ndim != 2 or t.shape[0] == 0:
        raise AuditInputError(f"x must be 2-D (rows x features) with at least one row; got shape {tuple(t.shape)}")
    n, d = t.shape
    base = torch.as_tensor(np.asarray(baseline, dtype=np.float64)) if not isinstance(baseline, torch.Tensor) else baseline
    base = base.detach().to(t.dtype).to(dev)  # the model's input dtype (cast first: MPS takes no float64), on its device
    if base.ndim == 0:
        base = base.expand(d)
    if tuple(base.shape) != (d,):
        raise AuditInputError(f"baseline must be a number or a vector of {d} features; got shape {tuple(base.shape)}")
    if feature_names is None:
        feature_names = getattr(adapter.transform, "feature_names_out", None) or [f"x{i}" for i in range(d)]
    names = [str(f) for f in feature_names]
    if len(names) != d:
        raise AuditInputError(f"feature_names has {len(names)} names but the model input has {d} features")
    targets = resolve_targets(adapter, t, target, batch_size)
    ig = IntegratedGradients(adapter.logits)

    def step(a: int, b: int) -> np.ndarray:
        xb = t[a:b].to(dev)
        tb = torch.as_tensor(targets[a:b], device=dev)
        with torch.enable_grad():
            attr = ig.attribute(xb, baselines=base.expand_as(xb), target=tb, n_steps=n_steps)
        return attr.detach().cpu().numpy()

    parts, _ = run_batched(step, n, batch_size)
    return pd.DataFrame(np.concatenate(parts), columns=names)
