"""FGSM and PGD: gradient attacks on a torch model, batched on its device, one result type."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
import torch

from audit._inputs import to_numpy
from audit.errors import AuditInputError
from audit.robustness._kernel import NoiseBank, Spec, run_attack
from audit.robustness._result import AttackResult
from audit.robustness._setup import LossFn, Prepared, check_eps, check_norm, prepare

log = logging.getLogger(__name__)


def perturbation_size(delta: torch.Tensor, norm: str, scale: torch.Tensor | None) -> np.ndarray:
    """Per-row size of ``delta`` in ``norm``, in units of ``scale`` (frozen features count as 0).

    Computed on the CPU in float64 (MPS has no float64), so the sizes do not depend on the device's
    reduction order either.
    """
    d = torch.nan_to_num(delta.detach().cpu().double(), nan=0.0)  # NaN - NaN: a missing cell, never moved
    if scale is not None:
        s = scale.detach().cpu().double()
        d = d / torch.where(s > 0, s, torch.ones_like(s))
    flat = d.flatten(1)
    out = flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)
    return out.numpy()


def build_result(
    prep: Prepared,
    spec: Spec,
    eps: float,
    x_adv: torch.Tensor,
    pred_clean: torch.Tensor,
    pred_adv: torch.Tensor,
    seconds: float,
) -> AttackResult:
    """Wrap the kernel's tensors into an :class:`AttackResult` (``x_adv`` goes back to the inputs' device)."""
    y = to_numpy(prep.y)
    pc, pa = to_numpy(pred_clean), to_numpy(pred_adv)
    delta = x_adv - prep.x.to(x_adv.device)
    return AttackResult(
        attack=spec.attack,  # type: ignore[arg-type]
        norm=spec.norm,  # type: ignore[arg-type]
        eps=float(eps),
        x_adv=x_adv.to(prep.home),
        y=y,
        pred_clean=pc,
        pred_adv=pa,
        clean_correct=pc == y,
        success=pa != y,
        perturbation=perturbation_size(delta, spec.norm, prep.scale),
        steps=spec.steps,
        step_size=float(spec.step_size),
        batch_size=int(prep.batch_size),
        duration_s=float(seconds),
        requested_batch_size=int(prep.requested_batch_size or prep.batch_size),
    )


def make_spec(
    attack: str,
    eps: float,
    *,
    norm: str,
    steps: int,
    step_size: float | None,
    random_start: bool,
    restarts: int,
    early_stop: bool,
    seed: int,
) -> Spec:
    """Validated :class:`Spec`; ``step_size=None`` means ``2.5 * eps / steps`` (Madry et al.)."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise AuditInputError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(restarts, bool) or int(restarts) != restarts or restarts < 1:
        raise AuditInputError(f"restarts must be a positive integer, got {restarts!r}")
    a = 2.5 * eps / steps if step_size is None else check_eps(step_size)
    return Spec(attack, check_norm(norm), int(steps), float(a), bool(random_start), int(restarts), bool(early_stop), int(seed))


def fgsm(
    model: Any,
    x: Any,
    y: Any,
    eps: float,
    *,
    norm: Literal["linf", "l2"] = "linf",
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    loss: LossFn | None = None,
    early_stop: bool = True,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> AttackResult:
    """Fast gradient sign method: one step of size ``eps`` up the loss gradient.

    ``x_adv = clip(x + eps * scale * sign(grad_x loss(model(x), y)))`` for ``norm="linf"``
    (Goodfellow et al. 2015, https://arxiv.org/abs/1412.6572); ``norm="l2"`` steps along the
    normalised gradient instead (fast gradient method).

    Parameters
    ----------
    model : ModelAdapter or torch.nn.Module
        A raw module is wrapped in :class:`audit.model.ModelAdapter` (logits or probability
        outputs, single-output binary models all work).
    x : Tensor, ndarray or DataFrame
        Model inputs (a DataFrame goes through the adapter's ``transform``).
    y : array-like of int
        True labels as class indices (columns of the model's output).
    eps : float
        Size of the step, in units of ``scale`` (raw input units without one).
    norm : {"linf", "l2"}
    bounds : (low, high), optional
        Valid input range, scalars or per-feature arrays; None clips nothing.
    mask : array-like of 0/1, optional
        Per-feature: 1 may change, 0 never changes (sensitive, immutable, categorical inputs).
    scale : array-like, optional
        Per-feature unit of ``eps`` (e.g. each feature's standard deviation); 0 freezes a feature.
    loss : callable, optional
        ``loss(logits, y) -> per-row loss``; default cross-entropy.
    early_stop : bool
        Rows already misclassified keep their clean input (default). False steps every row.
    batch_size : int, optional
        Rows per batch; default from the input size and free memory, halved on out-of-memory.
    device : str or torch.device, optional
        Where a raw module runs (default "auto": CUDA when present); an adapter uses its own device.

    Returns
    -------
    AttackResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 2)
    >>> x, y = torch.zeros(4, 2), [0, 1, 0, 1]
    >>> r = fgsm(net, x, y, eps=0.1, device="cpu")
    >>> float(r.perturbation.max()) <= 0.1 + 1e-6
    True
    """
    t0 = time.perf_counter()
    e = check_eps(eps)
    prep = prepare(model, x, y, bounds=bounds, mask=mask, scale=scale, loss=loss, batch_size=batch_size, device=device)
    spec = make_spec("fgsm", e, norm=norm, steps=1, step_size=e, random_start=False, restarts=1, early_stop=early_stop, seed=0)
    x_adv, pc, pa = run_attack(prep, spec, e)
    return build_result(prep, spec, e, x_adv, pc, pa, time.perf_counter() - t0)


def pgd(
    model: Any,
    x: Any,
    y: Any,
    eps: float,
    *,
    steps: int = 20,
    step_size: float | None = None,
    norm: Literal["linf", "l2"] = "linf",
    random_start: bool = True,
    restarts: int = 1,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    loss: LossFn | None = None,
    early_stop: bool = True,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> AttackResult:
    """Projected gradient descent: ``steps`` gradient steps, each projected back onto the ``eps`` ball.

    Madry et al. 2018, https://arxiv.org/abs/1706.06083. L-inf steps along the gradient sign,
    L2 along the normalised gradient; after each step the perturbation is projected onto the
    ball and clipped to ``bounds``. With ``random_start`` each restart begins at a seeded uniform
    point of the ball; rows not fooled by one restart are attacked again by the next, keeping the
    input with the highest loss. With ``early_stop`` a row keeps the first input that fools the
    model and stops costing forward/backward passes.

    Parameters
    ----------
    model, x, y, eps, norm, bounds, mask, scale, loss, early_stop, batch_size, device
        As in :func:`fgsm`.
    steps : int
        Gradient steps per restart.
    step_size : float, optional
        Step length in units of ``scale``; default ``2.5 * eps / steps``.
    random_start : bool
        Start from a random point of the ball (seeded) instead of ``x``.
    restarts : int
        Random restarts (only with ``random_start``).
    seed : int
        Seed of the random starts: same inputs and seed, same ``x_adv``.

    Returns
    -------
    AttackResult

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> x = torch.rand(16, 3)
    >>> y = net(x).argmax(1)
    >>> r = pgd(net, x, y, eps=0.5, steps=10, bounds=(0, 1), device="cpu")
    >>> r.robust_accuracy <= r.clean_accuracy
    True
    >>> bool((r.x_adv >= 0).all() and (r.x_adv <= 1).all())
    True
    """
    t0 = time.perf_counter()
    e = check_eps(eps)
    prep = prepare(model, x, y, bounds=bounds, mask=mask, scale=scale, loss=loss, batch_size=batch_size, device=device)
    spec = make_spec(
        "pgd", e, norm=norm, steps=steps, step_size=step_size, random_start=random_start, restarts=restarts,
        early_stop=early_stop, seed=seed,
    )
    x_adv, pc, pa = run_attack(prep, spec, e, noise=NoiseBank(prep, spec.norm, spec.seed) if spec.random_start else None)
    return build_result(prep, spec, e, x_adv, pc, pa, time.perf_counter() - t0)
