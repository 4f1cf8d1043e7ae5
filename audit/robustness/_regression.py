"""FGSM and PGD against a differentiable regressor: steps up the gradient of the squared error against the target.

A regressor has no decision to flip: the attacker moves the input inside the eps ball to make the prediction
as wrong as it can, ``max_{x' in ball} (f(x') - y)^2``. The steps, the ball, the bounds, the frozen features,
the random starts and the missing cells are those of the classification attacks (the same kernel pieces,
:mod:`audit.robustness._kernel`); only the loss and what is kept differ: each restart runs all its steps (no
early stop: there is no "fooled"), every PGD attack starts from ``x`` itself and, with ``random_start``, also
from ``restarts`` seeded random points of the ball (the squared error rises on both sides of the target, and a
random start can land on the side where the gradient leads to the smaller error, so it adds to the start from
``x`` rather than replacing it), and a row keeps, of its clean input and each start's last iterate, the one with
the largest squared error, so its error never falls below the clean one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from audit._batching import run_batched
from audit._inputs import to_numpy
from audit.errors import AuditInputError
from audit.robustness._attacks import make_spec, perturbation_size
from audit.robustness._kernel import NoiseBank, Spec, _Batch
from audit.robustness._regression_result import RegressionAttackResult, RegressionCurve, curve_table
from audit.robustness._setup import Prepared, check_eps, frozen, prepare_values


class _ValueBatch(_Batch):
    """One batch of a regressor's rows attacked at one ``eps`` (the kernel's bounds, steps and starts)."""

    def values(self, x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        if self.any_missing:
            x = torch.where(missing, torch.full_like(x, torch.nan), x)
        return self.prep.values(x)

    def run_values(self, noise: NoiseBank | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_adv, clean values, adversarial values)`` of the batch, on the device."""
        spec, x0, y, miss = self.spec, self.x0, self.y, self.missing
        with torch.no_grad():
            clean = self.values(x0, miss)
        best_x, best_v = x0.clone(), clean.clone()
        best_loss = (clean - y) ** 2
        for r in range(-1, spec.restarts if spec.random_start else 0):  # -1: from x itself
            if r >= 0:  # a missing cell takes no part of the random start
                unit = noise.unit(r, self.rows).to(x0.device)
                cur = self.start(x0, torch.where(miss, torch.zeros_like(unit), unit), self.lo, self.hi)
            else:
                cur = x0.clone()
            for _ in range(spec.steps):
                cur = cur.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(((self.values(cur, miss) - y) ** 2).sum(), cur)
                cur = self.step(cur.detach(), g, x0, self.lo, self.hi)
            with torch.no_grad():
                v = self.values(cur, miss)
            loss = (v - y) ** 2
            better = loss > best_loss
            best_x[better], best_v[better], best_loss[better] = cur[better], v[better], loss[better]
        if self.prep.scale is not None:  # frozen features: exactly the clean values
            best_x = torch.where(self.prep.scale == 0, x0, best_x)
        if self.any_missing:
            best_x = torch.where(miss, torch.full_like(best_x, torch.nan), best_x)
        return best_x, clean, best_v


def _attack_rows(prep: Prepared, spec: Spec, eps: float, noise: NoiseBank | None) -> tuple[torch.Tensor, ...]:
    """Attack every row of ``prep`` in batches (halved on out-of-memory): ``(x_adv, clean, adversarial values)``."""
    n = len(prep.x)
    rows = torch.arange(n)
    if eps == 0:  # nothing can move
        spec = Spec(spec.attack, spec.norm, 0, 0.0, False, 1, False, spec.seed)
    out_x = torch.empty_like(prep.x)
    out_clean = torch.empty(n, dtype=torch.float64)
    out_adv = torch.empty(n, dtype=torch.float64)

    def batch(a: int, b: int) -> None:
        xa, vc, va = _ValueBatch(prep, spec, eps, rows[a:b]).run_values(noise)
        out_x[a:b] = xa.to(out_x.device)
        out_clean[a:b] = vc.detach().cpu().double()
        out_adv[a:b] = va.detach().cpu().double()

    with frozen(prep.adapter.module):
        _, prep.batch_size = run_batched(batch, n, prep.batch_size)
    return out_x, out_clean, out_adv


def _result(prep: Prepared, spec: Spec, eps: float, x_adv: torch.Tensor, clean: np.ndarray, adv: np.ndarray,
            seconds: float) -> RegressionAttackResult:
    delta = x_adv - prep.x.to(x_adv.device)
    return RegressionAttackResult(
        attack=spec.attack, norm=spec.norm, eps=float(eps), x_adv=x_adv.to(prep.home),  # type: ignore[arg-type]
        y=to_numpy(prep.y).astype(np.float64), pred_clean=clean, pred_adv=adv,
        perturbation=perturbation_size(delta, spec.norm, prep.scale), steps=spec.steps,
        step_size=float(spec.step_size), duration_s=float(seconds),
    )


def regression_curve(
    model: Any,
    x: Any,
    y: Any,
    eps_list: Sequence[float],
    *,
    attack: Literal["pgd", "fgsm"] = "pgd",
    norm: Literal["linf", "l2"] = "linf",
    steps: int = 20,
    step_size: float | None = None,
    random_start: bool = True,
    restarts: int = 1,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> RegressionCurve:
    """FGSM or PGD against a differentiable regressor at each ``eps`` (ascending): robust MAE and RMSE.

    Each attack maximises the squared error ``(f(x') - y)^2`` against the true target: FGSM is one step of
    size ``eps`` from ``x`` along the gradient's sign (L-inf; the normalised gradient for L2), PGD ``steps`` steps
    of ``step_size`` (default ``2.5 * eps / steps``), each projected back onto the eps ball and clipped to
    ``bounds``, from ``x`` and, with ``random_start``, from ``restarts`` seeded random points of the ball too. A row
    keeps the input with the largest squared error among its clean input, each start's last iterate and its
    adversarial input at the eps before (inside this ball too), so its error never falls below the clean one nor
    as eps grows.

    Parameters
    ----------
    model : ModelAdapter or torch.nn.Module
        A regression module: ``ModelAdapter(net, task="regression")`` (one output per row).
    x : Tensor, ndarray or DataFrame
        Model inputs (a DataFrame goes through the adapter's ``transform``).
    y : array-like of float
        True target values.
    eps_list : sequence of float
        Radii, in units of ``scale`` (raw input units without one).
    attack : {"pgd", "fgsm"}
    norm, steps, step_size, random_start, restarts, bounds, mask, scale, seed, batch_size, device
        As in :func:`audit.robustness.pgd`.

    Returns
    -------
    RegressionCurve

    Examples
    --------
    >>> import torch
    >>> from audit.model import ModelAdapter
    >>> net = torch.nn.Linear(2, 1).double()
    >>> x = torch.rand(16, 2, dtype=torch.float64)
    >>> with torch.no_grad():
    ...     y = net(x)[:, 0] + 0.1
    >>> c = regression_curve(ModelAdapter(net, task="regression"), x, y, [0.0, 0.1], attack="fgsm", device="cpu")
    >>> bool(c.results[1].robust_rmse > c.results[0].robust_rmse)
    True
    """
    if attack not in ("pgd", "fgsm"):
        raise AuditInputError(f"attack must be 'pgd' or 'fgsm', got {attack!r}")
    if isinstance(eps_list, (int, float)) or len(eps_list) == 0:
        raise AuditInputError(f"eps_list must be a non-empty sequence of eps values, got {eps_list!r}")
    prep = prepare_values(model, x, y, bounds=bounds, mask=mask, scale=scale, batch_size=batch_size, device=device)
    y_np = to_numpy(prep.y).astype(np.float64)
    noise: NoiseBank | None = None
    results: list[RegressionAttackResult] = []
    cur_x, cur_v = None, None
    for e in sorted({check_eps(v) for v in eps_list}):
        t0 = time.perf_counter()
        if attack == "fgsm":
            spec = make_spec("fgsm", e, norm=norm, steps=1, step_size=e, random_start=False, restarts=1,
                             early_stop=False, seed=0)
        else:
            spec = make_spec("pgd", e, norm=norm, steps=steps, step_size=step_size, random_start=random_start,
                             restarts=restarts, early_stop=False, seed=seed)
            if spec.random_start and noise is None:
                noise = NoiseBank(prep, spec.norm, spec.seed)
        xa, vc, va = _attack_rows(prep, spec, e, noise)
        va_np = va.numpy()
        if cur_x is not None:  # the eps before found a larger error: that input lies in this ball too
            keep = (cur_v - y_np) ** 2 > (va_np - y_np) ** 2
            xa[torch.as_tensor(keep).to(xa.device)] = cur_x[torch.as_tensor(keep).to(cur_x.device)]
            va_np = np.where(keep, cur_v, va_np)
        cur_x, cur_v = xa, va_np
        results.append(_result(prep, spec, e, xa.clone(), vc.numpy(), va_np.copy(), time.perf_counter() - t0))
    return RegressionCurve(attack=attack, norm=results[0].norm, table=curve_table(results), results=results)


def regression_attack(
    model: Any,
    x: Any,
    y: Any,
    eps: float,
    *,
    attack: Literal["pgd", "fgsm"] = "pgd",
    norm: Literal["linf", "l2"] = "linf",
    steps: int = 20,
    step_size: float | None = None,
    random_start: bool = True,
    restarts: int = 1,
    bounds: Any = None,
    mask: Any = None,
    scale: Any = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> RegressionAttackResult:
    """FGSM or PGD against a differentiable regressor at one ``eps``: :func:`regression_curve` at ``[eps]``.

    Examples
    --------
    >>> import torch
    >>> from audit.model import ModelAdapter
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    >>> x, y = torch.rand(32, 3, dtype=torch.float64), torch.rand(32, dtype=torch.float64)
    >>> r = regression_attack(ModelAdapter(net, task="regression"), x, y, 0.1, steps=10, device="cpu")
    >>> bool(r.robust_rmse >= r.clean_rmse), bool(r.perturbation.max() <= 0.1 + 1e-12)
    (True, True)
    """
    return regression_curve(model, x, y, [eps], attack=attack, norm=norm, steps=steps, step_size=step_size,
                            random_start=random_start, restarts=restarts, bounds=bounds, mask=mask, scale=scale,
                            seed=seed, batch_size=batch_size, device=device).results[0]
