"""Data quality of a tabular data set (and its training set): the problems that sink a model before training.

Missing values and constant columns, exact and near-duplicate rows, rows with the same features
but different labels, label balance, representation of sensitive groups, rows of the evaluation
data that also appear in the training data (leakage) and feature drift between train and test.

Definitions (all exact and fast: one hash per row, no pairwise distances)
--------------------------------------------------------------------------
- *duplicate row*: a row equal to an earlier row on the feature columns and the target.
- *near-duplicate row*: a row equal to an earlier row after numeric features are standardised
  (``(x - mean) / std`` over the frame) and rounded to a grid of ``near_tolerance`` standard
  deviations; categorical features and the target must match exactly. Near duplicates include
  exact ones. Being a grid, two values just either side of a grid line are not matched.
- *label conflict*: a row whose features equal another row's features while the labels differ.
- *leakage*: a row of the evaluation data whose feature values (exactly) equal some training row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit._inputs import missing_as_label
from audit.errors import UNKNOWN_COLUMN, AuditInputError
from audit.health._drift import DRIFT_COLUMNS, feature_drift

OVERVIEW_COLUMNS = [
    "rows", "max_missing_share", "constant_columns", "duplicate_rows", "duplicate_share", "near_duplicate_rows",
    "near_duplicate_share", "label_conflict_rows", "label_conflict_share", "minority_class_share", "imbalance_ratio",
]


@dataclass
class DataQualityResult:
    """Data-quality findings for the evaluation data and, when given, the training data.

    Attributes
    ----------
    modality : {"tabular", "image"}
    overview : DataFrame
        Index ``data`` (and ``train``); columns ``rows``, ``max_missing_share`` (largest share of
        missing values in any column), ``constant_columns``, ``duplicate_rows`` / ``_share``,
        ``near_duplicate_rows`` / ``_share``, ``label_conflict_rows`` / ``_share``,
        ``minority_class_share`` (share of the rarest class), ``imbalance_ratio`` (largest class
        count / smallest).
    columns : DataFrame
        Per column: ``dtype``, ``missing``, ``missing_share``, ``n_unique``, ``constant`` (and the
        same with a ``train_`` prefix). Empty for images.
    labels : DataFrame
        Per class: ``count``, ``share`` (and ``train_count``, ``train_share``).
    groups : DataFrame
        Index ``(column, group)``: ``count``, ``share``, ``small`` (fewer than ``min_group_size``
        rows), and the same with a ``train_`` prefix when train has the column.
    leakage_rows : int or None
        Rows of the data whose features equal a training row (None without train).
    leakage_share : float
        ``leakage_rows / rows`` (NaN without train).
    leakage : DataFrame
        One row per leaked data row: ``row`` (position in data) and ``train_row`` (first match).
    drift : DataFrame
        Per-feature drift between train and data (see :func:`audit.health.feature_drift`); empty without train.
    min_group_size : int
    drift_alpha, drift_min_effect : float
        The drift thresholds used.
    notes : list of str
    target : DataFrame
        A regression target (``regression=True``): index ``data`` (and ``train``), columns ``count``, ``mean``,
        ``std`` (population), ``min``, ``max``; empty otherwise (class targets are in ``labels``).
    target_drift : DataFrame
        A regression target's drift from train: one row with the columns of ``drift``; empty otherwise.
    """

    modality: str
    overview: pd.DataFrame
    columns: pd.DataFrame
    labels: pd.DataFrame
    groups: pd.DataFrame
    leakage_rows: int | None
    leakage_share: float
    leakage: pd.DataFrame
    drift: pd.DataFrame
    min_group_size: int = 30
    drift_alpha: float = 0.01
    drift_min_effect: float = 0.1
    notes: list[str] = field(default_factory=list)
    target: pd.DataFrame = field(default_factory=pd.DataFrame)
    target_drift: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def drifted(self) -> list[str]:
        """Names of the features flagged as drifted."""
        if len(self.drift) == 0:
            return []
        return [str(f) for f in self.drift.index[self.drift["drifted"].astype(bool)]]


# ------------------------------------------------------------------ shared pieces (also used for images)
def canonical_floats(a: np.ndarray) -> np.ndarray:
    """Float64 copy of ``a`` with one bit pattern per value: ``-0.0`` becomes ``0.0`` and every NaN the same NaN.

    Rows are compared by hashing their bits, and equal numbers can have different bits: the rounding
    in the near-duplicate grid turns values just below 0 into ``-0.0``. pandas hashes the raw bits up to
    3.0 (3.1 canonicalises them, GH#28363), so the same data gave other counts with other versions.

    Examples
    --------
    >>> canonical_floats(np.array([-0.0, np.nan, 1.5])).tobytes() == np.array([0.0, np.nan, 1.5]).tobytes()
    True
    """
    out = np.asarray(a, dtype=np.float64) + 0.0  # IEEE: -0.0 + 0.0 == +0.0; also a copy
    out[np.isnan(out)] = np.nan
    return out


def hash_rows(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row; equal rows hash equal across frames and library versions (numbers as float64, the rest as text).

    Each column is hashed on its own and the column hashes are mixed in order (FNV-1a style). Text
    columns hash only their distinct values (``factorize``), which is what keeps this faster than a
    pandas merge of the two frames (``BENCHMARKS.md``).
    """
    n = len(frame)
    h = np.full(n, np.uint64(0xCBF29CE484222325))
    if frame.shape[1] == 0:
        return np.zeros(n, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            col = pd.util.hash_array(canonical_floats(s.to_numpy(dtype=np.float64, na_value=np.nan)))
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            text = np.asarray([str(u) for u in uniques] + ["<NA>"], dtype=object)
            col = pd.util.hash_array(text)[codes]  # code -1 (missing) picks the last entry, "<NA>"
        with np.errstate(over="ignore"):
            h = (h ^ col) * prime
    return h


def duplicated(keys: np.ndarray) -> np.ndarray:
    """True for each key equal to an earlier one."""
    return pd.Series(keys).duplicated(keep="first").to_numpy()


def label_conflicts(feature_keys: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for rows whose feature key is shared by rows with a different label."""
    df = pd.DataFrame({"k": feature_keys, "y": pd.Series(y).astype(str).to_numpy()})
    n_labels = df.groupby("k")["y"].transform("nunique")
    return (n_labels > 1).to_numpy()


def label_table(y: np.ndarray | None, y_train: np.ndarray | None) -> pd.DataFrame:
    """Counts and shares per class (classes of either sample, sorted)."""
    return label_table_of_counts(
        None if y is None else pd.Series(y).value_counts(), 0 if y is None else len(y),
        None if y_train is None else pd.Series(y_train).value_counts(), 0 if y_train is None else len(y_train),
    )


def label_table_of_counts(counts: pd.Series | None, n: int, train_counts: pd.Series | None, train_n: int) -> pd.DataFrame:
    """:func:`label_table` from the count per class of each sample (None: no labels) and the sample sizes."""
    if counts is None and train_counts is None:
        return pd.DataFrame(columns=["count", "share"])
    parts = {}
    for prefix, vc, m in (("", counts, n), ("train_", train_counts, train_n)):
        if vc is None:
            continue
        parts[f"{prefix}count"] = vc
        parts[f"{prefix}share"] = vc / m
    out = pd.DataFrame(parts)
    out.index = out.index.map(str)
    out = out.sort_index()
    for c in out.columns:
        out[c] = out[c].fillna(0)
        if c.endswith("count"):
            out[c] = out[c].astype(int)
    out.index.name = "class"
    return out


def balance(y: np.ndarray | None) -> tuple[float, float]:
    """(share of the rarest class, largest count / smallest count); NaN without labels."""
    if y is None or len(y) == 0:
        return float("nan"), float("nan")
    return balance_of_counts(pd.Series(y).value_counts().to_numpy())


def balance_of_counts(counts: np.ndarray) -> tuple[float, float]:
    """:func:`balance` from the count per class (not empty)."""
    return float(counts.min() / counts.sum()), float(counts.max() / counts.min())


def coarse_note(feature_duplicate_share: float) -> list[str]:
    """The note that leakage may be natural when many rows repeat another row's features (over 10 %)."""
    if feature_duplicate_share <= 0.1:
        return []
    return [
        f"{feature_duplicate_share:.0%} of data rows repeat another data row's features: the feature space is coarse, "
        "so part of the train/test overlap may be natural rather than leaked records."
    ]


def constant_note(cols: pd.DataFrame) -> list[str]:
    """The note naming the constant columns of the ``columns`` table, if any."""
    const = cols.index[cols["constant"].astype(bool)].tolist()
    return [f"Constant column(s) in data: {const}; they carry no information."] if const else []


def group_table(sens: pd.DataFrame, sens_train: pd.DataFrame | None, min_group_size: int) -> pd.DataFrame:
    """Count, share and small flag per (sensitive column, group), with train columns when available."""
    columns = []
    for col in sens.columns:
        train = None
        if sens_train is not None and col in sens_train.columns:
            train = _group_counts(sens_train[col])
        columns.append((col, _group_counts(sens[col]), len(sens), train, 0 if sens_train is None else len(sens_train)))
    return group_table_of_counts(columns, min_group_size)


def _group_counts(s: pd.Series) -> dict[str, int]:
    vc = missing_as_label(s).astype(str).value_counts()
    return {k: int(v) for k, v in vc.items()}


#: one sensitive column: (name, count per group, rows, train count per group or None, train rows)
GroupCounts = tuple[Any, Mapping[str, int], int, Mapping[str, int] | None, int]


def group_table_of_counts(columns: Sequence[GroupCounts], min_group_size: int) -> pd.DataFrame:
    """:func:`group_table` from ``(column, count per group, rows, train count per group or None, train rows)``."""
    rows = []
    for col, vc, n, tc, tn in columns:
        for g in sorted(set(vc) | (set(tc) if tc is not None else set())):
            row: dict[str, Any] = {"column": str(col), "group": g, "count": int(vc.get(g, 0))}
            row["share"] = row["count"] / n
            row["small"] = row["count"] < min_group_size
            if tc is not None:
                row["train_count"] = int(tc.get(g, 0))
                row["train_share"] = row["train_count"] / tn
                row["train_small"] = row["train_count"] < min_group_size
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["count", "share", "small"], index=pd.MultiIndex.from_tuples([], names=["column", "group"]))
    return pd.DataFrame(rows).set_index(["column", "group"])


def leakage_table(keys: np.ndarray, train_keys: np.ndarray) -> pd.DataFrame:
    """Rows of ``keys`` found in ``train_keys``, with the first matching train row."""
    first = pd.Series(np.arange(len(train_keys)), index=train_keys)
    first = first[~first.index.duplicated(keep="first")]
    hit = np.flatnonzero(pd.Index(first.index).get_indexer(keys) >= 0)
    return pd.DataFrame({"row": hit, "train_row": first.loc[keys[hit]].to_numpy() if len(hit) else np.array([], dtype=int)})


def group_notes(groups: pd.DataFrame, min_group_size: int) -> list[str]:
    notes = []
    if len(groups) and "small" in groups:
        small = groups[groups["small"].astype(bool)]
        for col in small.index.get_level_values("column").unique():
            names = small.loc[col].index.tolist()
            notes.append(
                f"{col}: group(s) {names} have fewer than {min_group_size} rows in data; metrics for them are too noisy to judge."
            )
    return notes


# ------------------------------------------------------------------ tabular
def _mean_std(v: np.ndarray) -> tuple[float, float]:
    """Mean and population std of the finite values, with correctly rounded sums (``math.fsum``).

    The grid below is cut at these numbers, so they must not move with the summation order that a
    numpy/pandas version or a BLAS happens to use: a last-bit change can move a value across a grid line.
    """
    f = v[np.isfinite(v)]
    if len(f) == 0:
        return math.nan, math.nan
    mean = math.fsum(f.tolist()) / len(f)
    return mean, math.sqrt(math.fsum(((f - mean) ** 2).tolist()) / len(f))


def _near_keys(frame: pd.DataFrame, numeric: list[str], tol: float) -> np.ndarray:
    q = frame.copy()
    for c in numeric:
        v = pd.to_numeric(q[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        mean, sd = _mean_std(v)
        z = (v - mean) / sd if sd > 0 and np.isfinite(sd) else v * 0.0
        q[c] = np.round(z / tol)  # may give -0.0: hash_rows makes it equal to 0.0
    return hash_rows(q)


def _split_stats(
    frame: pd.DataFrame, features: list[str], target: str | None, numeric: list[str], tol: float
) -> tuple[dict[str, float], pd.DataFrame, np.ndarray]:
    n = len(frame)
    miss = frame.isna().sum()
    nunique = frame.nunique(dropna=False)
    cols = pd.DataFrame(
        {"dtype": frame.dtypes.astype(str), "missing": miss.astype(int), "missing_share": miss / n,
         "n_unique": nunique.astype(int), "constant": nunique <= 1}
    )
    feat_keys = hash_rows(frame[features])
    key_cols = features + ([target] if target else [])
    dup = duplicated(hash_rows(frame[key_cols]))
    near = duplicated(_near_keys(frame[key_cols], [c for c in numeric if c in key_cols], tol))
    y = frame[target].to_numpy() if target else None
    conflict = label_conflicts(feat_keys, y) if y is not None else None
    minority, ratio = balance(y)
    stats = {
        "rows": n,
        "max_missing_share": float(cols["missing_share"].max()) if len(cols) else 0.0,
        "constant_columns": int(cols["constant"].sum()),
        "duplicate_rows": int(dup.sum()),
        "duplicate_share": float(dup.mean()),
        "near_duplicate_rows": int(near.sum()),
        "near_duplicate_share": float(near.mean()),
        "label_conflict_rows": int(conflict.sum()) if conflict is not None else np.nan,
        "label_conflict_share": float(conflict.mean()) if conflict is not None else np.nan,
        "minority_class_share": minority,
        "imbalance_ratio": ratio,
    }
    return stats, cols, feat_keys


def _check_columns(frame: pd.DataFrame, names: Sequence[str], arg: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise AuditInputError(UNKNOWN_COLUMN.format(arg=arg, name=name, where="data", columns=[str(c) for c in frame.columns]))


def data_quality(
    frame: pd.DataFrame,
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
) -> DataQualityResult:
    """Missing values, constant columns, duplicates, label balance, group representation, leakage and drift.

    Parameters
    ----------
    frame : DataFrame
        The evaluation data: features, target and any other columns.
    target : str, optional
        Label column (label balance, label conflicts; part of the duplicate key).
    sensitive : list of str, optional
        Sensitive columns of ``frame`` (and of ``train_frame`` when it has them): share per group.
    features : list of str, optional
        Feature columns (duplicate, leakage and drift key). Default: every column but the target.
    categorical : list of str, optional
        Features tested for drift as categorical. Default: non-numeric and boolean columns.
    train_frame : DataFrame, optional
        The training data, with the same feature columns: the same checks on train, plus leakage
        and drift between train and ``frame``.
    min_group_size : int
        Sensitive groups with fewer rows are flagged as too small to judge.
    near_tolerance : float
        Grid step, in standard deviations, that numeric features are rounded to for near duplicates.
    drift_alpha, drift_min_effect : float
        A feature drifts when its p-value is below ``drift_alpha`` and its effect size (KS D or
        Cramér's V) is at least ``drift_min_effect``.

    Returns
    -------
    DataQualityResult

    Examples
    --------
    >>> import pandas as pd
    >>> test = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "c": ["a", "a", "b", "b"], "y": [0, 0, 1, 1]})
    >>> train = pd.DataFrame({"x": [2.0, 5.0], "c": ["b", "a"], "y": [1, 0]})
    >>> r = data_quality(test, target="y", train_frame=train)
    >>> int(r.overview.loc["data", "duplicate_rows"]), r.leakage_rows, r.leakage_share
    (1, 1, 0.25)
    """
    if not isinstance(frame, pd.DataFrame) or len(frame) == 0:
        raise AuditInputError("frame must be a non-empty pandas DataFrame; pass the evaluation data with its target column")
    if near_tolerance <= 0:
        raise AuditInputError(f"near_tolerance must be positive (standard deviations), got {near_tolerance!r}")
    frame = frame.reset_index(drop=True)
    sensitive = list(sensitive or [])
    _check_columns(frame, ([target] if target else []) + sensitive, "target/sensitive")
    features = [c for c in frame.columns if c != target] if features is None else list(features)
    _check_columns(frame, features, "features")
    if categorical is None:
        categorical = [
            c for c in features if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
        ]
    numeric_key = [c for c in features if c not in set(categorical)]  # the target is matched exactly, never rounded
    stats, cols, keys = _split_stats(frame, features, target, numeric_key, near_tolerance)
    overview = {"data": stats}
    notes: list[str] = []
    train_sens = None
    leak = pd.DataFrame({"row": np.array([], dtype=int), "train_row": np.array([], dtype=int)})
    leak_rows: int | None = None
    leak_share = float("nan")
    drift = pd.DataFrame(columns=DRIFT_COLUMNS)
    y_train = None
    if train_frame is not None:
        if not isinstance(train_frame, pd.DataFrame) or len(train_frame) == 0:
            raise AuditInputError("train_frame must be a non-empty pandas DataFrame with the same feature columns as frame")
        train_frame = train_frame.reset_index(drop=True)
        _check_columns(train_frame, features + ([target] if target else []), "train_frame")
        tstats, tcols, tkeys = _split_stats(train_frame, features, target, numeric_key, near_tolerance)
        overview["train"] = tstats
        cols = cols.join(tcols[["missing", "missing_share", "constant"]].add_prefix("train_"), how="outer")
        leak = leakage_table(keys, tkeys)
        leak_rows = len(leak)
        leak_share = leak_rows / len(frame)
        dr = feature_drift(train_frame, frame, columns=features, categorical=categorical, alpha=drift_alpha,
                           min_effect=drift_min_effect)
        drift, notes = dr.table, notes + dr.notes
        y_train = train_frame[target].to_numpy() if target else None
        train_sens = train_frame[[c for c in sensitive if c in train_frame.columns]]
        if leak_rows:
            notes += coarse_note(float(duplicated(keys).mean()))
    y = frame[target].to_numpy() if target else None
    groups = group_table(frame[sensitive], train_sens, min_group_size)
    notes += group_notes(groups, min_group_size)
    notes += constant_note(cols)
    return DataQualityResult(
        modality="tabular",
        overview=pd.DataFrame.from_dict(overview, orient="index")[OVERVIEW_COLUMNS],
        columns=cols,
        labels=label_table(y, y_train),
        groups=groups,
        leakage_rows=leak_rows,
        leakage_share=leak_share,
        leakage=leak,
        drift=drift,
        min_group_size=min_group_size,
        drift_alpha=drift_alpha,
        drift_min_effect=drift_min_effect,
        notes=notes,
    )
