"""Input handling shared by the saliency functions: model, images, targets, layers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from audit._batching import concat, run_batched
from audit.errors import AuditInputError
from audit.model import ModelAdapter
from audit.model import as_adapter as model_adapter

BAD_IMAGES = "images must be an array or tensor of shape (n, c, h, w) or (n, h, w); got shape {shape}"
BAD_TARGET = "target must be None, a class index or one index per image (length {n}) in [0, {k}); got {got}"
UNKNOWN_LAYER = "layer {name!r} is not a submodule of the model; its Conv2d layers are {convs}"


def as_adapter(model: Any, device: str | torch.device | None = None, *, arg: str = "model") -> ModelAdapter:
    """A differentiable :class:`ModelAdapter` (the one rule in :func:`audit.model.as_adapter`)."""
    return model_adapter(model, device, differentiable=True, arg=arg, need="saliency")


def as_images(images: Any) -> torch.Tensor:
    """Float tensor ``(n, c, h, w)`` (on its current device); ``(n, h, w)`` gains a channel axis."""
    t = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    t = t.detach()
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4 or t.shape[0] == 0:
        raise AuditInputError(BAD_IMAGES.format(shape=tuple(t.shape)))
    return t.float()


def predict_targets(adapter: ModelAdapter, x: torch.Tensor, batch_size: int) -> np.ndarray:
    """Predicted class index per image (batched, no gradients)."""

    def step(a: int, b: int) -> torch.Tensor:
        with torch.no_grad():
            return adapter.logits(x[a:b].to(adapter.device)).argmax(dim=1).cpu()

    parts, _ = run_batched(step, x.shape[0], batch_size)
    return concat(parts).numpy()


def resolve_targets(adapter: ModelAdapter, x: torch.Tensor, target: Any, batch_size: int) -> np.ndarray:
    """``target`` (None = predicted class, an int, or one per image) as an int64 array of length n."""
    n = x.shape[0]
    if target is None:
        return predict_targets(adapter, x, batch_size).astype(np.int64)
    with torch.no_grad():
        k = int(adapter.logits(x[:1].to(adapter.device)).shape[1])
    t = target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, int(t))
    ok = t.ndim == 1 and len(t) == n and np.issubdtype(t.dtype, np.integer) and (t >= 0).all() and (t < k).all()
    if not ok:
        shown = t.tolist() if t.size <= 8 else f"array of shape {t.shape}"
        raise AuditInputError(BAD_TARGET.format(n=n, k=k, got=shown))
    return t.astype(np.int64)


def conv_layers(module: torch.nn.Module) -> list[str]:
    """Names of the ``Conv2d`` submodules, in registration order (TorchScript keeps the type as ``original_name``)."""
    return [
        name for name, m in module.named_modules()
        if isinstance(m, torch.nn.Conv2d) or getattr(m, "original_name", None) == "Conv2d"
    ]


def find_last_conv(module: torch.nn.Module) -> str | None:
    """Name of the last ``torch.nn.Conv2d`` registered in ``module`` (the GradCAM layer), or None.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 2, 3), torch.nn.Flatten())
    >>> find_last_conv(net)
    '1'
    """
    names = conv_layers(module)
    return names[-1] if names else None


def resolve_layer(module: torch.nn.Module, layer: str | torch.nn.Module | None) -> tuple[str | None, torch.nn.Module | None]:
    """``layer`` (a dotted name, a submodule or None = last Conv2d) as ``(name, submodule)``."""
    modules = dict(module.named_modules())  # not get_submodule(): TorchScript modules lack it
    if layer is None:
        name = find_last_conv(module)
        return (name, modules[name]) if name is not None else (None, None)
    if isinstance(layer, torch.nn.Module):
        for name, m in module.named_modules():
            if m is layer:
                return name, m
        raise AuditInputError(UNKNOWN_LAYER.format(name=type(layer).__name__, convs=conv_layers(module)))
    if layer not in modules:
        raise AuditInputError(UNKNOWN_LAYER.format(name=layer, convs=conv_layers(module)))
    return layer, modules[layer]


@contextmanager
def seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Torch's global RNG seeded with ``seed`` inside the block and restored after.

    For custom attribution functions that draw from the global generators; the built-in methods draw
    their noise on the CPU with :func:`cpu_generator` instead, so they give the same numbers on
    every device. Only the CPU generator and that of ``device`` are seeded (and restored after).
    """
    cuda = device.type == "cuda"
    index = (device.index if device.index is not None else torch.cuda.current_device()) if cuda else None
    with torch.random.fork_rng(devices=[index] if cuda else []):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def cpu_generator(seed: int, stream: int = 0) -> torch.Generator:
    """A CPU generator for (``seed``, ``stream``), e.g. one stream per image so draws do not depend on batching.

    Random numbers are drawn on the CPU and moved to the model's device: CUDA's generator gives other
    numbers for the same seed, so a seeded audit would differ between a CPU and a GPU machine.
    """
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(stream)) % (2**63 - 1))
