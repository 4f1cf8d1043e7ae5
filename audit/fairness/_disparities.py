"""Disparities between groups (fairlearn definitions) with the best and worst group named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from audit.fairness._assess import assess_fairness


@dataclass
class Disparities:
    """Result of :func:`disparities`.

    Attributes
    ----------
    table : DataFrame
        Index ``(feature, disparity)`` where ``feature`` is each sensitive column and, for several,
        ``"intersection"``; columns ``value``, ``metric`` (the group metric that decides it),
        ``best_group``, ``best_value``, ``worst_group``, ``worst_value``, ``n_groups``.
    notes : list of str
        Small groups left out, undefined metrics.
    """

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def disparities(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    *,
    sample_weight: Any = None,
    min_group_size: int = 30,
    include_small_groups: bool = False,
    positive_is_favorable: bool = True,
) -> Disparities:
    """Demographic parity, equalized odds and equal opportunity per sensitive column and intersection.

    Values equal fairlearn's ``demographic_parity_difference``/``_ratio``,
    ``equalized_odds_difference``/``_ratio`` and ``equal_opportunity_difference``/``_ratio``
    (``method="between_groups"``) computed over the groups with at least ``min_group_size`` rows
    (all groups with ``include_small_groups=True``). The best group has the highest true positive
    rate, the lowest false positive rate, and the highest selection rate when a positive prediction
    is favourable (``positive_is_favorable``), the lowest otherwise.

    Where they differ from fairlearn, and why:

    - small groups are left out by default (fairlearn compares every group): a 10-row group's rate is
      noise, and max - min picks up noise first;
    - a group whose rate is undefined (no actual positives for the true positive rate, no actual
      negatives for the false positive rate) is left out of that rate's comparison; fairlearn counts
      it as 0, which makes e.g. ``equalized_odds_ratio`` 0 whenever one group has no negatives. With
      fewer than two defined groups the value is NaN here, a number there;
    - the table's ``value`` is fairlearn's plug-in number, which is biased upward (for equal groups it
      is above 0 by chance); the gated number is the bias-corrected one, with an interval and a
      permutation test (:func:`audit.fairness.assess_fairness`, ``corrected``/``low``/``high``/``p_value``).
      This function computes no resamples: use :func:`assess_fairness` for those.

    Examples
    --------
    >>> t = disparities([1, 0, 1, 0], [1, 1, 0, 0], ["a", "a", "b", "b"], min_group_size=0).table
    >>> r = t.loc[("sensitive_feature_0", "demographic_parity_difference")]
    >>> float(r["value"]), r["best_group"], r["worst_group"]
    (1.0, 'a', 'b')
    """
    res = assess_fairness(
        y_true, y_pred, sensitive, sample_weight=sample_weight, n_boot=0, min_group_size=min_group_size,
        include_small_groups=include_small_groups, positive_is_favorable=positive_is_favorable,
    )
    table = res.disparities.drop(columns=["low", "high"])
    return Disparities(table=table, notes=res.notes)
