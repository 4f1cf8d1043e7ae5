"""Deletion and insertion curves (Petsiuk et al. 2018, RISE): do the salient pixels drive the score?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit._batching import run_batched
from audit.errors import AuditInputError
from audit.saliency._attribute import SaliencyResult
from audit.saliency._common import as_adapter, as_images, resolve_targets

BaselineKind = Literal["zeros", "blur"] | float


@dataclass
class FaithfulnessResult:
    """Deletion/insertion curves and their areas per ordering (each method, plus ``"random"``).

    Attributes
    ----------
    auc : DataFrame
        Index ``method`` (the methods, then ``random``); columns ``deletion_auc`` (lower is better),
        ``insertion_auc`` (higher is better), ``deletion_gain`` (random's deletion AUC minus the
        method's: > 0 means better than a random order) and ``insertion_gain`` (the method's
        insertion AUC minus random's), each the mean over images.
    curves : DataFrame
        Long form ``method, curve ("deletion"|"insertion"), fraction, probability``: the target
        probability averaged over images after a ``fraction`` of pixels was removed/inserted.
    per_image : DataFrame
        ``image, method, deletion_auc, insertion_auc``.
    baseline : str
        What removed pixels were replaced with.
    """

    auc: pd.DataFrame
    curves: pd.DataFrame
    per_image: pd.DataFrame
    baseline: str


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-channel Gaussian blur of ``(n, c, h, w)`` images with replicate padding."""
    r = max(1, int(math.ceil(3 * sigma)))
    g = torch.exp(-(torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    xp = torch.nn.functional.pad(x, (r, r, r, r), mode="replicate")
    xp = torch.nn.functional.conv2d(xp, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(xp, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _baseline(x: torch.Tensor, baseline: BaselineKind, blur_sigma: float | None) -> tuple[torch.Tensor, str]:
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline)), f"constant {float(baseline):g}"
    if baseline == "zeros":
        return torch.zeros_like(x), "zeros"
    if baseline == "blur":
        sigma = blur_sigma if blur_sigma is not None else max(1.0, max(x.shape[-2:]) / 16)
        return gaussian_blur(x, sigma), f"blurred image (sigma {sigma:g} px)"
    raise AuditInputError(f"baseline must be 'zeros', 'blur' or a number, got {baseline!r}")


def pixel_order(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank of each pixel (0 = most salient) per image ``(n, h*w)``; ties broken at random."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    order = np.lexsort((rng.random(flat.shape), -flat), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None, :].repeat(len(flat), 0), axis=-1)
    return ranks


def faithfulness(
    model: Any,
    images: Any,
    maps: SaliencyResult | Mapping[str, np.ndarray],
    target: Any = None,
    *,
    steps: int = 32,
    baseline: BaselineKind = "zeros",
    blur_sigma: float | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> FaithfulnessResult:
    """Deletion and insertion curves of each map against a random pixel order.

    Deletion replaces the most salient pixels first (all channels of a pixel together) with the
    baseline and tracks the target class probability: a faithful map makes it fall fast (low
    area under the curve). Insertion starts from the baseline and puts the most salient pixels
    back first: a faithful map makes the probability rise fast (high area). A random order is
    the reference every method should beat. Petsiuk, Das & Saenko 2018,
    https://arxiv.org/abs/1806.07421.

    Parameters
    ----------
    model : torch.nn.Module or audit.ModelAdapter
    images : array or tensor (n, c, h, w)
    maps : SaliencyResult or dict of str to (n, h, w) arrays
        Higher value = more salient.
    target : None, int or n ints
        Class whose probability is tracked; None takes ``maps.target`` for a SaliencyResult,
        otherwise the predicted class.
    steps : int
        Points on each curve after the start (capped at the number of pixels).
    baseline : {"zeros", "blur"} or float
        What replaces removed pixels (and the insertion start).
    blur_sigma : float, optional
        Blur width in pixels for ``baseline="blur"``; default ``max(1, max(h, w) / 16)``.
    seed : int
        Seeds the random order and tie-breaking between equally salient pixels.
    batch_size : int, optional
        Images per batch (each brings ``2 * (steps + 1)`` perturbed copies per order); default
        keeps a batch near 2 million input values. Halved automatically on out-of-memory.
    device : str or torch.device, optional

    Returns
    -------
    FaithfulnessResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> x = torch.rand(3, 1, 4, 4)
    >>> res = faithfulness(net, x, {"brightness": x[:, 0].numpy()}, steps=4)
    >>> list(res.auc.index)
    ['brightness', 'random']
    """
    adapter = as_adapter(model, device)
    dev = adapter.device
    x = as_images(images)
    n, _, h, w = x.shape
    hw = h * w
    map_dict = dict(maps.maps) if isinstance(maps, SaliencyResult) else {str(k): np.asarray(v) for k, v in maps.items()}
    if not map_dict:
        raise AuditInputError("maps: pass at least one method's maps")
    if "random" in map_dict:
        raise AuditInputError("maps: 'random' is reserved for the random order; rename that method")
    for name, m in map_dict.items():
        if m.shape != (n, h, w):
            raise AuditInputError(f"maps[{name!r}] has shape {m.shape}; expected ({n}, {h}, {w}) to match images")
    if target is None and isinstance(maps, SaliencyResult):
        target = maps.target
    targets = resolve_targets(adapter, x, target, batch_size or 64)
    steps = int(max(1, min(steps, hw)))
    ks = np.unique(np.round(np.linspace(0, hw, steps + 1)).astype(np.int64))
    fractions = ks / hw

    rng = np.random.default_rng(seed)
    names = [*map_dict, "random"]
    ranks = np.stack([pixel_order(map_dict[m], rng) for m in map_dict] + [rng.permuted(np.tile(np.arange(hw), (n, 1)), axis=1)], axis=1)
    ranks_t = torch.as_tensor(ranks)  # (n, orders, hw)
    n_orders, n_k = len(names), len(ks)
    ks_t = torch.as_tensor(ks, device=dev)
    if batch_size is None:
        batch_size = max(1, 2_000_000 // (n_orders * 2 * n_k * x[0].numel()))

    def step(a: int, b: int) -> np.ndarray:
        xb = x[a:b].to(dev)
        base, _ = _baseline(xb, baseline, blur_sigma)
        # keep[i, o, s, p]: pixel p of image i is among the first ks[s] of order o
        first = ranks_t[a:b].to(dev)[:, :, None, :] < ks_t[None, None, :, None]
        mask = first.reshape(b - a, n_orders, n_k, 1, h, w)
        xo = xb[:, None, None]
        bo = base[:, None, None]
        deleted = torch.where(mask, bo, xo)
        inserted = torch.where(mask, xo, bo)
        batch = torch.stack([deleted, inserted], dim=2).reshape(-1, *xb.shape[1:])
        with torch.no_grad():
            logits = adapter.logits(batch)
        # softmax in float64 on the CPU: MPS has no float64, and the probabilities then depend on the
        # logits alone, not on the device's reduction order
        p = torch.softmax(logits.cpu().double(), dim=1)
        tb = torch.as_tensor(targets[a:b]).repeat_interleave(n_orders * 2 * n_k)
        return p.gather(1, tb[:, None])[:, 0].reshape(b - a, n_orders, 2, n_k).numpy()

    parts, _ = run_batched(step, n, batch_size)
    probs = np.concatenate(parts)  # (n, orders, 2, n_k)
    aucs = np.trapezoid(probs, fractions, axis=-1)  # (n, orders, 2)
    mean_auc = aucs.mean(axis=0)
    auc = pd.DataFrame(mean_auc, index=pd.Index(names, name="method"), columns=["deletion_auc", "insertion_auc"])
    auc["deletion_gain"] = auc.loc["random", "deletion_auc"] - auc["deletion_auc"]
    auc["insertion_gain"] = auc["insertion_auc"] - auc.loc["random", "insertion_auc"]
    mean_curve = probs.mean(axis=0)
    curves = pd.DataFrame(
        [
            {"method": m, "curve": c, "fraction": float(f), "probability": float(mean_curve[o, ci, s])}
            for o, m in enumerate(names)
            for ci, c in enumerate(("deletion", "insertion"))
            for s, f in enumerate(fractions)
        ]
    )
    per_image = pd.DataFrame(
        {
            "image": np.repeat(np.arange(n), n_orders),
            "method": np.tile(names, n),
            "deletion_auc": aucs[:, :, 0].reshape(-1),
            "insertion_auc": aucs[:, :, 1].reshape(-1),
        }
    )
    return FaithfulnessResult(auc=auc, curves=curves, per_image=per_image, baseline=_baseline(x[:1], baseline, blur_sigma)[1])
