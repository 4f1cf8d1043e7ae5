"""Epsilon sweep: robust accuracy against the size of the perturbation, attacking only rows still standing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError
from audit.robustness._attacks import build_result, make_spec
from audit.robustness._kernel import NoiseBank, run_attack
from audit.robustness._result import AttackResult, RobustnessCurve
from audit.robustness._setup import LossFn, check_eps, prepare


def robustness_curve(
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
    loss: LossFn | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> RobustnessCurve:
    """Robust accuracy and attack success rate for each ``eps`` (ascending).

    A row fooled at a smaller ``eps`` stays fooled at every larger one (its adversarial input
    lies inside every larger ball), so each ``eps`` only attacks the rows still standing: the
    whole sweep costs about one attack on the rows the model gets right plus a shrinking tail,
    well under the sum of separate attacks. Each row's outcome at ``eps`` equals "fooled by a
    separate attack at this or some smaller eps" (random starts are drawn per row, so they do not
    depend on which rows are attacked together). ``step_size=None`` gives each eps its own
    ``2.5 * eps / steps``.

    Parameters
    ----------
    model, x, y, norm, steps, step_size, random_start, restarts, bounds, mask, scale, loss, seed, batch_size, device
        As in :func:`audit.robustness.pgd` (``attack="fgsm"`` ignores the PGD-only settings).
    eps_list : sequence of float
        Radii, in units of ``scale`` (e.g. pixels in [0, 1] for images, per-feature standard
        deviations with ``scale=std`` for tabular data). Sorted and de-duplicated.
    attack : {"pgd", "fgsm"}

    Returns
    -------
    RobustnessCurve

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 2)
    >>> curve = robustness_curve(net, torch.rand(32, 2), torch.randint(0, 2, (32,)), [0.05, 0.2], steps=5, device="cpu")
    >>> list(curve.table["eps"])
    [0.05, 0.2]
    >>> bool(curve.table["robust_accuracy"].is_monotonic_decreasing)
    True
    """
    if attack not in ("pgd", "fgsm"):
        raise AuditInputError(f"attack must be 'pgd' or 'fgsm', got {attack!r}")
    if isinstance(eps_list, (int, float)) or len(eps_list) == 0:
        raise AuditInputError(f"eps_list must be a non-empty sequence of eps values, got {eps_list!r}")
    eps_sorted = sorted({check_eps(e) for e in eps_list})
    prep = prepare(model, x, y, bounds=bounds, mask=mask, scale=scale, loss=loss, batch_size=batch_size, device=device)
    n = len(prep.x)
    cur_x = prep.x.clone()
    pred_clean = pred_adv = None
    standing = torch.arange(n)
    noise: NoiseBank | None = None
    rows: list[dict[str, float]] = []
    results: list[AttackResult] = []
    for e in eps_sorted:
        t0 = time.perf_counter()
        if attack == "fgsm":
            spec = make_spec("fgsm", e, norm=norm, steps=1, step_size=e, random_start=False, restarts=1, early_stop=True, seed=0)
        else:
            spec = make_spec(
                "pgd", e, norm=norm, steps=steps, step_size=step_size, random_start=random_start, restarts=restarts,
                early_stop=True, seed=seed,
            )
            if spec.random_start and noise is None:
                noise = NoiseBank(prep, spec.norm, spec.seed)
        attacked = len(standing)
        xa, pc, pa = run_attack(prep, spec, e, rows=standing, noise=noise)
        if pred_clean is None:
            pred_clean, pred_adv = pc.clone(), pc.clone()
        cur_x = cur_x.clone()
        cur_x[standing.to(cur_x.device)] = xa
        pred_adv = pred_adv.clone()
        pred_adv[standing] = pa
        standing = torch.nonzero(pred_adv == prep.y).squeeze(1)
        res = build_result(prep, spec, e, cur_x, pred_clean, pred_adv, time.perf_counter() - t0)
        results.append(res)
        rows.append({**res.summary(), "n_attacked": attacked, "duration_s": res.duration_s})
    table = pd.DataFrame(rows)
    table["n_attacked"] = table["n_attacked"].astype(np.int64)
    return RobustnessCurve(attack=attack, norm=results[0].norm, table=table, results=results)
