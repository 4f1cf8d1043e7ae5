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
from audit.stats import (
    GapEvidence,
    apply_test,
    family_confidence,
    permutation_p_value,
    range_interval,
    split_counts,
    worst_of,
)


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
        per_col, worst = accuracy_gaps(~r.success, [c for c, _ in coded], [lv for _, lv in coded], columns,
                                       min_group_size=min_group_size, n_boot=n_boot, rng=rng)
        head = {"key": result_key(r), "attack": r.attack, "norm": r.norm, "eps": r.eps}
        gaps.extend({"column": c, **head, **g} for c, g in zip(columns, per_col))
        overall.append({**head, **worst})
    cols = ["column", "key", "attack", "norm", "eps", "gap", "plug_in", "low", "high", "p_value", "best_group",
            "worst_group", "n_groups"]
    over = pd.DataFrame(overall, columns=["key", "attack", "norm", "eps", "column", "gap", "plug_in", "low", "high",
                                          "p_value", "best_group", "worst_group"]).set_index("key")
    return GroupRobustness(table=pd.DataFrame(rows), gaps=pd.DataFrame(gaps, columns=cols), overall=over, notes=notes)


def accuracy_gaps(
    correct: np.ndarray,
    codes: list[np.ndarray],
    levels: list[pd.Index],
    columns: list[str],
    *,
    min_group_size: int,
    n_boot: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Evidence about the accuracy gap between the groups of each column, and the largest over columns.

    ``correct`` marks the rows still classified correctly; ``codes[i]`` holds each row's group in column
    ``i`` (``levels[i]`` names them). Resamples redraw each intersection cell's correct rows as
    ``Binomial(n_cell, share)`` (group sizes fixed, the same draw for every column); permutations redraw
    which rows are correct within each column's large groups (hypergeometric counts, no loop over rows).

    Returns one dict per column (``gap``, ``plug_in``, ``low``, ``high``, ``p_value``, ``best_group``,
    ``worst_group``, ``n_groups``) and one for the largest gap over columns (with its ``column``).

    Examples
    --------
    Two groups of 200 rows with accuracies 0.70 and 0.55: the gap 0.15 is found and its interval excludes 0.

    >>> correct = np.r_[np.arange(200) < 140, np.arange(200) < 110]
    >>> per_col, worst = accuracy_gaps(correct, [np.repeat([0, 1], 200)], [pd.Index(["a", "b"])], ["g"],
    ...                                min_group_size=30, n_boot=500, rng=np.random.default_rng(0))
    >>> round(per_col[0]["plug_in"], 2), per_col[0]["low"] > 0, per_col[0]["p_value"] < 0.05
    (0.15, True, True)
    """
    correct = np.asarray(correct, dtype=bool)
    B = int(n_boot)
    if not codes:  # no sensitive column: no groups, no gap
        return [], {"column": None, "gap": math.nan, "plug_in": math.nan, "low": math.nan, "high": math.nan,
                    "p_value": math.nan}
    # intersection cells: one binomial per cell and resample keeps every column's draws consistent
    cell, cell_index = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    cell_index = np.asarray(cell_index).reshape(-1)
    n_cell = np.bincount(cell_index, minlength=len(cell)).astype(np.int64)
    k_cell = np.bincount(cell_index, weights=correct.astype(float), minlength=len(cell))
    k_cell_b = rng.binomial(n_cell[None, :], np.where(n_cell > 0, k_cell / np.maximum(n_cell, 1), 0.0)[None, :],
                            size=(B, len(cell))) if B else None
    perm_rng = np.random.default_rng(rng.integers(2**63 - 1)) if B else None
    per_col: list[dict[str, object]] = []
    blocks, dists, perms, plugs, gapped = [], [], [], [], []
    for i, (lv, col) in enumerate(zip(levels, columns)):
        G = len(lv)
        n = np.bincount(cell[:, i], weights=n_cell, minlength=G)
        k = np.bincount(cell[:, i], weights=k_cell, minlength=G)
        big = n >= min_group_size
        entry: dict[str, object] = {"n_groups": int(big.sum())}
        if big.sum() < 2:
            entry.update(gap=math.nan, plug_in=math.nan, low=math.nan, high=math.nan, p_value=math.nan,
                         best_group="", worst_group="")
            per_col.append(entry)
            continue
        acc = k[big] / n[big]
        names = lv[big]
        plug = float(acc.max() - acc.min())
        dist = perm = draws = None
        if B:
            kb = np.zeros((B, G))
            for g in range(G):  # per-group totals of the resampled cells
                kb[:, g] = k_cell_b[:, cell[:, i] == g].sum(axis=1)
            draws = kb[:, big] / n[big]
            dist = draws.max(axis=1) - draws.min(axis=1)
            kp = split_counts(perm_rng, n[big].astype(np.int64), int(round(k[big].sum())), B) / n[big]
            perm = kp.max(axis=1) - kp.min(axis=1)
        low, high = range_interval([(acc, draws, n[big])], confidence) if B else (math.nan, math.nan)
        ev = apply_test(plug, dist, low, high, permutation_p_value(plug, perm), confidence, "difference")
        entry.update(_evidence(ev), best_group=str(names[acc.argmax()]), worst_group=str(names[acc.argmin()]))
        per_col.append(entry)
        blocks.append((acc, draws, n[big]))
        dists.append(dist)
        perms.append(perm)
        plugs.append(plug)
        gapped.append(col)
    if not plugs:
        return per_col, {"column": None, "gap": math.nan, "plug_in": math.nan, "low": math.nan, "high": math.nan,
                         "p_value": math.nan}
    if B:  # the worst column: each column's gap at the Bonferroni level for the columns (audit.stats.worst_of)
        level = family_confidence(confidence, len(plugs))
        evs = [apply_test(plug, dist, *range_interval([block], level), permutation_p_value(plug, perm), level, "difference")
               for plug, dist, perm, block in zip(plugs, dists, perms, blocks)]
        pick, ev = worst_of(evs, "difference")
        pick = pick if pick >= 0 else int(np.argmax(plugs))
    else:
        pick = int(np.argmax(plugs))
        ev = GapEvidence(plugs[pick], plugs[pick], math.nan, math.nan, math.nan)
    worst = per_col[columns.index(gapped[pick])]
    return per_col, {"column": gapped[pick], **_evidence(ev), "best_group": worst["best_group"],
                     "worst_group": worst["worst_group"]}


def _evidence(ev: GapEvidence) -> dict[str, float]:
    return {"gap": ev.corrected, "plug_in": ev.plug_in, "low": ev.low, "high": ev.high, "p_value": ev.p_value}
