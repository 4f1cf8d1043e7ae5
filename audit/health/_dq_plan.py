"""The plan of partitioned data quality: pass 2's settings, fixed on the driver from pass 1 and the training data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from audit._arrays import sorted_unique
from audit.errors import AuditInputError
from audit.health._data_quality import hash_rows
from audit.health._dq_moments import ColumnMoments, column_moments, resolve_kind
from audit.health._dq_part import category_counts, data_quality_part
from audit.health._dq_types import (
    DISTINCT_CAP,
    DRIFT_BINS,
    LEAK_CAP,
    NO_MOMENTS,
    DataQualityPlan,
    DataQualitySettings,
    NumericRef,
    TrainRef,
    check_columns,
    finite,
)
from audit.health._mergeable import edge_counts


def plan_data_quality(
    moments: ColumnMoments,
    *,
    target: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    train_frame: pd.DataFrame | None = None,
    min_group_size: int = 30,
    near_tolerance: float = 0.1,
    drift_alpha: float = 0.01,
    drift_min_effect: float = 0.1,
    distinct_cap: int = DISTINCT_CAP,
    leak_cap: int = LEAK_CAP,
    drift_bins: int = DRIFT_BINS,
    regression: bool = False,
) -> DataQualityPlan:
    """Fix pass 2's settings from pass 1's merged moments: the arguments of :func:`data_quality`, plus three caps.

    Parameters
    ----------
    moments : ColumnMoments
        :func:`merge_moments` of every partition's :func:`column_moments`.
    target, sensitive, features, categorical, train_frame, min_group_size, near_tolerance, drift_alpha, drift_min_effect
        As in :func:`audit.health.data_quality`; ``train_frame`` is an in-memory DataFrame.
    distinct_cap : int
        ``n_unique`` is exact up to this many distinct values per column, then a KMV estimate with
        relative standard error ``1 / sqrt(distinct_cap - 2)``; costs ``8 * distinct_cap`` bytes a column.
    leak_cap : int
        Leaked rows listed in ``result.leakage`` (their count is always exact).
    drift_bins : int
        Numeric drift is exact when train has at most this many distinct values in the feature;
        otherwise this many edges at train's quantiles (see :func:`drift_bounds`).

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.health import column_moments
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 2.0], "y": [0, 1, 1]})
    >>> plan = plan_data_quality(column_moments(df), target="y")
    >>> plan.features, plan.numeric_key
    (('x',), ('x',))
    """
    settings = DataQualitySettings(
        target=target, sensitive=tuple(sensitive or ()), features=None if features is None else tuple(features),
        categorical=None if categorical is None else tuple(categorical), min_group_size=min_group_size,
        near_tolerance=near_tolerance, drift_alpha=drift_alpha, drift_min_effect=drift_min_effect,
        distinct_cap=distinct_cap, leak_cap=leak_cap, drift_bins=drift_bins, regression=regression,
    )
    return plan_from_settings(moments, settings, train_frame)


def plan_from_settings(moments: ColumnMoments, settings: DataQualitySettings,
                       train_frame: pd.DataFrame | None = None) -> DataQualityPlan:
    """:func:`plan_data_quality` with its settings in one :class:`DataQualitySettings`.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.health import column_moments
    >>> plan = plan_from_settings(column_moments(pd.DataFrame({"x": [1.0], "c": ["a"]})), DataQualitySettings())
    >>> plan.categorical
    ('c',)
    """
    if not isinstance(moments, ColumnMoments):
        raise AuditInputError(f"moments must be a ColumnMoments from merge_moments, got {type(moments).__name__}")
    settings.check()
    cols, target = moments.columns, settings.target
    sensitive = list(settings.sensitive)
    check_columns(cols, ([target] if target else []) + sensitive, "target/sensitive")
    features = [c for c in cols if c != target] if settings.features is None else list(settings.features)
    check_columns(cols, features, "features")
    resolved = {c: resolve_kind(c, moments.seen[c]) for c in cols}
    categorical = settings.categorical
    if categorical is None:
        categorical = [c for c in features if resolved[c][1] == "text"]  # data_quality's rule: not numeric, or bool
    categorical = list(categorical)
    numeric_key = [c for c in features if c not in set(categorical)]
    for c in numeric_key:
        if resolved[c][1] != "numeric":
            raise AuditInputError(NO_MOMENTS.format(name=c, dtype=resolved[c][0]))
    if settings.regression and target is not None and resolved[target][1] != "numeric":
        raise AuditInputError(f"regression target {target!r} is not numeric ({resolved[target][0]}); a regressor's "
                              "target holds numbers")
    plan = DataQualityPlan(
        columns=cols, dtypes={c: d for c, (d, _) in resolved.items()}, kinds={c: k for c, (_, k) in resolved.items()},
        numeric_key=tuple(numeric_key), grid={c: moments.mean_std(c) for c in numeric_key},
        settings=replace(settings, sensitive=tuple(sensitive), features=tuple(features), categorical=tuple(categorical)),
    )
    if train_frame is None:
        return plan
    return replace(plan, train=_train_reference(train_frame, plan))


def _numeric_reference(rv: np.ndarray, drift_bins: int) -> NumericRef:
    """Train's drift reference for one numeric feature from its finite values ``rv`` (not empty)."""
    edges = sorted_unique(rv)
    exact = len(edges) <= drift_bins
    if not exact:  # edges at train's quantiles, taken from train's own values
        s = np.sort(rv)
        edges = sorted_unique(s[np.linspace(0, len(s) - 1, drift_bins).round().astype(np.int64)])
    eq, gap = edge_counts(rv, edges)
    psi_edges = np.unique(np.quantile(rv, np.linspace(0, 1, 11)[1:-1]))  # as _drift._numeric
    psi_share = np.bincount(np.searchsorted(psi_edges, rv, side="right"), minlength=len(psi_edges) + 1) / len(rv)
    return NumericRef(n=len(rv), edges=edges, eq=eq, gap=gap, exact=exact, psi_edges=psi_edges,
                      psi_share=psi_share, mean=float(rv.mean()))


def _train_reference(train_frame: pd.DataFrame, plan: DataQualityPlan) -> TrainRef:
    """The training data's part (under its own dtypes and grid), feature-hash set and drift reference."""
    if not isinstance(train_frame, pd.DataFrame) or len(train_frame) == 0:
        raise AuditInputError("train_frame must be a non-empty pandas DataFrame with the same feature columns as frame")
    train = train_frame.reset_index(drop=True)
    key_cols = list(plan.features) + ([plan.target] if plan.target else [])
    check_columns(list(train.columns), key_cols, "train_frame")
    tm = column_moments(train)
    resolved = {c: resolve_kind(c, tm.seen[c]) for c in tm.columns}
    tplan = replace(
        plan, columns=tm.columns, dtypes={c: d for c, (d, _) in resolved.items()},
        kinds={c: k for c, (_, k) in resolved.items()},
        settings=replace(plan.settings, sensitive=tuple(c for c in plan.sensitive if c in train.columns)),
        grid={c: tm.mean_std(c) for c in plan.numeric_key}, train=None,
    )
    keys, first = np.unique(hash_rows(train[list(plan.features)]), return_index=True)  # first occurrences
    numeric: dict[Any, NumericRef | None] = {}
    categorical: dict[Any, dict[str, int]] = {}
    for c in plan.drift_columns:
        if c in plan.categorical:
            categorical[c] = category_counts(train[c])
            continue
        rv = finite(train[c])
        numeric[c] = _numeric_reference(rv, plan.drift_bins) if len(rv) else None
    return TrainRef(part=data_quality_part(train, tplan), dtypes=tplan.dtypes, keys=keys,
                    first_row=first.astype(np.int64), numeric=numeric, categorical=categorical)
