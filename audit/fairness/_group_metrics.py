"""Per-group metrics with fairlearn's names and values: :func:`group_metrics` and :func:`evaluate_groups`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.fairness._assess import assess_fairness, group_label
from audit.fairness._counts import RATE_METRICS
from audit.fairness._inputs import prepare

#: columns of :func:`group_metrics`, in order (``roc_auc`` only with ``y_score``)
GROUP_METRIC_COLUMNS = ("count", *RATE_METRICS, "roc_auc")


@dataclass
class GroupMetrics:
    """Result of :func:`evaluate_groups`.

    Attributes
    ----------
    table : DataFrame
        What :func:`group_metrics` returns: one row per group, fairlearn metric names as columns.
    small : Series of bool
        Groups with fewer rows than ``min_group_size``.
    notes : list of str
        Why a value is NaN (a group with no positives, no negatives, no predicted positives, one
        class for ROC AUC) and which groups are small.
    """

    table: pd.DataFrame
    small: pd.Series
    notes: list[str] = field(default_factory=list)


def evaluate_groups(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    *,
    y_score: Any = None,
    sample_weight: Any = None,
    min_group_size: int = 30,
) -> GroupMetrics:
    """Like :func:`group_metrics`, plus the small-group flags and the notes on undefined values.

    Examples
    --------
    >>> res = evaluate_groups([1, 0, 0, 0], [1, 1, 0, 0], ["a", "a", "b", "b"])
    >>> float(res.table.loc["b", "true_positive_rate"])
    nan
    >>> res.notes[0]
    "sensitive_feature_0: true_positive_rate is undefined (NaN) for 'b': no actual positives."
    """
    prep = prepare(y_true, y_pred, sensitive, y_score, sample_weight)
    names = [str(c) for c in prep.sensitive.columns]
    label = ", ".join(names)
    res = assess_fairness(
        prep.y_true, prep.y_pred, prep.sensitive, y_score=prep.y_score, sample_weight=prep.sample_weight,
        n_boot=0, min_group_size=min_group_size, include_small_groups=True, views={label: tuple(names)},
    )
    full = res.groups[label]
    cols = [c for c in GROUP_METRIC_COLUMNS if c in full.columns]
    notes = [n for n in res.notes if "group(s) under" not in n]
    small = np.flatnonzero(full["small"].to_numpy())
    if len(small):
        listed = ", ".join(f"{group_label(full.index[i])!r} (n={int(full['count'].iat[i])})" for i in small)
        notes.append(f"{label}: {len(small)} group(s) under {min_group_size} rows: {listed}.")
    return GroupMetrics(table=full[cols].copy(), small=full["small"].copy(), notes=notes)


def group_metrics(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    *,
    y_score: Any = None,
    sample_weight: Any = None,
) -> pd.DataFrame:
    """Metrics per group of the sensitive feature(s), equal to fairlearn's ``MetricFrame.by_group`` where defined.

    Where they differ, and why: a rate whose denominator is empty for a group is NaN here and 0 in
    fairlearn. fairlearn's ``false_positive_rate``, ``true_positive_rate`` and friends, and scikit-learn's
    ``precision_score`` (``zero_division`` default), return 0 for a group with no actual negatives (no
    actual positives, no predicted positives). That 0 is not a measurement: a group with no negatives
    was never at risk of a false positive, and reporting 0 reads as "never wrongly flagged" and drags
    fairlearn's ``ratio()`` to 0. NaN says "undefined", :func:`evaluate_groups` says why, and disparities
    leave the group out of that metric (see the example). Every defined value equals fairlearn's to
    within 1e-12 (``tests/fairness/test_group_metrics.py``).

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        Binary labels and predictions; the positive label is 1.
    sensitive : Series, array or DataFrame
        Sensitive feature(s); several columns give one row per observed combination (a MultiIndex).
    y_score : array-like, optional
        Positive-class scores; adds a ``roc_auc`` column.
    sample_weight : array-like, optional
        Row weights for every rate (``count`` stays the number of rows, like fairlearn's ``count``).

    Returns
    -------
    DataFrame
        Columns ``count``, ``selection_rate``, ``accuracy``, ``true_positive_rate``,
        ``false_positive_rate``, ``false_negative_rate``, ``true_negative_rate``, ``precision`` and
        ``roc_auc`` (with scores). A value that is undefined for a group (no positives, no
        predicted positives, one class) is NaN; :func:`evaluate_groups` says why.

    Examples
    --------
    >>> t = group_metrics([1, 0, 1, 0], [1, 1, 0, 0], ["a", "a", "b", "b"])
    >>> t["false_positive_rate"].tolist()
    [1.0, 0.0]

    Group ``a`` has no actual negatives: its false positive rate is undefined (fairlearn: 0.0, and a
    ``ratio()`` of 0.0 for the column; here NaN, and no false-positive-rate gap with one defined group):

    >>> t = group_metrics([1, 1, 1, 0, 1, 0], [1, 0, 1, 0, 1, 1], ["a", "a", "a", "b", "b", "b"])
    >>> t["false_positive_rate"].tolist()
    [nan, 0.5]
    """
    return evaluate_groups(y_true, y_pred, sensitive, y_score=y_score, sample_weight=sample_weight).table
