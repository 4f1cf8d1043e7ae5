"""Finishing partitioned data quality: the merged :class:`DataQualityPart` as a :class:`DataQualityResult`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from audit.errors import AuditInputError
from audit.health._data_quality import (
    OVERVIEW_COLUMNS,
    DataQualityResult,
    balance_of_counts,
    coarse_note,
    constant_note,
    group_notes,
    group_table_of_counts,
    label_table_of_counts,
)
from audit.health._dq_types import GAPS, NO_ROWS, PLAN_MISMATCH, DataQualityPart, DataQualityPlan
from audit.health._drift import DRIFT_COLUMNS, _psi
from audit.health._mergeable import SCALE, kmv_count, ks_from_counts, ks_test

BOUND_COLUMNS = ["statistic", "upper", "max_bin_mass", "exact"]


def _conflicts(part: DataQualityPart, fk_sorted: np.ndarray, fk_rows: np.ndarray) -> int:
    """Rows in a label conflict: distinct rows that share a feature hash differ only in the label."""
    assert part.feature_keys is not None
    order = np.argsort(part.feature_keys, kind="stable")
    inv = np.searchsorted(fk_sorted, part.feature_keys[order])
    return int(part.row_counts[order][fk_rows[inv] > 1].sum())


def _stats(part: DataQualityPart, dtypes: Mapping[Any, str], has_target: bool) -> tuple[dict[str, Any], pd.DataFrame, float]:
    """``_data_quality._split_stats`` from counts; also the share of rows repeating another row's features."""
    n = part.rows
    index = pd.Index(list(part.columns))
    miss = pd.Series(part.missing, index=index)
    nunique = pd.Series([kmv_count(sk, bool(sat), part.distinct_cap) for sk, sat in zip(part.sketches, part.saturated)],
                        index=index)
    cols = pd.DataFrame(
        {"dtype": pd.Series([dtypes[c] for c in part.columns], index=index).astype(str), "missing": miss.astype(int),
         "missing_share": miss / n, "n_unique": nunique.astype(int), "constant": nunique <= 1}
    )
    dup = n - len(part.row_keys)
    near = n - len(part.near_keys)
    fk = part.feature_keys if part.feature_keys is not None else part.row_keys
    fk_sorted, fk_first, fk_rows = np.unique(fk, return_index=True, return_counts=True)
    conflict = _conflicts(part, fk_sorted, fk_rows) if has_target and part.feature_keys is not None else None
    minority, ratio = balance_of_counts(np.asarray(list(part.labels.values()), dtype=np.int64)) if (
        has_target and part.labels) else (float("nan"), float("nan"))
    row = {
        "rows": n,
        "max_missing_share": float(cols["missing_share"].max()) if len(cols) else 0.0,
        "constant_columns": int(cols["constant"].sum()),
        "duplicate_rows": int(dup),
        "duplicate_share": dup / n,
        "near_duplicate_rows": int(near),
        "near_duplicate_share": near / n,
        "label_conflict_rows": conflict if conflict is not None else np.nan,
        "label_conflict_share": conflict / n if conflict is not None else np.nan,
        "minority_class_share": minority,
        "imbalance_ratio": ratio,
    }
    return row, cols, (n - len(fk_sorted)) / n


def _counts_series(d: Mapping[Any, int]) -> pd.Series:
    return pd.Series(list(d.values()), index=pd.Index(list(d.keys())), dtype=np.int64)


def _label_table(part: DataQualityPart, tpart: DataQualityPart | None, has_target: bool) -> pd.DataFrame:
    """``_data_quality.label_table`` from counts."""
    labels = _counts_series(part.labels) if has_target else None
    tlabels = _counts_series(tpart.labels) if (has_target and tpart is not None) else None
    return label_table_of_counts(labels, part.rows, tlabels, tpart.rows if tpart is not None else 0)


def _group_table(plan: DataQualityPlan, part: DataQualityPart, tpart: DataQualityPart | None) -> pd.DataFrame:
    """``_data_quality.group_table`` from counts."""
    columns = [(col, part.groups[col], part.rows, tpart.groups.get(col) if tpart is not None else None,
                tpart.rows if tpart is not None else 0) for col in plan.sensitive]
    return group_table_of_counts(columns, plan.min_group_size)


def _categorical_drift(col: Any, plan: DataQualityPlan, part: DataQualityPart) -> dict[str, Any]:
    """One categorical row of the drift table (as ``_drift._categorical``)."""
    assert plan.train is not None
    r, c = _counts_series(plan.train.categorical[col]), _counts_series(part.categories[col])
    cats = sorted(set(r.index) | set(c.index))
    table = np.vstack([r.reindex(cats, fill_value=0).to_numpy(), c.reindex(cats, fill_value=0).to_numpy()]).astype(float)
    out: dict[str, Any] = {"kind": "categorical", "test": "chi2", "reference_mean": np.nan, "current_mean": np.nan}
    if len(cats) < 2:
        out.update(statistic=0.0, p_value=1.0, effect=0.0, psi=0.0)
        return out
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    out.update(statistic=float(chi2), p_value=float(p), effect=float(np.sqrt(chi2 / table.sum())),
               psi=_psi(table[0] / table[0].sum(), table[1] / table[1].sum()))
    return out


def _drift_row(
    col: Any, plan: DataQualityPlan, part: DataQualityPart
) -> tuple[dict[str, Any], tuple[float, float, float, bool] | None]:
    """One row of the drift table (as ``_drift._categorical`` / ``_numeric``), and for numeric ones (D, upper, bin mass, exact)."""
    tr = plan.train
    assert tr is not None
    if col in plan.categorical:
        return _categorical_drift(col, plan, part), None
    s = part.numeric[col]
    ref = tr.numeric[col]
    if ref is None or s.n == 0 or s.at_edges is None or s.between_edges is None or s.psi_counts is None:
        return {"kind": "numeric", "test": "ks", "statistic": np.nan, "p_value": np.nan, "effect": np.nan, "psi": np.nan,
                "reference_mean": np.nan, "current_mean": np.nan}, None
    d, up, i, j, mass = ks_from_counts(ref.eq, ref.gap, s.at_edges, s.between_edges)
    d, p = ks_test(d, ref.n, s.n, i, j)
    row = {"kind": "numeric", "test": "ks", "statistic": d, "p_value": p, "effect": d,
           "psi": _psi(ref.psi_share, s.psi_counts / s.n), "reference_mean": ref.mean,
           "current_mean": (s.sum / (1 << SCALE)) / s.n}
    return row, (d, max(up, d), mass, ref.exact)


def drift_bounds(part: DataQualityPart, plan: DataQualityPlan) -> pd.DataFrame:
    """Per numeric feature: the reported KS D, an upper bound on the true D, the largest bin mass, and whether D is exact.

    ``statistic <= true D <= upper <= statistic + max_bin_mass``; ``exact`` when train had at most
    ``plan.drift_bins`` distinct values in the feature (then ``upper == statistic``).

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.health import column_moments, data_quality_part, plan_data_quality
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> plan = plan_data_quality(column_moments(df), train_frame=pd.DataFrame({"x": [1.0, 5.0]}))
    >>> drift_bounds(data_quality_part(df, plan), plan).loc["x", "exact"]
    np.True_
    """
    if plan.train is None:
        return pd.DataFrame(columns=BOUND_COLUMNS)
    rows = {}
    for col in plan.drift_columns:
        if col not in plan.categorical:
            b = _drift_row(col, plan, part)[1]
            if b is not None:
                rows[col] = dict(zip(BOUND_COLUMNS, b))
    out = pd.DataFrame.from_dict(rows, orient="index", columns=BOUND_COLUMNS)
    out.index.name = "feature"
    return out


def _check_part(part: DataQualityPart, plan: DataQualityPlan) -> None:
    """Raise unless ``part`` is a merged part of this plan covering consecutive rows from 0."""
    if not isinstance(part, DataQualityPart):
        raise AuditInputError(f"part must be a DataQualityPart from merge_parts, got {type(part).__name__}")
    if part.rows == 0:
        raise AuditInputError(NO_ROWS)
    if part.columns != plan.columns:
        raise AuditInputError(PLAN_MISMATCH.format(what="columns"))
    end = 0
    for start, n in part.spans:
        if start != end:
            raise AuditInputError(GAPS.format(spans=[f"{a}-{a + m - 1}" for a, m in part.spans], rows=part.rows))
        end = start + n


def _drift_table(plan: DataQualityPlan, part: DataQualityPart) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The drift table against train, its notes, and the KS ranges of the binned features."""
    rows: dict[str, dict[str, Any]] = {}
    notes, binned = [], []
    for col in plan.drift_columns:
        row, bounds = _drift_row(col, plan, part)
        rows[str(col)] = row
        if row["kind"] == "numeric" and np.isnan(row["statistic"]):
            notes.append(f"{col}: no finite values in one sample; drift is undefined (NaN).")
        if bounds is not None and not bounds[3]:
            binned.append(f"{col} D in [{bounds[0]:.4f}, {bounds[1]:.4f}]")
    drift = pd.DataFrame.from_dict(rows, orient="index")
    if len(drift) == 0:
        drift = pd.DataFrame(columns=DRIFT_COLUMNS)
    drift["drifted"] = (drift["p_value"] < plan.drift_alpha) & (drift["effect"] >= plan.drift_min_effect)
    drift = drift[DRIFT_COLUMNS].sort_values("effect", ascending=False, kind="stable")
    drift.index.name = "feature"
    return drift, notes, binned


def _target_table(part: DataQualityPart, tpart: DataQualityPart | None) -> pd.DataFrame:
    """A regression target's count, mean, population std, min and max per split, from exact sums."""
    rows = {}
    for name, p in (("data", part), ("train", tpart)):
        if p is None or p.target is None:
            continue
        n, s1, s2 = p.target.sums
        mean = (s1 / (1 << SCALE)) / n if n else float("nan")
        # n * sum(x^2) - sum(x)^2 is exact in integers: no cancellation in the variance
        var = (n * s2 - s1 * s1) / (1 << (2 * SCALE)) / (n * n) if n else float("nan")
        rows[name] = {"count": n, "mean": mean, "std": math.sqrt(max(var, 0.0)),
                      "min": p.target.min if n else float("nan"), "max": p.target.max if n else float("nan")}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["count", "mean", "std", "min", "max"])


def _train_approximations(plan: DataQualityPlan, part: DataQualityPart, binned: list[str], leak_rows: int) -> list[str]:
    """Notes on what is approximate in the comparison with train: binned KS, rounded means, capped leak list."""
    approx = []
    if binned:
        approx.append(
            f"KS drift of feature(s) with more than {plan.drift_bins} distinct training values is computed from "
            f"counts on {plan.drift_bins} edges at train's quantiles; the true D lies in the range shown, whose width "
            f"is at most the largest bin's mass: {'; '.join(binned)}."
        )
    if leak_rows > len(part.leaked):
        approx.append(f"leakage lists the first {len(part.leaked)} of {leak_rows} leaked rows (leak_cap).")
    return approx


def _sketch_approximations(name: str, p: DataQualityPart) -> list[str]:
    """Notes on one sample's approximate counts: sketched ``n_unique``, rows near a grid line."""
    approx = []
    big = [str(c) for c, sat in zip(p.columns, p.saturated) if sat]
    if big:
        approx.append(
            f"n_unique of {name} column(s) {big} is a KMV-sketch estimate (more than {p.distinct_cap} distinct values): "
            f"relative standard error {1 / math.sqrt(p.distinct_cap - 2):.1%}."
        )
    return approx


def finish(part: DataQualityPart, plan: DataQualityPlan) -> DataQualityResult:
    """The merged part as :func:`data_quality`'s result; what is approximate says so in ``notes``.

    See :mod:`audit.health._data_quality_parts` for what is exact and what is approximate.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.health import column_moments, data_quality_part, merge_parts, plan_data_quality
    >>> df = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    >>> plan = plan_data_quality(column_moments(df), target="y", train_frame=df.iloc[2:])
    >>> r = finish(merge_parts([data_quality_part(df, plan)]), plan)
    >>> r.leakage_rows, r.leakage["row"].tolist()
    (2, [2, 3])
    """
    _check_part(part, plan)
    has_target = plan.target is not None
    stats_, cols, feat_dup = _stats(part, plan.dtypes, has_target)
    overview = {"data": stats_}
    notes: list[str] = []
    approx: list[str] = []
    leak = pd.DataFrame({"row": np.array([], dtype=int), "train_row": np.array([], dtype=int)})
    leak_rows: int | None = None
    leak_share = float("nan")
    drift = pd.DataFrame(columns=DRIFT_COLUMNS)
    binned: list[str] = []
    tpart = plan.train.part if plan.train is not None else None
    if tpart is not None:
        assert plan.train is not None
        overview["train"], tcols, _ = _stats(tpart, plan.train.dtypes, has_target)
        cols = cols.join(tcols[["missing", "missing_share", "constant"]].add_prefix("train_"), how="outer")
        leak = pd.DataFrame({"row": part.leaked[:, 0], "train_row": part.leaked[:, 1]})
        leak_rows = int(part.leak_rows or 0)
        leak_share = leak_rows / part.rows
        drift, notes, binned = _drift_table(plan, part)
        if leak_rows:
            notes += coarse_note(feat_dup)
        approx += _train_approximations(plan, part, binned, leak_rows)
    target_drift = drift.loc[[str(plan.target)]] if plan.regression and str(plan.target) in drift.index else drift.iloc[:0]
    drift = drift.drop(index=target_drift.index)
    groups = _group_table(plan, part, tpart)
    notes += group_notes(groups, plan.min_group_size)
    notes += constant_note(cols)
    for name, p in (("data", part), ("train", tpart)):
        if p is not None:
            approx += _sketch_approximations(name, p)
    return DataQualityResult(
        modality="tabular",
        overview=pd.DataFrame.from_dict(overview, orient="index")[OVERVIEW_COLUMNS],
        columns=cols,
        labels=_label_table(part, tpart, has_target and not plan.regression),
        groups=groups,
        leakage_rows=leak_rows,
        leakage_share=leak_share,
        leakage=leak,
        drift=drift,
        min_group_size=plan.min_group_size,
        drift_alpha=plan.drift_alpha,
        drift_min_effect=plan.drift_min_effect,
        notes=notes + approx,
        target=_target_table(part, tpart),
        target_drift=target_drift,
    )
