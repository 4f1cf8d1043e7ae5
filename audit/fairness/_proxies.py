"""Proxy detection: how well the other features predict each sensitive column.

A model that never sees ``race`` can still treat races differently when other features carry the
same information. For each sensitive column a shallow gradient-boosted model (depth 3) predicts it
from the remaining features; its cross-validated ROC AUC (one-vs-rest, prevalence-weighted for
more than two groups) is 0.5 when the features say nothing about the column and 1.0 when they
reveal it. Each feature alone (a depth-3 tree) shows where the information sits.

The work is bounded: each sensitive column's model sees at most ``max_rows`` rows, a seeded sample
stratified on that column (every row of a group smaller than its fair share is kept, the rest
sampled), so small groups are not lost to the subsample. The AUC's 95% interval is the
Hanley-McNeil normal interval of the cross-validated predictions (one-vs-rest AUCs combined with
the same prevalence weights for more than two groups), so a small sample says how unsure it is.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from audit.errors import AuditInputError
from audit.fairness._inputs import sensitive_frame
from audit.stats import hanley_mcneil_se, stratified_rows
from audit.text import short_label

logger = logging.getLogger(__name__)

#: a sensitive column with more groups is predicted as its largest MAX_PROXY_GROUPS - 1 groups plus one
#: "other" class: a one-vs-rest model per group made 5,000 groups cost 5,000 boosted models per fold
MAX_PROXY_GROUPS = 20
#: group names listed in a note before "and N more"
_LISTED = 8


@dataclass
class ProxyResult:
    """Result of :func:`proxy_auc`.

    Attributes
    ----------
    table : DataFrame
        Index ``sensitive`` (one row per sensitive column): ``proxy_auc`` with its 95% interval
        ``proxy_auc_low`` / ``proxy_auc_high`` (Hanley-McNeil), ``rows`` used, ``n_groups``,
        ``n_features``, ``strongest_feature``, ``strongest_feature_auc``, ``is_model_feature``
        (the column is itself among the features, so the model sees it directly).
    by_feature : DataFrame
        Index ``(sensitive, feature)``: ``auc`` of that feature alone.
    notes : list of str
    """

    table: pd.DataFrame
    by_feature: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _encode(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numeric matrix plus a mask of categorical columns (ordinal codes)."""
    cols, cat = [], []
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
            cat.append(False)
        else:
            codes = pd.factorize(s.astype(str), sort=True)[0].astype(np.float64)
            cols.append(codes)
            cat.append(codes.max(initial=0) < 250)  # HistGradientBoosting handles up to 255 categories
    return np.column_stack(cols), np.array(cat)


def _missing_below(col: np.ndarray) -> np.ndarray:
    """A feature column with missing cells (NaN) set below every observed value: one value of its own, which a
    decision tree can split off (a fixed fill such as -1 could merge them with real values)."""
    nan = np.isnan(col)
    if not nan.any():
        return col
    seen = col[~nan]
    return np.where(nan, (seen.min() - 1.0) if len(seen) else 0.0, col)


def _auc_interval(y: np.ndarray, proba: np.ndarray) -> tuple[float, float, float]:
    """AUC and its 95% normal interval (weighted one-vs-rest for more than two classes)."""
    k = proba.shape[1]
    counts = np.bincount(y, minlength=k)
    if k == 2:
        auc = float(roc_auc_score(y, proba[:, 1]))
        se = hanley_mcneil_se(auc, int(counts[1]), int(counts[0]))
    else:
        w = counts / counts.sum()
        aucs = np.array([roc_auc_score(y == j, proba[:, j]) if 0 < counts[j] < len(y) else np.nan for j in range(k)])
        ses = np.array([hanley_mcneil_se(a, int(counts[j]), int(len(y) - counts[j])) for j, a in enumerate(aucs)])
        ok = np.isfinite(aucs)
        auc = float(np.sum(w[ok] * aucs[ok]) / w[ok].sum())
        se = float(np.sqrt(np.sum((w[ok] / w[ok].sum()) ** 2 * ses[ok] ** 2)))  # classes treated as independent
    return auc, max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)


def _auc(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", average="weighted"))


def proxy_auc(
    X: pd.DataFrame,
    sensitive: Any,
    *,
    seed: int = 0,
    cv: int = 3,
    max_rows: int = 5_000,
    per_feature: bool = True,
) -> ProxyResult:
    """Cross-validated ROC AUC of predicting each sensitive column from the features in ``X``.

    Parameters
    ----------
    X : DataFrame
        Model features. A sensitive column that is also in ``X`` is left out when predicting it.
    sensitive : Series, array or DataFrame
        Sensitive column(s), aligned with ``X``.
    seed : int
        Seeds the row subsample, the folds and the models: same inputs, same numbers.
    cv : int
        Number of stratified folds.
    max_rows : int
        Rows each column's proxy model uses at most: beyond that a seeded sample stratified on the
        column (small groups kept whole), stated in ``notes``; the interval says what it costs.
    per_feature : bool
        Also score each feature alone (``by_feature``).

    Returns
    -------
    ProxyResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> g = rng.integers(0, 2, 600)
    >>> X = pd.DataFrame({"zip": g * 3 + rng.integers(0, 2, 600), "noise": rng.normal(size=600)})
    >>> float(round(proxy_auc(X, pd.Series(g, name="g")).table.loc["g", "proxy_auc"], 2))
    1.0
    """
    if not isinstance(X, pd.DataFrame):
        raise AuditInputError(f"X must be a pandas DataFrame of features for proxy detection, got {type(X).__name__}")
    if cv < 2:
        raise AuditInputError(f"cv must be >= 2, got {cv}")
    sens = sensitive_frame(sensitive, len(X), ref="X")
    X = X.reset_index(drop=True)
    notes: list[str] = []
    rows, feat_rows = [], []
    for s in sens.columns:
        feats = [c for c in X.columns if str(c) != s]
        all_codes, all_uniq = pd.factorize(sens[s].astype(str), sort=True)
        strata = all_codes
        if len(all_uniq) > MAX_PROXY_GROUPS:
            # lumped before sampling: the largest groups keep their own class (ties broken by group order), the rest
            # share 'other', and the sample is stratified on those classes, so 'other' is not sampled away
            sizes = np.bincount(all_codes)
            top = np.sort(np.argsort(-sizes, kind="stable")[: MAX_PROXY_GROUPS - 1])
            lump = np.full(len(sizes), len(top))
            lump[top] = np.arange(len(top))
            strata = lump[all_codes]
            notes.append(f"{s}: {len(sizes):,} groups; its proxy model predicts the {len(top)} largest and 'other' "
                         f"(the remaining {len(sizes) - len(top):,} groups together), at most {MAX_PROXY_GROUPS} classes.")
        idx = stratified_rows(strata, max_rows, seed)
        if len(idx) < len(X):
            notes.append(f"{s}: its proxy model uses {len(idx):,} of {len(X):,} rows, a seeded sample stratified on "
                         f"{s} (groups smaller than their share kept whole).")
        codes = pd.factorize(strata[idx], sort=True)[0]
        names = (np.array([short_label(u) for u in all_uniq], dtype=object) if strata is all_codes
                 else np.array([f"class {i}" for i in range(MAX_PROXY_GROUPS)], dtype=object))
        uniq = names[np.unique(strata[idx])]
        counts = np.bincount(codes, minlength=len(uniq))
        keep_groups = counts >= cv
        if (~keep_groups).any():
            left = [str(u) for u in uniq[~keep_groups]]
            more = f" and {len(left) - _LISTED} more" if len(left) > _LISTED else ""
            notes.append(f"{s}: {len(left)} group(s) have fewer than {cv} rows and are left out of its proxy model: "
                         f"{left[:_LISTED]}{more}.")
        rsel = keep_groups[codes]
        y = pd.factorize(codes[rsel], sort=True)[0]
        row: dict[str, Any] = {"sensitive": s, "proxy_auc": np.nan, "proxy_auc_low": np.nan, "proxy_auc_high": np.nan,
                               "rows": int(rsel.sum()), "n_groups": int(keep_groups.sum()), "n_features": len(feats),
                               "strongest_feature": None, "strongest_feature_auc": np.nan, "is_model_feature": s in map(str, X.columns)}
        if not feats or row["n_groups"] < 2:
            notes.append(f"{s}: no proxy score (" + ("no other features" if not feats else "fewer than two groups") + ").")
            rows.append(row)
            continue
        Xe, cat = _encode(X.iloc[idx][feats])
        Xe = Xe[rsel]
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        model = HistGradientBoostingClassifier(max_iter=40, max_depth=3, learning_rate=0.2, early_stopping=False,
                                               categorical_features=cat if cat.any() else None, random_state=seed)
        # one thread: OpenMP start-up costs more than it saves on data this size, and worse on a busy machine
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            oof = cross_val_predict(model, Xe, y, cv=folds, method="predict_proba")
            row["proxy_auc"], row["proxy_auc_low"], row["proxy_auc_high"] = _auc_interval(y, oof)
            if per_feature:
                tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=10, random_state=seed)
                for j, f in enumerate(feats):
                    col = _missing_below(Xe[:, [j]])
                    auc = _auc(y, cross_val_predict(tree, col, y, cv=folds, method="predict_proba"))
                    feat_rows.append({"sensitive": s, "feature": str(f), "auc": auc})
        mine = [r for r in feat_rows if r["sensitive"] == s]
        if mine:
            top = max(mine, key=lambda r: r["auc"])
            row["strongest_feature"], row["strongest_feature_auc"] = top["feature"], top["auc"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("sensitive")
    by_feature = (
        pd.DataFrame(feat_rows).sort_values(["sensitive", "auc"], ascending=[True, False]).set_index(["sensitive", "feature"])
        if feat_rows
        else pd.DataFrame(columns=["auc"], index=pd.MultiIndex.from_tuples([], names=["sensitive", "feature"]))
    )
    return ProxyResult(table=table, by_feature=by_feature, notes=notes)
