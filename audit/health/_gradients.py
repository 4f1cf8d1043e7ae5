"""Gradient health of a torch model: per-layer gradient norms, dead ReLUs, saturated sigmoid/tanh units.

One forward and backward pass of the loss on a seeded sample of the data, in eval mode (dropout
off, batch norm on its running statistics, so the model is not changed). Gradients come from
``torch.autograd.grad``, never ``.backward()``: nothing is written to the parameters' ``.grad``,
and ``requires_grad`` and train/eval mode are restored afterwards.

What is measured
----------------
- per parameterised module (a module with parameters of its own), in the order the forward pass
  first calls it: the L2 norm of the gradient of the loss over its parameters;
- ``first_last_norm_ratio``: gradient norm of the first layer / of the last;
- dead ReLU units: units (features, or channels for conv maps) of an ``nn.ReLU`` module whose
  output is never positive for any row (nor, for conv maps, any position) of the batch;
- saturated units: the share of ``nn.Sigmoid`` outputs below 0.01 or above 0.99 and of
  ``nn.Tanh`` outputs with ``|out| > 0.99``, over all rows and units. A model's final
  Sigmoid/Softmax output layer is left out (confident predictions are not saturation).

Activations are seen through forward hooks on modules, so functional calls (``torch.relu``,
``F.sigmoid`` inside ``forward``) are out of scope and are not counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit._batching import run_batched
from audit._inputs import to_numpy
from audit.errors import AuditInputError
from audit.backends import last_leaf, n_rows, rows
from audit.model import ModelAdapter, as_adapter, set_training, try_forward_hook

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class GradientHealthResult:
    """Gradient norms per layer and activation health of a torch model on one batch.

    Attributes
    ----------
    layers : DataFrame
        Index ``layer`` (module name), in forward order: ``type``, ``n_params``, ``grad_norm``,
        ``weight_norm``, ``relative`` (grad_norm / weight_norm), ``nonfinite`` (gradient entries
        that are NaN or infinite).
    activations : DataFrame
        One row per activation call: ``layer``, ``kind`` (relu/sigmoid/tanh), ``units``,
        ``dead_units`` and ``dead_fraction`` (ReLU), ``saturated_fraction`` (sigmoid/tanh).
    loss : float
        Mean loss on the batch.
    first_last_norm_ratio : float
        Gradient norm of the first layer / of the last (NaN when the last is 0 or not finite).
    max_grad_norm, min_grad_norm : float
        Largest / smallest finite per-layer gradient norm.
    dead_relu_fraction : float
        Dead ReLU units / all ReLU units (NaN without ``nn.ReLU`` modules).
    saturated_fraction : float
        Saturated sigmoid/tanh outputs / all their outputs (NaN without such modules).
    nonfinite : int
        NaN or infinite gradient entries (plus one when the loss itself is not finite).
    vanishing, exploding : bool
        The flags (see :func:`gradient_health`).
    n_rows : int
        Rows in the batch.
    notes : list of str
    """

    layers: pd.DataFrame
    activations: pd.DataFrame
    loss: float
    first_last_norm_ratio: float
    max_grad_norm: float
    min_grad_norm: float
    dead_relu_fraction: float
    saturated_fraction: float
    nonfinite: int
    vanishing: bool
    exploding: bool
    n_rows: int
    notes: list[str] = field(default_factory=list)


_ACT_KINDS: tuple[tuple[type[torch.nn.Module], str], ...] = (
    (torch.nn.ReLU, "relu"), (torch.nn.Sigmoid, "sigmoid"), (torch.nn.Tanh, "tanh"),
)


def _kind(m: torch.nn.Module) -> str | None:
    for cls, name in _ACT_KINDS:
        if type(m) is cls:
            return name
    return None


def _adapter(model: Any) -> ModelAdapter:
    return as_adapter(model, differentiable=True, need="gradient_health")


def _unit_view(out: torch.Tensor) -> torch.Tensor:
    """(n, units, ...) -> (units, n * positions); 1-D outputs are one unit per element."""
    if out.ndim == 1:
        return out.reshape(-1, 1)
    return out.detach().transpose(0, 1).reshape(out.shape[1], -1)


def gradient_health(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: LossFn | None = None,
    batch_size: int = 512,
    seed: int = 0,
    vanishing_ratio: float = 1e-3,
    vanishing_norm: float = 1e-7,
    exploding_norm: float = 1e3,
) -> GradientHealthResult:
    """Per-layer gradient norms, dead ReLUs and saturated units of a torch model on a seeded batch.

    Parameters
    ----------
    model : torch.nn.Module or ModelAdapter
        The model; logits come from :meth:`audit.model.ModelAdapter.logits` (a bare module is
        wrapped on the device of its parameters).
    x : tensor, array or DataFrame
        Model inputs (a DataFrame goes through the adapter's ``transform``).
    y : array-like
        Labels as class indices; a regressor's (``task="regression"`` on its adapter) target values.
    loss : callable, optional
        ``loss(output, y) -> scalar`` mean loss; default cross-entropy on the logits, and for a regressor the
        mean squared error of its predicted values divided by the batch's target variance (the MSE in units of
        the target's variance, so the norm thresholds mean the same for a target in euros or in millions).
    batch_size : int
        Rows in the seeded sample (all rows when there are fewer). Split further automatically
        on out-of-memory.
    seed : int
        Seed of the sample.
    vanishing_ratio, vanishing_norm : float
        ``vanishing`` is set when ``first_last_norm_ratio < vanishing_ratio``, or when the first
        layer's norm is below ``vanishing_norm`` while the loss is above 1e-4 (a model that fits
        the batch perfectly has tiny gradients for a good reason).
    exploding_norm : float
        ``exploding`` is set when any layer's norm exceeds it or any gradient is NaN/infinite.

    Returns
    -------
    GradientHealthResult

    Notes
    -----
    Vanishing and exploding gradients: Hochreiter (1991), Bengio et al. (1994); Glorot & Bengio,
    "Understanding the difficulty of training deep feedforward neural networks" (AISTATS 2010).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> r = gradient_health(net, torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> list(r.layers.index), r.vanishing, r.exploding
    (['0', '2'], False, False)
    """
    adapter, was_training = _adapter_keeping_mode(model)
    module = adapter.module
    regression = adapter.task == "regression"
    xt, yt = _batch(adapter, x, y, batch_size, seed, regression=regression)
    n = n_rows(xt)
    loss_fn: LossFn = loss or (_scaled_mse(yt) if regression else torch.nn.functional.cross_entropy)

    owned = [(name, m) for name, m in module.named_modules() if any(True for _ in m.parameters(recurse=False))]
    if not owned:
        raise AuditInputError("the model has no parameters; gradient health needs a trainable torch model")
    all_params = [p for _, m in owned for p in m.parameters(recurse=False)]
    last = last_leaf(module)
    skip_last = adapter.output == "proba" and last is not None and type(last) in (torch.nn.Sigmoid, torch.nn.Softmax)
    acts = [(name, m, _kind(m)) for name, m in module.named_modules() if _kind(m) and not (skip_last and m is last)]

    order: list[str] = []
    parts = _hooked_pass(adapter, owned, acts, all_params, xt, yt, loss_fn, order, was_training)
    grads, total_loss, act_stats = _merge_parts(parts, len(all_params))
    hooks_fired = bool(order)
    if not hooks_fired:
        # a torch.export program runs flattened (its submodules are never called) and a TorchScript module
        # takes no Python hooks: no call order was seen, so registration order stands in for it.
        order = [name for name, _ in owned]
    result = _summarise(owned, all_params, grads, order, act_stats, total_loss, n,
                        vanishing_ratio, vanishing_norm, exploding_norm)
    if not hooks_fired:
        result.notes[:] = [t for t in result.notes if not t.startswith("No nn.ReLU")]  # there may be some: unseen
        result.notes.append(
            "This model's layers are not called as Python modules (a torch.export program or a TorchScript module), so "
            "layers are listed in registration order and dead/saturated unit fractions could not be measured."
        )
    return result


def _adapter_keeping_mode(model: Any) -> tuple[ModelAdapter, bool]:
    """The differentiable adapter, and whether the module was in training mode (restored at the end)."""
    if isinstance(model, torch.nn.Module):
        was_training = model.training
    else:
        was_training = model.module.training if isinstance(model, ModelAdapter) and model.differentiable else False
    adapter = _adapter(model)
    if isinstance(model, torch.nn.Module) and was_training:
        set_training(adapter.module, True)  # ModelAdapter() put it in eval mode; restore before anything can fail
    return adapter, was_training


def _scaled_mse(yt: torch.Tensor) -> LossFn:
    """Mean squared error over the batch's target variance (1 when the variance is 0)."""
    var = float(yt.double().var(unbiased=False)) if len(yt) > 1 else 0.0
    scale = var if var > 0 else 1.0

    def loss(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean((values - target) ** 2) / scale

    return loss


def _batch(adapter: ModelAdapter, x: Any, y: Any, batch_size: int, seed: int,
           regression: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated inputs and labels (float targets for a regressor): a seeded sample of ``batch_size`` rows (in row
    order), on the model's device."""
    if int(batch_size) < 1:
        raise AuditInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(x, Mapping):  # named inputs (input_ids, attention_mask): every tensor keeps its type
        xt: Any = {k: torch.as_tensor(v) for k, v in x.items()}
    else:
        xt = adapter.to_tensor(x) if isinstance(x, pd.DataFrame) else torch.as_tensor(
            to_numpy(x) if not isinstance(x, torch.Tensor) else x)
    if isinstance(xt, torch.Tensor) and torch.is_floating_point(xt) and xt.dtype == torch.float64:
        # the model's own float type (a float64 network keeps its inputs; a float32 one gets float32)
        dtype = next((p.dtype for p in adapter.module.parameters() if p.is_floating_point()), torch.float32)
        xt = xt.to(dtype)
    yt = torch.as_tensor(to_numpy(y).reshape(-1).astype(np.float64 if regression else np.int64))
    if regression:  # the target in the model's float type
        floating = isinstance(xt, torch.Tensor) and torch.is_floating_point(xt)
        yt = yt.to(xt.dtype if floating else torch.float32)
    n_all = n_rows(xt)
    if len(yt) != n_all:
        raise AuditInputError(f"y has {len(yt)} rows but x has {n_all}; pass labels aligned with x")
    if n_all == 0:
        raise AuditInputError("x is empty (0 rows); pass at least one row")
    if n_all > batch_size:
        idx = np.sort(np.random.default_rng(seed).choice(n_all, size=int(batch_size), replace=False))
        xt, yt = _take(xt, idx), yt[torch.as_tensor(idx)]
    dev = adapter.device
    moved = {k: v.to(dev) for k, v in xt.items()} if isinstance(xt, dict) else xt.to(dev)
    return moved, yt.to(dev)


def _take(x: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a tensor or of every tensor of a mapping."""
    if isinstance(x, dict):
        return {k: _take(v, idx) for k, v in x.items()}
    return x[torch.as_tensor(idx, device=x.device)]


def _act_stat(out: torch.Tensor, kind: str) -> Any:
    """One activation call's statistic: which units fired (ReLU), or (saturated outputs, outputs)."""
    v = _unit_view(out)
    if kind == "relu":
        return (v > 0).any(dim=1).cpu()
    if kind == "sigmoid":
        return (int(((v < 0.01) | (v > 0.99)).sum()), v.numel())
    return (int((v.abs() > 0.99).sum()), v.numel())


def _hooked_pass(
    adapter: ModelAdapter,
    owned: list[tuple[str, torch.nn.Module]],
    acts: list[tuple[str, torch.nn.Module, str | None]],
    all_params: list[torch.Tensor],
    xt: torch.Tensor,
    yt: torch.Tensor,
    loss_fn: LossFn,
    order: list[str],
    was_training: bool,
) -> list[tuple[list[torch.Tensor | None], float, dict]]:
    """Forward and backward in eval mode with hooks, per batch part: (gradients, loss share, activation stats).

    ``order`` receives the parameterised modules in the order the forward pass first calls them.
    ``requires_grad``, the hooks and the train/eval mode are restored whatever happens.
    """
    module, n = adapter.module, n_rows(xt)
    saved_flags = [p.requires_grad for p in all_params]
    state: dict[str, Any] = {}
    handles = []

    def order_hook(name: str) -> Callable[..., None]:
        def hook(_m: torch.nn.Module, _i: Any, _o: Any) -> None:
            if name not in order:
                order.append(name)
        return hook

    def act_hook(name: str, kind: str) -> Callable[..., None]:
        def hook(_m: torch.nn.Module, _i: Any, out: Any) -> None:
            if not isinstance(out, torch.Tensor):
                return
            calls = state["calls"]
            k = calls.get(name, 0)
            calls[name] = k + 1
            state["acts"][(name, k, kind)] = _act_stat(out, kind)
        return hook

    def step(a: int, b: int) -> tuple[list[torch.Tensor | None], float, dict]:
        state["calls"], state["acts"] = {}, {}
        with torch.enable_grad():
            part = rows(xt, a, b)
            logits = adapter.values(part) if adapter.task == "regression" else adapter.logits(part)
            value = loss_fn(logits, yt[a:b]) * ((b - a) / n)
            grads = torch.autograd.grad(value, all_params, allow_unused=True)
        return [None if g is None else g.detach() for g in grads], float(value.detach().cpu()), state["acts"]

    try:
        for p in all_params:
            p.requires_grad_(True)
        set_training(module, False)
        handles += [h for name, m in owned if (h := try_forward_hook(m, order_hook(name))) is not None]
        handles += [h for name, m, kind in acts if (h := try_forward_hook(m, act_hook(name, kind))) is not None]
        parts, _ = run_batched(step, n, n)
    finally:
        for h in handles:
            h.remove()
        for p, flag in zip(all_params, saved_flags):
            p.requires_grad_(flag)
        set_training(module, was_training)
    return parts


def _merge_parts(parts: list[tuple[list[torch.Tensor | None], float, dict]],
                 n_params: int) -> tuple[list[torch.Tensor | None], float, dict[tuple[str, int, str], Any]]:
    """Add up the parts' gradients and losses; a unit fired if it fired in any part; saturation counts add."""
    grads: list[torch.Tensor | None] = [None] * n_params
    total_loss = 0.0
    act_stats: dict[tuple[str, int, str], Any] = {}
    for g_part, l_part, a_part in parts:
        total_loss += l_part
        for i, g in enumerate(g_part):
            if g is not None:
                grads[i] = g if grads[i] is None else grads[i] + g
        for key, stat in a_part.items():
            if key not in act_stats:
                act_stats[key] = stat
            elif key[2] == "relu":
                act_stats[key] = act_stats[key] | stat
            else:
                act_stats[key] = (act_stats[key][0] + stat[0], act_stats[key][1] + stat[1])
    return grads, total_loss, act_stats


def _summarise(
    owned: list[tuple[str, torch.nn.Module]],
    params: list[torch.Tensor],
    grads: list[torch.Tensor | None],
    order: list[str],
    act_stats: dict[tuple[str, int, str], Any],
    loss: float,
    n: int,
    vanishing_ratio: float,
    vanishing_norm: float,
    exploding_norm: float,
) -> GradientHealthResult:
    notes: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    i = 0
    for name, m in owned:
        ps = list(m.parameters(recurse=False))
        gs = grads[i : i + len(ps)]
        i += len(ps)
        if all(g is None for g in gs) or name not in order:
            continue
        sq, bad = 0.0, 0
        # norms in float64 on the CPU: MPS has no float64, and the sums do not depend on the device's reduction order
        for g in gs:
            if g is None:
                continue
            g64 = g.detach().cpu().double()
            bad += int((~torch.isfinite(g64)).sum())
            sq += float((g64 * g64).sum())
        w = math.sqrt(sum(float((p.detach().cpu().double() ** 2).sum()) for p in ps))
        gn = math.sqrt(sq) if bad == 0 else float("nan")
        rows[name or "(model)"] = {
            "type": type(m).__name__, "n_params": int(sum(p.numel() for p in ps)), "grad_norm": gn,
            "weight_norm": w, "relative": gn / w if w > 0 else float("nan"), "nonfinite": bad,
            "_order": order.index(name),
        }
    unused = [name for name, _ in owned if (name or "(model)") not in rows]
    if unused:
        notes.append(f"Layer(s) {unused[:5]} got no gradient (not used in the forward pass, or detached).")
    layers = pd.DataFrame.from_dict(rows, orient="index").sort_values("_order").drop(columns="_order")
    layers.index.name = "layer"
    nonfinite = int(layers["nonfinite"].sum()) + (0 if math.isfinite(loss) else 1)
    finite = layers["grad_norm"][np.isfinite(layers["grad_norm"])]
    first, lastn = layers["grad_norm"].iloc[0], layers["grad_norm"].iloc[-1]
    ratio = float(first / lastn) if np.isfinite(first) and np.isfinite(lastn) and lastn > 0 else float("nan")
    if len(layers) == 1:
        notes.append("The model has a single parameterised layer: the first/last ratio is 1 by definition.")
    max_norm = float(finite.max()) if len(finite) else float("nan")
    min_norm = float(finite.min()) if len(finite) else float("nan")

    act_rows = []
    dead = units = sat = total = 0
    for (name, k, kind), stat in act_stats.items():  # forward order
        row: dict[str, Any] = {"layer": name if k == 0 else f"{name}#{k}", "kind": kind}
        if kind == "relu":
            d = int((~stat).sum())
            row.update(units=int(stat.numel()), dead_units=d, dead_fraction=d / max(int(stat.numel()), 1),
                       saturated_fraction=np.nan)
            dead, units = dead + d, units + int(stat.numel())
        else:
            row.update(units=np.nan, dead_units=np.nan, dead_fraction=np.nan, saturated_fraction=stat[0] / max(stat[1], 1))
            sat, total = sat + stat[0], total + stat[1]
        act_rows.append(row)
    activations = pd.DataFrame(act_rows, columns=["layer", "kind", "units", "dead_units", "dead_fraction", "saturated_fraction"])
    dead_fraction = dead / units if units else float("nan")
    saturated = sat / total if total else float("nan")
    if not units and not total:
        notes.append(
            "No nn.ReLU, nn.Sigmoid or nn.Tanh hidden modules: dead and saturated units are not measured "
            "(functional calls such as torch.relu are not seen)."
        )

    vanishing = bool(
        (np.isfinite(ratio) and ratio < vanishing_ratio)
        or (np.isfinite(first) and first < vanishing_norm and math.isfinite(loss) and loss > 1e-4)
    )
    exploding = bool(nonfinite > 0 or (np.isfinite(max_norm) and max_norm > exploding_norm))
    if nonfinite:
        notes.append(f"{nonfinite} gradient entries (or the loss) are NaN or infinite.")
    return GradientHealthResult(
        layers=layers, activations=activations, loss=loss, first_last_norm_ratio=ratio, max_grad_norm=max_norm,
        min_grad_norm=min_norm, dead_relu_fraction=dead_fraction, saturated_fraction=saturated, nonfinite=nonfinite,
        vanishing=vanishing, exploding=exploding, n_rows=n, notes=notes,
    )
