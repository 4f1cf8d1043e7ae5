"""Thin wrappers over shap's explainers, all returning ``(n, d, K)`` values in a :class:`ModelSpace`."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from audit._batching import deterministic_kernels
from audit.space import ModelSpace

log = logging.getLogger(__name__)



@contextlib.contextmanager
def seeded_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (which shap's Kernel/Permutation explainers use), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(state)


def _as_ndk(values: object, n: int, d: int) -> np.ndarray:
    """shap returns lists of (n, d) or an (n, d, K) array depending on version/explainer: make it (n, d, K)."""
    if isinstance(values, list):
        arr = np.stack([np.asarray(v) for v in values], axis=-1)
    else:
        arr = np.asarray(values)
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr.reshape(n, d, -1).astype(np.float64)


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_SHAP_ATTRIBUTES = ("x", "y")


@contextlib.contextmanager
def restoring_hooks(module: torch.nn.Module) -> Iterator[None]:
    """Remove every hook and attribute shap adds to ``module``'s submodules, even when shap raises.

    shap's DeepExplainer registers forward/backward hooks on each submodule and removes them only on
    success; after a failure (in-place ops, reused modules) they stay and break every later backward
    pass through the user's model (attacks, saliency, gradient checks).
    """
    before = {
        id(m): ({name: set(getattr(m, name, {})) for name in _HOOK_DICTS}, {a for a in _SHAP_ATTRIBUTES if hasattr(m, a)})
        for m in module.modules()
    }
    try:
        yield
    finally:
        for m in module.modules():
            hooks, attrs = before.get(id(m), ({}, set()))
            for name in _HOOK_DICTS:
                d = getattr(m, name, None)
                if d is None:
                    continue
                for key in set(d) - hooks.get(name, set()):
                    del d[key]
            for a in _SHAP_ATTRIBUTES:
                if a not in attrs and a in m.__dict__:
                    delattr(m, a)


def deep(space: ModelSpace, x: torch.Tensor, bg: torch.Tensor) -> np.ndarray:
    """shap.DeepExplainer (DeepLIFT with a background; Lundberg & Lee 2017, https://arxiv.org/abs/1705.07874)."""
    import shap

    module = space.module_fn()
    with warnings.catch_warnings(), restoring_hooks(module), deterministic_kernels():  # reproducible cuDNN gradients
        warnings.simplefilter("ignore")
        vals = shap.DeepExplainer(module, bg.to(space.device, space.dtype)).shap_values(
            x.to(space.device, space.dtype), check_additivity=False
        )
    return _as_ndk(vals, x.shape[0], x.shape[1])


def gradient(space: ModelSpace, x: torch.Tensor, bg: torch.Tensor, *, seed: int, nsamples: int = 200) -> np.ndarray:
    """shap.GradientExplainer (expected gradients)."""
    import shap

    module = space.module_fn()
    # shap draws the background rows and interpolation points with numpy (seeded here) and builds them on the
    # model's device, so the same seed gives the same samples on every device
    with seeded_numpy(seed), restoring_hooks(module), deterministic_kernels():
        vals = shap.GradientExplainer(module, bg.to(space.device, space.dtype)).shap_values(
            x.to(space.device, space.dtype), nsamples=nsamples, rseed=seed
        )
    return _as_ndk(vals, x.shape[0], x.shape[1])


def permutation(space: ModelSpace, x: np.ndarray, bg: np.ndarray, *, seed: int, max_evals: int | None = None) -> np.ndarray:
    """shap.PermutationExplainer with an independent (interventional) masker over the background."""
    import shap

    d = x.shape[1]
    evals = max_evals or max(500, 4 * (2 * d + 1))
    with seeded_numpy(seed):
        masker = shap.maskers.Independent(bg, max_samples=len(bg))
        ex = shap.PermutationExplainer(space.numpy_fn, masker, seed=seed)
        out = ex(x, max_evals=evals, silent=True)
    return _as_ndk(out.values, x.shape[0], d)


def kernel(space: ModelSpace, x: np.ndarray, bg: np.ndarray, w: np.ndarray, *, seed: int, nsamples: int | str = "auto") -> np.ndarray:
    """shap.KernelExplainer (Kernel SHAP) over the weighted background."""
    import shap
    from shap.utils._legacy import DenseData

    d = x.shape[1]
    data = DenseData(bg, [str(i) for i in range(d)], None, np.asarray(w, dtype=np.float64).copy())
    with seeded_numpy(seed):
        ex = shap.KernelExplainer(space.numpy_fn, data)
        # l1_reg=False: shap >= 0.47 keeps only 10 features by default, zeroing the rest
        vals = ex.shap_values(x, nsamples=nsamples, l1_reg=False, silent=True)
    return _as_ndk(vals, x.shape[0], d)


def tree(space: ModelSpace, x: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """shap.TreeExplainer, interventional, on the predicted probability or a regressor's raw output (exact for the
    background; the caller checks that the values add up to the space's output, which a link function breaks)."""
    import shap

    model = space.adapter.model
    how = "raw" if space.output == "value" else "probability"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = shap.TreeExplainer(model, data=bg, feature_perturbation="interventional", model_output=how)
        vals = ex.shap_values(x, check_additivity=False)
    arr = _as_ndk(vals, x.shape[0], x.shape[1])
    K = len(getattr(model, "classes_", [])) or arr.shape[2]
    if arr.shape[2] == 1 and K == 2:  # binary boosters explain the positive class only
        arr = np.concatenate([-arr, arr], axis=2)
    return arr
