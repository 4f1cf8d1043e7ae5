"""Robust accuracy per sensitive group and the gap between groups, with bootstrap intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.robustness._result import AttackResult
from audit.stats import proportion_range_interval


def result_key(r: AttackResult) -> str:
    """``"pgd.linf@0.1"``: how a result is named in tables and metric names."""
    return f"{r.attack}.{r.norm}@{r.eps:g}"


@dataclass
class GroupRobustness:
    """Per-group robust accuracy of several attack results.

    Attributes
    ----------
    table : DataFrame
        One row per (sensitive ``column``, ``group``): ``n``, ``clean_accuracy`` and one column per
        attack result (``"pgd.linf@0.1"``) holding that group's robust accuracy.
    gaps : DataFrame
        One row per (``column``, ``key``): ``attack``, ``norm``, ``eps``, ``gap`` (max minus min robust
        accuracy over groups with at least ``min_group_size`` rows), its bootstrap interval
        ``low``/``high``, the ``best_group``/``worst_group`` and ``n_groups`` compared. NaN when fewer
        than two groups are large enough.
    notes : list of str
    """

    table: pd.DataFrame
    gaps: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def max_gap(self, key: str) -> tuple[float, float | None, float | None]:
        """Largest gap over sensitive columns for ``key`` with its interval (NaN when undefined)."""
        g = self.gaps[(self.gaps["key"] == key) & self.gaps["gap"].notna()]
        if g.empty:
            return math.nan, None, None
        row = g.loc[g["gap"].idxmax()]
        return float(row["gap"]), float(row["low"]), float(row["high"])


def group_robustness(
    results: Sequence[AttackResult],
    sensitive: pd.DataFrame,
    *,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
) -> GroupRobustness:
    """Robust accuracy of each sensitive group after each attack, and the max gap between groups.

    Parameters
    ----------
    results : list of AttackResult
        Attacks on the same rows (e.g. ``curve.results`` of several curves).
    sensitive : DataFrame
        One column per sensitive attribute, aligned with the attacked rows.
    min_group_size : int
        Groups smaller than this are shown but left out of the gap (their accuracy is noise).
    n_boot : int
        Bootstrap resamples for the gap's 95% interval (0: no interval).
    seed : int

    Returns
    -------
    GroupRobustness

    Examples
    --------
    >>> import numpy as np, pandas as pd, torch
    >>> from audit.robustness import fgsm
    >>> net = torch.nn.Linear(2, 2)
    >>> r = fgsm(net, torch.rand(40, 2), np.r_[np.zeros(20, int), np.ones(20, int)], eps=0.1, device="cpu")
    >>> g = group_robustness([r], pd.DataFrame({"g": ["a"] * 20 + ["b"] * 20}), min_group_size=10)
    >>> list(g.table.columns)
    ['column', 'group', 'n', 'clean_accuracy', 'fgsm.linf@0.1']
    """
    if not results:
        raise AuditInputError("results is empty; pass at least one AttackResult")
    n = len(results[0].y)
    if any(len(r.y) != n for r in results) or len(sensitive) != n:
        raise AuditInputError(f"results and sensitive must cover the same {n} rows; got lengths "
                              f"{[len(r.y) for r in results]} and {len(sensitive)}")
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    gaps: list[dict[str, object]] = []
    notes: list[str] = []
    clean = results[0].clean_correct
    for col in sensitive.columns:
        codes, levels = pd.factorize(sensitive[col].astype(str), sort=True)
        counts = np.bincount(codes, minlength=len(levels))
        for gi, level in enumerate(levels):
            sel = codes == gi
            row: dict[str, object] = {"column": str(col), "group": str(level), "n": int(counts[gi]),
                                      "clean_accuracy": float(clean[sel].mean())}
            for r in results:
                row[result_key(r)] = float((~r.success[sel]).mean())
            rows.append(row)
        big = counts >= min_group_size
        small = [str(levels[i]) for i in np.flatnonzero(~big)]
        if small:
            notes.append(f"{col}: group(s) {small} have fewer than {min_group_size} rows and are left out of the gap.")
        for r in results:
            k = np.bincount(codes, weights=(~r.success).astype(float), minlength=len(levels))
            entry: dict[str, object] = {"column": str(col), "key": result_key(r), "attack": r.attack, "norm": r.norm,
                                        "eps": r.eps, "n_groups": int(big.sum())}
            if big.sum() >= 2:
                acc = k[big] / counts[big]
                names = levels[big]
                entry.update(gap=float(acc.max() - acc.min()), best_group=str(names[acc.argmax()]),
                             worst_group=str(names[acc.argmin()]))
                lo, hi = proportion_range_interval(k[big], counts[big].astype(float), rng, n_boot) if n_boot else (math.nan, math.nan)
                entry.update(low=lo, high=hi)
            else:
                entry.update(gap=math.nan, best_group="", worst_group="", low=math.nan, high=math.nan)
            gaps.append(entry)
        if big.sum() < 2:
            notes.append(f"{col}: fewer than two groups with {min_group_size}+ rows; the robustness gap is undefined (NaN).")
    cols = ["column", "key", "attack", "norm", "eps", "gap", "low", "high", "best_group", "worst_group", "n_groups"]
    return GroupRobustness(table=pd.DataFrame(rows), gaps=pd.DataFrame(gaps, columns=cols), notes=notes)
