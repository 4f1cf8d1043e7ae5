"""Permutation SHAP with antithetic pairs, a standard error per value, and a stopping rule.

The interventional Shapley value of feature ``j`` for row ``x`` against a background ``B`` with
weights ``w`` is ``phi_j(x) = sum_b w_b phi_j(x; b)``, ``phi_j(x; b)`` being the Shapley value of
the game ``v_b(S) = f(x_S, b_rest)``. For one game, walking a random order of the features and
switching them from ``b`` to ``x`` one at a time credits each feature with the change it causes;
the average over uniformly random orders is ``phi(x; b)`` (Shapley's formula, written over orders).

One *round* for a row draws, for every background row ``b``, a random order of the features where
``x`` and ``b`` differ (the others are null players of ``v_b``: they change nothing and get 0) and
walks it forwards and backwards (an antithetic pair: the reverse order credits each feature with the
coalitions the forward order did not, which cancels much of the order-to-order variance; Mitchell et
al. 2022, https://jmlr.org/papers/v23/21-0439.html). The round's estimate is the ``w``-weighted
average over ``b``. Every round's values add up to ``f(x) - sum_b w_b f(b)`` exactly, so the
estimate is additive whatever the number of rounds, and rounds are independent and identically
distributed, so the standard error of their mean is their standard deviation over ``sqrt(rounds)``.
A round for a row costs ``2 * sum_b (k_b - 1)`` model rows, ``k_b`` being the number of features where
``x`` and ``b`` differ (``2 (d - 1) B`` on continuous data; pairs differing on at most 2 features are
exact after one antithetic pair).

Rounds go on, row by row, until the row's largest standard error (over features and outputs) is at
most ``target_se`` times the spread of the model output (its weighted standard deviation over the
background), or the model-row budget is spent (the rows furthest from the target get the last
rounds). Each row draws from its own generator seeded by ``(seed, row)``, so its values do not
depend on which other rows are explained with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from audit.errors import AuditInputError
from audit.explain._exact import differing
from audit.space import ModelSpace

#: default stopping target: the largest standard error of a row's values at most 1% of the output's
#: spread (weighted standard deviation of the model output over the background). Measured on a
#: 30-input MLP (BENCHMARKS.md, bench/explain.py): correlation 0.999 with a converged reference.
TARGET_SE = 0.01
#: rounds every row gets before the stopping rule is consulted: a standard error from 2-3 rounds
#: (1-2 degrees of freedom) is too noisy to stop on; never fewer than 2 (one round gives no error)
MIN_ROUNDS = 4
#: hard cap on rounds per row, for an unbounded budget and a target of 0
MAX_ROUNDS = 10_000

Stop = str  # "target" | "budget" | "rounds" (MAX_ROUNDS or max_rounds reached)


@dataclass
class PermutationEstimate:
    """Values, standard errors and the bookkeeping of one :func:`permutation_shapley` call.

    Attributes
    ----------
    values, standard_errors : ndarray, shape (n, d, K)
        Estimated Shapley values and the standard error of each (0 where every background row
        differs from the row on at most 2 features: one antithetic pair is then exact).
    base : ndarray, shape (K,)
        Weighted mean model output over the background.
    fx : ndarray, shape (n, K)
        Model output on the rows.
    rounds : ndarray, shape (n,)
        Rounds (one antithetic pair per background row) each row got.
    model_rows : int
        Model rows evaluated, including the rows and the background themselves.
    spread : float
        The output scale ``target_se`` is relative to: the largest (over outputs) weighted standard
        deviation of the model output over the background.
    target_se : float
    stopped_by : {"target", "budget", "rounds"}
        ``"target"``: every row reached ``target_se``; ``"budget"``: the model-row budget ran out
        first; ``"rounds"``: the cap on rounds was reached first.
    budget : float
        The model-row budget it was given (exceeded only by the 2 rounds a standard error needs).
    """

    values: np.ndarray
    standard_errors: np.ndarray
    base: np.ndarray
    fx: np.ndarray
    rounds: np.ndarray
    model_rows: int
    spread: float
    target_se: float
    stopped_by: Stop
    budget: float = math.inf

    @property
    def max_standard_error(self) -> float:
        """Largest standard error over rows, features and outputs."""
        return float(self.standard_errors.max()) if self.standard_errors.size else 0.0

    def describe(self) -> str:
        """One sentence for the report's notes: cost, largest error, and what stopped the sampler."""
        rel = self.max_standard_error / self.spread
        why = {
            "target": f"every row reached the target ({self.target_se:.1%} of the spread)",
            "budget": f"the model-row budget ran out before the target ({self.target_se:.1%} of the spread)",
            "rounds": f"the cap on rounds was reached before the target ({self.target_se:.1%} of the spread)",
        }[self.stopped_by]
        if self.model_rows > self.budget:
            why = (f"the 2 rounds a standard error needs took {self.model_rows:,} model rows, over the budget of "
                   f"{self.budget:,.0f} (explain fewer rows or a smaller background, or raise the budget)")
        lo, hi = int(self.rounds.min()), int(self.rounds.max())
        rounds = f"{lo}" if lo == hi else f"{lo}-{hi}"
        return (
            f"permutation values are estimates: {rounds} round(s) of antithetic permutation pairs per row "
            f"({self.model_rows:,} model rows); largest standard error {self.max_standard_error:.3g}, "
            f"{rel:.2%} of the output spread {self.spread:.3g}; stopped because {why}."
        )


def permutation_shapley(
    space: ModelSpace,
    x: torch.Tensor,
    bg: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    seed: int = 0,
    target_se: float = TARGET_SE,
    max_model_rows: float = math.inf,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    max_rows: int = 1 << 17,
) -> PermutationEstimate:
    """Interventional Shapley values by antithetic permutation sampling, to a target standard error.

    Parameters
    ----------
    space : ModelSpace
        The model as a function of the model-input matrix; every model call goes through it, in
        batches of at most ``max_rows`` rows.
    x : Tensor, shape (n, d)
        Rows to explain, in model-input space.
    bg : Tensor, shape (B, d)
        Background rows.
    weights : Tensor, shape (B,), optional
        Background weights summing to 1 (k-means summaries); uniform by default.
    seed : int
        Row ``i`` draws its orders from ``numpy.random.default_rng([seed, i])``.
    target_se : float
        Stop a row once its largest standard error is at most ``target_se`` times the output's
        spread (0: use the whole budget).
    max_model_rows : float
        Model-row budget for the rounds (the rows and background themselves, ``n + B`` rows, are
        evaluated first and counted too). Two rounds, the fewest that give a standard error, are run
        even when they do not fit; ``stopped_by`` is then ``"budget"``.
    min_rounds : int
        Rounds before the stopping rule is consulted (at least 2), budget permitting.
    max_rounds : int
        Most rounds a row gets.
    max_rows : int
        Model rows per batch.

    Returns
    -------
    PermutationEstimate

    Examples
    --------
    >>> import torch
    >>> from audit.model import ModelAdapter
    >>> from audit.space import build_space
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> space = build_space(ModelAdapter(net), torch.zeros(1, 6), output="logit")
    >>> est = permutation_shapley(space, torch.randn(3, 6), torch.randn(10, 6), target_se=0.02)
    >>> est.values.shape, est.stopped_by
    ((3, 6, 2), 'target')
    >>> bool(abs(est.values.sum(axis=1) + est.base - est.fx).max() < 1e-9)  # additive in every round
    True
    """
    if not (target_se >= 0 and math.isfinite(target_se)):
        raise AuditInputError(f"target_se must be a finite number >= 0 (relative to the output's spread), got {target_se!r}")
    if not max_model_rows > 0:
        raise AuditInputError(f"max_model_rows must be positive, got {max_model_rows!r}")
    if int(min_rounds) < 2 or int(max_rounds) < int(min_rounds):
        raise AuditInputError(f"need 2 <= min_rounds <= max_rounds, got min_rounds={min_rounds}, max_rounds={max_rounds}")
    dev = space.device
    x = x.to(dev, space.dtype)
    bg = bg.to(dev, space.dtype)
    n, d = x.shape
    B = bg.shape[0]
    w = torch.full((B,), 1.0 / B, dtype=torch.float64) if weights is None else weights.detach().cpu().double()
    rows0 = space.n_rows
    fx = space(x).cpu()
    fb = space(bg).cpu()
    K = fx.shape[1]
    base = (w[:, None] * fb).sum(dim=0)
    spread = _spread(fx, fb, w, base)

    # differing features per (row, background) pair; the mask itself is rebuilt per round chunk so the
    # (n, B, d) array never has to be held at once
    k = torch.cat([differing(x[a : a + 4096], bg).sum(dim=2).cpu() for a in range(0, n, 4096)])  # (n, B)
    cost = (2 * (k - 1).clamp(min=0)).sum(dim=1).numpy().astype(np.int64)  # model rows per round per row
    rngs = [np.random.default_rng([seed, i]) for i in range(n)]
    mean = torch.zeros(n, d, K, dtype=torch.float64)
    m2 = torch.zeros(n, d, K, dtype=torch.float64)
    T = np.zeros(n, dtype=np.int64)
    budget = float(max_model_rows) - (space.n_rows - rows0)
    used = 0
    while True:
        rel = _relative_se(m2, T, spread)
        want = np.flatnonzero(((T < min_rounds) | (rel > target_se)) & (T < max_rounds))
        if len(want) == 0:
            stopped: Stop = "target" if (rel <= target_se).all() else "rounds"
            break
        # rows short of the 2 rounds a standard error needs go first (they run even over budget: without
        # them there is no error at all), then the rows furthest from the target
        want = want[np.lexsort((want, -rel[want], T[want] >= 2))]
        mandatory = T[want] < 2
        left = budget - used - float(cost[want[mandatory]].sum())
        take = mandatory | (np.cumsum(np.where(mandatory, 0, cost[want])) <= left)
        if not take.any():
            stopped = "budget"
            break
        rows = np.sort(want[take])
        est = _round(space, x, bg, w, fx, fb, rows, k, rngs, max_rows)
        used += int(cost[rows].sum())
        T[rows] += 1
        t = torch.as_tensor(T[rows], dtype=torch.float64)[:, None, None]
        delta = est - mean[rows]  # Welford: running mean and sum of squared deviations, per entry
        mean[rows] += delta / t
        m2[rows] += delta * (est - mean[rows])
    se = torch.sqrt(m2 / torch.as_tensor(np.maximum(T * (T - 1), 1), dtype=torch.float64)[:, None, None])
    return PermutationEstimate(
        values=mean.numpy(), standard_errors=se.numpy(), base=base.numpy(), fx=fx.numpy(), rounds=T,
        model_rows=space.n_rows - rows0, spread=spread, target_se=float(target_se), stopped_by=stopped,
        budget=float(max_model_rows),
    )


def _spread(fx: torch.Tensor, fb: torch.Tensor, w: torch.Tensor, base: torch.Tensor) -> float:
    """Largest weighted standard deviation of the outputs over the background (the scale of the target).

    A model constant on the background falls back to the rows' largest |f(x) - base|, and to 1 when
    that is 0 too (then every value is exactly 0 and so is every standard error).
    """
    sd = torch.sqrt((w[:, None] * (fb - base) ** 2).sum(dim=0)).max().item()
    if sd > 0:
        return float(sd)
    dev = (fx - base).abs().max().item() if fx.numel() else 0.0
    return float(dev) if dev > 0 else 1.0


def _relative_se(m2: torch.Tensor, T: np.ndarray, spread: float) -> np.ndarray:
    """Per row: largest standard error over features and outputs, over ``spread`` (inf below 2 rounds)."""
    var = m2.reshape(m2.shape[0], -1).max(dim=1).values.numpy() / np.maximum(T * (T - 1), 1)
    return np.where(T >= 2, np.sqrt(var) / spread, np.inf)


def _round(
    space: ModelSpace,
    x: torch.Tensor,
    bg: torch.Tensor,
    w: torch.Tensor,
    fx: torch.Tensor,
    fb: torch.Tensor,
    rows: np.ndarray,
    k: torch.Tensor,
    rngs: list[np.random.Generator],
    max_rows: int,
) -> torch.Tensor:
    """One round for each of ``rows``: ``(len(rows), d, K)`` weighted mean over the background of the
    average of a random order's and its reverse's marginal contributions.

    Rows are processed in chunks of at most ``max_rows`` model rows (one chunk holds at least one row).
    """
    n_rows_cost = (2 * (k[rows] - 1).clamp(min=0)).sum(dim=1).numpy()
    out = []
    a = 0
    while a < len(rows):
        b = a + 1
        total = n_rows_cost[a]
        # bounded in model rows and in the (pairs, d, K) contribution arrays a chunk holds
        per_row = bg.shape[0] * (x.shape[1] + 1) * fx.shape[1]
        while b < len(rows) and total + n_rows_cost[b] <= max_rows and (b - a + 1) * per_row <= 1 << 23:
            total += n_rows_cost[b]
            b += 1
        # each row draws its own keys, so its orders do not depend on the rows it is batched with
        keys = np.stack([rngs[i].random((bg.shape[0], x.shape[1])) for i in rows[a:b]])
        out.append(_chunk(space, x, bg, w, fx, fb, rows[a:b], torch.from_numpy(keys)))
        a = b
    return torch.cat(out)


def _chunk(space, x, bg, w, fx, fb, rows, keys) -> torch.Tensor:  # noqa: ANN001 - private, see _round
    R, B, d = keys.shape
    K = fx.shape[1]
    dev = x.device
    ri = torch.as_tensor(rows).repeat_interleave(B)  # (P,) row of each (row, background) pair
    bi = torch.arange(B).repeat(R)  # (P,) background row of each pair
    diff = differing(x[torch.as_tensor(rows, device=dev)], bg).reshape(R * B, d).cpu()  # (P, d)
    kk = diff.sum(dim=1)
    # a random order of each pair's differing features, the null players after them: the features are
    # sorted by uniform keys, +2 for the null players (which x and b share, so switching them is a no-op)
    order = torch.argsort(keys.reshape(R * B, d) + 2.0 * (~diff), dim=1)  # (P, d): position -> feature
    rank = torch.argsort(order, dim=1)  # feature -> position
    steps = (kk - 1).clamp(min=0)  # coalitions strictly between b (step 0) and x (step k) to evaluate
    P = R * B
    pp = torch.arange(P).repeat_interleave(steps)
    ss = torch.arange(int(steps.sum())) - (torch.cumsum(steps, 0) - steps).repeat_interleave(steps) + 1
    # forward: the first s features of the order come from x; reverse: the last s of the k differing ones
    fwd = rank[pp] < ss[:, None]
    rev = rank[pp] >= (kk[pp] - ss)[:, None]
    xr, br = x[ri[pp].to(dev)], bg[bi[pp].to(dev)]
    Z = torch.cat([torch.where(fwd.to(dev), xr, br), torch.where(rev.to(dev), xr, br)])
    vals = space(Z).cpu() if len(Z) else torch.zeros(0, K, dtype=torch.float64)
    m = len(pp)
    # value after s switched features, s = 0..d: f(b) at 0, f(x) from k on (nothing changes after k)
    after = torch.arange(d + 1)[None, :] >= kk[:, None]  # (P, d+1)
    v_fwd = torch.where(after[..., None], fx[ri][:, None, :], fb[bi][:, None, :]).clone()  # (P, d+1, K)
    v_rev = v_fwd.clone()
    v_fwd[pp, ss] = vals[:m]
    v_rev[pp, ss] = vals[m:]
    # step s (1-based) credits the order's s-th feature forwards, the (k-s+1)-th backwards; after k the
    # deltas are 0 and go to null players
    pos = torch.arange(d)[None, :].expand(P, d)
    rev_pos = torch.where(pos < kk[:, None], kk[:, None] - 1 - pos, pos)
    contrib = torch.zeros(P, d, K, dtype=torch.float64)
    contrib.scatter_add_(1, order[..., None].expand(P, d, K), torch.diff(v_fwd, dim=1))
    contrib.scatter_add_(1, order.gather(1, rev_pos)[..., None].expand(P, d, K), torch.diff(v_rev, dim=1))
    # k = 1 pairs need no model call: the lone feature gets f(x) - f(b) both ways (the scatter above
    # already did that from v's endpoints)
    pair_w = (0.5 * w[bi]).reshape(R, B, 1, 1)
    return (contrib.reshape(R, B, d, K) * pair_w).sum(dim=1)
