"""Exact interventional Shapley values by enumerating coalitions, batched on the model's device.

The interventional Shapley value of feature ``j`` for row ``x`` against a background ``B`` with
weights ``w`` is ``phi_j(x) = sum_b w_b phi_j(x; b)``, where ``phi_j(x; b)`` is the Shapley value
of the game ``v_b(S) = f(x_S, b_rest)``. Features on which ``x`` and ``b`` agree are null players
of ``v_b`` (switching them changes nothing), so each pair only needs the ``2**k`` coalitions of the
``k`` features where ``x`` and ``b`` differ. On one-hot and count data ``k`` is usually far below
``d``; pairs are grouped by ``k`` and evaluated in large batches (Lundberg et al. 2020 use the
same reduction for trees: https://doi.org/10.1038/s42256-019-0138-9).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from math import factorial

import numpy as np
import torch

from audit.space import ModelSpace

log = logging.getLogger(__name__)


@lru_cache(maxsize=32)
def _masks_and_weights(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(2**k, k)`` coalition masks and the ``(2**k, k)`` matrix ``W`` with ``phi = v @ W``."""
    masks = ((np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)
    size = masks.sum(axis=1)
    fk = factorial(k)
    plus = np.array([factorial(s - 1) * factorial(k - s) / fk if s >= 1 else 0.0 for s in range(k + 1)])
    minus = np.array([factorial(s) * factorial(k - s - 1) / fk if s <= k - 1 else 0.0 for s in range(k + 1)])
    W = np.where(masks, plus[size][:, None], -minus[size][:, None])
    return masks, W


def differing(x: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """``(n, B, d)`` bool: where row ``i`` and background row ``b`` differ (a missing value, NaN, equals itself)."""
    a, b = x[:, None, :], bg[None, :, :]
    return (a != b) & ~(torch.isnan(a) & torch.isnan(b))


def exact_cost(x: torch.Tensor, bg: torch.Tensor) -> float:
    """Model rows the exact computation needs for ``x`` against ``bg``: ``sum over pairs of 2**k``."""
    chunk = max(1, (1 << 24) // max(1, bg.shape[0] * x.shape[1]))
    total = 0.0
    for a in range(0, x.shape[0], chunk):
        k = differing(x[a : a + chunk], bg).sum(dim=2)
        total += float(torch.exp2(k.cpu().double()).sum())  # float64 on the CPU: MPS has none
    return total


def exact_shapley(
    space: ModelSpace,
    x: torch.Tensor,
    bg: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    max_rows: int = 1 << 17,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact interventional Shapley values of ``space`` for rows ``x`` against background ``bg``.

    Parameters
    ----------
    space : ModelSpace
        The model as a function of the model-input matrix.
    x : Tensor, shape (n, d)
        Rows to explain, in model-input space.
    bg : Tensor, shape (B, d)
        Background rows.
    weights : Tensor, shape (B,), optional
        Background weights summing to 1 (k-means summaries); uniform by default.
    max_rows : int
        Model rows per batch.

    Returns
    -------
    phi : ndarray, shape (n, d, K)
        Shapley values per row, feature and output.
    base : ndarray, shape (K,)
        Weighted mean model output over the background.
    fx : ndarray, shape (n, K)
        Model output on ``x``.

    Examples
    --------
    >>> import torch
    >>> from audit.model import ModelAdapter
    >>> from audit.space import build_space
    >>> space = build_space(ModelAdapter(torch.nn.Linear(3, 2)), torch.zeros(1, 3), output="logit")
    >>> phi, base, fx = exact_shapley(space, torch.ones(2, 3), torch.zeros(4, 3))
    >>> bool(abs(phi.sum(axis=1) + base - fx).max() < 1e-5)
    True
    """
    dev = space.device
    x = x.to(dev, space.dtype)
    bg = bg.to(dev, space.dtype)
    n, d = x.shape
    B = bg.shape[0]
    # Coalitions are built on the model's device; the model outputs come back to the CPU (ModelSpace
    # returns CPU float64) and the Shapley sums are done there. On CUDA, index_add_ adds with atomics in
    # an order that changes from run to run, so the same seed gave different values; the CPU adds in
    # index order, the same on every run and every device (and MPS has no float64 at all).
    w = torch.full((B,), 1.0 / B, dtype=torch.float64) if weights is None else weights.detach().cpu().double()
    fx = space(x).cpu()
    fb = space(bg).cpu()
    K = fx.shape[1]
    base = (w[:, None] * fb).sum(dim=0)
    phi = torch.zeros(n * d, K, dtype=torch.float64)
    # enumerate (row, background) pairs chunk by chunk so the (n, B, d) mask never gets large
    row_chunk = max(1, (1 << 22) // max(1, B * d))
    for a in range(0, n, row_chunk):
        diff = differing(x[a : a + row_chunk], bg)
        k_all = diff.sum(dim=2)
        for k in torch.unique(k_all).tolist():
            if k == 0:
                continue
            pi, bi = torch.nonzero(k_all == k, as_tuple=True)
            D = torch.nonzero(diff[pi, bi], as_tuple=True)[1].reshape(-1, k)  # (P, k) differing positions
            _pairs(space, x, bg, w, phi, pi + a, bi, D, k, max_rows)
    return phi.reshape(n, d, K).numpy(), base.numpy(), fx.numpy()


def _pairs(
    space: ModelSpace,
    x: torch.Tensor,
    bg: torch.Tensor,
    w: torch.Tensor,
    phi: torch.Tensor,
    pi: torch.Tensor,
    bi: torch.Tensor,
    D: torch.Tensor,
    k: int,
    max_rows: int,
) -> None:
    """Add the Shapley values of all pairs ``(x[pi], bg[bi])`` that differ on exactly ``k`` features.

    ``x``, ``bg``, ``pi``, ``bi`` and ``D`` live on the model's device; ``w`` and ``phi`` are CPU float64.
    """
    masks_np, W_np = _masks_and_weights(k)
    dev = x.device
    masks = torch.as_tensor(masks_np, device=dev)
    W = torch.as_tensor(W_np)  # CPU float64, like the model outputs it weighs
    n_coal = masks.shape[0]
    d = x.shape[1]
    step = max(1, max_rows // n_coal)
    for s in range(0, pi.shape[0], step):
        p, b, Dc = pi[s : s + step], bi[s : s + step], D[s : s + step]
        xb, bb = x[p], bg[b]
        xv = xb.gather(1, Dc)  # (P, k)
        bv = bb.gather(1, Dc)
        vals = torch.where(masks[None], xv[:, None, :], bv[:, None, :])  # (P, 2**k, k)
        Z = bb[:, None, :].expand(-1, n_coal, -1).clone()
        Z.scatter_(2, Dc[:, None, :].expand(-1, n_coal, -1), vals)
        out = space(Z.reshape(-1, d)).cpu().reshape(len(p), n_coal, -1)  # (P, 2**k, K)
        contrib = torch.einsum("psK,sj->pjK", out, W) * w[b.cpu()][:, None, None]
        idx = (p[:, None] * d + Dc).reshape(-1).cpu()
        phi.index_add_(0, idx, contrib.reshape(-1, contrib.shape[2]))  # CPU: adds in index order, reproducibly
