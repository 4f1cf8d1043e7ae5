"""The batched projected-gradient loop behind FGSM, PGD and the epsilon sweep.

One loop serves every attack: FGSM is one step of size ``eps`` from the clean input, PGD is
``steps`` steps from a (seeded) random start, repeated ``restarts`` times. Rows that the model
already misclassifies are fooled at step 0; with ``early_stop`` each row leaves the batch as soon as
it is fooled (keeping that first fooling input), so later steps only pay for rows still standing.

Perturbations live in "scaled units": feature ``j`` may move by ``eps * scale[j]`` (L-inf) or the
vector ``delta / scale`` must have L2 norm ``<= eps``. ``scale`` carries the mask (0 = frozen), so
frozen features never move. Bounds clip after every step, and the clean input always stays
inside the allowed set, so an attack never has to move a row that is already out of bounds.

A missing cell (NaN, for a model that takes missing values) is never moved and never enters the
step arithmetic: the loop works on inputs with those cells set to 0, and the model gets them back as
NaN (through ``torch.where``, so their gradient is exactly 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audit._batching import run_batched
from audit.robustness._setup import Prepared, frozen


@dataclass(frozen=True)
class Spec:
    """How to attack: norm, number and size of steps, random start, restarts, early stop, seed."""

    attack: str
    norm: str
    steps: int
    step_size: float
    random_start: bool
    restarts: int
    early_stop: bool
    seed: int


class NoiseBank:
    """Seeded random starts in the unit ball, drawn once per restart for every row of ``x``.

    Drawing for all rows (and then indexing) makes a row's start independent of batch sizes and of
    which other rows are attacked, so a sweep over a subset of rows matches separate attacks.
    """

    def __init__(self, prep: Prepared, norm: str, seed: int) -> None:
        self.prep, self.norm, self.seed = prep, norm, seed
        self._cache: dict[int, torch.Tensor] = {}

    def unit(self, restart: int, rows: torch.Tensor) -> torch.Tensor:
        if restart not in self._cache:
            x, s = self.prep.x, self.prep.scale
            gen = torch.Generator().manual_seed((int(self.seed) * 1_000_003 + restart) % (2**63 - 1))
            if self.norm == "linf":
                u = torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1
            else:
                g = torch.randn(x.shape, generator=gen, dtype=x.dtype)
                free = torch.ones_like(g[:1]) if s is None else (s > 0).to(g.dtype).cpu()
                g = g * free
                d = max(1, int(free.sum()))
                nrm = g.flatten(1).norm(dim=1).clamp_min(1e-12)
                r = torch.rand(len(x), generator=gen, dtype=x.dtype) ** (1.0 / d)
                u = g * (r / nrm).view(-1, *([1] * (x.ndim - 1)))
            self._cache[restart] = u
        return self._cache[restart][rows.cpu()]


def _rows_view(t: torch.Tensor) -> tuple[int, ...]:
    return (-1,) + (1,) * (t.ndim - 1)


def _l2_project(delta: torch.Tensor, eps: float, s: torch.Tensor | None) -> torch.Tensor:
    u = delta if s is None else delta / torch.where(s > 0, s, torch.ones_like(s))
    nrm = u.flatten(1).norm(dim=1).clamp_min(1e-30)
    factor = (eps / nrm).clamp(max=1.0)
    return delta * factor.view(_rows_view(delta))


class _Batch:
    """State of one batch of rows being attacked at one ``eps``."""

    def __init__(self, prep: Prepared, spec: Spec, eps: float, rows: torch.Tensor) -> None:
        dev = prep.device
        self.prep, self.spec, self.eps = prep, spec, eps
        self.rows = rows
        a, b = int(rows[0]), int(rows[-1]) + 1
        if b - a == len(rows) and bool((rows == torch.arange(a, b)).all()):  # a contiguous block: no gather
            self.x0, self.y = prep.x[a:b].to(dev), prep.y[a:b].to(dev)
        else:
            self.x0 = prep.x[rows.to(prep.x.device)].to(dev)
            self.y = prep.y[rows].to(dev)
        self.missing = (torch.isnan(self.x0) if self.x0.is_floating_point()
                        else torch.zeros_like(self.x0, dtype=torch.bool))
        self.any_missing = bool(self.missing.any())
        if self.any_missing:
            self.x0 = torch.where(self.missing, torch.zeros_like(self.x0), self.x0)
        s = prep.scale
        lo, hi = prep.lo, prep.hi
        if spec.norm == "linf":
            rad = eps if s is None else eps * s
            lo = self.x0 - rad if lo is None else torch.maximum(self.x0 - rad, lo)
            hi = self.x0 + rad if hi is None else torch.minimum(self.x0 + rad, hi)
        # the clean input always lies inside the allowed set
        self.lo = None if lo is None else torch.minimum(lo.expand_as(self.x0), self.x0)
        self.hi = None if hi is None else torch.maximum(hi.expand_as(self.x0), self.x0)

    def logits(self, x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """The model's logits on ``x`` with its missing cells (``missing``) given back as NaN."""
        if self.any_missing:
            x = torch.where(missing, torch.full_like(x, torch.nan), x)
        return self.prep.logits(x)

    def clip(self, x: torch.Tensor, lo: torch.Tensor | None, hi: torch.Tensor | None) -> torch.Tensor:
        if lo is not None or hi is not None:
            x = torch.clamp(x, min=lo, max=hi)
        return x

    def step(self, x: torch.Tensor, g: torch.Tensor, x0: torch.Tensor, lo, hi) -> torch.Tensor:  # noqa: ANN001
        a, s = self.spec.step_size, self.prep.scale
        if self.spec.norm == "linf":
            d = torch.sign(g) if s is None else torch.sign(g) * s
            return self.clip(x.add_(d, alpha=a), lo, hi)
        gu = g if s is None else g * s
        nrm = gu.flatten(1).norm(dim=1).clamp_min(1e-30).view(_rows_view(gu))
        d = gu / nrm if s is None else s * gu / nrm
        delta = _l2_project(x.add_(d, alpha=a) - x0, self.eps, s)
        return self.clip(x0 + delta, lo, hi)

    def start(self, x0: torch.Tensor, unit: torch.Tensor, lo, hi) -> torch.Tensor:  # noqa: ANN001
        s = self.prep.scale
        delta = self.eps * (unit if s is None else unit * s)
        if self.spec.norm == "l2":
            delta = _l2_project(delta, self.eps, s)
        return self.clip(x0 + delta, lo, hi)

    def run(self, noise: NoiseBank | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attack the batch; returns ``(x_adv, pred_clean, pred_adv)`` on the device."""
        prep, spec = self.prep, self.spec
        nb = len(self.rows)
        dev = self.x0.device
        res_x = self.x0.clone()
        res_pred = torch.empty(nb, dtype=torch.long, device=dev)
        res_loss = torch.full((nb,), -torch.inf, dtype=self.x0.dtype, device=dev)
        res_fooled = torch.zeros(nb, dtype=torch.bool, device=dev)
        clean_pred: torch.Tensor | None = None
        active = torch.arange(nb, device=dev)
        if spec.random_start:
            with torch.no_grad():
                clean_pred = self.logits(self.x0, self.missing).argmax(1)
            if spec.early_stop:
                wrong = clean_pred != self.y
                res_pred[wrong] = clean_pred[wrong]
                res_fooled |= wrong
                active = (~wrong).nonzero().squeeze(1)
        for r in range(spec.restarts if spec.random_start else 1):
            idx = active[~res_fooled[active]] if spec.early_stop else active
            if len(idx) == 0:
                break
            x0, yy, miss = self.x0[idx], self.y[idx], self.missing[idx]
            lo = None if self.lo is None else self.lo[idx]
            hi = None if self.hi is None else self.hi[idx]
            if spec.random_start:  # a missing cell takes no part of the random start (nor of its L2 budget)
                unit = noise.unit(r, self.rows[idx.cpu()]).to(dev)
                cur = self.start(x0, torch.where(miss, torch.zeros_like(unit), unit), lo, hi)
            else:
                cur = x0.clone()
            pred = row_loss = None
            for t in range(spec.steps + 1):
                last = t == spec.steps
                cur = cur.detach().requires_grad_(not last)
                with torch.set_grad_enabled(not last):
                    logits = self.logits(cur, miss)
                keep = None
                if not (last or spec.early_stop or clean_pred is None):
                    (g,) = torch.autograd.grad(prep.loss(logits, yy).sum(), cur)
                    cur = self.step(cur.detach(), g, x0, lo, hi)
                    continue
                pred = logits.detach().argmax(1)
                if clean_pred is None:  # no random start: step 0 is the clean input
                    clean_pred = pred.clone()
                if spec.early_stop:
                    fooled = pred != yy
                    if bool(fooled.any()):
                        fi = idx[fooled]
                        res_x[fi] = cur.detach()[fooled]
                        res_pred[fi] = pred[fooled]
                        res_fooled[fi] = True
                        keep = ~fooled
                        idx, x0, yy, pred, miss = idx[keep], x0[keep], yy[keep], pred[keep], miss[keep]
                        lo = None if lo is None else lo[keep]
                        hi = None if hi is None else hi[keep]
                        if len(idx) == 0:
                            break
                lg = logits if keep is None else logits[keep]
                if last:
                    with torch.no_grad():
                        row_loss = prep.loss(lg, yy)
                    cur = cur.detach() if keep is None else cur.detach()[keep]
                    break
                (g,) = torch.autograd.grad(prep.loss(lg, yy).sum(), cur)
                c = cur.detach()
                if keep is not None:
                    g, c = g[keep], c[keep]
                cur = self.step(c, g, x0, lo, hi)
            if len(idx) and row_loss is not None:
                now_fooled = pred != yy
                upd = ~res_fooled[idx] & (now_fooled | (row_loss > res_loss[idx]))
                ui = idx[upd]
                res_x[ui] = cur[upd]
                res_pred[ui] = pred[upd]
                res_loss[ui] = row_loss[upd]
                res_fooled[ui] = now_fooled[upd]
        assert clean_pred is not None
        if prep.scale is not None:  # frozen features: exactly the clean values
            res_x = torch.where(prep.scale == 0, self.x0, res_x)
        if self.any_missing:  # missing cells: exactly the clean NaN
            res_x = torch.where(self.missing, torch.full_like(res_x, torch.nan), res_x)
        return res_x, clean_pred, res_pred


def run_attack(
    prep: Prepared, spec: Spec, eps: float, rows: torch.Tensor | None = None, noise: NoiseBank | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attack ``rows`` of ``prep.x`` (all rows by default) in batches, halving the batch on out-of-memory.

    Returns ``(x_adv, pred_clean, pred_adv)`` for those rows: ``x_adv`` on the inputs' device,
    predictions as CPU long tensors. ``prep.batch_size`` is updated to the size that fit.
    """
    if rows is None:
        rows = torch.arange(len(prep.x))
    rows = rows.cpu()
    if eps == 0:  # nothing can move: one forward gives clean == adversarial predictions
        spec = Spec(spec.attack, spec.norm, 0, 0.0, False, 1, spec.early_stop, spec.seed)
    if spec.random_start and noise is None:
        noise = NoiseBank(prep, spec.norm, spec.seed)
    n = len(rows)
    out_x = torch.empty((n, *prep.x.shape[1:]), dtype=prep.x.dtype, device=prep.x.device)
    out_clean = torch.empty(n, dtype=torch.long)
    out_adv = torch.empty(n, dtype=torch.long)

    def batch(a: int, b: int) -> None:
        xa, pc, pa = _Batch(prep, spec, eps, rows[a:b]).run(noise)
        out_x[a:b] = xa.to(out_x.device)
        out_clean[a:b] = pc.cpu()
        out_adv[a:b] = pa.cpu()

    if n:
        with frozen(prep.adapter.module):
            _, prep.batch_size = run_batched(batch, n, prep.batch_size)
    return out_x, out_clean, out_adv
