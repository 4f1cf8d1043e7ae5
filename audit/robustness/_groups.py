"""Robust accuracy per sensitive group and the gap between groups.

The gap is gated like every gap between groups (:mod:`audit.stats._gaps`): a bias-corrected estimate
(the plug-in max - min of noisy group accuracies is biased upward), an interval that bounds every
pairwise contrast at once from Wilson bounds per group and so covers a gap of 0, and a permutation
test of "no gap" whose p-value is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.robustness._result import AttackResult
from audit.stats import proportion_gaps


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
        One row per (``column``, ``key``): ``attack``, ``norm``, ``eps``, ``gap`` (the bias-corrected max
        minus min robust accuracy over groups with at least ``min_group_size`` rows, the gated value),
        ``plug_in`` (the plain max - min), the interval ``low``/``high``, ``p_value`` (permutation test of
        no gap), the ``best_group``/``worst_group`` and ``n_groups`` compared. NaN when fewer than two
        groups are large enough.
    overall : DataFrame
        One row per ``key``: the worst sensitive ``column``, its ``best_group`` / ``worst_group`` and the
        largest gap over all columns (:func:`audit.stats.worst_of`: every column's gap at the Bonferroni level
        for the columns, the largest lower and upper ends, Bonferroni's p-value), so it never passes what the
        gate on one column fails at that level.
    notes : list of str
    """

    table: pd.DataFrame
    gaps: pd.DataFrame
    overall: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def max_gap(self, key: str) -> tuple[float, float | None, float | None]:
        """Largest gap over sensitive columns for ``key`` (bias-corrected) with its interval (NaN when undefined)."""
        if self.overall.empty or key not in self.overall.index or pd.isna(self.overall.loc[key, "gap"]):
            return math.nan, None, None
        row = self.overall.loc[key]
        lo, hi = row["low"], row["high"]
        return float(row["gap"]), None if pd.isna(lo) else float(lo), None if pd.isna(hi) else float(hi)


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
    notes: list[str] = []
    clean = results[0].clean_correct
    columns = [str(c) for c in sensitive.columns]
    coded = [pd.factorize(sensitive[c].astype(str), sort=True) for c in sensitive.columns]
    for col, (codes, levels) in zip(columns, coded):
        counts = np.bincount(codes, minlength=len(levels))
        for gi, level in enumerate(levels):
            sel = codes == gi
            row: dict[str, object] = {"column": col, "group": str(level), "n": int(counts[gi]),
                                      "clean_accuracy": float(clean[sel].mean())}
            for r in results:
                row[result_key(r)] = float((~r.success[sel]).mean())
            rows.append(row)
        big = counts >= min_group_size
        small = [str(levels[i]) for i in np.flatnonzero(~big)]
        if small:
            notes.append(f"{col}: group(s) {small} have fewer than {min_group_size} rows and are left out of the gap.")
        if big.sum() < 2:
            notes.append(f"{col}: fewer than two groups with {min_group_size}+ rows; the robustness gap is undefined (NaN).")
    gaps: list[dict[str, object]] = []
    overall: list[dict[str, object]] = []
    for r in results:
        per_col, worst = proportion_gaps(~r.success, [c for c, _ in coded], [lv for _, lv in coded], columns,
                                       min_group_size=min_group_size, n_boot=n_boot, rng=rng)
        head = {"key": result_key(r), "attack": r.attack, "norm": r.norm, "eps": r.eps}
        gaps.extend({"column": c, **head, **g} for c, g in zip(columns, per_col))
        overall.append({**head, **worst})
    cols = ["column", "key", "attack", "norm", "eps", "gap", "plug_in", "low", "high", "p_value", "best_group",
            "worst_group", "n_groups"]
    over = pd.DataFrame(overall, columns=["key", "attack", "norm", "eps", "column", "gap", "plug_in", "low", "high",
                                          "p_value", "best_group", "worst_group"]).set_index("key")
    return GroupRobustness(table=pd.DataFrame(rows), gaps=pd.DataFrame(gaps, columns=cols), overall=over, notes=notes)
