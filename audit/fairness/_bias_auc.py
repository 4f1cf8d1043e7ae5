"""Unintended bias of a scorer against identity groups: subgroup, BPSN and BNSP AUCs (Borkan et al., 2019).

Borkan, Dixon, Sorensen, Thain and Vasserman, "Nuanced Metrics for Measuring Unintended Bias with Real Data for
Text Classification" (WWW '19 companion, https://arxiv.org/abs/1903.04561). For each identity group ``S`` (the
rows that mention it; a row can be in several groups) and its background (every other row):

- ``subgroup_auc``: the AUC on ``S`` alone (low: the model separates the classes poorly within the group);
- ``bpsn_auc`` (background positive, subgroup negative): the AUC on the background's positives and the group's
  negatives (low: the group's negatives score higher than the background's positives, i.e. false positives
  for mentioning the group);
- ``bnsp_auc`` (background negative, subgroup positive): the AUC on the background's negatives and the group's
  positives (low: the group's positives score lower, i.e. false negatives).

An AUC is undefined (NaN, with a note) when its set has no positives or no negatives. The generalized power
mean ``M_p = (mean_g AUC_g^p)^(1/p)`` with ``p = -5`` (the Jigsaw Unintended Bias competition's) summarises each
over the groups with ``min_group_size`` rows or more and a defined AUC; a negative ``p`` weighs the worst
groups most.

Intervals are bootstrap percentile intervals: the rows are resampled jointly (multinomial counts of
(group membership, label, score bin) cells, :func:`audit.stats.score_bins` with at most :data:`MAX_BINS` bins,
exact below), so every group's AUCs and the power means come from the same resamples; the resampled AUCs are
shifted by (exact - binned AUC) so they are centred like the exact estimate, as :func:`audit.stats.bootstrap_auc`
users do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit._inputs import LENGTH, to_numpy
from audit.errors import AuditInputError
from audit.fairness._inputs import binary_labels, scores
from audit.stats import auc_from_bins, percentile_interval, score_bins

#: the three AUCs per identity group
BIAS_AUC_METRICS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
#: score bins the bootstrap resamples on (exact with at most this many distinct scores)
MAX_BINS = 512
#: resamples drawn at once (bounds memory at CHUNK x cells)
CHUNK = 100
BAD_GROUPS = ("groups must be a dict of group name -> boolean mask (one value per row) or a DataFrame of boolean "
              "columns, e.g. identity_groups(texts); {problem}")
_WHAT = {"subgroup_auc": ("subgroup positives", "subgroup negatives"),
         "bpsn_auc": ("background positives", "subgroup negatives"),
         "bnsp_auc": ("subgroup positives", "background negatives")}


@dataclass
class BiasAUCResult:
    """Subgroup, BPSN and BNSP AUCs per identity group, and their power means over groups.

    Attributes
    ----------
    aucs : DataFrame
        Index ``(group, metric)`` (metric in :data:`BIAS_AUC_METRICS`): ``auc``, ``low``, ``high`` (bootstrap
        percentile interval), ``n_pos`` / ``n_neg`` (the positives and negatives of the AUC's set), ``small``
        (the group has fewer than ``min_group_size`` rows) and ``note`` (why an AUC is undefined, else "").
    groups : DataFrame
        Index ``group``: ``n``, ``n_pos``, ``n_neg``, ``small``.
    summary : DataFrame
        Index ``metric``: ``overall_auc`` (every row), ``power_mean_<m>`` (over the groups that are not small and
        have a defined AUC) and ``min_<m>`` (the lowest of those groups, in ``group``, with that group's own
        interval) for each ``m`` in :data:`BIAS_AUC_METRICS`; columns ``value``, ``low``, ``high``, ``group``,
        ``n_groups`` (``group`` is missing on the other rows).
    notes : list of str
    confidence, power : float
    n_boot, min_group_size : int
    """

    aucs: pd.DataFrame
    groups: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.95
    power: float = -5.0
    n_boot: int = 0
    min_group_size: int = 30


def group_masks(groups: Any, n: int) -> tuple[list[str], np.ndarray]:
    """Group names and an ``(n, G)`` bool matrix from a dict of masks or a DataFrame of boolean columns."""
    if isinstance(groups, pd.DataFrame):
        items = [(str(c), groups[c].to_numpy()) for c in groups.columns]
    elif isinstance(groups, dict):
        items = [(str(k), to_numpy(v)) for k, v in groups.items()]
    else:
        raise AuditInputError(BAD_GROUPS.format(problem=f"got {type(groups).__name__}"))
    if not items:
        raise AuditInputError(BAD_GROUPS.format(problem="got no groups"))
    cols = []
    for name, v in items:
        v = np.asarray(v).reshape(-1)
        if len(v) != n:
            raise AuditInputError(LENGTH.format(arg=f"groups[{name!r}]", got=len(v), ref="y_true", expected=n))
        if v.dtype != bool:
            try:
                ok = bool(np.isin(v, [0, 1]).all()) and v.dtype.kind in "iuf"
            except TypeError:
                ok = False
            if not ok:
                raise AuditInputError(BAD_GROUPS.format(problem=f"group {name!r} holds values other than "
                                                                f"True/False ({v.dtype})"))
        cols.append(v.astype(bool))
    return [name for name, _ in items], np.stack(cols, axis=1)


def _sets(pos: np.ndarray, neg: np.ndarray, pos_s: np.ndarray, neg_s: np.ndarray) -> dict[str, tuple]:
    """(positives, negatives) per bin of each metric's set, from every row's and the group's counts per bin."""
    return {"subgroup_auc": (pos_s, neg_s), "bpsn_auc": (pos - pos_s, neg_s), "bnsp_auc": (pos_s, neg - neg_s)}


def _by_bin(counts: np.ndarray, cells: np.ndarray, cell_bin: np.ndarray, n_bins: int) -> np.ndarray:
    """Sum of ``counts[..., cells]`` per score bin (``cells`` sorted by bin), along the last axis."""
    out = np.zeros((*counts.shape[:-1], n_bins))
    if len(cells):
        b = cell_bin[cells]
        starts = np.r_[0, np.flatnonzero(b[1:] != b[:-1]) + 1]
        out[..., b[starts]] = np.add.reduceat(counts[..., cells], starts, axis=-1)
    return out


def _power_mean(a: np.ndarray, p: float) -> np.ndarray:
    """Generalized mean over the last axis, NaN ignored (NaN when none defined); 0 when an AUC is 0 and p < 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not a.shape[-1]:
            return np.full(a.shape[:-1], np.nan)
        if p == 0:  # the limit: the geometric mean
            return np.exp(np.nanmean(np.log(a), axis=-1))
        return np.nanmean(a**p, axis=-1) ** (1.0 / p)  # an AUC of 0 with p < 0: inf ** (1 / p) = 0


def _bootstrap(y: np.ndarray, bins: np.ndarray, masks: np.ndarray, n_boot: int,
               rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Binned AUCs ``(G,)`` and their ``(B, G)`` resamples per metric, and the overall AUC's (binned, resamples)."""
    n_bins = int(bins.max()) + 1
    pattern = np.unique(masks, axis=0, return_inverse=True)[1].reshape(-1)
    key = (pattern.astype(np.int64) * 2 + y) * n_bins + bins
    uniq, counts = np.unique(key, return_counts=True)
    cell_bin, cell_y = uniq % n_bins, (uniq // n_bins) % 2
    first = np.unique(key, return_index=True)[1]  # a row of each cell gives its group memberships
    member = masks[first]
    by_bin = np.argsort(cell_bin, kind="stable")

    def aucs(c: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        pos = _by_bin(c, by_bin[cell_y[by_bin] == 1], cell_bin, n_bins)
        neg = _by_bin(c, by_bin[cell_y[by_bin] == 0], cell_bin, n_bins)
        out = {m: np.empty((*c.shape[:-1], masks.shape[1])) for m in BIAS_AUC_METRICS}
        for g in range(masks.shape[1]):
            sel = by_bin[member[by_bin, g]]
            pos_s = _by_bin(c, sel[cell_y[sel] == 1], cell_bin, n_bins)
            neg_s = _by_bin(c, sel[cell_y[sel] == 0], cell_bin, n_bins)
            for m, (p, q) in _sets(pos, neg, pos_s, neg_s).items():
                out[m][..., g] = auc_from_bins(p, q)
        return out, auc_from_bins(pos, neg)

    point, overall = aucs(counts.astype(np.float64))
    parts, overall_parts = [], []
    for start in range(0, n_boot, CHUNK):
        draws = rng.multinomial(len(y), counts / len(y), size=min(CHUNK, n_boot - start)).astype(np.float64)
        part, ov = aucs(draws)
        parts.append(part)
        overall_parts.append(ov)
    boot = {m: np.concatenate([p[m] for p in parts]) if parts else np.empty((0, masks.shape[1]))
            for m in BIAS_AUC_METRICS}
    return point, boot, float(overall), np.concatenate(overall_parts) if parts else np.empty(0)


def _exact(y: np.ndarray, rank: np.ndarray, masks: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Exact AUCs (ties one half) and each set's (n_pos, n_neg) stacked, per metric and group."""
    n_rank = int(rank.max()) + 1
    pos = np.bincount(rank, weights=y, minlength=n_rank)
    neg = np.bincount(rank, weights=1 - y, minlength=n_rank)
    auc = {m: np.empty(masks.shape[1]) for m in BIAS_AUC_METRICS}
    count = {m: np.empty((masks.shape[1], 2)) for m in BIAS_AUC_METRICS}
    for g in range(masks.shape[1]):
        s = masks[:, g]
        pos_s = np.bincount(rank[s], weights=y[s], minlength=n_rank)
        neg_s = np.bincount(rank[s], weights=1 - y[s], minlength=n_rank)
        for m, (p, q) in _sets(pos, neg, pos_s, neg_s).items():
            auc[m][g] = auc_from_bins(p, q)
            count[m][g] = p.sum(), q.sum()
    return auc, count


def _summary(exact: dict[str, np.ndarray], boot: dict[str, np.ndarray], lows: dict, highs: dict, names: list[str],
             eligible: np.ndarray, overall: tuple[float, float, float], power: float, confidence: float) -> pd.DataFrame:
    rows = {"overall_auc": {"value": overall[0], "low": overall[1], "high": overall[2], "group": None,
                            "n_groups": len(names)}}
    for m in BIAS_AUC_METRICS:
        ok = eligible & ~np.isnan(exact[m])
        k = int(ok.sum())
        pm = float(_power_mean(exact[m][ok], power)) if k else math.nan
        lo = hi = math.nan
        if k and len(boot[m]):
            lo, hi = (float(v) for v in percentile_interval(_power_mean(boot[m][:, ok], power), confidence))
        rows[f"power_mean_{m}"] = {"value": pm, "low": lo, "high": hi, "group": None, "n_groups": k}
        j = int(np.flatnonzero(ok)[np.argmin(exact[m][ok])]) if k else -1
        rows[f"min_{m}"] = {"value": exact[m][j] if k else math.nan, "low": lows[m][j] if k else math.nan,
                            "high": highs[m][j] if k else math.nan, "group": names[j] if k else None, "n_groups": k}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "low", "high", "group", "n_groups"])
    out.index.name = "metric"
    return out


def bias_aucs(y_true, y_score, groups, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
              min_group_size: int = 30, power: float = -5.0) -> BiasAUCResult:
    """Subgroup, BPSN and BNSP AUCs of a scorer per identity group, with bootstrap intervals and power means.

    Parameters
    ----------
    y_true : array of 0/1
    y_score : array
        Positive-class scores (1-D, or the ``(n, 2)`` output of ``predict_proba``).
    groups : dict of str to bool array, or DataFrame of bool columns
        The rows of each identity group (:func:`audit.fairness.identity_groups` makes them from texts); a row can
        be in several groups or in none. The background of a group is every row not in it.
    n_boot : int
        Bootstrap resamples (0: no intervals).
    confidence : float
    seed : int
    min_group_size : int
        Groups with fewer rows are flagged ``small`` and left out of the power means and minima.
    power : float
        The power mean's exponent (-5 as in the Jigsaw Unintended Bias competition; 0 is the geometric mean).

    Examples
    --------
    A scorer that gives group ``g``'s negatives high scores: its BPSN AUC is low, its BNSP AUC high.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> g = rng.random(400) < 0.3
    >>> score = y + rng.normal(0, 0.5, 400) + np.where(g & (y == 0), 0.8, 0.0)
    >>> r = bias_aucs(y, score, {"g": g}, n_boot=200)
    >>> a = r.aucs["auc"].round(2)
    >>> bool(a[("g", "bpsn_auc")] < 0.8 < a[("g", "bnsp_auc")])
    True
    >>> r.summary.loc["min_bpsn_auc", "group"]
    'g'
    """
    y = binary_labels(y_true, "y_true").astype(np.float64)
    if len(y) == 0:
        raise AuditInputError("y_true is empty (0 rows); pass at least one row")
    s = scores(y_score, len(y))
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_boot) < 0 or int(min_group_size) < 0:
        raise AuditInputError(f"n_boot and min_group_size must be >= 0, got {n_boot!r} and {min_group_size!r}")
    names, masks = group_masks(groups, len(y))
    rank = np.unique(s, return_inverse=True)[1].reshape(-1)
    exact, count = _exact(y, rank, masks)
    B = int(n_boot)
    point, boot, overall_binned, overall_boot = _bootstrap(y.astype(np.int64), score_bins(s, MAX_BINS), masks, B,
                                                           np.random.default_rng(seed))
    overall = float(auc_from_bins(np.bincount(rank, weights=y), np.bincount(rank, weights=1 - y)))
    size = masks.sum(axis=0)
    small = size < int(min_group_size)
    rows, notes, lows, highs = [], [], {}, {}
    for m in BIAS_AUC_METRICS:
        shifted = np.clip(boot[m] + (exact[m] - point[m])[None, :], 0.0, 1.0)  # centred like the exact AUC
        boot[m] = shifted
        lows[m], highs[m] = percentile_interval(shifted, confidence) if B else (np.full(len(names), np.nan),) * 2
    for g, name in enumerate(names):
        for m in BIAS_AUC_METRICS:
            n_pos, n_neg = (int(v) for v in count[m][g])
            note = "" if n_pos and n_neg else f"undefined: no {_WHAT[m][0] if not n_pos else _WHAT[m][1]}"
            if note:
                notes.append(f"{name}: {m} {note}.")
            defined = not note
            rows.append({"group": name, "metric": m, "auc": exact[m][g] if defined else math.nan,
                         "low": float(lows[m][g]) if defined else math.nan,
                         "high": float(highs[m][g]) if defined else math.nan,
                         "n_pos": n_pos, "n_neg": n_neg, "small": bool(small[g]), "note": note})
    notes += [f"{name}: {int(k)} rows, under min_group_size={min_group_size}; left out of the power means and "
              "minima." for name, k, sm in zip(names, size, small) if sm]
    aucs = pd.DataFrame(rows).set_index(["group", "metric"])
    group_table = pd.DataFrame({"n": size.astype(int), "n_pos": (masks & (y == 1)[:, None]).sum(axis=0),
                                "n_neg": (masks & (y == 0)[:, None]).sum(axis=0), "small": small},
                               index=pd.Index(names, name="group"))
    ov_lo, ov_hi = (percentile_interval(np.clip(overall_boot + overall - overall_binned, 0, 1), confidence)
                    if B else (math.nan, math.nan))
    summary = _summary(exact, boot, lows, highs, names, ~small, (overall, float(ov_lo), float(ov_hi)), power,
                       confidence)
    return BiasAUCResult(aucs=aucs, groups=group_table, summary=summary, notes=notes, confidence=confidence,
                         power=float(power), n_boot=B, min_group_size=int(min_group_size))
