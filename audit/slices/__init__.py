"""Weak slices: groups of rows nobody named (single levels and pairs of levels) where a model does worse.

:func:`find_weak_slices` takes the rows' features and one loss per row (higher is worse) and returns the
slices whose mean loss exceeds the rest's, each with a Welch interval and one-sided p-value, under
false-discovery control over every candidate tested (Benjamini-Yekutieli by default). It is three
steps a distributed engine can split: :func:`plan_slices` (levels and quantile edges, from the features
only), :func:`slice_counts` (per-slice rows, sums and sums of squares, vectorised, which partitions add
with :func:`merge_counts`), and :func:`slices_from_counts` (statistics, FDR, merging, ranking).
:func:`search_losses` searches several losses of the same rows (:func:`classification_losses`: errors, log loss,
fairness rates; :func:`regression_losses`: absolute error, residual each way) under one FDR budget.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from audit.slices import find_weak_slices
>>> frame = pd.DataFrame({"g": ["a"] * 60 + ["b"] * 60})
>>> r = find_weak_slices(frame, np.r_[np.zeros(60), np.ones(45), np.zeros(15)])
>>> r.slices.loc[0, "description"], r.n_significant
('g == "b"', 1)
"""

from __future__ import annotations

from audit.slices._counts import (
    KEYS,
    all_pairs,
    count_codes,
    counts_for_plan,
    merge_counts,
    plan_pairs,
    slice_counts,
)
from audit.slices._find import (
    SliceResult,
    budget_note,
    find_weak_slices,
    holdout_split,
    search_losses,
    slices_from_counts,
    with_pairs,
)
from audit.slices._losses import (
    LOSS_WORDS,
    RowLoss,
    check_losses,
    classification_losses,
    default_losses,
    regression_losses,
)
from audit.slices._plan import (
    ColumnPlan,
    Condition,
    SlicePlan,
    choose_edges,
    edge_candidates,
    encode,
    is_binnable,
    levels_plan,
    plan_slices,
    slice_mask,
)
from audit.slices._stats import fdr_adjust, welch

__all__ = [
    "budget_note",
    "choose_edges",
    "edge_candidates",
    "is_binnable",
    "levels_plan",
    "KEYS",
    "all_pairs",
    "count_codes",
    "counts_for_plan",
    "encode",
    "with_pairs",
    "LOSS_WORDS",
    "RowLoss",
    "check_losses",
    "classification_losses",
    "default_losses",
    "regression_losses",
    "search_losses",
    "ColumnPlan",
    "Condition",
    "SlicePlan",
    "SliceResult",
    "fdr_adjust",
    "find_weak_slices",
    "holdout_split",
    "merge_counts",
    "plan_pairs",
    "plan_slices",
    "slice_counts",
    "slice_mask",
    "slices_from_counts",
    "welch",
]
