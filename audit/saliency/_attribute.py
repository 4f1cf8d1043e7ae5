"""Saliency maps for image models with captum: Saliency, IntegratedGradients, SmoothGrad, GradCAM."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

from audit._batching import run_batched
from audit.errors import AuditInputError
from audit.model import try_forward_hook
from audit.saliency._common import as_adapter, as_images, cpu_generator, resolve_layer, resolve_targets, seeded

log = logging.getLogger(__name__)

#: the built-in methods, in report order
METHODS: tuple[str, ...] = ("saliency", "integrated_gradients", "smoothgrad", "gradcam")
_LABELS = {
    "saliency": "Saliency",
    "integrated_gradients": "Integrated gradients",
    "smoothgrad": "SmoothGrad",
    "gradcam": "GradCAM",
    "random": "random order",
}

#: a custom method: ``fn(forward, x, target) -> attribution`` shaped like ``x`` (or ``(n, h, w)``);
#: ``forward`` maps a batch to ``(n, n_classes)`` logits, ``target`` is a long tensor of class indices
AttributionFn = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]
MethodSpec = str | tuple[str, AttributionFn]



def method_label(name: str) -> str:
    """Human label of a method name (tables and figures); a custom method keeps its own name.

    Examples
    --------
    >>> method_label("integrated_gradients"), method_label("random"), method_label("my_method")
    ('Integrated gradients', 'random order', 'my_method')
    """
    return _LABELS.get(name, name)


UNKNOWN_METHOD = "methods: unknown method {name!r}; built-in methods are {valid}, or pass a (name, function) pair"


@dataclass
class SaliencyResult:
    """Attribution maps per method for a batch of images.

    Attributes
    ----------
    maps : dict of str to ndarray
        Per method, ``(n, h, w)`` channel-reduced maps: the maximum absolute gradient over channels
        for ``saliency``/``smoothgrad``, the signed sum over channels for ``integrated_gradients``,
        the upsampled ReLU'd class activation map for ``gradcam``, the sum over channels for a
        custom method.
    raw : dict of str to ndarray
        Per method, the attribution captum returned, ``(n, c, h, w)`` (``gradcam``: ``(n, 1, h, w)``
        after upsampling).
    target : ndarray
        The class index each map explains.
    layer : str or None
        The GradCAM layer's name in the model.
    notes : list of str
        Methods left out and why, and any batch halving on out-of-memory.
    batch_size, requested_batch_size : int
        Images per batch that finally fit, and what the call asked for (larger when halved).
    """

    maps: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    target: np.ndarray
    layer: str | None = None
    notes: list[str] = field(default_factory=list)
    batch_size: int = 0
    requested_batch_size: int = 0

    @property
    def methods(self) -> list[str]:
        """Method names, in the order they were computed."""
        return list(self.maps)

    def summary(self) -> pd.DataFrame:
        """One row per method: map shape and the mean share of absolute attribution in the top 10% of pixels."""
        rows = {}
        for name, m in self.maps.items():
            a = np.abs(m.reshape(len(m), -1))
            k = max(1, int(round(0.1 * a.shape[1])))
            top = np.sort(a, axis=1)[:, -k:].sum(axis=1)
            tot = a.sum(axis=1)
            share = np.divide(top, tot, out=np.full_like(top, np.nan), where=tot > 0)
            rows[name] = {"shape": str(m.shape), "top10_share": float(np.nanmean(share)) if np.isfinite(share).any() else np.nan}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def _reduce(name: str, raw: torch.Tensor) -> torch.Tensor:
    if raw.ndim == 3:
        return raw
    if name in ("saliency", "smoothgrad"):
        return raw.abs().amax(dim=1)
    if name == "gradcam":
        return raw[:, 0]
    return raw.sum(dim=1)


def _resolve_methods(methods: Sequence[MethodSpec]) -> list[tuple[str, AttributionFn | None]]:
    if isinstance(methods, str) or (isinstance(methods, tuple) and len(methods) == 2 and callable(methods[1])):
        methods = [methods]  # type: ignore[list-item]
    out: list[tuple[str, AttributionFn | None]] = []
    for m in methods:
        if isinstance(m, str):
            if m not in METHODS:
                raise AuditInputError(UNKNOWN_METHOD.format(name=m, valid=list(METHODS)))
            out.append((m, None))
        elif isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) and callable(m[1]):
            out.append((m[0], m[1]))
        else:
            raise AuditInputError(UNKNOWN_METHOD.format(name=m, valid=list(METHODS)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise AuditInputError(f"methods: names must be unique, got {names}")
    if not out:
        raise AuditInputError("methods: pass at least one method")
    return out


def smoothgrad(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, target: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """SmoothGrad with absolute gradients: ``mean_s |d forward(x + noise_s)[target] / dx|`` (Smilkov et al. 2017).

    ``noise`` has shape ``(n, samples, *x.shape[1:])``, already scaled; all samples go through the model
    as one batch of ``n * samples`` rows (as captum's NoiseTunnel does). The noise is the caller's so it
    can be drawn on the CPU: captum draws it on the model's device, and CUDA's generator gives other
    numbers than the CPU's for the same seed.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(3, 1, 2, 2)
    >>> g = smoothgrad(net, x, torch.tensor([0, 1, 1]), torch.randn(3, 5, 1, 2, 2))
    >>> bool(torch.allclose(g[0].flatten(), net[1].weight[0].abs()))
    True
    """
    n, k = noise.shape[:2]
    xs = (x.detach()[:, None] + noise.to(x.device, x.dtype)).reshape(n * k, *x.shape[1:]).requires_grad_(True)
    out = forward(xs)
    picked = out.gather(1, target.to(out.device).repeat_interleave(k)[:, None]).sum()
    (g,) = torch.autograd.grad(picked, xs)
    return g.abs().reshape(n, k, *x.shape[1:]).mean(dim=1)


def _hooks_fire(adapter: Any, layer: torch.nn.Module, x1: torch.Tensor) -> bool:
    """True when a forward hook on ``layer`` sees a call during one forward pass (not so for TorchScript
    modules, which refuse hooks, or torch.export programs, which never call their submodules)."""
    seen: list[bool] = []
    handle = try_forward_hook(layer, lambda *_: seen.append(True))
    if handle is None:
        return False
    try:
        with torch.no_grad():
            adapter.logits(x1)
    finally:
        handle.remove()
    return bool(seen)


def attribute(
    model: Any,
    images: Any,
    target: Any = None,
    *,
    methods: Sequence[MethodSpec] = METHODS,
    layer: str | torch.nn.Module | None = None,
    baseline: float = 0.0,
    ig_steps: int = 32,
    smoothgrad_samples: int = 16,
    smoothgrad_noise: float = 0.15,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    seed: int = 0,
) -> SaliencyResult:
    """Attribution maps of ``images`` with captum, batched on the model's device.

    Parameters
    ----------
    model : torch.nn.Module or audit.ModelAdapter
        The forward pass is ``ModelAdapter.logits``, so single-output binary models and models
        ending in Softmax/Sigmoid work too.
    images : array or tensor, shape (n, c, h, w) or (n, h, w)
    target : None, int or array of n ints
        Class explained per image; None explains the predicted class.
    methods : sequence of str or (name, function)
        Built-ins: ``"saliency"`` (|gradient|, Simonyan et al. 2014), ``"integrated_gradients"``
        (Sundararajan et al. 2017, baseline ``baseline``), ``"smoothgrad"`` (mean |gradient| over
        noisy copies, Smilkov et al. 2017; see :func:`smoothgrad`), ``"gradcam"`` (LayerGradCam on ``layer``, Selvaraju et al.
        2017, upsampled bilinearly to the image size). A ``(name, fn)`` pair adds a custom method,
        ``fn(forward, x, target) -> tensor`` (see :data:`AttributionFn`).
    layer : str or torch.nn.Module, optional
        GradCAM layer; None finds the last ``Conv2d``. Without one, ``gradcam`` is left out with a note.
    baseline : float
        Integrated gradients baseline value (a constant image).
    ig_steps, smoothgrad_samples : int
        Integral steps and noisy samples per image.
    smoothgrad_noise : float
        SmoothGrad noise standard deviation as a share of the images' value range.
    batch_size : int
        Images per batch; halved automatically on out-of-memory.
    device : str or torch.device, optional
        Where to compute; None keeps the model's device.
    seed : int
        Seeds SmoothGrad's noise, drawn on the CPU per image: same inputs and seed give the same maps,
        whatever the batch size, and the same noise on every device.

    Returns
    -------
    SaliencyResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(32, 3))
    >>> res = attribute(net, torch.rand(5, 1, 4, 4), methods=("saliency", "gradcam"))
    >>> res.maps["saliency"].shape, res.layer
    ((5, 4, 4), '0')
    """
    adapter = as_adapter(model, device)
    dev = adapter.device
    x = as_images(images)
    n, _, h, w = x.shape
    specs = _resolve_methods(methods)
    notes: list[str] = []
    layer_name, layer_mod = (None, None)
    if any(name == "gradcam" and fn is None for name, fn in specs):
        layer_name, layer_mod = resolve_layer(adapter.module, layer)
        why = None
        if layer_mod is not None and not _hooks_fire(adapter, layer_mod, x[:1].to(dev)):
            why = ("the model's layers take no Python hooks (a TorchScript module or a torch.export program), and "
                   "GradCAM reads the layer's activations through one")
        elif layer_mod is None:
            why = ("the model is a compiled graph whose layers cannot be told apart (name one with layer=)"
                   if isinstance(adapter.module, torch.fx.GraphModule) else "the model has no Conv2d layer (name one with layer=)")
        if why is not None:
            layer_name = layer_mod = None
            specs = [(name, fn) for name, fn in specs if not (name == "gradcam" and fn is None)]
            notes.append(f"GradCAM left out: {why}.")
            log.info("gradcam left out: %s", why)
            if not specs:
                raise AuditInputError(f"methods: gradcam cannot run: {why}")
    targets = resolve_targets(adapter, x, target, batch_size)
    forward = adapter.logits
    stdev = float(smoothgrad_noise * (x.max() - x.min()).item()) or float(smoothgrad_noise)

    def noise(a: int, b: int) -> torch.Tensor:
        # one CPU stream per image (its index in ``images``): the same noise for any batch size and device
        shape = (max(1, int(smoothgrad_samples)), *x.shape[1:])
        return stdev * torch.stack([torch.randn(shape, generator=cpu_generator(seed, i)) for i in range(a, b)])

    def builtin(name: str, xb: torch.Tensor, tb: torch.Tensor, a: int, b: int) -> torch.Tensor:
        if name == "saliency":
            return Saliency(forward).attribute(xb, target=tb, abs=True)
        if name == "integrated_gradients":
            base = torch.full_like(xb, float(baseline))
            return IntegratedGradients(forward).attribute(xb, baselines=base, target=tb, n_steps=ig_steps)
        if name == "smoothgrad":
            return smoothgrad(forward, xb, tb, noise(a, b))
        cam = LayerGradCam(forward, layer_mod).attribute(xb, target=tb, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (h, w), interpolate_mode="bilinear")

    def step(a: int, b: int) -> dict[str, torch.Tensor]:
        xb = x[a:b].to(dev).clone().requires_grad_(True)
        tb = torch.as_tensor(targets[a:b], device=dev)
        out: dict[str, torch.Tensor] = {}
        with torch.enable_grad():
            for name, fn in specs:
                attr = builtin(name, xb, tb, a, b) if fn is None else fn(forward, xb, tb)
                out[name] = attr.detach().float().cpu()
        return out

    with seeded(dev, seed):
        parts, final_batch = run_batched(step, n, batch_size)
    if final_batch < batch_size:
        notes.append(f"Out of memory at {batch_size:,} images per batch: halved to {final_batch:,} and finished.")
    raw: dict[str, np.ndarray] = {}
    maps: dict[str, np.ndarray] = {}
    for name, _fn in specs:
        r = torch.cat([p[name] for p in parts])
        if r.shape[0] != n or tuple(r.shape[-2:]) != (h, w):
            raise AuditInputError(f"method {name!r} returned shape {tuple(r.shape)}; expected ({n}, c, {h}, {w})")
        raw[name] = r.numpy()
        maps[name] = _reduce(name, r).numpy()
    return SaliencyResult(maps=maps, raw=raw, target=targets, layer=layer_name if layer_mod is not None else None,
                          notes=notes, batch_size=final_batch, requested_batch_size=batch_size)
