"""Disparity definitions and their vectorised computation over groups (and bootstrap resamples).

Definitions follow fairlearn (``method="between_groups"``, ``agg="worst_case"``):

- ``demographic_parity_difference`` = max - min selection rate over groups; ``_ratio`` = min / max.
- ``equalized_odds_difference`` = the larger of the true-positive-rate and false-positive-rate
  differences; ``equalized_odds_ratio`` = the smaller of the two ratios.
- ``equal_opportunity_difference`` / ``_ratio``: the same on the true positive rate only.

Every function here works on arrays whose last axis is the group axis, so the same code gives the
point estimate (shape ``(G,)``), the bootstrap distribution (shape ``(B, G)``) and the permutation
distribution of the "no gap" test (shape ``(P, G)``).

Where the numbers differ from fairlearn: a group whose metric is undefined (NaN: no actual positives for
the true positive rate, ...) is skipped here; fairlearn's metric functions return 0 for it, so its
``difference()`` may be larger and its ``ratio()`` 0. With fewer than two defined groups the gap is NaN.
These are plug-in values, biased upward as estimates of the true gap (max - min of noisy values);
:mod:`audit.stats._gaps` corrects the bias and gives the interval and test that gates read.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

Kind = Literal["difference", "ratio"]

#: disparity name -> (difference or ratio, the group metrics it compares)
DISPARITIES: dict[str, tuple[Kind, tuple[str, ...]]] = {
    "demographic_parity_difference": ("difference", ("selection_rate",)),
    "demographic_parity_ratio": ("ratio", ("selection_rate",)),
    "equalized_odds_difference": ("difference", ("true_positive_rate", "false_positive_rate")),
    "equalized_odds_ratio": ("ratio", ("true_positive_rate", "false_positive_rate")),
    "equal_opportunity_difference": ("difference", ("true_positive_rate",)),
    "equal_opportunity_ratio": ("ratio", ("true_positive_rate",)),
}

#: group metric -> True when a higher value is better for the group (None: depends on the task)
HIGHER_IS_BETTER: dict[str, bool | None] = {
    "selection_rate": None,
    "accuracy": True,
    "true_positive_rate": True,
    "false_positive_rate": False,
    "false_negative_rate": False,
    "true_negative_rate": True,
    "precision": True,
    "roc_auc": True,
}


def spread(values: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(max - min, min / max)`` over the eligible groups on the last axis, ignoring NaN.

    NaN when fewer than two eligible groups have a defined value; the ratio is NaN when max is 0.
    """
    v = values[..., eligible]
    defined = (~np.isnan(v)).sum(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi = np.nanmax(v, axis=-1) if v.shape[-1] else np.full(v.shape[:-1], np.nan)
        lo = np.nanmin(v, axis=-1) if v.shape[-1] else np.full(v.shape[:-1], np.nan)
    ok = defined >= 2
    diff = np.where(ok, hi - lo, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ok & (hi > 0), lo / np.where(hi > 0, hi, 1.0), np.nan)
    return diff, ratio


def disparity(name: str, metrics: dict[str, np.ndarray], eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value of disparity ``name`` and the index of the component metric that decides it.

    ``metrics`` maps group-metric names to arrays ``(..., G)``. For equalized odds the component is
    the metric with the larger difference (or the smaller ratio).
    """
    kind, comps = DISPARITIES[name]
    parts = np.stack([spread(metrics[c], eligible)[0 if kind == "difference" else 1] for c in comps])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if kind == "difference":
            value = np.nanmax(parts, axis=0)
            which = np.argmax(np.nan_to_num(parts, nan=-np.inf), axis=0)
        else:
            value = np.nanmin(parts, axis=0)
            which = np.argmin(np.nan_to_num(parts, nan=np.inf), axis=0)
    return value, which


def best_worst(values: np.ndarray, eligible: np.ndarray, higher_is_better: bool) -> tuple[int, int]:
    """Positions of the best and worst eligible group with a defined value (-1 when none)."""
    idx = np.flatnonzero(eligible & ~np.isnan(values))
    if len(idx) == 0:
        return -1, -1
    v = values[idx]
    hi, lo = int(idx[np.argmax(v)]), int(idx[np.argmin(v)])
    return (hi, lo) if higher_is_better else (lo, hi)


def direction(metric: str, positive_is_favorable: bool) -> bool:
    """Whether a higher ``metric`` is better for a group; selection rate follows ``positive_is_favorable``."""
    h = HIGHER_IS_BETTER[metric]
    return positive_is_favorable if h is None else h
